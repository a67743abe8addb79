//! Shortlists and plan overlays through the HTTP API, in-process (`oneshot`), with the state
//! database in a temporary directory: writes need the bearer token and change nothing without
//! it; bad uploads leave the stored data byte-for-byte unchanged; an overlay counts in the
//! ranking and its breakdown; a shortlist survives a restart and exports in every format, each
//! read back (XLSX by calamine, GeoPackage by GDAL's ogrinfo).

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sitefinder::serve::{app, AppState};
use sitefinder::store::{Store, DB_FILE};
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789";

fn state_in(dir: &Path, max_upload_bytes: usize) -> Arc<AppState> {
    let mut s = app_state();
    s.max_upload_bytes = max_upload_bytes;
    Arc::new(
        s.with_store(Store::open(dir).unwrap(), Some(TOKEN.into()))
            .unwrap(),
    )
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or("").to_string()
    }
}

fn call(s: &Arc<AppState>, method: Method, uri: &str, token: Option<&str>, body: Vec<u8>) -> Reply {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = app(s.clone())
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    })
}

fn plan_fixture() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/overlays/rochdale_town_centre_SYNTHETIC.geojson"),
    )
    .unwrap()
}

fn db_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(DB_FILE)).unwrap()
}

fn unit_ids(s: &AppState, n: usize) -> Vec<String> {
    s.engine
        .units
        .iter()
        .take(n)
        .map(|u| u.id.to_string())
        .collect()
}

#[test]
fn writes_need_the_token_and_change_nothing_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = state_in(dir.path(), 1 << 20);
    // One overlay and one shortlist, made with the token.
    let r = call(
        &s,
        Method::POST,
        "/overlays?name=Plan",
        Some(TOKEN),
        plan_fixture(),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    let ids = unit_ids(&s, 2);
    let r = call(
        &s,
        Method::POST,
        "/shortlists",
        Some(TOKEN),
        json!({"name": "Town centre", "ids": ids})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    let before_db = db_bytes(dir.path());
    let before_overlays = call(&s, Method::GET, "/overlays", None, vec![]).json();
    let before_list = call(&s, Method::GET, "/shortlists/Town%20centre", None, vec![]).json();

    let more = unit_ids(&s, 3)[2].clone();
    let writes: Vec<(Method, String, Vec<u8>)> = vec![
        (Method::POST, "/overlays?name=Other".into(), plan_fixture()),
        (Method::DELETE, "/overlays/1".into(), vec![]),
        (
            Method::POST,
            "/shortlists".into(),
            json!({"name": "New", "ids": [more]})
                .to_string()
                .into_bytes(),
        ),
        (Method::DELETE, "/shortlists/Town%20centre".into(), vec![]),
        (
            Method::POST,
            "/shortlists/Town%20centre/sites".into(),
            json!({"ids": [more]}).to_string().into_bytes(),
        ),
        (
            Method::PUT,
            format!("/shortlists/Town%20centre/sites/{}", ids[0]),
            json!({"note": "x"}).to_string().into_bytes(),
        ),
        (
            Method::DELETE,
            format!("/shortlists/Town%20centre/sites/{}", ids[0]),
            vec![],
        ),
    ];
    for (m, uri, body) in writes {
        let none = call(&s, m.clone(), &uri, None, body.clone());
        assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{m} {uri}");
        assert_eq!(none.json()["code"], "unauthorized");
        assert!(
            none.message().contains("Authorization: Bearer"),
            "{}",
            none.message()
        );
        let wrong = call(&s, m.clone(), &uri, Some("not-the-token"), body);
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{m} {uri}");
        assert_eq!(wrong.json()["code"], "forbidden");
    }
    assert_eq!(
        db_bytes(dir.path()),
        before_db,
        "the database is byte-for-byte unchanged"
    );
    assert_eq!(
        call(&s, Method::GET, "/overlays", None, vec![]).json(),
        before_overlays
    );
    assert_eq!(
        call(&s, Method::GET, "/shortlists/Town%20centre", None, vec![]).json(),
        before_list
    );

    // A server started without a token takes no writes at all.
    let mut open = app_state();
    open.max_upload_bytes = 1 << 20;
    let open = Arc::new(
        open.with_store(Store::open(dir.path()).unwrap(), None)
            .unwrap(),
    );
    let r = call(&open, Method::DELETE, "/overlays/1", Some(TOKEN), vec![]);
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (StatusCode::FORBIDDEN, json!("writes_disabled"))
    );
    assert_eq!(db_bytes(dir.path()), before_db);
}

