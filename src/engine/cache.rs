//! The joined units kept between runs, so that a server or a ranking over the same large units
//! files starts without importing and joining them again.
//!
//! After units files of over a megabyte are imported, grouped into sites and joined, the result
//! (every unit, its join, the rows skipped and the notes) is written to the per-user cache folder
//! (`$XDG_CACHE_HOME/sitefinder`, else `~/.cache/sitefinder`) as
//! `joined-<key>.v<version>.bin`, atomically (a private part-file renamed into place). The next
//! run reads it instead if its [`Key`] is the same: this build's source (a hash the build
//! script makes of `src/`, `Cargo.toml` and `Cargo.lock`), the data folder (every file's path,
//! size and time, and its manifest's bytes), the settings that change a join (`--imd`,
//! `--reach-m`, the catchments and their file's bytes, `--skip-invalid`,
//! `--max-units-file-mb`, PROJ's environment) and every units file's name and bytes. A units
//! file changed while it was imported is not kept. The front of the file, each run of units and
//! the table of runs carry a hash of their bytes; any difference, a short or torn file, a length
//! beyond the file, or an index beyond the data's layers, and the units are imported and joined
//! again. At most [`KEEP`] such files are kept (the least recently used are removed, with
//! part-files an hour old).
//!
//! A server also keeps what it prepares over the units (their settled criterion values and id
//! order, [`crate::analysis::prepared`]) beside them, as `prepared-<key>.v<version>.bin`
//! under the same key, with its count of units and a hash of all its bytes checked
//! ([`write_prepared`], [`read_prepared`]); it goes when its joined units go.
//!
//! ```
//! # use sitefinder::engine::cache::Key;
//! let dir = tempfile::tempdir().unwrap();
//! let units = dir.path().join("units.csv");
//! std::fs::write(&units, "id,lat,lon\n1,53.6,-2.1\n").unwrap();
//! let mut a = Key::new();
//! a.file(&units).unwrap();
//! let mut b = Key::new();
//! b.file(&units).unwrap();
//! assert_eq!(a, b);
//! // The same path with other bytes is another key.
//! std::fs::write(&units, "id,lat,lon\n1,53.6,-2.2\n").unwrap();
//! let mut c = Key::new();
//! c.file(&units).unwrap();
//! assert_ne!(a, c);
//! ```

use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::analysis::join::{Context, Reach};
use crate::analysis::prepared::{Kept, Record, N_SETTLED, RECORD_BYTES};
use crate::base::date::Date;
use crate::base::text::Text;
use crate::ingest::catchment::Cover;
use crate::ingest::premises;
use crate::ingest::units::{LocatedBy, Place, Skipped, Unit};
use crate::reference::atlas::Atlas;

const MAGIC: &[u8; 8] = b"SFJOINED";
/// Bump when the layout changes (the source hash in the [`Key`] covers the rest).
const VERSION: u32 = 1;
/// Magic, version, a reserved word, the key (two words), the front's length and hash, the
/// table's offset and hash.
const HEADER: usize = 8 + 4 + 4 + 8 * 6;
/// Units per run: each run is written and read on its own core.
const RUN: usize = 32_768;
/// Runs read or written at once: one for each core, two to eight (bounds the bytes held: about
/// 12 MB a run).
fn runs_at_once() -> usize {
    rayon::current_num_threads().clamp(2, 8)
}
/// The fewest bytes a unit and its join take (its fixed-width fields).
const MIN_RECORD: u64 = 60;
/// Joined-units files kept in the cache folder.
pub const KEEP: usize = 4;
/// Units files smaller than this in all are imported and joined each time (a fraction of a
/// second): only larger ones are kept.
pub const MIN_BYTES: u64 = 1_000_000;

/// What joined units were made from. Two runs with equal keys join the same units the same
/// way.
#[derive(Debug, Clone)]
pub struct Key {
    material: Vec<u8>,
    /// Each file added, with its size and time of last change when it was hashed: a file
    /// changed since ([`Key::files_unchanged`]) may have been read with other bytes.
    files: Vec<(PathBuf, u64, Option<std::time::SystemTime>)>,
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.material == other.material
    }
}

impl Eq for Key {}

impl Default for Key {
    fn default() -> Key {
        Key::new()
    }
}

impl Key {
    /// A key naming this build: its version and the hash of its source.
    pub fn new() -> Key {
        let mut k = Key {
            material: vec![],
            files: vec![],
        };
        k.text("version", env!("CARGO_PKG_VERSION"));
        k.text("source", env!("SITEFINDER_SOURCE_HASH"));
        k
    }

