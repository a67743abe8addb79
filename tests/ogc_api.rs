//! OGC API - Features as the standards define it, in-process on the shipped data (Rochdale's
//! vacant units, IoD2025 LSOAs): Part 2 CRS, Part 3 queryables and CQL2 filters, sortby,
//! properties, bbox and datetime semantics, ETags, JSON errors for every status, tidy paths,
//! absolute links. The third-party clients (the OGC test suite, OWSLib, GDAL) are in
//! `tests/clients.rs`.

mod common;

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use common::*;
use geo::{Intersects, LineString, MultiPolygon, Polygon};
use serde_json::Value;
use sitefinder::serve::AppState;

const BNG: &str = "http://www.opengis.net/def/crs/EPSG/0/27700";
const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

fn state() -> Arc<AppState> {
    static STATE: OnceLock<Arc<AppState>> = OnceLock::new();
    STATE.get_or_init(|| Arc::new(app_state())).clone()
}

fn get_with(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send_raw(state(), req.body(Body::empty()).unwrap())
}

fn get(uri: &str) -> (StatusCode, HeaderMap, Value) {
    let (s, h, b) = get_with(uri, &[]);
    let v = serde_json::from_slice(&b).unwrap_or(Value::Null);
    (s, h, v)
}

fn ok(uri: &str) -> Value {
    let (s, _, v) = get(uri);
    assert_eq!(s, StatusCode::OK, "{uri}: {v}");
    v
}

/// A JSON error with this status whose message starts with (or names) `param`.
fn refused(uri: &str, status: StatusCode, param: &str) -> String {
    let (s, h, v) = get(uri);
    assert_eq!(s, status, "{uri}: {v}");
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{uri}"
    );
    let m = v["message"].as_str().unwrap().to_string();
    assert!(
        v["code"].is_string() && m.starts_with(&format!("{param}:")),
        "{uri}: `{m}` should start with `{param}:`"
    );
    m
}

fn ids(v: &Value) -> Vec<String> {
    feature_ids(v)
}

fn enc(s: &str) -> String {
    sitefinder::serve::respond::urlencode(s)
}

#[test]
fn conformance_declares_crs_and_filtering() {
    let v = ok("/conformance");
    let c: Vec<&str> = v["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for want in [
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    ] {
        assert!(c.contains(&want), "{want}");
    }
    let col = ok("/collections/units");
    assert_eq!(col["storageCrs"], BNG);
    assert_eq!(col["crs"][0], CRS84);
    assert_eq!(col["crs"][1], BNG);
    // Units have a time (the day each became vacant): the collection says over which days.
    let t = &col["extent"]["temporal"]["interval"][0];
    assert_eq!(t[0], "2010-01-26", "{col}");
    assert!(col["extent"]["temporal"]["interval"][0][1]
        .as_str()
        .unwrap()
        .starts_with("2024-"));
}

