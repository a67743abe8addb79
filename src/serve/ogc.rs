//! OGC API request parameters shared by the collections' items and `/rank`, read as the
//! standards define them: `bbox` and `bbox-crs`, `crs` (Part 2: CRS84 or British National Grid),
//! `datetime`, `filter` with `filter-lang` and `filter-crs` (Part 3: CQL2 text or JSON, parsed by
//! the `cql2` crate, every property checked against the queryables), `sortby` and `properties`.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::{json, Map, Value};

use crate::base::crs;
use crate::base::date::Date;
use crate::serve::error::ApiError;

/// WGS84 longitude/latitude, the default.
pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
/// British National Grid (easting, northing in metres), the storage CRS.
pub const EPSG_27700: &str = "http://www.opengis.net/def/crs/EPSG/0/27700";

/// A coordinate reference system the API reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Crs {
    #[default]
    Crs84,
    Bng,
}

impl Crs {
    /// The URI (or `[EPSG:27700]`-style safe CURIE, or `EPSG:27700`) given as `param`.
    pub fn parse(param: &str, s: &str) -> Result<Crs, ApiError> {
        let t = s.trim().trim_start_matches('[').trim_end_matches(']');
        let t = t
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        match t.to_ascii_uppercase().as_str() {
            "WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84" | "OGC:CRS84" | "CRS84" => Ok(Crs::Crs84),
            "WWW.OPENGIS.NET/DEF/CRS/EPSG/0/27700" | "EPSG:27700" => Ok(Crs::Bng),
            _ => Err(ApiError::bad(
                param,
                format!(
                    "`{s}` is not a CRS served here; give {CRS84} (the default) or {EPSG_27700}"
                ),
            )),
        }
    }

    pub fn uri(self) -> &'static str {
        match self {
            Crs::Crs84 => CRS84,
            Crs::Bng => EPSG_27700,
        }
    }

    /// `Crs::parse` of an optional value, the default when not given.
    pub fn from_param(param: &str, s: Option<&str>) -> Result<Crs, ApiError> {
        s.map(|s| Crs::parse(param, s))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// A BNG coordinate in this CRS (WGS84 to six decimals, BNG to the centimetre).
    pub fn from_bng(self, e: f64, n: f64) -> Result<[f64; 2], crs::CrsError> {
        Ok(match self {
            Crs::Bng => [(e * 100.0).round() / 100.0, (n * 100.0).round() / 100.0],
            Crs::Crs84 => {
                let (lon, lat) = crs::bng_to_wgs84(e, n)?;
                [crs::round6(lon), crs::round6(lat)]
            }
        })
    }
}

/// A `bbox` query: boxes to search in BNG, and the exact test of what meets them.
#[derive(Debug, Clone)]
pub struct Bbox {
    /// BNG envelopes containing the area (two for a WGS84 box across the antimeridian).
    pub envelopes: Vec<[f64; 4]>,
    /// The area in BNG, for polygons.
    pub area: MultiPolygon<f64>,
    wgs84: Vec<[f64; 4]>,
    crs: Crs,
}

