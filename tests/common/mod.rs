//! Shared helpers for the integration tests: the real atlas from `data/`, loaded once per test
//! binary, and small CSV writers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sitefinder::analysis::criteria::Settings;
use sitefinder::analysis::join::{attach, Context, JoinParams};
use sitefinder::base::date::Date;
use sitefinder::ingest::catchment::Huff;
use sitefinder::ingest::units::{read_units, ImportOptions, Imported};
use sitefinder::reference::atlas::Atlas;

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn atlas() -> &'static Atlas {
    static ATLAS: OnceLock<Atlas> = OnceLock::new();
    ATLAS.get_or_init(|| Atlas::load(&data_dir()).expect("data/ loads"))
}

pub fn settings() -> Settings {
    Settings::new(
        JoinParams::default(),
        Date::from_ymd(2024, 7, 1).unwrap(),
        "huff",
    )
}

/// Writes `text` to a file in a fresh temporary directory (kept alive by the returned guard).
pub fn write_temp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

pub fn import(path: &Path) -> Imported {
    read_units(path, atlas(), &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn import_err(path: &Path) -> String {
    match read_units(path, atlas(), &ImportOptions::default()) {
        Ok(i) => panic!(
            "{}: expected an error, imported {} units",
            path.display(),
            i.units.len()
        ),
        Err(e) => e.to_string(),
    }
}

pub fn join(imported: &Imported) -> Vec<Context> {
    attach(
        atlas(),
        &imported.units,
        &Huff::default(),
        &JoinParams::default(),
    )
}

/// The server's state over Rochdale's vacant shops, as `sitefinder serve` builds it.
pub fn app_state() -> sitefinder::serve::AppState {
    sitefinder::serve::AppState::new(engine())
}

/// The engine over Rochdale's vacant shops, as `sitefinder rank` and `serve` open it.
pub fn engine() -> sitefinder::engine::Engine {
    let mut cfg = sitefinder::engine::Config::new(&data_dir());
    cfg.as_of = Some(Date::from_ymd(2024, 7, 1).unwrap());
    sitefinder::engine::Engine::open(&cfg).unwrap_or_else(|e| panic!("{e}"))
}

/// The engine over these units files of `data/units/`, as `sitefinder optimise --units` opens it.
pub fn engine_with_units(files: &[&str]) -> sitefinder::engine::Engine {
    let mut cfg = sitefinder::engine::Config::new(&data_dir());
    cfg.as_of = Some(Date::from_ymd(2024, 7, 1).unwrap());
    cfg.units = files
        .iter()
        .map(|f| data_dir().join("units").join(f))
        .collect();
    sitefinder::engine::Engine::open(&cfg).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the built `sitefinder` with `args` and `--data` pointing at the repository's data.
pub fn sitefinder(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(args)
        .arg("--data")
        .arg(data_dir())
        .output()
        .expect("runs")
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Sends one request to the app over `state`, in-process: the status, the headers and the
/// body's bytes.
pub fn send_raw(
    state: std::sync::Arc<sitefinder::serve::AppState>,
    req: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, axum::http::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = sitefinder::serve::app(state).oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes.to_vec())
    })
}

/// Sends one request to the app over `state`, in-process: the status, the content type and
/// the body as JSON (`Null` if it is not JSON).
pub fn send(
    state: std::sync::Arc<sitefinder::serve::AppState>,
    req: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, String, serde_json::Value) {
    let (status, headers, bytes) = send_raw(state, req);
    let ctype = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, ctype, v)
}

/// The first row of a worksheet (an export's column headers), as text.
pub fn header_row(sheet: &calamine::Range<calamine::Data>) -> Vec<String> {
    sheet
        .rows()
        .next()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default()
}

/// Checks a `coverage` member names where each shipped layer is complete.
pub fn assert_shipped_coverage(c: &serde_json::Value) {
    assert_eq!(c["pharmacies"], "Greater Manchester", "{c}");
    assert_eq!(
        c["stops"], "Greater Manchester and the West Midlands",
        "{c}"
    );
    assert_eq!(c["practices"], "all England", "{c}");
    assert_eq!(c["vaccination-sites"], "all England", "{c}");
}

