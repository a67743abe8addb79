//! Estates exports of a ranking or a shortlist, in four formats from one [`render`] (and, for a
//! shortlist only, the PDF site report of [`report`]):
//! CSV (UTF-8 with a byte-order mark so Excel opens it cleanly, one column per criterion),
//! XLSX (a sheet of sites with the score breakdown, a sheet with the weights and filters used,
//! a sheet with the data sources and attribution), RFC 7946 GeoJSON, and GeoPackage (points in
//! EPSG:27700, readable by QGIS and GDAL). Files are written atomically.

pub mod columns;
pub mod pdf;
pub mod report;
pub mod table;

use std::path::Path;

use rust_xlsxwriter::{Format, Workbook};
use serde_json::{json, Map, Value as Json};

use crate::analysis::criteria::CRITERIA;
use crate::analysis::join::Context;
use crate::analysis::rank::Ranking;
use crate::base::crs::round6;
use crate::base::textio::write_atomic_path;
use crate::export::table::{explain, lonlat, properties};
use crate::ingest::units::Unit;
use crate::reference::atlas::Atlas;

/// Errors writing an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing {file}: {reason}")]
    Write { file: String, reason: String },
    #[error("shortlist `{name}` names units that are not in {units_file}: {ids}; export with the units file the shortlist was made from")]
    MissingUnits {
        name: String,
        units_file: String,
        ids: String,
    },
    #[error("shortlist `{name}`: its weights `{weights}` are unreadable: {reason}")]
    BadWeights {
        name: String,
        weights: String,
        reason: String,
    },
    #[error("format=pdf: the site report is for at most {max} sites and this shortlist has {sites}; make a shorter shortlist for the report, or export it as xlsx, csv, geojson or gpkg", max = crate::export::report::MAX_SITES)]
    TooManySites { sites: usize },
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    GeoJson,
    Xlsx,
    Gpkg,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<ExportFormat, String> {
        if ShortlistFormat::parse(s) == Some(ShortlistFormat::Pdf) {
            return Err(PDF_IS_FOR_SHORTLISTS.into());
        }
        ExportFormat::parse(s).ok_or_else(|| {
            format!(
                "unknown format `{}`; use csv, xlsx, geojson or gpkg",
                s.trim()
            )
        })
    }
}

/// Why a ranking has no PDF: the report is of a shortlist's sites, one page each.
pub const PDF_IS_FOR_SHORTLISTS: &str = "pdf is the site report of a shortlist (one page per site): add the units to a shortlist and export that with format=pdf (GET /shortlists/{name}/export?format=pdf, or sitefinder export --shortlist NAME --out report.pdf); a ranking exports as csv, xlsx, geojson or gpkg";

/// What a shortlist exports as: any table format, or the PDF site report
/// ([`report::pdf`]), which only a shortlist has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortlistFormat {
    Table(ExportFormat),
    Pdf,
}

impl ShortlistFormat {
    pub fn parse(s: &str) -> Option<ShortlistFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pdf" => Some(ShortlistFormat::Pdf),
            other => ExportFormat::parse(other).map(ShortlistFormat::Table),
        }
    }

    /// From a file name's extension.
    pub fn from_path(p: &str) -> Option<ShortlistFormat> {
        ShortlistFormat::parse(p.rsplit_once('.')?.1)
    }

    pub fn extension(self) -> &'static str {
        match self {
            ShortlistFormat::Table(f) => f.extension(),
            ShortlistFormat::Pdf => "pdf",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ShortlistFormat::Table(f) => f.content_type(),
            ShortlistFormat::Pdf => "application/pdf",
        }
    }
}

impl std::str::FromStr for ShortlistFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<ShortlistFormat, String> {
        ShortlistFormat::parse(s).ok_or_else(|| {
            format!(
                "unknown format `{}`; use xlsx, csv, geojson, gpkg or pdf",
                s.trim()
            )
        })
    }
}

