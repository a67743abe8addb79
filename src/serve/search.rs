//! `GET /search`: postcodes, places and units by what people type, as GeoJSON points (with the
//! bounding box of an area), for the map's search box.

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use crate::base::crs::{self, round6, CrsError};
use crate::engine::search::{Hit, SearchQuery};
use crate::serve::error::ApiError;
use crate::serve::extract::Params;
use crate::serve::respond::geojson_response;
use crate::serve::state::Shared;

/// One result as an RFC 7946 feature: a point, with `kind`, `id`, `name`, `detail`, `match`,
/// `lad_code` and, for an area, `bbox` (also the feature's own `bbox` member).
pub fn feature(h: &Hit) -> Result<Value, CrsError> {
    let (lon, lat) = crs::bng_to_wgs84(h.pos[0], h.pos[1])?;
    let mut f = json!({
        "type": "Feature",
        "id": format!("{}:{}", h.kind.as_str(), h.id),
        "geometry": {"type": "Point", "coordinates": [round6(lon), round6(lat)]},
        "properties": {
            "kind": h.kind.as_str(),
            "id": h.id,
            "name": h.name,
            "detail": h.detail,
            "match": h.matched.as_str(),
            "lad_code": h.lad_code,
            "bbox": h.bbox,
        },
    });
    if let Some(b) = h.bbox {
        f["bbox"] = json!(b);
    }
    Ok(f)
}

pub async fn search(
    State(s): State<Shared>,
    p: Params<(SearchQuery,)>,
) -> Result<Response, ApiError> {
    let (q,) = p.value;
    q.check()?;
    let hits = s.cpu(move |s| s.engine.search(&q)).await??;
    let features: Vec<Value> = hits
        .iter()
        .map(feature)
        .collect::<Result<_, _>>()
        .map_err(ApiError::internal)?;
    Ok(geojson_response(json!({
        "type": "FeatureCollection",
        "numberReturned": features.len(),
        "features": features,
    })))
}
