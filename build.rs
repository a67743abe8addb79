//! The binary embeds `data/` and `web/app/` (`include_dir!`). Edits to embedded files rebuild on
//! their own; these lines make adding or removing a file there rebuild too.
//!
//! It also names the source a build was made from (`SITEFINDER_SOURCE_HASH`: a hash of every
//! file under `src/`, `build.rs`, `Cargo.toml` and `Cargo.lock`), so files a build derives and
//! keeps between runs (the joined units in the per-user cache) are not read by a build of
//! other code or other dependencies. (Another compiler on the same source keeps the hash.)

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=data");
    println!("cargo:rerun-if-changed=web/app");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let mut files = vec![
        PathBuf::from("build.rs"),
        PathBuf::from("Cargo.toml"),
        PathBuf::from("Cargo.lock"),
    ];
    collect(Path::new("src"), &mut files);
    files.sort();
    // 64-bit FNV-1a over each file's path and bytes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for f in &files {
        eat(f.to_string_lossy().as_bytes());
        eat(&[0]);
        eat(&std::fs::read(f).unwrap_or_default());
        eat(&[0]);
    }
    println!("cargo:rustc-env=SITEFINDER_SOURCE_HASH={h:016x}");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}
