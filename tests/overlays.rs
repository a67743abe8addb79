//! Plan overlays read from every upload format. GDAL (`ogr2ogr`, Debian's gdal-bin, installed
//! by the set-up) writes the Shapefiles, GeoPackages and reprojected GeoJSON, so the files come
//! from an independent producer. Known answers use the real CDRC retail-centre polygons.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use sitefinder::ingest::overlay::{
    parse, Overlay, OverlayError, Parsed, UploadFormat, UploadOptions,
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cdrc() -> Vec<u8> {
    std::fs::read(
        root().join("data/overlays/cdrc_retail_centres_2018_liverpool_city_region.geojson"),
    )
    .unwrap()
}

fn rochdale() -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/overlays/rochdale_town_centre_SYNTHETIC.geojson"))
        .unwrap()
}

fn opts() -> UploadOptions {
    UploadOptions::default()
}

fn as_overlay(p: Parsed) -> Overlay {
    common::overlay(p, "test")
}

fn bng(lon: f64, lat: f64) -> [f64; 2] {
    let (e, n) = sitefinder::base::crs::wgs84_to_bng(lon, lat).unwrap();
    [e, n]
}

#[test]
fn real_retail_centres_known_answers() {
    let p = parse(&cdrc(), &opts()).unwrap();
    assert_eq!(p.format, UploadFormat::GeoJson);
    assert_eq!(p.crs, "EPSG:4326");
    assert_eq!(p.features.len(), 20);
    assert!(p.repaired.is_empty());
    // Labels come from `rc_name`.
    assert_eq!(p.features[4].label, "Liverpool City");
    let o = as_overlay(p);
    // Church Street is Liverpool's main shopping street; Lord Street is Southport's; Liscard
    // is Wallasey's shopping centre.
    for (lon, lat, want) in [
        (-2.9836, 53.4046, "Liverpool City"),
        (-3.0050, 53.6460, "Southport"),
        (-3.0500, 53.4195, "Wallasey"),
    ] {
        let (i, d) = o.nearest(bng(lon, lat)).unwrap();
        assert_eq!((o.features[i].label.as_str(), d), (want, 0.0));
    }
    // Rochdale is over 40 km from every Liverpool City Region centre. Check the nearest
    // against a brute-force scan of every vertex (the distance to a polygon is at most the
    // distance to its nearest vertex, and these polygons have short edges).
    let r = bng(-2.156, 53.6175);
    let (i, d) = o.nearest(r).unwrap();
    let (vi, vertex_min) = o
        .features
        .iter()
        .enumerate()
        .flat_map(|(k, f)| {
            f.shape
                .0
                .iter()
                .flat_map(move |p| p.exterior().0.iter().map(move |c| (k, c)))
        })
        .map(|(k, c)| (k, (c.x - r[0]).hypot(c.y - r[1])))
        .fold(
            (usize::MAX, f64::INFINITY),
            |a, b| if b.1 < a.1 { b } else { a },
        );
    assert!(
        d > 40_000.0 && d <= vertex_min && vertex_min - d < 200.0,
        "{d} {vertex_min}"
    );
    assert_eq!(i, vi);
    assert_eq!(o.features[i].label, "Ravenhead Retail Park"); // in St Helens, the east edge of the region
}

