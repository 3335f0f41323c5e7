//! Polling and long-polling, the HTTP side: the query and the JSON page.
//! The poll itself (the same notifications as the stream: same token,
//! scopes, deliver hooks and ids; a long-poll's subscribe-then-look-again
//! hand-over) is the application layer's (`herald_app::delivery::poll`).

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_web_lab::extract::Query;
use herald_app::delivery::PollRequest;
use herald_core::ids::Seq;
use herald_core::notification::Notification;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::subscriber_auth::authenticate;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PollQuery {
    /// Channel or pattern to receive; repeat for several. Each must be
    /// covered by the token's `herald.subscribe`.
    #[serde(default)]
    #[param(required = true)]
    pub channel: Vec<String>,
    /// Return notifications after this id (`next` of the previous page; `0`
    /// for all retained history). Without it the poll starts now: no items,
    /// and `next` is the current position. Plain digits, as Herald writes ids.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Page size, 1 to `poll.max_limit` (default 100).
    pub limit: Option<u64>,
    /// Seconds to wait for a notification when there is none yet, up to
    /// `poll.max_wait_seconds` (default 0: answer at once).
    pub wait: Option<u64>,
    /// The subscriber token, for clients that cannot set headers.
    pub access_token: Option<String>,
}

/// One notification, as on the stream, plus the caller's read state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolledNotification {
    #[schema(example = 42)]
    pub id: Seq,
    #[schema(example = "orders")]
    pub channel: String,
    #[serde(rename = "type")]
    #[schema(example = "order.shipped")]
    pub event_type: String,
    #[schema(value_type = serde_json::Value)]
    pub data: Box<RawValue>,
    /// RFC 3339 with microseconds, as on the stream.
    pub created_at: String,
    /// Marked read by this user (`POST …/notifications/read`).
    pub read: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PollPage {
    /// In id order.
    pub items: Vec<PolledNotification>,
    /// Pass as `after` on the next call. Always present: it moves past
    /// notifications this caller may not see, too.
    #[schema(example = 42)]
    pub next: Seq,
    /// More is waiting: call again at once (without `wait`).
    pub more: bool,
    /// Retention already removed notifications after `after` that this
    /// caller would have received; what remains follows.
    pub truncated: bool,
}

/// Poll for notifications, or long-poll with `wait`.
#[utoipa::path(
    tag = "stream",
    params(("tenant" = String, Path, description = "Tenant id"), PollQuery),
    responses(
        (status = 200, description = "A page of notifications (empty when `wait` ran out)", body = PollPage),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, expired, badly signed or wrongly keyed token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A channel outside the token's scope (`scope-denied`), or the tenant is suspended (`tenant-suspended`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Malformed tenant id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or missing channel, `limit` or `wait` out of range", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "A long-poll that would wait while the tenant's `max_connections` quota is reached on this node (`quota-exceeded`) or this client address holds `limits.max_connections_per_ip` (`too-many-connections`); see `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ),
    security(("subscriber_token" = []), ("subscriber_token_query" = []))
)]
#[get("/v1/tenants/{tenant}/notifications")]
pub(crate) async fn poll(req: HttpRequest, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    crate::auth::path_tenant(&req)?;
    let q = Query::<PollQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?
        .into_inner();
    let (tenant, subscriber) = authenticate(&req, &app, q.access_token).await?;
    let who = app.authorize_subscriber(tenant, subscriber, q.channel).await?;
    let answer = app
        .poll(PollRequest {
            who,
            after: q.after,
            limit: q.limit,
            wait: Duration::from_secs(q.wait.unwrap_or(0)),
            peer: crate::client_addr::client_ip(&req),
        })
        .await?;
    let items = answer.items.into_iter().map(|(n, read)| polled(n, read)).collect();
    Ok(HttpResponse::Ok().json(PollPage { items, next: answer.next, more: answer.more, truncated: answer.truncated }))
}

fn polled(n: Notification, read: bool) -> PolledNotification {
    PolledNotification {
        id: n.id,
        channel: n.channel.to_string(),
        event_type: n.event_type.to_string(),
        created_at: n.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        read,
        data: n.data,
    }
}
