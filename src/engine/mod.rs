//! One pipeline, opened once, that the CLI, the server and the benches share.
//!
//! [`Engine::open`] reads the atlas, imports one or more units files, opens the catchment
//! source and joins every unit once. It then answers [`Engine::rank`] (a [`RankQuery`]),
//! [`Engine::optimise`] (an [`OptimiseQuery`]) and [`Engine::shortlist_ranking`], and renders
//! any ranking in any export format with the metadata that says how it was made
//! ([`Engine::meta`], [`Engine::render`]). The ranking settings are built in one place,
//! [`Engine::settings`].

pub mod cache;
pub mod query;
pub mod search;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value as Json};

use crate::analysis::chosen::Chosen;
use crate::analysis::criteria::Settings;
use crate::analysis::join::{attach, Context, JoinParams};
use crate::analysis::optimise::{self, Model, OptimiseError, Report};
use crate::analysis::prepared::Prepared;
use crate::analysis::rank::{self, RankError, Ranked, Ranking};
use crate::base::date::Date;
use crate::export::{ExportError, ExportFormat, Meta, ShortlistFormat};
use crate::ingest::catchment::{CatchmentError, CatchmentSource, Huff, Polygons, Registrations};
use crate::ingest::files::{self, FilesError};
use crate::ingest::overlay::Overlay;
use crate::ingest::units::{read_units, ImportError, ImportOptions, Skipped, Unit};
use crate::reference::atlas::{Atlas, DataError, LIST_SIZES_NOTE};
use crate::reference::edition::Imd;
use crate::store::Shortlist;

pub use crate::analysis::optimise::OptimiseQuery;
pub use query::{FormatQuery, Paging, Param, PropertiesQuery, RankQuery, DEFAULT_LIMIT, MAX_LIMIT};

/// The units ranked when none are given: Rochdale's vacant shops, in the data directory.
pub const DEFAULT_UNITS: &str = "units/rochdale_vacant_shops.csv";

/// Where GP catchments come from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Catchments {
    /// The Huff approximation from list sizes and distance.
    #[default]
    Huff,
    /// NHS Digital "Patients registered at a GP practice - LSOA" file.
    Registrations(PathBuf),
    /// Catchment polygons (GeoJSON with a practice_code property).
    Polygons(PathBuf),
}

impl Catchments {
    /// `huff`, `registrations:PATH` or `polygons:PATH` (what a shortlist records).
    pub fn spec(&self) -> String {
        match self {
            Catchments::Huff => "huff".into(),
            Catchments::Registrations(p) => format!("registrations:{}", p.display()),
            Catchments::Polygons(p) => format!("polygons:{}", p.display()),
        }
    }

    /// Reads [`Catchments::spec`] back.
    pub fn parse_spec(s: &str) -> Option<Catchments> {
        match s.split_once(':') {
            None if s.trim() == "huff" => Some(Catchments::Huff),
            Some(("registrations", p)) => Some(Catchments::Registrations(p.into())),
            Some(("polygons", p)) => Some(Catchments::Polygons(p.into())),
            _ => None,
        }
    }

    fn open(&self, atlas: &Atlas) -> Result<Box<dyn CatchmentSource>, CatchmentError> {
        Ok(match self {
            Catchments::Huff => Box::new(Huff::default()),
            Catchments::Registrations(p) => Box::new(Registrations::load(p, atlas)?),
            Catchments::Polygons(p) => Box::new(Polygons::load(p, atlas)?),
        })
    }
}

/// What the engine is opened from: the command line's shared flags (`rank`, `optimise`,
/// `serve`, `export`, `shortlist add`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Config {
    /// Data directory (default: $SITEFINDER_DATA, else the data built into sitefinder).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Candidate units: a CSV (lat/lon, easting/northing or postcode; or a council
    /// business-rates list) or GeoJSON file, a folder of them, or a glob pattern ("lists/*.csv");
    /// repeat for more. An id used in two files becomes <file name>/<id>. Default: the vacant
    /// shops of Rochdale shipped with the data.
    #[arg(long, value_name = "FILE")]
    pub units: Vec<PathBuf>,
    /// NHS Digital "Patients registered at a GP practice - LSOA" CSV for real catchments.
    #[arg(long, value_name = "FILE")]
    pub registrations: Option<PathBuf>,
    /// GP catchment polygons as GeoJSON with a practice_code property.
    #[arg(long, value_name = "FILE", conflicts_with = "registrations")]
    pub catchments: Option<PathBuf>,
    /// Date vacancy age is measured at, for every unit (YYYY-MM-DD; default: each unit's list
    /// date, from a `list_date` column, else today).
    #[arg(long = "as-of", id = "engine_as_of", value_name = "DATE")]
    pub as_of: Option<Date>,
    /// Walking reach in metres (50 to 5000).
    #[arg(long, value_name = "M", default_value_t = 800.0)]
    pub reach_m: f64,
    /// Skip bad rows (each is reported) instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// The largest units file read, in MB (what a `.gz` unpacks to); default 500, about three
    /// million rows of a rates list.
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_units_file_mb: Option<u64>,
    /// Deprivation edition: 2025 (IoD2025 on LSOA 2021, the default) or 2019 (IMD 2019 on
    /// LSOA 2011, to compare).
    #[arg(long, value_enum, default_value_t = Imd::Iod2025, value_name = "YEAR")]
    pub imd: Imd,
    /// Import and join the units afresh, and keep nothing: units files of over 1 MB in all are
    /// otherwise kept joined in the per-user cache folder ($XDG_CACHE_HOME/sitefinder, else
    /// ~/.cache/sitefinder), and the next run over the same files, data and settings reads them
    /// from there.
    #[arg(long)]
    pub no_cache: bool,
    /// Where joined units are kept: `None` is the per-user cache folder, for units files of
    /// over [`cache::MIN_BYTES`] in all; a folder given here keeps units files of any size.
    #[arg(skip)]
    pub cache_dir: Option<PathBuf>,
}

impl Config {
    /// A configuration over `data` with the defaults (Rochdale's units, Huff, today).
    pub fn new(data: &Path) -> Config {
        Config {
            data: Some(data.to_path_buf()),
            reach_m: JoinParams::default().reach_radius_m,
            ..Config::default()
        }
    }

    /// The catchment source asked for.
    pub fn catchment_choice(&self) -> Catchments {
        match (&self.registrations, &self.catchments) {
            (Some(p), _) => Catchments::Registrations(p.clone()),
            (_, Some(p)) => Catchments::Polygons(p.clone()),
            _ => Catchments::Huff,
        }
    }

    /// Asks for this catchment source (the reverse of [`Config::catchment_choice`]).
    pub fn set_catchments(&mut self, choice: Catchments) {
        (self.registrations, self.catchments) = match choice {
            Catchments::Huff => (None, None),
            Catchments::Registrations(p) => (Some(p), None),
            Catchments::Polygons(p) => (None, Some(p)),
        };
    }

    /// The units files: those given (each a file, a folder or a glob pattern), else the
    /// default units in the data directory.
    pub fn units_files(&self, data: &Path) -> Result<Vec<PathBuf>, FilesError> {
        if self.units.is_empty() {
            return Ok(vec![data.join(DEFAULT_UNITS)]);
        }
        let mut out: Vec<PathBuf> = vec![];
        for spec in &self.units {
            for f in files::expand(spec)? {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        Ok(out)
    }
}

/// Errors opening the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Catchments(#[from] CatchmentError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error("no data directory: pass --data DIR or set SITEFINDER_DATA")]
    NoData,
    #[error("--reach-m {0} is out of range: give 50 to 5000 metres")]
    BadReach(f64),
    #[error("no unit {ids} in {files}; nothing was changed")]
    UnknownIds { ids: String, files: String },
    #[error("give at least one unit id")]
    NoIds,
}

impl Param for EngineError {
    fn param(&self) -> &'static str {
        match self {
            EngineError::UnknownIds { .. } | EngineError::NoIds => "ids",
            EngineError::BadReach(_) => "reach_m",
            _ => "units",
        }
    }
}

