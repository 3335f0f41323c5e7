//! Request ids and the access log.
//!
//! Every request gets an id: the `X-Request-Id` the client (or a proxy in
//! front of Herald) sent, when it is 1 to [`MAX_LEN`] visible ASCII
//! characters, else a new UUIDv7. The answer carries it back in
//! `X-Request-Id`, and the rest of the request runs inside a `request` span
//! holding it, so every log line written while the request is handled
//! names it, in text and in JSON. A stream logs after its handler has
//! returned; it keeps the id ([`RequestId::span`]) for those lines.
//!
//! Problem documents carry it as `request_id` ([`current`]), so that a
//! client reporting an error can quote it.
//!
//! The access log is written here too: one line per request once its
//! answer's head is ready (for a stream: when it opens), with the status
//! and the time taken, under the target `herald::access` so that it can be
//! filtered on its own (`RUST_LOG=info,herald::access=off`). The query
//! string is never logged: it can carry a subscriber token.

use std::sync::Arc;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use futures_util::future::LocalBoxFuture;
use tracing::Instrument;

/// The header that carries a request's id, both ways.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest `X-Request-Id` taken from a client; a longer one is replaced.
pub(crate) const MAX_LEN: usize = 128;

/// Paths polled by load balancers and scrapers: their access lines are
/// logged at `debug`, so that they do not drown the others.
const QUIET_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

tokio::task_local! {
    /// The id of the request whose service future is running, so that a
    /// problem document built far from the request can name it.
    static CURRENT: RequestId;
}

/// The id of the request being handled on this task, if any.
pub(crate) fn current() -> Option<RequestId> {
    CURRENT.try_with(RequestId::clone).ok()
}

/// One request's id, kept in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestId(Arc<str>);

impl RequestId {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The id itself, shared, for lines logged by the application layer
    /// once the handler has returned (a stream's end).
    pub(crate) fn shared(&self) -> Arc<str> {
        self.0.clone()
    }

    /// The id of the request being handled, if the middleware saw it.
    pub(crate) fn of(req: &actix_web::HttpRequest) -> Option<RequestId> {
        req.extensions().get::<RequestId>().cloned()
    }
}

/// The client's id, if it is one Herald may repeat in its logs and answers.
fn incoming(headers: &HeaderMap) -> Option<&str> {
    let id = headers.get(HEADER)?.to_str().ok()?;
    ((1..=MAX_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())).then_some(id)
}

/// Boxed, as the other middlewares: actix keeps the app's request future
/// inline in each connection's state for the connection's life.
pub(crate) fn request_id<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>> {
    let id = RequestId(match incoming(req.headers()) {
        Some(id) => Arc::from(id),
        None => Arc::from(uuid::Uuid::now_v7().to_string()),
    });
    // At `error`, the span is on whenever any line is: a `warn` written
    // under `RUST_LOG=warn` still names its request.
    let span = tracing::error_span!("request", request_id = %id.0, method = %req.method(), path = %req.path());
    let quiet = QUIET_PATHS.contains(&req.path());
    let peer = crate::client_addr::client_ip(req.request());
    req.extensions_mut().insert(id.clone());
    let started = Instant::now();
    Box::pin(
        async move {
            let res = CURRENT.scope(id.clone(), next.call(req)).await;
            let status = match &res {
                Ok(res) => res.status(),
                Err(e) => e.as_response_error().status_code(),
            };
            let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
            let peer = peer.map(tracing::field::display);
            if quiet {
                tracing::debug!(target: "herald::access", status = status.as_u16(), duration_ms, peer, "answered");
            } else {
                tracing::info!(target: "herald::access", status = status.as_u16(), duration_ms, peer, "answered");
            }
            // An error is rendered by actix after this (without the
            // header); the services inside answer with responses.
            let mut res = res?;
            res.headers_mut().insert(HEADER, HeaderValue::from_str(id.as_str()).expect("checked or generated: visible ASCII"));
            Ok(res)
        }
        .instrument(span),
    )
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    #[test]
    fn a_client_id_is_taken_only_when_sane() {
        let check = |value: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(HEADER, HeaderValue::from_bytes(value).unwrap());
            incoming(&h).map(str::to_owned)
        };
        assert_eq!(check(b"abc-123_XYZ.~!"), Some("abc-123_XYZ.~!".into()));
        assert_eq!(check("x".repeat(MAX_LEN).as_bytes()).map(|s| s.len()), Some(MAX_LEN));
        assert_eq!(check("x".repeat(MAX_LEN + 1).as_bytes()), None, "too long");
        assert_eq!(check(b""), None, "empty");
        assert_eq!(check(b"has space"), None, "not visible");
        assert_eq!(check(b"tab\there"), None);
        assert_eq!(check("caf\u{e9}".as_bytes()), None, "not ASCII");
        assert_eq!(incoming(&HeaderMap::new()), None);
    }
}
