//! The SSE stream's feed: replay history after `Last-Event-ID`, then go
//! live, with no gap and no duplicate, as encoded SSE frames a transport
//! writes as they are.
//!
//! The hand-over works because the hub is fed after commit, in commit order:
//! 1. page through history after the client's id until caught up;
//! 2. subscribe to the hub;
//! 3. read history once more (whatever committed before step 2 is now
//!    visible to a new query; whatever commits after it reaches the hub);
//! 4. stream live events, skipping any id at or below the last one sent.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use futures_util::future::BoxFuture;
use herald_core::ids::Seq;
use herald_core::notification::Notification;
use herald_core::pattern::ChannelPattern;
use herald_hub::frame::without_event_line;
use herald_hub::{Frame, Subscription};
use herald_store::StoreError;
use herald_store::notifications::ReplayPage;
use serde::Serialize;

use super::sink::{Delivery, DeliverySink};
use super::subscriber::Authorized;
use crate::App;
use crate::delivery_tracking::LivePath;
use crate::error::AppResult;
use crate::plugin_chain::Who;
use crate::usage::Transport;

/// `history-truncated`'s data: the resume point is older than the retained
/// history; what remains follows.
#[derive(Debug, Serialize)]
struct HistoryTruncated {
    last_event_id: i64,
}

/// What a stream asks for, once authorized.
#[derive(Debug)]
pub struct FeedRequest {
    pub who: Authorized,
    /// Resume after this id (`Last-Event-ID`).
    pub resume: Option<Seq>,
    /// Notifications without their `event:` line (`events=message`).
    pub plain: bool,
    /// The client's address, for the per-address connection limit.
    pub peer: Option<IpAddr>,
    /// The request's id, named by the lines the feed logs after its
    /// request returned.
    pub request_id: Option<Arc<str>>,
}

impl App {
    /// Opens a stream's feed: takes its connection place (refused before
    /// any event is sent: a 429, not a stream that ends at once), then
    /// queues the opening `retry:` and, when the resume point is older than
    /// the retained history, `history-truncated`.
    pub async fn open_feed(&self, req: FeedRequest) -> AppResult<Feed> {
        let FeedRequest { who, resume, plain, peer, request_id } = req;
        let Authorized { tenant, subscriber, patterns } = who;
        // One copy of the patterns, shared by the stream and its guard.
        let patterns: Arc<[ChannelPattern]> = patterns.into();
        let conn = self.connect(&tenant, Transport::Sse, patterns.clone(), peer).await?;
        let mut pending = VecDeque::new();
        pending.push_back(Frame::retry(self.inner.settings.stream.retry.as_millis()).bytes);
        if let Some(after) = resume
            && self.inner.store.history_truncated_after(&tenant, &patterns, after).await?
        {
            let data = serde_json::to_string(&HistoryTruncated { last_event_id: after }).expect("an integer serializes");
            pending.push_back(Frame::control("history-truncated", &data, false).bytes);
        }
        let who = Who { user: subscriber.user, claims: subscriber.claims_json };
        let sink = DeliverySink::open(self, tenant, who, LivePath::Stream, Some(conn)).await?;
        Ok(Feed {
            sink,
            patterns,
            cursor: resume.unwrap_or(0),
            phase: if resume.is_some() { Phase::History } else { Phase::Subscribe },
            sub: None,
            replay: None,
            pending,
            exp: subscriber.expires_at,
            plain,
            request_id,
            finished: false,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Replaying history; once caught up, subscribe and catch up again.
    History,
    /// Subscribe, then live (a fresh stream without a resume id).
    Subscribe,
    Live,
}

/// One stream's state machine, polled by the transport as the response
/// body. It holds no timer: heartbeats and token expiry come from the hub's
/// clock once the stream is live. Hand-written rather than an `async` block
/// so that each event costs a queue pop, not a move of the whole state.
pub struct Feed {
    sink: DeliverySink,
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
    /// Notifications without their `event:` line (`events=message`).
    plain: bool,
    request_id: Option<Arc<str>>,
    finished: bool,
}

/// Frames taken from the queue for one write: several events queued behind
/// a busy socket go out in one `send`.
const COALESCE: usize = 64;

impl Feed {
    fn subscribe(&mut self) {
        let hub = &self.sink.app.inner.hub;
        self.sub = Some(hub.subscribe(&self.sink.tenant, self.sink.user().clone(), self.patterns.to_vec(), self.exp));
    }

    /// A span naming the request, for lines logged after it returned.
    fn span(&self) -> Option<tracing::Span> {
        self.request_id.as_ref().map(|id| tracing::error_span!("request", request_id = %id))
    }

    /// Keeps a live frame unless the hand-over already sent it, through
    /// the sink.
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

    /// One notification through the sink; `bytes` is its frame as stored.
    fn deliver(&mut self, n: &Notification, bytes: Bytes) -> Option<Bytes> {
        match self.sink.deliver(n) {
            Delivery::Unchanged => Some(self.named(bytes)),
            Delivery::Replaced(changed) => Some(self.named(Frame::notification(&changed).bytes)),
            Delivery::Skipped => None,
        }
    }

    /// A notification frame as this stream names its events.
    fn named(&self, bytes: Bytes) -> Bytes {
        if self.plain { without_event_line(&bytes) } else { bytes }
    }

    fn start_replay(&mut self) -> BoxFuture<'static, Result<ReplayPage, StoreError>> {
        let store = self.sink.app.inner.store.clone();
        let (tenant, patterns, user) = (self.sink.tenant.clone(), self.patterns.clone(), self.sink.user().clone());
        let (after, limit) = (self.cursor, self.sink.app.inner.settings.stream.replay_page);
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
                let _span = self.span().map(tracing::Span::entered);
                tracing::debug!(tenant = %self.sink.tenant, last_id = self.cursor, "the hub ended the stream (too slow, tenant gone, or shutting down)");
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
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        loop {
            if let Some(b) = this.pending.pop_front() {
                return Poll::Ready(Some(b));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match this.phase {
                Phase::Subscribe => {
                    this.subscribe();
                    this.phase = Phase::Live;
                }
                Phase::Live => return this.poll_live(cx),
                Phase::History => {
                    if this.replay.is_none() {
                        if chrono::Utc::now().timestamp() >= this.exp {
                            this.finished = true;
                            return Poll::Ready(Some(Frame::token_expired(this.exp).bytes));
                        }
                        this.replay = Some(this.start_replay());
                    }
                    let result = ready!(this.replay.as_mut().expect("set above").as_mut().poll(cx));
                    this.replay = None;
                    let page = match result {
                        Ok(page) => page,
                        Err(e) => {
                            // End the stream; the client resumes from its last id.
                            let _span = this.span().map(tracing::Span::entered);
                            tracing::warn!(tenant = %this.sink.tenant, error = %e, "history replay failed; closing stream");
                            return Poll::Ready(None);
                        }
                    };
                    let before = this.pending.len();
                    for n in &page.items {
                        if let Some(b) = this.deliver(n, Frame::notification(n).bytes) {
                            this.pending.push_back(b);
                        }
                    }
                    this.sink.app.inner.metrics.replayed().inc_by((this.pending.len() - before) as u64);
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
