//! The reference data: every layer in `data/`, loaded once, already in BNG metres, with its
//! index built. Read-only after loading, so it can be shared behind an `Arc`.
//!
//! Files (all written by `sitefinder prepare-data`, described in `data/README.md`):
//! `manifest.json`, `lsoa21.csv.gz` and `lsoa21_boundaries.geojson.gz` (IoD2025 on LSOA 2021;
//! `lsoa11.csv.gz` and `lsoa11_boundaries.geojson.gz` for IMD 2019), `gp_practices.csv.gz`,
//! `stops.csv.gz`, `pharmacies.csv.gz`, `vaccination_sites.csv.gz`, `places.csv.gz` (wards,
//! local authorities and PCNs to search and label; a data directory built before it still
//! loads, without them), `postcodes.csv.gz` (loaded on first use: only units given by postcode
//! and postcode searches need it).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use geo::{Area, LineString, MultiPolygon, Polygon};
use serde::Deserialize;

use crate::base::cells::PolygonCells;
use crate::base::spatial::{PointIndex, PolygonIndex};
use crate::base::surface::{Areas, Surface};
use crate::base::textio::read_text;
pub use crate::reference::coverage::Coverage;
use crate::reference::edition::Imd;
use crate::reference::places::Places;
use crate::reference::postcode::{self, Centroid, PostcodeTable};

/// Errors loading `data/`. Each names the file (and line) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: cannot read ({source}); run `sitefinder prepare-data` or pass --data DIR")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file} line {line}: {reason}")]
    Parse {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{file}: {reason}")]
    Invalid { file: PathBuf, reason: String },
}

/// One LSOA with its deprivation values, of the edition the atlas was loaded with (LSOA 2021
/// and IMD 2025 by default; [`Atlas::imd`] says which).
#[derive(Debug, Clone)]
pub struct Lsoa {
    /// `lsoa21cd` (or `lsoa11cd` with IMD 2019).
    pub code: String,
    /// `lsoa21nm` (or `lsoa11nm`).
    pub name: String,
    /// Local authority: LAD 2024 with IMD 2025, LAD 2019 with IMD 2019.
    pub lad_code: String,
    pub lad_name: String,
    pub imd_score: f64,
    pub imd_rank: u32,
    /// 1 = most deprived 10% of England.
    pub imd_decile: u8,
    /// Domain deciles in the order of [`DOMAINS`].
    pub domain_deciles: [u8; 7],
    /// With IMD 2025: the IMD 2019 decile of the place (the LSOA 2011 this LSOA came from,
    /// or for a merged one the LSOA 2011 containing its centroid), to show what changed.
    pub imd2019_decile: Option<u8>,
    /// Residents: Census 2021 usual residents (IMD 2025) or mid-2015 (IMD 2019).
    pub population: f64,
    /// Where people live, BNG metres: the mean of the LSOA's postcode centroids (2021) or the
    /// ONS centroid (2011).
    pub centroid: [f64; 2],
    pub area_m2: f64,
    /// Which boundary set the polygon came from: `bgc` (20 m) or `bsc` (super-generalised).
    pub boundary: String,
}

/// The seven IoD domains (the same in 2019 and 2025), in the order of [`Lsoa::domain_deciles`].
pub const DOMAINS: [&str; 7] = [
    "income",
    "employment",
    "education",
    "health",
    "crime",
    "barriers",
    "living_env",
];

/// An active GP practice.
#[derive(Debug, Clone)]
pub struct Practice {
    pub practice_code: String,
    pub name: String,
    pub postcode: String,
    pub pos: [f64; 2],
    /// Registered patients, January 2021 (the newest practice list sizes in the open data);
    /// `None` for practices opened since.
    pub list_size: Option<u32>,
    pub pcn_code: Option<String>,
    pub pcn: Option<String>,
    pub icb_code: String,
    pub subicb_code: String,
}

