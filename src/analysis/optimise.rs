//! Location-allocation: choose the set of `k` units that together serve the most deprived
//! demand, rather than ranking units one by one. Models as spopt names them:
//!
//! - **MCLP** (maximal covering): maximise the weighted demand within `radius_m` of an open site;
//! - **p-median**: minimise the weighted distance from demand to its nearest open site, each
//!   distance capped at `cap_m` (demand further than that from every site counts as `cap_m`:
//!   the standard capped p-median, which keeps the problem sparse);
//! - **LSCP** (location set covering): the fewest sites that cover every coverable demand point.
//!
//! Existing sites can be `fixed`: their coverage counts, and they are never chosen. Every model
//! has a fast heuristic (greedy with lazy evaluation, then 1-swap local search) for any size,
//! and an exact MILP solve (good_lp with the pure-Rust microlp solver) for small instances, so
//! the heuristic's gap is measured, not assumed. Same input, same result: ties go to the
//! candidate that comes first.
//!
//! ```
//! use sitefinder::analysis::optimise::{Demand, Model, Problem};
//! // Two clusters of demand; one candidate next to each and one in between.
//! let demand = vec![
//!     Demand { pos: [0.0, 0.0], weight: 3.0, decile: 1 },
//!     Demand { pos: [5000.0, 0.0], weight: 1.0, decile: 9 },
//! ];
//! let p = Problem::new(demand, vec![[10.0, 0.0], [4990.0, 0.0], [2500.0, 0.0]], vec![], 800.0, 5000.0);
//! let s = p.heuristic(Model::Mclp, 1);
//! assert_eq!(s.chosen, vec![0]); // the most deprived cluster first
//! assert_eq!(p.exact(Model::Mclp, 1).unwrap().objective, s.objective);
//! ```

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use good_lp::{
    constraint, microlp, variable, Expression, ProblemVariables, Solution as LpSolution, Variable,
};

use crate::analysis::cover::{solve_within, MilpError};

use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::analysis::cover::Reduced;
pub use crate::analysis::fixed::FixedLayer;
use crate::analysis::fixed::{self, FixedUse};
use crate::base::params::{from_str, opt_text};
use crate::base::spatial::PointIndex;

/// A demand point: an LSOA's population, weighted towards deprivation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    /// BNG metres (the LSOA's centroid).
    pub pos: [f64; 2],
    /// Population times the deprivation weight.
    pub weight: f64,
    /// IMD decile of the LSOA, for the equity report.
    pub decile: u8,
}

/// The models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Mclp,
    PMedian,
    Lscp,
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Model, String> {
        Model::parse(s)
            .ok_or_else(|| format!("unknown model `{}`; use mclp, p-median or lscp", s.trim()))
    }
}

impl Model {
    pub fn parse(s: &str) -> Option<Model> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "mclp" => Some(Model::Mclp),
            "p-median" | "pmedian" => Some(Model::PMedian),
            "lscp" => Some(Model::Lscp),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Model::Mclp => "mclp",
            Model::PMedian => "p-median",
            Model::Lscp => "lscp",
        }
    }
}

/// A location-allocation instance with its neighbourhoods precomputed.
#[derive(Debug, Clone)]
pub struct Problem {
    pub demand: Vec<Demand>,
    pub candidates: Vec<[f64; 2]>,
    pub fixed: Vec<[f64; 2]>,
    pub radius_m: f64,
    pub cap_m: f64,
    /// candidate -> (demand, distance) within `cap_m`, by demand index.
    near: Vec<Vec<(u32, f32)>>,
    /// Per demand: distance to the nearest fixed site, capped at `cap_m`.
    fixed_dist: Vec<f64>,
    /// Per demand: whether a fixed site is within `radius_m` (not read from `fixed_dist`,
    /// whose cap may equal the radius when there is no fixed site at all).
    fixed_covers: Vec<bool>,
}

/// A solution: the chosen candidates in order of choice, with what each added.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub model: Model,
    /// Candidate indices in order of choice (for the exact solve: by index).
    pub chosen: Vec<usize>,
    /// The objective's improvement as each was added (coverage gained, distance saved, or
    /// demand points newly covered), in the same order.
    pub marginal: Vec<f64>,
    /// MCLP: weighted demand covered; p-median: weighted capped distance; LSCP: sites.
    pub objective: f64,
    /// Whether this is a proven optimum (exact solve).
    pub proven_optimal: bool,
    /// MCLP heuristic: a proven upper bound on the optimum (Lagrangian), so the heuristic's
    /// gap is at most `(bound - objective) / bound`; `None` for other models.
    pub bound: Option<f64>,
}

/// Errors of an optimise query: each names the parameter at fault ([`OptimiseError::param`]).
#[derive(Debug, thiserror::Error)]
pub enum OptimiseError {
    #[error("radius_m {0} is out of range: give 50 to 20000 metres")]
    BadRadius(f64),
    #[error("k must be from 1 to 1000 (k = {0})")]
    BadK(usize),
    #[error("unknown PCN `{0}`")]
    UnknownPcn(String),
    #[error("no candidate units in the chosen area")]
    NoCandidates,
    #[error("none of the {0} units in the chosen area can hold a clinic (market stalls, kiosks, units inside a market hall...); include_unsuitable (--include-unsuitable) considers them too")]
    OnlyUnsuitable(usize),
    #[error("compare: unknown unit id `{0}`")]
    UnknownCompareId(String),
    #[error(transparent)]
    Solver(#[from] MilpError),
    #[error("the instance is too large for the exact solver ({candidates} candidates x {demand} demand points; at most {max} variables); use the heuristic")]
    TooLarge {
        candidates: usize,
        demand: usize,
        max: usize,
    },
}

impl OptimiseError {
    /// The parameter (CLI flag without `--`, JSON field) the error is about.
    pub fn param(&self) -> &'static str {
        match self {
            OptimiseError::BadRadius(_) => "radius_m",
            OptimiseError::BadK(_) => "k",
            OptimiseError::UnknownPcn(_) => "pcn",
            OptimiseError::NoCandidates => "area",
            OptimiseError::OnlyUnsuitable(_) => "include_unsuitable",
            OptimiseError::UnknownCompareId(_) => "compare",
            OptimiseError::Solver(_) | OptimiseError::TooLarge { .. } => "exact",
        }
    }
}

