//! The HTTP API (axum): OGC API - Features (Part 1, core) over every layer, `/rank` for the
//! ranked candidates, `/health`, the OpenAPI document at `/api`, and the web map from `web/`.
//!
//! Handlers only parse parameters into the library's types (`Weights`, `Filters`) and call the
//! same `rank::rank` the CLI calls. Every error is one JSON shape, `{code, message}`.
//!
//! Shortlists (`/shortlists`) and council plan overlays (`/overlays`) live in the state
//! database ([`crate::store`]). Reads are open; writes (uploads, deletes, shortlist edits) need
//! `Authorization: Bearer <token>` with the token the server was started with.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
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
use crate::export::{self, ExportFormat, Meta};
use crate::import::Unit;
use crate::join::{attach, Context, JoinParams};
use crate::output;
use crate::overlay::{Overlay, OverlayError, UploadFormat, UploadOptions};
use crate::rank::{self, Filters, Weights};
use crate::store::{Store, StoreError};

/// Default and maximum `limit` for `/collections/{id}/items` and `/rank`.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// Everything the handlers read. Built once; requests change only the state database and the
/// overlays loaded from it (behind a lock, replaced whole after a committed write).
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
    /// Shortlists and overlays; `None` = those routes answer 503.
    pub store: Option<Store>,
    pub overlays: RwLock<Vec<Arc<Overlay>>>,
    /// The bearer token writes need; `None` = writes are refused.
    pub token: Option<String>,
    pub max_upload_bytes: usize,
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
            store: None,
            overlays: RwLock::new(vec![]),
            token: None,
            max_upload_bytes: crate::overlay::DEFAULT_MAX_UPLOAD_BYTES,
        }
    }

    /// Adds the state database (loading its overlays) and the write token.
    pub fn with_store(
        mut self,
        store: Store,
        token: Option<String>,
    ) -> Result<AppState, StoreError> {
        let overlays = store.overlays()?.into_iter().map(Arc::new).collect();
        self.overlays = RwLock::new(overlays);
        self.store = Some(store);
        self.token = token.filter(|t| !t.trim().is_empty());
        Ok(self)
    }

    /// What the criteria need: this server's scales, join, date and catchments, and the plan.
    fn settings<'a>(&'a self, plan: Option<&'a Overlay>) -> Settings<'a> {
        Settings {
            scales: Scales::default(),
            join: self.join,
            as_of: self.as_of,
            catchment_kind: self.catchments.kind(),
            plan,
        }
    }

    fn overlay(&self, key: &str) -> Option<Arc<Overlay>> {
        let k = key.trim();
        let id = k.parse::<i64>().ok();
        self.overlays
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|o| Some(o.id) == id || o.name.eq_ignore_ascii_case(k))
            .cloned()
    }

    fn reload_overlays(&self) -> Result<(), ApiError> {
        let store = self.store()?;
        let fresh: Vec<Arc<Overlay>> = store
            .overlays()
            .map_err(ApiError::from)?
            .into_iter()
            .map(Arc::new)
            .collect();
        *self.overlays.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    fn store(&self) -> Result<&Store, ApiError> {
        self.store.as_ref().ok_or_else(|| ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "no_state",
            message: "this server has no state directory, so no shortlists or overlays; start it with --state DIR".into(),
        })
    }

    /// Checks the bearer token of a write.
    fn authorise(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                code: "writes_disabled",
                message: "this server takes no writes: start it with --token-file FILE or SITEFINDER_TOKEN set".into(),
            });
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match given {
            None => Err(ApiError {
                status: StatusCode::UNAUTHORIZED,
                code: "unauthorized",
                message: "this is a write: send the header `Authorization: Bearer <token>` with the token the server was started with".into(),
            }),
            Some(t) if same(t.as_bytes(), token.as_bytes()) => Ok(()),
            Some(_) => Err(ApiError {
                status: StatusCode::FORBIDDEN,
                code: "forbidden",
                message: "the bearer token is not the one this server was started with".into(),
            }),
        }
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let (status, code) = match &e {
            StoreError::NoShortlist { .. }
            | StoreError::NoSite { .. }
            | StoreError::NoOverlay(_) => (StatusCode::NOT_FOUND, "not_found"),
            StoreError::ShortlistExists(_) | StoreError::OverlayExists(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            StoreError::BadName(_) => (StatusCode::BAD_REQUEST, "bad_parameter"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
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
    use axum::routing::{post, put};
    let web = tower_http::services::ServeDir::new(&state.web_dir);
    let limit = state.max_upload_bytes;
    Router::new()
        .route("/shortlists", get(list_shortlists).post(create_shortlist))
        .route(
            "/shortlists/{name}",
            get(get_shortlist).delete(delete_shortlist),
        )
        .route("/shortlists/{name}/sites", post(add_sites))
        .route(
            "/shortlists/{name}/sites/{id}",
            put(set_note).delete(remove_site),
        )
        .route("/shortlists/{name}/export", get(export_shortlist))
        .route(
            "/overlays",
            get(list_overlays)
                .post(upload_overlay)
                .layer(DefaultBodyLimit::max(limit)),
        )
        .route("/overlays/{id}", get(get_overlay).delete(delete_overlay))
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
) -> Result<(Weights, Filters, Option<Arc<Overlay>>), ApiError> {
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
        plan_within_m: nonempty("plan_within_m")
            .map(Filters::parse_plan_within)
            .transpose()
            .map_err(|e| ApiError::bad("plan_within_m", e))?,
    };
    let overlay = match nonempty("overlay") {
        None => None,
        Some(k) => Some(s.overlay(k).ok_or_else(|| {
            ApiError::bad(
                "overlay",
                format!("no overlay `{k}`; GET /overlays lists them"),
            )
        })?),
    };
    if filters.plan_within_m.is_some() && overlay.is_none() {
        return Err(ApiError::bad(
            "plan_within_m",
            rank::RankError::PlanFilterWithoutOverlay,
        ));
    }
    rank::check_filters(&s.atlas, &filters).map_err(|e| {
        let param = match e {
            rank::RankError::UnknownPcn { .. } => "pcn",
            rank::RankError::UnknownLad(_) => "lad",
            _ => "filters",
        };
        ApiError::bad(param, e)
    })?;
    Ok((weights, filters, overlay))
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
            "overlay",
            "plan_within_m",
            "format",
        ],
    )?;
    let (weights, filters, overlay) = rank_params(&s, &p)?;
    let format = match p.get("format").map(|f| f.trim()).filter(|f| !f.is_empty()) {
        None => ExportFormat::GeoJson,
        Some(f) => ExportFormat::parse(f).ok_or_else(|| {
            ApiError::bad("format", format!("`{f}`: use geojson, csv, xlsx or gpkg"))
        })?,
    };
    // A download holds every matched unit unless a limit is given; a page holds 100.
    let download = p.contains_key("format") && format != ExportFormat::GeoJson;
    let default_limit = if download { MAX_LIMIT } else { DEFAULT_LIMIT };
    let limit = parse_usize(&p, "limit", default_limit, MAX_LIMIT)?;
    let offset = parse_usize(&p, "offset", 0, usize::MAX / 2)?;
    let settings = s.settings(overlay.as_deref());
    let ranking = rank::rank(
        &s.atlas,
        &s.units,
        &s.contexts,
        &weights,
        &filters,
        &settings,
    )
    .map_err(|e| ApiError::bad("filters", e))?;
    if download {
        let mut ranking = ranking;
        ranking.rows = ranking.rows.into_iter().skip(offset).take(limit).collect();
        let mut members = Map::new();
        members.insert("sitefinder".into(), json!(env!("CARGO_PKG_VERSION")));
        members.insert("units_file".into(), json!(s.units_file));
        members.insert("weights".into(), json!(weights.to_list()));
        members.insert("as_of".into(), json!(s.as_of.to_string()));
        members.insert("catchments".into(), json!(s.catchments.describe()));
        if let Some(o) = &overlay {
            members.insert("plan_overlay".into(), json!(o.name));
        }
        members.insert("attribution".into(), json!(s.atlas.manifest.attribution));
        let filters: Vec<(String, String)> = [
            "pcn",
            "lad",
            "imd_deciles",
            "min_floor_area_m2",
            "bbox",
            "plan_within_m",
            "limit",
            "offset",
        ]
        .iter()
        .map(|k| (k.to_string(), p.get(*k).cloned().unwrap_or_default()))
        .collect();
        return download_response(
            &s,
            format,
            &ranking,
            &Meta { members, filters },
            "sitefinder-ranking",
        )
        .await;
    }
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
    members.insert(
        "plan_overlay".into(),
        json!(overlay.as_ref().map(|o| o.name.clone())),
    );
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