/// What every output says about GP list sizes: the newest open practice-level counts are
/// January 2021's.
pub const LIST_SIZES_NOTE: &str = "GP list sizes are January 2021's (the newest open practice-level counts); practices opened since use the median list size";

/// A point of a site layer (stop, pharmacy, vaccination site).
#[derive(Debug, Clone)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub postcode: String,
    pub pos: [f64; 2],
}

/// A point layer with its index and coverage.
#[derive(Debug, Clone)]
pub struct Layer {
    pub name: String,
    pub sites: Vec<Site>,
    pub index: PointIndex,
    pub coverage: Coverage,
}

/// `manifest.json`: what each layer is, where it came from, and the attribution to show.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Manifest {
    pub built_by: String,
    pub layers: Vec<LayerInfo>,
    pub attribution: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct LayerInfo {
    pub name: String,
    pub file: String,
    pub source: String,
    pub vintage: String,
    pub licence: String,
    pub rows: usize,
    /// `"england"` or a list of LAD codes.
    pub coverage: serde_json::Value,
}

/// The side of [`Atlas::index_lsoa_cells`]'s cells. At a million SYNTHETIC units (denser where
/// LSOAs are small, so mostly in towns) 200 m cells decided 35% of points without a polygon
/// test (100 m: 61%, 400 m: 14%), made in 0.2 s into 37 MB (100 m: 1.3 s and 150 MB); 250 m
/// cells take 31 MB with the LSOAs each edge cell keeps, decide 77% of a lattice over
/// England's land and 26% of those units, and send the rest to 2.6 LSOAs each on average.
pub const LSOA_CELL_M: f64 = 250.0;

/// All reference layers, loaded and indexed.
#[derive(Debug)]
pub struct Atlas {
    pub dir: PathBuf,
    /// The deprivation edition (and LSOA vintage) loaded.
    pub imd: Imd,
    pub manifest: Manifest,
    pub lsoas: Vec<Lsoa>,
    pub lsoa_shapes: Vec<MultiPolygon<f64>>,
    pub lsoa_index: PolygonIndex,
    /// The LSOAs' residents (and residents x IMD score) on a 100 m grid, for the walking reach
    /// of a point asked for alone ([`Atlas::residents_within`]); the join sums its units' on a
    /// surface of its own ([`Atlas::residents_surface`]), letting go of it as it goes.
    pub residents: Surface,
    lsoa_by_code: HashMap<String, usize>,
    pub practices: Vec<Practice>,
    pub practice_index: PointIndex,
    /// Where the GP practice layer is complete (`gp_practices` in the manifest).
    pub practices_coverage: Coverage,
    /// Local authority code -> name, from the LSOAs.
    lad_names: HashMap<String, String>,
    pub stops: Layer,
    pub pharmacies: Layer,
    pub vaccination_sites: Layer,
    /// Median list size, standing in for practices without one.
    pub median_list_size: f64,
    /// IMD scores of all English LSOAs, ascending (for percentiles).
    pub imd_scores_sorted: Vec<f64>,
    /// Wards, local authorities and PCNs (`places.csv.gz`); `None` for a data directory built
    /// before places were added ([`Atlas::places_note`] says so).
    pub places: Option<Places>,
    postcodes: OnceLock<Result<PostcodeTable, String>>,
    /// A grid that decides the LSOA of points away from boundaries without a polygon test, made by
    /// [`Atlas::index_lsoa_cells`] for a large import (not for a few points).
    lsoa_cells: OnceLock<PolygonCells>,
}

/// What a data directory without `places.csv.gz` cannot do.
pub const NO_PLACES: &str = "this data directory has no places.csv.gz (it was built before places were added): searches find postcodes and units only, and the map draws no place names; rebuild it with `sitefinder prepare-data`";

