//! Exports read back by independent readers: XLSX with calamine (and its XML read from the zip
//! for the frozen header and the number formats), GeoPackage with GDAL's ogrinfo (Debian's
//! gdal-bin, installed by the set-up). The table of column names in `docs/exports.md` is
//! checked against the code's.

mod common;

use std::process::Command;

use calamine::{open_workbook, Data, Reader, Xlsx};
use common::*;

fn rank_to(out: &std::path::Path) {
    let o = rank_with(out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn xlsx_has_sites_with_breakdown_the_query_and_the_sources() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shortlist.xlsx");
    rank_to(&out);
    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    assert_eq!(wb.sheet_names(), ["sites", "query", "sources"]);
    let sites = wb.worksheet_range("sites").unwrap();
    // The two Market Hall cafés cannot hold a clinic and are left out.
    assert_eq!(sites.height(), 106, "header + 105 units");
    let header = header_row(&sites);
    for k in [
        "Rank",
        "Unit id",
        "Score",
        "LSOA 2021 code",
        "IMD 2025 decile (1 = most deprived)",
        "Nearest practice's PCN",
        "Deprivation: scaled 0-1",
        "Deprivation: why",
        "Gap to existing sites: why",
        "Reasons, strongest first",
    ] {
        assert!(header.iter().any(|h| h == k), "missing column {k}");
    }
    let col = |k: &str| header.iter().position(|h| h == k).unwrap();
    let first = sites.rows().nth(1).unwrap();
    assert_eq!(first[col("Rank")], Data::Float(1.0));
    assert!(matches!(first[col("Score")], Data::Float(s) if (0.0..=1.0).contains(&s)));
    assert!(first[col("Deprivation: why")]
        .to_string()
        .contains("IMD decile 1 (IMD 2025 score"));
    let query = wb.worksheet_range("query").unwrap();
    let text: Vec<String> = query.rows().map(|r| format!("{}={}", r[0], r[1])).collect();
    assert!(
        text.iter().any(|t| t.starts_with("weights=deprivation=4")),
        "{text:?}"
    );
    let sources = wb.worksheet_range("sources").unwrap();
    let all: String = sources
        .rows()
        .flat_map(|r| r.iter().map(|c| c.to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("Open Government Licence") && all.contains("Indices of Deprivation 2025"));
}

#[test]
fn geopackage_is_read_by_gdal_as_bng_points() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shortlist.gpkg");
    rank_to(&out);
    let o = Command::new("ogrinfo")
        .args(["-al", "-so"])
        .arg(&out)
        .output()
        .expect("ogrinfo runs (install gdal-bin: the README's set-up does)");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        s.contains("Layer name: sites")
            && s.contains("Geometry: Point")
            && s.contains("Feature Count: 105"),
        "{s}"
    );
    assert!(
        s.contains("27700") && s.contains("British National Grid"),
        "{s}"
    );
    for f in [
        "rank: Integer",
        "score: Real",
        "lsoa21cd: String",
        "imd_decile: Integer",
        "deprivation_why: String",
    ] {
        assert!(s.contains(f), "missing field {f}: {s}");
    }
    // The first feature is rank 1, in Rochdale's BNG range.
    let o = Command::new("ogrinfo")
        .args(["-al", "-q", "-where", "rank = 1"])
        .arg(&out)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    let p = s
        .split("POINT (")
        .nth(1)
        .expect("a point")
        .split(')')
        .next()
        .unwrap()
        .to_string();
    let xy: Vec<f64> = p.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert!(
        (380_000.0..400_000.0).contains(&xy[0]) && (400_000.0..420_000.0).contains(&xy[1]),
        "{xy:?}"
    );
}

#[test]
fn a_failed_export_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("missing-dir").join("x.gpkg");
    let o = Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(["rank", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(data_dir())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("x.gpkg"));
    assert!(!out.exists());
    let o = Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(["rank", "--format", "xlsx"])
        .arg("--data")
        .arg(data_dir())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "xlsx to stdout is refused");
}

