use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "sitefinder", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Rebuild the data directory from the raw open data files.
    PrepareData {
        #[arg(long)]
        raw: PathBuf,
        #[arg(long, default_value = "data")]
        out: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::PrepareData { raw, out } => sitefinder::prepare::prepare(&raw, &out),
    };
    if let Err(e) = res {
        eprintln!("sitefinder: {e:#}");
        std::process::exit(2);
    }
}
