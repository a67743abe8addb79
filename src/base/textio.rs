//! Reading text files the way people actually save them (gzip, UTF-8 with or without a BOM,
//! Windows-1252 from Excel or council systems), and writing output files atomically.

use std::io::{Read, Write};
use std::path::Path;

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
    read_text_max(path, u64::MAX)
}

/// [`read_text`], refusing a file (or what a `*.gz` unpacks to) over `max_bytes`: a small
/// gzip can unpack to gigabytes.
pub fn read_text_max(path: &Path, max_bytes: u64) -> std::io::Result<(String, Encoding)> {
    let too_big = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{what} more than {} MB; at most {} MB is read",
                max_bytes / 1_000_000,
                max_bytes / 1_000_000
            ),
        )
    };
    if std::fs::metadata(path)?.len() > max_bytes {
        return Err(too_big("the file is"));
    }
    let raw = std::fs::read(path)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        // Measured first, into nothing: a bomb is refused before anything is held, and a file
        // within the limit is then unpacked into a buffer of exactly its size (growing one
        // would hold it about twice over).
        let size = std::io::copy(
            &mut flate2::read::MultiGzDecoder::new(&raw[..]).take(max_bytes.saturating_add(1)),
            &mut std::io::sink(),
        )?;
        if size > max_bytes {
            return Err(too_big("it unpacks to"));
        }
        let mut out = Vec::with_capacity(size as usize);
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out)?;
        out
    } else {
        raw
    };
    Ok(decode(bytes))
}

/// What [`scan_utf8`] learnt of a file it read through without holding it, and the file,
/// to read again as a stream ([`Scanned::into_reader`]).
#[derive(Debug)]
pub struct Scanned {
    /// `Utf8` or `Utf8Bom` (a file with a BOM is read again from after it).
    pub encoding: Encoding,
    /// The bytes read (the BOM's among them).
    pub bytes: u64,
    /// Its line ends (`\n`).
    pub lines: usize,
    /// Whether it holds anything but white space.
    pub blank: bool,
    /// Its first 4,096 characters (after any BOM).
    pub start: String,
    file: std::fs::File,
}

impl Scanned {
    /// The file read again, through the same handle, from after its BOM: the bytes scanned and
    /// no more. A BOM that is no longer there (the file rewritten in place since) is an error.
    pub fn into_reader(mut self) -> std::io::Result<std::io::Take<std::fs::File>> {
        use std::io::Seek as _;
        self.file.seek(std::io::SeekFrom::Start(0))?;
        let mut skip = 0;
        if self.encoding == Encoding::Utf8Bom {
            let mut bom = [0u8; 3];
            self.file.read_exact(&mut bom)?;
            if bom != *b"\xEF\xBB\xBF" {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the file changed while it was read: read it again once it is saved",
                ));
            }
            skip = 3;
        }
        Ok(self.file.take(self.bytes - skip))
    }
}