    /// Adds a named value.
    pub fn text(&mut self, name: &str, value: &str) {
        for part in [name, value] {
            self.material
                .extend_from_slice(&(part.len() as u64).to_le_bytes());
            self.material.extend_from_slice(part.as_bytes());
        }
    }

    /// Adds a file: its full path and a hash of its bytes (read a megabyte at a time).
    pub fn file(&mut self, path: &Path) -> std::io::Result<()> {
        let full = std::fs::canonicalize(path)?;
        let mut f = std::fs::File::open(&full)?;
        let meta = f.metadata()?;
        let mut h = foldhash::fast::FixedState::with_seed(1).build_hasher();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            // Whole buffers (short reads filled up), so the same bytes hash the same.
            let mut n = 0;
            while n < buf.len() {
                match f.read(&mut buf[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            h.write(&buf[..n]);
            if n < buf.len() {
                break;
            }
        }
        self.text("file", &full.to_string_lossy());
        self.text("bytes", &format!("{:016x}", h.finish()));
        self.files.push((full, meta.len(), meta.modified().ok()));
        Ok(())
    }

    /// Whether every file added still has the size and time it had when it was hashed.
    pub fn files_unchanged(&self) -> bool {
        self.files.iter().all(|(p, len, changed)| {
            std::fs::metadata(p).is_ok_and(|m| m.len() == *len && m.modified().ok() == *changed)
        })
    }

    /// Adds a folder: its full path and each file's path, size and time of last change, every
    /// level down (following links), and the bytes of its `manifest.json`.
    pub fn folder(&mut self, dir: &Path) -> std::io::Result<()> {
        /// Files listed at most (a link that loops stops here).
        const MAX_FILES: usize = 100_000;
        let full = std::fs::canonicalize(dir)?;
        self.text("folder", &full.to_string_lossy());
        let mut files = vec![];
        let mut stack = vec![full.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d)? {
                let path = e?.path();
                let meta = std::fs::metadata(&path)?;
                if files.len() + stack.len() > MAX_FILES {
                    return Err(std::io::Error::other("too many files in the data folder"));
                }
                if meta.is_dir() {
                    stack.push(path);
                } else {
                    let changed = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    let rel = path.strip_prefix(&full).unwrap_or(&path).to_owned();
                    files.push((rel, meta.len(), changed));
                }
            }
        }
        files.sort();
        for (rel, len, changed) in files {
            self.text(&rel.to_string_lossy(), &format!("{len} {changed}"));
        }
        if let Ok(m) = std::fs::read(full.join("manifest.json")) {
            self.text("manifest", &format!("{:016x}", hash(1, &m)));
        }
        Ok(())
    }

    fn digest(&self) -> [u64; 2] {
        [hash(2, &self.material), hash(3, &self.material)]
    }
}

/// Units, their joins and what their import said, as kept.
#[derive(Debug)]
pub struct Joined {
    pub units: Vec<Unit>,
    /// `contexts[i]` is the join of `units[i]`.
    pub contexts: Vec<Context>,
    /// Rows skipped as invalid, with their file.
    pub skipped: Vec<(PathBuf, Skipped)>,
    /// Business-rates rows that were not empty.
    pub occupied: usize,
    pub notes: Vec<String>,
}

/// The sizes of the data's layers that a join's indexes point into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub lsoas: usize,
    pub practices: usize,
    pub vaccination_sites: usize,
    pub pharmacies: usize,
}

impl Bounds {
    /// Any index: for joined units read while the data loads, checked with
    /// [`Joined::within`] once it has.
    pub const ANY: Bounds = Bounds {
        lsoas: usize::MAX,
        practices: usize::MAX,
        vaccination_sites: usize::MAX,
        pharmacies: usize::MAX,
    };

    /// The layers of `atlas`.
    pub fn of(atlas: &Atlas) -> Bounds {
        Bounds {
            lsoas: atlas.lsoas.len(),
            practices: atlas.practices.len(),
            vaccination_sites: atlas.vaccination_sites.sites.len(),
            pharmacies: atlas.pharmacies.sites.len(),
        }
    }
}