/// Work allowed per round of p-median swaps (candidates x chosen x demand points).
pub const SWAP_BUDGET: usize = 400_000_000;

/// Work allowed for the MCLP heuristic's Lagrangian steps (cover pairs visited in all), and as
/// much again for its local searches.
pub const LAGRANGIAN_WORK: usize = 400_000_000;

/// Largest instance the exact solver takes (variables).
pub const EXACT_MAX_VARIABLES: usize = 20_000;

/// How long the exact solver may run, in seconds: stopped there, it returns its best choice so
/// far marked as not proven optimal, or, without one, an error that says to use the
/// heuristic. Instances of the issue's size solve in well under a second.
pub const EXACT_TIME_LIMIT_S: f64 = 30.0;

impl Problem {
    /// Builds the instance: neighbourhoods of every candidate within `cap_m`, and each demand's
    /// distance to the nearest fixed site. `cap_m` is raised to at least `radius_m`.
    pub fn new(
        demand: Vec<Demand>,
        candidates: Vec<[f64; 2]>,
        fixed: Vec<[f64; 2]>,
        radius_m: f64,
        cap_m: f64,
    ) -> Problem {
        let cap_m = cap_m.max(radius_m);
        let index = PointIndex::new(&demand.iter().map(|d| d.pos).collect::<Vec<_>>());
        let near = candidates
            .iter()
            .map(|c| {
                let mut v: Vec<(u32, f32)> = index
                    .within(*c, cap_m)
                    .into_iter()
                    .map(|(i, d)| (i as u32, narrow(d, radius_m)))
                    .collect();
                v.sort_by_key(|x| x.0);
                v
            })
            .collect();
        let fixed_index = PointIndex::new(&fixed);
        let nearest_fixed: Vec<f64> = demand
            .iter()
            .map(|d| {
                fixed_index
                    .nearest(d.pos)
                    .map_or(f64::INFINITY, |(_, dist)| dist)
            })
            .collect();
        Problem {
            demand,
            candidates,
            fixed,
            radius_m,
            cap_m,
            near,
            fixed_dist: nearest_fixed.iter().map(|d| d.min(cap_m)).collect(),
            fixed_covers: nearest_fixed.iter().map(|&d| d <= radius_m).collect(),
        }
    }

    /// Lets fixed site `j` count for demand point `i` only where `serves(j, i)` (a layer's
    /// sites count only for demand in the areas it covers): each demand's distance to its
    /// nearest fixed site is recomputed over the sites that serve it.
    pub fn serve_fixed_only(mut self, serves: impl Fn(usize, usize) -> bool) -> Problem {
        let index = PointIndex::new(&self.fixed);
        for (i, d) in self.demand.iter().enumerate() {
            let nearest = index
                .within(d.pos, self.cap_m)
                .into_iter()
                .filter(|&(j, _)| serves(j, i))
                .map(|(_, dist)| dist)
                .fold(f64::INFINITY, f64::min);
            self.fixed_dist[i] = nearest.min(self.cap_m);
            self.fixed_covers[i] = nearest <= self.radius_m;
        }
        self
    }

    fn covered_by_fixed(&self, i: usize) -> bool {
        self.fixed_covers[i]
    }

    /// Demand points that some candidate or fixed site covers.
    pub fn coverable(&self) -> Vec<bool> {
        let mut c: Vec<bool> = (0..self.demand.len())
            .map(|i| self.covered_by_fixed(i))
            .collect();
        for n in &self.near {
            for &(i, d) in n {
                if d as f64 <= self.radius_m {
                    c[i as usize] = true;
                }
            }
        }
        c
    }

    /// The objective of a set of candidates (the same function for every method).
    pub fn objective(&self, model: Model, set: &[usize]) -> f64 {
        match model {
            Model::Mclp => {
                let cov = self.coverage(set);
                self.demand
                    .iter()
                    .zip(&cov)
                    .filter(|(_, c)| **c)
                    .map(|(d, _)| d.weight)
                    .sum()
            }
            Model::PMedian => {
                let best = self.best_distances(set);
                self.demand
                    .iter()
                    .zip(&best)
                    .map(|(d, b)| d.weight * b)
                    .sum()
            }
            Model::Lscp => set.len() as f64,
        }
    }

    /// Whether each demand point is within `radius_m` of a fixed site or of one in `set`.
    pub fn coverage(&self, set: &[usize]) -> Vec<bool> {
        let mut cov: Vec<bool> = (0..self.demand.len())
            .map(|i| self.covered_by_fixed(i))
            .collect();
        for &j in set {
            for &(i, d) in &self.near[j] {
                if d as f64 <= self.radius_m {
                    cov[i as usize] = true;
                }
            }
        }
        cov
    }

    fn best_distances(&self, set: &[usize]) -> Vec<f64> {
        let mut best = self.fixed_dist.clone();
        for &j in set {
            for &(i, d) in &self.near[j] {
                let b = &mut best[i as usize];
                *b = b.min(d as f64);
            }
        }
        best
    }

