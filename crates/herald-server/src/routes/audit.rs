//! The audit log: who changed what, for the operator (every tenant,
//! deleted ones included) and for a tenant's admins (their tenant only).
//! Events are written by the middleware in `crate::audit`.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use herald_app::records::{AuditActor, AuditEvent, AuditEventId, AuditFilter};
use herald_core::DomainError;
use herald_core::ids::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Operator, TenantAdmin};
use crate::pagination::{ListQuery, Page};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// Longest `action` filter: route names are short.
const MAX_ACTION: usize = 64;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TenantAuditQuery {
    /// Only events of this action (a route name, e.g. `create_channel`).
    #[param(example = "create_channel")]
    pub action: Option<String>,
    /// Only events at or after this time (RFC 3339; percent-encode a `+`
    /// offset as `%2B`).
    #[param(example = "2026-11-28T09:00:00Z")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(example = "2026-11-29T09:00:00Z")]
    pub until: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "crate::pagination::page_limit")]
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u64>,
    /// The `next` cursor of the previous page.
    #[param(example = "aud_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only events concerning this tenant; it may have been deleted.
    #[param(example = "ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub tenant: Option<String>,
    /// Only events of this action (a route name, e.g. `delete_tenant`).
    #[param(example = "delete_tenant")]
    pub action: Option<String>,
    /// Only events at or after this time (RFC 3339; percent-encode a `+`
    /// offset as `%2B`).
    #[param(example = "2026-11-28T09:00:00Z")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(example = "2026-11-29T09:00:00Z")]
    pub until: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "crate::pagination::page_limit")]
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u64>,
    /// The `next` cursor of the previous page.
    #[param(example = "aud_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub after: Option<String>,
}

/// Which kind of credential made the change.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ActorKind {
    Operator,
    ApiKey,
}

/// Who made a change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActorView {
    #[schema(example = "api_key")]
    pub kind: ActorKind,
    /// The key's id: an API key's, or a stored operator key's (`op_…`);
    /// null for the operator key configured in the environment and for
    /// `herald operator-key` run on the database.
    #[schema(example = "key_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub key_id: Option<String>,
}

/// One successful admin change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEventView {
    #[schema(example = "aud_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    /// When the change was made (UTC, microseconds).
    #[schema(example = "2026-11-28T09:41:07.123456Z")]
    pub at: DateTime<Utc>,
    /// The tenant it concerns; null when it concerns none.
    #[schema(example = "ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub tenant: Option<String>,
    pub actor: ActorView,
    /// The route's name.
    #[schema(example = "create_channel")]
    pub action: String,
    #[schema(example = "POST")]
    pub method: String,
    /// The request path, without the query string.
    #[schema(example = "/v1/tenants/ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b/channels")]
    pub path: String,
    /// The response's status.
    #[schema(example = 201)]
    pub status: u16,
    /// The client's address: the TCP peer's, or, when the peer is one of
    /// `trusted_proxies`, the one its `Forwarded` or `X-Forwarded-For`
    /// header names (forwarding headers from anyone else are ignored).
    #[schema(example = "203.0.113.7")]
    pub remote_addr: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        let actor = match &e.actor {
            AuditActor::Operator(id) => ActorView { kind: ActorKind::Operator, key_id: id.as_ref().map(|id| id.to_string()) },
            AuditActor::ApiKey(id) => ActorView { kind: ActorKind::ApiKey, key_id: Some(id.to_string()) },
        };
        Self {
            id: e.id.to_string(),
            at: e.at,
            tenant: e.tenant.map(|t| t.to_string()),
            actor,
            action: e.action,
            method: e.method,
            path: e.path,
            status: e.status,
            remote_addr: e.remote_addr.map(|a| a.to_string()),
        }
    }
}

/// An RFC 3339 time from the query string. A `+` offset that was not
/// percent-encoded arrives as a space; it is read as the `+` it was.
fn time(field: &str, raw: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .or_else(|e| DateTime::parse_from_rfc3339(&raw.replace(' ', "+")).map_err(|_| e))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "`{field}` must be an RFC 3339 time such as `2026-11-28T09:00:00Z` (percent-encode a `+` offset as `%2B`), not `{raw}`: {e}"
            ))
        })
}

