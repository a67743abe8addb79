//! Writing a ranking as CSV or GeoJSON (RFC 7946: WGS84 lon/lat, 6 decimals). Both carry the
//! same columns: the unit, its score, LSOA and IMD decile, nearest practice and PCN, the GP
//! catchment, and per criterion the raw value, the normalised value and its contribution; then
//! the unit's own fields, why it cannot hold a clinic (`unsuitable`, when such units are
//! included) and its site (`site_id`: the smallest id of the units at the same place;
//! `site_units`: how many there are).
//! GeoJSON adds a `breakdown` object per feature with the sentence for each criterion.

use std::io::Write;

use geojson::{Feature, FeatureCollection, Geometry};
use serde_json::{json, Map, Value as Json};

use crate::analysis::chosen::Chosen;
use crate::analysis::criteria::CRITERIA;
use crate::analysis::join::Context;
use crate::analysis::rank::{Ranked, Ranking};
use crate::base::crs::{self, round6};
use crate::ingest::units::{LocatedBy, Unit};
use crate::reference::atlas::{Atlas, DOMAINS};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    GeoJson,
}

/// Errors writing output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Crs(#[from] crs::CrsError),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing CSV: a row of {cells} cells under a header of {header}")]
    Cells { cells: usize, header: usize },
}

/// `v` rounded to `dp` decimals, as every column and breakdown figure is.
fn rounded(v: f64, dp: i32) -> f64 {
    let f = 10f64.powi(dp);
    (v * f).round() / f
}

fn round(v: f64, dp: i32) -> Json {
    json!(rounded(v, dp))
}

fn opt(v: Option<f64>, dp: i32) -> Json {
    v.map_or(Json::Null, |x| round(x, dp))
}

/// Where one ranked unit's columns go, in column order: a JSON object ([`properties`], for
/// GeoJSON and the API) or a CSV row (written straight into the file's bytes, with no map per
/// row). One list of columns, [`columns`], feeds both.
pub trait Cells {
    /// Text, or no value.
    fn text(&mut self, name: &str, v: Option<&str>);
    /// A whole number.
    fn int(&mut self, name: &str, v: u64);
    /// A number rounded to `dp` decimals, or no value (also for a NaN or infinite one).
    fn num(&mut self, name: &str, v: Option<f64>, dp: i32);
    /// Any JSON value (extra columns such as an optimised site's marginal gain).
    fn json(&mut self, name: &str, v: &Json);
    /// A whole number, or no value (a column of whole numbers either way).
    fn opt_int(&mut self, name: &str, v: Option<u64>) {
        match v {
            Some(v) => self.int(name, v),
            None => self.text(name, None),
        }
    }
    /// Whether the column is kept: [`columns`] makes a costly value (a list joined, a
    /// sentence) only for a column that is.
    fn wants(&self, _name: &str) -> bool {
        true
    }
}

/// What a column holds, whatever its value on a row: a GeoPackage's column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Text,
    Integer,
    Real,
}

impl CellKind {
    /// The kind of a JSON value (an extra column's): a whole number, a number, else text.
    fn of(v: &Json) -> CellKind {
        match v {
            Json::Number(n) if n.is_i64() || n.is_u64() => CellKind::Integer,
            Json::Number(_) => CellKind::Real,
            Json::Bool(_) => CellKind::Integer,
            _ => CellKind::Text,
        }
    }
}

impl Cells for Map<String, Json> {
    fn text(&mut self, name: &str, v: Option<&str>) {
        self.insert(
            name.into(),
            v.map_or(Json::Null, |s| Json::String(s.into())),
        );
    }
    fn int(&mut self, name: &str, v: u64) {
        self.insert(name.into(), json!(v));
    }
    fn num(&mut self, name: &str, v: Option<f64>, dp: i32) {
        self.insert(name.into(), opt(v, dp));
    }
    fn json(&mut self, name: &str, v: &Json) {
        self.insert(name.into(), v.clone());
    }
}

/// Only the named columns, into a JSON object (a page asking for a few properties).
struct Kept<'a> {
    names: &'a [String],
    map: Map<String, Json>,
}