/// The joined units and everything needed to rank them.
pub struct Engine {
    pub atlas: Arc<Atlas>,
    pub units: Vec<Unit>,
    /// `contexts[i]` is the join of `units[i]`.
    pub contexts: Vec<Context>,
    pub catchments: Box<dyn CatchmentSource>,
    pub catchment_choice: Catchments,
    pub join: JoinParams,
    /// The date vacancy age is measured at when `as_of_given`, else for units without a list
    /// date (then today).
    pub as_of: Date,
    /// Whether `as_of` was given (`--as-of`): it then overrides the units' list dates.
    pub as_of_given: bool,
    /// The units files, canonical where possible.
    pub units_files: Vec<PathBuf>,
    /// Rows skipped as invalid, with their file.
    pub skipped: Vec<(PathBuf, Skipped)>,
    /// Business-rates rows that were not empty.
    pub occupied: usize,
    /// What the user should know about the units read (ids renamed to be unique).
    pub notes: Vec<String>,
    /// The units by id: positions in `units`, which is never shortened or reordered once
    /// the engine is made.
    ids: crate::base::ids::IdIndex,
    /// The units indexed by position and their settled criterion values, once
    /// [`Engine::prepare`] has made them (a server does; one ranking from the CLI does not
    /// need them).
    prepared: OnceLock<Prepared>,
    /// Where the joined units are kept and under what key, when they are: what is prepared
    /// over them is kept beside them.
    kept: Option<(PathBuf, cache::Key)>,
}

impl Engine {
    /// Loads the atlas and opens the engine over it.
    pub fn open(cfg: &Config) -> Result<Engine, EngineError> {
        let dir = cfg.data.as_deref().ok_or(EngineError::NoData)?;
        let (atlas, early) = std::thread::scope(|scope| {
            let atlas = scope.spawn(|| {
                let _t = crate::base::timing::Phase::start("load the reference data");
                Atlas::load_edition(dir, cfg.imd)
            });
            // Joined units kept need only the settings and the files, not the data loaded:
            // they are read meanwhile, and their indexes checked against the data after.
            let early = cfg.units_files(dir).ok().map(|paths| {
                let full = canonical(&paths);
                kept_at(cfg, dir, cfg.imd, &paths, &full).map(|(at, key)| {
                    let _t = crate::base::timing::Phase::start("read the joined units kept");
                    let read = cache::read(&at, &key, &full, cache::Bounds::ANY);
                    Kept {
                        at,
                        key,
                        read: Some(read),
                    }
                })
            });
            let atlas = atlas
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (atlas, early)
        });
        Engine::open_from(Arc::new(atlas?), cfg, early)
    }

    /// Opens the engine over an atlas already loaded.
    pub fn open_with(atlas: Arc<Atlas>, cfg: &Config) -> Result<Engine, EngineError> {
        Engine::open_from(atlas, cfg, None)
    }

    /// [`Engine::open_with`], given what [`Engine::open`] found of the joined units kept while
    /// the atlas loaded (`None`: not looked for).
    fn open_from(
        atlas: Arc<Atlas>,
        cfg: &Config,
        early: Option<Option<Kept>>,
    ) -> Result<Engine, EngineError> {
        if !(50.0..=5_000.0).contains(&cfg.reach_m) {
            return Err(EngineError::BadReach(cfg.reach_m));
        }
        let choice = cfg.catchment_choice();
        let catchments = choice.open(&atlas)?;
        let paths = cfg.units_files(&atlas.dir)?;
        let full = canonical(&paths);
        let join = JoinParams {
            reach_radius_m: cfg.reach_m,
            ..JoinParams::default()
        };
        let as_of = cfg.as_of.unwrap_or_else(Date::today);
        let mut kept = early.unwrap_or_else(|| {
            kept_at(cfg, &atlas.dir, atlas.imd, &paths, &full).map(|(at, key)| Kept {
                at,
                key,
                read: None,
            })
        });
        if let Some(k) = &mut kept {
            let bounds = cache::Bounds::of(&atlas);
            let read = match k.read.take() {
                Some(read) => read.and_then(|j| {
                    j.within(bounds)
                        .then_some(j)
                        .ok_or(cache::CacheError::Damaged(
                            "an index beyond the data's layers",
                        ))
                }),
                None => {
                    let _t = crate::base::timing::Phase::start("read the joined units kept");
                    cache::read(&k.at, &k.key, &full, bounds)
                }
            };
            let at = &k.at;
            match read {
                Ok(j) => {
                    let mut e = Engine::assemble(
                        atlas, j.units, j.contexts, catchments, choice, join, as_of, full,
                    );
                    e.as_of_given = cfg.as_of.is_some();
                    e.skipped = j.skipped;
                    e.occupied = j.occupied;
                    e.notes = j.notes;
                    e.kept = Some((k.at.clone(), k.key.clone()));
                    e.notes.push(format!(
                        "read joined from {}, which an earlier run over the same files, data and settings kept (--no-cache imports them again)",
                        at.display()
                    ));
                    return Ok(e);
                }
                Err(err) => tracing::info!("joined units at {} not used: {err}", at.display()),
            }
        }
        let mut imports = vec![];
        let import = crate::base::timing::Phase::start("import the units");
        for (path, full) in paths.into_iter().zip(&full) {
            let imported = read_units(
                &path,
                &atlas,
                &ImportOptions {
                    skip_invalid: cfg.skip_invalid,
                    progress: true,
                    max_bytes: cfg.max_units_file_mb.map(|mb| mb.saturating_mul(1_000_000)),
                },
            )?;
            imports.push((full.clone(), imported));
        }
        drop(import);
        // The units are placed: an atlas this engine alone holds lets go of the grid of LSOAs
        // that a large import made (31 MB for England).
        let mut atlas = atlas;
        if let Some(a) = Arc::get_mut(&mut atlas) {
            let bytes = a.release_lsoa_cells();
            if bytes > 0 {
                tracing::info!("the LSOA grid let go after the import ({} MB)", bytes >> 20);
            }
        }
        let renamed = files::prefix_clashing_ids(&mut imports)?;
        let mut notes = vec![];
        if renamed > 0 {
            notes.push(format!(
                "{renamed} units have ids that more than one units file uses: each is now <file name>/<id> (e.g. {})",
                imports
                    .iter()
                    .flat_map(|(_, i)| &i.units)
                    .find(|u| u.id.contains('/'))
                    .map_or(String::new(), |u| u.id.to_string())
            ));
        }
        let (mut units, mut skipped, mut occupied, mut files) = (vec![], vec![], 0, vec![]);
        for (path, imported) in imports {
            // One file's units are taken as they are, not copied into another vector (the room
            // made for rows that were not units is never touched, so it holds no memory).
            if units.is_empty() {
                units = imported.units;
            } else {
                units.extend(imported.units);
            }
            skipped.extend(imported.skipped.into_iter().map(|s| (path.clone(), s)));
            occupied += imported.occupied;
            files.push(path);
        }
        let mut e = Engine::new(atlas, units, catchments, choice, join, as_of, files);
        e.as_of_given = cfg.as_of.is_some();
        e.skipped = skipped;
        e.occupied = occupied;
        e.notes = notes;
        // A units file changed while it was read is not kept under the bytes hashed before.
        if let Some(Kept { at, key, .. }) = kept.as_ref().filter(|k| k.key.files_unchanged()) {
            let t = crate::base::timing::Phase::start("keep the joined units");
            let parts = cache::Parts {
                units: &e.units,
                contexts: &e.contexts,
                files: &e.units_files,
                skipped: &e.skipped,
                occupied: e.occupied,
                notes: &e.notes,
            };
            match cache::write(at, key, parts) {
                Ok(bytes) => {
                    drop(t);
                    e.kept = Some((at.clone(), key.clone()));
                    e.notes.push(format!(
                        "kept joined in {} ({} MB), so the next run over the same files, data and settings starts sooner (--no-cache keeps nothing)",
                        at.display(),
                        bytes.div_ceil(1_000_000)
                    ));
                }
                Err(err) => tracing::info!("joined units not kept at {}: {err}", at.display()),
            }
        }
        Ok(e)
    }

