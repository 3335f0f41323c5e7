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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_web_lab::extract::Query;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use futures_util::future::BoxFuture;
use herald_core::cursor::NotAnId;
use herald_core::ids::{Seq, TenantId};
use herald_core::names::UserId;
use herald_core::notification::Notification;
use herald_core::pattern::ChannelPattern;
use herald_hub::frame::without_event_line;
use herald_hub::{Frame, Hub, Subscription};
use herald_store::notifications::ReplayPage;
use herald_store::{Store, StoreError};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::delivery_tracking::{LivePath, Tracker};
use crate::plugin_chain::{Chains, DeliverPlan, Delivered, Who};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::subscriber_auth::{authenticate, channels};
use crate::usage::{Connection, Transport};

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
    crate::auth::refuse_suspended(&app, &tenant).await?;
    let patterns: Arc<[ChannelPattern]> = channels(&subscriber, q.channel)?.into();
    let resume = last_event_id(&req, q.last_event_id)?;
    // Refused before any event is sent: a 429, not a stream that ends at once.
    let conn = app.usage.connect(&tenant, Transport::Sse, patterns.clone(), req.peer_addr().map(|a| a.ip())).await?;

    let mut pending = VecDeque::new();
    pending.push_back(Frame::retry(app.stream.retry.as_millis()).bytes);
    if let Some(after) = resume
        && app.store.history_truncated_after(&tenant, &patterns, after).await?
    {
        let data = serde_json::to_string(&HistoryTruncated { last_event_id: after }).expect("an integer serializes");
        pending.push_back(Frame::control("history-truncated", &data, false).bytes);
    }

    // Deliver hooks run for every delivery, live and replayed.
    let generation = app.chains.generation();
    let plan = app.chains.deliver_plan(&tenant).await?;
    let who = Who { user: subscriber.user.clone(), claims: subscriber.claims_json };
    let feed = Feed {
        chains: app.chains.clone(),
        plan,
        plan_at: Instant::now(),
        generation,
        who,
        store: app.store.clone(),
        hub: app.hub.clone(),
        tenant,
        user: subscriber.user,
        patterns,
        cursor: resume.unwrap_or(0),
        phase: if resume.is_some() { Phase::History } else { Phase::Subscribe },
        sub: None,
        replay: None,
        pending,
        exp: subscriber.expires_at,
        page: app.stream.replay_page,
        plain: q.events == Some(EventNames::Message),
        tracker: app.email.tracker.clone(),
        conn,
        replayed: app.metrics.replayed(),
        request_id: crate::request_id::RequestId::of(&req),
        finished: false,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // No compression middleware may hold events back to fill a block.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        // Tell nginx-style proxies not to buffer the stream.
        .insert_header((header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")))
        .streaming(feed))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Replaying history; once caught up, subscribe and catch up again.
    History,
    /// Subscribe, then live (a fresh stream without a resume id).
    Subscribe,
    Live,
}

/// One stream's state machine, polled by the HTTP layer as the response
/// body. It holds no timer: heartbeats and token expiry come from the hub's
/// clock once the stream is live. Hand-written rather than an `async` block
/// so that each event costs a queue pop, not a move of the whole state.
struct Feed {
    chains: Chains,
    /// The tenant's deliver hooks; refreshed from the cache as it ages.
    plan: Arc<DeliverPlan>,
    plan_at: Instant,
    /// The [`Chains::generation`] the plan was taken at.
    generation: u64,
    who: Who,
    store: Store,
    hub: Hub,
    tenant: TenantId,
    user: UserId,
    patterns: Arc<[ChannelPattern]>,
    /// Highest id sent (or scanned past) so far.
    cursor: Seq,
    phase: Phase,
    sub: Option<Subscription>,
    /// The history query in flight (boxed: an idle stream should not be as
    /// large as a database query).
    replay: Option<BoxFuture<'static, Result<ReplayPage, StoreError>>>,
    /// Encoded frames to send before anything else.
    pending: VecDeque<Bytes>,
    exp: i64,
    page: u64,
    /// Notifications without their `event:` line (`events=message`).
    plain: bool,
    /// Told of every notification handed out (a live delivery cancels its email).
    tracker: Tracker,
    /// This stream's place in the tenant's connection count; counts deliveries.
    conn: Connection,
    /// Counts notifications sent from history (`/metrics`).
    replayed: prometheus_client::metrics::counter::Counter,
    /// The lines this stream logs after its request returned name it.
    request_id: Option<crate::request_id::RequestId>,
    finished: bool,
}

/// How often a stream looks for a newer deliver plan (a changed chain).
const PLAN_CHECK: Duration = Duration::from_secs(1);

/// Frames taken from the queue for one write: several events queued behind
/// a busy socket go out in one `send`.
const COALESCE: usize = 64;

impl Feed {
    fn subscribe(&mut self) {
        self.sub = Some(self.hub.subscribe(&self.tenant, self.user.clone(), self.patterns.to_vec(), self.exp));
    }

    /// Keeps a live frame unless the hand-over already sent it, through
    /// the channel's deliver hooks.
    fn accept(&mut self, frame: Frame) -> Option<Bytes> {
        self.finished |= frame.last;
        match frame.id {
            Some(id) if id <= self.cursor => None,
            Some(id) => {
                self.cursor = id;
                match &frame.note {
                    Some(n) => self.deliver(n, frame.bytes),
                    None => Some(self.named(frame.bytes)),
                }
            }
            None => Some(frame.bytes),
        }
    }

    /// One delivery through the deliver hooks, if the tenant has any.
    fn deliver(&mut self, n: &Notification, bytes: Bytes) -> Option<Bytes> {
        let generation = self.chains.generation();
        if generation != self.generation || self.plan_at.elapsed() >= PLAN_CHECK {
            self.generation = generation;
            self.plan_at = Instant::now();
            if let Some(plan) = self.chains.deliver_plan_now(&self.tenant) {
                self.plan = plan;
            }
        }
        let sent = if self.plan.is_empty() {
            Some(self.named(bytes))
        } else {
            match self.chains.on_deliver(&self.plan, n, &self.who) {
                Delivered::Unchanged => Some(self.named(bytes)),
                Delivered::Replaced(changed) => Some(self.named(Frame::notification(&changed).bytes)),
                Delivered::Skip => None,
            }
        };
        if sent.is_some() {
            self.conn.delivered(1);
            self.tracker.delivered(n, &self.user, LivePath::Stream);
        }
        sent
    }

    /// A notification frame as this stream names its events.
    fn named(&self, bytes: Bytes) -> Bytes {
        if self.plain { without_event_line(&bytes) } else { bytes }
    }

    fn start_replay(&mut self) -> BoxFuture<'static, Result<ReplayPage, StoreError>> {
        let (store, tenant, patterns, user) = (self.store.clone(), self.tenant.clone(), self.patterns.clone(), self.user.clone());
        let (after, limit) = (self.cursor, self.page);
        Box::pin(async move { store.replay(&tenant, &patterns, Some(&user), after, limit).await })
    }

    /// Everything already queued for this stream, as one chunk.
    fn poll_live(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            let sub = self.sub.as_mut().expect("subscribed before going live");
            // `None`: dropped by the hub (slow reader, tenant deleted or
            // suspended, shutdown): end the stream so the client resumes
            // from history.
            let Some(first) = ready!(sub.rx.poll_recv(cx)) else {
                let _span = self.request_id.as_ref().map(|id| id.span().entered());
                tracing::debug!(tenant = %self.tenant, last_id = self.cursor, "the hub ended the stream (too slow, tenant gone, or shutting down)");
                return Poll::Ready(None);
            };
            let Some(mut chunk) = self.accept(first) else { continue };
            let mut joined: Option<BytesMut> = None;
            for _ in 1..COALESCE {
                if self.finished {
                    break;
                }
                let Ok(frame) = self.sub.as_mut().expect("live").rx.try_recv() else { break };
                if let Some(b) = self.accept(frame) {
                    joined.get_or_insert_with(|| BytesMut::from(&chunk[..])).extend_from_slice(&b);
                }
            }
            if let Some(j) = joined {
                chunk = j.freeze();
            }
            return Poll::Ready(Some(chunk));
        }
    }
}

