//! GP catchments: which practices serve a place. Three sources behind one trait, in order of
//! preference:
//!
//! 1. [`Registrations`]: NHS Digital "Patients registered at a GP practice — LSOA"
//!    (`PRACTICE_CODE, LSOA_CODE, NUMBER_OF_PATIENTS`), when the user has it;
//! 2. [`Polygons`]: catchment polygons supplied as GeoJSON (property `practice_code`);
//! 3. [`Huff`]: an approximation from list sizes and distance, used by default because the
//!    LSOA registration file is not open data that ships here.
//!
//! For the LSOA-based sources a practice's catchment *covers* an LSOA when the practice holds at
//! least `min_share` (default 10%) of the LSOA's registered residents; the practice with the
//! largest share always covers it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use geo::MultiPolygon;
use serde_json::Value;

use crate::base::spatial::PolygonIndex;
use crate::base::textio::read_text;
use crate::reference::atlas::Atlas;

/// A practice covering a place, with the share of the place's registered residents it holds
/// (`None` for polygon catchments, which say nothing about shares).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cover {
    pub practice: usize,
    pub share: Option<f64>,
}

/// A source of GP catchments.
pub trait CatchmentSource: Send + Sync {
    /// Short name for breakdowns: `registrations`, `polygons` or `huff`.
    fn kind(&self) -> &'static str;
    /// One sentence on how catchments are defined, for the output's notes.
    fn describe(&self) -> String;
    /// Practices whose catchments cover the point `at` in LSOA `lsoa`, by practice index,
    /// largest share first (ties by practice code).
    fn covering(&self, atlas: &Atlas, at: [f64; 2], lsoa: usize) -> Vec<Cover>;
    /// The catchment polygons by practice, for sources that have them (others answer per LSOA).
    fn polygons(&self) -> Option<Vec<(usize, MultiPolygon<f64>)>> {
        None
    }
    /// Whether [`CatchmentSource::covering`] depends only on the LSOA (not on the point), so
    /// that it can be worked out once per LSOA and shared.
    fn per_lsoa(&self) -> bool {
        true
    }
    /// What the user should know about the source's input (rows not used and why), one
    /// sentence each; printed by the CLI and carried in every output's metadata.
    fn notes(&self) -> Vec<String> {
        vec![]
    }
    /// Registered patients of a practice as this source knows them.
    fn patients(&self, atlas: &Atlas, practice: usize) -> Option<u32> {
        atlas.practices[practice].list_size
    }
}

/// Errors reading a user-supplied catchment file.
#[derive(Debug, thiserror::Error)]
pub enum CatchmentError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {reason}")]
    Layout { file: PathBuf, reason: String },
    #[error("{file} {place}: {reason}")]
    Row {
        file: PathBuf,
        place: String,
        reason: String,
    },
}

fn read_file(path: &Path) -> Result<(PathBuf, String), CatchmentError> {
    let (text, _) = read_text(path).map_err(|source| CatchmentError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    Ok((path.to_path_buf(), text))
}

fn sort_covers(atlas: &Atlas, covers: &mut [Cover]) {
    covers.sort_by(|a, b| {
        b.share
            .unwrap_or(0.0)
            .total_cmp(&a.share.unwrap_or(0.0))
            .then_with(|| {
                atlas.practices[a.practice]
                    .practice_code
                    .cmp(&atlas.practices[b.practice].practice_code)
            })
    });
}

/// Keeps the practices holding at least `min_share`, and always the largest.
fn covers_from_shares(atlas: &Atlas, shares: Vec<(usize, f64)>, min_share: f64) -> Vec<Cover> {
    let mut all: Vec<Cover> = shares
        .into_iter()
        .map(|(practice, s)| Cover {
            practice,
            share: Some(s),
        })
        .collect();
    sort_covers(atlas, &mut all);
    let mut out: Vec<Cover> = all
        .iter()
        .copied()
        .filter(|c| c.share.unwrap_or(0.0) >= min_share)
        .collect();
    if out.is_empty() {
        out.extend(all.first().copied());
    }
    out
}

/// How attraction falls with distance in the [`Huff`] model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    /// `exp(-d / scale_m)`: the negative exponential of gravity and floating-catchment models.
    Exponential { scale_m: f64 },
    /// `1 / max(d, floor_m)^beta`: the classic power law (the floor stops a practice on the
    /// centroid taking everyone).
    Power { beta: f64, floor_m: f64 },
}

