//! One query type per operation, declared once: each field's type and doc comment drive the CLI
//! flag (clap), the HTTP parser (serde, unknown parameters refused) and the OpenAPI document
//! (utoipa). Checking what the values mean happens once, here, against the atlas.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::analysis::rank::{Filters, RankError, Weights};
use crate::base::date::Date;
use crate::base::params::{opt_from_str, opt_text};
use crate::export::ExportFormat;
use crate::reference::atlas::Atlas;

/// Default `limit` of a page (`/rank`, `/collections/{id}/items`).
pub const DEFAULT_LIMIT: usize = 100;
/// Largest `limit` a request may ask for.
pub const MAX_LIMIT: usize = 10_000;

/// Which units to rank and how: the filters, the weights, the plan overlay and the date.
/// `sitefinder rank` flags, `GET /rank` parameters and `shortlist add --top` use it alike.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankQuery {
    /// Only units in the GP catchment of a practice of this Primary Care Network (name or
    /// U-code): the PCNs listed in the output's `catchment_pcns` column, not
    /// `nearest_practice_pcn`.
    #[arg(long, value_name = "NAME")]
    #[serde(default, deserialize_with = "opt_text")]
    pub pcn: Option<String>,
    /// Only units in this local authority (code or name: LAD 2024 with IMD 2025, LAD 2019 with IMD 2019).
    #[arg(long, value_name = "LAD")]
    #[serde(default, deserialize_with = "opt_text")]
    pub lad: Option<String>,
    /// Only units inside this WGS84 box: minlon,minlat,maxlon,maxlat.
    #[arg(long, value_name = "BBOX", allow_hyphen_values = true)]
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "-2.20,53.60,-2.12,53.64")]
    pub bbox: Option<String>,
    /// Only units with at least this floor area in square metres (units of unknown area are
    /// left out).
    #[arg(long, value_name = "M2")]
    #[serde(default, deserialize_with = "opt_from_str")]
    #[param(minimum = 0)]
    pub min_floor_area_m2: Option<f64>,
    /// Only units in LSOAs of these IMD deciles, e.g. 1,2 or 1-3 (1 = most deprived).
    #[arg(long, value_name = "LIST")]
    #[serde(default, deserialize_with = "opt_text")]
    pub imd_deciles: Option<String>,
    /// Weights as criterion=weight pairs (0..100), e.g. deprivation=3,access=1; the criteria
    /// are deprivation, reach, demand, gap, access, suitability, plan. On the command line a
    /// TOML file may be given instead.
    #[arg(long, value_name = "k=v,...|FILE")]
    #[serde(default, deserialize_with = "opt_text")]
    pub weights: Option<String>,
    /// A council plan overlay (id or name) for the `plan` criterion.
    #[arg(long, value_name = "ID|NAME")]
    #[serde(default, deserialize_with = "opt_text")]
    pub overlay: Option<String>,
    /// Only units within this distance in metres of the overlay's areas (0 = inside).
    #[arg(long, value_name = "M")]
    #[serde(default, deserialize_with = "opt_from_str")]
    #[param(minimum = 0, maximum = 50000)]
    pub plan_within_m: Option<f64>,
    /// Rank units that cannot hold a clinic too (market stalls, kiosks, stands, advertising
    /// rights, car parking, ATM sites, masts...: read from the description, name and address).
    /// By default they are left out and listed with the reason.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "opt_from_str")]
    pub include_unsuitable: Option<bool>,
    /// Keep only the best unit of each site (units in the same arcade, centre, market hall or
    /// building, or next door at one position), so a top 10 is ten places. Default: off for a
    /// ranking, on for a shortlist made from its top (`shortlist add --top`, the map's "add
    /// top").
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "opt_from_str")]
    pub one_per_site: Option<bool>,
    /// The date vacancy age is measured at for every unit (YYYY-MM-DD; default: the engine's
    /// date if it was started with one, else each unit's list date, and today for units
    /// without one).
    /// (On the command line, `--as-of` sets the engine's date instead.)
    #[arg(skip)]
    #[serde(default, deserialize_with = "opt_from_str")]
    #[param(value_type = Option<String>, example = "2024-07-31")]
    pub as_of: Option<Date>,
}

