//! A tenant's Mercure hub settings (issue 21): the key that verifies its
//! access tokens (an HS256 secret, sealed at rest and never shown again,
//! or a public key), the trusted issuer, the hub's audience, anonymous
//! subscribers, CORS origins and 0.x compatibility.

use actix_web::{HttpResponse, get, put, web};
use herald_app::AppError;
use herald_core::DomainError;
use herald_core::ids::TenantId;
use herald_core::mercure::{Settings, SettingsInput};
use herald_core::token::KeyMaterial;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::TenantAdmin;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// What `PUT` takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MercureSettingsBody {
    /// `HS256`, `RS256`, `ES256` or `EdDSA`: tokens signed with any other
    /// algorithm are refused.
    #[schema(example = "HS256")]
    pub jwt_alg: String,
    /// The HS256 secret (32 to 512 bytes; sealed at rest, never shown
    /// again), or the PEM public key for the other algorithms. Omit it to
    /// keep the current key, when `jwt_alg` stays the same.
    #[schema(example = "!ChangeThisMercureHubJWTSecretKey!")]
    pub jwt_key: Option<String>,
    /// The trusted issuer: a 1.0 token's `iss` must equal it.
    #[schema(example = "https://example.com")]
    pub issuer: String,
    /// The hub's resource identifier: a 1.0 token's `aud` must include it.
    #[schema(example = "https://hub.example.com/.well-known/mercure")]
    pub audience: String,
    /// Serve subscribers without a token (public updates only).
    #[serde(default)]
    pub anonymous: bool,
    /// Browser origins allowed to subscribe and publish across origins.
    #[serde(default)]
    #[schema(example = json!(["https://app.example.com"]))]
    pub cors_origins: Vec<String>,
    /// Also accept Mercure 0.x clients: `topic=` with URI templates, the
    /// `mercure` claim, the `authorization` parameter and the
    /// `mercureAuthorization` cookie.
    #[serde(default)]
    pub compat_0x: bool,
}

/// The settings as `GET` and `PUT` answer them: never the HS256 secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MercureSettingsView {
    #[schema(example = "HS256")]
    pub jwt_alg: String,
    /// The PEM public key; `null` for HS256, whose secret is not shown.
    pub public_key: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub anonymous: bool,
    pub cors_origins: Vec<String>,
    pub compat_0x: bool,
    /// The tenant's hub, relative to Herald's base URL.
    #[schema(example = "/v1/tenants/ten_01j9zq8m3e7f4a2b6c8d0e1f2g/.well-known/mercure")]
    pub hub_path: String,
}

impl MercureSettingsView {
    fn new(tenant: &TenantId, s: Settings) -> Self {
        Self {
            jwt_alg: s.jwt_alg.as_str().to_owned(),
            public_key: match s.jwt_key {
                KeyMaterial::PublicPem(pem) => Some(pem),
                KeyMaterial::Secret(_) => None,
            },
            issuer: s.issuer,
            audience: s.audience,
            anonymous: s.anonymous,
            cors_origins: s.cors_origins.iter().map(|o| o.as_str().to_owned()).collect(),
            compat_0x: s.compat_0x,
            hub_path: format!("/v1/tenants/{tenant}/.well-known/mercure"),
        }
    }
}

/// Read the tenant's Mercure hub settings.
#[utoipa::path(
    tag = "mercure",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The settings (never the HS256 secret)", body = MercureSettingsView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or no hub set up yet", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/mercure")]
pub(crate) async fn get_mercure_settings(TenantAdmin(tenant): TenantAdmin, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let settings = app.mercure_settings(&tenant).await?;
    Ok(HttpResponse::Ok().json(MercureSettingsView::new(&tenant, settings)))
}

/// Set up or replace the tenant's Mercure hub. Streams already open keep
/// the settings they were opened with until they end.
#[utoipa::path(
    tag = "mercure",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = MercureSettingsBody,
    responses(
        (status = 200, description = "The new settings (never the HS256 secret)", body = MercureSettingsView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown algorithm, a secret of the wrong length, an unusable public key, no key where none is set for the algorithm, an empty or too long issuer or audience, or a bad origin; `detail` names the field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[put("/v1/tenants/{tenant}/mercure")]
pub(crate) async fn put_mercure_settings(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    body: web::Json<MercureSettingsBody>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let jwt_key = match b.jwt_key {
        Some(key) => key,
        None => current_key(&app, &tenant, &b.jwt_alg).await?,
    };
    let settings = Settings::parse(SettingsInput {
        jwt_alg: b.jwt_alg,
        jwt_key,
        issuer: b.issuer,
        audience: b.audience,
        anonymous: b.anonymous,
        cors_origins: b.cors_origins,
        compat_0x: b.compat_0x,
    })?;
    app.put_mercure_settings(&tenant, &settings).await?;
    tracing::info!(%tenant, alg = %settings.jwt_alg, compat_0x = settings.compat_0x, "mercure hub settings set");
    Ok(HttpResponse::Ok().json(MercureSettingsView::new(&tenant, settings)))
}

/// The key already set, for a `PUT` that omits `jwt_key` and keeps the
/// algorithm (so a console can change other settings without asking for
/// a secret it cannot show).
async fn current_key(app: &AppState, tenant: &TenantId, jwt_alg: &str) -> ApiResult<String> {
    let missing = || DomainError::invalid("jwt_key", "required: no key is set for this algorithm yet");
    let current = match app.mercure_settings(tenant).await {
        Ok(current) => current,
        Err(AppError::NotFound(_)) => return Err(missing().into()),
        Err(e) => return Err(e.into()),
    };
    if current.jwt_alg.as_str() != jwt_alg {
        return Err(missing().into());
    }
    Ok(match current.jwt_key {
        KeyMaterial::Secret(s) | KeyMaterial::PublicPem(s) => s,
    })
}