impl Cells for Kept<'_> {
    fn wants(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
    fn text(&mut self, name: &str, v: Option<&str>) {
        if self.wants(name) {
            self.map.text(name, v);
        }
    }
    fn int(&mut self, name: &str, v: u64) {
        if self.wants(name) {
            self.map.int(name, v);
        }
    }
    fn num(&mut self, name: &str, v: Option<f64>, dp: i32) {
        if self.wants(name) {
            self.map.num(name, v, dp);
        }
    }
    fn json(&mut self, name: &str, v: &Json) {
        if self.wants(name) {
            self.map.json(name, v);
        }
    }
}

/// The names of the cells [`columns`] writes of a row when `chosen` says which are kept (it
/// makes a costly cell, a list joined or a sentence, only for a column that is); with every
/// column chosen, the header.
pub(crate) struct Names<'a> {
    chosen: &'a Chosen,
    pub(crate) names: Vec<String>,
    /// What each holds.
    pub(crate) kinds: Vec<CellKind>,
}

impl<'a> Names<'a> {
    pub(crate) fn new(chosen: &'a Chosen) -> Names<'a> {
        Names {
            chosen,
            names: vec![],
            kinds: vec![],
        }
    }
    fn push(&mut self, name: &str, kind: CellKind) {
        self.names.push(name.into());
        self.kinds.push(kind);
    }
}

impl Cells for Names<'_> {
    fn wants(&self, name: &str) -> bool {
        self.chosen.keeps(name)
    }
    fn text(&mut self, name: &str, _: Option<&str>) {
        self.push(name, CellKind::Text);
    }
    fn int(&mut self, name: &str, _: u64) {
        self.push(name, CellKind::Integer);
    }
    fn opt_int(&mut self, name: &str, _: Option<u64>) {
        self.push(name, CellKind::Integer);
    }
    fn num(&mut self, name: &str, _: Option<f64>, _: i32) {
        self.push(name, CellKind::Real);
    }
    fn json(&mut self, name: &str, v: &Json) {
        self.push(name, CellKind::of(v));
    }
}

/// The cells of a row that `keep` keeps, by their place among those [`Names`] named (every
/// row has the same), into another writer of cells: a choice of columns costs a look-up a
/// cell, not a comparison of names.
pub(crate) struct Masked<'a, C: Cells> {
    pub(crate) chosen: &'a Chosen,
    pub(crate) keep: &'a [bool],
    pub(crate) at: usize,
    pub(crate) inner: C,
}

impl<C: Cells> Masked<'_, C> {
    /// Whether the next cell is kept (a cell past those named is, so that the row's count
    /// of cells then differs from the header's and the row is refused).
    fn next(&mut self) -> bool {
        let k = self.keep.get(self.at).copied().unwrap_or(true);
        self.at += 1;
        k
    }
}

impl<C: Cells> Cells for Masked<'_, C> {
    fn wants(&self, name: &str) -> bool {
        self.chosen.keeps(name) && self.inner.wants(name)
    }
    fn text(&mut self, name: &str, v: Option<&str>) {
        if self.next() {
            self.inner.text(name, v);
        }
    }
    fn int(&mut self, name: &str, v: u64) {
        if self.next() {
            self.inner.int(name, v);
        }
    }
    fn opt_int(&mut self, name: &str, v: Option<u64>) {
        if self.next() {
            self.inner.opt_int(name, v);
        }
    }
    fn num(&mut self, name: &str, v: Option<f64>, dp: i32) {
        if self.next() {
            self.inner.num(name, v, dp);
        }
    }
    fn json(&mut self, name: &str, v: &Json) {
        if self.next() {
            self.inner.json(name, v);
        }
    }
}

/// The names of every column of a ranking's rows, from one of them (an extra column or a note
/// is on every row or none). What `--properties` may name, with `breakdown`.
pub fn column_names(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    rank_column: &str,
    row: &Ranked,
) -> Vec<String> {
    let every = Chosen::default();
    let mut names = Names::new(&every);
    columns(atlas, units, contexts, rank_column, row, &mut names);
    names.names
}

/// One CSV row's cells, each written as [`csv_cell`] writes it, straight into the bytes of
/// the file's part as the `csv` crate's default writer writes a record (its header is written
/// by that writer; [`push_field`] is checked against it).
struct CsvRow<'w> {
    out: &'w mut Vec<u8>,
    /// Cells written so far.
    cells: usize,
    /// Whether the last cell was empty (a record of one empty cell is written `""`).
    last_empty: bool,
}

