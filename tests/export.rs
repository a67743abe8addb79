//! Exports read back by independent readers: XLSX with calamine, GeoPackage with GDAL's ogrinfo
//! (Debian's gdal-bin, installed by the set-up).

mod common;

use std::process::Command;

use calamine::{open_workbook, Data, Reader, Xlsx};
use common::*;

fn rank_to(out: &std::path::Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args([
            "rank",
            "--as-of",
            "2024-07-01",
            "--weights",
            "deprivation=4",
            "--out",
        ])
        .arg(out)
        .arg("--data")
        .arg(data_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn xlsx_has_sites_with_breakdown_the_query_and_the_sources() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shortlist.xlsx");
    rank_to(&out);
    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    assert_eq!(wb.sheet_names(), ["sites", "query", "sources"]);
    let sites = wb.worksheet_range("sites").unwrap();
    assert_eq!(sites.height(), 108, "header + 107 units");
    let header: Vec<String> = sites
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    for k in [
        "rank",
        "id",
        "score",
        "lsoa11cd",
        "imd_decile",
        "pcn",
        "deprivation_norm",
        "deprivation_why",
        "gap_why",
        "why",
    ] {
        assert!(header.iter().any(|h| h == k), "missing column {k}");
    }
    let col = |k: &str| header.iter().position(|h| h == k).unwrap();
    let first = sites.rows().nth(1).unwrap();
    assert_eq!(first[col("rank")], Data::Float(1.0));
    assert!(matches!(first[col("score")], Data::Float(s) if (0.0..=1.0).contains(&s)));
    assert!(first[col("deprivation_why")]
        .to_string()
        .contains("IMD decile"));
    let query = wb.worksheet_range("query").unwrap();
    let text: Vec<String> = query.rows().map(|r| format!("{}={}", r[0], r[1])).collect();
    assert!(
        text.iter().any(|t| t.starts_with("weights=deprivation=4")),
        "{text:?}"
    );
    let sources = wb.worksheet_range("sources").unwrap();
    let all: String = sources
        .rows()
        .flat_map(|r| r.iter().map(|c| c.to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("Open Government Licence") && all.contains("IMD 2019"));
}

#[test]
fn geopackage_is_read_by_gdal_as_bng_points() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shortlist.gpkg");
    rank_to(&out);
    let o = Command::new("ogrinfo")
        .args(["-al", "-so"])
        .arg(&out)
        .output()
        .expect("ogrinfo runs (install gdal-bin: the README's set-up does)");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        s.contains("Layer name: sites")
            && s.contains("Geometry: Point")
            && s.contains("Feature Count: 107"),
        "{s}"
    );
    assert!(
        s.contains("27700") && s.contains("British National Grid"),
        "{s}"
    );
    for f in [
        "rank: Integer",
        "score: Real",
        "lsoa11cd: String",
        "imd_decile: Integer",
        "deprivation_why: String",
    ] {
        assert!(s.contains(f), "missing field {f}: {s}");
    }
    // The first feature is rank 1, in Rochdale's BNG range.
    let o = Command::new("ogrinfo")
        .args(["-al", "-q", "-where", "rank = 1"])
        .arg(&out)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    let p = s
        .split("POINT (")
        .nth(1)
        .expect("a point")
        .split(')')
        .next()
        .unwrap()
        .to_string();
    let xy: Vec<f64> = p.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert!(
        (380_000.0..400_000.0).contains(&xy[0]) && (400_000.0..420_000.0).contains(&xy[1]),
        "{xy:?}"
    );
}

#[test]
fn a_failed_export_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("missing-dir").join("x.gpkg");
    let o = Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(["rank", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(data_dir())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("x.gpkg"));
    assert!(!out.exists());
    let o = Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(["rank", "--format", "xlsx"])
        .arg("--data")
        .arg(data_dir())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "xlsx to stdout is refused");
}
