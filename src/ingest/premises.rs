//! What the words of a rates list say about the premises: the floor a unit is on
//! ([`floor_from_words`]) and whether it is a kind of hereditament that cannot hold a clinic at
//! all, such as a market stall, a kiosk or an advertising hoarding ([`not_a_clinic`]).
//!
//! Both read the forms councils actually write ("GND FLR & BST", "Ground & Part 1st Floor",
//! "(First Floor)", "STALL 18 ROCHDALE MARKET HALL"); `tests/fixtures/floor_addresses.csv` holds
//! real addresses with the reading expected of each.

/// Floor level from the words councils put in names and addresses: `Some(true)` when the unit
/// takes in a ground floor, `Some(false)` when it is only on other floors, `None` when the
/// words say nothing.
///
/// A level word counts only when a floor word follows it, directly or through a list joined
/// by "and", "&", "part" or "pt" ("Gnd 1st And 2nd Floors", "Ground & Part 1st Floor"), so
/// "Sports Ground" or "Store First Unit 5" say nothing. Basement ("Basement", "Bst", "Bsmt")
/// and mezzanine stand alone, and end a list like a floor word ("Grd And Bst"). A lower ground floor is not the ground floor (it is below the
/// street, reached by steps); an upper ground floor is taken as the ground floor (the floor
/// entered from the street on a sloping site). "Lower level" and "upper level" are other
/// floors; a numbered "Level 2" says nothing, as centres number their floors differently.
///
/// ```
/// use sitefinder::ingest::premises::floor_from_words;
/// assert_eq!(floor_from_words("GND FLR 6A, BAILLIE STREET"), Some(true));
/// assert_eq!(floor_from_words("1ST FLR 19, BAILLIE STREET"), Some(false));
/// assert_eq!(floor_from_words("Lower Ground Floor, 64"), Some(false));
/// assert_eq!(floor_from_words("Ground & Part 1st Floor, Express House"), Some(true));
/// assert_eq!(floor_from_words("51 Weeland Road, (First Floor)"), Some(false));
/// assert_eq!(floor_from_words("Sports Ground, Leylands Lane"), None);
/// assert_eq!(floor_from_words("75 OLDHAM ROAD"), None);
/// ```
pub fn floor_from_words(text: &str) -> Option<bool> {
    #[derive(Clone, Copy, PartialEq)]
    enum Level {
        Ground,
        Other,
        /// "lower"/"upper": a level only before a floor or level word.
        Lower,
        Upper,
    }
    let normalised = text.to_uppercase().replace('&', " AND ");
    let tokens: Vec<&str> = normalised
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let ordinal = |t: &str| {
        matches!(
            t,
            "FIRST" | "IST" | "SECOND" | "THIRD" | "FOURTH" | "FIFTH" | "SIXTH" | "SEVENTH"
        ) || (t.len() >= 3
            && t[..t.len() - 2].bytes().all(|b| b.is_ascii_digit())
            && matches!(&t[t.len() - 2..], "ST" | "ND" | "RD" | "TH"))
    };
    let mut found: Vec<Level> = vec![];
    let mut pending: Vec<Level> = vec![];
    for t in tokens {
        match t {
            "GROUND" | "GND" | "GRD" | "GRND" => match pending.last_mut() {
                Some(last @ Level::Lower) => *last = Level::Other,
                Some(last @ Level::Upper) => *last = Level::Ground,
                _ => pending.push(Level::Ground),
            },
            "LOWER" | "LWR" => pending.push(Level::Lower),
            "UPPER" => pending.push(Level::Upper),
            "BASEMENT" | "BST" | "BSMT" | "MEZZANINE" | "MEZZANINES" | "MEZZ" => {
                // A level in a list with it is a floor too: "Grd And Bst".
                found.extend(pending.drain(..).filter(|l| *l == Level::Ground));
                found.push(Level::Other)
            }
            "AND" | "PART" | "PT" | "MAIN" => {}
            "FLOOR" | "FLOORS" | "FLR" | "FLRS" | "FL" | "LEVEL" | "LEVELS" => {
                found.extend(pending.drain(..).map(|l| match l {
                    Level::Lower | Level::Upper => Level::Other,
                    l => l,
                }));
            }
            t if ordinal(t) => pending.push(Level::Other),
            _ => pending.clear(),
        }
    }
    if found.is_empty() {
        None
    } else {
        Some(found.contains(&Level::Ground))
    }
}

