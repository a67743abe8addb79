//! The SYNTHETIC national units (`sitefinder synthetic-units`): the same seed gives the same
//! file, every unit is labelled SYNTHETIC, lies in England inside the LSOA its address names,
//! and imports as any units file does; the descriptions follow their stated shares.

mod common;

use common::*;

#[test]
fn synthetic_units_are_deterministic_labelled_and_inside_their_lsoas() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.csv"),
        dir.path().join("b.csv"),
        dir.path().join("c.csv"),
    );
    for (f, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let o = sitefinder(&[
            "synthetic-units",
            "--n",
            "5000",
            "--seed",
            seed,
            "--out",
            p(f),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (ta, tb, tc) = (
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&b).unwrap(),
        std::fs::read_to_string(&c).unwrap(),
    );
    assert_eq!(ta, tb, "the same seed gives the same file");
    assert_ne!(ta, tc);
    assert_eq!(ta.lines().count(), 5_001);

    let imported = import(&a);
    assert_eq!(imported.units.len(), 5_000);
    let atlas = atlas();
    let mut stalls = 0;
    let mut lads = std::collections::BTreeSet::new();
    for u in &imported.units {
        assert!(u.id.starts_with("SYNTHETIC-") && u.name.starts_with("SYNTHETIC"));
        // The address names the LSOA it was placed in: the unit is inside that polygon
        // (to the 0.1 m its 6 decimals of a degree keep).
        let named = u.address.trim_start_matches("SYNTHETIC, ");
        let at = atlas.lsoa_at(u.pos).expect("inside an LSOA");
        if atlas.lsoas[at].name != named {
            let l = (0..atlas.lsoas.len())
                .find(|&i| atlas.lsoas[i].name == named)
                .unwrap();
            let d = geo::Distance::distance(
                &geo::Euclidean,
                &atlas.lsoa_shapes[l],
                &geo::Point::new(u.pos[0], u.pos[1]),
            );
            assert!(d < 0.2, "{} is {d} m outside {named}", u.id);
        }
        lads.insert(atlas.lsoas[at].lad_code.clone());
        stalls += usize::from(u.description.as_deref() == Some("Market stall"));
    }
    // Spread over England: most of its 296 local authorities in 5,000 units.
    assert!(lads.len() > 250, "{} local authorities", lads.len());
    // 3% market stalls: 150 expected, well within 100..200.
    assert!((100..200).contains(&stalls), "{stalls} market stalls");
}

/// A national file leaves out thousands of stalls and kiosks: the command line names the first
/// 20, then counts the rest and says how to see them, instead of a line per unit.
#[test]
fn rank_names_the_first_units_left_out_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (units, out) = (dir.path().join("u.csv"), dir.path().join("out.csv"));
    let o = sitefinder(&["synthetic-units", "--n", "2000", "--out", p(&units)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = sitefinder(&["rank", "--units", p(&units), "--out", p(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let named = err.lines().filter(|l| l.starts_with("left out ")).count();
    let summary = err.lines().find(|l| l.starts_with("sitefinder: ranked"));
    let left_out: usize = summary
        .and_then(|s| s.split(" left out as unable to hold a clinic").next())
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the summary counts the units left out");
    assert!(
        left_out > 40,
        "{left_out} left out of 2,000 SYNTHETIC units"
    );
    assert_eq!(named, 20, "{err}");
    assert!(
        err.contains(&format!(
            "... and {} more units left out as unable to hold a clinic (--include-unsuitable ranks them",
            left_out - 20
        )),
        "{err}"
    );
}

/// A large CSV is read and placed a batch of rows at a time: ids are still compared across
/// batches, and a row in a later batch is named by its own line.
#[test]
fn ids_are_compared_across_batches_and_lines_named_in_any_batch() {
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("u.csv");
    let o = sitefinder(&["synthetic-units", "--n", "70000", "--out", p(&units)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&units).unwrap();
    let first_row = text.lines().nth(1).unwrap().to_string();
    std::fs::write(&units, format!("{text}{first_row}\n")).unwrap();
    let err = import_err(&units);
    assert!(
        err.contains("line 70002")
            && err.contains("duplicate id `SYNTHETIC-0000001` (first used on line 2)"),
        "{err}"
    );
}

/// A national ranking leaves out thousands of stalls and kiosks: its metadata counts them all
/// but names only the first hundred (a file's metadata cell, or a `/rank` answer, would
/// otherwise carry every one).
#[test]
fn metadata_names_the_first_hundred_units_left_out_and_counts_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("u.csv");
    let o = sitefinder(&["synthetic-units", "--n", "6000", "--out", p(&units)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut cfg = sitefinder::engine::Config::new(&data_dir());
    cfg.units = vec![units];
    // A file of about 1 MB: not kept in the user's cache folder.
    cfg.no_cache = true;
    let e = sitefinder::engine::Engine::open(&cfg).unwrap();
    let r = e.rank(&Default::default(), None).unwrap();
    let n = r.unsuitable.len();
    assert!(n > 200, "{n} left out of 6,000 SYNTHETIC units");
    let listed = e.unsuitable_json(&r);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 100);
    assert_eq!(listed[0]["id"], e.units[r.unsuitable[0].0].id.as_str());
    let meta = e.meta(&r, vec![]);
    let text = meta.members["left_out_unsuitable"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("{n} units that cannot hold a clinic")),
        "{text}"
    );
    assert!(text.ends_with(&format!("; and {} more", n - 100)), "{text}");
    assert_eq!(text.matches(" (").count(), 100 + 1, "{text}");
    // The CSV is made a run of rows at a time, the next while one is written: over several
    // runs its rows are still the ranking's, in order, each once, with their words.
    let out = dir.path().join("out.csv");
    e.write(&out, sitefinder::export::ExportFormat::Csv, &r, &meta)
        .unwrap();
    let mut rdr = csv::Reader::from_path(&out).unwrap();
    let h = rdr.headers().unwrap().clone();
    let col = |name: &str| {
        h.iter()
            .position(|c| c.trim_start_matches('\u{feff}') == name)
            .unwrap()
    };
    let (rank, id, why) = (col("rank"), col("id"), col("why"));
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert!(
        r.rows.len() > 4_096,
        "{} rows: more than one run",
        r.rows.len()
    );
    assert_eq!(rows.len(), r.rows.len());
    for (k, (row, ranked)) in rows.iter().zip(&r.rows).enumerate() {
        assert_eq!(row[rank].parse::<usize>().unwrap(), k + 1);
        assert_eq!(row[id], e.units[ranked.unit].id, "row {k}");
        assert!(
            row[why].contains("deprivation: LSOA "),
            "row {k}: {}",
            &row[why]
        );
    }
}
