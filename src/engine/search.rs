//! One search over what people look for on the map: postcodes (the all-England table), places
//! (local authorities, wards and PCNs) and the units being ranked (name, address, postcode, id).
//!
//! Results are ordered by how well they match (exact, prefix, start of a word, inside: see
//! [`Match`]), then by kind (postcode, local authority, ward, PCN, unit), then by name and code,
//! so the same query always gives the same list. The work is bounded: at most
//! [`MAX_QUERY_CHARS`] characters, at most [`MAX_RESULTS`] results, and a partial postcode reads
//! only the run of the sorted table it names.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::analysis::join::Context;
use crate::base::crs::{self, CrsError};
use crate::base::figures::Grouped;
use crate::base::params::{opt_from_str, opt_text};
use crate::engine::query::Param;
use crate::ingest::units::Unit;
use crate::reference::atlas::{Atlas, DataError, Lsoa};
use crate::reference::places::{fold, Match, PlaceKind, Query};
use crate::reference::postcode::{self, Centroid};

/// The longest query taken, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// The most results one search returns.
pub const MAX_RESULTS: usize = 50;
/// Results returned when no limit is given.
pub const DEFAULT_RESULTS: usize = 10;

/// A search: `GET /search` parameters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What to look for (at most 100 characters): a postcode, whole ("OL16 1JA", any case or
    /// spacing) or its start ("OL16", "OL16 1"); a local authority, ward or PCN by name or
    /// code ("Rochdale", "Spotland", "Rochdale North PCN", "E05014049"); or a unit by name,
    /// address, postcode or id. "Name, place" looks in one local authority ("Kingsway,
    /// Rochdale").
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "OL16 1JA", max_length = 100)]
    pub q: Option<String>,
    /// At most this many results (1 to 50; default 10).
    #[serde(default, deserialize_with = "opt_from_str")]
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<usize>,
}

/// A search that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("give some text to look for: a postcode, a place (local authority, ward or PCN) or a unit's name or address")]
    Empty,
    #[error("{chars} characters is too long: give at most {MAX_QUERY_CHARS}")]
    TooLong { chars: usize },
    #[error("{0} is out of range: give 1 to {MAX_RESULTS}")]
    BadLimit(usize),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Crs(#[from] CrsError),
}

impl Param for SearchError {
    fn param(&self) -> &'static str {
        match self {
            SearchError::Empty | SearchError::TooLong { .. } => "q",
            SearchError::BadLimit(_) => "limit",
            SearchError::Data(_) | SearchError::Crs(_) => "data",
        }
    }
}

/// What a result is, in the order results of one match class are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HitKind {
    Postcode,
    LocalAuthority,
    Ward,
    Pcn,
    Unit,
}

impl HitKind {
    /// `postcode`, `local_authority`, `ward`, `pcn` or `unit`.
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::Postcode => "postcode",
            HitKind::LocalAuthority => "local_authority",
            HitKind::Ward => "ward",
            HitKind::Pcn => "pcn",
            HitKind::Unit => "unit",
        }
    }
}

impl From<PlaceKind> for HitKind {
    fn from(k: PlaceKind) -> HitKind {
        match k {
            PlaceKind::LocalAuthority => HitKind::LocalAuthority,
            PlaceKind::Ward => HitKind::Ward,
            PlaceKind::Pcn => HitKind::Pcn,
        }
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub kind: HitKind,
    /// The postcode ("OL16 1JA", or the district "OL16"), the place's code or the unit's id.
    pub id: String,
    pub name: String,
    /// What it is, in a few words: "postcode in Rochdale", "ward in Rochdale, 12,744
    /// residents", "PCN in Rochdale, 7 practices", "unit in Rochdale: shop and premises".
    pub detail: String,
    /// Where it is (BNG metres): the postcode's centroid, the place's label point, the unit.
    pub pos: [f64; 2],
    /// WGS84 `[min_lon, min_lat, max_lon, max_lat]` of an area (a place, a postcode district).
    pub bbox: Option<[f64; 4]>,
    pub matched: Match,
    /// The local authority it is in, where known.
    pub lad_code: Option<String>,
    /// The folded name, for ordering.
    key: String,
}

impl SearchQuery {
    /// The text and the number of results asked for, checked.
    pub fn check(&self) -> Result<(&str, usize), SearchError> {
        let q = self.q.as_deref().map(str::trim).unwrap_or("");
        if q.is_empty() {
            return Err(SearchError::Empty);
        }
        let chars = q.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(SearchError::TooLong { chars });
        }
        let limit = self.limit.unwrap_or(DEFAULT_RESULTS);
        if !(1..=MAX_RESULTS).contains(&limit) {
            return Err(SearchError::BadLimit(limit));
        }
        Ok((q, limit))
    }
}