    /// The gain of opening candidate `j` given the current state.
    fn gain(&self, model: Model, j: usize, covered: &[bool], best: &[f64]) -> f64 {
        match model {
            Model::Mclp => self.near[j]
                .iter()
                .filter(|&&(i, d)| d as f64 <= self.radius_m && !covered[i as usize])
                .map(|&(i, _)| self.demand[i as usize].weight)
                .sum(),
            Model::PMedian => self.near[j]
                .iter()
                .map(|&(i, d)| {
                    self.demand[i as usize].weight * (best[i as usize] - d as f64).max(0.0)
                })
                .sum(),
            Model::Lscp => self.near[j]
                .iter()
                .filter(|&&(i, d)| d as f64 <= self.radius_m && !covered[i as usize])
                .count() as f64,
        }
    }

    /// Greedy with lazy evaluation (CELF: a gain only falls as sites open, so a stale upper
    /// bound that still tops the heap is the true best), then 1-swap local search.
    /// `k` is ignored by LSCP, which opens sites until all coverable demand is covered.
    ///
    /// MCLP then goes further: on the reduced instance ([`Reduced`]) a Lagrangian relaxation
    /// proposes solutions, each polished by 1-swaps, and proves an upper bound; the better of
    /// the two solutions is kept, in greedy order.
    pub fn heuristic(&self, model: Model, k: usize) -> Choice {
        let greedy = self.greedy_swap(model, k);
        if model != Model::Mclp || greedy.chosen.is_empty() {
            return greedy;
        }
        let reduced = Reduced::new(&self.cover_sets(), &self.weights());
        let k = k.min(self.candidates.len());
        let sets = reduced.sets();
        let work = sets.iter().map(Vec::len).sum::<usize>() + sets.len() + reduced.weights.len();
        let steps = (LAGRANGIAN_WORK / work.max(1)).min(1000);
        if steps == 0 {
            return greedy;
        }
        let (found, _, ub) = reduced.lagrangian(k, steps, &[], LAGRANGIAN_WORK);
        let base = self.objective(Model::Mclp, &[]);
        let mut chosen: Vec<usize> = found
            .iter()
            .map(|&p| reduced.candidates[p as usize])
            .collect();
        self.pad(&mut chosen, k);
        let objective = self.objective(Model::Mclp, &chosen);
        let bound = Some((base + ub).max(greedy.objective.max(objective)));
        if objective <= greedy.objective + 1e-9 * objective.abs().max(1.0) {
            return Choice { bound, ..greedy };
        }
        let (chosen, marginal) = self.greedy_order(&chosen);
        Choice {
            model,
            objective,
            chosen,
            marginal,
            proven_optimal: false,
            bound,
        }
    }

    /// Each candidate's cover set: demand within `radius_m` not already covered by a fixed site.
    fn cover_sets(&self) -> Vec<Vec<u32>> {
        self.near
            .iter()
            .map(|nb| {
                nb.iter()
                    .filter(|&&(i, d)| {
                        d as f64 <= self.radius_m && !self.covered_by_fixed(i as usize)
                    })
                    .map(|&(i, _)| i)
                    .collect()
            })
            .collect()
    }

    fn weights(&self) -> Vec<f64> {
        self.demand.iter().map(|d| d.weight).collect()
    }

    /// Adds the first unchosen candidates until `k` are chosen (when fewer reach the best
    /// cover, the rest cannot lower it).
    fn pad(&self, chosen: &mut Vec<usize>, k: usize) {
        let mut taken = vec![false; self.candidates.len()];
        for &j in chosen.iter() {
            taken[j] = true;
        }
        let more: Vec<usize> = (0..self.candidates.len())
            .filter(|&j| !taken[j])
            .take(k.saturating_sub(chosen.len()))
            .collect();
        chosen.extend(more);
    }

    /// An MCLP set in greedy order (most new cover first, ties to the first candidate), with
    /// what each adds.
    fn greedy_order(&self, set: &[usize]) -> (Vec<usize>, Vec<f64>) {
        let mut covered: Vec<bool> = (0..self.demand.len())
            .map(|i| self.covered_by_fixed(i))
            .collect();
        let mut left: Vec<usize> = set.to_vec();
        left.sort_unstable();
        let (mut order, mut marginal) = (vec![], vec![]);
        while !left.is_empty() {
            let (pos, gain) = left
                .iter()
                .enumerate()
                .map(|(pos, &j)| (pos, self.gain(Model::Mclp, j, &covered, &[])))
                .fold((0, f64::MIN), |b, x| if x.1 > b.1 { x } else { b });
            let j = left.remove(pos);
            for &(i, d) in &self.near[j] {
                if d as f64 <= self.radius_m {
                    covered[i as usize] = true;
                }
            }
            order.push(j);
            marginal.push(gain);
        }
        (order, marginal)
    }