#[test]
fn bad_uploads_are_refused_and_leave_the_store_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = state_in(dir.path(), 4096);
    let r = call(
        &s,
        Method::POST,
        "/overlays?name=Plan&filename=plan.geojson",
        Some(TOKEN),
        plan_fixture(),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    let before_db = db_bytes(dir.path());
    let before = call(&s, Method::GET, "/overlays", None, vec![]).json();
    assert_eq!(before["overlays"].as_array().unwrap().len(), 1);

    let bowtie = br#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Bow tie"},"geometry":{"type":"Polygon","coordinates":[[[-2.160,53.616],[-2.153,53.620],[-2.153,53.616],[-2.160,53.620],[-2.160,53.616]]]}}]}"#.to_vec();
    let bng = br#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[389000,413000],[389500,413000],[389500,413500],[389000,413000]]]}}]}"#.to_vec();
    let mut zip = plan_zip_without_prj();
    let truncated = zip[..zip.len() / 2].to_vec();
    let big = vec![b' '; 5000];
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "/overlays?name=Wrong%20CRS",
            bng,
            StatusCode::BAD_REQUEST,
            "not longitude/latitude",
        ),
        (
            "/overlays?name=Bow",
            bowtie.clone(),
            StatusCode::BAD_REQUEST,
            "feature 0 (\"Bow tie\")",
        ),
        (
            "/overlays?name=Empty",
            br#"{"type":"FeatureCollection","features":[]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "no features",
        ),
        (
            "/overlays?name=Truncated",
            truncated,
            StatusCode::BAD_REQUEST,
            "not a complete zip archive",
        ),
        (
            "/overlays?name=NoPrj",
            std::mem::take(&mut zip),
            StatusCode::BAD_REQUEST,
            "has no .prj",
        ),
        (
            "/overlays?name=Big",
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "over the limit of 4096 bytes",
        ),
        (
            "/overlays?name=Plan",
            plan_fixture(),
            StatusCode::CONFLICT,
            "exists already",
        ),
        ("/overlays", plan_fixture(), StatusCode::BAD_REQUEST, "name"),
        (
            "/overlays?name=X&format=kml",
            plan_fixture(),
            StatusCode::BAD_REQUEST,
            "format",
        ),
    ];
    for (uri, body, status, needle) in cases {
        let r = call(&s, Method::POST, uri, Some(TOKEN), body);
        assert_eq!(r.status, status, "{uri}: {}", r.message());
        assert!(r.message().contains(needle), "{uri}: {}", r.message());
        assert_eq!(
            db_bytes(dir.path()),
            before_db,
            "{uri} changed the database"
        );
        assert_eq!(
            call(&s, Method::GET, "/overlays", None, vec![]).json(),
            before,
            "{uri}"
        );
    }

    // With repair=true the bow tie is stored, repaired, and reported.
    let r = call(
        &s,
        Method::POST,
        "/overlays?name=Bow&repair=true",
        Some(TOKEN),
        bowtie,
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    assert_eq!(r.json()["repaired"], json!([0]));

    // Delete works with the token, and a second delete is a 404.
    let r = call(&s, Method::DELETE, "/overlays/2", Some(TOKEN), vec![]);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        call(&s, Method::DELETE, "/overlays/2", Some(TOKEN), vec![]).status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&s, Method::GET, "/overlays", None, vec![]).json()["overlays"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The SYNTHETIC Rochdale plan as a zipped Shapefile without its .prj, written by GDAL.
fn plan_zip_without_prj() -> Vec<u8> {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("plan.geojson");
    std::fs::write(&src, plan_fixture()).unwrap();
    let out = std::process::Command::new("ogr2ogr")
        .args(["-f", "ESRI Shapefile", "-t_srs", "EPSG:27700"])
        .arg(dir.path().join("plan.shp"))
        .arg(&src)
        .output()
        .expect("ogr2ogr runs (gdal-bin; the set-up installs it)");
    assert!(out.status.success());
    let mut buf = std::io::Cursor::new(vec![]);
    let mut z = zip::ZipWriter::new(&mut buf);
    for ext in ["shp", "shx", "dbf"] {
        z.start_file(
            format!("plan.{ext}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(&std::fs::read(dir.path().join(format!("plan.{ext}"))).unwrap())
            .unwrap();
    }
    z.finish().unwrap();
    buf.into_inner()
}

/// Even-odd point-in-polygon on BNG rings, independent of `geo`.
fn inside(p: [f64; 2], ring: &[geo::Coord<f64>]) -> bool {
    let mut c = false;
    for i in 0..ring.len() {
        let (a, b) = (ring[i], ring[(i + ring.len() - 1) % ring.len()]);
        if (a.y > p[1]) != (b.y > p[1]) && p[0] < (b.x - a.x) * (p[1] - a.y) / (b.y - a.y) + a.x {
            c = !c;
        }
    }
    c
}

#[test]
fn an_overlay_counts_in_ranking_and_its_breakdown() {
    let dir = tempfile::tempdir().unwrap();
    let s = state_in(dir.path(), 1 << 20);
    let r = call(
        &s,
        Method::POST,
        "/overlays?name=Town%20plan",
        Some(TOKEN),
        plan_fixture(),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    let o = s.overlays.read().unwrap()[0].clone();

    // Which units are inside, by an independent even-odd test on the stored rings.
    let inside_ids: Vec<&str> = s
        .engine
        .units
        .iter()
        .filter(|u| {
            u.unsuitable.is_none()
                && o.features
                    .iter()
                    .any(|f| f.shape.0.iter().any(|p| inside(u.pos, &p.exterior().0)))
        })
        .map(|u| u.id.as_str())
        .collect();
    assert!(
        inside_ids.len() >= 10,
        "the plan covers Rochdale's and Heywood's centres: {}",
        inside_ids.len()
    );

    let r = call(
        &s,
        Method::GET,
        "/rank?overlay=Town%20plan&plan_within_m=0&limit=500",
        None,
        vec![],
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let v = r.json();
    let mut got: Vec<&str> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    got.sort_unstable();
    let mut want = inside_ids.clone();
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(v["plan_overlay"], "Town plan");
    for f in v["features"].as_array().unwrap() {
        let b = &f["properties"]["breakdown"]["plan"];
        assert_eq!(b["norm"], 1.0);
        let why = b["why"].as_str().unwrap();
        assert!(
            why.starts_with("inside \"")
                && why.contains("SYNTHETIC plan area")
                && why.contains("of plan overlay \"Town plan\""),
            "{why}"
        );
        assert!(
            why.contains("(feature 0)") || why.contains("(feature 1)"),
            "{why}"
        );
    }

    // Within 300 m keeps more, each no further than 300 m, and the score falls with distance.
    let near = call(
        &s,
        Method::GET,
        "/rank?overlay=1&plan_within_m=300&limit=500",
        None,
        vec![],
    )
    .json();
    let n = near["features"].as_array().unwrap();
    assert!(n.len() > inside_ids.len());
    for f in n {
        let b = &f["properties"]["breakdown"]["plan"];
        let d = b["raw"].as_f64().unwrap();
        assert!(d <= 300.0);
        assert!(
            (b["norm"].as_f64().unwrap() - (1.0 - d / 400.0)).abs() < 1e-3,
            "{b}"
        );
    }

    // As a criterion: with all the weight on the plan, the units inside rank first.
    let w = call(&s, Method::GET, "/rank?overlay=1&weights=deprivation:0,reach:0,demand:0,gap:0,access:0,suitability:0,plan:1&limit=500", None, vec![]).json();
    let ranked: Vec<&str> = w["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let can_hold_a_clinic = s.engine.units.iter().filter(|u| u.unsuitable.is_none());
    assert_eq!(ranked.len(), can_hold_a_clinic.count());
    let mut top: Vec<&str> = ranked[..want.len()].to_vec();
    top.sort_unstable();
    assert_eq!(top, want);

    // Errors name the parameter.
    let r = call(&s, Method::GET, "/rank?overlay=99", None, vec![]);
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.message().starts_with("overlay: no overlay `99`"),
        "{}",
        r.message()
    );
    let r = call(&s, Method::GET, "/rank?plan_within_m=100", None, vec![]);
    assert!(r.message().starts_with("plan_within_m:"), "{}", r.message());
    let r = call(
        &s,
        Method::GET,
        "/rank?overlay=1&plan_within_m=-5",
        None,
        vec![],
    );
    assert!(r.message().starts_with("plan_within_m:"), "{}", r.message());

    // The overlay as GeoJSON for the map: WGS84 multipolygons with labels.
    let g = call(&s, Method::GET, "/overlays/1", None, vec![]).json();
    assert_eq!(g["features"].as_array().unwrap().len(), 2);
    assert_eq!(g["features"][0]["geometry"]["type"], "MultiPolygon");
    let x = g["features"][0]["geometry"]["coordinates"][0][0][0][0]
        .as_f64()
        .unwrap();
    assert!((x + 2.16).abs() < 1e-5, "{x}");
}

#[test]
fn shortlists_survive_a_restart_and_export_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let s = state_in(dir.path(), 1 << 20);
    let ids = unit_ids(&s, 4);
    let r = call(&s, Method::POST, "/shortlists", Some(TOKEN),
        json!({"name": "Estates £ shortlist", "ids": ids[..2], "weights": "deprivation=5", "note": "first look"}).to_string().into_bytes());
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    let created = r.json()["created"].as_str().unwrap().to_string();
    // Unknown ids are refused, naming them, and nothing is added.
    let r = call(
        &s,
        Method::POST,
        "/shortlists/Estates%20%C2%A3%20shortlist/sites",
        Some(TOKEN),
        json!({"ids": [ids[2].clone(), "no-such-unit"]})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.message().contains("no-such-unit") && r.message().contains("nothing was changed"),
        "{}",
        r.message()
    );
    let r = call(
        &s,
        Method::POST,
        "/shortlists/Estates%20%C2%A3%20shortlist/sites",
        Some(TOKEN),
        json!({"ids": [ids[2].clone(), ids[3].clone()]})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    std::thread::sleep(std::time::Duration::from_millis(5));
    let r = call(
        &s,
        Method::PUT,
        &format!("/shortlists/Estates%20%C2%A3%20shortlist/sites/{}", ids[3]),
        Some(TOKEN),
        json!({"note": "Café frontage, step-free — ask the agent"})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let r = call(
        &s,
        Method::DELETE,
        &format!("/shortlists/Estates%20%C2%A3%20shortlist/sites/{}", ids[0]),
        Some(TOKEN),
        vec![],
    );
    assert_eq!(r.status, StatusCode::OK);
    drop(s);

    // A new server on the same directory: everything is still there.
    let s = state_in(dir.path(), 1 << 20);
    let v = call(
        &s,
        Method::GET,
        "/shortlists/Estates%20%C2%A3%20shortlist",
        None,
        vec![],
    )
    .json();
    assert_eq!(v["created"], created.as_str());
    assert!(v["updated"].as_str().unwrap() > created.as_str(), "{v}");
    assert_eq!(
        v["weights"],
        "deprivation=5,reach=2,demand=2,gap=2,access=1,suitability=1,plan=2"
    );
    let sites: Vec<&str> = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        sites,
        vec![ids[1].as_str(), ids[2].as_str(), ids[3].as_str()]
    );
    assert_eq!(
        v["sites"][2]["note"],
        "Café frontage, step-free — ask the agent"
    );
    assert_eq!(v["sites"][0]["note"], "first look");
    let listed = call(&s, Method::GET, "/shortlists", None, vec![]).json();
    assert_eq!(listed["shortlists"][0]["sites"], 3);

    let base = "/shortlists/Estates%20%C2%A3%20shortlist/export";
    // CSV: BOM, then a header with one column per criterion and the notes.
    let r = call(&s, Method::GET, &format!("{base}?format=csv"), None, vec![]);
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".csv"));
    assert!(r.body.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM for Excel");
    let mut rdr = csv::Reader::from_reader(&r.body[3..]);
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    for c in sitefinder::analysis::criteria::CRITERIA {
        assert!(header.contains(&format!("{}_norm", c.name())), "{c}");
    }
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let note_col = header.iter().position(|h| h == "note").unwrap();
    let id_col = header.iter().position(|h| h == "id").unwrap();
    let row3 = rows.iter().find(|r| r[id_col] == ids[3]).unwrap();
    assert_eq!(&row3[note_col], "Café frontage, step-free — ask the agent");
    let ranks: Vec<&str> = rows.iter().map(|r| &r[0]).collect::<Vec<_>>();
    assert_eq!(ranks, vec!["1", "2", "3"]);

    // XLSX: sites with the breakdown and notes, the query, the sources and attribution.
    let r = call(
        &s,
        Method::GET,
        &format!("{base}?format=xlsx"),
        None,
        vec![],
    );
    assert_eq!(r.status, StatusCode::OK);
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(r.body.clone())).unwrap();
    assert_eq!(wb.sheet_names(), vec!["sites", "query", "sources"]);
    let sites = wb.worksheet_range("sites").unwrap();
    assert_eq!(sites.height(), 4);
    let head = header_row(&sites);
    assert!(
        head.contains(&"Note".to_string()) && head.contains(&"Council plan: why".to_string()),
        "{head:?}"
    );
    let q = wb.worksheet_range("query").unwrap();
    let qtext: Vec<String> = q.rows().map(|r| format!("{}={}", r[0], r[1])).collect();
    assert!(
        qtext.contains(&"shortlist=Estates £ shortlist".to_string()),
        "{qtext:?}"
    );
    assert!(
        qtext.iter().any(|x| x.starts_with("weights=deprivation=5")),
        "{qtext:?}"
    );
    let src = wb.worksheet_range("sources").unwrap();
    assert!(src
        .rows()
        .any(|r| r[0].to_string().contains("Open Government Licence")));

    // GeoJSON: RFC 7946 points with the notes.
    let r = call(
        &s,
        Method::GET,
        &format!("{base}?format=geojson"),
        None,
        vec![],
    );
    let g: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(g["features"].as_array().unwrap().len(), 3);
    assert_eq!(g["shortlist"], "Estates £ shortlist");
    let lon = g["features"][0]["geometry"]["coordinates"][0]
        .as_f64()
        .unwrap();
    assert!((-2.4..-2.0).contains(&lon));

    // GeoPackage: GDAL reads 3 points in EPSG:27700.
    let r = call(
        &s,
        Method::GET,
        &format!("{base}?format=gpkg"),
        None,
        vec![],
    );
    let f = dir.path().join("out.gpkg");
    std::fs::write(&f, &r.body).unwrap();
    let info = std::process::Command::new("ogrinfo")
        .args(["-so", "-al"])
        .arg(&f)
        .output()
        .expect("ogrinfo (gdal-bin)");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{text}");
    assert!(text.contains("Feature Count: 3"), "{text}");
    assert!(text.contains("27700"), "{text}");

    // Any ranked query downloads too.
    let r = call(
        &s,
        Method::GET,
        "/rank?format=xlsx&imd_deciles=1",
        None,
        vec![],
    );
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.starts_with(b"PK"));
    let r = call(&s, Method::GET, "/rank?format=csv&limit=5", None, vec![]);
    assert!(r.body.starts_with(b"\xEF\xBB\xBF"));
    assert_eq!(csv::Reader::from_reader(&r.body[3..]).records().count(), 5);

    // Deleting the shortlist; a bad format and an unknown name are clear errors.
    assert_eq!(
        call(
            &s,
            Method::GET,
            &format!("{base}?format=docx"),
            None,
            vec![]
        )
        .status,
        StatusCode::BAD_REQUEST
    );
    let r = call(
        &s,
        Method::DELETE,
        "/shortlists/Estates%20%C2%A3%20shortlist",
        Some(TOKEN),
        vec![],
    );
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &s,
        Method::GET,
        "/shortlists/Estates%20%C2%A3%20shortlist",
        None,
        vec![],
    );
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.message().contains("no shortlists yet"), "{}", r.message());
}

