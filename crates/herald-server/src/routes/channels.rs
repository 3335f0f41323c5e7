//! Channels, their retention and their plugin chain. Publishing to a new
//! channel creates it with the server's defaults (no plugins); create it
//! first to choose your own.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use herald_core::DomainError;
use herald_core::email::EmailPolicy;
use herald_core::model::Channel;
use herald_core::names::ChannelName;
use herald_core::plugin::{ChainStep, FailurePolicy, validate_chain};
use herald_core::retention::Retention;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::TenantAdmin;
use crate::pagination::{ListQuery, Page};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateChannel {
    /// Segments of letters, digits and `-_:@=+`, separated by `.`; at most 128 bytes.
    #[schema(example = "orders")]
    pub name: String,
    #[serde(default)]
    pub retention: Retention,
    /// Plugins run on every notification of the channel, in order.
    #[serde(default)]
    pub plugins: Vec<ChainStep>,
    /// What happens to a notification when a plugin fails (trap, timeout,
    /// memory, invalid output): `fail-open` passes it on as it was,
    /// `fail-closed` keeps it out of delivery as a dead letter.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Email direct notifications that the recipient did not receive live
    /// within `after_seconds` (see Recipients). Absent or null: no email.
    pub email: Option<EmailPolicy>,
}

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Fields to change; absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateChannel {
    /// Replaces the retention policy.
    pub retention: Option<Retention>,
    /// Replaces the plugin chain (`[]` removes every plugin). Takes effect
    /// for the next notification, without a restart.
    pub plugins: Option<Vec<ChainStep>>,
    pub failure_policy: Option<FailurePolicy>,
    /// Replaces the email policy; `null` turns email off. Emails already
    /// waiting are cancelled when they come due if the channel no longer
    /// sends email; otherwise they are rendered with the templates current
    /// at that time.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<EmailPolicy>)]
    pub email: Option<Option<EmailPolicy>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelView {
    #[schema(example = "ch_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "orders")]
    pub name: String,
    /// Unset bounds use the server defaults.
    pub retention: Retention,
    pub plugins: Vec<ChainStep>,
    pub failure_policy: FailurePolicy,
    /// The email policy; null when the channel sends no email.
    pub email: Option<EmailPolicy>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Channel> for ChannelView {
    fn from(c: Channel) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name.to_string(),
            retention: c.retention,
            plugins: c.plugins,
            failure_policy: c.failure_policy,
            email: c.email,
            created_at: c.created_at,
        }
    }
}

fn channel_name(raw: &str) -> ApiResult<ChannelName> {
    ChannelName::parse(raw).map_err(|_| ApiError::NotFound(format!("channel `{raw}` not found")))
}

/// Create a channel.
#[utoipa::path(
    tag = "channels",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = CreateChannel,
    responses(
        (status = 201, description = "Created", body = ChannelView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Channel exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, retention, plugin chain or email policy", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[post("/v1/tenants/{tenant}/channels")]
pub(crate) async fn create_channel(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    body: web::Json<CreateChannel>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let name = ChannelName::parse(body.name)?;
    body.retention.validate()?;
    validate_chain(&body.plugins)?;
    if let Some(policy) = &body.email {
        app.check_email_policy(policy)?;
    }
    let mut channel = app.create_channel(&tenant, &name, body.retention).await?;
    if !body.plugins.is_empty() || body.failure_policy != FailurePolicy::default() {
        channel = app.set_channel_plugins(&tenant, &name, &body.plugins, body.failure_policy).await?;
    }
    if let Some(policy) = &body.email {
        channel = app.set_channel_email(&tenant, &name, Some(policy)).await?;
    }
    Ok(HttpResponse::Created().json(ChannelView::from(channel)))
}

/// List channels in name order.
#[utoipa::path(
    tag = "channels",
    params(("tenant" = String, Path, description = "Tenant id"), ListQuery),
    responses(
        (status = 200, description = "A page of channels", body = Page<ChannelView>),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/channels")]
pub(crate) async fn list_channels(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let after = q.after.as_deref().map(ChannelName::parse).transpose()?;
    let limit = q.limit();
    let items: Vec<ChannelView> = app.list_channels(&tenant, after.as_ref(), limit).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |c| c.name.clone())))
}

/// Get a channel.
#[utoipa::path(
    tag = "channels",
    params(("tenant" = String, Path, description = "Tenant id"), ("channel" = String, Path, description = "Channel name")),
    responses(
        (status = 200, description = "The channel", body = ChannelView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such channel", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/channels/{channel}")]
pub(crate) async fn get_channel(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let channel = app.get_channel(&tenant, &channel_name(&path.1)?).await?;
    Ok(HttpResponse::Ok().json(ChannelView::from(channel)))
}

/// Change a channel's retention (the next retention pass applies it), its
/// plugin chain or its failure policy (the next notification sees them), or
/// its email policy.
#[utoipa::path(
    tag = "channels",
    params(("tenant" = String, Path, description = "Tenant id"), ("channel" = String, Path, description = "Channel name")),
    request_body = UpdateChannel,
    responses(
        (status = 200, description = "The updated channel", body = ChannelView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such channel", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid retention, plugin chain or email policy, or nothing to change", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[patch("/v1/tenants/{tenant}/channels/{channel}")]
pub(crate) async fn update_channel(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateChannel>,
) -> ApiResult<HttpResponse> {
    let name = channel_name(&path.1)?;
    let body = body.into_inner();
    if body.retention.is_none() && body.plugins.is_none() && body.failure_policy.is_none() && body.email.is_none() {
        return Err(DomainError::invalid("body", "give at least one of `retention`, `plugins`, `failure_policy`, `email`").into());
    }
    if let Some(Some(policy)) = &body.email {
        app.check_email_policy(policy)?;
    }
    if let Some(r) = &body.retention {
        r.validate()?;
    }
    if let Some(chain) = &body.plugins {
        validate_chain(chain)?;
    }
    let mut channel = app.get_channel(&tenant, &name).await?;
    if let Some(r) = body.retention {
        channel = app.set_channel_retention(&tenant, &name, r).await?;
    }
    if body.plugins.is_some() || body.failure_policy.is_some() {
        let chain = body.plugins.unwrap_or(channel.plugins);
        let policy = body.failure_policy.unwrap_or(channel.failure_policy);
        channel = app.set_channel_plugins(&tenant, &name, &chain, policy).await?;
    }
    if let Some(email) = &body.email {
        channel = app.set_channel_email(&tenant, &name, email.as_ref()).await?;
    }
    Ok(HttpResponse::Ok().json(ChannelView::from(channel)))
}

/// Delete a channel and its history.
#[utoipa::path(
    tag = "channels",
    params(("tenant" = String, Path, description = "Tenant id"), ("channel" = String, Path, description = "Channel name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such channel", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[delete("/v1/tenants/{tenant}/channels/{channel}")]
pub(crate) async fn delete_channel(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let name = channel_name(&path.1)?;
    app.delete_channel(&tenant, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}
