//! The OpenAPI 3.0 document served at `/api`. The query parameters and request bodies come
//! from the same types that parse them ([`utoipa::IntoParams`], [`utoipa::ToSchema`]), so the
//! document cannot drift from what the server accepts.

use serde_json::{json, Value};
use utoipa::IntoParams;

use crate::analysis::optimise::OptimiseQuery;
use crate::engine::search::SearchQuery;
use crate::engine::{FormatQuery, Paging, PropertiesQuery, RankQuery};
use crate::serve::collections::Collection;
use crate::serve::features::{FormatF, ItemQuery, ItemsQuery};
use crate::serve::overlays::UploadQuery;
use crate::serve::ranking::RankOgc;
use crate::serve::shortlists::{ExportQuery, NewShortlist, NewSites, Note};

/// A type's query parameters as OpenAPI 3.0 JSON.
fn query<T: IntoParams>() -> Vec<Value> {
    crate::serve::extract::params::<T>()
        .iter()
        .map(|p| ogc_encoding(to_oas30(serde_json::to_value(p).unwrap_or(Value::Null))))
        .collect()
}

/// The encoding OGC API - Features gives its parameters: `bbox` an array of 4 or 6 numbers,
/// and `bbox`, `limit` and `datetime` in form style, not exploded (`bbox=1,2,3,4`).
fn ogc_encoding(mut p: Value) -> Value {
    let name = p["name"].as_str().unwrap_or("").to_string();
    if name == "bbox" && p["schema"]["type"] == "array" {
        p["schema"]["minItems"] = json!(4);
        p["schema"]["maxItems"] = json!(6);
        p["schema"]["items"] = json!({"type": "number"});
    }
    if name == "filter-lang" {
        // An enumeration, as clients read it (GDAL 3.6 sends `filter` to the server only when
        // it finds the draft's `cql-text` here).
        p["schema"] = json!({"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"], "default": "cql2-text"});
    }
    if name == "f" && p["schema"]["enum"].is_null() {
        p["schema"] = json!({"type": "string", "enum": ["json"]});
    }
    if matches!(name.as_str(), "crs" | "bbox-crs" | "filter-crs") {
        p["schema"] = json!({"type": "string", "format": "uri",
            "enum": [crate::serve::ogc::CRS84, crate::serve::ogc::EPSG_27700],
            "default": crate::serve::ogc::CRS84});
    }
    if matches!(name.as_str(), "bbox" | "limit" | "datetime") {
        p["style"] = json!("form");
        p["explode"] = json!(false);
    }
    p
}

/// Each collection's own paths (`/collections/units/items`, ...), copied from the generic
/// ones without their `{id}` parameter, as OGC clients and test suites look them up; its items
/// also take each of its queryables as a parameter (`?imd_decile=1`: equal to the value).
fn per_collection(paths: &mut serde_json::Map<String, Value>, collections: &[Collection]) {
    for c in collections {
        let id = c.id;
        for (generic, suffix) in [
            ("/collections/{id}", ""),
            ("/collections/{id}/items", "/items"),
            ("/collections/{id}/items/{featureId}", "/items/{featureId}"),
            ("/collections/{id}/queryables", "/queryables"),
        ] {
            let Some(mut op) = paths.get(generic).cloned() else {
                continue;
            };
            if let Some(params) = op["get"]["parameters"].as_array_mut() {
                params.retain(|p| p["name"] != "id");
            }
            if let Some(summary) = op["get"]["summary"].as_str() {
                op["get"]["summary"] = json!(format!("{summary}: {id}"));
            }
            op["get"]["operationId"] = json!(format!(
                "{}{}",
                id.replace('-', "_"),
                suffix.replace("/{featureId}", "_item").replace('/', "_")
            ));
            if suffix == "/items" {
                if let Some(params) = op["get"]["parameters"].as_array_mut() {
                    examples_for(c, params);
                    for (name, kind) in &c.queryables.properties {
                        if params.iter().any(|p| p["name"] == name.as_str()) {
                            continue;
                        }
                        params.push(json!({"name": name, "in": "query", "required": false,
                            "description": format!("Only features whose `{name}` is this"),
                            "schema": {"type": kind}, "style": "form", "explode": false}));
                    }
                }
            }
            paths.insert(format!("/collections/{id}{suffix}"), op);
        }
    }
}