/// One field of a CSV record as the `csv` crate's default writer writes it: in double quotes,
/// with its quotes doubled, when it holds a comma, a quote, a carriage return or a line feed.
fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    let special = memchr::memchr3(b',', b'"', b'\n', bytes).is_some()
        || memchr::memchr(b'\r', bytes).is_some();
    if !special {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    let mut rest = bytes;
    while let Some(q) = memchr::memchr(b'"', rest) {
        out.extend_from_slice(&rest[..=q]);
        out.push(b'"');
        rest = &rest[q + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

impl CsvRow<'_> {
    fn next_cell(&mut self, empty: bool) {
        if self.cells > 0 {
            self.out.push(b',');
        }
        self.cells += 1;
        self.last_empty = empty;
    }
    fn field(&mut self, bytes: &[u8]) {
        self.next_cell(bytes.is_empty());
        push_field(self.out, bytes);
    }
    fn number(&mut self, v: serde_json::Number) {
        self.next_cell(false);
        // serde_json's own figures, so a CSV cell reads as the JSON value does (digits, a
        // point, a sign or an exponent: never quoted).
        let _ = serde_json::to_writer(&mut *self.out, &v);
    }
    /// Ends the record; its cells must be as many as the header's.
    fn end(self, header: usize) -> Result<(), OutputError> {
        if self.cells != header {
            return Err(OutputError::Cells {
                cells: self.cells,
                header,
            });
        }
        if self.cells == 1 && self.last_empty {
            self.out.extend_from_slice(b"\"\"");
        }
        self.out.push(b'\n');
        Ok(())
    }
}

impl Cells for CsvRow<'_> {
    fn text(&mut self, _: &str, v: Option<&str>) {
        match v {
            Some(s) if s.starts_with(FORMULA_STARTS) => {
                let mut cell = Vec::with_capacity(s.len() + 1);
                cell.push(b'\'');
                cell.extend_from_slice(s.as_bytes());
                self.field(&cell);
            }
            Some(s) => self.field(s.as_bytes()),
            None => self.field(b""),
        }
    }
    fn int(&mut self, _: &str, v: u64) {
        self.number(v.into());
    }
    fn num(&mut self, _: &str, v: Option<f64>, dp: i32) {
        match v.and_then(|x| serde_json::Number::from_f64(rounded(x, dp))) {
            Some(x) => self.number(x),
            None => self.field(b""),
        }
    }
    fn json(&mut self, _: &str, v: &Json) {
        let cell = csv_cell(v);
        self.field(cell.as_bytes());
    }
}

/// Per criterion, its three column names: `{name}_raw`, `{name}_norm`, `{name}_contribution`.
static CRITERION_COLUMNS: std::sync::LazyLock<Vec<[String; 3]>> = std::sync::LazyLock::new(|| {
    CRITERIA
        .iter()
        .map(|c| {
            let n = c.name();
            [
                format!("{n}_raw"),
                format!("{n}_norm"),
                format!("{n}_contribution"),
            ]
        })
        .collect()
});

/// Per IoD domain, its decile column's name (`income_decile`, ...).
static DOMAIN_COLUMNS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| DOMAINS.iter().map(|d| format!("{d}_decile")).collect());

/// The flat properties of one ranked unit, in column order.
pub fn properties(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    rank_column: &str,
    r: &Ranked,
) -> Map<String, Json> {
    let mut m = Map::new();
    columns(atlas, units, contexts, rank_column, r, &mut m);
    m
}

