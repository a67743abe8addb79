//! The binary as a user installs it: copied alone into an empty folder far from the repository,
//! run from another empty folder with a fresh HOME and XDG_DATA_HOME and none of the
//! SITEFINDER_* variables. `rank` must find the built-in data (extracting it once into the
//! per-user folder) and `serve` must serve the built-in map and every file the page loads.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A user's fresh surroundings: the binary alone in a folder of its own, HOME, XDG_DATA_HOME
/// and an empty working folder (all removed when dropped).
struct User {
    _bin_dir: tempfile::TempDir,
    bin: PathBuf,
    _root: tempfile::TempDir,
    home: PathBuf,
    xdg: PathBuf,
    cwd: PathBuf,
}

impl User {
    fn new() -> User {
        let bin_dir = tempfile::Builder::new()
            .prefix("sitefinder-bin-")
            .tempdir()
            .unwrap();
        let bin = bin_dir.path().join("sitefinder");
        std::fs::copy(env!("CARGO_BIN_EXE_sitefinder"), &bin).unwrap();
        let root = tempfile::Builder::new()
            .prefix("sitefinder-user-")
            .tempdir()
            .unwrap();
        let (home, xdg, cwd) = (
            root.path().join("home"),
            root.path().join("xdg-data"),
            root.path().join("work"),
        );
        for d in [&home, &xdg, &cwd] {
            std::fs::create_dir(d).unwrap();
        }
        User {
            _bin_dir: bin_dir,
            bin,
            _root: root,
            home,
            xdg,
            cwd,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .current_dir(&self.cwd)
            .env("HOME", &self.home)
            .env("XDG_DATA_HOME", &self.xdg)
            .env_remove("SITEFINDER_DATA")
            .env_remove("SITEFINDER_STATE")
            .env_remove("SITEFINDER_TOKEN");
        c
    }

    /// The `data-*` folders (and any temporary `.data-*` ones) under the per-user folder.
    fn data_folders(&self) -> Vec<PathBuf> {
        let base = self.xdg.join("sitefinder");
        let mut out: Vec<PathBuf> = std::fs::read_dir(&base)
            .map(|rd| {
                rd.map(|e| e.unwrap().path())
                    .filter(|p| {
                        let n = p.file_name().unwrap().to_string_lossy();
                        n.starts_with("data-") || n.starts_with(".data-")
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

/// Spawns, retrying while the kernel still sees the fresh copy as open for writing (ETXTBSY: a
/// child forked by another test thread while the copy was being written holds it briefly).
fn spawn(c: &mut Command) -> Child {
    for _ in 0..50 {
        match c.spawn() {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            r => return r.expect("the installed binary runs"),
        }
    }
    panic!("the installed binary stays busy (ETXTBSY)");
}

fn run(c: &mut Command) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    KillOnDrop(Some(spawn(c))).wait_output()
}

/// Kills the child when dropped, so a failing assertion leaves no process behind.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }
    fn wait_output(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every file under `dir` with its size, by relative path.
fn sizes(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, p.metadata().unwrap().len());
            }
        }
    }
    out
}

fn identity(p: &Path) -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.modified().unwrap())
}

fn assert_top_5_of_rochdale(o: &Output) {
    assert!(
        o.status.success(),
        "rank failed ({:?}):\n{}",
        o.status,
        text(&o.stderr)
    );
    let mut r = csv::Reader::from_reader(o.stdout.as_slice());
    let head = r.headers().unwrap().clone();
    let id = head
        .iter()
        .position(|h| h == "id")
        .unwrap_or_else(|| panic!("no id column: {head:?}"));
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 5, "a header and 5 rows:\n{}", text(&o.stdout));
    for row in &rows {
        assert!(row[id].starts_with("rochdale-"), "{row:?}");
    }
}

