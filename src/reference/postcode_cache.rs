//! A binary copy of the postcode table, kept in the per-user cache folder
//! (`$XDG_CACHE_HOME/sitefinder`, else `~/.cache/sitefinder`; never in the data folder, whose
//! files are the data), so that start-up does not parse 1.5 million CSV rows (about 0.7 s) each
//! time a units file with postcodes is read.
//!
//! The copy is made the first time the table is read and then used while it still matches:
//! its header holds a format version, a hash of the CSV file's bytes, a hash of the LSOA codes
//! in atlas order (the rows point into them) with the release that read them, the postcode
//! column used, the row count, and a checksum of the rows. Any difference, a short file or a bad checksum, and the CSV is read
//! again and the copy rewritten (atomically: a private part-file renamed into place). Without a
//! cache folder, or one that cannot be written to, the CSV is simply read each time.
//!
//! ```
//! use sitefinder::reference::postcode::{key, Centroid, PostcodeTable};
//! use sitefinder::reference::postcode_cache;
//! let dir = tempfile::tempdir().unwrap();
//! let cache = dir.path().join("cache");
//! let csv = dir.path().join("postcodes.csv.gz");
//! std::fs::write(&csv, b"any bytes: the copy is keyed by them").unwrap();
//! let rows = vec![Centroid { key: key("OL161AB"), pos: [389000.0, 413000.0], lsoa: Some(7) }];
//! let build = || Ok::<_, String>(PostcodeTable::new(rows.clone()));
//! let codes = ["E01000001".to_string()];
//! let first = postcode_cache::load_or_build_in(Some(&cache), &csv, &codes, 4, build).unwrap();
//! assert!(postcode_cache::cache_path(&cache, &csv, 4).exists());
//! // The second read comes from the copy: the builder is not called.
//! let again = postcode_cache::load_or_build_in(Some(&cache), &csv, &codes, 4, || {
//!     Err("not called".to_string())
//! })
//! .unwrap();
//! assert_eq!(again.lookup("ol16 1ab").unwrap().pos, first.lookup("OL16 1AB").unwrap().pos);
//! ```

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::reference::postcode::{Centroid, PostcodeTable};

const MAGIC: &[u8; 8] = b"SFPCODE\0";
/// Bump when the layout changes.
const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 4 + 8 * 4;
const ROW: usize = 8 + 8 + 8 + 4;

/// Where the copy of `csv`'s table (read with postcode column `col`) lives in `cache`: one
/// file per data folder (named by a hash of the CSV's full path).
pub fn cache_path(cache: &Path, csv: &Path, col: usize) -> PathBuf {
    let full = std::fs::canonicalize(csv).unwrap_or_else(|_| csv.to_path_buf());
    let h = hash(&[full.as_os_str().as_encoded_bytes()]);
    cache.join(format!("postcodes-{h:016x}-col{col}.v{VERSION}.bin"))
}

fn hash(parts: &[&[u8]]) -> u64 {
    // SipHash with fixed keys: the same bytes give the same hash in every run of one build
    // (a build whose hasher differs only rebuilds the copy).
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x5f1e_d0c0, 0x7a11_c0de);
    for p in parts {
        h.write(p);
    }
    h.finish()
}

/// The LSOA codes the rows point into, and the release that parsed the CSV (a release may
/// read it differently).
fn codes_hash(codes: &[String]) -> u64 {
    let joined: Vec<u8> = codes
        .iter()
        .flat_map(|c| c.bytes().chain([b'\n']))
        .collect();
    hash(&[env!("CARGO_PKG_VERSION").as_bytes(), &joined])
}

/// [`load_or_build_in`] the per-user cache folder.
pub fn load_or_build<E>(
    csv: &Path,
    codes: &[String],
    col: usize,
    build: impl FnOnce() -> Result<PostcodeTable, E>,
) -> Result<PostcodeTable, E> {
    let cache = crate::reference::location::user_cache_dir();
    load_or_build_in(cache.as_deref(), csv, codes, col, build)
}

/// The table from the copy in `cache` if it still matches `csv` and `codes`; else from
/// `build` (the CSV), writing the copy for next time. No `cache`: `build` every time.
pub fn load_or_build_in<E>(
    cache: Option<&Path>,
    csv: &Path,
    codes: &[String],
    col: usize,
    build: impl FnOnce() -> Result<PostcodeTable, E>,
) -> Result<PostcodeTable, E> {
    let Some(cache) = cache else {
        return build();
    };
    let source = std::fs::read(csv).ok();
    let key = source
        .as_ref()
        .map(|s| (hash(&[s]), codes_hash(codes), col as u64));
    let path = cache_path(cache, csv, col);
    if let Some(k) = key {
        if let Some(t) = read_copy(&path, k) {
            return Ok(t);
        }
    }
    let table = build()?;
    if let Some(k) = key {
        if let Err(e) = write_copy(&path, k, &table) {
            tracing::debug!("no postcode copy at {}: {e}", path.display());
        }
    }
    Ok(table)
}

