//! Shared helpers for the integration tests: the real atlas from `data/`, loaded once per test
//! binary, and small CSV writers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sitefinder::atlas::Atlas;
use sitefinder::catchment::Huff;
use sitefinder::criteria::{Scales, Settings};
use sitefinder::date::Date;
use sitefinder::import::{read_units, ImportOptions, Imported};
use sitefinder::join::{attach, Context, JoinParams};

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

pub fn settings() -> Settings<'static> {
    Settings {
        scales: Scales::default(),
        join: JoinParams::default(),
        as_of: Date::from_ymd(2024, 7, 1).unwrap(),
        catchment_kind: "huff",
        plan: None,
    }
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
pub fn app_state() -> sitefinder::server::AppState {
    let atlas = std::sync::Arc::new(Atlas::load(&data_dir()).unwrap());
    let units = import(&data_dir().join("units/rochdale_vacant_shops.csv")).units;
    sitefinder::server::AppState::new(
        atlas,
        units,
        Box::new(Huff::default()),
        JoinParams::default(),
        Date::from_ymd(2024, 7, 1).unwrap(),
        "rochdale_vacant_shops.csv".into(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("web"),
    )
}
