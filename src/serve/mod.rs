//! The HTTP API (axum): OGC API - Features (Part 1, core) over every layer, `/rank` for the
//! ranked candidates, `POST /optimise`, `/search` (postcodes, places, units), `/health`, the
//! OpenAPI document at `/api`, shortlists and plan overlays, `/map-config`, and the web map.
//!
//! Handlers are thin adapters: they read a query type of the library (the same one the CLI
//! flattens into its flags), call the [`Engine`], and render its answer. Every error is one
//! JSON shape, `{code, message}` ([`error::ApiError`]). Reads are open; writes (uploads,
//! deletes, shortlist edits) need `Authorization: Bearer <token>`.

pub mod assets;
pub mod basemap;
pub mod collections;
pub mod error;
pub mod etag;
pub mod extract;
pub mod map_config;
pub mod ogc;
pub mod openapi;
pub mod respond;
pub mod state;

pub mod features;
pub mod guard;
pub mod listen;
pub mod mvt;
pub mod overlays;
pub mod ranking;
pub mod search;
pub mod shortlists;
pub mod tile_cache;
pub mod tiles;
pub mod workers;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

pub use error::ApiError;
pub use state::{AppState, Shared};

/// The router, apart from `main` so tests can drive it in-process.
pub fn app(state: Shared) -> Router {
    let limit = state.max_upload_bytes;
    let body_timeout = state.body_timeout;
    let web = assets::router(state.web_dir.clone());
    let cors = cors(&state.cors_origins);
    // Shortlists and overlays: their writes need the token, checked before anything reads
    // the body (an unauthorised upload costs the server nothing but its headers).
    let stores = Router::new()
        .route(
            "/shortlists",
            get(shortlists::list).post(shortlists::create),
        )
        .route(
            "/shortlists/{name}",
            get(shortlists::one).delete(shortlists::delete),
        )
        .route("/shortlists/{name}/sites", post(shortlists::add_sites))
        .route(
            "/shortlists/{name}/sites/{id}",
            put(shortlists::set_note).delete(shortlists::remove_site),
        )
        .route("/shortlists/{name}/export", get(shortlists::export))
        .route(
            "/overlays",
            get(overlays::list)
                .post(overlays::upload)
                .layer(DefaultBodyLimit::max(limit)),
        )
        .route(
            "/overlays/{id}",
            get(overlays::one).delete(overlays::delete),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            token_first,
        ));
    let api = Router::new()
        .merge(stores)
        .route("/", get(landing))
        .route("/health", get(health))
        .route("/api", get(openapi))
        .route("/conformance", get(features::conformance))
        .route("/collections", get(features::list_collections))
        .route("/collections/{id}", get(features::one_collection))
        .route("/collections/{id}/items", get(features::items))
        .route("/collections/{id}/items/{fid}", get(features::item))
        .route("/collections/{id}/queryables", get(features::queryables))
        .route("/rank", get(ranking::rank))
        .route("/optimise", post(ranking::optimise))
        .route("/attribution", get(attribution))
        .route("/search", get(search::search))
        .route("/map-config", get(map_config::map_config))
        .route("/tiles", get(tiles::list))
        .route("/tiles/{file}", get(tiles::tilejson))
        .route("/tiles/{layer}/{z}/{x}/{y}", get(tiles::tile))
        .with_state(state)
        .fallback_service(web)
        .method_not_allowed_fallback(method_not_allowed);
    // Paths are tidied before routing: `//collections//units/items/` is `/collections/units/items`
    // (GDAL asks for `//collections` when given a URL ending in a slash).
    let tidy = tower::ServiceBuilder::new()
        .map_request(tidy_path)
        .service(api);
    Router::new()
        .fallback_service(tidy)
        // Errors made below a handler (axum's body limit, a body that timed out) get the
        // API's JSON shape too: before anything compresses them.
        .layer(axum::middleware::from_fn(guard::json_errors))
        // ETags on the API's JSON answers (a 304 for a matching If-None-Match), over the
        // uncompressed bytes.
        .layer(axum::middleware::from_fn(etag::etag))
        // Answers compressed (gzip or brotli) when the client accepts it; GeoJSON pages of
        // polygons shrink about eightfold. A compressed answer's ETag is made weak: the same
        // content, other bytes.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(etag::weaken_when_encoded))
        .layer(axum::middleware::from_fn_with_state(
            body_timeout,
            guard::body_deadline,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(cors)
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(
                    tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO),
                )
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
}

