//! Import of candidate units: plain CSV (WGS84 `lat`/`lon`, BNG `easting`/`northing`, or a
//! `postcode` only), the business-rates layouts councils publish (occupancy or empty flags,
//! description, empty-from date), and GeoJSON (points, or polygons through an interior point).
//!
//! The layout is detected from the header. By default the first bad row stops the import with
//! an [`ImportError`] naming the file, the line or feature, and what to fix; with
//! `skip_invalid` every bad row is skipped and reported in [`Imported::skipped`].

use std::borrow::Cow;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use geo::InteriorPoint;
use serde_json::Value;

use crate::base::crs::{self, plausibly_england_bng, plausibly_england_lonlat};
use crate::base::date::Date;
use crate::base::geometry;
use crate::base::text::Text;
use crate::base::textio::{read_text_max, Encoding};
use crate::ingest::premises;
use crate::reference::atlas::{Atlas, DataError};
use crate::reference::postcode::normalise;

/// How far outside every LSOA polygon a unit may lie and still be taken as in England: the
/// super-generalised boundaries cut off parts of seafronts and estuaries.
pub const COAST_SNAP_M: f64 = 1_000.0;

/// Most a row's lat/lon and easting/northing may differ, in metres, before the row is refused
/// as contradicting itself (PROJ's Helmert transformation is within 4 m; a rounded or
/// differently geocoded pair within a few tens).
pub const COORDINATES_AGREE_M: f64 = 100.0;

/// Most a row's coordinates may be from its postcode's position (Code-Point Open), in metres,
/// before the row is refused: a postcode covers a street or a few, but in the countryside one
/// can cover more than a kilometre, so only a postcode of another place is caught.
pub const POSTCODE_AGREES_M: f64 = 2_000.0;

/// Where in the input a unit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// 1-based line of a CSV file (the header is line 1).
    Line(usize),
    /// 0-based index of a GeoJSON feature.
    Feature(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Feature(i) => write!(f, "feature {i}"),
        }
    }
}

/// How a unit's position was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocatedBy {
    Coordinates,
    Postcode,
}

/// A candidate unit, positioned in BNG metres.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: Text,
    pub name: Text,
    pub address: Text,
    pub postcode: Option<Text>,
    pub pos: [f64; 2],
    pub located_by: LocatedBy,
    /// The LSOA found at import: the ONS lookup's for a unit placed by its postcode, else the
    /// polygon containing the point (`None` for a point just off the generalised coastline,
    /// which the join snaps to the nearest).
    pub lsoa: Option<usize>,
    pub floor_area_m2: Option<f64>,
    pub rateable_value: Option<f64>,
    pub ground_floor: Option<bool>,
    pub vacant_since: Option<Date>,
    /// The date of the list the unit came from (a `list_date` column): vacancy age is measured
    /// at it unless a date is given for the whole ranking (`--as-of`).
    pub list_date: Option<Date>,
    /// One copy shared by the units of a file that say the same (see [`crate::base::intern`]).
    pub description: Option<Arc<str>>,
    /// Why the unit cannot hold a clinic (a market stall, a kiosk, an advertising right...),
    /// read from its description, name and address ([`premises::not_a_clinic`]); such units are
    /// left out of rankings unless asked for.
    pub unsuitable: Option<&'static str>,
    /// The site the unit is at: the smallest id of the units at the same place (same arcade,
    /// building or position; see `analysis::sites`). Its own id until grouped.
    pub site_id: Text,
    /// How many units are at that site.
    pub site_units: usize,
    /// The council whose list the unit came from (a `council` column), if given; shared.
    pub council: Option<Arc<str>>,
    /// The file the unit was read from (its name, e.g. `rochdale_vacant_shops.csv`); shared.
    pub source: Arc<str>,
    pub place: Place,
}

impl Unit {
    /// A unit with nothing known of it but its id, its position (BNG metres) and where it was
    /// read: alone at its site, no file name. What tests, benches and made-up units start from
    /// (`Unit { floor_area_m2: Some(40.0), ..Unit::bare(..) }`).
    ///
    /// ```
    /// use sitefinder::ingest::units::{Place, Unit};
    /// let u = Unit::bare("U1", [389_000.0, 413_000.0], Place::Line(2));
    /// assert_eq!((u.id.as_str(), u.site_id.as_str(), u.site_units), ("U1", "U1", 1));
    /// assert!(u.floor_area_m2.is_none() && u.lsoa.is_none() && u.name.is_empty());
    /// ```
    pub fn bare(id: &str, pos: [f64; 2], place: Place) -> Unit {
        Unit {
            id: id.into(),
            name: Text::default(),
            address: Text::default(),
            postcode: None,
            pos,
            located_by: LocatedBy::Coordinates,
            lsoa: None,
            floor_area_m2: None,
            rateable_value: None,
            ground_floor: None,
            vacant_since: None,
            list_date: None,
            description: None,
            unsuitable: None,
            site_id: id.into(),
            site_units: 1,
            council: None,
            source: "".into(),
            place,
        }
    }
}

