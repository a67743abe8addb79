//! Where the reference data is read from.
//!
//! In order: the `--data DIR` the user gave; else `$SITEFINDER_DATA`; else the copy of `data/`
//! built into the binary, extracted on first use into a per-user folder,
//! `$XDG_DATA_HOME/sitefinder/data-<key>` (else `~/.local/share/sitefinder/data-<key>`). The
//! key is the crate version and a short hash of the embedded `manifest.json`, of every file's
//! path and size, and of the small files' contents, so a build with other data extracts into a
//! new folder and never mixes with an old one. An installed binary therefore runs from any
//! directory.
//!
//! Extraction is atomic: the files are written into a temporary folder beside the target and
//! the folder is renamed into place, so the target is either absent or complete. When two
//! processes extract at once, one rename wins and the other uses the winner's folder.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use include_dir::{Dir, DirEntry};

/// The environment variable naming a data directory.
pub const DATA_ENV: &str = "SITEFINDER_DATA";

/// Why no data directory could be given.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error(
        "no folder to extract the built-in data into: neither XDG_DATA_HOME nor HOME is set; \
         pass --data DIR or set SITEFINDER_DATA"
    )]
    NoHome,
    #[error(
        "cannot write the data folder {}: {cause}; pass --data DIR or set SITEFINDER_DATA to a \
         data directory",
        dir.display()
    )]
    Unwritable { dir: PathBuf, cause: std::io::Error },
}

/// The data directory: `given` (`--data DIR`), else `$SITEFINDER_DATA`, else `embedded`
/// extracted (once) into the per-user folder [`user_data_home`]`/sitefinder/data-<key>`.
///
/// A given directory is returned as it is; loading it reports what is missing.
pub fn data_dir(
    given: Option<PathBuf>,
    embedded: &'static Dir<'static>,
) -> Result<PathBuf, LocationError> {
    if let Some(d) = given {
        return Ok(d);
    }
    if let Some(d) = std::env::var_os(DATA_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let base = user_data_home()
        .ok_or(LocationError::NoHome)?
        .join("sitefinder");
    extract_once(embedded, &base)
}

/// The per-user data folder: `$XDG_DATA_HOME` when it is an absolute path, else
/// `$HOME/.local/share`; `None` when neither is set.
pub fn user_data_home() -> Option<PathBuf> {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_DATA_HOME").and_then(abs).or_else(|| {
        std::env::var_os("HOME")
            .and_then(abs)
            .map(|h| h.join(".local/share"))
    })
}

/// The per-user cache folder for sitefinder's derived files: `$XDG_CACHE_HOME/sitefinder` when
/// that is an absolute path, else `$HOME/.cache/sitefinder`; `None` when neither is set.
pub fn user_cache_dir() -> Option<PathBuf> {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_CACHE_HOME")
        .and_then(abs)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(abs)
                .map(|h| h.join(".cache"))
        })
        .map(|d| d.join("sitefinder"))
}

/// Files up to this size count in the [`data_key`] with their contents.
const SMALL_FILE: usize = 1 << 20;

/// The folder name's key: the crate version and 12 hex digits hashing the embedded
/// `manifest.json`, every file's path and size, and the contents of the small files (up to
/// 1 MiB), e.g. `0.1.0-3f2a9c01b7de`.
pub fn data_key(embedded: &Dir<'_>) -> String {
    let mut h = Fnv::new();
    if let Some(m) = embedded.get_file("manifest.json") {
        h.write(m.contents());
    }
    let mut files = vec![];
    collect_files(embedded, &mut files);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, size) in files {
        h.write(path.as_bytes());
        h.write(&[0]);
        h.write(&(size as u64).to_le_bytes());
        // Small files (the units lists, the README) are hashed whole too, so an edit that
        // keeps a file's size still gets a new folder; the large layers are named by the
        // manifest (row counts) and their sizes.
        if size <= SMALL_FILE {
            if let Some(f) = embedded.get_file(&path) {
                h.write(f.contents());
            }
        }
    }
    format!(
        "{}-{:012x}",
        env!("CARGO_PKG_VERSION"),
        h.finish() & 0xffff_ffff_ffff
    )
}