impl Bbox {
    /// `minx,miny,maxx,maxy` (or six numbers with heights, which are ignored) in `crs`: for
    /// CRS84 longitudes and latitudes, a box whose first longitude exceeds the second crossing
    /// the antimeridian, as the standard defines it.
    pub fn parse(param: &str, s: &str, crs: Crs) -> Result<Bbox, ApiError> {
        let bad = |why: String| ApiError::bad(param, format!("`{s}` {why}"));
        let v: Vec<f64> = s
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("must be 4 numbers (minx,miny,maxx,maxy) or 6 (with heights), separated by commas".into()))?;
        let [x0, y0, x1, y1] = match v[..] {
            [a, b, c, d] => [a, b, c, d],
            [a, b, _, d, e, _] => [a, b, d, e],
            _ => {
                return Err(bad(format!(
                    "has {} numbers; give 4 (minx,miny,maxx,maxy) or 6 (with heights)",
                    v.len()
                )))
            }
        };
        if v.iter().any(|x| !x.is_finite()) {
            return Err(bad("must be finite numbers".into()));
        }
        if y0 > y1 {
            return Err(bad("has its lower edge above its upper edge".into()));
        }
        match crs {
            Crs::Bng => {
                if x0 > x1 {
                    return Err(bad("has its west edge east of its east edge".into()));
                }
                let b = [x0, y0, x1, y1];
                Ok(Bbox {
                    envelopes: vec![b],
                    area: MultiPolygon(vec![rect(b)]),
                    wgs84: vec![],
                    crs,
                })
            }
            Crs::Crs84 => {
                let lon = -180.0..=180.0;
                let lat = -90.0..=90.0;
                if !lon.contains(&x0)
                    || !lon.contains(&x1)
                    || !lat.contains(&y0)
                    || !lat.contains(&y1)
                {
                    return Err(bad(
                        "must have longitudes within -180..180 and latitudes within -90..90".into(),
                    ));
                }
                let boxes = if x0 > x1 {
                    vec![[x0, y0, 180.0, y1], [-180.0, y0, x1, y1]]
                } else {
                    vec![[x0, y0, x1, y1]]
                };
                let mut envelopes = vec![];
                let mut polys = vec![];
                for b in &boxes {
                    let (env, poly) = wgs84_box_in_bng(*b).map_err(|e| ApiError::bad(param, e))?;
                    envelopes.push(env);
                    polys.push(poly);
                }
                Ok(Bbox {
                    envelopes,
                    area: MultiPolygon(polys),
                    wgs84: boxes,
                    crs,
                })
            }
        }
    }

    /// The WGS84 boxes `[minlon, minlat, maxlon, maxlat]` a CRS84 box is (two across the
    /// antimeridian); `None` for a box in British National Grid.
    pub fn wgs84_boxes(&self) -> Option<&[[f64; 4]]> {
        (self.crs == Crs::Crs84).then_some(&self.wgs84[..])
    }

    /// Whether a point is in the box, given in BNG and, when known, in WGS84 (the same point
    /// through [`crs::bng_to_wgs84`]: then a WGS84 box needs no transformation).
    pub fn has_point_at(&self, bng: [f64; 2], lonlat: Option<[f64; 2]>) -> bool {
        match (self.crs, lonlat) {
            (Crs::Crs84, Some([lon, lat])) => self
                .wgs84
                .iter()
                .any(|b| (b[0]..=b[2]).contains(&lon) && (b[1]..=b[3]).contains(&lat)),
            _ => self.has_point(bng),
        }
    }

    /// Whether a BNG point is in the box (exactly, in the box's own CRS).
    pub fn has_point(&self, [x, y]: [f64; 2]) -> bool {
        match self.crs {
            Crs::Bng => {
                let b = self.envelopes[0];
                (b[0]..=b[2]).contains(&x) && (b[1]..=b[3]).contains(&y)
            }
            Crs::Crs84 => crs::bng_to_wgs84(x, y).is_ok_and(|(lon, lat)| {
                self.wgs84
                    .iter()
                    .any(|b| (b[0]..=b[2]).contains(&lon) && (b[1]..=b[3]).contains(&lat))
            }),
        }
    }
}

fn rect([x0, y0, x1, y1]: [f64; 4]) -> Polygon<f64> {
    Polygon::new(
        LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
        vec![],
    )
}

/// A WGS84 box as a BNG polygon (its edges followed closely, 32 points each) and that
/// polygon's envelope. The box is first cut to the area around Great Britain where BNG means
/// anything; nothing served lies outside it.
fn wgs84_box_in_bng(b: [f64; 4]) -> Result<([f64; 4], Polygon<f64>), crs::CrsError> {
    let cx = |x: f64| x.clamp(-10.0, 4.0);
    let cy = |y: f64| y.clamp(48.0, 62.0);
    let (x0, x1, y0, y1) = (cx(b[0]), cx(b[2]), cy(b[1]), cy(b[3]));
    const N: usize = 32;
    let mut ring: Vec<(f64, f64)> = Vec::with_capacity(4 * N + 1);
    let lerp = |a: f64, b: f64, i: usize| a + (b - a) * i as f64 / N as f64;
    for i in 0..N {
        ring.push((lerp(x0, x1, i), y0));
    }
    for i in 0..N {
        ring.push((x1, lerp(y0, y1, i)));
    }
    for i in 0..N {
        ring.push((lerp(x1, x0, i), y1));
    }
    for i in 0..N {
        ring.push((x0, lerp(y1, y0, i)));
    }
    ring.push((x0, y0));
    crs::wgs84_to_bng_in_place(&mut ring)?;
    let mut env = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for &(e, n) in &ring {
        env = [env[0].min(e), env[1].min(n), env[2].max(e), env[3].max(n)];
    }
    let ring: Vec<Coord<f64>> = ring.into_iter().map(|(x, y)| Coord { x, y }).collect();
    Ok((env, Polygon::new(LineString(ring), vec![])))
}

