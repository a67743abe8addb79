//! Importing units: every layout, and every kind of bad input with the place it names.

mod common;

use common::*;
use sitefinder::base::textio::Encoding;
use sitefinder::ingest::units::{read_units, Format, ImportOptions, LocatedBy};

#[test]
fn rochdale_business_rates_layout_imports_only_empty_properties() {
    // Real rows of Rochdale's list (1 July 2024): 2 of 12 are flagged `Empty Y/N` = Y.
    let imp = import(&fixture("rochdale_rates_2024-07_sample.csv"));
    assert_eq!(imp.format, Format::BusinessRates);
    assert_eq!(imp.occupied, 10);
    let ids: Vec<&str> = imp.units.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["10115000010086", "10277793229921"]);
    let gnd = &imp.units[1];
    assert_eq!(gnd.name, "GND FLR 6A");
    assert_eq!(gnd.ground_floor, Some(true), "GND FLR in the name");
    assert_eq!(gnd.vacant_since.unwrap().to_string(), "2017-06-27");
    assert_eq!(gnd.rateable_value, Some(5600.0));
    assert_eq!(gnd.description.as_deref(), Some("SHOP AND PREMISES"));
    assert_eq!(gnd.located_by, LocatedBy::Postcode);
}

#[test]
fn kirklees_layout_counts_exemptions_and_empty_rate_relief_as_empty() {
    let imp = import(&fixture("kirklees_rates_2019_sample.csv"));
    assert_eq!(imp.format, Format::BusinessRates);
    assert_eq!((imp.units.len(), imp.occupied), (11, 3));
    assert!(imp
        .units
        .iter()
        .all(|u| u.located_by == LocatedBy::Coordinates));
    assert!(
        imp.units.iter().any(|u| u.id == "13500092000N"),
        "EPRN relief"
    );
}

#[test]
fn portsmouth_empty_list_with_bom_and_postcodes_inside_addresses() {
    let imp = import(&fixture("portsmouth_empty_2022-01_sample.csv"));
    assert_eq!(imp.encoding, Encoding::Utf8Bom);
    assert_eq!(imp.units.len(), 8);
    let first = &imp.units[0];
    assert_eq!(first.id, "177510143220");
    assert_eq!(first.postcode.as_deref(), Some("PO1 1AT"));
    assert_eq!(first.ground_floor, Some(false), "3rd Floor");
    assert_eq!(first.vacant_since.unwrap().to_string(), "2020-12-11");
}

#[test]
fn windows_1252_csv_from_excel_is_read() {
    // A unit named "Café" saved by Excel as Windows-1252 (é = 0xE9).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("excel.csv");
    std::fs::write(
        &p,
        b"id,name,lat,lon\r\nc1,Caf\xE9 on Drake St,53.6155,-2.1605\r\n",
    )
    .unwrap();
    let imp = import(&p);
    assert_eq!(imp.encoding, Encoding::Windows1252);
    assert_eq!(imp.units[0].name, "Café on Drake St");
}

#[test]
fn geojson_points_and_polygons() {
    let gj = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","id":"pt","properties":{"name":"A point","floor_area_m2":120},
       "geometry":{"type":"Point","coordinates":[-2.1560,53.6180]}},
      {"type":"Feature","properties":{"id":"poly","ground_floor":"yes"},
       "geometry":{"type":"Polygon","coordinates":[[[-2.1570,53.6170],[-2.1550,53.6170],[-2.1550,53.6185],[-2.1570,53.6185],[-2.1570,53.6170]]]}}
    ]}"#;
    let (_d, p) = write_temp("u.geojson", gj);
    let imp = import(&p);
    assert_eq!(imp.format, Format::GeoJson);
    assert_eq!(imp.units[0].id, "pt");
    assert_eq!(imp.units[0].floor_area_m2, Some(120.0));
    assert_eq!(imp.units[1].id, "poly");
    assert_eq!(imp.units[1].ground_floor, Some(true));
    // The polygon's interior point is inside the polygon, so in Rochdale 010C's neighbourhood.
    let c = join(&imp);
    assert_eq!(atlas().lsoas[c[1].lsoa].lad_name, "Rochdale");
}

#[test]
fn geojson_in_british_national_grid_by_its_crs() {
    let gj = r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::27700"}},
      "features":[{"type":"Feature","id":"a","properties":{},"geometry":{"type":"Point","coordinates":[389705,413440]}}]}"#;
    let (_d, p) = write_temp("bng.geojson", gj);
    let imp = import(&p);
    assert_eq!(imp.units[0].pos, [389705.0, 413440.0]);
}

