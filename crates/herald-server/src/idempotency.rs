//! `Idempotency-Key` on the admin API's create endpoints: a retried create
//! (the client timed out, the connection dropped) gets the first answer
//! instead of creating a second tenant, channel, key or plugin version.
//!
//! The first request with a key claims it, runs, and its 2xx answer is
//! kept for a day. A retry with the same key and the same request gets
//! that answer again, marked `Idempotent-Replayed: true`; one with a
//! different request is refused (422), and one that arrives while the
//! first is still running gets 409. An answer that is not 2xx changed
//! nothing, so it is not kept and a retry runs again.
//!
//! Keys are scoped to the caller's credential: the stored row is found by a
//! hash of credential and key, and the stored answer (which may hold a new
//! API key's secret) is sealed under a key derived from both, so neither
//! another caller nor a reader of the database can replay or read it.
//!
//! The caller is authenticated and authorized before anything is looked
//! up or claimed: a deleted or revoked key gets 401, never a stored answer
//! (which may hold a secret), and a request that would be refused takes no
//! claim that could block the real caller's retry.
//!
//! Publishing has its own, permanent idempotency (the notification's
//! `idempotency_key`); this module covers the other creates.

use std::rc::Rc;
use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use futures_util::future::{Either, FutureExt, LocalBoxFuture, Map, Ready, ready};
use herald_app::records::Claim;
use herald_core::sealed;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;
use crate::state::AppState;

/// The create endpoints (OpenAPI path templates, all `POST`) that honour
/// `Idempotency-Key`. The OpenAPI document declares the header on exactly
/// these.
pub(crate) const CREATE_PATHS: [&str; 6] = [
    "/v1/tenants",
    "/v1/operator-keys",
    "/v1/tenants/{tenant}/keys",
    "/v1/tenants/{tenant}/signing-keys",
    "/v1/tenants/{tenant}/channels",
    "/v1/tenants/{tenant}/plugins",
];

/// Longest key accepted, in bytes.
pub(crate) const MAX_KEY_LEN: usize = 255;
/// How long an answer is kept for retries.
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// A claim unanswered this long belonged to a server that died mid-request.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);
const REPLAYED: &str = "idempotent-replayed";

/// Does `path` address one of [`CREATE_PATHS`]?
fn is_create(path: &str) -> bool {
    CREATE_PATHS.iter().any(|template| crate::known_paths::fits(template, path))
}

/// The middleware; see the module docs.
pub(crate) struct Idempotency;

impl<S, B> Transform<S, ServiceRequest> for Idempotency
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = IdempotencyService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(IdempotencyService { service: Rc::new(service) }))
    }
}

pub(crate) struct IdempotencyService<S> {
    service: Rc<S>,
}

type Result_<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

impl<S, B> Service<ServiceRequest> for IdempotencyService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    // Every other request passes through with its future unboxed and
    // barely larger: actix keeps this future inline in each connection's
    // state, and idle streams are counted in kilobytes.
    #[allow(clippy::type_complexity)]
    type Future =
        Either<Map<S::Future, fn(Result<ServiceResponse<B>, actix_web::Error>) -> Result_<B>>, LocalBoxFuture<'static, Result_<B>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let key = (req.method() == Method::POST && is_create(req.path())).then(|| req.headers().get("idempotency-key").cloned()).flatten();
        match key {
            None => Either::Left(self.service.call(req).map(pass as fn(_) -> _)),
            Some(key) => Either::Right(Box::pin(idempotent(self.service.clone(), req, key))),
        }
    }
}

fn pass<B>(res: Result<ServiceResponse<B>, actix_web::Error>) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    res.map(ServiceResponse::map_into_left_body)
}

fn refuse<B>(req: ServiceRequest, err: ApiError) -> Result_<B> {
    let mut res = err.error_response();
    if res.status() == StatusCode::CONFLICT {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Ok(req.into_response(res).map_into_right_body())
}

/// The key, if it is 1 to 255 visible ASCII characters.
fn valid_key(raw: &HeaderValue) -> Option<&str> {
    let key = raw.to_str().ok()?;
    (!key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())).then_some(key)
}

