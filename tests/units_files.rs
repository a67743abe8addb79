//! Many units files at once, as an ICB analyst brings them: `--units` repeated, a folder or a
//! glob pattern; every unit keeps its source file and council; ids stay unique.

mod common;

use std::path::Path;

use common::*;
use sitefinder::engine::{Config, Engine, RankQuery};

fn open(specs: &[&Path]) -> Result<Engine, String> {
    let mut cfg = Config::new(&data_dir());
    cfg.units = specs.iter().map(|p| p.to_path_buf()).collect();
    Engine::open(&cfg).map_err(|e| e.to_string())
}

fn open_err(specs: &[&Path]) -> String {
    match open(specs) {
        Ok(e) => panic!("expected an error, opened {} units", e.units.len()),
        Err(e) => e,
    }
}

#[test]
fn a_folder_and_a_pattern_read_every_shipped_list_once() {
    let dir = data_dir().join("units");
    let pattern = dir.join("roch*.csv");
    let e = open(&[&dir, &pattern]).unwrap();
    // The nine councils' lists: 1,553 units (data/README.md), Rochdale's not read twice.
    assert_eq!(e.units.len(), 1_553);
    assert_eq!(e.units_files.len(), 9);
    assert!(e.notes.is_empty(), "{:?}", e.notes);
    let rochdale = e
        .units
        .iter()
        .find(|u| u.id.starts_with("rochdale-"))
        .unwrap();
    assert_eq!(&*rochdale.source, "rochdale_vacant_shops.csv");
    assert_eq!(rochdale.council.as_deref(), Some("Rochdale"));
    let councils: std::collections::BTreeSet<&str> = e
        .units
        .iter()
        .filter_map(|u| u.council.as_deref())
        .collect();
    assert_eq!(councils.len(), 9, "{councils:?}");
    // Every output row carries them.
    let r = e.rank(&RankQuery::default(), None).unwrap();
    let rows = e.features(&r, 0, 1).unwrap();
    let p = rows[0].properties.as_ref().unwrap();
    assert!(p["source_file"]
        .as_str()
        .unwrap()
        .ends_with("_vacant_shops.csv"));
    assert!(p["council"].is_string());
}

#[test]
fn ids_two_files_share_are_prefixed_by_their_file_names() {
    let d = tempfile::tempdir().unwrap();
    let src = data_dir().join("units/rochdale_vacant_shops.csv");
    std::fs::copy(&src, d.path().join("north.csv")).unwrap();
    std::fs::copy(&src, d.path().join("south.csv")).unwrap();
    let e = open(&[d.path()]).unwrap();
    assert_eq!(e.units.len(), 214);
    assert!(e
        .units
        .iter()
        .all(|u| u.id.starts_with("north/rochdale-") || u.id.starts_with("south/rochdale-")));
    assert!(e.unit("north/rochdale-10274200060045").is_some());
    assert!(e.unit("south/rochdale-10274200060045").is_some());
    assert!(e.notes[0].starts_with("214 units have ids that more than one units file uses"));
    // A unit only one file has keeps its id.
    std::fs::write(
        d.path().join("extra.csv"),
        "id,postcode\nmy-shop,OL16 1JA\n",
    )
    .unwrap();
    let e = open(&[d.path()]).unwrap();
    assert!(e.unit("my-shop").is_some());
    // Two files of one name in different folders cannot be told apart: a clear error.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(&src, other.path().join("north.csv")).unwrap();
    let err = open_err(&[&d.path().join("north.csv"), &other.path().join("north.csv")]);
    assert!(err.contains("files with the same name"), "{err}");
}

#[test]
fn bad_units_values_name_the_value_and_what_is_wrong() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("notes.txt"), "not units").unwrap();
    let err = open_err(&[d.path()]);
    assert!(
        err.contains("--units") && err.contains("no .csv, .geojson or .json"),
        "{err}"
    );
    let err = open_err(&[&d.path().join("*.csv")]);
    assert!(err.contains("no file matches the pattern"), "{err}");
    let err = open_err(&[&d.path().join("missing.csv")]);
    assert!(err.contains("no such file or folder"), "{err}");
}

#[test]
fn the_command_line_takes_folders_and_patterns_for_rank_and_optimise() {
    let units = data_dir().join("units");
    let pattern = units.join("[ck]*.csv"); // Calderdale and Kirklees
    let o = sitefinder(&["rank", "--units", pattern.to_str().unwrap(), "--limit", "5"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("calderdale_vacant_shops.csv") && err.contains("kirklees_vacant_shops.csv"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines().next().unwrap().contains("council,source_file"),
        "{out}"
    );
    let o = sitefinder(&[
        "optimise",
        "--units",
        units.to_str().unwrap(),
        "--k",
        "2",
        "--lad",
        "Calderdale",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = sitefinder(&["rank", "--units", units.join("*.xlsx").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no file matches"));
}