    /// Lazy greedy, then 1-swap local search (LSCP: then redundant sites dropped).
    fn greedy_swap(&self, model: Model, k: usize) -> Choice {
        let n = self.candidates.len();
        let mut covered: Vec<bool> = (0..self.demand.len())
            .map(|i| self.covered_by_fixed(i))
            .collect();
        let mut best = self.fixed_dist.clone();
        let mut heap: BinaryHeap<Entry> = (0..n)
            .map(|j| Entry {
                gain: self.gain(model, j, &covered, &best),
                j,
            })
            .collect();
        let mut chosen = vec![];
        let mut marginal = vec![];
        let target = if model == Model::Lscp { n } else { k.min(n) };
        while chosen.len() < target {
            let Some(top) = heap.pop() else { break };
            let g = self.gain(model, top.j, &covered, &best);
            if heap
                .peek()
                .is_some_and(|next| (Entry { gain: g, j: top.j }) < *next)
            {
                heap.push(Entry { gain: g, j: top.j });
                continue;
            }
            if model == Model::Lscp && g <= 0.0 {
                break;
            }
            chosen.push(top.j);
            marginal.push(g);
            for &(i, d) in &self.near[top.j] {
                if d as f64 <= self.radius_m {
                    covered[i as usize] = true;
                }
                let b = &mut best[i as usize];
                *b = b.min(d as f64);
            }
        }
        match model {
            Model::Lscp => self.drop_redundant(&mut chosen, &mut marginal),
            _ => self.swap(model, &mut chosen, &mut marginal),
        }
        Choice {
            model,
            objective: self.objective(model, &chosen),
            chosen,
            marginal,
            proven_optimal: false,
            bound: None,
        }
    }

    fn better(model: Model, a: f64, b: f64) -> bool {
        let eps = 1e-9 * a.abs().max(b.abs()).max(1.0);
        match model {
            Model::Mclp => a > b + eps,
            _ => a < b - eps,
        }
    }

