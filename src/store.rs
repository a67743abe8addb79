//! The embedded database (SQLite through rusqlite) under the state directory: named
//! shortlists of units, with created/updated times and a note per site, and the council plan
//! overlays. It survives restarts; the server and the CLI share it.
//!
//! Every change is one SQLite transaction, so a failed write leaves the earlier state whole.
//! Checks that need the units or the atlas (does this unit id exist?) are the caller's, made
//! before anything is written.
//!
//! ```
//! use sitefinder::store::Store;
//! let dir = tempfile::tempdir().unwrap();
//! let db = Store::open(dir.path()).unwrap();
//! db.create_shortlist("Town centre", "units.csv", "deprivation=3", "", &["a".into()], "").unwrap();
//! db.add_sites("Town centre", &["b".into()], "corner unit, step-free").unwrap();
//! let s = Store::open(dir.path()).unwrap().shortlist("Town centre").unwrap();
//! assert_eq!(s.sites.len(), 2);
//! assert_eq!(s.sites[1].note, "corner unit, step-free");
//! assert!(db.create_shortlist("Town centre", "u", "", "", &[], "").is_err());
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use geo::{Coord, LineString, MultiPolygon, Polygon};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value as Json};

use crate::ingest::overlay::{Overlay, Parsed, PlanFeature};

/// The database file's name inside the state directory.
pub const DB_FILE: &str = "sitefinder.sqlite";

/// Errors of the store, naming the shortlist, site or overlay.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("state database: {0}")]
    Sql(String),
    #[error("no shortlist `{name}`{hint}")]
    NoShortlist { name: String, hint: String },
    #[error("a shortlist `{0}` exists already; choose another name or add sites to it")]
    ShortlistExists(String),
    #[error("{what} name `{name}`: give 1 to 80 characters, not all spaces")]
    BadName { what: &'static str, name: String },
    #[error("unit `{id}` is not in shortlist `{name}`")]
    NoSite { name: String, id: String },
    #[error("no overlay `{key}`{hint}")]
    NoOverlay { key: String, hint: String },
    #[error("an overlay `{0}` exists already; delete it first or choose another name")]
    OverlayExists(String),
    #[error("overlay `{name}` in the database is unreadable: {reason}")]
    Corrupt { name: String, reason: String },
    #[error("the state database is busy: another program (another sitefinder, or a tool with it open) has held its lock for over {seconds} s; try again in a moment")]
    Busy { seconds: u64 },
    #[error("note: {chars} characters; a note holds at most {max} (an Excel cell holds 32,767; a site report page about 10,000)", max = NOTE_MAX_CHARS)]
    NoteTooLong { chars: usize },
}

/// The longest note a site may have, in characters: it must fit an Excel cell (32,767) and a
/// site report, which prints every note whole.
pub const NOTE_MAX_CHARS: usize = 10_000;

fn check_note(note: &str) -> Result<(), StoreError> {
    let chars = note.chars().count();
    if chars > NOTE_MAX_CHARS {
        return Err(StoreError::NoteTooLong { chars });
    }
    Ok(())
}

fn sql(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::Busy {
            seconds: BUSY_TIMEOUT.as_secs(),
        },
        _ => StoreError::Sql(e.to_string()),
    }
}

/// A write transaction, its lock taken at the start (waiting up to [`BUSY_TIMEOUT`] for
/// another writer): a transaction that read first and then wanted to write would be refused at
/// once in WAL mode.
fn write(db: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// How long a statement waits for another connection's lock before it is refused as busy.
/// Reads never wait for a writer (the database is in WAL mode); writes wait at most this.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// One site of a shortlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub unit_id: String,
    pub note: String,
    /// UTC, RFC 3339.
    pub added: String,
    pub updated: String,
}

/// A named shortlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortlist {
    pub name: String,
    pub created: String,
    pub updated: String,
    /// The units file the sites' ids refer to.
    pub units_file: String,
    /// The weights in force when it was made (`deprivation=3,...`).
    pub weights: String,
    /// The ranking query it came from (`lad=Rochdale&imd_deciles=1-3`), if any.
    pub query: String,
    pub sites: Vec<Site>,
}