impl Atlas {
    /// What `sitefinder about` prints: each layer with its rows, source, vintage, licence and
    /// coverage, the attribution notice, and the transformation's accuracy.
    pub fn about(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "sitefinder {}\n\nData ({}):\nDeprivation in use: {} (--imd {}); the other edition: --imd {}\n",
            env!("CARGO_PKG_VERSION"),
            self.dir.display(),
            self.imd.source(),
            self.imd,
            match self.imd {
                Imd::Iod2025 => Imd::Iod2019,
                Imd::Iod2019 => Imd::Iod2025,
            }
        );
        for l in &self.manifest.layers {
            let cov = match Coverage::from_manifest(&l.coverage) {
                Some(c) => self.describe_coverage(&c),
                None => l.coverage.to_string(),
            };
            let _ = writeln!(
                out,
                "  {:<18} {:>9} rows  {} [{}; {}; coverage: {cov}]",
                l.name, l.rows, l.source, l.vintage, l.licence
            );
        }
        if let Some(note) = self.places_note() {
            let _ = writeln!(out, "  note: {note}");
        }
        out.push_str("\nAttribution:\n");
        for a in &self.manifest.attribution {
            let _ = writeln!(out, "  {a}");
        }
        out.push_str("\nCoordinates are transformed with PROJ's Helmert fallback (no OSTN15 grid), 0.5-4 m from the official transformation.\n");
        out
    }

    /// Loads every layer from `dir` with the default deprivation edition (IMD 2025).
    pub fn load(dir: &Path) -> Result<Atlas, DataError> {
        Atlas::load_edition(dir, Imd::default())
    }

    /// Loads every layer from `dir` with the LSOAs of `imd`'s edition (the postcode table waits
    /// until first needed).
    pub fn load_edition(dir: &Path, imd: Imd) -> Result<Atlas, DataError> {
        let manifest_path = dir.join("manifest.json");
        let (text, _) = read_text(&manifest_path).map_err(|source| DataError::Read {
            file: manifest_path.clone(),
            source,
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| DataError::Parse {
            file: manifest_path.clone(),
            line: e.line(),
            reason: e.to_string(),
        })?;

        let shapes_path = dir.join(imd.boundary_file());
        // The boundaries are the largest file: parse them on another core meanwhile.
        let (lsoas, boundaries, practices) = std::thread::scope(|scope| {
            let b = scope.spawn(|| load_boundaries(&shapes_path));
            let l = load_lsoas(&dir.join(imd.lsoa_file()));
            let p = load_practices(&dir.join("gp_practices.csv.gz"));
            (l, b.join().expect("boundary loading panicked"), p)
        });
        let (mut lsoas, boundaries, practices) = (lsoas?, boundaries?, practices?);
        let lsoa_by_code: HashMap<String, usize> = lsoas
            .iter()
            .enumerate()
            .map(|(i, l)| (l.code.clone(), i))
            .collect();
        let mut lsoa_shapes = vec![MultiPolygon::<f64>::new(vec![]); lsoas.len()];
        for (code, src, shape) in boundaries {
            let i = *lsoa_by_code.get(&code).ok_or_else(|| DataError::Invalid {
                file: shapes_path.clone(),
                reason: format!("boundary for {code}, which is not in {}", imd.lsoa_file()),
            })?;
            lsoas[i].area_m2 = shape.unsigned_area();
            lsoas[i].boundary = src;
            lsoa_shapes[i] = shape;
        }
        if let Some(l) = lsoas.iter().find(|l| l.boundary.is_empty()) {
            return Err(DataError::Invalid {
                file: shapes_path,
                reason: format!("no boundary for {}", l.code),
            });
        }
        let lsoa_index = PolygonIndex::new(&lsoa_shapes);
        let mut imd_scores_sorted: Vec<f64> = lsoas.iter().map(|l| l.imd_score).collect();
        imd_scores_sorted.sort_by(f64::total_cmp);

        let practice_index = PointIndex::new(&practices.iter().map(|p| p.pos).collect::<Vec<_>>());
        let mut lists: Vec<u32> = practices.iter().filter_map(|p| p.list_size).collect();
        lists.sort_unstable();
        let median_list_size = lists.get(lists.len() / 2).map_or(1.0, |m| *m as f64);
        let coverage = |name: &str| -> Result<Coverage, DataError> {
            manifest_coverage(&manifest, name).ok_or_else(|| DataError::Invalid {
                file: manifest_path.clone(),
                reason: format!("layer `{name}` has no coverage (\"england\" or LAD codes)"),
            })
        };
        let layer = |name: &str, file: &str| -> Result<Layer, DataError> {
            let sites = load_sites(&dir.join(file))?;
            let index = PointIndex::new(&sites.iter().map(|s| s.pos).collect::<Vec<_>>());
            Ok(Layer {
                name: name.to_string(),
                sites,
                index,
                coverage: coverage(name)?,
            })
        };
        let practices_coverage = coverage("gp_practices")?;
        let mut lad_names: HashMap<String, String> = HashMap::new();
        for l in &lsoas {
            if !lad_names.contains_key(&l.lad_code) {
                lad_names.insert(l.lad_code.clone(), l.lad_name.clone());
            }
        }
        let places = load_places(&dir.join("places.csv.gz"))?;
        Ok(Atlas {
            dir: dir.to_path_buf(),
            places,
            practices_coverage,
            lad_names,
            imd,
            stops: layer("stops", "stops.csv.gz")?,
            pharmacies: layer("pharmacies", "pharmacies.csv.gz")?,
            vaccination_sites: layer("vaccination_sites", "vaccination_sites.csv.gz")?,
            manifest,
            lsoas,
            residents: Surface::new(lsoa_index.extent().unwrap_or_default()),
            lsoa_shapes,
            lsoa_index,
            lsoa_by_code,
            practices,
            practice_index,
            median_list_size,
            imd_scores_sorted,
            postcodes: OnceLock::new(),
            lsoa_cells: OnceLock::new(),
        })
    }

    /// Why there are no places, if there are none.
    pub fn places_note(&self) -> Option<&'static str> {
        self.places.is_none().then_some(NO_PLACES)
    }

    /// A local authority's name from its code (from the LSOAs of the loaded edition).
    pub fn lad_name(&self, code: &str) -> Option<&str> {
        self.lad_names.get(code).map(String::as_str)
    }

    /// The areas a coverage covers, in words ("Greater Manchester", "all England").
    pub fn describe_coverage(&self, coverage: &Coverage) -> String {
        coverage.describe(|c| self.lad_name(c).map(str::to_string))
    }

    /// The layers units are scored with and where each has data: `(id, name, areas in
    /// words)` for GP practices, stops, pharmacies and vaccination sites.
    pub fn layer_coverage(&self) -> Vec<(&'static str, &'static str, String)> {
        vec![
            ("practices", "GP practices", &self.practices_coverage),
            ("stops", "stops", &self.stops.coverage),
            ("pharmacies", "pharmacies", &self.pharmacies.coverage),
            (
                "vaccination-sites",
                "vaccination sites",
                &self.vaccination_sites.coverage,
            ),
        ]
        .into_iter()
        .map(|(id, name, c)| (id, name, self.describe_coverage(c)))
        .collect()
    }

    /// [`Atlas::layer_coverage`] in one line, layers with the same areas together: "GP
    /// practices, vaccination sites: all England; stops: Greater Manchester and the West
    /// Midlands; pharmacies: Greater Manchester".
    pub fn coverage_in_words(&self) -> String {
        let mut groups: Vec<(String, Vec<&str>)> = vec![];
        for (_, name, words) in self.layer_coverage() {
            match groups.iter_mut().find(|(w, _)| *w == words) {
                Some((_, names)) => names.push(name),
                None => groups.push((words, vec![name])),
            }
        }
        groups
            .iter()
            .map(|(words, names)| format!("{}: {words}", names.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Index of an LSOA by its code.
    pub fn lsoa(&self, code: &str) -> Option<usize> {
        self.lsoa_by_code.get(code).copied()
    }

    /// Residents within `radius_m` of `at`, and their population-weighted IMD score (`None`
    /// with no residents), from the 100 m surface of the LSOAs' populations
    /// ([`crate::base::surface`]); `None` for a radius the surface does not sum.
    pub fn residents_within(&self, at: [f64; 2], radius_m: f64) -> Option<(f64, Option<f64>)> {
        self.residents_on(&self.residents, at, radius_m)
    }

    /// An empty surface of the LSOAs' residents, over the same grid as [`Atlas::residents`]
    /// (so its sums are the same, bit for bit), for an owner that lets go of its strips as
    /// it goes ([`Surface::release_below`]).
    pub fn residents_surface(&self) -> Surface {
        Surface::new(self.lsoa_index.extent().unwrap_or_default())
    }

    /// [`Atlas::residents_within`], summed on `surface` (one [`Atlas::residents_surface`] made).
    pub fn residents_on(
        &self,
        surface: &Surface,
        at: [f64; 2],
        radius_m: f64,
    ) -> Option<(f64, Option<f64>)> {
        let [people, weighted] = surface.disc_sum(&LsoaAreas(self), at, radius_m)?;
        Some((people, (people > 0.0).then(|| weighted / people)))
    }

    /// The LSOA containing a BNG point (on a shared boundary, the lowest code wins).
    pub fn lsoa_at(&self, at: [f64; 2]) -> Option<usize> {
        match self
            .lsoa_cells
            .get()
            .and_then(|c| c.holding(&self.lsoa_shapes, at))
        {
            Some(answer) => answer,
            None => self.lsoa_by_polygons(at),
        }
    }

    /// Grids the LSOAs in [`LSOA_CELL_M`] cells so that [`Atlas::lsoa_at`] decides points in
    /// cells no boundary crosses without testing a polygon, and tests a point in a cell a
    /// boundary crosses against the LSOAs that can hold it alone, 2.6 on average, where the
    /// R-tree found every LSOA whose box holds it (the same answers; 0.2-0.4 s and 31 MB for
    /// England, once).
    pub fn index_lsoa_cells(&self) {
        self.lsoa_cells.get_or_init(|| {
            let _t = crate::base::timing::Phase::start("grid the LSOAs");
            PolygonCells::new(&self.lsoa_shapes, LSOA_CELL_M, |i| &self.lsoas[i].code)
        });
    }

    /// Lets go of [`Atlas::index_lsoa_cells`]'s grid, if made, and says how many bytes it held:
    /// for the owner of an atlas whose large import is done (a point asked for later is found
    /// through the R-tree, with the same answer).
    pub fn release_lsoa_cells(&mut self) -> usize {
        self.lsoa_cells.take().map_or(0, |c| c.heap_bytes())
    }

    /// [`Atlas::lsoa_at`] by testing the polygons whose boxes hold the point.
    fn lsoa_by_polygons(&self, at: [f64; 2]) -> Option<usize> {
        self.lsoa_index
            .containing(&self.lsoa_shapes, at)
            .into_iter()
            .min_by(|a, b| self.lsoas[*a].code.cmp(&self.lsoas[*b].code))
    }

    /// The nearest LSOA within `max_m` of a point that no LSOA contains (a shop on a seafront
    /// that the generalised coastline cuts off), with its distance.
    pub fn lsoa_near(&self, at: [f64; 2], max_m: f64) -> Option<(usize, f64)> {
        use geo::{Distance, Euclidean, Point};
        let pt = Point::new(at[0], at[1]);
        self.lsoa_index
            .candidates_near(at, max_m)
            .into_iter()
            .map(|i| (i, Euclidean.distance(&pt, &self.lsoa_shapes[i])))
            .filter(|(_, d)| *d <= max_m)
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
    }

    /// Fraction of English LSOAs whose IMD score is at most `score` (0..1; 1 = most deprived).
    pub fn imd_percentile(&self, score: f64) -> f64 {
        let n = self.imd_scores_sorted.len();
        if n == 0 {
            return 0.0;
        }
        let below = self.imd_scores_sorted.partition_point(|s| *s <= score);
        below as f64 / n as f64
    }

    /// The postcode table, loaded on first use.
    pub fn postcodes(&self) -> Result<&PostcodeTable, DataError> {
        let file = self.dir.join("postcodes.csv.gz");
        self.postcodes
            .get_or_init(|| {
                let col = self.imd.postcode_column();
                let codes: Vec<String> = self.lsoas.iter().map(|l| l.code.clone()).collect();
                crate::reference::postcode_cache::load_or_build(&file, &codes, col, || {
                    load_postcodes(&file, &self.lsoa_by_code, col)
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|reason| DataError::Invalid {
                file,
                reason: reason.clone(),
            })
    }

    /// Practices whose PCN matches `query` by code or by name (case, spacing and a trailing
    /// "PCN" ignored).
    pub fn practices_in_pcn(&self, query: &str) -> Vec<usize> {
        let q = pcn_key(query);
        self.practices
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.pcn_code.as_deref().is_some_and(|c| pcn_key(c) == q)
                    || p.pcn.as_deref().is_some_and(|n| pcn_key(n) == q)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Every distinct PCN name, sorted (for "did you mean" messages).
    pub fn pcn_names(&self) -> Vec<String> {
        let s: BTreeSet<String> = self
            .practices
            .iter()
            .filter_map(|p| p.pcn.clone())
            .collect();
        s.into_iter().collect()
    }
}

/// The coverage of the manifest's layer `name`, if it names one.
fn manifest_coverage(manifest: &Manifest, name: &str) -> Option<Coverage> {
    let info = manifest.layers.iter().find(|l| l.name == name)?;
    Coverage::from_manifest(&info.coverage)
}

/// The comparison key for PCN names: upper case, single spaces, "&" as "AND", no trailing "PCN".
pub fn pcn_key(s: &str) -> String {
    let up = s.to_uppercase().replace('&', " AND ");
    let words: Vec<&str> = up.split_whitespace().collect();
    let words = match words.last() {
        Some(&"PCN") => &words[..words.len() - 1],
        _ => &words[..],
    };
    words.join(" ")
}

fn read(path: &Path) -> Result<String, DataError> {
    read_text(path)
        .map(|(s, _)| s)
        .map_err(|source| DataError::Read {
            file: path.to_path_buf(),
            source,
        })
}

/// Iterates CSV records with their 1-based line numbers, looking columns up by name.
fn csv_rows<T>(
    path: &Path,
    mut f: impl FnMut(&Row<'_>) -> Result<T, String>,
) -> Result<Vec<T>, DataError> {
    let text = read(path)?;
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| DataError::Parse {
            file: path.to_path_buf(),
            line: 1,
            reason: e.to_string(),
        })?
        .clone();
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| DataError::Parse {
            file: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line() as usize),
            reason: e.to_string(),
        })?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let row = Row {
            headers: &headers,
            rec: &rec,
        };
        out.push(f(&row).map_err(|reason| DataError::Parse {
            file: path.to_path_buf(),
            line,
            reason,
        })?);
    }
    Ok(out)
}

struct Row<'a> {
    headers: &'a csv::StringRecord,
    rec: &'a csv::StringRecord,
}

impl Row<'_> {
    fn s(&self, col: &str) -> Result<&str, String> {
        let i = self
            .headers
            .iter()
            .position(|h| h == col)
            .ok_or_else(|| format!("missing column `{col}`"))?;
        Ok(self.rec.get(i).unwrap_or("").trim())
    }
    fn f(&self, col: &str) -> Result<f64, String> {
        let s = self.s(col)?;
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("column `{col}`: `{s}` is not a number"))
    }
    /// An optional column: `None` when the column is absent or the cell empty.
    fn opt_col(&self, col: &str) -> Option<&str> {
        let i = self.headers.iter().position(|h| h == col)?;
        self.rec.get(i).map(str::trim).filter(|s| !s.is_empty())
    }
    fn opt(&self, col: &str) -> Result<Option<String>, String> {
        let s = self.s(col)?;
        Ok((!s.is_empty()).then(|| s.to_string()))
    }
}