/// Headers every answer carries: no sniffing of types, no framing by other sites, no referrer
/// sent on, and a content security policy that lets the page load only its own scripts, its
/// own styles (and style attributes, which Leaflet sets), images from itself, `data:` and
/// `https:` (an online base map's tiles) and talk only to this server.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::HeaderValue;
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    static CSP: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
        HeaderValue::from_str(&format!(
            "default-src 'self'; script-src 'self' '{}'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https: http:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
            assets::IMPORT_MAP_SHA256
        ))
        .expect("the policy is ASCII")
    });
    h.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    resp
}

/// A write's token, checked before its handler (and so before its body is read); reads pass.
async fn token_first(
    State(s): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::Method;
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        if let Err(e) = s.authorise(req.headers()) {
            return e.into_response();
        }
    }
    next.run(req).await
}

/// A 405 as the API's JSON error (axum keeps the `Allow` header).
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: format!("{method} is not allowed on {}", uri.path()),
    }
}

/// Repeated slashes in a path made one, and a trailing slash dropped (not from `/` itself).
fn tidy_path(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path();
    if !path.contains("//") && (path.len() <= 1 || !path.ends_with('/')) {
        return req;
    }
    let mut tidy = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && tidy.ends_with('/')) {
            tidy.push(c);
        }
    }
    while tidy.len() > 1 && tidy.ends_with('/') {
        tidy.pop();
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{tidy}?{q}"),
        None => tidy,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
    req
}

/// CORS for reads: GET and HEAD (and their preflights) from the configured origins, or any
/// origin when none is configured (every read is open, and no cookies are used). Writes are not
/// allowed from another origin's page: their preflight gets no CORS headers.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow = if origins.is_empty() {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([header::ACCEPT, header::CONTENT_TYPE, header::IF_NONE_MATCH])
        .expose_headers([header::CONTENT_DISPOSITION, header::ETAG])
        .max_age(std::time::Duration::from_secs(3600))
}

async fn health(State(s): State<Shared>) -> Json<Value> {
    let e = &s.engine;
    let layers: Vec<Value> = e
        .atlas
        .manifest
        .layers
        .iter()
        .map(|l| json!({"name": l.name, "vintage": l.vintage, "rows": l.rows}))
        .collect();
    Json(json!({
        "status": "ok",
        "sitefinder": env!("CARGO_PKG_VERSION"),
        "units": e.units.len(),
        // Names, not paths: /health is open to anyone who can reach the server.
        "units_file": e.units_file_names().join("; "),
        "catchments": e.catchments.kind(),
        "deprivation": e.atlas.imd.source(),
        "data": layers,
    }))
}

/// `/`: the map for a browser (`f=html`, or an `Accept` header naming `text/html`, as browsers
/// send); the OGC API landing page (JSON, with links to the API document, conformance and the
/// collections) for everything else (`f=json`, a JSON `Accept`, `*/*` or none). Link hrefs are absolute, built from the request's `Host` (or
/// `X-Forwarded-Host` and `X-Forwarded-Proto` behind a proxy).
async fn landing(
    State(s): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    // Other parameters are the map's own (a shared link's view, weights and filters).
    let json = match f_param(&q) {
        Ok(Some(html)) => !html,
        Ok(None) => !accept(&headers).contains("text/html"),
        Err(e) => return e.into_response(),
    };
    if !json {
        return assets::serve(s.web_dir.as_deref(), &uri, &headers).await;
    }
    let base = respond::base_url(&s, &headers);
    let link = |path: &str, rel: &str, kind: &str, title: &str| json!({"href": format!("{base}{path}"), "rel": rel, "type": kind, "title": title});
    Json(json!({
        "title": "sitefinder",
        "description": "Vacant high-street units in England ranked as community vaccination and health sites, with the reference layers they are ranked on (deprivation, GP practices and catchments, stops, existing sites).",
        "links": [
            link("/?f=json", "self", "application/json", "This document"),
            link("/?f=html", "alternate", "text/html", "The map"),
            link("/api", "service-desc", "application/vnd.oai.openapi+json;version=3.0", "The API definition"),
            link("/help.html", "service-doc", "text/html", "How units are scored"),
            link("/conformance", "conformance", "application/json", "OGC API conformance classes"),
            link("/collections", "data", "application/json", "The layers"),
        ],
    }))
    .into_response()
}