impl clap::ValueEnum for ExportFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &ExportFormat::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.extension()))
    }
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 4] = [
        ExportFormat::Csv,
        ExportFormat::Xlsx,
        ExportFormat::GeoJson,
        ExportFormat::Gpkg,
    ];

    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(ExportFormat::Csv),
            "geojson" | "json" => Some(ExportFormat::GeoJson),
            "xlsx" | "excel" => Some(ExportFormat::Xlsx),
            "gpkg" | "geopackage" => Some(ExportFormat::Gpkg),
            _ => None,
        }
    }

    /// From a file name's extension.
    pub fn from_path(p: &str) -> Option<ExportFormat> {
        let ext = p.rsplit_once('.')?.1;
        ExportFormat::parse(ext)
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::GeoJson => "geojson",
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Gpkg => "gpkg",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::GeoJson => "application/geo+json",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ExportFormat::Gpkg => "application/geopackage+sqlite3",
        }
    }
}

/// What an export says about how it was made: top-level GeoJSON members (version, units file,
/// weights, date, catchments, attribution) and the filters; XLSX lists both on its query sheet.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub members: Map<String, Json>,
    pub filters: Vec<(String, String)>,
}

impl Meta {
    /// The settings as rows of text: a member that is an object (`coverage`) as
    /// `key: value; key: value`.
    fn query_sheet(&self) -> Vec<(String, String)> {
        fn text(v: &Json) -> String {
            match v {
                Json::String(s) => s.clone(),
                Json::Object(o) => o
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", text(v)))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            }
        }
        self.members
            .iter()
            .filter(|(k, _)| *k != "attribution")
            .map(|(k, v)| (k.clone(), text(v)))
            .chain(self.filters.iter().cloned())
            .collect()
    }
}

/// The file's bytes in `format`. CSV starts with a UTF-8 byte-order mark (Excel needs it to
/// read accents and the pound sign as UTF-8).
pub fn render(
    format: ExportFormat,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    meta: &Meta,
) -> Result<Vec<u8>, ExportError> {
    let mem = |e: &dyn std::fmt::Display| ExportError::Write {
        file: format!("{} export", format.extension()),
        reason: e.to_string(),
    };
    match format {
        ExportFormat::Csv => {
            let mut buf = b"\xEF\xBB\xBF".to_vec();
            crate::export::table::write_csv(&mut buf, atlas, units, contexts, ranking)
                .map_err(|e| mem(&e))?;
            Ok(buf)
        }
        ExportFormat::GeoJson => {
            let mut buf = vec![];
            crate::export::table::write_geojson(
                &mut buf,
                atlas,
                units,
                contexts,
                ranking,
                &meta.members,
            )
            .map_err(|e| mem(&e))?;
            Ok(buf)
        }
        ExportFormat::Xlsx => xlsx_bytes(atlas, units, contexts, ranking, &meta.query_sheet()),
        ExportFormat::Gpkg => {
            // SQLite writes files: build in a private temporary directory, removed on return.
            let dir = tempfile::Builder::new()
                .prefix("sitefinder-export-")
                .tempdir()
                .map_err(|e| mem(&e))?;
            let path = dir.path().join("export.gpkg");
            write_gpkg(&path, atlas, units, contexts, ranking)?;
            std::fs::read(&path).map_err(|e| mem(&e))
        }
    }
}

/// Writes an export file atomically (nothing at `path` unless the whole file was written).
pub fn write(
    path: &Path,
    format: ExportFormat,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    meta: &Meta,
) -> Result<(), ExportError> {
    if format == ExportFormat::Gpkg {
        return write_gpkg(path, atlas, units, contexts, ranking);
    }
    if format == ExportFormat::Csv {
        // Streamed to the file: a national ranking's CSV is never held in memory whole.
        return crate::base::textio::write_atomic(path, |w| {
            w.write_all(b"\xEF\xBB\xBF")?;
            crate::export::table::write_csv(w, atlas, units, contexts, ranking)
                .map_err(std::io::Error::other)
        })
        .map_err(|e| err(path, e));
    }
    let bytes = render(format, atlas, units, contexts, ranking, meta)?;
    crate::base::textio::write_atomic(path, |w| w.write_all(&bytes)).map_err(|e| err(path, e))
}

/// Writes a ranking held as its order as CSV, atomically: its rows are made, put into words
/// and written a run at a time, so a national ranking never holds a row per unit.
pub fn write_csv_ordered(
    path: &Path,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ordered: &crate::analysis::rank::Ordered<'_>,
) -> Result<(), ExportError> {
    crate::base::textio::write_atomic(path, |w| {
        w.write_all(b"\xEF\xBB\xBF")?;
        csv_ordered(w, atlas, units, contexts, ordered).map_err(std::io::Error::other)
    })
    .map_err(|e| err(path, e))
}

/// [`write_csv_ordered`]'s rows (no byte-order mark) into any writer (standard output).
pub fn csv_ordered(
    w: &mut dyn std::io::Write,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ordered: &crate::analysis::rank::Ordered<'_>,
) -> Result<(), crate::export::table::OutputError> {
    // Each row put into words as it is written: its criteria evaluated once; none when no
    // column kept is in words.
    let words = ordered
        .ranking
        .columns
        .needs_words(false)
        .then(|| ordered.ranking.settings.with_words());
    crate::export::table::write_csv_rows(
        w,
        atlas,
        units,
        contexts,
        &ordered.ranking,
        ordered.len(),
        // Every k asked for is below the order's length.
        &|k| ordered.row(k, words.as_ref()).expect("a row of the order"),
    )
}

/// The position columns of an XLSX or GeoPackage row, kept whatever columns are chosen.
const POSITION: [&str; 4] = ["latitude", "longitude", "easting", "northing"];

fn err(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Write {
        file: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The rows of an export: the flat properties, one `<criterion>_why` column per criterion,
/// and the unit's position in degrees (`latitude`, `longitude`: WGS84, six decimals as in the
/// GeoJSON) and in metres (`easting`, `northing`: EPSG:27700, to the centimetre). Only the
/// ranking's columns ([`Ranking::columns`]) are kept, and the position always.
fn rows(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
) -> Vec<Map<String, Json>> {
    ranking
        .rows
        .iter()
        .map(|r| {
            let mut p = properties(atlas, units, contexts, ranking.rank_column, r);
            p.remove("why");
            for (i, c) in CRITERIA.iter().enumerate() {
                p.insert(
                    format!("{}_why", c.name()),
                    Json::String(r.values[i].why.clone()),
                );
            }
            p.insert("why".into(), Json::String(explain(r)));
            let u = &units[r.unit];
            let ll = lonlat(u, &contexts[r.unit]).ok();
            p.insert("latitude".into(), json!(ll.map(|(_, lat)| round6(lat))));
            p.insert("longitude".into(), json!(ll.map(|(lon, _)| round6(lon))));
            let cm = |v: f64| (v * 100.0).round() / 100.0;
            p.insert("easting".into(), json!(cm(u.pos[0])));
            p.insert("northing".into(), json!(cm(u.pos[1])));
            if ranking.columns.names().is_some() {
                p.retain(|k, _| POSITION.contains(&k.as_str()) || ranking.columns.keeps(k));
            }
            p
        })
        .collect()
}

/// The machine names of the XLSX sites sheet, in its order (see [`columns::xlsx_order`]); the
/// headers in words are [`columns::column`]'s. Empty for an empty ranking.
pub fn xlsx_keys(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
) -> Vec<String> {
    let rows = rows(atlas, units, contexts, &first_row(ranking));
    match rows.first() {
        Some(r) => columns::xlsx_order(r.keys().map(String::as_str))
            .into_iter()
            .map(str::to_string)
            .collect(),
        None => vec![],
    }
}

/// The ranking with its first row only (the keys of every row are the same).
fn first_row(ranking: &Ranking) -> Ranking {
    let mut one = ranking.clone();
    one.rows.truncate(1);
    one
}

/// The XLSX workbook's bytes: a sites sheet for a board paper (headers in words, bold and
/// frozen with a filter, each column with its number format and a width that fits), the
/// query sheet (`query`: the weights, filters and settings used) and the sources sheet.
fn xlsx_bytes(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    query: &[(String, String)],
) -> Result<Vec<u8>, ExportError> {
    use rust_xlsxwriter::{FormatAlign, FormatBorder};
    let path = Path::new("workbook.xlsx");
    let rows = rows(atlas, units, contexts, ranking);
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let head = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Top)
        .set_background_color(0xDDE7F0)
        .set_border_bottom(FormatBorder::Thin);
    let sites = wb
        .add_worksheet()
        .set_name("sites")
        .map_err(|e| err(path, e))?;
    let keys: Vec<&str> = match rows.first() {
        Some(first) => columns::xlsx_order(first.keys().map(String::as_str)),
        None => vec![],
    };
    let mut header_lines = 1;
    for (c, k) in keys.iter().enumerate() {
        let column = columns::column(k, atlas.imd);
        let c = c as u16;
        sites
            .write_string_with_format(0, c, &column.header, &head)
            .map_err(|e| err(path, e))?;
        // Wide enough for the values (text up to 40 characters), at least the kind's own.
        let longest = rows
            .iter()
            .filter_map(|r| r.get(*k))
            .map(|v| match v {
                Json::String(s) => s.chars().count(),
                Json::Null => 0,
                other => other.to_string().len() + 2,
            })
            .max()
            .unwrap_or(0) as f64;
        let width = match column.kind {
            columns::Kind::Words => column.kind.width(),
            _ => longest.clamp(column.kind.width(), 40.0),
        };
        sites.set_column_width(c, width).map_err(|e| err(path, e))?;
        let lines = (column.header.chars().count() as f64 / width).ceil() as u32;
        header_lines = header_lines.max(lines.min(4));
        let format = column
            .kind
            .num_format()
            .map(|f| Format::new().set_num_format(f));
        for (r, row) in rows.iter().enumerate() {
            let r = r as u32 + 1;
            match (row.get(*k), &format) {
                (Some(Json::Number(n)), Some(f)) => {
                    sites.write_number_with_format(r, c, n.as_f64().unwrap_or(f64::NAN), f)
                }
                (Some(Json::Number(n)), None) => {
                    sites.write_number(r, c, n.as_f64().unwrap_or(f64::NAN))
                }
                (Some(Json::String(s)), _) => sites.write_string(r, c, s),
                (Some(Json::Bool(b)), _) => sites.write_boolean(r, c, *b),
                (Some(Json::Null) | None, _) => continue,
                (Some(other), _) => sites.write_string(r, c, other.to_string()),
            }
            .map_err(|e| err(path, e))?;
        }
    }
    if !keys.is_empty() {
        sites
            .set_row_height(0, 15.0 * header_lines as f64)
            .map_err(|e| err(path, e))?;
        // The header stays in view, and so do rank, id and name when scrolling sideways (those
        // of them the file has first).
        let who = keys
            .iter()
            .take(3)
            .take_while(|k| matches!(**k, "rank" | "order" | "id" | "name"))
            .count();
        sites
            .set_freeze_panes(1, who as u16)
            .map_err(|e| err(path, e))?;
        sites
            .autofilter(0, 0, rows.len() as u32, keys.len() as u16 - 1)
            .map_err(|e| err(path, e))?;
    }
    let q = wb
        .add_worksheet()
        .set_name("query")
        .map_err(|e| err(path, e))?;
    q.write_string_with_format(0, 0, "setting", &bold)
        .map_err(|e| err(path, e))?;
    q.write_string_with_format(0, 1, "value", &bold)
        .map_err(|e| err(path, e))?;
    q.set_column_width(0, 24).map_err(|e| err(path, e))?;
    q.set_column_width(1, 100).map_err(|e| err(path, e))?;
    q.set_freeze_panes(1, 0).map_err(|e| err(path, e))?;
    for (i, (k, v)) in query.iter().enumerate() {
        q.write_string(i as u32 + 1, 0, k)
            .map_err(|e| err(path, e))?;
        q.write_string(i as u32 + 1, 1, v)
            .map_err(|e| err(path, e))?;
    }
    let s = wb
        .add_worksheet()
        .set_name("sources")
        .map_err(|e| err(path, e))?;
    for (c, (h, w)) in [
        ("layer", 20),
        ("source", 60),
        ("vintage", 24),
        ("licence", 40),
        ("rows", 10),
    ]
    .iter()
    .enumerate()
    {
        s.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(|e| err(path, e))?;
        s.set_column_width(c as u16, *w).map_err(|e| err(path, e))?;
    }
    let count = Format::new().set_num_format("#,##0");
    let mut r = 1;
    for l in &atlas.manifest.layers {
        for (c, v) in [&l.name, &l.source, &l.vintage, &l.licence]
            .iter()
            .enumerate()
        {
            s.write_string(r, c as u16, v.as_str())
                .map_err(|e| err(path, e))?;
        }
        s.write_number_with_format(r, 4, l.rows as f64, &count)
            .map_err(|e| err(path, e))?;
        r += 1;
    }
    r += 1;
    s.write_string_with_format(r, 0, "Attribution", &bold)
        .map_err(|e| err(path, e))?;
    for a in &atlas.manifest.attribution {
        r += 1;
        s.write_string(r, 0, a).map_err(|e| err(path, e))?;
    }
    wb.save_to_buffer().map_err(|e| err(path, e))
}

/// The OGC WKT of British National Grid (EPSG:27700) for `gpkg_spatial_ref_sys`.
const BNG_WKT: &str = r#"PROJCS["OSGB 1936 / British National Grid",GEOGCS["OSGB 1936",DATUM["OSGB_1936",SPHEROID["Airy 1830",6377563.396,299.3249646,AUTHORITY["EPSG","7001"]],TOWGS84[446.448,-125.157,542.06,0.15,0.247,0.842,-20.489],AUTHORITY["EPSG","6277"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4277"]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",49],PARAMETER["central_meridian",-2],PARAMETER["scale_factor",0.9996012717],PARAMETER["false_easting",400000],PARAMETER["false_northing",-100000],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],AUTHORITY["EPSG","27700"]]"#;

/// A GeoPackage point geometry: the GP header (no envelope) and a little-endian WKB point.
fn gpkg_point(srs_id: i32, x: f64, y: f64) -> Vec<u8> {
    let mut b = Vec::with_capacity(29);
    b.extend_from_slice(b"GP");
    b.push(0); // version 1
    b.push(0b0000_0001); // little-endian header, no envelope
    b.extend_from_slice(&srs_id.to_le_bytes());
    b.push(1); // WKB little-endian
    b.extend_from_slice(&1u32.to_le_bytes()); // Point
    b.extend_from_slice(&x.to_le_bytes());
    b.extend_from_slice(&y.to_le_bytes());
    b
}

/// The SQLite type of each column, over all rows (columns in order of first appearance):
/// INTEGER if every non-null value is an integer, REAL if every non-null value is a number,
/// else TEXT (and TEXT when every value is null).
fn column_types(rows: &[Map<String, Json>]) -> Vec<(String, &'static str)> {
    let mut keys: Vec<&String> = vec![];
    let mut seen = std::collections::HashSet::new();
    for k in rows.iter().flat_map(|r| r.keys()) {
        if seen.insert(k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|k| {
            let values: Vec<&Json> = rows
                .iter()
                .filter_map(|r| r.get(k))
                .filter(|v| !v.is_null())
                .collect();
            let t = if values.is_empty() {
                "TEXT"
            } else if values.iter().all(|v| v.is_i64()) {
                "INTEGER"
            } else if values.iter().all(|v| v.is_number()) {
                "REAL"
            } else {
                "TEXT"
            };
            (k.clone(), t)
        })
        .collect()
}

/// A JSON value for a column of SQLite type `t` (from [`column_types`]).
fn sql_value(v: Option<&Json>, t: &str) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        Some(Json::Number(n)) => match (t, n.as_i64()) {
            ("INTEGER", Some(i)) => Value::Integer(i),
            ("TEXT", _) => Value::Text(n.to_string()),
            _ => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Some(Json::String(s)) => Value::Text(s.clone()),
        Some(Json::Bool(b)) => Value::Integer(i64::from(*b)),
        Some(Json::Null) | None => Value::Null,
        Some(other) => Value::Text(other.to_string()),
    }
}

fn sql_name(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Writes a GeoPackage with one point layer `sites` in EPSG:27700.
fn write_gpkg(
    path: &Path,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
) -> Result<(), ExportError> {
    let rows = rows(atlas, units, contexts, ranking);
    write_atomic_path(path, |tmp| {
        let db = rusqlite::Connection::open(tmp).map_err(|e| e.to_string())?;
        let ddl = "PRAGMA application_id = 1196444487; PRAGMA user_version = 10300;
            CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
            CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
            CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name));";
        db.execute_batch(ddl).map_err(|e| e.to_string())?;
        db.execute(
            "INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', NULL), ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL), ('OSGB 1936 / British National Grid', 27700, 'EPSG', 27700, ?1, NULL)",
            [BNG_WKT],
        )
        .map_err(|e| e.to_string())?;
        let cols = column_types(&rows);
        let mut create = String::from("CREATE TABLE sites (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT");
        for (k, t) in &cols {
            create.push_str(&format!(", {} {t}", sql_name(k)));
        }
        create.push(')');
        db.execute(&create, []).map_err(|e| e.to_string())?;
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        let tx = db.unchecked_transaction().map_err(|e| e.to_string())?;
        {
            let placeholders: Vec<String> = (0..=cols.len()).map(|i| format!("?{}", i + 1)).collect();
            let sql = format!(
                "INSERT INTO sites (geom{}) VALUES ({})",
                cols.iter().map(|(k, _)| format!(", {}", sql_name(k))).collect::<String>(),
                placeholders.join(", ")
            );
            let mut stmt = tx.prepare(&sql).map_err(|e| e.to_string())?;
            for (r, row) in ranking.rows.iter().zip(&rows) {
                let [x, y] = units[r.unit].pos;
                for k in 0..2 {
                    lo[k] = lo[k].min([x, y][k]);
                    hi[k] = hi[k].max([x, y][k]);
                }
                let mut vals: Vec<rusqlite::types::Value> = vec![rusqlite::types::Value::Blob(gpkg_point(27700, x, y))];
                for (k, t) in &cols {
                    vals.push(sql_value(row.get(k), t));
                }
                stmt.execute(rusqlite::params_from_iter(vals)).map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        let (lo, hi) = if ranking.rows.is_empty() { ([0.0; 2], [0.0; 2]) } else { (lo, hi) };
        db.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, min_x, min_y, max_x, max_y, srs_id) VALUES ('sites', 'features', 'sites', 'sitefinder ranked candidate sites', ?1, ?2, ?3, ?4, 27700)",
            rusqlite::params![lo[0], lo[1], hi[0], hi[1]],
        )
        .map_err(|e| e.to_string())?;
        db.execute("INSERT INTO gpkg_geometry_columns VALUES ('sites', 'geom', 'POINT', 27700, 0, 0)", [])
            .map_err(|e| e.to_string())?;
        db.close().map_err(|(_, e)| e.to_string())?;
        Ok(())
    })
    .map_err(|e| err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_typed_from_every_row() {
        let rows: Vec<Map<String, Json>> = [
            json!({"rank": 1, "rv": null, "area": null, "score": 1, "id": "a", "late": null}),
            json!({"rank": 2, "rv": 2850, "area": null, "score": 0.5, "id": 7}),
            json!({"rank": 3, "rv": 9100, "area": null, "score": 0, "id": "c", "late": 1.5}),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
        let cols = column_types(&rows);
        assert_eq!(
            cols,
            [
                ("rank".to_string(), "INTEGER"),
                ("rv".to_string(), "INTEGER"),
                ("area".to_string(), "TEXT"),
                ("score".to_string(), "REAL"),
                ("id".to_string(), "TEXT"),
                ("late".to_string(), "REAL"),
            ]
        );
        use rusqlite::types::Value;
        assert_eq!(
            sql_value(rows[1].get("id"), "TEXT"),
            Value::Text("7".into())
        );
        assert_eq!(sql_value(rows[2].get("score"), "REAL"), Value::Real(0.0));
        assert_eq!(
            sql_value(rows[1].get("rv"), "INTEGER"),
            Value::Integer(2850)
        );
        assert_eq!(sql_value(rows[0].get("rv"), "INTEGER"), Value::Null);
        assert_eq!(sql_value(rows[1].get("late"), "REAL"), Value::Null);
    }
}
