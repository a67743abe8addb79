//! The `sitefinder` binary as a user runs it: outputs, exit codes, and no partial files.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn sitefinder_no_data(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(args)
        .output()
        .expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const REQUIRED: [&str; 10] = [
    "rank",
    "id",
    "name",
    "score",
    "lsoa21cd",
    "imd_decile",
    "nearest_practice_code",
    "nearest_practice_m",
    "nearest_practice_pcn",
    "catchment_pcns",
];

#[test]
fn rank_writes_rfc7946_geojson_with_breakdowns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shortlist.geojson");
    let o = sitefinder(&["rank", "--as-of", "2024-07-01", "--out", p(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The two Market Hall cafés cannot hold a clinic: left out, and said so.
    assert!(
        stderr(&o).contains("ranked 105 of 107 units")
            && stderr(&o).contains("2 left out as unable to hold a clinic"),
        "{}",
        stderr(&o)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["type"], "FeatureCollection");
    assert!(v["left_out_unsuitable"]
        .as_str()
        .unwrap()
        .starts_with("2 units that cannot hold a clinic"));
    assert!(v["attribution"][0]
        .as_str()
        .unwrap()
        .contains("Open Government Licence"));
    let feats = v["features"].as_array().unwrap();
    assert_eq!(feats.len(), 105);
    let mut last = f64::INFINITY;
    for (i, f) in feats.iter().enumerate() {
        assert_eq!(f["geometry"]["type"], "Point");
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        // RFC 7946: lon first; Rochdale is about 2.1 W, 53.6 N.
        assert!(
            (-2.35..-1.95).contains(&lon) && (53.5..53.75).contains(&lat),
            "{lon},{lat}"
        );
        for x in [lon, lat] {
            assert!(
                (x * 1e6 - (x * 1e6).round()).abs() < 1e-6,
                "6 decimals: {x}"
            );
        }
        let props = &f["properties"];
        for k in REQUIRED {
            assert!(props.get(k).is_some(), "missing {k}");
        }
        assert_eq!(props["rank"], i + 1);
        let s = props["score"].as_f64().unwrap();
        assert!(s <= last && (0.0..=1.0).contains(&s));
        last = s;
        let b = props["breakdown"].as_object().unwrap();
        assert_eq!(b.len(), 7);
        let sum: f64 = b
            .values()
            .map(|x| x["contribution"].as_f64().unwrap())
            .sum();
        assert!((sum - s).abs() < 0.002, "contributions {sum} vs score {s}");
        assert!(!b["deprivation"]["why"].as_str().unwrap().is_empty());
    }
}

/// The sentences of two Rochdale units, word for word and figure for figure, as the build
/// before the sentences wrote their figures in place wrote them: each kind of part (a
/// decile in IMD 2019, a list of practices and PCNs, thousands, distances in metres, a
/// floor area from the rateable value or a ground floor, a vacancy, both kinds of gap).
#[test]
fn rank_csv_sentences_are_word_for_word() {
    let o = sitefinder(&["rank"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut rdr = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let h = rdr.headers().unwrap().clone();
    let (id, why) = (
        h.iter().position(|c| c == "id").unwrap(),
        h.iter().position(|c| c == "why").unwrap(),
    );
    let whys: std::collections::HashMap<String, String> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[id].to_string(), r[why].to_string())
        })
        .collect();
    assert_eq!(
        whys["rochdale-11774397085618"],
        "deprivation: LSOA E01005484 (Rochdale 010E) in IMD decile 1 (IMD 2025 score 72.9; decile 1 in IMD 2019); population-weighted IMD score within 800 m is 62.2; more deprived than 99% of England's LSOAs | demand: 4 GP practices (P86006 ASHWORTH STREET SURGERY, P86007 WELLFIELD HEALTH CENTRE, P86026 THE DAWES FAMILY PRACTICE, P86619 DR MB GHAFOOR & PARTNERS), 40,895 registered patients in catchment (catchments estimated from list sizes and distance); PCN: CANALSIDE PCN, ROCHDALE NORTH PCN, THE BRIDGE PCN | reach: about 8,487 residents within 800 m (walking reach, straight line) | access: 23 public transport stops within 400 m | suitability: floor area about 178 m², estimated from rateable value (£17,750 at £100/m²) (0.59); floor level unknown; vacant since 2023-12-31: 6 months at the date of its list, 2024-07-01 (0.25) | gap: nearest vaccination site 360 m (Number 1 Riverside, February 2021); nearest pharmacy 280 m (Boots)"
    );
    assert_eq!(
        whys["rochdale-14702291630760"],
        "deprivation: LSOA E01005482 (Rochdale 010C) in IMD decile 1 (IMD 2025 score 82.4; decile 1 in IMD 2019); population-weighted IMD score within 800 m is 61.6; more deprived than 99% of England's LSOAs | reach: about 8,863 residents within 800 m (walking reach, straight line) | access: 25 public transport stops within 400 m | suitability: floor area about 218 m², estimated from rateable value (£21,750 at £100/m²) (0.67); ground floor / step-free (1); vacant since 2022-09-01: 22 months at the date of its list, 2024-07-01 (0.92) | demand: 1 GP practice (P86006 ASHWORTH STREET SURGERY), 14,112 registered patients in catchment (catchments estimated from list sizes and distance); PCN: ROCHDALE NORTH PCN | gap: nearest vaccination site 310 m (Number 1 Riverside, February 2021); nearest pharmacy 370 m (Boots)"
    );
}

#[test]
fn rank_csv_has_the_required_columns_and_one_per_criterion() {
    let o = sitefinder(&["rank", "--as-of", "2024-07-01", "--top", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    for k in REQUIRED {
        assert!(h.iter().any(|x| x == k), "missing {k}");
    }
    for c in [
        "deprivation",
        "reach",
        "demand",
        "gap",
        "access",
        "suitability",
    ] {
        for s in ["raw", "norm"] {
            assert!(h.contains(&format!("{c}_{s}")), "missing {c}_{s}");
        }
    }
    assert_eq!(rdr.records().count(), 5);
}

#[test]
fn bad_input_exits_2_with_one_line_and_leaves_no_or_the_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,lat,lon\na,53.61,-2.15\nb,-2.15,53.61\n").unwrap();
    let out = dir.path().join("out.csv");
    let o = sitefinder(&["rank", "--units", p(&bad), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains("bad.csv line 3") && e.contains("swapped"), "{e}");
    assert!(!out.exists());
    // An earlier output is left as it was.
    std::fs::write(&out, "earlier").unwrap();
    let o = sitefinder(&["rank", "--units", p(&bad), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "earlier");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary files left"
    );
}

#[test]
fn skip_invalid_reports_each_row_and_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mixed.csv");
    std::fs::write(&f, "id,lat,lon\na,53.61,-2.15\nb,x,-2.15\nc,53.62,-2.15\n").unwrap();
    let o = sitefinder(&["rank", "--units", p(&f), "--skip-invalid"]);
    assert!(o.status.success());
    let e = stderr(&o);
    assert!(e.contains("skipped") && e.contains("line 3"), "{e}");
    assert!(
        e.contains("ranked 2 of 3 units") && e.contains("1 skipped as invalid"),
        "{e}"
    );
}

#[test]
fn weights_from_flags_and_toml_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("w.toml");
    std::fs::write(
        &toml,
        "[weights]\ndeprivation = 0\nreach = 0\ndemand = 0\ngap = 1\naccess = 0\nsuitability = 0\n",
    )
    .unwrap();
    let o = sitefinder(&["rank", "--weights", p(&toml), "--format", "geojson"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    // Gap alone: the score is the gap criterion's normalised value.
    for f in v["features"].as_array().unwrap() {
        let pr = &f["properties"];
        assert!((pr["score"].as_f64().unwrap() - pr["gap_norm"].as_f64().unwrap()).abs() < 1e-4);
    }
    let o = sitefinder(&["rank", "--weights", "beauty=3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown criterion `beauty`"));
    let o = sitefinder(&["rank", "--weights", "access=-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("weight for `access`"));
}

#[test]
fn pcn_lad_and_decile_filters() {
    let o = sitefinder(&[
        "rank",
        "--pcn",
        "rochdale north",
        "--imd-deciles",
        "1-2",
        "--format",
        "geojson",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let feats = v["features"].as_array().unwrap();
    assert!(!feats.is_empty());
    for f in feats {
        let pr = &f["properties"];
        assert!(pr["catchment_pcns"]
            .as_str()
            .unwrap()
            .contains("ROCHDALE NORTH PCN"));
        assert!(pr["imd_decile"].as_u64().unwrap() <= 2);
    }
    let o = sitefinder(&["rank", "--pcn", "Rochdale Nort"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("similar names") && stderr(&o).contains("ROCHDALE NORTH PCN"),
        "{}",
        stderr(&o)
    );
    let o = sitefinder(&["rank", "--lad", "Narnia"]);
    assert_eq!(o.status.code(), Some(2));
    let o = sitefinder(&["rank", "--lad", "Bury"]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("ranked 0 of 107"), "{}", stderr(&o));
}

#[test]
fn registrations_file_defines_the_catchment() {
    // Synthetic registrations in the NHS Digital layout (the real file is not open data here):
    // E01005482's residents registered at P86002 (70%), P86005 (25%), P86006 (5%).
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("gp-reg-pat-prac-lsoa.csv");
    std::fs::write(
        &reg,
        "PUBLICATION,EXTRACT_DATE,PRACTICE_CODE,PRACTICE_NAME,LSOA_CODE,SEX,NUMBER_OF_PATIENTS\n\
         GP_PRAC_PAT_LIST,01JAN2021,P86002,X,E01005482,ALL,700\n\
         GP_PRAC_PAT_LIST,01JAN2021,P86005,X,E01005482,ALL,250\n\
         GP_PRAC_PAT_LIST,01JAN2021,P86006,X,E01005482,ALL,50\n\
         GP_PRAC_PAT_LIST,01JAN2021,P86005,X,E01005583,ALL,900\n\
         GP_PRAC_PAT_LIST,01JAN2021,W99999,X,W01000001,ALL,10\n",
    )
    .unwrap();
    let units = dir.path().join("u.csv");
    std::fs::write(&units, "id,lat,lon\ncentre,53.612645,-2.151008\n").unwrap();
    let o = sitefinder(&[
        "rank",
        "--units",
        p(&units),
        "--registrations",
        p(&reg),
        "--format",
        "geojson",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let pr = &v["features"][0]["properties"];
    assert_eq!(pr["lsoa21cd"], "E01005482");
    assert_eq!(pr["catchment_practices"], "P86002 P86005");
    // Patients are the practices' totals in the file: 700 + (250 + 900).
    assert_eq!(pr["catchment_patients"], 1850);
    assert!(v["catchments"]
        .as_str()
        .unwrap()
        .starts_with("registered patients by LSOA"));

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "PRACTICE_CODE,LSOA_CODE\nP86002,E01005482\n").unwrap();
    let o = sitefinder(&["rank", "--registrations", p(&bad)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("NUMBER_OF_PATIENTS"));
}

#[test]
fn catchment_polygons_define_the_catchment() {
    // A synthetic square catchment for P86005 around Rochdale town centre.
    let dir = tempfile::tempdir().unwrap();
    let poly = dir.path().join("catch.geojson");
    std::fs::write(
        &poly,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"practice_code":"P86005"},
        "geometry":{"type":"Polygon","coordinates":[[[-2.17,53.60],[-2.13,53.60],[-2.13,53.63],[-2.17,53.63],[-2.17,53.60]]]}}]}"#,
    )
    .unwrap();
    let units = dir.path().join("u.csv");
    std::fs::write(
        &units,
        "id,lat,lon\nin,53.612645,-2.151008\nout,53.55,-2.20\n",
    )
    .unwrap();
    let o = sitefinder(&[
        "rank",
        "--units",
        p(&units),
        "--catchments",
        p(&poly),
        "--format",
        "geojson",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    for f in v["features"].as_array().unwrap() {
        let pr = &f["properties"];
        match pr["id"].as_str().unwrap() {
            "in" => assert_eq!(pr["catchment_practices"], "P86005"),
            _ => {
                assert_eq!(pr["catchment_practices"], "");
                assert!(pr["breakdown"]["demand"]["no_data"].as_bool().unwrap());
            }
        }
    }
}

#[test]
fn about_prints_sources_and_attribution() {
    let o = sitefinder(&["about"]);
    assert!(o.status.success());
    let s = String::from_utf8(o.stdout).unwrap();
    for w in [
        "Open Government Licence",
        "Royal Mail",
        "Crown copyright",
        "IMD",
        "Helmert",
        "gp_practices",
        "coverage: Greater Manchester]",
        "coverage: Greater Manchester and the West Midlands]",
    ] {
        assert!(
            s.contains(w) || s.contains(&w.to_lowercase()),
            "about lacks {w}"
        );
    }
}

#[test]
fn help_describes_the_commands() {
    let o = sitefinder_no_data(&["rank", "--help"]);
    assert!(o.status.success());
    let s = String::from_utf8(o.stdout).unwrap();
    for w in [
        "--units",
        "--pcn",
        "--weights",
        "--format",
        "--out",
        "--skip-invalid",
        "--registrations",
    ] {
        assert!(s.contains(w), "help lacks {w}");
    }
    let o = sitefinder_no_data(&["rank", "--data", "/nonexistent-dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("manifest.json"), "{}", stderr(&o));
}

/// `serve --cors-origin` takes origins as browsers send them and refuses anything else with the
/// flag named.
#[test]
fn serve_refuses_a_cors_origin_that_is_not_one() {
    for bad in [
        "maps.example.org",
        "https://maps.example.org/path",
        "https://",
    ] {
        let o = sitefinder_no_data(&["serve", "--addr", "256.0.0.1:1", "--cors-origin", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let e = stderr(&o);
        assert!(
            e.contains("--cors-origin") && e.contains("is not an origin"),
            "{bad}: {e}"
        );
    }
}

/// `serve --public-url` takes http(s)://host[:port][/path] and refuses anything else.
#[test]
fn serve_refuses_a_public_url_that_is_not_one() {
    for bad in [
        "maps.example.org",
        "ftp://maps.example.org",
        "https://",
        "https://x/?a=1",
    ] {
        let o = sitefinder_no_data(&["serve", "--addr", "256.0.0.1:1", "--public-url", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let e = stderr(&o);
        assert!(
            e.contains("--public-url") && e.contains("is not a public address"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn serve_takes_a_base_map_url_and_its_attribution_together() {
    let o = sitefinder_no_data(&["serve", "--help"]);
    let help = String::from_utf8(o.stdout).unwrap();
    assert!(help.contains("--base-map-url") && help.contains("--base-map-attribution"));
    let state = tempfile::tempdir().unwrap();
    let url = "https://tile.example.org/{z}/{x}/{y}.png";
    for (flags, want) in [
        (vec!["--base-map-url", url], "needs --base-map-attribution"),
        (
            vec!["--base-map-attribution", "© Example"],
            "needs --base-map-url",
        ),
        (
            vec![
                "--base-map-url",
                "tile.png",
                "--base-map-attribution",
                "© Example",
            ],
            "tile URL template",
        ),
    ] {
        // An address that cannot be bound: a server that started anyway would fail otherwise.
        let mut args = vec!["serve", "--addr", "256.0.0.1:1", "--state", p(state.path())];
        args.extend(flags);
        let o = sitefinder(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        assert!(e.contains(want), "{args:?}: {e}");
    }
}

#[test]
fn every_kind_of_bad_input_exits_2_with_one_line_naming_the_place_and_no_output() {
    let cases: &[(&str, &str, &str)] = &[
        ("missing.csv", "id,colour\n1,red\n", "no location columns"),
        ("nan.csv", "id,lat,lon\na,53.61,abc\n", "line 2"),
        ("swapped.csv", "id,lat,lon\na,-2.1554,53.6160\n", "swapped"),
        (
            "outside.csv",
            "id,lat,lon\na,48.8566,2.3522\n",
            "outside England",
        ),
        ("empty.csv", "", "empty"),
        (
            "invalid.geojson",
            "{\"type\":\"FeatureCollection\",\"features\":[{]}",
            "invalid GeoJSON",
        ),
        (
            "postcode.csv",
            "id,postcode\na,ZZ99 9ZZ\n",
            "unknown postcode",
        ),
        (
            "dups.csv",
            "id,lat,lon\na,53.61,-2.15\na,53.61,-2.15\n",
            "duplicate id",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text, want) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        let out = dir.path().join(format!("{name}.out.geojson"));
        let o = sitefinder(&["rank", "--units", p(&f), "--out", p(&out)]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        let e = stderr(&o);
        assert_eq!(e.trim().lines().count(), 1, "{name}: {e}");
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
        assert!(!out.exists(), "{name}: partial output");
    }
    let o = sitefinder(&["rank", "--units", "/nonexistent/units.csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/units.csv"));
}

#[test]
fn optimise_prints_the_choice_the_optimum_and_equity_and_writes_the_sites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("chosen.csv");
    let o = sitefinder(&[
        "optimise",
        "--k",
        "3",
        "--fixed",
        "vaccination-sites",
        "--exact",
        "--out",
        p(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = String::from_utf8(o.stdout).unwrap();
    for w in [
        "mclp with k = 3",
        "in order of choice",
        "  1. rochdale-",
        "proven optimum",
        "heuristic gap",
        "(Lagrangian bound): this choice ",
        "IMD decile 1:",
    ] {
        assert!(report.contains(w), "report lacks `{w}`:\n{report}");
    }
    let rows = std::fs::read_to_string(&out).unwrap();
    assert_eq!(rows.lines().count(), 4, "{rows}");
    assert!(rows.starts_with("order,id,name,marginal"));
    let o = sitefinder(&[
        "optimise",
        "--k",
        "2",
        "--compare",
        "rochdale-13937X00510007,rochdale-15800800010084",
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("scenario rochdale-13937X00510007, rochdale-15800800010084: objective"));
    let o = sitefinder(&["optimise", "--model", "k-means"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--model"));
    let o = sitefinder(&["optimise", "--fixed", "castles"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("castles"));
}

/// Kirklees (West Yorkshire) is outside the pharmacy layer: `--fixed pharmacies` fixes none
/// there, and the text, the GeoJSON and the XLSX query sheet say Kirklees has no pharmacy data
/// and name every layer's coverage; with `--lad` and `--pcn` too.
#[test]
fn optimise_fixed_pharmacies_in_kirklees_fixes_none_and_says_there_is_no_pharmacy_data() {
    let dir = tempfile::tempdir().unwrap();
    let units = data_dir().join("units/kirklees_vacant_shops.csv");
    let geojson = dir.path().join("chosen.geojson");
    let xlsx = dir.path().join("chosen.xlsx");
    let no_data = "no pharmacy data for Bradford (E08000032) and Kirklees (E08000034), so existing pharmacies there are unknown and none are fixed";
    let coverage = "data coverage: GP practices, vaccination sites: all England; stops: Greater Manchester and the West Midlands; pharmacies: Greater Manchester";
    for out in [&geojson, &xlsx] {
        let o = sitefinder(&[
            "optimise",
            "--units",
            p(&units),
            "--fixed",
            "pharmacies",
            "--k",
            "3",
            "--out",
            p(out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        for w in [
            "0 fixed sites (pharmacies)",
            "the layer covers Greater Manchester only",
            no_data,
            coverage,
        ] {
            assert!(text.contains(w), "report lacks `{w}`:\n{text}");
        }
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&geojson).unwrap()).unwrap();
    assert_eq!(v["fixed_sites"], 0);
    assert_eq!(v["fixed"][0]["layer"], "pharmacies");
    assert_eq!(v["fixed"][0]["fixed_sites"], 0);
    assert_eq!(v["fixed"][0]["covers"], "Greater Manchester");
    assert_eq!(v["fixed"][0]["no_data"][1]["lad_name"], "Kirklees");
    assert_eq!(v["fixed"][0]["no_data"][1]["lad_code"], "E08000034");
    assert!(
        v["fixed"][0]["note"].as_str().unwrap().contains(no_data),
        "{v}"
    );
    assert_shipped_coverage(&v["coverage"]);

    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    use calamine::Reader;
    let sheets = wb.sheet_names().to_vec();
    let cells: Vec<String> = sheets
        .iter()
        .filter_map(|s| wb.worksheet_range(s).ok())
        .flat_map(|r| r.cells().map(|(_, _, c)| c.to_string()).collect::<Vec<_>>())
        .collect();
    assert!(cells.iter().any(|c| c == "fixed_pharmacies"), "{sheets:?}");
    assert!(cells.iter().any(|c| c.contains(no_data)), "{sheets:?}");
    assert!(cells
        .iter()
        .any(|c| c.contains("pharmacies: Greater Manchester")));

    for area in [["--lad", "Kirklees"], ["--pcn", "Tolson Care Partnership"]] {
        let o = sitefinder(&[
            "optimise",
            "--units",
            p(&units),
            "--fixed",
            "pharmacies,vaccination-sites",
            "--k",
            "2",
            area[0],
            area[1],
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(
            text.contains("fixed pharmacies: the layer covers Greater Manchester only; no pharmacy data for Kirklees (E08000034), so existing pharmacies there are unknown and none are fixed"),
            "{area:?}: {text}"
        );
        assert!(
            text.contains("fixed vaccination sites: the layer covers all England; "),
            "{text}"
        );
    }
}

/// The estates workflow from the command line: a plan overlay in, a ranking that uses it, a
/// shortlist of the top units, and the shortlist exported in every format; bad overlays are
/// refused with one line and leave the database unchanged.
#[test]
fn overlay_shortlist_and_export_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let st = p(&state);
    let plan = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/overlays/rochdale_town_centre_SYNTHETIC.geojson");
    let o = sitefinder_no_data(&[
        "overlay",
        "add",
        p(&plan),
        "--name",
        "Town plan",
        "--state",
        st,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("added overlay 1 `Town plan`: 2 features read as EPSG:4326"),
        "{out}"
    );

    // Bad files: exit 2, one line naming the file and the problem, database unchanged.
    let db = state.join(sitefinder::store::DB_FILE);
    let before = std::fs::read(&db).unwrap();
    let bowtie = dir.path().join("bowtie.geojson");
    std::fs::write(&bowtie, r#"{"type":"Feature","properties":{"name":"Bow tie"},"geometry":{"type":"Polygon","coordinates":[[[-2.160,53.616],[-2.153,53.620],[-2.153,53.616],[-2.160,53.620],[-2.160,53.616]]]}}"#).unwrap();
    for (file, name, needle) in [
        (
            p(&bowtie),
            "Bow",
            "feature 0 (\"Bow tie\"): the polygon is not valid",
        ),
        (p(&plan), "Town plan", "exists already"),
    ] {
        let o = sitefinder_no_data(&["overlay", "add", file, "--name", name, "--state", st]);
        assert_eq!(o.status.code(), Some(2));
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(needle), "{e}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // Rank inside the plan only.
    let o = sitefinder(&[
        "rank",
        "--overlay",
        "Town plan",
        "--plan-within-m",
        "0",
        "--state",
        st,
        "--format",
        "geojson",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let feats = v["features"].as_array().unwrap();
    assert!(feats.len() >= 10 && feats.len() < 107, "{}", feats.len());
    assert!(feats
        .iter()
        .all(|f| f["properties"]["breakdown"]["plan"]["norm"] == 1.0));

    // A shortlist of the top 4 inside the plan, a note, then exports.
    let o = sitefinder(&[
        "shortlist",
        "add",
        "Centre sites",
        "--top",
        "4",
        "--overlay",
        "1",
        "--plan-within-m",
        "0",
        "--note",
        "walk-round due",
        "--state",
        st,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Centre sites: 4 sites"));
    let first = feats[0]["id"].as_str().unwrap();
    let o = sitefinder_no_data(&[
        "shortlist",
        "note",
        "Centre sites",
        first,
        "Step-free; £12k rent",
        "--state",
        st,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sitefinder_no_data(&[
        "shortlist",
        "note",
        "Centre sites",
        "nope",
        "x",
        "--state",
        st,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unit `nope` is not in shortlist `Centre sites`"));

    for ext in ["csv", "xlsx", "geojson", "gpkg"] {
        let f = dir.path().join(format!("centre.{ext}"));
        let o = sitefinder(&[
            "export",
            "--shortlist",
            "Centre sites",
            "--out",
            p(&f),
            "--state",
            st,
        ]);
        assert!(o.status.success(), "{ext}: {}", stderr(&o));
        let bytes = std::fs::read(&f).unwrap();
        match ext {
            "csv" => {
                assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
                let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
                assert_eq!(text.lines().count(), 5);
                assert!(text.contains("Step-free; £12k rent") && text.contains("walk-round due"));
                // The shortlist remembers its overlay: the plan column has data.
                assert!(
                    text.lines().nth(1).unwrap().contains("inside \"\""),
                    "{text}"
                );
            }
            "xlsx" => assert!(bytes.starts_with(b"PK")),
            "geojson" => {
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(v["features"].as_array().unwrap().len(), 4);
                assert_eq!(v["plan_overlay"], "Town plan");
            }
            _ => {
                let info = Command::new("ogrinfo")
                    .args(["-so", "-al"])
                    .arg(&f)
                    .output()
                    .unwrap();
                assert!(String::from_utf8_lossy(&info.stdout).contains("Feature Count: 4"));
            }
        }
    }
    // Unknown shortlist and a format that cannot be guessed: clear one-line errors, no file.
    let f = dir.path().join("x.docx");
    let o = sitefinder(&[
        "export",
        "--shortlist",
        "Centre sites",
        "--out",
        p(&f),
        "--state",
        st,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--format csv|xlsx|geojson|gpkg|pdf"));
    let o = sitefinder(&[
        "export",
        "--shortlist",
        "Elsewhere",
        "--out",
        p(&dir.path().join("e.csv")),
        "--state",
        st,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no shortlist `Elsewhere`; the shortlists are: Centre sites"),
        "{}",
        stderr(&o)
    );
    assert!(!f.exists() && !dir.path().join("e.csv").exists());
}

/// `optimise --out` writes every format it lists, each with the chosen sites in order of choice
/// and their addresses (it once wrote CSV text into .xlsx and .gpkg files).
#[test]
fn optimise_writes_xlsx_and_geopackage_with_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("chosen.xlsx");
    let o = sitefinder(&["optimise", "--k", "3", "--out", p(&xlsx)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&xlsx).unwrap();
    assert!(bytes.starts_with(b"PK"), "not an XLSX (zip) file");
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    use calamine::Reader;
    let sites = wb.worksheet_range("sites").unwrap();
    let header = header_row(&sites);
    assert_eq!(
        &header[..9],
        [
            "Order chosen",
            "Unit id",
            "Name",
            "Address",
            "Postcode",
            "Score",
            "Marginal gain",
            "Radius (m)",
            "Model"
        ]
    );
    let address = header
        .iter()
        .position(|h| h == "Address")
        .expect("an address column");
    let rows: Vec<_> = sites.rows().skip(1).collect();
    assert_eq!(rows.len(), 3);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0].to_string(), (i + 1).to_string());
        assert!(r[1].to_string().starts_with("rochdale-"));
        assert!(!r[address].to_string().is_empty(), "row {i} has no address");
    }

    let gpkg = dir.path().join("chosen.gpkg");
    let o = sitefinder(&["optimise", "--k", "3", "--out", p(&gpkg)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = std::process::Command::new("ogrinfo")
        .args(["-al", "-so"])
        .arg(&gpkg)
        .output()
        .expect("ogrinfo (gdal-bin) runs");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("Feature Count: 3"), "{text}");
    assert!(text.contains("address: String"), "{text}");
    assert!(text.contains("marginal: Real"), "{text}");
}

/// `--units` repeated ranks the files together; an id in two files is refused, naming both.
#[test]
fn several_units_files_rank_together_and_a_file_named_twice_is_read_once() {
    let units = data_dir().join("units");
    let (b, k) = (
        units.join("calderdale_vacant_shops.csv"),
        units.join("selby_vacant_shops.csv"),
    );
    let o = sitefinder(&[
        "rank",
        "--units",
        p(&b),
        "--units",
        p(&k),
        "--as-of",
        "2024-07-01",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = String::from_utf8_lossy(&o.stdout).into_owned();
    let ids: Vec<&str> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(ids.len(), 86 + 18, "{}", stderr(&o));
    assert!(ids.iter().any(|i| i.starts_with("calderdale-")));
    assert!(ids.iter().any(|i| i.starts_with("selby-")));
    // The same file named twice is read once (ids clashing between different files are
    // prefixed: tests/units_files.rs).
    let o = sitefinder(&["rank", "--units", p(&k), "--units", p(&k)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1 + 18);
}

#[test]
fn imd_2019_stays_available_to_compare_editions() {
    let dir = tempfile::tempdir().unwrap();
    let (new, old) = (
        dir.path().join("2025.geojson"),
        dir.path().join("2019.geojson"),
    );
    let args = ["rank", "--as-of", "2024-07-01", "--limit", "200"];
    let o = sitefinder(&[&args[..], &["--out", p(&new)]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sitefinder(&[&args[..], &["--imd", "2019", "--out", p(&old)]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |f: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()
    };
    let (new, old) = (read(&new), read(&old));
    assert!(new["deprivation"].as_str().unwrap().contains("2025"));
    assert!(old["deprivation"].as_str().unwrap().contains("2019"));
    let by_id = |v: &Value| -> std::collections::HashMap<String, Value> {
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["properties"].clone(),
                )
            })
            .collect()
    };
    let (new, old) = (by_id(&new), by_id(&old));
    // 107 units, 2 of them (Market Hall cafés) left out as unable to hold a clinic.
    assert_eq!(new.len(), 105);
    assert_eq!(old.len(), 105);
    // The town-centre LSOA E01005482 kept its code from 2011 to 2021 and is in decile 1 in both.
    let unit = new
        .iter()
        .find(|(_, p)| p["lsoa21cd"] == "E01005482")
        .map(|(id, _)| id.clone())
        .expect("a unit in E01005482");
    assert_eq!(old[&unit]["lsoa11cd"], "E01005482");
    assert!(old[&unit].get("lsoa21cd").is_none());
    assert_eq!(new[&unit]["imd_decile"], 1);
    assert_eq!(old[&unit]["imd_decile"], 1);
    assert!(new[&unit]["breakdown"]["deprivation"]["why"]
        .as_str()
        .unwrap()
        .contains("IMD 2025 score"));
    assert!(old[&unit]["breakdown"]["deprivation"]["why"]
        .as_str()
        .unwrap()
        .contains("IMD 2019 score"));
    let o = sitefinder(&["rank", "--imd", "2015"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--imd"), "{}", stderr(&o));
}

/// `optimise` leaves out the Market Hall cafés like `rank` does, and says so in the report,
/// the GeoJSON and the workbook's query sheet; `--include-unsuitable` makes them candidates
/// (with k = 100 both are chosen).
#[test]
fn optimise_leaves_out_the_market_hall_cafes_unless_include_unsuitable() {
    let cafes = ["rochdale-133498000400X5", "rochdale-1334980005007B"];
    let dir = tempfile::tempdir().unwrap();
    let geojson = dir.path().join("chosen.geojson");
    let xlsx = dir.path().join("chosen.xlsx");
    let ids = |path: &Path| -> Vec<String> {
        feature_ids(&serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
    };
    let o = sitefinder(&["optimise", "--k", "100", "--out", p(&geojson)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("105 candidate units")
            && text.contains("left out 2 units that cannot hold a clinic")
            && text.contains("rochdale-133498000400X5 (unit inside a market hall)"),
        "{text}"
    );
    let chosen = ids(&geojson);
    assert_eq!(chosen.len(), 100);
    assert!(cafes.iter().all(|c| !chosen.iter().any(|x| x == c)));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&geojson).unwrap()).unwrap();
    assert_eq!(v["left_out_unsuitable"], 2);
    assert_eq!(v["unsuitable"][0]["reason"], "unit inside a market hall");

    let o = sitefinder(&["optimise", "--k", "3", "--out", p(&xlsx)]);
    assert!(o.status.success(), "{}", stderr(&o));
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    let query = wb.worksheet_range("query").unwrap();
    let row = |key: &str| -> String {
        query
            .rows()
            .find(|r| r[0] == key)
            .map(|r| r[1].to_string())
            .unwrap_or_else(|| panic!("no `{key}` row on the query sheet"))
    };
    assert!(
        row("left_out_unsuitable").starts_with("2 units that cannot hold a clinic"),
        "{}",
        row("left_out_unsuitable")
    );
    assert_eq!(row("include_unsuitable"), "false");
    assert!(row("coverage").contains("stops: Greater Manchester and the West Midlands"));

    let o = sitefinder(&[
        "optimise",
        "--k",
        "100",
        "--include-unsuitable",
        "--out",
        p(&geojson),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("107 candidate units") && !text.contains("left out"),
        "{text}"
    );
    let chosen = ids(&geojson);
    assert!(
        cafes.iter().all(|c| chosen.iter().any(|x| x == c)),
        "{chosen:?}"
    );

    let o = sitefinder(&["optimise", "--include-unsuitable", "perhaps"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--include-unsuitable"),
        "{}",
        stderr(&o)
    );
}

/// Every rank output names the areas each layer covers, like optimise's.
#[test]
fn rank_geojson_names_each_layers_coverage() {
    let o = sitefinder(&["rank", "--top", "3", "--format", "geojson"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_shipped_coverage(&v["coverage"]);
}

/// Text a spreadsheet would run as a formula (a name or address starting with `=`, `+`, `-` or
/// `@` in a council's list) is written to CSV with a leading `'`, so Excel shows it as text;
/// coordinates and other numbers stay numbers.
#[test]
fn csv_cells_never_run_as_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("units.csv");
    std::fs::write(
        &units,
        "id,name,address,lat,lon\n\
         a,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",@SUM(1+1),53.612645,-2.151008\n\
         b,+44 shop,-12 High Street,53.6130,-2.1520\n",
    )
    .unwrap();
    let out = dir.path().join("out.csv");
    let o = sitefinder(&["rank", "--units", p(&units), "--out", p(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut rdr = csv::Reader::from_path(&out).unwrap();
    let h: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let by_id = |id: &str| rows.iter().find(|r| &r[col("id")] == id).unwrap().clone();
    let a = by_id("a");
    assert_eq!(
        &a[col("name")],
        "'=HYPERLINK(\"http://evil.example\",\"x\")"
    );
    assert_eq!(&a[col("address")], "'@SUM(1+1)");
    let b = by_id("b");
    assert_eq!(&b[col("name")], "'+44 shop");
    assert_eq!(&b[col("address")], "'-12 High Street");
    for r in &rows {
        for c in r {
            assert!(!c.starts_with(['=', '+', '@']), "{c}");
        }
    }
    assert!(rows.iter().any(|r| r[col("score")].parse::<f64>().is_ok()));
}

/// `serve` prints a token it made, never one read from `--token-file` (it would end up in logs).
#[test]
fn serve_does_not_print_a_token_read_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token-from-a-file\n").unwrap();
    let server = Serving::start(&dir.path().join("state"), &["--token-file", p(&token_file)]);
    let line = server.wait_for("write token");
    assert!(!line.contains("s3cret-token-from-a-file"), "{line}");
    assert!(
        line.contains("not printed") && line.contains("token"),
        "{line}"
    );
}

/// SIGTERM (a service manager's stop) stops `serve` gracefully: a request under way is
/// answered in full, then the server exits 0 saying so.
#[cfg(unix)]
#[test]
fn serve_stops_gracefully_on_sigterm() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut server = Serving::start(dir.path(), &[]);
    let addr = server.addr.clone();
    // A big page (10,000 LSOA polygons) under way when the signal comes.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /collections/lsoa/items?limit=10000 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut body = vec![];
    s.read_to_end(&mut body).unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(300)]
    );
    assert!(
        text.contains("\"numberReturned\":10000"),
        "the page was cut short"
    );
    server.wait_for("stopping");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 60 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}

/// A write's token is checked before its body is read: an upload without it, announcing 10 MB
/// and sending none, is refused at once (a server that read first would wait for the body).
#[test]
fn serve_refuses_a_write_without_the_token_before_reading_its_body() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "a-token-of-some-length").unwrap();
    let server = Serving::start(&dir.path().join("state"), &["--token-file", p(&token_file)]);
    for (method, path) in [
        ("POST", "/overlays?name=Plan"),
        ("POST", "/shortlists"),
        ("DELETE", "/overlays/1"),
    ] {
        let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n",
            server.addr
        )
        .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer without the body ({e})"));
        assert_eq!(&head, b"HTTP/1.1 401", "{method} {path}");
    }
}

/// `--max-upload-mb` is 1 to 1024: 0 and values that would overflow are refused, named.
#[test]
fn serve_refuses_an_upload_limit_out_of_range() {
    for bad in ["0", "1025", "99999999999999999999", "ten"] {
        let o = sitefinder_no_data(&["serve", "--addr", "256.0.0.1:1", "--max-upload-mb", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&o).contains("--max-upload-mb"),
            "{bad}: {}",
            stderr(&o)
        );
    }
}