/// Examples that fit the collection: its own queryables in `filter`, `sortby` and
/// `properties`, `kind` only where features have one.
fn examples_for(c: &Collection, params: &mut [Value]) {
    let q = &c.queryables.properties;
    let num = q
        .iter()
        .find(|(n, t)| matches!(*t, "integer" | "number") && n != "id")
        .map(|(n, _)| n.as_str());
    let text = q
        .iter()
        .find(|(n, t)| *t == "string" && n != "id")
        .map(|(n, _)| n.as_str());
    let filter = match (num, text) {
        (Some(n), _) => Some(format!("{n} >= 1")),
        (None, Some(t)) => Some(format!("{t} LIKE 'A%'")),
        _ => None,
    };
    let sortby = num.or(text).map(|n| format!("-{n}"));
    let props: Vec<&str> = q.iter().take(2).map(|(n, _)| n.as_str()).collect();
    for p in params.iter_mut() {
        let example = match p["name"].as_str().unwrap_or("") {
            "filter" => filter.clone(),
            "sortby" => sortby.clone(),
            "properties" => Some(props.join(",")),
            "kind" if c.id == "places" => Some("ward".into()),
            "kind" => None,
            _ => continue,
        };
        match (example, p.as_object_mut()) {
            (Some(e), Some(o)) => {
                o.insert("example".into(), json!(e));
            }
            (None, Some(o)) => {
                o.remove("example");
            }
            _ => {}
        }
    }
}

/// The collection ids.
const COLLECTIONS: [&str; 8] = [
    "units",
    "lsoa",
    "practices",
    "catchments",
    "stops",
    "vaccination-sites",
    "pharmacies",
    "places",
];

/// A type's JSON schema as OpenAPI 3.0 JSON.
fn schema<T: utoipa::PartialSchema>() -> Value {
    to_oas30(serde_json::to_value(T::schema()).unwrap_or(Value::Null))
}

