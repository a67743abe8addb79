//! Shared helpers for the integration tests: the real atlas from `data/`, loaded once per test
//! binary, and small CSV writers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sitefinder::analysis::criteria::Settings;
use sitefinder::analysis::join::{attach, Context, JoinParams};
use sitefinder::base::date::Date;
use sitefinder::ingest::catchment::Huff;
use sitefinder::ingest::units::{read_units, ImportOptions, Imported};
use sitefinder::reference::atlas::Atlas;

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn atlas() -> &'static Atlas {
    static ATLAS: OnceLock<Atlas> = OnceLock::new();
    ATLAS.get_or_init(|| Atlas::load(&data_dir()).expect("data/ loads"))
}

pub fn settings() -> Settings {
    Settings::new(
        JoinParams::default(),
        Date::from_ymd(2024, 7, 1).unwrap(),
        "huff",
    )
}

/// Writes `text` to a file in a fresh temporary directory (kept alive by the returned guard).
pub fn write_temp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

pub fn import(path: &Path) -> Imported {
    read_units(path, atlas(), &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn import_err(path: &Path) -> String {
    match read_units(path, atlas(), &ImportOptions::default()) {
        Ok(i) => panic!(
            "{}: expected an error, imported {} units",
            path.display(),
            i.units.len()
        ),
        Err(e) => e.to_string(),
    }
}

pub fn join(imported: &Imported) -> Vec<Context> {
    attach(
        atlas(),
        &imported.units,
        &Huff::default(),
        &JoinParams::default(),
    )
}

/// The server's state over Rochdale's vacant shops, as `sitefinder serve` builds it.
pub fn app_state() -> sitefinder::serve::AppState {
    sitefinder::serve::AppState::new(engine())
}

/// The engine over Rochdale's vacant shops, as `sitefinder rank` and `serve` open it.
pub fn engine() -> sitefinder::engine::Engine {
    let mut cfg = sitefinder::engine::Config::new(&data_dir());
    cfg.as_of = Some(Date::from_ymd(2024, 7, 1).unwrap());
    sitefinder::engine::Engine::open(&cfg).unwrap_or_else(|e| panic!("{e}"))
}

/// The engine over these units files of `data/units/`, as `sitefinder optimise --units` opens it.
pub fn engine_with_units(files: &[&str]) -> sitefinder::engine::Engine {
    let mut cfg = sitefinder::engine::Config::new(&data_dir());
    cfg.as_of = Some(Date::from_ymd(2024, 7, 1).unwrap());
    cfg.units = files
        .iter()
        .map(|f| data_dir().join("units").join(f))
        .collect();
    sitefinder::engine::Engine::open(&cfg).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the built `sitefinder` with `args` and `--data` pointing at the repository's data.
pub fn sitefinder(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(args)
        .arg("--data")
        .arg(data_dir())
        .output()
        .expect("runs")
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Sends one request to the app over `state`, in-process: the status, the headers and the
/// body's bytes.
pub fn send_raw(
    state: std::sync::Arc<sitefinder::serve::AppState>,
    req: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, axum::http::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = sitefinder::serve::app(state).oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes.to_vec())
    })
}

/// Sends one request to the app over `state`, in-process: the status, the content type and
/// the body as JSON (`Null` if it is not JSON).
pub fn send(
    state: std::sync::Arc<sitefinder::serve::AppState>,
    req: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, String, serde_json::Value) {
    let (status, headers, bytes) = send_raw(state, req);
    let ctype = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, ctype, v)
}

/// The first row of a worksheet (an export's column headers), as text.
pub fn header_row(sheet: &calamine::Range<calamine::Data>) -> Vec<String> {
    sheet
        .rows()
        .next()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default()
}

/// Checks a `coverage` member names where each shipped layer is complete.
pub fn assert_shipped_coverage(c: &serde_json::Value) {
    assert_eq!(c["pharmacies"], "Greater Manchester", "{c}");
    assert_eq!(
        c["stops"], "Greater Manchester and the West Midlands",
        "{c}"
    );
    assert_eq!(c["practices"], "all England", "{c}");
    assert_eq!(c["vaccination-sites"], "all England", "{c}");
}

/// The `id` property of every feature of a GeoJSON FeatureCollection, in order.
pub fn feature_ids(v: &serde_json::Value) -> Vec<String> {
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["id"].as_str().unwrap().to_string())
        .collect()
}
