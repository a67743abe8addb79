//! The HTTP API (axum): OGC API - Features (Part 1, core) over every layer, `/rank` for the
//! ranked candidates, `/health`, the OpenAPI document at `/api`, and the web map from `web/`.
//!
//! Handlers only parse parameters into the library's types (`Weights`, `Filters`) and call the
//! same `rank::rank` the CLI calls. Every error is one JSON shape, `{code, message}`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::atlas::Atlas;
use crate::catchment::CatchmentSource;
use crate::collections::{self, Collection};
use crate::criteria::{Scales, Settings};
use crate::crs;
use crate::date::Date;
use crate::import::Unit;
use crate::join::{attach, Context, JoinParams};
use crate::output;
use crate::rank::{self, Filters, Weights};

/// Default and maximum `limit` for `/collections/{id}/items` and `/rank`.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// Everything the handlers read. Built once; never changed by a request.
pub struct AppState {
    pub atlas: Arc<Atlas>,
    pub units: Vec<Unit>,
    pub contexts: Vec<Context>,
    pub catchments: Box<dyn CatchmentSource>,
    pub collections: Vec<Collection>,
    pub join: JoinParams,
    pub as_of: Date,
    pub units_file: String,
    pub web_dir: PathBuf,
}

impl AppState {
    /// Joins the units and builds every collection.
    pub fn new(
        atlas: Arc<Atlas>,
        units: Vec<Unit>,
        catchments: Box<dyn CatchmentSource>,
        join: JoinParams,
        as_of: Date,
        units_file: String,
        web_dir: PathBuf,
    ) -> AppState {
        let contexts = attach(&atlas, &units, catchments.as_ref(), &join);
        let collections = collections::build_all(&atlas, &units, &contexts, catchments.as_ref());
        AppState {
            atlas,
            units,
            contexts,
            catchments,
            collections,
            join,
            as_of,
            units_file,
            web_dir,
        }
    }
}

/// The one error shape of the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    fn bad(param: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_parameter",
            message: format!("{param}: {message}"),
        }
    }
    fn not_found(message: String) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message,
        }
    }
    fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response()
    }
}

type Shared = Arc<AppState>;

/// The router, apart from `main` so tests can drive it in-process.
pub fn app(state: Shared) -> Router {
    let web = tower_http::services::ServeDir::new(&state.web_dir);
    Router::new()
        .route("/health", get(health))
        .route("/api", get(openapi))
        .route("/conformance", get(conformance))
        .route("/collections", get(list_collections))
        .route("/collections/{id}", get(one_collection))
        .route("/collections/{id}/items", get(items))
        .route("/collections/{id}/items/{fid}", get(item))
        .route("/rank", get(rank_handler))
        .route("/optimise", axum::routing::post(optimise_handler))
        .route("/attribution", get(attribution))
        .fallback_service(web.fallback(get(not_found)))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such resource; see /api for the routes".into())
}

/// Parses a query string into pairs, allowing only the named parameters, each once.
fn params(raw: Option<String>, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad("query string", e))?;
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::bad(
                &k,
                format!("unknown parameter; allowed here: {}", allowed.join(", ")),
            ));
        }
        if out.insert(k.clone(), v).is_some() {
            return Err(ApiError::bad(&k, "given more than once"));
        }
    }
    Ok(out)
}

fn parse_usize(
    p: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match p.get(name) {
        None => Ok(default),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(v) if v <= max => Ok(v),
            _ => Err(ApiError::bad(
                name,
                format!("`{s}` must be a whole number from 0 to {max}"),
            )),
        },
    }
}

