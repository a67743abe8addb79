//! Council plan overlays: upload (checked whole, then stored in one transaction), list, read
//! as GeoJSON, delete. Writes need the bearer token, checked before the body is read.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use crate::base::params::{opt_from_str, opt_text};
use crate::ingest::overlay::{OverlayError, UploadFormat, UploadOptions};
use crate::serve::error::ApiError;
use crate::serve::extract::{parse_query, Path};
use crate::serve::respond::{created, geojson_response};
use crate::serve::state::Shared;

pub async fn list(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    s.store()?;
    let all: Vec<Value> = s
        .current_overlays()
        .await?
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

pub async fn one(State(s): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    s.store()?;
    let o = s.overlay(&id).await?;
    let mut v = o.to_geojson().map_err(ApiError::internal)?;
    v["overlay"] = o.summary();
    Ok(geojson_response(v))
}

pub async fn delete(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    s.store()?;
    let o = s.overlay(&id).await?;
    let id = o.id;
    s.db(move |s, store| {
        store.delete_overlay(id)?;
        s.reload_overlays()
    })
    .await?;
    Ok(Json(json!({"deleted": o.id, "name": o.name})))
}

/// `POST /overlays?name=...&format=...&repair=true&filename=...`, the file as the body.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The overlay's name, e.g. Rochdale Future High Streets.
    #[serde(default, deserialize_with = "opt_text")]
    pub name: Option<String>,
    /// geojson, shapefile (zipped, with .prj) or gpkg (default: guessed from the file).
    #[serde(default, deserialize_with = "opt_from_str")]
    #[param(value_type = Option<String>, pattern = "^(geojson|shapefile|gpkg)$")]
    pub format: Option<UploadFormat>,
    /// true: repair invalid polygons (a boolean union under the even-odd rule) instead of refusing them.
    #[serde(default, deserialize_with = "opt_from_str")]
    pub repair: Option<bool>,
    /// The uploaded file's name, kept with the overlay.
    #[serde(default, deserialize_with = "opt_text")]
    pub filename: Option<String>,
}

pub async fn upload(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    // The token first (also checked by the router before this runs): an unauthorised upload
    // learns nothing about its file, and its body is never read.
    s.authorise(&headers)?;
    s.store()?;
    let (q,): (UploadQuery,) = parse_query(raw.as_deref())?;
    // Two uploads at a time at most, so their memory stays bounded together.
    let _slot = s
        .upload_slots
        .acquire()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    // Read only now, and never more than the limit.
    let body = axum::body::to_bytes(body, s.max_upload_bytes)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|c| c.to_string().contains("length limit"))
                || e.to_string().contains("length limit");
            if let Some(seconds) = crate::serve::guard::timed_out(&e) {
                ApiError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    code: "timeout",
                    message: crate::serve::guard::BodyTimeout { seconds }.to_string(),
                }
            } else if too_large {
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
                ApiError::bad("body", format!("the upload could not be read: {e}"))
            }
        })?;
    let name = q.name.ok_or_else(|| {
        ApiError::bad(
            "name",
            "give the overlay a name, e.g. name=Rochdale%20Future%20High%20Streets",
        )
    })?;
    let opts = UploadOptions {
        format: q.format,
        repair: q.repair.unwrap_or(false),
        max_bytes: s.max_upload_bytes,
        limits: s.upload_limits,
    };
    let parsed =
        tokio::task::spawn_blocking(move || crate::ingest::overlay::parse(&body, &opts)).await??;
    let source = q.filename.unwrap_or_default();
    let o = s
        .db(move |s, store| {
            let o = store.add_overlay(&name, &source, &parsed)?;
            s.reload_overlays()?;
            Ok(o)
        })
        .await?;
    let mut v = o.summary();
    v["links"] = json!([{"href": format!("/overlays/{}", o.id), "rel": "item", "type": "application/geo+json"}]);
    Ok(created(v))
}
