//! The places table, `places.csv.gz`: every English local authority (LAD 2024) and ward (2024)
//! built from its LSOAs 2021, and every Primary Care Network built from its practices.
//!
//! It is made from files of the data directory itself (`lsoa21.csv.gz` with each LSOA's ward
//! and local authority, population and centroid; `lsoa21_boundaries.geojson.gz`;
//! `gp_practices.csv.gz`), after `prepare-data` has written them, so the same data always gives
//! the same bytes and a test can rebuild it from the shipped data.
//!
//! - Label point (where the map writes the name): of the member LSOAs' centroids (the mean of
//!   their postcodes, where people live), the one nearest the population-weighted mean of them
//!   all, ties to the lower code; if that centroid is not inside its own LSOA polygon, the
//!   polygon's interior point. So it is always inside the area, and in a populated part of it.
//!   For a PCN: the member practice nearest the mean of its practices.
//! - Bounding box: WGS84, of the member LSOA polygons' vertices (a PCN: of its practices), rounded
//!   outwards to 6 decimals so it still contains them.
//! - A PCN's local authority: the one holding most of its practices (ties to the lower code).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use geo::{InteriorPoint, Intersects, MultiPolygon, Point};

use crate::base::crs::bng_to_wgs84;
use crate::base::spatial::PolygonIndex;
use crate::base::textio::{read_text, write_gz_atomic};
use crate::reference::atlas::{load_boundaries, load_practices};
use crate::reference::places::COLUMNS;

/// What was built, for the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub local_authorities: usize,
    pub wards: usize,
    pub pcns: usize,
    /// Areas whose chosen centroid lay outside its own LSOA (labelled at the interior point).
    pub interior_labels: usize,
    /// Practices without a PCN code (in no PCN row).
    pub practices_without_pcn: usize,
    /// PCNs none of whose practices is inside an LSOA polygon (no local authority given).
    pub pcns_without_lad: usize,
}

/// One LSOA as the places are built from it.
struct Member {
    code: String,
    lad: (String, String),
    ward: (String, String),
    population: f64,
    centroid: [f64; 2],
}

/// Reads the LSOA 2021 table's columns the places need.
fn members(data: &Path) -> Result<Vec<Member>> {
    let path = data.join("lsoa21.csv.gz");
    let (text, _) = read_text(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| anyhow!("{}: no column `{name}`", path.display()))
    };
    let [code, lad, lad_name, ward, ward_name, pop, e, n] = [
        "lsoa_code",
        "lad_code",
        "lad_name",
        "ward_code",
        "ward_name",
        "population",
        "centroid_e",
        "centroid_n",
    ]
    .map(col);
    let (code, lad, lad_name, ward, ward_name, pop, e, n) =
        (code?, lad?, lad_name?, ward?, ward_name?, pop?, e?, n?);
    let mut out = vec![];
    for rec in rdr.records() {
        let rec = rec?;
        let s = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
        let f = |i: usize| -> Result<f64> {
            s(i).parse::<f64>()
                .with_context(|| format!("{}: {} `{}`", path.display(), &headers[i], s(i)))
        };
        if s(ward).is_empty() {
            bail!("{}: LSOA {} has no ward", path.display(), s(code));
        }
        out.push(Member {
            code: s(code),
            lad: (s(lad), s(lad_name)),
            ward: (s(ward), s(ward_name)),
            population: f(pop)?,
            centroid: [f(e)?, f(n)?],
        });
    }
    Ok(out)
}

/// A WGS84 box `[min_lon, min_lat, max_lon, max_lat]` growing over points.
#[derive(Debug, Clone, Copy)]
struct Bbox([f64; 4]);

impl Bbox {
    fn empty() -> Bbox {
        Bbox([
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ])
    }
    fn add(&mut self, lon: f64, lat: f64) {
        let b = &mut self.0;
        *b = [b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)];
    }
    fn union(&mut self, o: &Bbox) {
        self.add(o.0[0], o.0[1]);
        self.add(o.0[2], o.0[3]);
    }
    /// Rounded outwards to 6 decimals (about 0.1 m), so it still contains every point.
    fn cells(&self) -> [String; 4] {
        let down = |v: f64| format!("{:.6}", (v * 1e6).floor() / 1e6);
        let up = |v: f64| format!("{:.6}", (v * 1e6).ceil() / 1e6);
        [
            down(self.0[0]),
            down(self.0[1]),
            up(self.0[2]),
            up(self.0[3]),
        ]
    }
}

