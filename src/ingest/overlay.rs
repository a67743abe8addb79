//! Council plan overlays: a layer of areas (Future High Streets, regeneration or town-centre
//! plans) uploaded as GeoJSON, a zipped Shapefile or a GeoPackage, checked, brought to British
//! National Grid, and then used in ranking as a filter ("within N m of the plan") and as the
//! `plan` criterion ("inside a Future High Streets area").
//!
//! Parsing never half-succeeds: [`parse`] returns every feature or one error that names the
//! feature (0-based index, and its name when it has one) and what to fix.
//!
//! ```
//! use sitefinder::ingest::overlay::{parse, UploadOptions};
//! // A square around Rochdale town centre, in WGS84 (RFC 7946).
//! let gj = br#"{"type":"FeatureCollection","features":[{"type":"Feature",
//!   "properties":{"name":"Town centre"},
//!   "geometry":{"type":"Polygon","coordinates":[[[-2.160,53.612],[-2.150,53.612],
//!   [-2.150,53.620],[-2.160,53.620],[-2.160,53.612]]]}}]}"#;
//! let p = parse(gj, &UploadOptions::default()).unwrap();
//! assert_eq!(p.features.len(), 1);
//! assert_eq!(p.features[0].label, "Town centre");
//! // Now in metres on the British National Grid: Rochdale is near (389,500, 413,500).
//! let c = p.features[0].bbox.center();
//! assert!((c.x - 389_500.0).abs() < 1_000.0 && (c.y - 413_500.0).abs() < 1_000.0);
//! // Points are not plan areas.
//! let pt = br#"{"type":"Point","coordinates":[-2.155,53.616]}"#;
//! assert!(parse(pt, &UploadOptions::default()).unwrap_err().to_string().contains("feature 0"));
//! ```

use std::io::{Cursor, Read};

use geo::{
    BoundingRect, Contains, Coord, Distance, Euclidean, LineString, MultiPolygon, Point, Polygon,
    Rect,
};
use serde_json::{json, Map, Value as Json};

use crate::base::crs::{self, CrsError};
use crate::base::valid::{self, Invalid};
use shapefile::dbase;

/// Uploads larger than this are refused unless the server is started with another limit.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// The upload formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFormat {
    GeoJson,
    /// A zip holding `.shp`, `.shx`, `.dbf` and `.prj`.
    Shapefile,
    GeoPackage,
}

impl std::str::FromStr for UploadFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<UploadFormat, String> {
        UploadFormat::parse(s).ok_or_else(|| "use geojson, shapefile or gpkg".to_string())
    }
}

impl UploadFormat {
    pub fn name(self) -> &'static str {
        match self {
            UploadFormat::GeoJson => "geojson",
            UploadFormat::Shapefile => "shapefile",
            UploadFormat::GeoPackage => "gpkg",
        }
    }

    pub fn parse(s: &str) -> Option<UploadFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "geojson" | "json" => Some(UploadFormat::GeoJson),
            "shapefile" | "shp" | "zip" => Some(UploadFormat::Shapefile),
            "gpkg" | "geopackage" => Some(UploadFormat::GeoPackage),
            _ => None,
        }
    }

    /// Guesses the format from the first bytes: a zip, an SQLite file, or else JSON.
    pub fn sniff(bytes: &[u8]) -> UploadFormat {
        if bytes.starts_with(b"PK") {
            UploadFormat::Shapefile
        } else if bytes.starts_with(b"SQLite format 3\0") {
            UploadFormat::GeoPackage
        } else {
            UploadFormat::GeoJson
        }
    }
}

/// How to read an upload.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// `None`: guess from the bytes.
    pub format: Option<UploadFormat>,
    /// Repair invalid polygons (a boolean union under the even-odd rule) instead of refusing
    /// them.
    pub repair: bool,
    pub max_bytes: usize,
    pub limits: UploadLimits,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            format: None,
            repair: false,
            max_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            limits: UploadLimits::default(),
        }
    }
}

/// How much one upload may hold, so that checking and ranking with it stay quick. The
/// `overlay add` and `serve` flags.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct UploadLimits {
    /// Most features a plan layer may hold.
    #[arg(long = "max-features", value_name = "N", default_value_t = 100_000)]
    pub max_features: usize,
    /// Most vertices a plan layer may hold, over all its features.
    #[arg(long = "max-vertices", value_name = "N", default_value_t = 2_000_000)]
    pub max_vertices: usize,
    /// Most rings (outer rings and holes) one feature of a plan layer may have.
    #[arg(long = "max-rings", value_name = "N", default_value_t = 10_000)]
    pub max_rings_per_feature: usize,
    /// Most a zipped Shapefile's parts may unpack to together, in MB.
    #[arg(long = "max-unzipped-mb", value_name = "MB", default_value_t = MAX_UNZIPPED_BYTES / 1_000_000)]
    pub max_unzipped_mb: u64,
    /// Most files a zip may list.
    #[arg(long = "max-zip-files", value_name = "N", default_value_t = MAX_ZIP_ENTRIES)]
    pub max_zip_files: usize,
    /// Most seconds reading a GeoPackage may take.
    #[arg(long = "max-geopackage-s", value_name = "S", default_value_t = GEOPACKAGE_TIME_BUDGET.as_secs())]
    pub max_geopackage_s: u64,
    /// Work the validity check and repair of one feature may do.
    #[command(flatten)]
    pub validity: valid::Budget,
}

impl Default for UploadLimits {
    /// The flags' defaults: 100,000 features, 2,000,000 vertices, 10,000 rings a feature.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            limits: UploadLimits,
        }
        <Flags as clap::Parser>::parse_from(["limits"]).limits
    }
}

