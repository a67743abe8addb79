//! The OpenAPI 3.0 document served at `/api`.

use serde_json::{json, Value};

use crate::server::{DEFAULT_LIMIT, MAX_LIMIT};

fn param(name: &str, desc: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc, "schema": schema})
}

fn errors() -> Value {
    json!({
        "400": {"description": "A bad parameter; `message` names it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"description": "Unknown collection or feature", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    })
}

fn geojson_ok(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}}})
}

/// The document.
pub fn document() -> Value {
    let bbox = param(
        "bbox",
        "WGS84 box minlon,minlat,maxlon,maxlat; features that meet it",
        json!({"type": "string", "example": "-2.20,53.60,-2.12,53.64"}),
    );
    let limit = param(
        "limit",
        &format!("Features per page (default {DEFAULT_LIMIT}, maximum {MAX_LIMIT})"),
        json!({"type": "integer", "minimum": 0, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    );
    let offset = param(
        "offset",
        "Features to skip",
        json!({"type": "integer", "minimum": 0, "default": 0}),
    );
    let collection_id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string",
        "enum": ["units", "lsoa", "practices", "catchments", "stops", "vaccination-sites", "pharmacies"]}});
    let mut errs = errors();
    errs["200"] =
        geojson_ok("The ranked candidates, best first, with a score breakdown per criterion");
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "sitefinder",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Vacant high-street units in England ranked as community vaccination and health sites. OGC API - Features (Part 1, core) over every layer, and /rank. All GeoJSON is RFC 7946 (WGS84 lon/lat). Unknown query parameters are a 400. Contains public sector information licensed under the Open Government Licence v3.0.",
            "license": {"name": "Data: Open Government Licence v3.0", "url": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"},
        },
        "paths": {
            "/health": {"get": {"summary": "Liveness, with data versions", "responses": {"200": {"description": "ok"}}}},
            "/api": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.0"}}}},
            "/conformance": {"get": {"summary": "OGC API conformance classes", "responses": {"200": {"description": "conformsTo"}}}},
            "/attribution": {"get": {"summary": "Data sources and the attribution to show", "responses": {"200": {"description": "attribution"}}}},
            "/collections": {"get": {"summary": "The layers", "responses": {"200": {"description": "collections"}}}},
            "/collections/{id}": {"get": {"summary": "One layer", "parameters": [collection_id.clone()], "responses": errors_with("200", json!({"description": "collection"}))}},
            "/collections/{id}/items": {"get": {
                "summary": "Features of a layer, paged",
                "parameters": [collection_id.clone(), bbox.clone(), limit.clone(), offset.clone()],
                "responses": errors_with("200", geojson_ok("Features with numberMatched, numberReturned and next/prev links")),
            }},
            "/collections/{id}/items/{featureId}": {"get": {
                "summary": "One feature",
                "parameters": [collection_id, {"name": "featureId", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": errors_with("200", json!({"description": "feature", "content": {"application/geo+json": {}}})),
            }},
            "/optimise": {"post": {
                "summary": "Choose the k units that together reach the most deprived demand (location-allocation)",
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
                    "k": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
                    "radius_m": {"type": "number", "minimum": 50, "maximum": 20000, "default": 800},
                    "model": {"type": "string", "enum": ["mclp", "p-median", "lscp"], "default": "mclp"},
                    "fixed": {"type": "array", "items": {"type": "string", "enum": ["practices", "pharmacies", "vaccination-sites"]}},
                    "pcn": {"type": "string"}, "lad": {"type": "string"},
                    "weighting": {"type": "string", "description": "deciles (default), score, or ten comma-separated decile weights"},
                    "exact": {"type": "boolean", "default": false, "description": "also solve the MILP exactly (small instances)"},
                    "compare": {"type": "array", "items": {"type": "string"}, "description": "unit ids of a scenario to compare with the choice"},
                }}}}},
                "responses": errors_with("200", geojson_ok("The chosen units in order of choice with the marginal gain of each, the objective, the exact optimum when asked, and equity by IMD decile")),
            }},
            "/rank": {"get": {
                "summary": "Rank the candidate units (the same ranking as `sitefinder rank`)",
                "parameters": [
                    bbox, limit, offset,
                    param("pcn", "Only units in the catchment of a practice of this PCN (name or U-code)", json!({"type": "string"})),
                    param("lad", "Only units in this local authority (LAD 2019 code or name)", json!({"type": "string"})),
                    param("min_floor_area_m2", "Only units with at least this floor area", json!({"type": "number", "minimum": 0})),
                    param("imd_deciles", "Only units in LSOAs of these IMD deciles, e.g. 1,2 or 1-3 (1 = most deprived)", json!({"type": "string"})),
                    param("weights", "criterion:weight pairs, e.g. deprivation:3,access:1 (criteria: deprivation, reach, demand, gap, access, suitability, plan; 0..100)", json!({"type": "string"})),
                    param("overlay", "A council plan overlay (id or name) for the `plan` criterion", json!({"type": "string"})),
                    param("plan_within_m", "Only units within this distance of the chosen overlay's areas (0 = inside)", json!({"type": "number", "minimum": 0})),
                    param("format", "geojson (default, paged) or a download of every matched unit: csv (UTF-8 with BOM), xlsx, gpkg", json!({"type": "string", "enum": ["geojson", "csv", "xlsx", "gpkg"]})),
                ],
                "responses": errs,
            }},
            "/shortlists": {
                "get": {"summary": "Every shortlist with its number of sites and times", "responses": errors_with("200", json!({"description": "shortlists"}))},
                "post": {"summary": "Create a shortlist (write: bearer token)", "security": [{"bearer": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                        "name": {"type": "string"}, "ids": {"type": "array", "items": {"type": "string"}}, "note": {"type": "string"},
                        "weights": {"type": "string"}, "query": {"type": "string", "description": "the /rank query it came from"}}}}}},
                    "responses": errors_with("201", json!({"description": "the shortlist"}))},
            },
            "/shortlists/{name}": {
                "get": {"summary": "One shortlist with its sites, notes and times", "parameters": [path_param("name")], "responses": errors_with("200", json!({"description": "shortlist"}))},
                "delete": {"summary": "Delete a shortlist (write: bearer token)", "security": [{"bearer": []}], "parameters": [path_param("name")], "responses": errors_with("200", json!({"description": "deleted"}))},
            },
            "/shortlists/{name}/sites": {"post": {"summary": "Add units (write: bearer token)", "security": [{"bearer": []}], "parameters": [path_param("name")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["ids"], "properties": {"ids": {"type": "array", "items": {"type": "string"}}, "note": {"type": "string"}}}}}},
                "responses": errors_with("200", json!({"description": "the shortlist"}))}},
            "/shortlists/{name}/sites/{id}": {
                "put": {"summary": "Set a site's note (write: bearer token)", "security": [{"bearer": []}], "parameters": [path_param("name"), path_param("id")],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["note"], "properties": {"note": {"type": "string"}}}}}},
                    "responses": errors_with("200", json!({"description": "the shortlist"}))},
                "delete": {"summary": "Remove a site (write: bearer token)", "security": [{"bearer": []}], "parameters": [path_param("name"), path_param("id")], "responses": errors_with("200", json!({"description": "the shortlist"}))},
            },
            "/shortlists/{name}/export": {"get": {"summary": "Download a shortlist ranked with its weights, with notes", "parameters": [path_param("name"),
                param("format", "xlsx (default), csv (UTF-8 with BOM), geojson, gpkg (EPSG:27700 points)", json!({"type": "string", "enum": ["xlsx", "csv", "geojson", "gpkg"]}))],
                "responses": errors_with("200", json!({"description": "the file"}))}},
            "/overlays": {
                "get": {"summary": "Every council plan overlay (no geometry)", "responses": errors_with("200", json!({"description": "overlays"}))},
                "post": {"summary": "Upload a plan layer (write: bearer token): GeoJSON, zipped Shapefile with .prj, or GeoPackage as the body; EPSG:27700/4326, others reprojected", "security": [{"bearer": []}],
                    "parameters": [param("name", "The overlay's name", json!({"type": "string"})),
                        param("format", "geojson, shapefile or gpkg (default: guessed)", json!({"type": "string"})),
                        param("repair", "true: repair invalid polygons with make-valid instead of refusing them", json!({"type": "boolean"})),
                        param("filename", "The uploaded file's name, kept with the overlay", json!({"type": "string"}))],
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