impl Joined {
    /// Whether every index of the units and their joins is inside `b`'s layers (on every
    /// core).
    pub fn within(&self, b: Bounds) -> bool {
        let near = |n: Option<(u32, f64)>, len: usize| n.is_none_or(|(i, _)| (i as usize) < len);
        self.units.par_iter().zip(&self.contexts).all(|(u, c)| {
            u.lsoa.is_none_or(|l| l < b.lsoas)
                && c.lsoa < b.lsoas
                && c.nearest_practices.iter().all(|p| p.0 < b.practices)
                && c.catchment.iter().all(|k| k.practice < b.practices)
                && near(c.nearest_vaccination_site, b.vaccination_sites)
                && near(c.nearest_pharmacy, b.pharmacies)
        })
    }
}

/// What is written: the parts of an engine.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub units: &'a [Unit],
    pub contexts: &'a [Context],
    /// The units files, in order: a skipped row names one by its place here.
    pub files: &'a [PathBuf],
    pub skipped: &'a [(PathBuf, Skipped)],
    pub occupied: usize,
    pub notes: &'a [String],
}

/// The file in `cache` that keeps joined units made under `key` (one file per key, so runs
/// with other settings over the same files keep theirs beside it).
pub fn path_for(cache: &Path, key: &Key) -> PathBuf {
    cache.join(format!("joined-{:016x}.v{VERSION}.bin", key.digest()[0]))
}

/// The file beside joined units `joined` that keeps what a server prepared over them.
pub fn prepared_path(joined: &Path) -> PathBuf {
    let name = joined.file_name().unwrap_or_default().to_string_lossy();
    let name = name.strip_prefix("joined-").unwrap_or(&name);
    joined.with_file_name(format!("prepared-{name}"))
}

const PREPARED_MAGIC: &[u8; 8] = b"SFPREPAR";
/// The prepared file's layout: 2 keeps records in the grid's order (1 kept values in unit
/// order).
const PREPARED_VERSION: u32 = 2;
/// Magic, version, the settled criteria per unit, the key (two words), the units, the hash.
const PREPARED_HEADER: usize = 8 + 4 + 4 + 8 * 4;
/// Bytes hashed (and written or read) at a time.
const PREPARED_CHUNK: usize = 1 << 20;

/// The bytes of the prepared records then the id order, a chunk at a time.
fn prepared_bytes(kept: Kept<'_>) -> impl Iterator<Item = Vec<u8>> + '_ {
    let records = kept
        .records
        .chunks(PREPARED_CHUNK / RECORD_BYTES)
        .map(|rs| {
            let mut b = Vec::with_capacity(rs.len() * RECORD_BYTES);
            for r in rs {
                b.extend_from_slice(&r.to_bytes());
            }
            b
        });
    let order = kept.by_id.chunks(PREPARED_CHUNK / 4).map(|us| {
        let mut b = Vec::with_capacity(us.len() * 4);
        for u in us {
            b.extend_from_slice(&u.to_le_bytes());
        }
        b
    });
    records.chain(order)
}

/// A private part-file beside `path` (its folder made if need be), named `prefix...part`, to be
/// renamed into place once whole ([`prune`] removes those an hour old).
fn part_file(path: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".part")
        .tempfile_in(dir)
}

/// Writes what a server prepared over the joined units kept under `key` to `path`
/// (atomically). Returns the bytes written.
pub fn write_prepared(path: &Path, key: &Key, kept: Kept<'_>) -> Result<u64, CacheError> {
    let mut part = part_file(path, ".prepared.")?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, part.as_file_mut());
    out.write_all(&[0; PREPARED_HEADER])?;
    let mut h = foldhash::fast::FixedState::with_seed(6).build_hasher();
    let mut written = PREPARED_HEADER as u64;
    for b in prepared_bytes(kept) {
        h.write(&b);
        out.write_all(&b)?;
        written += b.len() as u64;
    }
    let mut head = Out::default();
    head.0.extend_from_slice(PREPARED_MAGIC);
    head.u32(PREPARED_VERSION);
    head.u32(N_SETTLED as u32);
    let [k0, k1] = key.digest();
    head.u64(k0);
    head.u64(k1);
    head.u64(kept.records.len() as u64);
    head.u64(h.finish());
    out.seek(SeekFrom::Start(0))?;
    out.write_all(&head.0)?;
    out.flush()?;
    drop(out);
    part.persist(path).map_err(|e| e.error)?;
    Ok(written)
}

/// What a server prepared over `units` joined units kept under `key`, kept at `path`: their
/// records (settled values and what else a ranking reads, in the grid's order) and id order
/// (checked against the key, the count, the size and the hash;
/// [`crate::analysis::prepared::Prepared::from_kept`] checks both orders).
pub type PreparedKept = (Vec<Record>, Vec<u32>);

