//! Known-answer tests on real geography: units placed at known locations must get the LSOA,
//! IMD decile, nearest GP practice and PCN that the source data says, in both coordinate forms,
//! for the default edition (IoD2025 on LSOA 2021) and for IMD 2019 on LSOA 2011.
//!
//! Expected values were read from the raw open data, not from sitefinder:
//! - practice positions: the Code-Point Open 2025 centroid of the practice's postcode (a postcode
//!   no other active practice shares), practices active in ODS epraccur September 2025;
//! - LSOA 2021: point-in-polygon (ray casting, in a separate script) against the raw ONS LSOA
//!   2021 polygons, 20 m (BGC) in Greater Manchester and super-generalised (BSC) in Birmingham;
//!   every point is at least 100 m from its LSOA's edge, so the choice of boundary
//!   generalisation cannot change the answer; two of the LSOAs (E01034128, E01034914) exist
//!   only since 2021;
//! - IMD 2025 deciles: `imd2025/imd2025_lsoa21_england.csv.gz`; PCNs: the October 2025 practice
//!   map `gp_practices/2025/gp-reg-pat-prac-map_2025-10.csv.gz`;
//! - IMD 2019 (LSOA 2011): `gp_practices/greater_manchester/gp_practices_gm_geocoded.csv` and
//!   `gp_practices/birmingham_solihull/gp_practices_bsol_geocoded.csv` (LSOA by point-in-polygon),
//!   deciles from `imd2019/imd2019_lsoa_england_combined.csv`;
//! - stops: `naptan/naptan_stops_180_greater_manchester.csv` and
//!   `naptan/naptan_stops_430_west_midlands.csv.gz` (BNG easting/northing and their LSOA 2011).

mod common;

use std::sync::OnceLock;

use common::*;
use sitefinder::analysis::join::{attach, Context, JoinParams};
use sitefinder::base::crs::wgs84_to_bng;
use sitefinder::ingest::catchment::Huff;
use sitefinder::ingest::units::{read_units, ImportOptions, Imported, LocatedBy};
use sitefinder::reference::atlas::Atlas;
use sitefinder::reference::edition::Imd;

struct Known {
    practice: &'static str,
    lat: f64,
    lon: f64,
    lsoa: &'static str,
    imd_decile: u8,
    pcn: &'static str,
    /// With IMD 2025: the IMD 2019 decile of the LSOA 2011 the LSOA came from (ONS LSOA 2011 to
    /// 2021 lookup, IMD 2019 file); two values for a merged LSOA (either of its parts).
    imd2019: &'static [u8],
}

/// IoD2025 on LSOA 2021 (the default).
const PRACTICES: [Known; 7] = [
    Known {
        practice: "P86016",
        lat: 53.58737,
        lon: -2.239335,
        lsoa: "E01005515",
        imd_decile: 1,
        imd2019: &[1],
        pcn: "HEYWOOD PCN",
    },
    Known {
        practice: "Y02718",
        lat: 53.595023,
        lon: -2.22788,
        lsoa: "E01005501",
        imd_decile: 1,
        imd2019: &[1],
        pcn: "HEYWOOD PCN",
    },
    Known {
        practice: "Y02849",
        lat: 53.482738,
        lon: -2.242934,
        lsoa: "E01033658",
        imd_decile: 5,
        imd2019: &[4],
        pcn: "CITY CENTRE & ANCOATS PCN",
    },
    Known {
        practice: "Y02890",
        lat: 53.443216,
        lon: -2.204544,
        lsoa: "E01034128",
        imd_decile: 4,
        imd2019: &[2, 6],
        pcn: "GORTON AND LEVENSHULME PCN",
    },
    Known {
        practice: "M85005",
        lat: 52.466336,
        lon: -1.848418,
        lsoa: "E01009337",
        imd_decile: 1,
        imd2019: &[1],
        pcn: "SMALL HEATH PCN",
    },
    Known {
        practice: "M85081",
        lat: 52.535155,
        lon: -1.864605,
        lsoa: "E01034914",
        imd_decile: 2,
        imd2019: &[1],
        pcn: "KINGSTANDING, ERDINGTON & NECHELLS PCN",
    },
    Known {
        practice: "M85167",
        lat: 52.456356,
        lon: -1.93806,
        lsoa: "E01008992",
        imd_decile: 10,
        imd2019: &[7],
        pcn: "HARBORNE PCN",
    },
];

