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

/// Where the client reached this server, for absolute links: `--public-url` if set, else
/// `scheme://host` of the request as the client sent it (a proxy's `X-Forwarded-Host` and
/// `X-Forwarded-Proto` first).
pub fn base_url(state: &crate::serve::state::AppState, headers: &axum::http::HeaderMap) -> String {
    if let Some(u) = &state.public_url {
        return u.clone();
    }
    let get = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
            // host[:port] only: letters, digits, `.`, `-`, `:` and the brackets of an IPv6
            // address, so a header cannot point links at another path or userinfo.
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 255
                    && v.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b".-:[]".contains(&c))
            })
    };
    let host = get("x-forwarded-host")
        .or_else(|| get("host"))
        .unwrap_or_else(|| "localhost".into());
    let proto = match get("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    format!("{proto}://{host}")
}

/// The time now, as RFC 3339 UTC to the second (`timeStamp` of a page of features).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = crate::base::date::Date::from_ymd(1970, 1, 1)
        .map(|d| d.add_days((secs / 86_400) as i32))
        .map(|d| d.to_string())
        .unwrap_or_default();
    let t = secs % 86_400;
    format!("{day}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}
