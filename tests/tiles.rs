//! Vector tiles from a real server, read by two independent decoders: the `mapbox-vector-tile`
//! Python package (`tests/clients/mvt_decode.py`, in `.venv-clients`) and GDAL's MVT driver
//! (`ogr2ogr`). Known answers on real geography: the LSOA under Rochdale Town Hall and its IMD
//! decile, the top-ranked unit's position, score and rank.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use geo::{Contains, Coord, LineString, Point, Polygon};
use serde_json::Value;

fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-clients/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `bash .ci/setup`",
        p.display()
    );
    p
}

/// Fetches a tile's bytes: status, content type, body.
fn fetch(server: &Serving, path: &str) -> (u16, String, Vec<u8>) {
    let raw = server.raw_bytes(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        )
        .as_bytes(),
        120,
    );
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, ctype, raw[split + 4..].to_vec())
}

/// Decodes with mapbox-vector-tile: the layers as JSON, geometry in lon/lat.
fn decode_python(file: &Path, z: u8, x: u32, y: u32) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .arg(root.join("tests/clients/mvt_decode.py"))
        .arg(file)
        .args([z.to_string(), x.to_string(), y.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mvt_decode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// GDAL's open options placing a lone tile file in the grid.
fn tile_options(z: u8, x: u32, y: u32) -> [String; 6] {
    [
        "-oo".into(),
        format!("X={x}"),
        "-oo".into(),
        format!("Y={y}"),
        "-oo".into(),
        format!("Z={z}"),
    ]
}

/// Decodes with GDAL's MVT driver: the layer as GeoJSON in WGS84.
fn decode_gdal(file: &Path, z: u8, x: u32, y: u32) -> Value {
    let dir = file.parent().unwrap();
    let out_file = dir.join(format!("gdal-{z}-{x}-{y}.geojson"));
    let o = Command::new("ogr2ogr")
        .args(["-f", "GeoJSON", "-t_srs", "EPSG:4326"])
        .arg(&out_file)
        .arg(file)
        .args(tile_options(z, x, y))
        // Keep the buffer: GDAL clips to the tile by default, dropping shapes only in it.
        .args(["-oo", "CLIP=NO"])
        .output()
        .expect("ogr2ogr (gdal-bin) runs");
    assert!(
        o.status.success(),
        "ogr2ogr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap()
}

fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let (x, y) = sitefinder::serve::mvt::lonlat_to_tile(lon, lat, z);
    (x as u32, y as u32)
}

fn polygon(coords: &Value) -> Polygon<f64> {
    let ring = |r: &Value| -> LineString<f64> {
        r.as_array()
            .unwrap()
            .iter()
            .map(|p| Coord {
                x: p[0].as_f64().unwrap(),
                y: p[1].as_f64().unwrap(),
            })
            .collect()
    };
    let rings = coords.as_array().unwrap();
    Polygon::new(ring(&rings[0]), rings[1..].iter().map(ring).collect())
}

/// Whether a decoded (Multi)Polygon geometry holds the point.
fn holds(geometry: &Value, lon: f64, lat: f64) -> bool {
    let p = Point::new(lon, lat);
    match geometry["type"].as_str().unwrap() {
        "Polygon" => polygon(&geometry["coordinates"]).contains(&p),
        "MultiPolygon" => geometry["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| polygon(c).contains(&p)),
        t => panic!("not a polygon: {t}"),
    }
}

#[test]
fn tiles_are_read_by_two_independent_decoders_with_known_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serving::start(&dir.path().join("state"), &[]);

    // The index and TileJSON 3.0.
    let (status, body) = server.get("/tiles");
    assert_eq!(status, 200, "{body}");
    let index: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = index["tilesets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["lsoa", "units", "practices"]);
    let (status, body) = server.get("/tiles/lsoa.json");
    assert_eq!(status, 200, "{body}");
    let tj: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(
        tj["tiles"][0],
        format!("http://{}/tiles/lsoa/{{z}}/{{x}}/{{y}}.mvt", server.addr)
    );
    assert_eq!(tj["vector_layers"][0]["id"], "lsoa");
    assert_eq!(tj["vector_layers"][0]["fields"]["imd_decile"], "Number");
    assert_eq!(tj["vector_layers"][0]["fields"]["lsoa21cd"], "String");
    assert!(tj["attribution"]
        .as_str()
        .unwrap()
        .contains("Indices of Deprivation 2025"));
    let b = tj["bounds"].as_array().unwrap();
    assert!(
        b[0].as_f64().unwrap() < -5.0 && b[2].as_f64().unwrap() > 1.5,
        "{b:?}"
    );

    // Rochdale Town Hall: the LSOA under it, from the atlas (point in polygon in BNG).
    let (lon, lat) = (-2.1540, 53.6160);
    let a = atlas();
    let (e, n) = sitefinder::base::crs::wgs84_to_bng(lon, lat).unwrap();
    let l = &a.lsoas[a.lsoa_at([e, n]).expect("Rochdale Town Hall is in an LSOA")];
    for z in [12u8, 15] {
        let (x, y) = tile_of(lon, lat, z);
        let (status, ctype, bytes) = fetch(&server, &format!("/tiles/lsoa/{z}/{x}/{y}.mvt"));
        assert_eq!(status, 200);
        assert_eq!(ctype, "application/vnd.mapbox-vector-tile");
        let file = dir.path().join(format!("lsoa-{z}.mvt"));
        std::fs::write(&file, &bytes).unwrap();
        let py = decode_python(&file, z, x, y);
        let layer = &py["lsoa"];
        assert_eq!(layer["extent"], 4096);
        assert_eq!(layer["version"], 2);
        let features = layer["features"].as_array().unwrap();
        let under: Vec<&Value> = features
            .iter()
            .filter(|f| holds(&f["geometry"], lon, lat))
            .collect();
        assert_eq!(
            under.len(),
            1,
            "zoom {z}: {} polygons hold the town hall",
            under.len()
        );
        assert_eq!(
            under[0]["properties"]["lsoa21cd"],
            l.code.as_str(),
            "zoom {z}"
        );
        assert_eq!(
            under[0]["properties"]["imd_decile"], l.imd_decile,
            "zoom {z}"
        );
        assert_eq!(
            under[0]["properties"]["lsoa21nm"],
            l.name.as_str(),
            "zoom {z}"
        );
        // GDAL reads the same features with the same properties, the same LSOA under the hall.
        let gd = decode_gdal(&file, z, x, y);
        let gfeatures = gd["features"].as_array().unwrap();
        assert_eq!(
            gfeatures.len(),
            features.len(),
            "zoom {z}: GDAL and Python disagree"
        );
        let g = gfeatures
            .iter()
            .find(|f| f["properties"]["lsoa21cd"] == l.code.as_str())
            .expect("GDAL has the LSOA");
        assert!(
            holds(&g["geometry"], lon, lat),
            "zoom {z}: GDAL's polygon misses the hall"
        );
        assert_eq!(g["properties"]["imd_decile"], l.imd_decile);
    }

    // The top-ranked unit: where /rank puts it, with its score and rank.
    let (status, body) = server.get("/rank?limit=1");
    assert_eq!(status, 200, "{body}");
    let top: Value = serde_json::from_str(&body).unwrap();
    let f = &top["features"][0];
    let (ulon, ulat) = (
        f["geometry"]["coordinates"][0].as_f64().unwrap(),
        f["geometry"]["coordinates"][1].as_f64().unwrap(),
    );
    let z = 15;
    let (x, y) = tile_of(ulon, ulat, z);
    let (status, _, bytes) = fetch(&server, &format!("/tiles/units/{z}/{x}/{y}.mvt"));
    assert_eq!(status, 200);
    let file = dir.path().join("units.mvt");
    std::fs::write(&file, &bytes).unwrap();
    let py = decode_python(&file, z, x, y);
    let unit = py["units"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["properties"]["id"] == f["properties"]["id"])
        .expect("the top unit is in its tile");
    assert_eq!(unit["properties"]["rank"], 1);
    let score = unit["properties"]["score"].as_f64().unwrap();
    assert!(
        (score - f["properties"]["score"].as_f64().unwrap()).abs() < 1e-4,
        "{score}"
    );
    let c = &unit["geometry"]["coordinates"];
    let (dlon, dlat) = (c[0].as_f64().unwrap() - ulon, c[1].as_f64().unwrap() - ulat);
    let metres = ((dlon * ulat.to_radians().cos()).powi(2) + dlat.powi(2)).sqrt() * 111_320.0;
    assert!(
        metres < 2.0,
        "the unit is {metres:.1} m from where /rank puts it"
    );
    let gd = decode_gdal(&file, z, x, y);
    assert!(gd["features"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["properties"]["id"] == f["properties"]["id"] && g["properties"]["rank"] == 1));
}

/// A tile at zoom 6 holds much of England: every LSOA in it, simplified, with only the code and
/// decile; most of England's LSOAs are in the six tiles that cover it.
#[test]
fn low_zoom_tiles_cover_england_with_small_features() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serving::start(&dir.path().join("state"), &[]);
    let mut codes = std::collections::HashSet::new();
    let z = 6;
    for (x, y) in [
        (30, 19),
        (31, 19),
        (30, 20),
        (31, 20),
        (30, 21),
        (31, 21),
        (32, 20),
        (32, 21),
    ] {
        let (status, _, bytes) = fetch(&server, &format!("/tiles/lsoa/{z}/{x}/{y}.mvt"));
        assert_eq!(status, 200);
        let file = dir.path().join(format!("{x}-{y}.mvt"));
        std::fs::write(&file, &bytes).unwrap();
        // GDAL, clipping to the tile as it does by default, finds no ring crossing itself:
        // simplification keeps rings apart.
        let o = Command::new("ogrinfo")
            .args(["-ro", "-al", "-so"])
            .arg(&file)
            .args(tile_options(z, x, y))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("TopologyException"), "{x}/{y}: {err}");
        let py = decode_python(&file, z, x, y);
        for f in py["lsoa"]["features"].as_array().into_iter().flatten() {
            let keys: Vec<&String> = f["properties"].as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                ["lsoa21cd", "imd_decile"],
                "zoom 6 carries the code and decile"
            );
            codes.insert(f["properties"]["lsoa21cd"].as_str().unwrap().to_string());
        }
    }
    let all = atlas().lsoas.len();
    // Tiny city LSOAs may vanish below a pixel; nearly all are drawn.
    assert!(
        codes.len() * 100 >= all * 95,
        "{} of {all} LSOAs at zoom 6",
        codes.len()
    );
}