/// Which parameter a query error is about, for the HTTP error message and the CLI flag.
pub trait Param {
    fn param(&self) -> &'static str;
}

impl Param for RankError {
    fn param(&self) -> &'static str {
        match self {
            RankError::UnknownCriterion(_)
            | RankError::BadWeight { .. }
            | RankError::WeightSyntax(_)
            | RankError::AllZero
            | RankError::WeightsFile { .. } => "weights",
            RankError::UnknownPcn { .. } => "pcn",
            RankError::UnknownLad(_) => "lad",
            RankError::BadDecile(_) => "imd_deciles",
            RankError::BadBbox(..) => "bbox",
            RankError::PlanFilterWithoutOverlay | RankError::BadPlanDistance(_) => "plan_within_m",
            RankError::BadFloorArea(_) => "min_floor_area_m2",
            RankError::UnknownProperty { .. } | RankError::NoProperties => "properties",
        }
    }
}

impl RankQuery {
    /// The weights and filters this query asks for, checked against the atlas. The one place
    /// a ranking query is validated (CLI and HTTP alike).
    pub fn check(&self, atlas: &Atlas) -> Result<(Weights, Filters), RankError> {
        let weights = match &self.weights {
            Some(w) => Weights::parse_list(w)?,
            None => Weights::default(),
        };
        if let Some(a) = self.min_floor_area_m2 {
            if !a.is_finite() || a < 0.0 {
                return Err(RankError::BadFloorArea(a.to_string()));
            }
        }
        let filters = Filters {
            pcn: self.pcn.clone(),
            lad: self.lad.clone(),
            min_floor_area_m2: self.min_floor_area_m2,
            imd_deciles: self
                .imd_deciles
                .as_deref()
                .map(Filters::parse_deciles)
                .transpose()?,
            bbox: self.bbox.as_deref().map(Filters::parse_bbox).transpose()?,
            plan_within_m: self
                .plan_within_m
                .map(|m| Filters::parse_plan_within(&m.to_string()))
                .transpose()?,
            include_unsuitable: self.include_unsuitable.unwrap_or(false),
            one_per_site: self.one_per_site.unwrap_or(false),
        };
        if filters.plan_within_m.is_some() && self.overlay.is_none() {
            return Err(RankError::PlanFilterWithoutOverlay);
        }
        crate::analysis::rank::check_filters(atlas, &filters)?;
        Ok((weights, filters))
    }

    /// On the command line `--weights` may name a TOML file: reads it into pairs.
    pub fn read_weights_file(&mut self) -> Result<(), RankError> {
        if let Some(w) = &self.weights {
            let path = std::path::Path::new(w);
            if w.ends_with(".toml") || path.is_file() {
                self.weights = Some(Weights::from_toml_file(path)?.to_list());
            }
        }
        Ok(())
    }

    /// The filters as `(name, value)` pairs for an export's query sheet (empty when not set).
    pub fn filter_pairs(&self) -> Vec<(String, String)> {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let n = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        let b = |v: Option<bool>| v.map(|x| x.to_string()).unwrap_or_default();
        vec![
            ("pcn".into(), s(&self.pcn)),
            ("lad".into(), s(&self.lad)),
            ("imd_deciles".into(), s(&self.imd_deciles)),
            ("min_floor_area_m2".into(), n(self.min_floor_area_m2)),
            ("bbox".into(), s(&self.bbox)),
            ("plan_within_m".into(), n(self.plan_within_m)),
            ("include_unsuitable".into(), b(self.include_unsuitable)),
            ("one_per_site".into(), b(self.one_per_site)),
        ]
    }

