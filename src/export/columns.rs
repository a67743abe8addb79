//! The columns of an export in words: for each machine name (what CSV, GeoJSON and GeoPackage
//! keep, stable for GIS and scripts) the header a board paper shows, the number format and the
//! width of its XLSX column, and the order of the XLSX sheet (who and where, the score, the
//! reasons in words, then the details). `docs/exports.md` lists the table; a test checks it
//! against [`markdown`].

use crate::analysis::criteria::{Criterion, CRITERIA};
use crate::reference::atlas::DOMAINS;
use crate::reference::edition::Imd;

/// How a column's values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Short text (codes, names).
    Text,
    /// A sentence or several (the reasons): a wide column.
    Words,
    /// A whole count or distance with thousands separators (`#,##0`).
    Count,
    /// A small whole number (decile, rank within the shortlist): `0`.
    Whole,
    /// 0 to 1 with three decimals (`0.000`): the score, scaled values, contributions.
    Score,
    /// One decimal (`0.0`): IMD scores.
    OneDecimal,
    /// Two decimals (`0.00`): suitability's own 0..1 value.
    TwoDecimals,
    /// Pounds with thousands separators.
    Pounds,
    /// Degrees of latitude or longitude, six decimals (about 0.1 m).
    Degrees,
    /// British National Grid metres, shown to the metre.
    Grid,
}

impl Kind {
    /// The Excel number format, if any.
    pub fn num_format(self) -> Option<&'static str> {
        match self {
            Kind::Text | Kind::Words => None,
            Kind::Count => Some("#,##0"),
            Kind::Whole | Kind::Grid => Some("0"),
            Kind::Score => Some("0.000"),
            Kind::OneDecimal => Some("0.0"),
            Kind::TwoDecimals => Some("0.00"),
            Kind::Pounds => Some("£#,##0"),
            Kind::Degrees => Some("0.000000"),
        }
    }

    /// The XLSX column width in characters, before the header's own length is considered.
    pub fn width(self) -> f64 {
        match self {
            Kind::Words => 60.0,
            Kind::Text => 14.0,
            Kind::Degrees => 11.0,
            Kind::Grid | Kind::Count | Kind::Pounds => 10.0,
            _ => 8.0,
        }
    }
}

/// One column: its header in words and how its values are shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub header: String,
    pub kind: Kind,
}

fn col(header: impl Into<String>, kind: Kind) -> Column {
    Column {
        header: header.into(),
        kind,
    }
}

/// A criterion's name in words, capitalised.
pub fn criterion_words(c: Criterion) -> &'static str {
    match c {
        Criterion::Deprivation => "Deprivation",
        Criterion::Reach => "Residents in walking reach",
        Criterion::Demand => "GP demand",
        Criterion::Gap => "Gap to existing sites",
        Criterion::Access => "Public transport access",
        Criterion::Suitability => "Suitability of the unit",
        Criterion::Plan => "Council plan",
    }
}

/// How a criterion's raw value is shown.
fn raw_kind(c: Criterion) -> Kind {
    match c {
        Criterion::Deprivation => Kind::OneDecimal,
        Criterion::Reach | Criterion::Demand | Criterion::Gap | Criterion::Plan => Kind::Count,
        Criterion::Access => Kind::Whole,
        Criterion::Suitability => Kind::TwoDecimals,
    }
}

fn domain_words(d: &str) -> &'static str {
    match d {
        "income" => "Income",
        "employment" => "Employment",
        "education" => "Education, skills and training",
        "health" => "Health and disability",
        "crime" => "Crime",
        "barriers" => "Barriers to housing and services",
        "living_env" => "Living environment",
        _ => "Other",
    }
}