/// Reads [`write_prepared`]'s file.
pub fn read_prepared(path: &Path, key: &Key, units: usize) -> Result<PreparedKept, CacheError> {
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; PREPARED_HEADER];
    file.read_exact(&mut head)
        .map_err(|_| CacheError::NotOurs)?;
    let mut h = In::new(&head);
    if h.take(8) != Some(&PREPARED_MAGIC[..])
        || h.u32() != Some(PREPARED_VERSION)
        || h.u32() != Some(N_SETTLED as u32)
    {
        return Err(CacheError::NotOurs);
    }
    let [k0, k1] = key.digest();
    if h.u64() != Some(k0) || h.u64() != Some(k1) {
        return Err(CacheError::OtherKey);
    }
    if h.u64() != Some(units as u64) {
        return Err(CacheError::OtherKey);
    }
    let want_hash = h.u64().ok_or(damaged("header"))?;
    let row = RECORD_BYTES;
    let body = (units as u64).checked_mul(row as u64 + 4);
    if body.and_then(|b| b.checked_add(PREPARED_HEADER as u64)) != Some(file.metadata()?.len()) {
        return Err(damaged("length"));
    }
    let mut hasher = foldhash::fast::FixedState::with_seed(6).build_hasher();
    let mut buf = vec![0u8; PREPARED_CHUNK];
    let mut records: Vec<Record> = Vec::with_capacity(units);
    // The same chunks as written, so the hash sees the same writes.
    let per = PREPARED_CHUNK / row;
    while records.len() < units {
        let n = per.min(units - records.len());
        let b = &mut buf[..n * row];
        file.read_exact(b)?;
        hasher.write(b);
        for r in b.chunks_exact(row) {
            let r = r.try_into().ok().and_then(Record::from_bytes);
            records.push(r.ok_or(damaged("prepared record"))?);
        }
    }
    let mut by_id: Vec<u32> = Vec::with_capacity(units);
    let per = PREPARED_CHUNK / 4;
    while by_id.len() < units {
        let n = per.min(units - by_id.len());
        let b = &mut buf[..n * 4];
        file.read_exact(b)?;
        hasher.write(b);
        by_id.extend(
            b.chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default())),
        );
    }
    if hasher.finish() != want_hash {
        return Err(damaged("prepared values"));
    }
    Ok((records, by_id))
}

fn hash(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(seed).build_hasher();
    h.write(bytes);
    h.finish()
}

/// Why a kept file was not used or not written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("made from other files or settings")]
    OtherKey,
    #[error("not a joined-units file of this version")]
    NotOurs,
    #[error("damaged: {0}")]
    Damaged(&'static str),
    #[error(
        "a unit's reason for being unable to hold a clinic is not one of the known reasons: {0}"
    )]
    UnknownReason(String),
}

fn damaged(what: &'static str) -> CacheError {
    CacheError::Damaged(what)
}