impl UploadLimits {
    fn check(&self, raw: &[RawFeature]) -> Result<(), OverlayError> {
        const SIMPLIFY: &str =
            "simplify the layer (e.g. QGIS: Vector > Geometry Tools > Simplify) or split it";
        if raw.len() > self.max_features {
            return Err(OverlayError::OverLimit {
                what: "features".into(),
                found: raw.len(),
                limit: self.max_features,
                fix: "split the layer, or keep only the areas you plan with",
            });
        }
        let mut vertices = 0usize;
        for (index, f) in raw.iter().enumerate() {
            let Ok(shape) = &f.geometry else { continue };
            let rings: usize = shape.0.iter().map(|p| 1 + p.interiors().len()).sum();
            if rings > self.max_rings_per_feature {
                return Err(OverlayError::OverLimit {
                    what: format!(
                        "rings in feature {index}{}",
                        named(&label_of(&f.properties, index))
                    ),
                    found: rings,
                    limit: self.max_rings_per_feature,
                    fix: SIMPLIFY,
                });
            }
            vertices += shape
                .0
                .iter()
                .map(|p| {
                    p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>()
                })
                .sum::<usize>();
        }
        if vertices > self.max_vertices {
            return Err(OverlayError::OverLimit {
                what: "vertices".into(),
                found: vertices,
                limit: self.max_vertices,
                fix: SIMPLIFY,
            });
        }
        Ok(())
    }
}

/// One plan area, in BNG metres.
#[derive(Debug, Clone)]
pub struct PlanFeature {
    /// Its `name` (or `title`/`label`) property, else "feature N".
    pub label: String,
    pub properties: Map<String, Json>,
    pub shape: MultiPolygon<f64>,
    pub bbox: Rect<f64>,
}

impl PlanFeature {
    /// A feature read back from the store (already checked when it was uploaded).
    pub fn from_stored(
        label: String,
        properties: Map<String, Json>,
        shape: MultiPolygon<f64>,
    ) -> PlanFeature {
        PlanFeature::new(label, properties, shape)
    }

    fn new(label: String, properties: Map<String, Json>, shape: MultiPolygon<f64>) -> PlanFeature {
        let bbox = shape
            .bounding_rect()
            .unwrap_or_else(|| Rect::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 0.0, y: 0.0 }));
        PlanFeature {
            label,
            properties,
            shape,
            bbox,
        }
    }
}

/// A checked upload, ready to store.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub format: UploadFormat,
    /// The CRS the upload was read in, as declared (EPSG code or the `.prj`'s name).
    pub crs: String,
    pub features: Vec<PlanFeature>,
    /// Indexes of features repaired (see `valid::repair`).
    pub repaired: Vec<usize>,
}

/// A stored overlay.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub id: i64,
    pub name: String,
    /// UTC, RFC 3339.
    pub created: String,
    /// The uploaded file's name, if given.
    pub source: String,
    pub format: String,
    pub crs: String,
    pub repaired: Vec<usize>,
    pub features: Vec<PlanFeature>,
}

impl Overlay {
    /// The plan feature nearest to a BNG point and the distance to it (0 inside); ties go to
    /// the first feature.
    pub fn nearest(&self, p: [f64; 2]) -> Option<(usize, f64)> {
        let pt = Point::new(p[0], p[1]);
        let mut best: Option<(usize, f64)> = None;
        for (i, f) in self.features.iter().enumerate() {
            // The distance to the box is a lower bound: skip features that cannot win.
            let r = f.bbox;
            let dx = (r.min().x - p[0]).max(p[0] - r.max().x).max(0.0);
            let dy = (r.min().y - p[1]).max(p[1] - r.max().y).max(0.0);
            if best.is_some_and(|(_, d)| dx.hypot(dy) >= d) {
                continue;
            }
            let d = if f.shape.contains(&pt) {
                0.0
            } else {
                Euclidean.distance(&pt, &f.shape)
            };
            if best.is_none_or(|(_, b)| d < b) {
                best = Some((i, d));
            }
        }
        best
    }

    /// One line for `sitefinder overlay list`: id, name, features, CRS, source, format, time.
    pub fn list_line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{} ({})\tcreated {}",
            self.id,
            self.name,
            self.features_words(),
            self.crs,
            self.source,
            self.format,
            self.created
        )
    }

    /// What `sitefinder overlay add` says about the overlay it stored.
    pub fn added_line(&self) -> String {
        let repaired = if self.repaired.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = self.repaired.iter().map(|i| i.to_string()).collect();
            format!("; repaired (even-odd union): feature {}", list.join(", "))
        };
        format!(
            "added overlay {} `{}`: {} read as {}{repaired}",
            self.id,
            self.name,
            self.features_words(),
            self.crs
        )
    }

    fn features_words(&self) -> String {
        let n = self.features.len();
        format!("{n} feature{}", if n == 1 { "" } else { "s" })
    }

    /// What lists show: everything but the geometry.
    pub fn summary(&self) -> Json {
        json!({
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "source": self.source,
            "format": self.format,
            "crs": self.crs,
            "features": self.features.len(),
            "repaired": self.repaired,
            "labels": self.features.iter().map(|f| f.label.clone()).collect::<Vec<_>>(),
        })
    }

    /// The overlay as an RFC 7946 FeatureCollection (WGS84, 6 decimals).
    pub fn to_geojson(&self) -> Result<Json, CrsError> {
        let mut feats = vec![];
        for (i, f) in self.features.iter().enumerate() {
            let mut polys = vec![];
            for p in &f.shape.0 {
                let mut rings = vec![];
                for r in std::iter::once(p.exterior()).chain(p.interiors()) {
                    let mut pts = vec![];
                    for c in &r.0 {
                        let (lon, lat) = crs::bng_to_wgs84(c.x, c.y)?;
                        pts.push(json!([
                            crate::base::crs::round6(lon),
                            crate::base::crs::round6(lat)
                        ]));
                    }
                    rings.push(Json::Array(pts));
                }
                polys.push(Json::Array(rings));
            }
            let mut props = f.properties.clone();
            props.insert("overlay".into(), json!(self.name));
            props.insert("feature".into(), json!(i));
            props.insert("label".into(), json!(f.label));
            feats.push(json!({"type": "Feature", "id": i, "properties": props,
                "geometry": {"type": "MultiPolygon", "coordinates": polys}}));
        }
        Ok(json!({"type": "FeatureCollection", "name": self.name, "features": feats}))
    }
}