/// Items in British National Grid on request: a unit's point is its easting and northing as
/// PROJ gives them for its WGS84 point, to the centimetre, and `Content-Crs` says so.
#[test]
fn items_in_british_national_grid() {
    let (s, h, wgs) = get("/collections/units/items?limit=5");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-crs"], format!("<{CRS84}>").as_str());
    let (s, h, bng) = get(&format!(
        "/collections/units/items?limit=5&crs={}",
        enc(BNG)
    ));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-crs"], format!("<{BNG}>").as_str());
    for (a, b) in wgs["features"]
        .as_array()
        .unwrap()
        .iter()
        .zip(bng["features"].as_array().unwrap())
    {
        assert_eq!(a["id"], b["id"]);
        let c = &a["geometry"]["coordinates"];
        let (e, n) =
            sitefinder::base::crs::wgs84_to_bng(c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
                .unwrap();
        let d = &b["geometry"]["coordinates"];
        // WGS84 is given to 6 decimals (about 0.1 m).
        assert!((d[0].as_f64().unwrap() - e).abs() < 0.2, "{a} {b}");
        assert!((d[1].as_f64().unwrap() - n).abs() < 0.2, "{a} {b}");
        // Rochdale: about 389,000 E, 413,000 N.
        assert!((380_000.0..400_000.0).contains(&e) && (405_000.0..420_000.0).contains(&n));
    }
    // One item too; and an LSOA's polygon.
    let id = wgs["features"][0]["id"].as_str().unwrap();
    let (_, h, one) = get(&format!(
        "/collections/units/items/{id}?crs={}",
        enc("[EPSG:27700]")
    ));
    assert_eq!(h["content-crs"], format!("<{BNG}>").as_str());
    assert_eq!(
        one["geometry"]["coordinates"],
        bng["features"][0]["geometry"]["coordinates"]
    );
    let lsoa = ok(&format!(
        "/collections/lsoa/items/E01005482?crs={}",
        enc(BNG)
    ));
    let x = lsoa["geometry"]["coordinates"][0][0][0][0]
        .as_f64()
        .unwrap();
    assert!((380_000.0..400_000.0).contains(&x), "{lsoa}");
    refused(
        "/collections/units/items?crs=http://www.opengis.net/def/crs/EPSG/0/4326",
        StatusCode::BAD_REQUEST,
        "crs",
    );
}

/// `bbox` in BNG (`bbox-crs`) finds what the same area in WGS84 finds; polygons meet the box by
/// their shape, not their bounding box; six numbers are read as a box with heights.
#[test]
fn bbox_by_crs_and_by_shape() {
    let wgs = ok("/collections/units/items?bbox=-2.16,53.61,-2.15,53.62&limit=1000");
    let n = wgs["numberMatched"].as_u64().unwrap();
    assert!(n > 10, "{n}");
    // The same box's corners in BNG make an envelope at least as large: every unit found in
    // WGS84 is found in it.
    let (e0, n0) = sitefinder::base::crs::wgs84_to_bng(-2.16, 53.61).unwrap();
    let (e1, n1) = sitefinder::base::crs::wgs84_to_bng(-2.15, 53.62).unwrap();
    let bng = ok(&format!(
        "/collections/units/items?bbox={},{},{},{}&bbox-crs={}&limit=1000",
        e0 - 50.0,
        n0 - 50.0,
        e1 + 50.0,
        n1 + 50.0,
        enc(BNG)
    ));
    let in_bng = ids(&bng);
    for id in ids(&wgs) {
        assert!(in_bng.contains(&id), "{id}");
    }
    let six = ok("/collections/units/items?bbox=-2.16,53.61,0,-2.15,53.62,100&limit=1000");
    assert_eq!(ids(&six), ids(&wgs));
    // Known answer: the units whose BNG positions (as served) PROJ puts inside the WGS84 box,
    // and those only, and each unit's WGS84 point is PROJ's to the micro-degree.
    let all = ok(&format!(
        "/collections/units/items?limit=10000&crs={}",
        enc(BNG)
    ));
    let wgs_all = ok("/collections/units/items?limit=10000");
    let mut inside = vec![];
    for (f, g) in all["features"]
        .as_array()
        .unwrap()
        .iter()
        .zip(wgs_all["features"].as_array().unwrap())
    {
        assert_eq!(f["id"], g["id"]);
        let xy = f["geometry"]["coordinates"].as_array().unwrap();
        let (lon, lat) =
            sitefinder::base::crs::bng_to_wgs84(xy[0].as_f64().unwrap(), xy[1].as_f64().unwrap())
                .unwrap();
        let ll = g["geometry"]["coordinates"].as_array().unwrap();
        assert!((ll[0].as_f64().unwrap() - lon).abs() < 2e-6, "{}", f["id"]);
        assert!((ll[1].as_f64().unwrap() - lat).abs() < 2e-6, "{}", f["id"]);
        if (-2.16..=-2.15).contains(&lon) && (53.61..=53.62).contains(&lat) {
            inside.push(f["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(ids(&wgs), inside);

    // Every LSOA returned meets the box by its shape.
    let lsoa = ok("/collections/lsoa/items?bbox=-2.16,53.61,-2.15,53.62&limit=1000");
    let bx = Polygon::new(
        LineString::from(vec![
            (-2.16, 53.61),
            (-2.15, 53.61),
            (-2.15, 53.62),
            (-2.16, 53.62),
            (-2.16, 53.61),
        ]),
        vec![],
    );
    let feats = lsoa["features"].as_array().unwrap();
    assert!(feats.len() >= 3);
    for f in feats {
        let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
        let mp: MultiPolygon<f64> = g.try_into().unwrap();
        assert!(mp.intersects(&bx), "{} does not meet the box", f["id"]);
    }
    // A first longitude east of the second crosses the antimeridian: the box is the rest of
    // the world's longitudes, so it and the narrow box share nothing and together hold every
    // unit of the latitude band.
    let rest = ok("/collections/units/items?bbox=-2.15,53.61,-2.16,53.62&limit=1000");
    let band = ok("/collections/units/items?bbox=-180,53.61,180,53.62&limit=1000");
    let mut both = ids(&rest);
    both.extend(ids(&wgs));
    both.sort();
    let mut band = ids(&band);
    band.sort();
    assert_eq!(both, band);
    assert!(!ids(&rest).is_empty());
    refused(
        "/collections/units/items?bbox=1,2,3",
        StatusCode::BAD_REQUEST,
        "bbox",
    );
    refused(
        "/collections/units/items?bbox=-2.16,53.62,-2.15,53.61",
        StatusCode::BAD_REQUEST,
        "bbox",
    );
    refused(
        "/collections/units/items?bbox-crs=EPSG:27700",
        StatusCode::BAD_REQUEST,
        "bbox-crs",
    );
}

/// `datetime` selects units by the day they became vacant; layers without a time ignore it.
#[test]
fn datetime_selects_units_by_vacancy() {
    let all = ok("/collections/units/items?limit=1000");
    let days: Vec<String> = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["properties"]["vacant_since"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want = |lo: &str, hi: &str| {
        days.iter()
            .filter(|d| d.as_str() >= lo && d.as_str() <= hi)
            .count()
    };
    let since = ok("/collections/units/items?datetime=2020-01-01/..&limit=1000");
    assert_eq!(
        since["numberMatched"].as_u64().unwrap() as usize,
        want("2020-01-01", "9999")
    );
    let before = ok("/collections/units/items?datetime=../2015-12-31T23:59:59Z&limit=1000");
    assert_eq!(
        before["numberMatched"].as_u64().unwrap() as usize,
        want("0000", "2015-12-31")
    );
    let one = ok("/collections/units/items?datetime=2010-01-26&limit=1000");
    assert_eq!(
        one["numberMatched"].as_u64().unwrap() as usize,
        want("2010-01-26", "2010-01-26")
    );
    assert!(want("2020-01-01", "9999") > 0 && want("0000", "2015-12-31") > 0);
    // Practices have no time: all of them match.
    let p = ok("/collections/practices/items?limit=1");
    let pt = ok("/collections/practices/items?limit=1&datetime=2020-01-01");
    assert_eq!(p["numberMatched"], pt["numberMatched"]);
    refused(
        "/collections/units/items?datetime=last%20week",
        StatusCode::BAD_REQUEST,
        "datetime",
    );
}

#[test]
fn queryables_are_a_json_schema_with_absolute_id() {
    let (s, h, b) = get_with(
        "/collections/units/queryables",
        &[("host", "gis.example.org:8080")],
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "application/schema+json");
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        v["$id"],
        "http://gis.example.org:8080/collections/units/queryables"
    );
    assert_eq!(v["type"], "object");
    assert_eq!(v["properties"]["imd_decile"]["type"], "integer");
    assert_eq!(v["properties"]["name"]["type"], "string");
    assert_eq!(v["properties"]["geometry"]["format"], "geometry-point");
    let l = ok("/collections/lsoa/queryables");
    assert_eq!(l["properties"]["imd_score"]["type"], "number");
    assert_eq!(
        l["properties"]["geometry"]["format"],
        "geometry-multipolygon"
    );
    // The items page links to it, in the body and in the Link header.
    let (_, h, v) = get("/collections/units/items?limit=1");
    assert!(v["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/queryables"));
    assert!(h["link"].to_str().unwrap().contains(
        "/collections/units/queryables>; rel=\"http://www.opengis.net/def/rel/ogc/1.0/queryables\""
    ));
}

/// CQL2 text and JSON filters give the same answer as filtering by hand; a name that is not a
/// queryable, bad syntax or an unknown language are 400s naming the parameter.
#[test]
fn cql2_filters_on_items() {
    let all = ok("/collections/units/items?limit=1000");
    let by_hand: Vec<String> = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["properties"]["imd_decile"].as_u64().unwrap() >= 2
                && f["properties"]["vacant_since"].as_str().unwrap() < "2020-01-01"
        })
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!by_hand.is_empty());
    let text = ok(&format!(
        "/collections/units/items?limit=1000&filter={}",
        enc("imd_decile >= 2 AND vacant_since < '2020-01-01'")
    ));
    assert_eq!(ids(&text), by_hand);
    let json = ok(&format!(
        "/collections/units/items?limit=1000&filter-lang=cql2-json&filter={}",
        enc(
            r#"{"op": "and", "args": [{"op": ">=", "args": [{"property": "imd_decile"}, 2]}, {"op": "<", "args": [{"property": "vacant_since"}, "2020-01-01"]}]}"#
        )
    ));
    assert_eq!(ids(&json), by_hand);
    // LIKE and IN (advanced comparison).
    let like = ok(&format!(
        "/collections/practices/items?limit=10000&filter={}",
        enc("pcn_name LIKE '%ROCHDALE%' AND icb_code IN ('QOP')")
    ));
    let n = like["numberMatched"].as_u64().unwrap();
    assert!(n > 5, "{n}");
    for f in like["features"].as_array().unwrap() {
        assert!(f["properties"]["pcn_name"]
            .as_str()
            .unwrap()
            .contains("ROCHDALE"));
    }
    // A spatial filter finds what the same box finds.
    let bbox = ok("/collections/units/items?bbox=-2.16,53.61,-2.15,53.62&limit=1000");
    let spatial = ok(&format!(
        "/collections/units/items?limit=1000&filter={}",
        enc("S_INTERSECTS(geometry, POLYGON((-2.16 53.61, -2.15 53.61, -2.15 53.62, -2.16 53.62, -2.16 53.61)))")
    ));
    assert_eq!(ids(&spatial), ids(&bbox));
    // Filter and paging together: numberMatched counts the filtered features.
    let paged = ok(&format!(
        "/collections/units/items?limit=2&filter={}",
        enc("imd_decile >= 2 AND vacant_since < '2020-01-01'")
    ));
    assert_eq!(
        paged["numberMatched"].as_u64().unwrap() as usize,
        by_hand.len()
    );

    let m = refused(
        "/collections/units/items?filter=ooga%3D'booga'",
        StatusCode::BAD_REQUEST,
        "filter",
    );
    assert!(m.contains("`ooga`") && m.contains("imd_decile"), "{m}");
    refused(
        "/collections/units/items?filter=imd_decile%20%3C%3D",
        StatusCode::BAD_REQUEST,
        "filter",
    );
    refused(
        "/collections/units/items?filter=this_is_not_a_queryable",
        StatusCode::BAD_REQUEST,
        "filter",
    );
    refused(
        "/collections/units/items?filter=imd_decile%3D1&filter-lang=sql",
        StatusCode::BAD_REQUEST,
        "filter-lang",
    );
}

#[test]
fn sortby_and_properties() {
    let v = ok("/collections/lsoa/items?bbox=-2.17,53.60,-2.13,53.63&sortby=-imd_score&properties=imd_score,lsoa21nm&limit=1000");
    let scores: Vec<f64> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["imd_score"].as_f64().unwrap())
        .collect();
    assert!(scores.len() > 5);
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    for f in v["features"].as_array().unwrap() {
        let mut keys: Vec<&str> = f["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(keys, ["imd_score", "lsoa21nm"]);
    }
    let asc =
        ok("/collections/lsoa/items?bbox=-2.17,53.60,-2.13,53.63&sortby=%2Bimd_score&limit=1000");
    let first = asc["features"][0]["properties"]["imd_score"]
        .as_f64()
        .unwrap();
    assert_eq!(first, *scores.last().unwrap());
    refused(
        "/collections/lsoa/items?sortby=nope",
        StatusCode::BAD_REQUEST,
        "sortby",
    );
    refused(
        "/collections/lsoa/items?properties=imd_score,nope",
        StatusCode::BAD_REQUEST,
        "properties",
    );
}

/// `/rank` takes the same filter, sortby, properties and crs; ranks stay those of the whole
/// ranking.
#[test]
fn rank_with_filter_sortby_properties_and_crs() {
    let all = ok("/rank?limit=1000");
    let want: Vec<String> = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["imd_decile"].as_u64().unwrap() >= 2)
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!want.is_empty());
    let v = ok(&format!(
        "/rank?limit=1000&filter={}",
        enc("imd_decile >= 2")
    ));
    assert_eq!(ids(&v), want);
    assert_eq!(v["numberMatched"].as_u64().unwrap() as usize, want.len());
    let by_score = ok(&format!(
        "/rank?limit=5&filter={}&properties=rank,score",
        enc("score >= 0.3")
    ));
    for f in by_score["features"].as_array().unwrap() {
        assert!(f["properties"]["score"].as_f64().unwrap() >= 0.3);
        assert_eq!(f["properties"].as_object().unwrap().len(), 2, "{f}");
    }
    let sorted = ok("/rank?limit=1000&sortby=-nearest_practice_m&properties=nearest_practice_m");
    let m: Vec<f64> = sorted["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["properties"]["nearest_practice_m"].as_f64())
        .collect();
    assert!(m.len() > 10 && m.windows(2).all(|w| w[0] >= w[1]));
    let (_, h, bng) = get(&format!("/rank?limit=1&crs={}", enc(BNG)));
    assert_eq!(h["content-crs"], format!("<{BNG}>").as_str());
    let x = bng["features"][0]["geometry"]["coordinates"][0]
        .as_f64()
        .unwrap();
    assert!((380_000.0..400_000.0).contains(&x));
    refused("/rank?filter=nope%3D1", StatusCode::BAD_REQUEST, "filter");
    refused("/rank?sortby=nope", StatusCode::BAD_REQUEST, "sortby");
}

/// A filter and an order over the nine councils' units (judged on every core, a position per
/// row held): each page is that slice of the whole ranking filtered and sorted, ties in rank
/// order and units without a floor area last, with the whole ranking's ranks, and the count
/// is what the filter kept.
#[test]
fn rank_pages_filtered_and_sorted_are_the_whole_rankings() {
    let state = Arc::new(AppState::new(engine_with_units(&[
        "bradford_vacant_shops.csv",
        "calderdale_vacant_shops.csv",
        "hambleton_vacant_shops.csv",
        "kirklees_vacant_shops.csv",
        "portsmouth_vacant_shops.csv",
        "rochdale_vacant_shops.csv",
        "scarborough_vacant_shops.csv",
        "selby_vacant_shops.csv",
        "wakefield_vacant_shops.csv",
    ])));
    let get = |uri: &str| {
        let (s, _, b) = send_raw(
            state.clone(),
            Request::get(uri).body(Body::empty()).unwrap(),
        );
        let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
        assert_eq!(s, StatusCode::OK, "{uri}: {v}");
        v
    };
    let props = "properties=rank,imd_decile,floor_area_m2";
    let all = get(&format!("/rank?limit=10000&{props}"));
    let row = |f: &Value| {
        let p = &f["properties"];
        (
            f["id"].as_str().unwrap().to_string(),
            p["rank"].as_u64().unwrap(),
            p["imd_decile"].as_u64().unwrap(),
            p["floor_area_m2"].as_f64(),
        )
    };
    let whole: Vec<_> = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(row)
        .collect();
    assert!(whole.len() > 1_200, "{}", whole.len());
    // Filtered, then sorted by floor area, largest first, missing last, ties by rank.
    let mut want: Vec<_> = whole.iter().filter(|r| r.2 <= 3).cloned().collect();
    want.sort_by(|a, b| match (a.3, b.3) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    assert!(
        want.len() > 600 && want.iter().any(|r| r.3.is_none()),
        "{}",
        want.len()
    );
    for (offset, limit) in [(0, 10), (505, 20), (want.len() - 7, 50), (want.len(), 5)] {
        let v = get(&format!(
            "/rank?offset={offset}&limit={limit}&filter={}&sortby=-floor_area_m2&{props}",
            enc("imd_decile <= 3")
        ));
        assert_eq!(v["numberMatched"].as_u64().unwrap() as usize, want.len());
        let got: Vec<_> = v["features"].as_array().unwrap().iter().map(row).collect();
        let expected: Vec<_> = want.iter().skip(offset).take(limit).cloned().collect();
        assert_eq!(got, expected, "offset {offset}");
    }
    // A filter alone keeps rank order; a page deep in it.
    let v = get(&format!(
        "/rank?offset=600&limit=30&filter={}&{props}",
        enc("imd_decile <= 3")
    ));
    let in_rank: Vec<_> = whole
        .iter()
        .filter(|r| r.2 <= 3)
        .skip(600)
        .take(30)
        .cloned()
        .collect();
    let got: Vec<_> = v["features"].as_array().unwrap().iter().map(row).collect();
    assert_eq!(got, in_rank);
    // Downloads: a page of the ranking, and a page of it filtered and sorted.
    let csv_rows = |uri: &str| -> Vec<(String, u64)> {
        let (s, _, b) = send_raw(
            state.clone(),
            Request::get(uri).body(Body::empty()).unwrap(),
        );
        assert_eq!(s, StatusCode::OK, "{uri}");
        let mut r = csv::Reader::from_reader(b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&b));
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                (rec[1].to_string(), rec[0].parse().unwrap())
            })
            .collect()
    };
    let ranks = |rows: &[(String, u64, u64, Option<f64>)]| -> Vec<(String, u64)> {
        rows.iter().map(|r| (r.0.clone(), r.1)).collect()
    };
    assert_eq!(
        csv_rows("/rank?format=csv&offset=7&limit=5"),
        ranks(&whole[7..12])
    );
    assert_eq!(
        csv_rows(&format!(
            "/rank?format=csv&offset=3&limit=4&filter={}&sortby=-floor_area_m2",
            enc("imd_decile <= 3")
        )),
        ranks(&want[3..7])
    );
}

