//! Which of a ranked unit's columns (its properties) a file gives: every one, or those named
//! (`properties` over HTTP, `--properties` on the command line).

use std::sync::Arc;

use crate::analysis::criteria::CRITERIA;

/// The columns a ranking's file gives: all of them, or those named, in the file's own order.
/// In a table (CSV, XLSX, GeoPackage) `breakdown` names the criteria's columns (each one's
/// raw value, scaled value, contribution and, where the file has them, its reasons), as it
/// names a GeoJSON feature's `breakdown` object.
///
/// ```
/// use sitefinder::analysis::chosen::Chosen;
/// let c = Chosen::only(vec!["rank".into(), "breakdown".into()]);
/// assert!(c.keeps("rank") && c.keeps("access_norm") && c.keeps("deprivation_why"));
/// assert!(!c.keeps("score") && !c.keeps("why") && !c.keeps("access"));
/// assert!(c.needs_words(true) && !c.needs_words(false));
/// assert!(!Chosen::only(vec!["score".into()]).needs_words(true));
/// assert!(Chosen::default().keeps("anything") && Chosen::default().needs_words(false));
/// assert!(c.needs_values() && Chosen::default().needs_values());
/// assert!(Chosen::only(vec!["access_raw".into()]).needs_values());
/// assert!(Chosen::only(vec!["why".into()]).needs_values());
/// assert!(!Chosen::only(vec!["rank".into(), "score".into(), "imd_decile".into()]).needs_values());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chosen(Option<Arc<[String]>>);

impl Chosen {
    /// Only the columns named.
    pub fn only(names: Vec<String>) -> Chosen {
        Chosen(Some(names.into()))
    }

    /// The names given, or `None` for every column.
    pub fn names(&self) -> Option<&[String]> {
        self.0.as_deref()
    }

    /// Whether `name` is given by name (or every column is).
    pub fn named(&self, name: &str) -> bool {
        self.0
            .as_deref()
            .is_none_or(|names| names.iter().any(|n| n == name))
    }

    /// Whether the column `column` is kept: named, or a criterion's column with `breakdown`.
    pub fn keeps(&self, column: &str) -> bool {
        self.named(column) || (self.named("breakdown") && is_breakdown_column(column))
    }

    /// Whether a kept column is in words: `why`, or `breakdown` where the breakdown holds the
    /// criteria's reasons (`reasons_in_breakdown`: GeoJSON, XLSX and GeoPackage, not CSV).
    /// Without one, no row need be put into words.
    pub fn needs_words(&self, reasons_in_breakdown: bool) -> bool {
        self.named("why") || (reasons_in_breakdown && self.named("breakdown"))
    }

    /// Whether a kept column is a criterion's value (its raw value, scaled value,
    /// contribution or reasons, `breakdown`, or `why`). Without one, a row's criteria need not
    /// be evaluated: its rank and score are all it needs of the ranking.
    pub fn needs_values(&self) -> bool {
        self.0.as_deref().is_none_or(|names| {
            names
                .iter()
                .any(|n| n == "why" || n == "breakdown" || is_breakdown_column(n))
        })
    }
}

/// `{criterion}_raw`, `_norm`, `_contribution` or `_why`.
fn is_breakdown_column(name: &str) -> bool {
    CRITERIA.iter().any(|c| {
        name.strip_prefix(c.name())
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|part| matches!(part, "raw" | "norm" | "contribution" | "why"))
    })
}