/// A `datetime` instant or interval (`a/b`, `../b`, `a/..`), by day, both ends included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datetime {
    pub from: Option<Date>,
    pub to: Option<Date>,
}

impl Datetime {
    pub fn parse(s: &str) -> Result<Datetime, ApiError> {
        let end = |t: &str| -> Result<Option<Date>, ApiError> {
            match t.trim() {
                ".." | "" => Ok(None),
                t => rfc3339(t).map(Some).ok_or_else(|| {
                    ApiError::bad(
                        "datetime",
                        format!("`{t}` is not an RFC 3339 date or date-time (2024-07-01 or 2024-07-01T09:00:00Z)"),
                    )
                }),
            }
        };
        match s.split_once('/') {
            Some((a, b)) => {
                let (from, to) = (end(a)?, end(b)?);
                if from.is_none() && to.is_none() {
                    return Err(ApiError::bad(
                        "datetime",
                        "an interval needs at least one end (`../2024-07-01`)",
                    ));
                }
                if let (Some(f), Some(t)) = (from, to) {
                    if f > t {
                        return Err(ApiError::bad(
                            "datetime",
                            format!("`{s}` starts after it ends"),
                        ));
                    }
                }
                Ok(Datetime { from, to })
            }
            None => match end(s)? {
                Some(d) => Ok(Datetime {
                    from: Some(d),
                    to: Some(d),
                }),
                None => Err(ApiError::bad("datetime", "give a date or an interval")),
            },
        }
    }

    pub fn contains(&self, d: Date) -> bool {
        self.from.is_none_or(|f| d >= f) && self.to.is_none_or(|t| d <= t)
    }
}

/// The day of an RFC 3339 full-date or date-time (with its offset), if it is one.
fn rfc3339(t: &str) -> Option<Date> {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10))
    {
        return None;
    }
    let date = Date::from_ymd(
        t[..4].parse().ok()?,
        t[5..7].parse().ok()?,
        t[8..10].parse().ok()?,
    )?;
    if b.len() == 10 {
        return Some(date);
    }
    // A time: T hh:mm:ss[.frac] and Z or +hh:mm / -hh:mm.
    let time = t.get(11..)?;
    if !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b.get(13) != Some(&b':')
        || !digits(14..16)
        || b.get(16) != Some(&b':')
        || !digits(17..19)
    {
        return None;
    }
    let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
    if two(11) > 23 || two(14) > 59 || two(17) > 60 {
        return None;
    }
    let rest = time.get(8..)?.as_bytes();
    let rest = match rest.split_first() {
        Some((b'.', r)) => {
            let digits = r.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            &r[digits..]
        }
        _ => rest,
    };
    let in_range = |h: &[u8], m: &[u8]| {
        h.iter().chain(m).all(u8::is_ascii_digit)
            && (h[0] - b'0') * 10 + (h[1] - b'0') <= 23
            && (m[0] - b'0') * 10 + (m[1] - b'0') <= 59
    };
    let zone_ok = matches!(rest, b"Z" | b"z")
        || matches!(rest, [b'+' | b'-', h1, h2, b':', m1, m2] if in_range(&[*h1, *h2], &[*m1, *m2]));
    zone_ok.then_some(date)
}