    /// 1-swap local search: replace a chosen site by an unchosen one while that improves the
    /// objective (first improvement, candidates in index order), at most 50 rounds. MCLP swaps
    /// are evaluated incrementally from coverage counts; p-median swaps by recomputing the
    /// objective, skipped when that would exceed `SWAP_BUDGET` operations per round.
    fn swap(&self, model: Model, chosen: &mut [usize], marginal: &mut [f64]) {
        let n = self.candidates.len();
        match model {
            Model::Mclp => self.swap_mclp(chosen),
            _ if n
                .saturating_mul(chosen.len())
                .saturating_mul(self.demand.len())
                <= SWAP_BUDGET =>
            {
                let mut current = self.objective(model, chosen);
                for _ in 0..50 {
                    let mut improved = false;
                    'outer: for pos in 0..chosen.len() {
                        for c in 0..n {
                            if chosen.contains(&c) || self.near[c].is_empty() {
                                continue;
                            }
                            let old = chosen[pos];
                            chosen[pos] = c;
                            let v = self.objective(model, chosen);
                            if Self::better(model, v, current) {
                                current = v;
                                improved = true;
                                continue 'outer;
                            }
                            chosen[pos] = old;
                        }
                    }
                    if !improved {
                        break;
                    }
                }
            }
            _ => {}
        }
        // Marginals in order of choice, recomputed for the final set.
        for i in 0..chosen.len() {
            let before = self.objective(model, &chosen[..i]);
            let after = self.objective(model, &chosen[..=i]);
            marginal[i] = (after - before).abs();
        }
    }

    fn swap_mclp(&self, chosen: &mut [usize]) {
        let m = self.demand.len();
        let within = |j: usize| {
            self.near[j]
                .iter()
                .filter(|x| x.1 as f64 <= self.radius_m)
                .map(|x| x.0 as usize)
        };
        // How many open sites cover each demand point (a fixed site counts as many).
        let mut count: Vec<u32> = (0..m)
            .map(|i| if self.covered_by_fixed(i) { 1 << 20 } else { 0 })
            .collect();
        for &j in chosen.iter() {
            for i in within(j) {
                count[i] += 1;
            }
        }
        let mut in_s = vec![false; m];
        let eps = |v: f64| 1e-9 * v.abs().max(1.0);
        for _ in 0..50 {
            let mut improved = false;
            for pos in 0..chosen.len() {
                let s = chosen[pos];
                let loss: f64 = within(s)
                    .filter(|&i| count[i] == 1)
                    .map(|i| self.demand[i].weight)
                    .sum();
                for i in within(s) {
                    in_s[i] = true;
                }
                let mut best: Option<usize> = None;
                for c in 0..self.candidates.len() {
                    if chosen.contains(&c) {
                        continue;
                    }
                    let gain: f64 = within(c)
                        .filter(|&i| count[i] - u32::from(in_s[i]) == 0)
                        .map(|i| self.demand[i].weight)
                        .sum();
                    if gain > loss + eps(loss) {
                        best = Some(c);
                        break;
                    }
                }
                for i in within(s) {
                    in_s[i] = false;
                }
                if let Some(c) = best {
                    for i in within(s) {
                        count[i] -= 1;
                    }
                    for i in within(c) {
                        count[i] += 1;
                    }
                    chosen[pos] = c;
                    improved = true;
                }
            }
            if !improved {
                break;
            }
        }
    }

    /// LSCP clean-up: drop any site whose removal leaves the coverage unchanged (last first).
    fn drop_redundant(&self, chosen: &mut Vec<usize>, marginal: &mut Vec<f64>) {
        let full = self.coverage(chosen);
        let mut i = chosen.len();
        while i > 0 {
            i -= 1;
            let mut without = chosen.clone();
            without.remove(i);
            if self.coverage(&without) == full {
                chosen.remove(i);
                marginal.remove(i);
            }
        }
    }

    /// For each demand point, the candidates within `radius_m` of it.
    fn covering_candidates(&self) -> Vec<Vec<usize>> {
        let mut by_demand: Vec<Vec<usize>> = vec![vec![]; self.demand.len()];
        for (j, nb) in self.near.iter().enumerate() {
            for &(i, d) in nb {
                if d as f64 <= self.radius_m {
                    by_demand[i as usize].push(j);
                }
            }
        }
        by_demand
    }

    /// Solves the model exactly as a MILP. MCLP and p-median open exactly `min(k, n)` sites.
    /// Stopped after [`EXACT_TIME_LIMIT_S`] (see [`Problem::exact_within`]).
    pub fn exact(&self, model: Model, k: usize) -> Result<Choice, OptimiseError> {
        self.exact_within(model, k, EXACT_TIME_LIMIT_S)
    }

    /// [`Problem::exact`] stopped after `time_limit_s`: its best choice then, with
    /// `proven_optimal` false, or [`MilpError::TimeLimit`] when it had none.
    pub fn exact_within(
        &self,
        model: Model,
        k: usize,
        time_limit_s: f64,
    ) -> Result<Choice, OptimiseError> {
        let n = self.candidates.len();
        let m = self.demand.len();
        if model == Model::Mclp {
            return self.exact_mclp(k, time_limit_s);
        }
        let pairs: usize = self.near.iter().map(|v| v.len()).sum();
        let size = n + if model == Model::PMedian {
            pairs + m
        } else {
            m
        };
        if size > EXACT_MAX_VARIABLES {
            return Err(OptimiseError::TooLarge {
                candidates: n,
                demand: m,
                max: EXACT_MAX_VARIABLES,
            });
        }
        let mut vars = ProblemVariables::new();
        let x: Vec<Variable> = (0..n).map(|_| vars.add(variable().binary())).collect();
        let k = k.min(n);
        let sum_x: Expression = x.iter().copied().map(Expression::from).sum();
        let solved = match model {
            Model::Mclp => unreachable!("solved above"),
            Model::PMedian => {
                // Each demand point is served by an open candidate within the cap, or falls back
                // to its capped fixed-site distance (u_i).
                let mut objective = Expression::from(0.0);
                let mut cons = vec![];
                let mut assign: Vec<Expression> = (0..m).map(|_| Expression::from(0.0)).collect();
                for (j, nb) in self.near.iter().enumerate() {
                    for &(i, d) in nb {
                        if (d as f64) < self.fixed_dist[i as usize] {
                            let z = vars.add(variable().min(0.0).max(1.0));
                            objective += (self.demand[i as usize].weight * d as f64) * z;
                            assign[i as usize] += z;
                            cons.push(constraint!(z <= x[j]));
                        }
                    }
                }
                for (i, a) in assign.into_iter().enumerate() {
                    let u = vars.add(variable().min(0.0).max(1.0));
                    objective += (self.demand[i].weight * self.fixed_dist[i]) * u;
                    cons.push(constraint!(a + u == 1.0));
                }
                cons.push(constraint!(sum_x == k as f64));
                let (sol, proven) =
                    solve_within(vars.minimise(objective).using(microlp), cons, time_limit_s)?;
                (pick(&x, &sol), proven)
            }
            Model::Lscp => {
                let by_demand = self.covering_candidates();
                let mut cons = vec![];
                for (i, cands) in by_demand.iter().enumerate() {
                    if !self.covered_by_fixed(i) && !cands.is_empty() {
                        let cover: Expression = cands.iter().map(|&j| Expression::from(x[j])).sum();
                        cons.push(constraint!(cover >= 1.0));
                    }
                }
                let (sol, proven) =
                    solve_within(vars.minimise(sum_x).using(microlp), cons, time_limit_s)?;
                (pick(&x, &sol), proven)
            }
        };
        let (chosen, proven_optimal) = solved;
        let marginal = (0..chosen.len())
            .map(|i| {
                (self.objective(model, &chosen[..=i]) - self.objective(model, &chosen[..i])).abs()
            })
            .collect();
        Ok(Choice {
            model,
            objective: self.objective(model, &chosen),
            chosen,
            marginal,
            proven_optimal,
            bound: None,
        })
    }

    /// MCLP exactly: the instance reduced ([`Reduced`]: duplicate and dominated candidates
    /// dropped, demand covered by the same candidates merged), then the MILP over what is left.
    /// Opens exactly `min(k, n)` sites: when fewer reach the optimum, the rest are the first
    /// unchosen candidates (they cannot lower it).
    fn exact_mclp(&self, k: usize, time_limit_s: f64) -> Result<Choice, OptimiseError> {
        let n = self.candidates.len();
        let k = k.min(n);
        let reduced = Reduced::new(&self.cover_sets(), &self.weights());
        let size = reduced.candidates.len() + reduced.weights.len();
        if size > EXACT_MAX_VARIABLES {
            return Err(OptimiseError::TooLarge {
                candidates: n,
                demand: self.demand.len(),
                max: EXACT_MAX_VARIABLES,
            });
        }
        let (mut chosen, proven_optimal) = reduced.solve(k, time_limit_s)?;
        self.pad(&mut chosen, k);
        chosen.sort_unstable();
        let marginal = (0..chosen.len())
            .map(|i| {
                self.objective(Model::Mclp, &chosen[..=i])
                    - self.objective(Model::Mclp, &chosen[..i])
            })
            .collect();
        Ok(Choice {
            model: Model::Mclp,
            objective: self.objective(Model::Mclp, &chosen),
            chosen,
            marginal,
            proven_optimal,
            bound: None,
        })
    }

    /// Weighted demand covered within `radius_m`, per IMD decile (index 0 = decile 1), and the
    /// total weighted demand per decile.
    pub fn equity(&self, set: &[usize]) -> ([f64; 10], [f64; 10]) {
        let cov = self.coverage(set);
        let (mut covered, mut total) = ([0.0; 10], [0.0; 10]);
        for (d, c) in self.demand.iter().zip(cov) {
            let k = (d.decile.clamp(1, 10) - 1) as usize;
            total[k] += d.weight;
            if c {
                covered[k] += d.weight;
            }
        }
        (covered, total)
    }
}