/// Every column of one ranked unit, in order, into `out`.
pub fn columns(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    rank_column: &str,
    r: &Ranked,
    out: &mut dyn Cells,
) {
    let u = &units[r.unit];
    let c = &contexts[r.unit];
    let l = &atlas.lsoas[c.lsoa];
    let nearest = c.nearest_practices.first();
    let np = nearest.map(|(i, _)| &atlas.practices[i]);
    out.int(rank_column, r.rank as u64);
    out.text("id", Some(&u.id));
    out.text("name", Some(&u.name));
    for (k, v) in &r.extra {
        out.json(k, v);
    }
    if let Some(note) = &r.note {
        out.text("note", Some(note));
    }
    out.num("score", Some(r.score), 4);
    let imd = atlas.imd;
    out.text(imd.code_column(), Some(&l.code));
    out.text(imd.name_column(), Some(&l.name));
    out.text(imd.lad_code_column(), Some(&l.lad_code));
    out.text(imd.lad_name_column(), Some(&l.lad_name));
    out.int("imd_decile", l.imd_decile.into());
    out.num("imd_score", Some(l.imd_score), 3);
    out.int("imd_rank", l.imd_rank.into());
    if imd == crate::reference::edition::Imd::Iod2025 {
        out.opt_int("imd2019_decile", l.imd2019_decile.map(u64::from));
    }
    for (name, v) in DOMAIN_COLUMNS.iter().zip(l.domain_deciles) {
        out.int(name, v.into());
    }
    out.text(
        "nearest_practice_code",
        np.map(|p| p.practice_code.as_str()),
    );
    out.text("nearest_practice_name", np.map(|p| p.name.as_str()));
    out.num("nearest_practice_m", nearest.map(|n| n.1), 0);
    out.text("nearest_practice_pcn", np.and_then(|p| p.pcn.as_deref()));
    if out.wants("catchment_practices") {
        let practices = c
            .catchment
            .iter()
            .map(|cv| atlas.practices[cv.practice].practice_code.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        out.text("catchment_practices", Some(&practices));
    }
    out.int("catchment_patients", c.catchment_patients);
    if out.wants("catchment_pcns") {
        out.text("catchment_pcns", Some(&c.pcns(atlas).join("; ")));
    }
    for (i, names) in CRITERION_COLUMNS.iter().enumerate() {
        let v = &r.values[i];
        out.num(&names[0], v.raw, 3);
        out.num(&names[1], v.norm, 4);
        out.num(&names[2], Some(r.contributions[i]), 4);
    }
    out.text("address", Some(&u.address));
    out.text("postcode", u.postcode.as_deref());
    out.text("description", u.description.as_deref());
    out.text("council", u.council.as_deref());
    out.text("source_file", Some(&u.source));
    out.num("floor_area_m2", u.floor_area_m2, 1);
    out.num("rateable_value", u.rateable_value, 0);
    out.text(
        "vacant_since",
        u.vacant_since.map(|d| d.to_string()).as_deref(),
    );
    out.text("list_date", u.list_date.map(|d| d.to_string()).as_deref());
    out.text("unsuitable", u.unsuitable);
    out.text("site_id", Some(&u.site_id));
    out.int("site_units", u.site_units as u64);
    out.text(
        "located_by",
        Some(match u.located_by {
            LocatedBy::Coordinates => "coordinates",
            LocatedBy::Postcode => "postcode",
        }),
    );
    out.text(
        "lsoa_note",
        c.lsoa_snapped_m
            .map(|d| {
                format!(
                    "outside the generalised LSOA boundaries; nearest LSOA {} away",
                    crate::base::figures::Distance(d)
                )
            })
            .as_deref(),
    );
    if out.wants("why") {
        out.text("why", Some(&explain(r)));
    }
}

/// The reasons in words, the criteria with the largest contributions first.
pub fn explain(r: &Ranked) -> String {
    // Every criterion, but `plan` only when a plan overlay was chosen (else it says nothing).
    let mut idx: Vec<usize> = (0..CRITERIA.len())
        .filter(|&i| {
            CRITERIA[i] != crate::analysis::criteria::Criterion::Plan || r.values[i].norm.is_some()
        })
        .collect();
    idx.sort_by(|a, b| {
        r.contributions[*b]
            .total_cmp(&r.contributions[*a])
            .then(a.cmp(b))
    });
    let mut out = String::with_capacity(1_024);
    for (k, &i) in idx.iter().enumerate() {
        if k > 0 {
            out.push_str(" | ");
        }
        out.push_str(CRITERIA[i].name());
        out.push_str(": ");
        out.push_str(&r.values[i].why);
    }
    out
}

/// A value as a CSV cell. Text that a spreadsheet would run as a formula (starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return: a council's list can hold anything) is written
/// with a leading `'`, as OWASP recommends, so Excel shows it as text; numbers stay numbers.
///
/// ```
/// use serde_json::json;
/// use sitefinder::export::table::csv_cell;
/// assert_eq!(csv_cell(&json!("=HYPERLINK(\"http://x\")")), "'=HYPERLINK(\"http://x\")");
/// assert_eq!(csv_cell(&json!("@SUM(A1)")), "'@SUM(A1)");
/// assert_eq!(csv_cell(&json!(-2.15)), "-2.15");
/// assert_eq!(csv_cell(&json!("12 High Street")), "12 High Street");
/// ```
pub fn csv_cell(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) if s.starts_with(FORMULA_STARTS) => format!("'{s}"),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a spreadsheet would run as a formula at the start of a cell.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Writes the ranking as CSV (UTF-8, header row, one row per ranked unit).
pub fn write_csv(
    w: &mut dyn Write,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
) -> Result<(), OutputError> {
    // Each row put into words as it is written, so a national ranking is never held in
    // words whole; none when no column kept is in words.
    let words = ranking.words_for(false);
    write_csv_rows(
        w,
        atlas,
        units,
        contexts,
        ranking,
        ranking.rows.len(),
        &|k| ranking.row_in_words(atlas, units, contexts, words.as_ref(), k),
    )
}

/// Writes `len` rows as CSV, asking `row` for each in words (a ranking held as its order
/// makes it then, and a ranking made without words explains it then), on every core, a run at
/// a time, each row made into CSV as soon as it is made (and the run written while the next
/// is made); `ranking` gives the settings, the rank column and the columns kept.
#[allow(clippy::too_many_arguments)]
pub fn write_csv_rows(
    w: &mut dyn Write,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    len: usize,
    row: &(dyn Fn(usize) -> Ranked + Sync),
) -> Result<(), OutputError> {
    // The header: the columns' names, from the first row (an extra column or a note is on
    // every row or none), or from an empty row when nothing is ranked; no header without units.
    let first = if len > 0 { row(0) } else { Ranked::blank(0) };
    let mut header = 0;
    // Which of the cells a row writes are kept, by their place.
    let mut keep: Vec<bool> = vec![];
    if !units.is_empty() {
        let mut emitted = Names::new(&ranking.columns);
        columns(
            atlas,
            units,
            contexts,
            ranking.rank_column,
            &first,
            &mut emitted,
        );
        keep = emitted
            .names
            .iter()
            .map(|n| ranking.columns.keeps(n))
            .collect();
        let names: Vec<&String> = emitted
            .names
            .iter()
            .zip(&keep)
            .filter_map(|(n, k)| k.then_some(n))
            .collect();
        header = names.len();
        let mut h = csv::Writer::from_writer(Vec::new());
        h.write_record(&names)?;
        w.write_all(
            &h.into_inner()
                .map_err(|e| OutputError::Io(e.into_error()))?,
        )?;
    }
    // About 1.4 KB a row in words.
    write_runs(w, len, 1_536, &|rows, buf| {
        for &k in rows {
            let r = row(k);
            let mut out = Masked {
                chosen: &ranking.columns,
                keep: &keep,
                at: 0,
                inner: CsvRow {
                    out: buf,
                    cells: 0,
                    last_empty: false,
                },
            };
            columns(atlas, units, contexts, ranking.rank_column, &r, &mut out);
            out.inner.end(header)?;
        }
        Ok(())
    })?;
    w.flush()?;
    Ok(())
}

/// Puts the rows of a part into a buffer.
type Fill<'a> = dyn Fn(&[usize], &mut Vec<u8>) -> Result<(), OutputError> + Sync + 'a;

/// Rows `0..len` written to `w` in order ([`in_runs`]): `fill` puts a part's rows into a
/// buffer (with room for `row_bytes` a row, so it is not grown by copying), and written
/// buffers are used again, so their memory is not handed back and zeroed once a run.
fn write_runs(
    w: &mut dyn Write,
    len: usize,
    row_bytes: usize,
    fill: &Fill<'_>,
) -> Result<(), OutputError> {
    let pool: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(vec![]);
    in_runs(
        len,
        &|rows: &[usize]| -> Result<Vec<u8>, OutputError> {
            let mut buf = pool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .unwrap_or_default();
            buf.clear();
            buf.reserve(rows.len() * row_bytes);
            fill(rows, &mut buf)?;
            Ok(buf)
        },
        &mut |bytes| {
            let bytes = bytes?;
            w.write_all(&bytes)?;
            pool.lock().unwrap_or_else(|p| p.into_inner()).push(bytes);
            Ok(())
        },
    )
}

/// Rows `0..len` made on every core, a run at a time, and handed on in order: `make` makes
/// a part of a run (at least 1,024 rows, in order) and `take` takes each part in turn, while
/// the next run is made (two runs are held). Stops at `take`'s first error.
pub(crate) fn in_runs<P: Send, E>(
    len: usize,
    make: &(dyn Fn(&[usize]) -> P + Sync),
    take: &mut dyn FnMut(P) -> Result<(), E>,
) -> Result<(), E> {
    let mut made: Option<Vec<P>> = None;
    // Enough rows a run for every core to make its own part of at least 1,024 of them.
    let run_rows = 1_024 * rayon::current_num_threads().max(4);
    for start in (0..len).step_by(run_rows) {
        let run: Vec<usize> = (start..(start + run_rows).min(len)).collect();
        let (next, taken) = std::thread::scope(|s| {
            let next = s.spawn(|| crate::base::par::map_chunks(&run, 1_024, make));
            let taken = made
                .take()
                .map_or(Ok(()), |parts| parts.into_iter().try_for_each(&mut *take));
            (next.join(), taken)
        });
        let next = next.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        taken?;
        made = Some(next);
    }
    if let Some(parts) = made {
        parts.into_iter().try_for_each(take)?;
    }
    Ok(())
}

/// A unit's WGS84 longitude and latitude: the one computed at the join, else from its BNG
/// position now. Every output that gives degrees (GeoJSON, XLSX, the PDF report) takes them here.
pub fn lonlat(u: &Unit, c: &Context) -> Result<(f64, f64), crs::CrsError> {
    match c.lonlat {
        Some([lon, lat]) => Ok((lon, lat)),
        None => crs::bng_to_wgs84(u.pos[0], u.pos[1]),
    }
}

/// One ranked unit as an RFC 7946 feature: a WGS84 point, the flat properties, and the
/// `breakdown` object (raw, normalised, weight, contribution and sentence per criterion).
pub fn feature(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    r: &Ranked,
) -> Result<Feature, OutputError> {
    feature_with(atlas, units, contexts, ranking, r, None)
}

/// Only the named columns of one ranked unit (what a filter or an order on a few properties
/// reads), in column order; the others are not made.
pub fn properties_named(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    rank_column: &str,
    r: &Ranked,
    names: &[String],
) -> Map<String, Json> {
    let mut kept = Kept {
        names,
        map: Map::new(),
    };
    columns(atlas, units, contexts, rank_column, r, &mut kept);
    kept.map
}

/// [`feature`] with only the properties named in `keep` (`breakdown` among them), in the
/// same order, the others not made; every property when `None`.
pub fn feature_with(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    r: &Ranked,
    keep: Option<&[String]>,
) -> Result<Feature, OutputError> {
    let u = &units[r.unit];
    let (lon, lat) = lonlat(u, &contexts[r.unit])?;
    let mut props = match keep {
        None => properties(atlas, units, contexts, ranking.rank_column, r),
        Some(names) => {
            let mut kept = Kept {
                names,
                map: Map::new(),
            };
            columns(atlas, units, contexts, ranking.rank_column, r, &mut kept);
            if !kept.wants("breakdown") {
                return Ok(point_feature(u, lon, lat, kept.map));
            }
            kept.map
        }
    };
    let breakdown: Map<String, Json> = breakdown(ranking, r)
        .map(|(name, part)| (name.to_string(), json!(part)))
        .collect();
    props.insert("breakdown".into(), Json::Object(breakdown));
    Ok(point_feature(u, lon, lat, props))
}

/// [`feature_with`]'s feature as JSON, written straight into `out` as `serde_json` writes that
/// feature (byte for byte), without a map of its properties: a page of a ranking. `point`, if
/// given, is its geometry's point instead of the unit's WGS84 position (another CRS's).
#[allow(clippy::too_many_arguments)]
pub fn write_feature(
    out: &mut Vec<u8>,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    r: &Ranked,
    keep: Option<&[String]>,
    point: Option<[f64; 2]>,
) -> Result<(), OutputError> {
    let u = &units[r.unit];
    let point = match point {
        Some(p) => p.to_vec(),
        None => {
            let (lon, lat) = lonlat(u, &contexts[r.unit])?;
            vec![round6(lon), round6(lat)]
        }
    };
    let geometry = Geometry::new(geojson::Value::Point(point));
    out.extend_from_slice(b"{\"type\":\"Feature\",\"geometry\":");
    serde_json::to_writer(&mut *out, &geometry).map_err(std::io::Error::from)?;
    out.extend_from_slice(b",\"properties\":{");
    let mut cells = JsonCells {
        members: Members::after(out, 0),
        keep,
    };
    columns(atlas, units, contexts, ranking.rank_column, r, &mut cells);
    if cells.wants("breakdown") {
        cells.members.name("breakdown");
        cells.members.out.push(b'{');
        let mut parts = Members::after(cells.members.out, 0);
        for (name, part) in breakdown(ranking, r) {
            parts.member(name, &part);
        }
        parts.out.push(b'}');
    }
    out.extend_from_slice(b"},\"id\":");
    serde_json::to_writer(&mut *out, &u.id).map_err(std::io::Error::from)?;
    out.push(b'}');
    Ok(())
}

/// One criterion's part of a feature's `breakdown`, rounded as the columns are.
#[derive(serde::Serialize)]
struct Part<'a> {
    raw: Option<f64>,
    raw_unit: &'static str,
    norm: Option<f64>,
    weight: f64,
    contribution: f64,
    no_data: bool,
    why: &'a str,
}

