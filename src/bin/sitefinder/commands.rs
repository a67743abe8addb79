//! Each command: build the query, open the engine, render the answer.

use std::io::Write;
use std::path::{Path, PathBuf};

use sitefinder::base::timing::Phase;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};

use sitefinder::base::textio::write_atomic;
use sitefinder::engine::{query_value, Catchments, Config, Engine, RankQuery};
use sitefinder::export::{ExportFormat, ShortlistFormat};
use sitefinder::ingest::overlay::{Overlay, UploadFormat, UploadOptions};
use sitefinder::reference::atlas::Atlas;
use sitefinder::store::{default_dir, Shortlist, Store, StoreError};

use crate::{
    ExportArgs, OptimiseArgs, Output, OverlayCmd, RankArgs, ServeArgs, ShortlistCmd, State,
};

/// The data built into the binary (`data/` at build time).
static DATA: include_dir::Dir = include_dir::include_dir!("$CARGO_MANIFEST_DIR/data");

/// The data directory: `--data`, else `$SITEFINDER_DATA`, else the data built into the binary,
/// extracted once into a per-user folder.
fn data_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    Ok(sitefinder::reference::location::data_dir(given, &DATA)?)
}

/// At most this many lines of one kind on stderr (a national file can skip or leave out tens of
/// thousands of rows); the rest are counted.
const MAX_LINES: usize = 20;

/// Says the first [`MAX_LINES`] of `lines` on stderr, then how many more there are (`total` in
/// all) and what they are.
fn say_some(lines: impl Iterator<Item = String>, total: usize, what: &str) {
    for line in lines.take(MAX_LINES) {
        eprintln!("{line}");
    }
    if total > MAX_LINES {
        eprintln!("... and {} more {what}", total - MAX_LINES);
    }
}

/// Opens the engine, reporting the first skipped rows on stderr.
fn open(mut cfg: Config) -> Result<Engine> {
    let t = sitefinder::base::timing::Phase::start("find the data");
    cfg.data = Some(data_dir(cfg.data.take())?);
    drop(t);
    let engine = Engine::open(&cfg)?;
    let skipped = engine
        .skipped
        .iter()
        .map(|(file, s)| format!("skipped {} {}: {}", file.display(), s.place, s.reason));
    say_some(
        skipped,
        engine.skipped.len(),
        "rows skipped as invalid (fix the ones above and run again to see the rest)",
    );
    for note in engine.catchments.notes() {
        eprintln!("catchments: {note}");
    }
    for note in &engine.notes {
        eprintln!("units: {note}");
    }
    Ok(engine)
}

fn store(state: &State) -> Result<Store> {
    let dir = state.state.clone().unwrap_or_else(default_dir);
    Ok(Store::open(&dir)?)
}

/// The plan overlay a query names, from the state database.
fn plan(q: &RankQuery, state: &State) -> Result<Option<Arc<Overlay>>> {
    Ok(match &q.overlay {
        Some(key) => Some(Arc::new(store(state)?.overlay(key)?)),
        None => None,
    })
}

/// The file (`-` = standard output) and its format: the one asked for, else the one the
/// file's extension names, else CSV. XLSX and GeoPackage need a file.
fn output(o: &Output) -> Result<(String, ExportFormat)> {
    let out = o.out.clone().unwrap_or_else(|| "-".into());
    let format = o
        .format
        .unwrap_or_else(|| match out.rsplit_once('.').map(|(_, e)| e) {
            Some("json") => ExportFormat::GeoJson,
            _ => ExportFormat::from_path(&out).unwrap_or(ExportFormat::Csv),
        });
    if matches!(format, ExportFormat::Xlsx | ExportFormat::Gpkg) && out == "-" {
        bail!("--format xlsx and gpkg write a file: give --out FILE");
    }
    Ok((out, format))
}

pub fn rank(a: RankArgs) -> Result<()> {
    let (out, format) = output(&a.output)?;
    let mut r = a.input;
    r.query.read_weights_file()?;
    let plan = plan(&r.query, &a.state)?;
    let engine = open(r.config)?;
    // The columns named are checked before a national ranking is made.
    let columns = engine
        .chosen_columns(&a.properties)
        .map_err(|e| anyhow::anyhow!("--properties: {e}"))?;
    let mut filters = r.query.filter_pairs();
    if let Some(p) = &a.properties.properties {
        filters.push(("properties".into(), p.clone()));
    }
    let to = Ordered {
        out: &out,
        format,
        filters,
    };
    rank_ordered(&engine, &r.query, &r.paging, columns, plan, to)
}

