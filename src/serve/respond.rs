//! Answers: GeoJSON, created resources, and file downloads rendered off the async workers.

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::engine::Engine;
use crate::export::ExportFormat;
use crate::serve::error::ApiError;

pub fn geojson_response(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/geo+json")], Json(v)).into_response()
}

pub fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// An export of `ranking` as a file download. Rendering (XLSX, GeoPackage) is CPU and file
/// work: off the async workers.
pub async fn download(
    engine: Arc<Engine>,
    format: ExportFormat,
    ranking: crate::analysis::rank::Ranking,
    meta: crate::export::Meta,
    stem: &str,
) -> Result<Response, ApiError> {
    let bytes =
        tokio::task::spawn_blocking(move || engine.render(format, &ranking, &meta)).await??;
    Ok(attachment(
        bytes,
        format.content_type(),
        stem,
        format.extension(),
    ))
}

/// A file download: `stem.extension`, with the characters a file name should not have
/// replaced by `-`.
pub fn attachment(bytes: Vec<u8>, content_type: &str, stem: &str, extension: &str) -> Response {
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
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}.{extension}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|x| x.trim_start_matches('=').replace('+', "%20"))
        .unwrap_or_default()
}
