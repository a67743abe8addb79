//! What the handlers share: the engine, the collections, the state database and its overlays,
//! the write token; and the checks every write makes.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::http::{header, HeaderMap, StatusCode};

use crate::engine::Engine;
use crate::ingest::overlay::Overlay;
use crate::serve::basemap::BaseMap;
use crate::serve::collections::{self, Collection};
use crate::serve::error::ApiError;
use crate::store::{Store, StoreError};

/// Everything the handlers read: the engine, the collections built from it once, the state
/// database and its overlays (behind a lock, replaced whole after a committed write), the
/// write token and the web map's files.
pub struct AppState {
    pub engine: Arc<Engine>,
    pub collections: Vec<Collection>,
    /// Shortlists and overlays; `None` = those routes answer 503.
    pub store: Option<Store>,
    pub overlays: RwLock<Vec<Arc<Overlay>>>,
    /// The database's `data_version` when `overlays` was last read: another process's change
    /// (the CLI's `overlay add`) moves it, and the list is read again.
    overlays_seen: std::sync::Mutex<Option<i64>>,
    /// The bearer token writes need; `None` = writes are refused.
    pub token: Option<String>,
    pub max_upload_bytes: usize,
    /// Uploads checked at once (each may hold its body and what it unpacks to, about 110 MB at
    /// most); more wait their turn.
    pub upload_slots: tokio::sync::Semaphore,
    /// How long a request's body may take to arrive (`serve --body-timeout-s`).
    pub body_timeout: std::time::Duration,
    /// Features, vertices, rings and validity work one upload may hold.
    pub upload_limits: crate::ingest::overlay::UploadLimits,
    /// Serve the map from this directory instead of the files built into the binary.
    pub web_dir: Option<PathBuf>,
    /// The online base map the page draws under the data (`--base-map-url`); none by default.
    pub base_map: Option<BaseMap>,
    /// The web origins whose pages may read this server's answers (`--cors-origin`); empty =
    /// any origin, since every read is open. Writes are never allowed across origins.
    pub cors_origins: Vec<String>,
    /// Where clients reach the server (`--public-url`, no trailing slash): links start with it.
    /// `None` = the scheme and host of each request.
    pub public_url: Option<String>,
    /// Vector tiles built so far (`/tiles`).
    pub tiles: crate::serve::tile_cache::Tiles,
    /// One permit per core for the requests' CPU work ([`AppState::cpu`]).
    cpu_slots: Arc<tokio::sync::Semaphore>,
    /// The threads that do it.
    workers: crate::serve::workers::Workers,
    /// What a ranked feature's properties are, from the first rows of a ranking of every
    /// unit, for `/rank`'s `filter`, `sortby` and `properties` ([`AppState::rank_queryables`]).
    rank_queryables: std::sync::OnceLock<crate::serve::ogc::Queryables>,
}

impl AppState {
    /// Builds every collection over the engine's units.
    pub fn new(engine: Engine) -> AppState {
        let engine = Arc::new(engine);
        // Each ranking then costs what its filters keep, not every unit: the index, records
        // and id order are prepared (or read where kept) beside the other collections; the
        // units collection waits for the id order.
        let collections = std::thread::scope(|scope| {
            scope.spawn(|| engine.prepare());
            collections::build_all(&engine)
        });
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        AppState {
            engine,
            collections,
            store: None,
            overlays: RwLock::new(vec![]),
            overlays_seen: std::sync::Mutex::new(None),
            token: None,
            max_upload_bytes: crate::ingest::overlay::DEFAULT_MAX_UPLOAD_BYTES,
            upload_slots: tokio::sync::Semaphore::new(2),
            body_timeout: std::time::Duration::from_secs(
                crate::serve::listen::Limits::default().body_timeout_s,
            ),
            upload_limits: Default::default(),
            web_dir: None,
            base_map: None,
            cors_origins: vec![],
            public_url: None,
            tiles: Default::default(),
            cpu_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            workers: crate::serve::workers::Workers::new(cores),
            rank_queryables: Default::default(),
        }
    }

