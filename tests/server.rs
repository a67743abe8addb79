//! The HTTP API, built in-process and driven with `tower::ServiceExt::oneshot` for every route
//! and error path, plus one test against a real server on a loopback port.

mod common;

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::Value;
use sitefinder::serve::{app, AppState};
use tower::ServiceExt;

fn state() -> Arc<AppState> {
    static STATE: OnceLock<Arc<AppState>> = OnceLock::new();
    STATE.get_or_init(|| Arc::new(app_state())).clone()
}

fn get(uri: &str) -> (StatusCode, String, Value) {
    send(state(), Request::get(uri).body(Body::empty()).unwrap())
}

fn error(uri: &str, status: StatusCode, param: &str) {
    let (s, _, v) = get(uri);
    assert_eq!(s, status, "{uri}: {v}");
    let m = v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{uri}: no JSON error: {v}"));
    assert!(v["code"].is_string(), "{uri}");
    assert!(m.contains(param), "{uri}: `{m}` should name `{param}`");
}

#[test]
fn health_collections_conformance_and_openapi() {
    let (s, _, v) = get("/health");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["units"], 107);
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["name"] == "imd2025"));
    assert!(v["deprivation"]
        .as_str()
        .unwrap()
        .starts_with("English Indices of Deprivation 2025"));

    let (s, _, v) = get("/collections");
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = v["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "units",
            "lsoa",
            "practices",
            "catchments",
            "stops",
            "vaccination-sites",
            "pharmacies",
            "places"
        ]
    );
    let (s, _, v) = get("/collections/lsoa");
    assert_eq!(s, StatusCode::OK);
    // IoD2025 is on England's 33,755 LSOAs (2021).
    assert_eq!(v["numberOfItems"], 33755);
    assert_eq!(v["title"], "LSOAs with IMD 2025");

    let (_, _, v) = get("/conformance");
    assert!(v["conformsTo"][0]
        .as_str()
        .unwrap()
        .contains("ogcapi-features-1"));
    let (s, _, v) = get("/api");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["openapi"], "3.0.3");
    for p in [
        "/rank",
        "/collections/{id}/items",
        "/collections/{id}/items/{featureId}",
        "/health",
    ] {
        assert!(v["paths"][p].is_object(), "{p} missing from /api");
    }
    let (_, _, v) = get("/attribution");
    assert!(v["attribution"][0]
        .as_str()
        .unwrap()
        .contains("Open Government Licence"));
}

/// Answers are compressed for clients that accept it (a page of LSOA polygons shrinks several
/// times and decodes to the same JSON), and any web page may read them (CORS for GET and HEAD,
/// preflights answered); a write's preflight from another origin gets no CORS headers.
#[test]
fn answers_are_compressed_and_readable_from_other_origins() {
    let uri = "/collections/lsoa/items?limit=1000";
    let fetch = |req: Request<Body>| send_raw(state(), req);
    let (_, plain_h, plain) = fetch(Request::get(uri).body(Body::empty()).unwrap());
    assert!(plain_h.get("content-encoding").is_none());
    let (s, h, gz) = fetch(
        Request::get(uri)
            .header("accept-encoding", "gzip")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-encoding"], "gzip");
    assert!(
        gz.len() * 4 < plain.len(),
        "gzip {} bytes vs {} plain",
        gz.len(),
        plain.len()
    );
    let mut unzipped = vec![];
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(gz.as_slice()),
        &mut unzipped,
    )
    .unwrap();
    // The same page (its `timeStamp`, the time each was made, apart).
    let page = |b: &[u8]| {
        let mut v: Value = serde_json::from_slice(b).unwrap();
        v.as_object_mut().unwrap().remove("timeStamp");
        v
    };
    assert_eq!(page(&unzipped), page(&plain));

    let (_, h, _) = fetch(
        Request::get("/rank?limit=1")
            .header("origin", "https://maps.example.org")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(h["access-control-allow-origin"], "*");
    let (s, h, _) = fetch(
        Request::options("/collections/units/items")
            .header("origin", "https://maps.example.org")
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap(),
    );
    assert!(s.is_success(), "{s}");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("GET"));
    let (_, h, _) = fetch(
        Request::options("/shortlists")
            .header("origin", "https://evil.example.org")
            .header("access-control-request-method", "POST")
            .body(Body::empty())
            .unwrap(),
    );
    assert!(
        !h.get("access-control-allow-methods")
            .is_some_and(|m| m.to_str().unwrap().contains("POST")),
        "{h:?}"
    );

    // With origins configured (`serve --cors-origin`), only those may read.
    let mut only = app_state();
    only.cors_origins = vec!["https://maps.example.org".into()];
    let only = Arc::new(only);
    let origin_answer = |origin: &str| {
        let req = Request::get("/health")
            .header("origin", origin)
            .body(Body::empty())
            .unwrap();
        send_raw(only.clone(), req)
            .1
            .get("access-control-allow-origin")
            .cloned()
    };
    assert_eq!(
        origin_answer("https://maps.example.org").unwrap(),
        "https://maps.example.org"
    );
    assert!(origin_answer("https://other.example.org").is_none());
}

