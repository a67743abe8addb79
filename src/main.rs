//! The `sitefinder` command line: a thin layer over the library.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use sitefinder::atlas::Atlas;
use sitefinder::catchment::{CatchmentSource, Huff, Polygons, Registrations};
use sitefinder::criteria::{Scales, Settings};
use sitefinder::date::Date;
use sitefinder::export::{ExportFormat, Meta};
use sitefinder::import::{read_units, ImportOptions};
use sitefinder::join::{attach, JoinParams};
use sitefinder::output::{write_csv, write_geojson};
use sitefinder::overlay::{UploadFormat, UploadOptions};
use sitefinder::rank::{rank, Filters, Weights};
use sitefinder::store::Store;
use sitefinder::textio::write_atomic;

#[derive(Parser)]
#[command(
    name = "sitefinder",
    version,
    about = "Find and rank vacant high-street shops in England as community vaccination and health sites",
    long_about = "Find and rank vacant high-street shops in England as community vaccination and health sites.\n\nThe reference data (IMD 2019, LSOA boundaries, GP practices and PCNs, stops, pharmacies, vaccination sites, postcodes) is read from the data directory; candidate units come from your CSV or GeoJSON file, or from the real vacant shops shipped in data/units/.",
    after_help = "Examples:\n  sitefinder rank                                   # Rochdale's vacant shops, CSV to stdout\n  sitefinder rank --units shops.csv --pcn \"Rochdale North\" --out shortlist.geojson\n  sitefinder rank --weights deprivation=5,access=0 --imd-deciles 1-3\n  sitefinder about                                  # sources, licences, attribution"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum OutFormat {
    Csv,
    Geojson,
    /// Excel workbook: sites with the breakdown, the query, the sources (needs --out FILE).
    Xlsx,
    /// GeoPackage, points in EPSG:27700 (needs --out FILE).
    Gpkg,
}