impl Stream for Feed {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(b) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(b)));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match this.phase {
                Phase::Subscribe => {
                    this.subscribe();
                    this.phase = Phase::Live;
                }
                Phase::Live => return this.poll_live(cx).map(|c| c.map(Ok)),
                Phase::History => {
                    if this.replay.is_none() {
                        if chrono::Utc::now().timestamp() >= this.exp {
                            this.finished = true;
                            return Poll::Ready(Some(Ok(Frame::token_expired(this.exp).bytes)));
                        }
                        this.replay = Some(this.start_replay());
                    }
                    let result = ready!(this.replay.as_mut().expect("set above").as_mut().poll(cx));
                    this.replay = None;
                    let page = match result {
                        Ok(page) => page,
                        Err(e) => {
                            // End the stream; the client resumes from its last id.
                            let _span = this.request_id.as_ref().map(|id| id.span().entered());
                            tracing::warn!(tenant = %this.tenant, error = %e, "history replay failed; closing stream");
                            return Poll::Ready(None);
                        }
                    };
                    let before = this.pending.len();
                    for n in &page.items {
                        if let Some(b) = this.deliver(n, Frame::notification(n).bytes) {
                            this.pending.push_back(b);
                        }
                    }
                    this.replayed.inc_by((this.pending.len() - before) as u64);
                    this.cursor = page.next_after;
                    if page.done {
                        if this.sub.is_none() {
                            this.subscribe();
                        } else {
                            this.phase = Phase::Live;
                        }
                    }
                }
            }
        }
    }
}
