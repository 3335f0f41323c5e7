//! Plugins: upload a WebAssembly component (validated before it is
//! accepted), list, inspect and delete versions, try one on a sample
//! notification, and read the dead letters chains left behind.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use herald_app::admin::PluginSample;
use herald_app::records::{Decision, PluginNotification, PluginStats};
use herald_core::DomainError;
use herald_core::ids::{DeadLetterId, PluginId};
use herald_core::names::{ChannelName, PluginName, PluginVersion};
use herald_core::plugin::{DeadLetter, Hooks, Plugin};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::TenantAdmin;
use crate::pagination::{ListQuery, Page};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginView {
    #[schema(example = "plg_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "redact")]
    pub name: String,
    #[schema(example = "1.0.0")]
    pub version: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// The hooks the component exports.
    pub hooks: Hooks,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Plugin> for PluginView {
    fn from(p: Plugin) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.to_string(),
            version: p.version.to_string(),
            sha256: p.sha256,
            size: p.size,
            hooks: p.hooks,
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginVersions {
    pub name: String,
    /// Newest first; chains without a pinned version run the first.
    pub versions: Vec<VersionWithStats>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionWithStats {
    #[serde(flatten)]
    pub plugin: PluginView,
    /// Calls on this node since it started, by outcome.
    pub stats: CallStats,
}

/// A plugin's calls on this node since it started (counted per component,
/// so two versions with the same bytes share them).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CallStats {
    pub calls: u64,
    pub ok: u64,
    pub traps: u64,
    pub timeouts: u64,
    pub out_of_fuel: u64,
    pub memory_exceeded: u64,
    pub invalid_output: u64,
    pub other_errors: u64,
    /// Mean time per call, in microseconds.
    pub mean_us: f64,
}

impl From<PluginStats> for CallStats {
    fn from(s: PluginStats) -> Self {
        Self {
            calls: s.calls,
            ok: s.ok,
            traps: s.traps,
            timeouts: s.timeouts,
            out_of_fuel: s.out_of_fuel,
            memory_exceeded: s.memory_exceeded,
            invalid_output: s.invalid_output,
            other_errors: s.other_errors,
            mean_us: if s.calls == 0 { 0.0 } else { s.total_ns as f64 / s.calls as f64 / 1000.0 },
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// Letters, digits, `-` and `_`; what channels' chains refer to.
    pub name: String,
    /// A label such as `1.0.0`; versions are immutable.
    pub version: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionQuery {
    /// One version; without it, every version.
    pub version: Option<String>,
}

fn plugin_name(raw: &str) -> ApiResult<PluginName> {
    PluginName::parse(raw).map_err(|_| ApiError::NotFound(format!("plugin `{raw}` not found")))
}

/// Upload a plugin version.
///
/// The body is the WebAssembly component itself. It is compiled and checked
/// (a component, exporting a known hook, within the size limit) before it
/// is stored.
#[utoipa::path(
    tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "A WebAssembly component (herald:plugin@0.1.0)"),
    responses(
        (status = 201, description = "Stored", body = PluginView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This version exists (`conflict`), or a plugin quota is used up: plugins, versions of this one or bytes (`plugin-quota-exceeded`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Component too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as application/wasm", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or version, or not a usable component (including too many functions, a function too large, or a compile past its time cap)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant's `plugin_uploads_per_minute` quota is used up (`quota-exceeded`, with `Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[post("/v1/tenants/{tenant}/plugins")]
pub(crate) async fn upload_plugin(
    TenantAdmin(tenant): TenantAdmin,
    req: HttpRequest,
    app: web::Data<AppState>,
    q: web::Query<UploadQuery>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/wasm") {
        return Err(ApiError::UnsupportedMediaType("send the component as `Content-Type: application/wasm`".into()));
    }
    let name = PluginName::parse(q.name.clone())?;
    let version = PluginVersion::parse(q.version.clone())?;
    let max = app.max_component_bytes();
    let wasm = body
        .to_bytes_limited(max)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(format!("a component is at most {max} bytes")))?
        .map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
    let plugin = app.upload_plugin(&tenant, &name, &version, wasm).await?;
    Ok(HttpResponse::Created().json(PluginView::from(plugin)))
}

/// List every uploaded plugin version, oldest first.
#[utoipa::path(
    tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), ListQuery),
    responses(
        (status = 200, description = "A page of plugin versions", body = Page<PluginView>),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/plugins")]
pub(crate) async fn list_plugins(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let after = q.after.as_deref().map(PluginId::parse).transpose()?;
    let limit = q.limit();
    let items: Vec<PluginView> = app.list_plugins(&tenant, after.as_ref(), limit).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |p| p.id.clone())))
}

/// Get a plugin's versions, with each one's call statistics on this node.
#[utoipa::path(
    tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), ("plugin" = String, Path, description = "Plugin name")),
    responses(
        (status = 200, description = "The plugin's versions, newest first", body = PluginVersions),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such plugin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/plugins/{plugin}")]
pub(crate) async fn get_plugin(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let name = plugin_name(&path.1)?;
    let versions = app
        .plugin_versions(&tenant, &name)
        .await?
        .into_iter()
        .map(|(p, stats)| VersionWithStats { stats: stats.into(), plugin: p.into() })
        .collect();
    Ok(HttpResponse::Ok().json(PluginVersions { name: name.to_string(), versions }))
}

/// Delete a plugin version, or the whole plugin.
///
/// Chains that name it fail by their failure policy until it is uploaded again.
#[utoipa::path(
    tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), ("plugin" = String, Path, description = "Plugin name"), VersionQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such plugin or version", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[delete("/v1/tenants/{tenant}/plugins/{plugin}")]