/// `/` is the map for a browser and the OGC API landing page for a program (`f=json` or an
/// `Accept` asking for JSON), with absolute links built from the request's host (a proxy's
/// `X-Forwarded-*` first); a shared link's parameters still open the map.
#[test]
fn the_landing_page_is_json_for_programs_and_the_map_for_browsers() {
    let fetch = |uri: &str, headers: &[(&str, &str)]| {
        let mut req = Request::get(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        send(state(), req.body(Body::empty()).unwrap())
    };
    for (uri, headers) in [
        ("/?f=json", vec![("host", "sitefinder.example:8080")]),
        (
            "/",
            vec![
                ("host", "sitefinder.example:8080"),
                ("accept", "application/json"),
            ],
        ),
        // A program that states no preference (curl, httpx) gets JSON too.
        ("/", vec![("host", "sitefinder.example:8080")]),
        (
            "/",
            vec![("host", "sitefinder.example:8080"), ("accept", "*/*")],
        ),
    ] {
        let (s, ctype, v) = fetch(uri, &headers);
        assert_eq!(s, StatusCode::OK, "{uri}");
        assert!(ctype.starts_with("application/json"), "{uri}: {ctype}");
        let rels: std::collections::HashMap<&str, &Value> = v["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["rel"].as_str().unwrap(), l))
            .collect();
        for rel in [
            "self",
            "alternate",
            "service-desc",
            "service-doc",
            "conformance",
            "data",
        ] {
            let href = rels[rel]["href"].as_str().unwrap();
            assert!(
                href.starts_with("http://sitefinder.example:8080/"),
                "{rel}: {href}"
            );
        }
        assert_eq!(
            rels["service-desc"]["type"],
            "application/vnd.oai.openapi+json;version=3.0"
        );
        assert_eq!(
            rels["data"]["href"],
            "http://sitefinder.example:8080/collections"
        );
    }
    // Behind a proxy.
    let (_, _, v) = fetch(
        "/?f=json",
        &[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "maps.example.org"),
            ("x-forwarded-proto", "https"),
        ],
    );
    assert_eq!(v["links"][0]["href"], "https://maps.example.org/?f=json");
    // A browser, and a shared link, get the map.
    for (uri, accept) in [
        (
            "/",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        (
            "/?lat=53.6&lon=-2.15&z=14&weights=deprivation:3",
            "text/html",
        ),
        ("/?f=html", "application/json"),
    ] {
        let (s, ctype, _) = fetch(uri, &[("accept", accept)]);
        assert_eq!(s, StatusCode::OK, "{uri}");
        assert!(ctype.starts_with("text/html"), "{uri}: {ctype}");
    }
    error("/?f=xml", StatusCode::BAD_REQUEST, "f");
}

/// `/attribution` is a page for a browser (`Accept: text/html`, or `f=html`) naming every
/// source and the edition, and JSON otherwise; an unknown `f` is a 400 naming it.
#[test]
fn attribution_is_a_page_for_people_and_json_for_programs() {
    let req = Request::get("/attribution")
        .header("accept", "text/html,application/xhtml+xml")
        .body(Body::empty())
        .unwrap();
    let (_, headers, body) = send_raw(state(), req);
    let ctype = headers["content-type"].to_str().unwrap();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("Data sources and attribution"), "{page}");
    assert!(
        page.contains("English Indices of Deprivation 2025"),
        "{page}"
    );
    for l in &state().engine.atlas.manifest.layers {
        assert!(
            page.contains(&l.source.replace('&', "&amp;")),
            "no {} on the page",
            l.name
        );
    }
    // File names only, never where the server keeps them.
    assert!(page.contains("rochdale_vacant_shops.csv"));
    assert!(
        !page.contains(env!("CARGO_MANIFEST_DIR")),
        "a server path leaked"
    );
    let (s, ctype, v) = get("/attribution?f=json");
    assert_eq!(s, StatusCode::OK);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert!(v["layers"].is_array());
    error("/attribution?f=xml", StatusCode::BAD_REQUEST, "f");
    error(
        "/attribution?format=html",
        StatusCode::BAD_REQUEST,
        "format",
    );
}

/// The help page served with the map gives each scale as the code has it, so the words on the
/// map cannot drift from the scoring.
#[test]
fn the_help_page_states_the_scales_the_scores_use() {
    let help = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/app/help.html"),
    )
    .unwrap();
    let sc = sitefinder::analysis::criteria::Scales::default();
    let j = sitefinder::analysis::join::JoinParams::default();
    let n = |x: f64| {
        let s = format!("{x:.0}");
        if s.len() > 3 {
            format!("{},{}", &s[..s.len() - 3], &s[s.len() - 3..])
        } else {
            s
        }
    };
    for want in [
        format!("<b>{} residents</b>", n(sc.reach_scale_residents)),
        format!("<b>{}\npatients</b>", n(sc.demand_scale_patients)),
        format!("<b>{} km</b>", sc.gap_scale_m / 1000.0),
        format!("<b>{} stops</b>", sc.access_scale_stops),
        format!("{} m² or less", sc.floor_min_m2),
        format!("{} m² or more", sc.floor_full_m2),
        format!("£{}/m²", sc.rv_per_m2),
        format!("{} months or more", sc.vacancy_full_months),
        format!("<b>{} m</b>", sc.plan_near_m),
        format!("within walking reach ({} m)", j.reach_radius_m),
        format!("within {} m", j.stop_radius_m),
    ] {
        assert!(help.contains(&want), "help.html does not say `{want}`");
    }
    let (s, ctype, _) = get("/help.html");
    assert_eq!(s, StatusCode::OK);
    assert!(ctype.starts_with("text/html"), "{ctype}");
}

