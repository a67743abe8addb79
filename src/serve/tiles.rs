//! `GET /tiles`: vector tiles of the national layers, for maps that show all England at once.
//!
//! - `/tiles` lists the tilesets; `/tiles/{layer}.json` is each one's TileJSON 3.0 (tile URL,
//!   zooms, bounds, centre, fields, attribution);
//! - `/tiles/{layer}/{z}/{x}/{y}.mvt` is one Mapbox Vector Tile (XYZ scheme, Web Mercator).
//!
//! Layers: `lsoa` (the deprivation choropleth: each LSOA's IMD decile, rank and population),
//! `units` (every served unit with its score and rank under the default weights) and
//! `practices` (GP practices with registered patients and PCN). Tiles are built on a blocking
//! thread when first asked for and kept (`serve::tile_cache`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value as Json_};

use crate::reference::atlas::Atlas;
use crate::serve::error::ApiError;
use crate::serve::mvt::{self, Fields};
use crate::serve::respond::base_url;
use crate::serve::state::Shared;

/// From this zoom, tiles carry every field of their layer; below it, only the first few.
pub const DETAIL_ZOOM: u8 = 10;

/// The media type of a Mapbox Vector Tile.
pub const MVT_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// One tileset.
struct TileLayer {
    id: &'static str,
    description: &'static str,
    /// Properties of the collection's items that go into tiles (`{code}` etc. are the IMD
    /// edition's column names).
    fields: &'static [&'static str],
    /// Of `fields`, those kept below zoom [`DETAIL_ZOOM`] (tiles there hold much of England).
    low_zoom_fields: usize,
    /// Whether the units' default score and rank are added.
    scored: bool,
    /// Whether the items are points, thinned below [`mvt::THIN_BELOW_ZOOM`].
    points: bool,
    minzoom: u8,
}

const LAYERS: [TileLayer; 3] = [
    TileLayer {
        id: "lsoa",
        description: "LSOA polygons with their IMD decile (1 = most deprived), rank and population",
        fields: &[
            "{code}",
            "imd_decile",
            "{name}",
            "{lad_name}",
            "imd_rank",
            "population",
        ],
        low_zoom_fields: 2,
        scored: false,
        points: false,
        minzoom: 0,
    },
    TileLayer {
        id: "units",
        description: "Candidate units with their score (0 to 1) and rank under the default weights",
        fields: &["id", "name", "address", "imd_decile"],
        low_zoom_fields: 4,
        scored: true,
        points: true,
        minzoom: 0,
    },
    TileLayer {
        id: "practices",
        description: "GP practices with registered patients and PCN",
        fields: &["practice_code", "name", "list_size", "pcn_name"],
        low_zoom_fields: 4,
        scored: false,
        points: true,
        minzoom: 0,
    },
];

fn field_names(atlas: &Atlas, layer: &TileLayer) -> Vec<String> {
    let imd = atlas.imd;
    layer
        .fields
        .iter()
        .map(|f| match *f {
            "{code}" => imd.code_column().to_string(),
            "{name}" => imd.name_column().to_string(),
            "{lad_name}" => imd.lad_name_column().to_string(),
            other => other.to_string(),
        })
        .collect()
}

fn find(layer: &str) -> Result<(usize, &'static TileLayer), ApiError> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, l)| l.id == layer)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no tileset `{layer}`: the tilesets are {}",
                LAYERS.iter().map(|l| l.id).collect::<Vec<_>>().join(", ")
            ))
        })
}

/// The units collection's default scores, computed once.
fn scores(state: &crate::serve::state::AppState) -> Vec<Option<(f64, usize)>> {
    let units = state.collection("units");
    let mut out = vec![None; units.map_or(0, |c| c.len())];
    let Some(units) = units else { return out };
    let Ok(ranking) = state
        .engine
        .rank(&crate::engine::RankQuery::default(), None)
    else {
        return out;
    };
    for r in &ranking.rows {
        let id = &state.engine.units[r.unit].id;
        if let Some(i) = units.index_of(id) {
            out[i] = Some((r.score, r.rank));
        }
    }
    out
}

/// `GET /tiles`: the tilesets, each with its TileJSON link.
pub async fn list(State(state): State<Shared>, headers: HeaderMap) -> Json<Json_> {
    let base = base_url(&state, &headers);
    Json(json!({
        "tilesets": LAYERS.iter().map(|l| json!({
            "id": l.id,
            "description": l.description,
            "tilejson": format!("{base}/tiles/{}.json", l.id),
            "tiles": format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt", l.id),
        })).collect::<Vec<_>>(),
    }))
}