/// `f=html` (true) or `f=json` (false) if asked for; another value is a 400 naming `f`.
fn f_param(q: &std::collections::HashMap<String, String>) -> Result<Option<bool>, ApiError> {
    match q.get("f").map(String::as_str) {
        None => Ok(None),
        Some("html") => Ok(Some(true)),
        Some("json") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad("f", format!("f={other}: give html or json"))),
    }
}

fn accept(headers: &HeaderMap) -> &str {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The sources and attribution: JSON, or a page for people (`f=html`, or a browser's
/// `Accept: text/html` without `f=json`).
async fn attribution(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let m = &s.engine.atlas.manifest;
    if let Some(k) = q.keys().find(|k| k.as_str() != "f") {
        return ApiError::bad(
            k,
            format!("unknown parameter `{k}`: /attribution takes only f=html|json"),
        )
        .into_response();
    }
    let wants_html = match f_param(&q) {
        Ok(Some(html)) => html,
        Ok(None) => accept(&headers).contains("text/html"),
        Err(e) => return e.into_response(),
    };
    if !wants_html {
        return Json(json!({"attribution": m.attribution, "layers": m.layers})).into_response();
    }
    Html(attribution_page(&s.engine)).into_response()
}

fn attribution_page(e: &crate::engine::Engine) -> String {
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let m = &e.atlas.manifest;
    let lines: String = m
        .attribution
        .iter()
        .map(|a| format!("<li>{}</li>", esc(a)))
        .collect();
    let rows: String = m
        .layers
        .iter()
        .map(|l| {
            let coverage = match &l.coverage {
                Value::String(x) if x == "england" => "England".to_string(),
                Value::Array(v) => format!("{} local authorities", v.len()),
                other => other.to_string(),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&l.name),
                esc(&l.source),
                esc(&l.vintage),
                esc(&l.licence),
                l.rows,
                esc(&coverage)
            )
        })
        .collect();
    let units: String = e
        .units_file_names()
        .iter()
        .map(|name| format!("<li>{}</li>", esc(name)))
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>sitefinder — data sources and attribution</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:0 auto;padding:12px 18px 40px;color:#1d1d1d}}h1{{color:#005eb8;font-size:24px}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}}</style>
</head><body>
<p><a href="./">← back to the map</a> · <a href="help.html">how units are scored</a></p>
<h1>Data sources and attribution</h1>
<p>Deprivation: <b>{deprivation}</b>. Where a layer has no data: {coverage}</p>
<h2>Attribution</h2><ul>{lines}</ul>
<h2>Vacant units served</h2><ul>{units}</ul>
<h2>Reference layers</h2>
<table><tr><th>layer</th><th>source</th><th>edition</th><th>licence</th><th>rows</th><th>covers</th></tr>{rows}</table>
<p>GP list sizes: {list_sizes}</p>
<p>The same as JSON: <a href="attribution?f=json">attribution?f=json</a>.</p>
</body></html>
"#,
        deprivation = esc(e.atlas.imd.source()),
        coverage = esc(&e.atlas.coverage_in_words()),
        list_sizes = esc(crate::reference::atlas::LIST_SIZES_NOTE),
    )
}

async fn openapi(State(s): State<Shared>) -> Json<Value> {
    Json(openapi::document(&s.collections))
}
