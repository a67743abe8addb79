//! What each fuzz target does with its input, shared by the cargo-fuzz binaries
//! (`fuzz/fuzz_targets/`) and the test that replays every kept input in CI
//! (`tests/fuzz_regressions.rs`). Each target states what must hold for any input, beyond not
//! panicking:
//!
//! - `units`: a units file (CSV, GeoJSON or gzip, named as its content suggests) is read or
//!   refused;
//! - `overlay`: a plan upload is read or refused, and every polygon it accepts is valid;
//! - `http_get`: any GET path and query string is answered, never with a 5xx;
//! - `valid`: the validity check and repair of any small polygon finish, a repair is valid,
//!   and a valid shape's repair keeps its area.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sitefinder::engine::{Config, Engine};

pub const TARGETS: &[&str] = &["units", "overlay", "http_get", "valid"];

/// Under the fuzzer, a panic that our code catches (and turns into a refusal) is not a crash:
/// libFuzzer's hook would abort on it, so it is replaced by one that only reports. A panic
/// that escapes still fails the run.
fn caught_panics_are_not_crashes() {
    #[cfg(fuzzing)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let _ = std::panic::take_hook();
            std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
        });
    }
}

/// Runs the target named `target` on `data`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "units" => units(data),
        "overlay" => overlay(data),
        "http_get" => http_get(data),
        "valid" => valid(data),
        other => panic!("no fuzz target `{other}`"),
    }
}

/// The repository's `data/`, from the main crate or from `fuzz/`.
fn data_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("data/manifest.json").is_file() {
        here.join("data")
    } else {
        here.join("../data")
    }
}

/// The server's state over the shipped data (Rochdale's units), made once per process.
fn state() -> &'static Arc<sitefinder::serve::AppState> {
    static STATE: OnceLock<Arc<sitefinder::serve::AppState>> = OnceLock::new();
    STATE.get_or_init(|| {
        let mut cfg = Config::new(&data_dir());
        cfg.as_of = sitefinder::base::date::Date::from_ymd(2024, 7, 1);
        let engine = Engine::open(&cfg).expect("the shipped data opens");
        Arc::new(sitefinder::serve::AppState::new(engine))
    })
}

pub fn units(data: &[u8]) {
    // Named as the content suggests, so real files serve as seeds.
    let name = if data.starts_with(&[0x1f, 0x8b]) {
        "units.csv.gz"
    } else if data.trim_ascii_start().starts_with(b"{") {
        "units.geojson"
    } else {
        "units.csv"
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, data).unwrap();
    for skip_invalid in [false, true] {
        let opts = sitefinder::ingest::units::ImportOptions {
            skip_invalid,
            ..Default::default()
        };
        let _ = sitefinder::ingest::units::read_units(&path, &state().engine.atlas, &opts);
    }
}

pub fn overlay(data: &[u8]) {
    caught_panics_are_not_crashes();
    use sitefinder::ingest::overlay::{parse, UploadLimits, UploadOptions};
    let opts = UploadOptions {
        format: None,
        repair: data.len() % 2 == 0,
        max_bytes: 4 << 20,
        limits: UploadLimits {
            max_features: 1_000,
            max_vertices: 100_000,
            ..Default::default()
        },
    };
    if let Ok(p) = parse(data, &opts) {
        for f in &p.features {
            assert!(
                geo_agrees_valid(&f.shape),
                "accepted a polygon geo calls invalid: {:?}",
                f.shape
            );
        }
    }
}

pub fn http_get(data: &[u8]) {
    use tower::ServiceExt;
    let state = state();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = if text.starts_with('/') {
        text.to_string()
    } else {
        format!("/{text}")
    };
    let Ok(uri) = path.parse::<axum::http::Uri>() else {
        return;
    };
    let Ok(req) = axum::http::Request::get(uri).body(axum::body::Body::empty()) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        sitefinder::serve::app(state.clone())
            .oneshot(req)
            .await
            .unwrap()
            .status()
    });
    assert!(
        !status.is_server_error() || status.as_u16() == 503,
        "GET {path}: {status}"
    );
}

/// Whether `geo`'s own (quadratic) validity check agrees a shape is valid: the independent
/// opinion on what the near-linear check accepts. Shapes too big for it, or that make it panic
/// (it does on some), are not held against the check; neither is a ring of no area, which
/// `geo` lets through and the check refuses.
fn geo_agrees_valid(shape: &geo::MultiPolygon<f64>) -> bool {
    use geo::Validation;
    let vertices: usize = shape
        .0
        .iter()
        .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
        .sum();
    if vertices > 2_000 {
        return true;
    }
    std::panic::catch_unwind(|| shape.is_valid()).unwrap_or(true)
}

pub fn valid(data: &[u8]) {
    caught_panics_are_not_crashes();
    use geo::{Area, Coord, LineString, MultiPolygon, Polygon};
    use sitefinder::base::valid::{check, repair, Budget};
    // Rings of small integer points, split at 0x80; the first ring of each polygon is its
    // outer ring, and 0x81 starts a new polygon.
    let mut polygons: Vec<Vec<Vec<Coord>>> = vec![vec![vec![]]];
    for pair in data.chunks(2).take(2_000) {
        match pair {
            [0x80, ..] => polygons.last_mut().unwrap().push(vec![]),
            [0x81, ..] => polygons.push(vec![vec![]]),
            [x, y] => polygons
                .last_mut()
                .unwrap()
                .last_mut()
                .unwrap()
                .push(Coord {
                    x: f64::from(*x as i8),
                    y: f64::from(*y as i8),
                }),
            _ => {}
        }
    }
    let shape = MultiPolygon::new(
        polygons
            .into_iter()
            .filter(|rings| !rings[0].is_empty())
            .map(|mut rings| {
                let outer = LineString::from(rings.remove(0));
                let holes = rings
                    .into_iter()
                    .filter(|r| !r.is_empty())
                    .map(LineString::from)
                    .collect();
                Polygon::new(outer, holes)
            })
            .collect(),
    );
    let budget = Budget::default();
    let checked = check(&shape, &budget);
    if checked.is_ok() {
        assert!(
            geo_agrees_valid(&shape),
            "valid by check, not by geo: {shape:?}"
        );
    }
    if let Ok(fixed) = repair(&shape, &budget) {
        assert!(
            geo_agrees_valid(&fixed),
            "a repair geo calls invalid: {fixed:?}"
        );
        if checked.is_ok() {
            let (a, b) = (shape.unsigned_area(), fixed.unsigned_area());
            assert!(
                (a - b).abs() <= 1e-6 * a.max(1.0),
                "repairing a valid shape changed its area from {a} to {b}"
            );
        }
    }
}
