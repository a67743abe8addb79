//! Reading text files the way people actually save them (gzip, UTF-8 with or without a BOM,
//! Windows-1252 from Excel or council systems), and writing output files atomically.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Which encoding a file turned out to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Windows1252,
}

/// Reads a whole file as text: gunzips `*.gz`, strips a UTF-8 BOM, and decodes bytes that are
/// not valid UTF-8 as Windows-1252 (what Excel's "CSV" and most council exports write).
pub fn read_text(path: &Path) -> std::io::Result<(String, Encoding)> {
    let raw = std::fs::read(path)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out)?;
        out
    } else {
        raw
    };
    Ok(decode(bytes))
}

/// Decodes bytes as described in [`read_text`].
///
/// ```
/// use sitefinder::base::textio::{decode, Encoding};
/// assert_eq!(decode(b"\xEF\xBB\xBFid,name".to_vec()), ("id,name".to_string(), Encoding::Utf8Bom));
/// assert_eq!(decode(b"Caf\xE9 \x80".to_vec()), ("Café €".to_string(), Encoding::Windows1252));
/// ```
pub fn decode(bytes: Vec<u8>) -> (String, Encoding) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        if let Ok(s) = std::str::from_utf8(rest) {
            return (s.to_string(), Encoding::Utf8Bom);
        }
    }
    match String::from_utf8(bytes) {
        Ok(s) => (s, Encoding::Utf8),
        Err(e) => {
            let bytes = e.into_bytes();
            let (s, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
            (s.into_owned(), Encoding::Windows1252)
        }
    }
}

/// A temporary file name in the same directory as `path` (so a rename is atomic).
fn temp_beside(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `path` atomically: the bytes go to a temporary file beside it, which is renamed over
/// `path` only once `write` has succeeded and the data is flushed. On any error nothing is left
/// behind, and an earlier file at `path` is untouched.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = temp_beside(path);
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut buf = std::io::BufWriter::new(file);
        write(&mut buf)?;
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Like [`write_atomic`] for writers that need a path (SQLite, GeoPackage): `write` fills a
/// temporary file beside `path`, which is renamed over `path` only when `write` succeeds.
pub fn write_atomic_path(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let tmp = temp_beside(path);
    let _ = std::fs::remove_file(&tmp);
    let result = write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes gzip-compressed bytes atomically (used when building `data/`).
pub fn write_gz_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(path, |w| {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::best());
        gz.write_all(bytes)?;
        gz.finish()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_atomic_write_leaves_nothing_and_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        std::fs::write(&p, "old").unwrap();
        let err = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&p, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
    }
}