/// A distance as `f32`, on the same side of `radius_m` as the `f64` it came from (a distance
/// a hair over the radius must not round onto it).
fn narrow(d: f64, radius_m: f64) -> f32 {
    let mut f = d as f32;
    if d <= radius_m {
        while f as f64 > radius_m {
            f = f32::from_bits(f.to_bits() - 1); // f > radius_m >= 0: the next f32 down
        }
    } else {
        while f as f64 <= radius_m {
            f = f32::from_bits(f.to_bits() + 1); // f >= 0: the next f32 up
        }
    }
    f
}

fn pick(x: &[Variable], sol: &impl LpSolution) -> Vec<usize> {
    x.iter()
        .enumerate()
        .filter(|(_, v)| sol.value(**v) > 0.5)
        .map(|(j, _)| j)
        .collect()
}

/// Heap entry: larger gain first, then smaller candidate index.
#[derive(Debug, Clone, Copy)]
struct Entry {
    gain: f64,
    j: usize,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.gain.total_cmp(&o.gain).then(o.j.cmp(&self.j))
    }
}

/// Deprivation weight of a demand point.
#[derive(Debug, Clone, PartialEq)]
pub enum Weighting {
    /// One weight per IMD decile (index 0 = decile 1).
    Deciles([f64; 10]),
    /// IMD score divided by the national median score.
    Score,
}

impl Default for Weighting {
    /// Decile 1 counts twice as much as decile 10, linearly in between.
    fn default() -> Self {
        Weighting::Deciles(Weighting::default_deciles())
    }
}

impl FromStr for Weighting {
    type Err = String;
    fn from_str(s: &str) -> Result<Weighting, String> {
        Weighting::parse(s).ok_or_else(|| {
            format!(
                "weighting `{}`: use deciles, score, or ten comma-separated weights",
                s.trim()
            )
        })
    }
}

impl Weighting {
    fn default_deciles() -> [f64; 10] {
        std::array::from_fn(|i| 2.0 - i as f64 / 9.0)
    }

    /// `deciles` (default), `score`, or ten comma-separated decile weights.
    pub fn parse(s: &str) -> Option<Weighting> {
        match s.trim() {
            "deciles" | "decile" => Some(Weighting::default()),
            "score" => Some(Weighting::Score),
            list => {
                let v: Vec<f64> = list
                    .split(',')
                    .map(|x| x.trim().parse().ok())
                    .collect::<Option<_>>()?;
                (v.len() == 10 && v.iter().all(|w| w.is_finite() && *w >= 0.0))
                    .then(|| Weighting::Deciles(std::array::from_fn(|i| v[i])))
            }
        }
    }
}

/// Demand points for the given LSOAs: each LSOA's centroid, weighted by its population times
/// the deprivation weight.
pub fn demand_for(
    atlas: &crate::reference::atlas::Atlas,
    lsoas: &[usize],
    weighting: &Weighting,
) -> Vec<Demand> {
    let median = atlas
        .imd_scores_sorted
        .get(atlas.imd_scores_sorted.len() / 2)
        .copied()
        .unwrap_or(1.0);
    lsoas
        .iter()
        .map(|&i| {
            let l = &atlas.lsoas[i];
            let w = match weighting {
                Weighting::Deciles(ws) => ws[(l.imd_decile.clamp(1, 10) - 1) as usize],
                Weighting::Score => l.imd_score / median.max(1e-9),
            };
            Demand {
                pos: l.centroid,
                weight: l.population * w,
                decile: l.imd_decile,
            }
        })
        .collect()
}

/// How to choose a set of sites: `sitefinder optimise` flags and the `POST /optimise` body.
#[derive(Debug, Clone, PartialEq, clap::Args, Deserialize, serde::Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OptimiseQuery {
    /// How many sites to choose (ignored by lscp), 1 to 1000.
    #[arg(long, default_value_t = 5)]
    #[schema(minimum = 1, maximum = 1000)]
    pub k: usize,
    /// Coverage radius in metres, 50 to 20000 (MCLP, LSCP); p-median distances are capped at
    /// max(4 x radius, 5 km).
    #[arg(long, value_name = "M", default_value_t = 800.0)]
    #[schema(minimum = 50, maximum = 20000)]
    pub radius_m: f64,
    /// mclp (maximal covering), p-median, or lscp (fewest sites covering everything coverable).
    #[arg(long, default_value = "mclp")]
    #[serde(deserialize_with = "from_str")]
    #[schema(value_type = String, pattern = "^(mclp|p-median|lscp)$")]
    pub model: Model,
    /// Existing sites whose coverage counts and that are never chosen: practices, pharmacies,
    /// vaccination-sites (comma-separated, or a JSON list).
    #[arg(long, value_name = "LIST", default_value = "")]
    #[serde(deserialize_with = "fixed_layers")]
    #[schema(value_type = Vec<String>)]
    pub fixed: FixedLayers,
    /// Demand and candidates within this PCN's catchment.
    #[arg(long, value_name = "NAME")]
    #[serde(deserialize_with = "opt_text")]
    pub pcn: Option<String>,
    /// Demand and candidates within this local authority (code or name).
    #[arg(long, value_name = "LAD")]
    #[serde(deserialize_with = "opt_text")]
    pub lad: Option<String>,
    /// Deprivation weighting of demand: deciles (decile 1 counts 2x decile 10), score, or ten
    /// comma-separated decile weights.
    #[arg(long, value_name = "W", default_value = "deciles")]
    #[serde(deserialize_with = "from_str")]
    #[schema(value_type = String)]
    pub weighting: Weighting,
    /// Also solve exactly (MILP) and report the proven optimum and the heuristic's gap (the
    /// solver stops after 30 s: its best choice then is reported as not proven optimal).
    #[arg(long)]
    pub exact: bool,
    /// Unit ids of a scenario to compare with the choice ("these k sites vs those").
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub compare: Vec<String>,
    /// Consider units that cannot hold a clinic too (market stalls, kiosks, stands, units
    /// inside a market hall, advertising rights, car parking...: read from the description,
    /// name and address). By default they are never chosen, and are listed with the reason.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub include_unsuitable: bool,
}

