//! Places people know and look for: local authorities, wards and Primary Care Networks
//! (`data/places.csv.gz`, built by `sitefinder prepare-data`), each with a label point inside it,
//! its bounding box and a few counts; and how a search compares what was typed with their names.
//!
//! Names are compared folded ([`fold`]: lower case, "&" as "and", punctuation as spaces), and a
//! match is, best first, exact, a prefix, the start of a later word, or anywhere inside
//! ([`Match`]). "Name, place" looks for `name` among the places of local authority `place`.
//!
//! ```
//! use sitefinder::reference::places::{fold, Match, Query};
//! assert_eq!(fold("Milkstone & Deeplish"), "milkstone and deeplish");
//! let q = Query::new("deep");
//! assert_eq!(q.best(&["Milkstone & Deeplish"], ""), Some(Match::WordPrefix));
//! ```

use std::collections::HashMap;

use crate::base::figures::Grouped;

/// The kinds of place, in the order results of one match class are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlaceKind {
    LocalAuthority,
    Ward,
    Pcn,
}

impl PlaceKind {
    /// The name used in the data, the API and the map: `local_authority`, `ward`, `pcn`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlaceKind::LocalAuthority => "local_authority",
            PlaceKind::Ward => "ward",
            PlaceKind::Pcn => "pcn",
        }
    }

    pub fn parse(s: &str) -> Option<PlaceKind> {
        [PlaceKind::LocalAuthority, PlaceKind::Ward, PlaceKind::Pcn]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The columns of `places.csv.gz`, in order (`prepare-data` writes them, [`Places::parse`]
/// reads them by name).
pub const COLUMNS: [&str; 14] = [
    "kind",
    "code",
    "name",
    "lad_code",
    "lad_name",
    "label_e",
    "label_n",
    "min_lon",
    "min_lat",
    "max_lon",
    "max_lat",
    "population",
    "practices",
    "list_size_2021_01",
];

/// One place.
#[derive(Debug, Clone)]
pub struct Place {
    pub kind: PlaceKind,
    /// ONS code (LAD 2024, ward 2024) or the PCN's U-code.
    pub code: String,
    pub name: String,
    /// The local authority a ward is in, or where most of a PCN's practices are.
    pub lad_code: Option<String>,
    pub lad_name: Option<String>,
    /// Where to write the name, BNG metres: inside the place (see `data/README.md`).
    pub label: [f64; 2],
    /// WGS84 `[min_lon, min_lat, max_lon, max_lat]`: of the member LSOA polygons (wards, local
    /// authorities) or of the member practices (PCNs).
    pub bbox: [f64; 4],
    /// Census 2021 usual residents (wards, local authorities).
    pub population: Option<f64>,
    /// Member practices (PCNs).
    pub practices: Option<u32>,
    /// Registered patients of the member practices, January 2021 (PCNs).
    pub list_size: Option<u64>,
    /// Wards in a local authority (counted when loading).
    pub wards: Option<u32>,
    /// The folded names the place answers to (a PCN's also without its trailing "PCN").
    keys: Vec<String>,
    /// The folded name of its local authority ("" for a local authority).
    parent: String,
}

impl Place {
    /// A few words on what the place is: "ward in Rochdale, 12,345 residents", "local
    /// authority, 20 wards, 223,790 residents", "PCN in Rochdale, 7 practices".
    pub fn detail(&self) -> String {
        let residents = self
            .population
            .map(|p| format!(", {} residents", Grouped(p.round() as u64)))
            .unwrap_or_default();
        let within = |what: &str| match &self.lad_name {
            Some(l) => format!("{what} in {l}"),
            None => what.to_string(),
        };
        match self.kind {
            PlaceKind::Ward => format!("{}{residents}", within("ward")),
            PlaceKind::LocalAuthority => {
                let wards = self
                    .wards
                    .map(|w| format!(", {w} ward{}", if w == 1 { "" } else { "s" }))
                    .unwrap_or_default();
                format!("local authority{wards}{residents}")
            }
            PlaceKind::Pcn => {
                let n = self.practices.unwrap_or(0);
                format!(
                    "{}, {n} practice{}",
                    within("PCN"),
                    if n == 1 { "" } else { "s" }
                )
            }
        }
    }

    /// How well the place answers `q` (its code exactly counts as an exact match).
    pub fn matches(&self, q: &Query) -> Option<Match> {
        if self.code.eq_ignore_ascii_case(q.raw.trim()) {
            return Some(Match::Exact);
        }
        q.best_folded(&self.keys, &self.parent)
    }
}

/// Every place of `places.csv.gz`, in file order (local authorities, wards, PCNs; each by code).
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub list: Vec<Place>,
}

impl Places {
    /// Reads the text of `places.csv.gz`; an error gives the line and what is wrong.
    pub fn parse(text: &str) -> Result<Places, (usize, String)> {
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let headers = rdr.headers().map_err(|e| (1, e.to_string()))?.clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| (1, format!("missing column `{name}`")))
        };
        let idx: Vec<usize> = COLUMNS.iter().map(|c| col(c)).collect::<Result<_, _>>()?;
        let mut list = Vec::new();
        for rec in rdr.records() {
            let rec =
                rec.map_err(|e| (e.position().map_or(0, |p| p.line() as usize), e.to_string()))?;
            let line = rec.position().map_or(0, |p| p.line() as usize);
            let cell = |i: usize| rec.get(idx[i]).unwrap_or("").trim();
            let opt = |i: usize| Some(cell(i).to_string()).filter(|s| !s.is_empty());
            let num = |i: usize| -> Result<Option<f64>, (usize, String)> {
                match cell(i) {
                    "" => Ok(None),
                    s => s
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .map(Some)
                        .ok_or_else(|| (line, format!("{}: `{s}` is not a number", COLUMNS[i]))),
                }
            };
            let need =
                |i: usize| num(i)?.ok_or_else(|| (line, format!("{}: no value", COLUMNS[i])));
            let kind = PlaceKind::parse(cell(0)).ok_or_else(|| {
                (
                    line,
                    format!("kind `{}`: expected local_authority, ward or pcn", cell(0)),
                )
            })?;
            let name = cell(2).to_string();
            let lad_name = opt(4);
            let mut keys = vec![fold(&name)];
            if kind == PlaceKind::Pcn {
                if let Some(short) = keys[0].strip_suffix(" pcn") {
                    keys.push(short.to_string());
                }
            }
            list.push(Place {
                kind,
                code: cell(1).to_string(),
                parent: lad_name.as_deref().map(fold).unwrap_or_default(),
                name,
                lad_code: opt(3),
                lad_name,
                label: [need(5)?, need(6)?],
                bbox: [need(7)?, need(8)?, need(9)?, need(10)?],
                population: num(11)?,
                practices: num(12)?.map(|v| v as u32),
                list_size: num(13)?.map(|v| v as u64),
                wards: None,
                keys,
            });
        }
        let mut wards: HashMap<String, u32> = HashMap::new();
        for p in list.iter().filter(|p| p.kind == PlaceKind::Ward) {
            if let Some(l) = &p.lad_code {
                *wards.entry(l.clone()).or_default() += 1;
            }
        }
        for p in list
            .iter_mut()
            .filter(|p| p.kind == PlaceKind::LocalAuthority)
        {
            p.wards = wards.get(&p.code).copied();
        }
        Ok(Places { list })
    }

    /// The places that answer `q`, best first: by [`Match`], then kind (local authority, ward,
    /// PCN), then folded name, then code.
    pub fn search(&self, q: &Query) -> Vec<(Match, &Place)> {
        let mut hits: Vec<(Match, &Place)> = self
            .list
            .iter()
            .filter_map(|p| p.matches(q).map(|m| (m, p)))
            .collect();
        hits.sort_by(|a, b| {
            (a.0, a.1.kind, &a.1.keys[0], &a.1.code).cmp(&(b.0, b.1.kind, &b.1.keys[0], &b.1.code))
        });
        hits
    }

    /// The place of this kind and code.
    pub fn get(&self, kind: PlaceKind, code: &str) -> Option<&Place> {
        self.list.iter().find(|p| p.kind == kind && p.code == code)
    }
}