/// The input layouts sitefinder recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A CSV with `lat`/`lon`, `easting`/`northing` or `postcode`.
    Csv,
    /// A council business-rates list: only rows flagged empty are imported.
    BusinessRates,
    GeoJson,
}

/// A row that was skipped (with `skip_invalid`) and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub place: Place,
    pub reason: String,
}

/// The result of an import.
#[derive(Debug)]
pub struct Imported {
    pub units: Vec<Unit>,
    pub skipped: Vec<Skipped>,
    /// Business-rates rows not flagged empty (not candidates).
    pub occupied: usize,
    pub format: Format,
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Skip and report bad rows instead of stopping at the first.
    pub skip_invalid: bool,
    /// Show a progress bar when stderr is a terminal.
    pub progress: bool,
    /// The largest file read, unpacked (default [`MAX_UNITS_FILE_BYTES`]).
    pub max_bytes: Option<u64>,
}

/// Errors importing units. Each names the file and, where it applies, the line or feature.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    // Not a `source` (it is in the message already: a chain would say it twice).
    #[error("{file}: cannot read: {error}")]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{file}: the file is empty; expected a CSV header or a GeoJSON FeatureCollection")]
    Empty { file: PathBuf },
    #[error("{file}: {reason}")]
    Layout { file: PathBuf, reason: String },
    #[error("{file} {place}: {reason}")]
    Row {
        file: PathBuf,
        place: Place,
        reason: String,
    },
    #[error("{file}: no units: {reason}")]
    NoUnits { file: PathBuf, reason: String },
    #[error(transparent)]
    Data(#[from] DataError),
}

/// The fields a unit can have, under their canonical names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Id,
    Name,
    Name2,
    Address,
    Address1,
    Address2,
    Address3,
    Address4,
    Postcode,
    Lat,
    Lon,
    Easting,
    Northing,
    FloorArea,
    RateableValue,
    GroundFloor,
    VacantSince,
    ListDate,
    Description,
    Council,
    EmptyYN,
    Occupied,
    Occupancy,
    Exemption,
    ReliefType,
}

/// Header spellings, compared after lower-casing and folding `_`, `-` and spaces.
const ALIASES: &[(Field, &[&str])] = &[
    (
        Field::Id,
        &[
            "id",
            "unit id",
            "property ref",
            "property reference number",
            "prop ref",
            "uprn",
            "reference",
        ],
    ),
    (
        Field::Name,
        &["name", "property name 1", "property name", "site name"],
    ),
    (Field::Name2, &["property name 2"]),
    (
        Field::Address,
        &["address", "full property address", "full address"],
    ),
    (Field::Address1, &["property address 1"]),
    (Field::Address2, &["property address 2"]),
    (Field::Address3, &["property address 3"]),
    (Field::Address4, &["property address 4"]),
    (
        Field::Postcode,
        &[
            "postcode",
            "post code",
            "property post code",
            "property postcode",
            "postal code",
        ],
    ),
    (Field::Lat, &["lat", "latitude"]),
    (Field::Lon, &["lon", "lng", "long", "longitude"]),
    (
        Field::Easting,
        &["easting", "eastings", "bng e", "bng easting"],
    ),
    (
        Field::Northing,
        &["northing", "northings", "bng n", "bng northing"],
    ),
    (
        Field::FloorArea,
        &["floor area m2", "floor area", "floor area sqm", "area m2"],
    ),
    (
        Field::RateableValue,
        &["rateable value", "rv", "current rateable value"],
    ),
    (
        Field::GroundFloor,
        &["ground floor", "step free", "ground floor access"],
    ),
    (
        Field::VacantSince,
        &[
            "vacant since",
            "empty from",
            "empty since",
            "current prop exemption start date",
        ],
    ),
    (
        Field::ListDate,
        &["list date", "list as at", "as at", "rates list date"],
    ),
    (
        Field::Description,
        &[
            "description",
            "voa description",
            "current analysis code description",
        ],
    ),
    (
        Field::Council,
        &["council", "billing authority", "local authority"],
    ),
    (Field::EmptyYN, &["empty y/n", "empty"]),
    (Field::Occupied, &["occupied"]),
    (Field::Occupancy, &["occupancy"]),
    (Field::Exemption, &["current property exemption code"]),
    (Field::ReliefType, &["current relief type"]),
];

fn fold(h: &str) -> String {
    h.trim()
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn field_for(header: &str) -> Option<Field> {
    let h = fold(header);
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&h.as_str()))
        .map(|(f, _)| *f)
}