/// The properties a collection (or `/rank`) can be filtered and sorted on, with their JSON types.
#[derive(Debug, Clone, Default)]
pub struct Queryables {
    /// `(name, type)`: type is integer, number, string or boolean.
    pub properties: Vec<(String, &'static str)>,
    /// `geometry-point`, `geometry-multipolygon`, ...
    pub geometry: Option<&'static str>,
}

/// The type of a property no feature has a value for (the shipped Rochdale list gives no floor
/// areas), from its name: a unit suffix (`_m`, `_m2`, ...) or a score's is a number, a yes/no
/// field a boolean, anything else text.
fn type_by_name(name: &str) -> &'static str {
    const NUMBERS: [&str; 11] = [
        "_m",
        "_m2",
        "_raw",
        "_norm",
        "_value",
        "_decile",
        "_score",
        "_rank",
        "_patients",
        "_size",
        "_units",
    ];
    if NUMBERS.iter().any(|s| name.ends_with(s)) || matches!(name, "score" | "rank" | "population")
    {
        "number"
    } else if name == "ground_floor" || name.starts_with("is_") {
        "boolean"
    } else {
        "string"
    }
}

impl Queryables {
    /// The scalar properties found in `rows` (the first non-null value of each gives its type).
    pub fn from_rows<R: std::borrow::Borrow<Map<String, Value>>>(
        rows: impl Iterator<Item = R>,
        geometry: Option<&'static str>,
    ) -> Queryables {
        let mut props: Vec<(String, Option<&'static str>)> = vec![];
        for row in rows {
            for (k, v) in row.borrow() {
                let kind = match v {
                    Value::Bool(_) => Some("boolean"),
                    Value::Number(n) if n.is_i64() || n.is_u64() => Some("integer"),
                    Value::Number(_) => Some("number"),
                    Value::String(_) => Some("string"),
                    Value::Null => None,
                    _ => Some("object"),
                };
                match props.iter_mut().find(|(n, _)| n == k) {
                    Some((_, t)) => {
                        if t.is_none() || (*t == Some("integer") && kind == Some("number")) {
                            *t = kind;
                        }
                    }
                    None => props.push((k.clone(), kind)),
                }
            }
        }
        Queryables {
            properties: props
                .into_iter()
                .filter_map(|(k, t)| match t {
                    Some("object") => None,
                    Some(t) => Some((k, t)),
                    None => {
                        let t = type_by_name(&k);
                        Some((k, t))
                    }
                })
                .collect(),
            geometry,
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.properties.iter().any(|(n, _)| n == name)
            || (self.geometry.is_some() && name == "geometry")
    }

    pub fn names(&self) -> String {
        let mut v: Vec<&str> = self.properties.iter().map(|(n, _)| n.as_str()).collect();
        if self.geometry.is_some() {
            v.push("geometry");
        }
        v.join(", ")
    }

    /// The JSON Schema document of `/collections/{id}/queryables`.
    pub fn schema(&self, id_url: &str, title: &str) -> Value {
        let mut props = Map::new();
        if let Some(g) = self.geometry {
            props.insert(
                "geometry".into(),
                json!({"title": "Geometry", "format": g, "x-ogc-role": "primary-geometry"}),
            );
        }
        for (n, t) in &self.properties {
            props.insert(n.clone(), json!({"title": n, "type": t}));
        }
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": id_url,
            "type": "object",
            "title": title,
            "properties": props,
            "additionalProperties": false,
        })
    }
}

/// A parsed and checked `filter`.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: cql2::Expr,
    /// The properties it names (a caller may make only those).
    names: Vec<String>,
    /// Whether it looks at the geometry (then each feature's geometry is built to test it).
    pub spatial: bool,
    /// The CRS of its geometry literals.
    pub crs: Crs,
}