fn load_lsoas(path: &Path) -> Result<Vec<Lsoa>, DataError> {
    csv_rows(path, |r| {
        let mut domain_deciles = [0u8; 7];
        for (i, d) in DOMAINS.iter().enumerate() {
            domain_deciles[i] = r.f(&format!("{d}_decile"))? as u8;
        }
        Ok(Lsoa {
            code: r.s("lsoa_code")?.to_string(),
            name: r.s("lsoa_name")?.to_string(),
            lad_code: r.s("lad_code")?.to_string(),
            lad_name: r.s("lad_name")?.to_string(),
            imd_score: r.f("imd_score")?,
            imd_rank: r.f("imd_rank")? as u32,
            imd_decile: r.f("imd_decile")? as u8,
            domain_deciles,
            population: r.f("population")?,
            imd2019_decile: r
                .opt_col("imd2019_decile")
                .map(|s| s.parse::<u8>().map_err(|_| format!("imd2019_decile `{s}`")))
                .transpose()?,
            centroid: [r.f("centroid_e")?, r.f("centroid_n")?],
            area_m2: 0.0,
            boundary: String::new(),
        })
    })
}

/// Reads `gp_practices.csv.gz` (also what `prepare-data` builds the PCNs from).
pub fn load_practices(path: &Path) -> Result<Vec<Practice>, DataError> {
    csv_rows(path, |r| {
        Ok(Practice {
            practice_code: r.s("practice_code")?.to_string(),
            name: r.s("name")?.to_string(),
            postcode: r.s("postcode")?.to_string(),
            pos: [r.f("easting")?, r.f("northing")?],
            list_size: r
                .opt("list_size_2021_01")?
                .map(|s| s.parse::<u32>().map_err(|_| format!("list size `{s}`")))
                .transpose()?,
            pcn_code: r.opt("pcn_code")?,
            pcn: r.opt("pcn_name")?,
            icb_code: r.s("icb_code")?.to_string(),
            subicb_code: r.s("subicb_code")?.to_string(),
        })
    })
}