/// Why an upload was refused. Each names the feature (0-based) or the file part to fix.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("the upload is {size} bytes, over the limit of {limit} bytes ({} MB); simplify the layer or split it", limit / (1024 * 1024))]
    TooLarge { size: usize, limit: usize },
    #[error("the layer has no features; upload a layer with at least one polygon")]
    Empty,
    #[error("not valid GeoJSON: {0}")]
    Json(String),
    #[error("feature {index}{label}: {found} geometry; a plan overlay must be areas (Polygon or MultiPolygon)")]
    NotPolygon {
        index: usize,
        label: String,
        found: String,
    },
    #[error("feature {index}{label}: {reason}")]
    BadGeometry {
        index: usize,
        label: String,
        reason: String,
    },
    #[error("feature {index}{label}: the polygon is not valid ({reason}); fix it in your GIS{}", if *repairable { ", or ask for it to be repaired (repair=true when uploading; overlay add --repair)" } else { "" })]
    Invalid {
        index: usize,
        label: String,
        reason: String,
        /// Whether `repair=true` could help (not when the shape is too intricate to check).
        repairable: bool,
    },
    #[error("feature {index}{label}: the polygon is not valid ({reason}) and could not be repaired ({repair}); fix it in your GIS")]
    Unrepairable {
        index: usize,
        label: String,
        reason: String,
        repair: String,
    },
    #[error("the layer has {found} {what}, over the limit of {limit}; {fix}")]
    OverLimit {
        what: String,
        found: usize,
        limit: usize,
        fix: &'static str,
    },
    #[error("feature {index}{label}: coordinates ({x}, {y}) are not longitude/latitude, so this is the wrong CRS for {declared}; if they are British National Grid metres, declare EPSG:27700 (GeoJSON: \"crs\": {{\"type\": \"name\", \"properties\": {{\"name\": \"EPSG:27700\"}}}})")]
    NotLonLat {
        index: usize,
        label: String,
        x: f64,
        y: f64,
        declared: String,
    },
    #[error("feature {index}{label} lies outside England when read in {crs}; check the layer's CRS (sitefinder covers England)")]
    OutsideEngland {
        index: usize,
        label: String,
        crs: String,
    },
    #[error("coordinate reference system: {0}")]
    Crs(String),
    #[error("not a complete zip archive ({0}); the upload may be truncated: zip the .shp, .shx, .dbf and .prj again")]
    Zip(String),
    #[error("{name} unpacks to {what}: a zip that unpacks to far more than it holds is refused; zip the layer's .shp, .shx, .dbf and .prj again")]
    Unpacked { name: String, what: String },
    #[error("the zip lists {found} files; at most {limit} are read (a zipped Shapefile needs 3 to 6: the .shp, .shx, .dbf and .prj)")]
    ZipEntries { found: usize, limit: usize },
    #[error("the zip holds no .shp file; a zipped Shapefile needs the .shp, .shx, .dbf and .prj")]
    NoShp,
    #[error("the zip holds more than one Shapefile ({0}); upload one layer per zip")]
    ManyShp(String),
    #[error("the Shapefile {0} has no .prj, so its CRS is unknown; add the .prj (EPSG:27700 or EPSG:4326) to the zip")]
    NoPrj(String),
    #[error("reading the Shapefile: {0}")]
    Shapefile(String),
    #[error("not a GeoPackage: {0}")]
    GeoPackage(String),
}

fn named(label: &str) -> String {
    if label.starts_with("feature ") {
        String::new()
    } else {
        format!(" (\"{label}\")")
    }
}

/// The CRS an upload declares.
#[derive(Debug, Clone, PartialEq)]
enum Crs {
    Wgs84,
    Bng,
    /// Anything else PROJ can read: `EPSG:n` or WKT.
    Other(String),
}

impl Crs {
    fn from_epsg(code: i64) -> Crs {
        match code {
            4326 => Crs::Wgs84,
            27700 => Crs::Bng,
            c => Crs::Other(format!("EPSG:{c}")),
        }
    }

    /// A GeoJSON `crs` name: `EPSG:27700`, `urn:ogc:def:crs:EPSG::27700`, `...CRS84`.
    fn from_name(name: &str) -> Result<Crs, OverlayError> {
        let n = name.trim();
        if n.ends_with("CRS84") || n.ends_with("CRS:84") {
            return Ok(Crs::Wgs84);
        }
        let code = n
            .rsplit(':')
            .next()
            .and_then(|c| c.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                OverlayError::Crs(format!(
                    "`{n}` is not an EPSG code; write e.g. EPSG:27700 or EPSG:4326"
                ))
            })?;
        Ok(Crs::from_epsg(code))
    }

    /// A `.prj` (ESRI WKT).
    fn from_wkt(wkt: &str) -> Crs {
        let w = wkt.to_ascii_lowercase().replace([' ', '-'], "_");
        if w.contains("british_national_grid") || w.contains("authority[\"epsg\",\"27700\"]]") {
            Crs::Bng
        } else if w.starts_with("geogcs[\"gcs_wgs_1984\"") || w.starts_with("geogcs[\"wgs_84\"") {
            Crs::Wgs84
        } else {
            Crs::Other(wkt.trim().to_string())
        }
    }

    fn describe(&self) -> String {
        match self {
            Crs::Wgs84 => "EPSG:4326".into(),
            Crs::Bng => "EPSG:27700".into(),
            Crs::Other(s) => {
                // A WKT's own name: PROJCS["name", ...
                match s.split('"').nth(1) {
                    Some(name) if s.contains('[') => name.to_string(),
                    _ => s.clone(),
                }
            }
        }
    }
}