/// `properties` alone (the map's window: no breakdown, no words) gives the full page's
/// features with only those properties: the same units, ranks, scores, count and links; a row
/// fetched again by its rank (`offset` = rank - 1, as the map does on a click) is the same
/// unit with its breakdown in words.
#[test]
fn rank_properties_alone_match_the_full_page() {
    let q = "weights=deprivation:3,access:1&offset=3&limit=40";
    let full = ok(&format!("/rank?{q}"));
    let light = ok(&format!("/rank?{q}&properties=rank,score,name,postcode"));
    let feature_ids = |v: &Value| -> Vec<Value> {
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].clone())
            .collect()
    };
    assert_eq!(feature_ids(&light), feature_ids(&full));
    assert_eq!(light["numberMatched"], full["numberMatched"]);
    // The same pages linked, which keep asking for the same properties.
    let links = |v: &Value| -> Vec<(String, String)> {
        v["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let href = l["href"].as_str().unwrap();
                (
                    l["rel"].to_string(),
                    href.replace("properties=rank%2Cscore%2Cname%2Cpostcode&", ""),
                )
            })
            .collect()
    };
    assert_eq!(links(&light), links(&full));
    assert_eq!(links(&full).len(), 3);
    assert_eq!(light["left_out_unsuitable"], full["left_out_unsuitable"]);
    let features = |v: &Value| v["features"].as_array().unwrap().clone();
    assert_eq!(features(&full).len(), 40);
    for (l, f) in features(&light).iter().zip(features(&full)) {
        let lp = l["properties"].as_object().unwrap();
        let keys: Vec<&str> = lp.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        for k in keys {
            assert_eq!(lp[k], f["properties"][k], "{k} of {}", f["id"]);
        }
        assert_eq!(l["geometry"], f["geometry"]);
        // The map's click: the same unit again by its rank, in words.
        let rank = lp["rank"].as_u64().unwrap();
        let one = ok(&format!(
            "/rank?weights=deprivation:3,access:1&offset={}&limit=1",
            rank - 1
        ));
        assert_eq!(one["features"][0], f, "unit at rank {rank}");
    }
    // Words only when asked for.
    let worded = ok(&format!("/rank?{q}&properties=breakdown,why"));
    for f in features(&worded) {
        let why = f["properties"]["breakdown"]["deprivation"]["why"]
            .as_str()
            .unwrap();
        assert!(why.contains("decile"), "{why}");
        assert!(f["properties"]["why"]
            .as_str()
            .unwrap()
            .contains("deprivation: "));
    }
    assert_eq!(worded["features"], {
        let mut all = full["features"].clone();
        for f in all.as_array_mut().unwrap() {
            f["properties"]
                .as_object_mut()
                .unwrap()
                .retain(|k, _| k == "breakdown" || k == "why");
        }
        all
    });
    refused(
        "/rank?properties=rank,nope",
        StatusCode::BAD_REQUEST,
        "properties",
    );
}

