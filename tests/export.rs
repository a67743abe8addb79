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
    // The two Market Hall cafés cannot hold a clinic and are left out.
    assert_eq!(sites.height(), 106, "header + 105 units");
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
        "lsoa21cd",
        "imd_decile",
        "nearest_practice_pcn",
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
        .contains("IMD decile 1 (IMD 2025 score"));
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
    assert!(all.contains("Open Government Licence") && all.contains("Indices of Deprivation 2025"));
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
            && s.contains("Feature Count: 105"),
        "{s}"
    );
    assert!(
        s.contains("27700") && s.contains("British National Grid"),
        "{s}"
    );
    for f in [
        "rank: Integer",
        "score: Real",
        "lsoa21cd: String",
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

/// A GeoPackage column's type comes from every row, not the first: a number missing from the
/// first site still makes a numeric column, and a column with no value at all is text.
#[test]
fn geopackage_columns_are_typed_from_every_row() {
    use sitefinder::analysis::rank::{rank, Filters, Weights};
    use sitefinder::export::{write, ExportFormat, Meta};

    let (_dir, csv) = write_temp(
        "units.csv",
        "id,name,address,postcode,lat,lon,rateable_value,description,vacant_since,council\n\
         a,No RV,\"19 BAILLIE STREET, ROCHDALE\",OL16 1JA,53.617995,-2.156424,,SHOP,2018-06-01,Rochdale\n\
         b,With RV,\"2 CHARTER STREET, ROCHDALE\",OL16 4TQ,53.602936,-2.145307,2850,SHOP,2013-04-01,Rochdale\n\
         c,Also RV,\"UNIT 21, THE WHEATSHEAF CENTRE\",OL16 1JY,53.619084,-2.155415,9100,SHOP,2022-08-26,Rochdale\n",
    );
    let imported = import(&csv);
    let contexts = join(&imported);
    let units = &imported.units;
    assert!(units[0].rateable_value.is_none() && units[1].rateable_value.is_some());
    let mut ranking = rank(
        atlas(),
        units,
        &contexts,
        &Weights::default(),
        &Filters::default(),
        &settings(),
    )
    .unwrap();
    // The unit without a rateable value (and without a floor area, like all three) first.
    ranking.rows.sort_by_key(|r| r.unit);
    assert!(units[ranking.rows[0].unit].rateable_value.is_none());

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("typed.gpkg");
    write(
        &out,
        ExportFormat::Gpkg,
        atlas(),
        units,
        &contexts,
        &ranking,
        &Meta::default(),
    )
    .unwrap();
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
    assert!(s.contains("Feature Count: 3"), "{s}");
    assert!(s.contains("rateable_value: Real"), "{s}");
    assert!(!s.contains("rateable_value: String"), "{s}");
    assert!(
        s.contains("rank: Integer") && s.contains("imd_decile: Integer"),
        "{s}"
    );
    assert!(s.contains("floor_area_m2: String"), "no values at all: {s}");

    // The values are numbers, and the first site's is null.
    let o = Command::new("ogrinfo")
        .args([
            "-al",
            "-q",
            "-sql",
            "SELECT id, typeof(rateable_value) AS t, rateable_value FROM sites ORDER BY fid",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let types: Vec<&str> = s
        .lines()
        .filter_map(|l| l.trim().strip_prefix("t (String) = "))
        .collect();
    assert_eq!(types, ["null", "real", "real"], "{s}");
    assert!(
        s.contains("rateable_value (Real) = 2850") && s.contains("rateable_value (Real) = 9100"),
        "{s}"
    );
}