/// A feature as read, before checks: properties and a geometry or the name of its type.
struct RawFeature {
    properties: Map<String, Json>,
    geometry: Result<MultiPolygon<f64>, String>,
}

/// Reads, checks and reprojects an upload. See the module docs.
pub fn parse(bytes: &[u8], opts: &UploadOptions) -> Result<Parsed, OverlayError> {
    if bytes.len() > opts.max_bytes {
        return Err(OverlayError::TooLarge {
            size: bytes.len(),
            limit: opts.max_bytes,
        });
    }
    let format = opts.format.unwrap_or_else(|| UploadFormat::sniff(bytes));
    let (crs, raw) = match format {
        UploadFormat::GeoJson => read_geojson(bytes)?,
        UploadFormat::Shapefile => read_shapefile_zip(bytes, &opts.limits)?,
        UploadFormat::GeoPackage => read_geopackage(bytes, &opts.limits)?,
    };
    if raw.is_empty() {
        return Err(OverlayError::Empty);
    }
    opts.limits.check(&raw)?;
    // One budget for the whole layer: many features each just under a feature's budget must
    // not add up to minutes.
    let layer_edges: usize = raw
        .iter()
        .filter_map(|f| f.geometry.as_ref().ok())
        .map(valid::edge_count)
        .sum();
    let mut meter = valid::Meter::new(&opts.limits.validity, layer_edges);
    let mut features = Vec::with_capacity(raw.len());
    let mut repaired = vec![];
    for (index, f) in raw.into_iter().enumerate() {
        let label = label_of(&f.properties, index);
        let mut shape = f.geometry.map_err(|found| match found.strip_prefix(MALFORMED) {
            Some(what) => OverlayError::BadGeometry {
                index,
                label: named(&label),
                reason: match what.split_once(": ") {
                    Some((t, e)) => {
                        format!("the {t}'s coordinates are malformed ({e}); fix them in your GIS")
                    }
                    None => format!("the {what}; fix it in your GIS"),
                },
            },
            None => OverlayError::NotPolygon {
                index,
                label: named(&label),
                found,
            },
        })?;
        if shape.0.is_empty() {
            return Err(OverlayError::BadGeometry {
                index,
                label: named(&label),
                reason: "empty geometry".into(),
            });
        }
        to_bng(&mut shape, &crs, index, &label)?;
        let in_england = shape.bounding_rect().is_some_and(|r| {
            let c = r.center();
            crs::plausibly_england_bng(c.x, c.y)
        });
        if !in_england {
            return Err(OverlayError::OutsideEngland {
                index,
                label: named(&label),
                crs: crs.describe(),
            });
        }
        if let Err(why) = valid::check_metered(&shape, &opts.limits.validity, &mut meter) {
            if matches!(why, Invalid::TooIntricate { .. }) || !opts.repair {
                return Err(OverlayError::Invalid {
                    index,
                    label: named(&label),
                    reason: why.to_string(),
                    repairable: !matches!(why, Invalid::TooIntricate { .. }),
                });
            }
            shape =
                valid::repair_metered(&shape, &opts.limits.validity, &mut meter).map_err(|e| {
                    OverlayError::Unrepairable {
                        index,
                        label: named(&label),
                        reason: why.to_string(),
                        repair: e.to_string(),
                    }
                })?;
            if shape.0.is_empty() {
                return Err(OverlayError::Unrepairable {
                    index,
                    label: named(&label),
                    reason: why.to_string(),
                    repair: "nothing is left: its parts cancel out".into(),
                });
            }
            repaired.push(index);
        }
        features.push(PlanFeature::new(label, f.properties, shape));
    }
    Ok(Parsed {
        format,
        crs: crs.describe(),
        features,
        repaired,
    })
}

fn label_of(props: &Map<String, Json>, index: usize) -> String {
    // `name`, `title` or `label` first, then any `..._name` (`rc_name`, `site_name`).
    let exact = ["name", "title", "label"]
        .map(|key| props.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)));
    let suffixed = props
        .iter()
        .find(|(k, _)| k.to_ascii_lowercase().ends_with("name"));
    for (_, v) in exact.into_iter().chain([suffixed]).flatten() {
        let s = match v {
            Json::String(s) => s.trim().to_string(),
            Json::Number(n) => n.to_string(),
            _ => continue,
        };
        if !s.is_empty() {
            return s;
        }
    }
    format!("feature {index}")
}

fn to_bng(
    shape: &mut MultiPolygon<f64>,
    crs: &Crs,
    index: usize,
    label: &str,
) -> Result<(), OverlayError> {
    if *crs == Crs::Bng {
        return Ok(());
    }
    let mut pts: Vec<(f64, f64)> = vec![];
    for p in &shape.0 {
        for r in std::iter::once(p.exterior()).chain(p.interiors()) {
            pts.extend(r.0.iter().map(|c| (c.x, c.y)));
        }
    }
    if *crs == Crs::Wgs84 {
        if let Some(&(x, y)) = pts
            .iter()
            .find(|(x, y)| !(-180.0..=180.0).contains(x) || !(-90.0..=90.0).contains(y))
        {
            return Err(OverlayError::NotLonLat {
                index,
                label: named(label),
                x,
                y,
                declared: "EPSG:4326 (WGS84)".into(),
            });
        }
        crs::wgs84_to_bng_in_place(&mut pts).map_err(|e| OverlayError::Crs(e.to_string()))?;
    } else if let Crs::Other(def) = crs {
        crs::any_to_bng_in_place(def, &mut pts).map_err(|e| OverlayError::Crs(e.to_string()))?;
    }
    let mut it = pts.into_iter();
    let mut next_ring = |r: &LineString<f64>| -> LineString<f64> {
        r.0.iter()
            .map(|_| {
                let (x, y) = it.next().unwrap_or((f64::NAN, f64::NAN));
                Coord { x, y }
            })
            .collect()
    };
    let polys: Vec<Polygon<f64>> = shape
        .0
        .iter()
        .map(|p| {
            let ext = next_ring(p.exterior());
            let ints = p.interiors().iter().map(&mut next_ring).collect();
            Polygon::new(ext, ints)
        })
        .collect();
    *shape = MultiPolygon(polys);
    Ok(())
}