/// The same kind of points for IMD 2019 on LSOA 2011 (LSOA and decile only: two of these
/// practices have closed since, so the 2025 practice layer no longer holds them).
const PRACTICES_2019: [Known; 6] = [
    Known {
        practice: "P86005",
        lat: 53.620446,
        lon: -2.152215,
        lsoa: "E01005583",
        imd_decile: 1,
        imd2019: &[],
        pcn: "",
    },
    Known {
        practice: "P86004",
        lat: 53.54676,
        lon: -2.20616,
        lsoa: "E01005548",
        imd_decile: 2,
        imd2019: &[],
        pcn: "",
    },
    Known {
        practice: "P86003",
        lat: 53.622297,
        lon: -2.188671,
        lsoa: "E01005591",
        imd_decile: 5,
        imd2019: &[],
        pcn: "",
    },
    Known {
        practice: "M81062",
        lat: 52.40489,
        lon: -2.016646,
        lsoa: "E01033633",
        imd_decile: 1,
        imd2019: &[],
        pcn: "",
    },
    Known {
        practice: "M85001",
        lat: 52.516832,
        lon: -1.794472,
        lsoa: "E01009101",
        imd_decile: 1,
        imd2019: &[],
        pcn: "",
    },
    Known {
        practice: "M85002",
        lat: 52.513033,
        lon: -1.928196,
        lsoa: "E01009265",
        imd_decile: 2,
        imd2019: &[],
        pcn: "",
    },
];

fn atlas_2019() -> &'static Atlas {
    static ATLAS: OnceLock<Atlas> = OnceLock::new();
    ATLAS.get_or_init(|| Atlas::load_edition(&data_dir(), Imd::Iod2019).expect("data/ loads"))
}

fn import_join(atlas: &Atlas, csv: &str) -> (Imported, Vec<Context>) {
    let (_d, p) = write_temp("units.csv", csv);
    let imported = read_units(&p, atlas, &ImportOptions::default()).unwrap();
    let ctx = attach(
        atlas,
        &imported.units,
        &Huff::default(),
        &JoinParams::default(),
    );
    (imported, ctx)
}

fn wgs84_csv(known: &[Known]) -> String {
    let mut csv = String::from("id,lat,lon\n");
    for k in known {
        csv += &format!("{},{},{}\n", k.practice, k.lat, k.lon);
    }
    csv
}

fn bng_csv(known: &[Known]) -> String {
    let mut csv = String::from("id,easting,northing\n");
    for k in known {
        let (e, n) = wgs84_to_bng(k.lon, k.lat).unwrap();
        csv += &format!("{},{:.0},{:.0}\n", k.practice, e, n);
    }
    csv
}

fn check_practices(csv: &str) {
    let atlas = atlas();
    assert_eq!(atlas.imd, Imd::Iod2025);
    let (imported, ctx) = import_join(atlas, csv);
    assert_eq!(imported.units.len(), PRACTICES.len());
    for (k, (u, c)) in PRACTICES.iter().zip(imported.units.iter().zip(&ctx)) {
        assert_eq!(u.id, k.practice);
        let l = &atlas.lsoas[c.lsoa];
        assert_eq!(l.code, k.lsoa, "{}: LSOA 2021", k.practice);
        assert_eq!(
            l.imd_decile, k.imd_decile,
            "{}: IMD 2025 decile",
            k.practice
        );
        assert!(
            l.imd2019_decile.is_some_and(|d| k.imd2019.contains(&d)),
            "{}: IMD 2019 decile {:?}, expected one of {:?}",
            k.practice,
            l.imd2019_decile,
            k.imd2019
        );
        let (np, d) = c.nearest_practices.first().unwrap();
        let np = &atlas.practices[np];
        assert_eq!(
            np.practice_code, k.practice,
            "{}: nearest practice",
            k.practice
        );
        assert!(d < 15.0, "{}: the practice is {d} m away", k.practice);
        assert_eq!(np.pcn.as_deref(), Some(k.pcn), "{}: PCN", k.practice);
    }
}