pub(crate) async fn delete_plugin(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<VersionQuery>,
) -> ApiResult<HttpResponse> {
    let name = plugin_name(&path.1)?;
    let version = q.version.clone().map(PluginVersion::parse).transpose()?;
    app.delete_plugin(&tenant, &name, version.as_ref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A sample notification for the test endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SampleNotification {
    #[schema(example = "orders")]
    pub channel: String,
    #[serde(rename = "type")]
    #[schema(example = "order.created")]
    pub event_type: String,
    #[serde(default)]
    #[schema(value_type = serde_json::Value)]
    pub data: serde_json::Value,
    pub recipients: Option<Vec<String>>,
}

/// The subscriber for a deliver-hook test.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SampleSubscriber {
    #[schema(example = "42")]
    pub user: String,
    /// Token claims the plugin may see.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub claims: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HookName {
    Publish,
    Deliver,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequest {
    pub hook: HookName,
    pub notification: SampleNotification,
    /// Required for `deliver`.
    pub subscriber: Option<SampleSubscriber>,
    /// The configuration a chain would give the plugin (default `{}`, as in a chain).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Test this version; the newest otherwise.
    pub version: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TestError {
    /// `trap`, `timeout`, `out_of_fuel`, `memory_exceeded`, `invalid_output`, `no_such_hook`, `unavailable`.
    pub kind: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TestResult {
    /// `keep`, `replace`, `drop`, or `error`.
    #[schema(example = "replace")]
    pub decision: &'static str,
    /// The replacement (for `replace`): channel, type, data, recipients.
    #[schema(value_type = Option<Object>)]
    pub notification: Option<serde_json::Value>,
    /// Why it was dropped (for `drop`).
    pub reason: Option<String>,
    pub error: Option<TestError>,
    /// Time the call took, in microseconds.
    pub duration_us: u64,
    /// The version tested.
    pub version: String,
}

/// Run a plugin on a sample notification.
#[utoipa::path(
    tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), ("plugin" = String, Path, description = "Plugin name")),
    request_body = TestRequest,
    responses(
        (status = 200, description = "What the plugin decided, or how it failed, and how long it took", body = TestResult),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such plugin or version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid sample", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[post("/v1/tenants/{tenant}/plugins/{plugin}/test")]
pub(crate) async fn test_plugin(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<TestRequest>,
) -> ApiResult<HttpResponse> {
    let name = plugin_name(&path.1)?;
    let body = body.into_inner();
    let version = body.version.map(PluginVersion::parse).transpose()?;
    let channel = ChannelName::parse(body.notification.channel)?;
    let n = PluginNotification {
        channel: channel.to_string(),
        event_type: herald_core::names::EventType::parse(body.notification.event_type)?.to_string(),
        data: body.notification.data.to_string(),
        recipients: body.notification.recipients,
        metadata: vec![("tenant".to_owned(), tenant.to_string())],
    };
    let who = match (&body.hook, body.subscriber) {
        (HookName::Deliver, None) => return Err(DomainError::invalid("subscriber", "a deliver test needs a subscriber").into()),
        (HookName::Deliver, Some(s)) if !s.claims.is_object() => {
            return Err(DomainError::invalid("subscriber.claims", "must be a JSON object, as a token's claims are").into());
        }
        (HookName::Deliver, Some(s)) => Some((s.user, s.claims.to_string())),
        (HookName::Publish, _) => None,
    };
    let config = body.config.to_string();
    let run = app.test_plugin(&tenant, &name, version.as_ref(), PluginSample { notification: n, subscriber: who, config }).await?;
    let (result, elapsed, tested_version) = (run.result, run.elapsed, run.version);
    let mut out = TestResult {
        decision: "keep",
        notification: None,
        reason: None,
        error: None,
        duration_us: elapsed.as_micros() as u64,
        version: tested_version,
    };
    match result {
        Ok(Decision::Keep) => {}
        Ok(Decision::Replace(p)) => {
            out.decision = "replace";
            let data = serde_json::from_str::<serde_json::Value>(&p.data).unwrap_or(serde_json::Value::String(p.data));
            out.notification =
                Some(serde_json::json!({"channel": p.channel, "type": p.event_type, "data": data, "recipients": p.recipients}));
        }
        Ok(Decision::Drop(reason)) => {
            out.decision = "drop";
            out.reason = Some(reason);
        }
        Err(e) => {
            out.decision = "error";
            out.error = Some(TestError { kind: e.kind(), message: e.to_string() });
        }
    }
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLetterView {
    #[schema(example = "dl_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    pub channel: String,
    pub plugin: String,
    /// `publish` or `deliver`.
    pub hook: String,
    /// `dropped` (the plugin's decision) or `failed` (fail-closed chain).
    pub outcome: String,
    pub reason: String,
    /// The notification as the plugin received it.
    #[schema(value_type = serde_json::Value)]
    pub notification: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        Self {
            id: d.id.to_string(),
            channel: d.channel.to_string(),
            plugin: d.plugin.to_string(),
            hook: d.hook,
            outcome: d.outcome,
            reason: d.reason,
            notification: d.notification,
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeadLetterQuery {
    /// Only this channel's.
    pub channel: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "crate::pagination::page_limit")]
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u64>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// List dead letters, oldest first.
///
/// Notifications a publish hook dropped, or a fail-closed chain withheld
/// after a plugin failed, with the reason.
#[utoipa::path(
    tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), DeadLetterQuery),
    responses(
        (status = 200, description = "A page of dead letters", body = Page<DeadLetterView>),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid channel or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/dead-letters")]
pub(crate) async fn list_dead_letters(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    q: web::Query<DeadLetterQuery>,
) -> ApiResult<HttpResponse> {
    let channel = q.channel.clone().map(ChannelName::parse).transpose()?;
    let after = q.after.as_deref().map(DeadLetterId::parse).transpose()?;
    let limit = ListQuery { limit: q.limit, after: None }.limit();
    let items: Vec<DeadLetterView> =
        app.list_dead_letters(&tenant, channel.as_ref(), after.as_ref(), limit).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |d| d.id.clone())))
}
