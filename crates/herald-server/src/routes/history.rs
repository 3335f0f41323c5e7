//! History browsing for admins: a channel's stored notifications, newest
//! first, with filters. Subscribers read history through the stream's
//! replay and the poll route instead, which apply their token's scope.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use herald_app::records::HistoryFilter;
use herald_core::ids::Seq;
use herald_core::names::{ChannelName, EventType, UserId};
use herald_core::notification::Notification;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use crate::auth::TenantAdmin;
use crate::pagination::{DEFAULT_LIMIT, Page};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Only notifications of this type.
    #[serde(rename = "type")]
    #[param(rename = "type", example = "order.shipped")]
    pub event_type: Option<String>,
    /// Only notifications this user receives: those addressed to them and
    /// those to everyone on the channel.
    #[param(example = "42")]
    pub recipient: Option<String>,
    /// Only notifications created at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only notifications created before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Page size, 1 to 1000 (default 100). A page can hold fewer items
    /// than this and still have a `next` when the `recipient` filter
    /// skipped some.
    #[serde(default, deserialize_with = "crate::pagination::page_limit")]
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u64>,
    /// The `next` cursor of the previous page.
    #[param(example = "42")]
    pub after: Option<String>,
}

/// A stored notification, as an admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryItem {
    #[schema(example = 42)]
    pub id: Seq,
    #[schema(example = "orders")]
    pub channel: String,
    #[serde(rename = "type")]
    #[schema(example = "order.shipped")]
    pub event_type: String,
    /// The publisher's JSON, verbatim (any JSON value).
    #[schema(value_type = serde_json::Value, example = json!({"order": 1234}))]
    pub data: Box<RawValue>,
    /// The users it is addressed to; null when it is for everyone on the
    /// channel.
    #[schema(example = json!(["42"]))]
    pub recipients: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
}

impl From<Notification> for HistoryItem {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            channel: n.channel.to_string(),
            event_type: n.event_type.to_string(),
            data: n.data,
            recipients: n.recipients.map(|r| r.into_iter().map(|u| u.to_string()).collect()),
            created_at: n.created_at,
        }
    }
}

/// The `after` cursor: an id from a previous page's `next`.
fn cursor(raw: &str) -> ApiResult<Seq> {
    herald_core::cursor::history_after(raw)
        .ok_or_else(|| herald_core::DomainError::invalid("after", format!("`{raw}` is not a cursor from a previous page")).into())
}

/// Browse a channel's history, newest first.
///
/// Every notification the channel still retains, including those addressed
/// to particular users, with the recipients. Page with `after` = the
/// previous page's `next`; the order is by id, so pages neither skip nor
/// repeat notifications published while you page.
#[utoipa::path(
    tag = "channels",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("channel" = String, Path, description = "Channel name"),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "A page of the channel's notifications", body = Page<HistoryItem>),
        (status = 400, description = "Malformed query string (a `limit` out of range, a time not in RFC 3339)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or channel", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid type, recipient or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/channels/{channel}/notifications")]
pub(crate) async fn channel_history(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<HistoryQuery>,
) -> ApiResult<HttpResponse> {
    let (_, raw_channel) = path.into_inner();
    let channel = ChannelName::parse(raw_channel.as_str()).map_err(|_| ApiError::NotFound(format!("channel `{raw_channel}` not found")))?;
    let q = q.into_inner();
    let filter = HistoryFilter {
        event_type: q.event_type.map(EventType::parse).transpose()?,
        recipient: q.recipient.map(UserId::parse).transpose()?,
        since: q.since,
        until: q.until,
    };
    let before = q.after.as_deref().map(cursor).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    // A channel that was never created has no history: say so, rather than
    // an empty page that looks like a typo'd name with nothing in it.
    app.get_channel(&tenant, &channel).await?;
    let page = app.history(&tenant, &channel, &filter, before, limit).await?;
    let items: Vec<HistoryItem> = page.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page { items, next: page.next_before.map(|s| s.to_string()) }))
}