/// Why a unit cannot hold a clinic, when its description (or, for a few unmistakable forms,
/// its name or address) says it is not a room at all: a market stall, a kiosk, a stand, an
/// advertising right or hoarding, a car parking space or car park, an ATM site, a
/// telecommunications mast, a delivery locker, a photo booth and the like.
///
/// The description is read word by word, so "WORKSHOP" is not a shop and "SHOP AND PREMISES"
/// in Market Street is a shop. The name and address are read only for forms that name the
/// unit itself: "STALL 18 ROCHDALE MARKET HALL", "Stall No 4, Queensgate Market", "Barrow
/// Stall 2", "News Kiosk", "Atm At ...", and units inside a market hall ("CAFE NO 1 MARKET
/// HALL, THE MARKET": a lock-up inside the hall, open in market hours, with no door of its own),
/// but not street names ("Kiosk Lane", "Market Hall Street", "Booth Street").
///
/// ```
/// use sitefinder::ingest::premises::not_a_clinic;
/// assert_eq!(not_a_clinic(Some("MARKET STALL AND PREMISES"), "STALL 18 ROCHDALE MARKET HALL"), Some("market stall"));
/// assert_eq!(not_a_clinic(None, "MARKET HALL STALL 12, THE MARKET"), Some("market stall"));
/// assert_eq!(not_a_clinic(Some("Shops"), "Stall No 4, Queensgate Market, Huddersfield"), Some("market stall"));
/// assert_eq!(not_a_clinic(Some("ADVERTISING RIGHT"), "Site at 4 High Street"), Some("advertising right or hoarding"));
/// assert_eq!(not_a_clinic(Some("SHOP AND PREMISES"), "20-21 MARKET PLACE, ROCHDALE"), None);
/// assert_eq!(not_a_clinic(Some("WORKSHOP AND PREMISES"), "Unit 3, Booth Street"), None);
/// ```
pub fn not_a_clinic(description: Option<&str>, name_and_address: &str) -> Option<&'static str> {
    if let Some(why) = description.and_then(kind_from_description_seen) {
        return Some(why);
    }
    kind_from_address(name_and_address)
}

/// Descriptions remembered per thread (a list repeats a few hundred of them: "SHOP AND
/// PREMISES" a million times nationally); forgotten all at once past this many.
const SEEN_DESCRIPTIONS: usize = 4_096;

thread_local! {
    static SEEN: std::cell::RefCell<crate::base::IdMap<Option<&'static str>>> =
        Default::default();
}

/// [`kind_from_description`], remembered for the descriptions this thread has read.
fn kind_from_description_seen(d: &str) -> Option<&'static str> {
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if let Some(why) = seen.get(d) {
            return *why;
        }
        let why = kind_from_description(d);
        if seen.len() >= SEEN_DESCRIPTIONS {
            seen.clear();
        }
        seen.insert(d.to_string(), why);
        why
    })
}

/// The text upper-cased with `&` as AND, to be split by [`words`].
fn upper(text: &str) -> String {
    text.to_uppercase().replace('&', " AND ")
}

fn words(upper: &str) -> Vec<&str> {
    upper
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '\'')
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether `phrase` (words separated by spaces) occurs in `w`.
fn has(w: &[&str], phrase: &str) -> bool {
    if !phrase.as_bytes().contains(&b' ') {
        return w.contains(&phrase);
    }
    let first = phrase.split(' ').next().unwrap_or(phrase);
    w.iter().enumerate().any(|(i, t)| {
        *t == first
            && phrase
                .split(' ')
                .skip(1)
                .enumerate()
                .all(|(k, p)| w.get(i + 1 + k) == Some(&p))
    })
}

fn has_any(w: &[&str], phrases: &[&str]) -> bool {
    phrases.iter().any(|p| has(w, p))
}

/// Each kind of unit that cannot hold a clinic, with the phrases of a description that name it.
const KINDS: &[(&str, &[&str])] = &[
    ("market stall", &["STALL", "STALLS"]),
    ("kiosk", &["KIOSK", "KIOSKS"]),
    ("stand", &["STAND", "STANDS"]),
    (
        "advertising right or hoarding",
        &[
            "ADVERTISING",
            "ADVERTISISNG",
            "ADVERTISEMENT",
            "HOARDING",
            "HOARDINGS",
            "BILLBOARD",
        ],
    ),
    (
        "car parking",
        &[
            "CAR PARK",
            "CAR PARKS",
            "CAR PARKING",
            "PARKING SPACE",
            "PARKING SPACES",
            "CAR SPACE",
            "CAR SPACES",
        ],
    ),
    (
        "ATM site",
        &[
            "ATM",
            "AUTOMATIC TELLER",
            "AUTOMATIC TELLING",
            "AUTOMATED TELLER",
            "CASH MACHINE",
        ],
    ),
    (
        "telecommunications mast or station",
        &[
            "COMMUNICATION STATION",
            "TELECOMMUNICATION",
            "TELECOMMUNICATIONS",
            "MAST",
            "MASTS",
            "CABLE COMMUNICATION",
        ],
    ),
    ("delivery locker", &["LOCKER", "LOCKERS"]),
    ("booth", &["BOOTH", "BOOTHS"]),
    ("vending machine", &["VENDING"]),
    ("seating area", &["SEATING AREA"]),
    ("beach hut", &["BEACH HUT", "BEACH HUTS"]),
    ("mooring", &["MOORING", "MOORINGS"]),
    ("pitch", &["PITCH", "PITCHES"]),
    (
        "land only",
        &["LAND USED FOR", "DISPLAY LAND", "CAR SALES LAND"],
    ),
];

