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
    let allowed = match (req.app_data::<web::Data<AppState>>(), origin.to_str()) {
        (Some(app), Ok(o)) => app.origin_allowed(&tenant, o).await.unwrap_or_else(|e| {
            tracing::warn!(%tenant, error = %e, "reading allowed origins failed; refusing the origin");
            false
        }),
        _ => false,
    };
    let preflight = req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let response = if allowed {
            let mut r = HttpResponse::NoContent();
            r.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE));
            with_cors(r.finish(), &origin)
        } else {
            let mut r =
                ApiError::Forbidden(format!("origin {} is not allowed for this tenant", origin.to_str().unwrap_or("?"))).error_response();
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
}
