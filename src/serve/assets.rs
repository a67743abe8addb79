//! The web map's files. (Placeholder: served from `web/` until the files are built in.)

use std::path::PathBuf;

use axum::Router;

use crate::serve::error::ApiError;

/// A router whose fallback serves the map's files (from `web_dir`, else `web/`).
pub fn router(web_dir: Option<PathBuf>) -> Router {
    let dir = web_dir.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web")));
    let not_found =
        || async { ApiError::not_found("no such resource; see /api for the routes".into()) };
    Router::new().fallback_service(
        tower_http::services::ServeDir::new(dir).fallback(axum::routing::get(not_found)),
    )
}
