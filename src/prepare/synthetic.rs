//! SYNTHETIC vacant units for England, for measuring sitefinder at national scale: no open
//! data lists every vacant shop in England, so the benchmarks make them. Deterministic (a
//! seed), never committed (written where asked, a temporary folder in the benchmarks), and
//! labelled SYNTHETIC in every id, name, address and council.
//!
//! Where: each unit is in an LSOA 2021 chosen uniformly at random (LSOAs hold about 1,500
//! people each, so units are denser where LSOAs are small: in towns and cities, as shops are),
//! at a point uniform inside its polygon (rejection sampling in the polygon's box), written as
//! WGS84 lat/lon to 6 decimals (about 0.1 m), as councils' lists are.
//!
//! What (the distributions, chosen to look like the nine councils' real lists in `data/units/`):
//! - rateable value: log-normal, median £9,000, σ 0.9 of the log, in £50 steps;
//! - floor area: for 70% of units, log-normal, median 60 m², σ 0.7; the rest blank (the score
//!   then estimates it from the rateable value, as for real lists without areas);
//! - description: 86% "Shop and premises", 5% "Cafe and premises", 4% "Office and premises",
//!   3% "Market stall", 2% "Kiosk" (these two are left out as unable to hold a clinic);
//! - vacant since: uniform from 2019-01-01 to 2024-06-30; list date 2024-07-01.
//!
//! ```
//! let text = sitefinder::prepare::synthetic::sample_rows(3, 7);
//! assert!(text.starts_with("id,name,address,lat,lon,"));
//! assert_eq!(text.lines().count(), 4);
//! assert!(text.lines().skip(1).all(|l| l.starts_with("SYNTHETIC-")));
//! ```

use std::io::Write;
use std::path::Path;

use geo::{BoundingRect, Contains, Point};

use crate::base::date::Date;
use crate::reference::atlas::Atlas;

/// The header of a synthetic units file.
pub const HEADER: &str =
    "id,name,address,lat,lon,rateable_value,floor_area_m2,description,vacant_since,list_date,council";

/// A small, fast, seeded generator (xorshift64*), so a run is the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-300);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

const DESCRIPTIONS: [(&str, f64); 5] = [
    ("Shop and premises", 0.86),
    ("Cafe and premises", 0.05),
    ("Office and premises", 0.04),
    ("Market stall", 0.03),
    ("Kiosk", 0.02),
];

/// One synthetic unit's row (without its position).
struct Row {
    rateable_value: f64,
    floor_area_m2: Option<f64>,
    description: &'static str,
    vacant_since: Date,
}

fn attributes(rng: &mut Rng) -> Row {
    let rv = (9_000.0 * (0.9 * rng.normal()).exp() / 50.0)
        .round()
        .max(1.0)
        * 50.0;
    let area = (rng.unit() < 0.7).then(|| (60.0 * (0.7 * rng.normal()).exp()).round().max(5.0));
    let mut pick = rng.unit();
    let mut description = DESCRIPTIONS[0].0;
    for (d, p) in DESCRIPTIONS {
        if pick < p {
            description = d;
            break;
        }
        pick -= p;
    }
    let start = Date::from_ymd(2019, 1, 1).expect("a date");
    let days = Date::from_ymd(2024, 6, 30)
        .expect("a date")
        .days_since(start);
    Row {
        rateable_value: rv,
        floor_area_m2: area,
        description,
        vacant_since: start.add_days(rng.below(days as usize + 1) as i32),
    }
}

/// A uniform point inside LSOA `i`'s polygon (its centroid if 200 tries miss).
fn point_in(atlas: &Atlas, i: usize, rng: &mut Rng) -> [f64; 2] {
    let shape = &atlas.lsoa_shapes[i];
    if let Some(r) = shape.bounding_rect() {
        for _ in 0..200 {
            let p = Point::new(
                r.min().x + rng.unit() * r.width(),
                r.min().y + rng.unit() * r.height(),
            );
            if shape.contains(&p) {
                return [p.x(), p.y()];
            }
        }
    }
    atlas.lsoas[i].centroid
}

/// Writes `n` synthetic units to `w` as CSV (header first), from `seed`.
pub fn write(atlas: &Atlas, n: usize, seed: u64, w: &mut dyn Write) -> std::io::Result<()> {
    let mut rng = Rng::new(seed);
    writeln!(w, "{HEADER}")?;
    let list_date = "2024-07-01";
    for k in 1..=n {
        let i = rng.below(atlas.lsoas.len());
        let [e, nn] = point_in(atlas, i, &mut rng);
        let (lon, lat) = crate::base::crs::bng_to_wgs84(e, nn)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let r = attributes(&mut rng);
        let l = &atlas.lsoas[i];
        writeln!(
            w,
            "SYNTHETIC-{k:07},SYNTHETIC unit {k},\"SYNTHETIC, {}\",{lat:.6},{lon:.6},{},{},{},{},{list_date},SYNTHETIC ({})",
            l.name,
            r.rateable_value,
            r.floor_area_m2.map_or(String::new(), |a| a.to_string()),
            r.description,
            r.vacant_since,
            l.lad_name.replace(',', " "),
        )?;
    }
    Ok(())
}

/// Writes `n` synthetic units to the file `out` (atomically), from `seed`.
pub fn write_file(atlas: &Atlas, n: usize, seed: u64, out: &Path) -> std::io::Result<()> {
    crate::base::textio::write_atomic(out, |w| write(atlas, n, seed, w))
}

/// `n` rows of the same shape without an atlas (positions at Rochdale town hall): what the
/// doc example and the tests of the header read.
pub fn sample_rows(n: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = format!("{HEADER}\n");
    for k in 1..=n {
        let r = attributes(&mut rng);
        out.push_str(&format!(
            "SYNTHETIC-{k:07},SYNTHETIC unit {k},SYNTHETIC,53.6158,-2.1553,{},{},{},{},2024-07-01,SYNTHETIC\n",
            r.rateable_value,
            r.floor_area_m2.map_or(String::new(), |a| a.to_string()),
            r.description,
            r.vacant_since
        ));
    }
    out
}
