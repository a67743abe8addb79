//! Real third-party OGC API clients against the real server on a loopback port, on the shipped
//! data: the OGC API - Features Core test suite (ogctests), OWSLib (as a Python notebook uses
//! it) and GDAL's OAPIF driver (as QGIS uses it: `ogrinfo`, `ogr2ogr`). The Python clients live
//! in `.venv-clients`, which `.ci/setup` makes from `tests/clients/requirements.txt`; GDAL is
//! Debian's `gdal-bin`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A server of the shipped data on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    _state: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn start() -> Server {
    let state = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(["serve", "--addr", "127.0.0.1:0", "--state"])
        .arg(state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sitefinder serve");
    // Owned by the guard from here: a panic while waiting still kills it.
    let mut srv = Server {
        child,
        addr: String::new(),
        _state: state,
    };
    let out = srv.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    srv.addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(300))
            .expect("no `serving ... at http://ADDR/` line from sitefinder serve");
        if let Some(rest) = line.split(" at http://").nth(1) {
            if line.contains("serving") {
                break rest.split('/').next().unwrap().to_string();
            }
        }
    };
    srv
}

/// GET over plain HTTP/1.0: the body as JSON.
fn get_json(srv: &Server, path: &str) -> Value {
    let addr = &srv.addr;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n"
    )
    .unwrap();
    let mut raw = vec![];
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    serde_json::from_slice(&raw[split + 4..]).unwrap_or_else(|e| panic!("{path}: not JSON ({e})"))
}

fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-clients/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `bash .ci/setup` (it makes the Python environment of the OGC API clients)",
        p.display()
    );
    p
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Runs a client to its end, or kills it after 15 minutes: whether it succeeded, its stdout and
/// its stderr. GDAL gives up on a request after 2 minutes.
fn run(cmd: &mut Command) -> (bool, String, String) {
    let mut child = cmd
        .env("GDAL_HTTP_TIMEOUT", "120")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = vec![];
            let _ = r.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + Duration::from_secs(900);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} ran for 15 minutes: killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status.success(), out.join().unwrap(), err.join().unwrap())
}

/// The OGC API - Features Core test suite: every test passes, none skipped, no warnings.
#[test]
fn the_ogc_core_test_suite_passes() {
    let srv = start();
    let (ok, out, err) = run(Command::new(python())
        .arg(script("ogctests_core.py"))
        .arg(srv.url())
        .current_dir(std::env::temp_dir()));
    assert!(ok, "ogctests Core failed:\n{out}\n{err}");
    let summary = out.lines().last().unwrap_or("");
    assert!(
        summary.contains("29 passed")
            && !summary.contains("skipped")
            && !summary.contains("warning")
            && !summary.contains("error"),
        "{out}"
    );
}

/// OWSLib as a notebook uses it: landing page, conformance, collections, items with a bbox
/// paged to the end, a CQL2 filter against filtering by hand, queryables, one feature.
#[test]
fn owslib_reads_the_api() {
    let srv = start();
    let (ok, out, err) = run(Command::new(python())
        .arg(script("owslib_check.py"))
        .arg(srv.url()));
    assert!(ok, "OWSLib check failed:\n{out}\n{err}");
    let found: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(found["units"], 107);
    let decile2 = get_json(
        &srv,
        "/collections/units/items?filter=imd_decile%20%3E%3D%202&limit=1",
    );
    assert_eq!(found["units_decile_2_up"], decile2["numberMatched"]);
    let bbox = get_json(
        &srv,
        "/collections/lsoa/items?bbox=-2.17,53.60,-2.13,53.63&limit=1",
    );
    assert_eq!(found["lsoa_in_bbox"], bbox["numberMatched"]);
}

fn ogr(args: &[&str]) -> String {
    let (ok, out, err) = run(Command::new("ogrinfo").args(args));
    assert!(ok, "ogrinfo {args:?}:\n{out}\n{err}");
    out
}

fn feature_count(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .unwrap_or_else(|| panic!("no feature count in {out}"))
        .trim()
        .parse()
        .unwrap()
}

