//! The rows of an XLSX or GeoPackage file: a ranking's columns ([`columns`]), then each
//! criterion's reason in its own column (`<criterion>_why`), the reasons together (`why`) and
//! the position in degrees (`latitude`, `longitude`: WGS84, six decimals as in the GeoJSON) and
//! in metres (`easting`, `northing`: EPSG:27700, to the centimetre). Only the ranking's chosen
//! columns are kept ([`Ranking::columns`]), and the position always.
//!
//! Rows are made a run at a time on every core and handed to the writer in order
//! ([`in_runs`]), each only as it is written: a national file never holds a row per unit, and
//! a row is put into words only when a column kept is in words.

use serde_json::Value as Json;

use crate::analysis::chosen::Chosen;
use crate::analysis::criteria::CRITERIA;
use crate::analysis::join::Context;
use crate::analysis::rank::{Ordered, Ranked, Ranking};
use crate::export::table::{columns, explain, in_runs, lonlat, CellKind, Cells, Masked, Names};
use crate::ingest::units::Unit;
use crate::reference::atlas::Atlas;

/// The position columns of a file's row, kept whatever columns are chosen.
pub const POSITION: [&str; 4] = ["latitude", "longitude", "easting", "northing"];

/// One cell of a file's row, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

/// A row's cells, in order.
struct Owned(Vec<Cell>);

impl Cells for Owned {
    fn text(&mut self, _: &str, v: Option<&str>) {
        self.0.push(v.map_or(Cell::Null, |s| Cell::Text(s.into())));
    }
    fn int(&mut self, _: &str, v: u64) {
        self.0
            .push(i64::try_from(v).map_or(Cell::Real(v as f64), Cell::Integer));
    }
    fn num(&mut self, _: &str, v: Option<f64>, dp: i32) {
        let f = 10f64.powi(dp);
        self.0.push(
            v.map(|x| (x * f).round() / f)
                .filter(|x| x.is_finite())
                .map_or(Cell::Null, Cell::Real),
        );
    }
    fn json(&mut self, _: &str, v: &Json) {
        self.0.push(match v {
            Json::Null => Cell::Null,
            Json::Number(n) => n
                .as_i64()
                .map(Cell::Integer)
                .unwrap_or_else(|| Cell::Real(n.as_f64().unwrap_or(f64::NAN))),
            Json::Bool(b) => Cell::Integer(i64::from(*b)),
            Json::String(s) => Cell::Text(s.clone()),
            other => Cell::Text(other.to_string()),
        });
    }
}

/// Another writer of cells without the `why` column, which [`file_columns`] puts after the
/// criteria's own reasons.
struct NoWhy<'a>(&'a mut dyn Cells);

impl Cells for NoWhy<'_> {
    fn text(&mut self, name: &str, v: Option<&str>) {
        self.0.text(name, v);
    }
    fn int(&mut self, name: &str, v: u64) {
        self.0.int(name, v);
    }
    fn opt_int(&mut self, name: &str, v: Option<u64>) {
        self.0.opt_int(name, v);
    }
    fn num(&mut self, name: &str, v: Option<f64>, dp: i32) {
        self.0.num(name, v, dp);
    }
    fn json(&mut self, name: &str, v: &Json) {
        self.0.json(name, v);
    }
    fn wants(&self, name: &str) -> bool {
        name != "why" && self.0.wants(name)
    }
}

/// Per criterion, the name of its reason's column: `{name}_why`.
static WHY_COLUMNS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    CRITERIA
        .iter()
        .map(|c| format!("{}_why", c.name()))
        .collect()
});

/// Every column of a file's row, in order, into `out`.
fn file_columns(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    rank_column: &str,
    r: &Ranked,
    out: &mut dyn Cells,
) {
    columns(atlas, units, contexts, rank_column, r, &mut NoWhy(out));
    for (i, name) in WHY_COLUMNS.iter().enumerate() {
        if out.wants(name) {
            out.text(name, Some(&r.values[i].why));
        }
    }
    if out.wants("why") {
        out.text("why", Some(&explain(r)));
    }
    let u = &units[r.unit];
    let ll = lonlat(u, &contexts[r.unit]).ok();
    out.num("latitude", ll.map(|(_, lat)| lat), 6);
    out.num("longitude", ll.map(|(lon, _)| lon), 6);
    out.num("easting", Some(u.pos[0]), 2);
    out.num("northing", Some(u.pos[1]), 2);
}