impl Decay {
    fn weight(self, d: f64) -> f64 {
        match self {
            Decay::Exponential { scale_m } => (-d / scale_m).exp(),
            Decay::Power { beta, floor_m } => 1.0 / d.max(floor_m).powf(beta),
        }
    }
    fn words(self) -> String {
        match self {
            Decay::Exponential { scale_m } => format!("exp(-distance / {scale_m:.0} m)"),
            Decay::Power { beta, floor_m } => {
                format!("1 / max(distance, {floor_m:.0} m)^{beta}")
            }
        }
    }
}

/// Huff (gravity) model: the residents of LSOA `l` register with practice `j` in proportion to
/// `list_size_j x decay(d_lj)`, over the practices within `radius_m` of the LSOA's centroid (at
/// least the nearest `min_candidates`); a practice covers the LSOA where its share is at least
/// `min_share`.
///
/// The defaults were measured and tuned against NHS England's real registrations by LSOA for
/// Staffordshire and Stoke-on-Trent (October 2025; `sitefinder calibrate-catchments`, see
/// `docs/catchments.md`): exponential decay with a 1 km scale, 8 km radius, 10% minimum share,
/// the best of 264 combinations on alternate LSOAs. On the other (held-out) 335 LSOAs the
/// covering practices agree with the real ones with a mean Jaccard index of 0.724 (0.693 for
/// the earlier power law, beta 2 with a 200 m floor and 5 km radius), estimated and real patient
/// shares correlate with r = 0.889 (0.867), and the largest practice is the real one in 70.7% of
/// LSOAs (71.3%).
#[derive(Debug, Clone)]
pub struct Huff {
    pub decay: Decay,
    pub radius_m: f64,
    pub min_candidates: usize,
    pub min_share: f64,
}

impl Default for Huff {
    fn default() -> Self {
        Huff {
            decay: Decay::Exponential { scale_m: 1_000.0 },
            radius_m: 8_000.0,
            min_candidates: 5,
            min_share: 0.10,
        }
    }
}

impl Huff {
    /// The model before it was tuned on real registrations (power law, beta 2, 200 m floor,
    /// 5 km): kept to compare with.
    pub fn untuned() -> Huff {
        Huff {
            decay: Decay::Power {
                beta: 2.0,
                floor_m: 200.0,
            },
            radius_m: 5_000.0,
            ..Huff::default()
        }
    }

    /// Estimated share of LSOA `lsoa`'s residents registered with each nearby practice.
    pub fn shares(&self, atlas: &Atlas, lsoa: usize) -> Vec<(usize, f64)> {
        let c = atlas.lsoas[lsoa].centroid;
        let mut cands = atlas.practice_index.within(c, self.radius_m);
        if cands.len() < self.min_candidates {
            cands = atlas.practice_index.nearest_k(c, self.min_candidates);
        }
        let median = atlas.median_list_size;
        let utils: Vec<(usize, f64)> = cands
            .into_iter()
            .map(|(j, d)| {
                let a = atlas.practices[j].list_size.map_or(median, f64::from);
                (j, a * self.decay.weight(d))
            })
            .collect();
        let total: f64 = utils.iter().map(|u| u.1).sum();
        if total <= 0.0 || !total.is_finite() {
            return vec![];
        }
        utils.into_iter().map(|(j, u)| (j, u / total)).collect()
    }

    /// The parameters in words.
    pub fn params_words(&self) -> String {
        format!(
            "list size x {}, practices within {:.0} km, minimum share {:.0}%",
            self.decay.words(),
            self.radius_m / 1000.0,
            self.min_share * 100.0
        )
    }
}