fn read_copy(path: &Path, (source, codes, col): (u64, u64, u64)) -> Option<PostcodeTable> {
    let bytes = std::fs::read(path).ok()?;
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    if bytes.len() < HEADER || &bytes[..8] != MAGIC || u32_at(8) != VERSION {
        return None;
    }
    if u32_at(12) as u64 != col || u64_at(16) != source || u64_at(24) != codes {
        return None;
    }
    let count = usize::try_from(u64_at(32)).ok()?;
    let body = &bytes[HEADER..];
    if body.len() != count.checked_mul(ROW)? || hash(&[body]) != u64_at(40) {
        return None;
    }
    let rows = body
        .chunks_exact(ROW)
        .map(|r| {
            let f = |i: usize| f64::from_le_bytes(r[i..i + 8].try_into().expect("8 bytes"));
            let lsoa = u32::from_le_bytes(r[24..28].try_into().expect("4 bytes"));
            Centroid {
                key: u64::from_le_bytes(r[..8].try_into().expect("8 bytes")),
                pos: [f(8), f(16)],
                lsoa: (lsoa != u32::MAX).then_some(lsoa),
            }
        })
        .collect();
    Some(PostcodeTable::from_sorted(rows))
}

fn write_copy(
    path: &Path,
    (source, codes, col): (u64, u64, u64),
    table: &PostcodeTable,
) -> std::io::Result<()> {
    let rows = table.rows();
    let mut body = Vec::with_capacity(rows.len() * ROW);
    for r in rows {
        body.extend_from_slice(&r.key.to_le_bytes());
        body.extend_from_slice(&r.pos[0].to_le_bytes());
        body.extend_from_slice(&r.pos[1].to_le_bytes());
        body.extend_from_slice(&r.lsoa.unwrap_or(u32::MAX).to_le_bytes());
    }
    let mut head = Vec::with_capacity(HEADER);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&VERSION.to_le_bytes());
    head.extend_from_slice(&(col as u32).to_le_bytes());
    head.extend_from_slice(&source.to_le_bytes());
    head.extend_from_slice(&codes.to_le_bytes());
    head.extend_from_slice(&(rows.len() as u64).to_le_bytes());
    head.extend_from_slice(&hash(&[&body]).to_le_bytes());
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut part = tempfile::Builder::new()
        .prefix(".postcodes.")
        .suffix(".part")
        .tempfile_in(dir)?;
    part.write_all(&head)?;
    part.write_all(&body)?;
    part.as_file().sync_all()?;
    part.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::postcode::key;

    thread_local! {
        static CACHE: std::cell::RefCell<PathBuf> = std::cell::RefCell::new(PathBuf::new());
    }

    fn load_or_build<E>(
        csv: &Path,
        codes: &[String],
        col: usize,
        build: impl FnOnce() -> Result<PostcodeTable, E>,
    ) -> Result<PostcodeTable, E> {
        let cache = CACHE.with(|c| c.borrow().clone());
        load_or_build_in(Some(&cache), csv, codes, col, build)
    }

    fn table() -> PostcodeTable {
        PostcodeTable::new(vec![
            Centroid {
                key: key("OL161AB"),
                pos: [389000.5, 413000.25],
                lsoa: Some(3),
            },
            Centroid {
                key: key("M11AA"),
                pos: [384000.0, 398000.0],
                lsoa: None,
            },
        ])
    }

    /// A copy that no longer matches (the CSV changed, the LSOAs changed, the file was cut
    /// short or a byte flipped) is not used: the CSV is read again and the copy rewritten.
    #[test]
    fn a_stale_or_damaged_copy_is_never_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        CACHE.with(|c| *c.borrow_mut() = cache.clone());
        let csv = dir.path().join("postcodes.csv.gz");
        std::fs::write(&csv, b"v1").unwrap();

        let codes = vec!["E01".to_string(), "E02".to_string()];
        let built = std::cell::Cell::new(0);
        let build = || {
            built.set(built.get() + 1);
            Ok::<_, String>(table())
        };
        let t = load_or_build(&csv, &codes, 4, build).unwrap();
        assert_eq!((built.get(), t.len()), (1, 2));
        load_or_build(&csv, &codes, 4, build).unwrap();
        assert_eq!(built.get(), 1, "the copy is used");
        let c = load_or_build(&csv, &codes, 4, || Err("no".to_string())).unwrap();
        assert_eq!(c.lookup("M1 1AA").unwrap().lsoa, None);
        assert_eq!(c.lookup("OL16 1AB").unwrap().pos, [389000.5, 413000.25]);
        assert_eq!(c.lookup("OL16 1AB").unwrap().lsoa, Some(3));

        std::fs::write(&csv, b"v2").unwrap();
        load_or_build(&csv, &codes, 4, build).unwrap();
        assert_eq!(built.get(), 2, "a changed CSV is read again");
        load_or_build(&csv, &codes[..1], 4, build).unwrap();
        assert_eq!(built.get(), 3, "changed LSOAs");
        load_or_build(&csv, &codes[..1], 3, build).unwrap();
        assert_eq!(built.get(), 4, "another column");
        let path = cache_path(&cache, &csv, 3);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        load_or_build(&csv, &codes[..1], 3, build).unwrap();
        assert_eq!(built.get(), 5, "a flipped byte");
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        load_or_build(&csv, &codes[..1], 3, build).unwrap();
        assert_eq!(built.get(), 6, "a short file");
        load_or_build(&csv, &codes[..1], 3, build).unwrap();
        assert_eq!(built.get(), 6, "rewritten whole");
        let parts = std::fs::read_dir(&cache)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".part")
            })
            .count();
        assert_eq!(parts, 0);
    }
}
