//! A server ranks from what it computed once ([`sitefinder::analysis::prepared`]): the units
//! indexed by position for `bbox`, and their settled criterion values. Each ranking must be
//! the one the CLI makes without them, row for row and bit for bit, on the real units of the
//! nine councils, for weights, filters, dates and a plan overlay alike.

mod common;

use std::path::Path;
use std::sync::Arc;

use sitefinder::analysis::rank::Ranking;
use sitefinder::engine::{Config, Engine, RankQuery};
use sitefinder::ingest::overlay::{parse, Overlay, UploadOptions};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn engine() -> Engine {
    let data = root().join("data");
    let mut cfg = Config::new(&data);
    let mut files: Vec<_> = std::fs::read_dir(data.join("units"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 9, "{files:?}");
    cfg.units = files;
    Engine::open(&cfg).unwrap()
}

fn plan() -> Arc<Overlay> {
    let bytes = std::fs::read(
        root().join("tests/fixtures/overlays/rochdale_town_centre_SYNTHETIC.geojson"),
    )
    .unwrap();
    let p = parse(&bytes, &UploadOptions::default()).unwrap();
    Arc::new(common::overlay(p, "Rochdale town centre (SYNTHETIC)"))
}

/// Every row's unit, rank, score and values (bits, so that NaN and -0 would show), and what
/// was left out.
fn same(a: &Ranking, b: &Ranking, what: &str) {
    assert_eq!(a.rows.len(), b.rows.len(), "{what}: rows");
    for (x, y) in a.rows.iter().zip(&b.rows) {
        assert_eq!((x.unit, x.rank), (y.unit, y.rank), "{what}");
        assert_eq!(
            x.score.to_bits(),
            y.score.to_bits(),
            "{what}: unit {}",
            x.unit
        );
        for (v, w) in x.values.iter().zip(&y.values) {
            assert_eq!(v.criterion, w.criterion);
            assert_eq!(
                v.raw.map(f64::to_bits),
                w.raw.map(f64::to_bits),
                "{what}: {v:?} {w:?}"
            );
            assert_eq!(
                v.norm.map(f64::to_bits),
                w.norm.map(f64::to_bits),
                "{what}: {v:?} {w:?}"
            );
        }
        for (c, d) in x.contributions.iter().zip(&y.contributions) {
            assert_eq!(c.to_bits(), d.to_bits(), "{what}");
        }
    }
    assert_eq!(a.filtered_out, b.filtered_out, "{what}: left out");
    assert_eq!(a.unsuitable, b.unsuitable, "{what}: unsuitable");
}

#[test]
fn a_prepared_ranking_is_the_ranking_without_preparation() {
    let e = engine();
    assert!(e.units.len() > 1_500, "{}", e.units.len());
    let q = |f: &dyn Fn(&mut RankQuery)| {
        let mut q = RankQuery::default();
        f(&mut q);
        q
    };
    let rochdale = "-2.25,53.58,-2.10,53.66";
    let queries: Vec<(&str, RankQuery, bool)> = vec![
        ("default", RankQuery::default(), false),
        (
            "weights",
            q(&|q| q.weights = Some("deprivation:5,gap:3,access:0".into())),
            false,
        ),
        ("bbox", q(&|q| q.bbox = Some(rochdale.into())), false),
        (
            "bbox over West Yorkshire and deciles",
            q(&|q| {
                q.bbox = Some("-2.1,53.55,-1.25,53.95".into());
                q.imd_deciles = Some("1-3".into());
            }),
            false,
        ),
        (
            "bbox and a local authority outside it",
            q(&|q| {
                q.bbox = Some(rochdale.into());
                q.lad = Some("Kirklees".into());
            }),
            false,
        ),
        (
            "an empty bbox",
            q(&|q| q.bbox = Some("-4.0,50.0,-3.9,50.1".into())),
            false,
        ),
        (
            "a date, floor area, unsuitable and one per site",
            q(&|q| {
                q.as_of = sitefinder::base::date::Date::parse("2024-07-01");
                q.min_floor_area_m2 = Some(50.0);
                q.include_unsuitable = Some(true);
                q.one_per_site = Some(true);
            }),
            false,
        ),
        ("one per site", q(&|q| q.one_per_site = Some(true)), false),
        (
            "a plan overlay",
            q(&|q| {
                q.weights = Some("plan:4".into());
                q.bbox = Some(rochdale.into());
            }),
            true,
        ),
    ];
    let before: Vec<Ranking> = queries
        .iter()
        .map(|(_, q, p)| e.rank(q, p.then(plan)).unwrap())
        .collect();
    // The first k rows of a ranking, without holding it whole, are its first k rows, and the
    // count is its length, before and after preparing.
    let tops = |e: &Engine| {
        for ((what, q, p), b) in queries.iter().zip(&before) {
            for k in [0, 1, 20, 700, 100_000] {
                let (top, n) = e.rank_top(q, p.then(plan), k).unwrap();
                assert_eq!(n, b.rows.len(), "{what}: k = {k}");
                assert_eq!(top.rows.len(), k.min(n), "{what}: k = {k}");
                let mut prefix = b.clone();
                prefix.rows.truncate(k);
                same(&prefix, &top, &format!("{what}: the first {k}"));
            }
        }
    };
    tops(&e);
    let prepared = e.prepare();
    assert_eq!(prepared.len(), e.units.len());
    for ((what, q, p), b) in queries.iter().zip(&before) {
        let after = e.rank(q, p.then(plan)).unwrap();
        same(b, &after, what);
    }
    tops(&e);
    // The cases are not vacuous: the boxes keep some units and leave most out.
    let (in_rochdale, empty) = (&before[2], &before[5]);
    assert!(in_rochdale.rows.len() > 50, "{}", in_rochdale.rows.len());
    assert!(in_rochdale.filtered_out.by("bbox") > 1_000);
    assert!(empty.rows.is_empty());
    assert_eq!(empty.filtered_out.by("bbox"), e.units.len());
    assert_eq!(
        before[4].filtered_out.by("lad"),
        in_rochdale.rows.len() + in_rochdale.unsuitable.len()
    );
    assert!(
        before[queries.len() - 1]
            .rows
            .iter()
            .any(|r| r.values[6].norm == Some(1.0)),
        "plan scored"
    );
    let per_site = queries
        .iter()
        .position(|(what, _, _)| *what == "one per site")
        .unwrap();
    let behind = before[per_site].filtered_out.by("one_per_site");
    assert!(behind > 10, "{behind} left out by one_per_site");
    // Straight through `rank::rank`: a ranking that writes sentences gets them all (prepared
    // values have none), and a box whose minimum passes its maximum keeps nothing either way.
    let words = e.settings(None, None);
    assert!(words.words);
    let weights = sitefinder::analysis::rank::Weights::default();
    let direct = |filters: &sitefinder::analysis::rank::Filters, p| {
        sitefinder::analysis::rank::rank(
            &e.atlas,
            &e.units,
            &e.contexts,
            &weights,
            filters,
            &words,
            p,
        )
        .unwrap()
    };
    let none = sitefinder::analysis::rank::Filters::default();
    let (a, b) = (direct(&none, None), direct(&none, Some(prepared)));
    same(&a, &b, "with words");
    for (x, y) in a.rows.iter().zip(&b.rows) {
        for (v, w) in x.values.iter().zip(&y.values) {
            assert!(!w.why.is_empty());
            assert_eq!(v.why, w.why);
        }
    }
    let reversed = sitefinder::analysis::rank::Filters {
        bbox: Some([-2.10, 53.66, -2.25, 53.58]),
        ..Default::default()
    };
    let (a, b) = (direct(&reversed, None), direct(&reversed, Some(prepared)));
    assert!(a.rows.is_empty() && b.rows.is_empty());
    same(&a, &b, "a reversed box");
    // An explained page reads the same sentences either way (sentences are written afterwards).
    let page = e
        .features(&e.rank(&queries[2].1, None).unwrap(), 0, 5)
        .unwrap();
    let page_before = {
        let fresh = engine();
        fresh
            .features(&fresh.rank(&queries[2].1, None).unwrap(), 0, 5)
            .unwrap()
    };
    assert_eq!(
        serde_json::to_value(&page).unwrap(),
        serde_json::to_value(&page_before).unwrap()
    );
}
