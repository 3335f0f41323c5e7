//! The audit log's recorder: a middleware that writes one event for every
//! successful admin change.
//!
//! A change is a `POST`, `PUT`, `PATCH` or `DELETE` that the `Operator` or
//! `TenantAdmin` extractor authorised (they leave an [`AuditActor`] in the
//! request's extensions) and that answered 2xx. Publishing goes through
//! `TenantPublisher` and subscriber endpoints through their own
//! authentication, so neither leaves an actor and neither is recorded; a
//! failed request changed nothing and is not recorded either.
//!
//! The event is written before the response leaves, so a client that reads
//! the log right after its change finds it there. A failed write is logged
//! and the response goes out unchanged: the change has been made, and
//! turning it into a 500 would invite a retry that makes it twice.
//!
//! What is kept: the actor, the route's name (actix names each resource
//! after its handler), method, path (never the query string, which can
//! carry tokens), status, the tenant and the client's address (the TCP
//! peer's; `X-Forwarded-For` and `Forwarded` only from `trusted_proxies`,
//! see `crate::client_addr`). Bodies are never kept: they
//! carry signing secrets and new API keys.

use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::{HttpMessage, HttpRequest, web};
use futures_util::future::{Either, LocalBoxFuture, Ready, ready};
use herald_app::records::NewAuditEvent;
use herald_core::ids::TenantId;

pub(crate) use herald_app::records::AuditActor;

use crate::state::AppState;

/// Admin routes that use a mutating method but change nothing: a plugin's
/// dry run.
const NOT_CHANGES: [&str; 1] = ["test_plugin"];

/// The route that creates a tenant: its tenant is in the answer, not the path.
const CREATE_TENANT: &str = "create_tenant";

fn is_change(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// The middleware; see the module docs.
pub(crate) struct Audit;

impl<S, B> Transform<S, ServiceRequest> for Audit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = AuditService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuditService { service }))
    }
}

pub(crate) struct AuditService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for AuditService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    // actix keeps the app's request future inline in every connection's
    // state for the connection's life, so it must not grow for the
    // requests that hold connections open (streams, polls: all GETs).
    // Those pass the inner future through untouched; only changes, which
    // are rare and short, pay for a box.
    type Future = Either<S::Future, LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if !is_change(req.method()) {
            return Either::Left(self.service.call(req));
        }
        let inner = self.service.call(req);
        Either::Right(Box::pin(async move { Ok(record(inner.await?).await) }))
    }
}

/// Records `res` if it is a successful admin change; returns it unchanged.
async fn record<B: MessageBody + 'static>(res: ServiceResponse<B>) -> ServiceResponse<B> {
    if !res.status().is_success() {
        return res;
    }
    // A cheap handle (reference-counted) that outlives `res` being taken apart.
    let req = res.request().clone();
    let Some(actor) = req.extensions().get::<AuditActor>().cloned() else { return res };
    let action = req.match_name().unwrap_or("unnamed");
    if NOT_CHANGES.contains(&action) {
        return res;
    }
    let Some(app) = req.app_data::<web::Data<AppState>>().cloned() else { return res };
    let (res, tenant) = if action == CREATE_TENANT { created_tenant(res) } else { (res, path_tenant(&req)) };
    let status = res.status().as_u16();
    let event = NewAuditEvent {
        tenant: tenant.as_ref(),
        actor: &actor,
        action,
        method: req.method().as_str(),
        path: req.path(),
        status,
        remote_addr: peer_ip(&req),
    };
    if let Err(e) = app.record_audit_event(&event).await {
        tracing::error!(
            error = %e,
            action,
            method = %req.method(),
            path = req.path(),
            status,
            tenant = tenant.as_ref().map(TenantId::as_str),
            actor = actor.kind(),
            key = actor.key_id(),
            "recording an audit event failed: the change was made but is missing from the audit log"
        );
    }
    res
}