/// The last line of `rank`: what was read, ranked, left out and written where.
fn summary(
    engine: &Engine,
    ranking: &sitefinder::analysis::rank::Ranking,
    ranked: usize,
    written: usize,
    out: &str,
) {
    eprintln!(
        "sitefinder: ranked {ranked} of {} units from {} ({} skipped as invalid, {} not vacant, {} left out as unable to hold a clinic, {} left out by filters); wrote {written} to {}",
        engine.units.len() + engine.skipped.len(),
        engine.units_file_list(),
        engine.skipped.len(),
        engine.occupied,
        ranking.unsuitable.len(),
        ranking.filtered_out.len(),
        if out == "-" { "standard output" } else { out },
    );
}

/// Where a ranking held as its order goes: a file (`-`: standard output, CSV or GeoJSON),
/// its format and the filters recorded in it.
struct Ordered<'a> {
    out: &'a str,
    format: ExportFormat,
    filters: Vec<(String, String)>,
}

/// `rank`'s file (or standard output: CSV without its byte-order mark, or GeoJSON): the
/// ranking held as its order, each run of rows made, put into words and written in turn (a
/// national file never holds a row per unit, nor the file whole).
fn rank_ordered(
    engine: &Engine,
    query: &RankQuery,
    paging: &sitefinder::engine::query::Paging,
    columns: sitefinder::analysis::chosen::Chosen,
    plan: Option<Arc<Overlay>>,
    to: Ordered<'_>,
) -> Result<()> {
    let t = Phase::start("rank");
    let mut ordered = engine.rank_ordered(query, plan)?;
    drop(t);
    ordered.ranking.columns = columns;
    let ranking = &ordered.ranking;
    say_some(
        engine.unsuitable_lines(ranking),
        ranking.unsuitable.len(),
        "units left out as unable to hold a clinic (--include-unsuitable ranks them, with the reason in the `unsuitable` column)",
    );
    let ranked = ordered.len();
    ordered.page(
        paging.offset.unwrap_or(0),
        paging.limit.unwrap_or(usize::MAX),
    );
    let meta = engine.meta(&ordered.ranking, to.filters);
    let t = Phase::start("write");
    if to.out == "-" {
        let mut stdout = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        engine.write_ordered_to(&mut stdout, to.format, &ordered, &meta)?;
        stdout.flush()?;
    } else {
        engine.write_ordered(Path::new(to.out), to.format, &ordered, &meta)?;
    }
    drop(t);
    summary(engine, &ordered.ranking, ranked, ordered.len(), to.out);
    Ok(())
}

pub fn optimise(a: OptimiseArgs) -> Result<()> {
    let engine = open(a.config)?;
    let q = a.query;
    let report = engine
        .optimise(&q)
        .map_err(|e| anyhow::anyhow!("--{}: {e}", e.param().replace('_', "-")))?;
    let text = engine.optimise_text(&q, &report);
    if a.output.out.is_none() {
        print!("{text}");
        return Ok(());
    }
    let (out, format) = output(&a.output)?;
    if out == "-" {
        eprint!("{text}");
        return write_stdout(&engine.optimise_file(format, &q, &report, &[])?);
    }
    let bytes = engine.optimise_file(format, &q, &report, &[])?;
    // A CSV of chosen sites is plain UTF-8, as on standard output.
    let bytes = bytes.strip_prefix(BOM).unwrap_or(&bytes);
    write_atomic(Path::new(&out), |w| w.write_all(bytes))
        .with_context(|| format!("writing {out}"))?;
    print!("{text}");
    Ok(())
}

/// The UTF-8 byte-order mark CSV files start with (for Excel).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Standard output is for pipes: plain UTF-8, no byte-order mark.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes.strip_prefix(BOM).unwrap_or(bytes))?;
    stdout.flush()?;
    Ok(())
}

