//! Builds the default data directory (`data/`) from the raw open data files, so that anyone
//! can rebuild it and see every step: `sitefinder prepare-data --raw DIR --out data`.
//!
//! Every layer is reprojected to BNG metres here, once, so loading never calls PROJ; LSOA
//! polygons are checked and repaired (make-valid) here, so the R-tree only holds valid ones.
//! The choices made (which rows count as an active practice, a likely-active stop, a vacant
//! shop) are written in the code below and in `data/README.md`.

pub mod places;
pub mod synthetic;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use geo::{MakeValid, MultiPolygon, Validation};
use serde_json::{json, Value};

use crate::base::crs::wgs84_to_bng_in_place;
use crate::base::spatial::PolygonIndex;
use crate::base::textio::{read_text, write_atomic, write_gz_atomic};
use crate::reference::atlas::{LayerInfo, Manifest};
use crate::reference::coverage::{GM_LADS, WM_LADS};
use crate::reference::postcode::normalise;

/// The attribution that every output and `sitefinder about` carries.
pub const ATTRIBUTION: [&str; 10] = [
    "Contains public sector information licensed under the Open Government Licence v3.0.",
    "Source: Office for National Statistics licensed under the Open Government Licence v3.0.",
    "Contains OS data © Crown copyright and database right 2025.",
    "Contains Royal Mail data © Royal Mail copyright and database right 2022-2025.",
    "Contains National Statistics data © Crown copyright and database right 2025.",
    "Contains NHS England / NHS Digital data (ODS, ePCN, Patients Registered at a GP Practice, vaccination sites).",
    "English Indices of Deprivation 2025, MHCLG, OGL v3.0 (IMD 2019 on LSOA 2011 also kept: English Indices of Deprivation 2019, MHCLG).",
    "Contains Transport for Greater Manchester data and DfT NaPTAN data.",
    "Business-rates lists: Rochdale, Bradford, Calderdale, Kirklees, Wakefield, Hambleton, Scarborough, Selby and Portsmouth councils (OGL v3).",
    "Sample plan overlay: CDRC Retail Centres (2018), ESRC Consumer Data Research Centre; training materials by P. Ballantyne & L. Dolega, University of Liverpool (CC BY-SA 4.0).",
];

struct Ctx {
    raw: PathBuf,
    out: PathBuf,
    layers: Vec<LayerInfo>,
    log: String,
}

impl Ctx {
    fn text(&self, rel: &str) -> Result<String> {
        let p = self.raw.join(rel);
        Ok(read_text(&p)
            .with_context(|| format!("reading {}", p.display()))?
            .0)
    }
    fn note(&mut self, s: String) {
        eprintln!("{s}");
        self.log.push_str(&s);
        self.log.push('\n');
    }
    fn csv(&self, rel: &str) -> Result<Vec<HashMap<String, String>>> {
        let text = self.text(rel)?;
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = rdr
            .headers()?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut out = Vec::new();
        for rec in rdr.records() {
            let rec = rec.with_context(|| format!("parsing {rel}"))?;
            out.push(
                headers
                    .iter()
                    .cloned()
                    .zip(rec.iter().map(|s| s.trim().to_string()))
                    .collect(),
            );
        }
        Ok(out)
    }
    #[allow(clippy::too_many_arguments)]
    fn layer(
        &mut self,
        name: &str,
        file: &str,
        source: &str,
        vintage: &str,
        licence: &str,
        rows: usize,
        coverage: Value,
    ) {
        self.layers.push(LayerInfo {
            name: name.into(),
            file: file.into(),
            source: source.into(),
            vintage: vintage.into(),
            licence: licence.into(),
            rows,
            coverage,
        });
    }
}

fn get<'a>(row: &'a HashMap<String, String>, col: &str) -> &'a str {
    row.get(col).map(String::as_str).unwrap_or("")
}

/// Runs every step; writes into `out` (created if needed).
pub fn prepare(raw: &Path, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out.join("units"))?;
    let mut cx = Ctx {
        raw: raw.to_path_buf(),
        out: out.to_path_buf(),
        layers: vec![],
        log: String::new(),
    };
    let pc = read_postcodes(&mut cx)?;
    let shapes11 = boundaries(&mut cx, &BOUNDARIES_2011)?;
    let shapes21 = boundaries(&mut cx, &BOUNDARIES_2021)?;
    let lsoa21 = assign_lsoa21(&mut cx, &pc, &shapes21)?;
    write_postcodes(&mut cx, &pc, &lsoa21)?;
    lsoas_2019(&mut cx)?;
    lsoas_2025(&mut cx, &pc, &lsoa21, &shapes21, &shapes11)?;
    drop((shapes11, shapes21));
    let postcodes = pc.map();
    practices(&mut cx, &postcodes)?;
    places_table(&mut cx)?;
    stops(&mut cx)?;
    pharmacies(&mut cx)?;
    vaccination_sites(&mut cx, &postcodes)?;
    units(&mut cx)?;
    sample_overlay(&mut cx)?;
    registrations_sample(&mut cx)?;
    let manifest = Manifest {
        built_by: "sitefinder prepare-data".into(),
        layers: cx.layers.clone(),
        attribution: ATTRIBUTION.iter().map(|s| s.to_string()).collect(),
    };
    let text = serde_json::to_string_pretty(&manifest)? + "\n";
    write_atomic(&out.join("manifest.json"), |w| w.write_all(text.as_bytes()))?;
    let log = cx.log.clone();
    write_atomic(&out.join("prepare.log"), |w| w.write_all(log.as_bytes()))?;
    Ok(())
}

