//! The PDF site report of a shortlist, read back by independent readers (`pdftotext` and
//! `pdfinfo` from Debian's poppler-utils, installed by `.ci/setup`): made through the
//! in-process server and through the command line from real Rochdale units on the shipped
//! data, it holds each site's address, score as `/rank` shows it, IMD decile, nearest
//! practice, the note and the attribution, on one page per site after a cover page.
//! Also: a ranking has no PDF (a clear 400), and `shortlist show` / `list` print tables.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sitefinder::serve::{app, AppState};
use sitefinder::store::Store;
use tower::ServiceExt;

const TOKEN: &str = "test-token-report-0123456789";

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

fn call(s: &Arc<AppState>, method: Method, uri: &str, body: Option<Value>) -> Reply {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json");
        let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
        let resp = app(s.clone())
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: body.to_vec(),
        }
    })
}

/// A poppler tool, or a failure that says how to install it (never a skip).
fn poppler(tool: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is missing: run .ci/setup (it installs Debian's poppler-utils, which the PDF report's tests read it back with)"
    );
    Command::new(tool)
}

/// The text of a PDF file, page by page (`pdftotext -layout`).
fn pdf_pages_text(path: &Path) -> Vec<String> {
    let o = poppler("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(path)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).expect("pdftotext writes UTF-8");
    let mut pages: Vec<String> = text.split('\x0c').map(str::to_string).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// The page count `pdfinfo` reads.
fn pdf_page_count(path: &Path) -> usize {
    let o = poppler("pdfinfo").arg(path).output().unwrap();
    assert!(
        o.status.success(),
        "pdfinfo: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .expect("pdfinfo names the pages")
        .trim()
        .parse()
        .unwrap()
}

/// Spaces collapsed (the layout pads columns).
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const NOTE: &str = "Landlord keen – 150 m² ground floor, rent £9,000 ‘negotiable’";

#[test]
fn the_pdf_report_reads_back_from_the_server_and_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(
        app_state()
            .with_store(Store::open(dir.path()).unwrap(), Some(TOKEN.into()))
            .unwrap(),
    );
    // Three real Rochdale units as the map shows them: the top two of the ranking, and one
    // from further down.
    let r = call(&s, Method::GET, "/rank?one_per_site=true&limit=40", None);
    assert_eq!(r.status, StatusCode::OK);
    let ranked: Value = serde_json::from_slice(&r.body).unwrap();
    let features = ranked["features"].as_array().unwrap();
    let picked: Vec<&Value> = [0, 1, 30].iter().map(|i| &features[*i]).collect();
    let ids: Vec<&str> = picked
        .iter()
        .map(|f| f["properties"]["id"].as_str().unwrap())
        .collect();
    let name = "Board paper – Rochdale £";
    let r = call(
        &s,
        Method::POST,
        "/shortlists",
        Some(json!({"name": name, "ids": ids})),
    );
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let path = format!(
        "/shortlists/{}",
        sitefinder::serve::respond::urlencode(name)
    );
    let r = call(
        &s,
        Method::PUT,
        &format!("{path}/sites/{}", ids[0]),
        Some(json!({"note": NOTE})),
    );
    assert_eq!(r.status, StatusCode::OK);

    // A long note runs on to another page rather than being cut.
    let long_note: String = (1..=60)
        .map(|k| format!("Point {k}: check access, lease and the landlord's terms."))
        .collect::<Vec<_>>()
        .join(" ");
    let r = call(
        &s,
        Method::PUT,
        &format!("{path}/sites/{}", ids[2]),
        Some(json!({"note": long_note})),
    );
    assert_eq!(r.status, StatusCode::OK);

    let r = call(&s, Method::GET, &format!("{path}/export?format=pdf"), None);
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.headers["content-type"], "application/pdf");
    let disposition = r.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".pdf\""),
        "{disposition}"
    );
    assert!(r.body.starts_with(b"%PDF-"));
    let served = dir.path().join("served.pdf");
    std::fs::write(&served, &r.body).unwrap();

    // The same report from the command line, over the same state database.
    let written = dir.path().join("report.pdf");
    let o = sitefinder(&[
        "export",
        "--shortlist",
        name,
        "--out",
        p(&written),
        "--state",
        p(dir.path()),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    for pdf in [&served, &written] {
        let pages = pdf_pages_text(pdf);
        assert_eq!(pdf_page_count(pdf), pages.len());
        // A cover, then each site from a new page, going on to another page ("(continued)")
        // when its text is long: nothing is cut.
        let starts: Vec<usize> = (1..=ids.len())
            .map(|k| {
                pages
                    .iter()
                    .position(|t| {
                        t.trim_start()
                            .starts_with(&format!("Site {k} of {}", ids.len()))
                    })
                    .unwrap_or_else(|| panic!("no page for site {k}"))
            })
            .collect();
        assert_eq!(starts[0], 1, "the sites follow a one-page cover");
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
        let site_text = |k: usize| -> String {
            let end = starts.get(k + 1).copied().unwrap_or(pages.len());
            squeeze(&pages[starts[k]..end].concat())
        };
        let total = pages.len();
        let cover = squeeze(&pages[0]);
        assert!(cover.contains(name), "{cover}");
        assert!(
            cover.contains("IMD 2025") && cover.contains("LSOA 2021"),
            "{cover}"
        );
        // The attribution, each line that fits on one line of the page, verbatim.
        for line in atlas().manifest.attribution.iter().filter(|l| l.len() < 90) {
            assert!(
                cover.contains(line.as_str()),
                "no `{line}` on the cover:\n{cover}"
            );
        }
        assert!(cover.contains("Contains OS data © Crown copyright and database right"));
        // The sites in score order, as /rank has them, one page each.
        for (k, f) in picked.iter().enumerate() {
            let props = &f["properties"];
            let page = site_text(k);
            let address = props["address"].as_str().unwrap();
            assert!(
                page.contains(address),
                "site {}: no address {address}:\n{page}",
                k + 1
            );
            let score = props["score"].as_f64().unwrap();
            assert!(
                page.contains(&format!("Score {score:.3}")),
                "site {}: no score {score:.3}:\n{page}",
                k + 1
            );
            let decile = props["imd_decile"].as_i64().unwrap();
            assert!(
                page.contains(&format!("IMD 2025 decile {decile} (1 = most deprived)")),
                "site {}:\n{page}",
                k + 1
            );
            let practice = props["nearest_practice_name"].as_str().unwrap();
            let code = props["nearest_practice_code"].as_str().unwrap();
            assert!(
                page.contains(&format!("1 {practice} {code}")),
                "site {}: nearest practice {practice} ({code}) not listed first:\n{page}",
                k + 1
            );
            // Each criterion's sentence, as /rank explains it (wrapped in the PDF).
            let reach_why = props["breakdown"]["reach"]["why"].as_str().unwrap();
            assert!(page.contains(reach_why), "site {}:\n{page}", k + 1);
            assert!(page.contains(&format!("page {} of {total}", starts[k] + 1)));
        }
        // The top unit is MEDICINE TAP on the Esplanade, whose nearest practice is The Dawes
        // Family Practice (known from the data).
        let first = site_text(0);
        assert!(first.contains("MEDICINE TAP, 2 THE ESPLANADE"), "{first}");
        assert!(first.contains("THE DAWES FAMILY PRACTICE"), "{first}");
        // The note, with its en dash, square metres, pound and quotes intact.
        assert!(first.contains(NOTE), "{first}");
        assert!(site_text(1).contains("No note."));
        let third = site_text(2);
        assert!(third.contains("(continued)"), "{third}");
        for k in [1, 30, 60] {
            assert!(
                third.contains(&format!("Point {k}: check access")),
                "point {k} cut:\n{third}"
            );
        }
        // The cover names the page each site starts on.
        for (k, f) in picked.iter().enumerate() {
            let props = &f["properties"];
            let row_end = format!(
                "{:.3} {} {}",
                props["score"].as_f64().unwrap(),
                props["imd_decile"],
                starts[k] + 1
            );
            assert!(
                cover.contains(&row_end),
                "no `{row_end}` on the cover:\n{cover}"
            );
        }
        assert!(
            !pages.concat().contains('\u{FFFD}'),
            "no replacement characters"
        );
    }

    // A ranking has no PDF: a 400 that says what to do, and a shortlist's unknown format a 400.
    let r = call(&s, Method::GET, "/rank?format=pdf", None);
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    let message = v["message"].as_str().unwrap();
    assert!(
        message.starts_with("format") && message.contains("site report of a shortlist"),
        "{message}"
    );
    let r = call(&s, Method::GET, &format!("{path}/export?format=docx"), None);
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&r.body).contains("gpkg or pdf"));

    // The command line writes atomically: a folder that is not there leaves no file.
    let missing = dir.path().join("missing").join("report.pdf");
    let o = sitefinder(&[
        "export",
        "--shortlist",
        name,
        "--out",
        p(&missing),
        "--state",
        p(dir.path()),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!missing.exists());
    // And `rank` refuses pdf before doing any work.
    let o = sitefinder(&["rank", "--format", "pdf"]);
    assert_eq!(o.status.code(), Some(2));
}