/// The rows of a file: how many, and each made on demand, in words or not.
pub struct Rows<'a> {
    pub atlas: &'a Atlas,
    pub units: &'a [Unit],
    pub contexts: &'a [Context],
    /// The rank column's name and the columns chosen.
    rank_column: &'a str,
    chosen: &'a Chosen,
    len: usize,
    /// Row `k`, in words if asked (and if a column kept is in words).
    row: Box<dyn Fn(usize, bool) -> Ranked + Sync + 'a>,
}

impl<'a> Rows<'a> {
    /// The rows of a ranking held whole.
    pub fn of_ranking(
        atlas: &'a Atlas,
        units: &'a [Unit],
        contexts: &'a [Context],
        ranking: &'a Ranking,
    ) -> Rows<'a> {
        let words = ranking.words_for(true);
        Rows {
            atlas,
            units,
            contexts,
            rank_column: ranking.rank_column,
            chosen: &ranking.columns,
            len: ranking.rows.len(),
            row: Box::new(move |k, in_words| {
                let words = words.as_ref().filter(|_| in_words);
                ranking.row_in_words(atlas, units, contexts, words, k)
            }),
        }
    }

    /// The rows of a ranking held as its order, each made as it is written.
    pub fn of_order(
        atlas: &'a Atlas,
        units: &'a [Unit],
        contexts: &'a [Context],
        ordered: &'a Ordered<'a>,
    ) -> Rows<'a> {
        let words = ordered.ranking.words_for(true);
        let values = ordered.ranking.columns.needs_values();
        Rows {
            atlas,
            units,
            contexts,
            rank_column: ordered.ranking.rank_column,
            chosen: &ordered.ranking.columns,
            len: ordered.len(),
            // Every k asked for is below the order's length.
            row: Box::new(move |k, in_words| {
                let words = words.as_ref().filter(|_| in_words);
                ordered
                    .row_needing(k, words, values)
                    .expect("a row of the order")
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's columns, from its first row (an extra column or a note is on every row or
    /// none); none without rows.
    pub fn header(&self) -> Header {
        let mut header = Header::default();
        if self.is_empty() {
            return header;
        }
        let mut names = Names::new(self.chosen);
        let first = (self.row)(0, false);
        file_columns(
            self.atlas,
            self.units,
            self.contexts,
            self.rank_column,
            &first,
            &mut names,
        );
        for (name, kind) in names.names.into_iter().zip(names.kinds) {
            let keep = POSITION.contains(&name.as_str()) || self.chosen.keeps(&name);
            header.keep.push(keep);
            if keep {
                header.names.push(name);
                header.kinds.push(kind);
            }
        }
        header
    }

    /// Every row in order, a part of a run at a time, into `take` (with the unit's index), in
    /// words when `in_words`; stops at `take`'s first error.
    pub fn each(
        &self,
        header: &Header,
        in_words: bool,
        take: &mut dyn FnMut(Part) -> Result<(), String>,
    ) -> Result<(), String> {
        let make = |ks: &[usize]| -> Result<Part, String> {
            let mut part = Vec::with_capacity(ks.len());
            for &k in ks {
                let r = (self.row)(k, in_words);
                let mut out = Masked {
                    chosen: self.chosen,
                    keep: &header.keep,
                    at: 0,
                    inner: Owned(Vec::with_capacity(header.names.len())),
                };
                file_columns(
                    self.atlas,
                    self.units,
                    self.contexts,
                    self.rank_column,
                    &r,
                    &mut out,
                );
                let cells = out.inner.0;
                if cells.len() != header.names.len() {
                    return Err(format!(
                        "a row of {} cells under a header of {}",
                        cells.len(),
                        header.names.len()
                    ));
                }
                part.push((r.unit, cells));
            }
            Ok(part)
        };
        in_runs(self.len, &make, &mut |part| take(part?))
    }
}

/// Rows of a file, in order, each with its unit's index and its cells.
pub type Part = Vec<(usize, Vec<Cell>)>;

/// A file's columns: their names and kinds, and which of the cells a row writes are kept, by
/// their place.
#[derive(Debug, Default)]
pub struct Header {
    pub names: Vec<String>,
    pub kinds: Vec<CellKind>,
    keep: Vec<bool>,
}
