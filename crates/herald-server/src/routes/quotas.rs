//! A tenant's quotas: set by the operator, readable by the tenant's admins.
//! What each quota means, and that most are enforced per node, is in
//! `crate::usage` and docs/quotas-and-stats.md.

use actix_web::{HttpRequest, HttpResponse, get, put, web};
use herald_app::records::Quotas;
use herald_core::DomainError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Operator, TenantAdmin, path_tenant};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Largest value of each quota: far above any real tenant, low enough
/// that arithmetic on them cannot overflow and a typo is caught.
const MAX_PUBLISHES_PER_SECOND: u32 = 1_000_000;
const MAX_CONNECTIONS: u32 = 10_000_000;
const MAX_STORED_NOTIFICATIONS: u64 = 10_000_000_000;
const MAX_EMAILS_PER_DAY: u32 = 10_000_000;
const MAX_PLUGINS: u32 = 10_000;
const MAX_PLUGIN_VERSIONS: u32 = 10_000;
const MAX_PLUGIN_BYTES: u64 = 1 << 40;
const MAX_PLUGIN_UPLOADS_PER_MINUTE: u32 = 10_000;

/// A tenant's quotas. `null` (or an absent field) is unlimited, except for
/// the four plugin quotas, where it is the default (50 plugins, 20 versions
/// each, 64 MiB in all, 30 uploads a minute); a `PUT` replaces all eight.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"publishes_per_second": 100, "max_connections": 10000, "max_stored_notifications": null, "emails_per_day": 5000,
    "max_plugins": 10, "max_plugin_versions": null, "max_plugin_bytes": 16777216, "plugin_uploads_per_minute": null}))]
pub(crate) struct QuotasBody {
    /// Publishes accepted per second on each node (a batch counts its
    /// size; bursts of one second's worth), 1 to 1,000,000.
    #[schema(minimum = 1, maximum = 1_000_000, example = 100)]
    pub publishes_per_second: Option<u32>,
    /// Open streams plus waiting long-polls on each node, 1 to 10,000,000.
    #[schema(minimum = 1, maximum = 10_000_000, example = 10000)]
    pub max_connections: Option<u32>,
    /// Notifications kept in the tenant's log (retention frees space),
    /// 1 to 10,000,000,000.
    #[schema(minimum = 1, maximum = 10_000_000_000_u64, example = 1000000)]
    pub max_stored_notifications: Option<u64>,
    /// Emails sent in any 24 hours, 1 to 10,000,000.
    #[schema(minimum = 1, maximum = 10_000_000, example = 5000)]
    pub emails_per_day: Option<u32>,
    /// Plugins (distinct names) the tenant may have, 1 to 10,000; `null`: 50.
    /// An upload of a new plugin past it gets `409`
    /// `urn:herald:problem:plugin-quota-exceeded`.
    #[schema(minimum = 1, maximum = 10_000, example = 10)]
    pub max_plugins: Option<u32>,
    /// Versions kept of each plugin, 1 to 10,000; `null`: 20.
    #[schema(minimum = 1, maximum = 10_000, example = 20)]
    pub max_plugin_versions: Option<u32>,
    /// Bytes of components, all versions of all plugins, 1 to 2^40; `null`: 64 MiB.
    #[schema(minimum = 1, maximum = 1_099_511_627_776_u64, example = 16777216)]
    pub max_plugin_bytes: Option<u64>,
    /// Plugin uploads a minute on each node, accepted or not, 1 to 10,000;
    /// `null`: 30. Past it: `429` `urn:herald:problem:quota-exceeded` with `Retry-After`.
    #[schema(minimum = 1, maximum = 10_000, example = 30)]
    pub plugin_uploads_per_minute: Option<u32>,
}

impl From<Quotas> for QuotasBody {
    fn from(q: Quotas) -> Self {
        Self {
            publishes_per_second: q.publishes_per_second,
            max_connections: q.max_connections,
            max_stored_notifications: q.max_stored_notifications,
            emails_per_day: q.emails_per_day,
            max_plugins: q.max_plugins,
            max_plugin_versions: q.max_plugin_versions,
            max_plugin_bytes: q.max_plugin_bytes,
            plugin_uploads_per_minute: q.plugin_uploads_per_minute,
        }
    }
}

