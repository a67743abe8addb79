//! Coordinate reference systems: WGS84 (EPSG:4326, lon/lat) <-> British National Grid
//! (EPSG:27700, metres), through PROJ.
//!
//! Everything inside sitefinder works in BNG metres; WGS84 appears only where data enters
//! (user files, raw open data) and where it leaves (GeoJSON, RFC 7946).
//!
//! PROJ is used without the OSTN15 transformation grid (no network, no grid files), so it
//! falls back to a seven-parameter Helmert transform between OSGB36 and WGS84. That is
//! 0.5 to 4 m off the official OSTN15 answer: fine for ranking shops, not for surveying.
//!
//! A `Proj` is not `Send` and costs ~25 ms to build, so each thread keeps its own pair.
//!
//! ```
//! // A TfGM bus stop (1800NC04971) that NaPTAN publishes in both systems:
//! // 53.65113 N 2.317142 W = easting 379135, northing 417228.
//! let (e, n) = sitefinder::base::crs::wgs84_to_bng(-2.317142, 53.65113).unwrap();
//! assert!((e - 379_135.0).abs() < 5.0 && (n - 417_228.0).abs() < 5.0, "{e} {n}");
//! let (lon, lat) = sitefinder::base::crs::bng_to_wgs84(e, n).unwrap();
//! assert!((lon + 2.317142).abs() < 1e-7 && (lat - 53.65113).abs() < 1e-7);
//! ```

use std::cell::RefCell;

use proj::Proj;

/// A failure of PROJ itself (set-up or a transform that returned infinity).
#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    #[error("could not set up PROJ for {from} -> {to}: {reason}")]
    Setup {
        from: &'static str,
        to: &'static str,
        reason: String,
    },
    #[error("PROJ could not transform ({x}, {y}) from {from}: {reason}")]
    Transform {
        x: f64,
        y: f64,
        from: &'static str,
        reason: String,
    },
    #[error("PROJ does not understand the coordinate reference system {crs}: {reason}")]
    Unknown { crs: String, reason: String },
    #[error("PROJ could not transform ({x}, {y}) from {crs} to British National Grid: {reason}")]
    Other {
        x: f64,
        y: f64,
        crs: String,
        reason: String,
    },
}

const WGS84: &str = "EPSG:4326";
const BNG: &str = "EPSG:27700";

struct Pair {
    to_bng: Proj,
    to_wgs84: Proj,
}

thread_local! {
    static PAIR: RefCell<Option<Pair>> = const { RefCell::new(None) };
}

fn with_pair<T>(f: impl FnOnce(&Pair) -> Result<T, CrsError>) -> Result<T, CrsError> {
    PAIR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let to_bng = Proj::new_known_crs(WGS84, BNG, None).map_err(|e| CrsError::Setup {
                from: WGS84,
                to: BNG,
                reason: e.to_string(),
            })?;
            let to_wgs84 = Proj::new_known_crs(BNG, WGS84, None).map_err(|e| CrsError::Setup {
                from: BNG,
                to: WGS84,
                reason: e.to_string(),
            })?;
            *slot = Some(Pair { to_bng, to_wgs84 });
        }
        f(slot.as_ref().expect("initialised above"))
    })
}

fn check(x: f64, y: f64, from: &'static str, out: (f64, f64)) -> Result<(f64, f64), CrsError> {
    if out.0.is_finite() && out.1.is_finite() {
        Ok(out)
    } else {
        Err(CrsError::Transform {
            x,
            y,
            from,
            reason: "result is not finite".into(),
        })
    }
}

/// WGS84 lon/lat (degrees) to BNG easting/northing (metres).
pub fn wgs84_to_bng(lon: f64, lat: f64) -> Result<(f64, f64), CrsError> {
    with_pair(|p| {
        let out = p
            .to_bng
            .convert((lon, lat))
            .map_err(|e| CrsError::Transform {
                x: lon,
                y: lat,
                from: WGS84,
                reason: e.to_string(),
            })?;
        check(lon, lat, WGS84, out)
    })
}

/// BNG easting/northing (metres) to WGS84 lon/lat (degrees).
pub fn bng_to_wgs84(e: f64, n: f64) -> Result<(f64, f64), CrsError> {
    with_pair(|p| {
        let out = p
            .to_wgs84
            .convert((e, n))
            .map_err(|err| CrsError::Transform {
                x: e,
                y: n,
                from: BNG,
                reason: err.to_string(),
            })?;
        check(e, n, BNG, out)
    })
}

/// Transforms many WGS84 lon/lat pairs to BNG in place (one PROJ call, for bulk loads).
pub fn wgs84_to_bng_in_place(points: &mut [(f64, f64)]) -> Result<(), CrsError> {
    with_pair(|p| {
        p.to_bng
            .convert_array(points)
            .map_err(|e| CrsError::Transform {
                x: f64::NAN,
                y: f64::NAN,
                from: WGS84,
                reason: e.to_string(),
            })?;
        Ok(())
    })?;
    for &(x, y) in points.iter() {
        check(x, y, WGS84, (x, y))?;
    }
    Ok(())
}

