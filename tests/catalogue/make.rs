//! The hostile inputs of the catalogue that are too big, or too odd, to store: each is built
//! here when the catalogue runs (`make = "..."` in `cases.toml`). To write them all to a folder
//! for trying by hand (`curl --data-binary @...`, `sitefinder overlay add ...`):
//!
//! ```sh
//! SITEFINDER_HOSTILE_DIR=/tmp/hostile cargo test --test catalogue -- --ignored write_the_hostile_files
//! ```

// Shared by the catalogue test and the hostile-input benchmark, which each use part of it.
#![allow(dead_code)]

use std::io::Write;

/// A made input: the file name it is read under, its bytes, and for HTTP cases the path (and
/// body) to send.
pub struct Made {
    pub name: String,
    pub bytes: Vec<u8>,
    pub path: Option<String>,
}

/// What a generator may need from the running catalogue.
pub struct Context<'a> {
    /// A unit on the base shortlist.
    pub base_unit: &'a str,
    /// The repository's Rochdale plan fixture.
    pub plan_geojson: &'a std::path::Path,
    pub scratch: &'a std::path::Path,
}

pub const ALL: &[&str] = &[
    "units_gzip_bomb",
    "units_deep_json",
    "two_megabytes_of_units",
    "xlsx_named_csv",
    "zip_bomb",
    "zip_many_entries",
    "shp_bomb",
    "geopackage_view",
    "tangled_star",
    "many_features",
    "big_circle",
    "three_megabytes",
    "long_filter",
    "long_note",
    "deep_json_body",
    "add_to_missing_shortlist",
];

