//! What a server computes once over its units, so that each ranking costs what it keeps and
//! not what the country holds: the units indexed by WGS84 position (for `bbox`), the units in
//! id order (the units collection's order), and a [`Record`] per unit in the grid's order: its
//! settled criterion values (those that depend only on the join: deprivation, reach, demand,
//! gap, access), suitability's parts but the date, and whether it can hold a clinic. A weight
//! or filter change re-weights these; it does not evaluate them again. Suitability depends on
//! a ranking's date (its parts kept here do not) and plan on its overlay: a box alone without
//! an overlay is scored from the records alone ([`Prepared::scores_in_box`]), other rankings
//! read the settled values and evaluate the rest from the unit.
//!
//! The records and the id order can be kept between runs ([`Prepared::kept`], which the engine
//! writes beside the joined units it keeps) and given back ([`Prepared::from_kept`]): a server
//! over a million kept units then starts without evaluating them again.
//!
//! A ranking with a [`Prepared`] gives the same rows, scores and values as one without
//! (`tests/prepared.rs` checks it on real units for many queries); its sentences are written
//! afterwards, for the rows written or returned, as for any ranking.

use crate::analysis::criteria::{
    evaluate_one, Criterion, Scales, Settings, SuitabilityParts, Value, CRITERIA, N_CRITERIA,
};
use crate::analysis::join::{Context, JoinParams};
use crate::base::date::Date;
use crate::base::grid::PointGrid;
use crate::ingest::units::Unit;
use crate::reference::atlas::Atlas;

/// `raw` and `norm` of one criterion; NaN = no data.
pub type Pair = [f64; 2];

/// How many criteria are settled ([`Criterion::settled`]).
pub const N_SETTLED: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < N_CRITERIA {
        if CRITERIA[i].settled() {
            n += 1;
        }
        i += 1;
    }
    n
};

/// Where each settled criterion is in [`CRITERIA`].
const SETTLED_AT: [usize; N_SETTLED] = {
    let mut at = [0; N_SETTLED];
    let (mut i, mut k) = (0, 0);
    while i < N_CRITERIA {
        if CRITERIA[i].settled() {
            at[k] = i;
            k += 1;
        }
        i += 1;
    }
    at
};

/// The settled criteria, in [`CRITERIA`] order.
fn settled() -> impl Iterator<Item = Criterion> {
    CRITERIA.into_iter().filter(|c| c.settled())
}

/// The units' positions, id order and records, computed once.
pub struct Prepared {
    lonlat: PointGrid,
    /// The units in id order.
    by_id: Vec<u32>,
    /// What the values were computed with: a ranking with other scales or joins evaluates.
    scales: Scales,
    join: JoinParams,
    /// What a ranking reads of each unit, in the grid's order (the units with a position in
    /// [`PointGrid::numbers`] order, then those without, in unit order): the units in a box
    /// are read a run at a time.
    recs: Vec<Record>,
    /// Each unit's place in `recs`.
    slot_of: Vec<u32>,
}

/// What a ranking reads of one unit: kept between runs in the grid's order
/// ([`Record::to_bytes`]), so that a server reads them back a run at a time.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// The `k`th settled criterion's values. A settled criterion's raw value is never NaN
    /// (the criteria check their inputs are finite), so NaN can stand for "no data".
    values: [Pair; N_SETTLED],
    /// Suitability's parts but the date: the size part (NaN: no size known), the floor, the
    /// dates.
    size: f64,
    vacant_since: Option<Date>,
    list_date: Option<Date>,
    ground_floor: Option<bool>,
    /// Whether the unit cannot hold a clinic ([`Unit::unsuitable`]).
    unsuitable: bool,
    /// The unit.
    unit: u32,
}

/// The bytes of a [`Record`] kept: its values and size (little-endian doubles), its dates
/// (days), a byte of flags and its unit.
pub const RECORD_BYTES: usize = N_SETTLED * 16 + 8 + 4 + 4 + 1 + 4;

/// Flags: which dates there are, the floor (none, not ground, ground) and unsuitability.
const HAS_VACANT_SINCE: u8 = 1;
const HAS_LIST_DATE: u8 = 2;
const GROUND_KNOWN: u8 = 4;
const GROUND: u8 = 8;
const UNSUITABLE: u8 = 16;

impl Record {
    fn suitability(&self) -> SuitabilityParts {
        SuitabilityParts {
            size: opt(self.size),
            ground_floor: self.ground_floor,
            vacant_since: self.vacant_since,
            list_date: self.list_date,
        }
    }