#[test]
fn rank_runs_from_any_folder_and_extracts_the_data_once() {
    let user = User::new();
    let first = run(&mut user.command(&["rank", "--top", "5"]));
    assert_top_5_of_rochdale(&first);

    let folders = user.data_folders();
    assert_eq!(
        folders.len(),
        1,
        "one data folder, no leftovers: {folders:?}"
    );
    let data = &folders[0];
    let name = data.file_name().unwrap().to_string_lossy().into_owned();
    let key = name
        .strip_prefix(&format!("data-{}-", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{name} is data-<version>-<hash>"));
    assert!(
        key.len() == 12 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    let repo_data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    assert_eq!(
        sizes(data),
        sizes(&repo_data),
        "every file of data/ (units/ too) extracted whole"
    );
    assert!(data.join("units/rochdale_vacant_shops.csv").is_file());
    assert_eq!(
        std::fs::read_dir(&user.cwd).unwrap().count(),
        0,
        "nothing written to the working folder"
    );
    assert_eq!(
        std::fs::read_dir(user.bin.parent().unwrap())
            .unwrap()
            .count(),
        1,
        "nothing written beside the binary"
    );

    let folder_before = identity(data);
    let manifest_before = identity(&data.join("manifest.json"));
    let second = run(&mut user.command(&["rank", "--top", "5"]));
    assert_top_5_of_rochdale(&second);
    assert_eq!(second.stdout, first.stdout, "the same ranking");
    assert_eq!(user.data_folders(), folders, "no second folder");
    assert_eq!(
        identity(data),
        folder_before,
        "the folder is reused as it is"
    );
    assert_eq!(
        identity(&data.join("manifest.json")),
        manifest_before,
        "no file rewritten"
    );

    // `about` names the folder the data is read from.
    let about = run(&mut user.command(&["about"]));
    assert!(about.status.success(), "{}", text(&about.stderr));
    assert!(
        text(&about.stdout).contains(&data.display().to_string()),
        "{}",
        text(&about.stdout)
    );
}

#[test]
fn an_unwritable_data_folder_is_named() {
    let user = User::new();
    // XDG_DATA_HOME is a file: the data folder cannot be made under it.
    let blocked = user.home.join("not-a-folder");
    std::fs::write(&blocked, "x").unwrap();
    let o = run(user
        .command(&["rank", "--top", "5"])
        .env("XDG_DATA_HOME", &blocked));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains(&blocked.join("sitefinder").display().to_string()) && err.contains("--data"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

/// One HTTP/1.0 GET: status, lower-cased headers and body.
fn http_get(addr: &str, path: &str) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = vec![];
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{path}: no header end in {:?}", text(&raw)));
    let head = text(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

/// The values of `attr` in every `<tag ...>` of the page.
fn attrs(html: &str, tag: &str, attr: &str) -> Vec<String> {
    html.split(&format!("<{tag}"))
        .skip(1)
        .filter_map(|t| {
            let t = &t[..t.find('>')?];
            let v = t.split(&format!("{attr}=\"")).nth(1)?;
            Some(v[..v.find('"')?].to_string())
        })
        .collect()
}

#[test]
fn serve_serves_the_built_in_map_and_everything_it_loads() {
    let user = User::new();
    let mut cmd = user.command(&["serve", "--addr", "127.0.0.1:0"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut server = KillOnDrop(Some(spawn(&mut cmd)));

    // Its stdout, line by line, from a thread (so a server that never prints cannot hang us).
    let (tx, rx) = std::sync::mpsc::channel();
    let out = server.child().stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = vec![];
    let addr = loop {
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(line) => {
                let found = line
                    .contains("serving")
                    .then(|| line.split(" at http://").nth(1))
                    .flatten()
                    .and_then(|rest| rest.split('/').next())
                    .map(str::to_string);
                seen.push(line);
                if let Some(a) = found {
                    break a;
                }
            }
            Err(e) => {
                let _ = server.child().kill();
                let mut err = String::new();
                if let Some(mut s) = server.child().stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                panic!(
                    "no `serving ... at http://ADDR/` line ({e}); stdout {seen:?}; stderr:\n{err}"
                );
            }
        }
    };

    let (status, headers, body) = http_get(&addr, "/?f=html");
    assert_eq!(status, 200, "{}", text(&body));
    assert!(
        headers["content-type"].starts_with("text/html"),
        "{headers:?}"
    );
    let html = text(&body);
    assert!(
        html.contains("sitefinder") && html.contains("Open Government Licence"),
        "{html}"
    );

    let scripts = attrs(&html, "script", "src");
    let links = attrs(&html, "link", "href");
    assert!(
        scripts.iter().any(|s| s.ends_with("leaflet.js")) && scripts.len() >= 2,
        "{scripts:?}"
    );
    assert!(
        links.iter().any(|s| s.ends_with("leaflet.css")) && links.len() >= 2,
        "{links:?}"
    );
    let mut css_images = vec![];
    for r in scripts.iter().chain(&links) {
        assert!(
            !r.contains("://") && !r.starts_with("//"),
            "{r}: the page loads nothing from elsewhere"
        );
        let path = format!("/{}", r.trim_start_matches('/'));
        let (status, headers, body) = http_get(&addr, &path);
        assert_eq!(status, 200, "{path}: {}", text(&body));
        assert!(!body.is_empty(), "{path} is empty");
        let ctype = &headers["content-type"];
        if path.ends_with(".js") {
            assert!(ctype.starts_with("text/javascript"), "{path}: {ctype}");
        } else {
            assert!(ctype.starts_with("text/css"), "{path}: {ctype}");
            // The images the style sheet names, relative to it.
            let css = text(&body);
            let dir = &path[..path.rfind('/').unwrap() + 1];
            for u in css.split("url(").skip(1) {
                let u = u[..u.find(')').unwrap()].trim_matches(['"', '\'']);
                // (`#default#VML` is old IE's behaviour, no file.)
                if !u.starts_with("data:") && !u.starts_with('#') {
                    css_images.push(format!("{dir}{u}"));
                }
            }
        }
    }
    assert!(!css_images.is_empty(), "leaflet.css names its images");
    for path in &css_images {
        let (status, headers, body) = http_get(&addr, path);
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["content-type"], "image/png", "{path}");
        assert!(body.starts_with(b"\x89PNG"), "{path}");
    }

    let (status, _, body) = http_get(&addr, "/no/such/file.js");
    assert_eq!(status, 404);
    assert!(text(&body).contains("not_found"), "{}", text(&body));
    let (status, headers, _) = http_get(&addr, "/health");
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("application/json"));

    let _ = server.child().kill();
    let status = server.child().wait().unwrap();
    assert!(!status.success(), "the server ran until it was killed");
    assert_eq!(user.data_folders().len(), 1, "{:?}", user.data_folders());
}
