//! Guards every request passes: a deadline on its body, and the API's JSON shape for errors
//! made below the handlers (axum's rejections).

use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use serde_json::json;

/// A request's body that must have arrived by a deadline: after it, reading it fails with
/// [`BodyTimeout`] (a client sending an upload a byte a second holds nothing for long).
struct Deadline {
    body: axum::body::Body,
    /// Set when the body is first read (an upload waiting for its turn is not timed).
    by: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    seconds: u64,
}

const BODY_TIMEOUT_FLAG: &str = "serve --body-timeout-s";

/// A request body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request's body did not arrive within {seconds} s ({BODY_TIMEOUT_FLAG})")]
pub struct BodyTimeout {
    pub seconds: u64,
}

impl http_body::Body for Deadline {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future;
        let seconds = self.seconds;
        let by = self.by.get_or_insert_with(|| {
            Box::pin(tokio::time::sleep(std::time::Duration::from_secs(seconds)))
        });
        if by.as_mut().poll(cx).is_ready() {
            let seconds = self.seconds;
            return std::task::Poll::Ready(Some(Err(axum::Error::new(BodyTimeout { seconds }))));
        }
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

pub async fn body_deadline(
    State(timeout): State<std::time::Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use http_body::Body as _;
    if req.body().size_hint().exact() == Some(0) {
        return next.run(req).await;
    }
    let req = req.map(|body| {
        axum::body::Body::new(Deadline {
            body,
            by: None,
            seconds: timeout.as_secs(),
        })
    });
    next.run(req).await
}

/// Whether an error reading a body was its deadline.
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> Option<u64> {
    let mut at = Some(e);
    while let Some(e) = at {
        if let Some(t) = e.downcast_ref::<BodyTimeout>() {
            return Some(t.seconds);
        }
        at = e.source();
    }
    None
}

/// An error answer that is not JSON (axum's own rejections: a body over the limit, a body that
/// could not be read) made the API's `{code, message}`, its text kept as the message.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::{HeaderValue, StatusCode};
    let head = req.method() == axum::http::Method::HEAD;
    let resp = next.run(req).await;
    let status = resp.status();
    let typed = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json") || t.starts_with("text/html"));
    if status.as_u16() < 400 || typed {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    // A body that did not arrive in time, as axum's extractors report it.
    let (status, text) = if text.contains(BODY_TIMEOUT_FLAG) {
        (StatusCode::REQUEST_TIMEOUT, text)
    } else {
        (status, text)
    };
    parts.status = status;
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::NOT_FOUND => "not_found",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text.trim().to_string()
    };
    let body = serde_json::to_vec(&json!({"code": code, "message": message})).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    if head {
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    Response::from_parts(parts, axum::body::Body::from(body))
}
