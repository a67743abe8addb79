//! Where a layer is complete ([`Coverage`]), read from `manifest.json`, and said in words:
//! "Greater Manchester and the West Midlands", "all England", "Kirklees (E08000034)".
//! Outside its coverage a layer says nothing, which is "no data", not zero.

use std::collections::BTreeSet;

/// Where a layer is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    England,
    Lads(BTreeSet<String>),
}

/// Greater Manchester's ten local authorities (the area of TfGM's NaPTAN and the pharmacy list).
pub const GM_LADS: [&str; 10] = [
    "E08000001",
    "E08000002",
    "E08000003",
    "E08000004",
    "E08000005",
    "E08000006",
    "E08000007",
    "E08000008",
    "E08000009",
    "E08000010",
];
/// The West Midlands metropolitan county (NaPTAN admin area 430).
pub const WM_LADS: [&str; 7] = [
    "E08000025",
    "E08000026",
    "E08000027",
    "E08000028",
    "E08000029",
    "E08000030",
    "E08000031",
];

/// The metropolitan counties by their districts' codes (the same in LAD 2019 and LAD 2024), so
/// that a layer covering all ten Greater Manchester districts is said to cover Greater
/// Manchester rather than listing them.
const COUNTIES: [(&str, &[&str]); 6] = [
    ("Greater Manchester", &GM_LADS),
    (
        "Merseyside",
        &[
            "E08000011",
            "E08000012",
            "E08000013",
            "E08000014",
            "E08000015",
        ],
    ),
    (
        "South Yorkshire",
        &["E08000016", "E08000017", "E08000018", "E08000019"],
    ),
    (
        "Tyne and Wear",
        &[
            "E08000021",
            "E08000022",
            "E08000023",
            "E08000024",
            "E08000037",
        ],
    ),
    ("the West Midlands", &WM_LADS),
    (
        "West Yorkshire",
        &[
            "E08000032",
            "E08000033",
            "E08000034",
            "E08000035",
            "E08000036",
        ],
    ),
];

impl Coverage {
    /// Reads a manifest layer's `coverage`: `"england"` or a list of LAD codes.
    pub fn from_manifest(v: &serde_json::Value) -> Option<Coverage> {
        match v {
            serde_json::Value::String(s) if s == "england" => Some(Coverage::England),
            serde_json::Value::Array(a) => Some(Coverage::Lads(
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            )),
            _ => None,
        }
    }

    pub fn covers(&self, lad_code: &str) -> bool {
        match self {
            Coverage::England => true,
            Coverage::Lads(s) => s.contains(lad_code),
        }
    }

    /// The areas covered, in words: "all England", "Greater Manchester", "Greater Manchester
    /// and the West Midlands", or local authorities by name and code where they make up no
    /// whole county. `lad_name` gives a local authority's name from its code.
    pub fn describe(&self, lad_name: impl Fn(&str) -> Option<String>) -> String {
        let Coverage::Lads(codes) = self else {
            return "all England".into();
        };
        let mut rest: BTreeSet<&str> = codes.iter().map(String::as_str).collect();
        let mut parts: Vec<String> = vec![];
        for (county, lads) in COUNTIES {
            if lads.iter().all(|c| rest.contains(c)) {
                parts.push(county.to_string());
                for c in lads {
                    rest.remove(c);
                }
            }
        }
        let rest: Vec<&str> = rest.into_iter().collect();
        parts.extend(lads_in_words(&rest, lad_name));
        if parts.is_empty() {
            return "no local authority".into();
        }
        and_list(&parts)
    }
}

/// Local authorities by name and code: ["Kirklees (E08000034)", ...], sorted by name.
pub fn lads_in_words(codes: &[&str], lad_name: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut named: Vec<(String, &str)> = codes
        .iter()
        .map(|c| (lad_name(c).unwrap_or_else(|| "local authority".into()), *c))
        .collect();
    named.sort();
    named
        .into_iter()
        .map(|(n, c)| format!("{n} ({c})"))
        .collect()
}

/// "a", "a and b", "a, b and c".
pub fn and_list(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lads(codes: &[&str]) -> Coverage {
        Coverage::Lads(codes.iter().map(|c| c.to_string()).collect())
    }

    #[test]
    fn coverage_in_words() {
        let name = |c: &str| (c == "E08000034").then(|| "Kirklees".to_string());
        assert_eq!(Coverage::England.describe(name), "all England");
        let gm: Vec<&str> = COUNTIES[0].1.to_vec();
        assert_eq!(lads(&gm).describe(name), "Greater Manchester");
        let mut both = gm.clone();
        both.extend(COUNTIES[4].1);
        assert_eq!(
            lads(&both).describe(name),
            "Greater Manchester and the West Midlands"
        );
        // Nine of the ten districts are no county: each is named.
        assert_eq!(
            lads(&["E08000034", "E08000001"]).describe(name),
            "Kirklees (E08000034) and local authority (E08000001)"
        );
        assert_eq!(lads(&[]).describe(name), "no local authority");
        assert_eq!(
            and_list(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
    }

    #[test]
    fn manifest_coverage() {
        assert_eq!(
            Coverage::from_manifest(&serde_json::json!("england")),
            Some(Coverage::England)
        );
        assert_eq!(
            Coverage::from_manifest(&serde_json::json!(["E08000005"])),
            Some(lads(&["E08000005"]))
        );
        assert_eq!(Coverage::from_manifest(&serde_json::json!(3)), None);
    }
}