/// An export as a file download. Rendering (XLSX, GeoPackage) is CPU and file work: off the
/// async workers.
async fn download_response(
    s: &Shared,
    format: ExportFormat,
    ranking: &rank::Ranking,
    meta: &Meta,
    stem: &str,
) -> Result<Response, ApiError> {
    let (state, ranking, meta) = (s.clone(), ranking.clone(), meta.clone());
    let bytes = tokio::task::spawn_blocking(move || {
        export::render(
            format,
            &state.atlas,
            &state.units,
            &state.contexts,
            &ranking,
            &meta,
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}.{}\"", format.extension()),
            ),
        ],
        bytes,
    )
        .into_response())
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// Checks that every id is a unit this server ranks; names the ones that are not.
fn check_ids(s: &AppState, ids: &[String]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Err(ApiError::bad("ids", "give at least one unit id"));
    }
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !s.units.iter().any(|u| &u.id == *id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad(
            "ids",
            format!(
                "no unit {} in {}; nothing was changed",
                missing.join(", "),
                s.units_file
            ),
        ));
    }
    Ok(())
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad("body", format!("{e} (expected JSON {expected})")))
}

async fn list_shortlists(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let all = s.store()?.list_shortlists()?;
    Ok(Json(
        json!({"shortlists": all.into_iter().map(|(name, created, updated, n)| json!({
        "name": name, "created": created, "updated": updated, "sites": n,
        "links": [{"href": format!("/shortlists/{}", urlencode(&name)), "rel": "item"}],
    })).collect::<Vec<_>>()}),
    ))
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|x| x.trim_start_matches('=').replace('+', "%20"))
        .unwrap_or_default()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewShortlist {
    name: String,
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    note: String,
    weights: Option<String>,
    #[serde(default)]
    query: String,
}