/// GDAL's OAPIF driver, given the URL as people paste it (with its trailing slash): the layer
/// list, feature counts equal to numberMatched, a spatial filter, an attribute filter sent to
/// the server.
#[test]
fn gdal_lists_counts_and_filters_on_the_server() {
    let srv = start();
    let ds = format!("OAPIF:{}/", srv.url());
    let list = ogr(&["-ro", "-q", &ds]);
    for layer in ["units", "lsoa", "practices", "catchments", "places"] {
        assert!(
            list.contains(&format!(": {layer} (")),
            "{layer} not in {list}"
        );
    }
    // Every feature read, counted, against numberMatched (GDAL's own count would be that
    // number as the server gave it).
    for layer in ["units", "practices"] {
        let all = ogr(&["-ro", "-al", "-q", "-oo", "PAGE_SIZE=10000", &ds, layer]);
        let read = all.lines().filter(|l| l.starts_with("OGRFeature(")).count() as u64;
        let m = get_json(&srv, &format!("/collections/{layer}/items?limit=0"));
        assert_eq!(Some(read), m["numberMatched"].as_u64(), "{layer}");
        assert!(read > 100, "{layer}: {read}");
    }
    // GDAL filters the server's bbox answer again by the exact geometry (GEOS): the same count
    // means the server's bbox already meant "meets the shape".
    let n = feature_count(&ogr(&[
        "-ro", "-so", "-spat", "-2.17", "53.60", "-2.13", "53.63", &ds, "lsoa",
    ]));
    let m = get_json(
        &srv,
        "/collections/lsoa/items?bbox=-2.17,53.60,-2.13,53.63&limit=0",
    );
    assert_eq!(Some(n), m["numberMatched"].as_u64());
    // -where goes to the server as a CQL filter.
    let (ok, out, err) = run(Command::new("ogrinfo").args([
        "-ro",
        "-so",
        "--debug",
        "on",
        "-where",
        "imd_decile >= 2 AND name LIKE '%STREET%'",
        &ds,
        "units",
    ]));
    assert!(ok, "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("Fetch(") && l.contains("filter=") && l.contains("imd_decile")),
        "the filter was not sent to the server:\n{err}"
    );
    let m = get_json(
        &srv,
        "/collections/units/items?limit=0&filter=imd_decile%20%3E%3D%202%20AND%20name%20LIKE%20%27%25STREET%25%27",
    );
    assert_eq!(Some(feature_count(&out)), m["numberMatched"].as_u64());
    assert!(m["numberMatched"].as_u64().unwrap() > 0);
}

/// `ogr2ogr` of the whole `lsoa` collection to a GeoPackage: every one of the 33,755 LSOAs
/// exactly once. Units reprojected to British National Grid by GDAL's PROJ agree with the
/// server's own `crs=EPSG:27700` answer to the centimetres both round to.
#[test]
fn gdal_copies_a_whole_collection_and_agrees_on_british_national_grid() {
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("lsoa.gpkg");
    let srv = start();
    let ds = format!("OAPIF:{}/", srv.url());
    let (ok, out, err) = run(Command::new("ogr2ogr").args([
        "-f",
        "GPKG",
        gpkg.to_str().unwrap(),
        &ds,
        "lsoa",
        "-oo",
        "PAGE_SIZE=5000",
    ]));
    assert!(ok, "ogr2ogr:\n{out}\n{err}");
    let counts = ogr(&[
        "-ro",
        "-q",
        "-sql",
        "SELECT COUNT(*) AS n, COUNT(DISTINCT lsoa21cd) AS codes FROM lsoa",
        gpkg.to_str().unwrap(),
    ]);
    let value = |name: &str| {
        counts
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} (")))
            .and_then(|l| l.split(" = ").nth(1))
            .map(|v| v.trim().to_string())
    };
    assert_eq!(value("n").as_deref(), Some("33755"), "{counts}");
    assert_eq!(value("codes").as_deref(), Some("33755"), "{counts}");

    let bng = dir.path().join("units27700.gpkg");
    let (ok, _, err) = run(Command::new("ogr2ogr").args([
        "-t_srs",
        "EPSG:27700",
        "-f",
        "GPKG",
        bng.to_str().unwrap(),
        &ds,
        "units",
        "-oo",
        "PAGE_SIZE=1000",
    ]));
    assert!(ok, "{err}");
    let (ok, csv, err) = run(Command::new("ogr2ogr").args([
        "-f",
        "CSV",
        "/vsistdout/",
        bng.to_str().unwrap(),
        "-lco",
        "GEOMETRY=AS_XY",
        "-select",
        "id",
    ]));
    assert!(ok, "{err}");
    let ours = get_json(
        &srv,
        "/collections/units/items?limit=1000&crs=http%3A%2F%2Fwww.opengis.net%2Fdef%2Fcrs%2FEPSG%2F0%2F27700",
    );
    let mut compared = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (x, y, id) = (
            f[0].parse::<f64>().unwrap(),
            f[1].parse::<f64>().unwrap(),
            f[2],
        );
        let mine = ours["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == id)
            .unwrap_or_else(|| panic!("{id} not served"));
        let c = &mine["geometry"]["coordinates"];
        assert!(
            (c[0].as_f64().unwrap() - x).abs() < 0.2,
            "{id}: {c} vs {x},{y}"
        );
        assert!(
            (c[1].as_f64().unwrap() - y).abs() < 0.2,
            "{id}: {c} vs {x},{y}"
        );
        compared += 1;
    }
    assert_eq!(compared, 107);
}
