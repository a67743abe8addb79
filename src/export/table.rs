//! Writing a ranking as CSV or GeoJSON (RFC 7946: WGS84 lon/lat, 6 decimals). Both carry the
//! same columns: the unit, its score, LSOA and IMD decile, nearest practice and PCN, the GP
//! catchment, and per criterion the raw value, the normalised value and its contribution; then
//! the unit's own fields, why it cannot hold a clinic (`unsuitable`, when such units are
//! included) and its site (`site_id`: the smallest id of the units at the same place;
//! `site_units`: how many there are).
//! GeoJSON adds a `breakdown` object per feature with the sentence for each criterion.

use std::io::Write;

use geojson::{Feature, FeatureCollection, Geometry};
use serde_json::{json, Map, Value as Json};

use crate::analysis::criteria::{distance_words, CRITERIA};
use crate::analysis::join::Context;
use crate::analysis::rank::{Ranked, Ranking};
use crate::base::crs::{self, round6};
use crate::ingest::units::{LocatedBy, Unit};
use crate::reference::atlas::{Atlas, DOMAINS};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    GeoJson,
}

/// Errors writing output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Crs(#[from] crs::CrsError),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
}

fn round(v: f64, dp: i32) -> Json {
    let f = 10f64.powi(dp);
    json!((v * f).round() / f)
}

fn opt(v: Option<f64>, dp: i32) -> Json {
    v.map_or(Json::Null, |x| round(x, dp))
}

/// The flat properties of one ranked unit, in column order.
pub fn properties(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    rank_column: &str,
    r: &Ranked,
) -> Map<String, Json> {
    let u = &units[r.unit];
    let c = &contexts[r.unit];
    let l = &atlas.lsoas[c.lsoa];
    let nearest = c.nearest_practices.first();
    let np = nearest.map(|(i, _)| &atlas.practices[*i]);
    let mut m = Map::new();
    m.insert(rank_column.into(), json!(r.rank));
    m.insert("id".into(), json!(u.id));
    m.insert("name".into(), json!(u.name));
    for (k, v) in &r.extra {
        m.insert(k.clone(), v.clone());
    }
    if let Some(note) = &r.note {
        m.insert("note".into(), json!(note));
    }
    m.insert("score".into(), round(r.score, 4));
    let imd = atlas.imd;
    m.insert(imd.code_column().into(), json!(l.code));
    m.insert(imd.name_column().into(), json!(l.name));
    m.insert(imd.lad_code_column().into(), json!(l.lad_code));
    m.insert(imd.lad_name_column().into(), json!(l.lad_name));
    m.insert("imd_decile".into(), json!(l.imd_decile));
    m.insert("imd_score".into(), round(l.imd_score, 3));
    m.insert("imd_rank".into(), json!(l.imd_rank));
    if imd == crate::reference::edition::Imd::Iod2025 {
        m.insert("imd2019_decile".into(), json!(l.imd2019_decile));
    }
    for (d, v) in DOMAINS.iter().zip(l.domain_deciles) {
        m.insert(format!("{d}_decile"), json!(v));
    }
    m.insert(
        "nearest_practice_code".into(),
        json!(np.map(|p| p.practice_code.clone())),
    );
    m.insert(
        "nearest_practice_name".into(),
        json!(np.map(|p| p.name.clone())),
    );
    m.insert("nearest_practice_m".into(), opt(nearest.map(|n| n.1), 0));
    m.insert(
        "nearest_practice_pcn".into(),
        json!(np.and_then(|p| p.pcn.clone())),
    );
    m.insert(
        "catchment_practices".into(),
        json!(c
            .catchment
            .iter()
            .map(|cv| atlas.practices[cv.practice].practice_code.as_str())
            .collect::<Vec<_>>()
            .join(" ")),
    );
    m.insert("catchment_patients".into(), json!(c.catchment_patients));
    m.insert("catchment_pcns".into(), json!(c.pcns.join("; ")));
    for (i, crit) in CRITERIA.iter().enumerate() {
        let v = &r.values[i];
        m.insert(format!("{}_raw", crit.name()), opt(v.raw, 3));
        m.insert(format!("{}_norm", crit.name()), opt(v.norm, 4));
        m.insert(
            format!("{}_contribution", crit.name()),
            round(r.contributions[i], 4),
        );
    }
    m.insert("address".into(), json!(u.address));
    m.insert("postcode".into(), json!(u.postcode));
    m.insert("description".into(), json!(u.description));
    m.insert("council".into(), json!(u.council));
    m.insert("source_file".into(), json!(u.source));
    m.insert("floor_area_m2".into(), opt(u.floor_area_m2, 1));
    m.insert("rateable_value".into(), opt(u.rateable_value, 0));
    m.insert(
        "vacant_since".into(),
        json!(u.vacant_since.map(|d| d.to_string())),
    );
    m.insert(
        "list_date".into(),
        json!(u.list_date.map(|d| d.to_string())),
    );
    m.insert("unsuitable".into(), json!(u.unsuitable));
    m.insert("site_id".into(), json!(u.site_id));
    m.insert("site_units".into(), json!(u.site_units));
    m.insert(
        "located_by".into(),
        json!(match u.located_by {
            LocatedBy::Coordinates => "coordinates",
            LocatedBy::Postcode => "postcode",
        }),
    );
    m.insert(
        "lsoa_note".into(),
        json!(c.lsoa_snapped_m.map(|d| format!(
            "outside the generalised LSOA boundaries; nearest LSOA {} away",
            distance_words(d)
        ))),
    );
    m.insert("why".into(), json!(explain(r)));
    m
}

