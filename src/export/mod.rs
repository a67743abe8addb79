//! Estates exports of a ranking or a shortlist, in four formats from one [`render`] (and, for a
//! shortlist only, the PDF site report of [`report`]):
//! CSV (UTF-8 with a byte-order mark so Excel opens it cleanly, one column per criterion),
//! XLSX (a sheet of sites with the score breakdown, a sheet with the weights and filters used,
//! a sheet with the data sources and attribution), RFC 7946 GeoJSON, and GeoPackage (points in
//! EPSG:27700, readable by QGIS and GDAL). Files are written atomically.

pub mod columns;
pub mod pdf;
pub mod report;
pub mod rows;
pub mod table;

use std::path::Path;

use rust_xlsxwriter::{Format, Workbook};
#[cfg(test)]
use serde_json::json;
use serde_json::{Map, Value as Json};

use crate::analysis::join::Context;
use crate::analysis::rank::Ranking;
use crate::base::textio::write_atomic_path;
use crate::export::rows::{Cell, Rows};
use crate::export::table::CellKind;
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
    #[error("an XLSX sheet holds at most {max} rows and this ranking has {rows}; rank fewer (a limit, a box or filters), or export it as csv or gpkg", max = XLSX_MAX_ROWS)]
    TooManyRows { rows: usize },
}

/// The most data rows an XLSX sheet holds (Excel's 1,048,576 rows, less the header).
pub const XLSX_MAX_ROWS: usize = 1_048_575;

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
        ExportFormat::Xlsx | ExportFormat::Gpkg => {
            let rows = Rows::of_ranking(atlas, units, contexts, ranking);
            file_bytes(format, &rows, meta)
        }
    }
}

/// An XLSX or GeoPackage file's bytes.
fn file_bytes(format: ExportFormat, rows: &Rows<'_>, meta: &Meta) -> Result<Vec<u8>, ExportError> {
    let mem = |e: &dyn std::fmt::Display| ExportError::Write {
        file: format!("{} export", format.extension()),
        reason: e.to_string(),
    };
    if format == ExportFormat::Xlsx {
        return xlsx_bytes(rows, &meta.query_sheet());
    }
    // SQLite writes files: build in a private temporary directory, removed on return.
    let dir = tempfile::Builder::new()
        .prefix("sitefinder-export-")
        .tempdir()
        .map_err(|e| mem(&e))?;
    let path = dir.path().join("export.gpkg");
    write_gpkg(&path, rows)?;
    std::fs::read(&path).map_err(|e| mem(&e))
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
    let rows = || Rows::of_ranking(atlas, units, contexts, ranking);
    match format {
        ExportFormat::Gpkg => write_gpkg(path, &rows()),
        ExportFormat::Xlsx => write_xlsx(path, &rows(), &meta.query_sheet()),
        // Streamed to the file: a national ranking's CSV is never held in memory whole.
        ExportFormat::Csv => crate::base::textio::write_atomic(path, |w| {
            w.write_all(b"\xEF\xBB\xBF")?;
            crate::export::table::write_csv(w, atlas, units, contexts, ranking)
                .map_err(std::io::Error::other)
        })
        .map_err(|e| err(path, e)),
        ExportFormat::GeoJson => crate::base::textio::write_atomic(path, |w| {
            crate::export::table::write_geojson(w, atlas, units, contexts, ranking, &meta.members)
                .map_err(std::io::Error::other)
        })
        .map_err(|e| err(path, e)),
    }
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
    let words = ordered.ranking.words_for(false);
    let values = ordered.ranking.columns.needs_values();
    crate::export::table::write_csv_rows(
        w,
        atlas,
        units,
        contexts,
        &ordered.ranking,
        ordered.len(),
        // Every k asked for is below the order's length.
        &|k| {
            ordered
                .row_needing(k, words.as_ref(), values)
                .expect("a row of the order")
        },
    )
}