pub fn make(what: &str, cx: &Context) -> Made {
    let file = |name: &str, bytes: Vec<u8>| Made {
        name: name.into(),
        bytes,
        path: None,
    };
    match what {
        // 501 MB of rows in about 1 MB of gzip: the units reader stops at 500 MB.
        "units_gzip_bomb" => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
            gz.write_all(b"id,lat,lon\n").unwrap();
            let row = b"a,53.61,-2.15\n".repeat(75_000);
            let mut written = 0usize;
            while written <= 501_000_000 {
                gz.write_all(&row).unwrap();
                written += row.len();
            }
            file("units.csv.gz", gz.finish().unwrap())
        }
        // A real workbook (written by rust_xlsxwriter) saved under a .csv name.
        "xlsx_named_csv" => {
            let mut book = rust_xlsxwriter::Workbook::new();
            let sheet = book.add_worksheet();
            for (c, h) in ["id", "lat", "lon"].iter().enumerate() {
                sheet.write_string(0, c as u16, *h).unwrap();
            }
            sheet.write_string(1, 0, "a").unwrap();
            sheet.write_number(1, 1, 53.61).unwrap();
            sheet.write_number(1, 2, -2.15).unwrap();
            file("units.csv", book.save_to_buffer().unwrap())
        }
        "two_megabytes_of_units" => {
            let mut s = String::from("id,lat,lon\n");
            let mut k = 0;
            while s.len() < 2_000_000 {
                k += 1;
                s.push_str(&format!("u{k},53.61,-2.15\n"));
            }
            file("units.csv", s.into_bytes())
        }
        "units_deep_json" => {
            let depth = 100_000;
            let mut s = String::from(
                r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":"#,
            );
            s.push_str(&"[".repeat(depth));
            s.push_str(&"]".repeat(depth));
            s.push_str("}}]}");
            file("deep.geojson", s.into_bytes())
        }
        // A zipped Shapefile whose .prj unpacks to over 200 MB of spaces.
        "zip_bomb" => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let o = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .compression_level(Some(9));
            zip.start_file("plan.shp", o).unwrap();
            zip.write_all(&[0u8; 100]).unwrap();
            zip.start_file("plan.prj", o).unwrap();
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..202 {
                zip.write_all(&chunk).unwrap();
            }
            file("plan.zip", zip.finish().unwrap().into_inner())
        }
        // A zipped Shapefile whose .shp unpacks to over 100 MB of zeros.
        "shp_bomb" => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let o = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .compression_level(Some(9));
            zip.start_file("plan.prj", o).unwrap();
            zip.write_all(b"PROJCS[\"OSGB 1936 / British National Grid\"]")
                .unwrap();
            zip.start_file("plan.shp", o).unwrap();
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..101 {
                zip.write_all(&chunk).unwrap();
            }
            file("plan.zip", zip.finish().unwrap().into_inner())
        }
        "zip_many_entries" => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let o = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            for i in 0..1_001 {
                zip.start_file(format!("part{i}.txt"), o).unwrap();
            }
            file("many.zip", zip.finish().unwrap().into_inner())
        }
        // A GeoPackage (written by GDAL) whose layer is re-pointed at a view over a recursive
        // query that never ends.
        "geopackage_view" => {
            let gpkg = cx.scratch.join("view.gpkg");
            let _ = std::fs::remove_file(&gpkg);
            let ok = std::process::Command::new("ogr2ogr")
                .args(["-f", "GPKG", "-nln", "plan"])
                .arg(&gpkg)
                .arg(cx.plan_geojson)
                .status()
                .expect("ogr2ogr (gdal-bin, installed by .ci/setup)")
                .success();
            assert!(ok, "ogr2ogr failed");
            let db = rusqlite::Connection::open(&gpkg).unwrap();
            db.execute_batch(
                "PRAGMA foreign_keys = OFF;
                 CREATE VIEW forever AS
                   WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)
                   SELECT i AS fid, (SELECT geom FROM plan LIMIT 1) AS geom FROM n;
                 UPDATE gpkg_geometry_columns SET table_name = 'forever';
                 UPDATE gpkg_contents SET table_name = 'forever';",
            )
            .unwrap();
            drop(db);
            file("view.gpkg", std::fs::read(&gpkg).unwrap())
        }
        // 2,001 points round a circle joined every 1,000th: over two million crossings.
        "tangled_star" => {
            let n = 2_001;
            let ring: Vec<[f64; 2]> = (0..=n)
                .map(|i| {
                    let t = std::f64::consts::TAU * ((i * 1_000) % n) as f64 / n as f64;
                    [389_000.0 + 1_000.0 * t.cos(), 413_000.0 + 1_000.0 * t.sin()]
                })
                .collect();
            file("star.geojson", bng_layer(&[vec![ring]]))
        }
        "many_features" => {
            let squares: Vec<Vec<Vec<[f64; 2]>>> = (0..51)
                .map(|i| {
                    let x = 389_000.0 + 100.0 * i as f64;
                    vec![vec![
                        [x, 413_000.0],
                        [x + 50.0, 413_000.0],
                        [x + 50.0, 413_050.0],
                        [x, 413_050.0],
                        [x, 413_000.0],
                    ]]
                })
                .collect();
            file("squares.geojson", bng_layer(&squares))
        }
        "big_circle" => {
            let n = 60_000;
            // To the decimetre, so the file stays under the test server's 2 MB limit.
            let dm = |v: f64| (v * 10.0).round() / 10.0;
            let ring: Vec<[f64; 2]> = (0..=n)
                .map(|i| {
                    let t = std::f64::consts::TAU * (i % n) as f64 / n as f64;
                    [
                        dm(389_000.0 + 5_000.0 * t.cos()),
                        dm(413_000.0 + 5_000.0 * t.sin()),
                    ]
                })
                .collect();
            file("circle.geojson", bng_layer(&[vec![ring]]))
        }
        "three_megabytes" => file("big.geojson", vec![b' '; 3 * 1024 * 1024]),
        "long_filter" => {
            let mut f = String::from("name = 'x'");
            while f.len() <= 20_000 {
                f.push_str(" OR name = 'x'");
            }
            Made {
                name: String::new(),
                bytes: vec![],
                path: Some(format!(
                    "/collections/units/items?filter={}",
                    f.replace(' ', "%20")
                        .replace('\'', "%27")
                        .replace('=', "%3D")
                )),
            }
        }
        "long_note" => Made {
            name: String::new(),
            bytes: format!(r#"{{"note": "{}"}}"#, "n".repeat(10_001)).into_bytes(),
            path: Some(format!("/shortlists/Base%20list/sites/{}", cx.base_unit)),
        },
        "deep_json_body" => Made {
            name: String::new(),
            bytes: format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            path: Some("/shortlists".into()),
        },
        "add_to_missing_shortlist" => Made {
            name: String::new(),
            bytes: format!(r#"{{"ids": ["{}"]}}"#, cx.base_unit).into_bytes(),
            path: Some("/shortlists/Nope/sites".into()),
        },
        other => panic!("no generator `{other}` in tests/catalogue/make.rs"),
    }
}

/// A GeoJSON layer in British National Grid metres, one polygon per list of rings.
fn bng_layer(polygons: &[Vec<Vec<[f64; 2]>>]) -> Vec<u8> {
    let features: Vec<serde_json::Value> = polygons
        .iter()
        .enumerate()
        .map(|(i, rings)| {
            serde_json::json!({"type": "Feature", "properties": {"name": format!("area {i}")},
                "geometry": {"type": "Polygon", "coordinates": rings}})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:27700"}},
        "features": features}))
    .unwrap()
}