fn load_sites(path: &Path) -> Result<Vec<Site>, DataError> {
    csv_rows(path, |r| {
        Ok(Site {
            id: r.s("id")?.to_string(),
            name: r.s("name")?.to_string(),
            kind: r.s("kind")?.to_string(),
            postcode: r.s("postcode")?.to_string(),
            pos: [r.f("easting")?, r.f("northing")?],
        })
    })
}

/// Reads `places.csv.gz` if the data directory has it.
fn load_places(path: &Path) -> Result<Option<Places>, DataError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = read(path)?;
    Places::parse(&text)
        .map(Some)
        .map_err(|(line, reason)| DataError::Parse {
            file: path.to_path_buf(),
            line,
            reason,
        })
}

/// Reads `postcodes.csv.gz` (`postcode,easting,northing,lsoa11cd,lsoa21cd`), taking the LSOA
/// of column `lsoa_col`.
fn load_postcodes(
    path: &Path,
    lsoa_by_code: &HashMap<String, usize>,
    lsoa_col: usize,
) -> Result<PostcodeTable, DataError> {
    let text = read(path)?;
    let mut rows = Vec::with_capacity(1_500_000);
    // Hand-split: this is 1.5M plain rows with no quoting, and the fastest path matters here.
    for (i, line) in text.lines().enumerate().skip(1) {
        let mut it = line.split(',');
        let bad = |what: &str| DataError::Parse {
            file: path.to_path_buf(),
            line: i + 1,
            reason: format!("bad {what}"),
        };
        let pc = it.next().ok_or_else(|| bad("postcode"))?;
        let e: f64 = it
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("easting"))?;
        let n: f64 = it
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("northing"))?;
        let lsoa = it
            .nth(lsoa_col - 3)
            .and_then(|c| lsoa_by_code.get(c))
            .map(|&i| i as u32);
        rows.push(Centroid {
            key: postcode::key(pc),
            pos: [e, n],
            lsoa,
        });
    }
    Ok(PostcodeTable::new(rows))
}

