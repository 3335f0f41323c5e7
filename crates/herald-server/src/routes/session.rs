//! The session cookie: a browser app that prefers not to put the token in
//! URLs (`access_token`) trades it for an HttpOnly cookie scoped to the
//! tenant's paths, then uses `EventSource(url, {withCredentials: true})`
//! and `fetch(url, {credentials: 'include'})`.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::{HttpRequest, HttpResponse, delete, post, web};

use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use crate::subscriber_auth::{TOKEN_COOKIE, authenticate};

fn cookie(tenant: &str, value: String, max_age_seconds: i64) -> Cookie<'static> {
    Cookie::build(TOKEN_COOKIE, value)
        .path(format!("/v1/tenants/{tenant}"))
        .http_only(true)
        // Cross-origin pages need `SameSite=None`, which browsers accept
        // only with `Secure` (localhost counts as secure in browsers).
        .secure(true)
        .same_site(SameSite::None)
        .max_age(time::Duration::seconds(max_age_seconds.max(0)))
        .finish()
}

/// Store the subscriber token in an HttpOnly cookie.
///
/// Send the token as `Authorization: Bearer`. The cookie lives until the
/// token's `exp` and is sent only to this tenant's paths; Herald accepts it
/// only from the same origin or the tenant's allowed origins.
#[utoipa::path(
    tag = "stream",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 204, description = "The cookie is set (`Set-Cookie: herald_token=…; HttpOnly; Secure; SameSite=None`)"),
        (status = 401, description = "Missing, expired, badly signed or wrongly keyed token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Malformed tenant id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("subscriber_token" = []))
)]
#[post("/v1/tenants/{tenant}/session")]
pub(crate) async fn create_session(req: HttpRequest, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let (tenant, subscriber) = authenticate(&req, &app, None).await?;
    // The token the caller sent, now verified.
    let token = crate::auth::bearer(&req)?.unwrap_or_default();
    let max_age = subscriber.expires_at - chrono::Utc::now().timestamp();
    Ok(HttpResponse::NoContent().cookie(cookie(tenant.as_str(), token, max_age)).finish())
}

/// Remove the session cookie.
#[utoipa::path(
    tag = "stream",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 204, description = "The cookie is cleared"),
        (status = 404, description = "Malformed tenant id", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[delete("/v1/tenants/{tenant}/session")]
pub(crate) async fn delete_session(req: HttpRequest) -> ApiResult<HttpResponse> {
    // Only a well-formed tenant id goes into the cookie's `Path`.
    let tenant = crate::auth::path_tenant(&req)?;
    Ok(HttpResponse::NoContent().cookie(cookie(tenant.as_str(), String::new(), 0)).finish())
}