impl OptimiseQuery {
    /// The query as `(name, value)` pairs, for an export's query sheet.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let f = |k: &str, v: String| (k.to_string(), v);
        vec![
            f("model", self.model.name().into()),
            f("k", self.k.to_string()),
            f("radius_m", self.radius_m.to_string()),
            f(
                "fixed",
                self.fixed
                    .0
                    .iter()
                    .map(|l| l.name())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            f("pcn", self.pcn.clone().unwrap_or_default()),
            f("lad", self.lad.clone().unwrap_or_default()),
            f("exact", self.exact.to_string()),
            f("include_unsuitable", self.include_unsuitable.to_string()),
        ]
    }
}

impl Default for OptimiseQuery {
    fn default() -> Self {
        OptimiseQuery {
            k: 5,
            radius_m: 800.0,
            model: Model::Mclp,
            fixed: FixedLayers::default(),
            pcn: None,
            lad: None,
            weighting: Weighting::default(),
            exact: false,
            compare: vec![],
            include_unsuitable: false,
        }
    }
}

/// Existing-site layers, from `a,b` text or a list of names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixedLayers(pub Vec<FixedLayer>);

impl FromStr for FixedLayers {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FixedLayer::parse_list(s).map(FixedLayers)
    }
}

fn fixed_layers<'de, D: Deserializer<'de>>(d: D) -> Result<FixedLayers, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrList {
        Text(String),
        List(Vec<String>),
    }
    let names = match Option::<TextOrList>::deserialize(d)? {
        None => return Ok(FixedLayers::default()),
        Some(TextOrList::Text(t)) => t,
        Some(TextOrList::List(l)) => l.join(","),
    };
    names.parse().map_err(serde::de::Error::custom)
}

/// How an alternative set of sites does on the same instance.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub ids: Vec<String>,
    pub objective: f64,
    pub covered: [f64; 10],
}

