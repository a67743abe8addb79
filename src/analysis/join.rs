//! Spatial joins: for each unit, its LSOA and deprivation, the population and deprivation
//! within walking reach, the GP practices whose catchments cover it, the nearest practices,
//! stops, and existing vaccination sites and pharmacies. All through the atlas's R-trees.

use std::sync::{Arc, OnceLock};

use crate::base::spatial::disc_area;
use crate::ingest::catchment::{CatchmentSource, Cover};
use crate::ingest::units::Unit;
use crate::reference::atlas::Atlas;

/// Distances that define the joins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JoinParams {
    /// Walking reach: 800 m, about ten minutes on foot (straight-line; no street network).
    pub reach_radius_m: f64,
    /// Stops counted for access: 400 m, the usual bus-stop catchment in transport planning.
    pub stop_radius_m: f64,
    /// How many nearest practices to keep (at most [`NEAREST_MAX`]).
    pub nearest_practices: usize,
}

impl Default for JoinParams {
    fn default() -> Self {
        JoinParams {
            reach_radius_m: 800.0,
            stop_radius_m: 400.0,
            nearest_practices: 3,
        }
    }
}

/// Population and deprivation within walking reach, by areal interpolation: each LSOA's
/// population is taken as spread evenly over its polygon, and counted in proportion to the part
/// of the polygon inside the reach circle. The join reads it from a 100 m surface of the
/// residents (`walking_reaches`, the same values as [`reach_of`]); [`reach`] computes it
/// exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Reach {
    pub population: f64,
    /// Population-weighted IMD score of the LSOAs within reach.
    pub imd_score: Option<f64>,
}

/// The most nearest practices a unit keeps ([`JoinParams::nearest_practices`] is capped at it).
pub const NEAREST_MAX: usize = 3;

/// A unit's nearest practices, nearest first (ties by index): up to [`NEAREST_MAX`] pairs of
/// index and distance, held inline (a million units hold no allocation of them).
///
/// ```
/// use sitefinder::analysis::join::Nearest;
/// let n = Nearest::from_pairs([(7, 120.0), (2, 300.5), (9, 410.0), (4, 800.0)]);
/// assert_eq!(n.len(), 3);
/// assert_eq!(n.first(), Some((7, 120.0)));
/// assert_eq!(n.iter().collect::<Vec<_>>(), [(7, 120.0), (2, 300.5), (9, 410.0)]);
/// assert!(Nearest::default().is_empty() && Nearest::default().first().is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Nearest {
    index: [u32; NEAREST_MAX],
    distance_m: [f64; NEAREST_MAX],
    len: u8,
}

impl Nearest {
    /// The first [`NEAREST_MAX`] of these pairs, in their order.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (usize, f64)>) -> Nearest {
        let mut n = Nearest::default();
        for (i, d) in pairs.into_iter().take(NEAREST_MAX) {
            // An index past u32 cannot be a practice (about 6,500 of them).
            n.index[n.len as usize] = u32::try_from(i).unwrap_or(u32::MAX);
            n.distance_m[n.len as usize] = d;
            n.len += 1;
        }
        n
    }

    /// The pairs, nearest first.
    pub fn iter(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.index[..self.len()]
            .iter()
            .zip(&self.distance_m)
            .map(|(&i, &d)| (i as usize, d))
    }

    /// The nearest pair.
    pub fn first(&self) -> Option<(usize, f64)> {
        self.iter().next()
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Everything the criteria need to know about one unit.
#[derive(Debug, Clone)]
pub struct Context {
    pub lsoa: usize,
    /// Set when no LSOA polygon contains the unit and the nearest one (within 1 km) was taken.
    pub lsoa_snapped_m: Option<f64>,
    /// The unit's WGS84 longitude and latitude, transformed once here so that filters and
    /// outputs never call PROJ per unit again (`None` if PROJ could not transform it).
    pub lonlat: Option<[f64; 2]>,
    pub nearest_practices: Nearest,
    /// Shared by the units of an LSOA where catchments depend only on the LSOA.
    pub catchment: Arc<[Cover]>,
    /// Registered patients of the practices whose catchments cover the unit.
    pub catchment_patients: u64,
    pub reach: Reach,
    /// Stops within the stop radius; `None` where no stop layer covers the unit's area.
    pub stops_near: Option<u32>,
    /// The nearest vaccination site's index and distance; `None` where the layer does not
    /// cover the unit's area (indexes are u32, as the nearest practices': a unit's join is
    /// held a million times over).
    pub nearest_vaccination_site: Option<(u32, f64)>,
    /// `None` where the pharmacy layer does not cover the unit's area.
    pub nearest_pharmacy: Option<(u32, f64)>,
}

impl Context {
    /// The distinct PCNs of the practices whose catchments cover the unit, sorted.
    pub fn pcns<'a>(&self, atlas: &'a Atlas) -> Vec<&'a str> {
        let mut pcns: Vec<&str> = self
            .catchment
            .iter()
            .filter_map(|c| atlas.practices[c.practice].pcn.as_deref())
            .collect();
        pcns.sort_unstable();
        pcns.dedup();
        pcns
    }
}