impl CatchmentSource for Huff {
    fn kind(&self) -> &'static str {
        "huff"
    }
    fn describe(&self) -> String {
        format!(
            "approximated (Huff model, tuned on real registrations): residents share among practices within {:.0} km by list size x {}; a practice covers an LSOA where its estimated share is at least {:.0}%",
            self.radius_m / 1000.0,
            self.decay.words(),
            self.min_share * 100.0
        )
    }
    fn covering(&self, atlas: &Atlas, _at: [f64; 2], lsoa: usize) -> Vec<Cover> {
        covers_from_shares(atlas, self.shares(atlas, lsoa), self.min_share)
    }
}

/// Catchments from NHS Digital's registered patients by LSOA.
#[derive(Debug, Clone)]
pub struct Registrations {
    /// LSOA index -> (practice index, patients).
    by_lsoa: HashMap<usize, Vec<(usize, u32)>>,
    totals: HashMap<usize, u32>,
    pub min_share: f64,
    /// Rows not used, by reason (e.g. "LSOA_CODE `EMPTY`"), with their lines and patients.
    pub unused: BTreeMap<String, Unused>,
    /// Rows used.
    pub used_rows: usize,
}

/// Rows of a registrations file that were not used for one reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unused {
    pub rows: usize,
    pub patients: u64,
    /// The first few line numbers, to find them in the file.
    pub lines: Vec<u64>,
    /// The first few distinct codes concerned (practices), if the reason is about codes.
    pub codes: Vec<String>,
}

/// Why a row's LSOA code is not used: NHS England's file has `EMPTY` (no postcode),
/// `CLOSED`, Welsh (W01), Scottish (S01) and unknown (`L99…`, `M99…`) codes besides the
/// English LSOAs, and a code of the other LSOA vintage is not in the atlas's LSOAs.
fn lsoa_code_reason(code: &str, lsoa_label: &str) -> String {
    if code.starts_with("W01") {
        "Welsh LSOA codes (W01...)".into()
    } else if code.starts_with("S01") {
        "Scottish data zone codes (S01...)".into()
    } else if code.starts_with("95") || code.starts_with("N") {
        "Northern Irish codes".into()
    } else if code.starts_with("E01") {
        format!("English LSOA codes that are not {lsoa_label} codes (e.g. {code})")
    } else if code.is_empty() {
        "an empty LSOA_CODE".into()
    } else {
        format!("LSOA_CODE `{code}` (not an LSOA)")
    }
}

impl Registrations {
    /// The LSOAs the file has registrations for, ascending.
    pub fn lsoas(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.by_lsoa.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Registered patients living in LSOA `lsoa`, over the practices in the file.
    pub fn patients_in(&self, lsoa: usize) -> u64 {
        self.by_lsoa
            .get(&lsoa)
            .map_or(0, |r| r.iter().map(|x| u64::from(x.1)).sum())
    }

    /// The share of LSOA `lsoa`'s registered patients each practice holds.
    pub fn shares(&self, lsoa: usize) -> Vec<(usize, f64)> {
        let total = self.patients_in(lsoa) as f64;
        if total <= 0.0 {
            return vec![];
        }
        self.by_lsoa
            .get(&lsoa)
            .map(|r| r.iter().map(|&(p, n)| (p, n as f64 / total)).collect())
            .unwrap_or_default()
    }

    /// One sentence per reason rows were not used, largest first.
    pub fn report(&self) -> Vec<String> {
        let mut v: Vec<(&String, &Unused)> = self.unused.iter().collect();
        v.sort_by(|a, b| b.1.rows.cmp(&a.1.rows).then(a.0.cmp(b.0)));
        v.into_iter()
            .map(|(why, u)| {
                let lines: Vec<String> = u.lines.iter().map(u64::to_string).collect();
                let codes = if u.codes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", u.codes.join(", "))
                };
                format!(
                    "{} row{} ({} patient{}) not used: {why}{codes} (line{} {}{})",
                    u.rows,
                    if u.rows == 1 { "" } else { "s" },
                    u.patients,
                    if u.patients == 1 { "" } else { "s" },
                    if u.lines.len() == 1 { "" } else { "s" },
                    lines.join(", "),
                    if u.rows > u.lines.len() { ", ..." } else { "" }
                )
            })
            .collect()
    }
}