/// Reads a file (not gzipped) through in blocks of 1 MiB, holding none of it, and says whether
/// it is UTF-8 as [`read_text`] would read it (`None`: it is not, and [`read_text`] decodes
/// it as Windows-1252); refuses a file over `max_bytes` as [`read_text_max`] does. The file is
/// then read again as a stream ([`Scanned::into_reader`]): a large units file is never held
/// whole.
///
/// ```
/// use std::io::Read;
/// use sitefinder::base::textio::{scan_utf8, Encoding};
/// let dir = tempfile::tempdir().unwrap();
/// let at = dir.path().join("units.csv");
/// std::fs::write(&at, "\u{FEFF}id,name\nU1,Café\n").unwrap();
/// let s = scan_utf8(&at, 1_000).unwrap().unwrap();
/// assert_eq!((s.encoding, s.lines, s.blank, s.bytes), (Encoding::Utf8Bom, 2, false, 20));
/// assert_eq!(s.start, "id,name\nU1,Café\n");
/// let mut again = String::new();
/// s.into_reader().unwrap().read_to_string(&mut again).unwrap();
/// assert_eq!(again, "id,name\nU1,Café\n");
/// std::fs::write(&at, b"id,name\nU1,Caf\xE9\n").unwrap();
/// assert!(scan_utf8(&at, 1_000).unwrap().is_none());
/// assert!(scan_utf8(&at, 10).unwrap_err().to_string().contains("at most 0 MB is read"));
/// ```
pub fn scan_utf8(path: &Path, max_bytes: u64) -> std::io::Result<Option<Scanned>> {
    let mut file = std::fs::File::open(path)?;
    if file.metadata()?.len() > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file is more than {} MB; at most {} MB is read",
                max_bytes / 1_000_000,
                max_bytes / 1_000_000
            ),
        ));
    }
    let mut buf = vec![0u8; 1 << 20];
    // Bytes of a character that a block cut, carried to the next.
    let mut carry = 0;
    let (mut first, mut lines, mut blank) = (true, 0, true);
    let mut encoding = Encoding::Utf8;
    let (mut start, mut start_chars) = (String::new(), 0);
    let mut read = 0u64;
    loop {
        let n = match file.read(&mut buf[carry..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        read += n as u64;
        if read > max_bytes {
            // Grown since it was measured.
            return Ok(None);
        }
        let end = carry + n;
        let mut from = 0;
        if first {
            if buf[..end].starts_with(b"\xEF\xBB\xBF") {
                encoding = Encoding::Utf8Bom;
                from = 3;
            } else if end < 3 && n > 0 && b"\xEF\xBB\xBF".starts_with(&buf[..end]) {
                // Too little read yet to tell a BOM.
                carry = end;
                continue;
            }
            first = false;
        }
        let (text, rest) = match std::str::from_utf8(&buf[from..end]) {
            Ok(t) => (t, 0),
            // A character cut at the end of the block (not at the end of the file).
            Err(e) if e.error_len().is_none() && n > 0 => (
                // The bytes before it are valid.
                std::str::from_utf8(&buf[from..from + e.valid_up_to()]).unwrap_or_default(),
                end - from - e.valid_up_to(),
            ),
            Err(_) => return Ok(None),
        };
        for c in text.chars().take(4_096 - start_chars) {
            start.push(c);
            start_chars += 1;
        }
        blank = blank && text.trim().is_empty();
        lines += memchr::memchr_iter(b'\n', text.as_bytes()).count();
        if n == 0 {
            break;
        }
        buf.copy_within(end - rest..end, 0);
        carry = rest;
    }
    Ok(Some(Scanned {
        encoding,
        bytes: read,
        lines,
        blank,
        start,
        file,
    }))
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

/// The directory `path` is in (`.` for a bare file name): temporary files go there, so the
/// final rename stays on one filesystem and is atomic.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A new temporary file beside `path`, deleted when dropped unless persisted: named
/// `.<file name>.<random>.part` (so one a killed run left behind says what it was), created
/// exclusively (a link planted at its name is never followed) and readable by its owner only
/// while it is being written.
fn temp_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "sitefinder".into());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    builder.tempfile_in(parent_dir(path))
}

/// Gives a finished temporary file the mode a new file would have (0666 less the umask), or
/// the mode of the file it replaces, just before it is renamed into place.
fn finish_mode(tmp: &Path, replacing: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(replacing) {
            Ok(m) if m.is_file() => m.permissions().mode() & 0o7777,
            _ => 0o666 & !umask(),
        };
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(mode))?;
    }
    let _ = (tmp, replacing);
    Ok(())
}

/// The process's umask, read without changing it (Linux: `/proc/self/status`); 022 elsewhere.
#[cfg(unix)]
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Writes `path` atomically: the bytes go to a temporary file beside it, which is renamed over
/// `path` only once `write` has succeeded and the data is flushed. On any error nothing is left
/// behind, and an earlier file at `path` is untouched.
/// Where a write to a path goes.
enum Destination {
    /// A file, replaced atomically: the path itself, or a symbolic link's target (the link
    /// stays a link).
    File(std::path::PathBuf),
    /// A named pipe, terminal, device or socket: written to directly (there is nothing to
    /// rename over, and replacing `/dev/null` with a file would break the machine).
    Stream(std::path::PathBuf),
}