/// One input record, field by field, before it is checked.
#[derive(Debug, Default)]
struct Record<'a> {
    values: Fields<'a>,
    /// A position given by geometry (GeoJSON), in the file's CRS.
    geometry: Option<(f64, f64)>,
    /// Why the feature's geometry could not give a position, or the row cannot be read.
    geometry_error: Option<String>,
}

impl Record<'_> {
    fn get(&self, f: Field) -> Option<&str> {
        self.values
            .get(&f)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

/// A record's values by field: a short list (a dozen fields at most), searched in order;
/// cheaper than a hash map for a million rows. A CSV row's values are borrowed from the row
/// read (no copy of each), a GeoJSON feature's are made from its properties.
#[derive(Debug, Default)]
struct Fields<'a>(Vec<(Field, Cow<'a, str>)>);

impl<'a> Fields<'a> {
    fn get(&self, f: &Field) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == f).map(|(_, v)| v.as_ref())
    }

    /// Sets `f` unless it has a value already (the first column named for a field wins).
    fn set_first(&mut self, f: Field, v: impl FnOnce() -> Cow<'a, str>) {
        if self.get(&f).is_none() {
            self.0.push((f, v()));
        }
    }

    /// Sets `f`, replacing any value.
    fn set(&mut self, f: Field, v: Cow<'a, str>) {
        match self.0.iter_mut().find(|(k, _)| *k == f) {
            Some(slot) => slot.1 = v,
            None => self.0.push((f, v)),
        }
    }
}

/// Reads units from a CSV or GeoJSON file (by extension: `.geojson`/`.json`, else CSV; `.gz`
/// is decompressed), positions them in BNG and checks they are in England.
pub fn read_units(
    path: &Path,
    atlas: &Atlas,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let file = path.to_path_buf();
    let t = crate::base::timing::Phase::start("import: read the file");
    let max_bytes = opts.max_bytes.unwrap_or(MAX_UNITS_FILE_BYTES);
    let name = path.to_string_lossy().to_lowercase();
    let gz = name.ends_with(".gz");
    let name = name.trim_end_matches(".gz");
    let named_json = name.ends_with(".geojson") || name.ends_with(".json");
    // A large CSV in UTF-8 is read through once to check it, then parsed as it is read again:
    // never held whole (a million units' file is 160 MB). Any other file is read whole.
    let streamed = match std::fs::metadata(path) {
        Ok(m) if !gz && !named_json && m.len() > STREAM_BYTES => {
            crate::base::textio::scan_utf8(path, max_bytes)
        }
        _ => Ok(None),
    };
    let read = match streamed {
        // GeoJSON under another name is read whole, as GeoJSON.
        Ok(Some(scanned)) if !scanned.start.trim_start().starts_with('{') => {
            Ok((String::new(), scanned.encoding, Some(scanned)))
        }
        Ok(_) => read_text_max(path, max_bytes).map(|(text, e)| (text, e, None)),
        Err(e) => Err(e),
    };
    let (text, encoding, scanned) = read.map_err(|source| {
        let source = if source.kind() == std::io::ErrorKind::InvalidData
            && source.to_string().contains("is read")
        {
            std::io::Error::new(
                source.kind(),
                format!("{source} (--max-units-file-mb reads more)"),
            )
        } else {
            source
        };
        ImportError::Read {
            file: file.clone(),
            error: source,
        }
    })?;
    drop(t);
    let bytes = scanned.as_ref().map_or(text.len(), |s| s.bytes as usize);
    if bytes > GRID_LSOAS_BYTES {
        atlas.index_lsoa_cells();
    }
    if scanned.as_ref().map_or(text.trim().is_empty(), |s| s.blank) {
        return Err(ImportError::Empty { file });
    }
    // A spreadsheet, an image or a PDF saved with a .csv name.
    let start: String = match &scanned {
        Some(s) => s.start.clone(),
        None => text.chars().take(4_096).collect(),
    };
    if start.starts_with("PK\u{3}\u{4}") || start.contains('\0') {
        let what = if start.starts_with("PK\u{3}\u{4}") {
            "a zip archive (an Excel workbook is one): in Excel, save the list with File > Save As > CSV UTF-8"
        } else {
            "not text (it holds binary bytes: an image, a PDF or a spreadsheet?): save the list as CSV or GeoJSON"
        };
        return Err(ImportError::Layout {
            file,
            reason: format!("this is {what}"),
        });
    }
    let is_json = named_json || start.trim_start().starts_with('{');
    let source: Arc<str> = path
        .file_name()
        .map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
        .into();
    // A CSV's units are about its lines: their vector and the map of their ids are sized once
    // rather than grown (a million units were copied as the vector doubled: 0.7 s).
    let lines = scanned.as_ref().map_or_else(
        || memchr::memchr_iter(b'\n', text.as_bytes()).count(),
        |s| s.lines,
    );
    let expected = if is_json { 0 } else { lines };
    let mut placer = Placer {
        atlas,
        file: &file,
        skip_invalid: opts.skip_invalid,
        crs_bng: false,
        source,
        texts: Default::default(),
        seen: crate::base::ids::IdIndex::with_capacity(expected),
        units: Vec::with_capacity(expected),
        skipped: vec![],
        bar: progress_bar(opts.progress, bytes, lines),
    };
    let (format, occupied) = if is_json {
        let (records, bng) = geojson_records(&file, &text)?;
        placer.crs_bng = bng;
        placer.place(&records)?;
        (Format::GeoJson, 0)
    } else if let Some(s) = scanned {
        let f = s.into_reader().map_err(|error| ImportError::Read {
            file: file.clone(),
            error,
        })?;
        csv_records(&file, f, &mut |batch| placer.place(batch))?
    } else {
        csv_records(&file, text.as_bytes(), &mut |batch| placer.place(batch))?
    };
    drop(text);
    placer.bar.finish_and_clear();
    let out = Imported {
        units: placer.units,
        skipped: placer.skipped,
        occupied,
        format,
        encoding,
    };
    if out.units.is_empty() {
        let reason = match (out.skipped.len(), out.occupied) {
            (0, 0) => "the file has a header but no rows".to_string(),
            (0, n) => format!("all {n} rows are occupied (no row is flagged empty)"),
            (n, _) => format!("all {n} rows were invalid"),
        };
        return Err(ImportError::NoUnits { file, reason });
    }
    Ok(out)
}