fn wgs84_bbox(shape: &MultiPolygon<f64>) -> Result<Bbox> {
    let mut b = Bbox::empty();
    for p in &shape.0 {
        for c in &p.exterior().0 {
            let (lon, lat) = bng_to_wgs84(c.x, c.y)?;
            b.add(lon, lat);
        }
    }
    Ok(b)
}

/// The label point of an area made of `ms` (indexes into `all`), see the module's notes; and
/// whether it had to be the interior point.
fn label(
    all: &[Member],
    ms: &[usize],
    shapes: &HashMap<&str, &MultiPolygon<f64>>,
) -> Result<([f64; 2], bool)> {
    let total: f64 = ms.iter().map(|&i| all[i].population).sum();
    let weight = |i: usize| if total > 0.0 { all[i].population } else { 1.0 };
    let wsum: f64 = ms.iter().map(|&i| weight(i)).sum();
    let mean = [
        ms.iter()
            .map(|&i| weight(i) * all[i].centroid[0])
            .sum::<f64>()
            / wsum,
        ms.iter()
            .map(|&i| weight(i) * all[i].centroid[1])
            .sum::<f64>()
            / wsum,
    ];
    let d2 = |i: usize| {
        let c = all[i].centroid;
        (c[0] - mean[0]).powi(2) + (c[1] - mean[1]).powi(2)
    };
    let best = *ms
        .iter()
        .min_by(|&&a, &&b| d2(a).total_cmp(&d2(b)).then(all[a].code.cmp(&all[b].code)))
        .ok_or_else(|| anyhow!("an area without LSOAs"))?;
    let m = &all[best];
    let shape = shapes
        .get(m.code.as_str())
        .ok_or_else(|| anyhow!("no polygon for {}", m.code))?;
    if shape.intersects(&Point::new(m.centroid[0], m.centroid[1])) {
        return Ok((m.centroid, false));
    }
    let p = shape
        .interior_point()
        .ok_or_else(|| anyhow!("{}: empty polygon", m.code))?;
    Ok(([p.x().round(), p.y().round()], true))
}