async fn create_shortlist(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    s.authorise(&headers)?;
    let b: NewShortlist = json_body(&body, "{name, ids, note, weights, query}")?;
    let weights = match b.weights.as_deref().filter(|w| !w.trim().is_empty()) {
        Some(w) => Weights::parse_list(w).map_err(|e| ApiError::bad("weights", e))?,
        None => Weights::default(),
    };
    if !b.ids.is_empty() {
        check_ids(&s, &b.ids)?;
    }
    let sl = s.store()?.create_shortlist(
        &b.name,
        &s.units_file,
        &weights.to_list(),
        &b.query,
        &b.ids,
        &b.note,
    )?;
    Ok(created(sl.to_json()))
}

async fn get_shortlist(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.store()?.shortlist(&name)?.to_json()))
}

async fn delete_shortlist(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    s.store()?.delete_shortlist(&name)?;
    Ok(Json(json!({"deleted": name})))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSites {
    ids: Vec<String>,
    #[serde(default)]
    note: String,
}

async fn add_sites(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    let b: NewSites = json_body(&body, "{ids: [...], note}")?;
    check_ids(&s, &b.ids)?;
    Ok(Json(
        s.store()?.add_sites(&name, &b.ids, &b.note)?.to_json(),
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    note: String,
}

async fn set_note(
    State(s): State<Shared>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    let b: Note = json_body(&body, "{note}")?;
    Ok(Json(s.store()?.set_note(&name, &id, &b.note)?.to_json()))
}

async fn remove_site(
    State(s): State<Shared>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    Ok(Json(s.store()?.remove_site(&name, &id)?.to_json()))
}

async fn export_shortlist(
    State(s): State<Shared>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(q, &["format"])?;
    let f = p.get("format").map(String::as_str).unwrap_or("xlsx");
    let format = ExportFormat::parse(f)
        .ok_or_else(|| ApiError::bad("format", format!("`{f}`: use csv, xlsx, geojson or gpkg")))?;
    let sl = s.store()?.shortlist(&name)?;
    let overlay = export::query_overlay(&sl.query).and_then(|k| s.overlay(&k));
    let settings = s.settings(overlay.as_deref());
    let ranking = export::shortlist_ranking(&s.atlas, &s.units, &s.contexts, &sl, &settings)
        .map_err(|e| ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: e.to_string(),
        })?;
    let mut meta = export::shortlist_meta(&sl, s.as_of, &s.catchments.describe(), &s.atlas);
    if let Some(o) = &overlay {
        meta.members.insert("plan_overlay".into(), json!(o.name));
    }
    download_response(&s, format, &ranking, &meta, &sl.name).await
}

async fn list_overlays(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    s.store()?;
    let all: Vec<Value> = s
        .overlays
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|o| {
            let mut v = o.summary();
            v["links"] = json!([{"href": format!("/overlays/{}", o.id), "rel": "item", "type": "application/geo+json"}]);
            v
        })
        .collect();
    Ok(Json(
        json!({"overlays": all, "max_upload_bytes": s.max_upload_bytes}),
    ))
}

async fn get_overlay(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.store()?;
    let o = s
        .overlay(&id)
        .ok_or_else(|| ApiError::from(StoreError::NoOverlay(id.clone())))?;
    let mut v = o.to_geojson().map_err(ApiError::internal)?;
    v["overlay"] = o.summary();
    Ok(geojson_response(v))
}

async fn delete_overlay(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    let o = s
        .overlay(&id)
        .ok_or_else(|| ApiError::from(StoreError::NoOverlay(id.clone())))?;
    s.store()?.delete_overlay(o.id)?;
    s.reload_overlays()?;
    Ok(Json(json!({"deleted": o.id, "name": o.name})))
}

/// `POST /overlays?name=...&format=...&repair=true&filename=...`, the file as the body.
async fn upload_overlay(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    // The token first: an unauthorised upload learns nothing about its file.
    s.authorise(&headers)?;
    s.store()?;
    let p = params(q, &["name", "format", "repair", "filename"])?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "too_large",
                message: OverlayError::TooLarge {
                    size: s.max_upload_bytes + 1,
                    limit: s.max_upload_bytes,
                }
                .to_string()
                .replace(&format!("is {} bytes", s.max_upload_bytes + 1), "is"),
            }
        } else {
            ApiError::bad("body", e.body_text())
        }
    })?;
    let name = p
        .get("name")
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::bad(
                "name",
                "give the overlay a name, e.g. name=Rochdale%20Future%20High%20Streets",
            )
        })?;
    let format = match p.get("format").map(|f| f.trim()).filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => Some(UploadFormat::parse(f).ok_or_else(|| {
            ApiError::bad("format", format!("`{f}`: use geojson, shapefile or gpkg"))
        })?),
    };
    let repair = match p.get("repair").map(|r| r.trim()) {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(r) => return Err(ApiError::bad("repair", format!("`{r}`: use true or false"))),
    };
    let opts = UploadOptions {
        format,
        repair,
        max_bytes: s.max_upload_bytes,
    };
    let parsed = tokio::task::spawn_blocking(move || crate::overlay::parse(&body, &opts))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError {
            status: if matches!(e, OverlayError::TooLarge { .. }) {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            },
            code: if matches!(e, OverlayError::TooLarge { .. }) {
                "too_large"
            } else {
                "bad_upload"
            },
            message: e.to_string(),
        })?;
    let source = p.get("filename").cloned().unwrap_or_default();
    let o = s.store()?.add_overlay(&name, &source, &parsed)?;
    s.reload_overlays()?;
    let mut v = o.summary();
    v["links"] = json!([{"href": format!("/overlays/{}", o.id), "rel": "item", "type": "application/geo+json"}]);
    Ok(created(v))
}
