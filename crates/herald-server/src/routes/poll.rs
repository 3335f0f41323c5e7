//! Polling and long-polling: the same notifications as the stream (same
//! token, scopes, deliver hooks and ids), as JSON pages, for clients that
//! cannot hold a stream open.
//!
//! A long-poll checks history, subscribes to the hub, checks again (what
//! committed in between is now visible to the query; what commits after it
//! wakes the subscription), then waits for the first notification or the
//! end of `wait`. It answers from the database either way, so order,
//! deliver hooks and read flags are those of a plain poll.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_web_lab::extract::Query;
use herald_core::DomainError;
use herald_core::ids::Seq;
use herald_core::notification::Notification;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use crate::delivery_tracking::LivePath;
use crate::plugin_chain::{Delivered, Who};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::subscriber_auth::{authenticate, channels};
use crate::usage::Transport;

/// Rows scanned past (matching or not) before a poll answers anyway, so a
/// sparse match over a long history cannot hold a request for long.
const SCAN_ROWS: u64 = 5_000;

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
    crate::auth::refuse_suspended(&app, &tenant).await?;
    let patterns = channels(&subscriber, q.channel)?;
    let limit = q.limit.unwrap_or(100.min(app.poll.max_limit));
    if !(1..=app.poll.max_limit).contains(&limit) {
        return Err(DomainError::invalid("limit", format!("must be 1 to {}", app.poll.max_limit)).into());
    }
    let wait = Duration::from_secs(q.wait.unwrap_or(0));
    if wait > app.poll.max_wait {
        return Err(DomainError::invalid("wait", format!("at most {} seconds", app.poll.max_wait.as_secs())).into());
    }
    let after = q
        .after
        .as_deref()
        .map(|raw| {
            herald_core::cursor::poll_after(raw)
                .ok_or_else(|| DomainError::invalid("after", "must be a notification id (0 or more, in plain digits)"))
        })
        .transpose()?;
    let truncated = match after {
        Some(after) => app.store.history_truncated_after(&tenant, &patterns, after).await?,
        None => false,
    };
    let mut after = match after {
        Some(after) => after,
        None => app.store.head(&tenant).await?,
    };
    let mut deadline = tokio::time::Instant::now() + wait;
    let plan = app.chains.deliver_plan(&tenant).await?;
    let who = Who { user: subscriber.user.clone(), claims: subscriber.claims_json.clone() };
    let mut sub = None;
    // Held while waiting: a waiting long-poll counts as a connection.
    let mut conn = None;
    let mut scanned = 0;
    loop {
        let page = app.store.replay(&tenant, &patterns, Some(&subscriber.user), after, limit).await?;
        scanned += limit;
        after = page.next_after;
        let mut items = Vec::with_capacity(page.items.len());
        for n in page.items {
            match app.chains.on_deliver(&plan, &n, &who) {
                Delivered::Unchanged => items.push(n),
                Delivered::Replaced(changed) => items.push(changed),
                Delivered::Skip => {}
            }
        }
        let out_of_time = tokio::time::Instant::now() >= deadline;
        if !items.is_empty() || out_of_time || (!page.done && scanned >= SCAN_ROWS) {
            let ids: Vec<Seq> = items.iter().map(|n| n.id).collect();
            let read = app.store.read_among(&tenant, &subscriber.user, &ids).await?;
            // Handed out on a live path: an email pending for it is not needed.
            for n in &items {
                app.email.tracker.delivered(n, &subscriber.user, LivePath::Poll);
            }
            app.usage.delivered(&tenant, items.len());
            let items = items.into_iter().map(|n| polled(n, &read)).collect();
            return Ok(HttpResponse::Ok().json(PollPage { items, next: after, more: !page.done, truncated }));
        }
        if !page.done {
            continue;
        }
        // Caught up with nothing to give: subscribe, look once more, then wait.
        let Some(live) = sub.as_mut() else {
            if conn.is_none() {
                conn =
                    Some(app.usage.connect(&tenant, Transport::LongPoll, patterns.clone().into(), req.peer_addr().map(|a| a.ip())).await?);
            }
            sub = Some(app.hub.subscribe(&tenant, subscriber.user.clone(), patterns.clone(), subscriber.expires_at));
            continue;
        };
        tokio::select! {
            frame = live.rx.recv() => match frame {
                // Whatever else is queued is read by the next query.
                Some(_) => while live.rx.try_recv().is_ok() {},
                // The hub dropped the subscription (it fell behind, the
                // token expired, the tenant is gone): look once more and answer.
                None => deadline = tokio::time::Instant::now(),
            },
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn polled(n: Notification, read: &std::collections::HashSet<Seq>) -> PolledNotification {
    PolledNotification {
        id: n.id,
        channel: n.channel.to_string(),
        event_type: n.event_type.to_string(),
        created_at: n.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        read: read.contains(&n.id),
        data: n.data,
    }
}
