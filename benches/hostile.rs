//! What the hostile inputs of the catalogue cost: each uploaded to the real (release) server, or
//! read by the CLI, with the wall time and the peak memory it took.
//!
//! For an upload, the server's peak resident memory (VmHWM) is reset before it
//! (`/proc/PID/clear_refs`) and read after, less what the server held before; for a CLI run, the
//! process's own peak (getrusage of the child).
//!
//! ```sh
//! cargo bench --bench hostile
//! ```

#[path = "../tests/catalogue/make.rs"]
mod make;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Instant;

const TOKEN: &str = "hostile-bench-token";

fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `cmd` to its end: exit code, stderr's first line, peak RSS in KB, seconds. (The child
/// is reaped by `wait4`, which also gives its peak memory.)
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut std::process::Command) -> (i32, String, u64, f64) {
    let t = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, writing only the two values it is given.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(pid > 0, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (
        code,
        err.lines().next().unwrap_or("").to_string(),
        usage.ru_maxrss as u64,
        t.elapsed().as_secs_f64(),
    )
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("data");
    let plan = root.join("tests/fixtures/overlays/rochdale_town_centre_SYNTHETIC.geojson");
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let cx = make::Context {
        base_unit: "x",
        plan_geojson: &plan,
        scratch: &scratch,
    };
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let bin = env!("CARGO_BIN_EXE_sitefinder");
    let mut server = std::process::Command::new(bin)
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--state")
        .arg(dir.path().join("state"))
        .arg("--token-file")
        .arg(&token_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = server.id();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0);
        if let Some(rest) = line.split(" at http://").nth(1) {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    println!(
        "{:<22} {:>10} {:>8} {:>12}  answer",
        "hostile input", "bytes", "seconds", "peak MB"
    );
    // Uploads to the server (its default limits: 10 MB, 100,000 features, 2,000,000 vertices).
    for what in [
        "zip_bomb",
        "shp_bomb",
        "zip_many_entries",
        "geopackage_view",
        "tangled_star",
        "big_circle",
    ] {
        let m = make::make(what, &cx);
        let held = status_kb(pid, "VmRSS:");
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
        let t = Instant::now();
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let query = if what == "tangled_star" {
            "name=H&repair=true"
        } else {
            "name=H"
        };
        write!(
            s,
            "POST /overlays?{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            m.bytes.len()
        )
        .unwrap();
        s.write_all(&m.bytes).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let peak = status_kb(pid, "VmHWM:");
        let body = answer.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        println!(
            "{:<22} {:>10} {:>8.2} {:>12.1}  {} {:.100}",
            what,
            m.bytes.len(),
            secs,
            peak.saturating_sub(held) as f64 / 1024.0,
            answer.get(9..12).unwrap_or("?"),
            body
        );
        // A repaired upload is stored: delete it for the next.
        if answer.starts_with("HTTP/1.1 201") {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(s, "DELETE /overlays/H HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n").unwrap();
            let mut sink = String::new();
            s.read_to_string(&mut sink).unwrap();
        }
    }
    // Units files read by the CLI (its whole run: data, import, ranking).
    for what in ["units_gzip_bomb", "units_deep_json"] {
        let m = make::make(what, &cx);
        let path = scratch.join(&m.name);
        std::fs::write(&path, &m.bytes).unwrap();
        let (code, err, peak_kb, secs) = run_measured(
            std::process::Command::new(bin)
                .args(["rank", "--data"])
                .arg(&data)
                .arg("--units")
                .arg(&path),
        );
        println!(
            "{:<22} {:>10} {:>8.2} {:>12.1}  exit {code}: {:.100}",
            what,
            m.bytes.len(),
            secs,
            peak_kb as f64 / 1024.0,
            err
        );
    }
    // The same run on the shipped Rochdale list, for comparison.
    let (code, _, peak_kb, secs) = run_measured(
        std::process::Command::new(bin)
            .args(["rank", "--data"])
            .arg(&data),
    );
    println!(
        "{:<22} {:>10} {:>8.2} {:>12.1}  exit {code} (the default job, for comparison)",
        "rochdale (peer)",
        "-",
        secs,
        peak_kb as f64 / 1024.0
    );
    let _ = server.kill();
    let _ = server.wait();
}