impl Registrations {
    /// Reads the NHS Digital CSV (other columns, such as `PUBLICATION` or `SEX`, are ignored;
    /// rows with `SEX` other than `ALL` are skipped when the column exists).
    pub fn load(path: &Path, atlas: &Atlas) -> Result<Self, CatchmentError> {
        let (file, text) = read_file(path)?;
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| CatchmentError::Layout {
                file: file.clone(),
                reason: e.to_string(),
            })?
            .clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let (Some(pc), Some(lc), Some(nc)) = (
            col("PRACTICE_CODE"),
            col("LSOA_CODE"),
            col("NUMBER_OF_PATIENTS"),
        ) else {
            return Err(CatchmentError::Layout {
                file,
                reason: "expected the columns PRACTICE_CODE, LSOA_CODE, NUMBER_OF_PATIENTS".into(),
            });
        };
        let sex = col("SEX");
        let practice_by_code: HashMap<&str, usize> = atlas
            .practices
            .iter()
            .enumerate()
            .map(|(i, p)| (p.practice_code.as_str(), i))
            .collect();
        let mut by_lsoa: HashMap<usize, Vec<(usize, u32)>> = HashMap::new();
        let mut totals: HashMap<usize, u32> = HashMap::new();
        let mut unused: BTreeMap<String, Unused> = BTreeMap::new();
        let mut used_rows = 0;
        for rec in rdr.records() {
            let rec = rec.map_err(|e| CatchmentError::Row {
                file: file.clone(),
                place: format!("line {}", e.position().map_or(0, |p| p.line())),
                reason: e.to_string(),
            })?;
            let line = rec.position().map_or(0, |p| p.line());
            if sex
                .and_then(|i| rec.get(i))
                .is_some_and(|s| !s.trim().eq_ignore_ascii_case("ALL"))
            {
                continue;
            }
            let n_raw = rec.get(nc).unwrap_or("").trim();
            let n: u32 = n_raw.parse().map_err(|_| CatchmentError::Row {
                file: file.clone(),
                place: format!("line {line}"),
                reason: format!("NUMBER_OF_PATIENTS `{n_raw}` is not a whole number"),
            })?;
            let practice_code = rec.get(pc).unwrap_or("").trim();
            let lsoa_code = rec.get(lc).unwrap_or("").trim();
            let p = practice_by_code.get(practice_code).copied();
            let l = atlas.lsoa(lsoa_code);
            match (p, l) {
                (Some(p), Some(l)) => {
                    by_lsoa.entry(l).or_default().push((p, n));
                    let t = totals.entry(p).or_default();
                    *t = t.saturating_add(n);
                    used_rows += 1;
                }
                (_, None) => {
                    let why = lsoa_code_reason(lsoa_code, atlas.imd.lsoa_label());
                    note_unused(&mut unused, why, line, n, None);
                }
                (None, Some(_)) => {
                    let why = "PRACTICE_CODE not an active English GP practice in the data (closed, or not a GP practice)".to_string();
                    note_unused(&mut unused, why, line, n, Some(practice_code));
                }
            }
        }
        if by_lsoa.is_empty() {
            return Err(CatchmentError::Layout {
                file,
                reason: "no row names a practice and an LSOA that sitefinder knows".into(),
            });
        }
        Ok(Registrations {
            by_lsoa,
            totals,
            min_share: 0.10,
            unused,
            used_rows,
        })
    }
}