    /// The unit it is of.
    pub fn unit(&self) -> usize {
        self.unit as usize
    }

    pub fn to_bytes(&self) -> [u8; RECORD_BYTES] {
        let mut b = [0u8; RECORD_BYTES];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            b[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        for x in self.values.iter().flatten().chain([&self.size]) {
            put(&x.to_le_bytes());
        }
        put(&self.vacant_since.map_or(0, Date::days).to_le_bytes());
        put(&self.list_date.map_or(0, Date::days).to_le_bytes());
        let flags = [
            (self.vacant_since.is_some(), HAS_VACANT_SINCE),
            (self.list_date.is_some(), HAS_LIST_DATE),
            (self.ground_floor.is_some(), GROUND_KNOWN),
            (self.ground_floor == Some(true), GROUND),
            (self.unsuitable, UNSUITABLE),
        ]
        .iter()
        .fold(0, |f, &(on, bit)| if on { f | bit } else { f });
        put(&[flags]);
        put(&self.unit.to_le_bytes());
        b
    }

    /// [`Record::to_bytes`] read back; `None` for flags no record has.
    pub fn from_bytes(b: &[u8; RECORD_BYTES]) -> Option<Record> {
        let mut at = 0;
        let mut take = |n: usize| {
            at += n;
            &b[at - n..at]
        };
        let mut f64_at = || f64::from_le_bytes(take(8).try_into().unwrap_or_default());
        let mut values = [[0.0; 2]; N_SETTLED];
        for x in values.iter_mut().flatten() {
            *x = f64_at();
        }
        let size = f64_at();
        let mut i32_at = || i32::from_le_bytes(take(4).try_into().unwrap_or_default());
        let (vacant_since, list_date) = (i32_at(), i32_at());
        let flags = take(1)[0];
        let unit = u32::from_le_bytes(take(4).try_into().unwrap_or_default());
        if flags & !(HAS_VACANT_SINCE | HAS_LIST_DATE | GROUND_KNOWN | GROUND | UNSUITABLE) != 0
            || (flags & GROUND != 0 && flags & GROUND_KNOWN == 0)
        {
            return None;
        }
        let date = |days: i32, bit: u8| (flags & bit != 0).then(|| Date::from_days(days));
        Some(Record {
            values,
            size,
            vacant_since: date(vacant_since, HAS_VACANT_SINCE),
            list_date: date(list_date, HAS_LIST_DATE),
            ground_floor: (flags & GROUND_KNOWN != 0).then_some(flags & GROUND != 0),
            unsuitable: flags & UNSUITABLE != 0,
            unit,
        })
    }
}

/// What [`Prepared`] keeps between runs: its records (in the grid's order) and its units' id
/// order.
#[derive(Clone, Copy)]
pub struct Kept<'a> {
    pub records: &'a [Record],
    pub by_id: &'a [u32],
}

/// The scores of the units in a box ([`Prepared::scores_in_box`]).
#[derive(Debug, Default)]
pub struct BoxScores {
    /// The units in the box that are scored, and their scores, in no particular order.
    pub scored: Vec<(f64, usize)>,
    /// The units in the box left out as unable to hold a clinic, in unit order.
    pub unsuitable: Vec<usize>,
    /// How many units are in the box.
    pub inside: usize,
}

fn pair(v: &Value) -> Pair {
    debug_assert!(!v.raw.is_some_and(f64::is_nan) && !v.norm.is_some_and(f64::is_nan));
    [v.raw.unwrap_or(f64::NAN), v.norm.unwrap_or(f64::NAN)]
}

