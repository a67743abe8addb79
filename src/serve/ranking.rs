//! `GET /rank` and `POST /optimise`: the engine's answers as GeoJSON or as a download.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::IntoParams;

use crate::analysis::optimise::OptimiseQuery;
use crate::base::params::opt_text;
use crate::engine::{FormatQuery, Paging, PropertiesQuery, RankQuery, DEFAULT_LIMIT, MAX_LIMIT};
use crate::export::ExportFormat;
use crate::serve::error::ApiError;
use crate::serve::extract::{json_body, Params};
use crate::serve::features::{geojson_page, page_links};
use crate::serve::ogc::{self, Crs, Filter, Queryables, SortBy};
use crate::serve::respond::{attachment, base_url, download, geojson_response};
use crate::serve::state::{AppState, Shared};

/// The OGC API parameters `/rank` shares with the collections' items: a CQL2 `filter` and
/// `sortby` on its features' properties and the `crs` of its points (`properties`, which the
/// command line has too, is [`PropertiesQuery`]).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankOgc {
    /// A CQL2 condition on the properties of the ranked features (score, rank, imd_decile,
    /// floor_area_m2, nearest_practice_m, ...), e.g. `score >= 0.6 AND imd_decile <= 3`; applied
    /// after ranking, so ranks stay those of the whole ranking.
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "score >= 0.5")]
    pub filter: Option<String>,
    /// The language of `filter`: cql2-text (the default) or cql2-json.
    #[serde(rename = "filter-lang", default, deserialize_with = "opt_text")]
    pub filter_lang: Option<String>,
    /// Order by these properties instead of the rank, comma-separated, `-` before a name for
    /// descending (ties stay in rank order).
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "-floor_area_m2")]
    pub sortby: Option<String>,
    /// The CRS of the points: http://www.opengis.net/def/crs/OGC/1.3/CRS84 (the default) or
    /// http://www.opengis.net/def/crs/EPSG/0/27700 (British National Grid).
    #[serde(default, deserialize_with = "opt_text")]
    pub crs: Option<String>,
}

pub async fn rank(
    State(s): State<Shared>,
    headers: HeaderMap,
    p: Params<(RankQuery, Paging, FormatQuery, RankOgc, PropertiesQuery)>,
) -> Result<Response, ApiError> {
    let plan = s.chosen_overlay(p.value.0.overlay.as_deref()).await?;
    // The ranking, the filter, the page's words and its JSON are CPU work: off the async
    // workers, one request per core at a time.
    let engine = s.engine.clone();
    match s.cpu(move |s| rank_answer(s, &headers, &p, plan)).await?? {
        RankAnswer::Page(response) => Ok(response),
        RankAnswer::Download(format, ranking, meta) => {
            download(engine, format, *ranking, meta, "sitefinder-ranking").await
        }
    }
}

/// The positions in the order of the rows that `filter` keeps, ordered by `sortby` (ties in
/// rank order). Each row is made, and its properties that the filter and the order read, on
/// every core, then let go: what is held is a position (and its sort keys) per row kept.
fn judged(
    e: &crate::engine::Engine,
    o: &crate::analysis::rank::Ordered<'_>,
    filter: Option<&Filter>,
    sortby: Option<&SortBy>,
) -> Result<Vec<usize>, ApiError> {
    let mut names: Vec<String> = filter.map_or(vec![], |f| f.names().to_vec());
    if let Some(sb) = sortby {
        names.extend(sb.0.iter().map(|(n, _)| n.clone()));
    }
    // A filter or an order on the sentences needs the rows in words.
    let words = names
        .iter()
        .any(|n| n == "why")
        .then(|| o.ranking.settings.with_words());
    // Nor are criteria evaluated when neither reads a criterion's value.
    let values = crate::analysis::chosen::Chosen::only(names.clone()).needs_values();
    use rayon::prelude::*;
    let mut kept: Vec<(usize, Vec<Value>)> = (0..o.len())
        .into_par_iter()
        .with_min_len(256)
        .filter_map(|p| {
            let r = o.row_needing(p, words.as_ref(), values)?;
            let pr = crate::export::table::properties_named(
                &e.atlas,
                &e.units,
                &e.contexts,
                o.ranking.rank_column,
                &r,
                &names,
            );
            let keep = match filter {
                Some(f) => match f.matches(&pr, None) {
                    Ok(keep) => keep,
                    Err(e) => return Some(Err(e)),
                },
                None => true,
            };
            keep.then(|| Ok((p, sortby.map_or(vec![], |sb| sb.keys(&pr)))))
        })
        .collect::<Result<_, ApiError>>()?;
    if let Some(sb) = sortby {
        // Ties stay in rank order.
        sb.sort(&mut kept);
    }
    Ok(kept.into_iter().map(|(p, _)| p).collect())
}

/// What `/rank` answers: a page of GeoJSON, or a file still to be rendered.
enum RankAnswer {
    Page(Response),
    Download(
        ExportFormat,
        Box<crate::analysis::rank::Ranking>,
        crate::export::Meta,
    ),
}

