//! Tenant API keys (`publish`, `admin`). The secret is shown once.

use actix_web::{HttpResponse, delete, get, post, web};
use herald_core::DomainError;
use herald_core::ids::ApiKeyId;
use herald_core::keys::KeyScope;
use herald_core::model::ApiKey;
use herald_core::names::KeyName;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::TenantAdmin;
use crate::pagination::{ListQuery, Page};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    #[schema(example = "backend")]
    pub name: String,
    /// `publish` to publish; `admin` to manage the tenant (implies publish).
    #[schema(example = json!(["publish"]))]
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyView {
    #[schema(example = "key_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    pub name: String,
    pub scopes: Vec<KeyScope>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedKey {
    #[schema(example = "key_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    pub name: String,
    pub scopes: Vec<KeyScope>,
    /// The key itself: shown only in this response, stored only as a hash.
    #[schema(example = "hk_Zm9vYmFyYmF6...")]
    pub secret: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> Self {
        Self { id: k.id.to_string(), name: k.name.to_string(), scopes: k.scopes, created_at: k.created_at }
    }
}

/// Create an API key for the tenant.
#[utoipa::path(
    tag = "keys",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created; the secret is shown once", body = CreatedKey),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or scopes", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[post("/v1/tenants/{tenant}/keys")]
pub(crate) async fn create_key(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    body: web::Json<CreateKey>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let name = KeyName::parse(body.name)?;
    let mut scopes = body.scopes.iter().map(|s| s.parse::<KeyScope>()).collect::<Result<Vec<_>, _>>()?;
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    if scopes.is_empty() {
        return Err(DomainError::invalid("scopes", "name at least one of `publish`, `admin`").into());
    }
    let (key, secret) = app.create_api_key(&tenant, &name, &scopes).await?;
    tracing::info!(%tenant, key = %key.id, "api key created");
    Ok(HttpResponse::Created().json(CreatedKey {
        id: key.id.to_string(),
        name: key.name.to_string(),
        scopes: key.scopes,
        secret,
        created_at: key.created_at,
    }))
}

/// List the tenant's API keys (never their secrets).
#[utoipa::path(
    tag = "keys",
    params(("tenant" = String, Path, description = "Tenant id"), ListQuery),
    responses(
        (status = 200, description = "A page of keys", body = Page<KeyView>),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/keys")]
pub(crate) async fn list_keys(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let after = q.after.as_deref().map(ApiKeyId::parse).transpose()?;
    let limit = q.limit();
    let items: Vec<KeyView> = app.list_api_keys(&tenant, after.as_ref(), limit).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |k| k.id.clone())))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(
    tag = "keys",
    params(("tenant" = String, Path, description = "Tenant id"), ("key" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[delete("/v1/tenants/{tenant}/keys/{key}")]
pub(crate) async fn delete_key(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let id = ApiKeyId::parse(&path.1).map_err(|_| ApiError::NotFound("key not found".into()))?;
    app.delete_api_key(&tenant, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