/// The postcodes, places and units that answer `q`, best first (see the module's notes).
pub fn search(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    q: &SearchQuery,
) -> Result<Vec<Hit>, SearchError> {
    let (text, limit) = q.check()?;
    let query = Query::new(text);
    let mut hits = postcodes(atlas, text, limit)?;
    if let Some(places) = &atlas.places {
        for (m, p) in places.search(&query) {
            hits.push(Hit {
                kind: p.kind.into(),
                id: p.code.clone(),
                name: p.name.clone(),
                detail: p.detail(),
                pos: p.label,
                bbox: Some(p.bbox),
                matched: m,
                lad_code: match p.kind {
                    PlaceKind::LocalAuthority => Some(p.code.clone()),
                    _ => p.lad_code.clone(),
                },
                key: fold(&p.name),
            });
        }
    }
    let compact = |s: &str| -> String { s.split_whitespace().collect::<String>().to_uppercase() };
    let text_compact = compact(text);
    for (i, u) in units.iter().enumerate() {
        let exact_id = u.id.eq_ignore_ascii_case(text)
            || u.postcode
                .as_deref()
                .is_some_and(|p| compact(p) == text_compact);
        let keys = [fold(&u.name), fold(&u.address)];
        let m = if exact_id {
            Some(Match::Exact)
        } else {
            query.best_folded(&keys, &keys[1])
        };
        let Some(m) = m else { continue };
        let lsoa = contexts.get(i).map(|c| &atlas.lsoas[c.lsoa]);
        let mut detail = match lsoa {
            Some(l) => format!("unit in {}", l.lad_name),
            None => "unit".to_string(),
        };
        if let Some(d) = u.description.as_deref().filter(|d| !d.is_empty()) {
            detail.push_str(&format!(": {}", d.to_lowercase()));
        }
        if let Some(p) = &u.postcode {
            detail.push_str(&format!(", {p}"));
        }
        hits.push(Hit {
            kind: HitKind::Unit,
            id: u.id.to_string(),
            name: if u.name.is_empty() {
                u.id.to_string()
            } else {
                u.name.to_string()
            },
            detail,
            pos: u.pos,
            bbox: None,
            matched: m,
            lad_code: lsoa.map(|l| l.lad_code.clone()),
            key: keys[0].clone(),
        });
    }
    hits.sort_by(|a, b| {
        (a.matched, a.kind, &a.key, &a.id).cmp(&(b.matched, b.kind, &b.key, &b.id))
    });
    // A full postcode is also the only one starting with itself: keep each result once, best.
    let mut seen = std::collections::HashSet::new();
    hits.retain(|h| seen.insert((h.kind, h.id.clone())));
    hits.truncate(limit);
    Ok(hits)
}

/// The postcode hits: the postcode typed (exact), a district typed whole (exact, with its
/// bounding box), then up to `limit` postcodes starting with what was typed, in order.
fn postcodes(atlas: &Atlas, text: &str, limit: usize) -> Result<Vec<Hit>, SearchError> {
    let full = postcode::normalise(text);
    let readings = postcode::readings(text);
    if full.is_none() && readings.is_empty() {
        return Ok(vec![]);
    }
    let table = atlas.postcodes()?;
    let lad = |c: &Centroid| c.lsoa.map(|i| &atlas.lsoas[i as usize]);
    let one = |c: &Centroid, matched: Match| {
        let name = postcode::text(c.key);
        let l = lad(c);
        Hit {
            kind: HitKind::Postcode,
            detail: match l {
                Some(l) => format!("postcode in {}", l.lad_name),
                None => "postcode".into(),
            },
            key: name.to_lowercase(),
            id: name.clone(),
            name,
            pos: c.pos,
            bbox: None,
            matched,
            lad_code: l.map(|l| l.lad_code.clone()),
        }
    };
    let mut hits = vec![];
    if let Some(c) = full.as_deref().and_then(|p| table.lookup(p)) {
        hits.push(one(&c, Match::Exact));
    }
    for (outward, inward) in readings {
        let run = table.with_prefix(&outward, &inward);
        if run.is_empty() {
            continue;
        }
        if inward.is_empty() {
            hits.push(district(&outward, run, &lad)?);
        }
        hits.extend(run.iter().take(limit).map(|c| one(c, Match::Prefix)));
    }
    Ok(hits)
}

/// A postcode district as one result: its postcodes' bounding box, labelled at the postcode
/// nearest their mean, in the local authority most of them are in.
fn district<'a>(
    outward: &str,
    run: &[Centroid],
    lad: &impl Fn(&Centroid) -> Option<&'a Lsoa>,
) -> Result<Hit, SearchError> {
    let n = run.len() as f64;
    let mean = [
        run.iter().map(|c| c.pos[0]).sum::<f64>() / n,
        run.iter().map(|c| c.pos[1]).sum::<f64>() / n,
    ];
    let d2 = |c: &Centroid| (c.pos[0] - mean[0]).powi(2) + (c.pos[1] - mean[1]).powi(2);
    let at = run
        .iter()
        .min_by(|a, b| d2(a).total_cmp(&d2(b)).then(a.key.cmp(&b.key)))
        .expect("a district has postcodes");
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut lads: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
    for c in run {
        let (lon, lat) = crs::bng_to_wgs84(c.pos[0], c.pos[1])?;
        b = [b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)];
        if let Some(l) = lad(c) {
            *lads.entry((&l.lad_code, &l.lad_name)).or_default() += 1;
        }
    }
    let main = lads
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(l, _)| *l);
    let within = main.map(|l| format!(" in {}", l.1)).unwrap_or_default();
    Ok(Hit {
        kind: HitKind::Postcode,
        id: outward.to_string(),
        name: outward.to_string(),
        detail: format!(
            "postcode district{within}, {} postcode{}",
            Grouped(run.len() as u64),
            if run.len() == 1 { "" } else { "s" }
        ),
        pos: at.pos,
        // Rounded outwards to 6 decimals, so it still holds every postcode.
        bbox: Some([
            (b[0] * 1e6).floor() / 1e6,
            (b[1] * 1e6).floor() / 1e6,
            (b[2] * 1e6).ceil() / 1e6,
            (b[3] * 1e6).ceil() / 1e6,
        ]),
        matched: Match::Exact,
        lad_code: main.map(|l| l.0.to_string()),
        key: outward.to_lowercase(),
    })
}
