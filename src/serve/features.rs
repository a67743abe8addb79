//! OGC API - Features over every layer: Part 1 (core: the collections, their items paged with
//! `bbox`, `datetime` and `limit`, one item), Part 2 (`crs` and `bbox-crs`: WGS84 or British
//! National Grid) and Part 3 (queryables, `filter` in CQL2 text or JSON, with `sortby` and
//! `properties`). Every link is absolute.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use crate::base::crs;
use crate::base::params::opt_text;
use crate::engine::{Paging, DEFAULT_LIMIT, MAX_LIMIT};
use crate::serve::collections::{self, Collection};
use crate::serve::error::ApiError;
use crate::serve::extract::{check_names, Params, Path, QuerySet};
use crate::serve::ogc::{self, Bbox, Crs, Datetime, Filter, SortBy, CRS84, EPSG_27700};
use crate::serve::respond::base_url;
use crate::serve::state::{AppState, Shared};

/// The relation of a link to a collection's queryables.
pub const REL_QUERYABLES: &str = "http://www.opengis.net/def/rel/ogc/1.0/queryables";

/// `f`, the OGC output-format parameter.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatF {
    /// Output format: json (GeoJSON for features; the default). There is no HTML view of the
    /// layers (the map at `/` is it): `f=html` is a 406.
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "json")]
    pub f: Option<String>,
}

impl FormatF {
    /// Refuses what cannot be served: `html` with 406, anything else but JSON with 400.
    pub fn check(&self) -> Result<(), ApiError> {
        match self.f.as_deref() {
            None | Some("json" | "geojson" | "application/json" | "application/geo+json") => Ok(()),
            Some("html" | "text/html") => Err(ApiError {
                status: StatusCode::NOT_ACCEPTABLE,
                code: "not_acceptable",
                message:
                    "f: there is no HTML view of this resource; give f=json, or open the map at /"
                        .into(),
            }),
            Some(other) => Err(ApiError::bad("f", format!("`{other}`: give json"))),
        }
    }
}

/// The items of a collection: which (bbox, datetime, kind, filter), in what order (sortby),
/// with what (properties), in what coordinates (crs).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// Features whose geometry meets this box: minx,miny,maxx,maxy (or six numbers, with
    /// heights, which are ignored), in `bbox-crs` (default: WGS84 longitude, latitude).
    #[serde(default, deserialize_with = "opt_text")]
    #[param(value_type = Option<Vec<f64>>, example = json!([-2.20, 53.60, -2.12, 53.64]))]
    pub bbox: Option<String>,
    /// The CRS of `bbox`: http://www.opengis.net/def/crs/OGC/1.3/CRS84 (the default) or
    /// http://www.opengis.net/def/crs/EPSG/0/27700 (British National Grid, metres).
    #[serde(rename = "bbox-crs", default, deserialize_with = "opt_text")]
    pub bbox_crs: Option<String>,
    /// A date or date-time (RFC 3339) or an interval (`2024-01-01/2024-06-30`, `../2024-06-30`,
    /// `2024-01-01/..`): units by the day they became vacant (`vacant_since`); units without
    /// that date, and the features of the other layers, have no time and always match.
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "2024-01-01/..")]
    pub datetime: Option<String>,
    /// The CRS of the geometries answered: CRS84 (the default) or EPSG 27700 (see `bbox-crs`);
    /// the `Content-Crs` header says which.
    #[serde(default, deserialize_with = "opt_text")]
    pub crs: Option<String>,
    /// A CQL2 condition on the collection's queryables (`/collections/{id}/queryables`), e.g.
    /// `imd_decile <= 2 AND floor_area_m2 >= 80`.
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "imd_decile <= 2")]
    pub filter: Option<String>,
    /// The language of `filter`: cql2-text (the default) or cql2-json (cql-text, the draft's
    /// name that GDAL 3.6 sends, is read as cql2-text).
    #[serde(rename = "filter-lang", default, deserialize_with = "opt_text")]
    #[param(value_type = Option<String>, pattern = "^(cql2-text|cql2-json|cql-text)$")]
    pub filter_lang: Option<String>,
    /// The CRS of geometries in `filter` (CRS84, the default, or EPSG 27700).
    #[serde(rename = "filter-crs", default, deserialize_with = "opt_text")]
    pub filter_crs: Option<String>,
    /// Order by these queryables, comma-separated, `-` before a name for descending (ties by
    /// id), e.g. `imd_decile,-population`.
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "imd_decile,-population")]
    pub sortby: Option<String>,
    /// Only these properties in each feature, comma-separated.
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "imd_decile,population")]
    pub properties: Option<String>,
    /// Only features whose `kind` property is this: for `places`, local_authority, ward or pcn;
    /// for the site layers, their kind of site (e.g. a stop type such as BCT).
    #[serde(default, deserialize_with = "opt_text")]
    #[param(example = "ward")]
    pub kind: Option<String>,
}