/// Writes `parts` to `path` under `key` (atomically), then removes all but the [`KEEP`] most
/// recently used joined-units files beside it. Returns the bytes written.
pub fn write(path: &Path, key: &Key, parts: Parts<'_>) -> Result<u64, CacheError> {
    let reasons: Vec<&'static str> = premises::reasons().collect();
    let mut sources: Vec<&str> = vec![];
    let mut covers: Vec<&Arc<[Cover]>> = vec![];
    let mut cover_at: foldhash::HashMap<usize, u32> = Default::default();
    for u in parts.units {
        if !sources.contains(&&*u.source) {
            sources.push(&u.source);
        }
        if let Some(why) = u.unsuitable.filter(|w| !reasons.contains(w)) {
            return Err(CacheError::UnknownReason(why.to_string()));
        }
    }
    let cover_of: Vec<u32> = parts
        .contexts
        .iter()
        .map(|c| {
            let at = Arc::as_ptr(&c.catchment) as *const Cover as usize;
            *cover_at.entry(at).or_insert_with(|| {
                covers.push(&c.catchment);
                (covers.len() - 1) as u32
            })
        })
        .collect();

    let mut front = Out::default();
    front.u32(parts.notes.len() as u32);
    for n in parts.notes {
        front.str(n);
    }
    front.u64(parts.occupied as u64);
    front.u32(parts.skipped.len() as u32);
    for (file, s) in parts.skipped {
        let at = parts.files.iter().position(|f| f == file).unwrap_or(0);
        front.u32(at as u32);
        front.place(s.place);
        front.str(&s.reason);
    }
    front.u32(sources.len() as u32);
    for s in &sources {
        front.str(s);
    }
    front.u32(covers.len() as u32);
    for c in &covers {
        front.u32(c.len() as u32);
        for cover in c.iter() {
            front.u32(cover.practice as u32);
            front.opt_f64(cover.share);
        }
    }
    front.u64(parts.units.len() as u64);

    let dir = path.parent().unwrap_or(Path::new("."));
    let mut part = part_file(path, ".joined.")?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, part.as_file_mut());
    out.write_all(&[0; HEADER])?;
    out.write_all(&front.0)?;
    let mut table = Out::default();
    let runs: Vec<(&[Unit], &[Context], &[u32])> = parts
        .units
        .chunks(RUN)
        .zip(parts.contexts.chunks(RUN))
        .zip(cover_of.chunks(RUN))
        .map(|((u, c), k)| (u, c, k))
        .collect();
    table.u32(runs.len() as u32);
    let mut written = (HEADER + front.0.len()) as u64;
    for group in runs.chunks(runs_at_once()) {
        let bytes: Vec<Vec<u8>> = group
            .par_iter()
            .map(|(units, contexts, covers)| {
                // About 330 bytes a unit and its join (a synthetic national file's): room
                // for more, so the buffer is not grown to twice that by copying.
                let mut o = Out(Vec::with_capacity(units.len() * 384));
                for ((u, c), k) in units.iter().zip(*contexts).zip(*covers) {
                    o.unit(u, &sources, &reasons);
                    o.context(c, *k);
                }
                o.0
            })
            .collect();
        for b in bytes {
            out.write_all(&b)?;
            table.u64(b.len() as u64);
            table.u64(hash(5, &b));
            written += b.len() as u64;
        }
    }
    let table_at = written;
    out.write_all(&table.0)?;
    written += table.0.len() as u64;
    let mut head = Out::default();
    head.0.extend_from_slice(MAGIC);
    head.u32(VERSION);
    head.u32(0);
    let [k0, k1] = key.digest();
    head.u64(k0);
    head.u64(k1);
    head.u64(front.0.len() as u64);
    head.u64(hash(5, &front.0));
    head.u64(table_at);
    head.u64(hash(5, &table.0));
    out.seek(SeekFrom::Start(0))?;
    out.write_all(&head.0)?;
    out.flush()?;
    drop(out);
    // Not synced: a file torn by a crash fails its hashes and is made again.
    part.persist(path).map_err(|e| e.error)?;
    prune(dir);
    Ok(written)
}