fn destination(path: &Path) -> Destination {
    let mut p = path.to_path_buf();
    // Links to links are followed, but not forever.
    for _ in 0..40 {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            return Destination::File(p);
        };
        let t = m.file_type();
        if t.is_symlink() {
            match std::fs::read_link(&p) {
                Ok(target) if target.is_absolute() => p = target,
                Ok(target) => p = parent_dir(&p).join(target),
                Err(_) => return Destination::File(p),
            }
            continue;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if t.is_fifo() || t.is_char_device() || t.is_block_device() || t.is_socket() {
                return Destination::Stream(p);
            }
        }
        return Destination::File(p);
    }
    Destination::File(p)
}

pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let path = match destination(path) {
        Destination::File(p) => p,
        Destination::Stream(p) => {
            let f = std::fs::OpenOptions::new().write(true).open(&p)?;
            let mut w = std::io::BufWriter::new(f);
            write(&mut w)?;
            return w.flush();
        }
    };
    let path = path.as_path();
    // Dropping the temporary file on an early return deletes it.
    let tmp = temp_beside(path)?;
    let mut buf = std::io::BufWriter::new(tmp);
    write(&mut buf)?;
    let tmp = buf.into_inner().map_err(|e| e.into_error())?;
    tmp.as_file().sync_all()?;
    finish_mode(tmp.path(), path)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Like [`write_atomic`] for writers that need a path (SQLite, GeoPackage): `write` fills a
