//! Location-allocation against exhaustive search on small SYNTHETIC instances (seeded, so
//! reproducible), and on the real units: Rochdale, and Kirklees and Calderdale where the
//! pharmacy layer has no data.

mod common;

use common::*;
use sitefinder::analysis::optimise::{
    demand_for, Demand, Model, OptimiseQuery, Problem, Weighting,
};

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

/// The exact solve stops at its time limit: with none left it gives no choice and says to use
/// the heuristic (the error names `exact`), unless the instance needed no solver (an MCLP
/// reduced to at most k candidates); given time, the same instances are proven optimal.
#[test]
fn the_exact_solve_stops_at_its_time_limit() {
    for model in [Model::Mclp, Model::PMedian, Model::Lscp] {
        let mut stopped = 0;
        for seed in 0..20 {
            let (p, k) = instance(seed);
            let k = k.min(p.candidates.len() - 1);
            let solved = p.exact_within(model, k, 60.0).unwrap();
            assert!(solved.proven_optimal, "seed {seed} {model:?}");
            assert_eq!(solved, p.exact(model, k).unwrap());
            match p.exact_within(model, k, 0.0) {
                Err(e) => {
                    stopped += 1;
                    assert_eq!(e.param(), "exact", "seed {seed} {model:?}");
                    let m = e.to_string();
                    assert!(
                        m.contains("time limit of 0 s") && m.contains("use the heuristic"),
                        "seed {seed} {model:?}: {m}"
                    );
                }
                Ok(c) => assert_eq!(c, solved, "seed {seed} {model:?}"),
            }
        }
        assert!(
            stopped >= 10,
            "{model:?}: the limit stopped {stopped} of 20"
        );
    }
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
        // The Lagrangian bound is a true bound on the optimum.
        let bound = h.bound.expect("MCLP heuristic gives a bound");
        assert!(
            bound >= best - 1e-6 * best.max(1.0),
            "seed {seed}: bound {bound} < optimum {best}"
        );
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
        assert!(exact.proven_optimal, "seed {seed}");
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

/// A fixed site counts only for the demand its layer covers: elsewhere the layer has no data.
#[test]
fn fixed_sites_count_only_for_demand_their_layer_serves() {
    let d = |x: f64| Demand {
        pos: [x, 0.0],
        weight: 1.0,
        decile: 1,
    };
    let p = Problem::new(
        vec![d(0.0), d(100.0)],
        vec![[5000.0, 0.0]],
        vec![[50.0, 0.0]],
        500.0,
        5000.0,
    );
    assert_eq!(p.coverage(&[]), [true, true]);
    let p = p.serve_fixed_only(|_, i| i == 0);
    assert_eq!(p.coverage(&[]), [true, false]);
    assert_eq!(p.objective(Model::Mclp, &[]), 1.0);
}

/// The pharmacy layer covers Greater Manchester only: Kirklees (West Yorkshire) units fix no
/// pharmacy, even with Greater Manchester's over the Pennines within reach, and the
/// report says which local authorities have no pharmacy data. Vaccination sites cover England
/// and are still fixed.
#[test]
fn kirklees_units_fix_no_pharmacies_and_name_the_areas_without_pharmacy_data() {
    let a = atlas();
    let e = engine_with_units(&["kirklees_vacant_shops.csv"]);
    let q = OptimiseQuery {
        k: 3,
        radius_m: 3000.0,
        model: Model::PMedian,
        fixed: "pharmacies,vaccination-sites".parse().unwrap(),
        ..OptimiseQuery::default()
    };
    let r = e.optimise(&q).unwrap();
    // Greater Manchester pharmacies within the p-median cap (12 km) of the demand.
    let near_gm = a
        .pharmacies
        .sites
        .iter()
        .filter(|s| {
            r.demand_lsoas
                .iter()
                .any(|&l| dist(a.lsoas[l].centroid, s.pos) <= 12_000.0)
        })
        .count();
    assert!(
        near_gm > 0,
        "no GM pharmacy near Kirklees: the test proves nothing"
    );
    let ph = &r.fixed[0];
    assert_eq!(ph.layer.name(), "pharmacies");
    assert!(ph.sites.is_empty(), "{} pharmacies fixed", ph.sites.len());
    assert!(ph.with_data.is_empty());
    assert!(ph
        .no_data
        .contains(&("E08000034".to_string(), "Kirklees".to_string())));
    assert_eq!(ph.covers, "Greater Manchester");
    let s = ph.sentence();
    assert!(
        s.contains("covers Greater Manchester only")
            && s.contains("no pharmacy data for")
            && s.contains("Kirklees (E08000034)")
            && s.contains("none are fixed"),
        "{s}"
    );
    let vs = &r.fixed[1];
    assert!(!vs.sites.is_empty() && vs.no_data.is_empty());
    assert_eq!(r.fixed_sites, vs.sites.len());
    let text = e.optimise_text(&q, &r);
    assert!(text.contains(&format!("fixed {s}")), "{text}");
    assert!(text.contains("pharmacies: Greater Manchester"), "{text}");
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Rochdale units fix Greater Manchester pharmacies: exactly those within reach of Rochdale's
/// demand (by brute force over every pharmacy), including those just over Rochdale's boundary,
/// which are counted as outside the area. For p-median, reach is the distance cap.
#[test]
fn rochdale_units_fix_the_pharmacies_within_reach_of_rochdale_demand() {
    let a = atlas();
    let e = engine();
    for (model, reach) in [(Model::Mclp, 800.0), (Model::PMedian, 5000.0)] {
        let q = OptimiseQuery {
            k: 2,
            model,
            fixed: "pharmacies".parse().unwrap(),
            ..OptimiseQuery::default()
        };
        let r = e.optimise(&q).unwrap();
        assert!(r
            .demand_lsoas
            .iter()
            .all(|&l| a.lsoas[l].lad_code == "E08000005"));
        let within: Vec<[f64; 2]> = a
            .pharmacies
            .sites
            .iter()
            .map(|s| s.pos)
            .filter(|&p| {
                r.demand_lsoas
                    .iter()
                    .any(|&l| dist(a.lsoas[l].centroid, p) <= reach)
            })
            .collect();
        let outside = within
            .iter()
            .filter(|&&p| {
                a.lsoa_at(p)
                    .is_none_or(|l| a.lsoas[l].lad_code != "E08000005")
            })
            .count();
        let ph = &r.fixed[0];
        assert!(ph.no_data.is_empty(), "{:?}", ph.no_data);
        assert_eq!(ph.with_data, [("E08000005".into(), "Rochdale".into())]);
        assert_eq!(ph.sites.len(), within.len(), "{}", model.name());
        assert_eq!(r.fixed_sites, within.len());
        assert_eq!(ph.outside_area, outside, "{}", model.name());
        assert!(
            within.len() > outside && outside > 0,
            "{} {outside}",
            within.len()
        );
        assert!(
            ph.sentence().contains(&format!(
                "{} pharmacies within {reach} m of the demand are fixed, {outside} of them outside the area",
                within.len()
            )),
            "{}",
            ph.sentence()
        );
    }
}

/// Units in Rochdale and Calderdale: the pharmacies count for Rochdale's demand only, and the
/// report says Calderdale has no pharmacy data.
#[test]
fn a_study_area_partly_covered_fixes_sites_only_for_the_covered_part() {
    let e = engine_with_units(&["rochdale_vacant_shops.csv", "calderdale_vacant_shops.csv"]);
    let q = OptimiseQuery {
        k: 2,
        fixed: "pharmacies".parse().unwrap(),
        ..OptimiseQuery::default()
    };
    let r = e.optimise(&q).unwrap();
    let ph = &r.fixed[0];
    assert_eq!(ph.with_data, [("E08000005".into(), "Rochdale".into())]);
    assert_eq!(ph.no_data, [("E08000033".into(), "Calderdale".into())]);
    assert!(!ph.sites.is_empty());
    // The fixed pharmacies count for Rochdale's demand points only.
    let a = atlas();
    for (n, &l) in r.demand_lsoas.iter().enumerate() {
        assert_eq!(ph.serves[n], a.lsoas[l].lad_code == "E08000005");
    }
    let s = ph.sentence();
    assert!(
        s.contains("of the demand in Rochdale (E08000005) are fixed")
            && s.contains("no pharmacy data for Calderdale (E08000033)")
            && s.contains("none count for demand there"),
        "{s}"
    );
}

/// The two cafés inside Rochdale's Market Hall: the only Rochdale units that cannot hold a
/// clinic.
const MARKET_HALL_CAFES: [&str; 2] = ["rochdale-133498000400X5", "rochdale-1334980005007B"];

fn chosen_ids(
    e: &sitefinder::engine::Engine,
    r: &sitefinder::analysis::optimise::Report,
) -> Vec<String> {
    r.heuristic
        .chosen
        .iter()
        .map(|&j| e.units[r.candidate_units[j]].id.to_string())
        .collect()
}

/// Like `rank`, `optimise` leaves out units that cannot hold a clinic: Rochdale's Market Hall
/// cafés are never candidates, whatever the model and k, and are reported with their reason;
/// `include_unsuitable` makes them candidates again (with k = 100 they are chosen). The demand
/// is the same either way.
#[test]
fn market_hall_cafes_are_never_chosen_unless_include_unsuitable() {
    let e = engine();
    let mut flagged: Vec<(&str, &str)> = e
        .units
        .iter()
        .filter_map(|u| u.unsuitable.map(|why| (u.id.as_str(), why)))
        .collect();
    flagged.sort();
    assert_eq!(
        flagged,
        MARKET_HALL_CAFES.map(|id| (id, "unit inside a market hall"))
    );
    for model in [Model::Mclp, Model::PMedian, Model::Lscp] {
        for k in [5, 100] {
            let q = OptimiseQuery {
                k,
                model,
                ..OptimiseQuery::default()
            };
            let r = e.optimise(&q).unwrap();
            let left_out: Vec<&str> = r
                .unsuitable
                .iter()
                .map(|(i, _)| e.units[*i].id.as_str())
                .collect();
            assert_eq!(left_out, MARKET_HALL_CAFES, "{} k={k}", model.name());
            assert_eq!(r.candidate_units.len(), e.units.len() - 2);
            assert!(r
                .candidate_units
                .iter()
                .all(|&i| e.units[i].unsuitable.is_none()));
            let chosen = chosen_ids(&e, &r);
            assert!(
                MARKET_HALL_CAFES
                    .iter()
                    .all(|c| !chosen.iter().any(|x| x == c)),
                "{} k={k}: {chosen:?}",
                model.name()
            );
        }
    }
    let q = OptimiseQuery {
        k: 100,
        ..OptimiseQuery::default()
    };
    let r = e.optimise(&q).unwrap();
    let text = e.optimise_text(&q, &r);
    assert!(
        text.contains("105 candidate units")
            && text.contains("left out 2 units that cannot hold a clinic (include_unsuitable considers them): rochdale-133498000400X5 (unit inside a market hall); rochdale-1334980005007B (unit inside a market hall)"),
        "{text}"
    );
    let v = e.optimise_json(&q, &r).unwrap();
    assert_eq!(v["left_out_unsuitable"], 2);
    assert_eq!(v["include_unsuitable"], false);
    assert_eq!(v["unsuitable"][1]["id"], MARKET_HALL_CAFES[1]);
    assert_eq!(v["unsuitable"][1]["reason"], "unit inside a market hall");

    let all = OptimiseQuery {
        include_unsuitable: true,
        ..q.clone()
    };
    let with = e.optimise(&all).unwrap();
    assert!(with.unsuitable.is_empty());
    assert_eq!(with.candidate_units.len(), e.units.len());
    assert_eq!(with.demand_lsoas, r.demand_lsoas);
    let chosen = chosen_ids(&e, &with);
    assert!(
        MARKET_HALL_CAFES
            .iter()
            .all(|c| chosen.iter().any(|x| x == c)),
        "{chosen:?}"
    );
    assert!(!e.optimise_text(&all, &with).contains("left out"));
    assert_eq!(
        e.optimise_json(&all, &with).unwrap()["left_out_unsuitable"],
        0
    );
}

/// The engine over some of Rochdale's real units (rows of the shipped file, by id).
fn engine_over_rochdale_rows(ids: &[&str]) -> (tempfile::TempDir, sitefinder::engine::Engine) {
    let text = std::fs::read_to_string(data_dir().join("units/rochdale_vacant_shops.csv")).unwrap();
    let mut lines = text.lines();
    let mut csv = format!("{}\n", lines.next().unwrap());
    for l in lines.filter(|l| ids.iter().any(|id| l.starts_with(&format!("{id},")))) {
        csv.push_str(l);
        csv.push('\n');
    }
    let (dir, path) = write_temp("units.csv", &csv);
    let mut cfg = sitefinder::engine::Config::new(&data_dir());
    cfg.as_of = Some(sitefinder::base::date::Date::from_ymd(2024, 7, 1).unwrap());
    cfg.units = vec![path];
    let e = sitefinder::engine::Engine::open(&cfg).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.units.len(), ids.len());
    (dir, e)
}

/// With only the Market Hall cafés in Rochdale town centre, the option matters: by default
/// Heywood and Middleton are chosen; with `include_unsuitable` the first café is chosen first,
/// for the town centre demand only it reaches. With nothing but the cafés, optimise says
/// that none can hold a clinic and names `include_unsuitable`.
#[test]
fn a_market_hall_cafe_is_chosen_for_the_town_centre_only_with_include_unsuitable() {
    let heywood = "rochdale-31213900030029";
    let middleton = "rochdale-21483599152886";
    let (_dir, e) = engine_over_rochdale_rows(&[
        MARKET_HALL_CAFES[0],
        MARKET_HALL_CAFES[1],
        heywood,
        middleton,
    ]);
    let q = OptimiseQuery {
        k: 3,
        ..OptimiseQuery::default()
    };
    let r = e.optimise(&q).unwrap();
    assert_eq!(chosen_ids(&e, &r), [heywood, middleton]);
    assert_eq!(r.unsuitable.len(), 2);
    let all = OptimiseQuery {
        include_unsuitable: true,
        ..q
    };
    let with = e.optimise(&all).unwrap();
    assert_eq!(
        chosen_ids(&e, &with),
        [MARKET_HALL_CAFES[0], heywood, middleton]
    );
    assert!(with.heuristic.marginal[0] > 0.0);
    assert!(with.heuristic.objective > r.heuristic.objective);

    let (_dir, e) = engine_over_rochdale_rows(&MARKET_HALL_CAFES);
    let err = e.optimise(&OptimiseQuery::default()).unwrap_err();
    assert_eq!(err.param(), "include_unsuitable");
    assert!(err.to_string().contains("none of the 2 units"), "{err}");
    let with = e
        .optimise(&OptimiseQuery {
            include_unsuitable: true,
            ..OptimiseQuery::default()
        })
        .unwrap();
    assert_eq!(chosen_ids(&e, &with)[0], MARKET_HALL_CAFES[0]);
}

/// With no fixed sites and the distance cap equal to the radius, nothing is covered before a
/// site opens (the capped "distance to the nearest fixed site" once read as in reach).
#[test]
fn no_fixed_sites_cover_nothing_even_when_the_cap_is_the_radius() {
    let d = |x: f64| Demand {
        pos: [x, 0.0],
        weight: 1.0,
        decile: 1,
    };
    let p = Problem::new(
        vec![d(0.0), d(5000.0)],
        vec![[10.0, 0.0]],
        vec![],
        800.0,
        800.0,
    );
    assert_eq!(p.coverage(&[]), [false, false]);
    assert_eq!(p.objective(Model::Mclp, &[]), 0.0);
    assert_eq!(p.exact(Model::Mclp, 1).unwrap().objective, 1.0);
    assert_eq!(p.heuristic(Model::Mclp, 1).objective, 1.0);
}

/// A demand point a hair beyond the radius is not covered: distances kept as `f32` stay on
/// the side of the radius their exact value is on.
#[test]
fn a_point_just_beyond_the_radius_is_not_covered() {
    let d = |x: f64| Demand {
        pos: [x, 0.0],
        weight: 1.0,
        decile: 1,
    };
    let beyond = 800.0 + 1e-5; // rounds to 800.0 as f32
    assert_eq!(beyond as f32, 800.0f32);
    let p = Problem::new(
        vec![d(0.0), d(beyond)],
        vec![[0.0, 0.0]],
        vec![],
        800.0,
        5000.0,
    );
    assert_eq!(p.coverage(&[0]), [true, false]);
    let p = Problem::new(
        vec![d(0.0), d(800.0)],
        vec![[0.0, 0.0]],
        vec![],
        800.0,
        5000.0,
    );
    assert_eq!(p.coverage(&[0]), [true, true]);
}

/// The exact MCLP against a third-party MILP solver on real geography: spopt's maximal
/// covering model solved by PuLP's CBC (`tests/clients/spopt_mclp.py`, in `.venv-clients`),
/// reading the same demand and candidates from files. West Yorkshire: every vacant shop of
/// Bradford, Calderdale, Kirklees and Wakefield as candidates, their LSOAs 2021 as demand
/// (population x IoD2025 deprivation weight), k = 30, 800 m. The same optimum; the heuristic
/// within 1% of it and the optimum within the heuristic's bound.
#[test]
fn mclp_exact_matches_spopt_and_cbc_on_west_yorkshire() {
    let a = atlas();
    let mut candidates: Vec<[f64; 2]> = vec![];
    for c in ["bradford", "calderdale", "kirklees", "wakefield"] {
        let units = import(&data_dir().join(format!("units/{c}_vacant_shops.csv"))).units;
        candidates.extend(units.iter().map(|u| u.pos));
    }
    let lads = ["E08000032", "E08000033", "E08000034", "E08000036"];
    let lsoas: Vec<usize> = (0..a.lsoas.len())
        .filter(|&i| lads.contains(&a.lsoas[i].lad_code.as_str()))
        .collect();
    let demand = demand_for(a, &lsoas, &Weighting::default());
    assert!(
        demand.len() > 900 && candidates.len() > 1000,
        "{} x {}",
        demand.len(),
        candidates.len()
    );
    let dir = tempfile::tempdir().unwrap();
    // Shortest round-trip decimals: Python reads exactly these f64s.
    let mut f = String::from("id,x,y,weight,imd_decile\n");
    for (i, d) in demand.iter().enumerate() {
        f += &format!("{i},{},{},{},{}\n", d.pos[0], d.pos[1], d.weight, d.decile);
    }
    std::fs::write(dir.path().join("demand.csv"), f).unwrap();
    let mut f = String::from("id,x,y\n");
    for (j, c) in candidates.iter().enumerate() {
        f += &format!("{j},{},{}\n", c[0], c[1]);
    }
    std::fs::write(dir.path().join("candidates.csv"), f).unwrap();
    let k = 30;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-clients/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/setup`",
        python.display()
    );
    let out = std::process::Command::new(python)
        .arg(root.join("tests/clients/spopt_mclp.py"))
        .arg(dir.path())
        .arg(k.to_string())
        .arg("800")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "spopt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spopt: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(spopt["status"], "Optimal", "{spopt}");
    let cbc = spopt["covered_weight"].as_f64().unwrap();
    let p = Problem::new(demand, candidates, vec![], 800.0, 800.0);
    let exact = p.exact(Model::Mclp, k).unwrap();
    assert_eq!(exact.chosen.len(), k);
    assert!(
        close(exact.objective, cbc),
        "exact {} vs spopt+CBC {cbc}",
        exact.objective
    );
    let h = p.heuristic(Model::Mclp, k);
    assert!(
        h.objective >= 0.99 * cbc,
        "heuristic {} vs optimum {cbc}",
        h.objective
    );
    assert!(h.objective <= cbc * (1.0 + 1e-9));
    let bound = h.bound.unwrap();
    assert!(
        bound >= cbc * (1.0 - 1e-9),
        "bound {bound} under the optimum {cbc}"
    );
    println!(
        "West Yorkshire, k = {k}: optimum {cbc:.0} (spopt+CBC and exact agree); heuristic {:.0} ({:.3}% below), bound {bound:.0}",
        h.objective,
        100.0 * (cbc - h.objective) / cbc
    );
}