fn check_2019(csv: &str) {
    let atlas = atlas_2019();
    let (imported, ctx) = import_join(atlas, csv);
    for (k, c) in PRACTICES_2019.iter().zip(&ctx) {
        let l = &atlas.lsoas[c.lsoa];
        assert_eq!(
            (l.code.as_str(), l.imd_decile),
            (k.lsoa, k.imd_decile),
            "{}: LSOA 2011 and IMD 2019 decile",
            k.practice
        );
    }
    assert_eq!(imported.units.len(), PRACTICES_2019.len());
}

#[test]
fn practices_in_wgs84_get_the_source_lsoa21_imd2025_decile_practice_and_pcn() {
    check_practices(&wgs84_csv(&PRACTICES));
}

#[test]
fn practices_in_british_national_grid_get_the_same_answers() {
    check_practices(&bng_csv(&PRACTICES));
}

#[test]
fn with_imd_2019_the_same_kind_of_points_get_their_lsoa11_and_imd2019_decile() {
    check_2019(&wgs84_csv(&PRACTICES_2019));
    check_2019(&bng_csv(&PRACTICES_2019));
}

#[test]
fn point_in_polygon_agrees_with_brute_force_over_every_lsoa() {
    // Every shipped unit and every GP practice in England: the R-tree answer must equal a scan
    // of all 33,755 polygons (the lowest code on a shared edge, as the index does).
    use geo::{BoundingRect, Intersects, Point};
    let atlas = atlas();
    let mut points: Vec<[f64; 2]> = atlas.practices.iter().map(|p| p.pos).collect();
    for f in std::fs::read_dir(data_dir().join("units")).unwrap() {
        let imported = import(&f.unwrap().path());
        points.extend(imported.units.iter().map(|u| u.pos));
    }
    assert!(points.len() > 7_000, "{} points", points.len());
    // A linear scan: every polygon's bounding box, then the exact test (no R-tree).
    let rects: Vec<geo::Rect<f64>> = atlas
        .lsoa_shapes
        .iter()
        .map(|s| s.bounding_rect().unwrap())
        .collect();
    let mut disagree = vec![];
    for at in &points {
        let pt = Point::new(at[0], at[1]);
        let brute = rects
            .iter()
            .enumerate()
            .filter(|(i, r)| r.intersects(&pt) && atlas.lsoa_shapes[*i].intersects(&pt))
            .map(|(i, _)| i)
            .min_by(|a, b| atlas.lsoas[*a].code.cmp(&atlas.lsoas[*b].code));
        if brute != atlas.lsoa_at(*at) {
            disagree.push(*at);
        }
    }
    assert!(
        disagree.is_empty(),
        "R-tree and brute force differ at {disagree:?}"
    );
}