/// The column of a machine name, for the deprivation edition `imd`. A name this table does
/// not know keeps itself as header (shown as text), so a new column is never lost.
pub fn column(key: &str, imd: Imd) -> Column {
    let ed = imd.label();
    let lsoa = imd.lsoa_label();
    let lad_year = match imd {
        Imd::Iod2025 => "2024",
        Imd::Iod2019 => "2019",
    };
    if key == imd.code_column() {
        return col(format!("{lsoa} code"), Kind::Text);
    }
    if key == imd.name_column() {
        return col(format!("{lsoa} name"), Kind::Text);
    }
    if key == imd.lad_code_column() {
        return col(format!("Local authority code ({lad_year})"), Kind::Text);
    }
    if key == imd.lad_name_column() {
        return col(format!("Local authority ({lad_year})"), Kind::Text);
    }
    for c in CRITERIA {
        let w = criterion_words(c);
        let Some(part) = key.strip_prefix(c.name()).and_then(|r| r.strip_prefix('_')) else {
            continue;
        };
        match part {
            "raw" => return col(format!("{w}: value ({})", c.raw_unit()), raw_kind(c)),
            "norm" => return col(format!("{w}: scaled 0-1"), Kind::Score),
            "contribution" => return col(format!("{w}: contribution to score"), Kind::Score),
            "why" => return col(format!("{w}: why"), Kind::Words),
            _ => {}
        }
    }
    if let Some(d) = key.strip_suffix("_decile") {
        if DOMAINS.contains(&d) {
            return col(
                format!("{ed} {} domain decile (1 = most deprived)", domain_words(d)),
                Kind::Whole,
            );
        }
    }
    match key {
        "rank" => col("Rank", Kind::Whole),
        "order" => col("Order chosen", Kind::Whole),
        "id" => col("Unit id", Kind::Text),
        "name" => col("Name", Kind::Text),
        "address" => col("Address", Kind::Text),
        "postcode" => col("Postcode", Kind::Text),
        "score" => col("Score", Kind::Score),
        "marginal" => col("Marginal gain", Kind::Count),
        "radius_m" => col("Radius (m)", Kind::Count),
        "model" => col("Model", Kind::Text),
        "note" => col("Note", Kind::Words),
        "why" => col("Reasons, strongest first", Kind::Words),
        "imd_decile" => col(format!("{ed} decile (1 = most deprived)"), Kind::Whole),
        "imd_score" => col(format!("{ed} score"), Kind::OneDecimal),
        "imd_rank" => col(format!("{ed} rank (1 = most deprived)"), Kind::Count),
        "imd2019_decile" => col("IMD 2019 decile (1 = most deprived)", Kind::Whole),
        "nearest_practice_code" => col("Nearest GP practice code", Kind::Text),
        "nearest_practice_name" => col("Nearest GP practice", Kind::Text),
        "nearest_practice_m" => col("Distance to nearest GP practice (m)", Kind::Count),
        "nearest_practice_pcn" => col("Nearest practice's PCN", Kind::Text),
        "catchment_practices" => col("GP practices whose catchment covers it", Kind::Text),
        "catchment_patients" => col("Registered patients in catchment", Kind::Count),
        "catchment_pcns" => col("PCNs in catchment", Kind::Text),
        "description" => col("Description (from the list)", Kind::Text),
        "council" => col("Council", Kind::Text),
        "source_file" => col("Units file", Kind::Text),
        "floor_area_m2" => col("Floor area (m²)", Kind::Count),
        "rateable_value" => col("Rateable value (£)", Kind::Pounds),
        "vacant_since" => col("Vacant since", Kind::Text),
        "list_date" => col("List date", Kind::Text),
        "unsuitable" => col("Cannot hold a clinic because", Kind::Text),
        "site_id" => col("Site (smallest unit id at the place)", Kind::Text),
        "site_units" => col("Units at the same site", Kind::Whole),
        "located_by" => col("Located by", Kind::Text),
        "lsoa_note" => col("LSOA note", Kind::Words),
        "latitude" => col("Latitude", Kind::Degrees),
        "longitude" => col("Longitude", Kind::Degrees),
        "easting" => col("Easting (EPSG:27700)", Kind::Grid),
        "northing" => col("Northing (EPSG:27700)", Kind::Grid),
        other => col(other, Kind::Text),
    }
}

/// Where a column goes on the XLSX sheet: who and where the unit is, the score, what
/// optimise adds, the note, the reasons in words, the details, the coordinates.
fn group(key: &str) -> u8 {
    match key {
        "rank" | "order" | "id" | "name" | "address" | "postcode" => 0,
        "score" => 1,
        "marginal" | "radius_m" | "model" => 2,
        "note" => 3,
        "why" => 4,
        k if k.ends_with("_why") => 5,
        "latitude" | "longitude" | "easting" | "northing" => 7,
        _ => 6,
    }
}

/// The machine names in XLSX order (stable: within a group, the order they came in).
pub fn xlsx_order<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut keys: Vec<&str> = keys.into_iter().collect();
    keys.sort_by_key(|k| group(k));
    keys
}

/// The table of `(machine name, header, how shown)` as Markdown, one row per column.
pub fn markdown(keys: &[&str], imd: Imd) -> String {
    let mut out = String::from(
        "| CSV, GeoJSON, GeoPackage | XLSX header | XLSX format |\n| --- | --- | --- |\n",
    );
    for k in keys {
        let c = column(k, imd);
        out.push_str(&format!(
            "| `{k}` | {} | {} |\n",
            c.header,
            c.kind.num_format().unwrap_or("text")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_in_the_name_become_words() {
        let imd = Imd::Iod2025;
        assert_eq!(column("radius_m", imd).header, "Radius (m)");
        assert_eq!(column("lsoa21cd", imd).header, "LSOA 2021 code");
        assert_eq!(
            column("imd_decile", imd).header,
            "IMD 2025 decile (1 = most deprived)"
        );
        assert_eq!(column("lsoa11cd", Imd::Iod2019).header, "LSOA 2011 code");
        assert_eq!(column("gap_why", imd).header, "Gap to existing sites: why");
        assert_eq!(column("score", imd).kind.num_format(), Some("0.000"));
        assert_eq!(
            column("catchment_patients", imd).kind.num_format(),
            Some("#,##0")
        );
        // Unknown names keep themselves.
        assert_eq!(column("something_new", imd).header, "something_new");
    }

    #[test]
    fn identity_and_score_first_then_words_then_details() {
        let keys = [
            "rank",
            "id",
            "name",
            "note",
            "score",
            "imd_decile",
            "address",
            "latitude",
            "gap_why",
            "why",
            "postcode",
        ];
        assert_eq!(
            xlsx_order(keys),
            [
                "rank",
                "id",
                "name",
                "address",
                "postcode",
                "score",
                "note",
                "why",
                "gap_why",
                "imd_decile",
                "latitude"
            ]
        );
    }
}