/// The reasons in words, the criteria with the largest contributions first.
pub fn explain(r: &Ranked) -> String {
    // Every criterion, but `plan` only when a plan overlay was chosen (else it says nothing).
    let mut idx: Vec<usize> = (0..CRITERIA.len())
        .filter(|&i| {
            CRITERIA[i] != crate::analysis::criteria::Criterion::Plan || r.values[i].norm.is_some()
        })
        .collect();
    idx.sort_by(|a, b| {
        r.contributions[*b]
            .total_cmp(&r.contributions[*a])
            .then(a.cmp(b))
    });
    idx.iter()
        .map(|&i| format!("{}: {}", CRITERIA[i].name(), r.values[i].why))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A value as a CSV cell. Text that a spreadsheet would run as a formula (starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return: a council's list can hold anything) is written
/// with a leading `'`, as OWASP recommends, so Excel shows it as text; numbers stay numbers.
///
/// ```
/// use serde_json::json;
/// use sitefinder::export::table::csv_cell;
/// assert_eq!(csv_cell(&json!("=HYPERLINK(\"http://x\")")), "'=HYPERLINK(\"http://x\")");
/// assert_eq!(csv_cell(&json!("@SUM(A1)")), "'@SUM(A1)");
/// assert_eq!(csv_cell(&json!(-2.15)), "-2.15");
/// assert_eq!(csv_cell(&json!("12 High Street")), "12 High Street");
/// ```
pub fn csv_cell(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes the ranking as CSV (UTF-8, header row, one row per ranked unit).
pub fn write_csv(
    w: &mut dyn Write,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
) -> Result<(), OutputError> {
    let header_line = |names: &[String]| -> Result<Vec<u8>, OutputError> {
        let mut h = csv::Writer::from_writer(Vec::new());
        h.write_record(names)?;
        h.into_inner().map_err(|e| OutputError::Io(e.into_error()))
    };
    let mut header_written = false;
    // Rows are made into CSV on every core, a run at a time, and written in order.
    for run in ranking.rows.chunks(65_536) {
        let parts = crate::base::par::map_chunks(run, 1_024, |rows| {
            let mut part = csv::Writer::from_writer(Vec::new());
            let mut header = None;
            for r in rows {
                // Put into words here, a run at a time, so a national ranking is never held
                // in words whole.
                let r = crate::analysis::rank::explained_row(
                    atlas,
                    units,
                    contexts,
                    &ranking.settings,
                    r,
                );
                let props = properties(atlas, units, contexts, ranking.rank_column, &r);
                if header.is_none() {
                    header = Some(props.keys().cloned().collect::<Vec<_>>());
                }
                part.write_record(props.values().map(csv_cell))?;
            }
            let bytes = part.into_inner().map_err(|e| e.into_error())?;
            Ok::<_, OutputError>((header, bytes))
        });
        for part in parts {
            let (header, bytes) = part?;
            if let (false, Some(h)) = (header_written, header) {
                w.write_all(&header_line(&h)?)?;
                header_written = true;
            }
            w.write_all(&bytes)?;
        }
    }
    if !header_written {
        let empty = Ranked {
            rank: 0,
            unit: 0,
            score: 0.0,
            values: CRITERIA.map(|c| crate::analysis::criteria::Value {
                criterion: c,
                raw: None,
                norm: None,
                why: String::new(),
            }),
            contributions: [0.0; crate::analysis::criteria::N_CRITERIA],
            note: None,
            extra: vec![],
        };
        if !units.is_empty() {
            let names: Vec<String> =
                properties(atlas, units, contexts, ranking.rank_column, &empty)
                    .keys()
                    .cloned()
                    .collect();
            w.write_all(&header_line(&names)?)?;
        }
    }
    w.flush()?;
    Ok(())
}

/// A unit's WGS84 longitude and latitude: the one computed at the join, else from its BNG
/// position now. Every output that gives degrees (GeoJSON, XLSX, the PDF report) takes them here.
pub fn lonlat(u: &Unit, c: &Context) -> Result<(f64, f64), crs::CrsError> {
    match c.lonlat {
        Some([lon, lat]) => Ok((lon, lat)),
        None => crs::bng_to_wgs84(u.pos[0], u.pos[1]),
    }
}

/// One ranked unit as an RFC 7946 feature: a WGS84 point, the flat properties, and the
/// `breakdown` object (raw, normalised, weight, contribution and sentence per criterion).
pub fn feature(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    r: &Ranked,
) -> Result<Feature, OutputError> {
    let u = &units[r.unit];
    let weights = &ranking.weights;
    let (lon, lat) = lonlat(u, &contexts[r.unit])?;
    let mut props = properties(atlas, units, contexts, ranking.rank_column, r);
    let breakdown: Map<String, Json> = CRITERIA
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let v = &r.values[i];
            (
                c.name().to_string(),
                json!({
                    "raw": opt(v.raw, 3),
                    "raw_unit": c.raw_unit(),
                    "norm": opt(v.norm, 4),
                    "weight": weights.get(*c),
                    "contribution": round(r.contributions[i], 4),
                    "no_data": v.norm.is_none(),
                    "why": v.why,
                }),
            )
        })
        .collect();
    props.insert("breakdown".into(), Json::Object(breakdown));
    Ok(Feature {
        bbox: None,
        geometry: Some(Geometry::new(geojson::Value::Point(vec![
            round6(lon),
            round6(lat),
        ]))),
        id: Some(geojson::feature::Id::String(u.id.clone())),
        properties: Some(props),
        foreign_members: None,
    })
}

/// A FeatureCollection with extra top-level members (weights, attribution, paging).
pub fn collection(features: Vec<Feature>, members: &Map<String, Json>) -> FeatureCollection {
    FeatureCollection {
        bbox: None,
        features,
        foreign_members: (!members.is_empty()).then(|| members.clone()),
    }
}

/// Writes the ranking as an RFC 7946 FeatureCollection.
pub fn write_geojson(
    w: &mut dyn Write,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    notes: &Map<String, Json>,
) -> Result<(), OutputError> {
    let features = ranking
        .rows
        .iter()
        .map(|r| feature(atlas, units, contexts, ranking, r))
        .collect::<Result<Vec<_>, _>>()?;
    serde_json::to_writer(&mut *w, &collection(features, notes)).map_err(std::io::Error::from)?;
    w.write_all(b"\n")?;
    Ok(())
}