    /// Joins units that are already imported (tests and benches build engines this way);
    /// vacancy age is measured at `as_of` for every unit.
    pub fn new(
        atlas: Arc<Atlas>,
        units: Vec<Unit>,
        catchments: Box<dyn CatchmentSource>,
        catchment_choice: Catchments,
        join: JoinParams,
        as_of: Date,
        units_files: Vec<PathBuf>,
    ) -> Engine {
        let mut units = units;
        {
            let _t = crate::base::timing::Phase::start("group units into sites");
            crate::analysis::sites::group(&mut units);
        }
        let contexts = {
            let _t = crate::base::timing::Phase::start("join");
            attach(&atlas, &units, catchments.as_ref(), &join)
        };
        Engine::assemble(
            atlas,
            units,
            contexts,
            catchments,
            catchment_choice,
            join,
            as_of,
            units_files,
        )
    }

    /// An engine over units already joined (`contexts[i]` is the join of `units[i]`).
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        atlas: Arc<Atlas>,
        units: Vec<Unit>,
        contexts: Vec<Context>,
        catchments: Box<dyn CatchmentSource>,
        catchment_choice: Catchments,
        join: JoinParams,
        as_of: Date,
        units_files: Vec<PathBuf>,
    ) -> Engine {
        let ids = crate::base::ids::IdIndex::of(units.len(), |i| units[i as usize].id.as_str());
        Engine {
            atlas,
            units,
            contexts,
            catchments,
            catchment_choice,
            join,
            as_of,
            as_of_given: true,
            units_files,
            skipped: vec![],
            occupied: 0,
            notes: vec![],
            ids,
            prepared: OnceLock::new(),
            kept: None,
        }
    }

    /// The same units joined with another catchment source (a shortlist made with other
    /// catchments than this engine's is exported with its own).
    pub fn with_catchments(&self, choice: &Catchments) -> Result<Engine, EngineError> {
        let catchments = choice.open(&self.atlas)?;
        let mut e = Engine::new(
            self.atlas.clone(),
            self.units.clone(),
            catchments,
            choice.clone(),
            self.join,
            self.as_of,
            self.units_files.clone(),
        );
        e.as_of_given = self.as_of_given;
        Ok(e)
    }

    /// The units files as one line of text.
    pub fn units_file_list(&self) -> String {
        self.units_files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The units files' names without their folders: what is said to anyone but the person
    /// who runs sitefinder (a report, the sources page).
    pub fn units_file_names(&self) -> Vec<String> {
        self.units_files
            .iter()
            .map(|p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// The index of the unit with this id.
    pub fn unit(&self, id: &str) -> Option<usize> {
        let units = &self.units;
        self.ids
            .find(id, |i| units[i as usize].id.as_str())
            .map(|i| i as usize)
    }

    /// Checks that every id is one of this engine's units, naming those that are not.
    pub fn check_ids(&self, ids: &[String]) -> Result<(), EngineError> {
        if ids.is_empty() {
            return Err(EngineError::NoIds);
        }
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| self.unit(id).is_none())
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(EngineError::UnknownIds {
                ids: missing.join(", "),
                // Names, not paths: the server says this to anyone.
                files: self.units_file_names().join("; "),
            })
        }
    }

    /// The postcodes, places and units that answer a search, best first ([`search::search`]).
    pub fn search(&self, q: &search::SearchQuery) -> Result<Vec<search::Hit>, search::SearchError> {
        search::search(&self.atlas, &self.units, &self.contexts, q)
    }

    /// The settings every criterion is scored with: the one place they are built.
    /// `as_of` (a query's date) overrides the engine's; without either, each unit's vacancy
    /// is measured at its list date (today for units without one).
    pub fn settings(&self, as_of: Option<Date>, plan: Option<Arc<Overlay>>) -> Settings {
        let mut s = Settings::new(
            self.join,
            as_of.unwrap_or(self.as_of),
            self.catchments.kind(),
        )
        .with_plan(plan);
        s.as_of_given = as_of.is_some() || self.as_of_given;
        s
    }

    /// Indexes the units by position and computes their settled criterion values once
    /// ([`Prepared`]), so that each later ranking costs what it keeps: a server calls this
    /// before it answers.
    ///
    /// Over joined units kept between runs, the records and id order are kept beside them: the
    /// first server to prepare them writes them, the next reads them.
    pub fn prepare(&self) -> &Prepared {
        self.prepared.get_or_init(|| {
            let s = self.settings(None, None);
            let at = self
                .kept
                .as_ref()
                .map(|(joined, key)| (cache::prepared_path(joined), key));
            if let Some((at, key)) = &at {
                let t = crate::base::timing::Phase::start("read the prepared values kept");
                let read =
                    cache::read_prepared(at, key, self.units.len()).and_then(|(records, by_id)| {
                        Prepared::from_kept(&self.contexts, &s, records, by_id)
                            .ok_or(cache::CacheError::Damaged("order"))
                    });
                match read {
                    Ok(p) => return p,
                    Err(err) => {
                        drop(t);
                        // None kept yet is no news.
                        if !matches!(&err, cache::CacheError::Io(e) if e.kind() == std::io::ErrorKind::NotFound) {
                            tracing::info!("prepared values at {} not used: {err}", at.display());
                        }
                    }
                }
            }
            let p = {
                let _t =
                    crate::base::timing::Phase::start("index the units and their criterion values");
                Prepared::new(&self.atlas, &self.units, &self.contexts, &s)
            };
            if let Some((at, key)) = &at {
                let _t = crate::base::timing::Phase::start("keep the prepared values");
                if let Err(err) = cache::write_prepared(at, key, p.kept()) {
                    tracing::info!("prepared values not kept at {}: {err}", at.display());
                }
            }
            p
        })
    }

    /// The query checked, and the settings its ranking is scored with (without words).
    fn ranking_inputs(
        &self,
        q: &RankQuery,
        plan: Option<Arc<Overlay>>,
    ) -> Result<(rank::Weights, rank::Filters, Settings), RankError> {
        let (weights, filters) = q.check(&self.atlas)?;
        let mut settings = self.settings(q.as_of, plan);
        settings.words = false;
        Ok((weights, filters, settings))
    }

    /// Ranks every unit for the query, with the plan overlay the query names (resolved by the
    /// caller from the state database). Scores every unit but writes no sentences: the rows
    /// that are written or returned are explained by [`Engine::explain`] (which
    /// [`Engine::render`] and [`Engine::features`] call).
    pub fn rank(&self, q: &RankQuery, plan: Option<Arc<Overlay>>) -> Result<Ranking, RankError> {
        let (weights, filters, settings) = self.ranking_inputs(q, plan)?;
        rank::rank(
            &self.atlas,
            &self.units,
            &self.contexts,
            &weights,
            &filters,
            &settings,
            self.prepared.get(),
        )
    }

    /// [`Engine::rank`]'s ranking held as its order, its rows made when they are written
    /// ([`rank::Ordered`]): a national CSV without a row per unit held.
    pub fn rank_ordered(
        &self,
        q: &RankQuery,
        plan: Option<Arc<Overlay>>,
    ) -> Result<rank::Ordered<'_>, RankError> {
        let (weights, filters, settings) = self.ranking_inputs(q, plan)?;
        rank::rank_ordered(
            &self.atlas,
            &self.units,
            &self.contexts,
            &weights,
            &filters,
            &settings,
            self.prepared.get(),
        )
    }

    /// Writes a ranking held as its order ([`Engine::rank_ordered`]) in any format, atomically,
    /// each row made as it is written.
    pub fn write_ordered(
        &self,
        path: &Path,
        format: ExportFormat,
        ordered: &rank::Ordered<'_>,
        meta: &Meta,
    ) -> Result<(), ExportError> {
        crate::export::write_ordered(
            path,
            format,
            &self.atlas,
            &self.units,
            &self.contexts,
            ordered,
            meta,
        )
    }

    /// [`Engine::write_ordered`]'s CSV (without the byte-order mark) or GeoJSON into a writer
    /// (standard output); XLSX and GeoPackage need a file.
    pub fn write_ordered_to(
        &self,
        w: &mut dyn std::io::Write,
        format: ExportFormat,
        ordered: &rank::Ordered<'_>,
        meta: &Meta,
    ) -> Result<(), ExportError> {
        let (atlas, units, contexts) = (&self.atlas, &self.units[..], &self.contexts[..]);
        match format {
            ExportFormat::Csv => crate::export::csv_ordered(w, atlas, units, contexts, ordered),
            ExportFormat::GeoJson => {
                crate::export::geojson_ordered(w, atlas, units, contexts, ordered, &meta.members)
            }
            ExportFormat::Xlsx | ExportFormat::Gpkg => {
                return Err(ExportError::Write {
                    file: "standard output".into(),
                    reason: format!("{} is written to a file only", format.extension()),
                })
            }
        }
        .map_err(|e| ExportError::Write {
            file: "standard output".into(),
            reason: e.to_string(),
        })
    }

    /// The first `k` rows of [`Engine::rank`]'s ranking and how many it has in all, without
    /// holding a row per unit ([`rank::rank_top`]): a page of a national ranking.
    pub fn rank_top(
        &self,
        q: &RankQuery,
        plan: Option<Arc<Overlay>>,
        k: usize,
    ) -> Result<(Ranking, usize), RankError> {
        let (weights, filters, settings) = self.ranking_inputs(q, plan)?;
        rank::rank_top(
            &self.atlas,
            &self.units,
            &self.contexts,
            &weights,
            &filters,
            &settings,
            self.prepared.get(),
            k,
        )
    }

    /// Writes the sentences of these rows of `ranking`.
    pub fn explain(&self, ranking: &Ranking, rows: &mut [Ranked]) {
        rank::explain_rows(
            &self.atlas,
            &self.units,
            &self.contexts,
            &ranking.settings,
            rows,
        );
    }

    /// The ranking with every row in words (what a file holds).
    pub fn explained(&self, ranking: &Ranking) -> Ranking {
        let mut full = ranking.clone();
        self.explain(ranking, &mut full.rows);
        // Its rows have their words now: writers need not make them again.
        full.settings.words = true;
        full
    }

    /// Rows `offset..offset+limit` of a ranking as RFC 7946 features with their breakdown in
    /// words.
    pub fn features(
        &self,
        ranking: &Ranking,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<geojson::Feature>, crate::export::table::OutputError> {
        self.page_features(ranking, offset, limit, None)
    }

    /// [`Engine::features`] with only the properties named in `keep` (all when `None`), the
    /// others not made; the rows are put in words only when `breakdown` or `why` is kept (the
    /// map's window of thousands of units keeps neither).
    pub fn page_features(
        &self,
        ranking: &Ranking,
        offset: usize,
        limit: usize,
        keep: Option<&[String]>,
    ) -> Result<Vec<geojson::Feature>, crate::export::table::OutputError> {
        self.page_rows(ranking, offset, limit, keep)
            .iter()
            .map(|r| {
                crate::export::table::feature_with(
                    &self.atlas,
                    &self.units,
                    &self.contexts,
                    ranking,
                    r,
                    keep,
                )
            })
            .collect()
    }

    /// [`Engine::page_features`] written into `out` as the members of a JSON array, each as
    /// `serde_json` writes the feature ([`crate::export::table::write_feature`]), the `k`th
    /// at `points[k]` if given (a point in another CRS). Returns how many were written.
    pub fn write_page_features(
        &self,
        out: &mut Vec<u8>,
        ranking: &Ranking,
        (offset, limit): (usize, usize),
        keep: Option<&[String]>,
        points: &[Option<[f64; 2]>],
    ) -> Result<usize, crate::export::table::OutputError> {
        let rows = self.page_rows(ranking, offset, limit, keep);
        for (k, r) in rows.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            crate::export::table::write_feature(
                out,
                &self.atlas,
                &self.units,
                &self.contexts,
                ranking,
                r,
                keep,
                points.get(k).copied().flatten(),
            )?;
        }
        Ok(rows.len())
    }

    /// Rows `offset..offset+limit` of a ranking, in words when `keep` keeps `breakdown` or
    /// `why` (or everything).
    fn page_rows(
        &self,
        ranking: &Ranking,
        offset: usize,
        limit: usize,
        keep: Option<&[String]>,
    ) -> Vec<Ranked> {
        let words = keep.is_none_or(|names| Chosen::only(names.to_vec()).needs_words(true));
        let mut page: Vec<Ranked> = ranking
            .rows
            .iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        if words {
            self.explain(ranking, &mut page);
        }
        page
    }

    /// Every unit ranked as the shortlist was made: its weights and date (`as_of` if given, else
    /// the shortlist's own, else the engine's), no filters, units that cannot hold a clinic
    /// kept. An error names the shortlist's units that this engine does not have.
    fn shortlist_full(
        &self,
        sl: &Shortlist,
        plan: Option<Arc<Overlay>>,
        as_of: Option<Date>,
    ) -> Result<Ranking, ExportError> {
        let q = RankQuery {
            weights: Some(sl.weights.clone()).filter(|w| !w.trim().is_empty()),
            // The shortlist's sites are kept whatever they are.
            include_unsuitable: Some(true),
            as_of: as_of.or_else(|| query_value(&sl.query, "as_of").and_then(|d| Date::parse(&d))),
            ..RankQuery::default()
        };
        let missing: Vec<&str> = sl
            .sites
            .iter()
            .map(|s| s.unit_id.as_str())
            .filter(|id| self.unit(id).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(ExportError::MissingUnits {
                name: sl.name.clone(),
                units_file: sl.units_file.clone(),
                ids: missing.join(", "),
            });
        }
        self.rank(&q, plan).map_err(|e| ExportError::BadWeights {
            name: sl.name.clone(),
            weights: sl.weights.clone(),
            reason: e.to_string(),
        })
    }

    /// A shortlist as a ranking: every unit ranked with the shortlist's weights and date (no
    /// filters), then only the shortlist's sites kept, in score order, each with its note.
    /// The date is `as_of` if given, else the shortlist's own, else the engine's.
    pub fn shortlist_ranking(
        &self,
        sl: &Shortlist,
        plan: Option<Arc<Overlay>>,
        as_of: Option<Date>,
    ) -> Result<Ranking, ExportError> {
        let notes: HashMap<&str, &str> = sl
            .sites
            .iter()
            .map(|s| (s.unit_id.as_str(), s.note.as_str()))
            .collect();
        let mut ranking = self.shortlist_full(sl, plan, as_of)?;
        ranking
            .rows
            .retain(|r| notes.contains_key(self.units[r.unit].id.as_str()));
        for (i, r) in ranking.rows.iter_mut().enumerate() {
            r.rank = i + 1;
            r.note = Some(notes[self.units[r.unit].id.as_str()].to_string());
        }
        ranking.filtered_out.clear();
        Ok(ranking)
    }

    /// A shortlist as `sitefinder shortlist show` prints it: a header (name, times, weights,
    /// the query it was made from) and its sites in the order they were added as an aligned
    /// table: unit id, name and address, score and rank among all the units (ranked now as the
    /// shortlist was made, as its exports are), IMD decile and note.
    pub fn shortlist_table(
        &self,
        sl: &Shortlist,
        plan: Option<Arc<Overlay>>,
        as_of: Option<Date>,
    ) -> Result<String, ExportError> {
        use crate::base::table::{aligned, left, right, short_time};
        let full = self.shortlist_full(sl, plan, as_of)?;
        let standing: HashMap<usize, (usize, f64)> = full
            .rows
            .iter()
            .map(|r| (r.unit, (r.rank, r.score)))
            .collect();
        let n = sl.sites.len();
        let mut out = format!(
            "{}: {n} site{}; made {}, changed {}\nweights {}{}\nscore and rank: ranked now with the shortlist's weights and date, as its exports are, among all {} units of {}\n\n",
            sl.name,
            if n == 1 { "" } else { "s" },
            short_time(&sl.created),
            short_time(&sl.updated),
            sl.weights,
            if sl.query.is_empty() {
                String::new()
            } else {
                format!("; made from {}", sl.query)
            },
            full.rows.len(),
            self.units_file_list()
        );
        let rows: Vec<Vec<String>> = sl
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let ui = self.unit(&s.unit_id).expect("checked by shortlist_full");
                let u = &self.units[ui];
                let (rank, score) = standing[&ui];
                let words = if u.address.starts_with(u.name.as_str()) || u.name.is_empty() {
                    u.address.to_string()
                } else {
                    format!("{}, {}", u.name, u.address)
                };
                vec![
                    (i + 1).to_string(),
                    u.id.to_string(),
                    crate::export::pdf::fit_chars(&words, 60),
                    crate::export::report::score_text(score),
                    format!("{rank} of {}", full.rows.len()),
                    self.atlas.lsoas[self.contexts[ui].lsoa]
                        .imd_decile
                        .to_string(),
                    s.note.clone(),
                ]
            })
            .collect();
        out.push_str(&aligned(
            &[
                right("#"),
                left("Unit id"),
                left("Name / address"),
                right("Score"),
                right("Rank"),
                right(&format!("{} decile", self.atlas.imd.label())),
                left("Note"),
            ],
            &rows,
        ));
        Ok(out)
    }

    /// The ids of the top `n` units of a ranking, for a shortlist, and the query it was made
    /// from. One unit per site unless the query says otherwise (`one_per_site=false`), so the
    /// shortlist holds `n` places.
    pub fn top_ids(
        &self,
        q: &RankQuery,
        plan: Option<Arc<Overlay>>,
        n: usize,
    ) -> Result<(Vec<String>, String), RankError> {
        let mut q = q.clone();
        q.one_per_site = Some(q.one_per_site.unwrap_or(true));
        let ranking = self.rank(&q, plan)?;
        let ids = ranking.rows.iter().take(n);
        let ids = ids.map(|r| self.units[r.unit].id.to_string()).collect();
        let mut made_from = q.to_query_string();
        let sep = if made_from.is_empty() { "" } else { "&" };
        made_from.push_str(&format!("{sep}top={n}"));
        Ok((ids, made_from))
    }

    /// The units a ranking left out as unable to hold a clinic, one line each (as the command
    /// line reports them, like skipped rows).
    pub fn unsuitable_lines<'a>(
        &'a self,
        ranking: &'a Ranking,
    ) -> impl Iterator<Item = String> + 'a {
        let u = |i: usize| &self.units[i];
        ranking
            .unsuitable
            .iter()
            .map(move |(i, why)| format!("left out {} ({}): {why}", u(*i).id, u(*i).name))
    }

    /// The first [`UNSUITABLE_LISTED`] units a ranking left out as unable to hold a clinic,
    /// as JSON (`/rank` metadata; `left_out_unsuitable` counts them all).
    pub fn unsuitable_json(&self, ranking: &Ranking) -> Json {
        let u = |i: usize| &self.units[i];
        ranking
            .unsuitable
            .iter()
            .take(UNSUITABLE_LISTED)
            .map(|(i, why)| json!({"id": u(*i).id, "name": u(*i).name, "reason": why}))
            .collect()
    }

    /// Where each layer units are scored with has data, in words: `{"practices": "all England",
    /// "stops": "Greater Manchester and the West Midlands", ...}` (every ranking's and
    /// optimisation's metadata).
    pub fn coverage_json(&self) -> Json {
        self.atlas
            .layer_coverage()
            .into_iter()
            .map(|(id, _, words)| (id.to_string(), json!(words)))
            .collect::<Map<String, Json>>()
            .into()
    }

    /// What an export of `ranking` says about how it was made: version, units files, weights,
    /// date, catchments, where each layer has data, plan overlay, the units left out as unable
    /// to hold a clinic and attribution, and `filters` for the query sheet.
    pub fn meta(&self, ranking: &Ranking, filters: Vec<(String, String)>) -> Meta {
        let mut m = Map::new();
        m.insert("sitefinder".into(), json!(env!("CARGO_PKG_VERSION")));
        // Names, not paths: exports are downloaded from the server by anyone.
        m.insert(
            "units_file".into(),
            json!(self.units_file_names().join("; ")),
        );
        m.insert("weights".into(), json!(ranking.weights.to_list()));
        m.insert("as_of".into(), json!(ranking.settings.as_of_words()));
        m.insert("catchments".into(), json!(self.catchments.describe()));
        let notes = self.catchments.notes();
        if !notes.is_empty() {
            m.insert("catchment_notes".into(), json!(notes));
        }
        m.insert("deprivation".into(), json!(self.atlas.imd.source()));
        m.insert("gp_list_sizes".into(), json!(LIST_SIZES_NOTE));
        m.insert("coverage".into(), self.coverage_json());
        if let Some(o) = &ranking.settings.plan {
            m.insert("plan_overlay".into(), json!(o.name));
        }
        if !ranking.unsuitable.is_empty() {
            m.insert(
                "left_out_unsuitable".into(),
                json!(format!(
                    "{} units that cannot hold a clinic (include_unsuitable keeps them): {}",
                    ranking.unsuitable.len(),
                    unsuitable_list(&self.units, &ranking.unsuitable)
                )),
            );
        }
        m.insert("attribution".into(), json!(self.atlas.manifest.attribution));
        Meta {
            members: m,
            filters,
        }
    }

    /// [`Engine::meta`] for a shortlist's export.
    pub fn shortlist_meta(&self, sl: &Shortlist, ranking: &Ranking) -> Meta {
        let mut meta = self.meta(ranking, vec![("made from".into(), sl.query.clone())]);
        let m = &mut meta.members;
        m.insert("shortlist".into(), json!(sl.name));
        m.insert("shortlist_created".into(), json!(sl.created));
        m.insert("shortlist_updated".into(), json!(sl.updated));
        m.insert("units_file".into(), json!(sl.units_file));
        meta
    }

    /// What a new shortlist records it was made from: the query, this engine's catchments and
    /// the date if one was given (else the units' list dates are used again), so that its
    /// exports rank as it was ranked.
    pub fn shortlist_origin(&self, query: &str, as_of: Option<Date>) -> String {
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).unwrap_or_default();
        pairs.retain(|(k, _)| k != "as_of" && k != "catchments");
        let given = as_of.or(self.as_of_given.then_some(self.as_of));
        if let Some(d) = given {
            pairs.push(("as_of".into(), d.to_string()));
        }
        pairs.push(("catchments".into(), self.catchment_choice.spec()));
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }

    /// The columns `q` names (every one without it), checked before ranking against those of
    /// a ranking's row (`rank` first); with no units there is nothing to check against, nor
    /// to write.
    pub fn chosen_columns(&self, q: &PropertiesQuery) -> Result<Chosen, RankError> {
        let Some(names) = q.names() else {
            return Ok(Chosen::default());
        };
        if names.is_empty() {
            return Err(RankError::NoProperties);
        }
        if !self.units.is_empty() {
            let mut known = crate::export::table::column_names(
                &self.atlas,
                &self.units,
                &self.contexts,
                "rank",
                &Ranked::blank(0),
            );
            known.push("breakdown".into());
            if let Some(n) = names.iter().find(|n| !known.contains(n)) {
                return Err(RankError::UnknownProperty {
                    name: n.clone(),
                    known: known.join(", "),
                });
            }
        }
        Ok(Chosen::only(names))
    }

    /// The file's bytes, each row put into words as it is written where its columns need them.
    pub fn render(
        &self,
        format: ExportFormat,
        ranking: &Ranking,
        meta: &Meta,
    ) -> Result<Vec<u8>, ExportError> {
        crate::export::render(
            format,
            &self.atlas,
            &self.units,
            &self.contexts,
            ranking,
            meta,
        )
    }

    /// The PDF site report of a shortlist's ranking ([`Engine::shortlist_ranking`]), every row
    /// in words, with the export's metadata ([`Engine::shortlist_meta`]); made today.
    pub fn report(&self, ranking: &Ranking, meta: &Meta) -> Vec<u8> {
        let full = self.explained(ranking);
        crate::export::report::pdf(&crate::export::report::Report {
            atlas: &self.atlas,
            units: &self.units,
            contexts: &self.contexts,
            ranking: &full,
            members: &meta.members,
            filters: &meta.filters,
            units_files: self.units_file_names(),
            made: Date::today(),
        })
    }

    /// A shortlist's file: a table export ([`Engine::render`]) or the PDF site report.
    pub fn shortlist_file(
        &self,
        format: ShortlistFormat,
        ranking: &Ranking,
        meta: &Meta,
    ) -> Result<Vec<u8>, ExportError> {
        match format {
            ShortlistFormat::Table(f) => self.render(f, ranking, meta),
            ShortlistFormat::Pdf if ranking.rows.len() > crate::export::report::MAX_SITES => {
                Err(ExportError::TooManySites {
                    sites: ranking.rows.len(),
                })
            }
            ShortlistFormat::Pdf => Ok(self.report(ranking, meta)),
        }
    }

    /// Writes an export file atomically.
    pub fn write(
        &self,
        path: &Path,
        format: ExportFormat,
        ranking: &Ranking,
        meta: &Meta,
    ) -> Result<(), ExportError> {
        crate::export::write(
            path,
            format,
            &self.atlas,
            &self.units,
            &self.contexts,
            ranking,
            meta,
        )
    }

    /// Chooses a set of sites.
    pub fn optimise(&self, q: &OptimiseQuery) -> Result<Report, OptimiseError> {
        optimise::run(
            &self.atlas,
            &self.units,
            &self.contexts,
            self.catchments.as_ref(),
            q,
            None,
        )
    }

    /// Which units a ranking query keeps (`allowed[i]` for `units[i]`): those passing its
    /// filters (area, deciles, floor area, box, plan distance), with the units that cannot hold
    /// a clinic left for [`Engine::optimise_among`] to judge by its own `include_unsuitable`.
    pub fn kept_by(
        &self,
        q: &RankQuery,
        plan: Option<Arc<Overlay>>,
    ) -> Result<Vec<bool>, RankError> {
        let ranking = self.rank(q, plan)?;
        let mut allowed = vec![false; self.units.len()];
        for i in ranking.rows.iter().map(|r| r.unit) {
            allowed[i] = true;
        }
        for (i, _) in &ranking.unsuitable {
            allowed[*i] = true;
        }
        Ok(allowed)
    }

    /// Chooses sites among the `allowed` units only (see [`Engine::kept_by`]), as the map
    /// does with its active filters; the demand is still the optimise query's area.
    pub fn optimise_among(
        &self,
        q: &OptimiseQuery,
        allowed: &[bool],
    ) -> Result<Report, OptimiseError> {
        optimise::run(
            &self.atlas,
            &self.units,
            &self.contexts,
            self.catchments.as_ref(),
            q,
            Some(allowed),
        )
    }

    /// The chosen sites as a ranking (in order of choice, each with its marginal gain and the
    /// coverage radius), so they export like any ranking: with addresses and the breakdown.
    pub fn chosen(&self, q: &OptimiseQuery, report: &Report) -> Ranking {
        let settings = self.settings(None, None);
        let weights = rank::Weights::default();
        let rows = report
            .heuristic
            .chosen
            .iter()
            .zip(&report.heuristic.marginal)
            .enumerate()
            .map(|(n, (j, m))| {
                let ui = report.candidate_units[*j];
                let values = crate::analysis::criteria::evaluate(
                    &self.atlas,
                    &self.units[ui],
                    &self.contexts[ui],
                    &settings,
                );
                let (score, contributions) = rank::score(&values, &weights);
                Ranked {
                    rank: n + 1,
                    unit: ui,
                    score,
                    values,
                    contributions,
                    note: None,
                    extra: vec![
                        ("marginal".into(), json!((m * 10.0).round() / 10.0)),
                        ("radius_m".into(), json!(q.radius_m)),
                        ("model".into(), json!(q.model.name())),
                    ],
                }
            })
            .collect();
        Ranking {
            rows,
            weights,
            settings,
            filtered_out: Default::default(),
            unsuitable: report.unsuitable.clone(),
            rank_column: "order",
            columns: Default::default(),
        }
    }

    /// The chosen sites as a file: GeoJSON with the report, else the rendered export of
    /// [`Engine::chosen`] (CSV, XLSX, GeoPackage) with the query on its query sheet.
    /// `among`: the ranking filters that chose the candidates (`(name, value)`, the blank ones
    /// left out), recorded in the file so it says how it was made.
    pub fn optimise_file(
        &self,
        format: ExportFormat,
        q: &OptimiseQuery,
        report: &Report,
        among: &[(String, String)],
    ) -> Result<Vec<u8>, ExportError> {
        let write_err = |e: &dyn std::fmt::Display| ExportError::Write {
            file: "optimise".into(),
            reason: e.to_string(),
        };
        if format == ExportFormat::GeoJson {
            let mut v = self.optimise_json(q, report).map_err(|e| write_err(&e))?;
            record_among(&mut v, among);
            let mut bytes = serde_json::to_vec(&v).map_err(|e| write_err(&e))?;
            bytes.push(b'\n');
            return Ok(bytes);
        }
        let chosen = self.chosen(q, report);
        // The metadata of any ranking (every layer's coverage, the units left out as unable to
        // hold a clinic), then what each fixed layer fixed.
        let mut pairs = q.pairs();
        pairs.extend(
            among
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (format!("candidates: {k}"), v.clone())),
        );
        let mut meta = self.meta(&chosen, pairs);
        for (k, v) in self.optimise_fixed(report) {
            meta.members.insert(k, json!(v));
        }
        self.render(format, &chosen, &meta)
    }

    /// `("fixed_<layer>", what was fixed and where the layer has no data)` for each fixed layer
    /// of an optimisation (an export's query sheet lists them).
    pub fn optimise_fixed(&self, report: &Report) -> Vec<(String, String)> {
        report
            .fixed
            .iter()
            .map(|u| (format!("fixed_{}", u.layer.name()), u.sentence()))
            .collect()
    }

    /// The optimise report in words, as `sitefinder optimise` prints it.
    pub fn optimise_text(&self, q: &OptimiseQuery, report: &Report) -> String {
        let units = &self.units;
        let model = q.model;
        let mut text = String::new();
        let total: f64 = report.demand_total.iter().sum();
        let _ = writeln!(
            text,
            "{}{}, radius {} m: {} candidate units, {} demand LSOAs (weighted demand {:.0}), {} fixed sites ({})",
            model.name(),
            if model == Model::Lscp { String::new() } else { format!(" with k = {}", q.k) },
            q.radius_m,
            report.candidate_units.len(),
            report.demand_lsoas.len(),
            total,
            report.fixed_sites,
            if q.fixed.0.is_empty() {
                "none".to_string()
            } else {
                q.fixed.0.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            }
        );
        if !report.unsuitable.is_empty() {
            let _ = writeln!(
                text,
                "left out {} units that cannot hold a clinic (include_unsuitable considers them): {}",
                report.unsuitable.len(),
                unsuitable_list(units, &report.unsuitable)
            );
        }
        let _ = writeln!(text, "data coverage: {}", self.atlas.coverage_in_words());
        for u in &report.fixed {
            let _ = writeln!(text, "fixed {}", u.sentence());
        }
        let h = &report.heuristic;
        let method = match model {
            Model::Mclp => "lazy greedy + Lagrangian relaxation + 1-swap",
            _ => "lazy greedy + 1-swap",
        };
        let _ = writeln!(text, "chosen ({method}), in order of choice:");
        let what = match model {
            Model::Mclp => "weighted demand newly covered",
            Model::PMedian => "weighted metres saved",
            Model::Lscp => "demand points newly covered",
        };
        for (n, (j, m)) in h.chosen.iter().zip(&h.marginal).enumerate() {
            let u = &units[report.candidate_units[*j]];
            let _ = writeln!(
                text,
                "  {}. {}  {}  (+{:.0} {what})",
                n + 1,
                u.id,
                u.name,
                m
            );
        }
        let covered: f64 = report.covered_after.iter().sum();
        let _ = writeln!(
            text,
            "weighted demand covered within {} m: {:.0} of {:.0} ({:.1}%)",
            q.radius_m,
            covered,
            total,
            100.0 * covered / total.max(1e-9)
        );
        let _ = writeln!(text, "objective ({}): {:.1}", model.name(), h.objective);
        if let Some(b) = h.bound {
            let gap = 100.0 * (b - h.objective).max(0.0) / b.abs().max(1e-9);
            if gap < 1e-7 {
                let _ = writeln!(
                    text,
                    "the optimum is at most {b:.1} (Lagrangian bound): this choice reaches it, so it is optimal"
                );
            } else {
                let _ = writeln!(
                    text,
                    "the optimum is at most {b:.1} (Lagrangian bound): this choice is within {gap:.2}% of it"
                );
            }
        }
        match &report.exact {
            Some(Ok(e)) => {
                let gap = if e.objective.abs() > 0.0 {
                    100.0 * (h.objective - e.objective).abs() / e.objective.abs()
                } else {
                    0.0
                };
                let ids: Vec<&str> = e
                    .chosen
                    .iter()
                    .map(|j| units[report.candidate_units[*j]].id.as_str())
                    .collect();
                let (found, gap) = if e.proven_optimal {
                    (
                        "proven optimum".to_string(),
                        format!("heuristic gap {gap:.2}%"),
                    )
                } else {
                    (
                        format!(
                            "best found within its time limit of {} s (not proven optimal)",
                            crate::analysis::optimise::EXACT_TIME_LIMIT_S
                        ),
                        format!("the heuristic's choice: {:.1}", h.objective),
                    )
                };
                let _ = writeln!(
                    text,
                    "exact (MILP over the reduced instance, microlp): {found} {:.1} with {}; {gap}",
                    e.objective,
                    ids.join(", ")
                );
            }
            Some(Err(e)) => {
                let _ = writeln!(text, "exact: not solved: {e}");
            }
            None => {}
        }
        if let Some(sc) = &report.compared {
            let cov: f64 = sc.covered.iter().sum();
            let _ = writeln!(
                text,
                "scenario {}: objective {:.1} (chosen: {:.1}); weighted demand covered {:.0} (chosen: {:.0}); decile 1 covered {:.1}% (chosen: {:.1}%)",
                sc.ids.join(", "),
                sc.objective,
                h.objective,
                cov,
                covered,
                100.0 * sc.covered[0] / report.demand_total[0].max(1e-9),
                100.0 * report.covered_after[0] / report.demand_total[0].max(1e-9)
            );
        }
        let _ = writeln!(text, "equity (most deprived first):");
        for l in report.equity_lines() {
            let _ = writeln!(text, "  {l}");
        }
        text
    }

    /// The optimise answer as GeoJSON members (what `POST /optimise` returns and
    /// `optimise --out x.geojson` writes): the chosen sites as features and the report.
    pub fn optimise_json(
        &self,
        q: &OptimiseQuery,
        report: &Report,
    ) -> Result<Json, crate::export::table::OutputError> {
        let chosen = self.chosen(q, report);
        let features = self.features(&chosen, 0, chosen.rows.len())?;
        let h = &report.heuristic;
        let exact = match &report.exact {
            None => Json::Null,
            Some(Ok(e)) => json!({"objective": e.objective, "proven_optimum": e.proven_optimal,
                "chosen": e.chosen.iter().map(|j| self.units[report.candidate_units[*j]].id.clone()).collect::<Vec<_>>()}),
            Some(Err(e)) => json!({"error": e.to_string()}),
        };
        let covered: f64 = report.covered_after.iter().sum();
        let total: f64 = report.demand_total.iter().sum();
        let lads = |v: &[(String, String)]| -> Vec<Json> {
            v.iter()
                .map(|(code, name)| json!({"lad_code": code, "lad_name": name}))
                .collect()
        };
        let fixed: Vec<Json> = report
            .fixed
            .iter()
            .map(|u| {
                json!({"layer": u.layer.name(), "covers": u.covers, "fixed_sites": u.sites.len(),
                    "outside_area": u.outside_area, "reach_m": u.reach_m,
                    "with_data": lads(&u.with_data), "no_data": lads(&u.no_data),
                    "note": u.sentence()})
            })
            .collect();
        Ok(json!({
            "type": "FeatureCollection",
            "model": h.model.name(),
            "k": q.k,
            "radius_m": q.radius_m,
            "objective": h.objective,
            "objective_bound": h.bound,
            "exact": exact,
            "candidates": report.candidate_units.len(),
            "include_unsuitable": q.include_unsuitable,
            "left_out_unsuitable": report.unsuitable.len(),
            "unsuitable": self.unsuitable_json(&chosen),
            "demand_lsoas": report.demand_lsoas.len(),
            "fixed_sites": report.fixed_sites,
            "fixed": fixed,
            "coverage": self.coverage_json(),
            "coverage_text": self.atlas.coverage_in_words(),
            "covered_demand": covered,
            "total_demand": total,
            "equity": report.equity_lines(),
            "compared": report.compared.as_ref().map(|c| json!({"ids": c.ids, "objective": c.objective,
                "covered_demand": c.covered.iter().sum::<f64>(), "covered_by_decile": c.covered})),
            "report": self.optimise_text(q, report),
            "attribution": self.atlas.manifest.attribution,
            "features": features,
        }))
    }
}