/// A row's `breakdown`: each criterion's name and part, in [`CRITERIA`] order.
fn breakdown<'a>(
    ranking: &'a Ranking,
    r: &'a Ranked,
) -> impl Iterator<Item = (&'static str, Part<'a>)> + 'a {
    CRITERIA.iter().enumerate().map(move |(i, c)| {
        let v = &r.values[i];
        let part = Part {
            raw: v.raw.map(|x| rounded(x, 3)),
            raw_unit: c.raw_unit(),
            norm: v.norm.map(|x| rounded(x, 4)),
            weight: ranking.weights.get(*c),
            contribution: rounded(r.contributions[i], 4),
            no_data: v.norm.is_none(),
            why: &v.why,
        };
        (c.name(), part)
    })
}

/// The members of a JSON object written straight into `out`, as `serde_json` writes a map's:
/// each name and colon, after a comma but for the first, then its value.
pub struct Members<'w> {
    pub out: &'w mut Vec<u8>,
    /// Members written so far (those written before it was made included).
    written: usize,
}

impl<'w> Members<'w> {
    /// The members after the `written` already in `out`.
    pub fn after(out: &'w mut Vec<u8>, written: usize) -> Members<'w> {
        Members { out, written }
    }

    /// A member's name and colon, after a comma if it is not the first; its value is written
    /// next into `out`.
    pub fn name(&mut self, name: &str) {
        if self.written > 0 {
            self.out.push(b',');
        }
        self.written += 1;
        // Into a vector: no error but from the value, and a text has none.
        let _ = serde_json::to_writer(&mut *self.out, name);
        self.out.push(b':');
    }

    /// A member, its value as `serde_json` writes it (into a vector: no error but from the
    /// value, and maps of text keys, numbers and texts have none).
    pub fn member(&mut self, name: &str, v: &(impl serde::Serialize + ?Sized)) {
        self.name(name);
        let _ = serde_json::to_writer(&mut *self.out, v);
    }
}

/// The columns named in `keep` (every column when `None`), as the members of a JSON object
/// written into `out` (as `serde_json` writes the map [`Cells`] makes of them), without its
/// braces.
struct JsonCells<'w> {
    members: Members<'w>,
    keep: Option<&'w [String]>,
}