fn err_of(name: &str, text: &str) -> String {
    let (_d, p) = write_temp(name, text);
    import_err(&p)
}

#[test]
fn bad_input_errors_name_the_place_and_the_fix() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("empty.csv", "", &["empty.csv", "the file is empty"]),
        ("header.csv", "id,lat,lon\n", &["header.csv", "no rows"]),
        (
            "nocols.csv",
            "id,colour\n1,red\n",
            &["no location columns", "lat", "easting", "postcode"],
        ),
        (
            "onlylat.csv",
            "id,lat\n1,53.6\n",
            &["only one of `lat`/`lon`"],
        ),
        (
            "nan.csv",
            "id,lat,lon\na,53.61,-2.15\nb,abc,-2.15\n",
            &["line 3", "column `lat`: `abc` is not a number"],
        ),
        (
            "swapped.csv",
            "id,lat,lon\na,-2.1554,53.6160\n",
            &["line 2", "look swapped"],
        ),
        (
            "paris.csv",
            "id,lat,lon\na,48.8566,2.3522\n",
            &["line 2", "outside England"],
        ),
        (
            "edinburgh.csv",
            "id,lat,lon\na,55.9533,-3.1883\n",
            &["outside England"],
        ),
        // Norwich (623000, 308500) given the wrong way round lands in Scotland.
        (
            "bngswap.csv",
            "id,easting,northing\na,308500,623000\n",
            &["line 2", "easting/northing look swapped"],
        ),
        (
            "bngdeg.csv",
            "id,easting,northing\na,-2.15,53.6\n",
            &["look like degrees"],
        ),
        (
            "pc.csv",
            "id,postcode\na,ZZ99 9ZZ\n",
            &["line 2", "unknown postcode `ZZ99 9ZZ`"],
        ),
        (
            "badpc.csv",
            "id,postcode\na,hello\n",
            &["line 2", "not a UK postcode"],
        ),
        // Rochdale town hall's lat/lon with easting/northing 400 m away, and with a Leeds
        // postcode (44 km away): a row that contradicts itself.
        (
            "lonlat_bng.csv",
            "id,lat,lon,easting,northing\na,53.6158,-2.1553,389500,413500\n",
            &[
                "line 2",
                "lat 53.6158, lon -2.1553 and easting 389500, northing 413500 are 0.4 km apart (more than 100 m)",
            ],
        ),
        (
            "lonlat_postcode.csv",
            "id,lat,lon,postcode\na,53.6158,-2.1553,LS1 4AP\n",
            &[
                "line 2",
                "lat 53.6158, lon -2.1553 is 44.3 km from postcode LS1 4AP (more than 2 km)",
                "leave the postcode out",
            ],
        ),
        (
            "bng_postcode.csv",
            "id,easting,northing,postcode\na,389700,413200,LS1 4AP\n",
            &["line 2", "easting 389700, northing 413200 is 4", "from postcode LS1 4AP"],
        ),
        (
            "dup.csv",
            "id,lat,lon\na,53.61,-2.15\nb,53.61,-2.15\na,53.62,-2.15\n",
            &["line 4", "duplicate id `a`", "line 2"],
        ),
        (
            "noloc.csv",
            "id,lat,lon,postcode\na,,,\n",
            &["line 2", "no location"],
        ),
        (
            "area.csv",
            "id,lat,lon,floor_area_m2\na,53.61,-2.15,-5\n",
            &["line 2", "floor_area_m2 must be positive"],
        ),
        (
            "date.csv",
            "id,lat,lon,vacant_since\na,53.61,-2.15,someday\n",
            &["line 2", "`someday` is not a date"],
        ),
        (
            "bad.geojson",
            "{\"type\": \"FeatureCollection\", \"features\": [",
            &["bad.geojson", "invalid GeoJSON", "line 1"],
        ),
        (
            "type.geojson",
            "{\"type\": \"Topology\"}",
            &["expected a FeatureCollection"],
        ),
        (
            "nogeom.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":null}]}"#,
            &["feature 0", "no geometry"],
        ),
        (
            "line.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}]}"#,
            &["feature 0", "LineString is not supported"],
        ),
        (
            "ring.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1]]]}}]}"#,
            &["feature 0", "at least 4 positions"],
        ),
    ];
    for (name, text, wants) in cases {
        let e = err_of(name, text);
        assert!(!e.contains('\n'), "one line: {e}");
        for w in *wants {
            assert!(e.contains(w), "{name}: `{e}` should mention `{w}`");
        }
    }
}