/// A GeoPackage column's type is what the column holds, not what its first row (or any row)
/// happens to: a number missing from the first site still makes a numeric column, and so does
/// a number missing from every site (an export of one area reads like another's in a GIS).
#[test]
fn geopackage_columns_are_typed_by_what_they_hold() {
    use sitefinder::analysis::rank::{rank, Filters, Weights};
    use sitefinder::export::{write, ExportFormat, Meta};

    let (_dir, csv) = write_temp(
        "units.csv",
        "id,name,address,postcode,lat,lon,rateable_value,description,vacant_since,council\n\
         a,No RV,\"19 BAILLIE STREET, ROCHDALE\",OL16 1JA,53.617995,-2.156424,,SHOP,2018-06-01,Rochdale\n\
         b,With RV,\"2 CHARTER STREET, ROCHDALE\",OL16 4TQ,53.602936,-2.145307,2850,SHOP,2013-04-01,Rochdale\n\
         c,Also RV,\"UNIT 21, THE WHEATSHEAF CENTRE\",OL16 1JY,53.619084,-2.155415,9100,SHOP,2022-08-26,Rochdale\n",
    );
    let imported = import(&csv);
    let contexts = join(&imported);
    let units = &imported.units;
    assert!(units[0].rateable_value.is_none() && units[1].rateable_value.is_some());
    let mut ranking = rank(
        atlas(),
        units,
        &contexts,
        &Weights::default(),
        &Filters::default(),
        &settings(),
        None,
    )
    .unwrap();
    // The unit without a rateable value (and without a floor area, like all three) first.
    ranking.rows.sort_by_key(|r| r.unit);
    assert!(units[ranking.rows[0].unit].rateable_value.is_none());

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("typed.gpkg");
    write(
        &out,
        ExportFormat::Gpkg,
        atlas(),
        units,
        &contexts,
        &ranking,
        &Meta::default(),
    )
    .unwrap();
    let o = Command::new("ogrinfo")
        .args(["-al", "-so"])
        .arg(&out)
        .output()
        .expect("ogrinfo runs (install gdal-bin: the README's set-up does)");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(s.contains("Feature Count: 3"), "{s}");
    assert!(s.contains("rateable_value: Real"), "{s}");
    assert!(!s.contains("rateable_value: String"), "{s}");
    assert!(
        s.contains("rank: Integer") && s.contains("imd_decile: Integer"),
        "{s}"
    );
    assert!(s.contains("floor_area_m2: Real"), "no values at all: {s}");
    assert!(
        s.contains("plan_raw: Real") && s.contains("id: String") && s.contains("why: String"),
        "{s}"
    );
    assert!(s.contains("imd2019_decile: Integer"), "{s}");

    // The values are numbers, and the first site's is null.
    let o = Command::new("ogrinfo")
        .args([
            "-al",
            "-q",
            "-sql",
            "SELECT id, typeof(rateable_value) AS t, rateable_value FROM sites ORDER BY fid",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let types: Vec<&str> = s
        .lines()
        .filter_map(|l| l.trim().strip_prefix("t (String) = "))
        .collect();
    assert_eq!(types, ["null", "real", "real"], "{s}");
    assert!(
        s.contains("rateable_value (Real) = 2850") && s.contains("rateable_value (Real) = 9100"),
        "{s}"
    );
}

/// The XML of one part of an XLSX file.
fn xlsx_part(path: &std::path::Path, part: &str) -> String {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut f = zip.by_name(part).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

/// The value of `attr="..."` in an XML element's text.
fn attr<'a>(element: &'a str, attr: &str) -> Option<&'a str> {
    let at = element.find(&format!(" {attr}=\""))? + attr.len() + 3;
    element[at..].split('"').next()
}

/// The number format of a cell (`F2`) of the first sheet: its style's format code (built-in
/// ones by their id: 0 General, 1 `0`, 2 `0.00`, 3 `#,##0`).
fn number_format(path: &std::path::Path, cell: &str) -> String {
    let sheet = xlsx_part(path, "xl/worksheets/sheet1.xml");
    let at = sheet
        .find(&format!("<c r=\"{cell}\""))
        .unwrap_or_else(|| panic!("no cell {cell}"));
    let element = &sheet[at..at + sheet[at..].find('>').unwrap()];
    let style: usize = attr(element, "s").map_or(0, |s| s.parse().unwrap());
    let styles = xlsx_part(path, "xl/styles.xml");
    let xfs = &styles[styles.find("<cellXfs").unwrap()..];
    let xf = xfs.split("<xf ").nth(style + 1).unwrap();
    let id = attr(&format!(" {xf}"), "numFmtId")
        .unwrap_or("0")
        .to_string();
    match id.as_str() {
        "0" => "General".into(),
        "1" => "0".into(),
        "2" => "0.00".into(),
        "3" => "#,##0".into(),
        _ => {
            let at = styles
                .find(&format!("<numFmt numFmtId=\"{id}\""))
                .unwrap_or_else(|| panic!("no numFmt {id}"));
            attr(&styles[at..], "formatCode")
                .unwrap()
                .replace("&amp;", "&")
        }
    }
}

/// The letters of a column (0 = A).
fn column_letters(mut i: usize) -> String {
    let mut s = String::new();
    loop {
        s.insert(0, (b'A' + (i % 26) as u8) as char);
        if i < 26 {
            return s;
        }
        i = i / 26 - 1;
    }
}

/// The XLSX sites sheet is for a board paper: headers in words, who and where first, the score,
/// the reasons, the details; a bold frozen header with a filter; number formats; and the
/// position in degrees and in British National Grid metres, agreeing with the GeoJSON export
/// and with the units' own coordinates.
#[test]
fn xlsx_is_board_ready_with_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("board.xlsx");
    rank_to(&out);
    let geo = dir.path().join("board.geojson");
    rank_to(&geo);
    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    let sites = wb.worksheet_range("sites").unwrap();
    let header = header_row(&sites);
    assert_eq!(
        header[..6],
        ["Rank", "Unit id", "Name", "Address", "Postcode", "Score"],
        "{header:?}"
    );
    assert_eq!(header[6], "Reasons, strongest first", "{header:?}");
    assert_eq!(header[7], "Deprivation: why", "{header:?}");
    assert_eq!(
        header[header.len() - 4..],
        [
            "Latitude",
            "Longitude",
            "Easting (EPSG:27700)",
            "Northing (EPSG:27700)"
        ]
    );
    for h in [
        "IMD 2025 decile (1 = most deprived)",
        "LSOA 2021 code",
        "Floor area (m²)",
        "Rateable value (£)",
        "Registered patients in catchment",
    ] {
        assert!(header.iter().any(|x| x == h), "missing {h}: {header:?}");
    }
    assert!(
        !header.iter().any(|h| h.contains('_')),
        "a machine name is left: {header:?}"
    );
    let col = |k: &str| header.iter().position(|h| h == k).unwrap();

    // Degrees as in the GeoJSON, metres as the units hold them.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&geo).unwrap()).unwrap();
    let e = engine();
    let mut checked = 0;
    for row in sites.rows().skip(1) {
        let id = row[col("Unit id")].to_string();
        let num = |k: &str| match row[col(k)] {
            Data::Float(f) => f,
            ref other => panic!("{k} of {id} is {other:?}"),
        };
        let (lat, lon) = (num("Latitude"), num("Longitude"));
        assert!(
            (53.3..55.9).contains(&lat) && (-3.3..-1.3).contains(&lon),
            "{id}: {lat}, {lon}"
        );
        let f = v["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} is not in the GeoJSON"));
        let c = &f["geometry"]["coordinates"];
        assert!((c[0].as_f64().unwrap() - lon).abs() <= 1e-6, "{id}");
        assert!((c[1].as_f64().unwrap() - lat).abs() <= 1e-6, "{id}");
        let u = &e.units[e.unit(&id).unwrap()];
        assert!(
            (num("Easting (EPSG:27700)") - u.pos[0]).abs() <= 0.005,
            "{id}"
        );
        assert!(
            (num("Northing (EPSG:27700)") - u.pos[1]).abs() <= 0.005,
            "{id}"
        );
        checked += 1;
    }
    assert_eq!(checked, 105);

    // A frozen header (and rank, id, name) with a filter over the whole table.
    let sheet = xlsx_part(&out, "xl/worksheets/sheet1.xml");
    assert!(sheet.contains("state=\"frozen\""), "no frozen pane");
    assert!(sheet.contains("ySplit=\"1\"") && sheet.contains("xSplit=\"3\""));
    let last = column_letters(header.len() - 1);
    assert!(
        sheet.contains(&format!("<autoFilter ref=\"A1:{last}106\"")),
        "no filter over A1:{last}106"
    );
    assert!(sheet.contains("customWidth=\"1\""), "no column widths");
    let styles = xlsx_part(&out, "xl/styles.xml");
    assert!(styles.contains("<b/>"), "no bold font");
    // Number formats, cell by cell on the first site's row.
    let fmt = |k: &str| number_format(&out, &format!("{}2", column_letters(col(k))));
    assert_eq!(fmt("Score"), "0.000");
    assert_eq!(fmt("Deprivation: contribution to score"), "0.000");
    assert_eq!(fmt("Registered patients in catchment"), "#,##0");
    assert_eq!(fmt("Distance to nearest GP practice (m)"), "#,##0");
    assert_eq!(fmt("Latitude"), "0.000000");
    assert_eq!(fmt("Easting (EPSG:27700)"), "0");
    assert_eq!(fmt("IMD 2025 score"), "0.0");
}