/// Overlays are found exactly: an id before a name that looks like one, a name with its case
/// (a name differing only in case is a suggestion in the error, never deleted); shortlist and
/// overlay names are trimmed alike on write and read, and a bad overlay name says "overlay".
#[test]
fn ids_and_names_resolve_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let s = state_in(dir.path(), 1 << 20);
    let add = |name: &str| {
        let r = call(
            &s,
            Method::POST,
            &format!("/overlays?name={name}"),
            Some(TOKEN),
            plan_fixture(),
        );
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
        r.json()["id"].as_i64().unwrap()
    };
    let first = add("Plan%20A");
    let second = add("1");
    assert_eq!(
        first, 1,
        "the name \"1\" must be another overlay's id for this test"
    );
    assert_ne!(first, second);
    // `1` is the first overlay's id, not the overlay named "1".
    let r = call(&s, Method::GET, &format!("/overlays/{first}"), None, vec![]);
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        String::from_utf8_lossy(&r.body).contains("\"Plan A\""),
        "GET /overlays/{first} should be Plan A"
    );
    // A different case is not a match: a 404 that suggests the real name, and nothing deleted.
    let r = call(
        &s,
        Method::DELETE,
        "/overlays/PLAN%20A",
        Some(TOKEN),
        vec![],
    );
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.message());
    assert!(
        r.message().contains("did you mean `Plan A`"),
        "{}",
        r.message()
    );
    let list = call(&s, Method::GET, "/overlays", None, vec![]).json();
    assert_eq!(list["overlays"].as_array().unwrap().len(), 2);
    // Deleting by the exact name deletes that one only.
    let r = call(
        &s,
        Method::DELETE,
        "/overlays/Plan%20A",
        Some(TOKEN),
        vec![],
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let list = call(&s, Method::GET, "/overlays", None, vec![]).json();
    let names: Vec<&str> = list["overlays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["1"]);
    // A bad overlay name is called an overlay name.
    let r = call(
        &s,
        Method::POST,
        &format!("/overlays?name={}", "x".repeat(81)),
        Some(TOKEN),
        plan_fixture(),
    );
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("overlay name"), "{}", r.message());
    // A shortlist made as " Town centre " is found as "Town centre" and as " Town centre ".
    let ids = unit_ids(&s, 1);
    let r = call(
        &s,
        Method::POST,
        "/shortlists",
        Some(TOKEN),
        json!({"name": " Town centre ", "ids": ids})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    for key in ["Town%20centre", "%20Town%20centre%20"] {
        let r = call(&s, Method::GET, &format!("/shortlists/{key}"), None, vec![]);
        assert_eq!(r.status, StatusCode::OK, "{key}: {}", r.message());
    }
}