/// Positions that agree (the same place as lat/lon, easting/northing and its own postcode) are
/// read, at the coordinates given.
#[test]
fn agreeing_positions_are_read() {
    let (_d, p) = write_temp(
        "agree.csv",
        "id,lat,lon,easting,northing,postcode\na,53.6158,-2.1553,389776,413182,OL16 1AB\nb,53.6158,-2.1553,,,OL16 1AA\n",
    );
    let units = import(&p).units;
    assert_eq!(units.len(), 2);
    let (e, n) = sitefinder::base::crs::wgs84_to_bng(-2.1553, 53.6158).unwrap();
    for u in &units {
        assert!((u.pos[0] - e).abs() < 0.01 && (u.pos[1] - n).abs() < 0.01);
    }
}

#[test]
fn skip_invalid_skips_and_reports_each_bad_row() {
    let (_d, p) = write_temp(
        "mixed.csv",
        "id,lat,lon\nok1,53.61,-2.15\nbad,x,-2.15\nok2,53.62,-2.15\nfar,48.85,2.35\nok1,53.6,-2.1\n",
    );
    let imp = read_units(
        &p,
        atlas(),
        &ImportOptions {
            skip_invalid: true,
            ..Default::default()
        },
    )
    .unwrap();
    let ids: Vec<&str> = imp.units.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["ok1", "ok2"]);
    let places: Vec<String> = imp.skipped.iter().map(|s| s.place.to_string()).collect();
    assert_eq!(places, ["line 3", "line 5", "line 6"]);
    assert!(imp.skipped[2].reason.contains("duplicate id"));
}

#[test]
fn all_rows_invalid_is_still_an_error_with_skip_invalid() {
    let (_d, p) = write_temp("allbad.csv", "id,lat,lon\na,x,y\n");
    let e = read_units(
        &p,
        atlas(),
        &ImportOptions {
            skip_invalid: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("all 1 rows were invalid"), "{e}");
}

#[test]
fn a_seafront_unit_just_outside_the_generalised_coast_is_kept() {
    // Southsea seafront (Clarence Esplanade), where the super-generalised coastline runs inland
    // of the real one in places; the unit must still be taken as in Portsmouth.
    let (_d, p) = write_temp("sea.csv", "id,lat,lon\nsea,50.7799,-1.0890\n");
    let imp = import(&p);
    let c = join(&imp);
    assert_eq!(atlas().lsoas[c[0].lsoa].lad_name, "Portsmouth");
}

#[test]
fn every_shipped_units_file_imports_cleanly() {
    let mut total = 0;
    for entry in std::fs::read_dir(data_dir().join("units")).unwrap() {
        let p = entry.unwrap().path();
        let imp = import(&p);
        assert!(imp.skipped.is_empty());
        total += imp.units.len();
    }
    assert_eq!(total, 1553);
}

#[test]
fn degenerate_and_self_intersecting_polygons_do_not_panic() {
    let gj = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","id":"dot","properties":{},"geometry":{"type":"Polygon","coordinates":[[[-2.156,53.618],[-2.156,53.618],[-2.156,53.618],[-2.156,53.618]]]}},
      {"type":"Feature","id":"bowtie","properties":{},"geometry":{"type":"Polygon","coordinates":[[[-2.157,53.617],[-2.155,53.619],[-2.155,53.617],[-2.157,53.619],[-2.157,53.617]]]}},
      {"type":"Feature","id":"nan","properties":{},"geometry":{"type":"Point","coordinates":["x",53.6]}}
    ]}"#;
    let (_d, p) = write_temp("weird.geojson", gj);
    let imp = read_units(
        &p,
        atlas(),
        &ImportOptions {
            skip_invalid: true,
            ..Default::default()
        },
    )
    .unwrap();
    // Whatever each yields, it is a unit in Rochdale or a reported skip, never a panic.
    assert_eq!(imp.units.len() + imp.skipped.len(), 3);
    assert!(imp
        .skipped
        .iter()
        .any(|s| s.place.to_string() == "feature 2"));
    for u in &imp.units {
        assert!(
            u.pos[0] > 380_000.0 && u.pos[0] < 400_000.0,
            "{}: {:?}",
            u.id,
            u.pos
        );
    }
}

