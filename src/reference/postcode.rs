//! UK postcodes: normalising what people type, and the all-England postcode table
//! (OS Code-Point Open) used to geocode units that come with a postcode only.
//!
//! ```
//! use sitefinder::reference::postcode::normalise;
//! assert_eq!(normalise(" ol16 1aa ").as_deref(), Some("OL16 1AA"));
//! assert_eq!(normalise("M11AE").as_deref(), Some("M1 1AE"));
//! assert_eq!(normalise("not a postcode"), None);
//! ```

/// Normalises a postcode to the "OUTWARD INWARD" form (upper case, one space), or `None` when
/// it cannot be a UK postcode.
pub fn normalise(raw: &str) -> Option<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(5..=7).contains(&compact.len()) || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let (out, inw) = compact.split_at(compact.len() - 3);
    let inw_ok = {
        let b = inw.as_bytes();
        b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphabetic()
    };
    let out_ok = out.as_bytes()[0].is_ascii_alphabetic();
    (inw_ok && out_ok).then(|| format!("{out} {inw}"))
}

/// Packs a normalised postcode into a `u64` key (7 significant characters fit).
pub fn key(normalised: &str) -> u64 {
    normalised
        .bytes()
        .filter(|b| *b != b' ')
        .fold(0u64, |acc, b| (acc << 8) | b as u64)
}

/// One postcode centroid.
#[derive(Debug, Clone, Copy)]
pub struct Centroid {
    pub key: u64,
    /// BNG metres.
    pub pos: [f64; 2],
    /// Index into the atlas's LSOAs (the ONS postcode-to-LSOA lookup), if known.
    pub lsoa: Option<u32>,
}

/// The postcode table, sorted by key for binary search.
#[derive(Debug, Default)]
pub struct PostcodeTable {
    rows: Vec<Centroid>,
}

impl PostcodeTable {
    pub fn new(mut rows: Vec<Centroid>) -> Self {
        rows.sort_by_key(|r| r.key);
        PostcodeTable { rows }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Looks up a postcode in any spacing or case.
    pub fn lookup(&self, raw: &str) -> Option<Centroid> {
        let n = normalise(raw)?;
        let k = key(&n);
        self.rows
            .binary_search_by_key(&k, |r| r.key)
            .ok()
            .map(|i| self.rows[i])
    }
}