/// Wards, local authorities and PCNs to search and label (`places.csv.gz`), built from the LSOA
/// and practice files just written (see [`places`]).
fn places_table(cx: &mut Ctx) -> Result<()> {
    let summary = places::write(&cx.out, &cx.out)?;
    cx.note(summary.log_line());
    cx.layer(
        "places",
        "places.csv.gz",
        "Local authorities (LAD 2024) and wards (2024) from the ONS LSOA 2021 to ward 2024 to LAD 2024 lookup (via humaniverse/geographr), with label points, WGS84 bounding boxes and Census 2021 residents from the LSOA 2021 layers; Primary Care Networks from the GP practices (label point, bounding box, practices, January 2021 list sizes)",
        "wards and LADs 2024; PCNs 2025-10",
        "OGL v3",
        summary.local_authorities + summary.wards + summary.pcns,
        json!("england"),
    );
    Ok(())
}

/// NHS England's registered patients by practice and LSOA 2021 for one ICB (Staffordshire and
/// Stoke-on-Trent, October 2025): real catchments to pass with `--registrations`, and what the
/// default approximation was measured and tuned against (`calibrate-catchments`). Copied
/// unchanged, with its `EMPTY`, `CLOSED` and non-English codes, after checking it loads.
fn registrations_sample(cx: &mut Ctx) -> Result<()> {
    let rel = "gp_practices/2025/ssot_icb_gp_patients_by_lsoa21_2025-10.csv.gz";
    let p = cx.raw.join(rel);
    let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
    let rows = cx.text(rel)?.lines().count().saturating_sub(1);
    std::fs::create_dir_all(cx.out.join("registrations"))?;
    let file = "registrations/staffordshire_stoke_patients_by_lsoa21_2025-10.csv.gz";
    write_atomic(&cx.out.join(file), |w| w.write_all(&bytes))?;
    cx.note(format!(
        "registrations: {rows} rows of patients by practice and LSOA 2021, Staffordshire and Stoke-on-Trent ICB, October 2025"
    ));
    cx.layer(
        "registrations_staffordshire",
        file,
        "NHS England Patients Registered at a GP Practice (practice x LSOA 2021), Staffordshire and Stoke-on-Trent ICB (QNC) practices only, as published (with EMPTY, CLOSED and non-English codes)",
        "2025-10",
        "OGL v3",
        rows,
        json!(["E06000021", "E07000192", "E07000193", "E07000194", "E07000195", "E07000196", "E07000197", "E07000198", "E07000199"]),
    );
    Ok(())
}

/// A real plan-like layer for trying overlays: CDRC retail-centre polygons (Liverpool City
/// Region), copied unchanged after checking that it uploads cleanly. No council Future High
/// Streets polygons are openly available (see data/README.md).
fn sample_overlay(cx: &mut Ctx) -> Result<()> {
    let rel = "retail_centres/cdrc_retail_centres_2018_liverpool_city_region.geojson";
    let p = cx.raw.join(rel);
    let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
    let parsed =
        crate::ingest::overlay::parse(&bytes, &crate::ingest::overlay::UploadOptions::default())
            .with_context(|| format!("{rel} does not upload cleanly"))?;
    std::fs::create_dir_all(cx.out.join("overlays"))?;
    let file = "overlays/cdrc_retail_centres_2018_liverpool_city_region.geojson";
    write_atomic(&cx.out.join(file), |w| w.write_all(&bytes))?;
    cx.note(format!(
        "sample overlay: {} CDRC retail-centre polygons (Liverpool City Region), read as {}, {} repaired",
        parsed.features.len(),
        parsed.crs,
        parsed.repaired.len()
    ));
    cx.layer(
        "sample_plan_overlay",
        file,
        "CDRC Retail Centres 2018 (Macdonald, Dolega & Singleton), Liverpool City Region sample; a real stand-in for a council plan overlay, to upload with `sitefinder overlay add` or the map",
        "2018",
        "CC BY-SA 4.0",
        parsed.features.len(),
        serde_json::json!(["E06000006", "E08000011", "E08000012", "E08000013", "E08000014", "E08000015"]),
    );
    Ok(())
}

/// Code-Point Open postcodes in BNG (whole metres, Code-Point's own resolution) with their
/// LSOA 2011 from the ONS lookup (May 2022).
struct Postcodes {
    codes: Vec<String>,
    pts: Vec<(f64, f64)>,
    lsoa11: Vec<String>,
}

impl Postcodes {
    fn map(&self) -> HashMap<String, [f64; 2]> {
        self.codes
            .iter()
            .zip(&self.pts)
            .map(|(c, (e, n))| (c.clone(), [*e, *n]))
            .collect()
    }
}

fn read_postcodes(cx: &mut Ctx) -> Result<Postcodes> {
    let rel = "postcodes/england_postcodes_codepoint_open_2025-04.csv.gz";
    let text = cx.text(rel)?;
    let mut codes = Vec::new();
    let mut pts = Vec::new();
    let mut lsoa11 = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 4 {
            bail!("{rel}: short line `{line}`");
        }
        let (Ok(lon), Ok(lat)) = (f[1].parse::<f64>(), f[2].parse::<f64>()) else {
            bail!("{rel}: bad coordinates in `{line}`");
        };
        codes.push(f[0].to_string());
        pts.push((lon, lat));
        lsoa11.push(f[3].to_string());
    }
    wgs84_to_bng_in_place(&mut pts)?;
    for p in &mut pts {
        *p = (p.0.round(), p.1.round());
    }
    Ok(Postcodes { codes, pts, lsoa11 })
}

