//! Location-allocation against exhaustive search on small SYNTHETIC instances (seeded, so
//! reproducible), and on the real Rochdale units.

mod common;

use common::*;
use sitefinder::analysis::optimise::{demand_for, Demand, Model, Problem, Weighting};

/// A small xorshift generator so instances are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 1_000_000.0
    }
}

fn instance(seed: u64) -> (Problem, usize) {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let n = 6 + (r.next() * 5.0) as usize;
    let m = 15 + (r.next() * 16.0) as usize;
    let pt = |r: &mut Rng| [r.next() * 5000.0, r.next() * 5000.0];
    let demand = (0..m)
        .map(|_| Demand {
            pos: pt(&mut r),
            weight: 1.0 + (r.next() * 100.0).round(),
            decile: 1 + (r.next() * 10.0) as u8 % 10,
        })
        .collect();
    let candidates = (0..n).map(|_| pt(&mut r)).collect();
    let fixed = (0..(r.next() * 3.0) as usize).map(|_| pt(&mut r)).collect();
    let radius = 800.0 + r.next() * 700.0;
    let k = 1 + (r.next() * 3.0) as usize;
    (Problem::new(demand, candidates, fixed, radius, 3000.0), k)
}

fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = vec![];
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize == k {
            out.push((0..n).filter(|j| mask & (1 << j) != 0).collect());
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn mclp_exact_matches_exhaustive_search_and_greedy_is_within_its_bound() {
    let mut worst = 1.0f64;
    for seed in 0..40 {
        let (p, k) = instance(seed);
        let n = p.candidates.len();
        let best = subsets(n, k.min(n))
            .iter()
            .map(|s| p.objective(Model::Mclp, s))
            .fold(f64::MIN, f64::max);
        let exact = p.exact(Model::Mclp, k).unwrap();
        assert!(exact.proven_optimal);
        assert!(
            close(exact.objective, best),
            "seed {seed}: exact {} vs exhaustive {best}",
            exact.objective
        );
        let h = p.heuristic(Model::Mclp, k);
        assert_eq!(h.chosen.len(), k.min(n));
        assert!(
            h.objective <= best + 1e-6,
            "seed {seed}: heuristic beats the optimum?"
        );
        // Greedy on a coverage function is within 1 - 1/e of the optimum; swaps only improve it.
        let fixed_only = p.objective(Model::Mclp, &[]);
        if best > fixed_only {
            let ratio = (h.objective - fixed_only) / (best - fixed_only);
            assert!(
                ratio >= 1.0 - 1.0 / std::f64::consts::E - 1e-9,
                "seed {seed}: ratio {ratio}"
            );
            worst = worst.min(ratio);
        }
        // Marginal gains add up to the coverage the chosen sites add.
        let added: f64 = h.marginal.iter().sum();
        assert!(close(added, h.objective - fixed_only), "seed {seed}");
    }
    println!("MCLP: worst heuristic/optimum (gain over fixed sites) on 40 instances = {worst:.4}");
}

#[test]
fn p_median_exact_matches_exhaustive_search_and_the_heuristic_gap_is_small() {
    let mut worst = 1.0f64;
    for seed in 100..140 {
        let (p, k) = instance(seed);
        let n = p.candidates.len();
        let best = subsets(n, k.min(n))
            .iter()
            .map(|s| p.objective(Model::PMedian, s))
            .fold(f64::MAX, f64::min);
        let exact = p.exact(Model::PMedian, k).unwrap();
        assert!(
            close(exact.objective, best),
            "seed {seed}: exact {} vs exhaustive {best}",
            exact.objective
        );
        let h = p.heuristic(Model::PMedian, k);
        assert!(
            h.objective >= best - 1e-6 * best.max(1.0),
            "seed {seed}: heuristic beats the optimum?"
        );
        worst = worst.max(h.objective / best);
        // The documented gap (README): within 5% of the optimum on these instances.
        assert!(
            h.objective <= best * 1.05,
            "seed {seed}: heuristic {} vs optimum {best}",
            h.objective
        );
    }
    println!("p-median: worst heuristic/optimum on 40 instances = {worst:.4}");
}

#[test]
fn lscp_exact_is_the_smallest_cover_and_the_heuristic_covers_everything() {
    for seed in 200..230 {
        let (p, _) = instance(seed);
        let n = p.candidates.len();
        let coverable = p.coverable();
        let full = |s: &[usize]| {
            p.coverage(s)
                .iter()
                .zip(&coverable)
                .all(|(c, want)| *c || !*want)
        };
        let smallest = (0..=n)
            .find(|&k| subsets(n, k).iter().any(|s| full(s)))
            .unwrap();
        let exact = p.exact(Model::Lscp, 0).unwrap();
        assert_eq!(exact.chosen.len(), smallest, "seed {seed}");
        assert!(full(&exact.chosen), "seed {seed}");
        let h = p.heuristic(Model::Lscp, 0);
        assert!(
            full(&h.chosen),
            "seed {seed}: heuristic leaves coverable demand uncovered"
        );
        assert!(h.chosen.len() >= smallest);
    }
}

#[test]
fn fixed_sites_count_and_are_never_chosen() {
    // Demand at 0 m is already covered by a fixed site; the best new site is the other cluster.
    let d = |x: f64, w: f64| Demand {
        pos: [x, 0.0],
        weight: w,
        decile: 1,
    };
    let p = Problem::new(
        vec![d(0.0, 10.0), d(3000.0, 1.0)],
        vec![[50.0, 0.0], [3050.0, 0.0]],
        vec![[0.0, 0.0]],
        500.0,
        5000.0,
    );
    let h = p.heuristic(Model::Mclp, 1);
    assert_eq!(h.chosen, vec![1]);
    assert_eq!(h.objective, 11.0);
    assert_eq!(p.exact(Model::Mclp, 1).unwrap().chosen, vec![1]);
}

#[test]
fn results_are_deterministic_and_ties_go_to_the_first_candidate() {
    let d = Demand {
        pos: [0.0, 0.0],
        weight: 1.0,
        decile: 5,
    };
    // Two identical candidates: the first wins.
    let p = Problem::new(
        vec![d],
        vec![[10.0, 0.0], [10.0, 0.0]],
        vec![],
        100.0,
        1000.0,
    );
    assert_eq!(p.heuristic(Model::Mclp, 1).chosen, vec![0]);
    let (q, k) = instance(7);
    assert_eq!(
        q.heuristic(Model::PMedian, k),
        q.heuristic(Model::PMedian, k)
    );
}

#[test]
fn rochdale_units_most_deprived_decile_gains_coverage() {
    let a = atlas();
    let imp = import(&data_dir().join("units/rochdale_vacant_shops.csv"));
    let lsoas: Vec<usize> = (0..a.lsoas.len())
        .filter(|&i| a.lsoas[i].lad_code == "E08000005")
        .collect();
    let demand = demand_for(a, &lsoas, &Weighting::default());
    // IoD2025 (LSOA 2021): Rochdale has 135 LSOAs (134 in 2011), 42 of them in decile 1.
    assert_eq!(demand.len(), 135, "Rochdale's LSOAs");
    let decile1 = lsoas
        .iter()
        .filter(|&&i| a.lsoas[i].imd_decile == 1)
        .count();
    assert_eq!(decile1, 42, "Rochdale's LSOAs in IMD 2025 decile 1");
    let fixed: Vec<[f64; 2]> = a.vaccination_sites.sites.iter().map(|s| s.pos).collect();
    let p = Problem::new(
        demand,
        imp.units.iter().map(|u| u.pos).collect(),
        fixed,
        800.0,
        5000.0,
    );
    let h = p.heuristic(Model::Mclp, 5);
    assert_eq!(h.chosen.len(), 5);
    let (before, total) = p.equity(&[]);
    let (after, _) = p.equity(&h.chosen);
    assert!(
        after[0] > before[0],
        "decile 1 coverage {:.0} -> {:.0} of {:.0}",
        before[0],
        after[0],
        total[0]
    );
    for i in 0..10 {
        assert!(after[i] >= before[i] && after[i] <= total[i] + 1e-6);
    }
}