impl Shortlist {
    /// The shortlist as `sitefinder shortlist show` prints it: a summary line, then one line
    /// per site with its note.
    pub fn to_text(&self) -> String {
        let n = self.sites.len();
        let mut out = format!(
            "{}: {n} site{} (created {}, updated {}; weights {}{})\n",
            self.name,
            if n == 1 { "" } else { "s" },
            self.created,
            self.updated,
            self.weights,
            if self.query.is_empty() {
                String::new()
            } else {
                format!("; from {}", self.query)
            }
        );
        for s in &self.sites {
            out.push_str(&format!("  {}", s.unit_id));
            if !s.note.is_empty() {
                out.push_str(&format!("  — {}", s.note));
            }
            out.push('\n');
        }
        out
    }

    pub fn to_json(&self) -> Json {
        json!({
            "name": self.name,
            "created": self.created,
            "updated": self.updated,
            // File names without their folders: the server says this to anyone.
            "units_file": self
                .units_file
                .split("; ")
                .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f))
                .collect::<Vec<_>>()
                .join("; "),
            "weights": self.weights,
            "query": self.query,
            "sites": self.sites.iter().map(|s| json!({
                "id": s.unit_id, "note": s.note, "added": s.added, "updated": s.updated,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Every shortlist as `sitefinder shortlist list` prints it: an aligned table of name, sites,
/// when made and when last changed (from [`Store::list_shortlists`]).
pub fn shortlists_table(all: &[(String, String, String, usize)]) -> String {
    use crate::base::table::{aligned, left, right, short_time};
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|(name, created, updated, n)| {
            vec![
                name.clone(),
                n.to_string(),
                short_time(created),
                short_time(updated),
            ]
        })
        .collect();
    aligned(
        &[
            left("Shortlist"),
            right("Sites"),
            left("Made"),
            left("Changed"),
        ],
        &rows,
    )
}

/// An overlay's row: id, name, created, source, format, crs, repaired (JSON), features (JSON).
type OverlayRow = (i64, String, String, String, String, String, String, String);

/// The database. Safe to share between threads: one connection for writes and one for reads,
/// each behind a mutex, so a write waiting for another program's lock never holds up a read.
pub struct Store {
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
    path: PathBuf,
}

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

/// The default state directory: `$SITEFINDER_STATE`, else `$XDG_DATA_HOME/sitefinder`, else
/// `~/.local/share/sitefinder`, else `./sitefinder-state`.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SITEFINDER_STATE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("sitefinder");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h).join(".local/share/sitefinder");
    }
    PathBuf::from("sitefinder-state")
}

impl Store {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        let open_err = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let conn = Connection::open(&path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_err(e.to_string()))?;
        // Write-ahead logging: readers (the server's lists and exports) never wait for a
        // writer, and a writer waits only for another writer. Kept in the file once set.
        let wal = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(|e| match sql(e) {
                busy @ StoreError::Busy { .. } => busy,
                other => open_err(format!("{other} (is it a sitefinder state database?)")),
            })?;
        if !wal.eq_ignore_ascii_case("wal") {
            tracing::debug!("state database in {wal} mode, not WAL");
        }
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| open_err(e.to_string()))?;
        // The schema in one transaction: a process killed while creating it leaves all
        // of it or none (the next open finishes the job), never half. Only taken when a
        // table is missing, so opening a complete store never waits for another writer.
        let have: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN \
                 ('shortlists', 'shortlist_sites', 'overlays', 'overlay_shapes')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| match sql(e) {
                busy @ StoreError::Busy { .. } => busy,
                other => open_err(format!("{other} (is it a sitefinder state database?)")),
            })?;
        if have < 4 {
            conn.execute_batch(
                "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS shortlists (
                id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                created TEXT NOT NULL, updated TEXT NOT NULL,
                units_file TEXT NOT NULL, weights TEXT NOT NULL, query TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS shortlist_sites (
                shortlist_id INTEGER NOT NULL REFERENCES shortlists(id) ON DELETE CASCADE,
                unit_id TEXT NOT NULL, note TEXT NOT NULL,
                added TEXT NOT NULL, updated TEXT NOT NULL,
                PRIMARY KEY (shortlist_id, unit_id));
             CREATE TABLE IF NOT EXISTS overlays (
                id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL,
                source TEXT NOT NULL, format TEXT NOT NULL, crs TEXT NOT NULL,
                repaired TEXT NOT NULL, features TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS overlay_shapes (
                overlay_id INTEGER NOT NULL REFERENCES overlays(id) ON DELETE CASCADE,
                feature INTEGER NOT NULL, wkb BLOB NOT NULL,
                PRIMARY KEY (overlay_id, feature));
             COMMIT;",
            )
            .map_err(|e| match sql(e) {
                busy @ StoreError::Busy { .. } => busy,
                other => open_err(format!("{other} (is it a sitefinder state database?)")),
            })?;
        }
        let reader = Connection::open(&path).map_err(|e| open_err(e.to_string()))?;
        reader
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_err(e.to_string()))?;
        reader
            .execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Store {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A number that changes when another connection (another process, or another `Store`)
    /// commits a change, and not for this one's own: SQLite's `data_version`.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.reads()
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(sql)
    }