    /// The query as `key=value&...` (what a shortlist records it was made from).
    pub fn to_query_string(&self) -> String {
        let mut pairs: Vec<(String, String)> = self
            .filter_pairs()
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if let Some(o) = &self.overlay {
            pairs.push(("overlay".into(), o.clone()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// Which rows of a ranking to return or write.
#[derive(Debug, Clone, Copy, Default, PartialEq, clap::Args, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// At most this many rows (over HTTP: default 100, at most 10000; on the command line:
    /// all). `--top` is the same.
    #[arg(long, visible_alias = "top", value_name = "N")]
    #[serde(default, deserialize_with = "opt_from_str")]
    #[param(minimum = 0, maximum = 10000)]
    pub limit: Option<usize>,
    /// Skip this many rows first.
    #[arg(long, value_name = "N")]
    #[serde(default, deserialize_with = "opt_from_str")]
    #[param(minimum = 0)]
    pub offset: Option<usize>,
}

/// Which of a ranked unit's properties to give: the columns of a file, the properties of a
/// page's features.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PropertiesQuery {
    /// Only these properties of each ranked unit, comma-separated, in their usual order: a
    /// page's features (with `breakdown` only if named) and a file's columns alike (in CSV,
    /// XLSX and GeoPackage `breakdown` keeps the criteria's columns; XLSX and GeoPackage keep
    /// the position columns). Without `why` or `breakdown` no row is put into words, so a
    /// national ranking is written several times faster. E.g. rank,id,score,lsoa21cd,imd_decile.
    #[arg(long, value_name = "LIST")]
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "rank,score,name")]
    pub properties: Option<String>,
}

impl PropertiesQuery {
    /// The names given, each once, in the order given; `None` without the parameter.
    pub fn names(&self) -> Option<Vec<String>> {
        self.properties.as_deref().map(property_names)
    }
}

/// The names in a comma-separated list of properties, each once, in the order given (blanks
/// and spaces around names left out).
///
/// ```
/// use sitefinder::engine::query::property_names;
/// assert_eq!(property_names(" rank, id,,rank ,score"), ["rank", "id", "score"]);
/// assert!(property_names(" , ").is_empty());
/// ```
pub fn property_names(text: &str) -> Vec<String> {
    // A set of those seen: a request's list of any length is read in one pass.
    let mut seen = std::collections::HashSet::new();
    text.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty() && seen.insert(*n))
        .map(str::to_string)
        .collect()
}

/// Errors in paging parameters.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{param} `{value}` must be a whole number from 0 to {max}")]
pub struct PagingError {
    pub param: &'static str,
    pub value: usize,
    pub max: usize,
}

impl Param for PagingError {
    fn param(&self) -> &'static str {
        self.param
    }
}

impl Paging {
    /// The rows this paging keeps (no limit: all from the offset on).
    pub fn apply<T>(&self, rows: Vec<T>) -> Vec<T> {
        let limit = self.limit.unwrap_or(usize::MAX);
        rows.into_iter()
            .skip(self.offset.unwrap_or(0))
            .take(limit)
            .collect()
    }

    /// `(offset, limit)` with `default` for a missing limit, refusing a limit over `max`.
    pub fn bounds(&self, default: usize, max: usize) -> Result<(usize, usize), PagingError> {
        let limit = self.limit.unwrap_or(default);
        if limit > max {
            return Err(PagingError {
                param: "limit",
                value: limit,
                max,
            });
        }
        let offset = self.offset.unwrap_or(0);
        if offset > usize::MAX / 4 {
            return Err(PagingError {
                param: "offset",
                value: offset,
                max: usize::MAX / 4,
            });
        }
        Ok((offset, limit))
    }
}

/// The file format of a ranking, an export or optimise's chosen sites.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// geojson, csv (UTF-8 with a byte-order mark, for Excel), xlsx or gpkg (GeoPackage,
    /// EPSG:27700 points). `/rank` pages GeoJSON by default; any other format downloads every
    /// matched unit. (The PDF site report is a shortlist's: `format=pdf` here is a 400 that
    /// says so.)
    #[serde(default, deserialize_with = "opt_from_str")]
    #[param(value_type = Option<String>, pattern = "^(geojson|csv|xlsx|gpkg)$")]
    pub format: Option<ExportFormat>,
}