/// The residents the report splits by IMD decile are the join's own reach (the residents'
/// surface), in the shares of the exact areal interpolation: for every Rochdale unit the table
/// adds up to the figure the ranking scores, and the exact parts are near it, as
/// `tests/joins.rs` states for all England.
#[test]
fn residents_by_decile_add_up_to_the_reach_the_ranking_uses() {
    let e = engine();
    assert!(e.units.len() > 100);
    for (u, c) in e.units.iter().zip(&e.contexts) {
        let r = e.join.reach_radius_m;
        let (by, lsoas) =
            sitefinder::export::report::residents_by_decile(&e.atlas, u.pos, r, &c.reach);
        let total: f64 = by.iter().sum();
        assert!(
            (total - c.reach.population).abs() < 1e-9 * total.max(1.0),
            "{}: {total} vs {}",
            u.id,
            c.reach.population
        );
        let parts = sitefinder::analysis::join::reach_parts(&e.atlas, u.pos, r);
        assert_eq!(lsoas, parts.len());
        let exact: f64 = parts.iter().map(|(_, p)| p).sum();
        assert!(
            (exact - c.reach.population).abs() < 0.02 * exact,
            "{}: surface {} exact {exact}",
            u.id,
            c.reach.population
        );
        // Each decile keeps its exact share.
        for d in 1..=10u8 {
            let exact_d: f64 = parts
                .iter()
                .filter(|(i, _)| e.atlas.lsoas[*i].imd_decile == d)
                .map(|(_, p)| p)
                .sum();
            assert!(
                (by[d as usize - 1] / total - exact_d / exact).abs() < 1e-9,
                "{} decile {d}",
                u.id
            );
        }
    }
}