/// Logs to standard error: `RUST_LOG` sets what (e.g. `sitefinder=info` adds each phase's
/// time), else `default`.
pub fn init_logs(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

pub fn serve(a: ServeArgs) -> Result<()> {
    init_logs("sitefinder=info,tower_http=info");
    let started = std::time::Instant::now();
    let base_map = sitefinder::serve::basemap::BaseMap::from_flags(
        a.base_map_url.as_deref(),
        a.base_map_attribution.as_deref(),
    )?;
    let store = store(&a.state)?;
    let (token, token_from) = sitefinder::serve::state::write_token(a.token_file.as_deref())?;
    if let Some(w) = &a.web {
        if !w.join("index.html").is_file() {
            bail!("--web {}: no index.html there", w.display());
        }
    }
    let engine = open(a.config)?;
    let db = store.path().to_path_buf();
    let t = sitefinder::base::timing::Phase::start("build the collections");
    let mut state = sitefinder::serve::AppState::new(engine);
    drop(t);
    state.max_upload_bytes = usize::from(a.max_upload_mb) * 1024 * 1024;
    state.upload_limits = a.upload_limits;
    state.body_timeout = std::time::Duration::from_secs(a.limits.body_timeout_s);
    let limits = a.limits;
    state.web_dir = a.web.clone();
    state.base_map = base_map;
    state.cors_origins = a.cors_origins.clone();
    state.public_url = a.public_url.clone();
    let state = Arc::new(state.with_store(store, Some(token.clone()))?);
    // The postcode table (1.5M rows) loads on first use: load it now, beside the server, so the
    // first postcode search does not wait for it.
    let atlas = state.engine.atlas.clone();
    std::thread::spawn(move || {
        if let Err(e) = atlas.postcodes() {
            tracing::warn!("postcodes: {e}");
        }
    });
    let rt = tokio::runtime::Runtime::new()?;
    let serving = state.clone();
    let result = rt.block_on(async move {
        let state = serving;
        let listener = tokio::net::TcpListener::bind(&a.addr)
            .await
            .with_context(|| format!("cannot listen on {}", a.addr))?;
        let addr = listener.local_addr()?;
        println!(
            "sitefinder: serving {} units at http://{addr}/ (ready in {} ms; Ctrl-C stops)",
            state.engine.units.len(),
            started.elapsed().as_millis()
        );
        // A token made for this run is printed (whoever runs the server hands it on); one read
        // from a file or the environment is already known and stays out of logs.
        let shown = if token_from.starts_with("generated") {
            format!("write token ({token_from}): {token}")
        } else {
            format!("write token {token_from} (not printed)")
        };
        println!(
            "sitefinder: shortlists and overlays in {}; {shown}",
            db.display()
        );
        if let Some(note) = state.engine.atlas.places_note() {
            println!("sitefinder: note: {note}");
        }
        if let Some(b) = &state.base_map {
            println!("sitefinder: base map {} ({})", b.url, b.attribution);
        }
        std::io::stdout().flush()?;
        // SIGINT (Ctrl-C) or SIGTERM (a service manager's stop): take no new connections and
        // finish the requests under way, for at most SHUTDOWN_GRACE; then stop regardless.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            stop_signal().await;
            println!(
                "sitefinder: stopping: finishing the requests under way (at most {} s)",
                SHUTDOWN_GRACE.as_secs()
            );
            let _ = std::io::stdout().flush();
            let _ = stop_tx.send(true);
        });
        let mut graceful = stop_rx;
        let stopped = sitefinder::serve::listen::run(
            listener,
            sitefinder::serve::app(state.clone()),
            limits,
            async move {
                let _ = graceful.wait_for(|s| *s).await;
            },
            SHUTDOWN_GRACE,
        )
        .await;
        if stopped == sitefinder::serve::listen::Stopped::GraceOver {
            eprintln!(
                "sitefinder: stopped with requests unfinished after {} s",
                SHUTDOWN_GRACE.as_secs()
            );
        }
        Ok(())
    });
    // The requests' tasks are dropped with the runtime; then the threads that did their CPU
    // work finish it and end before the process exits (one ending while the exit tears down
    // PROJ corrupted the heap now and then).
    drop(rt);
    if !state.stop_workers(WORKERS_GRACE) {
        eprintln!(
            "sitefinder: stopped with a request's work unfinished after {} s more",
            WORKERS_GRACE.as_secs()
        );
    }
    if result.is_ok() {
        println!("sitefinder: stopped");
    }
    result
}