#[test]
fn naptan_stops_given_in_bng_fall_in_the_source_lsoa() {
    // (ATCO code, easting, northing, LSOA, IMD decile)
    let stops = [
        ("1800NC04971", 379135.0, 417228.0, "E01005014", 7),
        ("1800WF40211", 371421.0, 403265.0, "E01005661", 2),
        ("43000057402", 433004.0, 276934.0, "E01009560", 10),
        ("43000464201", 416256.0, 287186.0, "E01009297", 1),
        ("43000854502", 391265.0, 290105.0, "E01009785", 8),
    ];
    let mut csv = String::from("id,easting,northing\n");
    for s in &stops {
        csv += &format!("{},{},{}\n", s.0, s.1, s.2);
    }
    // The expected LSOAs and deciles are LSOA 2011 / IMD 2019 ones.
    let (_imported, ctx) = import_join(atlas_2019(), &csv);
    for (s, c) in stops.iter().zip(&ctx) {
        let l = &atlas_2019().lsoas[c.lsoa];
        assert_eq!((l.code.as_str(), l.imd_decile), (s.3, s.4), "stop {}", s.0);
        // Each stop is itself in the stop layer, so at least one stop is within 400 m.
        assert!(c.stops_near.unwrap() >= 1, "stop {}", s.0);
    }
}

#[test]
fn a_postcode_only_unit_is_geocoded_to_its_ons_lsoa() {
    // OL16 2DN is Yorkshire Street Surgery's postcode; the ONS lookup puts it in LSOA 2011
    // E01005583, which LSOA 2021 kept unchanged (lookup change code U).
    let (_d, p) = write_temp("pc.csv", "id,postcode\nsurgery,ol16 2dn\n");
    let imported = import(&p);
    let u = &imported.units[0];
    assert_eq!(u.located_by, LocatedBy::Postcode);
    assert_eq!(u.postcode.as_deref(), Some("OL16 2DN"));
    let c = &join(&imported)[0];
    assert_eq!(atlas().lsoas[c.lsoa].code, "E01005583");
    assert_eq!(
        atlas().practices[c.nearest_practices.first().unwrap().0].practice_code,
        "P86005"
    );
}

#[test]
fn rochdale_town_centre_vacant_shops_are_in_an_imd_decile_1_lsoa() {
    // PROVENANCE: Rochdale's vacant shops cluster in the town centre, e.g. E01005482, decile 1
    // in IMD 2019 and in IMD 2025 (unchanged between LSOA 2011 and 2021).
    let imported = import(&data_dir().join("units/rochdale_vacant_shops.csv"));
    let ctx = join(&imported);
    let in_centre: Vec<_> = ctx
        .iter()
        .filter(|c| atlas().lsoas[c.lsoa].code == "E01005482")
        .collect();
    assert!(
        in_centre.len() >= 5,
        "{} units in E01005482",
        in_centre.len()
    );
    assert!(in_centre
        .iter()
        .all(|c| atlas().lsoas[c.lsoa].imd_decile == 1));
    // Every shipped Rochdale unit lands in Rochdale (E08000005), as the council's list says.
    let outside: Vec<_> = imported
        .units
        .iter()
        .zip(&ctx)
        .filter(|(_, c)| atlas().lsoas[c.lsoa].lad_code != "E08000005")
        .map(|(u, _)| u.id.clone())
        .collect();
    assert!(outside.is_empty(), "outside Rochdale: {outside:?}");
}

#[test]
fn coverage_gaps_are_no_data_not_zero() {
    // A Kirklees shop (West Yorkshire): no NaPTAN and no pharmacy layer there.
    let imported = import(&fixture("kirklees_rates_2019_sample.csv"));
    let ctx = join(&imported);
    assert!(ctx
        .iter()
        .all(|c| c.stops_near.is_none() && c.nearest_pharmacy.is_none()));
    assert!(ctx.iter().all(|c| c.nearest_vaccination_site.is_some()));
    let ranking = sitefinder::analysis::rank::rank(
        atlas(),
        &imported.units,
        &ctx,
        &Default::default(),
        &Default::default(),
        &settings(),
        None,
    )
    .unwrap();
    for r in &ranking.rows {
        let access = &r.values[4];
        assert_eq!(access.raw, None);
        assert!(access.why.starts_with("no data"), "{}", access.why);
        assert_eq!(r.contributions[4], 0.0);
        assert!(r.values[3].why.contains("pharmacies: no data"));
    }
}
