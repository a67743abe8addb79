//! Which English Indices of Deprivation a run uses, and so which LSOA vintage: IoD2025 on
//! LSOA 2021 (the default, current since 30 October 2025) or IoD2019 on LSOA 2011 (kept so a
//! user can see what changed between editions for their units).

use std::fmt;
use std::str::FromStr;

/// An edition of the English Indices of Deprivation with its LSOA vintage.
///
/// ```
/// use sitefinder::reference::edition::Imd;
/// let imd: Imd = "2019".parse().unwrap();
/// assert_eq!(imd.code_column(), "lsoa11cd");
/// assert_eq!(Imd::default().label(), "IMD 2025");
/// assert!("2015".parse::<Imd>().is_err());
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum Imd {
    /// IoD2025 on LSOA 2021, Census 2021 residents.
    #[default]
    #[value(name = "2025")]
    #[serde(rename = "2025")]
    Iod2025,
    /// IoD2019 on LSOA 2011, mid-2015 residents.
    #[value(name = "2019")]
    #[serde(rename = "2019")]
    Iod2019,
}

impl Imd {
    /// The year, as given on the command line (`--imd 2025`).
    pub fn year(self) -> &'static str {
        match self {
            Imd::Iod2025 => "2025",
            Imd::Iod2019 => "2019",
        }
    }
    /// "IMD 2025", for sentences and titles.
    pub fn label(self) -> &'static str {
        match self {
            Imd::Iod2025 => "IMD 2025",
            Imd::Iod2019 => "IMD 2019",
        }
    }
    /// "LSOA 2021".
    pub fn lsoa_label(self) -> &'static str {
        match self {
            Imd::Iod2025 => "LSOA 2021",
            Imd::Iod2019 => "LSOA 2011",
        }
    }
    /// The full name of the source, for metadata.
    pub fn source(self) -> &'static str {
        match self {
            Imd::Iod2025 => "English Indices of Deprivation 2025 (MHCLG, 30 October 2025) on LSOA 2021; Census 2021 usual residents",
            Imd::Iod2019 => "English Indices of Deprivation 2019 (MHCLG, September 2019) on LSOA 2011; mid-2015 residents",
        }
    }
    /// What the LSOA population is.
    pub fn population_label(self) -> &'static str {
        match self {
            Imd::Iod2025 => "Census 2021 usual residents",
            Imd::Iod2019 => "mid-2015 residents",
        }
    }
    /// The LSOA table in `data/`.
    pub fn lsoa_file(self) -> &'static str {
        match self {
            Imd::Iod2025 => "lsoa21.csv.gz",
            Imd::Iod2019 => "lsoa11.csv.gz",
        }
    }
    /// The LSOA polygons in `data/`.
    pub fn boundary_file(self) -> &'static str {
        match self {
            Imd::Iod2025 => "lsoa21_boundaries.geojson.gz",
            Imd::Iod2019 => "lsoa11_boundaries.geojson.gz",
        }
    }
    /// The output column of the LSOA code: `lsoa21cd` or `lsoa11cd`.
    pub fn code_column(self) -> &'static str {
        match self {
            Imd::Iod2025 => "lsoa21cd",
            Imd::Iod2019 => "lsoa11cd",
        }
    }
    /// The output column of the LSOA name: `lsoa21nm` or `lsoa11nm`.
    pub fn name_column(self) -> &'static str {
        match self {
            Imd::Iod2025 => "lsoa21nm",
            Imd::Iod2019 => "lsoa11nm",
        }
    }
    /// The output column of the local authority code: `lad24cd` (IoD2025's LADs) or `lad19cd`.
    pub fn lad_code_column(self) -> &'static str {
        match self {
            Imd::Iod2025 => "lad24cd",
            Imd::Iod2019 => "lad19cd",
        }
    }
    /// The output column of the local authority name.
    pub fn lad_name_column(self) -> &'static str {
        match self {
            Imd::Iod2025 => "lad24nm",
            Imd::Iod2019 => "lad19nm",
        }
    }
    /// The column of `postcodes.csv.gz` (0-based) holding this vintage's LSOA.
    pub fn postcode_column(self) -> usize {
        match self {
            Imd::Iod2025 => 4,
            Imd::Iod2019 => 3,
        }
    }
}

impl fmt::Display for Imd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.year())
    }
}

impl FromStr for Imd {
    type Err = String;
    fn from_str(s: &str) -> Result<Imd, String> {
        match s.trim() {
            "2025" | "iod2025" | "IoD2025" => Ok(Imd::Iod2025),
            "2019" | "iod2019" | "IoD2019" => Ok(Imd::Iod2019),
            other => Err(format!(
                "unknown IMD edition `{other}`; give 2025 (IoD2025 on LSOA 2021) or 2019 (IoD2019 on LSOA 2011)"
            )),
        }
    }
}