/// Where `k` is among a header's names.
fn col_of(header: &[String], k: &str) -> usize {
    header.iter().position(|h| h == k).unwrap()
}

/// A download keeps the columns `properties` names, each cell as the whole file has it (a
/// parameter a file ignored would mislead): CSV in the file's order, XLSX (read by calamine)
/// with its position too; and a page's features as before, without their breakdown. A
/// download naming no column is refused.
#[test]
fn rank_downloads_keep_the_properties_named() {
    let q = "weights=deprivation:3&limit=30&offset=2";
    let csv_of = |uri: &str| -> (Vec<String>, Vec<Vec<String>>) {
        let (s, _, b) = get_with(uri, &[]);
        assert_eq!(s, StatusCode::OK, "{uri}");
        csv_table(&b)
    };
    let (all_header, all_rows) = csv_of(&format!("/rank?{q}&format=csv"));
    let (header, rows) = csv_of(&format!(
        "/rank?{q}&format=csv&properties=why,score,postcode,rank"
    ));
    assert_eq!(header, ["rank", "score", "postcode", "why"]);
    assert_eq!(rows.len(), 30);
    for (row, full) in rows.iter().zip(&all_rows) {
        for (k, cell) in header.iter().zip(row) {
            let at = all_header.iter().position(|h| h == k).unwrap();
            assert_eq!(cell, &full[at], "{k}");
        }
    }
    let (s, _, b) = get_with(
        &format!("/rank?{q}&format=geojson&properties=id,score"),
        &[],
    );
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    let keys: Vec<Vec<String>> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        })
        .collect();
    assert_eq!(keys.len(), 30);
    assert!(keys.iter().all(|k| k == &["id", "score"]), "{keys:?}");
    let (s, _, b) = get_with(&format!("/rank?{q}&format=xlsx&properties=score,rank"), &[]);
    assert_eq!(s, StatusCode::OK);
    use calamine::Reader;
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(b)).unwrap();
    let sites = wb.worksheet_range("sites").unwrap();
    let header = header_row(&sites);
    assert_eq!(
        header,
        [
            "Rank",
            "Score",
            "Latitude",
            "Longitude",
            "Easting (EPSG:27700)",
            "Northing (EPSG:27700)"
        ]
    );
    assert_eq!(sites.height(), 31);
    for (row, full) in sites.rows().skip(1).zip(&all_rows) {
        assert_eq!(row[0].to_string(), full[0], "rank");
        assert_eq!(
            row[1].to_string().parse::<f64>().unwrap(),
            full[col_of(&all_header, "score")].parse::<f64>().unwrap()
        );
    }
    for bad in ["rank,nope", ","] {
        refused(
            &format!("/rank?{q}&format=csv&properties={bad}"),
            StatusCode::BAD_REQUEST,
            "properties",
        );
    }
}