fn opt(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

impl Prepared {
    /// Indexes the units and evaluates their settled criteria (on every core) with `s`'s
    /// scales and joins.
    pub fn new(atlas: &Atlas, units: &[Unit], contexts: &[Context], s: &Settings) -> Prepared {
        let quiet = Settings {
            words: false,
            ..s.clone()
        };
        let idx: Vec<usize> = (0..units.len()).collect();
        let values = crate::base::par::map(&idx, |&i| {
            let mut row = [[f64::NAN; 2]; N_SETTLED];
            for (v, c) in row.iter_mut().zip(settled()) {
                *v = pair(&evaluate_one(c, atlas, &units[i], &contexts[i], &quiet));
            }
            row
        });
        Prepared::assemble(units, contexts, s, &values, id_order(units))
    }

    /// What [`Prepared::new`] would make from records and an id order kept from an earlier
    /// run over the same units, joins and settings (`s`'s scales and joins); `None` if they
    /// cannot be these units' (another count, an order that is not one of every unit, or
    /// records not in the order of these units' grid).
    pub fn from_kept(
        contexts: &[Context],
        s: &Settings,
        records: Vec<Record>,
        by_id: Vec<u32>,
    ) -> Option<Prepared> {
        let n = contexts.len();
        if records.len() != n || by_id.len() != n {
            return None;
        }
        let mut seen = vec![false; n];
        for &u in &by_id {
            let at = seen.get_mut(u as usize)?;
            if std::mem::replace(at, true) {
                return None;
            }
        }
        let lonlat = grid(contexts);
        let order = grid_order(&lonlat, contexts);
        if !records.iter().map(|r| r.unit).eq(order) {
            return None;
        }
        Some(Prepared::with(lonlat, s, records, by_id))
    }

    fn assemble(
        units: &[Unit],
        contexts: &[Context],
        s: &Settings,
        values: &[[Pair; N_SETTLED]],
        by_id: Vec<u32>,
    ) -> Prepared {
        debug_assert_eq!(units.len(), contexts.len());
        debug_assert_eq!(units.len(), values.len());
        let lonlat = grid(contexts);
        let order: Vec<u32> = grid_order(&lonlat, contexts).collect();
        let record = |&i: &u32| {
            let u = &units[i as usize];
            let p = SuitabilityParts::of(u, &s.scales);
            Record {
                values: values[i as usize],
                size: p.size.unwrap_or(f64::NAN),
                vacant_since: p.vacant_since,
                list_date: p.list_date,
                ground_floor: p.ground_floor,
                unsuitable: u.unsuitable.is_some(),
                unit: i,
            }
        };
        let recs = crate::base::par::map(&order, record);
        Prepared::with(lonlat, s, recs, by_id)
    }

    fn with(lonlat: PointGrid, s: &Settings, recs: Vec<Record>, by_id: Vec<u32>) -> Prepared {
        // The records are every unit once (the grid's order, checked when read back).
        let mut slot_of = vec![0u32; recs.len()];
        for (slot, r) in recs.iter().enumerate() {
            if let Some(at) = slot_of.get_mut(r.unit as usize) {
                *at = slot as u32;
            }
        }
        Prepared {
            lonlat,
            by_id,
            scales: s.scales,
            join: s.join,
            recs,
            slot_of,
        }
    }

    /// Its records and id order, to keep.
    pub fn kept(&self) -> Kept<'_> {
        Kept {
            records: &self.recs,
            by_id: &self.by_id,
        }
    }

    /// The units in id order (by position in the units).
    pub fn by_id(&self) -> &[u32] {
        &self.by_id
    }

    /// How many units it holds.
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// The units whose WGS84 position is inside `[minlon, minlat, maxlon, maxlat]` (edges
    /// included), in unit order.
    pub fn in_bbox(&self, b: [f64; 4]) -> Vec<usize> {
        // A box whose minimum passes its maximum holds nothing (as the filter reads it).
        let mut v: Vec<usize> = Vec::new();
        self.lonlat
            .each_in_box([b[0], b[1]], [b[2], b[3]], |i| v.push(i as usize));
        v.sort_unstable();
        v
    }

    /// Each unit whose WGS84 position is inside `b` (as [`Prepared::in_bbox`]), in the grid's
    /// order.
    pub fn each_in_box(&self, b: [f64; 4], mut f: impl FnMut(usize)) {
        self.lonlat
            .each_slot_in_box([b[0], b[1]], [b[2], b[3]], |slot| f(self.recs[slot].unit()));
    }

    /// The units without a WGS84 position (in no box here).
    pub fn unplaced(&self) -> impl Iterator<Item = usize> + '_ {
        self.recs[self.lonlat.len()..].iter().map(Record::unit)
    }

    /// Whether rankings with these settings can read the values.
    pub fn fits(&self, s: &Settings) -> bool {
        s.scales == self.scales && s.join == self.join
    }

    /// Unit `i`'s values without sentences, as [`crate::analysis::criteria::evaluate`] gives
    /// them for settings that [`Prepared::fits`]: the settled ones read, the others evaluated.
    pub fn values(
        &self,
        i: usize,
        atlas: &Atlas,
        unit: &Unit,
        ctx: &Context,
        s: &Settings,
    ) -> [Value; N_CRITERIA] {
        let mut row = self.recs[self.slot_of[i] as usize].values.iter();
        CRITERIA.map(|c: Criterion| {
            if c.settled() {
                let [raw, norm] = row.next().copied().unwrap_or([f64::NAN; 2]);
                Value {
                    criterion: c,
                    raw: opt(raw),
                    norm: opt(norm),
                    why: String::new(),
                }
            } else {
                evaluate_one(c, atlas, unit, ctx, s)
            }
        })
    }

    /// Whether [`Prepared::score`] can score rankings with these settings without the units:
    /// they fit, and have no plan overlay (the plan criterion reads the unit's position).
    pub fn scores(&self, s: &Settings) -> bool {
        self.fits(s) && s.plan.is_none()
    }

    /// The normalised values of the unit in slot `slot` (NaN: no data), in [`CRITERIA`]
    /// order, as [`Prepared::values`] gives them, for settings that [`Prepared::scores`].
    fn norms_slot(&self, slot: usize, s: &Settings) -> [f64; N_CRITERIA] {
        let r = &self.recs[slot];
        let mut norms = [f64::NAN; N_CRITERIA];
        for (k, &c) in SETTLED_AT.iter().enumerate() {
            norms[c] = r.values[k][1];
        }
        norms[Criterion::Suitability as usize] = r.suitability().value(s).unwrap_or(f64::NAN);
        // No plan overlay (`Prepared::scores`): no plan value.
        norms
    }

    /// Unit `i`'s normalised values from its record, without the unit (NaN: no data), as
    /// [`Prepared::values`] gives them, for settings that [`Prepared::scores`]: weighted by
    /// `rank::Weighting`, bit for bit `rank::score` of those values.
    pub fn norms(&self, i: usize, s: &Settings) -> [f64; N_CRITERIA] {
        self.norms_slot(self.slot_of[i] as usize, s)
    }

    /// The scores of the units whose WGS84 position is in `b` (as [`Prepared::in_bbox`]), for
    /// settings that [`Prepared::scores`], reading the values a run at a time in the grid's
    /// order; units that cannot hold a clinic are left out and listed unless `include_unsuitable`.
    pub fn scores_in_box(
        &self,
        b: [f64; 4],
        s: &Settings,
        include_unsuitable: bool,
        score: impl Fn(&[f64; N_CRITERIA]) -> f64,
    ) -> BoxScores {
        debug_assert!(self.scores(s));
        let mut out = BoxScores::default();
        self.lonlat
            .each_slot_in_box([b[0], b[1]], [b[2], b[3]], |slot| {
                out.inside += 1;
                let r = &self.recs[slot];
                if r.unsuitable && !include_unsuitable {
                    out.unsuitable.push(r.unit as usize);
                } else {
                    out.scored
                        .push((score(&self.norms_slot(slot, s)), r.unit as usize));
                }
            });
        out.unsuitable.sort_unstable();
        out
    }
}