/// How well a name answers a query, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Match {
    /// The whole name (or the code).
    Exact,
    /// The start of the name.
    Prefix,
    /// The start of a later word of the name.
    WordPrefix,
    /// Anywhere inside the name.
    Substring,
}

impl Match {
    pub fn as_str(self) -> &'static str {
        match self {
            Match::Exact => "exact",
            Match::Prefix => "prefix",
            Match::WordPrefix => "word_prefix",
            Match::Substring => "substring",
        }
    }
}

/// Text as names are compared: lower case, "&" as "and", apostrophes dropped ("St John's" =
/// "st johns"), any other run of characters that are not letters or digits as one space.
pub fn fold(s: &str) -> String {
    fn word(out: &mut String, gap: &mut bool, w: &str) {
        if *gap && !out.is_empty() {
            out.push(' ');
        }
        *gap = false;
        out.push_str(w);
    }
    let mut out = String::with_capacity(s.len() + 4);
    let mut gap = false;
    for c in s.chars() {
        if c == '&' {
            gap = true;
            word(&mut out, &mut gap, "and");
            gap = true;
        } else if c == '\'' || c == '\u{2019}' {
            // inside a word: nothing
        } else if c.is_alphanumeric() {
            let mut buf = [0u8; 4];
            for l in c.to_lowercase() {
                word(&mut out, &mut gap, l.encode_utf8(&mut buf));
            }
        } else {
            gap = true;
        }
    }
    out
}

