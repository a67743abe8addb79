//! Many units files at once: what a `--units` value names (a file, a folder or a glob pattern),
//! and unit ids made unique across files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::base::text::Text;
use crate::ingest::units::Imported;

/// Errors naming units files.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("--units `{0}`: no such file or folder")]
    Missing(String),
    #[error("--units `{0}`: the folder has no .csv, .geojson or .json files (also .gz)")]
    EmptyFolder(String),
    #[error("--units `{spec}`: no file matches the pattern")]
    NoMatch { spec: String },
    #[error("--units `{spec}`: bad pattern: {reason}")]
    BadPattern { spec: String, reason: String },
    #[error("--units `{spec}`: cannot read {path}: {reason}")]
    Unreadable {
        spec: String,
        path: String,
        reason: String,
    },
    #[error(
        "unit id `{id}` is in both {first} and {second}, files with the same name; rename one file or its ids"
    )]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },
}

/// Whether a file name is a units file a folder contributes.
fn is_units_file(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let n = n.trim_end_matches(".gz");
    p.is_file() && (n.ends_with(".csv") || n.ends_with(".geojson") || n.ends_with(".json"))
}

/// The files one `--units` value names: the file itself; a folder's `.csv`, `.geojson` and
/// `.json` files (and their `.gz`), not its subfolders, in name order; or the files a glob
/// pattern (`*`, `?`, `[..]`) matches, in name order.
///
/// ```
/// use sitefinder::ingest::files::expand;
/// let dir = tempfile::tempdir().unwrap();
/// for f in ["b.csv", "a.geojson", "notes.txt"] {
///     std::fs::write(dir.path().join(f), "").unwrap();
/// }
/// let got = expand(dir.path()).unwrap();
/// let names: Vec<_> = got.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
/// assert_eq!(names, ["a.geojson", "b.csv"]);
/// let pattern = dir.path().join("*.csv");
/// assert_eq!(expand(&pattern).unwrap().len(), 1);
/// assert!(expand(&dir.path().join("*.xlsx")).is_err());
/// ```
pub fn expand(spec: &Path) -> Result<Vec<PathBuf>, FilesError> {
    let shown = spec.display().to_string();
    if spec.is_dir() {
        let rd = std::fs::read_dir(spec).map_err(|e| FilesError::Unreadable {
            spec: shown.clone(),
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_units_file(p))
            .collect();
        files.sort();
        return if files.is_empty() {
            Err(FilesError::EmptyFolder(shown))
        } else {
            Ok(files)
        };
    }
    if spec.exists() {
        return Ok(vec![spec.to_path_buf()]);
    }
    if !shown.contains(['*', '?', '[']) {
        return Err(FilesError::Missing(shown));
    }
    let paths = glob::glob(&shown).map_err(|e| FilesError::BadPattern {
        spec: shown.clone(),
        reason: e.to_string(),
    })?;
    let mut files = vec![];
    for p in paths {
        let p = p.map_err(|e| FilesError::Unreadable {
            spec: shown.clone(),
            path: e.path().display().to_string(),
            reason: e.error().to_string(),
        })?;
        if p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(FilesError::NoMatch { spec: shown });
    }
    Ok(files)
}

/// A file's name without its extensions: `bradford_vacant_shops.csv.gz` -> `bradford_vacant_shops`.
pub fn stem(path: &Path) -> String {
    let n = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = n.strip_suffix(".gz").unwrap_or(&n);
    match n.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s.to_string(),
        _ => n.to_string(),
    }
}

/// Makes unit ids unique across files: an id found in more than one file becomes
/// `<file stem>/<id>` in every file that has it (so no file's ids win over another's). Returns
/// how many units were renamed, or the first id that still clashes (two files of one name).
pub fn prefix_clashing_ids(files: &mut [(PathBuf, Imported)]) -> Result<usize, FilesError> {
    // One file's ids were compared as it was read.
    if files.len() < 2 {
        return Ok(0);
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, imp) in files.iter() {
        for u in &imp.units {
            *count.entry(u.id.as_str()).or_default() += 1;
        }
    }
    let clashing: std::collections::HashSet<String> = count
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id.to_string())
        .collect();
    let mut renamed = 0;
    let mut seen: HashMap<Text, PathBuf> = HashMap::new();
    for (path, imp) in files.iter_mut() {
        let s = stem(path);
        for u in &mut imp.units {
            if clashing.contains(u.id.as_str()) {
                u.id = compact_str::format_compact!("{s}/{}", u.id);
                renamed += 1;
            }
            if let Some(first) = seen.insert(u.id.clone(), path.clone()) {
                return Err(FilesError::DuplicateId {
                    id: u.id.to_string(),
                    first: first.display().to_string(),
                    second: path.display().to_string(),
                });
            }
        }
    }
    Ok(renamed)
}
