//! Strong ETags and `Cache-Control` for the API's JSON answers, and `304 Not Modified` when the
//! client already has them (`If-None-Match`).
//!
//! The tag is a hash of the answer's bytes before compression, so it changes exactly when the
//! answer does (pages of features, which carry the time they were made, are tagged weakly by
//! their handler over the rest); a compressed answer's tag is made weak, as the same content in
//! other bytes: after a restart with other data, a new overlay or
//! a shortlist edit. `Cache-Control: no-cache` lets clients keep answers but ask each time;
//! the 304 then costs no body.

use std::hash::{BuildHasher as _, Hasher as _};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Largest answer tagged (bigger ones are passed through untouched, unbuffered).
const MAX_TAGGED_BYTES: usize = 64 * 1024 * 1024;

/// Whether an answer of this type is tagged: the API's JSON, GeoJSON and JSON Schema (not
/// downloads, pages or the map's files).
fn tagged(ctype: &str) -> bool {
    let t = ctype.split(';').next().unwrap_or("").trim();
    matches!(
        t,
        "application/json" | "application/geo+json" | "application/schema+json"
    )
}

/// The middleware.
pub async fn etag(req: Request, next: Next) -> Response {
    // Not HEAD: its body is dropped before it gets here, and a tag of no bytes is not the GET's.
    let read = *req.method() == Method::GET;
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    // A 304 carries the tag and `Vary` the 200 would have: weak where it would be compressed.
    let compressed = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip") || v.contains("br"));
    let resp = next.run(req).await;
    if !read
        || resp.status() != StatusCode::OK
        || resp.headers().contains_key(header::CONTENT_DISPOSITION)
        || !resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(tagged)
    {
        return resp;
    }
    if let Some(tag) = resp.headers().get(header::ETAG).cloned() {
        // The handler tagged it itself (a page of features, weakly: see `geojson_page`).
        let (mut parts, body) = resp.into_parts();
        parts
            .headers
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if if_none_match.is_some_and(|v| matches(&v, &tag)) {
            return not_modified(parts, compressed);
        }
        return Response::from_parts(parts, body);
    }
    // Only whole answers of known size are read (JSON always is); anything else passes as it is.
    use axum::body::HttpBody as _;
    if resp
        .body()
        .size_hint()
        .exact()
        .is_none_or(|n| n > MAX_TAGGED_BYTES as u64)
    {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_TAGGED_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return crate::serve::error::ApiError::internal(format!("answer not read: {e}"))
                .into_response()
        }
    };
    let tag = tag_of(&bytes);
    parts.headers.insert(header::ETAG, tag.clone());
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if if_none_match.is_some_and(|v| matches(&v, &tag)) {
        return not_modified(parts, compressed);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The 304 for an answer the client has: its headers but no body, the tag as the compressed
/// 200 would have it, and `Vary: Accept-Encoding`.
fn not_modified(mut parts: axum::http::response::Parts, compressed: bool) -> Response {
    parts.status = StatusCode::NOT_MODIFIED;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    if compressed {
        if let Some(t) = parts
            .headers
            .get(header::ETAG)
            .and_then(|t| t.to_str().ok())
        {
            if !t.starts_with("W/") {
                if let Ok(w) = HeaderValue::from_str(&format!("W/{t}")) {
                    parts.headers.insert(header::ETAG, w);
                }
            }
        }
    }
    Response::from_parts(parts, Body::empty())
}

/// A compressed answer's ETag made weak (`W/`): a strong tag names exact bytes, and gzip and
/// brotli give other bytes of the same content. `If-None-Match` compares weakly, so either form
/// a client kept still gets its 304.
pub async fn weaken_when_encoded(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if resp.headers().contains_key(header::CONTENT_ENCODING) {
        if let Some(t) = resp
            .headers()
            .get(header::ETAG)
            .and_then(|t| t.to_str().ok())
        {
            if !t.starts_with("W/") {
                if let Ok(w) = HeaderValue::from_str(&format!("W/{t}")) {
                    resp.headers_mut().insert(header::ETAG, w);
                }
            }
        }
    }
    resp
}

/// `W/"<hash of the bytes>-<length>"`: for answers that differ only in when they were made.
pub fn weak_tag_of(bytes: &[u8]) -> HeaderValue {
    let strong = tag_of(bytes);
    HeaderValue::from_str(&format!("W/{}", strong.to_str().unwrap_or("\"\""))).unwrap_or(strong)
}

/// `"<hash of the bytes>-<length>"`.
fn tag_of(bytes: &[u8]) -> HeaderValue {
    // foldhash with a fixed seed: the same bytes give the same tag in every run of this build;
    // 64 bits and the length tell an answer's versions apart.
    let mut h = foldhash::fast::FixedState::with_seed(0x5f17e).build_hasher();
    h.write(bytes);
    HeaderValue::from_str(&format!("\"{:016x}-{}\"", h.finish(), bytes.len()))
        .unwrap_or(HeaderValue::from_static("\"\""))
}

/// Whether `If-None-Match` names the tag (or is `*`); weak comparison, as RFC 9110 asks for it.
fn matches(if_none_match: &HeaderValue, tag: &HeaderValue) -> bool {
    let Ok(v) = if_none_match.to_str() else {
        return false;
    };
    let weak = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_string();
    let tag = weak(tag.to_str().unwrap_or(""));
    v.split(',')
        .map(str::trim)
        .any(|t| t == "*" || weak(t) == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_bytes() {
        assert_eq!(tag_of(b"abc"), tag_of(b"abc"));
        assert_ne!(tag_of(b"abc"), tag_of(b"abd"));
        let t = tag_of(b"abc");
        let s = t.to_str().unwrap().to_string();
        assert!(matches(&HeaderValue::from_str(&s).unwrap(), &t));
        assert!(matches(
            &HeaderValue::from_str(&format!("\"x\", W/{s}")).unwrap(),
            &t
        ));
        assert!(matches(&HeaderValue::from_static("*"), &t));
        assert!(!matches(&HeaderValue::from_static("\"x\""), &t));
        let w = weak_tag_of(b"abc");
        assert!(w.to_str().unwrap().starts_with("W/\""));
        assert!(matches(&HeaderValue::from_str(&s).unwrap(), &w));
    }
}