/// `GET /tiles/{layer}.json`: TileJSON 3.0.
pub async fn tilejson(
    State(state): State<Shared>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let name = file.strip_suffix(".json").ok_or_else(|| {
        ApiError::not_found(format!(
            "`/tiles/{file}`: a tileset's TileJSON is /tiles/NAME.json"
        ))
    })?;
    let (_, layer) = find(name)?;
    let atlas = &state.engine.atlas;
    let base = base_url(&state, &headers);
    let collection = state
        .collection(layer.id)
        .ok_or_else(|| ApiError::not_found(format!("no `{}` layer in this data", layer.id)))?;
    // Field types from the first item that has each.
    let mut fields = serde_json::Map::new();
    for f in field_names(atlas, layer) {
        let kind = (0..collection.len().min(collection.typed_from()))
            .find_map(|i| {
                collection
                    .properties(i)
                    .get(&f)
                    .filter(|v| !v.is_null())
                    .cloned()
            })
            .map_or("String", |v| match v {
                Json_::Number(_) => "Number",
                Json_::Bool(_) => "Boolean",
                _ => "String",
            });
        fields.insert(f, json!(kind));
    }
    if layer.scored {
        fields.insert("score".into(), json!("Number"));
        fields.insert("rank".into(), json!("Number"));
    }
    if layer.points {
        fields.insert(mvt::POINT_COUNT.into(), json!("Number"));
    }
    // The grid is turned against the meridians: the box of the extent's edges, sampled.
    let bounds = collection
        .extent_bng
        .and_then(|e| {
            let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            for i in 0..=8 {
                let t = f64::from(i) / 8.0;
                for (x, y) in [
                    (e[0] + (e[2] - e[0]) * t, e[1]),
                    (e[0] + (e[2] - e[0]) * t, e[3]),
                    (e[0], e[1] + (e[3] - e[1]) * t),
                    (e[2], e[1] + (e[3] - e[1]) * t),
                ] {
                    let (lon, lat) = crate::base::crs::bng_to_wgs84(x, y).ok()?;
                    b = [b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)];
                }
            }
            Some(b)
        })
        .unwrap_or([-6.4, 49.8, 1.8, 55.9]);
    Ok(Json(json!({
        "tilejson": "3.0.0",
        "name": layer.id,
        "description": layer.description,
        "version": "1.0.0",
        "attribution": atlas.manifest.attribution.join(" "),
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt", layer.id)],
        "minzoom": layer.minzoom,
        "maxzoom": mvt::MAX_ZOOM,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0, 6],
        "vector_layers": [{
            "id": layer.id,
            "description": description(atlas, layer),
            "minzoom": layer.minzoom,
            "maxzoom": mvt::MAX_ZOOM,
            "fields": fields,
        }],
    })))
}

/// A tileset's description, with what its tiles leave out below some zoom.
fn description(atlas: &Atlas, layer: &TileLayer) -> String {
    let mut d = layer.description.to_string();
    if layer.low_zoom_fields < layer.fields.len() {
        d += &format!(
            "; below zoom {DETAIL_ZOOM} only {}",
            field_names(atlas, layer)[..layer.low_zoom_fields].join(" and ")
        );
    }
    if layer.points {
        d += &format!(
            "; below zoom {}, one point per 1/{} of a tile a side (the {}), with `{}` the points it stands for",
            mvt::THIN_BELOW_ZOOM,
            mvt::THIN_CELLS,
            if layer.scored { "best ranked" } else { "first" },
            mvt::POINT_COUNT
        );
    }
    d
}

