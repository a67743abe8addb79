//! Places and search on the shipped data, with known answers from real geography:
//! - Rochdale (LAD 2024 E08000005) has 20 wards since its 2022 boundary review, among them
//!   Spotland & Falinge (E05014049) and Kingsway (E05014040); other Kingsway wards are in
//!   Ashfield, Gloucester (ONS LSOA 2021 to ward 2024 lookup);
//! - Rochdale North PCN is U64487 with seven practices (NHS England practice map, October 2025);
//! - a postcode's position is its row of `data/postcodes.csv.gz` (Code-Point Open), read here
//!   directly from the file.
//!
//! And `prepare-data`'s places table rebuilt from the shipped files is byte-identical to the one
//! shipped.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;
use sitefinder::base::crs::bng_to_wgs84;
use sitefinder::base::textio::read_text;
use sitefinder::engine::search::{search, Hit, HitKind, SearchQuery};
use sitefinder::reference::atlas::Atlas;
use sitefinder::reference::places::{Match, PlaceKind};

fn find(q: &str, limit: usize) -> Vec<Hit> {
    search(
        atlas(),
        &[],
        &[],
        &SearchQuery {
            q: Some(q.into()),
            limit: Some(limit),
        },
    )
    .unwrap_or_else(|e| panic!("{q}: {e}"))
}

