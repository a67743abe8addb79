//! Real GP catchments: NHS England's registered patients by practice and LSOA 2021 for
//! Staffordshire and Stoke-on-Trent (October 2025, shipped in `data/registrations/`), read as
//! published, and the default approximation measured against them.
//!
//! The expected row counts were read from the raw file with awk, not from sitefinder.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::*;
use sitefinder::analysis::calibrate::{agreement, calibrate, interior_lsoas};
use sitefinder::ingest::catchment::{CatchmentSource, Decay, Huff, Registrations};
use sitefinder::reference::atlas::Atlas;
use sitefinder::reference::edition::Imd;

fn file() -> PathBuf {
    data_dir().join("registrations/staffordshire_stoke_patients_by_lsoa21_2025-10.csv.gz")
}

fn real() -> &'static Registrations {
    static R: OnceLock<Registrations> = OnceLock::new();
    R.get_or_init(|| Registrations::load(&file(), atlas()).unwrap())
}

#[test]
fn rows_that_are_not_english_lsoas_are_reported_not_dropped() {
    let r = real();
    // 16,864 rows: 16,600 with an English LSOA code, all of active practices.
    assert_eq!(r.used_rows, 16_600);
    let unused: usize = r.unused.values().map(|u| u.rows).sum();
    assert_eq!(r.used_rows + unused, 16_864);
    let report = r.report().join("\n");
    for expected in [
        "130 rows (1048 patients) not used: LSOA_CODE `EMPTY`",
        "86 rows (333 patients) not used: LSOA_CODE `CLOSED`",
        "21 rows (24 patients) not used: Welsh LSOA codes",
        "15 rows (16 patients) not used: Scottish data zone codes",
        "7 rows (7 patients) not used: Northern Irish codes",
        "4 rows (4 patients) not used: LSOA_CODE `L99999999`",
        "1 row (1 patient) not used: LSOA_CODE `M99999999`",
    ] {
        assert!(
            report.contains(expected),
            "missing `{expected}` in:\n{report}"
        );
    }
    // The first CLOSED row is line 2 of the file, as published.
    assert!(
        report.contains("`CLOSED` (not an LSOA) (lines 2, "),
        "{report}"
    );
    assert_eq!(r.notes(), r.report());
}

#[test]
fn with_imd_2019_the_lsoa21_only_codes_are_reported_too() {
    let a2019 = Atlas::load_edition(&data_dir(), Imd::Iod2019).unwrap();
    let r = Registrations::load(&file(), &a2019).unwrap();
    let report = r.report().join("\n");
    assert!(
        report.contains("English LSOA codes that are not LSOA 2011 codes"),
        "{report}"
    );
    assert!(r.used_rows < 16_600, "{}", r.used_rows);
}

#[test]
fn the_tuned_default_matches_real_registrations_better_than_before() {
    let a = atlas();
    let r = real();
    let all = interior_lsoas(a, r);
    // Staffordshire and Stoke-on-Trent have about 700 LSOAs; the rest of the file's 3,299 are
    // elsewhere, where few of the residents register with these practices.
    assert_eq!(all.len(), 671);
    let held: Vec<usize> = all.iter().copied().skip(1).step_by(2).collect();
    let before = agreement(a, &Huff::untuned(), r, &held);
    let after = agreement(a, &Huff::default(), r, &held);
    // The figures documented on `Huff` and in docs/catchments.md.
    assert!((before.jaccard - 0.693).abs() < 0.0005, "{before:?}");
    assert!((after.jaccard - 0.724).abs() < 0.0005, "{after:?}");
    assert!((before.share_r - 0.867).abs() < 0.0005, "{before:?}");
    assert!((after.share_r - 0.889).abs() < 0.0005, "{after:?}");
    assert!(after.jaccard > before.jaccard && after.share_r > before.share_r);
    // A model that ignores distance does far worse: the measure can tell models apart.
    let flat = Huff {
        decay: Decay::Exponential { scale_m: 1e12 },
        ..Huff::default()
    };
    assert!(agreement(a, &flat, r, &held).jaccard < 0.5);
}

#[test]
fn the_default_is_the_best_on_the_documented_grid() {
    let c = calibrate(atlas(), real());
    assert_eq!(c.rows.len(), 3);
    let d = Huff::default();
    assert_eq!(c.best.decay, d.decay);
    assert_eq!(
        (c.best.radius_m, c.best.min_share),
        (d.radius_m, d.min_share)
    );
    assert_eq!(c.edge_lsoas, 3299 - 671);
    assert!(c.report(real()).contains("held out  335 LSOAs"));
}