#[test]
fn items_with_bbox_limit_offset_and_paging_links() {
    // Rochdale town centre.
    let (s, ctype, v) = get("/collections/lsoa/items?bbox=-2.17,53.61,-2.14,53.625&limit=4");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ctype, "application/geo+json");
    let matched = v["numberMatched"].as_u64().unwrap();
    assert!(matched > 4, "{matched}");
    assert_eq!(v["numberReturned"], 4);
    let rels: Vec<&str> = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(
        rels,
        [
            "self",
            "next",
            "collection",
            "http://www.opengis.net/def/rel/ogc/1.0/queryables"
        ]
    );
    assert!(v["features"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "E01005482"));
    assert_eq!(v["features"][0]["geometry"]["type"], "MultiPolygon");
    // The next page follows on, and has a prev link.
    let next = v["links"][1]["href"].as_str().unwrap().to_string();
    let (_, _, v2) = get(&next);
    assert!(v2["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "prev"));
    assert_ne!(v2["features"][0]["id"], v["features"][0]["id"]);

    // Points: every returned stop is inside the bbox.
    let (_, _, v) = get("/collections/stops/items?bbox=-2.16,53.61,-2.15,53.62&limit=1000");
    let feats = v["features"].as_array().unwrap();
    assert!(!feats.is_empty());
    for f in feats {
        let c = &f["geometry"]["coordinates"];
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!((-2.16..=-2.15).contains(&lon) && (53.61..=53.62).contains(&lat));
    }
    assert_eq!(v["numberMatched"].as_u64().unwrap() as usize, feats.len());

    let (_, _, v) = get("/collections/practices/items?limit=0");
    assert_eq!(v["numberReturned"], 0);
    // ODS September 2025: 6,220 active English practices, 8 of them at a postcode that is not
    // in Code-Point Open 2025 (data/prepare.log).
    assert_eq!(v["numberMatched"], 6212);
}

#[test]
fn single_items_of_every_collection() {
    for (c, id) in [
        ("lsoa", "E01005482"),
        ("practices", "P86005"),
        ("catchments", "P86005"),
        ("units", "rochdale-13937X00510007"),
    ] {
        let (s, ctype, v) = get(&format!("/collections/{c}/items/{id}"));
        assert_eq!(s, StatusCode::OK, "{c}/{id}: {v}");
        assert_eq!(ctype, "application/geo+json");
        assert_eq!(v["id"], id);
        assert_eq!(v["type"], "Feature");
    }
    let (_, _, v) = get("/collections/lsoa/items/E01005482");
    assert_eq!(v["properties"]["imd_decile"], 1);
    let (_, _, v) = get("/collections/practices/items/P86005");
    assert_eq!(v["properties"]["pcn_name"], "ROCHDALE NORTH PCN");
    for (c, n) in [("stops", 1), ("vaccination-sites", 1), ("pharmacies", 1)] {
        let (_, _, v) = get(&format!("/collections/{c}/items?limit={n}"));
        let id = v["features"][0]["id"].as_str().unwrap().to_string();
        let (s, _, _) = get(&format!(
            "/collections/{c}/items/{}",
            id.replace(' ', "%20")
        ));
        assert_eq!(s, StatusCode::OK, "{c}/{id}");
    }
}

#[test]
fn rank_matches_the_cli_ranking_and_filters() {
    let (s, _, v) = get("/rank?limit=200");
    assert_eq!(s, StatusCode::OK);
    // 107 units, less the two Market Hall cafés that cannot hold a clinic.
    assert_eq!(v["numberMatched"], 105);
    assert_eq!(v["left_out_unsuitable"], 2);
    let feats = v["features"].as_array().unwrap();
    assert_eq!(feats.len(), 105);
    for (i, f) in feats.iter().enumerate() {
        assert_eq!(f["properties"]["rank"], i + 1);
        assert_eq!(f["properties"]["breakdown"].as_object().unwrap().len(), 7);
    }
    // The same ranking code as the CLI: run it directly and compare the order.
    let st = state();
    let settings = settings();
    let e = &st.engine;
    let direct = sitefinder::analysis::rank::rank(
        &e.atlas,
        &e.units,
        &e.contexts,
        &Default::default(),
        &Default::default(),
        &settings,
        None,
    )
    .unwrap();
    let ids: Vec<&str> = feats.iter().map(|f| f["id"].as_str().unwrap()).collect();
    let direct_ids: Vec<&str> = direct
        .rows
        .iter()
        .map(|r| e.units[r.unit].id.as_str())
        .collect();
    assert_eq!(ids, direct_ids);

    // Weights change the order.
    let (_, _, w) =
        get("/rank?limit=200&weights=deprivation:0,reach:0,demand:0,gap:1,access:0,suitability:0");
    let wids: Vec<&str> = w["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_ne!(wids, ids);
    assert_eq!(
        w["weights"],
        "deprivation=0,reach=0,demand=0,gap=1,access=0,suitability=0,plan=2"
    );

    // Filters.
    let (_, _, f) = get("/rank?pcn=Rochdale%20North&imd_deciles=1&lad=Rochdale&limit=200");
    for x in f["features"].as_array().unwrap() {
        assert_eq!(x["properties"]["imd_decile"], 1);
        assert!(x["properties"]["catchment_pcns"]
            .as_str()
            .unwrap()
            .contains("ROCHDALE NORTH"));
    }
    let (_, _, b) = get("/rank?bbox=-2.16,53.61,-2.15,53.62&limit=200");
    let n = b["numberMatched"].as_u64().unwrap();
    assert!(n > 0 && n < 107, "{n}");
    let (_, _, m) = get("/rank?min_floor_area_m2=10");
    assert_eq!(m["numberMatched"], 0, "rates lists carry no floor areas");
}

#[test]
fn every_error_path_is_json_and_names_the_parameter() {
    let (nf, bad) = (StatusCode::NOT_FOUND, StatusCode::BAD_REQUEST);
    let cases = [
        ("/collections/nope", nf, "nope"),
        ("/collections/nope/items", nf, "nope"),
        ("/collections/lsoa/items/E99999999", nf, "E99999999"),
        ("/no/such/route", nf, "no such resource"),
        ("/collections/lsoa/items?bbox=1,2,3", bad, "bbox"),
        ("/collections/lsoa/items?bbox=a,b,c,d", bad, "bbox"),
        ("/collections/lsoa/items?bbox=-2,54,-3,53", bad, "bbox"),
        ("/collections/lsoa/items?bbox=-200,53,-2,54", bad, "bbox"),
        ("/collections/lsoa/items?limit=-1", bad, "limit"),
        ("/collections/lsoa/items?offset=x", bad, "offset"),
        ("/collections/lsoa/items?colour=red", bad, "colour"),
        ("/collections/lsoa/items?limit=1&limit=2", bad, "limit"),
        ("/rank?weights=beauty:1", bad, "weights"),
        ("/rank?weights=access:abc", bad, "weights"),
        ("/rank?weights=access:-1", bad, "weights"),
        (
            "/rank?weights=deprivation:0,reach:0,demand:0,gap:0,access:0,suitability:0",
            bad,
            "weights",
        ),
        ("/rank?weights=access", bad, "weights"),
        ("/rank?pcn=Nowhere%20PCN", bad, "pcn"),
        ("/rank?lad=Narnia", bad, "lad"),
        ("/rank?imd_deciles=0", bad, "imd_deciles"),
        ("/rank?imd_deciles=1-11", bad, "imd_deciles"),
        ("/rank?min_floor_area_m2=big", bad, "min_floor_area_m2"),
        ("/rank?min_floor_area_m2=NaN", bad, "min_floor_area_m2"),
        ("/rank?sort_by=score", bad, "sort_by"),
        ("/rank?limit=1e9", bad, "limit"),
        ("/rank?limit=10001", bad, "limit"),
    ];
    for (uri, status, param) in cases {
        error(uri, status, param);
    }
}

#[test]
fn search_answers_postcodes_places_and_units_as_geojson() {
    // A real postcode in any case and spacing: first, at its table position (in WGS84).
    let (s, ctype, v) = get("/search?q=ol16%201ja&limit=5");
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(ctype, "application/geo+json");
    assert_eq!(v["type"], "FeatureCollection");
    let f = &v["features"][0];
    assert_eq!(f["properties"]["kind"], "postcode");
    assert_eq!(f["properties"]["name"], "OL16 1JA");
    assert_eq!(f["properties"]["detail"], "postcode in Rochdale");
    assert_eq!(f["properties"]["match"], "exact");
    let pc = atlas().postcodes().unwrap().lookup("OL16 1JA").unwrap();
    let (lon, lat) = sitefinder::base::crs::bng_to_wgs84(pc.pos[0], pc.pos[1]).unwrap();
    let xy = &f["geometry"]["coordinates"];
    assert_eq!(f["geometry"]["type"], "Point");
    assert!(
        (xy[0].as_f64().unwrap() - lon).abs() < 1e-6
            && (xy[1].as_f64().unwrap() - lat).abs() < 1e-6,
        "{xy}"
    );
    // The unit at that postcode too: a unit of the served list, by its postcode.
    let unit = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["kind"] == "unit")
        .expect("the unit at OL16 1JA");
    assert_eq!(unit["properties"]["id"], "rochdale-10274200060045");
    assert!(unit["properties"]["detail"]
        .as_str()
        .unwrap()
        .starts_with("unit in Rochdale"));
    assert!(unit["properties"]["bbox"].is_null());

    // A ward: its code, its local authority, its box (also the feature's own bbox member).
    let (_, _, v) = get("/search?q=Spotland");
    let f = &v["features"][0];
    assert_eq!(f["id"], "ward:E05014049");
    assert_eq!(f["properties"]["kind"], "ward");
    assert_eq!(f["properties"]["lad_code"], "E08000005");
    assert_eq!(f["properties"]["match"], "prefix");
    let b: Vec<f64> = serde_json::from_value(f["properties"]["bbox"].clone()).unwrap();
    assert_eq!(f["bbox"], f["properties"]["bbox"]);
    let xy = &f["geometry"]["coordinates"];
    let (x, y) = (xy[0].as_f64().unwrap(), xy[1].as_f64().unwrap());
    assert!(
        b[0] <= x && x <= b[2] && b[1] <= y && y <= b[3],
        "label {xy} in {b:?}"
    );
    // Units by name, word by word; the kinds in order.
    let (_, _, v) = get("/search?q=baillie%20street&limit=50");
    let units: Vec<&str> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["kind"] == "unit")
        .map(|f| f["properties"]["id"].as_str().unwrap())
        .collect();
    assert!(
        units.contains(&"rochdale-10274200060045") && units.len() >= 3,
        "{units:?}"
    );
    let (_, _, v) = get("/search?q=roch&limit=50");
    assert_eq!(v["numberReturned"], 50);
    assert_eq!(v["features"][0]["properties"]["name"], "Rochdale");
    assert_eq!(v["features"][0]["properties"]["kind"], "local_authority");
}