/// temporary file beside `path`, which is renamed over `path` only when `write` succeeds.
pub fn write_atomic_path(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    match destination(path) {
        Destination::File(p) => {
            // Dropping the temporary file on an early return deletes it.
            let tmp = temp_beside(&p).map_err(|e| e.to_string())?;
            write(tmp.path())?;
            // On disk before it takes the path's name, as [`write_atomic`]'s files are.
            std::fs::File::open(tmp.path())
                .and_then(|f| f.sync_all())
                .map_err(|e| e.to_string())?;
            finish_mode(tmp.path(), &p).map_err(|e| e.to_string())?;
            tmp.persist(&p).map_err(|e| e.error.to_string())?;
        }
        Destination::Stream(p) => {
            // The writer needs a file: make it in the temporary folder, then send it on.
            let tmp = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
            write(tmp.path())?;
            let mut from = std::fs::File::open(tmp.path()).map_err(|e| e.to_string())?;
            let mut to = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| e.to_string())?;
            std::io::copy(&mut from, &mut to).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
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

    /// `--out` a symbolic link: its target gets the file and the link stays; a named pipe
    /// is written to (and stays a pipe) instead of being replaced by a file.
    #[cfg(unix)]
    #[test]
    fn writes_follow_links_and_stream_to_pipes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.csv");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("real.csv", &link).unwrap();
        write_atomic(&link, |w| w.write_all(b"new")).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        write_atomic_path(&link, |p| {
            std::fs::write(p, "by path").map_err(|e| e.to_string())
        })
        .unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "by path");

        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        write_atomic(&fifo, |w| w.write_all(b"through the pipe")).unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe");
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

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

    /// The names in `dir`, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn failing_writers_leave_the_directory_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.csv");
        std::fs::write(&old, "old contents").unwrap();
        let before = listing(dir.path());

        // A new file whose writer fails: no file, no temporary file.
        let new = dir.path().join("new.csv");
        let err = write_atomic(&new, |w| {
            w.write_all(b"half a file")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(listing(dir.path()), before);

        // An existing file whose writer fails: unchanged.
        assert!(write_atomic(&old, |_| Err(std::io::Error::other("no"))).is_err());
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "old contents");
        assert_eq!(listing(dir.path()), before);

        // Writers that need a path (SQLite): the same, even after writing a database there.
        for target in [&new, &old] {
            let err = write_atomic_path(target, |tmp| {
                let db = rusqlite::Connection::open(tmp).map_err(|e| e.to_string())?;
                db.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                    .map_err(|e| e.to_string())?;
                Err("failed half way".into())
            })
            .unwrap_err();
            assert_eq!(err, "failed half way");
            assert_eq!(listing(dir.path()), before);
        }
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "old contents");

        // And a writer that succeeds replaces the file and leaves nothing else.
        write_atomic_path(&old, |tmp| {
            std::fs::write(tmp, "new contents").map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "new contents");
        assert_eq!(listing(dir.path()), before);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_get_the_usual_mode_not_the_temporary_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, "x").unwrap();
        let atomic = dir.path().join("atomic.txt");
        write_atomic(&atomic, |w| w.write_all(b"x")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain));
    }

    #[cfg(unix)]
    #[test]
    fn the_file_being_written_is_private_and_named_for_its_target() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("shortlist.csv");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let d = dir.path().to_path_buf();
        write_atomic(&out, |w| {
            let part: Vec<_> = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert_eq!(part.len(), 1, "{part:?}");
            let name = part[0].file_name().unwrap().to_string_lossy().to_string();
            assert!(
                name.starts_with(".shortlist.csv.") && name.ends_with(".part"),
                "{name}"
            );
            assert_eq!(mode(&part[0]), 0o600);
            w.write_all(b"x")
        })
        .unwrap();
        // A file replaced keeps its mode.
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&out, |w| w.write_all(b"y")).unwrap();
        assert_eq!(mode(&out), 0o640);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "y");
    }

    /// A character of two, three or four bytes cut by the scan's 1 MiB blocks at each of its
    /// places is read whole, with and without a BOM; a byte that is not UTF-8 after the cut,
    /// or a character cut by the end of the file, is not UTF-8.
    #[test]
    fn scanning_carries_a_character_cut_by_a_block() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("f.csv");
        for bom in [false, true] {
            for c in ["é", "–", "🏥"] {
                for cut in 1..c.len() {
                    let mut b: Vec<u8> = if bom {
                        b"\xEF\xBB\xBF".to_vec()
                    } else {
                        vec![]
                    };
                    b.extend(std::iter::repeat_n(b'a', (1 << 20) - cut - 1 - b.len()));
                    b.push(b'\n');
                    b.extend(c.as_bytes());
                    b.extend(b"\nb\n");
                    assert_eq!(b[(1 << 20) - 1], c.as_bytes()[cut - 1]);
                    std::fs::write(&at, &b).unwrap();
                    let s = scan_utf8(&at, u64::MAX).unwrap().expect("UTF-8");
                    assert_eq!(s.lines, 3, "{c} cut at {cut}");
                    assert_eq!(s.bytes, b.len() as u64);
                    let enc = if bom {
                        Encoding::Utf8Bom
                    } else {
                        Encoding::Utf8
                    };
                    assert_eq!(s.encoding, enc);
                    assert!(!s.blank && s.start.starts_with("aaa"));
                    assert_eq!(s.start.chars().count(), 4_096);
                    // Read again from the same handle: every byte after the BOM.
                    let mut again = vec![];
                    s.into_reader().unwrap().read_to_end(&mut again).unwrap();
                    assert!(
                        again[..] == b[if bom { 3 } else { 0 }..],
                        "{c} cut at {cut}"
                    );
                    // The character's last byte made wrong.
                    let last = (1 << 20) - cut + c.len() - 1;
                    let mut bad = b.clone();
                    bad[last] = b'x';
                    std::fs::write(&at, &bad).unwrap();
                    assert!(scan_utf8(&at, u64::MAX).unwrap().is_none(), "{c} at {cut}");
                    // Cut by the end of the file.
                    std::fs::write(&at, &b[..last]).unwrap();
                    assert!(scan_utf8(&at, u64::MAX).unwrap().is_none(), "{c} at {cut}");
                }
            }
        }
        std::fs::write(&at, " \n\t\n").unwrap();
        assert!(scan_utf8(&at, 100).unwrap().unwrap().blank);
    }
}
