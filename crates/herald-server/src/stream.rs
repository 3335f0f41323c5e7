//! The SSE stream: authorize, replay history after `Last-Event-ID`, then go
//! live, with no gap and no duplicate.
//!
//! The hand-over works because the hub is fed after commit, in commit order:
//! 1. page through history after the client's id until caught up;
//! 2. subscribe to the hub;
//! 3. read history once more (whatever committed before step 2 is now
//!    visible to a new query; whatever commits after it reaches the hub);
//! 4. stream live events, skipping any id at or below the last one sent.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Responder, get, web};
use actix_web_lab::extract::Query;
use actix_web_lab::sse::{Data, Event, Sse};
use herald_core::ids::{Seq, TenantId};
use herald_core::names::UserId;
use herald_core::notification::Notification;
use herald_core::pattern::ChannelPattern;
use herald_core::token::{TokenError, read_kid, verify};
use herald_core::{DomainError, limits};
use herald_hub::{Delivery, Hub, Subscription};
use herald_store::Store;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{bearer, path_tenant};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// Cookie that may carry the subscriber token (for same-site browsers).
pub(crate) const TOKEN_COOKIE: &str = "herald_token";

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
}

fn subscriber_token(req: &HttpRequest, query_token: Option<String>) -> ApiResult<String> {
    if let Some(t) = bearer(req)? {
        return Ok(t);
    }
    if let Some(t) = query_token {
        return Ok(t);
    }
    if let Some(c) = req.cookie(TOKEN_COOKIE) {
        return Ok(c.value().to_owned());
    }
    Err(DomainError::Token(TokenError::Missing).into())
}