fn filter<'a>(action: Option<&'a str>, since: Option<&str>, until: Option<&str>) -> ApiResult<AuditFilter<'a>> {
    if let Some(a) = action
        && (a.is_empty() || a.len() > MAX_ACTION || !a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
    {
        return Err(DomainError::invalid("action", format!("an action is a route name such as `create_channel`, not `{a}`")).into());
    }
    let since = since.map(|s| time("since", s)).transpose()?;
    let until = until.map(|u| time("until", u)).transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(DomainError::invalid("until", "must be later than `since`").into());
    }
    Ok(AuditFilter { action, since, until })
}

fn cursor(raw: Option<&str>) -> ApiResult<Option<AuditEventId>> {
    raw.map(|a| AuditEventId::parse(a).map_err(|_| DomainError::invalid("after", format!("`{a}` is not a cursor from a previous page"))))
        .transpose()
        .map_err(Into::into)
}

fn page(events: Vec<AuditEvent>, limit: u64) -> Page<AuditEventView> {
    Page::new(events.into_iter().map(Into::into).collect(), limit, |e: &AuditEventView| e.id.clone())
}

/// List the tenant's audit log, newest first.
///
/// One event per successful change made through the admin API to this
/// tenant (channels, keys, signing keys, plugins, recipients, allowed
/// origins, the tenant itself), by the operator or by one of the tenant's
/// `admin` keys. Publishing, subscriber requests, reads and failed requests
/// are not recorded. Events never hold request or response bodies.
#[utoipa::path(
    tag = "audit",
    params(("tenant" = String, Path, description = "Tenant id"), TenantAuditQuery),
    responses(
        (status = 200, description = "A page of the tenant's audit log", body = Page<AuditEventView>),
        (status = 400, description = "Malformed query string (a `limit` out of range, a time not in RFC 3339)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant (for a deleted one, the operator uses `GET /v1/audit-log?tenant=`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid action or cursor, or `until` not after `since`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/audit-log")]
pub(crate) async fn list_tenant_audit_log(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    q: web::Query<TenantAuditQuery>,
) -> ApiResult<HttpResponse> {
    let filter = filter(q.action.as_deref(), q.since.as_deref(), q.until.as_deref())?;
    let after = cursor(q.after.as_deref())?;
    let limit = ListQuery { limit: q.limit, after: None }.limit();
    let events = app.list_tenant_audit_events(&tenant, filter, after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(page(events, limit)))
}

/// List the audit log of every tenant, newest first.
///
/// Every successful admin change, including those to tenants since
/// deleted (deleting a tenant keeps its events) and the creation of
/// tenants. Filter by `tenant` to see one tenant's, deleted or not.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of the audit log", body = Page<AuditEventView>),
        (status = 400, description = "Malformed query string (a `limit` out of range, a time not in RFC 3339)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid tenant id, action or cursor, or `until` not after `since`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[get("/v1/audit-log")]
pub(crate) async fn list_audit_log(_: Operator, app: web::Data<AppState>, q: web::Query<AuditQuery>) -> ApiResult<HttpResponse> {
    let tenant = q.tenant.as_deref().map(TenantId::parse).transpose()?;
    let filter = filter(q.action.as_deref(), q.since.as_deref(), q.until.as_deref())?;
    let after = cursor(q.after.as_deref())?;
    let limit = ListQuery { limit: q.limit, after: None }.limit();
    let events = app.list_audit_events(tenant.as_ref(), filter, after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(page(events, limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_and_a_decoded_plus_is_forgiven() {
        let want = DateTime::parse_from_rfc3339("2026-11-28T08:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(time("since", "2026-11-28T08:00:00Z").unwrap(), want);
        assert_eq!(time("since", "2026-11-28T09:00:00+01:00").unwrap(), want);
        assert_eq!(time("since", "2026-11-28T09:00:00 01:00").unwrap(), want);
        for bad in ["", "yesterday", "2026-11-28", "1764316800"] {
            assert!(matches!(time("since", bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn filters_are_checked() {
        assert!(filter(Some("create_channel"), None, None).is_ok());
        for bad in ["", "Create", "a b", "x'--", &"a".repeat(65)] {
            assert!(filter(Some(bad), None, None).is_err(), "{bad}");
        }
        assert!(filter(None, Some("2026-11-28T09:00:00Z"), Some("2026-11-28T10:00:00Z")).is_ok());
        assert!(filter(None, Some("2026-11-28T10:00:00Z"), Some("2026-11-28T10:00:00Z")).is_err());
        assert!(cursor(Some("ten_abc")).is_err());
        assert!(cursor(Some("aud_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")).unwrap().is_some());
    }
}
