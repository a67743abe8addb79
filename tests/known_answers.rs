//! Known-answer tests on real geography: units placed at known locations must get the LSOA,
//! IMD decile, nearest GP practice and PCN that the source data says, in both coordinate forms.
//!
//! Expected values were read from the raw open data, not from sitefinder:
//! - practice positions and LSOAs: `gp_practices/greater_manchester/gp_practices_gm_geocoded.csv`
//!   (LSOA by point-in-polygon against the GM 20 m boundaries) and
//!   `gp_practices/birmingham_solihull/gp_practices_bsol_geocoded.csv` (against BSC);
//! - PCNs: `pcn/gp_practice_pcn_england.csv` (ePCN, January 2025);
//! - IMD deciles: `imd2019/imd2019_lsoa_england_combined.csv`;
//! - stops: `naptan/naptan_stops_180_greater_manchester.csv` and
//!   `naptan/naptan_stops_430_west_midlands.csv.gz` (BNG easting/northing and their LSOA).

mod common;

use common::*;
use sitefinder::base::crs::wgs84_to_bng;
use sitefinder::ingest::units::LocatedBy;

struct Known {
    practice: &'static str,
    lat: f64,
    lon: f64,
    lsoa11cd: &'static str,
    imd_decile: u8,
    pcn: &'static str,
}

const PRACTICES: [Known; 6] = [
    Known {
        practice: "P86005",
        lat: 53.620446,
        lon: -2.152215,
        lsoa11cd: "E01005583",
        imd_decile: 1,
        pcn: "ROCHDALE NORTH PCN",
    },
    Known {
        practice: "P86004",
        lat: 53.54676,
        lon: -2.20616,
        lsoa11cd: "E01005548",
        imd_decile: 2,
        pcn: "MIDDLETON PCN",
    },
    Known {
        practice: "P86003",
        lat: 53.622297,
        lon: -2.188671,
        lsoa11cd: "E01005591",
        imd_decile: 5,
        pcn: "ROCHDALE NORTH PCN",
    },
    Known {
        practice: "M81062",
        lat: 52.40489,
        lon: -2.016646,
        lsoa11cd: "E01033633",
        imd_decile: 1,
        pcn: "SOUTH BIRMINGHAM ALLIANCE PCN",
    },
    Known {
        practice: "M85001",
        lat: 52.516832,
        lon: -1.794472,
        lsoa11cd: "E01009101",
        imd_decile: 1,
        pcn: "NORTH BIRMINGHAM PCN",
    },
    Known {
        practice: "M85002",
        lat: 52.513033,
        lon: -1.928196,
        lsoa11cd: "E01009265",
        imd_decile: 2,
        pcn: "SWB MODALITY PCN",
    },
];

fn check_practices(csv: &str) {
    let (_d, p) = write_temp("units.csv", csv);
    let imported = import(&p);
    assert_eq!(imported.units.len(), PRACTICES.len());
    let ctx = join(&imported);
    let atlas = atlas();
    for (k, (u, c)) in PRACTICES.iter().zip(imported.units.iter().zip(&ctx)) {
        assert_eq!(u.id, k.practice);
        let l = &atlas.lsoas[c.lsoa];
        assert_eq!(l.lsoa11cd, k.lsoa11cd, "{}: LSOA", k.practice);
        assert_eq!(l.imd_decile, k.imd_decile, "{}: IMD decile", k.practice);
        let (np, d) = c.nearest_practices[0];
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

#[test]
fn practices_in_wgs84_get_the_source_lsoa_decile_practice_and_pcn() {
    let mut csv = String::from("id,lat,lon\n");
    for k in &PRACTICES {
        csv += &format!("{},{},{}\n", k.practice, k.lat, k.lon);
    }
    check_practices(&csv);
}

#[test]
fn practices_in_british_national_grid_get_the_same_answers() {
    let mut csv = String::from("id,easting,northing\n");
    for k in &PRACTICES {
        let (e, n) = wgs84_to_bng(k.lon, k.lat).unwrap();
        csv += &format!("{},{:.0},{:.0}\n", k.practice, e, n);
    }
    check_practices(&csv);
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
    let (_d, p) = write_temp("stops.csv", &csv);
    let imported = import(&p);
    let ctx = join(&imported);
    for (s, c) in stops.iter().zip(&ctx) {
        let l = &atlas().lsoas[c.lsoa];
        assert_eq!(
            (l.lsoa11cd.as_str(), l.imd_decile),
            (s.3, s.4),
            "stop {}",
            s.0
        );
        // Each stop is itself in the stop layer, so at least one stop is within 400 m.
        assert!(c.stops_near.unwrap() >= 1, "stop {}", s.0);
    }
}

#[test]
fn a_postcode_only_unit_is_geocoded_to_its_ons_lsoa() {
    // OL16 2DN is Yorkshire Street Surgery's postcode; the ONS lookup puts it in E01005583.
    let (_d, p) = write_temp("pc.csv", "id,postcode\nsurgery,ol16 2dn\n");
    let imported = import(&p);
    let u = &imported.units[0];
    assert_eq!(u.located_by, LocatedBy::Postcode);
    assert_eq!(u.postcode.as_deref(), Some("OL16 2DN"));
    let c = &join(&imported)[0];
    assert_eq!(atlas().lsoas[c.lsoa].lsoa11cd, "E01005583");
    assert_eq!(
        atlas().practices[c.nearest_practices[0].0].practice_code,
        "P86005"
    );
}

#[test]
fn rochdale_town_centre_vacant_shops_are_in_an_imd_decile_1_lsoa() {
    // PROVENANCE: Rochdale's vacant shops cluster in the town centre, e.g. E01005482 (decile 1).
    let imported = import(&data_dir().join("units/rochdale_vacant_shops.csv"));
    let ctx = join(&imported);
    let in_centre: Vec<_> = ctx
        .iter()
        .filter(|c| atlas().lsoas[c.lsoa].lsoa11cd == "E01005482")
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
        .filter(|(_, c)| atlas().lsoas[c.lsoa].lad19cd != "E08000005")
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
