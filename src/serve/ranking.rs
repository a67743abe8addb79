//! `GET /rank` and `POST /optimise`: the engine's answers as GeoJSON or as a download.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Map};

use crate::analysis::optimise::OptimiseQuery;
use crate::engine::{FormatQuery, Paging, RankQuery, DEFAULT_LIMIT, MAX_LIMIT};
use crate::export::table::collection;
use crate::export::ExportFormat;
use crate::serve::error::ApiError;
use crate::serve::extract::{json_body, Params};
use crate::serve::features::page_links;
use crate::serve::respond::{attachment, download, geojson_response};
use crate::serve::state::Shared;

pub async fn rank(
    State(s): State<Shared>,
    p: Params<(RankQuery, Paging, FormatQuery)>,
) -> Result<Response, ApiError> {
    let (q, paging, f) = &p.value;
    let format = f.format.unwrap_or(ExportFormat::GeoJson);
    // A download holds every matched unit unless a limit is given; a page holds 100.
    let download_all = f.format.is_some() && format != ExportFormat::GeoJson;
    let default_limit = if download_all {
        MAX_LIMIT
    } else {
        DEFAULT_LIMIT
    };
    let (offset, limit) = paging.bounds(default_limit, MAX_LIMIT)?;
    let plan = s.chosen_overlay(q.overlay.as_deref())?;
    let e = &s.engine;
    let mut ranking = e.rank(q, plan)?;
    if download_all {
        ranking.rows = ranking.rows.into_iter().skip(offset).take(limit).collect();
        let mut filters = q.filter_pairs();
        for (k, v) in [("limit", paging.limit), ("offset", paging.offset)] {
            filters.push((k.into(), v.map(|x| x.to_string()).unwrap_or_default()));
        }
        let meta = e.meta(&ranking, filters);
        return download(
            s.engine.clone(),
            format,
            ranking,
            meta,
            "sitefinder-ranking",
        )
        .await;
    }
    // Every unit is scored; only the page is put into words.
    let features = e.features(&ranking, offset, limit)?;
    let mut m = Map::new();
    m.insert("numberMatched".into(), json!(ranking.rows.len()));
    m.insert("numberReturned".into(), json!(features.len()));
    m.insert("weights".into(), json!(ranking.weights.to_list()));
    m.insert("as_of".into(), json!(ranking.settings.as_of_words()));
    m.insert("catchments".into(), json!(e.catchments.describe()));
    m.insert("coverage".into(), e.coverage_json());
    m.insert(
        "plan_overlay".into(),
        json!(ranking.settings.plan.as_ref().map(|o| o.name.clone())),
    );
    m.insert("filtered_out".into(), json!(ranking.filtered_out.len()));
    m.insert(
        "left_out_unsuitable".into(),
        json!(ranking.unsuitable.len()),
    );
    m.insert("unsuitable".into(), e.unsuitable_json(&ranking));
    m.insert(
        "links".into(),
        json!(page_links(
            "/rank",
            &p.pairs,
            offset,
            limit,
            ranking.rows.len()
        )),
    );
    m.insert("attribution".into(), json!(e.atlas.manifest.attribution));
    let fc = collection(features, &m);
    Ok(geojson_response(
        serde_json::to_value(fc).map_err(ApiError::internal)?,
    ))
}

/// The body says how to choose (k, radius, model, fixed layers, the demand's area); the query
/// string may carry the ranking's filters (`pcn`, `lad`, `bbox`, `imd_deciles`,
/// `min_floor_area_m2`, `overlay`, `plan_within_m`), and then only units passing them are
/// candidates, as on the map. `format` (csv, xlsx, geojson, gpkg) makes it a download.
pub async fn optimise(
    State(s): State<Shared>,
    p: Params<(RankQuery, FormatQuery)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let q: OptimiseQuery = json_body(
        &body,
        "with k, radius_m, model, fixed, pcn, lad, weighting, exact, compare, include_unsuitable",
    )?;
    let (among, f) = p.value;
    let plan = if among != RankQuery::default() {
        Some(s.chosen_overlay(among.overlay.as_deref())?)
    } else {
        None
    };
    let format = f.format.unwrap_or(ExportFormat::GeoJson);
    let state = s.clone();
    // The filtering, the solve and a file's rendering are CPU work: off the async workers.
    let out = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let e = &state.engine;
        let report = match plan {
            Some(plan) => e.optimise_among(&q, &e.kept_by(&among, plan)?)?,
            None => e.optimise(&q)?,
        };
        Ok(match format {
            ExportFormat::GeoJson => {
                let mut v = e.optimise_json(&q, &report)?;
                crate::engine::record_among(&mut v, &among.filter_pairs());
                Answer::Json(v)
            }
            _ => Answer::File(e.optimise_file(format, &q, &report, &among.filter_pairs())?),
        })
    })
    .await??;
    Ok(match out {
        Answer::File(bytes) => attachment(
            bytes,
            format.content_type(),
            "sitefinder-suggested-sites",
            format.extension(),
        ),
        Answer::Json(v) => geojson_response(v),
    })
}

enum Answer {
    Json(serde_json::Value),
    File(Vec<u8>),
}
