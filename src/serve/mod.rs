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
pub mod extract;
pub mod map_config;
pub mod openapi;
pub mod respond;
pub mod state;

pub mod features;
pub mod overlays;
pub mod ranking;
pub mod search;
pub mod shortlists;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

pub use error::ApiError;
pub use state::{AppState, Shared};

/// The router, apart from `main` so tests can drive it in-process.
pub fn app(state: Shared) -> Router {
    let limit = state.max_upload_bytes;
    let web = assets::router(state.web_dir.clone());
    Router::new()
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
        .route("/health", get(health))
        .route("/api", get(openapi))
        .route("/conformance", get(features::conformance))
        .route("/collections", get(features::list_collections))
        .route("/collections/{id}", get(features::one_collection))
        .route("/collections/{id}/items", get(features::items))
        .route("/collections/{id}/items/{fid}", get(features::item))
        .route("/rank", get(ranking::rank))
        .route("/optimise", post(ranking::optimise))
        .route("/attribution", get(attribution))
        .route("/search", get(search::search))
        .route("/map-config", get(map_config::map_config))
        .with_state(state)
        .fallback_service(web)
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
        "units_file": e.units_file_list(),
        "catchments": e.catchments.kind(),
        "deprivation": e.atlas.imd.source(),
        "data": layers,
    }))
}

async fn attribution(State(s): State<Shared>) -> Json<Value> {
    let m = &s.engine.atlas.manifest;
    Json(json!({"attribution": m.attribution, "layers": m.layers}))
}

async fn openapi() -> Json<Value> {
    Json(openapi::document())
}
