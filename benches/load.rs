//! A bounded load test of the real server on loopback: 100,000 mixed requests (reads of every
//! kind, searches, filters, downloads, and shortlist writes) over 16 keep-alive connections
//! from this process, counting anything but the expected answer as an error, with the server's
//! resident memory before and after.
//!
//! ```sh
//! cargo bench --bench load                         # 100,000 requests, 16 connections
//! LOAD_REQUESTS=20000 LOAD_CONNECTIONS=8 cargo bench --bench load
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const TOKEN: &str = "load-test-token-0123";

/// One kind of request: a name, the request line's method and path, a body, and the statuses
/// that count as right.
struct Kind {
    name: &'static str,
    method: &'static str,
    path: String,
    body: String,
    ok: &'static [u16],
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Reads one answer from a keep-alive connection: its status and body length.
fn read_answer(r: &mut BufReader<TcpStream>) -> std::io::Result<(u16, usize)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let lower = l.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut total = 0;
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk)?;
            total += n;
            if n == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        let mut body = vec![0u8; n];
        r.read_exact(&mut body)?;
        total = n;
    }
    Ok((status, total))
}

fn main() {
    let requests = env_usize("LOAD_REQUESTS", 100_000);
    let connections = env_usize("LOAD_CONNECTIONS", 16);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sitefinder"))
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
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the server did not start"
        );
        if let Some(rest) = line.split(" at http://").nth(1) {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    let call = |method: &str, path: &str, body: &str| -> (u16, String) {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text.get(9..12).and_then(|x| x.parse().ok()).unwrap_or(0);
        (
            status,
            text.split_once("\r\n\r\n")
                .map(|x| x.1.to_string())
                .unwrap_or_default(),
        )
    };
    // A shortlist to write to, and unit ids to read.
    let (_, top) = call("GET", "/rank?limit=20", "");
    let top: serde_json::Value = serde_json::from_str(&top).unwrap();
    let ids: Vec<String> = top["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    let (status, _) = call(
        "POST",
        "/shortlists",
        &format!(r#"{{"name": "Load", "ids": ["{}"]}}"#, ids[0]),
    );
    assert_eq!(status, 201);
    let kinds: Vec<Kind> = vec![
        Kind {
            name: "health",
            method: "GET",
            path: "/health".into(),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "rank page",
            method: "GET",
            path: "/rank?limit=20".into(),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "rank filtered",
            method: "GET",
            path: "/rank?imd_deciles=1-3&filter=score%20%3E%3D%200.4&limit=50".into(),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "units bbox",
            method: "GET",
            path: "/collections/units/items?bbox=-2.20,53.60,-2.12,53.64".into(),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "one unit",
            method: "GET",
            path: format!("/collections/units/items/{}", ids[3]),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "lsoa bbox",
            method: "GET",
            path: "/collections/lsoa/items?bbox=-2.17,53.61,-2.15,53.62&limit=20".into(),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "practices",
            method: "GET",
            path: "/collections/practices/items?limit=50&bbox=-2.3,53.5,-2.0,53.7".into(),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "search",
            method: "GET",
            path: "/search?q=OL16".into(),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "queryables",
            method: "GET",
            path: "/collections/units/queryables".into(),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "bad parameter",
            method: "GET",
            path: "/rank?weights=beauty%3D3".into(),
            body: String::new(),
            ok: &[400],
        },
        Kind {
            name: "shortlists",
            method: "GET",
            path: "/shortlists/Load".into(),
            body: String::new(),
            ok: &[200],
        },
        Kind {
            name: "note (write)",
            method: "PUT",
            path: format!("/shortlists/Load/sites/{}", ids[0]),
            body: r#"{"note": "checked by the load test"}"#.into(),
            ok: &[200],
        },
    ];
    // Warm up (the postcode table loads on first use), then measure.
    for k in &kinds {
        let (status, body) = call(k.method, &k.path, &k.body);
        assert!(k.ok.contains(&status), "{}: {status} {body:.300}", k.name);
    }
    let rss_before = rss_kb(pid, "VmRSS:");
    let per = requests.div_ceil(connections);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|c| {
            let addr = addr.clone();
            let kinds: Vec<(String, String, String, Vec<u16>)> = kinds
                .iter()
                .map(|k| (k.method.to_string(), k.path.clone(), k.body.clone(), k.ok.to_vec()))
                .collect();
            std::thread::spawn(move || {
                let mut latencies: Vec<Vec<Duration>> = vec![vec![]; kinds.len()];
                let mut errors = 0usize;
                let mut bytes = 0usize;
                let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
                for i in 0..per {
                    let k = (c * 7 + i) % kinds.len();
                    let (method, path, body, ok) = &kinds[k];
                    if conn.is_none() {
                        let s = TcpStream::connect(&addr).unwrap();
                        s.set_nodelay(true).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                        let r = BufReader::new(s.try_clone().unwrap());
                        conn = Some((s, r));
                    }
                    let (s, r) = conn.as_mut().unwrap();
                    let t = Instant::now();
                    // One write a request (several small ones would wait on Nagle's algorithm).
                    let req = format!(
                        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let sent = s.write_all(req.as_bytes());
                    match sent.and_then(|_| read_answer(r)) {
                        Ok((status, n)) if ok.contains(&status) => {
                            latencies[k].push(t.elapsed());
                            bytes += n;
                        }
                        Ok((status, _)) => {
                            eprintln!("{method} {path}: {status}");
                            errors += 1;
                        }
                        Err(e) => {
                            eprintln!("{method} {path}: {e}");
                            errors += 1;
                            conn = None;
                        }
                    }
                }
                (latencies, errors, bytes)
            })
        })
        .collect();
    let mut latencies: Vec<Vec<Duration>> = vec![vec![]; kinds.len()];
    let mut errors = 0;
    let mut bytes = 0;
    for w in workers {
        let (l, e, b) = w.join().unwrap();
        for (all, mine) in latencies.iter_mut().zip(l) {
            all.extend(mine);
        }
        errors += e;
        bytes += b;
    }
    let elapsed = started.elapsed();
    let rss_after = rss_kb(pid, "VmRSS:");
    let peak = rss_kb(pid, "VmHWM:");
    let done: usize = latencies.iter().map(Vec::len).sum();
    println!(
        "load: {} requests ({done} answered as expected, {errors} errors) over {connections} connections in {:.1} s: {:.0} requests/s, {:.1} MB of answers",
        done + errors,
        elapsed.as_secs_f64(),
        (done + errors) as f64 / elapsed.as_secs_f64(),
        bytes as f64 / 1e6
    );
    println!(
        "server memory: {:.1} MB resident before, {:.1} MB after, {:.1} MB at its peak",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "{:<16} {:>8} {:>9} {:>9}",
        "kind", "count", "p50 ms", "p99 ms"
    );
    for (k, l) in kinds.iter().zip(latencies.iter_mut()) {
        l.sort();
        let q = |f: f64| {
            l.get(((l.len() as f64 - 1.0) * f) as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        println!(
            "{:<16} {:>8} {:>9.2} {:>9.2}",
            k.name,
            l.len(),
            q(0.5),
            q(0.99)
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(errors, 0, "{errors} errors");
}
