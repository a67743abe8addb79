//! Builds the default data directory (`data/`) from the raw open data files, so that anyone
//! can rebuild it and see every step: `sitefinder prepare-data --raw DIR --out data`.
//!
//! Every layer is reprojected to BNG metres here, once, so loading never calls PROJ; LSOA
//! polygons are checked and repaired (make-valid) here, so the R-tree only holds valid ones.
//! The choices made (which rows count as an active practice, a likely-active stop, a vacant
//! shop) are written in the code below and in `data/README.md`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use geo::{MakeValid, MultiPolygon, Validation};
use serde_json::{json, Value};

use crate::base::crs::wgs84_to_bng_in_place;
use crate::base::textio::{read_text, write_atomic, write_gz_atomic};
use crate::reference::atlas::{LayerInfo, Manifest};
use crate::reference::postcode::normalise;

/// Greater Manchester's ten local authorities (the area of TfGM's NaPTAN and the pharmacy list).
pub const GM_LADS: [&str; 10] = [
    "E08000001",
    "E08000002",
    "E08000003",
    "E08000004",
    "E08000005",
    "E08000006",
    "E08000007",
    "E08000008",
    "E08000009",
    "E08000010",
];
/// The West Midlands metropolitan county (NaPTAN admin area 430).
pub const WM_LADS: [&str; 7] = [
    "E08000025",
    "E08000026",
    "E08000027",
    "E08000028",
    "E08000029",
    "E08000030",
    "E08000031",
];

/// The attribution that every output and `sitefinder about` carries.
pub const ATTRIBUTION: [&str; 10] = [
    "Contains public sector information licensed under the Open Government Licence v3.0.",
    "Source: Office for National Statistics licensed under the Open Government Licence v3.0.",
    "Contains OS data © Crown copyright and database right 2025.",
    "Contains Royal Mail data © Royal Mail copyright and database right 2025.",
    "Contains National Statistics data © Crown copyright and database right 2025.",
    "Contains NHS England / NHS Digital data (ODS, ePCN, registered patients, vaccination sites).",
    "English Indices of Deprivation 2019, Ministry of Housing, Communities & Local Government.",
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
    let postcodes = postcodes(&mut cx)?;
    lsoas(&mut cx)?;
    boundaries(&mut cx)?;
    practices(&mut cx, &postcodes)?;
    stops(&mut cx)?;
    pharmacies(&mut cx)?;
    vaccination_sites(&mut cx, &postcodes)?;
    units(&mut cx)?;
    sample_overlay(&mut cx)?;
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

/// Code-Point Open postcodes -> BNG (whole metres, Code-Point's own resolution).
fn postcodes(cx: &mut Ctx) -> Result<HashMap<String, [f64; 2]>> {
    let rel = "postcodes/england_postcodes_codepoint_open_2025-04.csv.gz";
    let text = cx.text(rel)?;
    let mut codes = Vec::new();
    let mut pts = Vec::new();
    let mut lsoa = Vec::new();
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
        lsoa.push(f[3].to_string());
    }
    wgs84_to_bng_in_place(&mut pts)?;
    let mut csv = String::with_capacity(codes.len() * 36);
    csv.push_str("postcode,easting,northing,lsoa11cd\n");
    let mut map = HashMap::with_capacity(codes.len());
    for ((c, (e, n)), l) in codes.iter().zip(&pts).zip(&lsoa) {
        let (e, n) = (e.round(), n.round());
        writeln!(csv, "{c},{e},{n},{l}")?;
        map.insert(c.clone(), [e, n]);
    }
    write_gz_atomic(&cx.out.join("postcodes.csv.gz"), csv.as_bytes())?;
    cx.note(format!("postcodes: {} English postcodes", codes.len()));
    cx.layer(
        "postcodes",
        "postcodes.csv.gz",
        "OS Code-Point Open 2025.2.0 with the ONS postcode to LSOA (May 2022) lookup",
        "2025-04",
        "OGL v3 / OS OpenData",
        codes.len(),
        json!("england"),
    );
    Ok(map)
}