/// Joins every unit (in order; `result[i]` is for `units[i]`).
pub fn attach(
    atlas: &Atlas,
    units: &[Unit],
    catchments: &dyn CatchmentSource,
    params: &JoinParams,
) -> Vec<Context> {
    // Units are independent: split them over the machine's cores, sharing one cache of the
    // catchments per LSOA (each made once, by whichever core needs it first).
    let cover_cache: Vec<OnceLock<Arc<[Cover]>>> =
        (0..atlas.lsoas.len()).map(|_| OnceLock::new()).collect();
    let mut contexts = crate::base::par::map(units, |u| {
        attach_one(atlas, u, catchments, params, &cover_cache)
    });
    walking_reaches(atlas, units, params.reach_radius_m, &mut contexts);
    contexts
}

/// Northing covered by one band of [`walking_reaches`].
const BAND_M: f64 = 16_000.0;

/// Every unit's walking reach ([`reach_of`], the same values), summed on a residents' surface
/// of the join's own from south to north, a band of units at a time, letting go of the
/// surface's strips south of the band: all England's units hold a few megabytes of it at a
/// time instead of all of it (about 110 MB).
fn walking_reaches(atlas: &Atlas, units: &[Unit], radius_m: f64, contexts: &mut [Context]) {
    use rayon::prelude::*;
    if !SURFACE_RADII_M.contains(&radius_m) {
        contexts
            .par_iter_mut()
            .zip(units)
            .with_min_len(64)
            .for_each(|(c, u)| c.reach = reach(atlas, u.pos, radius_m));
        return;
    }
    let y = |i: u32| units[i as usize].pos[1];
    // A units file is at most a few million rows (its size is bounded).
    let n = u32::try_from(units.len()).expect("at most 4 billion units");
    let mut order: Vec<u32> = (0..n).collect();
    order.par_sort_unstable_by(|&a, &b| y(a).total_cmp(&y(b)).then(a.cmp(&b)));
    let mut surface = atlas.residents_surface();
    let mut k = 0;
    while k < order.len() {
        let limit = y(order[k]) + BAND_M;
        // A position that is not finite (never one imported) ends the bands.
        let end = if limit.is_finite() {
            k + order[k..].partition_point(|&i| y(i) < limit)
        } else {
            order.len()
        };
        let band = &order[k..end.max(k + 1)];
        let reaches = crate::base::par::map(band, |&i| {
            reach_on(atlas, &surface, units[i as usize].pos, radius_m)
        });
        for (&i, r) in band.iter().zip(reaches) {
            contexts[i as usize].reach = r;
        }
        k += band.len();
        // The next band's discs reach no farther south than this.
        surface.release_below(limit - radius_m - 2.0 * crate::base::surface::CELL_M);
    }
}

fn locate_lsoa(atlas: &Atlas, u: &Unit) -> (usize, Option<f64>) {
    // Found at import: the postcode's (ONS lookup), or the polygon holding the point.
    if let Some(l) = u.lsoa {
        return (l, None);
    }
    if let Some(l) = atlas.lsoa_at(u.pos) {
        return (l, None);
    }
    // The importer has already checked the unit is within COAST_SNAP_M of an LSOA.
    match atlas.lsoa_near(u.pos, crate::ingest::units::COAST_SNAP_M) {
        Some((l, d)) => (l, Some(d)),
        None => {
            let (l, d) = atlas
                .lsoa_near(u.pos, 100_000.0)
                .unwrap_or((0, f64::INFINITY));
            (l, Some(d))
        }
    }
}

