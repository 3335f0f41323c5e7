//! A tenant's allowed browser origins: the web apps whose pages may call
//! the subscriber endpoints (stream, polling, read state, session) across
//! origins.

use actix_web::{HttpResponse, get, put, web};
use herald_core::origin;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::TenantAdmin;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AllowedOriginsBody {
    /// `scheme://host[:port]` exactly as browsers send it in `Origin`, at most 32.
    #[schema(example = json!(["https://app.example.com", "http://localhost:5173"]))]
    pub origins: Vec<String>,
}

/// The tenant's allowed browser origins.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The list", body = AllowedOriginsBody),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/allowed-origins")]
pub(crate) async fn get_allowed_origins(TenantAdmin(tenant): TenantAdmin, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let origins = app.allowed_origins(&tenant).await?;
    Ok(HttpResponse::Ok().json(AllowedOriginsBody { origins }))
}

/// Replace the tenant's allowed browser origins (CORS).
///
/// Pages on these origins may call the stream, polling, read-state and
/// session endpoints, with credentials. Takes effect on this node at once
/// and on others within `key_cache_seconds`.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = AllowedOriginsBody,
    responses(
        (status = 200, description = "The new list", body = AllowedOriginsBody),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid or duplicate origin, or too many", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[put("/v1/tenants/{tenant}/allowed-origins")]
pub(crate) async fn put_allowed_origins(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    body: web::Json<AllowedOriginsBody>,
) -> ApiResult<HttpResponse> {
    let origins: Vec<String> = origin::parse_list(body.into_inner().origins)?.into_iter().map(|o| o.to_string()).collect();
    app.set_allowed_origins(&tenant, &origins).await?;
    Ok(HttpResponse::Ok().json(AllowedOriginsBody { origins }))
}