fn lsoas(cx: &mut Ctx) -> Result<()> {
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
    let mut csv = String::from("lsoa11cd,lsoa11nm,lad19cd,lad19nm,imd_score,imd_rank,imd_decile,income_decile,employment_decile,education_decile,health_decile,crime_decile,barriers_decile,living_env_decile,pop_total_mid2015,centroid_e,centroid_n\n");
    let mut w = csv::Writer::from_writer(vec![]);
    for r in &imd {
        let code = get(r, "lsoa11cd");
        let (e, n) = centroid
            .get(code)
            .ok_or_else(|| anyhow!("no centroid for {code}"))?;
        let mut rec: Vec<String> = [
            "lsoa11cd",
            "lsoa11nm",
            "lad19cd",
            "lad19nm",
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
            "pop_total_mid2015",
        ]
        .iter()
        .map(|c| get(r, c).to_string())
        .collect();
        rec.push(e.to_string());
        rec.push(n.to_string());
        w.write_record(&rec)?;
    }
    csv.push_str(std::str::from_utf8(&w.into_inner()?)?);
    write_gz_atomic(&cx.out.join("lsoa.csv.gz"), csv.as_bytes())?;
    cx.note(format!("lsoa: {} LSOAs with IMD 2019", imd.len()));
    cx.layer(
        "lsoa",
        "lsoa.csv.gz",
        "English Indices of Deprivation 2019 (IMD 2019, MHCLG): Files 1, 2, 6 and the File 7 score; centroids from ONS LSOA 2011 BSC",
        "2019-09 (population mid-2015)",
        "OGL v3",
        imd.len(),
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

fn boundaries(cx: &mut Ctx) -> Result<()> {
    let gm: Value = serde_json::from_str(
        &cx.text("lsoa2011_boundaries/lsoa2011_bgc_greater_manchester.geojson")?,
    )?;
    let bsc: Value =
        serde_json::from_str(&cx.text("lsoa2011_boundaries/lsoa2011_bsc_england.geojson.gz")?)?;
    let mut shapes: BTreeMap<String, (&'static str, MultiPolygon<f64>)> = BTreeMap::new();
    for f in gm["features"]
        .as_array()
        .ok_or_else(|| anyhow!("GM: no features"))?
    {
        let code = f["properties"]["area_code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        shapes.insert(code, ("bgc", geometry_to_bng(&f["geometry"])?));
    }
    let n_bgc = shapes.len();
    for f in bsc["features"]
        .as_array()
        .ok_or_else(|| anyhow!("BSC: no features"))?
    {
        let code = f["properties"]["LSOA11CD"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let std::collections::btree_map::Entry::Vacant(slot) = shapes.entry(code) {
            slot.insert(("bsc", geometry_to_bng(&f["geometry"])?));
        }
    }
    let mut repaired = Vec::new();
    let mut out = String::from("{\"type\":\"FeatureCollection\",\"name\":\"lsoa_boundaries\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"urn:ogc:def:crs:EPSG::27700\"}},\"features\":[\n");
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
            *shape = fixed;
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
        let f = json!({"type":"Feature","properties":{"lsoa11cd":code,"src":src},
            "geometry":{"type":"MultiPolygon","coordinates":coords}});
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str(&f.to_string());
    }
    out.push_str("\n]}\n");
    write_gz_atomic(&cx.out.join("lsoa_boundaries.geojson.gz"), out.as_bytes())?;
    cx.note(format!(
        "lsoa_boundaries: {} polygons ({n_bgc} GM at 20 m, the rest super-generalised); repaired with make-valid: {}",
        shapes.len(),
        repaired.join(" ")
    ));
    cx.layer(
        "lsoa_boundaries",
        "lsoa_boundaries.geojson.gz",
        "ONS LSOA (Dec 2011) Generalised Clipped (BGC, 20 m) for Greater Manchester; Super Generalised Clipped (BSC) EW V3 for the rest of England",
        "2011 boundaries",
        "OGL v3",
        shapes.len(),
        json!("england"),
    );
    Ok(())
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn practices(cx: &mut Ctx, pc: &HashMap<String, [f64; 2]>) -> Result<()> {
    let epraccur = cx.csv("gp_practices/epraccur_england.csv.gz")?;
    let pcn: HashMap<String, HashMap<String, String>> = cx
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
    let (mut n, mut missing) = (0, vec![]);
    for r in &epraccur {
        let code = get(r, "organisation_code");
        if get(r, "status_code") != "A"
            || get(r, "prescribing_setting") != "4"
            || code.starts_with('W')
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
        // The newest PCN membership (ePCN, January 2025), else the one at the ODS vintage.
        let (pcn_code, pcn_name) = match pcn.get(code) {
            Some(p) if !get(p, "pcn_code_2025_01").is_empty() => {
                (get(p, "pcn_code_2025_01"), get(p, "pcn_name_2025_01"))
            }
            Some(p) => (get(p, "pcn_code_2023_12"), get(p, "pcn_name_2023_12")),
            None => ("", ""),
        };
        w.write_record([
            code,
            get(r, "name"),
            &postcode,
            &e.to_string(),
            &nn.to_string(),
            lists.get(code).map(String::as_str).unwrap_or(""),
            pcn_code,
            pcn_name,
            get(r, "high_level_health_geography"),
            get(r, "commissioner"),
        ])?;
        n += 1;
    }
    write_gz_atomic(&cx.out.join("gp_practices.csv.gz"), &w.into_inner()?)?;
    cx.note(format!(
        "gp_practices: {n} active English GP practices geocoded; {} not geocoded (postcode not in Code-Point 2025): {}",
        missing.len(),
        missing.join(" ")
    ));
    cx.layer(
        "gp_practices",
        "gp_practices.csv.gz",
        "NHS ODS epraccur (status A, prescribing setting 4, England); list sizes from NHS Digital Patients Registered at a GP Practice; PCNs from NHS ODS ePCN; geocoded by postcode (OS Code-Point Open)",
        "ODS 2023-12, list sizes 2021-01, ePCN 2025-01",
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