/// `bbox=minlon,minlat,maxlon,maxlat` (WGS84), checked.
pub fn parse_bbox(s: &str) -> Result<[f64; 4], ApiError> {
    Filters::parse_bbox(s).map_err(|e| ApiError::bad("bbox", e))
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

async fn health(State(s): State<Shared>) -> Json<Value> {
    let layers: Vec<Value> = s
        .atlas
        .manifest
        .layers
        .iter()
        .map(|l| json!({"name": l.name, "vintage": l.vintage, "rows": l.rows}))
        .collect();
    Json(json!({
        "status": "ok",
        "sitefinder": env!("CARGO_PKG_VERSION"),
        "units": s.units.len(),
        "units_file": s.units_file,
        "catchments": s.catchments.kind(),
        "data": layers,
    }))
}

async fn attribution(State(s): State<Shared>) -> Json<Value> {
    Json(json!({"attribution": s.atlas.manifest.attribution, "layers": s.atlas.manifest.layers}))
}

async fn conformance() -> Json<Value> {
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

async fn list_collections(
    State(s): State<Shared>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    params(q, &["f"])?;
    let cs: Vec<Value> = s.collections.iter().map(collection_json).collect();
    Ok(Json(json!({
        "collections": cs,
        "links": [{"href": "/collections", "rel": "self", "type": "application/json"}],
    })))
}

async fn one_collection(
    State(s): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    params(q, &["f"])?;
    Ok(Json(collection_json(find(&s, &id)?)))
}

fn geojson_response(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/geo+json")], Json(v)).into_response()
}

fn page_links(
    path: &str,
    query: &HashMap<String, String>,
    offset: usize,
    limit: usize,
    matched: usize,
) -> Vec<Value> {
    let href = |off: usize| {
        let mut q: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| *k != "offset" && *k != "limit")
            .map(|(k, v)| (k.clone(), v.clone()))
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

async fn items(
    State(s): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let c = find(&s, &id)?;
    let p = params(q, &["bbox", "limit", "offset", "f"])?;
    let limit = parse_usize(&p, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = parse_usize(&p, "offset", 0, usize::MAX / 2)?;
    let matching: Vec<usize> = match p.get("bbox") {
        Some(b) => {
            let wgs = parse_bbox(b)?;
            c.in_bbox(bbox_to_bng(wgs)?, wgs)
        }
        None => (0..c.items.len()).collect(),
    };
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&i| collections::feature(&s.atlas, &c.items[i]))
        .collect::<Result<_, _>>()
        .map_err(ApiError::internal)?;
    Ok(geojson_response(json!({
        "type": "FeatureCollection",
        "numberMatched": matching.len(),
        "numberReturned": page.len(),
        "links": page_links(&format!("/collections/{id}/items"), &p, offset, limit, matching.len()),
        "features": page,
    })))
}

async fn item(
    State(s): State<Shared>,
    Path((id, fid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    params(q, &["f"])?;
    let c = find(&s, &id)?;
    let it = c
        .get(&fid)
        .ok_or_else(|| ApiError::not_found(format!("no feature `{fid}` in collection `{id}`")))?;
    let mut f = collections::feature(&s.atlas, it).map_err(ApiError::internal)?;
    f["links"] = json!([
        {"href": format!("/collections/{id}/items/{fid}"), "rel": "self", "type": "application/geo+json"},
        {"href": format!("/collections/{id}"), "rel": "collection", "type": "application/json"},
    ]);
    Ok(geojson_response(f))
}

/// Parses the `/rank` parameters into the library's weights and filters.
pub fn rank_params(
    s: &AppState,
    p: &HashMap<String, String>,
) -> Result<(Weights, Filters), ApiError> {
    let weights = match p.get("weights") {
        Some(w) => Weights::parse_list(w).map_err(|e| ApiError::bad("weights", e))?,
        None => Weights::default(),
    };
    let nonempty = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let filters = Filters {
        pcn: nonempty("pcn").map(str::to_string),
        lad: nonempty("lad").map(str::to_string),
        min_floor_area_m2: match nonempty("min_floor_area_m2") {
            None => None,
            Some(v) => Some(
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        ApiError::bad(
                            "min_floor_area_m2",
                            format!("`{v}` must be a number of square metres, 0 or more"),
                        )
                    })?,
            ),
        },
        imd_deciles: nonempty("imd_deciles")
            .map(Filters::parse_deciles)
            .transpose()
            .map_err(|e| ApiError::bad("imd_deciles", e))?,
        bbox: nonempty("bbox").map(parse_bbox).transpose()?,
    };
    rank::check_filters(&s.atlas, &filters).map_err(|e| {
        let param = match e {
            rank::RankError::UnknownPcn { .. } => "pcn",
            rank::RankError::UnknownLad(_) => "lad",
            _ => "filters",
        };
        ApiError::bad(param, e)
    })?;
    Ok((weights, filters))
}

async fn rank_handler(
    State(s): State<Shared>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(
        q,
        &[
            "bbox",
            "pcn",
            "lad",
            "min_floor_area_m2",
            "imd_deciles",
            "weights",
            "limit",
            "offset",
        ],
    )?;
    let (weights, filters) = rank_params(&s, &p)?;
    let limit = parse_usize(&p, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = parse_usize(&p, "offset", 0, usize::MAX / 2)?;
    let settings = Settings {
        scales: Scales::default(),
        join: s.join,
        as_of: s.as_of,
        catchment_kind: s.catchments.kind(),
    };
    let ranking = rank::rank(
        &s.atlas,
        &s.units,
        &s.contexts,
        &weights,
        &filters,
        &settings,
    )
    .map_err(|e| ApiError::bad("filters", e))?;
    let features = ranking
        .rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| output::feature(&s.atlas, &s.units, &s.contexts, &weights, r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    let mut members = Map::new();
    members.insert("numberMatched".into(), json!(ranking.rows.len()));
    members.insert("numberReturned".into(), json!(features.len()));
    members.insert("weights".into(), json!(weights.to_list()));
    members.insert("as_of".into(), json!(s.as_of.to_string()));
    members.insert("catchments".into(), json!(s.catchments.describe()));
    members.insert("filtered_out".into(), json!(ranking.filtered_out.len()));
    members.insert(
        "links".into(),
        json!(page_links("/rank", &p, offset, limit, ranking.rows.len())),
    );
    members.insert("attribution".into(), json!(s.atlas.manifest.attribution));
    let fc = output::collection(features, &members);
    Ok(geojson_response(
        serde_json::to_value(fc).map_err(ApiError::internal)?,
    ))
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// The body of `POST /optimise`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimiseBody {
    k: Option<usize>,
    radius_m: Option<f64>,
    model: Option<String>,
    /// `practices,pharmacies,vaccination-sites` or a list of those names.
    fixed: Option<Value>,
    pcn: Option<String>,
    lad: Option<String>,
    weighting: Option<String>,
    exact: Option<bool>,
    /// Unit ids of a scenario to compare with the choice.
    compare: Option<Vec<String>>,
}

async fn optimise_handler(
    State(s): State<Shared>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    use crate::optimise::{run, FixedLayer, Model, Request, Weighting};
    let b: OptimiseBody = if body.iter().all(|c| c.is_ascii_whitespace()) {
        serde_json::from_str("{}").map_err(|e| ApiError::bad("body", e))?
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad("body", format!("{e} (expected JSON with k, radius_m, model, fixed, pcn, lad, weighting, exact)")))?
    };
    let model = match &b.model {
        None => Model::Mclp,
        Some(m) => Model::parse(m)
            .ok_or_else(|| ApiError::bad("model", format!("`{m}`: use mclp, p-median or lscp")))?,
    };
    let fixed = match &b.fixed {
        None | Some(Value::Null) => vec![],
        Some(Value::String(t)) => {
            FixedLayer::parse_list(t).map_err(|e| ApiError::bad("fixed", e))?
        }
        Some(Value::Array(a)) => {
            let names: Vec<String> = a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ApiError::bad("fixed", "a list of layer names"))
                })
                .collect::<Result<_, _>>()?;
            FixedLayer::parse_list(&names.join(",")).map_err(|e| ApiError::bad("fixed", e))?
        }
        Some(_) => return Err(ApiError::bad("fixed", "a list of layer names")),
    };
    let weighting = match &b.weighting {
        None => Weighting::default(),
        Some(w) => Weighting::parse(w).ok_or_else(|| {
            ApiError::bad(
                "weighting",
                format!("`{w}`: use deciles, score, or ten weights"),
            )
        })?,
    };
    let k = b.k.unwrap_or(5);
    if k > 1000 {
        return Err(ApiError::bad("k", "at most 1000"));
    }
    let radius_m = b.radius_m.unwrap_or(800.0);
    if !(50.0..=20_000.0).contains(&radius_m) {
        return Err(ApiError::bad("radius_m", "give 50 to 20000 metres"));
    }
    let nonempty = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let req = Request {
        model,
        k,
        radius_m,
        fixed,
        pcn: nonempty(&b.pcn),
        lad: nonempty(&b.lad),
        weighting,
        exact: b.exact.unwrap_or(false),
        compare: b.compare.clone().unwrap_or_default(),
    };
    let state = s.clone();
    // The solve is CPU work: keep it off the async workers.
    let report = tokio::task::spawn_blocking(move || {
        run(
            &state.atlas,
            &state.units,
            &state.contexts,
            state.catchments.as_ref(),
            &req,
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| {
        let param = if e.starts_with("compare") {
            "compare"
        } else if e.contains("PCN") {
            "pcn"
        } else if e.contains("radius") {
            "radius_m"
        } else if e.starts_with("k ") {
            "k"
        } else {
            "area"
        };
        ApiError::bad(param, e)
    })?;
    let h = &report.heuristic;
    let mut features = vec![];
    for (n, (j, m)) in h.chosen.iter().zip(&h.marginal).enumerate() {
        let ui = report.candidate_units[*j];
        let u = &s.units[ui];
        let (lon, lat) = crs::bng_to_wgs84(u.pos[0], u.pos[1]).map_err(ApiError::internal)?;
        let l = &s.atlas.lsoas[s.contexts[ui].lsoa];
        features.push(json!({"type": "Feature", "id": u.id,
            "geometry": {"type": "Point", "coordinates": [output::round6(lon), output::round6(lat)]},
            "properties": {"order": n + 1, "id": u.id, "name": u.name, "marginal": m,
                "lsoa11cd": l.lsoa11cd, "imd_decile": l.imd_decile, "radius_m": radius_m}}));
    }
    let exact = match &report.exact {
        None => Value::Null,
        Some(Ok(e)) => json!({"objective": e.objective, "proven_optimum": true,
            "chosen": e.chosen.iter().map(|j| s.units[report.candidate_units[*j]].id.clone()).collect::<Vec<_>>()}),
        Some(Err(e)) => json!({"error": e}),
    };
    let covered: f64 = report.covered_after.iter().sum();
    let total: f64 = report.demand_total.iter().sum();
    Ok(geojson_response(json!({
        "type": "FeatureCollection",
        "model": h.model.name(),
        "k": k,
        "radius_m": radius_m,
        "objective": h.objective,
        "exact": exact,
        "candidates": report.candidate_units.len(),
        "demand_lsoas": report.demand_lsoas.len(),
        "fixed_sites": report.fixed_sites,
        "covered_demand": covered,
        "total_demand": total,
        "equity": report.equity_lines(),
        "compared": report.compared.as_ref().map(|c| json!({"ids": c.ids, "objective": c.objective,
            "covered_demand": c.covered.iter().sum::<f64>(), "covered_by_decile": c.covered})),
        "features": features,
    })))
}
