//! Who is calling, decided once per request by extractors.
//!
//! Handlers get a tenant id only from [`TenantAdmin`] or [`TenantPublisher`],
//! which check that the credential may act on the tenant named in the path,
//! so a handler cannot forget the check.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use herald_core::ids::{ApiKeyId, TenantId};
use herald_core::keys::KeyScope;
use herald_core::secret;

use crate::audit::AuditActor;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// Longest credential accepted in `Authorization`.
const MAX_CREDENTIAL: usize = 1024;

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
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    Operator,
    Key { id: ApiKeyId, tenant: TenantId, scopes: Vec<KeyScope> },
}

async fn caller(req: &HttpRequest) -> ApiResult<Caller> {
    let state = state(req);
    let token = bearer(req)?.ok_or_else(|| ApiError::Unauthorized("an API key is required: `Authorization: Bearer <key>`".into()))?;
    if token.len() > MAX_CREDENTIAL {
        return Err(ApiError::Unauthorized("the key is not valid".into()));
    }
    // Every path compares hashes; the prefix says which table to look in.
    if state.operator_key_hash.as_deref().is_some_and(|h| h == secret::hash(&token)) {
        return Ok(Caller::Operator);
    }
    if token.starts_with(secret::OPERATOR_KEY_PREFIX) {
        if state.store.is_operator_key(&token).await? {
            return Ok(Caller::Operator);
        }
    } else if let Some(key) = state.store.find_api_key_by_secret(&token).await? {
        return Ok(Caller::Key { id: key.id, tenant: key.tenant, scopes: key.scopes });
    }
    Err(ApiError::Unauthorized("the key is not valid".into()))
}

/// Refuses a suspended tenant's publishes, streams and polls (403
/// `tenant-suspended`). Admin routes do not ask, so the tenant can still be
/// inspected and resumed.
pub(crate) async fn refuse_suspended(app: &AppState, tenant: &TenantId) -> ApiResult<()> {
    if app.store.tenant_suspended(tenant).await? {
        return Err(ApiError::TenantSuspended(format!(
            "tenant {tenant} is suspended: it cannot publish, stream or poll until the operator resumes it"
        )));
    }
    Ok(())
}

/// The `{tenant}` path segment. A malformed id cannot exist: 404.
pub(crate) fn path_tenant(req: &HttpRequest) -> ApiResult<TenantId> {
    let raw = req.match_info().get("tenant").unwrap_or_default();
    TenantId::parse(raw).map_err(|_| ApiError::NotFound(format!("tenant `{raw}` not found")))
}

async fn tenant_access(req: &HttpRequest, need: KeyScope) -> ApiResult<(TenantId, AuditActor)> {
    let tenant = path_tenant(req)?;
    match caller(req).await? {
        Caller::Operator => {
            state(req).store.get_tenant(&tenant).await?;
            Ok((tenant, AuditActor::Operator))
        }
        Caller::Key { id, tenant: own, scopes } => {
            if own != tenant {
                return Err(ApiError::Forbidden("this key belongs to another tenant".into()));
            }
            if !need.satisfied_by(&scopes) {
                return Err(ApiError::Forbidden(format!("this key lacks the `{}` scope", need.as_str())));
            }
            Ok((tenant, AuditActor::ApiKey(id)))
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
                Caller::Operator => {
                    // For the audit log (`crate::audit`), which records the
                    // operator's changes.
                    req.extensions_mut().insert(AuditActor::Operator);
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
            refuse_suspended(&state(&req), &tenant).await?;
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
