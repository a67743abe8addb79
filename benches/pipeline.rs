//! Load + index + join + rank, on the shipped data. Run: `cargo bench --bench pipeline`.
//!
//! Unit sets: Rochdale's 107 real vacant shops; all 1,553 real vacant shops shipped in
//! `data/units/`; and 20,000 SYNTHETIC units (labelled as such) at the centroids of random
//! English LSOAs, for scale.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use sitefinder::analysis::join::{attach, JoinParams};
use sitefinder::base::date::Date;
use sitefinder::engine::{Catchments, Engine, RankQuery};
use sitefinder::ingest::catchment::Huff;
use sitefinder::ingest::units::{read_units, ImportOptions, Place, Unit};
use sitefinder::reference::atlas::Atlas;

fn data() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/data"))
}

fn real_units(atlas: &Atlas, only: Option<&str>) -> Vec<Unit> {
    let mut out = vec![];
    for entry in std::fs::read_dir(data().join("units")).unwrap() {
        let p = entry.unwrap().path();
        if only.is_some_and(|o| !p.to_string_lossy().contains(o)) {
            continue;
        }
        out.extend(
            read_units(&p, atlas, &ImportOptions::default())
                .unwrap()
                .units,
        );
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// SYNTHETIC: units at the centroids of pseudo-randomly chosen English LSOAs.
fn synthetic_units(atlas: &Atlas, n: usize) -> Vec<Unit> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let l = &atlas.lsoas[(x % atlas.lsoas.len() as u64) as usize];
            Unit {
                name: "synthetic unit".into(),
                floor_area_m2: Some(40.0 + (x % 200) as f64),
                ground_floor: Some(x % 3 != 0),
                vacant_since: Date::from_ymd(2020, 1, 1),
                ..Unit::bare(&format!("synthetic-{i:06}"), l.centroid, Place::Line(i + 2))
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.bench_function("load_atlas_and_build_indexes", |b| {
        b.iter(|| black_box(Atlas::load(data()).unwrap()))
    });

    let atlas = Atlas::load(data()).unwrap();
    let rochdale = data().join("units/rochdale_vacant_shops.csv");
    g.bench_function("import_rochdale_107", |b| {
        b.iter(|| black_box(read_units(&rochdale, &atlas, &ImportOptions::default()).unwrap()))
    });
    let atlas = std::sync::Arc::new(atlas);
    for (name, units) in [
        ("rochdale_107", real_units(&atlas, Some("rochdale"))),
        ("all_shipped_1553", real_units(&atlas, None)),
        ("synthetic_20000", synthetic_units(&atlas, 20_000)),
    ] {
        g.bench_function(format!("join_{name}"), |b| {
            b.iter(|| {
                black_box(attach(
                    &atlas,
                    &units,
                    &Huff::default(),
                    &JoinParams::default(),
                ))
            })
        });
        // The peer: the catchment model before it was tuned on real registrations (power law,
        // 5 km; the default now looks 8 km out), to see what the wider radius costs.
        g.bench_function(format!("join_untuned_huff_{name}"), |b| {
            b.iter(|| {
                black_box(attach(
                    &atlas,
                    &units,
                    &Huff::untuned(),
                    &JoinParams::default(),
                ))
            })
        });
        // The same engine the CLI and the server open.
        let engine = Engine::new(
            atlas.clone(),
            units,
            Box::new(Huff::default()),
            Catchments::Huff,
            JoinParams::default(),
            Date::from_ymd(2024, 7, 1).unwrap(),
            vec![],
        );
        let q = RankQuery::default();
        g.bench_function(format!("rank_{name}"), |b| {
            b.iter(|| black_box(engine.rank(&q, None).unwrap()))
        });
        // The peer: what `/rank?limit=20` computed before, every unit's sentences written.
        g.bench_function(format!("rank_page20_all_words_{name}"), |b| {
            b.iter(|| {
                let mut r = engine.rank(&q, None).unwrap();
                let mut rows = std::mem::take(&mut r.rows);
                engine.explain(&r, &mut rows);
                r.rows = rows;
                black_box(engine.features(&r, 0, 20).unwrap())
            })
        });
        // What `GET /rank?limit=20` computes: every score, words for the page only.
        g.bench_function(format!("rank_page20_{name}"), |b| {
            b.iter(|| {
                let r = engine.rank(&q, None).unwrap();
                black_box(engine.features(&r, 0, 20).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