// ---- GeoJSON ----

fn read_geojson(bytes: &[u8]) -> Result<(Crs, Vec<RawFeature>), OverlayError> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| OverlayError::Json("the file is not UTF-8 text".into()))?;
    let v: Json = serde_json::from_str(text).map_err(|e| OverlayError::Json(e.to_string()))?;
    let crs = match v["crs"]["properties"]["name"].as_str() {
        Some(n) => Crs::from_name(n)?,
        None => Crs::Wgs84,
    };
    let feats: Vec<&Json> = match v["type"].as_str() {
        Some("FeatureCollection") => v["features"]
            .as_array()
            .ok_or_else(|| {
                OverlayError::Json("a FeatureCollection needs a `features` array".into())
            })?
            .iter()
            .collect(),
        Some("Feature") => vec![&v],
        Some(_) => vec![&v],
        None => {
            return Err(OverlayError::Json(
                "no `type` member; expected a FeatureCollection, a Feature or a geometry".into(),
            ))
        }
    };
    let mut out = vec![];
    for f in feats {
        let (props, geom) = if f["type"] == "Feature" {
            (
                f["properties"].as_object().cloned().unwrap_or_default(),
                &f["geometry"],
            )
        } else {
            (Map::new(), f)
        };
        out.push(RawFeature {
            properties: props,
            geometry: json_geometry(geom),
        });
    }
    Ok((crs, out))
}

fn json_ring(v: &Json) -> Result<LineString<f64>, String> {
    let pts = v.as_array().ok_or("a ring must be an array of positions")?;
    let mut ring = Vec::with_capacity(pts.len());
    for p in pts {
        let xy = p.as_array().ok_or("a position must be an array [x, y]")?;
        match (
            xy.first().and_then(Json::as_f64),
            xy.get(1).and_then(Json::as_f64),
        ) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => ring.push(Coord { x, y }),
            _ => return Err("a position must hold two numbers".into()),
        }
    }
    if ring.len() < 4 {
        return Err(format!(
            "a polygon ring needs at least 4 positions, found {}",
            ring.len()
        ));
    }
    Ok(LineString(ring))
}

fn json_polygon(v: &Json) -> Result<Polygon<f64>, String> {
    let rings = v
        .as_array()
        .ok_or("Polygon coordinates must be an array of rings")?;
    let mut it = rings.iter();
    let ext = json_ring(it.next().ok_or("a polygon needs an outer ring")?)?;
    let ints = it.map(json_ring).collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(ext, ints))
}

fn json_geometry(g: &Json) -> Result<MultiPolygon<f64>, String> {
    let t = g["type"].as_str().unwrap_or("missing");
    let c = &g["coordinates"];
    let read = || -> Result<MultiPolygon<f64>, String> {
        match t {
            "Polygon" => Ok(MultiPolygon(vec![json_polygon(c)?])),
            "MultiPolygon" => Ok(MultiPolygon(
                c.as_array()
                    .ok_or("MultiPolygon coordinates must be an array of polygons")?
                    .iter()
                    .map(json_polygon)
                    .collect::<Result<_, _>>()?,
            )),
            _ if g.is_null() => Err("a null".into()),
            other => Err(format!("a {other}")),
        }
    };
    read().map_err(|e: String| {
        // A geometry of the right type with bad coordinates is a different mistake.
        if matches!(t, "Polygon" | "MultiPolygon") {
            format!("{MALFORMED}{t}: {e}")
        } else {
            e
        }
    })
}

/// How a geometry error of the right type but bad coordinates starts.
const MALFORMED: &str = "malformed ";

// ---- Shapefile (zipped) ----

/// By default, the most a zipped Shapefile's parts may unpack to, together: room for the most
/// features and vertices a layer may have (a council's plan areas are a few MB; the whole of England's
/// LSOAs at 20 m about 60 MB).
pub const MAX_UNZIPPED_BYTES: u64 = 100_000_000;

/// The most a `.prj` may unpack to: one line of WKT, a few hundred bytes.
pub const MAX_PRJ_BYTES: u64 = 64 * 1024;

/// By default, the most entries a zip may list.
pub const MAX_ZIP_ENTRIES: usize = 1_000;