impl Filter {
    /// `filter` in `filter-lang` (cql2-text, the default, or cql2-json), geometry literals in
    /// `filter-crs`; every property it names must be a queryable.
    pub fn parse(
        filter: &str,
        lang: Option<&str>,
        filter_crs: Option<&str>,
        queryables: &Queryables,
    ) -> Result<Filter, ApiError> {
        if filter.len() > MAX_FILTER_CHARS {
            return Err(ApiError::bad(
                "filter",
                format!(
                    "is {} characters; at most {MAX_FILTER_CHARS} are read",
                    filter.len()
                ),
            ));
        }
        let expr = match lang.map(str::trim) {
            None | Some("cql2-text" | "cql-text") => cql2::parse_text(filter)
                .map_err(|e| ApiError::bad("filter", format!("not CQL2 text: {e}")))?,
            Some("cql2-json") => cql2::parse_json(filter)
                .map_err(|e| ApiError::bad("filter", format!("not CQL2 JSON: {e}")))?,
            Some(other) => {
                return Err(ApiError::bad(
                    "filter-lang",
                    format!("`{other}`: give cql2-text (the default) or cql2-json"),
                ))
            }
        };
        let tree = expr
            .to_value()
            .map_err(|e| ApiError::bad("filter", format!("cannot be read: {e}")))?;
        let mut names = vec![];
        let mut spatial = false;
        walk(&tree, &mut names, &mut spatial);
        if !matches!(tree, Value::Object(_) | Value::Bool(_)) {
            return Err(ApiError::bad(
                "filter",
                format!("`{filter}` is not a condition (e.g. imd_decile <= 2)"),
            ));
        }
        if let Some(Value::Object(o)) = Some(&tree) {
            if o.contains_key("property") {
                return Err(ApiError::bad(
                    "filter",
                    format!("`{filter}` is a property, not a condition (e.g. imd_decile <= 2)"),
                ));
            }
        }
        for n in &names {
            if !queryables.has(n) {
                return Err(ApiError::bad(
                    "filter",
                    format!(
                        "`{n}` is not a queryable here; the queryables are: {}",
                        queryables.names()
                    ),
                ));
            }
        }
        check_types(&tree, queryables)?;
        names.sort_unstable();
        names.dedup();
        Ok(Filter {
            expr,
            spatial: spatial || names.iter().any(|n| n == "geometry"),
            names,
            crs: Crs::from_param("filter-crs", filter_crs)?,
        })
    }

    /// The properties it names, each once.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether a feature (its properties, and its geometry if the filter is spatial) passes.
    pub fn matches(
        &self,
        properties: &Map<String, Value>,
        geometry: Option<Value>,
    ) -> Result<bool, ApiError> {
        let item = json!({"properties": properties, "geometry": geometry});
        match self.expr.clone().matches(Some(&item)) {
            Ok(m) => Ok(m),
            // Undecided for this feature (a property it names is null here): not a match, as
            // the cql2 crate's own `filter` has it.
            Err(cql2::Error::NonReduced()) => Ok(false),
            Err(e) => Err(ApiError::bad("filter", format!("cannot be applied: {e}"))),
        }
    }
}

/// The longest `filter` read (a condition on a few properties, or a polygon of some hundreds of
/// points, fits many times over).
pub const MAX_FILTER_CHARS: usize = 20_000;

/// The most names `sortby` or `properties` may give.
pub const MAX_NAMES: usize = 100;

/// A comparison of a property with a literal of another type (`imd_decile = '2'`, `name > 5`)
/// is a mistake that would otherwise match nothing: a 400 that says so.
fn check_types(v: &Value, q: &Queryables) -> Result<(), ApiError> {
    const COMPARISONS: [&str; 7] = ["=", "<>", "!=", "<", ">", "<=", ">="];
    match v {
        Value::Object(o) => {
            let op = o.get("op").and_then(Value::as_str).unwrap_or("");
            let args = o.get("args").and_then(Value::as_array);
            if let (true, Some([a, b])) = (COMPARISONS.contains(&op), args.map(Vec::as_slice)) {
                for (p, lit) in [(a, b), (b, a)] {
                    let Some(name) = p.get("property").and_then(Value::as_str) else {
                        continue;
                    };
                    let Some(kind) = q
                        .properties
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, t)| *t)
                    else {
                        continue;
                    };
                    let fits = match lit {
                        Value::Number(_) => matches!(kind, "integer" | "number"),
                        Value::String(_) => kind == "string",
                        Value::Bool(_) => kind == "boolean",
                        _ => true,
                    };
                    if !fits {
                        return Err(ApiError::bad(
                            "filter",
                            format!(
                                "`{name}` is {} and is compared with {lit}: give {}",
                                a_kind(kind),
                                match kind {
                                    "integer" | "number" => "a number, without quotes",
                                    "string" => "text in single quotes",
                                    _ => "true or false",
                                }
                            ),
                        ));
                    }
                }
            }
            o.values().try_for_each(|x| check_types(x, q))
        }
        Value::Array(a) => a.iter().try_for_each(|x| check_types(x, q)),
        _ => Ok(()),
    }
}

fn a_kind(kind: &str) -> &'static str {
    match kind {
        "integer" => "a whole number",
        "number" => "a number",
        "string" => "text",
        _ => "true or false",
    }
}