/// A unit named as one inside a market hall by its address.
const IN_A_MARKET_HALL: &str = "unit inside a market hall";

/// Every reason [`not_a_clinic`] gives, each once.
pub fn reasons() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|(why, _)| *why).chain([IN_A_MARKET_HALL])
}

/// The kinds a VOA or council description names, in the words the real lists use (including
/// their abbreviations and misspellings: "MARET STALL", "ADVERTISISNG RIGHT").
fn kind_from_description(d: &str) -> Option<&'static str> {
    let u = upper(d);
    let w = words(&u);
    KINDS
        .iter()
        .find(|(_, phrases)| has_any(&w, phrases))
        .map(|(why, _)| *why)
}

/// Words after which "kiosk", "stall" or "market hall" name a street, not the unit.
const STREET: &[&str] = &[
    "STREET", "ST", "ROAD", "RD", "LANE", "LN", "WAY", "PLACE", "SQUARE", "ROW", "GATE", "AVENUE",
    "TERRACE", "YARD", "WALK", "CLOSE", "HILL",
];

fn kind_from_address(text: &str) -> Option<&'static str> {
    let u = upper(text);
    let w = words(&u);
    let word = |i: usize| w.get(i).copied().unwrap_or("");
    let street_after = |i: usize| STREET.contains(&word(i + 1));
    let numbered =
        |i: usize| word(i + 1) == "NO" || word(i + 1).starts_with(|c: char| c.is_ascii_digit());
    let at = |test: &dyn Fn(usize, &str) -> bool| (0..w.len()).any(|i| test(i, word(i)));
    if at(&|i, t| {
        matches!(t, "STALL" | "STALLS")
            && !street_after(i)
            && (numbered(i) || (i > 0 && word(i - 1) == "BARROW"))
    }) {
        return Some("market stall");
    }
    if at(&|i, t| matches!(t, "KIOSK" | "KIOSKS") && !street_after(i)) {
        return Some("kiosk");
    }
    if at(&|_, t| t == "ATM") {
        return Some("ATM site");
    }
    if at(&|i, t| matches!(t, "HOARDING" | "HOARDINGS") && !street_after(i)) {
        return Some("advertising right or hoarding");
    }
    if at(&|i, t| {
        t == "MARKET"
            && word(i + 1) == "HALL"
            && !street_after(i + 1)
            && !(i > 0 && matches!(word(i - 1), "OLD" | "FORMER"))
    }) {
        return Some(IN_A_MARKET_HALL);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_descriptions_answer_as_read_afresh() {
        let known = [
            "MARKET STALL",
            "SHOP AND PREMISES",
            "ADVERTISISNG RIGHT",
            "WORKSHOP AND PREMISES",
            "CAR PARKING SPACE",
            "Kiosk & premises",
        ];
        // Past the bound, so the memory is cleared on the way, and each asked twice.
        let many = (0..SEEN_DESCRIPTIONS + 100).map(|i| match i % 3 {
            0 => format!("STALL {i}"),
            1 => format!("SHOP {i} AND PREMISES"),
            _ => format!("PARKING SPACE {i}"),
        });
        let all: Vec<String> = known.iter().map(|d| d.to_string()).chain(many).collect();
        for _ in 0..2 {
            for d in &all {
                assert_eq!(
                    kind_from_description_seen(d),
                    kind_from_description(d),
                    "{d}"
                );
            }
        }
        assert_eq!(
            kind_from_description_seen("MARKET STALL"),
            Some("market stall")
        );
        assert_eq!(kind_from_description_seen("SHOP AND PREMISES"), None);
        assert!(SEEN.with(|s| s.borrow().len()) <= SEEN_DESCRIPTIONS);
    }

    #[test]
    fn every_reason_given_is_listed_once() {
        let listed: Vec<&str> = reasons().collect();
        let mut unique = listed.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), listed.len());
        for (description, address) in [
            (Some("MARKET STALL"), ""),
            (None, "Kiosk 3, Bus Station"),
            (None, "ATM at 2 High Street"),
            (None, "Hoarding at 1 Market Street"),
            (None, "Unit 4, Market Hall, Bury"),
            (Some("BEACH HUT"), ""),
            (Some("LAND USED FOR STORAGE"), ""),
        ] {
            let why = not_a_clinic(description, address).expect("a reason");
            assert!(listed.contains(&why), "{why} is not listed");
        }
    }
}