/// The `PUT` body as sent: each value is checked here rather than by
/// serde, so that a negative, fractional or quoted number gets a 422 that
/// names its field (serde's message names only the type).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuotas {
    #[serde(default)]
    publishes_per_second: serde_json::Value,
    #[serde(default)]
    max_connections: serde_json::Value,
    #[serde(default)]
    max_stored_notifications: serde_json::Value,
    #[serde(default)]
    emails_per_day: serde_json::Value,
    #[serde(default)]
    max_plugins: serde_json::Value,
    #[serde(default)]
    max_plugin_versions: serde_json::Value,
    #[serde(default)]
    max_plugin_bytes: serde_json::Value,
    #[serde(default)]
    plugin_uploads_per_minute: serde_json::Value,
}

/// `null` (unlimited) or a whole number from 1 to `max`.
fn bounded<T: TryFrom<u64>>(field: &'static str, v: &serde_json::Value, max: u64) -> ApiResult<Option<T>> {
    let invalid = || DomainError::invalid(field, format!("must be a whole number from 1 to {max}, or null for unlimited (got {v})"));
    match v {
        serde_json::Value::Null => Ok(None),
        v => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => T::try_from(n).map(Some).map_err(|_| invalid().into()),
            _ => Err(invalid().into()),
        },
    }
}

impl RawQuotas {
    fn validate(&self) -> ApiResult<Quotas> {
        Ok(Quotas {
            publishes_per_second: bounded("publishes_per_second", &self.publishes_per_second, MAX_PUBLISHES_PER_SECOND.into())?,
            max_connections: bounded("max_connections", &self.max_connections, MAX_CONNECTIONS.into())?,
            max_stored_notifications: bounded("max_stored_notifications", &self.max_stored_notifications, MAX_STORED_NOTIFICATIONS)?,
            emails_per_day: bounded("emails_per_day", &self.emails_per_day, MAX_EMAILS_PER_DAY.into())?,
            max_plugins: bounded("max_plugins", &self.max_plugins, MAX_PLUGINS.into())?,
            max_plugin_versions: bounded("max_plugin_versions", &self.max_plugin_versions, MAX_PLUGIN_VERSIONS.into())?,
            max_plugin_bytes: bounded("max_plugin_bytes", &self.max_plugin_bytes, MAX_PLUGIN_BYTES)?,
            plugin_uploads_per_minute: bounded(
                "plugin_uploads_per_minute",
                &self.plugin_uploads_per_minute,
                MAX_PLUGIN_UPLOADS_PER_MINUTE.into(),
            )?,
        })
    }
}

/// The tenant's quotas.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The quotas; null is unlimited", body = QuotasBody),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/quotas")]
pub(crate) async fn get_quotas(TenantAdmin(tenant): TenantAdmin, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    // From the database, not this node's cache: what was last set.
    let quotas = app.quotas(&tenant).await?;
    Ok(HttpResponse::Ok().json(QuotasBody::from(quotas)))
}

/// Replace the tenant's quotas (operator only).
///
/// Takes effect on this node at once and on other nodes within
/// `key_cache_seconds`. The publish rate and connection quotas are
/// enforced by each node on its own traffic. Over a quota, requests get
/// `429` with `type: urn:herald:problem:quota-exceeded` and `Retry-After`.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = QuotasBody,
    responses(
        (status = 200, description = "The new quotas", body = QuotasBody),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator key (a tenant's admin key may only read quotas)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value out of range, of the wrong type, or an unknown field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[put("/v1/tenants/{tenant}/quotas")]
pub(crate) async fn put_quotas(
    _: Operator,
    req: HttpRequest,
    app: web::Data<AppState>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<HttpResponse> {
    let tenant = path_tenant(&req)?;
    // Read as an object first: serde's derived structs would also take an
    // array of the four values, which the documented schema does not allow.
    let raw: RawQuotas = serde_json::from_value(serde_json::Value::Object(body.into_inner()))
        .map_err(|e| herald_core::DomainError::invalid("body", e.to_string()))?;
    let quotas = raw.validate()?;
    app.set_quotas(&tenant, &quotas).await?;
    tracing::info!(tenant = %tenant, ?quotas, "tenant quotas set");
    Ok(HttpResponse::Ok().json(QuotasBody::from(quotas)))
}
