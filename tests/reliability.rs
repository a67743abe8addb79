//! Reliability of the real server and CLI under faults (issue 14): slow and greedy clients, a
//! state database another program holds, changes made by another process, kills mid-write.
//! Each test drives the `sitefinder` binary over loopback or as a process, as users would.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn token_file(dir: &std::path::Path) -> std::path::PathBuf {
    let f = dir.join("token");
    std::fs::write(&f, "a-token-of-some-length").unwrap();
    f
}

/// Runs the built `sitefinder` with `args` as they are.
fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(args)
        .output()
        .unwrap()
}

const TOKEN: &str = "a-token-of-some-length";

/// An answer as text, its body de-chunked and gunzipped if its head says so (those headers
/// then dropped from the head).
fn ungzip(answer: &[u8]) -> String {
    use std::io::Read;
    let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return String::from_utf8_lossy(answer).to_string();
    };
    let head = String::from_utf8_lossy(&answer[..at]).to_string();
    let mut body = answer[at + 4..].to_vec();
    let lower = head.to_ascii_lowercase();
    if lower.contains("transfer-encoding: chunked") {
        let mut out = vec![];
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                .unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
            rest = &rest[eol + 2 + n + 2..];
        }
        body = out;
    }
    if lower.contains("content-encoding: gzip") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .expect("a gzip body");
        let head: Vec<&str> = head
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("content-encoding"))
            .collect();
        return format!("{}\r\n\r\n{text}", head.join("\r\n"));
    }
    format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&body))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:.300}"))
}