async fn idempotent<S, B>(service: Rc<S>, mut req: ServiceRequest, raw_key: HeaderValue) -> Result_<B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    let Some(key) = valid_key(&raw_key).map(str::to_owned) else {
        let err = ApiError::BadRequest(format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"));
        return refuse(req, err);
    };
    let Some(app) = req.app_data::<web::Data<AppState>>().cloned() else { return service.call(req).await.map(|r| r.map_into_left_body()) };
    let authorized = crate::auth::authorize_create(req.request()).await;
    if let Err(e) = authorized {
        return refuse(req, e);
    }
    let credential = req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes().to_vec()).unwrap_or_default();

    // The body is hashed, so it is read here, then handed on unchanged.
    let limit = app.settings().limits.max_body_bytes.max(app.max_component_bytes());
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return refuse(req, ApiError::BadRequest(format!("reading the body: {e}"))),
        };
        if body.len() + chunk.len() > limit {
            return refuse(req, ApiError::PayloadTooLarge(format!("the body exceeds the limit of {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();

    let id = hex(&sealed::derive_key("herald idempotency id v1", &[&credential, key.as_bytes()]));
    let seal_key = sealed::derive_key("herald idempotency answer v1", &[&credential, key.as_bytes()]);
    let request_hash = {
        let mut h = Sha256::new();
        for part in [req.method().as_str().as_bytes(), req.path().as_bytes(), req.query_string().as_bytes(), &body] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        hex(&h.finalize().into())
    };

    let reused = || ApiError::IdempotencyKeyReused(format!("Idempotency-Key `{key}` was used for a different request"));
    match app.claim_idempotent_request(&id, &request_hash, ABANDONED_AFTER, KEEP).await {
        Err(e) => return refuse(req, e.into()),
        Ok(Claim::InProgress { request_hash: first }) => {
            let err = if first == request_hash {
                ApiError::IdempotencyInProgress(format!("a request with Idempotency-Key `{key}` is still running; retry shortly"))
            } else {
                reused()
            };
            return refuse(req, err);
        }
        Ok(Claim::Completed { request_hash: first, status, response }) => {
            if first != request_hash {
                return refuse(req, reused());
            }
            let Some(answer) = sealed::open(&seal_key, &response) else {
                return refuse(req, ApiError::Internal(format!("the stored answer for Idempotency-Key `{key}` does not open")));
            };
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let res = HttpResponse::build(status).content_type("application/json").insert_header((REPLAYED, "true")).body(answer);
            return Ok(req.into_response(res).map_into_right_body());
        }
        Ok(Claim::Started) => {}
    }

    req.set_payload(actix_web::dev::Payload::from(body));
    let res = match service.call(req).await {
        Ok(res) => res,
        Err(e) => {
            release(&app, &id).await;
            return Err(e);
        }
    };
    if !res.status().is_success() {
        release(&app, &id).await;
        return Ok(res.map_into_left_body());
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(b) => b,
        Err(_) => {
            // The change is made; without its answer a retry would make it
            // again, so the claim stays, unanswered, until it is abandoned.
            tracing::error!(path = %req.path(), "reading a create's answer for Idempotency-Key failed");
            let res = head.set_body(BoxBody::new(()));
            return Ok(ServiceResponse::new(req, res).map_into_right_body());
        }
    };
    if let Err(e) = app.complete_idempotent_request(&id, head.status().as_u16(), &sealed::seal(&seal_key, &bytes)).await {
        tracing::error!(path = %req.path(), error = %e, "recording a create's answer for Idempotency-Key failed");
    }
    let res = head.set_body(BoxBody::new(bytes));
    Ok(ServiceResponse::new(req, res).map_into_right_body())
}

async fn release(app: &AppState, id: &str) {
    if let Err(e) = app.release_idempotent_request(id).await {
        tracing::warn!(error = %e, "releasing an Idempotency-Key claim failed; a retry within a minute gets 409");
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_create_paths_match() {
        for yes in
            ["/v1/tenants", "/v1/tenants/ten_1/keys", "/v1/tenants/ten_1/signing-keys", "/v1/tenants/x/channels", "/v1/tenants/x/plugins"]
        {
            assert!(is_create(yes), "{yes}");
        }
        for no in ["/v1/tenants/", "/v1/tenants//keys", "/v1/tenants/x/channels/orders/notifications", "/v1/tenants/x/session", "/healthz"]
        {
            assert!(!is_create(no), "{no}");
        }
    }

    #[test]
    fn keys_are_visible_ascii() {
        assert_eq!(valid_key(&HeaderValue::from_static("0193a4b2-c1d0")), Some("0193a4b2-c1d0"));
        assert_eq!(valid_key(&HeaderValue::from_static("")), None);
        assert_eq!(valid_key(&HeaderValue::from_static("has space")), None);
        assert_eq!(valid_key(&HeaderValue::from_str(&"k".repeat(256)).unwrap()), None);
    }
}