fn rank_answer(
    s: &AppState,
    headers: &HeaderMap,
    p: &Params<(RankQuery, Paging, FormatQuery, RankOgc, PropertiesQuery)>,
    plan: Option<std::sync::Arc<crate::ingest::overlay::Overlay>>,
) -> Result<RankAnswer, ApiError> {
    let (q, paging, f, o, props) = &p.value;
    let out_crs = Crs::from_param("crs", o.crs.as_deref())?;
    let format = f.format.unwrap_or(ExportFormat::GeoJson);
    // A download holds every matched unit unless a limit is given; a page holds 100.
    let download_all = f.format.is_some() && format != ExportFormat::GeoJson;
    let default_limit = if download_all {
        MAX_LIMIT
    } else {
        DEFAULT_LIMIT
    };
    let (offset, limit) = paging.bounds(default_limit, MAX_LIMIT)?;
    let e = &s.engine;
    // What can be named is what a ranked feature has (its columns, the same in every ranking,
    // typed from the default ranking's first rows) and its breakdown. Checked before ranking.
    let queryables = if o.filter.is_some() || o.sortby.is_some() || props.properties.is_some() {
        let mut q = s.rank_queryables()?;
        q.properties.push(("breakdown".into(), "object"));
        q
    } else {
        Queryables::default()
    };
    let filter = match (&o.filter, &o.filter_lang) {
        (Some(t), lang) => Some(Filter::parse(t, lang.as_deref(), None, &queryables)?),
        (None, Some(_)) => {
            return Err(ApiError::bad(
                "filter-lang",
                "is only meaningful with filter",
            ))
        }
        (None, None) => None,
    };
    let sortby = o
        .sortby
        .as_deref()
        .map(|t| SortBy::parse(t, &queryables))
        .transpose()?;
    let properties = props
        .properties
        .as_deref()
        .map(|t| ogc::parse_properties(t, &queryables))
        .transpose()?;
    // A file needs at least one column (refused before anything is ranked).
    if download_all && properties.as_ref().is_some_and(|n| n.is_empty()) {
        return Err(crate::analysis::rank::RankError::NoProperties.into());
    }
    // A page needs only the rows up to its end (and how many there are), and a filter or an
    // order on the rows' properties only each row's score and unit held (a national ranking
    // is not held a row per unit: a million rows are about 0.6 GB).
    let (mut ranking, matched, skip) = if filter.is_some() || sortby.is_some() {
        let o = e.rank_ordered(q, plan)?;
        let kept = judged(e, &o, filter.as_ref(), sortby.as_ref())?;
        let page: Vec<usize> = kept.iter().skip(offset).take(limit).copied().collect();
        let rows = o.rows_at(&page);
        let mut ranking = o.ranking;
        ranking.rows = rows;
        (ranking, kept.len(), 0)
    } else {
        let (r, n) = e.rank_top(q, plan, offset.saturating_add(limit))?;
        (r, n, offset)
    };
    if download_all {
        ranking.rows = ranking.rows.into_iter().skip(skip).take(limit).collect();
        let mut filters = q.filter_pairs();
        for (k, v) in [("limit", paging.limit), ("offset", paging.offset)] {
            filters.push((k.into(), v.map(|x| x.to_string()).unwrap_or_default()));
        }
        for (k, v) in [
            ("filter", &o.filter),
            ("sortby", &o.sortby),
            ("properties", &props.properties),
        ] {
            filters.push((k.into(), v.clone().unwrap_or_default()));
        }
        // The file's columns are those named (each name checked above, at least one).
        if let Some(names) = properties {
            ranking.columns = crate::analysis::chosen::Chosen::only(names);
        }
        let meta = e.meta(&ranking, filters);
        return Ok(RankAnswer::Download(format, Box::new(ranking), meta));
    }
    // Every unit is scored; only the page is put into words, and only when its words are
    // asked for (`properties` without `breakdown` or `why` needs none: the map's window).
    // The page's points in the CRS asked for (a WGS84 point is the unit's own).
    let points = match out_crs {
        Crs::Bng => ranking
            .rows
            .iter()
            .skip(skip)
            .take(limit)
            .map(|r| {
                let [x, y] = e.units[r.unit].pos;
                Ok(Some(out_crs.from_bng(x, y).map_err(ApiError::internal)?))
            })
            .collect::<Result<Vec<_>, ApiError>>()?,
        _ => vec![],
    };
    // The features are written straight into the answer's bytes, then its other members, as
    // `serde_json` writes the FeatureCollection (RFC 7946 order: type, features, the rest).
    let mut body = Vec::with_capacity(64 * 1024);
    body.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[");
    let returned = e.write_page_features(
        &mut body,
        &ranking,
        (skip, limit),
        properties.as_deref(),
        &points,
    )?;
    body.push(b']');
    let mut m = Map::new();
    m.insert("numberMatched".into(), json!(matched));
    m.insert("numberReturned".into(), json!(returned));
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
    let links = page_links(
        &format!("{}/rank", base_url(s, headers)),
        &p.pairs,
        offset,
        limit,
        matched,
    );
    m.insert("links".into(), json!(links));
    m.insert("attribution".into(), json!(e.atlas.manifest.attribution));
    // After `type` and `features`.
    let mut members = crate::export::table::Members::after(&mut body, 2);
    for (k, v) in &m {
        members.member(k, v);
    }
    body.push(b'}');
    Ok(RankAnswer::Page(geojson_page(body, out_crs, &links)?))
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
        Some(s.chosen_overlay(among.overlay.as_deref()).await?)
    } else {
        None
    };
    let format = f.format.unwrap_or(ExportFormat::GeoJson);
    // The filtering, the solve and a file's rendering are CPU work: off the async workers.
    let out = s
        .cpu(move |state| -> Result<_, ApiError> {
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