#[test]
fn bad_tile_requests_are_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serving::start(&dir.path().join("state"), &[]);
    for (path, status, says) in [
        (
            "/tiles/nope/0/0/0.mvt",
            404,
            "the tilesets are lsoa, units, practices",
        ),
        ("/tiles/lsoa/17/0/0.mvt", 404, "zoom is 0 to 16"),
        ("/tiles/lsoa/2/4/0.mvt", 404, "below 2^zoom"),
        ("/tiles/lsoa/a/0/0.mvt", 400, "z: `a` is not a tile"),
        ("/tiles/lsoa/2/1/1.png", 400, "y: `1.png`"),
        ("/tiles/nope.json", 404, "no tileset `nope`"),
        (
            "/tiles/lsoa",
            404,
            "a tileset's TileJSON is /tiles/NAME.json",
        ),
    ] {
        let (s, body) = server.get(path);
        assert_eq!(s, status, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: {body}"));
        assert!(
            v["message"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
    }
}

/// Below zoom 10 a points tileset holds one point per cell of a 128 x 128 grid: for the units,
/// the best ranked, with `point_count` the units it stands for. Rochdale at zoom 6: fewer
/// points than units, the counts add up to every unit in the tile, the first-ranked unit is
/// there, and each of the top ten is drawn or behind a better-ranked point. At zoom 12, no
/// counts.
#[test]
fn low_zoom_point_tiles_keep_the_best_ranked_point_per_cell() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serving::start(&dir.path().join("state"), &[]);
    let (status, body) = server.get("/rank?limit=10");
    assert_eq!(status, 200, "{body}");
    let top: Value = serde_json::from_str(&body).unwrap();
    let (lon, lat) = (-2.1540, 53.6160);
    let features = |z: u8| {
        let (x, y) = tile_of(lon, lat, z);
        let (status, _, bytes) = fetch(&server, &format!("/tiles/units/{z}/{x}/{y}.mvt"));
        assert_eq!(status, 200);
        let file = dir.path().join(format!("units-{z}.mvt"));
        std::fs::write(&file, &bytes).unwrap();
        let gdal = decode_gdal(&file, z, x, y);
        let py = decode_python(&file, z, x, y);
        let f = py["units"]["features"].as_array().unwrap().clone();
        assert_eq!(
            gdal["features"].as_array().unwrap().len(),
            f.len(),
            "GDAL, zoom {z}"
        );
        f
    };
    let near = features(12);
    assert!(near.len() > 50, "{} units at zoom 12", near.len());
    assert!(near
        .iter()
        .all(|f| f["properties"].get("point_count").is_none()));
    // All of Rochdale's units are in its zoom-6 tile.
    let (status, body) = server.get("/collections/units/items?limit=1");
    assert_eq!(status, 200, "{body}");
    let units = serde_json::from_str::<Value>(&body).unwrap()["numberMatched"]
        .as_u64()
        .unwrap() as usize;
    let thin = features(6);
    assert!(
        thin.len() * 3 < units,
        "{} points for {units} units",
        thin.len()
    );
    let counted: u64 = thin
        .iter()
        .map(|f| f["properties"]["point_count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, units);
    let ranks: Vec<u64> = thin
        .iter()
        .filter_map(|f| f["properties"]["rank"].as_u64())
        .collect();
    assert!(
        ranks.contains(&1),
        "the first-ranked unit is drawn: {ranks:?}"
    );
    // Each of the top ten is its cell's point, or its cell's point ranks above it.
    let (z, (x, y)) = (6, tile_of(lon, lat, 6));
    let cell = |c: &Value| {
        let (tx, ty) = sitefinder::serve::mvt::lonlat_to_tile(
            c[0].as_f64().unwrap(),
            c[1].as_f64().unwrap(),
            z,
        );
        let unit = |t: f64, o: u32| ((t - f64::from(o)) * 4096.0).round() as i64;
        (unit(tx, x).div_euclid(32), unit(ty, y).div_euclid(32))
    };
    for f in top["features"].as_array().unwrap() {
        let rank = f["properties"]["rank"].as_u64().unwrap();
        let here = cell(&f["geometry"]["coordinates"]);
        let point = thin
            .iter()
            .find(|t| cell(&t["geometry"]["coordinates"]) == here)
            .unwrap_or_else(|| panic!("no point in the cell of the unit ranked {rank}"));
        let best = point["properties"]["rank"].as_u64().unwrap();
        assert!(
            best <= rank,
            "the cell of the unit ranked {rank} shows {best}"
        );
        if best == rank {
            assert_eq!(point["properties"]["id"], f["properties"]["id"]);
        }
    }
    let (status, body) = server.get("/tiles/units.json");
    assert_eq!(status, 200);
    let tj: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tj["vector_layers"][0]["fields"]["point_count"], "Number");
}