/// How well folded `text` answers folded `q`, if at all.
pub fn match_folded(text: &str, q: &str) -> Option<Match> {
    if q.is_empty() {
        return None;
    }
    if text == q {
        Some(Match::Exact)
    } else if text.starts_with(q) {
        Some(Match::Prefix)
    } else if text
        .match_indices(q)
        .any(|(i, _)| i > 0 && text.as_bytes()[i - 1] == b' ')
    {
        Some(Match::WordPrefix)
    } else if text.contains(q) {
        Some(Match::Substring)
    } else {
        None
    }
}

/// What was typed, folded once: the whole text, and for "name, place" the two parts.
#[derive(Debug, Clone)]
pub struct Query {
    pub raw: String,
    pub whole: String,
    /// "name, place": `name` folded and `place` folded.
    pub within: Option<(String, String)>,
}

impl Query {
    pub fn new(raw: &str) -> Query {
        let within = raw.rsplit_once(',').and_then(|(n, p)| {
            let (n, p) = (fold(n), fold(p));
            (!n.is_empty() && !p.is_empty()).then_some((n, p))
        });
        Query {
            raw: raw.to_string(),
            whole: fold(raw),
            within,
        }
    }

    /// The best match of the query among `names` (unfolded), or of "name, place" where
    /// `place` answers `parent` (unfolded) too.
    pub fn best(&self, names: &[&str], parent: &str) -> Option<Match> {
        let keys: Vec<String> = names.iter().map(|n| fold(n)).collect();
        self.best_folded(&keys, &fold(parent))
    }