#[derive(Deserialize)]
struct BoundaryCollection {
    features: Vec<BoundaryFeature>,
}

#[derive(Deserialize)]
struct BoundaryFeature {
    properties: BoundaryProps,
    geometry: BoundaryGeometry,
}

#[derive(Deserialize)]
struct BoundaryProps {
    code: String,
    src: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", content = "coordinates")]
enum BoundaryGeometry {
    Polygon(Vec<Vec<[f64; 2]>>),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

fn rings_to_polygon(rings: Vec<Vec<[f64; 2]>>) -> Polygon<f64> {
    let mut it = rings
        .into_iter()
        .map(|r| LineString::from(r.into_iter().map(|[x, y]| (x, y)).collect::<Vec<_>>()));
    let ext = it.next().unwrap_or_else(|| LineString::new(vec![]));
    Polygon::new(ext, it.collect())
}

/// Reads a boundary file of `data/`: `(code, src, polygon)` in file order (also what
/// `prepare-data` builds the places from).
pub fn load_boundaries(path: &Path) -> Result<Vec<(String, String, MultiPolygon<f64>)>, DataError> {
    let text = read(path)?;
    let fc: BoundaryCollection = serde_json::from_str(&text).map_err(|e| DataError::Parse {
        file: path.to_path_buf(),
        line: e.line(),
        reason: e.to_string(),
    })?;
    Ok(fc
        .features
        .into_iter()
        .map(|f| {
            let mp = match f.geometry {
                BoundaryGeometry::Polygon(r) => MultiPolygon::new(vec![rings_to_polygon(r)]),
                BoundaryGeometry::MultiPolygon(ps) => {
                    MultiPolygon::new(ps.into_iter().map(rings_to_polygon).collect())
                }
            };
            (f.properties.code, f.properties.src, mp)
        })
        .collect())
}

/// The LSOAs as the residents' surface reads them: each polygon's residents, and residents x
/// IMD score (so the surface's two sums give a population-weighted score).
struct LsoaAreas<'a>(&'a Atlas);

impl Areas for LsoaAreas<'_> {
    fn meeting(&self, bbox: [f64; 4]) -> Vec<usize> {
        self.0.lsoa_index.meeting(bbox)
    }
    fn shape(&self, i: usize) -> &MultiPolygon<f64> {
        &self.0.lsoa_shapes[i]
    }
    fn totals(&self, i: usize) -> [f64; 2] {
        let l = &self.0.lsoas[i];
        [l.population, l.population * l.imd_score]
    }
}

#[cfg(test)]
mod tests {
    use super::pcn_key;

    #[test]
    fn pcn_names_compare_loosely() {
        assert_eq!(pcn_key("Rochdale North PCN"), pcn_key("ROCHDALE  NORTH"));
        assert_eq!(
            pcn_key("Heywood & Middleton"),
            pcn_key("heywood and middleton pcn")
        );
        assert_ne!(pcn_key("Rochdale North"), pcn_key("Rochdale South"));
    }
}