#[test]
fn shortlist_show_and_list_print_tables() {
    let dir = tempfile::tempdir().unwrap();
    let st = p(dir.path());
    let o = sitefinder(&[
        "shortlist",
        "add",
        "Walk-round",
        "--top",
        "3",
        "--as-of",
        "2024-07-01",
        "--note",
        "see on Tuesday",
        "--state",
        st,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = sitefinder(&["shortlist", "show", "Walk-round", "--state", st]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Walk-round: 3 sites; made "), "{out}");
    assert!(lines[1].starts_with("weights deprivation=3"), "{out}");
    let head = lines
        .iter()
        .position(|l| l.starts_with("#  Unit id"))
        .unwrap_or_else(|| panic!("no table header:\n{out}"));
    for h in ["Name / address", "Score", "Rank", "IMD 2025 decile", "Note"] {
        assert!(lines[head].contains(h), "{out}");
    }
    assert!(lines[head + 1].starts_with("-  ---"), "{out}");
    let rows = &lines[head + 2..];
    assert_eq!(rows.len(), 3, "{out}");
    // Each unit's score and rank as `rank` gives them with the shortlist's weights and date,
    // among all the units.
    let o = sitefinder(&[
        "rank",
        "--as-of",
        "2024-07-01",
        "--include-unsuitable",
        "--format",
        "geojson",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let all = v["features"].as_array().unwrap();
    for row in rows {
        let id = row.split_whitespace().nth(1).unwrap();
        let f = all
            .iter()
            .find(|f| f["properties"]["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not ranked"));
        let props = &f["properties"];
        let name = props["name"].as_str().unwrap();
        assert!(row.contains(name), "{name} not on its own line: {row}");
        let score = format!("{:.3}", props["score"].as_f64().unwrap());
        assert!(row.contains(&format!("  {score}  ")), "{row}");
        let rank = format!("  {} of {}  ", props["rank"], all.len());
        assert!(row.contains(&rank), "{rank}: {row}");
        assert!(row.ends_with("see on Tuesday"), "{row}");
    }
    // Columns line up: every score ends where the header's "Score" ends.
    let score_end = lines[head].find("Score").unwrap() + "Score".len();
    for row in rows {
        let c: Vec<char> = row.chars().collect();
        assert!(
            c[score_end - 1].is_ascii_digit() && c[score_end] == ' ',
            "{out}"
        );
    }

    let o = sitefinder_no_state_data(&["shortlist", "list", "--state", st]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("Shortlist   Sites  Made"), "{out}");
    assert!(lines[2].starts_with("Walk-round      3  "), "{out}");
    assert!(lines[2].ends_with(" UTC"), "{out}");
}

/// `sitefinder` without `--data` (commands that take none).
fn sitefinder_no_state_data(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sitefinder"))
        .args(args)
        .output()
        .expect("runs")
}
