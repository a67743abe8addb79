//! The web map in real headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `web/node_modules`): a real server on a loopback port serves the page and the API; the script
//! checks that units and LSOA polygons are drawn, that a weight slider changes the ranking, that a
//! unit's breakdown opens, and that a shared link restores the view; then it uploads a council
//! plan overlay (refused without the token, drawn once the token is given, named in the
//! breakdown), builds a shortlist with a note and downloads it as Excel, which this test reads
//! back; and makes a shortlist of the top 5 places, whose stored "made from" query this test
//! reads back from the state database (`one_per_site=true`, five units of five sites). It saves a screenshot to `target/e2e/map.png` as a test artifact.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::*;
use sitefinder::serve::app;

#[test]
fn the_map_works_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("web/e2e/map.e2e.mjs");
    assert!(
        root.join("web/node_modules/playwright-core").is_dir()
            && root.join("web/node_modules/leaflet").is_dir(),
        "web/node_modules is missing: run `npm ci --prefix web` (the README's set-up does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (the README's set-up does)"
    );

    let state_dir = tempfile::tempdir().unwrap();
    let token = "e2e-token-0123456789";
    let state = Arc::new(
        app_state()
            .with_store(
                sitefinder::store::Store::open(state_dir.path()).unwrap(),
                Some(token.into()),
            )
            .unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let served = state.clone();
    rt.spawn(async move { axum::serve(listener, app(served)).await.unwrap() });

    let shots = root.join("target/e2e");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("map.png");
    let _ = std::fs::remove_file(&shot);
    let xlsx = shots.join("shortlist.xlsx");
    let _ = std::fs::remove_file(&xlsx);
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("http://{addr}/"))
        .arg(&shot)
        .env("CHROMIUM", &chromium)
        .env("E2E_TOKEN", token)
        .env(
            "E2E_PLAN",
            root.join("tests/fixtures/overlays/rochdale_town_centre_SYNTHETIC.geojson"),
        )
        .env("E2E_XLSX", &xlsx)
        .output()
        .expect("node runs (install Node.js)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{log}");
    assert!(out.status.success(), "browser checks failed:\n{log}");
    assert!(!log.contains("FAILED"), "{log}");
    let png = std::fs::read(&shot).expect("screenshot saved");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot is a real PNG"
    );
    // The downloaded workbook, read back: the two shortlisted units with the note and the
    // plan criterion naming the overlay.
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).expect("shortlist.xlsx saved");
    let sites = wb.worksheet_range("sites").unwrap();
    assert_eq!(sites.height(), 3, "a header and two sites");
    let head: Vec<String> = sites
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let col = |name: &str| {
        head.iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column `{name}` in {head:?}"))
    };
    let cells: Vec<String> = sites
        .rows()
        .skip(1)
        .map(|r| r[col("Council plan: why")].to_string())
        .collect();
    assert!(
        cells
            .iter()
            .all(|w| w.contains("plan overlay \"Town centre plan\"")),
        "{cells:?}"
    );
    let notes: Vec<String> = sites
        .rows()
        .skip(1)
        .map(|r| r[col("Note")].to_string())
        .collect();
    assert!(
        notes.contains(&"Corner unit, ask the agent".to_string()),
        "{notes:?}"
    );
    // The top-5 shortlist the map made: its query as stored, with one_per_site.
    let top = state
        .store()
        .unwrap()
        .shortlist("E2E top five")
        .expect("the map made the top-5 shortlist");
    let made: Vec<(String, String)> = serde_urlencoded::from_str(&top.query).unwrap();
    let made = |k: &str| {
        made.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(made("one_per_site"), Some("true"), "{}", top.query);
    assert_eq!(made("top"), Some("5"), "{}", top.query);
    assert_eq!(made("catchments"), Some("huff"), "{}", top.query);
    assert!(made("weights").is_some(), "{}", top.query);
    assert_eq!(top.sites.len(), 5);
    let sites: std::collections::HashSet<&str> = top
        .sites
        .iter()
        .map(|s| {
            let i = state.engine.unit(&s.unit_id).unwrap();
            state.engine.units[i].site_id.as_str()
        })
        .collect();
    assert_eq!(sites.len(), 5, "five places, one unit each");
    rt.shutdown_background();
}

/// With all of West Yorkshire's vacant units served (1,221, two in three sharing a spot with
/// another), every unit can be reached on the map and in the list: `web/e2e/reach.e2e.mjs`.
#[test]
fn every_west_yorkshire_unit_can_be_reached_on_the_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let engine = engine_with_units(&[
        "bradford_vacant_shops.csv",
        "calderdale_vacant_shops.csv",
        "kirklees_vacant_shops.csv",
        "wakefield_vacant_shops.csv",
    ]);
    assert_eq!(engine.units.len(), 1221);
    let state = Arc::new(sitefinder::serve::AppState::new(engine));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
    let shots = root.join("target/e2e");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(root.join("web/e2e/reach.e2e.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(shots.join("west-yorkshire.png"))
        .env(
            "CHROMIUM",
            std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        )
        .output()
        .expect("node runs (install Node.js)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{log}");
    assert!(out.status.success(), "browser checks failed:\n{log}");
    assert!(log.contains("ok: every unit is on the map"), "{log}");
    rt.shutdown_background();
}