/// Each postcode's LSOA 2021: the ONS lookup's own answer where its LSOA 2011 maps to exactly
/// one LSOA 2021 (change codes U and M, 94.8% of live postcodes), otherwise point-in-polygon
/// against the 2021 polygons (20 m in Greater Manchester, super-generalised elsewhere), else the
/// nearest polygon within 1 km (a coastline cut off by generalisation).
fn assign_lsoa21(
    cx: &mut Ctx,
    pc: &Postcodes,
    shapes: &[(String, MultiPolygon<f64>)],
) -> Result<Vec<String>> {
    let lookup: HashMap<String, String> = cx
        .csv("lookups/postcode_oa11_lsoa11_may2022_england_live.csv.gz")?
        .into_iter()
        .filter(|r| !get(r, "lsoa21cd_if_unambiguous").is_empty())
        .map(|r| {
            (
                get(&r, "pcds").to_string(),
                get(&r, "lsoa21cd_if_unambiguous").to_string(),
            )
        })
        .collect();
    let polys: Vec<MultiPolygon<f64>> = shapes.iter().map(|(_, s)| s.clone()).collect();
    let index = PolygonIndex::new(&polys);
    let (mut by_lookup, mut by_pip, mut by_near, mut none) = (0, 0, 0, 0);
    let mut out = Vec::with_capacity(pc.codes.len());
    for (code, &(e, n)) in pc.codes.iter().zip(&pc.pts) {
        if let Some(l) = lookup.get(code) {
            by_lookup += 1;
            out.push(l.clone());
            continue;
        }
        let inside = index
            .containing(&polys, [e, n])
            .into_iter()
            .min_by(|a, b| shapes[*a].0.cmp(&shapes[*b].0));
        if let Some(i) = inside {
            by_pip += 1;
            out.push(shapes[i].0.clone());
            continue;
        }
        use geo::{Distance, Euclidean, Point};
        let pt = Point::new(e, n);
        let near = index
            .candidates_near([e, n], 1000.0)
            .into_iter()
            .map(|i| (i, Euclidean.distance(&pt, &polys[i])))
            .filter(|(_, d)| *d <= 1000.0)
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        match near {
            Some((i, _)) => {
                by_near += 1;
                out.push(shapes[i].0.clone());
            }
            None => {
                none += 1;
                out.push(String::new());
            }
        }
    }
    cx.note(format!(
        "postcodes: LSOA 2021 from the ONS lookup (unambiguous) for {by_lookup}, by point-in-polygon for {by_pip}, nearest polygon within 1 km for {by_near}, none for {none}"
    ));
    Ok(out)
}

fn write_postcodes(cx: &mut Ctx, pc: &Postcodes, lsoa21: &[String]) -> Result<()> {
    let mut csv = String::with_capacity(pc.codes.len() * 46);
    csv.push_str("postcode,easting,northing,lsoa11cd,lsoa21cd\n");
    for (((c, (e, n)), l11), l21) in pc.codes.iter().zip(&pc.pts).zip(&pc.lsoa11).zip(lsoa21) {
        writeln!(csv, "{c},{e},{n},{l11},{l21}")?;
    }
    write_gz_atomic(&cx.out.join("postcodes.csv.gz"), csv.as_bytes())?;
    cx.note(format!("postcodes: {} English postcodes", pc.codes.len()));
    cx.layer(
        "postcodes",
        "postcodes.csv.gz",
        "OS Code-Point Open 2025.2.0; LSOA 2011 from the ONS postcode to LSOA (May 2022) lookup; LSOA 2021 from that lookup where unambiguous, else by point-in-polygon",
        "2025-04",
        "OGL v3 / OS OpenData",
        pc.codes.len(),
        json!("england"),
    );
    Ok(())
}

/// The columns of `lsoa11.csv.gz` and `lsoa21.csv.gz` (the same for both editions; the
/// loader names them by edition in outputs).
const LSOA_COLUMNS: [&str; 17] = [
    "lsoa_code",
    "lsoa_name",
    "lad_code",
    "lad_name",
    "imd_score",
    "imd_rank",
    "imd_decile",
    "income_decile",
    "employment_decile",
    "education_decile",
    "health_decile",
    "crime_decile",
    "barriers_decile",
    "living_env_decile",
    "population",
    "centroid_e",
    "centroid_n",
];

fn write_lsoa_table(
    cx: &mut Ctx,
    file: &str,
    extra: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<usize> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(LSOA_COLUMNS.iter().chain(extra))?;
    for r in &rows {
        w.write_record(r)?;
    }
    write_gz_atomic(&cx.out.join(file), &w.into_inner()?)?;
    Ok(rows.len())
}

/// IMD 2019 on LSOA 2011, kept so a user can compare editions (`--imd 2019`).
fn lsoas_2019(cx: &mut Ctx) -> Result<()> {
    let imd = cx.csv("imd2019/imd2019_lsoa_england_combined.csv")?;
    // Centroids from the super-generalised boundary file's ONS centroid columns.
    let bsc: Value =
        serde_json::from_str(&cx.text("lsoa2011_boundaries/lsoa2011_bsc_england.geojson.gz")?)?;
    let mut centroid: HashMap<String, (f64, f64)> = HashMap::new();
    for f in bsc["features"]
        .as_array()
        .ok_or_else(|| anyhow!("BSC: no features"))?
    {
        let p = &f["properties"];
        let code = p["LSOA11CD"].as_str().unwrap_or_default().to_string();
        let e = p["BNG_E"]
            .as_f64()
            .ok_or_else(|| anyhow!("BSC {code}: no BNG_E"))?;
        let n = p["BNG_N"]
            .as_f64()
            .ok_or_else(|| anyhow!("BSC {code}: no BNG_N"))?;
        centroid.insert(code, (e, n));
    }
    let mut rows = Vec::with_capacity(imd.len());
    for r in &imd {
        let code = get(r, "lsoa11cd");
        let (e, n) = centroid
            .get(code)
            .ok_or_else(|| anyhow!("no centroid for {code}"))?;
        // The IMD 2019 file's own names for the first four and the last column; the IMD
        // columns are named as in `lsoa11.csv.gz`.
        let mut rec: Vec<String> = ["lsoa11cd", "lsoa11nm", "lad19cd", "lad19nm"]
            .iter()
            .chain(&LSOA_COLUMNS[4..14])
            .chain(&["pop_total_mid2015"])
            .map(|c| get(r, c).to_string())
            .collect();
        rec.push(e.to_string());
        rec.push(n.to_string());
        rows.push(rec);
    }
    let n = write_lsoa_table(cx, "lsoa11.csv.gz", &[], rows)?;
    cx.note(format!("lsoa11: {n} LSOAs (2011) with IMD 2019"));
    cx.layer(
        "imd2019",
        "lsoa11.csv.gz",
        "English Indices of Deprivation 2019 (IMD 2019, MHCLG) on LSOA 2011: Files 1, 2, 6 and the File 7 score; population mid-2015; centroids from ONS LSOA 2011 BSC",
        "2019-09 (population mid-2015)",
        "OGL v3",
        n,
        json!("england"),
    );
    Ok(())
}