impl JsonCells<'_> {
    fn member(&mut self, name: &str, v: &impl serde::Serialize) {
        if self.wants(name) {
            self.members.member(name, v);
        }
    }
}

impl Cells for JsonCells<'_> {
    fn wants(&self, name: &str) -> bool {
        self.keep.is_none_or(|k| k.iter().any(|n| n == name))
    }
    fn text(&mut self, name: &str, v: Option<&str>) {
        self.member(name, &v);
    }
    fn int(&mut self, name: &str, v: u64) {
        self.member(name, &v);
    }
    fn num(&mut self, name: &str, v: Option<f64>, dp: i32) {
        // As `opt`: rounded, and no value (null) for none, a NaN or an infinity.
        self.member(name, &v.map(|x| rounded(x, dp)));
    }
    fn json(&mut self, name: &str, v: &Json) {
        self.member(name, v);
    }
}

/// A unit's feature: its WGS84 point, its id and these properties.
fn point_feature(u: &Unit, lon: f64, lat: f64, props: Map<String, Json>) -> Feature {
    Feature {
        bbox: None,
        geometry: Some(Geometry::new(geojson::Value::Point(vec![
            round6(lon),
            round6(lat),
        ]))),
        id: Some(geojson::feature::Id::String(u.id.to_string())),
        properties: Some(props),
        foreign_members: None,
    }
}

