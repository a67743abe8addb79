//! A server ranks from what it computed once ([`sitefinder::analysis::prepared`]): the units
//! indexed by position for `bbox`, and their settled criterion values. Each ranking must be
//! the one the CLI makes without them, row for row and bit for bit, on the real units of the
//! nine councils, for weights, filters, dates and a plan overlay alike.
//!
//! A run over large units files keeps them joined ([`sitefinder::engine::cache`]); the next run
//! over the same files, data and settings reads them: the units and their joins must be those
//! made again, field for field, and the files written from them byte for byte; any change to
//! what they were made from, and any damage to the kept file, must make them again. What a
//! server prepares over kept units (the settled values and the id order) is kept beside them
//! and must read back bit for bit as made again, or be made again when damaged.

mod common;

use std::path::Path;
use std::sync::Arc;

use sitefinder::analysis::rank::Ranking;
use sitefinder::engine::{Config, Engine, RankQuery};
use sitefinder::export::{table, ExportFormat};
use sitefinder::ingest::overlay::{parse, Overlay, UploadOptions};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn engine() -> Engine {
    let data = root().join("data");
    let mut cfg = Config::new(&data);
    let mut files: Vec<_> = std::fs::read_dir(data.join("units"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 9, "{files:?}");
    cfg.units = files;
    Engine::open(&cfg).unwrap()
}

fn plan() -> Arc<Overlay> {
    let bytes = std::fs::read(
        root().join("tests/fixtures/overlays/rochdale_town_centre_SYNTHETIC.geojson"),
    )
    .unwrap();
    let p = parse(&bytes, &UploadOptions::default()).unwrap();
    Arc::new(common::overlay(p, "Rochdale town centre (SYNTHETIC)"))
}

/// Every row's unit, rank, score and values (bits, so that NaN and -0 would show), and what
/// was left out.
fn same(a: &Ranking, b: &Ranking, what: &str) {
    assert_eq!(a.rows.len(), b.rows.len(), "{what}: rows");
    for (x, y) in a.rows.iter().zip(&b.rows) {
        assert_eq!((x.unit, x.rank), (y.unit, y.rank), "{what}");
        assert_eq!(
            x.score.to_bits(),
            y.score.to_bits(),
            "{what}: unit {}",
            x.unit
        );
        for (v, w) in x.values.iter().zip(&y.values) {
            assert_eq!(v.criterion, w.criterion);
            assert_eq!(
                v.raw.map(f64::to_bits),
                w.raw.map(f64::to_bits),
                "{what}: {v:?} {w:?}"
            );
            assert_eq!(
                v.norm.map(f64::to_bits),
                w.norm.map(f64::to_bits),
                "{what}: {v:?} {w:?}"
            );
        }
        for (c, d) in x.contributions.iter().zip(&y.contributions) {
            assert_eq!(c.to_bits(), d.to_bits(), "{what}");
        }
    }
    assert_eq!(a.filtered_out, b.filtered_out, "{what}: left out");
    assert_eq!(a.unsuitable, b.unsuitable, "{what}: unsuitable");
}

#[test]
fn a_prepared_ranking_is_the_ranking_without_preparation() {
    let e = engine();
    assert!(e.units.len() > 1_500, "{}", e.units.len());
    let q = |f: &dyn Fn(&mut RankQuery)| {
        let mut q = RankQuery::default();
        f(&mut q);
        q
    };
    let rochdale = "-2.25,53.58,-2.10,53.66";
    let queries: Vec<(&str, RankQuery, bool)> = vec![
        ("default", RankQuery::default(), false),
        (
            "weights",
            q(&|q| q.weights = Some("deprivation:5,gap:3,access:0".into())),
            false,
        ),
        ("bbox", q(&|q| q.bbox = Some(rochdale.into())), false),
        (
            "bbox over West Yorkshire and deciles",
            q(&|q| {
                q.bbox = Some("-2.1,53.55,-1.25,53.95".into());
                q.imd_deciles = Some("1-3".into());
            }),
            false,
        ),
        (
            "bbox and a local authority outside it",
            q(&|q| {
                q.bbox = Some(rochdale.into());
                q.lad = Some("Kirklees".into());
            }),
            false,
        ),
        (
            "an empty bbox",
            q(&|q| q.bbox = Some("-4.0,50.0,-3.9,50.1".into())),
            false,
        ),
        (
            "a date, floor area, unsuitable and one per site",
            q(&|q| {
                q.as_of = sitefinder::base::date::Date::parse("2024-07-01");
                q.min_floor_area_m2 = Some(50.0);
                q.include_unsuitable = Some(true);
                q.one_per_site = Some(true);
            }),
            false,
        ),
        ("one per site", q(&|q| q.one_per_site = Some(true)), false),
        (
            "a plan overlay",
            q(&|q| {
                q.weights = Some("plan:4".into());
                q.bbox = Some(rochdale.into());
            }),
            true,
        ),
        // A box alone is scored from the prepared values without reading the units: with a
        // date, weights and the unsuitable kept, and over every unit, one per site.
        (
            "a box alone, with a date, weights and the unsuitable",
            q(&|q| {
                q.bbox = Some(rochdale.into());
                q.as_of = sitefinder::base::date::Date::parse("2023-02-01");
                q.weights = Some("suitability:9,reach:0,gap:2".into());
                q.include_unsuitable = Some(true);
            }),
            false,
        ),
        (
            "a box over every unit, one per site",
            q(&|q| {
                q.bbox = Some("-6.5,49.8,2.0,55.9".into());
                q.one_per_site = Some(true);
            }),
            false,
        ),
    ];
    let before: Vec<Ranking> = queries
        .iter()
        .map(|(_, q, p)| e.rank(q, p.then(plan)).unwrap())
        .collect();
    // The first k rows of a ranking, without holding it whole, are its first k rows, and the
    // count is its length, before and after preparing.
    let tops = |e: &Engine| {
        for ((what, q, p), b) in queries.iter().zip(&before) {
            for k in [0, 1, 20, 700, 100_000] {
                let (top, n) = e.rank_top(q, p.then(plan), k).unwrap();
                assert_eq!(n, b.rows.len(), "{what}: k = {k}");
                assert_eq!(top.rows.len(), k.min(n), "{what}: k = {k}");
                let mut prefix = b.clone();
                prefix.rows.truncate(k);
                same(&prefix, &top, &format!("{what}: the first {k}"));
            }
        }
    };
    tops(&e);
    // A ranking held as its order makes the same rows, whole and as a page of it.
    let ordered = |e: &Engine| {
        for ((what, q, p), b) in queries.iter().zip(&before) {
            let mut o = e.rank_ordered(q, p.then(plan)).unwrap();
            assert_eq!(o.len(), b.rows.len(), "{what}");
            let mut whole = o.ranking.clone();
            assert!(whole.rows.is_empty());
            whole.rows = o.rows(0..o.len());
            same(b, &whole, &format!("{what}: ordered"));
            let (offset, limit) = (b.rows.len() / 3, 250);
            o.page(offset, limit);
            let mut page = o.ranking.clone();
            page.rows = o.rows(0..o.len());
            let mut expected = b.clone();
            expected.rows = expected.rows.into_iter().skip(offset).take(limit).collect();
            same(&expected, &page, &format!("{what}: a page of the order"));
            // In words, each unit evaluated once, as the rows put into words afterwards.
            let mut worded = o.rows(0..o.len());
            sitefinder::analysis::rank::explain_rows(
                &e.atlas,
                &e.units,
                &e.contexts,
                &o.ranking.settings,
                &mut worded,
            );
            let words = o.ranking.settings.with_words();
            let in_words: Vec<_> = (0..o.len() + 3)
                .map_while(|k| o.row(k, Some(&words)))
                .collect();
            assert_eq!(in_words.len(), o.len());
            assert!(page.rows.is_empty() || in_words[0].values.iter().any(|v| !v.why.is_empty()));
            assert_eq!(
                format!("{worded:?}"),
                format!("{in_words:?}"),
                "{what}: in words"
            );
            let mut worded_page = page.clone();
            worded_page.rows = in_words;
            same(&expected, &worded_page, &format!("{what}: a page in words"));
            // Past the end, and nothing asked for.
            for (offset, limit) in [(b.rows.len(), 10), (b.rows.len() + 5, 10), (0, 0)] {
                let mut o = e.rank_ordered(q, p.then(plan)).unwrap();
                o.page(offset, limit);
                assert!(o.is_empty() && o.rows(0..10).is_empty(), "{what}");
            }
        }
    };
    ordered(&e);
    // The CSV written from the order is the one written from the whole ranking, byte for byte
    // (an empty ranking's header too), before and after preparing.
    let csvs = |e: &Engine| {
        for ((what, q, p), b) in queries.iter().zip(&before) {
            let meta = e.meta(b, q.filter_pairs());
            let whole = e.render(ExportFormat::Csv, b, &meta).unwrap();
            let o = e.rank_ordered(q, p.then(plan)).unwrap();
            let mut streamed = vec![];
            e.write_ordered_to(&mut streamed, ExportFormat::Csv, &o, &meta)
                .unwrap();
            let least = if b.rows.is_empty() { 100 } else { 1_000 };
            assert!(whole.len() > least, "{what}: {} bytes", whole.len());
            assert!(whole[3..] == streamed[..], "{what}: the CSV differs");
            // Columns that read no criterion: the rows written from the order are made
            // without evaluating one, and the file is the one the whole ranking gives.
            let narrow = sitefinder::analysis::chosen::Chosen::only(
                [
                    "rank",
                    "id",
                    "score",
                    "imd_decile",
                    "nearest_practice_m",
                    "lsoa21cd",
                ]
                .map(String::from)
                .to_vec(),
            );
            assert!(!narrow.needs_values());
            let mut b = b.clone();
            b.columns = narrow.clone();
            let whole = e.render(ExportFormat::Csv, &b, &meta).unwrap();
            let mut o = e.rank_ordered(q, p.then(plan)).unwrap();
            o.ranking.columns = narrow;
            if !o.is_empty() {
                let last = o.len() - 1;
                let lean = o.row_without_values(last).unwrap();
                let made = o.row(last, None).unwrap();
                assert_eq!(lean.score.to_bits(), made.score.to_bits(), "{what}");
                assert_eq!((lean.rank, lean.unit), (made.rank, made.unit), "{what}");
                assert!(lean.values.iter().all(|v| v.raw.is_none()), "{what}");
                assert!(o.row_without_values(o.len()).is_none(), "{what}");
            }
            let mut streamed = vec![];
            e.write_ordered_to(&mut streamed, ExportFormat::Csv, &o, &meta)
                .unwrap();
            assert!(whole.len() > 40, "{what}: {} bytes", whole.len());
            assert!(
                whole[3..] == streamed[..],
                "{what}: the CSV of columns without criteria differs"
            );
        }
    };
    csvs(&e);
    // The XLSX and GeoPackage files written from the order are those written from the whole
    // ranking, cell for cell and column for column, and the GeoJSON byte for byte (every
    // column, and a choice of them with the breakdown in words), for a ranking of a few
    // hundred units and an empty one.
    let files = |e: &Engine| {
        let dir = tempfile::tempdir().unwrap();
        let chosen = sitefinder::analysis::chosen::Chosen::only(vec![
            "id".into(),
            "breakdown".into(),
            "imd2019_decile".into(),
        ]);
        for ((what, q, p), b) in queries.iter().zip(&before) {
            if !matches!(*what, "bbox" | "an empty bbox") {
                continue;
            }
            // The third reads no criterion, so its rows are made without evaluating one.
            let narrow = sitefinder::analysis::chosen::Chosen::only(
                ["rank", "id", "score", "lsoa21cd"]
                    .map(String::from)
                    .to_vec(),
            );
            for columns in [Default::default(), chosen.clone(), narrow] {
                let mut b = b.clone();
                b.columns = columns.clone();
                let meta = e.meta(&b, q.filter_pairs());
                let mut o = e.rank_ordered(q, p.then(plan)).unwrap();
                o.ranking.columns = columns;
                let whole = geojson_both(e, &b, &o, &meta, dir.path(), what);
                assert!(whole.len() > 1_000, "{what}: {} bytes", whole.len());
                // As serde_json writes the collection of features made whole, in words.
                let full = e.explained(&b);
                let features = full
                    .rows
                    .iter()
                    .map(|r| {
                        let keep = full.columns.names();
                        table::feature_with(&e.atlas, &e.units, &e.contexts, &full, r, keep)
                            .unwrap()
                    })
                    .collect();
                let mut made =
                    serde_json::to_vec(&table::collection(features, &meta.members)).unwrap();
                made.push(b'\n');
                assert!(whole == made, "{what}: the GeoJSON is not the collection's");
                let mut streamed = vec![];
                e.write_ordered_to(&mut streamed, ExportFormat::GeoJson, &o, &meta)
                    .unwrap();
                assert!(
                    whole == streamed,
                    "{what}: the GeoJSON on standard output differs"
                );
                for format in [ExportFormat::Xlsx, ExportFormat::Gpkg] {
                    let at = |n: &str| dir.path().join(format!("{n}.{}", format.extension()));
                    e.write(&at("whole"), format, &b, &meta).unwrap();
                    e.write_ordered(&at("ordered"), format, &o, &meta).unwrap();
                    let (whole, ordered) = match format {
                        ExportFormat::Xlsx => {
                            (xlsx_cells(&at("whole")), xlsx_cells(&at("ordered")))
                        }
                        _ => (gpkg_rows(&at("whole")), gpkg_rows(&at("ordered"))),
                    };
                    // The header (or schema), and a row per unit.
                    assert_eq!(whole.len(), b.rows.len() + 1, "{what} {format:?}");
                    assert!(whole == ordered, "{what} {format:?}: the files differ");
                }
            }
        }
    };
    files(&e);
    // A page of more than a part of rows (features are made on every core in parts of at
    // least 1,024), in GeoJSON from the order and from the whole ranking.
    {
        let dir = tempfile::tempdir().unwrap();
        let (what, q, _) = &queries[0];
        let mut b = before[0].clone();
        let columns = sitefinder::analysis::chosen::Chosen::only(vec!["id".into(), "score".into()]);
        b.columns = columns.clone();
        let (offset, limit) = (100, 1_250);
        assert!(
            b.rows.len() > offset + limit,
            "{what}: {} rows",
            b.rows.len()
        );
        b.rows = b.rows.into_iter().skip(offset).take(limit).collect();
        let mut o = e.rank_ordered(q, None).unwrap();
        o.ranking.columns = columns;
        o.page(offset, limit);
        let meta = e.meta(&b, q.filter_pairs());
        let whole = geojson_both(&e, &b, &o, &meta, dir.path(), what);
        let read: serde_json::Value = serde_json::from_slice(&whole).unwrap();
        let features = read["features"].as_array().unwrap();
        assert_eq!(features.len(), limit);
        // The page's first feature is the 101st unit, with only the columns named.
        let first = &features[0];
        assert_eq!(
            first["id"],
            serde_json::json!(e.units[b.rows[0].unit].id.as_str())
        );
        let names: Vec<&String> = first["properties"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["id", "score"]);
    }
    let prepared = e.prepare();
    assert_eq!(prepared.len(), e.units.len());
    // Rows asked for in words are evaluated, not read from the prepared values (which have
    // no words), by the order as by the ranking.
    {
        use sitefinder::analysis::rank;
        let words = e.settings(None, None).with_words();
        let (w, f) = (rank::Weights::default(), rank::Filters::default());
        let (a, u, c) = (&e.atlas, &e.units, &e.contexts);
        let full = rank::rank(a, u, c, &w, &f, &words, Some(prepared)).unwrap();
        let o = rank::rank_ordered(a, u, c, &w, &f, &words, Some(prepared)).unwrap();
        let rows = o.rows(0..o.len());
        assert_eq!(rows.len(), full.rows.len());
        assert!(full.rows[0].values.iter().any(|v| !v.why.is_empty()));
        for (x, y) in full.rows.iter().zip(&rows) {
            let whys = |r: &sitefinder::analysis::rank::Ranked| {
                r.values.iter().map(|v| v.why.clone()).collect::<Vec<_>>()
            };
            assert_eq!(whys(x), whys(y), "unit {}", x.unit);
        }
    }
    for ((what, q, p), b) in queries.iter().zip(&before) {
        let after = e.rank(q, p.then(plan)).unwrap();
        same(b, &after, what);
    }
    tops(&e);
    ordered(&e);
    csvs(&e);
    // The cases are not vacuous: the boxes keep some units and leave most out.
    let (in_rochdale, empty) = (&before[2], &before[5]);
    assert!(in_rochdale.rows.len() > 50, "{}", in_rochdale.rows.len());
    assert!(in_rochdale.filtered_out.by("bbox") > 1_000);
    assert!(empty.rows.is_empty());
    assert_eq!(empty.filtered_out.by("bbox"), e.units.len());
    assert_eq!(
        before[4].filtered_out.by("lad"),
        in_rochdale.rows.len() + in_rochdale.unsuitable.len()
    );
    let at = |name: &str| {
        queries
            .iter()
            .position(|(what, _, _)| *what == name)
            .unwrap()
    };
    assert!(
        before[at("a plan overlay")]
            .rows
            .iter()
            .any(|r| r.values[6].norm == Some(1.0)),
        "plan scored"
    );
    let behind = before[at("one per site")].filtered_out.by("one_per_site");
    assert!(behind > 10, "{behind} left out by one_per_site");
    // The boxes alone: the unsuitable kept are ranked, and a box over England holds every unit.
    let dated = &before[at("a box alone, with a date, weights and the unsuitable")];
    assert!(!in_rochdale.unsuitable.is_empty());
    assert_eq!(
        dated.rows.len(),
        in_rochdale.rows.len() + in_rochdale.unsuitable.len()
    );
    let everywhere = &before[at("a box over every unit, one per site")];
    assert_eq!(everywhere.filtered_out.by("bbox"), 0);
    assert_eq!(
        everywhere.filtered_out.by("one_per_site"),
        before[at("one per site")].filtered_out.by("one_per_site")
    );
    // Straight through `rank::rank`: a ranking that writes sentences gets them all (prepared
    // values have none), and a box whose minimum passes its maximum keeps nothing either way.
    let words = e.settings(None, None);
    assert!(words.words);
    let weights = sitefinder::analysis::rank::Weights::default();
    let direct = |filters: &sitefinder::analysis::rank::Filters, p| {
        sitefinder::analysis::rank::rank(
            &e.atlas,
            &e.units,
            &e.contexts,
            &weights,
            filters,
            &words,
            p,
        )
        .unwrap()
    };
    let none = sitefinder::analysis::rank::Filters::default();
    let (a, b) = (direct(&none, None), direct(&none, Some(prepared)));
    same(&a, &b, "with words");
    for (x, y) in a.rows.iter().zip(&b.rows) {
        for (v, w) in x.values.iter().zip(&y.values) {
            assert!(!w.why.is_empty());
            assert_eq!(v.why, w.why);
        }
    }
    let reversed = sitefinder::analysis::rank::Filters {
        bbox: Some([-2.10, 53.66, -2.25, 53.58]),
        ..Default::default()
    };
    let (a, b) = (direct(&reversed, None), direct(&reversed, Some(prepared)));
    assert!(a.rows.is_empty() && b.rows.is_empty());
    same(&a, &b, "a reversed box");
    // Without words a box alone is scored from the records: a reversed box and one with a NaN
    // keep nothing there too, every unit left out by the box.
    let quiet = sitefinder::analysis::criteria::Settings {
        words: false,
        ..words.clone()
    };
    let nan = sitefinder::analysis::rank::Filters {
        bbox: Some([-2.25, f64::NAN, -2.10, 53.66]),
        ..Default::default()
    };
    for f in [&reversed, &nan] {
        let (a, u, c) = (&e.atlas, &e.units, &e.contexts);
        let r = |p| sitefinder::analysis::rank::rank(a, u, c, &weights, f, &quiet, p).unwrap();
        let (x, y) = (r(None), r(Some(prepared)));
        assert!(x.rows.is_empty() && y.rows.is_empty());
        assert_eq!(y.filtered_out.by("bbox"), e.units.len());
        same(&x, &y, "a box that holds nothing, from the records");
    }
    // An explained page reads the same sentences either way (sentences are written afterwards).
    let page = e
        .features(&e.rank(&queries[2].1, None).unwrap(), 0, 5)
        .unwrap();
    let page_before = {
        let fresh = engine();
        fresh
            .features(&fresh.rank(&queries[2].1, None).unwrap(), 0, 5)
            .unwrap()
    };
    assert_eq!(
        serde_json::to_value(&page).unwrap(),
        serde_json::to_value(&page_before).unwrap()
    );
}

// ---- Joined units kept between runs ------------------------------------------------------

/// The GeoJSON file of a ranking written whole, which must be the one written from its order.
fn geojson_both(
    e: &Engine,
    whole: &Ranking,
    ordered: &sitefinder::analysis::rank::Ordered<'_>,
    meta: &sitefinder::export::Meta,
    dir: &Path,
    what: &str,
) -> Vec<u8> {
    let at = |n: &str| dir.join(format!("{n}.geojson"));
    e.write(&at("whole"), ExportFormat::GeoJson, whole, meta)
        .unwrap();
    e.write_ordered(&at("ordered"), ExportFormat::GeoJson, ordered, meta)
        .unwrap();
    let bytes = std::fs::read(at("whole")).unwrap();
    assert!(
        bytes == std::fs::read(at("ordered")).unwrap(),
        "{what}: the GeoJSON differs"
    );
    bytes
}

/// The cells of an XLSX file's `sites` sheet, a row at a time (the header first), as text.
fn xlsx_cells(path: &Path) -> Vec<Vec<String>> {
    use calamine::{open_workbook, Reader, Xlsx};
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let sites = wb.worksheet_range("sites").unwrap();
    let mut rows: Vec<Vec<String>> = sites
        .rows()
        .map(|r| r.iter().map(|c| format!("{c:?}")).collect())
        .collect();
    if rows.is_empty() {
        rows.push(vec![]);
    }
    rows
}

/// The schema of a GeoPackage's `sites` table (its columns' names and types), then its rows
/// in order, every value with its type.
fn gpkg_rows(path: &Path) -> Vec<Vec<String>> {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut schema = db
        .prepare("SELECT name, type FROM pragma_table_info('sites')")
        .unwrap();
    let columns: Vec<String> = schema
        .query_map([], |r| {
            Ok(format!(
                "{} {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let n = columns.len();
    let mut out = vec![columns];
    let mut rows = db.prepare("SELECT * FROM sites ORDER BY fid").unwrap();
    let mut it = rows.query([]).unwrap();
    while let Some(r) = it.next().unwrap() {
        out.push(
            (0..n)
                .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                .collect(),
        );
    }
    out
}

/// The nine councils' units, Rochdale's rates list (occupied rows) and a GeoJSON file, plus a
/// CSV with a row outside England (skipped), kept in `cache`.
fn kept_config(dir: &Path, cache: &Path) -> Config {
    let data = root().join("data");
    let mut cfg = Config::new(&data);
    let mut files: Vec<_> = std::fs::read_dir(data.join("units"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.push(root().join("tests/fixtures/rochdale_rates_2024-07_sample.csv"));
    let geo = dir.join("halls.geojson");
    std::fs::write(
        &geo,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"g1","name":"Stall 4, Market Hall","address":"Market Hall, Bury"},"geometry":{"type":"Point","coordinates":[-2.2966,53.5933]}},
{"type":"Feature","properties":{"id":"g2","name":"Former bank","address":"1 Silver Street, Bury"},"geometry":{"type":"Point","coordinates":[-2.2975,53.5925]}}]}"#,
    )
    .unwrap();
    files.push(geo);
    let bad = dir.join("with_a_bad_row.csv");
    std::fs::write(
        &bad,
        "id,name,address,lat,lon\nb1,Shop,1 Yorkshire Street,53.6155,-2.1560\nb2,Shop,Paris,48.85,2.35\n",
    )
    .unwrap();
    files.push(bad);
    cfg.units = files;
    cfg.skip_invalid = true;
    cfg.cache_dir = Some(cache.to_path_buf());
    cfg
}

fn kept_files(cache: &Path) -> Vec<std::path::PathBuf> {
    cache_files(cache, "joined-")
}

/// The atlas of the default edition, loaded once for these tests.
fn atlas() -> Arc<sitefinder::reference::atlas::Atlas> {
    static ATLAS: std::sync::OnceLock<Arc<sitefinder::reference::atlas::Atlas>> =
        std::sync::OnceLock::new();
    ATLAS
        .get_or_init(|| {
            Arc::new(
                sitefinder::reference::atlas::Atlas::load_edition(
                    &root().join("data"),
                    Default::default(),
                )
                .unwrap(),
            )
        })
        .clone()
}

/// [`Engine::open`] over the shared atlas (the 2019 edition loads its own).
fn open(cfg: &Config) -> Engine {
    if cfg.imd == Default::default() {
        Engine::open_with(atlas(), cfg).unwrap()
    } else {
        Engine::open(cfg).unwrap()
    }
}

fn last_note(e: &Engine) -> &str {
    e.notes.last().map_or("", String::as_str)
}

/// Every field of every unit and join, what the import said, and the whole ranking's files.
fn same_engine(a: &Engine, b: &Engine) {
    same_joins(a, b);
    let q = RankQuery {
        include_unsuitable: Some(true),
        ..RankQuery::default()
    };
    for format in [ExportFormat::Csv, ExportFormat::GeoJson] {
        let files: Vec<Vec<u8>> = [a, b]
            .iter()
            .map(|e| {
                let r = e.rank(&q, None).unwrap();
                let meta = e.meta(&r, q.filter_pairs());
                e.render(format, &r, &meta).unwrap()
            })
            .collect();
        assert!(files[0].len() > 100_000, "{format:?}");
        assert!(files[0] == files[1], "{format:?} differs");
    }
}

/// Every field of every unit and join, and what the import said.
fn same_joins(a: &Engine, b: &Engine) {
    assert_eq!(a.units.len(), b.units.len());
    assert_eq!(format!("{:?}", a.units), format!("{:?}", b.units));
    assert_eq!(format!("{:?}", a.contexts), format!("{:?}", b.contexts));
    let shared = |e: &Engine| {
        let mut p: Vec<usize> = e
            .contexts
            .iter()
            .map(|c| Arc::as_ptr(&c.catchment) as *const u8 as usize)
            .collect();
        p.sort_unstable();
        p.dedup();
        p.len()
    };
    assert_eq!(shared(a), shared(b), "catchments shared per LSOA alike");
    assert!(shared(a) < a.units.len() / 2, "{}", shared(a));
    assert_eq!(format!("{:?}", a.skipped), format!("{:?}", b.skipped));
    assert_eq!(a.occupied, b.occupied);
    assert_eq!(a.units_files, b.units_files);
}

/// Units of one file with the same description hold one copy of it, and of the file's name.
fn shares_texts(e: &Engine) {
    let mut first: std::collections::HashMap<(&str, &str), &Arc<str>> = Default::default();
    let mut shared = 0;
    for u in &e.units {
        let Some(d) = &u.description else { continue };
        match first.get(&(&*u.source, &**d)) {
            Some(f) => {
                assert!(Arc::ptr_eq(f, d), "{} of {}: {d}", u.id, u.source);
                shared += 1;
            }
            None => {
                first.insert((&*u.source, &**d), d);
            }
        }
    }
    assert!(shared > 1_000, "{shared} descriptions shared");
    let same_file = e.units.windows(2).filter(|w| w[0].source == w[1].source);
    assert!(same_file.clone().count() > 1_000);
    assert!(same_file
        .into_iter()
        .all(|w| Arc::ptr_eq(&w[0].source, &w[1].source)));
}

#[test]
fn joined_units_kept_are_the_units_joined_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cfg = kept_config(dir.path(), &cache);
    let fresh = open(&cfg);
    assert!(
        last_note(&fresh).starts_with("kept joined in"),
        "{:?}",
        fresh.notes
    );
    assert_eq!(kept_files(&cache).len(), 1);
    // What the test reads exercises every kind of field.
    assert_eq!(fresh.skipped.len(), 1, "{:?}", fresh.skipped);
    assert!(fresh.occupied > 0);
    assert!(fresh.units.iter().any(|u| u.unsuitable.is_some()));
    assert!(fresh.units.iter().any(|u| u.postcode.is_none()));
    assert!(fresh.units.iter().any(|u| u.site_units > 1));
    assert!(fresh.contexts.iter().any(|c| c.nearest_pharmacy.is_some()));
    assert!(fresh.contexts.iter().any(|c| c.stops_near.is_none()));

    let again = open(&cfg);
    assert!(
        last_note(&again).starts_with("read joined from"),
        "{:?}",
        again.notes
    );
    assert_eq!(
        fresh.notes[..fresh.notes.len() - 1],
        again.notes[..again.notes.len() - 1]
    );
    same_engine(&fresh, &again);
    // Imported or read back, a file's units share one copy of their file's name and of each
    // description they repeat.
    for e in [&fresh, &again] {
        shares_texts(e);
    }

    // Nothing kept or read with --no-cache.
    let none = Config {
        no_cache: true,
        cache_dir: Some(dir.path().join("other")),
        ..cfg.clone()
    };
    let e = open(&none);
    assert!(!dir.path().join("other").exists());
    assert!(!last_note(&e).contains("joined"), "{:?}", e.notes);
}

#[test]
fn a_change_to_what_units_were_joined_from_joins_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cfg = kept_config(dir.path(), &cache);
    open(&cfg);
    let read = |cfg: &Config| {
        let e = open(cfg);
        last_note(&e).starts_with("read joined from")
    };
    assert!(read(&cfg));
    let changes: Vec<(&str, Config)> = vec![
        (
            "reach",
            Config {
                reach_m: 600.0,
                ..cfg.clone()
            },
        ),
        (
            "imd",
            Config {
                imd: sitefinder::reference::edition::Imd::Iod2019,
                ..cfg.clone()
            },
        ),
        (
            "catchments",
            Config {
                registrations: Some(root().join(
                    "data/registrations/staffordshire_stoke_patients_by_lsoa21_2025-10.csv.gz",
                )),
                ..cfg.clone()
            },
        ),
        (
            "file size limit",
            Config {
                max_units_file_mb: Some(50),
                ..cfg.clone()
            },
        ),
    ];
    for (what, changed) in changes {
        let e = open(&changed);
        assert!(
            last_note(&e).starts_with("kept joined in"),
            "{what}: {:?}",
            e.notes
        );
        // Its own settings are now kept, beside the first ones.
        assert!(read(&changed), "{what}");
        assert!(read(&cfg), "{what}: the first settings are still kept");
    }
    // A units file whose bytes change (its name, size and place the same).
    let bad = dir.path().join("with_a_bad_row.csv");
    let text = std::fs::read_to_string(&bad).unwrap();
    std::fs::write(&bad, text.replace("53.6155", "53.6156")).unwrap();
    let e = open(&cfg);
    assert!(last_note(&e).starts_with("kept joined in"), "{:?}", e.notes);
    let moved = e.units.iter().find(|u| u.id == "b1").unwrap().pos;
    let again = open(&cfg);
    assert!(last_note(&again).starts_with("read joined from"));
    assert_eq!(
        again.units.iter().find(|u| u.id == "b1").unwrap().pos,
        moved
    );
    // The same file by another name (a link) is another `source_file`: joined again.
    let link = dir.path().join("another_name.csv");
    std::os::unix::fs::symlink(&bad, &link).unwrap();
    let mut linked = cfg.clone();
    *linked.units.last_mut().unwrap() = link;
    let e = open(&linked);
    assert!(last_note(&e).starts_with("kept joined in"), "{:?}", e.notes);
    let b1 = e.units.iter().find(|u| u.id == "b1").unwrap();
    assert_eq!(&*b1.source, "another_name.csv");
    // Other units files are kept beside (at most KEEP in all).
    for n in 0..sitefinder::engine::cache::KEEP + 2 {
        let one = dir.path().join(format!("one_{n}.csv"));
        std::fs::write(&one, "id,lat,lon\nx,53.6155,-2.1560\n").unwrap();
        let c = Config {
            units: vec![one],
            ..cfg.clone()
        };
        open(&c);
        assert!(kept_files(&cache).len() <= sitefinder::engine::cache::KEEP);
    }
    assert_eq!(kept_files(&cache).len(), sitefinder::engine::cache::KEEP);
}

#[test]
fn a_damaged_kept_file_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cfg = kept_config(dir.path(), &cache);
    let fresh = open(&cfg);
    let kept = kept_files(&cache).pop().unwrap();
    let good = std::fs::read(&kept).unwrap();
    let mut damages: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("header only", good[..64].to_vec()),
        ("cut short", good[..good.len() / 2].to_vec()),
        ("a longer table", [&good[..], &[0u8; 16][..]].concat()),
    ];
    // Lengths past the end, or so large that adding to them overflows.
    for (field, value) in [(32, u64::MAX - 8), (48, u64::MAX), (32, good.len() as u64)] {
        let mut b = good.clone();
        b[field..field + 8].copy_from_slice(&value.to_le_bytes());
        damages.push(("a length", b));
    }
    for at in [70, good.len() / 3, good.len() / 2, good.len() - 3] {
        let mut b = good.clone();
        b[at] ^= 0x20;
        damages.push(("a byte changed", b));
    }
    for (what, bytes) in damages {
        std::fs::write(&kept, &bytes).unwrap();
        let e = open(&cfg);
        assert!(
            last_note(&e).starts_with("kept joined in"),
            "{what}: {:?}",
            e.notes
        );
        same_engine(&fresh, &e);
        // ...and made again whole.
        assert_eq!(std::fs::read(&kept).unwrap().len(), good.len(), "{what}");
    }
}