/// A postcode's row of the shipped table, read from the file (not through sitefinder's table).
fn postcode_row(pc: &str) -> [f64; 2] {
    let (text, _) = read_text(&data_dir().join("postcodes.csv.gz")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{pc},")))
        .unwrap_or_else(|| panic!("{pc} is not in data/postcodes.csv.gz"));
    let f: Vec<&str> = line.split(',').collect();
    [f[1].parse().unwrap(), f[2].parse().unwrap()]
}

fn contains(b: [f64; 4], lon: f64, lat: f64) -> bool {
    (b[0]..=b[2]).contains(&lon) && (b[1]..=b[3]).contains(&lat)
}

#[test]
fn the_places_table_rebuilds_byte_identical_from_the_shipped_data() {
    let out = tempfile::tempdir().unwrap();
    let summary = sitefinder::prepare::places::write(&data_dir(), out.path()).unwrap();
    assert_eq!(
        (summary.local_authorities, summary.wards, summary.pcns),
        (296, 6784, 1298),
        "{summary:?}"
    );
    let built = std::fs::read(out.path().join("places.csv.gz")).unwrap();
    let shipped = std::fs::read(data_dir().join("places.csv.gz")).unwrap();
    assert!(
        built == shipped,
        "data/places.csv.gz is not what prepare-data builds from the shipped files: rebuild it"
    );
    // The manifest lists it with its rows.
    let manifest = &atlas().manifest;
    let layer = manifest.layers.iter().find(|l| l.name == "places").unwrap();
    assert_eq!(layer.file, "places.csv.gz");
    assert_eq!(layer.rows, 296 + 6784 + 1298);
}

#[test]
fn rochdale_wards_resolve_to_their_real_codes_and_local_authority() {
    let places = atlas().places.as_ref().expect("data/ has places");
    let rochdale: Vec<_> = places
        .list
        .iter()
        .filter(|p| p.kind == PlaceKind::Ward && p.lad_code.as_deref() == Some("E08000005"))
        .collect();
    assert_eq!(rochdale.len(), 20, "Rochdale's wards");
    let hits = find("spotland & falinge", 5);
    let h = &hits[0];
    assert_eq!(
        (h.kind, h.id.as_str(), h.name.as_str(), h.matched),
        (
            HitKind::Ward,
            "E05014049",
            "Spotland & Falinge",
            Match::Exact
        )
    );
    assert_eq!(h.lad_code.as_deref(), Some("E08000005"));
    assert!(h.detail.starts_with("ward in Rochdale, "), "{}", h.detail);
    // "and" for "&", and a word inside the name.
    assert_eq!(find("Spotland and Falinge", 1)[0].id, "E05014049");
    assert_eq!(find("falinge", 1)[0].id, "E05014049");

    // Three wards called Kingsway: by name, then code; "Kingsway, Rochdale" is Rochdale's.
    let k: Vec<(String, Option<String>)> = find("kingsway", 10)
        .into_iter()
        .filter(|h| h.matched == Match::Exact)
        .map(|h| (h.id, h.lad_code))
        .collect();
    assert_eq!(
        k,
        [
            ("E05010684".to_string(), Some("E07000170".to_string())),
            ("E05010959".to_string(), Some("E07000081".to_string())),
            ("E05014040".to_string(), Some("E08000005".to_string())),
        ]
    );
    let h = &find("Kingsway, Rochdale", 5)[0];
    assert_eq!((h.id.as_str(), h.matched), ("E05014040", Match::Exact));

    // The local authority: its code, its 20 wards, and its residents are its LSOAs'.
    let h = &find("Rochdale", 5)[0];
    assert_eq!(
        (h.kind, h.id.as_str()),
        (HitKind::LocalAuthority, "E08000005")
    );
    let la = places.get(PlaceKind::LocalAuthority, "E08000005").unwrap();
    let lsoa_sum: f64 = atlas()
        .lsoas
        .iter()
        .filter(|l| l.lad_code == "E08000005")
        .map(|l| l.population)
        .sum();
    assert_eq!(la.population, Some(lsoa_sum));
    assert!((220_000.0..228_000.0).contains(&lsoa_sum), "{lsoa_sum}");
    assert_eq!(la.wards, Some(20));
    assert_eq!(find("e08000005", 1)[0].id, "E08000005", "by code");
}

#[test]
fn every_label_is_inside_its_area_and_its_box() {
    // Each LSOA's ward, read from the shipped LSOA table.
    let (text, _) = read_text(&data_dir().join("lsoa21.csv.gz")).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (code, ward) = (col("lsoa_code"), col("ward_code"));
    let ward_of: HashMap<String, String> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[code].to_string(), r[ward].to_string())
        })
        .collect();
    let a = atlas();
    let places = a.places.as_ref().unwrap();
    let mut checked = 0;
    for p in places.list.iter().filter(|p| p.kind != PlaceKind::Pcn) {
        let l = a
            .lsoa_at(p.label)
            .unwrap_or_else(|| panic!("{} {}: label in no LSOA", p.code, p.name));
        let lsoa = &a.lsoas[l];
        match p.kind {
            PlaceKind::Ward => assert_eq!(ward_of[&lsoa.code], p.code, "{}", p.name),
            _ => assert_eq!(lsoa.lad_code, p.code, "{}", p.name),
        }
        let (lon, lat) = bng_to_wgs84(p.label[0], p.label[1]).unwrap();
        assert!(contains(p.bbox, lon, lat), "{} {:?}", p.code, p.bbox);
        checked += 1;
    }
    assert_eq!(checked, 296 + 6784);
}

#[test]
fn a_postcode_resolves_to_its_position_in_the_table() {
    let [e, n] = postcode_row("OL12 6RT");
    for typed in ["OL12 6RT", "ol126rt", " Ol12  6rt "] {
        let hits = find(typed, 5);
        let h = &hits[0];
        assert_eq!(
            (h.kind, h.id.as_str(), h.matched),
            (HitKind::Postcode, "OL12 6RT", Match::Exact),
            "{typed}"
        );
        assert_eq!(h.pos, [e, n], "{typed}");
        assert_eq!(h.detail, "postcode in Rochdale");
        assert_eq!(
            hits.iter().filter(|h| h.id == "OL12 6RT").count(),
            1,
            "once"
        );
    }
    // The district typed whole: every one of its postcodes counted, all inside its box.
    let (text, _) = read_text(&data_dir().join("postcodes.csv.gz")).unwrap();
    let district: Vec<[f64; 2]> = text
        .lines()
        .filter(|l| l.starts_with("OL12 "))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            [f[1].parse().unwrap(), f[2].parse().unwrap()]
        })
        .collect();
    let hits = find("ol12", 5);
    let d = &hits[0];
    assert_eq!(
        (d.kind, d.id.as_str(), d.matched),
        (HitKind::Postcode, "OL12", Match::Exact)
    );
    assert_eq!(
        d.detail,
        format!(
            "postcode district in Rochdale, {} postcodes",
            sitefinder::base::figures::Grouped(district.len() as u64)
        )
    );
    let b = d.bbox.unwrap();
    for [e, n] in &district {
        let (lon, lat) = bng_to_wgs84(*e, *n).unwrap();
        assert!(contains(b, lon, lat), "{e},{n} outside {b:?}");
    }
    // Then postcodes of the district, in order, as many as asked for.
    assert!(hits[1..]
        .iter()
        .all(|h| h.id.starts_with("OL12 ") && h.matched == Match::Prefix));
    assert_eq!(hits.len(), 5);
    let part = find("OL12 6R", 50);
    assert!(part.iter().any(|h| h.id == "OL12 6RT"));
    assert!(part.iter().all(|h| h.id.starts_with("OL12 6R")), "{part:?}");
}

