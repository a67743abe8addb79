//! Existing sites locked into an optimisation (`--fixed`), taken only where their layer has
//! data. A layer that does not cover a local authority says nothing about it: there its sites
//! are unknown, not absent, so none are fixed for demand there, and the report says so.
//!
//! For each layer: a site is fixed if it lies inside the layer's coverage and within reach
//! (the coverage radius, or the p-median cap) of demand in a local authority the layer covers;
//! sites just over the study area's edge count, and are reported as outside it. A fixed site
//! counts only for demand the layer covers ([`FixedUse::serves`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::base::spatial::PointIndex;
use crate::reference::atlas::{Atlas, Coverage};
use crate::reference::coverage::{and_list, lads_in_words};

/// Existing sites that can be locked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedLayer {
    Practices,
    Pharmacies,
    VaccinationSites,
}

impl FixedLayer {
    /// Parses a comma-separated list: `practices,pharmacies,vaccination-sites`.
    pub fn parse_list(s: &str) -> Result<Vec<FixedLayer>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| match x.replace('_', "-").as_str() {
                "practices" => Ok(FixedLayer::Practices),
                "pharmacies" => Ok(FixedLayer::Pharmacies),
                "vaccination-sites" => Ok(FixedLayer::VaccinationSites),
                other => Err(format!(
                    "unknown fixed layer `{other}`; use practices, pharmacies, vaccination-sites"
                )),
            })
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            FixedLayer::Practices => "practices",
            FixedLayer::Pharmacies => "pharmacies",
            FixedLayer::VaccinationSites => "vaccination-sites",
        }
    }

    /// The sites in words: (one, many).
    pub fn nouns(self) -> (&'static str, &'static str) {
        match self {
            FixedLayer::Practices => ("GP practice", "GP practices"),
            FixedLayer::Pharmacies => ("pharmacy", "pharmacies"),
            FixedLayer::VaccinationSites => ("vaccination site", "vaccination sites"),
        }
    }

    /// The layer's sites (BNG) and where it is complete.
    fn sites(self, atlas: &Atlas) -> (Vec<[f64; 2]>, &Coverage) {
        match self {
            FixedLayer::Practices => (
                atlas.practices.iter().map(|p| p.pos).collect(),
                &atlas.practices_coverage,
            ),
            FixedLayer::Pharmacies => (
                atlas.pharmacies.sites.iter().map(|s| s.pos).collect(),
                &atlas.pharmacies.coverage,
            ),
            FixedLayer::VaccinationSites => (
                atlas
                    .vaccination_sites
                    .sites
                    .iter()
                    .map(|s| s.pos)
                    .collect(),
                &atlas.vaccination_sites.coverage,
            ),
        }
    }
}

/// What one fixed layer contributed to an optimisation, and where it has no data.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedUse {
    pub layer: FixedLayer,
    /// The areas the layer covers, in words ("Greater Manchester", "all England").
    pub covers: String,
    /// Whether the layer covers all England.
    pub england: bool,
    /// The sites fixed (BNG): inside the layer's coverage, within `reach_m` of demand it covers.
    pub sites: Vec<[f64; 2]>,
    /// How many of `sites` lie outside the study area (in no demand LSOA).
    pub outside_area: usize,
    /// How far a fixed site can matter: the coverage radius, or the p-median cap.
    pub reach_m: f64,
    /// The study area's local authorities the layer covers, and those it does not, as
    /// `(code, name)`, by code.
    pub with_data: Vec<(String, String)>,
    pub no_data: Vec<(String, String)>,
    /// Per demand point (in the order of the demand LSOAs): whether the layer covers it, so
    /// that its fixed sites count for it.
    pub serves: Vec<bool>,
}

/// The LSOA a site lies in (or within 1 km of, on a coast the generalised boundaries cut off).
fn site_lsoa(atlas: &Atlas, pos: [f64; 2]) -> Option<usize> {
    atlas
        .lsoa_at(pos)
        .or_else(|| atlas.lsoa_near(pos, 1000.0).map(|(i, _)| i))
}