/// Builds the table from the files in `data`: the CSV text and what it holds.
pub fn build(data: &Path) -> Result<(String, Summary)> {
    let all = members(data)?;
    let boundaries = load_boundaries(&data.join("lsoa21_boundaries.geojson.gz"))?;
    let shapes: HashMap<&str, &MultiPolygon<f64>> =
        boundaries.iter().map(|(c, _, s)| (c.as_str(), s)).collect();
    let mut bbox: HashMap<&str, Bbox> = HashMap::new();
    for (code, _, shape) in &boundaries {
        bbox.insert(code.as_str(), wgs84_bbox(shape)?);
    }
    let mut summary = Summary::default();
    let mut out = String::new();
    out.push_str(&COLUMNS.join(","));
    out.push('\n');
    let mut row = |cells: &[&str]| {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(vec![]);
        w.write_record(cells).expect("in memory");
        out.push_str(&String::from_utf8(w.into_inner().expect("in memory")).expect("UTF-8"));
    };

    // Local authorities, then wards: each by code, from their member LSOAs.
    let mut lads: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut wards: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, m) in all.iter().enumerate() {
        lads.entry(m.lad.0.as_str()).or_default().push(i);
        wards.entry(m.ward.0.as_str()).or_default().push(i);
    }
    for (kind, groups) in [("local_authority", &lads), ("ward", &wards)] {
        for (code, ms) in groups {
            let first = &all[ms[0]];
            let (name, parent) = if kind == "ward" {
                if let Some(other) = ms.iter().find(|&&i| all[i].lad != first.lad) {
                    bail!(
                        "ward {code} is in two local authorities ({} and {})",
                        first.lad.0,
                        all[*other].lad.0
                    );
                }
                (&first.ward.1, Some(&first.lad))
            } else {
                (&first.lad.1, None)
            };
            let (at, interior) = label(&all, ms, &shapes)?;
            summary.interior_labels += usize::from(interior);
            let mut b = Bbox::empty();
            for &i in ms {
                let lb = bbox
                    .get(all[i].code.as_str())
                    .ok_or_else(|| anyhow!("no polygon for {}", all[i].code))?;
                b.union(lb);
            }
            let population: f64 = ms.iter().map(|&i| all[i].population).sum();
            let [x0, y0, x1, y1] = b.cells();
            row(&[
                kind,
                code,
                name,
                parent.map_or("", |p| p.0.as_str()),
                parent.map_or("", |p| p.1.as_str()),
                &(at[0] as i64).to_string(),
                &(at[1] as i64).to_string(),
                &x0,
                &y0,
                &x1,
                &y1,
                &(population.round() as u64).to_string(),
                "",
                "",
            ]);
        }
    }
    summary.local_authorities = lads.len();
    summary.wards = wards.len();

    // PCNs, by code, from their practices.
    let practices = load_practices(&data.join("gp_practices.csv.gz"))?;
    let polys: Vec<MultiPolygon<f64>> = boundaries.iter().map(|(_, _, s)| s.clone()).collect();
    let index = PolygonIndex::new(&polys);
    let lad_of: HashMap<&str, &(String, String)> =
        all.iter().map(|m| (m.code.as_str(), &m.lad)).collect();
    let mut pcns: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in practices.iter().enumerate() {
        match &p.pcn_code {
            Some(c) => pcns.entry(c.as_str()).or_default().push(i),
            None => summary.practices_without_pcn += 1,
        }
    }
    for (code, ps) in &pcns {
        // The name most of its practices give (ties to the first in order).
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for &i in ps {
            *names
                .entry(practices[i].pcn.as_deref().unwrap_or(code))
                .or_default() += 1;
        }
        let name = names
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(n, _)| *n)
            .unwrap_or(code);
        let n = ps.len() as f64;
        let mean = [
            ps.iter().map(|&i| practices[i].pos[0]).sum::<f64>() / n,
            ps.iter().map(|&i| practices[i].pos[1]).sum::<f64>() / n,
        ];
        let d2 = |i: usize| {
            let p = practices[i].pos;
            (p[0] - mean[0]).powi(2) + (p[1] - mean[1]).powi(2)
        };
        let at = ps
            .iter()
            .copied()
            .min_by(|&a, &b| {
                d2(a)
                    .total_cmp(&d2(b))
                    .then(practices[a].practice_code.cmp(&practices[b].practice_code))
            })
            .map(|i| practices[i].pos)
            .expect("a PCN has practices");
        let mut b = Bbox::empty();
        let mut votes: BTreeMap<&(String, String), usize> = BTreeMap::new();
        for &i in ps {
            let [e, nn] = practices[i].pos;
            let (lon, lat) = bng_to_wgs84(e, nn)?;
            b.add(lon, lat);
            let inside = index
                .containing(&polys, [e, nn])
                .into_iter()
                .map(|j| boundaries[j].0.as_str())
                .min();
            if let Some(lad) = inside.and_then(|c| lad_of.get(c)) {
                *votes.entry(lad).or_default() += 1;
            }
        }
        let lad = votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(l, _)| *l);
        summary.pcns_without_lad += usize::from(lad.is_none());
        let list: u64 = ps
            .iter()
            .filter_map(|&i| practices[i].list_size)
            .map(u64::from)
            .sum();
        let [x0, y0, x1, y1] = b.cells();
        row(&[
            "pcn",
            code,
            name,
            lad.map_or("", |l| l.0.as_str()),
            lad.map_or("", |l| l.1.as_str()),
            &(at[0] as i64).to_string(),
            &(at[1] as i64).to_string(),
            &x0,
            &y0,
            &x1,
            &y1,
            "",
            &ps.len().to_string(),
            &list.to_string(),
        ]);
    }
    summary.pcns = pcns.len();
    Ok((out, summary))
}

/// Builds the table from the files in `data` and writes it to `out/places.csv.gz`.
pub fn write(data: &Path, out: &Path) -> Result<Summary> {
    let (text, summary) = build(data)?;
    write_gz_atomic(&out.join("places.csv.gz"), text.as_bytes())?;
    Ok(summary)
}

impl Summary {
    /// The line `prepare.log` records.
    pub fn log_line(&self) -> String {
        let mut s = format!(
            "places: {} local authorities and {} wards (2024) from their LSOAs 2021, {} PCNs from their practices",
            self.local_authorities, self.wards, self.pcns
        );
        let _ = write!(
            s,
            "; {} areas labelled at an LSOA's interior point (the centroid nearest the population-weighted mean was outside its LSOA); {} practices without a PCN; {} PCNs with no practice inside an LSOA polygon (no local authority)",
            self.interior_labels, self.practices_without_pcn, self.pcns_without_lad
        );
        s
    }
}