/// Strong ETags on JSON answers, weak ones on pages of features (which carry the time they
/// were made); a matching If-None-Match is a 304 with no body.
#[test]
fn etags_and_not_modified() {
    for uri in [
        "/collections",
        "/collections/lsoa/items?limit=3",
        "/conformance",
    ] {
        let (s, h, body) = get_with(uri, &[]);
        assert_eq!(s, StatusCode::OK);
        let tag = h["etag"].to_str().unwrap().to_string();
        assert_eq!(h["cache-control"], "no-cache");
        let (_, h2, _) = get_with(uri, &[]);
        assert_eq!(
            h2["etag"].to_str().unwrap(),
            tag,
            "{uri}: same answer, same tag"
        );
        let (s, _, b) = get_with(uri, &[("if-none-match", &tag)]);
        assert_eq!(s, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(b.is_empty());
        let (s, _, b) = get_with(uri, &[("if-none-match", "\"something-else\"")]);
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b.len(), body.len());
        if uri.contains("items") {
            assert!(tag.starts_with("W/\""), "{tag}");
        } else {
            assert!(tag.starts_with('"'), "{tag}");
        }
    }
    let (_, a, _) = get_with("/collections/lsoa/items?limit=3", &[]);
    let (_, b, _) = get_with("/collections/lsoa/items?limit=4", &[]);
    assert_ne!(a["etag"], b["etag"]);
    // Gzipped: other bytes of the same content, so the same tag made weak; a 304 for either.
    let (_, gz, _) = get_with("/collections", &[("accept-encoding", "gzip")]);
    let (_, plain, _) = get_with("/collections", &[]);
    assert_eq!(gz["content-encoding"], "gzip");
    let (g, p) = (
        gz["etag"].to_str().unwrap(),
        plain["etag"].to_str().unwrap(),
    );
    assert_eq!(g, format!("W/{p}"));
    let (s, _, _) = get_with(
        "/collections",
        &[("accept-encoding", "gzip"), ("if-none-match", g)],
    );
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    // The 304 has the tag and Vary the compressed 200 has.
    let (s, h, _) = get_with(
        "/collections",
        &[("accept-encoding", "gzip"), ("if-none-match", p)],
    );
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    assert_eq!(h["etag"].to_str().unwrap(), g);
    assert!(h
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().contains("accept-encoding")));
    // HEAD is not tagged (its body is not there to hash): never a wrong 304.
    let (s, h, _) = send_raw(
        state(),
        Request::head("/collections")
            .header("if-none-match", p)
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(s, StatusCode::OK);
    assert!(h.get("etag").is_none());
}