/// Transforms points from any CRS PROJ understands (`EPSG:3857`, a WKT string such as a
/// shapefile's `.prj`) to BNG in place. Builds a fresh `Proj` (~25 ms): for uploads, not loops.
pub fn any_to_bng_in_place(crs: &str, points: &mut [(f64, f64)]) -> Result<(), CrsError> {
    // `Proj::new_known_crs` leaks its PROJ context when it fails: ask PROJ first, cleaning up.
    if let Err(reason) = creatable(crs, BNG) {
        return Err(CrsError::Unknown {
            crs: short(crs),
            reason,
        });
    }
    let p = Proj::new_known_crs(crs, BNG, None).map_err(|e| CrsError::Unknown {
        crs: short(crs),
        reason: e.to_string(),
    })?;
    for pt in points.iter_mut() {
        let out = p.convert(*pt).map_err(|e| CrsError::Other {
            x: pt.0,
            y: pt.1,
            crs: short(crs),
            reason: e.to_string(),
        })?;
        if !(out.0.is_finite() && out.1.is_finite()) {
            return Err(CrsError::Other {
                x: pt.0,
                y: pt.1,
                crs: short(crs),
                reason: "result is not finite".into(),
            });
        }
        *pt = out;
    }
    Ok(())
}

/// Whether PROJ can build a transformation from `from` to `to`: tried through the C API with
/// every object it makes destroyed again, whatever happens.
fn creatable(from: &str, to: &str) -> Result<(), String> {
    use proj_sys::*;
    let (Ok(f), Ok(t)) = (std::ffi::CString::new(from), std::ffi::CString::new(to)) else {
        return Err("the definition holds a NUL character".into());
    };
    // SAFETY: a private context, used and destroyed here; each object made is destroyed
    // before the context; strings outlive the calls.
    unsafe {
        let ctx = proj_context_create();
        if ctx.is_null() {
            return Err("PROJ could not start".into());
        }
        let pj = proj_create_crs_to_crs(ctx, f.as_ptr(), t.as_ptr(), std::ptr::null_mut());
        let result = if pj.is_null() {
            let code = proj_context_errno(ctx);
            let text = proj_context_errno_string(ctx, code);
            Err(if text.is_null() {
                format!("PROJ error {code}")
            } else {
                std::ffi::CStr::from_ptr(text)
                    .to_string_lossy()
                    .into_owned()
            })
        } else {
            proj_destroy(pj);
            Ok(())
        };
        proj_context_destroy(ctx);
        result
    }
}

/// A CRS definition shortened for messages (WKT can be long).
fn short(crs: &str) -> String {
    let c = crs.trim();
    if c.chars().count() > 80 {
        format!("{}...", c.chars().take(77).collect::<String>())
    } else {
        c.to_string()
    }
}

/// Rough lon/lat box around England (with a margin). A point outside it cannot be in England;
/// a point inside still has to fall in an English LSOA to count.
pub fn plausibly_england_lonlat(lon: f64, lat: f64) -> bool {
    (-6.6..=2.0).contains(&lon) && (49.8..=55.95).contains(&lat)
}

/// Rough BNG box around England (with a margin), see [`plausibly_england_lonlat`].
pub fn plausibly_england_bng(e: f64, n: f64) -> bool {
    (75_000.0..=660_000.0).contains(&e) && (0.0..=670_000.0).contains(&n)
}

/// Rounds to 6 decimals (about 0.1 m), the precision RFC 7946 output carries here.
pub fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// What a GeoJSON file's old-style `crs` member says: `Ok(false)` for WGS84 (no `crs`, or
/// CRS84 / EPSG:4326 by any of their usual names), `Ok(true)` for British National Grid
/// (EPSG:27700), and an error saying what to do for anything else (a Web Mercator file read
/// as degrees would put every point off the map, silently).
///
/// ```
/// use serde_json::json;
/// use sitefinder::base::crs::geojson_crs;
/// assert_eq!(geojson_crs(&json!({"type": "FeatureCollection"})), Ok(false));
/// let bng = json!({"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}});
/// assert_eq!(geojson_crs(&bng), Ok(true));
/// let wgs = json!({"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}});
/// assert_eq!(geojson_crs(&wgs), Ok(false));
/// let merc = json!({"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}});
/// assert!(geojson_crs(&merc).unwrap_err().contains("EPSG::3857"));
/// ```
pub fn geojson_crs(v: &serde_json::Value) -> Result<bool, String> {
    let Some(crs) = v.get("crs").filter(|c| !c.is_null()) else {
        return Ok(false);
    };
    let name = crs["properties"]["name"].as_str().unwrap_or("");
    let upper = name.to_ascii_uppercase();
    let code = upper
        .rsplit([':', '/'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    match code.as_str() {
        "27700" => Ok(true),
        "4326" | "CRS84" | "4258" => Ok(false),
        _ => Err(format!(
            "the file's `crs` is {}: sitefinder reads GeoJSON in WGS84 (no `crs`, or CRS84 / EPSG:4326) or British National Grid (EPSG:27700); reproject it first, e.g. `ogr2ogr -t_srs EPSG:4326 out.geojson in.geojson`",
            if name.is_empty() {
                crs.to_string()
            } else {
                format!("`{name}`")
            }
        )),
    }
}