/// A unit's WGS84 position, if it has one the grid can hold (finite).
fn placed(c: &Context) -> Option<[f64; 2]> {
    c.lonlat.filter(|p| p.iter().all(|x| x.is_finite()))
}

/// The units' WGS84 positions on a grid.
fn grid(contexts: &[Context]) -> PointGrid {
    PointGrid::new(
        contexts
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((placed(c)?, i as u32))),
    )
}

/// The order of the records: the grid's, then the units without a position in unit order
/// (every unit once: the grid holds exactly the units [`placed`]).
fn grid_order<'a>(
    lonlat: &'a PointGrid,
    contexts: &'a [Context],
) -> impl Iterator<Item = u32> + 'a {
    lonlat.numbers().chain(
        contexts
            .iter()
            .enumerate()
            .filter(|(_, c)| placed(c).is_none())
            .map(|(i, _)| i as u32),
    )
}

/// The units' positions sorted by id (ids are unique), on every core: each id's text beside
/// its position, so a comparison reads two ids, not two units first.
fn id_order(units: &[Unit]) -> Vec<u32> {
    use rayon::slice::ParallelSliceMut as _;
    let mut by_id: Vec<(&str, u32)> = units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.as_str(), i as u32))
        .collect();
    by_id.par_sort_unstable();
    by_id.into_iter().map(|(_, u)| u).collect()
}
