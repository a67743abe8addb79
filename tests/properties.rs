//! Property tests of the ranking on real Greater Manchester geography: random units at real
//! LSOA centroids with random attributes, random weights.
//!
//! - the ranking is a permutation of the input, with ranks 1..n;
//! - every score and every normalised criterion value stays in 0..1;
//! - if unit a ranks above unit b and scores at least as high as b on criterion c, raising c's
//!   weight keeps a above b. (This holds among units with data for the same criteria, which all
//!   Greater Manchester units have when their vacancy date is known: the score is a weighted
//!   mean over the criteria with data.)

mod common;

use common::*;
use proptest::prelude::*;
use sitefinder::analysis::criteria::{Criterion, CRITERIA};
use sitefinder::analysis::join::{attach, JoinParams};
use sitefinder::analysis::rank::{rank, Filters, Ranking, Weights};
use sitefinder::base::date::Date;
use sitefinder::ingest::catchment::Huff;
use sitefinder::ingest::units::{Place, Unit};

fn gm_lsoas() -> Vec<usize> {
    let a = atlas();
    (0..a.lsoas.len())
        .filter(|&i| a.lsoas[i].boundary == "bgc")
        .collect()
}

#[derive(Debug, Clone)]
struct Spec {
    lsoa_pick: usize,
    dx: f64,
    dy: f64,
    floor: Option<f64>,
    ground: Option<bool>,
    vacant_days: i32,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0usize..10_000,
        -60.0..60.0f64,
        -60.0..60.0f64,
        prop::option::of(20.0..400.0f64),
        prop::option::of(any::<bool>()),
        0i32..4000,
    )
        .prop_map(|(lsoa_pick, dx, dy, floor, ground, vacant_days)| Spec {
            lsoa_pick,
            dx,
            dy,
            floor,
            ground,
            vacant_days,
        })
}

fn weights() -> impl Strategy<Value = [f64; 7]> {
    prop::array::uniform7(0.0..10.0f64)
        .prop_filter("a positive weight on a criterion with data", |w| {
            w[..6].iter().any(|x| *x > 0.01)
        })
}

fn units(specs: &[Spec]) -> Vec<Unit> {
    let lsoas = gm_lsoas();
    let a = atlas();
    let as_of = Date::from_ymd(2024, 7, 1).unwrap();
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let c = a.lsoas[lsoas[s.lsoa_pick % lsoas.len()]].centroid;
            // Ids out of input order, so the tie-break by id is exercised.
            let id = format!("u{:03}", (i * 37) % 101);
            Unit {
                name: format!("unit {i}").into(),
                floor_area_m2: s.floor,
                ground_floor: s.ground,
                vacant_since: Some(as_of.add_days(-s.vacant_days)),
                ..Unit::bare(&id, [c[0] + s.dx, c[1] + s.dy], Place::Line(i + 2))
            }
        })
        .collect()
}

fn run(units: &[Unit], w: [f64; 7]) -> Ranking {
    let a = atlas();
    let ctx = attach(a, units, &Huff::default(), &JoinParams::default());
    let mut weights = Weights::default();
    for (c, x) in CRITERIA.iter().zip(w) {
        weights.set(*c, x).unwrap();
    }
    rank(
        a,
        units,
        &ctx,
        &weights,
        &Filters::default(),
        &settings(),
        None,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn ranking_is_a_permutation_with_scores_in_0_1(specs in prop::collection::vec(spec(), 1..25), w in weights()) {
        let us = units(&specs);
        let r = run(&us, w);
        let mut seen: Vec<usize> = r.rows.iter().map(|x| x.unit).collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..us.len()).collect::<Vec<_>>());
        for (i, row) in r.rows.iter().enumerate() {
            prop_assert_eq!(row.rank, i + 1);
            prop_assert!((0.0..=1.0).contains(&row.score), "score {}", row.score);
            for v in &row.values {
                if let Some(n) = v.norm {
                    prop_assert!((0.0..=1.0).contains(&n), "{} norm {}", v.criterion, n);
                }
                // Every layer covers Greater Manchester; `plan` needs an overlay, and none is chosen.
                prop_assert_eq!(v.norm.is_some(), v.criterion != Criterion::Plan, "GM units and {}", v.criterion);
            }
        }
        for pair in r.rows.windows(2) {
            prop_assert!(pair[0].score > pair[1].score
                || (pair[0].score == pair[1].score && us[pair[0].unit].id < us[pair[1].unit].id));
        }
    }

    #[test]
    fn raising_a_weight_keeps_a_unit_that_is_at_least_as_good_on_it_ahead(
        specs in prop::collection::vec(spec(), 2..12),
        w in weights(),
        c in 0usize..6,
        factor in 1.5..20.0f64,
    ) {
        let us = units(&specs);
        let before = run(&us, w);
        let mut w2 = w;
        w2[c] = (w[c].max(0.1) * factor).min(100.0);
        let after = run(&us, w2);
        let pos = |r: &Ranking, u: usize| r.rows.iter().position(|x| x.unit == u).unwrap();
        for (i, a) in before.rows.iter().enumerate() {
            for b in &before.rows[i + 1..] {
                let (na, nb) = (a.values[c].norm.unwrap(), b.values[c].norm.unwrap());
                if na >= nb {
                    let (sa, sb) = (&after.rows[pos(&after, a.unit)], &after.rows[pos(&after, b.unit)]);
                    // Equal within float rounding counts as not overtaken.
                    prop_assert!(
                        pos(&after, a.unit) < pos(&after, b.unit) || (sa.score - sb.score).abs() < 1e-12,
                        "{} overtook {} after raising {}: {} vs {}",
                        us[b.unit].id, us[a.unit].id, CRITERIA[c], sa.score, sb.score
                    );
                }
            }
        }
    }
}