/// Paths as clients send them: repeated and trailing slashes; every error JSON.
#[test]
fn tidy_paths_and_json_errors() {
    for uri in [
        "//collections//units/items/?limit=1",
        "/collections/",
        "//conformance",
    ] {
        ok(uri);
    }
    let (s, h, v) = send_raw(
        state(),
        Request::delete("/collections").body(Body::empty()).unwrap(),
    );
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h["allow"], "GET,HEAD");
    let v: Value = serde_json::from_slice(&v).unwrap();
    assert_eq!(v["code"], "method_not_allowed");
    refused("/collections/%FF/items", StatusCode::BAD_REQUEST, "path");
    refused("/collections?f=html", StatusCode::NOT_ACCEPTABLE, "f");
    refused(
        "/collections/units/items?f=xml",
        StatusCode::BAD_REQUEST,
        "f",
    );
    refused("/conformance?f=csv", StatusCode::BAD_REQUEST, "f");
    // A limit over the maximum is the maximum, as the standard has it.
    let v = ok("/collections/lsoa/items?limit=20000&properties=imd_decile");
    assert_eq!(v["numberReturned"], 10_000);
    assert_eq!(v["numberMatched"], 33_755);
}

/// Links are absolute: from the request's host, a proxy's X-Forwarded-*, or --public-url.
#[test]
fn absolute_links() {
    let (_, _, b) = get_with(
        "/collections/units/items?limit=1",
        &[
            ("host", "127.0.0.1:9"),
            ("x-forwarded-host", "maps.example.org"),
            ("x-forwarded-proto", "https"),
        ],
    );
    let v: Value = serde_json::from_slice(&b).unwrap();
    for l in v["links"].as_array().unwrap() {
        assert!(
            l["href"]
                .as_str()
                .unwrap()
                .starts_with("https://maps.example.org/"),
            "{l}"
        );
    }
    let mut st = app_state();
    st.public_url = Some("https://nhs.example.org/sitefinder".into());
    let (_, _, b) = send_raw(
        Arc::new(st),
        Request::get("/collections").body(Body::empty()).unwrap(),
    );
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        v["links"][0]["href"],
        "https://nhs.example.org/sitefinder/collections"
    );
    assert_eq!(
        v["collections"][0]["links"][1]["href"],
        "https://nhs.example.org/sitefinder/collections/units/items"
    );
}