/// The `id` property of every feature of a GeoJSON FeatureCollection, in order.
pub fn feature_ids(v: &serde_json::Value) -> Vec<String> {
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["id"].as_str().unwrap().to_string())
        .collect()
}

/// A `sitefinder serve` on a free loopback port, killed when dropped, with its stdout lines.
pub struct Serving {
    pub child: std::process::Child,
    pub addr: String,
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    pub fn start(state: &Path, extra: &[&str]) -> Serving {
        Serving::start_under(&[], state, extra)
    }

    /// Started through `wrapper` (e.g. `["prlimit", "--nofile=256", "--"]`).
    pub fn start_under(wrapper: &[&str], state: &Path, extra: &[&str]) -> Serving {
        use std::io::BufRead;
        let bin = env!("CARGO_BIN_EXE_sitefinder");
        let mut cmd = match wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = std::process::Command::new(w);
                c.args(rest).arg(bin);
                c
            }
            None => std::process::Command::new(bin),
        };
        let child = cmd
            .args(["serve", "--addr", "127.0.0.1:0", "--state"])
            .arg(state)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let mut s = Serving {
            child,
            addr: String::new(),
            lines,
        };
        let out = s.child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = s.wait_for("serving");
        s.addr = line
            .split(" at http://")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        s
    }

    /// The next stdout line containing `what` (at most 5 minutes away).
    pub fn wait_for(&self, what: &str) -> String {
        loop {
            let l = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(300))
                .unwrap_or_else(|_| panic!("no line with `{what}`"));
            if l.contains(what) {
                return l;
            }
        }
    }

    /// The write token the server printed at start-up (one it made).
    pub fn token(&self) -> String {
        self.wait_for("write token")
            .rsplit(": ")
            .next()
            .unwrap()
            .trim()
            .to_string()
    }

    /// Sends `request` as it is on a new connection and reads the answer to its end (the
    /// server closes it: send `Connection: close`), waiting at most `secs`.
    pub fn raw(&self, request: &[u8], secs: u64) -> String {
        http_raw(&self.addr, request, secs)
    }

    /// [`Serving::raw`], the answer as bytes.
    pub fn raw_bytes(&self, request: &[u8], secs: u64) -> Vec<u8> {
        http_raw_bytes(&self.addr, request, secs)
    }

    /// One request with a body: the status and the answer's body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, String) {
        http_call(&self.addr, method, path, token, body)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.call("GET", path, None, b"")
    }
}

/// Sends `request` as it is to `addr` on a new connection and reads the answer to its end,
/// waiting at most `secs`.
pub fn http_raw(addr: &str, request: &[u8], secs: u64) -> String {
    String::from_utf8_lossy(&http_raw_bytes(addr, request, secs)).to_string()
}

/// [`http_raw`], the answer as bytes (for compressed bodies).
pub fn http_raw_bytes(addr: &str, request: &[u8], secs: u64) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(secs)))
        .unwrap();
    // Written from another thread while this one reads: a server that refuses a request
    // before reading all of it (a body over the limit, headers too large) answers and closes,
    // and the rest of the write then fails, which is no error of the test's.
    let mut w = s.try_clone().unwrap();
    let request = request.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&request);
    });
    let mut out = vec![];
    match s.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if !out.is_empty() => eprintln!("read after {} bytes: {e}", out.len()),
        Err(e) => panic!("no answer within {secs} s: {e}"),
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    out
}

/// One request with a body to `addr` (`Connection: close`): the status and the answer's body.
pub fn http_call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    let text = http_raw(addr, &req, 120);
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {text:.200}"));
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_string())
}

/// A parsed overlay as the state database would hold it (id 1, named `name`).
pub fn overlay(
    p: sitefinder::ingest::overlay::Parsed,
    name: &str,
) -> sitefinder::ingest::overlay::Overlay {
    sitefinder::ingest::overlay::Overlay {
        id: 1,
        name: name.into(),
        created: String::new(),
        source: String::new(),
        format: p.format.name().into(),
        crs: p.crs,
        repaired: p.repaired,
        features: p.features,
    }
}

/// A CSV's header and rows, its byte-order mark dropped.
pub fn csv_table(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rd = csv::Reader::from_reader(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes));
    let header = rd.headers().unwrap().iter().map(String::from).collect();
    let rows = rd
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}