/// The report: the heuristic's choice, the exact one where solved, and equity by decile.
#[derive(Debug)]
pub struct Report {
    /// Unit indices of the candidates, in the problem's candidate order.
    pub candidate_units: Vec<usize>,
    /// Units in the area left out as unable to hold a clinic, with the reason (empty with
    /// `include_unsuitable`).
    pub unsuitable: Vec<(usize, &'static str)>,
    pub demand_lsoas: Vec<usize>,
    /// Fixed sites of every layer.
    pub fixed_sites: usize,
    /// Each fixed layer's sites and where it has no data, in the order asked.
    pub fixed: Vec<FixedUse>,
    pub heuristic: Choice,
    pub exact: Option<Result<Choice, OptimiseError>>,
    pub covered_before: [f64; 10],
    pub covered_after: [f64; 10],
    pub demand_total: [f64; 10],
    pub compared: Option<Scenario>,
}

/// Builds the instance from the atlas and the joined units, and solves it.
pub fn run(
    atlas: &crate::reference::atlas::Atlas,
    units: &[crate::ingest::units::Unit],
    contexts: &[crate::analysis::join::Context],
    catchments: &dyn crate::ingest::catchment::CatchmentSource,
    req: &OptimiseQuery,
    allowed: Option<&[bool]>,
) -> Result<Report, OptimiseError> {
    use crate::reference::atlas::pcn_key;
    if !(50.0..=20_000.0).contains(&req.radius_m) || !req.radius_m.is_finite() {
        return Err(OptimiseError::BadRadius(req.radius_m));
    }
    if (req.k == 0 && req.model != Model::Lscp) || req.k > 1000 {
        return Err(OptimiseError::BadK(req.k));
    }
    let lad_ok = |code: &str, name: &str| {
        req.lad.as_deref().is_none_or(|q| {
            code.eq_ignore_ascii_case(q.trim()) || name.eq_ignore_ascii_case(q.trim())
        })
    };
    let pcn_practices: Option<Vec<usize>> = match &req.pcn {
        None => None,
        Some(q) => {
            let v = atlas.practices_in_pcn(q);
            if v.is_empty() {
                return Err(OptimiseError::UnknownPcn(q.clone()));
            }
            Some(v)
        }
    };
    // Units in the area: those passing the area filters (and the ranking's filters, when the
    // caller gives them as `allowed`).
    let in_area: Vec<usize> = (0..units.len())
        .filter(|&i| allowed.is_none_or(|a| a[i]))
        .filter(|&i| {
            let l = &atlas.lsoas[contexts[i].lsoa];
            let in_pcn = req.pcn.as_deref().is_none_or(|q| {
                let key = pcn_key(q);
                contexts[i].catchment.iter().any(|c| {
                    let p = &atlas.practices[c.practice];
                    p.pcn.as_deref().is_some_and(|n| pcn_key(n) == key)
                        || p.pcn_code.as_deref().is_some_and(|n| pcn_key(n) == key)
                })
            });
            lad_ok(&l.lad_code, &l.lad_name) && in_pcn
        })
        .collect();
    if in_area.is_empty() {
        return Err(OptimiseError::NoCandidates);
    }
    // Candidates: the units in the area that can hold a clinic (all with include_unsuitable);
    // the others are left out with their reason.
    let mut unsuitable = vec![];
    let candidate_units: Vec<usize> = in_area
        .iter()
        .copied()
        .filter(|&i| match units[i].unsuitable {
            Some(why) if !req.include_unsuitable => {
                unsuitable.push((i, why));
                false
            }
            _ => true,
        })
        .collect();
    if candidate_units.is_empty() {
        return Err(OptimiseError::OnlyUnsuitable(in_area.len()));
    }
    // Demand: the PCN's catchment, or the local authority, or the authorities of the units in
    // the area (leaving out units that cannot hold a clinic does not change the demand).
    let cand_lads: std::collections::BTreeSet<&str> = in_area
        .iter()
        .map(|&i| atlas.lsoas[contexts[i].lsoa].lad_code.as_str())
        .collect();
    let demand_lsoas: Vec<usize> = (0..atlas.lsoas.len())
        .filter(|&l| {
            let x = &atlas.lsoas[l];
            match (&pcn_practices, &req.lad) {
                (Some(ps), _) => {
                    lad_ok(&x.lad_code, &x.lad_name)
                        && catchments
                            .covering(atlas, x.centroid, l)
                            .iter()
                            .any(|c| ps.contains(&c.practice))
                }
                (None, Some(_)) => lad_ok(&x.lad_code, &x.lad_name),
                (None, None) => cand_lads.contains(x.lad_code.as_str()),
            }
        })
        .collect();
    let demand = demand_for(atlas, &demand_lsoas, &req.weighting);
    let cap_m = (req.radius_m * 4.0).max(5_000.0);
    // Fixed sites: each layer's, inside its coverage, within reach of demand it covers; they
    // count only for that demand (elsewhere the layer has no data).
    let reach_m = match req.model {
        Model::PMedian => cap_m,
        Model::Mclp | Model::Lscp => req.radius_m,
    };
    let fixed_uses: Vec<FixedUse> = req
        .fixed
        .0
        .iter()
        .map(|&f| fixed::select(atlas, &demand_lsoas, f, reach_m))
        .collect();
    let mut fixed: Vec<[f64; 2]> = vec![];
    let mut fixed_layer: Vec<usize> = vec![];
    for (n, u) in fixed_uses.iter().enumerate() {
        fixed.extend(&u.sites);
        fixed_layer.extend(std::iter::repeat_n(n, u.sites.len()));
    }
    let fixed_sites = fixed.len();
    // Scenario units are evaluated on the same instance: they join the candidate list only for
    // that, after the real candidates, so they never change the heuristic's choice.
    let mut scenario_units = vec![];
    for id in &req.compare {
        let i = units
            .iter()
            .position(|u| u.id == id)
            .ok_or_else(|| OptimiseError::UnknownCompareId(id.clone()))?;
        scenario_units.push(i);
    }
    let n_real = candidate_units.len();
    let positions: Vec<[f64; 2]> = candidate_units
        .iter()
        .chain(&scenario_units)
        .map(|&i| units[i].pos)
        .collect();
    let mut problem = Problem::new(demand, positions, fixed, req.radius_m, cap_m)
        .serve_fixed_only(|j, i| fixed_uses[fixed_layer[j]].serves[i]);
    let scenario_near: Vec<Vec<(u32, f32)>> = problem.near.split_off(n_real);
    problem.candidates.truncate(n_real);
    let heuristic = problem.heuristic(req.model, req.k);
    let exact = req.exact.then(|| problem.exact(req.model, req.k));
    let (covered_before, demand_total) = problem.equity(&[]);
    let (covered_after, _) = problem.equity(&heuristic.chosen);
    let compared = (!req.compare.is_empty()).then(|| {
        let mut with = problem.clone();
        with.candidates
            .extend(scenario_units.iter().map(|&i| units[i].pos));
        with.near.extend(scenario_near);
        let set: Vec<usize> = (n_real..n_real + scenario_units.len()).collect();
        Scenario {
            ids: req.compare.clone(),
            objective: with.objective(req.model, &set),
            covered: with.equity(&set).0,
        }
    });
    Ok(Report {
        candidate_units,
        unsuitable,
        demand_lsoas,
        fixed_sites,
        fixed: fixed_uses,
        heuristic,
        exact,
        covered_before,
        covered_after,
        demand_total,
        compared,
    })
}

impl Report {
    /// The equity lines, the most deprived decile first.
    pub fn equity_lines(&self) -> Vec<String> {
        (0..10)
            .filter(|&i| self.demand_total[i] > 0.0)
            .map(|i| {
                let pct = |v: f64| 100.0 * v / self.demand_total[i];
                format!(
                    "IMD decile {}: {:.1}% of weighted demand within reach before, {:.1}% after",
                    i + 1,
                    pct(self.covered_before[i]),
                    pct(self.covered_after[i])
                )
            })
            .collect()
    }
}

/// Written as their text, the form they are read from.
macro_rules! serialize_as_text {
    ($t:ty, $f:expr) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let text: String = $f(self);
                s.serialize_str(&text)
            }
        }
    };
}
serialize_as_text!(Model, |m: &Model| m.name().to_string());
serialize_as_text!(FixedLayers, |f: &FixedLayers| f
    .0
    .iter()
    .map(|l| l.name())
    .collect::<Vec<_>>()
    .join(","));
serialize_as_text!(Weighting, |w: &Weighting| match w {
    Weighting::Score => "score".to_string(),
    Weighting::Deciles(d) if *d == Weighting::default_deciles() => "deciles".to_string(),
    Weighting::Deciles(d) => d
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(","),
});