/// A CSV units file in UTF-8 larger than this (about 50,000 rows) is parsed as it is read
/// ([`crate::base::textio::scan_utf8`]), not held whole.
const STREAM_BYTES: u64 = 8_000_000;

/// A units file larger than this (about 7,000 rows) has its points' LSOAs found through
/// [`Atlas::index_lsoa_cells`]'s grid (the same answers, sooner).
const GRID_LSOAS_BYTES: usize = 1_000_000;

/// Places batches of records as units, in order: every core makes units of a batch, then the
/// ids are compared with those before.
struct Placer<'a> {
    atlas: &'a Atlas,
    file: &'a Path,
    skip_invalid: bool,
    /// GeoJSON in BNG (else WGS84).
    crs_bng: bool,
    /// The file's name, every unit's `source`.
    source: Arc<str>,
    /// The councils and descriptions so far, each held once.
    texts: crate::base::intern::Interner,
    /// The units so far by id (each unit's `place` is where its id was first used).
    seen: crate::base::ids::IdIndex,
    units: Vec<Unit>,
    skipped: Vec<Skipped>,
    bar: indicatif::ProgressBar,
}

impl Placer<'_> {
    fn place(&mut self, batch: &Records<'_>) -> Result<(), ImportError> {
        let (atlas, crs_bng, bar, seen, source) = (
            self.atlas,
            self.crs_bng,
            &self.bar,
            &self.seen,
            &self.source,
        );
        // Rows are independent until their ids are compared: place them on every core, each
        // with its id's hash and its file's name.
        let placed = crate::base::par::map(batch, |(place, rec)| {
            to_unit(rec, *place, atlas, crs_bng).map(|mut u| {
                u.source = Arc::clone(source);
                (seen.hash(&u.id), u)
            })
        });
        // A batch at a time (a shared counter touched by every row on both cores cost 1% of
        // a national import).
        bar.inc(batch.len() as u64);
        self.units.reserve(placed.len());
        for ((place, _), result) in batch.iter().zip(placed) {
            let place = *place;
            let units = &self.units;
            let id_of = |i: u32| units[i as usize].id.as_str();
            let result = result.and_then(|(h, u)| match self.seen.find_hashed(h, &u.id, id_of) {
                Some(first) => Err(format!(
                    "duplicate id `{}` (first used on {}); ids must be unique",
                    u.id, units[first as usize].place
                )),
                None => Ok((h, u)),
            });
            match result {
                Ok((h, mut u)) => {
                    u.description = self.texts.opt(u.description.as_deref());
                    u.council = self.texts.opt(u.council.as_deref());
                    // A units file is at most a few million rows (its size is bounded).
                    let at = u32::try_from(self.units.len()).expect("at most 4 billion units");
                    self.units.push(u);
                    let units = &self.units;
                    self.seen
                        .insert_unique(h, at, |i| units[i as usize].id.as_str());
                }
                Err(reason) if self.skip_invalid => self.skipped.push(Skipped { place, reason }),
                Err(reason) => {
                    self.bar.finish_and_clear();
                    return Err(ImportError::Row {
                        file: self.file.to_path_buf(),
                        place,
                        reason,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A progress bar over the rows of a file of `bytes` and `lines`.
fn progress_bar(wanted: bool, bytes: usize, lines: usize) -> indicatif::ProgressBar {
    let shown = wanted && std::io::stderr().is_terminal() && bytes > 100_000;
    let len = if shown { lines } else { 0 };
    if len > 2_000 {
        let bar = indicatif::ProgressBar::new(len as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("importing {bar:40} {pos}/{len} units ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    }
}

type Records<'a> = Vec<(Place, Record<'a>)>;

/// Rows read and placed at a time: the file's rows and records are never all held at once.
const BATCH_ROWS: usize = 65_536;

/// Reads the CSV's rows a batch at a time, makes them records on every core and hands each
/// batch to `place`; returns the format and how many rows were occupied (not candidates).
fn csv_records(
    file: &Path,
    text: impl std::io::Read,
    place: &mut dyn FnMut(&Records<'_>) -> Result<(), ImportError>,
) -> Result<(Format, usize), ImportError> {
    let layout = |reason: String| ImportError::Layout {
        file: file.to_path_buf(),
        reason,
    };
    // Council files are irregular (rows of 18-23 fields against a 21-field header): read
    // flexibly and treat missing trailing fields as empty.
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(text);
    let headers = rdr
        .headers()
        .map_err(|e| layout(format!("cannot read the CSV header: {e}")))?
        .clone();
    let cols: Vec<Option<Field>> = headers.iter().map(field_for).collect();
    let has = |f: Field| cols.contains(&Some(f));
    let has_ll = has(Field::Lat) || has(Field::Lon);
    let has_en = has(Field::Easting) || has(Field::Northing);
    if has(Field::Lat) != has(Field::Lon) {
        return Err(layout(format!(
            "has only one of `lat`/`lon` (header: {}); give both, or easting/northing, or postcode",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    }
    if has(Field::Easting) != has(Field::Northing) {
        return Err(layout(
            "has only one of `easting`/`northing`; give both".into(),
        ));
    }
    let has_address_postcode = has(Field::Address);
    if !has_ll && !has_en && !has(Field::Postcode) && !has_address_postcode {
        return Err(layout(format!(
            "no location columns: expected `lat` and `lon` (WGS84), `easting` and `northing` (British National Grid) or `postcode`; the header is: {}",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    }
    let rates = has(Field::EmptyYN)
        || has(Field::Occupied)
        || has(Field::Occupancy)
        || has(Field::Exemption);
    let format = if rates {
        Format::BusinessRates
    } else {
        Format::Csv
    };

    // Read the rows (one buffer each), a batch at a time, then make them records on every core.
    let width = headers.len();
    // Each record borrows its row's values.
    fn borrowing<F>(f: F) -> F
    where
        F: for<'r> Fn(&'r (Place, csv::StringRecord)) -> Option<(Place, Record<'r>)> + Sync,
    {
        f
    }
    let to_record = borrowing(|(place, rec)| {
        let mut r = Record::default();
        for (i, v) in rec.iter().enumerate() {
            if let Some(Some(f)) = cols.get(i) {
                r.values.set_first(*f, || Cow::Borrowed(v));
            }
        }
        // Fewer fields than the header are empty ones left off the end (councils' files do
        // this); more, with values in them, mean the values have shifted.
        if rec.len() > width && rec.iter().skip(width).any(|v| !v.trim().is_empty()) {
            r.geometry_error = Some(format!(
                "{} fields where the header has {width}: the values have shifted, probably at a comma inside a value that is not in double quotes; put such values in quotes",
                rec.len(),
            ));
        }
        if rates && !is_vacant(&r) {
            None
        } else {
            Some((*place, r))
        }
    });
    let mut occupied = 0;
    let mut rows: Vec<(Place, csv::StringRecord)> = Vec::with_capacity(BATCH_ROWS);
    let mut records = rdr.records();
    loop {
        rows.clear();
        for rec in records.by_ref() {
            let rec = match rec {
                Ok(r) => r,
                // The file could not be read on (not a fault of its text).
                Err(e) if e.is_io_error() => {
                    let error = match e.into_kind() {
                        csv::ErrorKind::Io(error) => error,
                        other => std::io::Error::other(format!("{other:?}")),
                    };
                    return Err(ImportError::Read {
                        file: file.to_path_buf(),
                        error,
                    });
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    return Err(ImportError::Row {
                        file: file.to_path_buf(),
                        place: Place::Line(line),
                        reason: format!("not valid CSV: {e}"),
                    });
                }
            };
            let at = Place::Line(rec.position().map_or(0, |p| p.line() as usize));
            if rec.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            rows.push((at, rec));
            if rows.len() == BATCH_ROWS {
                break;
            }
        }
        if rows.is_empty() {
            break;
        }
        let batch: Records<'_> = crate::base::par::map(&rows, to_record)
            .into_iter()
            .filter_map(|r| {
                occupied += usize::from(r.is_none());
                r
            })
            .collect();
        place(&batch)?;
    }
    Ok((format, occupied))
}

/// Business-rates occupancy: Rochdale's `Empty Y/N`, the ODI common format's `Occupied`
/// (blank or N = empty), a harmonised `occupancy`, or an empty-property list's exemption code.
fn is_vacant(r: &Record) -> bool {
    let yes = |s: &str| matches!(s.to_ascii_uppercase().as_str(), "Y" | "YES" | "TRUE" | "1");
    if let Some(f) = r.values.get(&Field::EmptyYN) {
        return yes(f.trim());
    }
    if let Some(f) = r.values.get(&Field::Occupancy) {
        return f.trim().eq_ignore_ascii_case("vacant");
    }
    if let Some(f) = r.values.get(&Field::Occupied) {
        return !yes(f.trim());
    }
    // Exemption codes (Kirklees' full list, Portsmouth's empty list) and Empty Property Rate
    // reliefs (EPRN, EPRI) are given only to empty properties.
    let has = |f: Field| r.get(f).is_some();
    has(Field::Exemption)
        || r.get(Field::ReliefType)
            .is_some_and(|t| t.to_ascii_uppercase().starts_with("EPR"))
}

pub use crate::ingest::premises::floor_from_words;

/// By default, the largest units file read, unpacked (a million units of a business-rates list
/// is about 150 MB; `--max-units-file-mb`).
pub const MAX_UNITS_FILE_BYTES: u64 = 500_000_000;

fn geojson_records(file: &Path, text: &str) -> Result<(Records<'static>, bool), ImportError> {
    let layout = |reason: String| ImportError::Layout {
        file: file.to_path_buf(),
        reason,
    };
    let v: Value = serde_json::from_str(text).map_err(|e| {
        layout(format!(
            "invalid GeoJSON (not JSON) at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let bng = crate::base::crs::geojson_crs(&v).map_err(layout)?;
    let features: Vec<&Value> = match v["type"].as_str() {
        Some("FeatureCollection") => v["features"]
            .as_array()
            .ok_or_else(|| {
                layout("invalid GeoJSON: a FeatureCollection needs a `features` array".into())
            })?
            .iter()
            .collect(),
        Some("Feature") => vec![&v],
        other => {
            return Err(layout(format!(
                "invalid GeoJSON: expected a FeatureCollection or Feature, found type {other:?}"
            )))
        }
    };
    let mut out = Vec::new();
    for (i, f) in features.into_iter().enumerate() {
        let place = Place::Feature(i);
        let row_err = |reason: String| ImportError::Row {
            file: file.to_path_buf(),
            place,
            reason,
        };
        let mut r = Record::default();
        if let Some(props) = f["properties"].as_object() {
            for (k, val) in props {
                if let Some(field) = field_for(k) {
                    let s = match val {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    r.values.set_first(field, || Cow::Owned(s));
                }
            }
        }
        match &f["id"] {
            Value::String(s) => {
                r.values.set(Field::Id, Cow::Owned(s.clone()));
            }
            Value::Number(n) => {
                r.values.set(Field::Id, Cow::Owned(n.to_string()));
            }
            _ => {}
        }
        // Geometry problems are reported per feature, so --skip-invalid can skip them.
        match representative_point(&f["geometry"]) {
            Ok(p) => r.geometry = Some(p),
            Err(reason) => r.geometry_error = Some(reason),
        }
        if !f.is_object() {
            return Err(row_err("a feature must be a JSON object".into()));
        }
        out.push((place, r));
    }
    Ok((out, bng))
}

/// A point for a GeoJSON geometry: the point itself, or a polygon's interior point (which is
/// always inside the polygon, unlike its centroid).
fn representative_point(g: &Value) -> Result<(f64, f64), String> {
    match g["type"].as_str() {
        Some("Point") | Some("MultiPoint") => geometry::parse_point(g),
        Some("Polygon") | Some("MultiPolygon") => geometry::parse_multipolygon(g)?
            .interior_point()
            .map(|p| (p.x(), p.y()))
            .ok_or_else(|| "the polygon is empty".into()),
        None if g.is_null() => Err("the feature has no geometry".into()),
        other => Err(format!(
            "geometry type {} is not supported; use Point, MultiPoint, Polygon or MultiPolygon",
            other.unwrap_or("(missing)")
        )),
    }
}

fn parse_num(r: &Record, f: Field, col: &str) -> Result<Option<f64>, String> {
    match r.get(f) {
        None => Ok(None),
        Some(s) => {
            let cleaned: String = s
                .chars()
                .filter(|c| !matches!(c, ',' | '£' | ' '))
                .collect();
            cleaned
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| format!("column `{col}`: `{s}` is not a number"))
        }
    }
}

fn parse_date(r: &Record, f: Field, col: &str) -> Result<Option<Date>, String> {
    match r.get(f) {
        None => Ok(None),
        Some(s) => Date::parse(s)
            .map(Some)
            .ok_or_else(|| format!("column `{col}`: `{s}` is not a date (use YYYY-MM-DD)")),
    }
}

fn parse_bool(r: &Record, f: Field, col: &str) -> Result<Option<bool>, String> {
    match r.get(f).map(|s| s.to_ascii_lowercase()) {
        None => Ok(None),
        Some(s) => match s.as_str() {
            "y" | "yes" | "true" | "1" => Ok(Some(true)),
            "n" | "no" | "false" | "0" => Ok(Some(false)),
            _ => Err(format!("column `{col}`: `{s}` is not yes/no")),
        },
    }
}

fn to_unit(r: &Record, place: Place, atlas: &Atlas, crs_bng: bool) -> Result<Unit, String> {
    if let Some(reason) = &r.geometry_error {
        return Err(reason.clone());
    }
    let id = match (r.values.get(&Field::Id), place) {
        (Some(s), _) if !s.trim().is_empty() => Text::from(s.trim().trim_start_matches("Ref:")),
        (Some(_), _) => return Err("the id is empty".into()),
        (None, Place::Line(n)) => compact_str::format_compact!("line-{n}"),
        (None, Place::Feature(i)) => compact_str::format_compact!("feature-{i}"),
    };
    let address = match r.get(Field::Address) {
        Some(a) => Text::from(a),
        None => [
            Field::Name2,
            Field::Address1,
            Field::Address2,
            Field::Address3,
            Field::Address4,
        ]
        .iter()
        .filter_map(|f| r.get(*f))
        .collect::<Vec<_>>()
        .join(", ")
        .into(),
    };
    // A postcode column, or else a postcode at the end of the address (Portsmouth's layout).
    let postcode = match r.get(Field::Postcode) {
        Some(p) => Some(normalise(p).ok_or_else(|| format!("`{p}` is not a UK postcode"))?),
        None => address.rsplit(',').next().and_then(normalise),
    };
    let name = r.get(Field::Name).map(Text::from).unwrap_or_else(|| {
        address
            .split(',')
            .take(2)
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(", ")
            .into()
    });

    let (pos, located_by, lsoa) = locate(r, atlas, crs_bng, postcode.as_deref())?;
    let vacant_since = parse_date(r, Field::VacantSince, "vacant_since")?;
    let list_date = parse_date(r, Field::ListDate, "list_date")?;
    let floor_area_m2 = parse_num(r, Field::FloorArea, "floor_area_m2")?;
    let name_and_address = format!("{name}, {address}");
    let ground_floor = match parse_bool(r, Field::GroundFloor, "ground_floor")? {
        Some(g) => Some(g),
        None => floor_from_words(&name_and_address),
    };
    if floor_area_m2.is_some_and(|a| a <= 0.0) {
        return Err("floor_area_m2 must be positive".into());
    }
    let description: Option<Arc<str>> = r.get(Field::Description).map(Arc::from);
    let unsuitable = premises::not_a_clinic(description.as_deref(), &name_and_address);
    Ok(Unit {
        site_id: id.clone(),
        site_units: 1,
        council: r.get(Field::Council).map(Arc::from),
        source: Arc::from(""),
        unsuitable,
        id,
        name,
        address,
        postcode: postcode.map(Text::from),
        pos,
        located_by,
        lsoa,
        floor_area_m2,
        rateable_value: parse_num(r, Field::RateableValue, "rateable_value")?,
        ground_floor,
        vacant_since,
        list_date,
        description,
        place,
    })
}

type Located = ([f64; 2], LocatedBy, Option<usize>);

/// The coordinates a row gives, as it gives them.
enum Given {
    LatLon(f64, f64),
    EastNorth([f64; 2]),
}

impl fmt::Display for Given {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Given::LatLon(lat, lon) => write!(f, "lat {lat}, lon {lon}"),
            Given::EastNorth([e, n]) => write!(f, "easting {e}, northing {n}"),
        }
    }
}

fn locate(
    r: &Record,
    atlas: &Atlas,
    crs_bng: bool,
    postcode: Option<&str>,
) -> Result<Located, String> {
    let coord = |f: Field, col: &str| parse_num(r, f, col);
    if let Some((x, y)) = r.geometry {
        return if crs_bng {
            in_england_bng(atlas, x, y)
        } else {
            in_england_lonlat(atlas, x, y)
        }
        .map(|(p, l)| (p, LocatedBy::Coordinates, l));
    }
    let lat_lon = match (coord(Field::Lat, "lat")?, coord(Field::Lon, "lon")?) {
        (Some(lat), Some(lon)) => Some((lat, lon, in_england_lonlat(atlas, lon, lat)?)),
        (Some(_), None) => return Err("`lat` is given but `lon` is empty".into()),
        (None, Some(_)) => return Err("`lon` is given but `lat` is empty".into()),
        (None, None) => None,
    };
    let east_north = match (
        coord(Field::Easting, "easting")?,
        coord(Field::Northing, "northing")?,
    ) {
        (Some(e), Some(n)) => Some(in_england_bng(atlas, e, n)?),
        (Some(_), None) => return Err("`easting` is given but `northing` is empty".into()),
        (None, Some(_)) => return Err("`northing` is given but `easting` is empty".into()),
        (None, None) => None,
    };
    let km = |a: [f64; 2], b: [f64; 2]| ((a[0] - b[0]).hypot(a[1] - b[1])) / 1_000.0;
    if let (Some((lat, lon, (a, _))), Some((b, _))) = (lat_lon, east_north) {
        if km(a, b) * 1_000.0 > COORDINATES_AGREE_M {
            return Err(format!(
                "lat {lat}, lon {lon} and easting {}, northing {} are {:.1} km apart (more than {COORDINATES_AGREE_M} m): one of them is wrong; correct it, or leave one pair out",
                b[0], b[1], km(a, b)
            ));
        }
    }
    // The position given, and how to say what it was (only said when it is wrong).
    let given = lat_lon
        .map(|(lat, lon, p)| (Given::LatLon(lat, lon), p))
        .or(east_north.map(|p| (Given::EastNorth(p.0), p)));
    let Some(pc) = postcode else {
        return match given {
            Some((_, (p, l))) => Ok((p, LocatedBy::Coordinates, l)),
            None => Err("no location: give lat/lon, easting/northing or a postcode".into()),
        };
    };
    let table = atlas.postcodes().map_err(|e| e.to_string())?;
    let found = table.lookup(pc);
    match (given, found) {
        (Some((what, (p, l))), Some(c)) => {
            if km(p, c.pos) * 1_000.0 > POSTCODE_AGREES_M {
                return Err(format!(
                    "{what} is {:.1} km from postcode {pc} (more than {} km): one of them is wrong; correct it, or leave the postcode out",
                    km(p, c.pos),
                    POSTCODE_AGREES_M / 1_000.0
                ));
            }
            Ok((p, LocatedBy::Coordinates, l))
        }
        // A postcode the table does not have (new, or not English) is only a label here.
        (Some((_, (p, l))), None) => Ok((p, LocatedBy::Coordinates, l)),
        (None, Some(c)) => Ok((c.pos, LocatedBy::Postcode, c.lsoa.map(|i| i as usize))),
        (None, None) => Err(format!(
            "unknown postcode `{pc}` (not in the OS Code-Point Open 2025 table of English postcodes; give coordinates instead)"
        )),
    }
}

/// A point in England: its LSOA if a polygon holds it (`Some(None)` if it is only within
/// [`COAST_SNAP_M`] of one, just off the generalised coastline); `None` if it is not in England.
fn lsoa_of(atlas: &Atlas, p: [f64; 2]) -> Option<Option<usize>> {
    match atlas.lsoa_at(p) {
        Some(l) => Some(Some(l)),
        None => atlas.lsoa_near(p, COAST_SNAP_M).map(|_| None),
    }
}

/// A position in BNG with the LSOA it was found in (see [`lsoa_of`]).
type Placed = ([f64; 2], Option<usize>);

fn in_england_lonlat(atlas: &Atlas, lon: f64, lat: f64) -> Result<Placed, String> {
    let ok = |lon: f64, lat: f64| -> Option<Placed> {
        if !plausibly_england_lonlat(lon, lat) {
            return None;
        }
        let (e, n) = crs::wgs84_to_bng(lon, lat).ok()?;
        lsoa_of(atlas, [e, n]).map(|l| ([e, n], l))
    };
    if let Some(p) = ok(lon, lat) {
        return Ok(p);
    }
    if ok(lat, lon).is_some() {
        return Err(format!(
            "lat/lon look swapped (lat {lat}, lon {lon}): in England latitude is about 50 to 56 and longitude about -6 to 2"
        ));
    }
    Err(format!(
        "lat {lat}, lon {lon} is outside England (sitefinder covers English LSOAs only)"
    ))
}

fn in_england_bng(atlas: &Atlas, e: f64, n: f64) -> Result<Placed, String> {
    let ok = |e: f64, n: f64| {
        plausibly_england_bng(e, n)
            .then(|| lsoa_of(atlas, [e, n]))
            .flatten()
    };
    if let Some(l) = ok(e, n) {
        return Ok(([e, n], l));
    }
    if ok(n, e).is_some() {
        return Err(format!(
            "easting/northing look swapped (easting {e}, northing {n})"
        ));
    }
    if plausibly_england_lonlat(e, n) || plausibly_england_lonlat(n, e) {
        return Err(format!(
            "easting {e}, northing {n} look like degrees: use `lat`/`lon` columns for WGS84"
        ));
    }
    Err(format!(
        "easting {e}, northing {n} is outside England (sitefinder covers English LSOAs only)"
    ))
}