    /// Adds the state database (loading its overlays) and the write token.
    pub fn with_store(
        mut self,
        store: Store,
        token: Option<String>,
    ) -> Result<AppState, StoreError> {
        let seen = store.data_version()?;
        let overlays = store.overlays()?.into_iter().map(Arc::new).collect();
        self.overlays = RwLock::new(overlays);
        self.overlays_seen = std::sync::Mutex::new(Some(seen));
        self.store = Some(store);
        self.token = token.filter(|t| !t.trim().is_empty());
        Ok(self)
    }

    /// Runs `f` with the state database on a blocking thread: never on the async workers,
    /// which a lock held by another process would otherwise stall (every request would wait,
    /// `/health` too). A lock held past [`crate::store::BUSY_TIMEOUT`] is a 503.
    pub async fn db<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState, &Store) -> Result<T, ApiError> + Send + 'static,
    {
        let s = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = s.store()?;
            f(&s, store)
        })
        .await?
    }

    /// The permits [`AppState::cpu`] takes, one per core: whoever holds them all holds back
    /// every request's CPU work until they are dropped (a test uses this to catch a request
    /// part-way).
    pub fn cpu_slots(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.cpu_slots
    }

    /// Runs a request's CPU work (a page of items, a ranking, a tile, a search, a choice of
    /// sites) off the async workers, at most one piece per core at a time and first come,
    /// first served: sixteen clients on two cores then queue for a few milliseconds each,
    /// instead of sixteen threads sharing the cores and some requests waiting a second.
    pub async fn cpu<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> T + Send + 'static,
    {
        // The permit goes with the work: a client that goes away does not free it while the
        // work still runs.
        let permit = self
            .cpu_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let s = self.clone();
        // On the server's own threads (`serve::workers`), kept for its life: what a thread
        // keeps (its PROJ transformations, ~25 ms to make) is made once. A panic is an error
        // answer.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let given = self.workers.run(move || {
            let _permit = permit;
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&s)));
            let _ = tx.send(out);
        });
        if !given {
            return Err(ApiError::internal(
                "no thread to do the request's work: the server is stopping",
            ));
        }
        match rx.await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(panic)) => Err(ApiError::internal(format!(
                "the request's work stopped: {}",
                panic_text(&*panic)
            ))),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// Finishes the CPU work given and ends the threads that do it, waiting for them for at
    /// most `wait` ([`crate::serve::workers::Workers::stop`]; true if they all ended): a
    /// stopping server calls it before it exits. Work asked for afterwards is an error answer.
    pub fn stop_workers(&self, wait: std::time::Duration) -> bool {
        self.workers.stop(wait)
    }

    /// The properties a ranked feature has (from the first 1,000 rows of the default ranking
    /// with the units that cannot hold a clinic kept, so a file of only such units still has
    /// them), worked out once: what `/rank`'s `filter`, `sortby` and `properties` may name.
    pub fn rank_queryables(&self) -> Result<crate::serve::ogc::Queryables, ApiError> {
        if let Some(q) = self.rank_queryables.get() {
            return Ok(q.clone());
        }
        let e = &self.engine;
        // The first rows hold every property (a million units need not be ranked whole for
        // their names).
        let q = crate::engine::RankQuery {
            include_unsuitable: Some(true),
            ..Default::default()
        };
        let (all, _) = e.rank_top(&q, None, 1000)?;
        let sample: Vec<serde_json::Map<String, serde_json::Value>> = all
            .rows
            .iter()
            .take(1000)
            .map(|r| {
                crate::export::table::properties(
                    &e.atlas,
                    &e.units,
                    &e.contexts,
                    all.rank_column,
                    r,
                )
            })
            .collect();
        let q = crate::serve::ogc::Queryables::from_rows(sample.iter(), None);
        Ok(self.rank_queryables.get_or_init(|| q).clone())
    }

    /// The overlays as the database holds them now: read again if another process changed
    /// the database since they were last read. Blocking: call it through [`AppState::db`],
    /// or use [`AppState::current_overlays`].
    pub fn sync_overlays(&self) -> Result<Vec<Arc<Overlay>>, ApiError> {
        if let Some(store) = &self.store {
            let mut seen = self.overlays_seen.lock().unwrap_or_else(|p| p.into_inner());
            let now = store.data_version()?;
            if *seen != Some(now) {
                self.reload_overlays()?;
                *seen = Some(now);
            }
        }
        Ok(self
            .overlays
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    /// [`AppState::sync_overlays`] on a blocking thread.
    pub async fn current_overlays(self: &Arc<Self>) -> Result<Vec<Arc<Overlay>>, ApiError> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || s.sync_overlays()).await?
    }

    /// The overlay with this id or name, exactly (`store::pick_overlay`), as the database
    /// holds it now.
    pub async fn overlay(self: &Arc<Self>, key: &str) -> Result<Arc<Overlay>, ApiError> {
        let all = self.current_overlays().await?;
        let i = crate::store::pick_overlay(&all, key, |o| (o.id, o.name.as_str()))?;
        Ok(all[i].clone())
    }

    /// The overlay a query names, or a 400 naming `overlay`.
    pub async fn chosen_overlay(
        self: &Arc<Self>,
        key: Option<&str>,
    ) -> Result<Option<Arc<Overlay>>, ApiError> {
        let Some(k) = key else { return Ok(None) };
        let all = self.current_overlays().await?;
        crate::store::pick_overlay(&all, k, |o| (o.id, o.name.as_str()))
            .map(|i| Some(all[i].clone()))
            .map_err(|e| ApiError::bad("overlay", e))
    }

    /// Reads every overlay from the database again (after a write of this server's own).
    /// Blocking.
    pub fn reload_overlays(&self) -> Result<(), ApiError> {
        let fresh: Vec<Arc<Overlay>> = self
            .store()?
            .overlays()?
            .into_iter()
            .map(Arc::new)
            .collect();
        *self.overlays.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    pub fn store(&self) -> Result<&Store, ApiError> {
        self.store.as_ref().ok_or_else(|| ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "no_state",
            message: "this server has no state directory, so no shortlists or overlays; start it with --state DIR".into(),
        })
    }

    /// Checks the bearer token of a write.
    pub fn authorise(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                code: "writes_disabled",
                message: "this server takes no writes: start it with --token-file FILE or SITEFINDER_TOKEN set".into(),
            });
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        match given {
            None => Err(ApiError {
                status: StatusCode::UNAUTHORIZED,
                code: "unauthorized",
                message: "changes need this server's write token, and none was given: ask whoever runs the server for it (`sitefinder serve` prints it when it starts). Programs send it as the header `Authorization: Bearer <token>`".into(),
            }),
            Some(t) if same(t.as_bytes(), token.as_bytes()) => Ok(()),
            Some(_) => Err(ApiError {
                status: StatusCode::FORBIDDEN,
                code: "forbidden",
                message: "that write token is not this server's: check it with whoever runs the server (a server started without --token-file makes a new token each time it starts)".into(),
            }),
        }
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The state as handlers share it.
pub type Shared = Arc<AppState>;

