//! Each command: build the query, open the engine, render the answer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};

use sitefinder::analysis::rank::{Ranking, Weights};
use sitefinder::base::textio::write_atomic;
use sitefinder::engine::{query_value, Catchments, Config, Engine, RankQuery};
use sitefinder::export::table::{write_csv, write_geojson};
use sitefinder::export::ExportFormat;
use sitefinder::ingest::overlay::{Overlay, UploadFormat, UploadOptions};
use sitefinder::reference::atlas::Atlas;
use sitefinder::store::{Shortlist, Store, StoreError};

use crate::{ExportArgs, OptimiseArgs, OverlayCmd, RankArgs, ServeArgs, ShortlistCmd, State};

/// The data built into the binary (`data/` at build time).
static DATA: include_dir::Dir = include_dir::include_dir!("$CARGO_MANIFEST_DIR/data");

/// The data directory: `--data`, else `$SITEFINDER_DATA`, else the data built into the binary,
/// extracted once into a per-user folder.
fn data_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    Ok(sitefinder::reference::location::data_dir(given, &DATA)?)
}

/// Opens the engine, reporting each skipped row on stderr.
fn open(mut cfg: Config) -> Result<Engine> {
    cfg.data = Some(data_dir(cfg.data.take())?);
    let engine = Engine::open(&cfg)?;
    for (file, s) in &engine.skipped {
        eprintln!("skipped {} {}: {}", file.display(), s.place, s.reason);
    }
    Ok(engine)
}

fn store(state: &State) -> Result<Store> {
    let dir = state
        .state
        .clone()
        .unwrap_or_else(sitefinder::store::default_dir);
    Ok(Store::open(&dir)?)
}

/// The plan overlay a query names, from the state database.
fn plan(q: &RankQuery, state: &State) -> Result<Option<Arc<Overlay>>> {
    Ok(match &q.overlay {
        Some(key) => Some(Arc::new(store(state)?.overlay(key)?)),
        None => None,
    })
}

/// On the command line `--weights` may name a TOML file: read it into pairs.
fn weights_from_file(q: &mut RankQuery) -> Result<()> {
    if let Some(w) = &q.weights {
        if w.ends_with(".toml") || Path::new(w).is_file() {
            q.weights = Some(Weights::from_toml_file(Path::new(w))?.to_list());
        }
    }
    Ok(())
}

/// The format asked for, else the one `out`'s extension names, else CSV.
fn format_for(format: Option<ExportFormat>, out: &str) -> ExportFormat {
    format.unwrap_or_else(|| match out.rsplit_once('.').map(|(_, e)| e) {
        Some("json") => ExportFormat::GeoJson,
        _ => ExportFormat::from_path(out).unwrap_or(ExportFormat::Csv),
    })
}

pub fn rank(mut a: RankArgs) -> Result<()> {
    let out = a.output.out.clone().unwrap_or_else(|| "-".into());
    let format = format_for(a.output.format, &out);
    if matches!(format, ExportFormat::Xlsx | ExportFormat::Gpkg) && out == "-" {
        bail!("--format xlsx and gpkg write a file: give --out FILE");
    }
    weights_from_file(&mut a.query)?;
    let plan = plan(&a.query, &a.state)?;
    let engine = open(a.config)?;
    let mut ranking = engine.rank(&a.query, plan)?;
    let ranked = ranking.rows.len();
    let (offset, limit) = (a.paging.offset.unwrap_or(0), a.paging.limit);
    ranking.rows = ranking
        .rows
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let meta = engine.meta(&ranking, a.query.filter_pairs());
    if out == "-" {
        // Standard output is for pipes: plain UTF-8, no byte-order mark.
        let mut rows = ranking.clone();
        engine.explain(&ranking, &mut rows.rows);
        let (atlas, units, ctx) = (&engine.atlas, &engine.units, &engine.contexts);
        let mut stdout = std::io::stdout().lock();
        match format {
            ExportFormat::GeoJson => {
                write_geojson(&mut stdout, atlas, units, ctx, &rows, &meta.members)?
            }
            _ => write_csv(&mut stdout, atlas, units, ctx, &rows)?,
        }
        stdout.flush()?;
    } else {
        engine.write(Path::new(&out), format, &ranking, &meta)?;
    }
    eprintln!(
        "sitefinder: ranked {ranked} of {} units from {} ({} skipped as invalid, {} not vacant, {} left out by filters); wrote {} to {}",
        engine.units.len() + engine.skipped.len(),
        engine.units_file_list(),
        engine.skipped.len(),
        engine.occupied,
        ranking.filtered_out.len(),
        ranking.rows.len(),
        if out == "-" { "standard output" } else { &out },
    );
    Ok(())
}