/// How long a stopping server lets requests under way finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long it then waits for the CPU work of requests it stopped waiting for (a ranking,
/// a file) to end, so that its threads end before the process does.
const WORKERS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// SIGINT or, on Unix, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn export(a: ExportArgs) -> Result<()> {
    let out = a.out.display().to_string();
    let format = match &a.format {
        Some(f) => ShortlistFormat::parse(f)
            .with_context(|| format!("--format `{f}`: use csv, xlsx, geojson, gpkg or pdf"))?,
        None => ShortlistFormat::from_path(&out).with_context(|| {
            format!("--out {out}: give --format csv|xlsx|geojson|gpkg|pdf or a file ending .csv, .xlsx, .geojson, .gpkg or .pdf")
        })?,
    };
    let store = store(&a.state)?;
    let sl = store.shortlist(&a.shortlist)?;
    let (engine, plan) = shortlist_engine(&store, &sl, &a.units, a.data)?;
    let ranking = engine.shortlist_ranking(&sl, plan, a.as_of)?;
    let meta = engine.shortlist_meta(&sl, &ranking);
    match format {
        ShortlistFormat::Table(f) => engine.write(&a.out, f, &ranking, &meta)?,
        ShortlistFormat::Pdf => {
            let bytes = engine.report(&ranking, &meta);
            write_atomic(&a.out, |w| w.write_all(&bytes))
                .with_context(|| format!("writing {out}"))?;
        }
    }
    eprintln!(
        "sitefinder: wrote shortlist `{}` ({} sites) to {out}",
        sl.name,
        ranking.rows.len()
    );
    Ok(())
}

/// The engine a shortlist is ranked with, as it was made: its units files (unless `units` are
/// given), its catchment source and its plan overlay (if still there).
fn shortlist_engine(
    store: &Store,
    sl: &Shortlist,
    units: &[PathBuf],
    data: Option<PathBuf>,
) -> Result<(Engine, Option<Arc<Overlay>>)> {
    let units = if units.is_empty() {
        let files: Vec<PathBuf> = sl.units_file.split("; ").map(PathBuf::from).collect();
        if let Some(gone) = files.iter().find(|p| !p.is_file()) {
            bail!(
                "shortlist `{}` was made from units file {}, which is not there; pass --units FILE",
                sl.name,
                gone.display()
            );
        }
        files
    } else {
        units.to_vec()
    };
    let mut cfg = Config::new(&data_dir(data)?);
    cfg.units = units;
    cfg.skip_invalid = true;
    if let Some(c) = query_value(&sl.query, "catchments").and_then(|c| Catchments::parse_spec(&c)) {
        cfg.set_catchments(c);
    }
    let plan = match query_value(&sl.query, "overlay") {
        Some(k) => match store.overlay(&k) {
            Ok(o) => Some(Arc::new(o)),
            Err(_) => {
                eprintln!("sitefinder: the shortlist was made with plan overlay `{k}`, which is gone; ranking without it");
                None
            }
        },
        None => None,
    };
    Ok((open(cfg)?, plan))
}

/// A shortlist as `shortlist note`, `remove` and `add` print it.
fn show(sl: &Shortlist) {
    print!("{}", sl.to_text());
}