/// The property names a CQL2 JSON tree refers to, and whether it has a spatial operator.
fn walk(v: &Value, names: &mut Vec<String>, spatial: &mut bool) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(p)) = o.get("property") {
                names.push(p.clone());
            }
            if let Some(Value::String(op)) = o.get("op") {
                if op.to_ascii_lowercase().starts_with("s_") {
                    *spatial = true;
                }
            }
            for x in o.values() {
                walk(x, names, spatial);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, names, spatial)),
        _ => {}
    }
}

/// `sortby`: `+name`, `name` (ascending) or `-name` (descending), comma-separated.
#[derive(Debug, Clone, Default)]
pub struct SortBy(pub Vec<(String, bool)>);

impl SortBy {
    pub fn parse(s: &str, queryables: &Queryables) -> Result<SortBy, ApiError> {
        let mut keys: Vec<(String, bool)> = vec![];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, desc) = match part.as_bytes()[0] {
                b'-' => (&part[1..], true),
                b'+' | b' ' => (&part[1..], false),
                _ => (part, false),
            };
            let name = name.trim();
            if !queryables.properties.iter().any(|(n, _)| n == name) {
                return Err(ApiError::bad(
                    "sortby",
                    format!(
                        "`{name}` is not a property that can be sorted on here; these can: {}",
                        queryables.names()
                    ),
                ));
            }
            // A name given again adds nothing: the first says the order.
            if !keys.iter().any(|(k, _)| k == name) {
                keys.push((name.to_string(), desc));
            }
            if keys.len() > MAX_NAMES {
                return Err(ApiError::bad(
                    "sortby",
                    format!("at most {MAX_NAMES} names"),
                ));
            }
        }
        Ok(SortBy(keys))
    }

    /// A feature's values of the keys, in order (null where it has none): what
    /// [`SortBy::sort`] orders by, read once rather than at every comparison.
    pub fn keys(&self, m: &Map<String, Value>) -> Vec<Value> {
        self.0
            .iter()
            .map(|(k, _)| m.get(k).cloned().unwrap_or(Value::Null))
            .collect()
    }

    /// Sorts items by their values of the keys ([`SortBy::keys`]), on every core; stable, so
    /// ties keep the order they came in (by rank, or by id).
    pub fn sort<T: Send>(&self, keyed: &mut [(T, Vec<Value>)]) {
        use rayon::slice::ParallelSliceMut;
        keyed.par_sort_by(|a, b| self.compare_keys(&a.1, &b.1));
    }

    /// Orders two items by their values of the keys (missing and null values last, whatever
    /// the direction).
    pub fn compare_keys(&self, a: &[Value], b: &[Value]) -> std::cmp::Ordering {
        for ((x, y), (_, desc)) in a.iter().zip(b).zip(&self.0) {
            let o = compare_one(x, y, *desc);
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    }
}

