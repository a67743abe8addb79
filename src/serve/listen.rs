//! The server's connections: HTTP/1.1 through hyper, with bounds on what one client can hold.
//!
//! - At most [`Limits::max_connections`] connections are served at once (by default 1,024, or
//!   fewer so that 64 file descriptors stay spare under the process's limit); more wait in the
//!   listen queue until one closes, instead of taking the descriptors the server needs.
//! - A client has [`Limits::header_timeout_s`] to send a request's headers, and an idle
//!   keep-alive connection is closed after the same time, so half-sent requests (a byte a
//!   second) cannot hold the slots.
//! - A request's whole body must arrive within [`Limits::body_timeout_s`] (a 408 otherwise).
//! - An answer the client leaves unread for [`Limits::write_timeout_s`] closes the connection.
//! - hyper's own refusals (431 for headers over 64 KiB, 400 for a request it cannot parse) get
//!   the API's JSON body like every other error.
//! - On shutdown the listener closes at once and the requests under way finish, for at most
//!   the grace period.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// Largest request head (request line and headers) accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Most headers in one request.
pub const MAX_HEADERS: usize = 100;

/// How much the server lets its clients hold: the `serve` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Most connections served at once; more wait to be accepted. Default: 1,024, or fewer to
    /// leave 64 file descriptors spare under the process's limit (`ulimit -n`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,
    /// Seconds a client has to send a request's headers; an idle keep-alive connection is
    /// closed after the same time.
    #[arg(long = "header-timeout-s", value_name = "S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_s: u64,
    /// Seconds a client has to send a request's whole body (an upload); a 408 after.
    #[arg(long = "body-timeout-s", value_name = "S", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_s: u64,
    /// Seconds an answer may wait unread by its client before the connection is closed.
    #[arg(long = "write-timeout-s", value_name = "S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub write_timeout_s: u64,
}

impl Default for Limits {
    /// The flags' defaults.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            limits: Limits,
        }
        <Flags as clap::Parser>::parse_from(["limits"]).limits
    }
}

impl Limits {
    /// The connection cap in force: the flag, else 1,024 or the descriptor limit less 64.
    pub fn connections(&self) -> usize {
        if let Some(n) = self.max_connections {
            return n as usize;
        }
        match open_files_limit() {
            Some(fds) => (fds.saturating_sub(64) as usize).clamp(1, 1_024),
            None => 1_024,
        }
    }
}

/// The process's soft limit on open file descriptors.
fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given and nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0
            && r.rlim_cur != libc::RLIM_INFINITY
        {
            // rlim_t is u64 here, but not on every platform.
            #[allow(clippy::unnecessary_cast)]
            return Some(r.rlim_cur as u64);
        }
        None
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// What [`run`] reports when it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every request under way finished.
    Drained,
    /// The grace period ended with requests still under way.
    GraceOver,
}

/// Serves `app` on `listener` until `stop` resolves; then accepts nothing more and lets the
/// requests under way finish for at most `grace`.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
    grace: Duration,
) -> Stopped {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_s))
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    let write_timeout = Duration::from_secs(limits.write_timeout_s);
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a connection reset before it was
                    // accepted: wait a moment rather than spin.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Guarded::new(stream, write_timeout));
        let service =
            hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
                app.clone(),
                |req: axum::http::Request<hyper::body::Incoming>| req.map(axum::body::Body::new),
            ));
        let conn = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => Stopped::Drained,
        _ = tokio::time::sleep(grace) => Stopped::GraceOver,
    }
}

/// A client's connection, guarded: a write the client does not take within the write timeout
/// fails (so an unread answer frees its slot), and hyper's own bodiless error answers are
/// given the API's JSON body.
struct Guarded {
    inner: TcpStream,
    write_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    /// A replacement answer still to be written, and how much of it is written.
    pending: Vec<u8>,
    sent: usize,
}