pub fn shortlist(cmd: ShortlistCmd, state: State) -> Result<()> {
    let store = store(&state)?;
    match cmd {
        ShortlistCmd::List => {
            let all = store.list_shortlists()?;
            if all.is_empty() {
                println!("no shortlists in {}", store.path().display());
            } else {
                print!("{}", sitefinder::store::shortlists_table(&all));
            }
        }
        ShortlistCmd::Show {
            name,
            units,
            data,
            as_of,
        } => {
            let sl = store.shortlist(&name)?;
            // Scores need the units and the data; without them the stored sites and notes
            // still show, with the reason.
            match shortlist_engine(&store, &sl, &units, data) {
                Ok((engine, plan)) => print!("{}", engine.shortlist_table(&sl, plan, as_of)?),
                Err(e) => {
                    show(&sl);
                    eprintln!("sitefinder: no scores: {e:#}");
                }
            }
        }
        ShortlistCmd::Note { name, id, note } => show(&store.set_note(&name, &id, &note)?),
        ShortlistCmd::Remove { name, id } => show(&store.remove_site(&name, &id)?),
        ShortlistCmd::Delete { name } => {
            store.delete_shortlist(&name)?;
            println!("deleted shortlist `{name}`");
        }
        ShortlistCmd::Add(a) => {
            let mut r = a.input;
            r.query.read_weights_file()?;
            let plan = plan(&r.query, &state)?;
            let engine = open(r.config)?;
            let weights = r.query.check(&engine.atlas)?.0;
            let (ids, made_from) = match (&a.ids, r.paging.limit) {
                (Some(ids), _) => {
                    let ids: Vec<String> = ids
                        .split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect();
                    engine.check_ids(&ids)?;
                    (ids, String::new())
                }
                (None, Some(n)) => engine.top_ids(&r.query, plan, n)?,
                (None, None) => bail!("give --ids ID,ID,... or --top N"),
            };
            let sl = match store.shortlist(&a.name) {
                Ok(_) => store.add_sites(&a.name, &ids, &a.note)?,
                Err(StoreError::NoShortlist { .. }) => store.create_shortlist(
                    &a.name,
                    &engine.units_file_list(),
                    &weights.to_list(),
                    &engine.shortlist_origin(&made_from, None),
                    &ids,
                    &a.note,
                )?,
                Err(e) => return Err(e.into()),
            };
            show(&sl);
        }
    }
    Ok(())
}

pub fn overlay(cmd: OverlayCmd, state: State) -> Result<()> {
    let store = store(&state)?;
    match cmd {
        OverlayCmd::List => {
            let all = store.overlays()?;
            if all.is_empty() {
                println!("no overlays in {}", store.path().display());
            }
            for o in all {
                println!("{}", o.list_line());
            }
        }
        OverlayCmd::Delete { overlay } => {
            let o = store.overlay(&overlay)?;
            store.delete_overlay(o.id)?;
            println!("deleted overlay {} `{}`", o.id, o.name);
        }
        OverlayCmd::Add {
            file,
            name,
            repair,
            format,
            limits,
        } => {
            let format =
                match &format {
                    Some(f) => Some(UploadFormat::parse(f).with_context(|| {
                        format!("--format `{f}`: use geojson, shapefile or gpkg")
                    })?),
                    None => None,
                };
            let opts = UploadOptions {
                format,
                repair,
                limits,
                ..UploadOptions::default()
            };
            // Refused before it is read, as over HTTP.
            let size = std::fs::metadata(&file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            if size > opts.max_bytes as u64 {
                bail!(
                    "{}: {}",
                    file.display(),
                    sitefinder::ingest::overlay::OverlayError::TooLarge {
                        size: size as usize,
                        limit: opts.max_bytes,
                    }
                );
            }
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let parsed = sitefinder::ingest::overlay::parse(&bytes, &opts)
                .with_context(|| format!("{}", file.display()))?;
            let source = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let o = store.add_overlay(&name, &source, &parsed)?;
            println!("{}", o.added_line());
        }
    }
    Ok(())
}

pub fn calibrate(registrations: PathBuf, data: Option<PathBuf>) -> Result<()> {
    let atlas = Atlas::load(&data_dir(data)?)?;
    let real = sitefinder::ingest::catchment::Registrations::load(&registrations, &atlas)?;
    for note in real.report() {
        eprintln!("registrations: {note}");
    }
    let c = sitefinder::analysis::calibrate::calibrate(&atlas, &real);
    print!("{}", c.report(&real));
    Ok(())
}

pub fn synthetic_units(n: usize, seed: u64, out: &Path, data: Option<PathBuf>) -> Result<()> {
    let atlas = Atlas::load(&data_dir(data)?)?;
    sitefinder::prepare::synthetic::write_file(&atlas, n, seed, out)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "sitefinder: wrote {n} SYNTHETIC units (seed {seed}) to {}",
        out.display()
    );
    Ok(())
}

pub fn about(data: Option<PathBuf>) -> Result<()> {
    print!("{}", Atlas::load(&data_dir(data)?)?.about());
    Ok(())
}
