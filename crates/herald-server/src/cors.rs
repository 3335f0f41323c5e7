//! CORS for the subscriber endpoints (stream, polling, read state,
//! session): a SaaS front end on its own origin calls Herald directly, and
//! each tenant lists the origins it allows. Only these endpoints answer
//! CORS; the admin and publish API are for servers, not browsers.
//!
//! A preflight from an allowed origin gets the methods and headers those
//! endpoints use, with credentials allowed (cookie sessions); one from any
//! other origin gets `403`. Responses to allowed origins carry
//! `Access-Control-Allow-Origin` with that origin; others carry none, so
//! the browser keeps the page from reading them.
//!
//! The browser tells the page only that CORS blocked it, so a refusal
//! (from another origin, by a tenant that exists) is counted, shown to the
//! tenant's admin and logged at a bounded rate (`herald_app`'s
//! `origin_refusals`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use herald_core::ids::TenantId;

use crate::problem::ApiError;
use crate::state::AppState;

/// The endpoints below `/v1/tenants/{tenant}/` that browsers may call.
const SUBSCRIBER_PATHS: [&str; 5] = ["stream", "notifications", "notifications/read", "notifications/unread", "session"];

const ALLOW_METHODS: &str = "GET, POST, DELETE";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Last-Event-ID, Cache-Control";
/// Browsers cache a preflight this long (seconds).
const MAX_AGE: &str = "600";

/// The tenant of a subscriber endpoint's path, or `None` for any other path.
fn subscriber_tenant(path: &str) -> Option<TenantId> {
    let rest = path.strip_prefix("/v1/tenants/")?;
    let (tenant, endpoint) = rest.split_once('/')?;
    if !SUBSCRIBER_PATHS.contains(&endpoint) {
        return None;
    }
    TenantId::parse(tenant).ok()
}

/// Boxed: actix keeps the app's request future inline in every
/// connection's state for the connection's life, so a large one here would
/// cost every idle stream its size.
pub(crate) fn cors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> futures_util::future::LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, actix_web::Error>> {
    Box::pin(cors_inner(req, next))
}

async fn cors_inner<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let (Some(tenant), Some(origin)) = (subscriber_tenant(req.path()), origin) else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let preflight = req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let allowed = match (req.app_data::<web::Data<AppState>>(), origin.to_str()) {
        (Some(app), Ok(o)) => {
            // A page on Herald's own origin (the console) needs no CORS, so
            // its requests are not refusals worth counting.
            let check = if same_origin(&req, o) {
                app.origin_allowed(&tenant, o).await
            } else {
                app.cross_origin_allowed(&tenant, o, preflight).await
            };
            check.unwrap_or_else(|e| {
                tracing::warn!(%tenant, error = %e, "reading allowed origins failed; refusing the origin");
                false
            })
        }
        _ => false,
    };
    if preflight {
        let response = if allowed {
            let mut r = HttpResponse::NoContent();
            r.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE));
            with_cors(r.finish(), &origin)
        } else {
            let mut r = ApiError::Forbidden(format!(
                "origin {} is not allowed for this tenant; its admin adds it with PUT /v1/tenants/{tenant}/allowed-origins",
                origin.to_str().unwrap_or("?")
            ))
            .error_response();
            r.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
            r
        };
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    Ok(res.map_into_left_body())
}

/// Whether the request comes from a page on Herald's own origin: the
/// browser says so (`Sec-Fetch-Site`), or the origin names the host the
/// request was sent to.
fn same_origin(req: &ServiceRequest, origin: &str) -> bool {
    let headers = req.headers();
    if headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"same-origin") {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    matches!((origin.split_once("://"), host), (Some((_, authority)), Some(host)) if authority.eq_ignore_ascii_case(host))
}

fn with_cors(mut r: HttpResponse, origin: &HeaderValue) -> HttpResponse {
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    debug_assert_eq!(r.status(), StatusCode::NO_CONTENT);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_subscriber_endpoints_answer_cors() {
        let t = TenantId::generate();
        for ok in ["stream", "notifications", "notifications/read", "notifications/unread", "session"] {
            assert_eq!(subscriber_tenant(&format!("/v1/tenants/{t}/{ok}")), Some(t.clone()), "{ok}");
        }
        for no in ["notifications:batch", "channels", "keys", "channels/orders/notifications", ""] {
            assert_eq!(subscriber_tenant(&format!("/v1/tenants/{t}/{no}")), None, "{no}");
        }
        assert_eq!(subscriber_tenant("/v1/tenants/not-an-id/stream"), None);
        assert_eq!(subscriber_tenant("/healthz"), None);
    }

    #[test]
    fn requests_from_heralds_own_origin_are_same_origin() {
        use actix_web::test::TestRequest;
        let req = |headers: &[(&str, &str)]| {
            let mut r = TestRequest::get().uri("/v1/tenants/x/stream");
            for (k, v) in headers {
                r = r.insert_header((*k, *v));
            }
            r.to_srv_request()
        };
        let o = "http://herald.test:8080";
        assert!(same_origin(&req(&[("sec-fetch-site", "same-origin")]), "https://other.test"));
        assert!(same_origin(&req(&[("host", "herald.test:8080")]), o));
        assert!(!same_origin(&req(&[("host", "herald.test:8080"), ("sec-fetch-site", "cross-site")]), "http://app.test"));
        assert!(!same_origin(&req(&[("host", "herald.test")]), o), "another port is another origin");
        assert!(!same_origin(&req(&[]), o));
    }
}