    /// [`Query::best`] over names and a parent already folded.
    pub fn best_folded<S: AsRef<str>>(&self, keys: &[S], parent: &str) -> Option<Match> {
        let best = |q: &str| {
            keys.iter()
                .filter_map(|k| match_folded(k.as_ref(), q))
                .min()
        };
        best(&self.whole).or_else(|| {
            let (name, place) = self.within.as_ref()?;
            match_folded(parent, place)?;
            best(name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "kind,code,name,lad_code,lad_name,label_e,label_n,min_lon,min_lat,max_lon,max_lat,population,practices,list_size_2021_01
local_authority,E08000005,Rochdale,,,389000,413000,-2.3,53.5,-2.0,53.7,223790,,
local_authority,E07000081,Gloucester,,,383000,218000,-2.3,51.8,-2.2,51.9,132000,,
ward,E05010959,Kingsway,E07000081,Gloucester,383100,215000,-2.27,51.82,-2.25,51.84,9000,,
ward,E05014040,Kingsway,E08000005,Rochdale,391000,412000,-2.15,53.6,-2.12,53.62,13000,,
ward,E05014036,Central Rochdale,E08000005,Rochdale,389900,413200,-2.17,53.6,-2.14,53.63,15000,,
ward,E05014042,Milkstone & Deeplish,E08000005,Rochdale,389500,412500,-2.17,53.6,-2.15,53.61,16000,,
pcn,U64487,ROCHDALE NORTH PCN,E08000005,Rochdale,389140,413682,-2.19,53.61,-2.14,53.64,,7,60000
pcn,U11111,HEYWOOD & MIDDLETON PCN,E08000005,Rochdale,387000,410000,-2.25,53.55,-2.18,53.6,,1,9000
";

    fn places() -> Places {
        Places::parse(SAMPLE).unwrap()
    }

    fn names(hits: &[(Match, &Place)]) -> Vec<String> {
        hits.iter()
            .map(|(m, p)| format!("{}:{}:{}", m.as_str(), p.kind.as_str(), p.code))
            .collect()
    }

    #[test]
    fn folding_ignores_case_punctuation_and_ampersands() {
        assert_eq!(
            fold("  Wardle, Shore &  West Littleborough "),
            "wardle shore and west littleborough"
        );
        assert_eq!(fold("St John's"), "st johns");
        assert_eq!(fold("Stoke-on-Trent"), "stoke on trent");
        assert_eq!(fold("Heywood&Middleton"), "heywood and middleton");
        assert_eq!(fold("---"), "");
    }

    #[test]
    fn matches_rank_exact_then_prefix_then_word_then_substring() {
        assert_eq!(match_folded("rochdale", "rochdale"), Some(Match::Exact));
        assert_eq!(
            match_folded("rochdale north pcn", "rochdale"),
            Some(Match::Prefix)
        );
        assert_eq!(
            match_folded("central rochdale", "roch"),
            Some(Match::WordPrefix)
        );
        assert_eq!(
            match_folded("central rochdale", "chdale"),
            Some(Match::Substring)
        );
        assert_eq!(match_folded("central rochdale", "bury"), None);
        assert_eq!(match_folded("anything", ""), None);
        assert!(Match::Exact < Match::Prefix && Match::Prefix < Match::WordPrefix);
        assert!(Match::WordPrefix < Match::Substring);
    }

    #[test]
    fn search_orders_by_match_then_kind_then_name_then_code() {
        let p = places();
        let hits = p.search(&Query::new("roch"));
        assert_eq!(
            names(&hits),
            [
                "prefix:local_authority:E08000005",
                "prefix:pcn:U64487",
                "word_prefix:ward:E05014036",
            ]
        );
        // Two wards with one name: by name, then code.
        let hits = p.search(&Query::new("KINGSWAY"));
        assert_eq!(
            names(&hits),
            ["exact:ward:E05010959", "exact:ward:E05014040"]
        );
        assert_eq!(hits[0].1.detail(), "ward in Gloucester, 9,000 residents");
    }

    #[test]
    fn name_comma_place_narrows_to_a_local_authority() {
        let p = places();
        let hits = p.search(&Query::new("kingsway, rochdale"));
        assert_eq!(names(&hits), ["exact:ward:E05014040"]);
        assert!(p.search(&Query::new("kingsway, bury")).is_empty());
        // A comma inside a name still matches the whole name.
        assert_eq!(
            Query::new("Wardle, Shore").best(&["Wardle, Shore & West Littleborough"], "Rochdale"),
            Some(Match::Prefix)
        );
    }

    #[test]
    fn codes_and_pcn_names_without_pcn_match_exactly() {
        let p = places();
        assert_eq!(
            names(&p.search(&Query::new("e05014040"))),
            ["exact:ward:E05014040"]
        );
        assert_eq!(
            names(&p.search(&Query::new("Rochdale North"))),
            ["exact:pcn:U64487"]
        );
        assert_eq!(
            names(&p.search(&Query::new("heywood and middleton"))),
            ["exact:pcn:U11111"]
        );
        assert_eq!(
            names(&p.search(&Query::new("milkstone and"))),
            ["prefix:ward:E05014042"]
        );
    }

    #[test]
    fn details_say_what_a_place_is() {
        let p = places();
        let la = p.get(PlaceKind::LocalAuthority, "E08000005").unwrap();
        assert_eq!(la.detail(), "local authority, 3 wards, 223,790 residents");
        let pcn = p.get(PlaceKind::Pcn, "U64487").unwrap();
        assert_eq!(pcn.detail(), "PCN in Rochdale, 7 practices");
        assert_eq!(
            p.get(PlaceKind::Pcn, "U11111").unwrap().detail(),
            "PCN in Rochdale, 1 practice"
        );
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let bad = SAMPLE.replace("ward,E05014036", "town,E05014036");
        let (line, why) = Places::parse(&bad).unwrap_err();
        assert_eq!(line, 6, "{why}");
        assert!(why.contains("kind `town`"), "{why}");
        let bad = SAMPLE.replace("389140,413682", "389140,north");
        let (line, why) = Places::parse(&bad).unwrap_err();
        assert_eq!(line, 8);
        assert!(why.contains("label_n: `north` is not a number"), "{why}");
        let (line, why) = Places::parse("kind,code\n").unwrap_err();
        assert_eq!((line, why.as_str()), (1, "missing column `name`"));
    }
}