    /// The connection for writes, within [`BUSY_TIMEOUT`] in all: a write queued behind
    /// another that waits for a lock is refused as busy when the time is up, not after its
    /// own wait (writes do not queue up for a multiple of the timeout).
    fn db(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        let start = std::time::Instant::now();
        loop {
            let guard = match self.conn.try_lock() {
                Ok(g) => Some(g),
                // A panic while holding the lock cannot leave SQLite half-written
                // (transactions roll back), so a poisoned lock is safe to take over.
                Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            let spent = start.elapsed();
            if let Some(g) = guard {
                // What is left of the time for SQLite's own wait for another program's lock.
                let left = BUSY_TIMEOUT
                    .saturating_sub(spent)
                    .max(std::time::Duration::from_millis(10));
                g.busy_timeout(left).map_err(sql)?;
                return Ok(g);
            }
            if spent >= BUSY_TIMEOUT {
                return Err(StoreError::Busy {
                    seconds: BUSY_TIMEOUT.as_secs(),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The connection for reads: in WAL mode it reads the last committed state while a writer
    /// (this process's or another's) holds the write lock.
    fn reads(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- shortlists ----

    /// Name, created, updated and number of sites of every shortlist, by name.
    pub fn list_shortlists(&self) -> Result<Vec<(String, String, String, usize)>, StoreError> {
        let db = self.reads();
        let mut st = db
            .prepare(
                "SELECT s.name, s.created, s.updated, COUNT(x.unit_id) FROM shortlists s
                 LEFT JOIN shortlist_sites x ON x.shortlist_id = s.id GROUP BY s.id ORDER BY s.name",
            )
            .map_err(sql)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)? as usize,
                ))
            })
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        Ok(rows)
    }

    fn shortlist_id(db: &Connection, name: &str) -> Result<i64, StoreError> {
        let name = name.trim();
        let id: Option<i64> = db
            .query_row("SELECT id FROM shortlists WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)?;
        match id {
            Some(id) => Ok(id),
            None => {
                let names: Vec<String> = db
                    .prepare("SELECT name FROM shortlists ORDER BY name")
                    .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                    .map_err(sql)?;
                Err(StoreError::NoShortlist {
                    name: name.into(),
                    hint: if names.is_empty() {
                        "; there are no shortlists yet".into()
                    } else {
                        format!("; the shortlists are: {}", names.join(", "))
                    },
                })
            }
        }
    }

    /// One shortlist with its sites in the order they were added.
    pub fn shortlist(&self, name: &str) -> Result<Shortlist, StoreError> {
        let mut conn = self.reads();
        // One snapshot, whatever other processes write meanwhile.
        let db = conn.transaction().map_err(sql)?;
        let id = Self::shortlist_id(&db, name)?;
        let mut s = db
            .query_row(
                "SELECT name, created, updated, units_file, weights, query FROM shortlists WHERE id = ?1",
                [id],
                |r| {
                    Ok(Shortlist {
                        name: r.get(0)?,
                        created: r.get(1)?,
                        updated: r.get(2)?,
                        units_file: r.get(3)?,
                        weights: r.get(4)?,
                        query: r.get(5)?,
                        sites: vec![],
                    })
                },
            )
            .map_err(sql)?;
        let mut st = db
            .prepare("SELECT unit_id, note, added, updated FROM shortlist_sites WHERE shortlist_id = ?1 ORDER BY added, rowid")
            .map_err(sql)?;
        s.sites = st
            .query_map([id], |r| {
                Ok(Site {
                    unit_id: r.get(0)?,
                    note: r.get(1)?,
                    added: r.get(2)?,
                    updated: r.get(3)?,
                })
            })
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        Ok(s)
    }

    /// Creates a shortlist holding `ids` (each with `note`).
    pub fn create_shortlist(
        &self,
        name: &str,
        units_file: &str,
        weights: &str,
        query: &str,
        ids: &[String],
        note: &str,
    ) -> Result<Shortlist, StoreError> {
        let name = check_name("shortlist", name)?;
        check_note(note)?;
        {
            let mut db = self.db()?;
            let tx = write(&mut db).map_err(sql)?;
            if name_taken(&tx, "shortlists", &name)? {
                return Err(StoreError::ShortlistExists(name));
            }
            tx.execute(
                &format!("INSERT INTO shortlists (name, created, updated, units_file, weights, query) VALUES (?1, {NOW}, {NOW}, ?2, ?3, ?4)"),
                params![name, units_file, weights, query],
            )
            .map_err(sql)?;
            let id = tx.last_insert_rowid();
            insert_sites(&tx, id, ids, note)?;
            tx.commit().map_err(sql)?;
        }
        self.shortlist(&name)
    }

    /// Adds sites (ids already there keep their note and time).
    pub fn add_sites(
        &self,
        name: &str,
        ids: &[String],
        note: &str,
    ) -> Result<Shortlist, StoreError> {
        check_note(note)?;
        {
            let mut db = self.db()?;
            let tx = write(&mut db).map_err(sql)?;
            let id = Self::shortlist_id(&tx, name)?;
            insert_sites(&tx, id, ids, note)?;
            touch(&tx, id)?;
            tx.commit().map_err(sql)?;
        }
        self.shortlist(name)
    }

    /// Sets one site's note.
    pub fn set_note(&self, name: &str, unit_id: &str, note: &str) -> Result<Shortlist, StoreError> {
        check_note(note)?;
        self.change_site(name, unit_id, |tx, id| {
            tx.execute(
                &format!("UPDATE shortlist_sites SET note = ?3, updated = {NOW} WHERE shortlist_id = ?1 AND unit_id = ?2"),
                params![id, unit_id, note],
            )
        })
    }

    /// Removes one site.
    pub fn remove_site(&self, name: &str, unit_id: &str) -> Result<Shortlist, StoreError> {
        self.change_site(name, unit_id, |tx, id| {
            tx.execute(
                "DELETE FROM shortlist_sites WHERE shortlist_id = ?1 AND unit_id = ?2",
                params![id, unit_id],
            )
        })
    }

    /// One transaction that changes one site (`change` returns the rows it touched) and marks
    /// the shortlist updated; no site, no change.
    fn change_site(
        &self,
        name: &str,
        unit_id: &str,
        change: impl FnOnce(&Connection, i64) -> rusqlite::Result<usize>,
    ) -> Result<Shortlist, StoreError> {
        {
            let mut db = self.db()?;
            let tx = write(&mut db).map_err(sql)?;
            let id = Self::shortlist_id(&tx, name)?;
            if change(&tx, id).map_err(sql)? == 0 {
                return Err(StoreError::NoSite {
                    name: name.into(),
                    id: unit_id.into(),
                });
            }
            touch(&tx, id)?;
            tx.commit().map_err(sql)?;
        }
        self.shortlist(name)
    }

    /// Deletes a shortlist and its sites.
    pub fn delete_shortlist(&self, name: &str) -> Result<(), StoreError> {
        let mut db = self.db()?;
        let tx = write(&mut db).map_err(sql)?;
        let id = Self::shortlist_id(&tx, name)?;
        tx.execute("DELETE FROM shortlists WHERE id = ?1", [id])
            .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    // ---- overlays ----

    /// Stores a checked upload as a new overlay.
    pub fn add_overlay(&self, name: &str, source: &str, p: &Parsed) -> Result<Overlay, StoreError> {
        let name = check_name("overlay", name)?;
        // Labels and properties as JSON; each shape exactly as it was checked, as WKB.
        let features = Json::Array(
            p.features
                .iter()
                .map(|f| json!({"label": f.label, "properties": f.properties}))
                .collect(),
        );
        let shapes = p
            .features
            .iter()
            .map(|f| shape_wkb(&f.shape))
            .collect::<Result<Vec<_>, _>>()?;
        let id = {
            let mut db = self.db()?;
            let tx = write(&mut db).map_err(sql)?;
            if name_taken(&tx, "overlays", &name)? {
                return Err(StoreError::OverlayExists(name));
            }
            tx.execute(
                &format!("INSERT INTO overlays (name, created, source, format, crs, repaired, features) VALUES (?1, {NOW}, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    name,
                    source,
                    p.format.name(),
                    p.crs,
                    Json::from(p.repaired.clone()).to_string(),
                    features.to_string()
                ],
            )
            .map_err(sql)?;
            let id = tx.last_insert_rowid();
            tx.execute("DELETE FROM overlay_shapes WHERE overlay_id = ?1", [id])
                .map_err(sql)?;
            let mut st = tx
                .prepare(
                    "INSERT INTO overlay_shapes (overlay_id, feature, wkb) VALUES (?1, ?2, ?3)",
                )
                .map_err(sql)?;
            for (i, wkb) in shapes.iter().enumerate() {
                st.execute(params![id, i as i64, wkb]).map_err(sql)?;
            }
            drop(st);
            tx.commit().map_err(sql)?;
            id
        };
        self.overlays()?
            .into_iter()
            .find(|o| o.id == id)
            .ok_or_else(|| no_overlay(&id.to_string(), None))
    }

    /// Every overlay, by id.
    pub fn overlays(&self) -> Result<Vec<Overlay>, StoreError> {
        let mut conn = self.reads();
        // Both tables read from one snapshot, whatever other processes write meanwhile.
        let db = conn.transaction().map_err(sql)?;
        let mut st = db
            .prepare("SELECT id, name, created, source, format, crs, repaired, features FROM overlays ORDER BY id")
            .map_err(sql)?;
        let rows: Vec<OverlayRow> = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        // Overlays stored before shapes were kept as WKB have none here: their coordinates
        // are in the features JSON.
        let mut shapes: HashMap<(i64, usize), Vec<u8>> = db
            .prepare("SELECT overlay_id, feature, wkb FROM overlay_shapes")
            .and_then(|mut st| {
                st.query_map([], |r| {
                    Ok(((r.get(0)?, r.get::<_, i64>(1)? as usize), r.get(2)?))
                })?
                .collect()
            })
            .map_err(sql)?;
        rows.into_iter()
            .map(
                |(id, name, created, source, format, crs, repaired, features)| {
                    let corrupt = |reason: String| StoreError::Corrupt {
                        name: name.clone(),
                        reason,
                    };
                    let repaired: Vec<usize> =
                        serde_json::from_str(&repaired).map_err(|e| corrupt(e.to_string()))?;
                    let fs: Vec<Json> =
                        serde_json::from_str(&features).map_err(|e| corrupt(e.to_string()))?;
                    let features = fs
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            stored_feature(f, shapes.remove(&(id, i)).as_deref()).map_err(corrupt)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Overlay {
                        id,
                        name,
                        created,
                        source,
                        format,
                        crs,
                        repaired,
                        features,
                    })
                },
            )
            .collect()
    }

    /// One overlay by id or by name, exactly ([`pick_overlay`]).
    pub fn overlay(&self, key: &str) -> Result<Overlay, StoreError> {
        let all = self.overlays()?;
        let i = pick_overlay(&all, key, |o| (o.id, o.name.as_str()))?;
        Ok(all.into_iter().nth(i).expect("index from pick_overlay"))
    }

    /// Deletes an overlay by id.
    pub fn delete_overlay(&self, id: i64) -> Result<(), StoreError> {
        let n = self
            .db()?
            .execute("DELETE FROM overlays WHERE id = ?1", [id])
            .map_err(sql)?;
        if n == 0 {
            return Err(no_overlay(&id.to_string(), None));
        }
        Ok(())
    }
}

/// The overlay a key names, exactly: an id first (a name that looks like a number never
/// shadows an id), then a name as stored (trimmed, case kept). A name that matches only when
/// case is ignored is offered in the error, never taken: deleting "PLAN A" must not delete
/// "Plan A".
///
/// ```
/// use sitefinder::store::pick_overlay;
/// let all = [(12, "Plan A"), (3, "12")];
/// fn key<'a>(o: &'a (i64, &'static str)) -> (i64, &'a str) {
///     (o.0, o.1)
/// }
/// assert_eq!(pick_overlay(&all, "12", key).unwrap(), 0); // the id, not the name "12"
/// assert_eq!(pick_overlay(&all, " Plan A ", key).unwrap(), 0);
/// let e = pick_overlay(&all, "PLAN A", key).unwrap_err().to_string();
/// assert!(e.contains("did you mean `Plan A` (id 12)"), "{e}");
/// assert_eq!(pick_overlay(&[(3, "12")], "12", key).unwrap(), 0); // no id 12: the name
/// ```
pub fn pick_overlay<T>(
    all: &[T],
    key: &str,
    id_and_name: impl Fn(&T) -> (i64, &str),
) -> Result<usize, StoreError> {
    let k = key.trim();
    if let Ok(id) = k.parse::<i64>() {
        if let Some(i) = all.iter().position(|o| id_and_name(o).0 == id) {
            return Ok(i);
        }
    }
    if let Some(i) = all.iter().position(|o| id_and_name(o).1 == k) {
        return Ok(i);
    }
    let hint = all
        .iter()
        .map(&id_and_name)
        .find(|(_, n)| n.to_lowercase() == k.to_lowercase())
        .map(|(id, n)| format!("; did you mean `{n}` (id {id})?"));
    Err(no_overlay(k, hint))
}

/// The error for an overlay not found, with a suggestion or where to look.
fn no_overlay(key: &str, hint: Option<String>) -> StoreError {
    StoreError::NoOverlay {
        key: key.to_string(),
        hint: hint
            .unwrap_or_else(|| "; GET /overlays or `sitefinder overlay list` shows them".into()),
    }
}

/// Whether `table` (shortlists or overlays) has a row of this name.
fn name_taken(tx: &Connection, table: &str, name: &str) -> Result<bool, StoreError> {
    tx.query_row(
        &format!("SELECT EXISTS(SELECT 1 FROM {table} WHERE name = ?1)"),
        [name],
        |r| r.get(0),
    )
    .map_err(sql)
}

/// A name as stored: trimmed, 1 to 80 characters, no control characters. Lookups trim the
/// same way, so a name is found as it was written.
fn check_name(what: &'static str, name: &str) -> Result<String, StoreError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 80 || n.chars().any(char::is_control) {
        return Err(StoreError::BadName {
            what,
            name: name.into(),
        });
    }
    Ok(n.to_string())
}

fn insert_sites(tx: &Connection, id: i64, ids: &[String], note: &str) -> Result<(), StoreError> {
    let mut st = tx
        .prepare(&format!("INSERT OR IGNORE INTO shortlist_sites (shortlist_id, unit_id, note, added, updated) VALUES (?1, ?2, ?3, {NOW}, {NOW})"))
        .map_err(sql)?;
    for u in ids {
        st.execute(params![id, u, note]).map_err(sql)?;
    }
    Ok(())
}

fn touch(tx: &Connection, id: i64) -> Result<(), StoreError> {
    tx.execute(
        &format!("UPDATE shortlists SET updated = {NOW} WHERE id = ?1"),
        [id],
    )
    .map_err(sql)?;
    Ok(())
}

/// A shape as OGC WKB (little-endian, f64 coordinates, exactly as given).
fn shape_wkb(shape: &MultiPolygon<f64>) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(wkb::writer::multi_polygon_wkb_size(shape));
    wkb::writer::write_multi_polygon(
        &mut out,
        shape,
        &wkb::writer::WriteOptions {
            endianness: wkb::Endianness::LittleEndian,
        },
    )
    .map_err(|e| StoreError::Sql(format!("encoding an overlay shape as WKB: {e}")))?;
    Ok(out)
}

/// A stored feature: label and properties from its JSON, the shape from its WKB, or (stored
/// before WKB) from the JSON's `coordinates`.
fn stored_feature(f: &Json, wkb: Option<&[u8]>) -> Result<PlanFeature, String> {
    let label = f["label"].as_str().ok_or("a feature without a label")?;
    let properties = f["properties"]
        .as_object()
        .ok_or_else(|| format!("feature `{label}` has no properties"))?
        .clone();
    let shape = match wkb {
        Some(b) => crate::ingest::overlay::multipolygon_from_wkb(b)
            .map_err(|e| format!("feature `{label}`: its shape is {e}"))?,
        None => json_shape(&f["coordinates"])
            .ok_or_else(|| format!("feature `{label}` has no readable shape"))?,
    };
    Ok(PlanFeature::from_stored(
        label.to_string(),
        properties,
        shape,
    ))
}

/// Polygons as nested JSON arrays of `[x, y]` (how overlays were stored before WKB).
fn json_shape(coordinates: &Json) -> Option<MultiPolygon<f64>> {
    let polys = coordinates
        .as_array()?
        .iter()
        .map(|p| {
            let rings: Vec<LineString<f64>> = p
                .as_array()?
                .iter()
                .map(|r| {
                    r.as_array()?
                        .iter()
                        .map(|c| {
                            Some(Coord {
                                x: c.get(0)?.as_f64()?,
                                y: c.get(1)?.as_f64()?,
                            })
                        })
                        .collect::<Option<Vec<_>>>()
                        .map(LineString)
                })
                .collect::<Option<_>>()?;
            let mut it = rings.into_iter();
            Some(Polygon::new(it.next()?, it.collect()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(MultiPolygon(polys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::overlay::UploadFormat;
    use geo::{MapCoords, Validation};

    /// A note longer than an Excel cell or a report page takes is refused whole, however it is
    /// given, and the shortlist is unchanged.
    #[test]
    fn notes_over_the_limit_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let ids = vec!["a".to_string()];
        let long = "x".repeat(NOTE_MAX_CHARS + 1);
        let at_limit = "é".repeat(NOTE_MAX_CHARS);
        assert!(matches!(
            s.create_shortlist("L", "u.csv", "", "", &ids, &long),
            Err(StoreError::NoteTooLong { chars }) if chars == NOTE_MAX_CHARS + 1
        ));
        assert!(s.list_shortlists().unwrap().is_empty());
        s.create_shortlist("L", "u.csv", "", "", &ids, "ok")
            .unwrap();
        let e = s.set_note("L", "a", &long).unwrap_err();
        assert!(e.to_string().contains("at most 10000"), "{e}");
        assert!(matches!(
            s.add_sites("L", &["b".into()], &long),
            Err(StoreError::NoteTooLong { .. })
        ));
        let sl = s.shortlist("L").unwrap();
        assert_eq!((sl.sites.len(), sl.sites[0].note.as_str()), (1, "ok"));
        // Characters, not bytes: 10,000 two-byte letters fit.
        assert_eq!(
            s.set_note("L", "a", &at_limit).unwrap().sites[0].note,
            at_limit
        );
    }

    fn parsed(features: Vec<PlanFeature>) -> Parsed {
        Parsed {
            format: UploadFormat::GeoJson,
            crs: "EPSG:27700".into(),
            features,
            repaired: vec![],
        }
    }

    fn coords(shape: &MultiPolygon<f64>) -> Vec<(f64, f64)> {
        shape
            .0
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|r| r.0.iter().map(|c| (c.x, c.y)))
            .collect()
    }

    #[test]
    fn overlay_shapes_round_trip_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Store::open(dir.path()).unwrap();
        // Sub-millimetre coordinates, and a hole.
        let outer = LineString::from(vec![
            (384123.4567891, 412345.1234567),
            (384223.4567891, 412345.1234567),
            (384223.4567891, 412445.1234567),
            (384123.4567891, 412445.1234567),
            (384123.4567891, 412345.1234567),
        ]);
        let hole = LineString::from(vec![
            (384150.0000001, 412370.9999999),
            (384160.3333333, 412370.9999999),
            (384160.3333333, 412380.6666667),
            (384150.0000001, 412370.9999999),
        ]);
        // A hole 4 mm inside its polygon's edge: rounded to the centimetre, the two touch
        // along a line, which is not a valid polygon.
        let square = LineString::from(vec![
            (384300.0, 412300.0),
            (384310.0, 412300.0),
            (384310.0, 412310.0),
            (384300.0, 412310.0),
            (384300.0, 412300.0),
        ]);
        let near_edge = LineString::from(vec![
            (384300.004, 412302.0),
            (384305.0, 412302.0),
            (384305.0, 412304.0),
            (384300.004, 412304.0),
            (384300.004, 412302.0),
        ]);
        let shapes = [
            MultiPolygon(vec![Polygon::new(outer, vec![hole])]),
            MultiPolygon(vec![Polygon::new(square, vec![near_edge])]),
        ];
        for s in &shapes {
            assert!(s.is_valid(), "the test shapes are valid");
        }
        let centimetres = shapes[1].map_coords(|c: Coord<f64>| Coord {
            x: (c.x * 100.0).round() / 100.0,
            y: (c.y * 100.0).round() / 100.0,
        });
        assert!(
            !centimetres.is_valid(),
            "rounded, the hole touches the edge"
        );
        let mut props = serde_json::Map::new();
        props.insert("ref".into(), json!("FHS-1"));
        let p = parsed(vec![
            PlanFeature::from_stored("Town centre".into(), props.clone(), shapes[0].clone()),
            PlanFeature::from_stored(
                "Near the edge".into(),
                Default::default(),
                shapes[1].clone(),
            ),
        ]);
        db.add_overlay("Exact", "plan.gpkg", &p).unwrap();
        for store in [db, Store::open(dir.path()).unwrap()] {
            let o = store.overlay("Exact").unwrap();
            assert_eq!(o.features.len(), 2);
            assert_eq!(o.features[0].label, "Town centre");
            assert_eq!(o.features[0].properties, props);
            assert_eq!(o.features[1].label, "Near the edge");
            for (f, s) in o.features.iter().zip(&shapes) {
                let (got, want) = (coords(&f.shape), coords(s));
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        g.0 == w.0 && g.1 == w.1,
                        "{g:?} != {w:?}: coordinates changed in the store"
                    );
                }
                assert!(f.shape.is_valid());
                assert_eq!(&f.shape, s);
            }
        }
    }

    /// A state database written before overlay shapes were stored as WKB: the old schema,
    /// each feature's coordinates in the JSON.
    #[test]
    fn databases_with_json_overlays_still_open_and_read() {
        let dir = tempfile::tempdir().unwrap();
        {
            let old = Connection::open(dir.path().join(DB_FILE)).unwrap();
            old.execute_batch(
                "CREATE TABLE shortlists (
                    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                    created TEXT NOT NULL, updated TEXT NOT NULL,
                    units_file TEXT NOT NULL, weights TEXT NOT NULL, query TEXT NOT NULL);
                 CREATE TABLE shortlist_sites (
                    shortlist_id INTEGER NOT NULL REFERENCES shortlists(id) ON DELETE CASCADE,
                    unit_id TEXT NOT NULL, note TEXT NOT NULL,
                    added TEXT NOT NULL, updated TEXT NOT NULL,
                    PRIMARY KEY (shortlist_id, unit_id));
                 CREATE TABLE overlays (
                    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL,
                    source TEXT NOT NULL, format TEXT NOT NULL, crs TEXT NOT NULL,
                    repaired TEXT NOT NULL, features TEXT NOT NULL);",
            )
            .unwrap();
            let features = json!([{
                "label": "Old plan",
                "properties": {"name": "Old plan", "year": 2021},
                "coordinates": [[
                    [[389000.0, 413000.0], [389500.25, 413000.0], [389500.25, 413500.5],
                     [389000.0, 413500.5], [389000.0, 413000.0]],
                    [[389100.0, 413100.0], [389200.0, 413100.0], [389200.0, 413200.0],
                     [389100.0, 413100.0]]
                ]]
            }]);
            old.execute(
                "INSERT INTO overlays (name, created, source, format, crs, repaired, features)
                 VALUES ('Old', '2024-05-01T10:00:00.000Z', 'old.geojson', 'GeoJSON',
                 'EPSG:27700', '[]', ?1)",
                [features.to_string()],
            )
            .unwrap();
        }
        let db = Store::open(dir.path()).unwrap();
        let o = db.overlay("Old").unwrap();
        assert_eq!((o.id, o.source.as_str()), (1, "old.geojson"));
        assert_eq!(o.features.len(), 1);
        let f = &o.features[0];
        assert_eq!(f.label, "Old plan");
        assert_eq!(f.properties["year"], 2021);
        assert_eq!(
            coords(&f.shape),
            [
                (389000.0, 413000.0),
                (389500.25, 413000.0),
                (389500.25, 413500.5),
                (389000.0, 413500.5),
                (389000.0, 413000.0),
                (389100.0, 413100.0),
                (389200.0, 413100.0),
                (389200.0, 413200.0),
                (389100.0, 413100.0),
            ]
        );
        assert_eq!(f.shape.0[0].interiors().len(), 1);
        assert_eq!(f.bbox.min().x, 389000.0);
        assert_eq!(f.bbox.max().y, 413500.5);

        // New overlays go beside it as WKB; both read back, and deleting removes the shapes.
        let new = MultiPolygon(vec![Polygon::new(
            LineString::from(vec![
                (390000.123456, 414000.0),
                (390100.0, 414000.0),
                (390100.0, 414100.987654),
                (390000.123456, 414000.0),
            ]),
            vec![],
        )]);
        let p = parsed(vec![PlanFeature::from_stored(
            "New".into(),
            Default::default(),
            new.clone(),
        )]);
        let added = db.add_overlay("New", "", &p).unwrap();
        assert_eq!(added.features[0].shape, new);
        let all = Store::open(dir.path()).unwrap().overlays().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].features[0].shape, f.shape);
        assert_eq!(all[1].features[0].shape, new);
        db.delete_overlay(added.id).unwrap();
        let left: i64 = db
            .db()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM overlay_shapes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
        assert_eq!(db.overlays().unwrap().len(), 1);
    }
}
