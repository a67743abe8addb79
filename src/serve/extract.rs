//! Query strings into the library's query types. The allowed names come from the same types
//! that parse them and that the OpenAPI document lists ([`utoipa::IntoParams`]), so the three
//! cannot drift: an unknown or repeated parameter is a 400 naming it, and a value that does not
//! parse is a 400 naming its parameter.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::serve::error::ApiError;

/// The query parameters a type declares.
pub fn params<T: IntoParams>() -> Vec<Parameter> {
    T::into_params(|| Some(ParameterIn::Query))
}

/// A type's parameter names, worked out once per type (building its OpenAPI parameters costs
/// more than reading a query string).
fn names<T: IntoParams + 'static>() -> Arc<Vec<String>> {
    static NAMES: OnceLock<RwLock<HashMap<TypeId, Arc<Vec<String>>>>> = OnceLock::new();
    let cache = NAMES.get_or_init(Default::default);
    let key = TypeId::of::<T>();
    if let Some(n) = cache.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return n.clone();
    }
    let n: Arc<Vec<String>> = Arc::new(params::<T>().into_iter().map(|p| p.name).collect());
    cache
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, n.clone());
    n
}

/// One or more query types read from the same query string.
pub trait QuerySet: Sized {
    /// Every allowed parameter name.
    fn allowed() -> Vec<String>;
    /// Reads each type (the names are already checked).
    fn read(raw: &str) -> Result<Self, ApiError>;
}

/// Reads one type, naming the parameter whose value does not parse.
pub fn read_one<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let param = if path == "." || path.is_empty() {
            "query string".to_string()
        } else {
            path
        };
        ApiError::bad(&param, e.into_inner())
    })
}

macro_rules! query_set {
    ($($t:ident),+) => {
        impl<$($t: DeserializeOwned + IntoParams + 'static),+> QuerySet for ($($t,)+) {
            fn allowed() -> Vec<String> {
                let mut v = vec![];
                $(v.extend(names::<$t>().iter().cloned());)+
                v
            }
            fn read(raw: &str) -> Result<Self, ApiError> {
                Ok(($(read_one::<$t>(raw)?,)+))
            }
        }
    };
}
query_set!(A);
query_set!(A, B);
query_set!(A, B, C);
query_set!(A, B, C, D);
query_set!(A, B, C, D, E);

/// Checks that every parameter is allowed and given once.
pub fn check_names(raw: &str, allowed: &[String]) -> Result<(), ApiError> {
    let mut seen: Vec<String> = vec![];
    for (k, _) in form_urlencoded::parse(raw.as_bytes()) {
        if !allowed.iter().any(|a| *a == k) {
            return Err(ApiError::bad(
                &k,
                format!("unknown parameter; allowed here: {}", allowed.join(", ")),
            ));
        }
        if seen.iter().any(|s| *s == k) {
            return Err(ApiError::bad(&k, "given more than once"));
        }
        seen.push(k.into_owned());
    }
    Ok(())
}

/// Reads query types from a raw query string (for handlers that must check something first,
/// like a write's token, before looking at their parameters).
pub fn parse_query<T: QuerySet>(raw: Option<&str>) -> Result<T, ApiError> {
    let raw = raw.unwrap_or("");
    check_names(raw, &T::allowed())?;
    T::read(raw)
}

/// The extractor: `Params<(RankQuery, Paging, FormatQuery)>`, `Params<(ItemsQuery,)>`, ...
/// Also keeps the raw pairs, for paging links.
pub struct Params<T> {
    pub value: T,
    pub pairs: Vec<(String, String)>,
}

impl<S: Send + Sync, T: QuerySet> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        check_names(raw, &T::allowed())?;
        let value = T::read(raw)?;
        let pairs = form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(Params { value, pairs })
    }
}

/// A JSON body into `T`, naming the field whose value does not fit. An empty body is `{}`.
pub fn json_body<T: DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(|c| c.is_ascii_whitespace()) {
        b"{}"
    } else {
        body
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad("body", format!("{inner} (expected JSON {expected})"))
        } else {
            ApiError::bad(
                "body",
                format!("{path}: {inner} (expected JSON {expected})"),
            )
        }
    })
}

/// Path segments, as axum's `Path`, but a segment that does not decode (bad percent-encoding,
/// not UTF-8) is the API's JSON 400 naming the path, not a plain-text answer.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(ApiError::bad(
                "path",
                format!("`{}`: {}", parts.uri.path(), e.body_text()),
            )),
        }
    }
}
