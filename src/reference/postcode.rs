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

    /// A table from rows already in key order (checked: sorted if they are not).
    pub fn from_sorted(rows: Vec<Centroid>) -> Self {
        if rows.windows(2).all(|w| w[0].key <= w[1].key) {
            PostcodeTable { rows }
        } else {
            PostcodeTable::new(rows)
        }
    }

    /// The rows, in key order.
    pub fn rows(&self) -> &[Centroid] {
        &self.rows
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

/// The postcode a key packs, in the "OUTWARD INWARD" form (the reverse of [`key`]).
pub fn text(key: u64) -> String {
    let mut bytes = Vec::with_capacity(8);
    let mut k = key;
    while k > 0 {
        bytes.push((k & 0xff) as u8);
        k >>= 8;
    }
    bytes.reverse();
    let s = String::from_utf8_lossy(&bytes).into_owned();
    match s.len() {
        n if n > 3 => format!("{} {}", &s[..n - 3], &s[n - 3..]),
        _ => s,
    }
}

/// Whether `s` is an outward code (district): A9, A99, AA9, AA99, A9A or AA9A.
pub fn is_outward(s: &str) -> bool {
    let b = s.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let rest = &b[letters..];
    (1..=2).contains(&letters)
        && (1..=2).contains(&rest.len())
        && rest[0].is_ascii_digit()
        && rest[1..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// Whether `s` can start an inward code (a digit, then up to two letters); empty counts.
fn is_inward_start(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() <= 3
        && b.first().is_none_or(|c| c.is_ascii_digit())
        && b.iter().skip(1).all(|c| c.is_ascii_uppercase())
}

/// The ways text can be read as the start of a postcode: `(outward, start of inward)` pairs.
/// With a space the split is given ("OL16 1"). Without one, text that is a whole district is
/// that district ("M11", not M1 followed by 1: people type the district), else every split that
/// fits is a reading ("OL161" is OL16 1). Text that cannot start a postcode has none.
///
/// ```
/// use sitefinder::reference::postcode::readings;
/// assert_eq!(readings("ol16 1"), vec![("OL16".to_string(), "1".to_string())]);
/// assert_eq!(readings("M11"), vec![("M11".to_string(), String::new())]);
/// assert!(readings("Rochdale").is_empty());
/// ```
pub fn readings(raw: &str) -> Vec<(String, String)> {
    let up = raw.trim().to_ascii_uppercase();
    let parts: Vec<&str> = up.split_whitespace().collect();
    let ok = |o: &str, i: &str| is_outward(o) && is_inward_start(i);
    match parts.as_slice() {
        [o] if is_outward(o) => vec![(o.to_string(), String::new())],
        [o] => {
            let o = *o;
            (2..=4)
                .filter(|&k| k <= o.len() && o.len() - k <= 3 && o.is_char_boundary(k))
                .filter(|&k| ok(&o[..k], &o[k..]))
                .map(|k| (o[..k].to_string(), o[k..].to_string()))
                .collect()
        }
        [o, i] if ok(o, i) => vec![(o.to_string(), i.to_string())],
        _ => vec![],
    }
}

impl PostcodeTable {
    /// The postcodes of district `outward` whose inward code starts with `inward`, in key
    /// order (a contiguous run of the table: keys of one district share their high bytes).
    pub fn with_prefix(&self, outward: &str, inward: &str) -> &[Centroid] {
        if !is_outward(outward) || !is_inward_start(inward) {
            return &[];
        }
        let shift = 8 * (3 - inward.len() as u32);
        let base = (key(outward) << 24) | (key(inward) << shift);
        let lo = base;
        let hi = base | ((1u64 << shift) - 1);
        let a = self.rows.partition_point(|r| r.key < lo);
        let b = self.rows.partition_point(|r| r.key <= hi);
        &self.rows[a..b]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(codes: &[&str]) -> PostcodeTable {
        PostcodeTable::new(
            codes
                .iter()
                .enumerate()
                .map(|(i, c)| Centroid {
                    key: key(&normalise(c).unwrap()),
                    pos: [i as f64, 0.0],
                    lsoa: None,
                })
                .collect(),
        )
    }

    #[test]
    fn keys_unpack_to_the_postcode() {
        for pc in ["OL16 1JA", "M1 1AE", "EC1A 1BB", "B1 1AA", "W1A 0AX"] {
            assert_eq!(text(key(pc)), pc);
        }
    }

    #[test]
    fn a_district_and_a_partial_inward_code_select_a_run_of_the_table() {
        let t = table(&[
            "OL16 1JA", "OL16 1JJ", "OL16 2AB", "OL1 6AA", "OL11 1AA", "M1 1AE", "M11 1AA",
            "M1 2AB",
        ]);
        let names = |s: &[Centroid]| s.iter().map(|c| text(c.key)).collect::<Vec<_>>();
        assert_eq!(
            names(t.with_prefix("OL16", "")),
            ["OL16 1JA", "OL16 1JJ", "OL16 2AB"]
        );
        assert_eq!(names(t.with_prefix("OL16", "1")), ["OL16 1JA", "OL16 1JJ"]);
        assert_eq!(names(t.with_prefix("OL16", "1J")), ["OL16 1JA", "OL16 1JJ"]);
        assert_eq!(names(t.with_prefix("OL16", "1JJ")), ["OL16 1JJ"]);
        assert_eq!(names(t.with_prefix("M1", "")), ["M1 1AE", "M1 2AB"]);
        assert!(t.with_prefix("OL", "").is_empty(), "not a district");
    }

    #[test]
    fn partial_postcodes_are_read_every_way_they_can_be() {
        let r = |s: &str| readings(s);
        assert_eq!(r("OL16"), vec![("OL16".into(), "".into())]);
        assert_eq!(
            r("ol161"),
            vec![("OL16".to_string(), "1".to_string())],
            "OL1 + 61 cannot start an inward code"
        );
        assert_eq!(r("M11"), vec![("M11".to_string(), "".to_string())]);
        assert_eq!(r("M11A"), vec![("M1".to_string(), "1A".to_string())]);
        assert_eq!(r(" ec1a 1b "), vec![("EC1A".into(), "1B".into())]);
        assert!(r("OL").is_empty() && r("Bury").is_empty() && r("OL16 1 A").is_empty());
        assert!(r("12 Yorkshire Street").is_empty());
    }
}