fn attach_one(
    atlas: &Atlas,
    u: &Unit,
    catchments: &dyn CatchmentSource,
    params: &JoinParams,
    cover_cache: &[OnceLock<Arc<[Cover]>>],
) -> Context {
    let (lsoa, lsoa_snapped_m) = locate_lsoa(atlas, u);
    let lad = &atlas.lsoas[lsoa].lad_code;

    // Catchments that depend only on the LSOA are cached per LSOA; polygon ones are not.
    let catchment: Arc<[Cover]> = if catchments.per_lsoa() {
        cover_cache[lsoa]
            .get_or_init(|| catchments.covering(atlas, u.pos, lsoa).into())
            .clone()
    } else {
        catchments.covering(atlas, u.pos, lsoa).into()
    };
    let catchment_patients = catchment
        .iter()
        .filter_map(|c| catchments.patients(atlas, c.practice))
        .map(u64::from)
        .sum();

    Context {
        lsoa,
        lsoa_snapped_m,
        lonlat: crate::base::crs::bng_to_wgs84(u.pos[0], u.pos[1])
            .ok()
            .map(|(lon, lat)| [lon, lat]),
        nearest_practices: atlas.practice_index.nearest_k_with(
            u.pos,
            params.nearest_practices.min(NEAREST_MAX),
            |found| Nearest::from_pairs(found),
        ),
        catchment,
        catchment_patients,
        // Summed afterwards, from south to north ([`walking_reaches`]).
        reach: Reach {
            population: 0.0,
            imd_score: None,
        },
        stops_near: atlas.stops.coverage.covers(lad).then(|| {
            let n = atlas.stops.index.count_within(u.pos, params.stop_radius_m);
            u32::try_from(n).unwrap_or(u32::MAX)
        }),
        nearest_vaccination_site: atlas
            .vaccination_sites
            .coverage
            .covers(lad)
            .then(|| atlas.vaccination_sites.index.nearest(u.pos))
            .flatten()
            .and_then(near_u32),
        nearest_pharmacy: atlas
            .pharmacies
            .coverage
            .covers(lad)
            .then(|| atlas.pharmacies.index.nearest(u.pos))
            .flatten()
            .and_then(near_u32),
    }
}

/// A nearest point's index as a [`Context`] holds it (a layer of over 4 billion points has none).
fn near_u32((i, d): (usize, f64)) -> Option<(u32, f64)> {
    Some((u32::try_from(i).ok()?, d))
}

/// The walking radiuses the residents' surface answers, with the tolerance `tests/joins.rs`
/// states; a shorter radius (a disc not much larger than the surface's 100 m cells) or a
/// longer one is computed exactly.
pub const SURFACE_RADII_M: std::ops::RangeInclusive<f64> =
    400.0..=crate::base::surface::MAX_RADIUS_M;

/// Population and population-weighted IMD score within `radius_m` of `at` as the join takes
/// it: from the residents' surface for [`SURFACE_RADII_M`], else exactly ([`reach`]).
pub fn reach_of(atlas: &Atlas, at: [f64; 2], radius_m: f64) -> Reach {
    reach_on(atlas, &atlas.residents, at, radius_m)
}

/// [`reach_of`], summed on `surface` (one [`Atlas::residents_surface`] made).
fn reach_on(
    atlas: &Atlas,
    surface: &crate::base::surface::Surface,
    at: [f64; 2],
    radius_m: f64,
) -> Reach {
    if SURFACE_RADII_M.contains(&radius_m) {
        if let Some((population, imd_score)) = atlas.residents_on(surface, at, radius_m) {
            return Reach {
                population,
                imd_score,
            };
        }
    }
    reach(atlas, at, radius_m)
}

/// Population and population-weighted IMD score within `radius_m` of `at`, exactly: the sum
/// of [`reach_parts`] (what the residents' surface the join reads is checked against).
pub fn reach(atlas: &Atlas, at: [f64; 2], radius_m: f64) -> Reach {
    let (mut pop, mut weighted) = (0.0, 0.0);
    for (i, p) in reach_parts(atlas, at, radius_m) {
        pop += p;
        weighted += p * atlas.lsoas[i].imd_score;
    }
    Reach {
        population: pop,
        imd_score: (pop > 0.0).then(|| weighted / pop),
    }
}

/// The residents of each LSOA the reach circle of `radius_m` around `at` touches, by areal
/// interpolation (the LSOA's population in proportion to the part of its polygon inside the
/// circle, the true circle): `(LSOA index, residents)`, each with some residents inside, by LSOA
/// index. The one reach computation: [`reach`] sums it, the site report splits it by IMD decile.
pub fn reach_parts(atlas: &Atlas, at: [f64; 2], radius_m: f64) -> Vec<(usize, f64)> {
    let r2 = radius_m * radius_m;
    let within = |x: f64, y: f64| (x - at[0]).powi(2) + (y - at[1]).powi(2) <= r2;
    let mut out = vec![];
    for (i, [x0, y0, x1, y1]) in atlas.lsoa_index.boxes_near(at, radius_m) {
        let l = &atlas.lsoas[i];
        if l.area_m2 <= 0.0 {
            continue;
        }
        // A polygon whose box is inside the circle is wholly inside it.
        let share = if within(x0, y0) && within(x1, y0) && within(x0, y1) && within(x1, y1) {
            1.0
        } else {
            (disc_area(&atlas.lsoa_shapes[i], at, radius_m) / l.area_m2).min(1.0)
        };
        if share > 0.0 {
            out.push((i, l.population * share));
        }
    }
    out.sort_unstable_by_key(|p| p.0);
    out
}
