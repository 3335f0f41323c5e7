//! A tenant's allowed browser origins: the web apps whose pages may call
//! the subscriber endpoints (stream, polling, read state, session) across
//! origins; and the cross-origin requests this node refused, so that the
//! tenant's admin learns which origin a page was on.

use actix_web::{HttpResponse, get, put, web};
use herald_app::origin_refusals::{RECENT, RefusedOrigin, TenantRefusals};
use herald_core::origin::{self, Origin};
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

/// A tenant's cross-origin refusals on the node that answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OriginRefusalsView {
    /// Requests from an origin not in the list (preflights included),
    /// refused by this node since it started.
    #[schema(example = 3)]
    pub refused: u64,
    /// The most recently refused origins, most recent first: at most 10
    /// distinct ones.
    pub recent: Vec<RefusedOriginView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RefusedOriginView {
    /// The `Origin` the browser sent (cut to 256 bytes).
    #[schema(example = "http://localhost:5173")]
    pub origin: String,
    /// Refusals of this origin since it entered the recent list.
    #[schema(example = 3)]
    pub count: u64,
    pub last_at: chrono::DateTime<chrono::Utc>,
    /// Whether it is a valid origin to allow (`scheme://host[:port]`);
    /// a browser always sends one, anything else is not a browser.
    pub allowable: bool,
}

impl From<RefusedOrigin> for RefusedOriginView {
    fn from(r: RefusedOrigin) -> Self {
        let allowable = Origin::parse(r.origin.as_str()).is_ok();
        Self { origin: r.origin, count: r.count, last_at: r.last_at, allowable }
    }
}

impl From<TenantRefusals> for OriginRefusalsView {
    fn from(r: TenantRefusals) -> Self {
        debug_assert!(r.recent.len() <= RECENT);
        Self { refused: r.total, recent: r.recent.into_iter().map(Into::into).collect() }
    }
}

/// Cross-origin requests this node refused for the tenant.
///
/// A page on an origin the tenant does not allow gets nothing from the
/// stream or polls, and its browser says only that CORS blocked it. This
/// says which origins were refused, so the admin can allow the right one.
/// Counted per node since it started (each node answers for itself), for
/// tenants that exist; requests from Herald's own origin are not counted.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant's refusals on this node", body = OriginRefusalsView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/allowed-origins/refusals")]
pub(crate) async fn get_origin_refusals(TenantAdmin(tenant): TenantAdmin, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let refusals = app.origin_refusals(&tenant).await?;
    Ok(HttpResponse::Ok().json(OriginRefusalsView::from(refusals)))
}
