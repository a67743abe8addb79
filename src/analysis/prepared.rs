//! What a server computes once over its units, so that each ranking costs what it keeps and
//! not what the country holds: the units indexed by WGS84 position (for `bbox`), and each
//! unit's settled criterion values (those that depend only on the join: deprivation, reach,
//! demand, gap, access). A weight or filter change re-weights these; it does not evaluate
//! them again. Suitability and plan depend on a ranking's date and plan overlay, and are
//! evaluated per ranking (they read only the unit).
//!
//! A ranking with a [`Prepared`] gives the same rows, scores and values as one without
//! (`tests/prepared.rs` checks it on real units for many queries); its sentences are written
//! afterwards, for the rows written or returned, as for any ranking.

use rstar::primitives::GeomWithData;
use rstar::{RTree, AABB};

use crate::analysis::criteria::{
    evaluate_one, Criterion, Scales, Settings, Value, CRITERIA, N_CRITERIA,
};
use crate::analysis::join::{Context, JoinParams};
use crate::ingest::units::Unit;
use crate::reference::atlas::Atlas;

/// `raw` and `norm` of one criterion; NaN = no data.
type Pair = [f64; 2];

/// The units' positions and settled criterion values, computed once.
pub struct Prepared {
    lonlat: RTree<GeomWithData<[f64; 2], u32>>,
    /// What the values were computed with: a ranking with other scales or joins evaluates.
    scales: Scales,
    join: JoinParams,
    /// `values[i][c]` for unit `i` and criterion `c` ([`CRITERIA`] order; the unsettled ones
    /// unused). A settled criterion's raw value is never NaN (the criteria check their inputs
    /// are finite), so NaN can stand for "no data".
    values: Vec<[Pair; N_CRITERIA]>,
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
        let lonlat = RTree::bulk_load(
            contexts
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some(GeomWithData::new(c.lonlat?, i as u32)))
                .collect(),
        );
        let quiet = Settings {
            words: false,
            ..s.clone()
        };
        let idx: Vec<usize> = (0..units.len()).collect();
        let values = crate::base::par::map(&idx, |&i| {
            CRITERIA.map(|c| {
                if c.settled() {
                    pair(&evaluate_one(c, atlas, &units[i], &contexts[i], &quiet))
                } else {
                    [f64::NAN; 2]
                }
            })
        });
        Prepared {
            lonlat,
            scales: s.scales,
            join: s.join,
            values,
        }
    }

    /// How many units it holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The units whose WGS84 position is inside `[minlon, minlat, maxlon, maxlat]` (edges
    /// included), in unit order.
    pub fn in_bbox(&self, b: [f64; 4]) -> Vec<usize> {
        // A box whose minimum passes its maximum holds nothing (as the filter reads it).
        if !(b[0] <= b[2] && b[1] <= b[3]) {
            return vec![];
        }
        let env = AABB::from_corners([b[0], b[1]], [b[2], b[3]]);
        let mut v: Vec<usize> = self
            .lonlat
            .locate_in_envelope(&env)
            .map(|e| e.data as usize)
            .collect();
        v.sort_unstable();
        v
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
        let row = &self.values[i];
        let mut k = 0;
        CRITERIA.map(|c: Criterion| {
            let [raw, norm] = row[k];
            k += 1;
            if c.settled() {
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
}