#[test]
fn search_errors_are_json_and_name_the_parameter() {
    let bad = StatusCode::BAD_REQUEST;
    let long = format!("/search?q={}", "x".repeat(101));
    for (uri, param) in [
        ("/search", "q"),
        ("/search?q=", "q"),
        ("/search?q=%20%20", "q"),
        (long.as_str(), "q"),
        ("/search?q=roch&limit=0", "limit"),
        ("/search?q=roch&limit=51", "limit"),
        ("/search?q=roch&limit=ten", "limit"),
        ("/search?q=roch&q=bury", "q"),
        ("/search?q=roch&near=here", "near"),
    ] {
        error(uri, bad, param);
    }
    let (_, _, v) = get(&long);
    assert!(
        v["message"].as_str().unwrap().contains("at most 100"),
        "{v}"
    );
    let (s, _, _) = get(&format!("/search?q={}", "x".repeat(100)));
    assert_eq!(s, StatusCode::OK, "100 characters are allowed");
}

#[test]
fn places_are_a_collection_and_the_map_config_says_what_to_draw() {
    let (s, _, v) =
        get("/collections/places/items?bbox=-2.20,53.60,-2.12,53.64&kind=ward&limit=100");
    assert_eq!(s, StatusCode::OK, "{v}");
    let feats = v["features"].as_array().unwrap();
    let ids: Vec<&str> = feats.iter().map(|f| f["id"].as_str().unwrap()).collect();
    for ward in ["E05014036", "E05014042", "E05014049"] {
        assert!(ids.contains(&ward), "{ward} not in {ids:?}");
    }
    assert!(feats.iter().all(|f| f["properties"]["kind"] == "ward"));
    let central = feats.iter().find(|f| f["id"] == "E05014036").unwrap();
    assert_eq!(central["properties"]["name"], "Central Rochdale");
    assert_eq!(central["properties"]["lad_name"], "Rochdale");
    let (_, _, v) = get("/collections/places/items?bbox=-2.5,53.4,-1.9,53.7&kind=local_authority");
    let names: Vec<&str> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Rochdale") && names.contains(&"Oldham"),
        "{names:?}"
    );
    let (_, _, v) = get("/collections/places/items/U64487");
    assert_eq!(v["properties"]["detail"], "PCN in Rochdale, 7 practices");
    // The kind filter applies to any collection with a `kind` property, and to none without.
    let (_, _, v) = get("/collections/units/items?kind=ward");
    assert_eq!(v["numberMatched"], 0);

    let (s, _, v) = get("/map-config");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, serde_json::json!({"base_map": null, "places": true}));

    let (_, _, api) = get("/api");
    let params = api["paths"]["/search"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let p = |n: &str| params.iter().find(|p| p["name"] == n).unwrap().clone();
    assert_eq!(p("q")["schema"]["maxLength"], 100);
    assert_eq!(p("limit")["schema"]["maximum"], 50);
    assert_eq!(p("limit")["schema"]["minimum"], 1);
    assert!(api["paths"]["/map-config"]["get"].is_object());
    let items = api["paths"]["/collections/{id}/items"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(items.iter().any(|p| p["name"] == "kind"));
    assert!(items[0]["schema"]["enum"]
        .as_array()
        .unwrap()
        .contains(&"places".into()));
}

#[test]
fn odd_query_strings_never_panic() {
    for q in [
        "%",
        "%%",
        "&&&",
        "=",
        "bbox",
        "bbox=",
        "weights=%FF%FE",
        "limit=99999999999999999999999",
        "a=1&=2",
        "bbox=nan,nan,nan,nan",
        "bbox=inf,1,2,3",
        "weights=,,,",
        "imd_deciles=,",
    ] {
        for path in [
            "/rank",
            "/collections/lsoa/items",
            "/collections/units/items",
            "/search",
        ] {
            let (s, _, v) = get(&format!("{path}?{q}"));
            assert!(
                s == StatusCode::OK || s == StatusCode::BAD_REQUEST,
                "{path}?{q}: {s}"
            );
            if s == StatusCode::BAD_REQUEST {
                assert!(v["message"].is_string(), "{path}?{q}");
            }
        }
    }
}

#[test]
fn the_map_page_is_served() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = app(state())
            .oneshot(
                Request::get("/")
                    .header("accept", "text/html,*/*;q=0.8")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let html = String::from_utf8_lossy(&body);
        assert!(html.contains("sitefinder") && html.contains("Open Government Licence"));
    });
}

