//! Replays through the fuzz targets' own code (`fuzz/targets.rs`) every input kept from
//! fuzzing (`fuzz/regressions/<target>/`: what once crashed or hung stays fixed), and, as
//! seeds, the catalogue's bad files and paths. Fuzzing itself is run by hand (README,
//! Development).

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => vec![],
    };
    v.sort();
    v
}

#[test]
fn every_kept_fuzz_input_runs_clean() {
    let mut kept = 0;
    for t in targets::TARGETS {
        for f in files(&root().join("fuzz/regressions").join(t)) {
            eprintln!("{t}: {}", f.display());
            targets::run(t, &std::fs::read(&f).unwrap());
            kept += 1;
        }
    }
    eprintln!("{kept} kept inputs replayed");
}

#[test]
fn the_catalogue_runs_clean_through_the_fuzz_targets() {
    let cat = root().join("tests/catalogue/files");
    let units = files(&cat.join("units"));
    assert!(units.len() > 20);
    for f in &units {
        targets::units(&std::fs::read(f).unwrap());
    }
    let overlays = files(&cat.join("overlays"));
    assert!(overlays.len() > 10);
    for f in &overlays {
        targets::overlay(&std::fs::read(f).unwrap());
    }
    targets::overlay(
        &std::fs::read(
            root().join("tests/fixtures/overlays/rochdale_town_centre_SYNTHETIC.geojson"),
        )
        .unwrap(),
    );
    let cases = std::fs::read_to_string(root().join("tests/catalogue/cases.toml")).unwrap();
    let mut paths = 0;
    for line in cases.lines() {
        if let Some(p) = line.strip_prefix("path = \"") {
            targets::http_get(p.trim_end_matches('"').as_bytes());
            paths += 1;
        }
    }
    assert!(paths > 20, "{paths}");
    // A bow tie, a square with a hole, two squares sharing an edge, a spike.
    for shape in [
        &[0u8, 0, 10, 10, 10, 0, 0, 10, 0, 0][..],
        &[
            0, 0, 20, 0, 20, 20, 0, 20, 0, 0, 0x80, 0, 5, 5, 6, 5, 6, 6, 5, 5, 5,
        ][..],
        &[
            0, 0, 4, 0, 4, 4, 0, 4, 0, 0, 0x81, 0, 4, 0, 8, 0, 8, 4, 4, 4, 4, 0,
        ][..],
        &[0, 0, 4, 0, 6, 0, 4, 0, 4, 4, 0, 4, 0, 0][..],
    ] {
        targets::valid(shape);
    }
}
