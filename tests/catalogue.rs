//! The catalogue of bad input (`tests/catalogue/cases.toml`): every case run against the real
//! `sitefinder`, the CLI as a process and the server on loopback, checking what the user sees
//! and that nothing stored changed. See the head of `cases.toml` for the kinds of case.

mod common;

#[path = "catalogue/make.rs"]
mod make;

use std::path::{Path, PathBuf};

use common::*;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    via: String,
    file: Option<String>,
    make: Option<String>,
    method: Option<String>,
    path: Option<String>,
    query: Option<String>,
    body: Option<String>,
    token: Option<String>,
    /// More command-line arguments (via = "units" or "overlay").
    #[serde(default)]
    args: Vec<String>,
    status: Option<u16>,
    message: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Cases {
    case: Vec<Case>,
}

const TOKEN: &str = "catalogue-token-0123";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(root().join("tests/catalogue/cases.toml")).unwrap();
    toml::from_str::<Cases>(&text).unwrap().case
}

/// Every row of the state database, as text: what "nothing stored changed" compares.
fn stored(db: &Path) -> String {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut out = String::new();
    for table in [
        "shortlists",
        "shortlist_sites",
        "overlays",
        "overlay_shapes",
    ] {
        let mut st = c
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
            .unwrap();
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        for row in rows {
            out.push_str(table);
            out.push_str(&row.unwrap().join("|"));
            out.push('\n');
        }
    }
    out
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// The whole catalogue. Failures are gathered and reported together.
#[test]
fn every_bad_input_gets_a_clear_answer_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let db = state.join("sitefinder.sqlite");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let server = Serving::start(
        &state,
        &[
            "--token-file",
            p(&token_file),
            "--max-upload-mb",
            "2",
            "--max-features",
            "50",
            "--max-vertices",
            "50000",
        ],
    );
    // What is stored before: a plan overlay and a shortlist of one unit.
    let plan = fixture("overlays/rochdale_town_centre_SYNTHETIC.geojson");
    let (status, body) = server.call(
        "POST",
        "/overlays?name=Base%20Plan",
        Some(TOKEN),
        &std::fs::read(&plan).unwrap(),
    );
    assert_eq!(status, 201, "{body}");
    let (_, top) = server.get("/rank?limit=1");
    let top: serde_json::Value = serde_json::from_str(&top).unwrap();
    let base_unit = top["features"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = server.call(
        "POST",
        "/shortlists",
        Some(TOKEN),
        format!(r#"{{"name": "Base list", "ids": ["{base_unit}"], "note": "as it was"}}"#)
            .as_bytes(),
    );
    assert_eq!(status, 201, "{body}");
    let before = stored(&db);
    // What the server says of a shortlist names its units file without the server's folders.
    let (_, one) = server.get("/shortlists/Base%20list");
    let one: serde_json::Value = serde_json::from_str(&one).unwrap();
    let f = one["units_file"].as_str().unwrap();
    assert!(f.ends_with(".csv") && !f.contains('/'), "{f}");

    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let cx = make::Context {
        base_unit: &base_unit,
        plan_geojson: &plan,
        scratch: &scratch,
    };
    let mut failures: Vec<String> = vec![];
    let mut seen = std::collections::HashSet::new();
    for case in &cases {
        assert!(
            seen.insert(case.name.clone()),
            "two cases named `{}`",
            case.name
        );
        let made = case.make.as_deref().map(|m| make::make(m, &cx));
        let input: Option<(String, Vec<u8>)> = match (&case.file, &made) {
            (Some(f), _) => {
                let path = root().join("tests/catalogue/files").join(f);
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let name = Path::new(f)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                Some((name, bytes))
            }
            (None, Some(m)) if !m.name.is_empty() => Some((m.name.clone(), m.bytes.clone())),
            _ => None,
        };
        let run = tempfile::tempdir_in(&scratch).unwrap();
        // (what the user sees, status or exit code)
        let (seen_text, got): (String, i32) = match case.via.as_str() {
            "units" | "overlay" => {
                let (name, bytes) = input.clone().expect("a file or a made file");
                let path = run.path().join(&name);
                std::fs::write(&path, &bytes).unwrap();
                let out = run.path().join("out.csv");
                let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sitefinder"));
                if case.via == "units" {
                    cmd.args(["rank", "--data", p(&data_dir()), "--units", p(&path)])
                        .arg("--out")
                        .arg(&out);
                } else {
                    cmd.args([
                        "overlay",
                        "add",
                        "--state",
                        p(&state),
                        "--name",
                        "Catalogue",
                    ])
                    .arg(&path);
                }
                let o = cmd.args(&case.args).output().unwrap();
                let text = String::from_utf8_lossy(&o.stderr).to_string();
                if files_in(run.path()) != [name.clone()] {
                    failures.push(format!(
                        "{}: left files behind: {:?}",
                        case.name,
                        files_in(run.path())
                    ));
                }
                if text.trim().lines().count() != 1 {
                    failures.push(format!("{}: not one line on stderr: {text}", case.name));
                }
                (text, o.status.code().unwrap_or(-1))
            }
            "upload" | "http" => {
                let (method, path, body) = if case.via == "upload" {
                    let q = case.query.clone().unwrap_or_default();
                    let q = if q.contains("name=") {
                        q
                    } else if q.is_empty() {
                        "name=Catalogue".to_string()
                    } else {
                        format!("name=Catalogue&{q}")
                    };
                    (
                        "POST".to_string(),
                        format!("/overlays?{q}"),
                        input.clone().expect("a file").1,
                    )
                } else {
                    let path = case
                        .path
                        .clone()
                        .or_else(|| made.as_ref().and_then(|m| m.path.clone()))
                        .expect("a path");
                    let body = match (&case.body, &made) {
                        (Some(b), _) => b.clone().into_bytes(),
                        (None, Some(m)) => m.bytes.clone(),
                        _ => vec![],
                    };
                    (case.method.clone().unwrap_or("GET".into()), path, body)
                };
                let token = match case.token.as_deref() {
                    None | Some("right") => Some(TOKEN),
                    Some("wrong") => Some("not-the-token-at-all"),
                    Some("none") => None,
                    Some(other) => panic!("{}: token = {other}?", case.name),
                };
                let (status, text) = server.call(&method, &path, token, &body);
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(v) if v["code"].is_string() && v["message"].is_string() => {
                        let m = v["message"].as_str().unwrap().to_string();
                        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
                        if m.contains(p(dir.path()))
                            || m.contains(&home)
                            || m.contains(p(&data_dir()))
                        {
                            failures.push(format!("{}: a server path in `{m}`", case.name));
                        }
                        (m, i32::from(status))
                    }
                    _ => {
                        failures.push(format!(
                            "{}: {status} is not the API's JSON error: {text:.300}",
                            case.name
                        ));
                        (text, i32::from(status))
                    }
                }
            }
            other => panic!("{}: via = {other}?", case.name),
        };
        let want = match case.via.as_str() {
            "units" | "overlay" => 2,
            _ => i32::from(case.status.expect("a status")),
        };
        if got != want {
            failures.push(format!(
                "{}: {} {got}, expected {want}: {seen_text:.400}",
                case.name,
                if want < 100 { "exit" } else { "status" }
            ));
        }
        for m in &case.message {
            if !seen_text.contains(m.as_str()) {
                failures.push(format!("{}: `{m}` not in: {seen_text:.400}", case.name));
            }
        }
        if stored(&db) != before {
            failures.push(format!("{}: the stored state changed", case.name));
            break;
        }
    }
    // And the server is still answering.
    let (status, _) = server.get("/health");
    assert_eq!(status, 200);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Writes every made (hostile) input to `$SITEFINDER_HOSTILE_DIR`, for trying by hand.
#[test]
#[ignore]
fn write_the_hostile_files() {
    let out = PathBuf::from(
        std::env::var_os("SITEFINDER_HOSTILE_DIR").expect("set SITEFINDER_HOSTILE_DIR"),
    );
    std::fs::create_dir_all(&out).unwrap();
    let plan = fixture("overlays/rochdale_town_centre_SYNTHETIC.geojson");
    let cx = make::Context {
        base_unit: "UNIT",
        plan_geojson: &plan,
        scratch: &out,
    };
    for what in make::ALL {
        let m = make::make(what, &cx);
        let name = if m.name.is_empty() {
            format!("{what}.body")
        } else {
            m.name.clone()
        };
        std::fs::write(out.join(&name), &m.bytes).unwrap();
        if let Some(path) = m.path {
            std::fs::write(out.join(format!("{what}.path")), path).unwrap();
        }
        println!("{}", out.join(name).display());
    }
}