impl CatchmentSource for Registrations {
    fn kind(&self) -> &'static str {
        "registrations"
    }
    fn describe(&self) -> String {
        format!(
            "registered patients by LSOA (NHS Digital); a practice covers an LSOA where it holds at least {:.0}% of the LSOA's registered residents",
            self.min_share * 100.0
        )
    }
    fn covering(&self, atlas: &Atlas, _at: [f64; 2], lsoa: usize) -> Vec<Cover> {
        let Some(rows) = self.by_lsoa.get(&lsoa) else {
            return vec![];
        };
        let total: u32 = rows.iter().map(|r| r.1).sum();
        if total == 0 {
            return vec![];
        }
        let shares = rows
            .iter()
            .map(|&(p, n)| (p, n as f64 / total as f64))
            .collect();
        covers_from_shares(atlas, shares, self.min_share)
    }
    fn notes(&self) -> Vec<String> {
        self.report()
    }
    fn patients(&self, _atlas: &Atlas, practice: usize) -> Option<u32> {
        self.totals.get(&practice).copied()
    }
}

fn note_unused(
    unused: &mut BTreeMap<String, Unused>,
    why: String,
    line: u64,
    patients: u32,
    code: Option<&str>,
) {
    let u = unused.entry(why).or_default();
    u.rows += 1;
    u.patients += u64::from(patients);
    if u.lines.len() < 5 {
        u.lines.push(line);
    }
    if let Some(c) = code {
        if u.codes.len() < 5 && !u.codes.iter().any(|x| x == c) {
            u.codes.push(c.to_string());
        }
    }
}

/// Catchments given as polygons (one or more per practice).
#[derive(Debug, Clone)]
pub struct Polygons {
    shapes: Vec<MultiPolygon<f64>>,
    practice: Vec<usize>,
    index: PolygonIndex,
}

impl Polygons {
    /// Reads a GeoJSON FeatureCollection of Polygon/MultiPolygon features with a
    /// `practice_code` property, in WGS84 (or EPSG:27700 when its `crs` says so).
    pub fn load(path: &Path, atlas: &Atlas) -> Result<Self, CatchmentError> {
        let (file, text) = read_file(path)?;
        let layout = |reason: String| CatchmentError::Layout {
            file: file.clone(),
            reason,
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            layout(format!(
                "invalid GeoJSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })?;
        let bng = crate::base::crs::geojson_crs(&v).map_err(layout)?;
        let features = v["features"]
            .as_array()
            .ok_or_else(|| layout("expected a FeatureCollection with `features`".into()))?;
        let mut shapes = Vec::new();
        let mut practice = Vec::new();
        for (i, f) in features.iter().enumerate() {
            let row = |reason: String| CatchmentError::Row {
                file: file.clone(),
                place: format!("feature {i}"),
                reason,
            };
            let code = f["properties"]["practice_code"]
                .as_str()
                .ok_or_else(|| row("no `practice_code` property".into()))?;
            let p = atlas
                .practices
                .iter()
                .position(|p| p.practice_code == code)
                .ok_or_else(|| {
                    row(format!(
                        "practice `{code}` is not an active English GP practice"
                    ))
                })?;
            let mp = crate::base::geometry::multipolygon_from_geojson(&f["geometry"], bng)
                .map_err(row)?;
            shapes.push(mp);
            practice.push(p);
        }
        let index = PolygonIndex::new(&shapes);
        Ok(Polygons {
            shapes,
            practice,
            index,
        })
    }
}

impl CatchmentSource for Polygons {
    fn per_lsoa(&self) -> bool {
        false
    }
    fn kind(&self) -> &'static str {
        "polygons"
    }
    fn describe(&self) -> String {
        "catchment polygons supplied by the user; a practice covers a unit inside its polygon"
            .into()
    }
    fn covering(&self, atlas: &Atlas, at: [f64; 2], _lsoa: usize) -> Vec<Cover> {
        let mut out: Vec<Cover> = self
            .index
            .candidates_near(at, 0.0)
            .into_iter()
            .filter(|&i| crate::base::spatial::covers(&self.shapes[i], at))
            .map(|i| Cover {
                practice: self.practice[i],
                share: None,
            })
            .collect();
        sort_covers(atlas, &mut out);
        out.dedup_by_key(|c| c.practice);
        out
    }
}
