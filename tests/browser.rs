//! The web map in real headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `web/node_modules`): a real server on a loopback port serves the page and the API; the script
//! checks that units and LSOA polygons are drawn, that a weight slider changes the ranking, that a
//! unit's breakdown opens, and that a shared link restores the view. It saves a screenshot to
//! `target/e2e/map.png` as a test artifact.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::*;
use sitefinder::server::app;

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

    let state = Arc::new(app_state());
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
    let shot = shots.join("map.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("http://{addr}/"))
        .arg(&shot)
        .env("CHROMIUM", &chromium)
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
    rt.shutdown_background();
}
