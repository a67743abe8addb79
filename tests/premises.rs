//! What the words of real rates lists say about the premises: floor level and kinds of unit
//! that cannot hold a clinic, checked on real addresses and descriptions.

mod common;

use sitefinder::ingest::premises::{floor_from_words, not_a_clinic};

#[test]
fn every_real_address_in_the_fixture_reads_as_expected() {
    let path = common::fixture("floor_addresses.csv");
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let mut wrong = vec![];
    let mut n = 0;
    for row in rdr.records() {
        let row = row.unwrap();
        let (address, expected) = (&row[1], &row[2]);
        let want = match expected {
            "ground" => Some(true),
            "not_ground" => Some(false),
            "unknown" => None,
            other => panic!("{}: unknown expectation `{other}`", path.display()),
        };
        n += 1;
        if floor_from_words(address) != want {
            wrong.push(format!(
                "{address}: read {:?}, expected {expected}",
                floor_from_words(address)
            ));
        }
    }
    assert!(n >= 50, "{n} rows");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn stalls_kiosks_and_non_premises_are_recognised_from_real_descriptions() {
    // Real VOA / council descriptions from the shipped lists and the raw rates file.
    for (d, why) in [
        ("MARKET STALL AND PREMISES", "market stall"),
        ("MARET STALL & PREMISES", "market stall"),
        ("Market Stalls", "market stall"),
        ("KIOSK AND PREMISES", "kiosk"),
        (
            "PUBLIC TELEPHONE KIOSK, ADVERTISING RIGHT AND PREMISES",
            "kiosk",
        ),
        ("TRADE STAND", "stand"),
        (
            "ADVERTISING RIGHT AND PREMISES",
            "advertising right or hoarding",
        ),
        ("ADVERTISISNG RIGHT", "advertising right or hoarding"),
        ("CAR PARKING SPACE AND PREMISES", "car parking"),
        ("CAR PARKS & PARKING SPACES", "car parking"),
        ("SITE OF ATM AND PREMISES", "ATM site"),
        ("SITE OF AUTOMATIC TELLER MACHINE", "ATM site"),
        (
            "Communication Station and Premises",
            "telecommunications mast or station",
        ),
        ("SITE OF ELECTRONIC DELIVERY LOCKER", "delivery locker"),
        ("SITE OF PHOTOGRAPHIC BOOTH", "booth"),
        ("SEATING AREA AND PREMISES", "seating area"),
        ("BEACH HUT & PREMISES", "beach hut"),
    ] {
        assert_eq!(not_a_clinic(Some(d), "1 HIGH STREET"), Some(why), "{d}");
    }
}

#[test]
fn shops_workshops_and_streets_named_after_markets_are_not_stalls() {
    for (d, address) in [
        (
            "SHOP AND PREMISES",
            "20-21 MARKET PLACE, ROCHDALE, LANCASHIRE, OL16 1EB",
        ),
        (
            "SHOP AND PREMISES",
            "UNIT 2-3, MARKET ARCADE, ROCHDALE, LANCASHIRE, OL16 1EB",
        ),
        (
            "WORKSHOP AND PREMISES",
            "A1 Tyres, Kensington Street, Keighley, BD21 1PW",
        ),
        (
            "Cafe & Premises",
            "The Citadel Cafe, Booth Street, Castleford, West Yorkshire",
        ),
        ("STORE AND PREMISES", "Unit 4, Kiosk Lane, Bradford"),
        ("SHOP AND PREMISES", "14 MARKET STREET, HEYWOOD, OL10 1HX"),
        (
            "SHOWROOM AND PREMISES",
            "19 BAILLIE STREET, ROCHDALE, LANCASHIRE, OL16 1JA",
        ),
        ("Shops", "36, Byram Arcade, Huddersfield, HD1 1ND"),
        (
            "SHOP AND PREMISES",
            "UNIT 10, THE WHEATSHEAF CENTRE, ROCHDALE, OL16 1JZ",
        ),
    ] {
        assert_eq!(not_a_clinic(Some(d), address), None, "{d} | {address}");
    }
}

#[test]
fn names_and_addresses_say_so_when_the_description_does_not() {
    for (d, address, why) in [
        (
            None,
            "MARKET HALL STALL 12, THE MARKET, ROCHDALE",
            "market stall",
        ),
        (
            Some("Shops"),
            "Stall No 168, Queensgate Market, Princess Alexandra Walk, Huddersfield, HD1 2RD",
            "market stall",
        ),
        (
            Some("STALL AND PREMISES"),
            "Barrow Stall 2, Sunbridge Wells, Lower Millergate, Bradford, BD1 1SY",
            "market stall",
        ),
        (None, "News Kiosk, Bradford, BD1 5NU", "kiosk"),
        (
            Some("SHOP AND PREMISES"),
            "Kiosk The Forecourt, The Interchange, Bridge Street, Bradford, BD1 1TU",
            "kiosk",
        ),
        (
            Some("Other Commercial"),
            "Atm At, 247/249, Spen Lane, Gomersal, Cleckheaton, BD19 4LT",
            "ATM site",
        ),
        (
            Some("CAFE AND PREMISES"),
            "CAFE NO 1 MARKET HALL, THE MARKET, ROCHDALE, LANCASHIRE, OL16 1EB",
            "unit inside a market hall",
        ),
        (
            Some("Shop"),
            "Retail Unit 4, Wakefield Market Hall, Union Street, Wakefield, West Yorkshire",
            "unit inside a market hall",
        ),
    ] {
        assert_eq!(not_a_clinic(d, address), Some(why), "{address}");
    }
}