/// `docs/exports.md` lists every XLSX column with its machine name, from the code's own table.
#[test]
fn the_column_table_in_the_docs_is_the_codes() {
    use sitefinder::engine::{OptimiseQuery, RankQuery};
    use sitefinder::export::{columns, xlsx_keys};
    let e = engine();
    let mut ranking = e.rank(&RankQuery::default(), None).unwrap();
    ranking.rows.truncate(2);
    ranking.rows[0].note = Some("a note".into());
    let report = e.optimise(&OptimiseQuery::default()).unwrap();
    let chosen = e.chosen(&OptimiseQuery::default(), &report);
    let mut keys = xlsx_keys(&e.atlas, &e.units, &e.contexts, &ranking);
    for k in xlsx_keys(&e.atlas, &e.units, &e.contexts, &chosen) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let keys = columns::xlsx_order(keys.iter().map(String::as_str));
    assert!(keys.contains(&"note") && keys.contains(&"radius_m") && keys.contains(&"order"));
    let table = columns::markdown(&keys, e.atlas.imd);
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/exports.md"),
    )
    .unwrap();
    let block = docs
        .split("<!-- columns: generated -->\n")
        .nth(1)
        .and_then(|b| b.split("<!-- /columns -->").next())
        .expect("docs/exports.md has the columns block");
    assert!(
        block == table,
        "docs/exports.md's column table is out of date; put this between its markers:\n{table}"
    );
}