/// With a limit of 256 open files, 300 clients that send half a request and wait once locked
/// everyone out. Now the server holds at most (limit - 64) connections and drops a client
/// that has not sent its headers within --header-timeout-s, so a real request still gets its
/// answer.
#[cfg(target_os = "linux")]
#[test]
fn half_sent_requests_do_not_lock_everyone_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serving::start_under(
        &["prlimit", "--nofile=256", "--"],
        &dir.path().join("state"),
        &["--header-timeout-s", "2"],
    );
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    let answer = server.raw(
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        120,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
    // The first of the slow clients was cut off, not answered.
    let s = &mut slow[0];
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!(
            "a half-sent request got an answer: {}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

/// A client sending a byte at a time is cut off once --header-timeout-s has passed, however
/// steadily it sends; and an idle keep-alive connection is closed after the same time.
#[test]
fn trickling_headers_and_idle_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serving::start(&dir.path().join("state"), &["--header-timeout-s", "1"]);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    // 60 more bytes, one every 250 ms (15 s in all), unless the server hangs up first.
    let cut = (0..60).any(|_| {
        std::thread::sleep(Duration::from_millis(250));
        s.write_all(b"X").is_err()
    });
    assert!(
        cut,
        "a client trickling its headers for 15 s was never cut off"
    );

    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut got = vec![0u8; 1 << 16];
    let n = s.read(&mut got).unwrap();
    assert!(got[..n].starts_with(b"HTTP/1.1 200"));
    // Kept alive, then closed when idle (a read of 0 bytes), well before the read timeout.
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("the server should close an idle connection");
}

/// An upload, or a shortlist's JSON body, that trickles in is answered 408 (JSON) once
/// --body-timeout-s has passed since it began to be read.
#[test]
fn an_upload_that_trickles_gets_a_408() {
    let dir = tempfile::tempdir().unwrap();
    let tf = token_file(dir.path());
    let server = Serving::start(
        &dir.path().join("state"),
        &["--token-file", p(&tf), "--body-timeout-s", "2"],
    );
    for path in ["/overlays?name=Slow", "/shortlists"] {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n{{\"type\":"
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut out = vec![];
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 408"), "{path}: {text:.300}");
        let v = json(text.split_once("\r\n\r\n").unwrap().1);
        assert_eq!(v["code"], "timeout", "{path}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("did not arrive within 2 s"),
            "{path}: {v}"
        );
    }
    // Nothing was stored.
    let (status, body) = server.get("/overlays");
    assert_eq!(status, 200);
    assert_eq!(json(&body)["overlays"], serde_json::json!([]));
    let (_, body) = server.get("/shortlists");
    assert_eq!(json(&body)["shortlists"], serde_json::json!([]));
}

/// A client that asks for a big answer and never reads it gives up its connection after
/// --write-timeout-s: with room for one connection, the next client is still served.
#[test]
fn an_unread_answer_does_not_hold_the_only_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serving::start(
        &dir.path().join("state"),
        &["--max-connections", "1", "--write-timeout-s", "2"],
    );
    // About 24 MB of LSOA polygons, far more than the sockets' buffers hold.
    let mut greedy = TcpStream::connect(&server.addr).unwrap();
    greedy
        .write_all(b"GET /collections/lsoa/items?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let answer = server.raw(
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        120,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
    drop(greedy);
}

/// hyper's own refusals (headers too large, a request it cannot parse) and axum's (a body
/// over the limit) carry the API's JSON error like every other.
#[test]
fn every_refusal_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let tf = token_file(dir.path());
    let server = Serving::start(&dir.path().join("state"), &["--token-file", p(&tf)]);
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (big.into_bytes(), "431", "headers_too_large"),
        (
            b"GET /health HTTP/1.1\r\nHost x\r\n\r\n".to_vec(),
            "400",
            "bad_request",
        ),
        (
            {
                let body = format!(
                    "{{\"name\":\"Big\",\"ids\":[],\"note\":\"{}\"}}",
                    "n".repeat(3_000_000)
                );
                let mut r = format!(
                    "POST /shortlists HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(body.as_bytes());
                r
            },
            "413",
            "too_large",
        ),
        // The same for a client that takes compressed answers: JSON (compressed or not),
        // never axum's text compressed and then wrapped.
        (
            {
                let body = format!(
                    "{{\"name\":\"Big\",\"ids\":[],\"note\":\"{}\"}}",
                    "n".repeat(3_000_000)
                );
                let mut r = format!(
                    "POST /shortlists HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept-Encoding: gzip\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(body.as_bytes());
                r
            },
            "413",
            "too_large",
        ),
    ];
    for (req, status, code) in cases {
        let text = ungzip(&server.raw_bytes(&req, 60));
        assert!(
            text.starts_with(&format!("HTTP/1.1 {status}")),
            "{status}: {text:.300}"
        );
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let v = json(body);
        assert_eq!(v["code"], code, "{v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let (status, body) = server.get("/shortlists");
    assert_eq!(
        (status, json(&body)["shortlists"].clone()),
        (200, serde_json::json!([]))
    );
}

/// While another program holds the state database's write lock: reads answer at once from
/// the last committed state, writes get a 503 `busy` after the busy timeout (never a 500),
/// and the server's other requests (`/health`) are not held up meanwhile. Once the lock is
/// released, writes work again.
#[test]
fn a_locked_state_database_gives_503_and_holds_nothing_else_up() {
    let dir = tempfile::tempdir().unwrap();
    let tf = token_file(dir.path());
    let state = dir.path().join("state");
    let server = Serving::start(&state, &["--token-file", p(&tf)]);
    let (status, _) = server.call(
        "POST",
        "/shortlists",
        Some(TOKEN),
        br#"{"name": "Before", "ids": []}"#,
    );
    assert_eq!(status, 201);

    let other = rusqlite::Connection::open(state.join("sitefinder.sqlite")).unwrap();
    other
        .execute_batch(
            "BEGIN IMMEDIATE; INSERT INTO shortlists (name, created, updated, units_file, weights, query) VALUES ('Uncommitted', '', '', '', '', '');",
        )
        .unwrap();

    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let addr = server.addr.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let r = http_call(
                    &addr,
                    "POST",
                    "/shortlists",
                    Some(TOKEN),
                    format!(r#"{{"name": "Blocked {i}", "ids": []}}"#).as_bytes(),
                );
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                r
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (status, _) = server.get("/health");
    assert_eq!(status, 200);
    let (status, body) = server.get("/shortlists");
    assert_eq!(status, 200);
    let names: Vec<String> = json(&body)["shortlists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Before"]);
    assert_eq!(
        done.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "reads waited for the blocked writes"
    );
    for w in writers {
        let (status, body) = w.join().unwrap();
        assert_eq!(status, 503, "{body}");
        let v = json(&body);
        assert_eq!(v["code"], "busy");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("state database is busy"),
            "{v}"
        );
    }
    other.execute_batch("ROLLBACK").unwrap();
    let (status, body) = server.call(
        "POST",
        "/shortlists",
        Some(TOKEN),
        br#"{"name": "After", "ids": []}"#,
    );
    assert_eq!(status, 201, "{body}");
}

/// An overlay the CLI adds to the state database a server is using is served at once, and
/// one the CLI deletes is gone from the server too.
#[test]
fn the_server_sees_what_the_cli_writes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let server = Serving::start(&state, &[]);
    let plan = fixture("overlays/rochdale_town_centre_SYNTHETIC.geojson");
    let o = cli(&[
        "overlay",
        "add",
        "--state",
        p(&state),
        "--name",
        "Town Centre Plan",
        p(&plan),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (status, body) = server.get("/overlays");
    assert_eq!(status, 200);
    assert_eq!(json(&body)["overlays"][0]["name"], "Town Centre Plan");
    let (status, body) = server.get("/rank?overlay=Town%20Centre%20Plan&limit=1");
    assert_eq!(status, 200, "{body:.300}");

    let o = cli(&[
        "overlay",
        "delete",
        "--state",
        p(&state),
        "Town Centre Plan",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (status, body) = server.get("/overlays");
    assert_eq!(
        (status, json(&body)["overlays"].clone()),
        (200, serde_json::json!([]))
    );
    let (status, body) = server.get("/rank?overlay=Town%20Centre%20Plan&limit=1");
    assert_eq!(status, 400, "{body:.300}");
    assert!(body.contains("no overlay `Town Centre Plan`"), "{body}");
}

/// `rank --out` killed (SIGKILL) at many moments: the output is always the old file or the
/// whole new one, never part of one; and a part-file a kill leaves behind is private and named
/// for its target.
#[cfg(unix)]
#[test]
fn a_kill_mid_write_never_leaves_half_an_output() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shortlist.csv");
    std::fs::write(&out, "old\n").unwrap();
    let units = data_dir().join("units");
    let args = |out: &std::path::Path| {
        vec![
            "rank".to_string(),
            "--units".into(),
            p(&units).to_string(),
            "--out".into(),
            p(out).to_string(),
        ]
    };
    // A whole run, for the rows a whole file has and how long a run takes here.
    let whole = dir.path().join("whole.csv");
    let started = std::time::Instant::now();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(args(&whole))
        .env("SITEFINDER_DATA", data_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = started.elapsed();
    let whole = std::fs::read(&whole).unwrap();
    let (mut old, mut new) = (0, 0);
    for k in 0..12u32 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sitefinder"))
            .args(args(&out))
            .env("SITEFINDER_DATA", data_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread over a run, from a tenth of the way in to past its end (the last ones while
        // it writes the file and renames it into place).
        std::thread::sleep(run * (k + 1) / 10);
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read(&out).unwrap();
        if now == b"old\n" {
            old += 1;
        } else {
            assert_eq!(now.len(), whole.len(), "kill {k}: a partial output");
            assert_eq!(now, whole, "kill {k}");
            new += 1;
            std::fs::write(&out, "old\n").unwrap();
        }
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".part") {
                assert!(name.starts_with(".shortlist.csv."), "{name}");
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{name}");
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
    eprintln!("{old} kills left the old file, {new} came after the new one was in place");
    assert!(old > 0, "no kill came before the write finished");
    assert!(new > 0, "no kill came after the new file was in place");
}

/// The state database killed mid-write (SIGKILL during `overlay add`): afterwards it passes
/// SQLite's integrity check, and the overlay is there whole or not at all.
#[cfg(unix)]
#[test]
fn a_kill_mid_store_leaves_the_database_whole() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let plan = data_dir().join("overlays/cdrc_retail_centres_2018_liverpool_city_region.geojson");
    for k in 0..8u64 {
        let name = format!("Plan {k}");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sitefinder"))
            .args([
                "overlay",
                "add",
                "--state",
                p(&state),
                "--name",
                &name,
                p(&plan),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(40 * k));
        let _ = child.kill();
        let _ = child.wait();
        if !state.join("sitefinder.sqlite").exists() {
            continue;
        }
        let db = rusqlite::Connection::open(state.join("sitefinder.sqlite")).unwrap();
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "kill {k}");
        // Killed before the schema was committed: none of it is there, never part of it.
        let tables: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        if tables.is_empty() {
            continue;
        }
        assert_eq!(
            tables,
            [
                "overlay_shapes",
                "overlays",
                "shortlist_sites",
                "shortlists"
            ],
            "kill {k}: part of the schema"
        );
        let shapes: Vec<(String, i64)> = db
            .prepare("SELECT o.name, COUNT(s.feature) FROM overlays o LEFT JOIN overlay_shapes s ON s.overlay_id = o.id GROUP BY o.id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (name, n) in shapes {
            assert_eq!(n, 20, "{name}: {n} of its 20 shapes");
        }
    }
    let o = cli(&["overlay", "list", "--state", p(&state)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
