//! GeoJSON geometry parsing shared by the importers (units, catchment polygons).
//!
//! ```
//! let v = serde_json::json!({"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]});
//! let mp = sitefinder::base::geometry::parse_multipolygon(&v).unwrap();
//! assert_eq!(mp.0.len(), 1);
//! ```

use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::Value;

use crate::base::crs;

fn position(v: &Value) -> Result<(f64, f64), String> {
    let num = |v: &Value| v.as_f64().filter(|x| x.is_finite());
    match (num(&v[0]), num(&v[1])) {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err(format!("invalid GeoJSON position {v}")),
    }
}

/// A GeoJSON `Point` (or the first point of a `MultiPoint`) as raw coordinates.
pub fn parse_point(g: &Value) -> Result<(f64, f64), String> {
    match g["type"].as_str() {
        Some("Point") => position(&g["coordinates"]),
        Some("MultiPoint") => position(&g["coordinates"][0]),
        other => Err(format!("expected a Point, found {other:?}")),
    }
}

fn ring(v: &Value) -> Result<LineString<f64>, String> {
    let pts = v
        .as_array()
        .ok_or("invalid GeoJSON: a ring must be an array of positions")?
        .iter()
        .map(|p| position(p).map(|(x, y)| Coord { x, y }))
        .collect::<Result<Vec<_>, _>>()?;
    if pts.len() < 4 {
        return Err("invalid GeoJSON: a polygon ring needs at least 4 positions".into());
    }
    Ok(LineString::new(pts))
}

fn polygon(v: &Value) -> Result<Polygon<f64>, String> {
    let rings = v
        .as_array()
        .ok_or("invalid GeoJSON: polygon coordinates must be an array")?;
    let mut it = rings.iter().map(ring);
    let ext = it
        .next()
        .ok_or("invalid GeoJSON: polygon without rings")??;
    Ok(Polygon::new(ext, it.collect::<Result<_, _>>()?))
}

/// A GeoJSON `Polygon` or `MultiPolygon` as raw coordinates (no reprojection).
pub fn parse_multipolygon(g: &Value) -> Result<MultiPolygon<f64>, String> {
    match g["type"].as_str() {
        Some("Polygon") => Ok(MultiPolygon::new(vec![polygon(&g["coordinates"])?])),
        Some("MultiPolygon") => Ok(MultiPolygon::new(
            g["coordinates"]
                .as_array()
                .ok_or("invalid GeoJSON: MultiPolygon coordinates must be an array")?
                .iter()
                .map(polygon)
                .collect::<Result<_, _>>()?,
        )),
        None if g.is_null() => Err("the feature has no geometry".into()),
        other => Err(format!(
            "geometry type {} is not a polygon",
            other.unwrap_or("(missing)")
        )),
    }
}

/// A polygon geometry in BNG metres: reprojected from WGS84 unless `bng` says the file is
/// already in EPSG:27700.
pub fn multipolygon_from_geojson(g: &Value, bng: bool) -> Result<MultiPolygon<f64>, String> {
    let mut mp = parse_multipolygon(g)?;
    if !bng {
        for p in &mut mp.0 {
            let mut err = None;
            p.exterior_mut(|r| to_bng(r, &mut err));
            p.interiors_mut(|rs| rs.iter_mut().for_each(|r| to_bng(r, &mut err)));
            if let Some(e) = err {
                return Err(e);
            }
        }
    }
    Ok(mp)
}

fn to_bng(r: &mut LineString<f64>, err: &mut Option<String>) {
    let mut pts: Vec<(f64, f64)> = r.0.iter().map(|c| (c.x, c.y)).collect();
    if let Some((x, y)) = pts
        .iter()
        .find(|(x, y)| !crs::plausibly_england_lonlat(*x, *y))
    {
        *err = Some(format!(
            "position ({x}, {y}) is not a WGS84 lon/lat in England"
        ));
        return;
    }
    match crs::wgs84_to_bng_in_place(&mut pts) {
        Ok(()) => r.0 = pts.into_iter().map(|(x, y)| Coord { x, y }).collect(),
        Err(e) => *err = Some(e.to_string()),
    }
}
