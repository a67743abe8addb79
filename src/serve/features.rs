//! OGC API - Features (Part 1, core): the collections, their items (paged, `bbox`), one item.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use crate::analysis::rank::Filters;
use crate::base::crs;
use crate::base::params::opt_text;
use crate::engine::{Paging, DEFAULT_LIMIT, MAX_LIMIT};
use crate::serve::collections::{self, Collection};
use crate::serve::error::ApiError;
use crate::serve::extract::Params;
use crate::serve::respond::geojson_response;
use crate::serve::state::{AppState, Shared};

/// `f`, the OGC output-format parameter; JSON is the only format, so any value gives JSON.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatF {
    /// Output format (JSON only; accepted for OGC clients).
    #[serde(default)]
    pub f: Option<String>,
}

/// The items of a collection that meet a box.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// WGS84 box minlon,minlat,maxlon,maxlat; features that meet it.
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "-2.20,53.60,-2.12,53.64")]
    pub bbox: Option<String>,
    /// Only features whose `kind` property is this: for `places`, local_authority, ward or pcn;
    /// for the site layers, their kind of site (e.g. a stop type such as BCT).
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "ward")]
    pub kind: Option<String>,
}

pub async fn conformance() -> Json<Value> {
    Json(json!({"conformsTo": [
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    ]}))
}

fn collection_json(c: &Collection) -> Value {
    let extent = c.extent_bng.and_then(|e| {
        let (a, b) = (crs::bng_to_wgs84(e[0], e[1]).ok()?, crs::bng_to_wgs84(e[2], e[3]).ok()?);
        Some(json!({"spatial": {"bbox": [[a.0, a.1, b.0, b.1]], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}))
    });
    json!({
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "numberOfItems": c.items.len(),
        "extent": extent,
        "links": [
            {"href": format!("/collections/{}", c.id), "rel": "self", "type": "application/json"},
            {"href": format!("/collections/{}/items", c.id), "rel": "items", "type": "application/geo+json"},
        ],
    })
}

fn find<'a>(s: &'a AppState, id: &str) -> Result<&'a Collection, ApiError> {
    s.collections.iter().find(|c| c.id == id).ok_or_else(|| {
        ApiError::not_found(format!(
            "no collection `{id}`; the collections are: {}",
            s.collections
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

pub async fn list_collections(State(s): State<Shared>, _: Params<(FormatF,)>) -> Json<Value> {
    let cs: Vec<Value> = s.collections.iter().map(collection_json).collect();
    Json(json!({
        "collections": cs,
        "links": [{"href": "/collections", "rel": "self", "type": "application/json"}],
    }))
}

pub async fn one_collection(
    State(s): State<Shared>,
    Path(id): Path<String>,
    _: Params<(FormatF,)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(collection_json(find(&s, &id)?)))
}

/// Links to this page and the next and previous ones, keeping the other parameters.
pub fn page_links(
    path: &str,
    pairs: &[(String, String)],
    offset: usize,
    limit: usize,
    matched: usize,
) -> Vec<Value> {
    let href = |off: usize| {
        let mut q: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "offset" && k != "limit")
            .cloned()
            .collect();
        q.sort();
        q.push(("limit".into(), limit.to_string()));
        q.push(("offset".into(), off.to_string()));
        format!(
            "{path}?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    };
    let mut links =
        vec![json!({"href": href(offset), "rel": "self", "type": "application/geo+json"})];
    if offset + limit < matched {
        links.push(
            json!({"href": href(offset + limit), "rel": "next", "type": "application/geo+json"}),
        );
    }
    if offset > 0 {
        links.push(json!({"href": href(offset.saturating_sub(limit)), "rel": "prev", "type": "application/geo+json"}));
    }
    links
}

/// A BNG envelope containing the image of a WGS84 box.
pub fn bbox_to_bng(b: [f64; 4]) -> Result<[f64; 4], ApiError> {
    let [x0, y0, x1, y1] = b;
    // Clamp to a box around Great Britain (BNG is meaningless far from it), then transform the
    // corners and edge midpoints; the envelope of those contains the lon/lat box's image.
    let cx = |x: f64| x.clamp(-10.0, 4.0);
    let cy = |y: f64| y.clamp(48.0, 62.0);
    let (x0, x1, y0, y1) = (cx(x0), cx(x1), cy(y0), cy(y1));
    let mut env = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for i in 0..=4 {
        for j in 0..=4 {
            let lon = x0 + (x1 - x0) * i as f64 / 4.0;
            let lat = y0 + (y1 - y0) * j as f64 / 4.0;
            let (e, n) = crs::wgs84_to_bng(lon, lat).map_err(|e| ApiError::bad("bbox", e))?;
            env = [env[0].min(e), env[1].min(n), env[2].max(e), env[3].max(n)];
        }
    }
    Ok(env)
}

pub async fn items(
    State(s): State<Shared>,
    Path(id): Path<String>,
    p: Params<(ItemsQuery, Paging, FormatF)>,
) -> Result<Response, ApiError> {
    let c = find(&s, &id)?;
    let (q, paging, _) = &p.value;
    let (offset, limit) = paging.bounds(DEFAULT_LIMIT, MAX_LIMIT)?;
    let matching: Vec<usize> = match &q.bbox {
        Some(b) => {
            let wgs = Filters::parse_bbox(b)?;
            c.in_bbox(bbox_to_bng(wgs)?, wgs)
        }
        None => (0..c.items.len()).collect(),
    };
    let matching: Vec<usize> = match &q.kind {
        Some(k) => matching
            .into_iter()
            .filter(|&i| c.items[i].properties.get("kind").and_then(Value::as_str) == Some(k))
            .collect(),
        None => matching,
    };
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&i| collections::feature(&s.engine.atlas, &c.items[i]))
        .collect::<Result<_, _>>()
        .map_err(ApiError::internal)?;
    Ok(geojson_response(json!({
        "type": "FeatureCollection",
        "numberMatched": matching.len(),
        "numberReturned": page.len(),
        "links": page_links(&format!("/collections/{id}/items"), &p.pairs, offset, limit, matching.len()),
        "features": page,
    })))
}

pub async fn item(
    State(s): State<Shared>,
    Path((id, fid)): Path<(String, String)>,
    _: Params<(FormatF,)>,
) -> Result<Response, ApiError> {
    let c = find(&s, &id)?;
    let it = c
        .get(&fid)
        .ok_or_else(|| ApiError::not_found(format!("no feature `{fid}` in collection `{id}`")))?;
    let mut f = collections::feature(&s.engine.atlas, it).map_err(ApiError::internal)?;
    f["links"] = json!([
        {"href": format!("/collections/{id}/items/{fid}"), "rel": "self", "type": "application/geo+json"},
        {"href": format!("/collections/{id}"), "rel": "collection", "type": "application/json"},
    ]);
    Ok(geojson_response(f))
}