/// Removes all but the [`KEEP`] most recently changed joined-units files in `dir` (and what
/// was prepared over those it removes), and part-files an hour old (left by a run killed
/// while writing).
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3_600);
    let mut kept: Vec<(std::time::SystemTime, PathBuf)> = vec![];
    let mut prepared = vec![];
    for e in entries.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        let Some(changed) = e.metadata().ok().and_then(|m| m.modified().ok()) else {
            continue;
        };
        if n.starts_with("joined-") && n.ends_with(".bin") {
            kept.push((changed, e.path()));
        } else if let Some(rest) = n.strip_prefix("prepared-").filter(|n| n.ends_with(".bin")) {
            prepared.push((e.path(), dir.join(format!("joined-{rest}"))));
        } else if (n.starts_with(".joined.") || n.starts_with(".prepared."))
            && n.ends_with(".part")
            && changed < hour_ago
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
    kept.sort_by_key(|k| std::cmp::Reverse(k.0));
    for (_, p) in kept.into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(p);
    }
    // What was prepared over joined units no longer kept goes with them.
    for (p, joined) in prepared {
        if !joined.exists() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The joined units kept at `path`, if they were made under `key`. `files` are the units
/// files (skipped rows name them by their place in it); `bounds` are the layers of the data
/// the units were joined with (every index is checked against them; with [`Bounds::ANY`],
/// check [`Joined::within`] after).
pub fn read(
    path: &Path,
    key: &Key,
    files: &[PathBuf],
    bounds: Bounds,
) -> Result<Joined, CacheError> {
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; HEADER];
    file.read_exact(&mut head)
        .map_err(|_| CacheError::NotOurs)?;
    let mut h = In::new(&head);
    if h.take(8) != Some(&MAGIC[..]) || h.u32() != Some(VERSION) {
        return Err(CacheError::NotOurs);
    }
    let _reserved = h.u32();
    let [k0, k1] = key.digest();
    if h.u64() != Some(k0) || h.u64() != Some(k1) {
        return Err(CacheError::OtherKey);
    }
    let (front_len, front_hash, table_at, table_hash) = (|| {
        Some((
            usize::try_from(h.u64()?).ok()?,
            h.u64()?,
            h.u64()?,
            h.u64()?,
        ))
    })()
    .ok_or(damaged("header"))?;
    let size = file.metadata()?.len();
    let front_end = (HEADER as u64)
        .checked_add(front_len as u64)
        .filter(|&e| e <= table_at && table_at <= size)
        .ok_or(damaged("lengths"))?;
    let mut front = vec![0; front_len];
    file.read_exact(&mut front)?;
    if hash(5, &front) != front_hash {
        return Err(damaged("front"));
    }
    let mut table = vec![];
    file.seek(SeekFrom::Start(table_at))?;
    file.read_to_end(&mut table)?;
    if hash(5, &table) != table_hash {
        return Err(damaged("table of runs"));
    }

    let mut f = In::new(&front);
    let bad = || damaged("front");
    let notes = (0..f.u32().ok_or_else(bad)?)
        .map(|_| f.string())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    let occupied = f.u64().ok_or_else(bad)? as usize;
    let skipped = (0..f.u32().ok_or_else(bad)?)
        .map(|_| {
            let file = files.get(f.u32()? as usize)?.clone();
            let place = f.place()?;
            let reason = f.string()?;
            Some((file, Skipped { place, reason }))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    let sources = (0..f.u32().ok_or_else(bad)?)
        .map(|_| f.string().map(Arc::from))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    let practices = bounds.practices;
    let covers: Vec<Arc<[Cover]>> = (0..f.u32().ok_or_else(bad)?)
        .map(|_| {
            (0..f.u32()?)
                .map(|_| {
                    Some(Cover {
                        practice: index(f.u32()?, practices)?,
                        share: f.opt_f64()?,
                    })
                })
                .collect::<Option<Vec<_>>>()
                .map(Arc::from)
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    let count = usize::try_from(f.u64().ok_or_else(bad)?).map_err(|_| bad())?;

    let mut t = In::new(&table);
    let runs = (0..t.u32().ok_or(damaged("table of runs"))?)
        .map(|_| Some((t.u64()?, t.u64()?)))
        .collect::<Option<Vec<_>>>()
        .ok_or(damaged("table of runs"))?;
    let body = runs
        .iter()
        .try_fold(0u64, |sum, r| sum.checked_add(r.0))
        .ok_or(damaged("table of runs"))?;
    // Each unit takes at least MIN_RECORD bytes: a count the runs cannot hold is damage (and
    // is never allocated for).
    if runs.len() != count.div_ceil(RUN)
        || body != table_at - front_end
        || (count as u64).saturating_mul(MIN_RECORD) > body
    {
        return Err(damaged("table of runs"));
    }
    let ctx = Decode {
        reasons: premises::reasons().collect(),
        sources,
        covers,
        lsoas: bounds.lsoas,
        practices,
        vaccination_sites: bounds.vaccination_sites,
        pharmacies: bounds.pharmacies,
    };
    file.seek(SeekFrom::Start(front_end))?;
    let mut units = Vec::with_capacity(count);
    let mut contexts = Vec::with_capacity(count);
    let at_once = runs_at_once();
    for (g, group) in runs.chunks(at_once).enumerate() {
        let mut bytes = vec![0; group.iter().map(|r| r.0 as usize).sum()];
        file.read_exact(&mut bytes)?;
        let mut slices = vec![];
        let mut rest = &bytes[..];
        for (len, h) in group {
            let (this, more) = rest.split_at(*len as usize);
            slices.push((this, *h));
            rest = more;
        }
        let first = g * at_once * RUN;
        let decoded = slices
            .par_iter()
            .enumerate()
            .map(|(i, (b, h))| {
                if hash(5, b) != *h {
                    return Err(damaged("a run of units"));
                }
                let n = RUN.min(count - (first + i * RUN).min(count));
                ctx.run(b, n).ok_or(damaged("a run of units"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (u, c) in decoded {
            units.extend(u);
            contexts.extend(c);
        }
    }
    if units.len() != count {
        return Err(damaged("count"));
    }
    // Kept as recently used, so pruning removes others first.
    let _ = std::fs::File::options()
        .append(true)
        .open(path)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
    Ok(Joined {
        units,
        contexts,
        skipped,
        occupied,
        notes,
    })
}

fn index(v: u32, len: usize) -> Option<usize> {
    ((v as usize) < len).then_some(v as usize)
}

/// What a run of units is read with: the tables of the front and the sizes of the data's
/// layers.
struct Decode {
    reasons: Vec<&'static str>,
    sources: Vec<Arc<str>>,
    covers: Vec<Arc<[Cover]>>,
    lsoas: usize,
    practices: usize,
    vaccination_sites: usize,
    pharmacies: usize,
}

impl Decode {
    /// `n` units and their joins from `bytes`, which must hold exactly them.
    fn run(&self, bytes: &[u8], n: usize) -> Option<(Vec<Unit>, Vec<Context>)> {
        let mut r = In::new(bytes);
        let mut units = Vec::with_capacity(n);
        let mut contexts = Vec::with_capacity(n);
        let mut texts = crate::base::intern::Interner::default();
        for _ in 0..n {
            units.push(self.unit(&mut r, &mut texts)?);
            contexts.push(self.context(&mut r)?);
        }
        r.rest().is_empty().then_some((units, contexts))
    }

    fn unit(&self, r: &mut In<'_>, texts: &mut crate::base::intern::Interner) -> Option<Unit> {
        Some(Unit {
            id: Text::from(r.str()?),
            name: Text::from(r.str()?),
            address: Text::from(r.str()?),
            postcode: r.opt_str()?.map(Text::from),
            pos: [r.f64()?, r.f64()?],
            located_by: match r.u8()? {
                0 => LocatedBy::Coordinates,
                1 => LocatedBy::Postcode,
                _ => return None,
            },
            lsoa: r.opt_index(self.lsoas)?,
            floor_area_m2: r.opt_f64()?,
            rateable_value: r.opt_f64()?,
            ground_floor: match r.u8()? {
                0 => None,
                1 => Some(false),
                2 => Some(true),
                _ => return None,
            },
            vacant_since: r.opt_date()?,
            list_date: r.opt_date()?,
            description: texts.opt(r.opt_str()?),
            unsuitable: match r.u32()? {
                0 => None,
                i => Some(*self.reasons.get(i as usize - 1)?),
            },
            site_id: Text::from(r.str()?),
            site_units: usize::try_from(r.u64()?).ok()?,
            council: texts.opt(r.opt_str()?),
            source: self.sources.get(r.u32()? as usize)?.clone(),
            place: r.place()?,
        })
    }

    fn context(&self, r: &mut In<'_>) -> Option<Context> {
        let lsoa = index(r.u32()?, self.lsoas)?;
        let lsoa_snapped_m = r.opt_f64()?;
        let lonlat = match r.u8()? {
            0 => None,
            1 => Some([r.f64()?, r.f64()?]),
            _ => return None,
        };
        let n = r.u32()? as usize;
        if n > crate::analysis::join::NEAREST_MAX {
            return None;
        }
        let mut pairs = [(0, 0.0); crate::analysis::join::NEAREST_MAX];
        for pair in &mut pairs[..n] {
            *pair = (index(r.u32()?, self.practices)?, r.f64()?);
        }
        let nearest_practices =
            crate::analysis::join::Nearest::from_pairs(pairs[..n].iter().copied());
        let catchment = self.covers.get(r.u32()? as usize)?.clone();
        Some(Context {
            lsoa,
            lsoa_snapped_m,
            lonlat,
            nearest_practices,
            catchment,
            catchment_patients: r.u64()?,
            reach: Reach {
                population: r.f64()?,
                imd_score: r.opt_f64()?,
            },
            stops_near: match r.u8()? {
                0 => None,
                1 => Some(u32::try_from(r.u64()?).ok()?),
                _ => return None,
            },
            nearest_vaccination_site: r.opt_near(self.vaccination_sites)?,
            nearest_pharmacy: r.opt_near(self.pharmacies)?,
        })
    }
}

/// Bytes being written, little-endian.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn opt_f64(&mut self, v: Option<f64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.f64(v);
            }
        }
    }
    fn opt_date(&mut self, d: Option<Date>) {
        match d {
            None => self.u8(0),
            Some(d) => {
                self.u8(1);
                self.0.extend_from_slice(&d.days().to_le_bytes());
            }
        }
    }
    fn opt_near(&mut self, v: Option<(u32, f64)>) {
        match v {
            None => self.u8(0),
            Some((i, d)) => {
                self.u8(1);
                self.u32(i);
                self.f64(d);
            }
        }
    }
    fn place(&mut self, p: Place) {
        let (tag, at) = match p {
            Place::Line(l) => (0, l),
            Place::Feature(f) => (1, f),
        };
        self.u8(tag);
        self.u64(at as u64);
    }

    fn unit(&mut self, u: &Unit, sources: &[&str], reasons: &[&str]) {
        self.str(&u.id);
        self.str(&u.name);
        self.str(&u.address);
        self.opt_str(u.postcode.as_deref());
        self.f64(u.pos[0]);
        self.f64(u.pos[1]);
        self.u8(match u.located_by {
            LocatedBy::Coordinates => 0,
            LocatedBy::Postcode => 1,
        });
        self.u32(u.lsoa.map_or(u32::MAX, |l| l as u32));
        self.opt_f64(u.floor_area_m2);
        self.opt_f64(u.rateable_value);
        self.u8(match u.ground_floor {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        });
        self.opt_date(u.vacant_since);
        self.opt_date(u.list_date);
        self.opt_str(u.description.as_deref());
        // Every reason is listed ([`write`] checks first).
        let why = u
            .unsuitable
            .and_then(|w| reasons.iter().position(|r| *r == w))
            .map_or(0, |i| i as u32 + 1);
        self.u32(why);
        self.str(&u.site_id);
        self.u64(u.site_units as u64);
        self.opt_str(u.council.as_deref());
        let source = sources.iter().position(|s| **s == *u.source).unwrap_or(0);
        self.u32(source as u32);
        self.place(u.place);
    }

    fn context(&mut self, c: &Context, cover: u32) {
        self.u32(c.lsoa as u32);
        self.opt_f64(c.lsoa_snapped_m);
        match c.lonlat {
            None => self.u8(0),
            Some([lon, lat]) => {
                self.u8(1);
                self.f64(lon);
                self.f64(lat);
            }
        }
        self.u32(c.nearest_practices.len() as u32);
        for (p, d) in c.nearest_practices.iter() {
            self.u32(p as u32);
            self.f64(d);
        }
        self.u32(cover);
        self.u64(c.catchment_patients);
        self.f64(c.reach.population);
        self.opt_f64(c.reach.imd_score);
        match c.stops_near {
            None => self.u8(0),
            Some(n) => {
                self.u8(1);
                self.u64(u64::from(n));
            }
        }
        self.opt_near(c.nearest_vaccination_site);
        self.opt_near(c.nearest_pharmacy);
    }
}

/// Bytes being read: every read checks there are enough.
struct In<'a> {
    bytes: &'a [u8],
}

impl<'a> In<'a> {
    fn new(bytes: &'a [u8]) -> In<'a> {
        In { bytes }
    }
    fn rest(&self) -> &'a [u8] {
        self.bytes
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (a, b) = self.bytes.split_at(n);
        self.bytes = b;
        Some(a)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.array()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    /// Text borrowed from the bytes read.
    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
    fn opt_str(&mut self) -> Option<Option<&'a str>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }
    fn opt_f64(&mut self) -> Option<Option<f64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.f64()?)),
            _ => None,
        }
    }
    fn opt_date(&mut self) -> Option<Option<Date>> {
        match self.u8()? {
            0 => Some(None),
            1 => {
                let days = i32::from_le_bytes(self.array()?);
                // Within about 8,000 years of 1970: any date a list holds, and none that
                // overflows when it is written out.
                (days.unsigned_abs() <= 3_000_000).then(|| Some(Date::from_days(days)))
            }
            _ => None,
        }
    }
    /// An index below `len`, or `u32::MAX` for none.
    fn opt_index(&mut self, len: usize) -> Option<Option<usize>> {
        match self.u32()? {
            u32::MAX => Some(None),
            v => Some(Some(index(v, len)?)),
        }
    }
    fn opt_near(&mut self, len: usize) -> Option<Option<(u32, f64)>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some((index(self.u32()?, len)? as u32, self.f64()?))),
            _ => None,
        }
    }
    fn place(&mut self) -> Option<Place> {
        let tag = self.u8()?;
        let at = usize::try_from(self.u64()?).ok()?;
        match tag {
            0 => Some(Place::Line(at)),
            1 => Some(Place::Feature(at)),
            _ => None,
        }
    }
}