fn ogr2ogr(args: &[&str]) {
    let out = Command::new("ogr2ogr")
        .args(args)
        .output()
        .expect("ogr2ogr runs (Debian's gdal-bin; the README's set-up installs it)");
    assert!(
        out.status.success(),
        "ogr2ogr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn zip_dir(dir: &Path, skip_ext: &[&str]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let ext = p.extension().unwrap().to_string_lossy().to_lowercase();
            if skip_ext.contains(&ext.as_str()) {
                continue;
            }
            z.start_file(
                p.file_name().unwrap().to_string_lossy(),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            z.write_all(&std::fs::read(&p).unwrap()).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// The same areas, whatever the format: equal boxes within 1 m.
fn same_areas(a: &Parsed, b: &Parsed) {
    assert_eq!(a.features.len(), b.features.len());
    for (x, y) in a.features.iter().zip(&b.features) {
        assert_eq!(x.label, y.label);
        for (p, q) in [(x.bbox.min(), y.bbox.min()), (x.bbox.max(), y.bbox.max())] {
            assert!(
                (p.x - q.x).abs() < 1.0 && (p.y - q.y).abs() < 1.0,
                "{p:?} {q:?}"
            );
        }
    }
}

#[test]
fn shapefile_geopackage_and_other_crs_from_gdal_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("plan.geojson");
    std::fs::write(&src, rochdale()).unwrap();
    let reference = parse(&rochdale(), &opts()).unwrap();
    assert_eq!(reference.features.len(), 2);

    // Zipped Shapefile in British National Grid (the CRS from the .prj).
    let shp = dir.path().join("shp");
    std::fs::create_dir(&shp).unwrap();
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-t_srs",
        "EPSG:27700",
        shp.join("plan.shp").to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let zipped = zip_dir(&shp, &[]);
    let p = parse(&zipped, &opts()).unwrap();
    assert_eq!(p.format, UploadFormat::Shapefile);
    assert_eq!(p.crs, "EPSG:27700");
    same_areas(&reference, &p);

    // Zipped Shapefile in WGS84.
    let shp4326 = dir.path().join("shp4326");
    std::fs::create_dir(&shp4326).unwrap();
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        shp4326.join("plan.shp").to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let p = parse(&zip_dir(&shp4326, &[]), &opts()).unwrap();
    same_areas(&reference, &p);

    // GeoPackage in BNG.
    let gpkg = dir.path().join("plan.gpkg");
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-t_srs",
        "EPSG:27700",
        gpkg.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let p = parse(&std::fs::read(&gpkg).unwrap(), &opts()).unwrap();
    assert_eq!(p.format, UploadFormat::GeoPackage);
    assert_eq!(p.crs, "EPSG:27700");
    same_areas(&reference, &p);

    // Another CRS (Web Mercator), declared in the GeoJSON: reprojected by PROJ.
    let merc = dir.path().join("plan3857.geojson");
    ogr2ogr(&[
        "-f",
        "GeoJSON",
        "-t_srs",
        "EPSG:3857",
        merc.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let p = parse(&std::fs::read(&merc).unwrap(), &opts()).unwrap();
    assert_eq!(p.crs, "EPSG:3857");
    same_areas(&reference, &p);

    // A GeoPackage in Web Mercator too.
    let gpkg3857 = dir.path().join("plan3857.gpkg");
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-t_srs",
        "EPSG:3857",
        gpkg3857.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    same_areas(
        &reference,
        &parse(&std::fs::read(&gpkg3857).unwrap(), &opts()).unwrap(),
    );
}

/// Every bad file the issue names, and a few more: each error says what is wrong and where.
#[test]
fn bad_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("plan.geojson");
    std::fs::write(&src, rochdale()).unwrap();
    let msg = |bytes: &[u8], o: &UploadOptions| parse(bytes, o).unwrap_err().to_string();

    // Wrong CRS: BNG metres in a GeoJSON that declares nothing (so WGS84).
    let bng_json = dir.path().join("bng.geojson");
    ogr2ogr(&[
        "-f",
        "GeoJSON",
        "-t_srs",
        "EPSG:27700",
        "-lco",
        "WRITE_NAME=NO",
        bng_json.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bng_json).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("crs");
    let m = msg(v.to_string().as_bytes(), &opts());
    assert!(
        m.contains("feature 0") && m.contains("not longitude/latitude") && m.contains("EPSG:27700"),
        "{m}"
    );

    // Wrong CRS: a Shapefile whose .prj says WGS84 over BNG coordinates.
    let wrong = dir.path().join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-t_srs",
        "EPSG:27700",
        wrong.join("plan.shp").to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    std::fs::write(wrong.join("plan.prj"), r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#).unwrap();
    let m = msg(&zip_dir(&wrong, &[]), &opts());
    assert!(
        m.contains("feature 0") && m.contains("not longitude/latitude"),
        "{m}"
    );

    // A declared CRS that puts the layer far from England.
    let far = r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:32633"}},"features":[{"type":"Feature","properties":{"name":"Somewhere"},"geometry":{"type":"Polygon","coordinates":[[[500000,5000000],[500100,5000000],[500100,5000100],[500000,5000000]]]}}]}"#;
    let m = msg(far.as_bytes(), &opts());
    assert!(
        m.contains("feature 0 (\"Somewhere\") lies outside England"),
        "{m}"
    );

    // Truncated zip.
    let good_zip = zip_dir(&wrong, &[]);
    let m = msg(&good_zip[..good_zip.len() / 2], &opts());
    assert!(m.contains("not a complete zip archive"), "{m}");

    // Shapefile without .prj.
    let m = msg(&zip_dir(&wrong, &["prj"]), &opts());
    assert!(m.contains("has no .prj") && m.contains("plan.shp"), "{m}");

    // A zip without a Shapefile.
    let m = msg(&zip_dir(&wrong, &["shp"]), &opts());
    assert!(m.contains("no .shp"), "{m}");

    // A self-intersecting polygon (a bow tie), refused with its index, or repaired on request.
    let bowtie = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"name":"fine"},"geometry":{"type":"Polygon","coordinates":[[[-2.160,53.616],[-2.153,53.616],[-2.153,53.620],[-2.160,53.616]]]}},
      {"type":"Feature","properties":{"name":"Bow tie"},"geometry":{"type":"Polygon","coordinates":[[[-2.160,53.616],[-2.153,53.620],[-2.153,53.616],[-2.160,53.620],[-2.160,53.616]]]}}]}"#;
    let m = msg(bowtie.as_bytes(), &opts());
    assert!(
        m.contains("feature 1 (\"Bow tie\")")
            && m.contains("not valid")
            && m.contains("repair=true"),
        "{m}"
    );
    let fixed = parse(
        bowtie.as_bytes(),
        &UploadOptions {
            repair: true,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(fixed.repaired, vec![1]);
    assert_eq!(
        fixed.features[1].shape.0.len(),
        2,
        "the bow tie becomes two triangles"
    );

    // Empty layer.
    assert!(matches!(
        parse(br#"{"type":"FeatureCollection","features":[]}"#, &opts()),
        Err(OverlayError::Empty)
    ));
    let empty_gpkg = dir.path().join("empty.gpkg");
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-where",
        "1 = 0",
        empty_gpkg.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let m = msg(&std::fs::read(&empty_gpkg).unwrap(), &opts());
    assert!(m.contains("no features"), "{m}");

    // Over the size limit.
    let m = msg(
        &rochdale(),
        &UploadOptions {
            max_bytes: 100,
            ..opts()
        },
    );
    assert!(m.contains("over the limit of 100 bytes"), "{m}");

    // Not polygons.
    let m = msg(br#"{"type":"Feature","properties":{"name":"A stop"},"geometry":{"type":"Point","coordinates":[-2.15,53.61]}}"#, &opts());
    assert!(
        m.contains("feature 0 (\"A stop\"): a Point geometry")
            && m.contains("Polygon or MultiPolygon"),
        "{m}"
    );
    let lines = dir.path().join("lines");
    std::fs::create_dir(&lines).unwrap();
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-nlt",
        "LINESTRING",
        "-t_srs",
        "EPSG:27700",
        lines.join("l.shp").to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let m = msg(&zip_dir(&lines, &[]), &opts());
    assert!(m.contains("feature 0") && m.contains("Polyline"), "{m}");

    // Not JSON, not a GeoPackage.
    assert!(msg(
        b"{\"type\": \"FeatureCollection\", \"features\": [",
        &opts()
    )
    .contains("not valid GeoJSON"));
    let m = msg(b"SQLite format 3\0garbage", &opts());
    assert!(m.contains("not a GeoPackage"), "{m}");
}

/// A zipped Shapefile whose parts unpack to more than the limit (100+ MB of zeros as its .shp,
/// in a zip of about 100 KB) is refused, naming the part and the limit, after reading no more
/// than it; a .prj is read only to 64 KB.
#[test]
fn a_zip_bomb_is_refused_at_the_limit() {
    let bomb = |part: &str, bytes: usize| {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let zopts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9));
        for name in ["plan.prj", "plan.shp"] {
            zip.start_file(name, zopts).unwrap();
            if name == part {
                let chunk = vec![0u8; 1 << 20];
                for _ in 0..bytes / chunk.len() + 1 {
                    zip.write_all(&chunk).unwrap();
                }
            } else {
                zip.write_all(b"PROJCS[]").unwrap();
            }
        }
        zip.finish().unwrap().into_inner()
    };
    let limit = sitefinder::ingest::overlay::MAX_UNZIPPED_BYTES as usize;
    let bytes = bomb("plan.shp", limit + 1);
    assert!(bytes.len() < 1_000_000, "{} bytes", bytes.len());
    let e = parse(&bytes, &opts()).unwrap_err().to_string();
    assert_eq!(e, "plan.shp unpacks to more than the 100 MB the Shapefile's parts may unpack to together: a zip that unpacks to far more than it holds is refused; zip the layer's .shp, .shx, .dbf and .prj again");
    let e = parse(&bomb("plan.prj", 70_000), &opts())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("plan.prj unpacks to more than 64 KB; a .prj is one line of text"),
        "{e}"
    );
}

/// A GeoPackage whose layer is a view over a recursive query (it would run forever) is
/// refused: only tables are read.
#[test]
fn a_geopackage_layer_that_is_a_view_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("plan.geojson");
    std::fs::write(&src, rochdale()).unwrap();
    let gpkg = dir.path().join("plan.gpkg");
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-nln",
        "plan",
        gpkg.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    {
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
    }
    let bytes = std::fs::read(&gpkg).unwrap();
    let e = parse(&bytes, &opts()).unwrap_err().to_string();
    assert!(
        e.contains("forever") && e.contains("view") && e.contains("only tables"),
        "{e}"
    );
}

/// A GeoJSON layer in British National Grid metres with one polygon per ring list.
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

/// A closed ring of `n` points around (389_000, 413_000) (Rochdale), radius `r` metres.
fn circle(n: usize, r: f64) -> Vec<[f64; 2]> {
    (0..=n)
        .map(|i| {
            let t = std::f64::consts::TAU * (i % n) as f64 / n as f64;
            [389_000.0 + r * t.cos(), 413_000.0 + r * t.sin()]
        })
        .collect()
}

/// The upload bounds of issue 14: a valid 100,000-vertex circle (82 s with `geo`'s quadratic
/// check) is accepted; an 800-vertex scribble (over a minute in `geo`'s make-valid) is refused
/// with what to do, and repaired on request; a star whose every edge crosses most others is
/// refused as too intricate or too tangled, never left running; and the feature, vertex and
/// ring limits each name the limit and the value.
#[test]
fn big_and_tangled_shapes_are_checked_within_bounds() {
    use sitefinder::ingest::overlay::UploadLimits;
    let big = bng_layer(&[vec![circle(100_000, 1_000.0)]]);
    let p = parse(&big, &opts()).unwrap();
    assert_eq!(p.features.len(), 1);
    assert!(p.repaired.is_empty());

    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 1_000_000) as f64 / 1_000.0
    };
    let mut scribble: Vec<[f64; 2]> = (0..800)
        .map(|_| [389_000.0 + next(), 413_000.0 + next()])
        .collect();
    scribble.push(scribble[0]);
    let layer = bng_layer(&[vec![scribble]]);
    let m = parse(&layer, &opts()).unwrap_err().to_string();
    assert!(
        m.starts_with("feature 0 (\"area 0\"): the polygon is not valid (the outer ring of polygon 0 crosses itself at (")
            && m.ends_with("fix it in your GIS, or ask for it to be repaired (repair=true when uploading; overlay add --repair)"),
        "{m}"
    );
    let fixed = parse(
        &layer,
        &UploadOptions {
            repair: true,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(fixed.repaired, vec![0]);
    assert!(sitefinder::base::valid::check(&fixed.features[0].shape, &Default::default()).is_ok());

    // 2,001 points joined every 1,000th: over 2 million crossings.
    let n = 2_001;
    let star: Vec<[f64; 2]> = (0..=n)
        .map(|i| {
            let t = std::f64::consts::TAU * ((i * 1_000) % n) as f64 / n as f64;
            [389_000.0 + 1_000.0 * t.cos(), 413_000.0 + 1_000.0 * t.sin()]
        })
        .collect();
    let layer = bng_layer(&[vec![star]]);
    let m = parse(
        &layer,
        &UploadOptions {
            repair: true,
            ..opts()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        m.contains("could not be repaired (too tangled to repair: more than 100000 crossings")
            && m.ends_with("fix it in your GIS"),
        "{m}"
    );
    let tight = UploadLimits {
        validity: sitefinder::base::valid::Budget {
            pairs: 1_000,
            pairs_per_edge: 0,
            crossings: 100_000,
        },
        ..Default::default()
    };
    let m = parse(
        &layer,
        &UploadOptions {
            repair: true,
            limits: tight,
            ..opts()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        m.contains("too intricate to check: more than 1000 pairs of edges")
            && !m.contains("repair=true"),
        "{m}"
    );

    // The limits, each named with the value found.
    let squares: Vec<Vec<Vec<[f64; 2]>>> = (0..5)
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
    let five = bng_layer(&squares);
    let limited = |limits: UploadLimits| {
        parse(&five, &UploadOptions { limits, ..opts() })
            .map(|p| p.features.len())
            .map_err(|e| e.to_string())
    };
    assert_eq!(limited(UploadLimits::default()), Ok(5));
    assert_eq!(
        limited(UploadLimits {
            max_features: 4,
            ..Default::default()
        }),
        Err("the layer has 5 features, over the limit of 4; split the layer, or keep only the areas you plan with".into())
    );
    assert_eq!(
        limited(UploadLimits {
            max_vertices: 24,
            ..Default::default()
        }),
        Err("the layer has 25 vertices, over the limit of 24; simplify the layer (e.g. QGIS: Vector > Geometry Tools > Simplify) or split it".into())
    );
    let holed = bng_layer(&[vec![
        circle(8, 500.0),
        circle(4, 10.0)
            .iter()
            .map(|[x, y]| [x - 100.0, *y])
            .collect(),
        circle(4, 10.0)
            .iter()
            .map(|[x, y]| [x + 100.0, *y])
            .collect(),
    ]]);
    let m = parse(
        &holed,
        &UploadOptions {
            limits: UploadLimits {
                max_rings_per_feature: 2,
                ..Default::default()
            },
            ..opts()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        m.starts_with("the layer has 3 rings in feature 0 (\"area 0\"), over the limit of 2"),
        "{m}"
    );
    assert_eq!(parse(&holed, &opts()).unwrap().features.len(), 1);

    // The work budget is the layer's, not each feature's: ten 300-vertex circles each check
    // within 1,000 pairs of edges, but not all ten together.
    let budget = UploadLimits {
        validity: sitefinder::base::valid::Budget {
            pairs: 1_000,
            pairs_per_edge: 0,
            crossings: 100_000,
        },
        ..Default::default()
    };
    let circles: Vec<Vec<Vec<[f64; 2]>>> = (0..10)
        .map(|i| {
            vec![circle(300, 40.0)
                .iter()
                .map(|[x, y]| [x + 100.0 * i as f64, *y])
                .collect()]
        })
        .collect();
    let one = bng_layer(&circles[..1]);
    let ten = bng_layer(&circles);
    let with = |bytes: &[u8]| {
        parse(
            bytes,
            &UploadOptions {
                limits: budget,
                ..opts()
            },
        )
        .map(|p| p.features.len())
        .map_err(|e| e.to_string())
    };
    assert_eq!(with(&one), Ok(1));
    let m = with(&ten).unwrap_err();
    assert!(
        m.contains("too intricate to check: more than 1000 pairs"),
        "{m}"
    );
    assert_eq!(parse(&ten, &opts()).unwrap().features.len(), 10);
}