/// A FeatureCollection with extra top-level members (weights, attribution, paging).
pub fn collection(features: Vec<Feature>, members: &Map<String, Json>) -> FeatureCollection {
    FeatureCollection {
        bbox: None,
        features,
        foreign_members: (!members.is_empty()).then(|| members.clone()),
    }
}

/// Writes the ranking as an RFC 7946 FeatureCollection (each feature with the ranking's
/// columns, and its `breakdown` unless others are named without it), each row put into words
/// as it is written when the ranking's are not ([`write_geojson_rows`]).
pub fn write_geojson(
    w: &mut dyn Write,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    notes: &Map<String, Json>,
) -> Result<(), OutputError> {
    let words = ranking.words_for(true);
    write_geojson_rows(
        w,
        atlas,
        units,
        contexts,
        ranking,
        ranking.rows.len(),
        &|k| ranking.row_in_words(atlas, units, contexts, words.as_ref(), k),
        notes,
    )
}

/// Writes `len` rows as an RFC 7946 FeatureCollection, asking `row` for each (in words where
/// the columns need them), on every core a run at a time, each feature written as
/// `serde_json` writes a [`collection`] of [`feature_with`]'s features, byte for byte (the
/// collection's members after its features); `ranking` gives the rank column, the columns
/// kept and the breakdown's weights.
#[allow(clippy::too_many_arguments)]
pub fn write_geojson_rows(
    w: &mut dyn Write,
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    ranking: &Ranking,
    len: usize,
    row: &(dyn Fn(usize) -> Ranked + Sync),
    notes: &Map<String, Json>,
) -> Result<(), OutputError> {
    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[")?;
    let keep = ranking.columns.names();
    write_runs(w, len, 512, &|ks, buf| {
        for &k in ks {
            if k > 0 {
                buf.push(b',');
            }
            let r = row(k);
            write_feature(buf, atlas, units, contexts, ranking, &r, keep, None)?;
        }
        Ok(())
    })?;
    w.write_all(b"]")?;
    for (k, v) in notes {
        w.write_all(b",")?;
        serde_json::to_writer(&mut *w, k).map_err(std::io::Error::from)?;
        w.write_all(b":")?;
        serde_json::to_writer(&mut *w, v).map_err(std::io::Error::from)?;
    }
    w.write_all(b"}\n")?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A record as [`CsvRow`] writes it.
    fn ours(record: &[String]) -> Vec<u8> {
        let mut out = vec![];
        let mut row = CsvRow {
            out: &mut out,
            cells: 0,
            last_empty: false,
        };
        for f in record {
            row.field(f.as_bytes());
        }
        row.end(record.len()).unwrap();
        out
    }

    /// The same record as the `csv` crate's default writer writes it.
    fn theirs(record: &[String]) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(vec![]);
        w.write_record(record).unwrap();
        w.into_inner().unwrap()
    }

    #[test]
    fn cells_are_written_as_the_csv_crate_writes_them() {
        for record in [
            vec![String::new()],
            vec![String::new(), String::new()],
            vec![
                "a,b".into(),
                "say \"hi\"".into(),
                "line\nbreak".into(),
                "cr\r".into(),
            ],
            vec!["\"".into(), "\"\"".into(), "plain".into(), "£ m²".into()],
        ] {
            assert_eq!(ours(&record), theirs(&record), "{record:?}");
        }
        let mut out = vec![];
        let row = CsvRow {
            out: &mut out,
            cells: 2,
            last_empty: false,
        };
        assert!(row.end(3).is_err(), "a row short of the header's cells");
    }

    proptest! {
        #[test]
        fn any_record_is_written_as_the_csv_crate_writes_it(
            record in proptest::collection::vec("[a-z ,\"\r\n\t'=£é]{0,12}", 1..6)
        ) {
            prop_assert_eq!(ours(&record), theirs(&record));
        }
    }
}