/// How many units left out as unable to hold a clinic a ranking's metadata names (a national
/// ranking leaves out tens of thousands; the count is always given).
pub const UNSUITABLE_LISTED: usize = 100;

/// `id (reason); ...` for the first [`UNSUITABLE_LISTED`] units, then how many more.
fn unsuitable_list(units: &[Unit], left: &[(usize, &'static str)]) -> String {
    let mut out = left
        .iter()
        .take(UNSUITABLE_LISTED)
        .map(|(i, why)| format!("{} ({why})", units[*i].id))
        .collect::<Vec<_>>()
        .join("; ");
    if left.len() > UNSUITABLE_LISTED {
        let _ = write!(out, "; and {} more", left.len() - UNSUITABLE_LISTED);
    }
    out
}

/// Where the joined units of these settings, data and files are kept, and under what key.
struct Kept {
    at: PathBuf,
    key: cache::Key,
    /// What was read there while the data loaded (its indexes not yet checked against it).
    read: Option<Result<cache::Joined, cache::CacheError>>,
}

/// The files as given, canonical where possible.
fn canonical(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect()
}

/// Where the joined units of `files` (their full paths; `given` as named) are kept and the key
/// they are kept under, unless `--no-cache` was given, no cache folder is known, or the files
/// are small (with the per-user folder) or cannot be read (the import then says why).
fn kept_at(
    cfg: &Config,
    data: &Path,
    imd: Imd,
    given: &[PathBuf],
    files: &[PathBuf],
) -> Option<(PathBuf, cache::Key)> {
    if cfg.no_cache {
        return None;
    }
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .collect();
    // A file the import will refuse as too large is not read whole to be hashed first.
    let max = cfg
        .max_units_file_mb
        .map_or(crate::ingest::units::MAX_UNITS_FILE_BYTES, |mb| {
            mb.saturating_mul(1_000_000)
        });
    if sizes.iter().any(|&s| s > max) {
        return None;
    }
    let dir = match &cfg.cache_dir {
        Some(d) => d.clone(),
        None => {
            if sizes.iter().sum::<u64>() < cache::MIN_BYTES {
                return None;
            }
            crate::reference::location::user_cache_dir()?
        }
    };
    let key = (|| -> std::io::Result<cache::Key> {
        let mut k = cache::Key::new();
        k.folder(data)?;
        k.text("imd", &format!("{imd:?}"));
        k.text("reach_m", &cfg.reach_m.to_bits().to_string());

        k.text("skip_invalid", &cfg.skip_invalid.to_string());
        k.text("max_units_file_mb", &format!("{:?}", cfg.max_units_file_mb));
        let choice = cfg.catchment_choice();
        k.text("catchments", &choice.spec());
        if let Catchments::Registrations(p) | Catchments::Polygons(p) = &choice {
            k.file(p)?;
        }
        // PROJ's settings (a grid it finds moves the units' positions).
        for var in ["PROJ_DATA", "PROJ_LIB", "PROJ_NETWORK"] {
            k.text(var, &format!("{:?}", std::env::var_os(var)));
        }
        for (name, f) in given.iter().zip(files) {
            // The name as given is each unit's `source_file`.
            k.text(
                "name",
                &name.file_name().unwrap_or_default().to_string_lossy(),
            );
            k.file(f)?;
        }
        Ok(k)
    })()
    .ok()?;
    Some((cache::path_for(&dir, &key), key))
}

/// Records in an optimise answer the ranking filters that chose its candidates
/// (`candidates_among`: name to value; blank ones left out; nothing when none).
pub fn record_among(v: &mut Json, among: &[(String, String)]) {
    let among: Map<String, Json> = among
        .iter()
        .filter(|(_, x)| !x.is_empty())
        .map(|(k, x)| (k.clone(), json!(x)))
        .collect();
    if !among.is_empty() {
        v["candidates_among"] = Json::Object(among);
    }
}

/// The value of `key` in a `k=v&...` query string, if set and not blank.
pub fn query_value(query: &str, key: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::catchment::Cover;

    /// A change to one unit read and its join.
    type Damage<'a> = dyn Fn(&mut Unit, &mut Context) + 'a;

    /// Joined units read while the data loaded are used as read, unless an index goes beyond
    /// one of the data's layers: then the units are joined again.
    #[test]
    fn early_joined_units_beyond_the_data_are_joined_again() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(&data);
        cfg.cache_dir = Some(dir.path().to_path_buf());
        let atlas = Arc::new(Atlas::load_edition(&data, cfg.imd).unwrap());
        let fresh = Engine::open_with(
            atlas.clone(),
            &Config {
                no_cache: true,
                ..cfg.clone()
            },
        )
        .unwrap();
        assert!(fresh.units.len() > 50);
        let joined = |damage: &Damage<'_>| {
            let (mut units, mut contexts) = (fresh.units.clone(), fresh.contexts.clone());
            damage(&mut units[3], &mut contexts[3]);
            cache::Joined {
                units,
                contexts,
                skipped: vec![],
                occupied: 0,
                notes: vec![],
            }
        };
        let open = |j: cache::Joined| {
            let early = Kept {
                at: dir.path().join("joined-early.v1.bin"),
                key: cache::Key::new(),
                read: Some(Ok(j)),
            };
            Engine::open_from(atlas.clone(), &cfg, Some(Some(early))).unwrap()
        };
        let read = |e: &Engine| e.notes.iter().any(|n| n.starts_with("read joined from"));
        // As read: used.
        let e = open(joined(&|_, _| ()));
        assert!(read(&e), "{:?}", e.notes);
        assert_eq!(format!("{:?}", e.contexts), format!("{:?}", fresh.contexts));
        let a = &atlas;
        let damages: [(&str, &Damage<'_>); 6] = [
            ("unit's LSOA", &|u, _| u.lsoa = Some(a.lsoas.len())),
            ("LSOA", &|_, c| c.lsoa = a.lsoas.len()),
            ("practice", &|_, c| {
                c.nearest_practices =
                    crate::analysis::join::Nearest::from_pairs([(a.practices.len(), 1.0)])
            }),
            ("catchment", &|_, c| {
                c.catchment = Arc::from(vec![Cover {
                    practice: a.practices.len(),
                    share: None,
                }])
            }),
            ("vaccination site", &|_, c| {
                c.nearest_vaccination_site = Some((a.vaccination_sites.sites.len() as u32, 1.0))
            }),
            ("pharmacy", &|_, c| {
                c.nearest_pharmacy = Some((a.pharmacies.sites.len() as u32, 1.0))
            }),
        ];
        for (what, damage) in damages {
            let e = open(joined(damage));
            assert!(!read(&e), "{what}: {:?}", e.notes);
            assert_eq!(
                format!("{:?}", e.contexts),
                format!("{:?}", fresh.contexts),
                "{what}"
            );
        }
    }
}