/// The coordinate reference systems of one item.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemQuery {
    /// The CRS of the geometry answered: CRS84 (the default) or
    /// http://www.opengis.net/def/crs/EPSG/0/27700.
    #[serde(default, deserialize_with = "opt_text")]
    pub crs: Option<String>,
    /// Only these properties, comma-separated.
    #[serde(default, deserialize_with = "opt_text")]
    pub properties: Option<String>,
}

/// The conformance classes: Part 1 core with GeoJSON and OpenAPI 3.0, Part 2 CRS by reference,
/// Part 3 queryables and filter with CQL2 (text and JSON, basic, advanced comparison and basic
/// spatial operators).
pub const CONFORMS_TO: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
];

pub async fn conformance(p: Params<(FormatF,)>) -> Result<Json<Value>, ApiError> {
    p.value.0.check()?;
    Ok(Json(json!({ "conformsTo": CONFORMS_TO })))
}

fn collection_json(c: &Collection, base: &str) -> Value {
    let mut extent = serde_json::Map::new();
    if let Some(e) = c.extent_bng {
        if let (Ok(a), Ok(b)) = (crs::bng_to_wgs84(e[0], e[1]), crs::bng_to_wgs84(e[2], e[3])) {
            extent.insert(
                "spatial".into(),
                json!({"bbox": [[a.0, a.1, b.0, b.1]], "crs": CRS84}),
            );
        }
    }
    if let Some((lo, hi)) = &c.temporal {
        extent.insert(
            "temporal".into(),
            json!({"interval": [[lo, hi]], "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}),
        );
    }
    let href = format!("{base}/collections/{}", c.id);
    json!({
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "numberOfItems": c.len(),
        "extent": extent,
        "crs": [CRS84, EPSG_27700],
        "storageCrs": EPSG_27700,
        "links": [
            {"href": href, "rel": "self", "type": "application/json", "title": "This layer"},
            {"href": format!("{href}/items"), "rel": "items", "type": "application/geo+json", "title": "Its features"},
            {"href": format!("{href}/queryables"), "rel": REL_QUERYABLES, "type": "application/schema+json", "title": "What its features can be filtered and sorted on"},
            {"href": format!("{base}/attribution"), "rel": "license", "type": "application/json", "title": "Sources and licences"},
        ],
    })
}

fn find<'a>(s: &'a AppState, id: &str) -> Result<&'a Collection, ApiError> {
    s.collections.iter().find(|c| c.id == id).ok_or_else(|| {
        ApiError::not_found(format!(
            "no collection `{id}`; the collections are: {}",
            s.collections
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

pub async fn list_collections(
    State(s): State<Shared>,
    headers: HeaderMap,
    p: Params<(FormatF,)>,
) -> Result<Json<Value>, ApiError> {
    p.value.0.check()?;
    let base = base_url(&s, &headers);
    let cs: Vec<Value> = s
        .collections
        .iter()
        .map(|c| collection_json(c, &base))
        .collect();
    Ok(Json(json!({
        "collections": cs,
        "crs": [CRS84, EPSG_27700],
        "links": [
            {"href": format!("{base}/collections"), "rel": "self", "type": "application/json", "title": "The layers"},
            {"href": format!("{base}/"), "rel": "parent", "type": "application/json", "title": "The landing page"},
        ],
    })))
}

pub async fn one_collection(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    p: Params<(FormatF,)>,
) -> Result<Json<Value>, ApiError> {
    p.value.0.check()?;
    Ok(Json(collection_json(
        find(&s, &id)?,
        &base_url(&s, &headers),
    )))
}

/// `/collections/{id}/queryables`: a JSON Schema of the properties `filter` and `sortby` can
/// name.
pub async fn queryables(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    p: Params<(FormatF,)>,
) -> Result<Response, ApiError> {
    p.value.0.check()?;
    let c = find(&s, &id)?;
    let url = format!("{}/collections/{id}/queryables", base_url(&s, &headers));
    let doc = c.queryables.schema(&url, &c.title);
    Ok((
        [(header::CONTENT_TYPE, "application/schema+json")],
        Json(doc),
    )
        .into_response())
}

/// Links to this page and the next and previous ones, keeping the other parameters.
pub fn page_links(
    url: &str,
    pairs: &[(String, String)],
    offset: usize,
    limit: usize,
    matched: usize,
) -> Vec<Value> {
    let href = |off: usize| {
        let mut q: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "offset" && k != "limit")
            .cloned()
            .collect();
        q.sort();
        q.push(("limit".into(), limit.to_string()));
        q.push(("offset".into(), off.to_string()));
        format!(
            "{url}?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    };
    let mut links = vec![
        json!({"href": href(offset), "rel": "self", "type": "application/geo+json", "title": "This page"}),
    ];
    if offset + limit < matched {
        links.push(json!({"href": href(offset + limit), "rel": "next", "type": "application/geo+json", "title": "The next page"}));
    }
    if offset > 0 {
        links.push(json!({"href": href(offset.saturating_sub(limit)), "rel": "prev", "type": "application/geo+json", "title": "The previous page"}));
    }
    links
}

/// The `Link` header of a response: its links, as RFC 8288 has them.
pub fn link_header(links: &[Value]) -> Option<HeaderValue> {
    let v: Vec<String> = links
        .iter()
        .filter_map(|l| {
            Some(format!(
                "<{}>; rel=\"{}\"; type=\"{}\"",
                l["href"].as_str()?,
                l["rel"].as_str()?,
                l["type"].as_str().unwrap_or("application/json")
            ))
        })
        .collect();
    HeaderValue::from_str(&v.join(", ")).ok()
}

/// GeoJSON with the CRS it is in (`Content-Crs`) and its links in a `Link` header.
pub fn geojson_in(v: Value, crs: Crs, links: &[Value]) -> Response {
    let r = ([(header::CONTENT_TYPE, "application/geo+json")], Json(v)).into_response();
    with_crs_and_links(r, crs, links)
}

/// A page of features (a `FeatureCollection`, its JSON in `body`) as [`geojson_in`]: it gets its
/// `timeStamp`, the time it was made, as its last member, and so a weak ETag: of the page
/// without it (the same features, whenever asked for, are the same page).
pub fn geojson_page(mut body: Vec<u8>, crs: Crs, links: &[Value]) -> Result<Response, ApiError> {
    let etag = crate::serve::etag::weak_tag_of(&body);
    // The object's closing brace, then the member and the brace again.
    if body.pop() != Some(b'}') {
        return Err(ApiError::internal(
            "a page of features that is not an object",
        ));
    }
    body.extend_from_slice(b",\"timeStamp\":");
    serde_json::to_writer(&mut body, &crate::serve::respond::now_rfc3339())
        .map_err(ApiError::internal)?;
    body.push(b'}');
    let mut r = ([(header::CONTENT_TYPE, "application/geo+json")], body).into_response();
    r.headers_mut().insert(header::ETAG, etag);
    Ok(with_crs_and_links(r, crs, links))
}

fn with_crs_and_links(mut r: Response, crs: Crs, links: &[Value]) -> Response {
    let h = r.headers_mut();
    h.insert(
        "content-crs",
        HeaderValue::from_str(&format!("<{}>", crs.uri())).unwrap_or(HeaderValue::from_static("")),
    );
    if let Some(l) = link_header(links) {
        h.insert(header::LINK, l);
    }
    r
}

/// The limit a page holds: the default if not given, the maximum if more is asked for (as the
/// standard has it: a larger limit is not an error).
pub fn clamped(paging: &Paging, max: usize) -> Result<(usize, usize), ApiError> {
    let max = max.min(MAX_LIMIT);
    let p = Paging {
        limit: paging.limit.map(|l| l.min(max)),
        offset: paging.offset,
    };
    Ok(p.bounds(DEFAULT_LIMIT.min(max), max)?)
}

/// An items query: the declared parameters, and the properties asked for by value.
type ItemsParams = (ItemsQuery, Paging, FormatF, Vec<(String, String)>);

/// The items' query: the declared parameters, and any queryable as `name=value` (OGC API -
/// Features Part 1's filters on properties: equal to the value).
fn items_query(c: &Collection, raw: &str) -> Result<ItemsParams, ApiError> {
    type Declared = (ItemsQuery, Paging, FormatF);
    let declared = <Declared as QuerySet>::allowed();
    let mut allowed = declared.clone();
    allowed.extend(
        c.queryables
            .properties
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| !declared.contains(n)),
    );
    check_names(raw, &allowed)?;
    let (q, paging, f) = <Declared as QuerySet>::read(raw)?;
    let by_property = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| !declared.iter().any(|d| d == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Ok((q, paging, f, by_property))
}

/// Whether a property's value is the text given for it (numbers compared as numbers).
fn equals(v: Option<&Value>, text: &str) -> bool {
    match v {
        Some(Value::String(s)) => s == text,
        Some(Value::Number(n)) => text
            .trim()
            .parse::<f64>()
            .is_ok_and(|t| n.as_f64() == Some(t)),
        Some(Value::Bool(b)) => text.trim() == b.to_string(),
        _ => false,
    }
}

/// A page of a collection's items. Filtering, sorting and writing a page of polygons is CPU
/// work: off the async workers.
pub async fn items(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let raw = raw.unwrap_or_default();
    s.cpu(move |s| items_page(s, &id, &headers, &raw)).await?
}

fn items_page(
    s: &AppState,
    id: &str,
    headers: &HeaderMap,
    raw: &str,
) -> Result<Response, ApiError> {
    let c = find(s, id)?;
    let (q, paging, f, by_property) = items_query(c, raw)?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let (q, paging, f) = (&q, &paging, &f);
    f.check()?;
    for (name, text) in &by_property {
        let kind = c
            .queryables
            .properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t);
        if matches!(kind, Some("integer" | "number")) && text.trim().parse::<f64>().is_err() {
            return Err(ApiError::bad(name, format!("`{text}` is not a number")));
        }
    }
    let (offset, limit) = clamped(paging, c.max_limit)?;
    let out_crs = Crs::from_param("crs", q.crs.as_deref())?;
    let atlas = &s.engine.atlas;
    let bbox = match &q.bbox {
        Some(b) => {
            let bcrs = Crs::from_param("bbox-crs", q.bbox_crs.as_deref())?;
            Some(Bbox::parse("bbox", b, bcrs)?)
        }
        None if q.bbox_crs.is_some() => {
            return Err(ApiError::bad("bbox-crs", "is only meaningful with bbox"))
        }
        None => None,
    };
    let datetime = q.datetime.as_deref().map(Datetime::parse).transpose()?;
    let filter = match &q.filter {
        Some(text) => Some(Filter::parse(
            text,
            q.filter_lang.as_deref(),
            q.filter_crs.as_deref(),
            &c.queryables,
        )?),
        None => {
            for (name, v) in [
                ("filter-lang", &q.filter_lang),
                ("filter-crs", &q.filter_crs),
            ] {
                if v.is_some() {
                    return Err(ApiError::bad(name, "is only meaningful with filter"));
                }
            }
            None
        }
    };
    let sortby = q
        .sortby
        .as_deref()
        .map(|t| SortBy::parse(t, &c.queryables))
        .transpose()?;
    let properties = q
        .properties
        .as_deref()
        .map(|t| ogc::parse_properties(t, &c.queryables))
        .transpose()?;

    let mut matching: Vec<usize> = match &bbox {
        Some(b) => c.in_bbox(atlas, b),
        None => (0..c.len()).collect(),
    };
    if let Some(dt) = datetime {
        matching.retain(|&i| {
            match c
                .property(i, "vacant_since")
                .as_deref()
                .and_then(Value::as_str)
                .and_then(crate::base::date::Date::parse)
            {
                Some(d) => dt.contains(d),
                None => true,
            }
        });
    }
    if let Some(k) = &q.kind {
        matching.retain(|&i| c.property(i, "kind").as_deref().and_then(Value::as_str) == Some(k));
    }
    for (name, text) in &by_property {
        matching.retain(|&i| equals(c.property(i, name).as_deref(), text));
    }
    if let Some(f) = &filter {
        // Each item's properties that the filter names, made alone (a million units are not
        // made whole), on every core.
        let judged = crate::base::par::map(&matching, |&i| {
            let geometry = if f.spatial {
                Some(collections::geometry(atlas, &c.shape(i), f.crs).map_err(ApiError::internal)?)
            } else {
                None
            };
            let named: serde_json::Map<String, Value> = f
                .names()
                .iter()
                .filter_map(|n| Some((n.clone(), c.property(i, n)?.into_owned())))
                .collect();
            f.matches(&named, geometry)
        });
        let mut kept = Vec::with_capacity(matching.len());
        for (i, keep) in matching.into_iter().zip(judged) {
            if keep? {
                kept.push(i);
            }
        }
        matching = kept;
    }
    if let Some(sb) = &sortby {
        // Stable: ties stay in id order. Each item's sort keys are read once, alone (a million
        // units are not made whole), on every core.
        let keys = crate::base::par::map(&matching, |&i| {
            sb.0.iter()
                .map(|(n, _)| c.property(i, n).map_or(Value::Null, |v| v.into_owned()))
                .collect::<Vec<Value>>()
        });
        let mut keyed: Vec<(usize, Vec<Value>)> = matching.into_iter().zip(keys).collect();
        sb.sort(&mut keyed);
        matching = keyed.into_iter().map(|(i, _)| i).collect();
    }
    let shown: Vec<usize> = matching.iter().skip(offset).take(limit).copied().collect();
    let base = base_url(s, headers);
    let url = format!("{base}/collections/{id}/items");
    let mut links = page_links(&url, &pairs, offset, limit, matching.len());
    links.push(json!({"href": format!("{base}/collections/{id}"), "rel": "collection", "type": "application/json", "title": "The layer"}));
    links.push(json!({"href": format!("{base}/collections/{id}/queryables"), "rel": REL_QUERYABLES, "type": "application/schema+json", "title": "What can be filtered and sorted on"}));
    // Written straight into the answer's bytes, as `serde_json` writes the object (its
    // members in this order), each feature's properties made one at a time.
    let mut page = Vec::with_capacity(64 * 1024);
    page.push(b'{');
    let mut members = crate::export::table::Members::after(&mut page, 0);
    members.member("type", "FeatureCollection");
    members.member("numberMatched", &matching.len());
    members.member("numberReturned", &shown.len());
    members.member("links", &links);
    members.name("features");
    page.push(b'[');
    for (k, &i) in shown.iter().enumerate() {
        if k > 0 {
            page.push(b',');
        }
        collections::write_feature(&mut page, atlas, c, i, out_crs, properties.as_deref())
            .map_err(ApiError::internal)?;
    }
    page.extend_from_slice(b"]}");
    geojson_page(page, out_crs, &links)
}

pub async fn item(
    State(s): State<Shared>,
    Path((id, fid)): Path<(String, String)>,
    headers: HeaderMap,
    p: Params<(ItemQuery, FormatF)>,
) -> Result<Response, ApiError> {
    let c = find(&s, &id)?;
    let (q, f) = &p.value;
    f.check()?;
    let out_crs = Crs::from_param("crs", q.crs.as_deref())?;
    let properties = q
        .properties
        .as_deref()
        .map(|t| ogc::parse_properties(t, &c.queryables))
        .transpose()?;
    let i = c
        .index_of(&fid)
        .ok_or_else(|| ApiError::not_found(format!("no feature `{fid}` in collection `{id}`")))?;
    let mut feature = collections::feature(&s.engine.atlas, c, i, out_crs, properties.as_deref())
        .map_err(ApiError::internal)?;
    let base = base_url(&s, &headers);
    let links = json!([
        {"href": format!("{base}/collections/{id}/items/{}", crate::serve::respond::urlencode(&fid)), "rel": "self", "type": "application/geo+json", "title": "This feature"},
        {"href": format!("{base}/collections/{id}"), "rel": "collection", "type": "application/json", "title": "The layer"},
    ]);
    let list = links.as_array().cloned().unwrap_or_default();
    feature["links"] = links;
    Ok(geojson_in(feature, out_crs, &list))
}
