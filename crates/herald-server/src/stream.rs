//! The SSE stream's HTTP side: the query, `Last-Event-ID`, the token, and
//! the response headers. The feed itself (replay, then live, with no gap
//! and no duplicate) is the application layer's
//! (`herald_app::delivery::feed`), through the delivery sink every
//! transport uses.

use std::convert::Infallible;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_web_lab::extract::Query;
use bytes::Bytes;
use futures_util::StreamExt;
use herald_app::delivery::FeedRequest;
use herald_core::cursor::NotAnId;
use herald_core::ids::Seq;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::subscriber_auth::authenticate;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Channel or pattern to receive (`orders`, `user.42.*`, `user.42.>`);
    /// repeat for several. Each must be covered by the token's `herald.subscribe`.
    #[serde(default)]
    #[param(required = true)]
    pub channel: Vec<String>,
    /// Resume after this id (same as the `Last-Event-ID` header, which wins).
    pub last_event_id: Option<String>,
    /// The subscriber token, for clients that cannot set headers (EventSource).
    pub access_token: Option<String>,
    /// `message`: send notifications without an `event:` line, so that a
    /// browser's `EventSource` hands every one to `onmessage` (the type is
    /// in the data). By default the event name is the notification's type.
    #[param(inline)]
    pub events: Option<EventNames>,
}

/// `history-truncated`'s data: the resume point is older than the retained
/// history; what remains follows.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "HistoryTruncated")]
pub(crate) struct HistoryTruncated {
    /// The resume id the client asked for; retention already removed
    /// notifications after it that this stream would have delivered.
    #[schema(examples(1))]
    pub last_event_id: i64,
}

/// How notification events are named on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EventNames {
    /// `event:` is the notification's type (the default).
    Type,
    /// No `event:` line: every notification is a `message` event.
    Message,
}

fn last_event_id(req: &HttpRequest, query: Option<String>) -> ApiResult<Option<Seq>> {
    let raw = match req.headers().get("last-event-id") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::BadRequest("Last-Event-ID is not valid text".into()))?.to_owned()),
        None => query,
    };
    let Some(raw) = raw else { return Ok(None) };
    herald_core::cursor::resume_id(&raw).map_err(|NotAnId(s)| ApiError::BadRequest(format!("Last-Event-ID `{s}` is not a notification id")))
}

/// Subscribe to notifications over Server-Sent Events.
///
/// Events: `id:` the notification id, `event:` its type, `data:` JSON
/// `{id, channel, type, data, created_at}`. Herald's own events:
/// `history-truncated` (the resume point is older than retained history;
/// what remains follows) and `token-expired` (sent at the token's `exp`,
/// then the stream closes). A `: keep-alive` comment is sent periodically.
#[utoipa::path(
    tag = "stream",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this notification id"),
    ),
    responses(
        (status = 200, description = "An event stream", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Malformed query or Last-Event-ID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, expired, badly signed or wrongly keyed token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A channel outside the token's scope (`scope-denied`), or the tenant is suspended (`tenant-suspended`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Malformed tenant id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or missing channel", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant's `max_connections` quota is reached on this node (`quota-exceeded`), or this client address holds `limits.max_connections_per_ip` (`too-many-connections`); no event was sent; see `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ),
    security(("subscriber_token" = []), ("subscriber_token_query" = []))
)]
#[get("/v1/tenants/{tenant}/stream")]
pub(crate) async fn stream(req: HttpRequest, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    crate::auth::path_tenant(&req)?;
    let q = Query::<StreamQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?
        .into_inner();
    let (tenant, subscriber) = authenticate(&req, &app, q.access_token).await?;
    let who = app.authorize_subscriber(tenant, subscriber, q.channel).await?;
    let resume = last_event_id(&req, q.last_event_id)?;
    let feed = app
        .open_feed(FeedRequest {
            who,
            resume,
            plain: q.events == Some(EventNames::Message),
            peer: crate::client_addr::client_ip(&req),
            request_id: crate::request_id::RequestId::of(&req).map(|id| id.shared()),
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // No compression middleware may hold events back to fill a block.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        // Tell nginx-style proxies not to buffer the stream.
        .insert_header((header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")))
        .streaming(feed.map(Ok::<Bytes, Infallible>)))
}