#[test]
fn a_real_server_on_a_loopback_port() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server =
            tokio::spawn(async move { axum::serve(listener, app(state())).await.unwrap() });
        // A plain HTTP/1.1 request over TCP, read to the end.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for (path, want) in [
            ("/health", "200 OK"),
            ("/rank?limit=1", "200 OK"),
            ("/collections/x", "404 Not Found"),
        ] {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.unwrap();
            let text = String::from_utf8_lossy(&buf);
            assert!(
                text.starts_with(&format!("HTTP/1.1 {want}")),
                "{path}: {}",
                &text[..text.len().min(200)]
            );
            if path.starts_with("/rank") {
                assert!(text.contains("\"numberReturned\":1"), "{path}");
            }
        }
        server.abort();
    });
}

fn post(uri: &str, body: &str) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, v) = send(state(), req);
    (status, v)
}

#[test]
fn optimise_chooses_k_sites_and_reports_the_exact_optimum() {
    let (s, v) = post(
        "/optimise",
        r#"{"k": 3, "radius_m": 800, "model": "mclp", "fixed": ["vaccination-sites"], "exact": true}"#,
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    let feats = v["features"].as_array().unwrap();
    assert_eq!(feats.len(), 3);
    let orders: Vec<u64> = feats
        .iter()
        .map(|f| f["properties"]["order"].as_u64().unwrap())
        .collect();
    assert_eq!(orders, [1, 2, 3]);
    assert_eq!(v["exact"]["proven_optimum"], true);
    assert!(v["exact"]["objective"].as_f64().unwrap() >= v["objective"].as_f64().unwrap() - 1e-6);
    assert!(v["equity"][0].as_str().unwrap().starts_with("IMD decile 1"));
    // The same request gives the same answer.
    let (_, v2) = post(
        "/optimise",
        r#"{"k": 3, "radius_m": 800, "model": "mclp", "fixed": ["vaccination-sites"], "exact": true}"#,
    );
    assert_eq!(v["features"], v2["features"]);
    // Defaults: an empty body is MCLP, k = 5.
    let (s, v) = post("/optimise", "");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["features"].as_array().unwrap().len(), 5);
    // A scenario is compared on the same instance: it cannot beat the exact optimum.
    let (s, v) = post(
        "/optimise",
        r#"{"k": 2, "exact": true, "compare": ["rochdale-13937X00510007", "rochdale-15800800010084"]}"#,
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    let c = v["compared"]["objective"].as_f64().unwrap();
    assert!(
        c > 0.0 && c <= v["exact"]["objective"].as_f64().unwrap() + 1e-6,
        "{v}"
    );
    let (s, v) = post("/optimise", r#"{"model": "lscp", "radius_m": 1500}"#);
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(!v["features"].as_array().unwrap().is_empty());
}

/// Rochdale is inside the pharmacy layer: `/optimise` fixes its pharmacies, counts those over
/// the boundary, names no area without data, and names every layer's coverage.
#[test]
fn optimise_reports_what_it_fixed_and_each_layers_coverage() {
    let (s, v) = post(
        "/optimise",
        r#"{"k": 2, "fixed": ["pharmacies", "practices"]}"#,
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    let ph = &v["fixed"][0];
    assert_eq!(ph["layer"], "pharmacies");
    let n = ph["fixed_sites"].as_u64().unwrap();
    assert!(n > 0 && ph["outside_area"].as_u64().unwrap() < n, "{ph}");
    assert_eq!(
        n + v["fixed"][1]["fixed_sites"].as_u64().unwrap(),
        v["fixed_sites"].as_u64().unwrap()
    );
    assert_eq!(ph["no_data"], serde_json::json!([]));
    assert_eq!(ph["with_data"][0]["lad_name"], "Rochdale");
    assert!(
        ph["note"].as_str().unwrap().contains(&format!(
            "{n} pharmacies within 800 m of the demand are fixed"
        )),
        "{ph}"
    );
    assert_eq!(v["fixed"][1]["covers"], "all England");
    assert_eq!(v["coverage"]["pharmacies"], "Greater Manchester");
    assert_eq!(
        v["coverage"]["stops"],
        "Greater Manchester and the West Midlands"
    );
    assert!(v["report"]
        .as_str()
        .unwrap()
        .contains("data coverage: GP practices, vaccination sites: all England;"));
}

/// Kirklees units are outside the pharmacy layer: `/optimise` fixes none and says so.
#[test]
fn optimise_in_kirklees_fixes_no_pharmacies_and_names_the_areas_without_data() {
    let state = Arc::new(AppState::new(engine_with_units(&[
        "kirklees_vacant_shops.csv",
    ])));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let v: Value = rt.block_on(async {
        let resp = app(state)
            .oneshot(
                Request::post("/optimise")
                    .header("content-type", "application/json")
                    .body(Body::from(r#"{"k": 2, "fixed": "pharmacies"}"#))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    });
    assert_eq!(v["fixed_sites"], 0);
    let ph = &v["fixed"][0];
    assert_eq!(ph["fixed_sites"], 0);
    assert_eq!(ph["with_data"], serde_json::json!([]));
    let codes: Vec<&str> = ph["no_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lad_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["E08000032", "E08000034"]);
    assert!(
        ph["note"]
            .as_str()
            .unwrap()
            .contains("no pharmacy data for Bradford (E08000032) and Kirklees (E08000034)"),
        "{ph}"
    );
    assert!(v["features"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["properties"]["id"]
            .as_str()
            .unwrap()
            .starts_with("kirklees-")));
}

#[test]
fn optimise_errors_name_the_field() {
    for (body, field) in [
        (r#"{"model": "nope"}"#, "model"),
        (r#"{"k": 2, "colour": 1}"#, "colour"),
        (r#"{"fixed": ["castles"]}"#, "fixed"),
        (r#"{"radius_m": 5}"#, "radius_m"),
        (r#"{"k": 0}"#, "k"),
        (r#"{"k": "five"}"#, "body"),
        (r#"{"pcn": "Nowhere PCN"}"#, "pcn"),
        (r#"{"weighting": "wealth"}"#, "weighting"),
        (r#"{"compare": ["no-such-unit"]}"#, "compare"),
        ("not json", "body"),
    ] {
        let (s, v) = post("/optimise", body);
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{body}: {v}"
        );
    }
}

/// `POST /optimise` leaves out the Market Hall cafés like `/rank` does, lists them with the
/// reason, and chooses them only with `include_unsuitable` (declared once, so the OpenAPI
/// document lists it too).
#[test]
fn optimise_leaves_out_units_that_cannot_hold_a_clinic_unless_asked() {
    let cafes = ["rochdale-133498000400X5", "rochdale-1334980005007B"];
    let ids = feature_ids;
    let (s, v) = post("/optimise", r#"{"k": 100}"#);
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["candidates"], 105);
    assert_eq!(v["left_out_unsuitable"], 2);
    assert_eq!(v["unsuitable"][0]["id"], cafes[0]);
    assert_eq!(v["unsuitable"][0]["reason"], "unit inside a market hall");
    let chosen = ids(&v);
    assert!(
        cafes.iter().all(|c| !chosen.iter().any(|x| x == c)),
        "{chosen:?}"
    );

    let (s, v) = post("/optimise", r#"{"k": 100, "include_unsuitable": true}"#);
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["candidates"], 107);
    assert_eq!(v["left_out_unsuitable"], 0);
    let chosen = ids(&v);
    assert!(
        cafes.iter().all(|c| chosen.iter().any(|x| x == c)),
        "{chosen:?}"
    );

    let (s, v) = post("/optimise", r#"{"include_unsuitable": "yes"}"#);
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("include_unsuitable"),
        "{v}"
    );

    let (_, _, api) = get("/api");
    let body =
        &api["paths"]["/optimise"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert!(body.to_string().contains("include_unsuitable"), "{body}");
}

/// The map's suggested sites: the ranking's filters in the query string limit the candidates
/// to the units the list shows (here IMD decile 1 inside a box), `format` makes the same
/// answer a download, and a bad filter is named.
#[test]
fn optimise_chooses_among_the_units_passing_the_rankings_filters() {
    let q = "imd_deciles=1&bbox=-2.25,53.55,-2.1,53.66";
    let (s, _, ranked) = get(&format!("/rank?{q}&limit=500"));
    assert_eq!(s, StatusCode::OK);
    let kept = feature_ids(&ranked);
    let (_, _, all) = get("/rank?limit=500");
    assert!(
        kept.len() >= 5 && kept.len() < feature_ids(&all).len(),
        "{}",
        kept.len()
    );
    let (s, v) = post(&format!("/optimise?{q}"), r#"{"k": 5}"#);
    assert_eq!(s, StatusCode::OK, "{v}");
    let chosen = feature_ids(&v);
    assert_eq!(chosen.len(), 5);
    assert!(
        chosen.iter().all(|id| kept.contains(id)),
        "{chosen:?} not all in {kept:?}"
    );
    for f in v["features"].as_array().unwrap() {
        assert_eq!(f["properties"]["imd_decile"], 1, "{f}");
    }
    assert_eq!(v["candidates"].as_u64().unwrap() as usize, kept.len());
    // Without the filters the choice is among every unit, and differs.
    let (_, v_all) = post("/optimise", r#"{"k": 5}"#);
    assert_ne!(feature_ids(&v_all), chosen);

    let req = Request::post(format!("/optimise?{q}&format=xlsx"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"k": 5}"#))
        .unwrap();
    let (s, ctype, body) = send(state(), req);
    assert_eq!(s, StatusCode::OK);
    assert!(ctype.contains("spreadsheetml"), "{ctype}");
    assert!(body.is_null(), "a file, not JSON: {body}");

    // A downloaded set says which filters chose its candidates.
    let (s, v) = post(&format!("/optimise?{q}&format=geojson"), r#"{"k": 5}"#);
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["candidates_among"]["imd_deciles"], "1", "{v}");
    assert_eq!(
        v["candidates_among"]["bbox"], "-2.25,53.55,-2.1,53.66",
        "{v}"
    );
    assert_eq!(feature_ids(&v), chosen);

    let (s, v) = post("/optimise?imd_deciles=11", "");
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("imd_deciles"),
        "{v}"
    );
}

/// `/rank` names the areas each layer covers.
#[test]
fn rank_names_each_layers_coverage() {
    let (s, _, v) = get("/rank?limit=1");
    assert_eq!(s, StatusCode::OK);
    assert_shipped_coverage(&v["coverage"]);
}

/// Every answer carries the security headers (the page holds the write token); `/health`,
/// open to anyone, names the units file without its folders.
#[test]
fn security_headers_and_no_paths_in_health() {
    for (uri, accept) in [
        ("/", "text/html"),
        ("/collections", "application/json"),
        ("/no/such/file.js", "*/*"),
        ("/rank?bad=1", "*/*"),
    ] {
        let (_, h, _) = send_raw(
            state(),
            Request::get(uri)
                .header("accept", accept)
                .body(Body::empty())
                .unwrap(),
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{uri}");
        assert_eq!(h["x-frame-options"], "DENY", "{uri}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{uri}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains(&format!(
                "script-src 'self' '{}';",
                sitefinder::serve::assets::IMPORT_MAP_SHA256
            )) && csp.contains("frame-ancestors 'none'"),
            "{uri}: {csp}"
        );
    }
    let (_, _, v) = get("/health");
    let f = v["units_file"].as_str().unwrap();
    assert!(!f.is_empty() && !f.contains('/'), "{f}");
}

/// Sixteen clients asking at once for a tile no one has asked for get the same bytes from one
/// build (a map opening on a busy server asks for the same dozen tiles many times over); a
/// tile whose client went away is still made and kept.
#[test]
fn a_tile_asked_for_at_once_is_built_once() {
    use std::future::Future;
    use std::sync::atomic::Ordering;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    // A server of its own: the built count starts at nought.
    let state = Arc::new(app_state());
    let bodies = rt.block_on(async {
        let asks = (0..16).map(|_| {
            let app = app(state.clone());
            tokio::spawn(async move {
                let resp = app
                    .oneshot(
                        Request::get("/tiles/units/10/505/330.mvt")
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                resp.into_body().collect().await.unwrap().to_bytes()
            })
        });
        futures_join(asks).await
    });
    assert!(!bodies[0].is_empty(), "Rochdale's units tile has features");
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert_eq!(state.tiles.built.load(Ordering::Relaxed), 1);
    assert!(state.tiles.building.lock().unwrap().is_empty());
    // Another tile is another build; the first again is the cache's.
    rt.block_on(async {
        for uri in ["/tiles/units/10/505/331.mvt", "/tiles/units/10/505/330.mvt"] {
            let resp = app(state.clone())
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        }
    });
    assert_eq!(state.tiles.built.load(Ordering::Relaxed), 2);
    // A client that goes away before its tile is made: the build goes on, the tile is kept,
    // and nothing is left marked as being built.
    let uri = "/tiles/units/12/2021/1322.mvt";
    rt.block_on(async {
        // Asked once, then dropped: the request's first step starts the build and waits. The
        // CPU permits are held meanwhile, so the build cannot be done before the drop.
        let slots = state.cpu_slots().clone();
        let held = slots
            .clone()
            .acquire_many_owned(u32::try_from(slots.available_permits()).unwrap())
            .await
            .unwrap();
        let mut ask =
            Box::pin(app(state.clone()).oneshot(Request::get(uri).body(Body::empty()).unwrap()));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(ask.as_mut().poll(&mut cx).is_pending());
        drop(ask);
        assert_eq!(state.tiles.built.load(Ordering::Relaxed), 2);
        drop(held);
        for _ in 0..600 {
            if state.tiles.built.load(Ordering::Relaxed) == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    assert_eq!(state.tiles.built.load(Ordering::Relaxed), 3);
    for _ in 0..100 {
        if state.tiles.building.lock().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(state.tiles.building.lock().unwrap().is_empty());
    rt.block_on(async {
        let resp = app(state.clone())
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    });
    assert_eq!(
        state.tiles.built.load(Ordering::Relaxed),
        3,
        "kept from the build"
    );
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = vec![];
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

/// A unit item's properties are made when asked for, whole or one at a time: each field made
/// alone is the same as in the whole map, for every unit and every collection.
#[test]
fn one_property_alone_is_the_same_as_in_the_whole_map() {
    let s = state();
    let mut fields = 0;
    for c in &s.collections {
        for i in (0..c.len()).step_by(7) {
            let whole = c.properties(i);
            for (k, v) in whole.iter() {
                assert_eq!(c.property(i, k).as_deref(), Some(v), "{} {i} {k}", c.id);
                fields += 1;
            }
            assert_eq!(c.property(i, "no_such_field"), None);
        }
    }
    assert!(fields > 1_000, "{fields} fields compared");
}

/// A page's features are written straight into its bytes: each the bytes `serde_json` writes
/// of the feature made as a map, for every collection, whole or with a few properties, in
/// WGS84 and British National Grid; and a ranking's rows likewise, in words or not, at their
/// own point or another.
#[test]
fn features_written_straight_are_the_features_made_as_maps() {
    use sitefinder::serve::collections::{feature, write_feature};
    use sitefinder::serve::ogc::Crs;
    let s = state();
    let atlas = &s.engine.atlas;
    let mut compared = 0;
    for c in &s.collections {
        let some: Vec<String> = c.properties(0).keys().take(3).cloned().collect();
        for i in (0..c.len()).step_by(5).take(400) {
            for crs in [Crs::Crs84, Crs::Bng] {
                for keep in [None, Some(&some[..])] {
                    let mut written = vec![];
                    write_feature(&mut written, atlas, c, i, crs, keep).unwrap();
                    let made =
                        serde_json::to_vec(&feature(atlas, c, i, crs, keep).unwrap()).unwrap();
                    assert!(written == made, "{} {i} {crs:?} {keep:?}", c.id);
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 2_000, "{compared}");

    let e = &s.engine;
    let q = sitefinder::engine::RankQuery {
        include_unsuitable: Some(true),
        ..Default::default()
    };
    let ranking = e.rank(&q, None).unwrap();
    let named: Vec<String> = ["rank", "score", "why", "imd_decile", "breakdown"]
        .map(String::from)
        .to_vec();
    let few: Vec<String> = ["name", "score"].map(String::from).to_vec();
    for keep in [None, Some(&named[..]), Some(&few[..])] {
        let made = e.page_features(&ranking, 0, 40, keep).unwrap();
        assert_eq!(made.len(), 40);
        for point in [None, Some([391_000.5, 412_000.25])] {
            let mut written = vec![];
            let points = vec![point; 40];
            let n = e
                .write_page_features(&mut written, &ranking, (0, 40), keep, &points)
                .unwrap();
            assert_eq!(n, 40);
            let mut want = vec![];
            for (k, f) in made.iter().enumerate() {
                let mut f = f.clone();
                if let Some(p) = point {
                    f.geometry = Some(geojson::Geometry::new(geojson::Value::Point(p.to_vec())));
                }
                if k > 0 {
                    want.push(b',');
                }
                serde_json::to_writer(&mut want, &f).unwrap();
            }
            assert!(written == want, "{keep:?} {point:?}");
            let text = String::from_utf8(written).unwrap();
            assert_eq!(text.contains("\"breakdown\""), keep != Some(&few[..]));
        }
    }
}

/// The items of a box are those whose geometry is in it, tested one by one: for units in a
/// WGS84 box read from the server's grid of positions, across the antimeridian, over all
/// England, on no unit, and in British National Grid.
#[test]
fn items_in_a_box_are_those_tested_one_by_one() {
    use sitefinder::serve::collections::Shape;
    use sitefinder::serve::ogc::{Bbox, Crs};
    let s = state();
    let atlas = &s.engine.atlas;
    let units = s.collections.iter().find(|c| c.id == "units").unwrap();
    let mut found = 0;
    for (text, crs) in [
        ("-2.25,53.58,-2.10,53.66", Crs::Crs84),
        ("-6.5,49.8,2.0,55.9", Crs::Crs84),
        ("170,50,-2.15,53.62", Crs::Crs84),
        ("-4.0,50.0,-3.9,50.1", Crs::Crs84),
        ("386000,410000,392000,416000", Crs::Bng),
    ] {
        let b = Bbox::parse("bbox", text, crs).unwrap();
        let got = units.in_bbox(atlas, &b);
        let want: Vec<usize> = (0..units.len())
            .filter(|&i| match &*units.shape(i) {
                Shape::Point(p) => b.has_point_at(*p, units.lonlat(i)),
                _ => unreachable!("units are points"),
            })
            .collect();
        assert_eq!(got, want, "{text}");
        if !text.starts_with("-4.0") {
            assert!(!got.is_empty(), "{text}");
        }
        found += got.len();
    }
    // The box over England holds every unit.
    assert!(found > units.len(), "{found}");
}

/// A panic in a request's CPU work is an error answer naming what the panic said, and the
/// server's threads go on doing the next piece of work.
#[test]
fn a_panic_in_a_requests_work_is_an_error_answer() {
    let s = state();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..4 {
            let e = s
                .cpu(|_| -> usize { panic!("the work broke") })
                .await
                .unwrap_err();
            assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(e.message.contains("the work broke"), "{}", e.message);
        }
        let n = s.cpu(|s| s.engine.units.len()).await.unwrap();
        assert_eq!(n, s.engine.units.len());
    });
}

/// A page written straight into its bytes is a whole GeoJSON FeatureCollection: its members
/// in order, `timeStamp` last, and a weak ETag of the page without it.
#[test]
fn a_page_is_whole_with_its_time_last_and_tagged_without_it() {
    for uri in [
        "/rank?limit=3&bbox=-2.25,53.58,-2.10,53.66",
        "/rank?limit=2&crs=http://www.opengis.net/def/crs/EPSG/0/27700",
        "/collections/units/items?limit=3&bbox=-2.25,53.58,-2.10,53.66",
        "/collections/lsoa/items?limit=2&properties=imd_decile",
    ] {
        let (status, headers, bytes) =
            send_raw(state(), Request::get(uri).body(Body::empty()).unwrap());
        assert_eq!(status, StatusCode::OK, "{uri}");
        let v: serde_json::Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
        let keys: Vec<&str> = v.keys().map(String::as_str).collect();
        assert_eq!(keys.first(), Some(&"type"), "{uri}");
        assert_eq!(keys.last(), Some(&"timeStamp"), "{uri}");
        assert_eq!(v["type"], "FeatureCollection");
        let features = v["features"].as_array().unwrap();
        assert_eq!(v["numberReturned"], features.len(), "{uri}");
        assert!(!features.is_empty(), "{uri}");
        for f in features {
            let fk: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
            assert!(fk.starts_with(&["type"]) && fk.contains(&"geometry") && fk.contains(&"id"));
            let lsoa = uri.contains("lsoa");
            let want = if lsoa { "MultiPolygon" } else { "Point" };
            assert_eq!(f["geometry"]["type"], want, "{uri}");
        }
        // The bytes without the time stamp, as the handler tagged them.
        let text = String::from_utf8(bytes).unwrap();
        let cut = text.rfind(",\"timeStamp\":").unwrap();
        let untimed = format!("{}}}", &text[..cut]);
        let tag = sitefinder::serve::etag::weak_tag_of(untimed.as_bytes());
        assert_eq!(headers.get("etag"), Some(&tag), "{uri}");
    }
}
