//! The operator's own keys (`hop_…`): create, list, revoke and rotate. A
//! secret is shown once, when created or rotated; only its hash is kept.
//! The same actions work without the API, on the database, with
//! `herald operator-key` (for recovery when no key is known).

use actix_web::{HttpResponse, delete, get, post, web};
use herald_app::records::OperatorKey;
use herald_core::names::KeyName;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Operator;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOperatorKey {
    /// What the key is for (who holds it).
    #[schema(example = "deploy-bot")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OperatorKeyView {
    #[schema(example = "op_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "deploy-bot")]
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When the key was last accepted (to within a minute); null if never.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the key was revoked; null while it is valid.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OperatorKeyList {
    pub items: Vec<OperatorKeyView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedOperatorKey {
    #[serde(flatten)]
    pub key: OperatorKeyView,
    /// The key itself: shown only in this response, stored only as a hash.
    #[schema(example = "hop_Zm9vYmFyYmF6...")]
    pub secret: String,
}

fn time(micros: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

impl From<OperatorKey> for OperatorKeyView {
    fn from(k: OperatorKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name,
            created_at: time(k.created_at),
            last_used_at: k.last_used_at.map(time),
            revoked_at: k.revoked_at.map(time),
        }
    }
}

/// Create an operator key.
#[utoipa::path(
    tag = "operator-keys",
    request_body = CreateOperatorKey,
    responses(
        (status = 201, description = "Created; the secret is shown once", body = CreatedOperatorKey),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[post("/v1/operator-keys")]
pub(crate) async fn create_operator_key(
    _: Operator,
    app: web::Data<AppState>,
    body: web::Json<CreateOperatorKey>,
) -> ApiResult<HttpResponse> {
    let name = KeyName::parse(body.into_inner().name)?;
    let (key, secret) = app.create_operator_key(&name).await?;
    tracing::info!(key = %key.id, "operator key created");
    Ok(HttpResponse::Created().json(CreatedOperatorKey { key: key.into(), secret }))
}

/// List the operator keys, revoked ones included (never their secrets).
#[utoipa::path(
    tag = "operator-keys",
    responses(
        (status = 200, description = "Every operator key, oldest first", body = OperatorKeyList),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[get("/v1/operator-keys")]
pub(crate) async fn list_operator_keys(_: Operator, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let items = app.list_operator_keys().await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(OperatorKeyList { items }))
}

/// Revoke an operator key: refused at once on this node, within
/// `key_cache_seconds` on the others. The last valid key cannot be revoked
/// (409) unless HERALD_OPERATOR_KEY is set.
#[utoipa::path(
    tag = "operator-keys",
    params(("key" = String, Path, description = "Operator key id")),
    responses(
        (status = 200, description = "Revoked", body = OperatorKeyView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last valid operator key, or one already revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[delete("/v1/operator-keys/{key}")]
pub(crate) async fn revoke_operator_key(_: Operator, app: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let key = app.revoke_operator_key(&path.into_inner()).await?;
    tracing::info!(key = %key.id, "operator key revoked");
    Ok(HttpResponse::Ok().json(OperatorKeyView::from(key)))
}

/// Give an operator key a new secret; the old one stops working (at once on
/// this node, within `key_cache_seconds` on the others).
#[utoipa::path(
    tag = "operator-keys",
    params(("key" = String, Path, description = "Operator key id")),
    responses(
        (status = 200, description = "Rotated; the new secret is shown once", body = CreatedOperatorKey),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[post("/v1/operator-keys/{key}/rotate")]
pub(crate) async fn rotate_operator_key(_: Operator, app: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let (key, secret) = app.rotate_operator_key(&path.into_inner()).await?;
    tracing::info!(key = %key.id, "operator key rotated");
    Ok(HttpResponse::Ok().json(CreatedOperatorKey { key: key.into(), secret }))
}
