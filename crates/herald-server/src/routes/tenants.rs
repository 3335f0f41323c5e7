//! Tenants, managed by the operator, who may also suspend them: a
//! suspended tenant's publishes, new streams and polls are refused and its
//! open streams are closed, on this node at once and on the others by
//! `herald_app::close_suspended_streams` within the key-cache lifetime.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use herald_core::ids::TenantId;
use herald_core::model::Tenant;
use herald_core::names::TenantName;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Operator, state};
use crate::pagination::{ListQuery, Page};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    /// Unique name: letters, digits, `-`, `_`, `.`; at most 64 bytes.
    #[schema(example = "acme")]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateTenant {
    #[schema(example = "acme-eu")]
    pub name: Option<String>,
    /// `true` suspends the tenant (publishes, streams and polls are refused
    /// with `tenant-suspended`; open streams close); `false` resumes it.
    #[schema(example = false)]
    pub suspended: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantView {
    #[schema(example = "ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "acme")]
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Whether the operator suspended the tenant.
    pub suspended: bool,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self { id: t.id.to_string(), name: t.name.to_string(), created_at: t.created_at, suspended: t.suspended }
    }
}

fn tenant_id(raw: &str) -> ApiResult<TenantId> {
    TenantId::parse(raw).map_err(|_| ApiError::NotFound(format!("tenant `{raw}` not found")))
}

/// Create a tenant.
#[utoipa::path(
    tag = "tenants",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created", body = TenantView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[post("/v1/tenants")]
pub(crate) async fn create_tenant(_: Operator, app: web::Data<AppState>, body: web::Json<CreateTenant>) -> ApiResult<HttpResponse> {
    let name = TenantName::parse(body.into_inner().name)?;
    let tenant = app.create_tenant(&name).await?;
    tracing::info!(tenant = %tenant.id, name = %tenant.name, "tenant created");
    Ok(HttpResponse::Created().json(TenantView::from(tenant)))
}

/// List tenants, oldest first.
#[utoipa::path(
    tag = "tenants",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of tenants", body = Page<TenantView>),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[get("/v1/tenants")]
pub(crate) async fn list_tenants(_: Operator, app: web::Data<AppState>, q: web::Query<ListQuery>) -> ApiResult<HttpResponse> {
    let after = q.after.as_deref().map(TenantId::parse).transpose()?;
    let limit = q.limit();
    let items: Vec<TenantView> = app.list_tenants(after.as_ref(), limit).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |t| t.id.clone())))
}

/// Get a tenant.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[get("/v1/tenants/{tenant}")]
pub(crate) async fn get_tenant(_: Operator, app: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let tenant = app.get_tenant(&tenant_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(TenantView::from(tenant)))
}

/// Rename, suspend or resume a tenant.
///
/// A suspended tenant's publishes, new streams and polls are refused (403
/// `tenant-suspended`) and its open streams are closed: on the node that
/// took the request at once, on other nodes within `key_cache_seconds`. Its
/// admin API keeps working.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = UpdateTenant,
    responses(
        (status = 200, description = "The updated tenant", body = TenantView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[patch("/v1/tenants/{tenant}")]
pub(crate) async fn update_tenant(
    _: Operator,
    app: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UpdateTenant>,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&path)?;
    let body = body.into_inner();
    let name = body.name.map(TenantName::parse).transpose()?;
    let tenant = app.update_tenant(&id, name.as_ref(), body.suspended).await?;
    Ok(HttpResponse::Ok().json(TenantView::from(tenant)))
}

/// Delete a tenant and everything it owns; its live streams are closed.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[delete("/v1/tenants/{tenant}")]
pub(crate) async fn delete_tenant(_: Operator, req: actix_web::HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let app = state(&req);
    let id = tenant_id(&path)?;
    app.delete_tenant(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}