/// A units GeoJSON in another CRS (here Web Mercator, as web tools export) is refused, naming
/// the file and its `crs`, instead of being read as degrees and put nowhere near England.
#[test]
fn a_units_geojson_in_web_mercator_is_refused() {
    let (_dir, path) = write_temp(
        "units.geojson",
        r#"{"type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
            "features": [{"type": "Feature", "properties": {"id": "a"},
                          "geometry": {"type": "Point", "coordinates": [-239368.0, 7096655.0]}}]}"#,
    );
    let e = import_err(&path);
    assert!(e.contains("units.geojson"), "{e}");
    assert!(e.contains("EPSG::3857") && e.contains("reproject"), "{e}");
}

/// A `.csv.gz` of units that unpacks past the limit (a gzip of a few MB holding 500+ MB) is
/// refused, naming the file and the limit, after unpacking no more than it.
#[test]
fn a_gzip_bomb_of_units_is_refused_at_the_limit() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("units.csv.gz");
    let f = std::fs::File::create(&path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    gz.write_all(b"id,lat,lon\n").unwrap();
    let row = b"a,53.6,-2.1\n".repeat(1 << 16);
    let mut written = 0u64;
    while written <= sitefinder::ingest::units::MAX_UNITS_FILE_BYTES {
        gz.write_all(&row).unwrap();
        written += row.len() as u64;
    }
    gz.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 20_000_000);
    let e = import_err(&path);
    assert!(
        e.contains("units.csv.gz") && e.contains("at most 500 MB"),
        "{e}"
    );
}

/// A CSV over 8 MB is read through once (checked as UTF-8, its lines counted) and then parsed
/// as it is read again, never held whole: its units are those of the same bytes gzipped (read
/// whole), with a BOM, CRLF line ends, quoted commas and line breaks, and characters of two
/// and three bytes that the 1 MB blocks cut; a file in Windows-1252 is not UTF-8, so it is read
/// whole and decoded as before.
#[test]
fn a_large_csv_parsed_as_it_is_read_gives_the_units_of_a_whole_read() {
    use std::io::Write as _;
    let filler = "Café – shop, ".repeat(90);
    let mut rows = String::from("\u{FEFF}id,name,address,lat,lon,description\r\n");
    for i in 0..7_200 {
        let (lat, lon) = (
            53.60 + (i % 60) as f64 * 0.0005,
            -2.17 + (i / 60) as f64 * 0.0002,
        );
        rows.push_str(&format!(
            "U{i},\"Shop {i}, Café\",\"{i} Yorkshire Street,\r\nRochdale\",{lat:.5},{lon:.5},\"{filler}{i}\"\r\n"
        ));
    }
    for (what, bytes, encoding) in [
        ("UTF-8", rows.clone().into_bytes(), Encoding::Utf8Bom),
        (
            "Windows-1252",
            // Every row in Windows-1252 (`é` is one byte, `–` is 0x96), without the BOM.
            encoding_rs::WINDOWS_1252
                .encode(&rows["\u{FEFF}".len()..])
                .0
                .into_owned(),
            Encoding::Windows1252,
        ),
    ] {
        assert!(bytes.len() > 8_000_000, "{what}: {} bytes", bytes.len());
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("units.csv");
        std::fs::write(&plain, &bytes).unwrap();
        let packed = dir.path().join("units.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&packed).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(&bytes).unwrap();
        gz.finish().unwrap();
        let (a, b) = (import(&plain), import(&packed));
        assert_eq!((a.encoding, b.encoding), (encoding, encoding), "{what}");
        assert_eq!(a.units.len(), 7_200, "{what}");
        let seen = |imp: &sitefinder::ingest::units::Imported| {
            imp.units
                .iter()
                .map(|u| {
                    let mut u = u.clone();
                    u.source = "".into();
                    format!("{u:?}")
                })
                .collect::<Vec<_>>()
        };
        assert!(seen(&a) == seen(&b), "{what}: the units differ");
        let last = a.units.last().unwrap();
        assert_eq!(last.id, "U7199");
        assert_eq!(last.address, "7199 Yorkshire Street,\r\nRochdale", "{what}");
        let d = last.description.as_deref().unwrap();
        assert!(
            d.starts_with("Café – shop, Café") && d.ends_with("shop, 7199"),
            "{what}: {d:.40}"
        );
    }
}