/// `GET /tiles/{layer}/{z}/{x}/{y}.mvt`.
pub async fn tile(
    State(state): State<Shared>,
    Path((name, z, x, y)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let (index, layer) = find(&name)?;
    let bad = |what: &str, v: &str| {
        ApiError::bad(
            what,
            format!(
                "`{v}` is not a tile of zoom 0 to {}: /tiles/{name}/{{z}}/{{x}}/{{y}}.mvt",
                mvt::MAX_ZOOM
            ),
        )
    };
    let z: u8 = z.parse().map_err(|_| bad("z", &z))?;
    let x: u32 = x.parse().map_err(|_| bad("x", &x))?;
    let y_num = y.strip_suffix(".mvt").ok_or_else(|| bad("y", &y))?;
    let y: u32 = y_num.parse().map_err(|_| bad("y", &y))?;
    if !mvt::valid_tile(z, x, y) {
        return Err(ApiError::not_found(format!(
            "no tile {z}/{x}/{y}: zoom is 0 to {}, and x and y below 2^zoom",
            mvt::MAX_ZOOM
        )));
    }
    let key = (index, z, x, y);
    let tiles = &state.tiles;
    let cached = tiles
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key);
    let bytes = match cached {
        Some(b) => b,
        None => {
            // One build per tile however many clients ask at once: the first to ask starts it
            // on its own task (it finishes, and the tile is kept, even if every client goes
            // away), and all of them wait for its answer.
            let mut answer = {
                let mut building = tiles.building.lock().unwrap_or_else(|p| p.into_inner());
                // Looked for again under the lock: a build that ended since is in the cache.
                let cached = tiles
                    .cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&key);
                if let Some(b) = cached {
                    return Ok(mvt_response(&b));
                }
                match building.get(&key) {
                    Some(answer) => answer.clone(),
                    None => {
                        let (tx, rx) = tokio::sync::watch::channel(None);
                        building.insert(key, rx.clone());
                        let state = state.clone();
                        tokio::spawn(async move {
                            let done = BuildEnds {
                                state: state.clone(),
                                key,
                            };
                            let built = match state.cpu(move |s| build(s, layer, (z, x, y))).await {
                                Ok(Ok(t)) => Ok(Arc::new(t)),
                                Ok(Err(e)) | Err(e) => Err(e),
                            };
                            if let Ok(t) = &built {
                                state.tiles.built.fetch_add(1, Ordering::Relaxed);
                                state
                                    .tiles
                                    .cache
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .put(key, t.clone());
                            }
                            drop(done);
                            let _ = tx.send(Some(built));
                        });
                        rx
                    }
                }
            };
            let built = answer
                .wait_for(Option::is_some)
                .await
                .map_err(|_| ApiError::internal("the tile's build stopped"))?
                .clone();
            built.unwrap_or_else(|| Err(ApiError::internal("the tile's build stopped")))?
        }
    };
    Ok(mvt_response(&bytes))
}

fn mvt_response(bytes: &Arc<Vec<u8>>) -> Response {
    ([(header::CONTENT_TYPE, MVT_TYPE)], bytes.as_ref().clone()).into_response()
}

/// A tile's build ending, however it ends (with a tile, an error or a panic): the tile is no
/// longer being built, and the next client to ask finds it in the cache or builds it again.
struct BuildEnds {
    state: Shared,
    key: crate::serve::tile_cache::Key,
}

impl Drop for BuildEnds {
    fn drop(&mut self) {
        self.state
            .tiles
            .building
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

fn build(
    state: &crate::serve::state::AppState,
    layer: &TileLayer,
    zxy: (u8, u32, u32),
) -> Result<Vec<u8>, ApiError> {
    let atlas = &state.engine.atlas;
    let collection = state
        .collection(layer.id)
        .ok_or_else(|| ApiError::not_found(format!("no `{}` layer in this data", layer.id)))?;
    let mut names = field_names(atlas, layer);
    if zxy.0 < DETAIL_ZOOM {
        names.truncate(layer.low_zoom_fields);
    }
    let fields = Fields { names: &names };
    let scores: &[Option<(f64, usize)>] = if layer.scored {
        state.unit_scores()
    } else {
        &[]
    };
    let extra = |i: usize, f: &mut ::mvt::Feature| {
        if let Some(Some((score, rank))) = scores.get(i) {
            f.add_tag_double("score", (score * 1e4).round() / 1e4);
            f.add_tag_uint("rank", *rank as u64);
        }
    };
    // Thinned points: the best ranked unit of each cell, else the first item.
    let priority = |i: usize| match scores.get(i) {
        Some(Some((_, rank))) => *rank,
        Some(None) => usize::MAX,
        None => i,
    };
    mvt::encode_tile(atlas, collection, &fields, &extra, &priority, zxy).map_err(ApiError::internal)
}

impl crate::serve::state::AppState {
    /// The collection with this id.
    pub fn collection(&self, id: &str) -> Option<&crate::serve::collections::Collection> {
        self.collections.iter().find(|c| c.id == id)
    }

    /// Each unit item's default (score, rank), computed on first use.
    fn unit_scores(&self) -> &[Option<(f64, usize)>] {
        self.tiles.unit_scores.get_or_init(|| scores(self))
    }
}