#[test]
fn rochdale_north_pcn_has_a_box_around_its_practices() {
    let h = &find("Rochdale North", 5)[0];
    assert_eq!(
        (h.kind, h.id.as_str(), h.name.as_str(), h.matched),
        (HitKind::Pcn, "U64487", "ROCHDALE NORTH PCN", Match::Exact)
    );
    assert_eq!(h.detail, "PCN in Rochdale, 7 practices");
    assert_eq!(find("rochdale north pcn", 1)[0].id, "U64487");
    assert_eq!(find("U64487", 1)[0].id, "U64487");
    let b = h.bbox.unwrap();
    let practices: Vec<_> = atlas()
        .practices
        .iter()
        .filter(|p| p.pcn_code.as_deref() == Some("U64487"))
        .collect();
    assert_eq!(practices.len(), 7);
    for p in &practices {
        let (lon, lat) = bng_to_wgs84(p.pos[0], p.pos[1]).unwrap();
        assert!(contains(b, lon, lat), "{} outside {b:?}", p.practice_code);
    }
    // The label is one of its practices.
    assert!(practices.iter().any(|p| p.pos == h.pos));
}

#[test]
fn search_is_ordered_deterministic_and_bounded() {
    let a = find("a", 50);
    assert_eq!(a.len(), 50);
    assert_eq!(a, find("a", 50), "the same answer twice");
    for w in a.windows(2) {
        assert!(
            (w[0].matched, w[0].kind) <= (w[1].matched, w[1].kind),
            "{w:?}"
        );
    }
    let q = |q: &str, limit: Option<usize>| {
        search(
            atlas(),
            &[],
            &[],
            &SearchQuery {
                q: Some(q.into()),
                limit,
            },
        )
    };
    assert_eq!(q("roch", None).unwrap().len(), 10, "10 by default");
    assert!(q(&"x".repeat(101), None).is_err());
    assert!(
        q(&"é".repeat(100), None).is_ok(),
        "100 characters, not bytes"
    );
    assert!(q("roch", Some(0)).is_err() && q("roch", Some(51)).is_err());
    assert!(q("  ", None).is_err());
}

#[test]
fn a_data_directory_without_places_still_loads_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(data_dir()).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "places.csv.gz" {
            std::os::unix::fs::symlink(e.path(), dir.path().join(e.file_name())).unwrap();
        }
    }
    let a = Atlas::load(Path::new(dir.path())).unwrap();
    assert!(a.places.is_none());
    let note = a.places_note().unwrap();
    assert!(
        note.contains("places.csv.gz") && note.contains("prepare-data"),
        "{note}"
    );
    assert!(a.about().contains(note));
    // Postcodes are still found; places are not, and that is no error.
    let hits = search(
        &a,
        &[],
        &[],
        &SearchQuery {
            q: Some("Rochdale".into()),
            limit: None,
        },
    )
    .unwrap();
    assert!(hits.is_empty());
    let hits = search(
        &a,
        &[],
        &[],
        &SearchQuery {
            q: Some("OL12 6RT".into()),
            limit: None,
        },
    )
    .unwrap();
    assert_eq!(hits[0].pos, postcode_row("OL12 6RT"));
}
