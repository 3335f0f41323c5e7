//! Who is calling, decided once per request by extractors.
//!
//! Handlers get a tenant id only from [`TenantAdmin`] or [`TenantPublisher`],
//! which check that the credential may act on the tenant named in the path,
//! so a handler cannot forget the check.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use herald_core::ids::TenantId;
use herald_core::keys::KeyScope;

use crate::audit::AuditActor;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

pub(crate) fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>().expect("AppState is registered on the app").clone()
}

/// The token of an `Authorization: Bearer …` header, if present.
pub(crate) fn bearer(req: &HttpRequest) -> ApiResult<Option<String>> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::Unauthorized("the Authorization header is not valid text".into()))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized("use `Authorization: Bearer <key>`".into()));
    }
    Ok(Some(token.trim().to_owned()))
}

/// An authenticated caller of the admin and publish API.
pub(crate) use herald_app::admin::Caller;

async fn caller(req: &HttpRequest) -> ApiResult<Caller> {
    let token = bearer(req)?.ok_or_else(|| ApiError::Unauthorized("an API key is required: `Authorization: Bearer <key>`".into()))?;
    Ok(state(req).identify(&token).await?)
}

pub(crate) fn path_tenant(req: &HttpRequest) -> ApiResult<TenantId> {
    let raw = req.match_info().get("tenant").unwrap_or_default();
    TenantId::parse(raw).map_err(|_| ApiError::NotFound(format!("tenant `{raw}` not found")))
}

async fn tenant_access(req: &HttpRequest, need: KeyScope) -> ApiResult<(TenantId, AuditActor)> {
    let tenant = path_tenant(req)?;
    let caller = caller(req).await?;
    state(req).authorize_tenant(&caller, &tenant, need).await?;
    let actor = match caller {
        Caller::Operator(id) => AuditActor::Operator(id),
        Caller::Key { id, .. } => AuditActor::ApiKey(id),
    };
    Ok((tenant, actor))
}

/// Checks, before routing, that the caller may make the create at `path`
/// (one of `crate::idempotency::CREATE_PATHS`): the operator for
/// `/v1/tenants` and `/v1/operator-keys`, the operator or an `admin` key of
/// the tenant for a create under `/v1/tenants/{tenant}/`. The idempotency
/// middleware calls it before it looks up or claims anything, so a revoked
/// key cannot replay a stored answer and a stranger cannot hold a claim;
/// the handler's own extractor checks again.
pub(crate) async fn authorize_create(req: &HttpRequest) -> ApiResult<Caller> {
    // As on the routes: a malformed tenant id is a 404 before the credential is looked at.
    let tenant = match req.path().strip_prefix("/v1/tenants/").and_then(|rest| rest.split('/').next()) {
        None => None,
        Some(raw) => Some(TenantId::parse(raw).map_err(|_| ApiError::NotFound(format!("tenant `{raw}` not found")))?),
    };
    let caller = caller(req).await?;
    match tenant {
        None => match caller {
            Caller::Operator(_) => Ok(caller),
            Caller::Key { .. } => Err(ApiError::Forbidden("this needs the operator key".into())),
        },
        Some(tenant) => {
            state(req).authorize_tenant(&caller, &tenant, KeyScope::Admin).await?;
            Ok(caller)
        }
    }
}

/// The operator: manages tenants.
#[derive(Debug)]
pub(crate) struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match caller(&req).await? {
                Caller::Operator(id) => {
                    // For the audit log (`crate::audit`), which records the
                    // operator's changes.
                    req.extensions_mut().insert(AuditActor::Operator(id));
                    Ok(Operator)
                }
                Caller::Key { .. } => Err(ApiError::Forbidden("this needs the operator key".into())),
            }
        })
    }
}

/// A caller allowed to manage the tenant in the path (operator or `admin` key).
#[derive(Debug)]
pub(crate) struct TenantAdmin(pub TenantId);

impl FromRequest for TenantAdmin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (tenant, actor) = tenant_access(&req, KeyScope::Admin).await?;
            // For the audit log (`crate::audit`): admin changes are recorded,
            // publishing (through `TenantPublisher`) is not.
            req.extensions_mut().insert(actor);
            Ok(TenantAdmin(tenant))
        })
    }
}

/// A caller allowed to publish to the tenant in the path, which is not
/// suspended.
#[derive(Debug)]
pub(crate) struct TenantPublisher(pub TenantId);

impl FromRequest for TenantPublisher {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (tenant, _) = tenant_access(&req, KeyScope::Publish).await?;
            state(&req).refuse_suspended(&tenant).await?;
            Ok(TenantPublisher(tenant))
        })
    }
}

/// Any valid operator or API key, whatever it may do: for `GET /v1/whoami`.
#[derive(Debug)]
pub(crate) struct AnyCaller(pub Caller);

impl FromRequest for AnyCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { caller(&req).await.map(AnyCaller) })
    }
}