fn last_event_id(req: &HttpRequest, query: Option<String>) -> ApiResult<Option<Seq>> {
    let raw = match req.headers().get("last-event-id") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::BadRequest("Last-Event-ID is not valid text".into()))?.to_owned()),
        None => query,
    };
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => match s.parse::<Seq>() {
            Ok(id) if id >= 0 => Ok(Some(id)),
            _ => Err(ApiError::BadRequest(format!("Last-Event-ID `{s}` is not a notification id"))),
        },
    }
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
        (status = 403, description = "A channel outside the token's scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Malformed tenant id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or missing channel", body = Problem, content_type = "application/problem+json"),
    ),
    security(("subscriber_token" = []), ("subscriber_token_query" = []))
)]
#[get("/v1/tenants/{tenant}/stream")]
pub(crate) async fn stream(req: HttpRequest, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let tenant = path_tenant(&req)?;
    let q = Query::<StreamQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?
        .into_inner();

    let token = subscriber_token(&req, q.access_token)?;
    let kid = read_kid(&token).map_err(DomainError::from)?;
    let key = app.store.verifying_key(&tenant, &kid).await?.ok_or_else(|| DomainError::from(TokenError::UnknownKey(kid)))?;
    let now = chrono::Utc::now().timestamp();
    let subscriber = verify(&token, &key, now).map_err(DomainError::from)?;

    if q.channel.is_empty() {
        return Err(DomainError::invalid("channel", "name at least one `channel` to receive").into());
    }
    if q.channel.len() > limits::MAX_PATTERNS {
        return Err(DomainError::invalid("channel", format!("at most {} channels per stream", limits::MAX_PATTERNS)).into());
    }
    let patterns = q.channel.into_iter().map(ChannelPattern::parse).collect::<Result<Vec<_>, _>>()?;
    subscriber.authorize(&patterns)?;

    let resume = last_event_id(&req, q.last_event_id)?;
    let mut pending = VecDeque::new();
    if let Some(after) = resume
        && app.store.history_truncated_after(&tenant, &patterns, after).await?
    {
        pending.push_back(Event::Data(Data::new(format!(r#"{{"last_event_id":{after}}}"#)).event("history-truncated")));
    }

    let ttl = Duration::from_secs(subscriber.expires_at.saturating_sub(now).max(0) as u64);
    let feed = Feed {
        store: app.store.clone(),
        hub: app.hub.clone(),
        tenant,
        user: subscriber.user,
        patterns,
        cursor: resume.unwrap_or(0),
        phase: if resume.is_some() { Phase::History } else { Phase::Subscribe },
        sub: None,
        pending,
        expires: Box::pin(tokio::time::sleep(ttl)),
        exp: subscriber.expires_at,
        page: app.stream.replay_page,
        finished: false,
    };
    let events =
        futures_util::stream::unfold(feed, |mut feed| async move { feed.next_event().await.map(|e| (Ok::<_, Infallible>(e), feed)) });
    let sse = Sse::from_stream(events).with_retry_duration(app.stream.retry).with_keep_alive(app.stream.heartbeat);
    let mut res = sse.respond_to(&req).map_into_boxed_body();
    // Tell nginx-style proxies not to buffer the stream.
    res.headers_mut().insert(header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    Ok(res)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Replaying history; once caught up, subscribe and catch up again.
    History,
    /// Subscribe, then live (a fresh stream without a resume id).
    Subscribe,
    Live,
}

/// One stream's state machine.
struct Feed {
    store: Store,
    hub: Hub,
    tenant: TenantId,
    user: UserId,
    patterns: Vec<ChannelPattern>,
    /// Highest id sent (or scanned past) so far.
    cursor: Seq,
    phase: Phase,
    sub: Option<Subscription>,
    pending: VecDeque<Event>,
    /// Fires at the token's `exp`; one timer for the stream's life.
    expires: std::pin::Pin<Box<tokio::time::Sleep>>,
    exp: i64,
    page: u64,
    finished: bool,
}

fn history_event(n: &Notification) -> Event {
    Event::Data(Data::new(n.wire_json()).id(n.id.to_string()).event(n.event_type.as_str().to_owned()))
}

fn live_event(d: &Delivery) -> Event {
    Event::Data(Data::new(d.json.clone()).id(d.id.to_string()).event(d.event_type.clone()))
}

impl Feed {
    fn expired_event(&mut self) -> Event {
        self.finished = true;
        Event::Data(Data::new(format!(r#"{{"exp":{}}}"#, self.exp)).event("token-expired"))
    }

    fn subscribe(&mut self) {
        self.sub = Some(self.hub.subscribe(&self.tenant, self.user.clone(), self.patterns.clone()));
    }

    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.finished {
                return None;
            }
            if self.expires.is_elapsed() {
                return Some(self.expired_event());
            }
            match self.phase {
                Phase::Subscribe => {
                    self.subscribe();
                    self.phase = Phase::Live;
                }
                Phase::History => {
                    // Boxed: an idle stream's state machine should not be as
                    // large as a database query in flight.
                    let query = Box::pin(self.store.replay(&self.tenant, &self.patterns, Some(&self.user), self.cursor, self.page));
                    let page = match query.await {
                        Ok(page) => page,
                        Err(e) => {
                            // End the stream; the client resumes from its last id.
                            tracing::warn!(tenant = %self.tenant, error = %e, "history replay failed; closing stream");
                            return None;
                        }
                    };
                    self.pending.extend(page.items.iter().map(history_event));
                    self.cursor = page.next_after;
                    if page.done {
                        if self.sub.is_none() {
                            self.subscribe();
                        } else {
                            self.phase = Phase::Live;
                        }
                    }
                }
                Phase::Live => {
                    let sub = self.sub.as_mut().expect("subscribed before going live");
                    tokio::select! {
                        d = sub.rx.recv() => match d {
                            Some(d) if d.id > self.cursor => {
                                self.cursor = d.id;
                                return Some(live_event(&d));
                            }
                            Some(_) => {}
                            // Dropped by the hub (slow reader, tenant deleted): end
                            // the stream so the client resumes from history.
                            None => return None,
                        },
                        _ = &mut self.expires => return Some(self.expired_event()),
                    }
                }
            }
        }
    }
}
