//! The web map in real headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `web/node_modules`): a real server on a loopback port serves the page and the API; the script
//! checks that units and LSOA polygons are drawn, that a weight slider changes the ranking, that a
//! unit's breakdown opens, and that a shared link restores the view; then it uploads a council
//! plan overlay (refused without the token, drawn once the token is given, named in the
//! breakdown), builds a shortlist with a note and downloads it as Excel, which this test reads
//! back; and makes a shortlist of the top 5 places, whose stored "made from" query this test
//! reads back from the state database (`one_per_site=true`, five units of five sites). It saves a screenshot to `target/e2e/map.png` as a test artifact.
//!
//! A second script (`web/e2e/places.e2e.mjs`) checks orientation without internet: a real
//! postcode typed into the search box centres the map on its position in the postcode table,
//! ward names are drawn in Rochdale and take no clicks, a unit and a PCN can be found, the search
//! box works on a phone, and the base map the server was started with is credited on the map.
//! Its screenshots are `target/e2e/places-*.png`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use sitefinder::serve::{app, AppState};

/// The repository root and the Chromium to drive, after checking the set-up is there.
fn browser() -> (&'static Path, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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
    (root, chromium)
}

/// Serves the app over `state` on a free loopback port, on its own runtime (kept alive by the
/// returned value).
fn serve(state: Arc<AppState>) -> (tokio::runtime::Runtime, SocketAddr) {
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
    (rt, addr)
}

/// The folder the screenshots go to (created).
fn shots(root: &Path) -> PathBuf {
    let shots = root.join("target/e2e");
    std::fs::create_dir_all(&shots).unwrap();
    shots
}

/// Runs a browser script with `args` and `env`, and returns its log after checking it passed.
fn run_script(
    script: &Path,
    chromium: &str,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &std::ffi::OsStr)],
) -> String {
    let out = Command::new("node")
        .arg(script)
        .args(args)
        .env("CHROMIUM", chromium)
        .envs(env.iter().copied())
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
    log
}

#[test]
fn the_map_works_in_headless_chromium() {
    let (root, chromium) = browser();
    let script = root.join("web/e2e/map.e2e.mjs");

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
    let (rt, addr) = serve(state.clone());

    let shots = shots(root);
    let shot = shots.join("map.png");
    let _ = std::fs::remove_file(&shot);
    let xlsx = shots.join("shortlist.xlsx");
    let _ = std::fs::remove_file(&xlsx);
    let pdf = shots.join("shortlist.pdf");
    let _ = std::fs::remove_file(&pdf);
    let plan = root.join("tests/fixtures/overlays/rochdale_town_centre_SYNTHETIC.geojson");
    run_script(
        &script,
        &chromium,
        &[format!("http://{addr}/").as_ref(), shot.as_ref()],
        &[
            ("E2E_TOKEN", token.as_ref()),
            ("E2E_PLAN", plan.as_ref()),
            ("E2E_XLSX", xlsx.as_ref()),
            ("E2E_PDF", pdf.as_ref()),
        ],
    );
    // The PDF site report the map downloaded, read back by poppler's pdftotext: the
    // shortlist's name, its first site's note and the attribution.
    let text = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs (poppler-utils: run .ci/setup)");
    assert!(
        text.status.success(),
        "pdftotext failed on {}",
        pdf.display()
    );
    let text = String::from_utf8_lossy(&text.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "E2E shortlist",
        "Corner unit, ask the agent",
        "Open Government Licence",
    ] {
        assert!(
            text.contains(want),
            "the downloaded PDF report has no `{want}`:\n{text}"
        );
    }
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
    let head = header_row(&sites);
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

#[test]
fn the_map_orients_offline_in_headless_chromium() {
    let (root, chromium) = browser();
    // A real postcode and its position as the shipped table gives it (read from the file here).
    let postcode = "OL12 6RT";
    let (text, _) =
        sitefinder::base::textio::read_text(&data_dir().join("postcodes.csv.gz")).unwrap();
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("OL12 6RT,"))
        .expect("OL12 6RT in data/postcodes.csv.gz")
        .split(',')
        .collect();
    let (lon, lat) =
        sitefinder::base::crs::bng_to_wgs84(row[1].parse().unwrap(), row[2].parse().unwrap())
            .unwrap();
    // A base map the page cannot reach (the test has no internet either): the map must work
    // without its tiles, and credit it.
    let mut state = app_state();
    state.base_map = sitefinder::serve::basemap::BaseMap::from_flags(
        Some("http://127.0.0.1:9/{z}/{x}/{y}.png"),
        Some("Tiles: E2E test provider"),
    )
    .unwrap();
    let (rt, addr) = serve(Arc::new(state));
    let shots = shots(root);
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        if old.file_name().to_string_lossy().starts_with("places-") {
            let _ = std::fs::remove_file(old.path());
        }
    }
    let log = run_script(
        &root.join("web/e2e/places.e2e.mjs"),
        &chromium,
        &[format!("http://{addr}/").as_ref(), shots.as_ref()],
        &[
            ("E2E_POSTCODE", postcode.as_ref()),
            ("E2E_POSTCODE_LAT", lat.to_string().as_ref()),
            ("E2E_POSTCODE_LON", lon.to_string().as_ref()),
            ("E2E_ATTRIBUTION", "Tiles: E2E test provider".as_ref()),
        ],
    );
    assert!(log.contains("centres the map on OL12 6RT"), "{log}");
    for name in [
        "postcode",
        "wards",
        "authorities",
        "results",
        "phone",
        "phone-ward",
    ] {
        let png = std::fs::read(shots.join(format!("places-{name}.png")))
            .unwrap_or_else(|_| panic!("places-{name}.png saved"));
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "places-{name}.png"
        );
    }
    rt.shutdown_background();
}

/// With all of West Yorkshire's vacant units served (1,221, two in three sharing a spot with
/// another), every unit can be reached on the map and in the list: `web/e2e/reach.e2e.mjs`.
#[test]
fn every_west_yorkshire_unit_can_be_reached_on_the_map() {
    let (root, chromium) = browser();
    let engine = engine_with_units(&[
        "bradford_vacant_shops.csv",
        "calderdale_vacant_shops.csv",
        "kirklees_vacant_shops.csv",
        "wakefield_vacant_shops.csv",
    ]);
    assert_eq!(engine.units.len(), 1221);
    let (rt, addr) = serve(Arc::new(AppState::new(engine)));
    let shot = shots(root).join("west-yorkshire.png");
    let log = run_script(
        &root.join("web/e2e/reach.e2e.mjs"),
        &chromium,
        &[format!("http://{addr}/").as_ref(), shot.as_ref()],
        &[],
    );
    assert!(log.contains("ok: every unit is on the map"), "{log}");
    rt.shutdown_background();
}