/// Extracts `embedded` into `base/data-<key>` unless that folder exists already, and returns it.
/// The files are written into a temporary folder in `base` which is then renamed into place; if
/// another process renamed its copy first, that copy is used and this one removed.
pub fn extract_once(embedded: &Dir<'_>, base: &Path) -> Result<PathBuf, LocationError> {
    let key = data_key(embedded);
    let target = base.join(format!("data-{key}"));
    if target.is_dir() {
        return Ok(target);
    }
    let unwritable = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |cause| LocationError::Unwritable { dir, cause }
    };
    std::fs::create_dir_all(base).map_err(unwritable(base))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".data-{key}-"))
        .tempdir_in(base)
        .map_err(unwritable(base))?;
    write_tree(embedded, tmp.path()).map_err(unwritable(base))?;
    match std::fs::rename(tmp.path(), &target) {
        Ok(()) => {
            let _ = tmp.keep();
            // The rename itself reaches the disk with the folder holding it.
            if let Ok(d) = std::fs::File::open(base) {
                let _ = d.sync_all();
            }
            Ok(target)
        }
        // Another process won the race: its folder is complete (it was renamed into place
        // whole); ours is removed when `tmp` drops.
        Err(_) if target.is_dir() => Ok(target),
        Err(e) => Err(unwritable(&target)(e)),
    }
}

/// Writes every file of `dir` under `to` (keeping the relative paths), each synced to disk so a
/// crash cannot leave a renamed folder with empty files.
fn write_tree(dir: &Dir<'_>, to: &Path) -> std::io::Result<()> {
    for entry in dir.entries() {
        let path = to.join(entry.path());
        match entry {
            DirEntry::Dir(d) => {
                std::fs::create_dir_all(&path)?;
                write_tree(d, to)?;
            }
            DirEntry::File(f) => {
                let mut out = std::fs::File::create(&path)?;
                out.write_all(f.contents())?;
                out.sync_all()?;
            }
        }
    }
    Ok(())
}

fn collect_files(dir: &Dir<'_>, out: &mut Vec<(String, usize)>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => collect_files(d, out),
            DirEntry::File(f) => out.push((
                f.path().to_string_lossy().replace('\\', "/"),
                f.contents().len(),
            )),
        }
    }
}

/// 64-bit FNV-1a: small, and the same on every platform and toolchain (the folder key must
/// not change when only the compiler does).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use include_dir::include_dir;

    /// A small tree with a subfolder (the map's files) stands in for `data/`.
    static TREE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/web/app");

    fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![];
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                    out.push((rel, std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn embedded_files() -> Vec<(String, Vec<u8>)> {
        let mut names = vec![];
        collect_files(&TREE, &mut names);
        let mut out: Vec<_> = names
            .into_iter()
            .map(|(p, _)| {
                let bytes = TREE.get_file(&p).unwrap().contents().to_vec();
                (p, bytes)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_key_is_the_version_and_a_short_hash() {
        let k = data_key(&TREE);
        let (version, hash) = k.rsplit_once('-').unwrap();
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        assert_eq!(hash.len(), 12);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{k}");
        assert_eq!(k, data_key(&TREE), "stable");
        let sub = TREE.get_dir("vendor/leaflet").unwrap();
        assert_ne!(k, data_key(sub), "other files, other key");
    }

    #[test]
    fn extracts_every_file_once_and_reuses_the_folder() {
        let base = tempfile::tempdir().unwrap();
        let dir = extract_once(&TREE, base.path()).unwrap();
        assert_eq!(
            dir,
            base.path().join(format!("data-{}", data_key(&TREE))),
            "the folder is named by the key"
        );
        assert_eq!(
            files_under(&dir),
            embedded_files(),
            "every file, byte for byte"
        );
        let marker = dir.join("marker");
        std::fs::write(&marker, "kept").unwrap();
        let again = extract_once(&TREE, base.path()).unwrap();
        assert_eq!(again, dir);
        assert!(marker.exists(), "an existing folder is used as it is");
        let names: Vec<_> = std::fs::read_dir(base.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary folder left behind: {names:?}");
    }

    #[test]
    fn racing_extractions_agree_on_one_complete_folder() {
        let base = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..6)
                .map(|_| s.spawn(|| extract_once(&TREE, base.path()).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(dirs.windows(2).all(|w| w[0] == w[1]), "{dirs:?}");
        assert_eq!(files_under(&dirs[0]), embedded_files());
        let names: Vec<_> = std::fs::read_dir(base.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "the losers' folders are removed: {names:?}");
    }

    #[test]
    fn an_unwritable_folder_is_named_in_the_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, "not a folder").unwrap();
        let base = file.join("sitefinder");
        let e = extract_once(&TREE, &base).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, LocationError::Unwritable { .. }), "{msg}");
        assert!(msg.contains(&base.display().to_string()), "{msg}");
        assert!(msg.contains("--data DIR"), "{msg}");
    }

    #[test]
    fn a_given_folder_comes_first() {
        static EMPTY: Dir<'static> = Dir::new("", &[]);
        let d = data_dir(Some(PathBuf::from("/some/where")), &EMPTY).unwrap();
        assert_eq!(d, PathBuf::from("/some/where"));
    }
}