/// The `{tenant}` in the path, if the route has one.
fn path_tenant(req: &HttpRequest) -> Option<TenantId> {
    req.match_info().get("tenant").and_then(|t| TenantId::parse(t).ok())
}

/// The client's address: the TCP peer's, or from a trusted proxy the one
/// its forwarding header names (`crate::client_addr`), never
/// `connection_info`'s, which believes any `Forwarded` header.
fn peer_ip(req: &HttpRequest) -> Option<IpAddr> {
    crate::client_addr::client_ip(req)
}

/// The id of the tenant a `POST /v1/tenants` created, read from its answer.
///
/// The answer is a small JSON body already in memory (a `BoxBody` holding
/// bytes), so it is read and put back as it was. A body of another type
/// (another middleware inside this one changed it) or a streaming one is
/// left alone and the tenant is recorded as unknown.
fn created_tenant<B: MessageBody + 'static>(res: ServiceResponse<B>) -> (ServiceResponse<B>, Option<TenantId>) {
    #[derive(serde::Deserialize)]
    struct Created {
        id: String,
    }

    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let mut slot = Some(body);
    let mut tenant = None;
    if let Some(boxed) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<BoxBody>>()
        && let Some(body) = boxed.take()
    {
        *boxed = Some(match body.try_into_bytes() {
            Ok(bytes) => {
                tenant = serde_json::from_slice::<Created>(&bytes).ok().and_then(|c| TenantId::parse(&c.id).ok());
                BoxBody::new(bytes)
            }
            Err(body) => body,
        });
    }
    let body = slot.expect("the body is put back");
    (ServiceResponse::new(req, head.set_body(body)), tenant)
}

#[cfg(test)]
mod tests {
    use actix_web::HttpResponse;
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_mutating_methods_are_changes() {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_change(&m), "{m}");
        }
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!is_change(&m), "{m}");
        }
    }

    /// An inner service whose future is as large as the app's real one
    /// can be: what each idle connection holds.
    struct Inner;

    impl Service<ServiceRequest> for Inner {
        type Response = ServiceResponse;
        type Error = actix_web::Error;
        type Future = std::future::Ready<Result<ServiceResponse, actix_web::Error>>;

        actix_web::dev::always_ready!();

        fn call(&self, req: ServiceRequest) -> Self::Future {
            std::future::ready(Ok(req.into_response(HttpResponse::Ok().finish())))
        }
    }

    #[test]
    fn a_request_future_grows_by_at_most_a_tag() {
        let inner = std::mem::size_of::<<Inner as Service<ServiceRequest>>::Future>();
        let outer = std::mem::size_of::<<AuditService<Inner> as Service<ServiceRequest>>::Future>();
        assert!(outer <= inner + 8, "{inner} -> {outer} bytes");
    }

    #[test]
    fn the_created_tenant_is_read_from_the_answer_which_goes_out_unchanged() {
        let id = TenantId::generate();
        let json = serde_json::json!({"id": id.to_string(), "name": "acme", "created_at": "2026-11-28T00:00:00Z"});
        let res = TestRequest::default().to_srv_response(HttpResponse::Created().json(&json));
        let (res, tenant) = created_tenant(res);
        assert_eq!(tenant, Some(id));
        let bytes = res.into_body().try_into_bytes().unwrap_or_else(|_| panic!("still in memory"));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(), json);
    }

    #[test]
    fn an_answer_of_another_shape_leaves_the_tenant_unknown() {
        let res = TestRequest::default().to_srv_response(HttpResponse::Created().body("not json"));
        let (res, tenant) = created_tenant(res);
        assert_eq!(tenant, None);
        assert_eq!(res.into_body().try_into_bytes().ok().unwrap(), "not json");
        // Another body type: left alone.
        let res = TestRequest::default().to_srv_response(HttpResponse::Created().body("x")).map_into_left_body::<()>();
        assert_eq!(created_tenant(res).1, None);
    }
}