/// IoD2025 on LSOA 2021 (the default): the IMD and its seven domains, Census 2021 usual
/// residents, and a centroid that is the mean of the LSOA's postcode centroids (where people
/// live, a stand-in for ONS's population-weighted centroid, which is not in the raw data), or
/// the polygon's interior point for an LSOA without postcodes.
fn lsoas_2025(
    cx: &mut Ctx,
    pc: &Postcodes,
    lsoa21: &[String],
    shapes: &[(String, MultiPolygon<f64>)],
    shapes11: &[(String, MultiPolygon<f64>)],
) -> Result<()> {
    let imd = cx.csv("imd2025/imd2025_lsoa21_england.csv.gz")?;
    // Each LSOA's ward (2024) and the local authority the lookup puts it in, to check against
    // IoD2025's.
    let wards: HashMap<String, [String; 3]> = cx
        .csv("lookups/lsoa21_ward24_lad24_lookup_ew.csv.gz")?
        .into_iter()
        .map(|r| {
            (
                get(&r, "lsoa21_code").to_string(),
                ["ward24_code", "ward24_name", "ltla24_code"].map(|c| get(&r, c).to_string()),
            )
        })
        .collect();
    let pop: HashMap<String, String> = cx
        .csv("population/census2021_usual_residents_by_age6_lsoa21_ew.csv.gz")?
        .into_iter()
        .map(|r| {
            (
                get(&r, "lsoa21_code").to_string(),
                get(&r, "total_usual_residents").to_string(),
            )
        })
        .collect();
    let mut sums: HashMap<&str, (f64, f64, f64)> = HashMap::new();
    for (l, (e, n)) in lsoa21.iter().zip(&pc.pts) {
        let s = sums.entry(l.as_str()).or_default();
        *s = (s.0 + e, s.1 + n, s.2 + 1.0);
    }
    let shape: HashMap<&str, &MultiPolygon<f64>> =
        shapes.iter().map(|(c, s)| (c.as_str(), s)).collect();
    let decile2019: HashMap<String, String> = cx
        .csv("imd2019/imd2019_lsoa_england_combined.csv")?
        .into_iter()
        .map(|r| {
            (
                get(&r, "lsoa11cd").to_string(),
                get(&r, "imd_decile").to_string(),
            )
        })
        .collect();
    let mut before: HashMap<String, Vec<String>> = HashMap::new();
    for r in cx.csv("lookups/lsoa11_lsoa21_lad22_lookup_ew.csv.gz")? {
        before
            .entry(get(&r, "lsoa21_code").to_string())
            .or_default()
            .push(get(&r, "lsoa11_code").to_string());
    }
    let old_polys: Vec<MultiPolygon<f64>> = shapes11.iter().map(|(_, s)| s.clone()).collect();
    let old_index = PolygonIndex::new(&old_polys);
    let (mut from_one, mut from_centroid, mut no_2019) = (0, 0, 0);
    let mut rows = Vec::with_capacity(imd.len());
    let mut interior = 0;
    for r in &imd {
        let code = get(r, "lsoa21_code");
        let people = pop
            .get(code)
            .ok_or_else(|| anyhow!("no Census 2021 population for {code}"))?;
        let (e, n) = match sums.get(code) {
            Some((e, n, k)) if *k > 0.0 => ((e / k).round(), (n / k).round()),
            _ => {
                use geo::InteriorPoint;
                let p = shape
                    .get(code)
                    .and_then(|s| s.interior_point())
                    .ok_or_else(|| anyhow!("no polygon for {code}"))?;
                interior += 1;
                (p.x().round(), p.y().round())
            }
        };
        let mut rec: Vec<String> = [
            "lsoa21_code",
            "lsoa21_name",
            "ltla24_code",
            "ltla24_name",
            "IMD_score",
            "IMD_rank",
            "IMD_decile",
            "Income_decile",
            "Employment_decile",
            "Education_decile",
            "Health_decile",
            "Crime_decile",
            "Housing_and_Services_decile",
            "Environment_decile",
        ]
        .iter()
        .map(|c| get(r, c).to_string())
        .collect();
        rec.push(people.clone());
        rec.push(e.to_string());
        rec.push(n.to_string());
        // The IMD 2019 decile of the place, to show what changed between editions: the LSOA
        // 2011 this LSOA came from (unchanged or split), else the one containing its centroid.
        let from = match before.get(code).map(Vec::as_slice) {
            Some([one]) => {
                from_one += 1;
                Some(one.clone())
            }
            _ => {
                let at = old_index
                    .containing(&old_polys, [e, n])
                    .into_iter()
                    .map(|i| shapes11[i].0.clone())
                    .min();
                if at.is_some() {
                    from_centroid += 1;
                }
                at
            }
        };
        match from.and_then(|c| decile2019.get(&c)) {
            Some(d) => rec.push(d.clone()),
            None => {
                no_2019 += 1;
                rec.push(String::new());
            }
        }
        let [ward, ward_name, ward_lad] = wards
            .get(code)
            .ok_or_else(|| anyhow!("{code} is not in the LSOA 2021 to ward 2024 lookup"))?;
        if ward_lad != get(r, "ltla24_code") {
            bail!(
                "{code}: the ward lookup puts it in {ward_lad}, IoD2025 in {}",
                get(r, "ltla24_code")
            );
        }
        rec.push(ward.clone());
        rec.push(ward_name.clone());
        rows.push(rec);
    }
    let n = write_lsoa_table(
        cx,
        "lsoa21.csv.gz",
        &["imd2019_decile", "ward_code", "ward_name"],
        rows,
    )?;
    cx.note(format!(
        "lsoa21: {n} LSOAs (2021) with IoD2025 and Census 2021 residents; centroid = mean of postcode centroids ({interior} without postcodes use the polygon's interior point); IMD 2019 decile from the one LSOA 2011 each came from for {from_one}, from the LSOA 2011 containing the centroid for {from_centroid} (merged or irregular changes), none for {no_2019}"
    ));
    cx.layer(
        "imd2025",
        "lsoa21.csv.gz",
        "English Indices of Deprivation 2025 (IoD2025, MHCLG) on LSOA 2021: IMD and seven domains (File 7 via humaniverse/IMD); Census 2021 usual residents (ONS); centroid = mean of the LSOA's postcode centroids; ward 2024 from the ONS LSOA 2021 to ward 2024 lookup",
        "2025-10-30 (population Census 2021)",
        "OGL v3",
        n,
        json!("england"),
    );
    Ok(())
}