pub fn optimise(a: OptimiseArgs) -> Result<()> {
    let engine = open(a.config)?;
    let q = a.query;
    let report = engine
        .optimise(&q)
        .map_err(|e| anyhow::anyhow!("--{}: {e}", e.param().replace('_', "-")))?;
    let text = engine.optimise_text(&q, &report);
    let Some(out) = &a.output.out else {
        print!("{text}");
        return Ok(());
    };
    let format = format_for(a.output.format, out);
    let chosen = engine.chosen(&q, &report);
    let write = |w: &mut dyn Write| -> std::io::Result<()> {
        match format {
            ExportFormat::GeoJson => {
                let v = engine
                    .optimise_json(&q, &report)
                    .map_err(std::io::Error::other)?;
                serde_json::to_writer(&mut *w, &v)?;
                w.write_all(b"\n")
            }
            _ => write_csv(w, &engine.atlas, &engine.units, &engine.contexts, &chosen)
                .map_err(std::io::Error::other),
        }
    };
    match format {
        _ if out == "-" && matches!(format, ExportFormat::Xlsx | ExportFormat::Gpkg) => {
            bail!("--format xlsx and gpkg write a file: give --out FILE")
        }
        _ if out == "-" => {
            eprint!("{text}");
            write(&mut std::io::stdout().lock())?;
            return Ok(());
        }
        ExportFormat::Csv | ExportFormat::GeoJson => {
            write_atomic(Path::new(out), write).with_context(|| format!("writing {out}"))?
        }
        ExportFormat::Xlsx | ExportFormat::Gpkg => {
            let f = |k: &str, v: String| (k.to_string(), v);
            let filters = vec![
                f("model", q.model.name().into()),
                f("k", q.k.to_string()),
                f("radius_m", q.radius_m.to_string()),
                f(
                    "fixed",
                    q.fixed
                        .0
                        .iter()
                        .map(|l| l.name())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                f("pcn", q.pcn.clone().unwrap_or_default()),
                f("lad", q.lad.clone().unwrap_or_default()),
            ];
            engine.write(
                Path::new(out),
                format,
                &chosen,
                &engine.meta(&chosen, filters),
            )?
        }
    }
    print!("{text}");
    Ok(())
}

pub fn serve(a: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sitefinder=info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let started = std::time::Instant::now();
    let store = store(&a.state)?;
    let (token, token_from) = match (&a.token_file, std::env::var("SITEFINDER_TOKEN")) {
        (Some(f), _) => (
            std::fs::read_to_string(f)
                .with_context(|| format!("--token-file {}: cannot read", f.display()))?
                .trim()
                .to_string(),
            format!("from {}", f.display()),
        ),
        (None, Ok(t)) if !t.trim().is_empty() => {
            (t.trim().to_string(), "from SITEFINDER_TOKEN".into())
        }
        _ => (random_token()?, "generated for this run".into()),
    };
    if token.len() < 8 {
        bail!("the write token must be at least 8 characters");
    }
    if let Some(w) = &a.web {
        if !w.join("index.html").is_file() {
            bail!("--web {}: no index.html there", w.display());
        }
    }
    let engine = open(a.config)?;
    let db = store.path().to_path_buf();
    let mut state = sitefinder::serve::AppState::new(engine);
    state.max_upload_bytes = a.max_upload_mb.max(1) * 1024 * 1024;
    state.web_dir = a.web.clone();
    let state = state.with_store(store, Some(token.clone()))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.addr)
            .await
            .with_context(|| format!("cannot listen on {}", a.addr))?;
        let addr = listener.local_addr()?;
        println!(
            "sitefinder: serving {} units at http://{addr}/ (ready in {} ms; Ctrl-C stops)",
            state.engine.units.len(),
            started.elapsed().as_millis()
        );
        println!(
            "sitefinder: shortlists and overlays in {}; write token ({token_from}): {token}",
            db.display()
        );
        std::io::stdout().flush()?;
        axum::serve(listener, sitefinder::serve::app(Arc::new(state)))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}