/// The CSV writer puts each cell straight into the file; the JSON properties (GeoJSON, the API)
/// go through a map. Both come from one list of columns: every cell of every row must read the
/// same, formula-like text guarded, empty values empty, numbers as JSON writes them.
#[test]
fn csv_rows_are_the_json_properties_cell_for_cell() {
    use sitefinder::engine::query::RankQuery;
    use sitefinder::export::table::{csv_cell, properties, write_csv};
    let mut e = engine();
    e.units[0].name = "=HYPERLINK(\"http://x\")".into();
    e.units[1].address = "-2 High Street".into();
    let q = RankQuery {
        include_unsuitable: Some(true),
        ..RankQuery::default()
    };
    let ranking = e.rank(&q, None).unwrap();
    let mut bytes = vec![];
    write_csv(&mut bytes, &e.atlas, &e.units, &e.contexts, &ranking).unwrap();
    // No units, no rows: nothing at all, not even a header.
    let mut empty = ranking.clone();
    empty.rows.clear();
    let mut none = vec![];
    write_csv(&mut none, &e.atlas, &[], &[], &empty).unwrap();
    assert!(none.is_empty());
    let explained = e.explained(&ranking);
    let mut rd = csv::Reader::from_reader(&bytes[..]);
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 107);
    let mut guarded = 0;
    for (r, row) in explained.rows.iter().zip(&rows) {
        let p = properties(&e.atlas, &e.units, &e.contexts, "rank", r);
        assert_eq!(p.keys().cloned().collect::<Vec<_>>(), header);
        let want: Vec<String> = p.values().map(csv_cell).collect();
        assert_eq!(row.iter().collect::<Vec<_>>(), want);
        guarded += row
            .iter()
            .filter(|c| c.starts_with("'=") || c.starts_with("'-"))
            .count();
    }
    assert_eq!(guarded, 2, "the two formula-like cells are guarded");
}