/// The OpenAPI document gives bbox, limit and datetime the encoding the standard defines, on
/// each collection's own path.
#[test]
fn openapi_declares_ogc_parameters_per_collection() {
    let api = ok("/api");
    for id in ["units", "lsoa", "places"] {
        let params = api["paths"][format!("/collections/{id}/items")]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{id}"));
        let by = |n: &str| params.iter().find(|p| p["name"] == n).unwrap().clone();
        let bbox = by("bbox");
        assert_eq!(bbox["schema"]["type"], "array");
        assert_eq!(bbox["schema"]["minItems"], 4);
        assert_eq!(bbox["schema"]["maxItems"], 6);
        assert_eq!(bbox["schema"]["items"]["type"], "number");
        for n in ["bbox", "limit", "datetime"] {
            let p = by(n);
            assert_eq!(p["style"], "form", "{n}");
            assert_eq!(p["explode"], false, "{n}");
        }
        assert_eq!(by("datetime")["schema"]["type"], "string");
        assert!(params.iter().all(|p| p["in"] != "path"));
        assert!(api["paths"][format!("/collections/{id}/queryables")].is_object());
    }
    let rank: Vec<&str> = api["paths"]["/rank"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in ["filter", "filter-lang", "sortby", "properties", "crs"] {
        assert!(rank.contains(&n), "{n}");
    }
}

/// Part 1's filters on properties: a queryable as a parameter, equal to its value; declared
/// per collection in the OpenAPI document (GDAL reads them from there).
#[test]
fn properties_as_parameters() {
    let v = ok("/collections/units/items?imd_decile=2&limit=1000");
    let n = v["numberMatched"].as_u64().unwrap();
    let f = ok(&format!(
        "/collections/units/items?limit=1000&filter={}",
        enc("imd_decile = 2")
    ));
    assert_eq!(ids(&v), ids(&f));
    assert!(n > 0);
    let la = ok("/collections/places/items?kind=local_authority&name=Rochdale");
    assert_eq!(la["numberMatched"], 1);
    assert_eq!(la["features"][0]["properties"]["code"], "E08000005");
    refused(
        "/collections/units/items?imd_decile=high",
        StatusCode::BAD_REQUEST,
        "imd_decile",
    );
    refused(
        "/collections/units/items?no_such=1",
        StatusCode::BAD_REQUEST,
        "no_such",
    );
    let api = ok("/api");
    let params = api["paths"]["/collections/units/items"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let decile = params.iter().find(|p| p["name"] == "imd_decile").unwrap();
    assert_eq!(decile["schema"]["type"], "integer");
    let lang = params.iter().find(|p| p["name"] == "filter-lang").unwrap();
    assert_eq!(lang["schema"]["enum"][0], "cql2-text");
}

/// The README's notebook example: a property no unit has a value for (the Rochdale list gives
/// no floor areas) is still a number to filter and sort on.
#[test]
fn readme_filter_on_an_empty_number_property() {
    let v = ok(&format!(
        "/collections/units/items?limit=100&sortby=-floor_area_m2&filter={}",
        enc("imd_decile <= 2 AND floor_area_m2 >= 80")
    ));
    assert_eq!(v["numberMatched"], 0);
    let q = ok("/collections/units/queryables");
    assert_eq!(q["properties"]["floor_area_m2"]["type"], "number");
    assert_eq!(q["properties"]["ground_floor"]["type"], "boolean");
}

/// Catchments (each many LSOA polygons) come at most 1,000 a page, whatever the limit; the
/// next link goes on from there.
#[test]
fn catchment_pages_are_bounded() {
    let v = ok("/collections/catchments/items?limit=10000&properties=practice_code");
    assert_eq!(v["numberReturned"], 1000);
    assert!(v["numberMatched"].as_u64().unwrap() > 5000);
    assert!(v["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "next" && l["href"].as_str().unwrap().contains("offset=1000")));
}

/// A filter on the sentences (`why`) reads the rows in words: it keeps exactly the units whose
/// `why`, as the full ranking gives it, matches; an order with ties keeps them in rank order.
#[test]
fn rank_filter_on_why_and_sortby_with_ties() {
    let all = ok("/rank?limit=1000");
    let features = all["features"].as_array().unwrap();
    let want: Vec<&Value> = features
        .iter()
        .filter(|f| {
            f["properties"]["why"]
                .as_str()
                .unwrap()
                .contains("IMD decile 1 ")
        })
        .map(|f| &f["id"])
        .collect();
    assert!(
        !want.is_empty() && want.len() < features.len(),
        "{}",
        want.len()
    );
    let v = ok(&format!(
        "/rank?limit=1000&filter={}&properties=rank",
        enc("why LIKE '%IMD decile 1 %'")
    ));
    let got: Vec<&Value> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["id"])
        .collect();
    assert_eq!(got, want);
    // Sorted by decile, most deprived last; within a decile, by rank.
    let sorted = ok("/rank?limit=1000&sortby=-imd_decile&properties=rank,imd_decile");
    let keys: Vec<(i64, u64)> = sorted["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (
                -p["imd_decile"].as_i64().unwrap(),
                p["rank"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys.len(), features.len());
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    assert!(keys.first().unwrap().0 < keys.last().unwrap().0);
}

/// Every unit is found by its id (the units collection finds items through the engine's map
/// of ids and each unit's place in the id order): the same feature as in the list, and an id
/// no unit has is a 404.
#[test]
fn every_unit_is_found_by_its_id() {
    let all = ok("/collections/units/items?limit=1000");
    let features = all["features"].as_array().unwrap();
    assert!(features.len() > 100);
    for f in features {
        let id = f["id"].as_str().unwrap();
        let one = ok(&format!(
            "/collections/units/items/{}",
            sitefinder::serve::respond::urlencode(id)
        ));
        assert_eq!(one["id"], f["id"]);
        assert_eq!(one["geometry"], f["geometry"]);
        assert_eq!(one["properties"], f["properties"], "{id}");
    }
    let (status, _, _) = get("/collections/units/items/no-such-unit");
    assert_eq!(status, StatusCode::NOT_FOUND);
}