/// Files in the cache folder whose names start with `prefix`.
fn cache_files(cache: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(cache)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix));
    v.sort();
    v
}

/// The records and id order of two preparations, bit for bit.
fn same_prepared(
    a: &sitefinder::analysis::prepared::Prepared,
    b: &sitefinder::analysis::prepared::Prepared,
) {
    let bits = |p: &sitefinder::analysis::prepared::Prepared| -> Vec<u8> {
        p.kept().records.iter().flat_map(|r| r.to_bytes()).collect()
    };
    assert_eq!(bits(a), bits(b));
    assert_eq!(a.by_id(), b.by_id());
}

/// What a server prepares over kept units (their settled values and id order) is kept beside
/// them, read back by the next server the same, bit for bit, as made again; damaged, it is
/// made again and kept whole; it goes when its joined units go.
#[test]
fn prepared_values_kept_are_the_values_made_again() {
    use sitefinder::analysis::prepared::Prepared;
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cfg = kept_config(dir.path(), &cache);
    let first = open(&cfg);
    assert!(
        cache_files(&cache, "prepared-").is_empty(),
        "a CLI run keeps no values"
    );
    let made = first.prepare();
    let kept = cache_files(&cache, "prepared-");
    assert_eq!(kept.len(), 1, "{kept:?}");
    let joined = kept_files(&cache);
    assert_eq!(
        kept[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .strip_prefix("prepared-"),
        joined[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .strip_prefix("joined-"),
    );
    let good = std::fs::read(&kept[0]).unwrap();
    let inode = std::fs::metadata(&kept[0]).unwrap().ino();

    // The id order is every unit, by id.
    let units = &first.units;
    let order = made.by_id();
    assert_eq!(order.len(), units.len());
    assert!(order
        .windows(2)
        .all(|w| units[w[0] as usize].id < units[w[1] as usize].id));

    // Read back: the same as made, and as made again over the units read.
    let again = open(&cfg);
    assert!(last_note(&again).starts_with("read joined from"));
    let read = again.prepare();
    assert_eq!(
        std::fs::metadata(&kept[0]).unwrap().ino(),
        inode,
        "read, not written again"
    );
    same_prepared(made, read);
    let fresh = Prepared::new(
        &again.atlas,
        &again.units,
        &again.contexts,
        &again.settings(None, None),
    );
    same_prepared(&fresh, read);
    // ...and ranks as without it.
    let q = RankQuery {
        bbox: Some("-2.30,53.45,-2.10,53.65".into()),
        ..RankQuery::default()
    };
    let with = again.rank(&q, None).unwrap();
    let without = open(&Config {
        no_cache: true,
        ..cfg.clone()
    })
    .rank(&q, None)
    .unwrap();
    assert!(with.rows.len() > 100, "{}", with.rows.len());
    same(&with, &without, "bbox with kept values");

    // Damaged: made again, and kept whole again.
    let mut damages: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("header only", good[..48].to_vec()),
        ("cut short", good[..good.len() - 4].to_vec()),
        ("longer", [&good[..], &[0u8; 8][..]].concat()),
    ];
    // The version, the criteria per unit, the count of units, the hash.
    for (field, bytes) in [
        (8, 99u32.to_le_bytes().to_vec()),
        (12, 4u32.to_le_bytes().to_vec()),
        (32, 3u64.to_le_bytes().to_vec()),
        (32, u64::MAX.to_le_bytes().to_vec()),
        (40, 1u64.to_le_bytes().to_vec()),
    ] {
        let mut b = good.clone();
        b[field..field + bytes.len()].copy_from_slice(&bytes);
        damages.push(("a field", b));
    }
    for at in [60, good.len() / 2, good.len() - 3] {
        let mut b = good.clone();
        b[at] ^= 0x08;
        damages.push(("a byte changed", b));
    }
    for (what, bytes) in damages {
        std::fs::write(&kept[0], &bytes).unwrap();
        let e = open(&cfg);
        same_prepared(&fresh, e.prepare());
        assert!(
            std::fs::read(&kept[0]).unwrap() == good,
            "{what}: kept whole again"
        );
    }

    // Another set of units files pushes the first out of the cache: their values go too.
    for n in 0..sitefinder::engine::cache::KEEP {
        let one = dir.path().join(format!("one_{n}.csv"));
        std::fs::write(&one, "id,lat,lon\nx,53.6155,-2.1560\n").unwrap();
        open(&Config {
            units: vec![one],
            ..cfg.clone()
        })
        .prepare();
    }
    assert!(!joined[0].exists());
    assert!(!kept[0].exists());
    assert_eq!(
        cache_files(&cache, "prepared-").len(),
        sitefinder::engine::cache::KEEP
    );
}

/// An id order kept that is not one of every unit is not used, nor records in another order
/// than the units' grid; a record is its bytes read back.
#[test]
fn a_kept_order_must_be_every_unit_once() {
    use sitefinder::analysis::prepared::{Prepared, Record};
    let dir = tempfile::tempdir().unwrap();
    let cfg = kept_config(dir.path(), &dir.path().join("cache"));
    let e = open(&cfg);
    let s = e.settings(None, None);
    let p = e.prepare();
    let records: Vec<Record> = p.kept().records.to_vec();
    // NaN stands for no data: compared as text and bytes.
    for r in &records {
        let back = Record::from_bytes(&r.to_bytes()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{r:?}"));
        assert_eq!(back.to_bytes(), r.to_bytes());
    }
    // Every kind of record is there: with and without dates, floors and unsuitability.
    let kinds: std::collections::BTreeSet<u8> = records
        .iter()
        .map(|r| r.to_bytes()[sitefinder::analysis::prepared::RECORD_BYTES - 5])
        .collect();
    assert!(kinds.len() >= 4, "{kinds:?}");
    // Flags no record has: not a record.
    for flags in [0x80, 0x20, 0x08] {
        let mut bad = records[0].to_bytes();
        bad[sitefinder::analysis::prepared::RECORD_BYTES - 5] = flags;
        assert!(Record::from_bytes(&bad).is_none(), "{flags:#x}");
    }
    let from = |records: Vec<Record>, order: Vec<u32>| {
        Prepared::from_kept(&e.contexts, &s, records, order).is_some()
    };
    let order = p.by_id().to_vec();
    assert!(from(records.clone(), order.clone()));
    let mut twice = order.clone();
    twice[1] = twice[0];
    assert!(!from(records.clone(), twice));
    let mut beyond = order.clone();
    beyond[0] = e.units.len() as u32;
    assert!(!from(records.clone(), beyond));
    assert!(!from(records.clone(), order[1..].to_vec()));
    assert!(!from(records[1..].to_vec(), order.clone()));
    let mut swapped = records.clone();
    swapped.swap(0, 1);
    assert!(!from(swapped, order));
}

/// Joined units read while the data loads are checked against it after: an index beyond any
/// of its layers is damage, and they are joined again.
#[test]
fn joined_units_read_early_are_checked_against_the_data() {
    use sitefinder::engine::cache::{Bounds, Joined};
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // The 2019 edition: opened whole (the data loaded while the kept units are read).
    let cfg = Config {
        imd: sitefinder::reference::edition::Imd::Iod2019,
        ..kept_config(dir.path(), &cache)
    };
    let first = open(&cfg);
    assert!(
        last_note(&first).starts_with("kept joined in"),
        "{:?}",
        first.notes
    );
    let again = open(&cfg);
    assert!(
        last_note(&again).starts_with("read joined from"),
        "{:?}",
        again.notes
    );
    same_joins(&first, &again);

    let joined = Joined {
        units: again.units.clone(),
        contexts: again.contexts.clone(),
        skipped: vec![],
        occupied: 0,
        notes: vec![],
    };
    let b = Bounds::of(&again.atlas);
    assert!(joined.within(b));
    assert!(joined.within(Bounds::ANY));
    let most = |f: &dyn Fn(&sitefinder::analysis::join::Context) -> Option<usize>| {
        again.contexts.iter().filter_map(f).max().unwrap()
    };
    let lsoas = most(&|c| Some(c.lsoa));
    let practices = most(&|c| c.nearest_practices.iter().map(|p| p.0).max());
    let vacc = most(&|c| c.nearest_vaccination_site.map(|v| v.0 as usize));
    for (what, fewer) in [
        ("lsoas", Bounds { lsoas, ..b }),
        ("practices", Bounds { practices, ..b }),
        (
            "vaccination sites",
            Bounds {
                vaccination_sites: vacc,
                ..b
            },
        ),
    ] {
        assert!(!joined.within(fewer), "{what}");
    }
}

/// A score read from the prepared values without the unit is the score of the unit's values
/// (evaluated, or read and evaluated), bit for bit: for every unit, with weights that leave
/// criteria out, with each unit's list date and a date given, and none without a plan.
#[test]
fn a_score_read_without_the_unit_is_the_score_of_its_values() {
    use sitefinder::analysis::criteria::evaluate;
    use sitefinder::analysis::rank::{score, Weighting, Weights};
    let e = engine();
    let p = e.prepare();
    let dates = [None, sitefinder::base::date::Date::parse("2023-02-01")];
    let weights = [
        Weights::default(),
        Weights::parse_list("suitability:9,reach:0,gap:2").unwrap(),
        Weights::parse_list("deprivation:0,reach:0,demand:0,gap:0,access:0,suitability:1").unwrap(),
    ];
    let mut read = 0;
    for as_of in dates {
        let mut s = e.settings(as_of, None);
        s.words = false;
        assert!(p.scores(&s));
        assert!(!p.scores(&s.clone().with_plan(Some(plan()))));
        for w in &weights {
            for i in 0..e.units.len() {
                let (u, c) = (&e.units[i], &e.contexts[i]);
                let want = score(&evaluate(&e.atlas, u, c, &s), w).0;
                let from_values = score(&p.values(i, &e.atlas, u, c, &s), w).0;
                let got = Weighting::new(w).score(&p.norms(i, &s));
                assert_eq!(got.to_bits(), want.to_bits(), "unit {i}, {as_of:?}, {w:?}");
                assert_eq!(from_values.to_bits(), want.to_bits(), "unit {i}");
                read += 1;
            }
        }
    }
    assert!(read > 6 * 1_500, "{read}");
    // The box's scores are these, for the units in it.
    let s = e.settings(None, None);
    let b = [-2.25, 53.58, -2.10, 53.66];
    let w = Weighting::new(&Weights::default());
    let got = p.scores_in_box(b, &s, false, |n| w.score(n));
    let mut inside = p.in_bbox(b);
    assert_eq!(got.inside, inside.len());
    assert!(!got.unsuitable.is_empty() && got.scored.len() > 50);
    let mut scored: Vec<usize> = got.scored.iter().map(|&(_, i)| i).collect();
    scored.extend(&got.unsuitable);
    scored.sort_unstable();
    inside.sort_unstable();
    assert_eq!(scored, inside);
    for &(x, i) in &got.scored {
        assert_eq!(x.to_bits(), w.score(&p.norms(i, &s)).to_bits());
        assert!(e.units[i].unsuitable.is_none());
    }
    assert!(got
        .unsuitable
        .iter()
        .all(|&i| e.units[i].unsuitable.is_some()));
}