#[derive(Subcommand)]
enum Cmd {
    /// Rank candidate units and write the shortlist with a score breakdown per unit.
    Rank(Box<RankArgs>),
    /// Choose the k units that together reach the most (deprived) demand: MCLP, p-median, LSCP.
    Optimise(Box<OptimiseArgs>),
    /// Serve the ranking, every layer (OGC API - Features) and the web map over HTTP.
    Serve(Box<ServeArgs>),
    /// Export a named shortlist as CSV, XLSX, GeoJSON or GeoPackage.
    Export(Box<ExportArgs>),
    /// Named shortlists of units, kept in the state database: list, show, add, note, remove, delete.
    Shortlist {
        #[command(subcommand)]
        cmd: ShortlistCmd,
        /// State directory holding the database (default: $SITEFINDER_STATE, else ~/.local/share/sitefinder).
        #[arg(long, value_name = "DIR", global = true)]
        state: Option<PathBuf>,
    },
    /// Council plan overlays (Future High Streets, regeneration areas): add, list, delete.
    Overlay {
        #[command(subcommand)]
        cmd: OverlayCmd,
        /// State directory holding the database (default: $SITEFINDER_STATE, else ~/.local/share/sitefinder).
        #[arg(long, value_name = "DIR", global = true)]
        state: Option<PathBuf>,
    },
    /// Print the data sources, vintages, licences and the attribution notice.
    About {
        /// Data directory.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Rebuild the data directory from the raw open data files (see data/README.md).
    PrepareData {
        /// The folder of raw files (with INDEX.md and PROVENANCE.md).
        #[arg(long)]
        raw: PathBuf,
        #[arg(long, default_value = "data")]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The shortlist's name.
    #[arg(long, value_name = "NAME")]
    shortlist: String,
    /// csv (UTF-8 with BOM, for Excel), xlsx, geojson or gpkg (default: from --out's extension).
    #[arg(long)]
    format: Option<String>,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Units file (default: the one the shortlist was made from).
    #[arg(long, value_name = "FILE")]
    units: Option<PathBuf>,
    /// Data directory (default: ./data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// State directory holding the database.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Date vacancy age is measured at (YYYY-MM-DD; default today).
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
}

#[derive(Subcommand)]
enum ShortlistCmd {
    /// Every shortlist with its number of sites and times.
    List,
    /// One shortlist's sites and notes.
    Show { name: String },
    /// Add units (by id, or the top N of a ranking) to a shortlist, creating it if needed.
    Add(Box<ShortlistAddArgs>),
    /// Set the note of one site.
    Note {
        name: String,
        id: String,
        note: String,
    },
    /// Take one site out.
    Remove { name: String, id: String },
    /// Delete a whole shortlist.
    Delete { name: String },
}

#[derive(clap::Args)]
struct ShortlistAddArgs {
    name: String,
    /// Unit ids, comma-separated.
    #[arg(long, value_name = "IDS")]
    ids: Option<String>,
    /// Or: the top N units of a ranking with the filters below.
    #[arg(long, value_name = "N", conflicts_with = "ids")]
    top: Option<usize>,
    /// A note for each added site.
    #[arg(long, default_value = "")]
    note: String,
    /// Candidate units (default: the vacant shops of Rochdale in data/units/).
    #[arg(long, value_name = "FILE")]
    units: Option<PathBuf>,
    /// Data directory (default: ./data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    #[arg(long, value_name = "NAME")]
    pcn: Option<String>,
    #[arg(long, value_name = "LAD")]
    lad: Option<String>,
    #[arg(long, value_name = "LIST")]
    imd_deciles: Option<String>,
    /// Weights pairs (kept with the shortlist and used when it is exported).
    #[arg(long, value_name = "k=v,...")]
    weights: Option<String>,
    /// Rank with this plan overlay (id or name).
    #[arg(long, value_name = "ID|NAME")]
    overlay: Option<String>,
    #[arg(long, value_name = "M")]
    plan_within_m: Option<f64>,
}

#[derive(Subcommand)]
enum OverlayCmd {
    /// Check a plan layer and store it: GeoJSON, zipped Shapefile (with .prj) or GeoPackage.
    Add {
        file: PathBuf,
        /// The overlay's name, e.g. "Rochdale Future High Streets".
        #[arg(long)]
        name: String,
        /// Repair invalid polygons with make-valid instead of refusing them.
        #[arg(long)]
        repair: bool,
        /// geojson, shapefile or gpkg (default: guessed from the file).
        #[arg(long)]
        format: Option<String>,
    },
    /// Every overlay with its id, features and CRS.
    List,
    /// Delete an overlay (id or name).
    Delete { overlay: String },
}

#[derive(clap::Args)]
struct RankArgs {
    /// Candidate units: CSV (lat/lon, easting/northing or postcode; or a council business-rates
    /// list) or GeoJSON. Default: the vacant shops of Rochdale in data/units/.
    #[arg(long, value_name = "FILE")]
    units: Option<PathBuf>,
    /// Data directory (default: ./data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Only units in the GP catchment of this Primary Care Network (name or U-code).
    #[arg(long, value_name = "NAME")]
    pcn: Option<String>,
    /// Only units in this local authority (LAD 2019 code or name).
    #[arg(long, value_name = "LAD")]
    lad: Option<String>,
    /// Only units inside this WGS84 box: minlon,minlat,maxlon,maxlat.
    #[arg(long, value_name = "BBOX", allow_hyphen_values = true)]
    bbox: Option<String>,
    /// Only units with at least this floor area (units of unknown area are left out).
    #[arg(long, value_name = "M2")]
    min_floor_area_m2: Option<f64>,
    /// Only units in LSOAs of these IMD deciles, e.g. 1,2 or 1-3 (1 = most deprived).
    #[arg(long, value_name = "LIST")]
    imd_deciles: Option<String>,
    /// Weights: a TOML file, or pairs like deprivation=3,reach=2,demand=2,gap=2,access=1,suitability=1.
    #[arg(long, value_name = "FILE|k=v,...")]
    weights: Option<String>,
    /// Output format (default: from --out's extension, else csv).
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    /// Output file, or - for standard output.
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    out: String,
    /// Write only the top N units.
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Skip bad rows (each is reported) instead of stopping at the first.
    #[arg(long)]
    skip_invalid: bool,
    /// NHS Digital "Patients registered at a GP practice - LSOA" CSV for real catchments.
    #[arg(long, value_name = "FILE")]
    registrations: Option<PathBuf>,
    /// GP catchment polygons as GeoJSON with a practice_code property.
    #[arg(long, value_name = "FILE", conflicts_with = "registrations")]
    catchments: Option<PathBuf>,
    /// Walking reach in metres.
    #[arg(long, value_name = "M", default_value_t = 800.0)]
    reach_m: f64,
    /// Date vacancy age is measured at (YYYY-MM-DD; default today).
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Use this council plan overlay (id or name) for the `plan` criterion.
    #[arg(long, value_name = "ID|NAME")]
    overlay: Option<String>,
    /// Only units within this distance of the overlay's areas (0 = inside).
    #[arg(long, value_name = "M", requires = "overlay")]
    plan_within_m: Option<f64>,
    /// State directory holding the overlays (default: $SITEFINDER_STATE, else ~/.local/share/sitefinder).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
}

#[derive(clap::Args)]
struct OptimiseArgs {
    /// Candidate units (as for rank). Default: the vacant shops of Rochdale in data/units/.
    #[arg(long, value_name = "FILE")]
    units: Option<PathBuf>,
    /// Data directory (default: ./data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// How many sites to choose (ignored by lscp).
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// Coverage radius in metres (MCLP, LSCP); p-median distances are capped at max(4 x radius, 5 km).
    #[arg(long, value_name = "M", default_value_t = 800.0)]
    radius_m: f64,
    /// mclp (maximal covering), p-median, or lscp (fewest sites covering everything coverable).
    #[arg(long, default_value = "mclp")]
    model: String,
    /// Existing sites whose coverage counts and that are never chosen: practices,pharmacies,vaccination-sites.
    #[arg(long, value_name = "LIST", default_value = "")]
    fixed: String,
    /// Demand and candidates within this PCN's catchment.
    #[arg(long, value_name = "NAME")]
    pcn: Option<String>,
    /// Demand and candidates within this local authority (code or name).
    #[arg(long, value_name = "LAD")]
    lad: Option<String>,
    /// Deprivation weighting of demand: deciles (decile 1 counts 2x decile 10), score, or ten weights.
    #[arg(long, value_name = "W", default_value = "deciles")]
    weighting: String,
    /// Also solve exactly (MILP) and report the proven optimum and the heuristic's gap.
    #[arg(long)]
    exact: bool,
    /// Compare the choice with these unit ids (a scenario: "these k sites vs those k sites").
    #[arg(long, value_name = "IDS")]
    compare: Option<String>,
    /// Output format for the chosen sites (default: from --out's extension, else csv).
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    /// Write the chosen sites to this file (or - for standard output, the report then going to stderr).
    #[arg(long, value_name = "FILE|-")]
    out: Option<String>,
    /// Skip bad rows of the units file (each is reported).
    #[arg(long)]
    skip_invalid: bool,
    /// NHS Digital "Patients registered at a GP practice - LSOA" CSV for real catchments.
    #[arg(long, value_name = "FILE")]
    registrations: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Data directory (default: ./data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Candidate units to serve (default: the vacant shops of Rochdale in data/units/).
    #[arg(long, value_name = "FILE")]
    units: Option<PathBuf>,
    /// Skip bad rows of the units file (each is reported).
    #[arg(long)]
    skip_invalid: bool,
    /// NHS Digital "Patients registered at a GP practice - LSOA" CSV for real catchments.
    #[arg(long, value_name = "FILE")]
    registrations: Option<PathBuf>,
    /// GP catchment polygons as GeoJSON with a practice_code property.
    #[arg(long, value_name = "FILE", conflicts_with = "registrations")]
    catchments: Option<PathBuf>,
    /// The web map's directory.
    #[arg(long, value_name = "DIR", default_value = "web")]
    web: PathBuf,
    /// Date vacancy age is measured at (YYYY-MM-DD; default today).
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// State directory for shortlists and overlays (default: $SITEFINDER_STATE, else ~/.local/share/sitefinder).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// A file holding the bearer token that writes (uploads, deletes, shortlist edits) need.
    /// Default: $SITEFINDER_TOKEN, else a random token printed at start-up.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Largest overlay upload accepted, in MB.
    #[arg(long, value_name = "MB", default_value_t = 10)]
    max_upload_mb: usize,
}

fn main() {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Rank(args) => cmd_rank(*args),
        Cmd::Serve(args) => cmd_serve(*args),
        Cmd::Optimise(args) => cmd_optimise(*args),
        Cmd::About { data } => cmd_about(data),
        Cmd::Export(args) => cmd_export(*args),
        Cmd::Shortlist { cmd, state } => cmd_shortlist(cmd, state),
        Cmd::Overlay { cmd, state } => cmd_overlay(cmd, state),
        Cmd::PrepareData { raw, out } => sitefinder::prepare::prepare(&raw, &out),
    };
    if let Err(e) = res {
        eprintln!("sitefinder: {e:#}");
        std::process::exit(2);
    }
}

fn data_dir(given: Option<PathBuf>) -> PathBuf {
    given
        .or_else(|| std::env::var_os("SITEFINDER_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("data"))
}

fn load_atlas(dir: &Path) -> Result<Atlas> {
    Ok(Atlas::load(dir)?)
}

fn catchment_source(
    atlas: &Atlas,
    registrations: Option<&Path>,
    polygons: Option<&Path>,
) -> Result<Box<dyn CatchmentSource>> {
    Ok(match (registrations, polygons) {
        (Some(p), _) => Box::new(Registrations::load(p, atlas)?),
        (_, Some(p)) => Box::new(Polygons::load(p, atlas)?),
        _ => Box::new(Huff::default()),
    })
}

/// Imports the units, reporting each skipped row on stderr.
fn import_units(
    atlas: &Atlas,
    path: &Path,
    skip_invalid: bool,
) -> Result<sitefinder::import::Imported> {
    let imported = read_units(
        path,
        atlas,
        &ImportOptions {
            skip_invalid,
            progress: true,
        },
    )?;
    for s in &imported.skipped {
        eprintln!("skipped {} {}: {}", path.display(), s.place, s.reason);
    }
    Ok(imported)
}

fn parse_as_of(s: Option<&str>) -> Result<Date> {
    match s {
        Some(s) => {
            Date::parse(s).with_context(|| format!("--as-of `{s}` is not a date (YYYY-MM-DD)"))
        }
        None => Ok(Date::today()),
    }
}

fn cmd_serve(a: ServeArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let dir = data_dir(a.data);
    let atlas = std::sync::Arc::new(load_atlas(&dir)?);
    let units_path = a
        .units
        .clone()
        .unwrap_or_else(|| dir.join("units").join("rochdale_vacant_shops.csv"));
    let catchments = catchment_source(&atlas, a.registrations.as_deref(), a.catchments.as_deref())?;
    let as_of = parse_as_of(a.as_of.as_deref())?;
    let imported = import_units(&atlas, &units_path, a.skip_invalid)?;
    if !a.web.join("index.html").is_file() {
        bail!(
            "{}: no index.html; pass --web DIR (the repository's web/ folder)",
            a.web.display()
        );
    }
    let state_dir = a
        .state
        .clone()
        .unwrap_or_else(sitefinder::store::default_dir);
    let store = Store::open(&state_dir)?;
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
    let units_file = std::fs::canonicalize(&units_path)
        .unwrap_or(units_path.clone())
        .display()
        .to_string();
    let mut state = sitefinder::server::AppState::new(
        atlas,
        imported.units,
        catchments,
        JoinParams::default(),
        as_of,
        units_file,
        a.web.clone(),
    );
    state.max_upload_bytes = a.max_upload_mb.max(1) * 1024 * 1024;
    let state = state.with_store(store, Some(token.clone()))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.addr)
            .await
            .with_context(|| format!("cannot listen on {}", a.addr))?;
        let addr = listener.local_addr()?;
        println!(
            "sitefinder: serving {} units at http://{addr}/ (ready in {} ms; Ctrl-C stops)",
            state.units.len(),
            started.elapsed().as_millis()
        );
        println!(
            "sitefinder: shortlists and overlays in {}; write token ({token_from}): {token}",
            state_dir.join(sitefinder::store::DB_FILE).display()
        );
        std::io::stdout().flush()?;
        axum::serve(
            listener,
            sitefinder::server::app(std::sync::Arc::new(state)),
        )
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}

/// 128 random bits from the operating system, as hex.
fn random_token() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read /dev/urandom for a write token; pass --token-file FILE")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn cmd_optimise(a: OptimiseArgs) -> Result<()> {
    use sitefinder::optimise::{run, FixedLayer, Model, Request, Weighting};
    let dir = data_dir(a.data);
    let atlas = load_atlas(&dir)?;
    let model = Model::parse(&a.model)
        .with_context(|| format!("--model `{}`: use mclp, p-median or lscp", a.model))?;
    let fixed = FixedLayer::parse_list(&a.fixed).map_err(|e| anyhow::anyhow!("--fixed: {e}"))?;
    let weighting = Weighting::parse(&a.weighting).with_context(|| {
        format!(
            "--weighting `{}`: use deciles, score, or ten comma-separated weights",
            a.weighting
        )
    })?;
    let units_path = a
        .units
        .clone()
        .unwrap_or_else(|| dir.join("units").join("rochdale_vacant_shops.csv"));
    let catchments = catchment_source(&atlas, a.registrations.as_deref(), None)?;
    let imported = import_units(&atlas, &units_path, a.skip_invalid)?;
    let contexts = attach(
        &atlas,
        &imported.units,
        catchments.as_ref(),
        &JoinParams::default(),
    );
    let req = Request {
        model,
        k: a.k,
        radius_m: a.radius_m,
        fixed,
        pcn: a.pcn.clone(),
        lad: a.lad.clone(),
        weighting,
        exact: a.exact,
        compare: a
            .compare
            .as_deref()
            .map(|c| {
                c.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let report = run(
        &atlas,
        &imported.units,
        &contexts,
        catchments.as_ref(),
        &req,
    )
    .map_err(anyhow::Error::msg)?;
    let units = &imported.units;

    let mut text = String::new();
    use std::fmt::Write as _;
    let total: f64 = report.demand_total.iter().sum();
    writeln!(
        text,
        "{}{}, radius {} m: {} candidate units, {} demand LSOAs (weighted demand {:.0}), {} fixed sites ({})",
        model.name(),
        if model == Model::Lscp { String::new() } else { format!(" with k = {}", a.k) },
        a.radius_m,
        report.candidate_units.len(),
        report.demand_lsoas.len(),
        total,
        report.fixed_sites,
        if req.fixed.is_empty() { "none".to_string() } else { req.fixed.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ") }
    )?;
    let h = &report.heuristic;
    writeln!(text, "chosen (lazy greedy + 1-swap), in order of choice:")?;
    for (n, (j, m)) in h.chosen.iter().zip(&h.marginal).enumerate() {
        let u = &units[report.candidate_units[*j]];
        let what = match model {
            Model::Mclp => "weighted demand newly covered",
            Model::PMedian => "weighted metres saved",
            Model::Lscp => "demand points newly covered",
        };
        writeln!(
            text,
            "  {}. {}  {}  (+{:.0} {what})",
            n + 1,
            u.id,
            u.name,
            m
        )?;
    }
    let covered: f64 = report.covered_after.iter().sum();
    writeln!(
        text,
        "weighted demand covered within {} m: {:.0} of {:.0} ({:.1}%)",
        a.radius_m,
        covered,
        total,
        100.0 * covered / total.max(1e-9)
    )?;
    writeln!(text, "objective ({}): {:.1}", model.name(), h.objective)?;
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
            writeln!(
                text,
                "exact (MILP, microlp): proven optimum {:.1} with {}; heuristic gap {gap:.2}%",
                e.objective,
                ids.join(", ")
            )?;
        }
        Some(Err(e)) => writeln!(text, "exact: not solved: {e}")?,
        None => {}
    }
    if let Some(sc) = &report.compared {
        let cov: f64 = sc.covered.iter().sum();
        writeln!(
            text,
            "scenario {}: objective {:.1} (chosen: {:.1}); weighted demand covered {:.0} (chosen: {:.0}); decile 1 covered {:.1}% (chosen: {:.1}%)",
            sc.ids.join(", "),
            sc.objective,
            h.objective,
            cov,
            covered,
            100.0 * sc.covered[0] / report.demand_total[0].max(1e-9),
            100.0 * report.covered_after[0] / report.demand_total[0].max(1e-9)
        )?;
    }
    writeln!(text, "equity (most deprived first):")?;
    for l in report.equity_lines() {
        writeln!(text, "  {l}")?;
    }

    if let Some(out) = &a.out {
        let format = match (a.format, out.as_str()) {
            (Some(f), _) => f,
            (None, o) if o.ends_with(".geojson") || o.ends_with(".json") => OutFormat::Geojson,
            _ => OutFormat::Csv,
        };
        let write = |w: &mut dyn Write| -> std::io::Result<()> {
            match format {
                OutFormat::Csv => {
                    let mut c = csv::Writer::from_writer(w);
                    c.write_record([
                        "order",
                        "id",
                        "name",
                        "marginal",
                        "lsoa11cd",
                        "imd_decile",
                        "lat",
                        "lon",
                    ])?;
                    for (n, (j, m)) in h.chosen.iter().zip(&h.marginal).enumerate() {
                        let ui = report.candidate_units[*j];
                        let (lon, lat) =
                            sitefinder::crs::bng_to_wgs84(units[ui].pos[0], units[ui].pos[1])
                                .map_err(std::io::Error::other)?;
                        let l = &atlas.lsoas[contexts[ui].lsoa];
                        c.write_record([
                            (n + 1).to_string(),
                            units[ui].id.clone(),
                            units[ui].name.clone(),
                            format!("{m:.1}"),
                            l.lsoa11cd.clone(),
                            l.imd_decile.to_string(),
                            format!("{lat:.6}"),
                            format!("{lon:.6}"),
                        ])?;
                    }
                    c.flush()
                }
                OutFormat::Xlsx | OutFormat::Gpkg => {
                    Err(std::io::Error::other("optimise writes csv or geojson"))
                }
                OutFormat::Geojson => {
                    let mut feats = vec![];
                    for (n, (j, m)) in h.chosen.iter().zip(&h.marginal).enumerate() {
                        let ui = report.candidate_units[*j];
                        let (lon, lat) =
                            sitefinder::crs::bng_to_wgs84(units[ui].pos[0], units[ui].pos[1])
                                .map_err(std::io::Error::other)?;
                        let l = &atlas.lsoas[contexts[ui].lsoa];
                        feats.push(json!({"type": "Feature", "id": units[ui].id,
                            "geometry": {"type": "Point", "coordinates": [sitefinder::output::round6(lon), sitefinder::output::round6(lat)]},
                            "properties": {"order": n + 1, "id": units[ui].id, "name": units[ui].name, "marginal": m,
                                "lsoa11cd": l.lsoa11cd, "imd_decile": l.imd_decile, "radius_m": a.radius_m}}));
                    }
                    let fc = json!({"type": "FeatureCollection", "model": model.name(), "objective": h.objective,
                        "report": text, "attribution": atlas.manifest.attribution, "features": feats});
                    serde_json::to_writer(&mut *w, &fc)?;
                    w.write_all(b"\n")
                }
            }
        };
        if out == "-" {
            eprint!("{text}");
            let mut stdout = std::io::stdout().lock();
            write(&mut stdout)?;
            return Ok(());
        }
        write_atomic(Path::new(out), write).with_context(|| format!("writing {out}"))?;
    }
    print!("{text}");
    Ok(())
}

fn cmd_about(data: Option<PathBuf>) -> Result<()> {
    let atlas = load_atlas(&data_dir(data))?;
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

fn open_store(dir: Option<PathBuf>) -> Result<Store> {
    let dir = dir.unwrap_or_else(sitefinder::store::default_dir);
    Ok(Store::open(&dir)?)
}

fn parse_weights(w: Option<&str>) -> Result<Weights> {
    Ok(match w {
        None => Weights::default(),
        Some(w) if w.ends_with(".toml") || Path::new(w).is_file() => {
            Weights::from_toml_file(Path::new(w))?
        }
        Some(w) => Weights::parse_list(w)?,
    })
}

fn cmd_rank(a: RankArgs) -> Result<()> {
    let dir = data_dir(a.data);
    let atlas = load_atlas(&dir)?;
    let units_path = a
        .units
        .clone()
        .unwrap_or_else(|| dir.join("units").join("rochdale_vacant_shops.csv"));

    let weights = parse_weights(a.weights.as_deref())?;
    let filters = Filters {
        pcn: a.pcn.clone(),
        lad: a.lad.clone(),
        min_floor_area_m2: a.min_floor_area_m2,
        bbox: a.bbox.as_deref().map(Filters::parse_bbox).transpose()?,
        imd_deciles: a
            .imd_deciles
            .as_deref()
            .map(Filters::parse_deciles)
            .transpose()?,
        plan_within_m: a
            .plan_within_m
            .map(|m| Filters::parse_plan_within(&m.to_string()))
            .transpose()?,
    };
    sitefinder::rank::check_filters(&atlas, &filters)?;
    if !(50.0..=5_000.0).contains(&a.reach_m) {
        bail!(
            "--reach-m {} is out of range: give 50 to 5000 metres",
            a.reach_m
        );
    }
    let as_of = parse_as_of(a.as_of.as_deref())?;
    let format = match (a.format, a.out.as_str()) {
        (Some(f), _) => f,
        (None, o) if o.ends_with(".geojson") || o.ends_with(".json") => OutFormat::Geojson,
        (None, o) if o.ends_with(".xlsx") => OutFormat::Xlsx,
        (None, o) if o.ends_with(".gpkg") => OutFormat::Gpkg,
        _ => OutFormat::Csv,
    };
    if matches!(format, OutFormat::Xlsx | OutFormat::Gpkg) && a.out == "-" {
        bail!("--format xlsx and gpkg write a file: give --out FILE");
    }
    let overlay = match &a.overlay {
        Some(key) => Some(open_store(a.state.clone())?.overlay(key)?),
        None => None,
    };

    let catchments = catchment_source(&atlas, a.registrations.as_deref(), a.catchments.as_deref())?;

    let imported = import_units(&atlas, &units_path, a.skip_invalid)?;
    let join = JoinParams {
        reach_radius_m: a.reach_m,
        ..JoinParams::default()
    };
    let contexts = attach(&atlas, &imported.units, catchments.as_ref(), &join);
    let settings = Settings {
        scales: Scales::default(),
        join,
        as_of,
        catchment_kind: catchments.kind(),
        plan: overlay.as_ref(),
    };
    let mut ranking = rank(
        &atlas,
        &imported.units,
        &contexts,
        &weights,
        &filters,
        &settings,
    )?;
    let ranked = ranking.rows.len();
    if let Some(n) = a.top {
        ranking.rows.truncate(n);
    }

    let mut meta = Meta {
        members: json!({
            "sitefinder": env!("CARGO_PKG_VERSION"),
            "units_file": units_path.display().to_string(),
            "weights": weights.to_list(),
            "as_of": as_of.to_string(),
            "catchments": catchments.describe(),
            "attribution": atlas.manifest.attribution,
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
        filters: vec![],
    };
    if let Some(o) = &overlay {
        meta.members.insert("plan_overlay".into(), json!(o.name));
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    meta.filters = vec![
        ("pcn".into(), opt(&a.pcn)),
        ("lad".into(), opt(&a.lad)),
        ("imd_deciles".into(), opt(&a.imd_deciles)),
        (
            "min_floor_area_m2".into(),
            a.min_floor_area_m2
                .map(|x| x.to_string())
                .unwrap_or_default(),
        ),
        ("bbox".into(), opt(&a.bbox)),
        (
            "plan_within_m".into(),
            a.plan_within_m.map(|x| x.to_string()).unwrap_or_default(),
        ),
    ];
    let export_format = match format {
        OutFormat::Csv => ExportFormat::Csv,
        OutFormat::Geojson => ExportFormat::GeoJson,
        OutFormat::Xlsx => ExportFormat::Xlsx,
        OutFormat::Gpkg => ExportFormat::Gpkg,
    };
    if a.out == "-" {
        // Standard output is for pipes: plain UTF-8, no byte-order mark.
        let mut stdout = std::io::stdout().lock();
        match format {
            OutFormat::Geojson => write_geojson(
                &mut stdout,
                &atlas,
                &imported.units,
                &contexts,
                &ranking,
                &meta.members,
            )?,
            _ => write_csv(&mut stdout, &atlas, &imported.units, &contexts, &ranking)?,
        }
        stdout.flush()?;
    } else {
        sitefinder::export::write(
            Path::new(&a.out),
            export_format,
            &atlas,
            &imported.units,
            &contexts,
            &ranking,
            &meta,
        )?;
    }

    eprintln!(
        "sitefinder: ranked {ranked} of {} units from {} ({} skipped as invalid, {} not vacant, {} left out by filters); wrote {} to {}",
        imported.units.len() + imported.skipped.len(),
        units_path.display(),
        imported.skipped.len(),
        imported.occupied,
        ranking.filtered_out.len(),
        ranking.rows.len(),
        if a.out == "-" { "standard output" } else { &a.out },
    );
    Ok(())
}

fn cmd_export(a: ExportArgs) -> Result<()> {
    let out = a.out.display().to_string();
    let format = match &a.format {
        Some(f) => ExportFormat::parse(f)
            .with_context(|| format!("--format `{f}`: use csv, xlsx, geojson or gpkg"))?,
        None => ExportFormat::from_path(&out).with_context(|| {
            format!("--out {out}: give --format csv|xlsx|geojson|gpkg or a file ending .csv, .xlsx, .geojson or .gpkg")
        })?,
    };
    let store = open_store(a.state)?;
    let sl = store.shortlist(&a.shortlist)?;
    let dir = data_dir(a.data);
    let atlas = load_atlas(&dir)?;
    let units_path = match &a.units {
        Some(u) => u.clone(),
        None => {
            let p = PathBuf::from(&sl.units_file);
            if !p.is_file() {
                bail!(
                    "shortlist `{}` was made from units file {}, which is not there; pass --units FILE",
                    sl.name,
                    sl.units_file
                );
            }
            p
        }
    };
    let overlay = match sitefinder::export::query_overlay(&sl.query) {
        Some(k) => match store.overlay(&k) {
            Ok(o) => Some(o),
            Err(_) => {
                eprintln!("sitefinder: the shortlist was made with plan overlay `{k}`, which is gone; exporting without it");
                None
            }
        },
        None => None,
    };
    let catchments = catchment_source(&atlas, None, None)?;
    let imported = import_units(&atlas, &units_path, true)?;
    let join = JoinParams::default();
    let contexts = attach(&atlas, &imported.units, catchments.as_ref(), &join);
    let settings = Settings {
        scales: Scales::default(),
        join,
        as_of: parse_as_of(a.as_of.as_deref())?,
        catchment_kind: catchments.kind(),
        plan: overlay.as_ref(),
    };
    let ranking =
        sitefinder::export::shortlist_ranking(&atlas, &imported.units, &contexts, &sl, &settings)?;
    let mut meta = shortlist_meta(&sl, &settings, catchments.as_ref(), &atlas);
    if let Some(o) = &overlay {
        meta.members.insert("plan_overlay".into(), json!(o.name));
    }
    sitefinder::export::write(
        &a.out,
        format,
        &atlas,
        &imported.units,
        &contexts,
        &ranking,
        &meta,
    )?;
    eprintln!(
        "sitefinder: wrote shortlist `{}` ({} sites) to {out}",
        sl.name,
        ranking.rows.len()
    );
    Ok(())
}

/// How a shortlist export says where it came from.
fn shortlist_meta(
    sl: &sitefinder::store::Shortlist,
    settings: &Settings<'_>,
    catchments: &dyn CatchmentSource,
    atlas: &Atlas,
) -> Meta {
    sitefinder::export::shortlist_meta(sl, settings.as_of, &catchments.describe(), atlas)
}

fn cmd_shortlist(cmd: ShortlistCmd, state: Option<PathBuf>) -> Result<()> {
    let store = open_store(state)?;
    let show = |sl: &sitefinder::store::Shortlist| {
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
            println!(
                "  {}{}",
                s.unit_id,
                if s.note.is_empty() {
                    String::new()
                } else {
                    format!("  — {}", s.note)
                }
            );
        }
    };
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
            let dir = data_dir(a.data.clone());
            let atlas = load_atlas(&dir)?;
            let units_path = a
                .units
                .clone()
                .unwrap_or_else(|| dir.join("units").join("rochdale_vacant_shops.csv"));
            let units_path = std::fs::canonicalize(&units_path).unwrap_or(units_path);
            let imported = import_units(&atlas, &units_path, true)?;
            let weights = parse_weights(a.weights.as_deref())?;
            let mut query = vec![];
            let ids: Vec<String> = match (&a.ids, a.top) {
                (Some(ids), _) => {
                    let ids: Vec<String> = ids
                        .split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect();
                    let missing: Vec<&str> = ids
                        .iter()
                        .filter(|id| !imported.units.iter().any(|u| &u.id == *id))
                        .map(String::as_str)
                        .collect();
                    if !missing.is_empty() {
                        bail!(
                            "no unit {} in {}; nothing was added",
                            missing.join(", "),
                            units_path.display()
                        );
                    }
                    ids
                }
                (None, Some(n)) => {
                    let overlay = match &a.overlay {
                        Some(k) => Some(store.overlay(k)?),
                        None => None,
                    };
                    let filters = Filters {
                        pcn: a.pcn.clone(),
                        lad: a.lad.clone(),
                        imd_deciles: a
                            .imd_deciles
                            .as_deref()
                            .map(Filters::parse_deciles)
                            .transpose()?,
                        plan_within_m: a.plan_within_m,
                        ..Filters::default()
                    };
                    for (k, v) in [
                        ("pcn", &a.pcn),
                        ("lad", &a.lad),
                        ("imd_deciles", &a.imd_deciles),
                        ("overlay", &a.overlay),
                    ] {
                        if let Some(v) = v {
                            query.push(format!("{k}={v}"));
                        }
                    }
                    query.push(format!("top={n}"));
                    let catchments = catchment_source(&atlas, None, None)?;
                    let join = JoinParams::default();
                    let contexts = attach(&atlas, &imported.units, catchments.as_ref(), &join);
                    let settings = Settings {
                        scales: Scales::default(),
                        join,
                        as_of: Date::today(),
                        catchment_kind: catchments.kind(),
                        plan: overlay.as_ref(),
                    };
                    let ranking = rank(
                        &atlas,
                        &imported.units,
                        &contexts,
                        &weights,
                        &filters,
                        &settings,
                    )?;
                    ranking
                        .rows
                        .iter()
                        .take(n)
                        .map(|r| imported.units[r.unit].id.clone())
                        .collect()
                }
                (None, None) => bail!("give --ids ID,ID,... or --top N"),
            };
            let sl = match store.shortlist(&a.name) {
                Ok(_) => store.add_sites(&a.name, &ids, &a.note)?,
                Err(sitefinder::store::StoreError::NoShortlist { .. }) => store.create_shortlist(
                    &a.name,
                    &units_path.display().to_string(),
                    &weights.to_list(),
                    &query.join("&"),
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

fn cmd_overlay(cmd: OverlayCmd, state: Option<PathBuf>) -> Result<()> {
    let store = open_store(state)?;
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
                    if o.features.len() == 1 { "" } else { "s" },
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
            let parsed = sitefinder::overlay::parse(
                &bytes,
                &UploadOptions {
                    format,
                    repair,
                    ..UploadOptions::default()
                },
            )
            .with_context(|| format!("{}", file.display()))?;
            let source = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let o = store.add_overlay(&name, &source, &parsed)?;
            println!(
                "added overlay {} `{}`: {} feature{} read as {}{}",
                o.id,
                o.name,
                o.features.len(),
                if o.features.len() == 1 { "" } else { "s" },
                o.crs,
                if o.repaired.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; repaired with make-valid: feature {}",
                        o.repaired
                            .iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
        }
    }
    Ok(())
}