/// The sites of `layer` to fix for demand at `demand_lsoas`, with what the layer does not cover.
pub fn select(atlas: &Atlas, demand_lsoas: &[usize], layer: FixedLayer, reach_m: f64) -> FixedUse {
    let (all, coverage) = layer.sites(atlas);
    let serves: Vec<bool> = demand_lsoas
        .iter()
        .map(|&l| coverage.covers(&atlas.lsoas[l].lad_code))
        .collect();
    let mut lads: BTreeMap<&str, bool> = BTreeMap::new();
    for (&l, &s) in demand_lsoas.iter().zip(&serves) {
        lads.insert(atlas.lsoas[l].lad_code.as_str(), s);
    }
    let named = |covered: bool| -> Vec<(String, String)> {
        lads.iter()
            .filter(|(_, s)| **s == covered)
            .map(|(c, _)| {
                let name = atlas.lad_name(c).unwrap_or_default();
                (c.to_string(), name.to_string())
            })
            .collect()
    };
    let served: Vec<[f64; 2]> = demand_lsoas
        .iter()
        .zip(&serves)
        .filter(|(_, s)| **s)
        .map(|(&l, _)| atlas.lsoas[l].centroid)
        .collect();
    let served = PointIndex::new(&served);
    let in_area: BTreeSet<usize> = demand_lsoas.iter().copied().collect();
    let mut sites = vec![];
    let mut outside_area = 0;
    for pos in all {
        if served.nearest(pos).is_none_or(|(_, d)| d > reach_m) {
            continue;
        }
        let lsoa = site_lsoa(atlas, pos);
        let inside_coverage = match coverage {
            Coverage::England => true,
            Coverage::Lads(_) => lsoa.is_some_and(|l| coverage.covers(&atlas.lsoas[l].lad_code)),
        };
        if !inside_coverage {
            continue;
        }
        if !lsoa.is_some_and(|l| in_area.contains(&l)) {
            outside_area += 1;
        }
        sites.push(pos);
    }
    FixedUse {
        layer,
        covers: atlas.describe_coverage(coverage),
        england: *coverage == Coverage::England,
        sites,
        outside_area,
        reach_m,
        with_data: named(true),
        no_data: named(false),
        serves,
    }
}

impl FixedUse {
    /// The layer's part in words, e.g. "pharmacies: the layer covers Greater Manchester only;
    /// no pharmacy data for Kirklees (E08000034), so existing pharmacies there are unknown and
    /// none are fixed".
    pub fn sentence(&self) -> String {
        let (one, many) = self.layer.nouns();
        let mut s = format!(
            "{many}: the layer covers {}{}",
            self.covers,
            if self.england { "" } else { " only" }
        );
        let words = |lads: &[(String, String)]| {
            let codes: Vec<&str> = lads.iter().map(|(c, _)| c.as_str()).collect();
            let names: BTreeMap<&str, &str> =
                lads.iter().map(|(c, n)| (c.as_str(), n.as_str())).collect();
            and_list(&lads_in_words(&codes, |c| {
                names
                    .get(c)
                    .filter(|n| !n.is_empty())
                    .map(|n| n.to_string())
            }))
        };
        if !self.with_data.is_empty() {
            let n = self.sites.len();
            s.push_str(&format!(
                "; {n} {} within {} m of the demand{} {} fixed",
                if n == 1 { one } else { many },
                self.reach_m,
                if self.no_data.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", words(&self.with_data))
                },
                if n == 1 { "is" } else { "are" },
            ));
            if n > 0 {
                s.push_str(&match self.outside_area {
                    0 if n == 1 => ", inside the area".to_string(),
                    0 => ", all inside the area".to_string(),
                    1 if n == 1 => ", outside the area".to_string(),
                    m => format!(", {m} of them outside the area"),
                });
            }
        }
        if !self.no_data.is_empty() {
            s.push_str(&format!(
                "; no {one} data for {}, so existing {many} there are unknown and none {}",
                words(&self.no_data),
                if self.with_data.is_empty() {
                    "are fixed"
                } else {
                    "count for demand there"
                }
            ));
        }
        s
    }
}
