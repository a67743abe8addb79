//! The `sitefinder` command line: parse the flags into the library's query types, call the
//! engine, render its answer; one line on stderr and exit code 2 on any error.

mod commands;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use sitefinder::analysis::optimise::OptimiseQuery;
use sitefinder::engine::{Config, Paging, PropertiesQuery, RankQuery};
use sitefinder::export::ExportFormat;

#[derive(Parser)]
#[command(
    name = "sitefinder",
    version,
    about = "Find and rank vacant high-street shops in England as community vaccination and health sites",
    long_about = "Find and rank vacant high-street shops in England as community vaccination and health sites.\n\nThe reference data (IoD2025 on LSOA 2021 by default, IMD 2019 with --imd 2019; GP practices and PCNs, stops, pharmacies, vaccination sites, postcodes) is built into sitefinder (or read from --data DIR); candidate units come from your CSV or GeoJSON file, or from the real vacant shops shipped with the data.",
    after_help = "Examples:\n  sitefinder rank                                   # Rochdale's vacant shops, CSV to stdout\n  sitefinder rank --units shops.csv --pcn \"Rochdale North\" --out shortlist.geojson\n  sitefinder rank --weights deprivation=5,access=0 --imd-deciles 1-3\n  sitefinder about                                  # sources, licences, attribution"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Rank candidate units and write the shortlist with a score breakdown per unit.
    Rank(Box<RankArgs>),
    /// Choose the k units that together reach the most (deprived) demand: MCLP, p-median, LSCP.
    Optimise(Box<OptimiseArgs>),
    /// Serve the ranking, every layer (OGC API - Features) and the web map over HTTP.
    Serve(Box<ServeArgs>),
    /// Export a named shortlist as CSV, XLSX, GeoJSON, GeoPackage or a PDF site report.
    Export(Box<ExportArgs>),
    /// Named shortlists of units, kept in the state database: list, show, add, note, remove, delete.
    Shortlist {
        #[command(subcommand)]
        cmd: ShortlistCmd,
        #[command(flatten)]
        state: State,
    },
    /// Council plan overlays (Future High Streets, regeneration areas): add, list, delete.
    Overlay {
        #[command(subcommand)]
        cmd: OverlayCmd,
        #[command(flatten)]
        state: State,
    },
    /// Print the data sources, vintages, licences and the attribution notice.
    About {
        /// Data directory (default: $SITEFINDER_DATA, else the data built into sitefinder).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Measure the default GP catchment approximation against real registrations by LSOA,
    /// and search for better parameters.
    CalibrateCatchments {
        /// NHS England "Patients registered at a GP practice - LSOA" CSV.
        #[arg(long, value_name = "FILE")]
        registrations: PathBuf,
        /// Data directory (default: $SITEFINDER_DATA, else the data built into sitefinder).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Write SYNTHETIC vacant units all over England (for measuring at national scale; every
    /// row is labelled SYNTHETIC): in LSOAs chosen at random, at random points inside them.
    SyntheticUnits {
        /// How many units.
        #[arg(long, default_value_t = 1_000_000)]
        n: usize,
        /// The seed: the same seed gives the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The CSV file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Data directory (default: $SITEFINDER_DATA, else the data built into sitefinder).
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

/// The state database's directory.
#[derive(clap::Args, Clone, Default)]
struct State {
    /// State directory holding shortlists and overlays (default: $SITEFINDER_STATE, else
    /// ~/.local/share/sitefinder).
    #[arg(long, value_name = "DIR", global = true)]
    state: Option<PathBuf>,
}

/// Where a ranking or a set of chosen sites goes.
#[derive(clap::Args)]
struct Output {
    /// Output format (default: from --out's extension, else csv).
    #[arg(long, value_enum)]
    format: Option<ExportFormat>,
    /// Output file, or - for standard output (csv and geojson only).
    #[arg(long, value_name = "FILE|-")]
    out: Option<String>,
}

/// What to rank: the engine, the ranking query, the rows kept.
#[derive(clap::Args)]
struct Ranked {
    #[command(flatten)]
    config: Config,
    #[command(flatten)]
    query: RankQuery,
    #[command(flatten)]
    paging: Paging,
}

#[derive(clap::Args)]
struct RankArgs {
    #[command(flatten)]
    input: Ranked,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    properties: PropertiesQuery,
    #[command(flatten)]
    state: State,
}

#[derive(clap::Args)]
struct OptimiseArgs {
    #[command(flatten)]
    config: Config,
    #[command(flatten)]
    query: OptimiseQuery,
    #[command(flatten)]
    output: Output,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    config: Config,
    #[command(flatten)]
    state: State,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Serve the web map from this directory instead of the files built into sitefinder.
    #[arg(long, value_name = "DIR")]
    web: Option<PathBuf>,
    /// A file holding the bearer token that writes (uploads, deletes, shortlist edits) need.
    /// Default: $SITEFINDER_TOKEN, else a random token printed at start-up.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Largest overlay upload accepted, in MB (1 to 1024).
    #[arg(long, value_name = "MB", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1024))]
    max_upload_mb: u16,
    /// Features, vertices, rings and validity work one overlay upload may hold.
    #[command(flatten)]
    upload_limits: sitefinder::ingest::overlay::UploadLimits,
    /// Connections, and how long a client may take over a request.
    #[command(flatten)]
    limits: sitefinder::serve::listen::Limits,
    /// An online base map for the web map, under the data: a tile URL template with {z}, {x}
    /// and {y} (e.g. https://tile.example.org/{z}/{x}/{y}.png). Needs --base-map-attribution.
    /// Off by default: the map then needs no internet and draws place names from the data.
    #[arg(long, value_name = "TEMPLATE")]
    base_map_url: Option<String>,
    /// The attribution the base map's provider asks for, shown on the map (with --base-map-url).
    #[arg(long, value_name = "TEXT")]
    base_map_attribution: Option<String>,
    /// A web origin (e.g. https://maps.example.org) whose pages may read this server's answers;
    /// repeat for more. Default: any origin may read (every read is open). Writes are never
    /// allowed from another origin.
    #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = cors_origin)]
    cors_origins: Vec<String>,
    /// The address people and GIS clients reach this server at, behind a proxy that does not
    /// send X-Forwarded-Host (e.g. https://maps.example.org/sitefinder): the API's links start
    /// with it. Default: the scheme and host each request came with.
    #[arg(long, value_name = "URL", value_parser = public_url)]
    public_url: Option<String>,
}

/// What follows `https://` or `http://`, if the text starts with either.
fn after_scheme(u: &str) -> Option<&str> {
    u.strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
}

/// http(s)://host[:port][/path], kept without a trailing slash.
fn public_url(s: &str) -> Result<String, String> {
    let u = s.trim_end_matches('/');
    match after_scheme(u) {
        Some(r)
            if !r.is_empty()
                && !r.starts_with('/')
                && !r.contains(['?', '#', ' ', '"', '<', '>']) =>
        {
            Ok(u.to_string())
        }
        _ => Err(format!(
            "`{s}` is not a public address: give http(s)://host[:port][/path], e.g. https://maps.example.org/sitefinder"
        )),
    }
}

/// An origin as browsers send it: scheme://host[:port], nothing after.
fn cors_origin(s: &str) -> Result<String, String> {
    let o = s.strip_suffix('/').unwrap_or(s);
    match after_scheme(o) {
        Some(h)
            if !h.is_empty()
                && !h.contains('/')
                && axum::http::HeaderValue::from_str(o).is_ok() =>
        {
            Ok(o.to_string())
        }
        _ => Err(format!(
            "`{s}` is not an origin: give scheme://host[:port], e.g. https://maps.example.org"
        )),
    }
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The shortlist's name.
    #[arg(long, value_name = "NAME")]
    shortlist: String,
    /// csv (UTF-8 with BOM, for Excel), xlsx, geojson, gpkg or pdf (the site report: a cover
    /// page, then one page per site with its map; default: from --out's extension).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Units file (default: the ones the shortlist was made from).
    #[arg(long, value_name = "FILE")]
    units: Vec<PathBuf>,
    /// Data directory (default: $SITEFINDER_DATA, else the data built into sitefinder).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Date vacancy age is measured at (YYYY-MM-DD; default: the shortlist's own date).
    #[arg(long, value_name = "DATE")]
    as_of: Option<sitefinder::base::date::Date>,
    #[command(flatten)]
    state: State,
}

#[derive(Subcommand)]
enum ShortlistCmd {
    /// Every shortlist with its number of sites and times.
    List,
    /// One shortlist's sites as a table: unit, name and address, score and rank (ranked as the
    /// shortlist was made, as its exports are), IMD decile, note.
    Show {
        name: String,
        /// Units file (default: the ones the shortlist was made from).
        #[arg(long, value_name = "FILE")]
        units: Vec<PathBuf>,
        /// Data directory (default: $SITEFINDER_DATA, else the data built into sitefinder).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Date vacancy age is measured at (YYYY-MM-DD; default: the shortlist's own date).
        #[arg(long, value_name = "DATE")]
        as_of: Option<sitefinder::base::date::Date>,
    },
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
    #[arg(long, value_name = "IDS", conflicts_with = "limit")]
    ids: Option<String>,
    /// A note for each added site.
    #[arg(long, default_value = "")]
    note: String,
    /// With --top N: the ranking whose top units are added (its weights are kept with the
    /// shortlist and used when it is exported).
    #[command(flatten)]
    input: Ranked,
}

#[derive(Subcommand)]
enum OverlayCmd {
    /// Check a plan layer and store it: GeoJSON, zipped Shapefile (with .prj) or GeoPackage.
    Add {
        file: PathBuf,
        /// The overlay's name, e.g. "Rochdale Future High Streets".
        #[arg(long)]
        name: String,
        /// Repair invalid polygons (a boolean union under the even-odd rule: a bow tie becomes
        /// two triangles) instead of refusing them.
        #[arg(long)]
        repair: bool,
        /// geojson, shapefile or gpkg (default: guessed from the file).
        #[arg(long)]
        format: Option<String>,
        #[command(flatten)]
        limits: sitefinder::ingest::overlay::UploadLimits,
    },
    /// Every overlay with its id, features and CRS.
    List,
    /// Delete an overlay (id or name).
    Delete { overlay: String },
}

// mimalloc: the joins and the writing of a national ranking allocate many small strings and
// vectors from both cores at once, where it is markedly quicker than the system's allocator.
// Without transparent huge pages: it gives memory back as it frees it and takes it again, and
// each 2 MB page taken again was zeroed whole by the kernel, a fifth of a national run's time
// (docs/performance.md). Its `no_thp` feature stops it asking for them; `main` turns them off
// for the process too, for systems that give them unasked.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let cli = Cli::parse();
    if !matches!(cli.cmd, Cmd::Serve(_)) {
        commands::init_logs("warn");
    }
    let res = match cli.cmd {
        Cmd::Rank(a) => commands::rank(*a),
        Cmd::Serve(a) => commands::serve(*a),
        Cmd::Optimise(a) => commands::optimise(*a),
        Cmd::About { data } => commands::about(data),
        Cmd::SyntheticUnits { n, seed, out, data } => {
            commands::synthetic_units(n, seed, &out, data)
        }
        Cmd::CalibrateCatchments {
            registrations,
            data,
        } => commands::calibrate(registrations, data),
        Cmd::Export(a) => commands::export(*a),
        Cmd::Shortlist { cmd, state } => commands::shortlist(cmd, state),
        Cmd::Overlay { cmd, state } => commands::overlay(cmd, state),
        Cmd::PrepareData { raw, out } => sitefinder::prepare::prepare(&raw, &out),
    };
    if let Err(e) = res {
        eprintln!("sitefinder: {e:#}");
        std::process::exit(2);
    }
}
