//! Shortlists: named lists of units with a note each, kept in the state database. Writes need
//! the bearer token; ids are checked against the engine's units before anything is written.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use crate::analysis::rank::Weights;
use crate::base::params::opt_from_str;
use crate::engine::{query_value, Catchments};
use crate::export::{ExportFormat, ShortlistFormat};
use crate::serve::error::ApiError;
use crate::serve::extract::{json_body, Params, Path};
use crate::serve::respond::{attachment, created, urlencode};
use crate::serve::state::Shared;

pub async fn list(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let all = s.db(|_, store| Ok(store.list_shortlists()?)).await?;
    Ok(Json(
        json!({"shortlists": all.into_iter().map(|(name, created, updated, n)| json!({
        "name": name, "created": created, "updated": updated, "sites": n,
        "links": [{"href": format!("/shortlists/{}", urlencode(&name)), "rel": "item"}],
    })).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShortlist {
    name: String,
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    note: String,
    weights: Option<String>,
    #[serde(default)]
    query: String,
}

pub async fn create(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    s.authorise(&headers)?;
    let b: NewShortlist = json_body(&body, "{name, ids, note, weights, query}")?;
    let weights = match b.weights.as_deref().filter(|w| !w.trim().is_empty()) {
        Some(w) => Weights::parse_list(w)?,
        None => Weights::default(),
    };
    if !b.ids.is_empty() {
        s.engine.check_ids(&b.ids)?;
    }
    let units_file = s.engine.units_file_list();
    let origin = s.engine.shortlist_origin(&b.query, None);
    let sl = s
        .db(move |_, store| {
            Ok(store.create_shortlist(
                &b.name,
                &units_file,
                &weights.to_list(),
                &origin,
                &b.ids,
                &b.note,
            )?)
        })
        .await?;
    Ok(created(sl.to_json()))
}

pub async fn one(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        s.db(move |_, store| Ok(store.shortlist(&name)?))
            .await?
            .to_json(),
    ))
}

pub async fn delete(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    let n = name.clone();
    s.db(move |_, store| Ok(store.delete_shortlist(&n)?))
        .await?;
    Ok(Json(json!({"deleted": name})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSites {
    ids: Vec<String>,
    #[serde(default)]
    note: String,
}

pub async fn add_sites(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    let b: NewSites = json_body(&body, "{ids: [...], note}")?;
    s.engine.check_ids(&b.ids)?;
    Ok(Json(
        s.db(move |_, store| Ok(store.add_sites(&name, &b.ids, &b.note)?))
            .await?
            .to_json(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    note: String,
}

pub async fn set_note(
    State(s): State<Shared>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    let b: Note = json_body(&body, "{note}")?;
    Ok(Json(
        s.db(move |_, store| Ok(store.set_note(&name, &id, &b.note)?))
            .await?
            .to_json(),
    ))
}

pub async fn remove_site(
    State(s): State<Shared>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    s.authorise(&headers)?;
    Ok(Json(
        s.db(move |_, store| Ok(store.remove_site(&name, &id)?))
            .await?
            .to_json(),
    ))
}

/// `GET /shortlists/{name}/export?format=`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// xlsx (default), csv (UTF-8 with BOM), geojson, gpkg (EPSG:27700 points) or pdf (the
    /// site report: a cover page, then one page per site with its map).
    #[serde(default, deserialize_with = "opt_from_str")]
    #[param(value_type = Option<String>, pattern = "^(xlsx|csv|geojson|gpkg|pdf)$")]
    pub format: Option<ShortlistFormat>,
}

/// A shortlist ranked as it was made: its weights, its date, its catchment source and its plan
/// overlay, with each site's note; as a table, or as the PDF site report.
pub async fn export(
    State(s): State<Shared>,
    Path(name): Path<String>,
    p: Params<(ExportQuery,)>,
) -> Result<Response, ApiError> {
    let format = p
        .value
        .0
        .format
        .unwrap_or(ShortlistFormat::Table(ExportFormat::Xlsx));
    let n = name.clone();
    let sl = s.db(move |_, store| Ok(store.shortlist(&n)?)).await?;
    let plan = match query_value(&sl.query, "overlay") {
        Some(k) => s.overlay(&k).await.ok(),
        None => None,
    };
    let choice = query_value(&sl.query, "catchments").and_then(|c| Catchments::parse_spec(&c));
    let state = s.clone();
    // A shortlist made with other catchments than this server's is joined again with its own.
    // Ranking and rendering (XLSX, GeoPackage, the PDF's maps) are CPU and file work: off the
    // async workers.
    let bytes = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let e = match choice {
            Some(c) if c != state.engine.catchment_choice => {
                std::sync::Arc::new(state.engine.with_catchments(&c)?)
            }
            _ => state.engine.clone(),
        };
        let ranking = e.shortlist_ranking(&sl, plan, None)?;
        let meta = e.shortlist_meta(&sl, &ranking);
        Ok(e.shortlist_file(format, &ranking, &meta)?)
    })
    .await??;
    Ok(attachment(
        bytes,
        format.content_type(),
        &name,
        format.extension(),
    ))
}