/// `sitefinder rank` with these flags into `out`, the command's output returned.
fn rank_with(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "rank",
        "--as-of",
        "2024-07-01",
        "--weights",
        "deprivation=4",
    ];
    args.extend(extra);
    args.extend(["--out", p(out)]);
    sitefinder(&args)
}

/// `--properties` writes only the columns named, in the file's own order, each cell as the
/// whole file has it: CSV (with `breakdown` keeping the criteria's columns, and without `why`
/// no row put into words), GeoJSON (a feature's `breakdown` only if named), XLSX read by
/// calamine and GeoPackage read by GDAL (both keeping the position). A name that is not a
/// column is refused, naming those that are.
#[test]
fn properties_choose_a_files_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let run = |out: &std::path::Path, extra: &[&str]| {
        let o = rank_with(out, extra);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&p("all.csv"), &[]);
    let (all_header, all_rows) = csv_table(&std::fs::read(p("all.csv")).unwrap());
    let col = |k: &str| all_header.iter().position(|h| h == k).unwrap();
    let names_of = |v: &[&str]| v.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    for (names, want) in [
        // Named out of order: written in the file's order.
        ("score,id,rank", names_of(&["rank", "id", "score"])),
        (
            "why, lsoa21cd ,breakdown,rank,why",
            [
                names_of(&["rank", "lsoa21cd"]),
                breakdown_columns(),
                names_of(&["why"]),
            ]
            .concat(),
        ),
        (
            "catchment_pcns,floor_area_m2",
            names_of(&["catchment_pcns", "floor_area_m2"]),
        ),
    ] {
        run(&p("some.csv"), &["--properties", names]);
        let (header, rows) = csv_table(&std::fs::read(p("some.csv")).unwrap());
        assert_eq!(header, want, "{names}");
        assert_eq!(rows.len(), all_rows.len());
        for (row, full) in rows.iter().zip(&all_rows) {
            let cells: Vec<&String> = want.iter().map(|k| &full[col(k)]).collect();
            assert_eq!(row.iter().collect::<Vec<_>>(), cells, "{names}");
        }
    }

    // GeoJSON: the features' properties, without their breakdown.
    run(&p("all.geojson"), &[]);
    run(&p("some.geojson"), &["--properties", "rank,id,score,why"]);
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p(f)).unwrap()).unwrap()
    };
    let (all, some) = (read("all.geojson"), read("some.geojson"));
    let (all, some) = (
        all["features"].as_array().unwrap(),
        some["features"].as_array().unwrap(),
    );
    assert_eq!(all.len(), some.len());
    for (f, full) in some.iter().zip(all) {
        let props = f["properties"].as_object().unwrap();
        assert_eq!(
            props.keys().collect::<Vec<_>>(),
            ["rank", "id", "score", "why"]
        );
        for (k, v) in props {
            assert_eq!(v, &full["properties"][k], "{k}");
        }
        assert!(full["properties"]["breakdown"].is_object());
        assert_eq!(f["geometry"], full["geometry"]);
    }

    // XLSX: the named columns and the position, as the whole workbook has them.
    run(&p("all.xlsx"), &[]);
    run(&p("some.xlsx"), &["--properties", "rank,score,imd_decile"]);
    let sheet = |f: &str| {
        let mut wb: Xlsx<_> = open_workbook(p(f)).unwrap();
        wb.worksheet_range("sites").unwrap()
    };
    let (all, some) = (sheet("all.xlsx"), sheet("some.xlsx"));
    let some_header = header_row(&some);
    assert_eq!(
        some_header,
        [
            "Rank",
            "Score",
            "IMD 2025 decile (1 = most deprived)",
            "Latitude",
            "Longitude",
            "Easting (EPSG:27700)",
            "Northing (EPSG:27700)"
        ]
    );
    let all_header = header_row(&all);
    assert_eq!(some.height(), all.height());
    for (row, full) in some.rows().zip(all.rows()).skip(1) {
        for (k, cell) in some_header.iter().zip(row) {
            let at = all_header.iter().position(|h| h == k).unwrap();
            assert_eq!(cell, &full[at], "{k}");
        }
    }
    let mut wb: Xlsx<_> = open_workbook(p("some.xlsx")).unwrap();
    let query = wb.worksheet_range("query").unwrap();
    assert!(
        query
            .rows()
            .any(|r| r.iter().any(|c| *c == "rank,score,imd_decile")),
        "the query sheet names the columns asked for"
    );

    // GeoPackage: GDAL reads the named fields and the position alone.
    run(
        &p("some.gpkg"),
        &["--properties", "rank,lsoa21cd,breakdown"],
    );
    let o = Command::new("ogrinfo")
        .args(["-al", "-so"])
        .arg(p("some.gpkg"))
        .output()
        .expect("ogrinfo runs (install gdal-bin: the README's set-up does)");
    let s = String::from_utf8_lossy(&o.stdout);
    let fields: Vec<&str> = s
        .lines()
        .skip_while(|l| !l.starts_with("Geometry Column"))
        .skip(1)
        .filter_map(|l| l.split(':').next())
        .collect();
    let mut got: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    let mut want: Vec<String> = [
        "rank",
        "lsoa21cd",
        "latitude",
        "longitude",
        "easting",
        "northing",
    ]
    .map(String::from)
    .to_vec();
    for c in sitefinder::analysis::criteria::CRITERIA {
        for part in ["raw", "norm", "contribution", "why"] {
            want.push(format!("{}_{part}", c.name()));
        }
    }
    got.sort();
    want.sort();
    assert_eq!(got, want, "{s}");

    // A name that is not a column.
    let o = rank_with(&p("bad.csv"), &["--properties", "rank,sc0re"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--properties: `sc0re` is not a property") && err.contains("imd_decile, "),
        "{err}"
    );
    assert!(!p("bad.csv").exists());
    let o = rank_with(&p("bad.csv"), &["--properties", " , "]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--properties: name at least one"), "{err}");
}

/// The criteria's columns in a CSV: each one's raw value, scaled value and contribution.
fn breakdown_columns() -> Vec<String> {
    sitefinder::analysis::criteria::CRITERIA
        .iter()
        .flat_map(|c| ["raw", "norm", "contribution"].map(|part| format!("{}_{part}", c.name())))
        .collect()
}