/// Why no write token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("--token-file {file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("the write token must be at least 8 characters")]
    TooShort,
    #[error("no random bytes for a write token ({0}); pass --token-file FILE")]
    Random(String),
}

/// The bearer token writes need, and where it came from: the file given, else
/// `$SITEFINDER_TOKEN`, else 128 random bits from the operating system, as hex.
pub fn write_token(file: Option<&std::path::Path>) -> Result<(String, String), TokenError> {
    let (token, from) = match (file, std::env::var("SITEFINDER_TOKEN")) {
        (Some(f), _) => (
            std::fs::read_to_string(f)
                .map_err(|source| TokenError::Read {
                    file: f.to_path_buf(),
                    source,
                })?
                .trim()
                .to_string(),
            format!("from {}", f.display()),
        ),
        (None, Ok(t)) if !t.trim().is_empty() => {
            (t.trim().to_string(), "from SITEFINDER_TOKEN".into())
        }
        _ => {
            let mut b = [0u8; 16];
            getrandom::fill(&mut b).map_err(|e| TokenError::Random(e.to_string()))?;
            let hex = b.iter().map(|x| format!("{x:02x}")).collect();
            (hex, "generated for this run".into())
        }
    };
    if token.len() < 8 {
        return Err(TokenError::TooShort);
    }
    Ok((token, from))
}

/// What a panic said, if it said it in words.
fn panic_text(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}