fn read_shapefile_zip(
    bytes: &[u8],
    limits: &UploadLimits,
) -> Result<(Crs, Vec<RawFeature>), OverlayError> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| OverlayError::Zip(e.to_string()))?;
    if zip.len() > limits.max_zip_files {
        return Err(OverlayError::ZipEntries {
            found: zip.len(),
            limit: limits.max_zip_files,
        });
    }
    let max_unzipped = limits.max_unzipped_mb.saturating_mul(1_000_000);
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let shps: Vec<&String> = names
        .iter()
        .filter(|n| n.to_ascii_lowercase().ends_with(".shp") && !n.starts_with("__MACOSX"))
        .collect();
    let shp = match shps.as_slice() {
        [] => return Err(OverlayError::NoShp),
        [one] => (*one).clone(),
        many => {
            return Err(OverlayError::ManyShp(
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
        }
    };
    let stem = &shp[..shp.len() - 4];
    let sibling = |ext: &str| {
        names
            .iter()
            .find(|n| {
                n.len() == stem.len() + 4
                    && n.starts_with(stem)
                    && n[stem.len()..].eq_ignore_ascii_case(ext)
            })
            .cloned()
    };
    // What the parts unpack to is bounded, whatever the zip says of itself (a 1 MB zip can
    // hold a .prj of a gigabyte).
    let mut unpacked: u64 = 0;
    let mut read = |name: &str, most: u64| -> Result<Vec<u8>, OverlayError> {
        let f = zip
            .by_name(name)
            .map_err(|e| OverlayError::Zip(format!("{name}: {e}")))?;
        let room = max_unzipped.saturating_sub(unpacked).min(most);
        // Sized as the zip says (a bomb may say less: then it grows, up to the limit).
        let mut buf = Vec::with_capacity(f.size().min(room.saturating_add(1)) as usize);
        f.take(room + 1)
            .read_to_end(&mut buf)
            .map_err(|e| OverlayError::Zip(format!("{name}: {e}")))?;
        if buf.len() as u64 > room {
            return Err(OverlayError::Unpacked {
                name: name.to_string(),
                what: if most < max_unzipped {
                    format!("more than {} KB; a .prj is one line of text", most / 1024)
                } else {
                    format!(
                        "more than the {} MB the Shapefile's parts may unpack to together",
                        max_unzipped / 1_000_000
                    )
                },
            });
        }
        unpacked += buf.len() as u64;
        Ok(buf)
    };
    let prj_name = sibling(".prj").ok_or_else(|| OverlayError::NoPrj(shp.clone()))?;
    let prj = read(&prj_name, MAX_PRJ_BYTES)?;
    let shp_bytes = read(&shp, u64::MAX)?;
    let dbf_bytes = match sibling(".dbf") {
        Some(n) => Some(read(&n, u64::MAX)?),
        None => None,
    };
    let crs = Crs::from_wkt(&String::from_utf8_lossy(&prj));
    let bad = |e: shapefile::Error| OverlayError::Shapefile(format!("{shp}: {e}"));
    let shapes_reader = shapefile::ShapeReader::new(Cursor::new(shp_bytes)).map_err(bad)?;
    let mut out = vec![];
    match dbf_bytes {
        Some(dbf) => {
            let dbf = dbase::Reader::new(Cursor::new(dbf))
                .map_err(|e| OverlayError::Shapefile(format!("the .dbf: {e}")))?;
            let mut reader = shapefile::Reader::new(shapes_reader, dbf);
            for item in reader.iter_shapes_and_records() {
                let (shape, record) = item.map_err(bad)?;
                let props: Map<String, Json> = record
                    .into_iter()
                    .filter_map(|(k, v)| dbf_value(v).map(|v| (k, v)))
                    .collect();
                out.push(RawFeature {
                    properties: props,
                    geometry: shape_geometry(shape),
                });
            }
        }
        None => {
            let mut reader = shapes_reader;
            for shape in reader.iter_shapes() {
                out.push(RawFeature {
                    properties: Map::new(),
                    geometry: shape_geometry(shape.map_err(bad)?),
                });
            }
        }
    }
    Ok((crs, out))
}

fn dbf_value(v: dbase::FieldValue) -> Option<Json> {
    use dbase::FieldValue as F;
    Some(match v {
        F::Character(Some(s)) | F::Memo(s) => json!(s.trim()),
        F::Numeric(Some(n)) | F::Double(n) | F::Currency(n) => json!(n),
        F::Float(Some(n)) => json!(n),
        F::Integer(n) => json!(n),
        F::Logical(Some(b)) => json!(b),
        _ => return None,
    })
}

fn shape_geometry(s: shapefile::Shape) -> Result<MultiPolygon<f64>, String> {
    use shapefile::Shape as S;
    let kind = s.shapetype().to_string();
    let g = match s {
        S::Polygon(_) | S::PolygonM(_) | S::PolygonZ(_) => {
            geo::Geometry::<f64>::try_from(s).map_err(|e| format!("a malformed {kind} ({e})"))?
        }
        S::NullShape => return Err("a null (empty)".into()),
        _ => return Err(format!("a {kind}")),
    };
    match g {
        geo::Geometry::MultiPolygon(mp) => Ok(mp),
        geo::Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        _ => Err(format!("a {kind}")),
    }
}

// ---- GeoPackage ----

/// By default, the longest reading a GeoPackage upload may take.
pub const GEOPACKAGE_TIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

fn read_geopackage(
    bytes: &[u8],
    limits: &UploadLimits,
) -> Result<(Crs, Vec<RawFeature>), OverlayError> {
    use std::io::Write;
    // SQLite reads files, not buffers: copy to a private temporary file, removed on return.
    let io = |e: std::io::Error| OverlayError::GeoPackage(e.to_string());
    let mut tmp = tempfile::Builder::new()
        .prefix("sitefinder-upload-")
        .suffix(".gpkg")
        .tempfile()
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.flush().map_err(io)?;
    read_geopackage_file(
        tmp.path(),
        std::time::Duration::from_secs(limits.max_geopackage_s),
    )
}

fn read_geopackage_file(
    path: &std::path::Path,
    budget: std::time::Duration,
) -> Result<(Crs, Vec<RawFeature>), OverlayError> {
    use rusqlite::types::ValueRef;
    use rusqlite::OptionalExtension;
    let bad = |e: rusqlite::Error| OverlayError::GeoPackage(e.to_string());
    let db = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(bad)?;
    // A time budget for everything read from it: SQLite stops a statement once it is spent.
    let started = std::time::Instant::now();
    db.progress_handler(10_000, Some(move || started.elapsed() > budget));
    let bad = |e: rusqlite::Error| {
        if started.elapsed() > budget {
            OverlayError::GeoPackage(format!(
                "reading it took more than {} s, the most an upload may take; save the layer anew as a plain table (e.g. with ogr2ogr) and upload that",
                budget.as_secs()
            ))
        } else {
            bad(e)
        }
    };
    let layers: Vec<(String, String, i64)> = db
        .prepare(
            "SELECT table_name, column_name, srs_id FROM gpkg_geometry_columns ORDER BY table_name",
        )
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(|e| {
            OverlayError::GeoPackage(format!(
                "{e} (no gpkg_geometry_columns table: is this a GeoPackage of features?)"
            ))
        })?;
    let (table, column, srs_id) = match layers.as_slice() {
        [] => return Err(OverlayError::Empty),
        [one] => one.clone(),
        many => {
            return Err(OverlayError::GeoPackage(format!(
                "it holds {} feature layers ({}); upload one layer per GeoPackage",
                many.len(),
                many.iter()
                    .map(|l| l.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let (org, code, def): (String, i64, String) = db
        .query_row(
            "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
            [srs_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| OverlayError::GeoPackage(format!("layer {table}: srs_id {srs_id} is not in gpkg_spatial_ref_sys ({e})")))?;
    let crs = if org.eq_ignore_ascii_case("EPSG") {
        Crs::from_epsg(code)
    } else if srs_id <= 0 || def.trim() == "undefined" {
        return Err(OverlayError::Crs(format!(
            "layer {table} has an undefined CRS (srs_id {srs_id}); set it to EPSG:27700 or EPSG:4326"
        )));
    } else {
        Crs::Other(def)
    };
    // Only tables are read: a view is a query, which can run forever (a recursive one) or
    // build gigabytes.
    let kind: Option<String> = db
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = ?1",
            [&table],
            |r| r.get(0),
        )
        .optional()
        .map_err(bad)?;
    match kind.as_deref() {
        Some("table") => {}
        Some(other) => {
            return Err(OverlayError::GeoPackage(format!(
                "layer {table} is a {other}, not a table; only tables are read: save the layer as a table (e.g. `ogr2ogr -f GPKG out.gpkg in.gpkg {table}`) and upload that"
            )))
        }
        None => {
            return Err(OverlayError::GeoPackage(format!(
                "layer {table} is listed but not in the file"
            )))
        }
    }
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut stmt = db
        .prepare(&format!("SELECT * FROM {}", q(&table)))
        .map_err(bad)?;
    let cols: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let geom_col = cols
        .iter()
        .position(|c| c.eq_ignore_ascii_case(&column))
        .ok_or_else(|| OverlayError::GeoPackage(format!("layer {table} has no column {column}")))?;
    let mut rows = stmt.query([]).map_err(bad)?;
    let mut out = vec![];
    while let Some(row) = rows.next().map_err(bad)? {
        let mut props = Map::new();
        let mut geometry = Err("a null".to_string());
        for (i, name) in cols.iter().enumerate() {
            let v = row.get_ref(i).map_err(bad)?;
            if i == geom_col {
                geometry = match v {
                    ValueRef::Blob(b) => gpkg_geometry(b),
                    _ => Err("a null".into()),
                };
                continue;
            }
            let j = match v {
                ValueRef::Null | ValueRef::Blob(_) => continue,
                ValueRef::Integer(n) => json!(n),
                ValueRef::Real(f) => json!(f),
                ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
            };
            props.insert(name.clone(), j);
        }
        out.push(RawFeature {
            properties: props,
            geometry,
        });
    }
    Ok((crs, out))
}

/// A GeoPackage geometry blob: the `GP` header, then WKB.
fn gpkg_geometry(b: &[u8]) -> Result<MultiPolygon<f64>, String> {
    if b.len() < 8 || &b[0..2] != b"GP" {
        return Err("a malformed geometry (no GeoPackage header)".into());
    }
    let flags = b[3];
    if flags & 0b1_0000 != 0 {
        return Err("a null (empty)".into());
    }
    let envelope = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        _ => return Err("a malformed geometry (bad envelope flag)".into()),
    };
    let start = 8 + envelope;
    let wkb = b.get(start..).ok_or("a malformed geometry (truncated)")?;
    multipolygon_from_wkb(wkb)
}

/// The names of the OGC WKB geometry types 0..=7, for errors.
const WKB_NAMES: [&str; 8] = [
    "Geometry",
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
];

/// Reads a Polygon or MultiPolygon from OGC WKB (ISO or EWKB, with or without Z/M; Z and M
/// are dropped). Any other type, or a malformed blob, is an error naming what was found.
pub(crate) fn multipolygon_from_wkb(wkb: &[u8]) -> Result<MultiPolygon<f64>, String> {
    use geo_traits::{GeometryTrait, GeometryType, MultiPolygonTrait};
    // The type from the header first: the reader takes only the low bits of the type code, so
    // it would read a curve type (CurvePolygon is 10, MultiSurface 12) as another type.
    let (order, base) = wkb_type(wkb)?;
    if base != 3 && base != 6 {
        return Err(format!(
            "a {}",
            WKB_NAMES.get(base as usize).copied().unwrap_or("unknown")
        ));
    }
    let g = wkb::reader::read_wkb(wkb).map_err(|e| match e {
        wkb::error::WkbError::IOError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "a malformed geometry (truncated WKB)".to_string()
        }
        wkb::error::WkbError::General(m) if m.starts_with("Invalid buffer length") => {
            "a malformed geometry (ring longer than the blob)".to_string()
        }
        e => format!("a malformed geometry ({e})"),
    })?;
    match g.as_type() {
        GeometryType::Polygon(p) => Ok(MultiPolygon(vec![wkb_polygon(p)?])),
        GeometryType::MultiPolygon(mp) => mp
            .polygons()
            .map(|p| {
                // The reader takes each part's byte order and type from the whole: check them.
                match wkb_type(p.buf()) {
                    Ok((o, 3)) if o == order => wkb_polygon(p),
                    _ => Err("a malformed MultiPolygon (a part is not a polygon)".into()),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(MultiPolygon),
        _ => Err("a malformed geometry (bad type)".into()),
    }
}

/// A WKB geometry's byte order (0 big-endian, 1 little-endian) and base type (ISO code
/// without its Z/M thousands, EWKB flags dropped).
fn wkb_type(wkb: &[u8]) -> Result<(u8, u32), String> {
    let truncated = || "a malformed geometry (truncated WKB)".to_string();
    let order = *wkb.first().ok_or_else(truncated)?;
    let code: [u8; 4] = wkb
        .get(1..5)
        .ok_or_else(truncated)?
        .try_into()
        .map_err(|_| truncated())?;
    let code = match order {
        0 => u32::from_be_bytes(code),
        1 => u32::from_le_bytes(code),
        _ => return Err("a malformed geometry (bad WKB byte order)".into()),
    };
    Ok((order, (code & 0x0FFF_FFFF) % 1000))
}

/// A WKB polygon as a geo polygon (x and y only).
fn wkb_polygon(p: &impl geo_traits::PolygonTrait<T = f64>) -> Result<Polygon<f64>, String> {
    use geo_traits::to_geo::ToGeoLineString;
    let exterior = p.exterior().ok_or("a null (empty polygon)")?;
    Ok(Polygon::new(
        exterior.to_line_string(),
        p.interiors().map(|r| r.to_line_string()).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WKB by hand: byte order, type code, then counts and coordinates as given.
    fn wkb(le: bool, code: u32, body: &[f64], counts: &[(usize, u32)]) -> Vec<u8> {
        // `counts` places a u32 before the coordinate at that index.
        let mut b = vec![u8::from(le)];
        let u = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        b.extend_from_slice(&u(code));
        for (i, v) in body.iter().enumerate() {
            for (_, c) in counts.iter().filter(|(at, _)| *at == i) {
                b.extend_from_slice(&u(*c));
            }
            b.extend_from_slice(&if le { v.to_le_bytes() } else { v.to_be_bytes() });
        }
        b
    }

    const SQUARE: [f64; 10] = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0];

    fn gp(wkb: &[u8]) -> Vec<u8> {
        let mut b = b"GP\0\x01".to_vec();
        b.extend_from_slice(&27700i32.to_le_bytes());
        b.extend_from_slice(wkb);
        b
    }

    #[test]
    fn geopackage_polygons_read_in_either_byte_order_and_with_z() {
        let want = MultiPolygon(vec![Polygon::new(
            LineString::from(vec![
                (0.0, 0.0),
                (1.0, 0.0),
                (1.0, 1.0),
                (0.0, 1.0),
                (0.0, 0.0),
            ]),
            vec![],
        )]);
        for le in [true, false] {
            let p = wkb(le, 3, &SQUARE, &[(0, 1), (0, 5)]);
            assert_eq!(gpkg_geometry(&gp(&p)).unwrap(), want);
            // A MultiPolygon of one part.
            let mut mp = vec![u8::from(le)];
            mp.extend_from_slice(&if le {
                6u32.to_le_bytes()
            } else {
                6u32.to_be_bytes()
            });
            mp.extend_from_slice(&if le {
                1u32.to_le_bytes()
            } else {
                1u32.to_be_bytes()
            });
            mp.extend_from_slice(&p);
            assert_eq!(gpkg_geometry(&gp(&mp)).unwrap(), want);
        }
        // ISO Z (1003): z dropped.
        let xyz: Vec<f64> = SQUARE.chunks(2).flat_map(|c| [c[0], c[1], 99.0]).collect();
        let p = wkb(true, 1003, &xyz, &[(0, 1), (0, 5)]);
        assert_eq!(gpkg_geometry(&gp(&p)).unwrap(), want);
    }

    #[test]
    fn bad_geopackage_geometries_say_what_they_are() {
        let err = |b: &[u8]| gpkg_geometry(b).unwrap_err();
        assert_eq!(
            err(b"XX\0\x01\0\0\0\0"),
            "a malformed geometry (no GeoPackage header)"
        );
        assert_eq!(err(b"GP\0\x11\0\0\0\0"), "a null (empty)");
        assert_eq!(
            err(b"GP\0\x0E\0\0\0\0"),
            "a malformed geometry (bad envelope flag)"
        );
        assert_eq!(err(b"GP\0\x02\0\0\0\0"), "a malformed geometry (truncated)");
        let point = wkb(true, 1, &[1.0, 2.0], &[]);
        assert_eq!(err(&gp(&point)), "a Point");
        let line = wkb(true, 2, &[1.0, 2.0, 3.0, 4.0], &[(0, 2)]);
        assert_eq!(err(&gp(&line)), "a LineString");
        // CurvePolygon (10) and MultiSurface (12) are not read as other types.
        assert_eq!(err(&gp(&wkb(true, 10, &[], &[]))), "a unknown");
        assert_eq!(err(&gp(&wkb(true, 12, &[], &[]))), "a unknown");
        // Truncated: the ring says 5 points and has 2.
        let short = wkb(true, 3, &SQUARE[..4], &[(0, 1), (0, 5)]);
        assert_eq!(
            err(&gp(&short)),
            "a malformed geometry (ring longer than the blob)"
        );
        assert_eq!(err(&gp(&[1, 3, 0])), "a malformed geometry (truncated WKB)");
        // An empty polygon, and a MultiPolygon whose part is a point.
        assert_eq!(
            err(&gp(&wkb(true, 3, &[], &[]))),
            "a malformed geometry (truncated WKB)"
        );
        let mut empty = wkb(true, 3, &[], &[]);
        empty.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(err(&gp(&empty)), "a null (empty polygon)");
        let mut mp = wkb(true, 6, &[], &[]);
        mp.extend_from_slice(&1u32.to_le_bytes());
        mp.extend_from_slice(&wkb(true, 1, &[1.0, 2.0, 3.0, 4.0], &[]));
        assert_eq!(
            err(&gp(&mp)),
            "a malformed MultiPolygon (a part is not a polygon)"
        );
    }
}