fn geometry_to_bng(geom: &Value) -> Result<MultiPolygon<f64>> {
    fn ring(v: &Value) -> Result<Vec<(f64, f64)>> {
        v.as_array()
            .ok_or_else(|| anyhow!("ring is not an array"))?
            .iter()
            .map(|c| {
                let x = c[0].as_f64().ok_or_else(|| anyhow!("bad x"))?;
                let y = c[1].as_f64().ok_or_else(|| anyhow!("bad y"))?;
                Ok((x, y))
            })
            .collect()
    }
    let polys: Vec<&Value> = match geom["type"].as_str() {
        Some("Polygon") => vec![&geom["coordinates"]],
        Some("MultiPolygon") => geom["coordinates"]
            .as_array()
            .ok_or_else(|| anyhow!("bad MultiPolygon"))?
            .iter()
            .collect(),
        other => bail!("unexpected geometry {other:?}"),
    };
    let mut out = Vec::new();
    for p in polys {
        let mut rings = Vec::new();
        for r in p.as_array().ok_or_else(|| anyhow!("bad polygon"))? {
            let mut pts = ring(r)?;
            wgs84_to_bng_in_place(&mut pts)?;
            // 0.1 m is far below the 20 m generalisation of the finest boundaries here.
            let pts: Vec<(f64, f64)> = pts
                .into_iter()
                .map(|(x, y)| ((x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0))
                .collect();
            rings.push(geo::LineString::from(pts));
        }
        let mut it = rings.into_iter();
        let ext = it.next().ok_or_else(|| anyhow!("polygon without rings"))?;
        out.push(geo::Polygon::new(ext, it.collect()));
    }
    Ok(MultiPolygon::new(out))
}

/// Where one edition's LSOA polygons come from: the 20 m (BGC) file for Greater Manchester
/// and the super-generalised (BSC) file for the rest of England.
struct BoundarySources {
    out_file: &'static str,
    layer: &'static str,
    gm_file: &'static str,
    gm_code: &'static str,
    england_file: &'static str,
    england_code: &'static str,
    source: &'static str,
    vintage: &'static str,
}

const BOUNDARIES_2011: BoundarySources = BoundarySources {
    out_file: "lsoa11_boundaries.geojson.gz",
    layer: "lsoa11_boundaries",
    gm_file: "lsoa2011_boundaries/lsoa2011_bgc_greater_manchester.geojson",
    gm_code: "area_code",
    england_file: "lsoa2011_boundaries/lsoa2011_bsc_england.geojson.gz",
    england_code: "LSOA11CD",
    source: "ONS LSOA (Dec 2011) Generalised Clipped (BGC, 20 m) for Greater Manchester; Super Generalised Clipped (BSC) EW V3 for the rest of England",
    vintage: "2011 boundaries",
};

const BOUNDARIES_2021: BoundarySources = BoundarySources {
    out_file: "lsoa21_boundaries.geojson.gz",
    layer: "lsoa21_boundaries",
    gm_file: "lsoa2021_boundaries/lsoa2021_bgc_greater_manchester.geojson.gz",
    gm_code: "LSOA21CD",
    england_file: "lsoa2021_boundaries/lsoa2021_bsc_england.geojson.gz",
    england_code: "LSOA21CD",
    source: "ONS LSOA (Dec 2021) Generalised Clipped (BGC, 20 m) for Greater Manchester (via Trafford Data Lab); Super Generalised Clipped (BSC) EW V4 for the rest of England (via humaniverse/geographr)",
    vintage: "2021 boundaries",
};

/// Writes one edition's polygons (BNG, repaired with make-valid where invalid) and returns
/// them sorted by code.
fn boundaries(cx: &mut Ctx, b: &BoundarySources) -> Result<Vec<(String, MultiPolygon<f64>)>> {
    let gm: Value = serde_json::from_str(&cx.text(b.gm_file)?)?;
    let bsc: Value = serde_json::from_str(&cx.text(b.england_file)?)?;
    let mut shapes: BTreeMap<String, (&'static str, MultiPolygon<f64>)> = BTreeMap::new();
    for f in gm["features"]
        .as_array()
        .ok_or_else(|| anyhow!("{}: no features", b.gm_file))?
    {
        let code = f["properties"][b.gm_code]
            .as_str()
            .unwrap_or_default()
            .to_string();
        shapes.insert(code, ("bgc", geometry_to_bng(&f["geometry"])?));
    }
    let n_bgc = shapes.len();
    for f in bsc["features"]
        .as_array()
        .ok_or_else(|| anyhow!("{}: no features", b.england_file))?
    {
        let code = f["properties"][b.england_code]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let std::collections::btree_map::Entry::Vacant(slot) = shapes.entry(code) {
            slot.insert(("bsc", geometry_to_bng(&f["geometry"])?));
        }
    }
    let mut repaired = Vec::new();
    let mut out = format!("{{\"type\":\"FeatureCollection\",\"name\":\"{}\",\"crs\":{{\"type\":\"name\",\"properties\":{{\"name\":\"urn:ogc:def:crs:EPSG::27700\"}}}},\"features\":[\n", b.layer);
    for (i, (code, (src, shape))) in shapes.iter_mut().enumerate() {
        if !shape.is_valid() {
            let fixed = shape
                .make_valid()
                .map_err(|e| anyhow!("make-valid failed for {code}: {e:?}"))?;
            if !fixed.is_valid() {
                let why: Vec<String> = fixed
                    .validation_errors()
                    .iter()
                    .map(|e| e.to_string())
                    .collect();
                bail!("{code}: still invalid after make-valid: {}", why.join("; "));
            }
            repaired.push(code.clone());
            *shape = canonical(fixed);
        }
        let coords: Vec<Vec<Vec<[f64; 2]>>> = shape
            .0
            .iter()
            .map(|p| {
                std::iter::once(p.exterior())
                    .chain(p.interiors())
                    .map(|r| r.0.iter().map(|c| [round2(c.x), round2(c.y)]).collect())
                    .collect()
            })
            .collect();
        let f = json!({"type":"Feature","properties":{"code":code,"src":src},
            "geometry":{"type":"MultiPolygon","coordinates":coords}});
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str(&f.to_string());
    }
    out.push_str("\n]}\n");
    write_gz_atomic(&cx.out.join(b.out_file), out.as_bytes())?;
    cx.note(format!(
        "{}: {} polygons ({n_bgc} GM at 20 m, the rest super-generalised); repaired with make-valid: {}",
        b.layer,
        shapes.len(),
        repaired.join(" ")
    ));
    cx.layer(
        b.layer,
        b.out_file,
        b.source,
        b.vintage,
        "OGL v3",
        shapes.len(),
        json!("england"),
    );
    Ok(shapes.into_iter().map(|(c, (_, s))| (c, s)).collect())
}

/// The same shape written the same way every run: make-valid's output order of polygons,
/// holes and ring start points is not fixed, so each ring starts at its smallest vertex and
/// the holes and polygons are sorted.
fn canonical(mp: MultiPolygon<f64>) -> MultiPolygon<f64> {
    fn ring(r: &geo::LineString<f64>) -> geo::LineString<f64> {
        let mut pts: Vec<geo::Coord<f64>> = r.0.clone();
        if pts.len() > 1 && pts.first() == pts.last() {
            pts.pop();
        }
        let start = (0..pts.len())
            .min_by(|&a, &b| {
                (pts[a].x, pts[a].y)
                    .partial_cmp(&(pts[b].x, pts[b].y))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .unwrap_or(0);
        pts.rotate_left(start);
        if let Some(first) = pts.first().copied() {
            pts.push(first);
        }
        geo::LineString(pts)
    }
    let key = |r: &geo::LineString<f64>| r.0.first().map_or((0.0, 0.0), |c| (c.x, c.y));
    let mut polys: Vec<geo::Polygon<f64>> =
        mp.0.iter()
            .map(|p| {
                let mut holes: Vec<_> = p.interiors().iter().map(ring).collect();
                holes.sort_by(|a, b| {
                    key(a)
                        .partial_cmp(&key(b))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
                geo::Polygon::new(ring(p.exterior()), holes)
            })
            .collect();
    polys.sort_by(|a, b| {
        key(a.exterior())
            .partial_cmp(&key(b.exterior()))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    MultiPolygon(polys)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Active English GP practices as of September 2025 (ODS epraccur: status A, prescribing
/// setting 4 = GP practice, national grouping Y* = England), geocoded by postcode. PCN, ICB and
/// sub-ICB from NHS England's October 2025 practice mapping; for a practice not in it, the
/// ePCN January 2025 PCN and the ODS commissioner. List sizes are January 2021's (the newest
/// practice-level counts in the raw data), blank for practices opened since.
fn practices(cx: &mut Ctx, pc: &HashMap<String, [f64; 2]>) -> Result<()> {
    let epraccur = cx.csv("gp_practices/2025/epraccur_2025-09_all.csv.gz")?;
    let map: HashMap<String, HashMap<String, String>> = cx
        .csv("gp_practices/2025/gp-reg-pat-prac-map_2025-10.csv.gz")?
        .into_iter()
        .map(|r| (get(&r, "PRACTICE_CODE").to_string(), r))
        .collect();
    let epcn: HashMap<String, HashMap<String, String>> = cx
        .csv("pcn/gp_practice_pcn_england.csv")?
        .into_iter()
        .map(|r| (get(&r, "practice_code").to_string(), r))
        .collect();
    let lists: HashMap<String, String> = cx
        .csv("gp_practices/gp_reg_pat_prac_all_2021-01.csv")?
        .into_iter()
        .map(|r| {
            (
                get(&r, "CODE").to_string(),
                get(&r, "NUMBER_OF_PATIENTS").to_string(),
            )
        })
        .collect();
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record([
        "practice_code",
        "name",
        "postcode",
        "easting",
        "northing",
        "list_size_2021_01",
        "pcn_code",
        "pcn_name",
        "icb_code",
        "subicb_code",
    ])?;
    let (mut n, mut missing, mut not_mapped, mut no_list) = (0, vec![], vec![], 0);
    for r in &epraccur {
        let code = get(r, "organisation_code");
        if get(r, "status_code") != "A"
            || get(r, "prescribing_setting") != "4"
            || !get(r, "national_grouping").starts_with('Y')
        {
            continue;
        }
        let Some(postcode) = normalise(get(r, "postcode")) else {
            missing.push(code.to_string());
            continue;
        };
        let Some([e, nn]) = pc.get(&postcode) else {
            missing.push(code.to_string());
            continue;
        };
        let (pcn_code, pcn_name, icb, subicb) = match map.get(code) {
            Some(m) => (
                get(m, "PCN_CODE"),
                get(m, "PCN_NAME"),
                get(m, "ICB_CODE"),
                get(m, "SUB_ICB_LOCATION_CODE"),
            ),
            None => {
                not_mapped.push(code.to_string());
                let (c, nm) = epcn.get(code).map_or(("", ""), |p| {
                    (get(p, "pcn_code_2025_01"), get(p, "pcn_name_2025_01"))
                });
                (
                    c,
                    nm,
                    get(r, "high_level_health_geography"),
                    get(r, "commissioner"),
                )
            }
        };
        let list = lists.get(code).map(String::as_str).unwrap_or("");
        if list.is_empty() {
            no_list += 1;
        }
        w.write_record([
            code,
            get(r, "name"),
            &postcode,
            &e.to_string(),
            &nn.to_string(),
            list,
            pcn_code,
            pcn_name,
            icb,
            subicb,
        ])?;
        n += 1;
    }
    write_gz_atomic(&cx.out.join("gp_practices.csv.gz"), &w.into_inner()?)?;
    cx.note(format!(
        "gp_practices: {n} active English GP practices (ODS September 2025) geocoded; {} not geocoded (postcode not in Code-Point 2025): {}; {} not in the October 2025 practice map (PCN from ePCN January 2025): {}; {no_list} without a January 2021 list size",
        missing.len(),
        missing.join(" "),
        not_mapped.len(),
        not_mapped.join(" ")
    ));
    cx.layer(
        "gp_practices",
        "gp_practices.csv.gz",
        "NHS ODS epraccur (status A, prescribing setting 4, England); PCN, ICB and sub-ICB from NHS England Patients Registered at a GP Practice practice map; list sizes from NHS Digital Patients Registered at a GP Practice; geocoded by postcode (OS Code-Point Open)",
        "ODS 2025-09, PCNs 2025-10, list sizes 2021-01",
        "OGL v3",
        n,
        json!("england"),
    );
    Ok(())
}

fn stops(cx: &mut Ctx) -> Result<()> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(["id", "name", "kind", "postcode", "easting", "northing"])?;
    let mut n = 0;
    // GM: TfGM's 2025 stop list has no status, so only stops that were active in 2016 count.
    for r in cx.csv("naptan/naptan_stops_180_greater_manchester.csv")? {
        if get(&r, "likely_active") != "Y" {
            continue;
        }
        w.write_record([
            get(&r, "atco_code"),
            get(&r, "common_name_2016"),
            get(&r, "stop_type"),
            "",
            get(&r, "easting"),
            get(&r, "northing"),
        ])?;
        n += 1;
    }
    let gm = n;
    for r in cx.csv("naptan/naptan_stops_430_west_midlands.csv.gz")? {
        if get(&r, "Status") != "active" {
            continue;
        }
        w.write_record([
            get(&r, "ATCOCode"),
            get(&r, "CommonName"),
            get(&r, "StopType"),
            "",
            get(&r, "Easting"),
            get(&r, "Northing"),
        ])?;
        n += 1;
    }
    write_gz_atomic(&cx.out.join("stops.csv.gz"), &w.into_inner()?)?;
    cx.note(format!(
        "stops: {n} ({gm} Greater Manchester likely active, {} West Midlands active)",
        n - gm
    ));
    let lads: Vec<&str> = GM_LADS.iter().chain(WM_LADS.iter()).copied().collect();
    cx.layer(
        "stops",
        "stops.csv.gz",
        "DfT NaPTAN: TfGM stopping points (area 180, 2025 codes, active in 2016) and West Midlands (area 430, status active)",
        "2025 (GM positions), 2026-07 (West Midlands)",
        "OGL v3",
        n,
        json!(lads),
    );
    Ok(())
}

fn points_to_bng(lonlat: &[(f64, f64)]) -> Result<Vec<(f64, f64)>> {
    let mut pts = lonlat.to_vec();
    wgs84_to_bng_in_place(&mut pts)?;
    Ok(pts
        .into_iter()
        .map(|(e, n)| (e.round(), n.round()))
        .collect())
}

fn pharmacies(cx: &mut Ctx) -> Result<()> {
    let v: Value = serde_json::from_str(&cx.text("health_sites/gm_pharmacies.geojson")?)?;
    let feats = v["features"]
        .as_array()
        .ok_or_else(|| anyhow!("pharmacies: no features"))?;
    let lonlat: Vec<(f64, f64)> = feats
        .iter()
        .map(|f| {
            let c = &f["geometry"]["coordinates"];
            Ok((
                c[0].as_f64()
                    .ok_or_else(|| anyhow!("pharmacy without lon"))?,
                c[1].as_f64()
                    .ok_or_else(|| anyhow!("pharmacy without lat"))?,
            ))
        })
        .collect::<Result<_>>()?;
    let pts = points_to_bng(&lonlat)?;
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(["id", "name", "kind", "postcode", "easting", "northing"])?;
    for (f, (e, n)) in feats.iter().zip(&pts) {
        let p = &f["properties"];
        w.write_record([
            p["organisation_data_service_code"]
                .as_str()
                .unwrap_or_default(),
            p["pharmacy_name"].as_str().unwrap_or_default(),
            "community_pharmacy",
            p["postcode"].as_str().unwrap_or_default(),
            &e.to_string(),
            &n.to_string(),
        ])?;
    }
    write_gz_atomic(&cx.out.join("pharmacies.csv.gz"), &w.into_inner()?)?;
    cx.note(format!(
        "pharmacies: {} Greater Manchester community pharmacies",
        pts.len()
    ));
    cx.layer(
        "pharmacies",
        "pharmacies.csv.gz",
        "NHSBSA consolidated pharmaceutical list, via Trafford Data Lab (Greater Manchester)",
        "2024-25 Q4",
        "OGL v3",
        pts.len(),
        json!(GM_LADS),
    );
    Ok(())
}

fn vaccination_sites(cx: &mut Ctx, pc: &HashMap<String, [f64; 2]>) -> Result<()> {
    let rows = cx.csv("health_sites/nhse_covid_vaccination_sites_2021-02-26.csv")?;
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(["id", "name", "kind", "postcode", "easting", "northing"])?;
    let (mut n, mut missing) = (0, 0);
    for (i, r) in rows.iter().enumerate() {
        let Some([e, nn]) = normalise(get(r, "postcode")).and_then(|p| pc.get(&p)) else {
            missing += 1;
            continue;
        };
        w.write_record([
            &format!("VS{:04}", i + 1),
            get(r, "site_name"),
            get(r, "site_type"),
            get(r, "postcode"),
            &e.to_string(),
            &nn.to_string(),
        ])?;
        n += 1;
    }
    write_gz_atomic(&cx.out.join("vaccination_sites.csv.gz"), &w.into_inner()?)?;
    cx.note(format!(
        "vaccination_sites: {n} of {} NHS England COVID-19 vaccination sites geocoded by postcode; {missing} postcodes not in Code-Point 2025",
        rows.len()
    ));
    cx.layer(
        "vaccination_sites",
        "vaccination_sites.csv.gz",
        "NHS England list of COVID-19 vaccination sites, geocoded by postcode (OS Code-Point Open)",
        "2021-02-26",
        "OGL v3",
        n,
        json!("england"),
    );
    Ok(())
}

/// The date of the rates list each council's units come from, written as every row's
/// `list_date` (vacancy age is measured at it; `data/README.md` says the same):
///
/// - Rochdale: the list is "as at 1 July 2024" (its file name and title).
/// - Bradford, Calderdale, Kirklees, Wakefield, Hambleton, Scarborough, Selby: the ODI Leeds
///   common-format files, added to odileeds/business-rates on 13 June 2019 (commit 4fbe86b9).
///   The councils' own extract dates are not given, so the day they were published is the best
///   date known (Hambleton's file was re-published with a parsing fix on 20 June 2019; its rows
///   are those of the same extract, so it keeps 13 June).
/// - Portsmouth: the lists of "January 2022"; the last day of that month is used.
///
/// A council without a date here is an error, so a new list cannot ship without one.
fn list_date(council: &str) -> Result<&'static str> {
    Ok(match council {
        "rochdale" => "2024-07-01",
        "bradford" | "calderdale" | "kirklees" | "wakefield" | "hambleton" | "scarborough"
        | "selby" => "2019-06-13",
        "portsmouth" => "2022-01-31",
        other => {
            bail!("units: no list date known for council `{other}`; add it to prepare::list_date")
        }
    })
}

/// Vacant retail-type units with coordinates, one CSV per council, in the plain CSV layout that
/// `rank --units` reads (so they double as examples), each row with its list's date.
fn units(cx: &mut Ctx) -> Result<()> {
    let rows = cx.csv("business_rates_nndr/nndr_units_combined_geocoded.csv.gz")?;
    let mut by_council: BTreeMap<String, csv::Writer<Vec<u8>>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        if get(r, "occupancy") != "vacant"
            || get(r, "is_retail_type") != "True"
            || get(r, "lon").is_empty()
        {
            continue;
        }
        let council = get(r, "council").to_lowercase();
        let date = list_date(&council)?;
        let w = by_council.entry(council.clone()).or_insert_with(|| {
            let mut w = csv::Writer::from_writer(vec![]);
            let _ = w.write_record([
                "id",
                "name",
                "address",
                "postcode",
                "lat",
                "lon",
                "rateable_value",
                "description",
                "vacant_since",
                "council",
                "list_date",
            ]);
            w
        });
        let address = get(r, "address");
        let name: Vec<&str> = address.split(',').map(str::trim).take(2).collect();
        w.write_record([
            &format!(
                "{}-{}",
                council,
                get(r, "prop_ref").trim_start_matches("Ref:")
            ),
            &name.join(", "),
            address,
            get(r, "postcode"),
            get(r, "lat"),
            get(r, "lon"),
            get(r, "rateable_value"),
            get(r, "description"),
            get(r, "empty_from"),
            get(r, "council"),
            date,
        ])?;
        *counts.entry(council).or_default() += 1;
    }
    let mut total = 0;
    for (council, w) in by_council {
        let file = format!("units/{council}_vacant_shops.csv");
        let bytes = w.into_inner()?;
        write_atomic(&cx.out.join(&file), |out| out.write_all(&bytes))?;
        total += counts[&council];
    }
    cx.note(format!(
        "units: {total} vacant retail units with coordinates: {}",
        counts
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}