/// Writes a ranking held as its order in any format, atomically, each row made (and put into
/// words where its columns need them) as it is written.
pub fn write_ordered(
    path: &Path,
    format: ExportFormat,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ordered: &crate::analysis::rank::Ordered<'_>,
    meta: &Meta,
) -> Result<(), ExportError> {
    let rows = || Rows::of_order(atlas, units, contexts, ordered);
    match format {
        ExportFormat::Csv => write_csv_ordered(path, atlas, units, contexts, ordered),
        ExportFormat::Gpkg => write_gpkg(path, &rows()),
        ExportFormat::Xlsx => write_xlsx(path, &rows(), &meta.query_sheet()),
        ExportFormat::GeoJson => crate::base::textio::write_atomic(path, |w| {
            geojson_ordered(w, atlas, units, contexts, ordered, &meta.members)
                .map_err(std::io::Error::other)
        })
        .map_err(|e| err(path, e)),
    }
}

/// [`write_ordered`]'s GeoJSON into any writer (standard output).
pub fn geojson_ordered(
    w: &mut dyn std::io::Write,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ordered: &crate::analysis::rank::Ordered<'_>,
    members: &Map<String, Json>,
) -> Result<(), crate::export::table::OutputError> {
    let ranking = &ordered.ranking;
    let words = ranking.words_for(true);
    let values = ranking.columns.needs_values();
    crate::export::table::write_geojson_rows(
        w,
        atlas,
        units,
        contexts,
        ranking,
        ordered.len(),
        // Every k asked for is below the order's length.
        &|k| {
            ordered
                .row_needing(k, words.as_ref(), values)
                .expect("a row of the order")
        },
        members,
    )
}