/// 128 random bits from the operating system, as hex.
fn random_token() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| {
        anyhow::anyhow!("no random bytes for a write token ({e}); pass --token-file FILE")
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

pub fn export(a: ExportArgs) -> Result<()> {
    let out = a.out.display().to_string();
    let format = match &a.format {
        Some(f) => ExportFormat::parse(f)
            .with_context(|| format!("--format `{f}`: use csv, xlsx, geojson or gpkg"))?,
        None => ExportFormat::from_path(&out).with_context(|| {
            format!("--out {out}: give --format csv|xlsx|geojson|gpkg or a file ending .csv, .xlsx, .geojson or .gpkg")
        })?,
    };
    let store = store(&a.state)?;
    let sl = store.shortlist(&a.shortlist)?;
    let units = if a.units.is_empty() {
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
        a.units.clone()
    };
    // The shortlist is ranked as it was made: its catchment source, date and plan overlay.
    let choice = query_value(&sl.query, "catchments").and_then(|c| Catchments::parse_spec(&c));
    let mut cfg = Config::new(&data_dir(a.data)?);
    cfg.units = units;
    cfg.skip_invalid = true;
    match choice {
        Some(Catchments::Registrations(p)) => cfg.registrations = Some(p),
        Some(Catchments::Polygons(p)) => cfg.catchments = Some(p),
        _ => {}
    }
    let plan = match query_value(&sl.query, "overlay") {
        Some(k) => match store.overlay(&k) {
            Ok(o) => Some(Arc::new(o)),
            Err(_) => {
                eprintln!("sitefinder: the shortlist was made with plan overlay `{k}`, which is gone; exporting without it");
                None
            }
        },
        None => None,
    };
    let engine = open(cfg)?;
    let ranking = engine.shortlist_ranking(&sl, plan, a.as_of)?;
    engine.write(
        &a.out,
        format,
        &ranking,
        &engine.shortlist_meta(&sl, &ranking),
    )?;
    eprintln!(
        "sitefinder: wrote shortlist `{}` ({} sites) to {out}",
        sl.name,
        ranking.rows.len()
    );
    Ok(())
}

/// A shortlist as `shortlist show` prints it.
fn show(sl: &Shortlist) {
    println!(
        "{}: {} site{} (created {}, updated {}; weights {}{})",
        sl.name,
        sl.sites.len(),
        if sl.sites.len() == 1 { "" } else { "s" },
        sl.created,
        sl.updated,
        sl.weights,
        if sl.query.is_empty() {
            String::new()
        } else {
            format!("; from {}", sl.query)
        }
    );
    for s in &sl.sites {
        if s.note.is_empty() {
            println!("  {}", s.unit_id);
        } else {
            println!("  {}  — {}", s.unit_id, s.note);
        }
    }
}

pub fn shortlist(cmd: ShortlistCmd, state: State) -> Result<()> {
    let store = store(&state)?;
    match cmd {
        ShortlistCmd::List => {
            let all = store.list_shortlists()?;
            if all.is_empty() {
                println!("no shortlists in {}", store.path().display());
            }
            for (name, created, updated, n) in all {
                println!("{name}\t{n} sites\tcreated {created}\tupdated {updated}");
            }
        }
        ShortlistCmd::Show { name } => show(&store.shortlist(&name)?),
        ShortlistCmd::Note { name, id, note } => show(&store.set_note(&name, &id, &note)?),
        ShortlistCmd::Remove { name, id } => show(&store.remove_site(&name, &id)?),
        ShortlistCmd::Delete { name } => {
            store.delete_shortlist(&name)?;
            println!("deleted shortlist `{name}`");
        }
        ShortlistCmd::Add(a) => {
            let mut a = *a;
            weights_from_file(&mut a.query)?;
            let weights = match &a.query.weights {
                Some(w) => Weights::parse_list(w)?,
                None => Weights::default(),
            };
            let plan = plan(&a.query, &state)?;
            let engine = open(a.config)?;
            let (ids, query) = match (&a.ids, a.paging.limit) {
                (Some(ids), _) => {
                    let ids: Vec<String> = ids
                        .split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect();
                    engine.check_ids(&ids)?;
                    (ids, String::new())
                }
                (None, Some(n)) => {
                    let ranking: Ranking = engine.rank(&a.query, plan)?;
                    let ids = ranking
                        .rows
                        .iter()
                        .take(n)
                        .map(|r| engine.units[r.unit].id.clone())
                        .collect();
                    let mut q = a.query.to_query_string();
                    q.push_str(&format!("{}top={n}", if q.is_empty() { "" } else { "&" }));
                    (ids, q)
                }
                (None, None) => bail!("give --ids ID,ID,... or --top N"),
            };
            let sl = match store.shortlist(&a.name) {
                Ok(_) => store.add_sites(&a.name, &ids, &a.note)?,
                Err(StoreError::NoShortlist { .. }) => store.create_shortlist(
                    &a.name,
                    &engine.units_file_list(),
                    &weights.to_list(),
                    &engine.shortlist_origin(&query, None),
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
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match cmd {
        OverlayCmd::List => {
            let all = store.overlays()?;
            if all.is_empty() {
                println!("no overlays in {}", store.path().display());
            }
            for o in all {
                println!(
                    "{}\t{}\t{} feature{}\t{}\t{} ({})\tcreated {}",
                    o.id,
                    o.name,
                    o.features.len(),
                    plural(o.features.len()),
                    o.crs,
                    o.source,
                    o.format,
                    o.created
                );
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
        } => {
            let format =
                match &format {
                    Some(f) => Some(UploadFormat::parse(f).with_context(|| {
                        format!("--format `{f}`: use geojson, shapefile or gpkg")
                    })?),
                    None => None,
                };
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let opts = UploadOptions {
                format,
                repair,
                ..UploadOptions::default()
            };
            let parsed = sitefinder::ingest::overlay::parse(&bytes, &opts)
                .with_context(|| format!("{}", file.display()))?;
            let source = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let o = store.add_overlay(&name, &source, &parsed)?;
            let repaired = if o.repaired.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = o.repaired.iter().map(|i| i.to_string()).collect();
                format!("; repaired with make-valid: feature {}", list.join(", "))
            };
            println!(
                "added overlay {} `{}`: {} feature{} read as {}{repaired}",
                o.id,
                o.name,
                o.features.len(),
                plural(o.features.len()),
                o.crs,
            );
        }
    }
    Ok(())
}

pub fn about(data: Option<PathBuf>) -> Result<()> {
    let atlas = Atlas::load(&data_dir(data)?)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "sitefinder {}\n", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "Data ({}):", atlas.dir.display())?;
    for l in &atlas.manifest.layers {
        let cov = match &l.coverage {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => format!("{} local authorities", a.len()),
            other => other.to_string(),
        };
        writeln!(
            out,
            "  {:<18} {:>9} rows  {} [{}; {}; coverage: {cov}]",
            l.name, l.rows, l.source, l.vintage, l.licence
        )?;
    }
    writeln!(out, "\nAttribution:")?;
    for a in &atlas.manifest.attribution {
        writeln!(out, "  {a}")?;
    }
    writeln!(
        out,
        "\nCoordinates are transformed with PROJ's Helmert fallback (no OSTN15 grid), 0.5-4 m from the official transformation."
    )?;
    Ok(())
}
