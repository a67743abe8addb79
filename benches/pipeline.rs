//! Load + index + join + rank, on the shipped data. Run: `cargo bench --bench pipeline`.
//!
//! Unit sets: Rochdale's 107 real vacant shops; all 1,553 real vacant shops shipped in
//! `data/units/`; and 20,000 SYNTHETIC units (labelled as such) at the centroids of random
//! English LSOAs, for scale.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use sitefinder::atlas::Atlas;
use sitefinder::catchment::Huff;
use sitefinder::criteria::{Scales, Settings};
use sitefinder::date::Date;
use sitefinder::import::{read_units, ImportOptions, LocatedBy, Place, Unit};
use sitefinder::join::{attach, JoinParams};
use sitefinder::rank::{rank, Filters, Weights};

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
                id: format!("synthetic-{i:06}"),
                name: "synthetic unit".into(),
                address: String::new(),
                postcode: None,
                pos: l.centroid,
                located_by: LocatedBy::Coordinates,
                postcode_lsoa: None,
                floor_area_m2: Some(40.0 + (x % 200) as f64),
                rateable_value: None,
                ground_floor: Some(x % 3 != 0),
                vacant_since: Date::from_ymd(2020, 1, 1),
                description: None,
                place: Place::Line(i + 2),
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
    let settings = Settings {
        scales: Scales::default(),
        join: JoinParams::default(),
        as_of: Date::from_ymd(2024, 7, 1).unwrap(),
        catchment_kind: "huff",
        plan: None,
    };
    let huff = Huff::default();
    for (name, units) in [
        ("rochdale_107", real_units(&atlas, Some("rochdale"))),
        ("all_shipped_1553", real_units(&atlas, None)),
        ("synthetic_20000", synthetic_units(&atlas, 20_000)),
    ] {
        g.bench_function(format!("join_{name}"), |b| {
            b.iter(|| black_box(attach(&atlas, &units, &huff, &JoinParams::default())))
        });
        let ctx = attach(&atlas, &units, &huff, &JoinParams::default());
        g.bench_function(format!("rank_{name}"), |b| {
            b.iter(|| {
                black_box(
                    rank(
                        &atlas,
                        &units,
                        &ctx,
                        &Weights::default(),
                        &Filters::default(),
                        &settings,
                    )
                    .unwrap(),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
