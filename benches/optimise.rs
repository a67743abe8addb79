//! Location-allocation benchmark: time of the heuristic (lazy greedy + 1-swap) and of the exact
//! MILP, and their objectives. Run: `cargo bench --bench optimise` (prints objectives and gaps
//! before the timings).
//!
//! Instances: Rochdale (134 LSOAs as demand, its 107 real vacant shops as candidates);
//! Greater Manchester (1,673 LSOAs, the same candidates); and a SYNTHETIC national instance
//! (all 32,844 English LSOAs as demand, 100,000 synthetic candidates at jittered LSOA centroids).

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use sitefinder::analysis::optimise::{demand_for, Model, Problem, Weighting};
use sitefinder::ingest::units::{read_units, ImportOptions};
use sitefinder::reference::atlas::Atlas;

fn data() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/data"))
}

fn instances(atlas: &Atlas) -> Vec<(&'static str, Problem, usize)> {
    let units = read_units(
        &data().join("units/rochdale_vacant_shops.csv"),
        atlas,
        &ImportOptions::default(),
    )
    .unwrap()
    .units;
    let cands: Vec<[f64; 2]> = units.iter().map(|u| u.pos).collect();
    let vacc: Vec<[f64; 2]> = atlas
        .vaccination_sites
        .sites
        .iter()
        .map(|s| s.pos)
        .collect();
    let w = Weighting::default();
    let rochdale: Vec<usize> = (0..atlas.lsoas.len())
        .filter(|&i| atlas.lsoas[i].lad_code == "E08000005")
        .collect();
    let gm: Vec<usize> = (0..atlas.lsoas.len())
        .filter(|&i| atlas.lsoas[i].boundary == "bgc")
        .collect();
    let all: Vec<usize> = (0..atlas.lsoas.len()).collect();
    // SYNTHETIC candidates: pseudo-random LSOA centroids, jittered by up to 300 m.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let synthetic: Vec<[f64; 2]> = (0..100_000)
        .map(|_| {
            let c = atlas.lsoas[(rnd() % all.len() as u64) as usize].centroid;
            [
                c[0] + (rnd() % 600) as f64 - 300.0,
                c[1] + (rnd() % 600) as f64 - 300.0,
            ]
        })
        .collect();
    vec![
        (
            "rochdale_mclp_k5",
            Problem::new(
                demand_for(atlas, &rochdale, &w),
                cands.clone(),
                vacc.clone(),
                800.0,
                5000.0,
            ),
            5,
        ),
        (
            "rochdale_pmedian_k5",
            Problem::new(
                demand_for(atlas, &rochdale, &w),
                cands.clone(),
                vacc.clone(),
                800.0,
                5000.0,
            ),
            5,
        ),
        (
            "gm_mclp_k10",
            Problem::new(
                demand_for(atlas, &gm, &w),
                cands,
                vacc.clone(),
                800.0,
                5000.0,
            ),
            10,
        ),
        (
            "england_synthetic_100k_mclp_k50",
            Problem::new(demand_for(atlas, &all, &w), synthetic, vacc, 1000.0, 1000.0),
            50,
        ),
    ]
}

fn model_of(name: &str) -> Model {
    if name.contains("pmedian") {
        Model::PMedian
    } else {
        Model::Mclp
    }
}

fn bench(c: &mut Criterion) {
    let atlas = Atlas::load(data()).unwrap();
    let inst = instances(&atlas);
    for (name, p, k) in &inst {
        let model = model_of(name);
        let t = Instant::now();
        let h = p.heuristic(model, *k);
        let th = t.elapsed();
        let t = Instant::now();
        let e = p.exact(model, *k);
        let te = t.elapsed();
        match e {
            Ok(e) => println!(
                "{name}: heuristic objective {:.1} in {th:?}; exact {:.1} in {te:?}; gap {:.3}%",
                h.objective,
                e.objective,
                100.0 * (h.objective - e.objective).abs() / e.objective.abs().max(1e-9)
            ),
            Err(err) => println!(
                "{name}: heuristic objective {:.1} in {th:?}; exact: {err}",
                h.objective
            ),
        }
    }
    let mut g = c.benchmark_group("optimise");
    g.sample_size(10);
    for (name, p, k) in &inst {
        let model = model_of(name);
        g.bench_function(format!("heuristic_{name}"), |b| {
            b.iter(|| black_box(p.heuristic(model, *k)))
        });
        if p.candidates.len() <= 200 {
            g.bench_function(format!("exact_{name}"), |b| {
                b.iter(|| black_box(p.exact(model, *k).unwrap()))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