/// OpenAPI 3.1 nullability (`"type": ["number", "null"]`) as 3.0 (`"nullable": true`).
fn to_oas30(v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            if let Some(Value::Array(types)) = m.get("type").cloned() {
                let real: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if real.len() == 1 {
                    m.insert("type".into(), real[0].clone());
                    if real.len() < types.len() {
                        m.insert("nullable".into(), Value::Bool(true));
                    }
                }
            }
            Value::Object(m.into_iter().map(|(k, v)| (k, to_oas30(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(to_oas30).collect()),
        other => other,
    }
}

fn concat(parts: Vec<Vec<Value>>) -> Value {
    Value::Array(parts.into_iter().flatten().collect())
}

fn errors() -> Value {
    json!({
        "400": {"description": "A bad parameter; `message` names it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "406": {"description": "A format (`f`) this resource has not", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"description": "Unknown collection or feature", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    })
}

fn geojson_ok(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}}})
}

/// The document, with each served collection's own paths.
pub fn document(collections: &[Collection]) -> Value {
    let mut doc = generic();
    if let Some(paths) = doc["paths"].as_object_mut() {
        per_collection(paths, collections);
    }
    doc
}

fn generic() -> Value {
    let collection_id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string",
        "enum": COLLECTIONS}});
    let mut errs = errors();
    errs["200"] =
        geojson_ok("The ranked candidates, best first, with a score breakdown per criterion; the first 100 units left out as unable to hold a clinic (`unsuitable`; `left_out_unsuitable` counts them all) and where every layer has data (`coverage`)");
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "sitefinder",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Vacant high-street units in England ranked as community vaccination and health sites. OGC API - Features over every layer (Part 1 core, Part 2 CRS: WGS84 or British National Grid, Part 3 queryables and CQL2 filters), and /rank with the same filter, sortby, properties and crs. GeoJSON is RFC 7946 (WGS84 lon/lat) unless crs asks for EPSG 27700; the Content-Crs header says which. Link hrefs are absolute. Unknown query parameters are a 400; every error is JSON {code, message}. Contains public sector information licensed under the Open Government Licence v3.0.",
            "license": {"name": "Data: Open Government Licence v3.0", "url": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"},
        },
        "paths": {
            "/": {"get": {"summary": "The landing page: the map for a browser (f=html, or an Accept naming text/html); the OGC API landing page (JSON, links absolute) otherwise", "parameters": [{"name": "f", "in": "query", "required": false, "schema": {"type": "string", "enum": ["html", "json"]}}], "responses": errors_with("200", json!({"description": "the map (text/html) or the landing page (application/json)"}))}},
            "/health": {"get": {"summary": "Liveness, with data versions", "responses": {"200": {"description": "ok"}}}},
            "/api": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.0"}}}},
            "/conformance": {"get": {"summary": "OGC API conformance classes", "parameters": query::<FormatF>(), "responses": errors_with("200", json!({"description": "conformsTo"}))}},
            "/attribution": {"get": {"summary": "Data sources and the attribution to show", "responses": {"200": {"description": "attribution"}}}},
            "/search": {"get": {
                "summary": "Find postcodes, places (local authorities, wards, PCNs) and units by what was typed, best match first",
                "parameters": query::<SearchQuery>(),
                "responses": errors_with("200", geojson_ok("Points with kind (postcode, local_authority, ward, pcn or unit), id, name, detail, match (exact, prefix, word_prefix or substring), lad_code and, for an area, bbox (WGS84 minlon,minlat,maxlon,maxlat)")),
            }},
            "/tiles": {"get": {"summary": "The vector tilesets (`lsoa`: the IMD choropleth; `units`: with score and rank; `practices`), each with its TileJSON and tile URL template", "responses": {"200": {"description": "tilesets"}}}},
            "/tiles/{tileset}.json": {"get": {"summary": "A tileset's TileJSON 3.0: tile URL, zooms, bounds, centre, fields and attribution", "parameters": [path_param("tileset")], "responses": errors_with("200", json!({"description": "TileJSON"}))}},
            "/tiles/{tileset}/{z}/{x}/{y}.mvt": {"get": {"summary": "One Mapbox Vector Tile (XYZ scheme, Web Mercator, extent 4096): the tileset's features simplified for the zoom; below zoom 10 LSOAs carry only their code and IMD decile, and points are thinned to one per 1/128 of a tile a side (for units the best ranked) with `point_count` the points each stands for", "parameters": [path_param("tileset"), path_param("z"), path_param("x"), path_param("y")], "responses": errors_with("200", json!({"description": "tile", "content": {"application/vnd.mapbox-vector-tile": {}}}))}},
            "/map-config": {"get": {"summary": "What the web map draws: the online base map the server was started with (`base_map`: url template and attribution, or null) and whether the data has place names (`places`)", "responses": {"200": {"description": "map configuration"}}}},
            "/collections": {"get": {"summary": "The layers", "parameters": query::<FormatF>(), "responses": errors_with("200", json!({"description": "collections"}))}},
            "/collections/{id}": {"get": {"summary": "One layer", "parameters": concat(vec![vec![collection_id.clone()], query::<FormatF>()]), "responses": errors_with("200", json!({"description": "collection"}))}},
            "/collections/{id}/items": {"get": {
                "summary": "Features of a layer, paged (limit over 10000 is taken as 10000)",
                "parameters": concat(vec![vec![collection_id.clone()], query::<ItemsQuery>(), query::<Paging>(), query::<FormatF>()]),
                "responses": errors_with("200", geojson_ok("Features with numberMatched, numberReturned, timeStamp (when the page was made) and self/next/prev/collection links")),
            }},
            "/collections/{id}/queryables": {"get": {
                "summary": "What the layer's features can be filtered (filter) and sorted (sortby) on, as a JSON Schema",
                "parameters": concat(vec![vec![collection_id.clone()], query::<FormatF>()]),
                "responses": errors_with("200", json!({"description": "queryables", "content": {"application/schema+json": {}}})),
            }},
            "/collections/{id}/items/{featureId}": {"get": {
                "summary": "One feature",
                "parameters": concat(vec![vec![collection_id, json!({"name": "featureId", "in": "path", "required": true, "schema": {"type": "string"}})], query::<ItemQuery>(), query::<FormatF>()]),
                "responses": errors_with("200", json!({"description": "feature", "content": {"application/geo+json": {}}})),
            }},
            "/optimise": {"post": {
                "summary": "Choose the k units that together reach the most deprived demand (location-allocation); the ranking's filters in the query string limit the candidates to the units passing them, as on the map; `format` makes it a download",
                "parameters": concat(vec![query::<RankQuery>(), query::<FormatQuery>()]),
                "requestBody": {"required": false, "content": {"application/json": {"schema": schema::<OptimiseQuery>()}}},
                "responses": errors_with("200", geojson_ok("The chosen units in order of choice with the marginal gain of each, the objective, for MCLP a proven upper bound on the optimum (`objective_bound`, so the gap is known without an exact solve), the exact optimum when asked, equity by IMD decile, each fixed layer's sites and the local authorities it has no data for (`fixed`), the first 100 units left out as unable to hold a clinic (`unsuitable`, unless `include_unsuitable`; `left_out_unsuitable` counts them all), and where every layer has data (`coverage`)")),
            }},
            "/rank": {"get": {
                "summary": "Rank the candidate units (the same ranking as `sitefinder rank`)",
                "parameters": concat(vec![query::<RankQuery>(), query::<Paging>(), query::<FormatQuery>(), query::<RankOgc>(), query::<PropertiesQuery>()]),
                "responses": errs,
            }},
            "/shortlists": {
                "get": {"summary": "Every shortlist with its number of sites and times", "responses": errors_with("200", json!({"description": "shortlists"}))},
                "post": {"summary": "Create a shortlist (write: bearer token)", "security": [{"bearer": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": schema::<NewShortlist>()}}},
                    "responses": errors_with("201", json!({"description": "the shortlist"}))},
            },
            "/shortlists/{name}": {
                "get": {"summary": "One shortlist with its sites, notes and times", "parameters": [path_param("name")], "responses": errors_with("200", json!({"description": "shortlist"}))},
                "delete": {"summary": "Delete a shortlist (write: bearer token)", "security": [{"bearer": []}], "parameters": [path_param("name")], "responses": errors_with("200", json!({"description": "deleted"}))},
            },
            "/shortlists/{name}/sites": {"post": {"summary": "Add units (write: bearer token)", "security": [{"bearer": []}], "parameters": [path_param("name")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": schema::<NewSites>()}}},
                "responses": errors_with("200", json!({"description": "the shortlist"}))}},
            "/shortlists/{name}/sites/{id}": {
                "put": {"summary": "Set a site's note (write: bearer token)", "security": [{"bearer": []}], "parameters": [path_param("name"), path_param("id")],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": schema::<Note>()}}},
                    "responses": errors_with("200", json!({"description": "the shortlist"}))},
                "delete": {"summary": "Remove a site (write: bearer token)", "security": [{"bearer": []}], "parameters": [path_param("name"), path_param("id")], "responses": errors_with("200", json!({"description": "the shortlist"}))},
            },
            "/shortlists/{name}/export": {"get": {"summary": "Download a shortlist ranked with its weights, with notes: a table (xlsx, csv, geojson, gpkg) or the PDF site report (pdf)", "parameters": concat(vec![vec![path_param("name")], query::<ExportQuery>()]),
                "responses": errors_with("200", json!({"description": "the file"}))}},
            "/overlays": {
                "get": {"summary": "Every council plan overlay (no geometry)", "responses": errors_with("200", json!({"description": "overlays"}))},
                "post": {"summary": "Upload a plan layer (write: bearer token): GeoJSON, zipped Shapefile with .prj, or GeoPackage as the body; EPSG:27700/4326, others reprojected", "security": [{"bearer": []}],
                    "parameters": query::<UploadQuery>(),
                    "requestBody": {"required": true, "content": {"application/octet-stream": {}}},
                    "responses": errors_with("201", json!({"description": "the stored overlay"}))},
            },
            "/overlays/{id}": {
                "get": {"summary": "An overlay's areas as RFC 7946 GeoJSON", "parameters": [path_param("id")], "responses": errors_with("200", geojson_ok("MultiPolygons with label, overlay and feature index"))},
                "delete": {"summary": "Delete an overlay (write: bearer token)", "security": [{"bearer": []}], "parameters": [path_param("id")], "responses": errors_with("200", json!({"description": "deleted"}))},
            },
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "the token `sitefinder serve` prints or reads from --token-file / SITEFINDER_TOKEN"}}, "schemas": {
            "Error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
            "FeatureCollection": {"type": "object", "required": ["type", "features"], "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": {"type": "object"}},
                "numberMatched": {"type": "integer"}, "numberReturned": {"type": "integer"},
                "links": {"type": "array", "items": {"type": "object"}},
            }},
        }},
    })
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn errors_with(code: &str, ok: Value) -> Value {
    let mut e = errors();
    e[code] = ok;
    e
}