/// One key of [`SortBy::compare`]: numbers as numbers, text as text, null last.
fn compare_one(x: &Value, y: &Value, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (x.is_null(), y.is_null()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => {
            let o = match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) => p.total_cmp(&q),
                _ => match (x.as_str(), y.as_str()) {
                    (Some(p), Some(q)) => p.cmp(q),
                    _ => x.to_string().cmp(&y.to_string()),
                },
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// `properties`: the names to return, comma-separated; each must be a property here.
pub fn parse_properties(s: &str, known: &Queryables) -> Result<Vec<String>, ApiError> {
    let names = crate::engine::query::property_names(s);
    if let Some(p) = names
        .iter()
        .find(|p| !known.properties.iter().any(|(n, _)| n == *p))
    {
        return Err(ApiError::bad(
            "properties",
            format!("`{p}` is not a property here; these are: {}", known.names()),
        ));
    }
    if names.len() > MAX_NAMES {
        return Err(ApiError::bad(
            "properties",
            format!("at most {MAX_NAMES} names"),
        ));
    }
    Ok(names)
}

/// Keeps only the named properties of a feature's properties.
pub fn select(props: &mut Map<String, Value>, names: &[String]) {
    props.retain(|k, _| names.iter().any(|n| n == k));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crs_names() {
        assert_eq!(Crs::parse("crs", EPSG_27700).unwrap(), Crs::Bng);
        assert_eq!(Crs::parse("crs", "[EPSG:27700]").unwrap(), Crs::Bng);
        assert_eq!(Crs::parse("crs", CRS84).unwrap(), Crs::Crs84);
        let e = Crs::parse("crs", "http://www.opengis.net/def/crs/EPSG/0/4326").unwrap_err();
        assert!(
            e.message.starts_with("crs:") && e.message.contains("27700"),
            "{}",
            e.message
        );
    }

    #[test]
    fn datetimes_as_rfc3339_has_them() {
        let d = |s: &str| Date::parse(s).unwrap();
        let one = Datetime::parse("2024-07-01").unwrap();
        assert!(one.contains(d("2024-07-01")) && !one.contains(d("2024-07-02")));
        let open = Datetime::parse("../2024-07-01T12:00:00Z").unwrap();
        assert!(open.contains(d("1999-01-01")) && !open.contains(d("2024-07-02")));
        let from = Datetime::parse("2024-07-01T00:00:00.5+01:00/..").unwrap();
        assert!(from.contains(d("2030-01-01")) && !from.contains(d("2024-06-30")));
        for bad in [
            "2024-13-01",
            "yesterday",
            "2024-07-01T12:00",
            "../..",
            "2024-07-02/2024-07-01",
            "01/07/2024",
        ] {
            assert!(Datetime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sortby_orders_and_names_unknowns() {
        let q = Queryables::from_rows(
            [json!({"a": 1, "b": "x"}), json!({"a": 2.5, "b": null})]
                .iter()
                .filter_map(Value::as_object),
            None,
        );
        assert_eq!(
            q.properties,
            vec![("a".into(), "number"), ("b".into(), "string")]
        );
        let s = SortBy::parse("-a,+b", &q).unwrap();
        let (x, y) = (json!({"a": 1}), json!({"a": 2}));
        assert_eq!(
            s.compare_keys(
                &s.keys(x.as_object().unwrap()),
                &s.keys(y.as_object().unwrap())
            ),
            std::cmp::Ordering::Greater
        );
        assert!(SortBy::parse("c", &q).unwrap_err().message.contains("`c`"));
        assert_eq!(SortBy::parse("a,-a,a", &q).unwrap().0.len(), 1);
        assert_eq!(parse_properties("a,a,b,a", &q).unwrap(), ["a", "b"]);
    }

    #[test]
    fn filters_are_checked_against_the_queryables() {
        let q = Queryables::from_rows(
            [json!({"imd_decile": 1, "name": "A"})]
                .iter()
                .filter_map(Value::as_object),
            Some("geometry-point"),
        );
        let f = Filter::parse("imd_decile <= 2 AND name LIKE 'A%'", None, None, &q).unwrap();
        assert!(!f.spatial);
        let row = json!({"imd_decile": 1, "name": "Abc"});
        assert!(f.matches(row.as_object().unwrap(), None).unwrap());
        let row = json!({"imd_decile": 3, "name": "Abc"});
        assert!(!f.matches(row.as_object().unwrap(), None).unwrap());
        let e = Filter::parse("ooga = 'booga'", None, None, &q).unwrap_err();
        assert!(e.message.contains("`ooga`"), "{}", e.message);
        assert!(Filter::parse("imd_decile <=", None, None, &q).is_err());
        assert!(Filter::parse("imd_decile", None, None, &q).is_err());
        let e = Filter::parse("imd_decile = '2'", None, None, &q).unwrap_err();
        assert!(
            e.message.contains("a number, without quotes"),
            "{}",
            e.message
        );
        assert!(Filter::parse("name > 5", None, None, &q).is_err());
        assert!(Filter::parse(&"x".repeat(MAX_FILTER_CHARS + 1), None, None, &q).is_err());
        let j = r#"{"op": "=", "args": [{"property": "imd_decile"}, 1]}"#;
        assert!(Filter::parse(j, Some("cql2-json"), None, &q).is_ok());
        assert!(Filter::parse(j, Some("sql"), None, &q)
            .unwrap_err()
            .message
            .starts_with("filter-lang"));
        let s =
            Filter::parse("S_INTERSECTS(geometry, POINT(-2.15 53.61))", None, None, &q).unwrap();
        assert!(s.spatial);
    }
}
