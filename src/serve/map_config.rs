//! `GET /map-config`: what the web map draws besides the API's layers, as the server was
//! started: `{"base_map": {"url", "attribution"} | null, "places": bool}`, `places` saying
//! whether the data has place names to draw and search.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::serve::state::Shared;

pub async fn map_config(State(s): State<Shared>) -> Json<Value> {
    Json(json!({
        "base_map": s.base_map.as_ref().map(|b| json!({"url": b.url, "attribution": b.attribution})),
        "places": s.engine.atlas.places.is_some(),
    }))
}