fn err(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Write {
        file: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The machine names of the XLSX sites sheet, in its order (see [`columns::xlsx_order`]); the
/// headers in words are [`columns::column`]'s. Empty for an empty ranking.
pub fn xlsx_keys(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
) -> Vec<String> {
    let header = Rows::of_ranking(atlas, units, contexts, ranking).header();
    columns::xlsx_order(header.names.iter().map(String::as_str))
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Cells of an XLSX sheet above which it is zipped with ZIP64 ([`xlsx_workbook`]).
const ZIP64_CELLS: usize = 10_000_000;

/// Counts the bytes written to it (a number's width as text, without making the text).
struct Count(usize);

impl std::fmt::Write for Count {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// How wide a cell is in characters, as its XLSX column's width is measured: text by its
/// characters, a number by its figures as JSON writes them and two more.
fn cell_width(c: &Cell) -> usize {
    use std::fmt::Write;
    let mut n = Count(0);
    match c {
        Cell::Null => return 0,
        Cell::Text(s) => return s.chars().count(),
        Cell::Integer(i) => write!(n, "{i}"),
        Cell::Real(x) => match serde_json::Number::from_f64(*x) {
            Some(x) => write!(n, "{x}"),
            None => return 0,
        },
    }
    .map_or(0, |_| n.0 + 2)
}

/// The XLSX workbook's bytes: a sites sheet for a board paper (headers in words, bold and
/// frozen with a filter, each column with its number format and a width that fits), the
/// query sheet (`query`: the weights, filters and settings used) and the sources sheet.
fn xlsx_workbook(rows: &Rows<'_>, query: &[(String, String)]) -> Result<Workbook, ExportError> {
    use rust_xlsxwriter::{FormatAlign, FormatBorder};
    if rows.len() > XLSX_MAX_ROWS {
        return Err(ExportError::TooManyRows { rows: rows.len() });
    }
    let path = Path::new("workbook.xlsx");
    let imd = rows.atlas.imd;
    let header = rows.header();
    let mut wb = Workbook::new();
    // A sheet's text of more than 4 GB needs ZIP64 (readers since Excel 2007 take it): at
    // most 400 bytes a cell on average below this many cells.
    wb.use_zip_large_file(rows.len().saturating_mul(header.names.len()) > ZIP64_CELLS);
    let bold = Format::new().set_bold();
    let head = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Top)
        .set_background_color(0xDDE7F0)
        .set_border_bottom(FormatBorder::Thin);
    // Written a row at a time, in order, each flushed to a temporary file as the next starts
    // (rust_xlsxwriter's constant memory): a national sheet is never held in memory.
    let sites = wb
        .add_worksheet_with_constant_memory()
        .map_err(|e| err(path, e))?
        .set_name("sites")
        .map_err(|e| err(path, e))?;
    let keys: Vec<&str> = columns::xlsx_order(header.names.iter().map(String::as_str));
    // Where each of the sheet's columns is among a row's cells.
    let at: Vec<usize> = keys
        .iter()
        .map(|k| header.names.iter().position(|n| n == k).unwrap_or(0))
        .collect();
    let kinds: Vec<columns::Column> = keys.iter().map(|k| columns::column(k, imd)).collect();
    // Wide enough for the values (text up to 40 characters), at least the kind's own: the
    // rows are measured first (not in words: a column in words has its kind's width), as the
    // header row's height, which the widths give, is written before them.
    let mut longest = vec![0usize; keys.len()];
    if !keys.is_empty() {
        rows.each(&header, false, &mut |part| {
            for (_, cells) in &part {
                for (l, &i) in longest.iter_mut().zip(&at) {
                    *l = (*l).max(cell_width(&cells[i]));
                }
            }
            Ok(())
        })
        .map_err(|e| err(path, e))?;
    }
    let mut header_lines = 1;
    let mut formats = Vec::with_capacity(keys.len());
    for (c, column) in kinds.iter().enumerate() {
        let width = match column.kind {
            columns::Kind::Words => column.kind.width(),
            _ => (longest[c] as f64).clamp(column.kind.width(), 40.0),
        };
        sites
            .set_column_width(c as u16, width)
            .map_err(|e| err(path, e))?;
        let lines = (column.header.chars().count() as f64 / width).ceil() as u32;
        header_lines = header_lines.max(lines.min(4));
        formats.push(
            column
                .kind
                .num_format()
                .map(|f| Format::new().set_num_format(f)),
        );
    }
    if !keys.is_empty() {
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
        sites
            .set_row_height(0, 15.0 * header_lines as f64)
            .map_err(|e| err(path, e))?;
        for (c, column) in kinds.iter().enumerate() {
            sites
                .write_string_with_format(0, c as u16, &column.header, &head)
                .map_err(|e| err(path, e))?;
        }
        let mut r = 0u32;
        rows.each(&header, true, &mut |part| {
            for (_, cells) in &part {
                r += 1;
                for (c, (&i, format)) in at.iter().zip(&formats).enumerate() {
                    let c = c as u16;
                    match (&cells[i], format) {
                        (Cell::Null, _) => continue,
                        (Cell::Text(s), _) => sites.write_string(r, c, s),
                        (Cell::Integer(n), Some(f)) => {
                            sites.write_number_with_format(r, c, *n as f64, f)
                        }
                        (Cell::Integer(n), None) => sites.write_number(r, c, *n as f64),
                        (Cell::Real(x), Some(f)) => sites.write_number_with_format(r, c, *x, f),
                        (Cell::Real(x), None) => sites.write_number(r, c, *x),
                    }
                    .map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        })
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
    for l in &rows.atlas.manifest.layers {
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
    for a in &rows.atlas.manifest.attribution {
        r += 1;
        s.write_string(r, 0, a).map_err(|e| err(path, e))?;
    }
    Ok(wb)
}

/// The XLSX workbook's bytes ([`xlsx_workbook`]).
fn xlsx_bytes(rows: &Rows<'_>, query: &[(String, String)]) -> Result<Vec<u8>, ExportError> {
    xlsx_workbook(rows, query)?
        .save_to_buffer()
        .map_err(|e| err(Path::new("workbook.xlsx"), e))
}

/// Writes the XLSX workbook ([`xlsx_workbook`]) atomically, zipped straight into the file.
fn write_xlsx(path: &Path, rows: &Rows<'_>, query: &[(String, String)]) -> Result<(), ExportError> {
    let mut wb = xlsx_workbook(rows, query)?;
    write_atomic_path(path, |tmp| wb.save(tmp).map_err(|e| e.to_string())).map_err(|e| err(path, e))
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

/// A column's SQLite type: what its kind of cell holds, whatever its values (an export of
/// one area has the columns of another's, and a column with no value on any row still reads
/// as numbers in a GIS).
fn sql_type(k: CellKind) -> &'static str {
    match k {
        CellKind::Text => "TEXT",
        CellKind::Integer => "INTEGER",
        CellKind::Real => "REAL",
    }
}

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Cell::Null => ToSqlOutput::Owned(Value::Null),
            Cell::Integer(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            Cell::Real(x) => ToSqlOutput::Owned(Value::Real(*x)),
            Cell::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

fn sql_name(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Writes a GeoPackage with one point layer `sites` in EPSG:27700, its rows inserted as
/// they are made.
fn write_gpkg(path: &Path, rows: &Rows<'_>) -> Result<(), ExportError> {
    let header = rows.header();
    let units = rows.units;
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
        let mut create = String::from("CREATE TABLE sites (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT");
        for (k, t) in header.names.iter().zip(&header.kinds) {
            create.push_str(&format!(", {} {}", sql_name(k), sql_type(*t)));
        }
        create.push(')');
        db.execute(&create, []).map_err(|e| e.to_string())?;
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        let tx = db.unchecked_transaction().map_err(|e| e.to_string())?;
        {
            let placeholders: Vec<String> = (0..=header.names.len()).map(|i| format!("?{}", i + 1)).collect();
            let sql = format!(
                "INSERT INTO sites (geom{}) VALUES ({})",
                header.names.iter().map(|k| format!(", {}", sql_name(k))).collect::<String>(),
                placeholders.join(", ")
            );
            let mut stmt = tx.prepare(&sql).map_err(|e| e.to_string())?;
            rows.each(&header, true, &mut |part| {
                for (unit, cells) in &part {
                    let [x, y] = units[*unit].pos;
                    for k in 0..2 {
                        lo[k] = lo[k].min([x, y][k]);
                        hi[k] = hi[k].max([x, y][k]);
                    }
                    let geom = gpkg_point(27700, x, y);
                    let values = std::iter::once(&geom as &dyn rusqlite::ToSql)
                        .chain(cells.iter().map(|c| c as &dyn rusqlite::ToSql));
                    stmt.execute(rusqlite::params_from_iter(values)).map_err(|e| e.to_string())?;
                }
                Ok(())
            })?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        let (lo, hi) = if rows.is_empty() { ([0.0; 2], [0.0; 2]) } else { (lo, hi) };
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

    /// An XLSX column is as wide as its values were when they were JSON: a number's figures
    /// as JSON writes them and two more, text by its characters.
    #[test]
    fn a_cells_width_is_its_figures_as_json_writes_them() {
        for (c, j) in [
            (Cell::Real(0.5), json!(0.5)),
            (Cell::Real(3.0), json!(3.0)),
            (Cell::Real(-51.123456), json!(-51.123456)),
            (Cell::Real(1e21), json!(1e21)),
            (Cell::Integer(2850), json!(2850)),
            (Cell::Integer(-7), json!(-7)),
        ] {
            assert_eq!(cell_width(&c), j.to_string().len() + 2, "{c:?}");
        }
        assert_eq!(cell_width(&Cell::Text("Café £5".into())), 7);
        assert_eq!(cell_width(&Cell::Null), 0);
        assert_eq!(cell_width(&Cell::Real(f64::NAN)), 0);
    }
}