impl Guarded {
    fn new(inner: TcpStream, write_timeout: Duration) -> Guarded {
        Guarded {
            inner,
            write_timeout,
            stalled: None,
            pending: Vec::new(),
            sent: 0,
        }
    }

    /// `Pending` from the socket: arms the write timer, and fails once it has run out.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let timeout = self.write_timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {} s", timeout.as_secs()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes what is left of a replacement answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.stalled = None;
                    self.sent += n;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    return match self.wait(cx) {
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        _ => Poll::Pending,
                    }
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The JSON answer for an error hyper writes itself, with no body: a status line of 400 or
/// more, `content-length: 0`, and none of the security headers every answer of the API's own
/// carries. `None` for every other write.
fn replacement(buf: &[u8]) -> Option<Vec<u8>> {
    let head = buf.strip_prefix(b"HTTP/1.1 ")?;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != buf.len() {
        return None;
    }
    let status: u16 = std::str::from_utf8(head.get(..3)?).ok()?.parse().ok()?;
    // The head's lines, each ending in CRLF.
    let text = String::from_utf8_lossy(&buf[..end + 2]).to_ascii_lowercase();
    if status < 400
        || text.contains("\r\nx-content-type-options:")
        || !text.contains("\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    let (code, message) = match status {
        431 => (
            "headers_too_large",
            format!("the request's headers are over {MAX_HEADER_BYTES} bytes, or more than {MAX_HEADERS} headers: send fewer or shorter headers"),
        ),
        408 => (
            "timeout",
            "the request's headers did not arrive in time".to_string(),
        ),
        _ => (
            "bad_request",
            "the request is not well-formed HTTP/1.1".to_string(),
        ),
    };
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let body = serde_json::json!({"code": code, "message": message}).to_string();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        if me.sent < me.pending.len() {
            if let Poll::Ready(Err(e)) = me.drain(cx) {
                return Poll::Ready(Err(e));
            }
            if me.sent < me.pending.len() {
                return Poll::Pending;
            }
        }
        if me.pending.is_empty() {
            if let Some(r) = replacement(buf) {
                me.pending = r;
                me.sent = 0;
                // Taken whole: the replacement goes out in its place.
                return match me.drain(cx) {
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    _ => Poll::Ready(Ok(buf.len())),
                };
            }
        }
        match Pin::new(&mut me.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                me.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => match me.wait(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        let mut whole = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(one), None) = (whole.next(), whole.next()) {
            // A head on its own may be one of hyper's errors.
            return Pin::new(me).poll_write(cx, one);
        }
        if me.sent < me.pending.len() {
            if let Poll::Ready(Err(e)) = me.drain(cx) {
                return Poll::Ready(Err(e));
            }
            if me.sent < me.pending.len() {
                return Poll::Pending;
            }
        }
        match Pin::new(&mut me.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                me.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => match me.wait(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        match me.drain(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match Pin::new(&mut me.inner).poll_flush(cx) {
            Poll::Pending => match me.wait(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        match me.drain(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        Pin::new(&mut me.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_errors_are_replaced() {
        let hyper431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 10:00:00 GMT\r\n\r\n";
        let r = String::from_utf8(replacement(hyper431).unwrap()).unwrap();
        assert!(
            r.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{r}"
        );
        let body = r.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], "headers_too_large");
        assert!(r.contains(&format!("content-length: {}\r\n", body.len())));
        let hyper400 =
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(String::from_utf8(replacement(hyper400).unwrap())
            .unwrap()
            .contains("\"bad_request\""));
        // The API's own answers: typed, or with a body, or not errors.
        for own in [
            &b"HTTP/1.1 400 Bad Request\r\nx-content-type-options: nosniff\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 30\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{\"a\":1}",
            b"{\"code\": \"HTTP/1.1 400 \"}",
        ] {
            assert!(replacement(own).is_none(), "{}", String::from_utf8_lossy(own));
        }
    }
}
