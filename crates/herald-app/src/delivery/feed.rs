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
//!
//! Before each read of the database, the feed asks the hub whether its
//! recent history in memory reaches back to the last id sent; if so, it
//! takes the rest from there and subscribes in the same step
//! (`Hub::resume`), which replaces steps 1 to 3. That is how a reconnect
//! storm, every client of a node back at once, costs one small query per
//! stream (what retention removed) and no history read. Replayed frames go
//! to the transport one by one, shared with the hub's memory, not copied.

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
use herald_store::channels::ResumeCheck;
use herald_store::notifications::ReplayPage;
use serde::Serialize;

use super::sink::{Delivery, DeliverySink, HookAnswer};
use super::subscriber::Authorized;
use crate::App;
use crate::delivery_tracking::LivePath;
use crate::error::AppResult;
use crate::metrics::DeliveryStage;
use crate::plugin_chain::Who;
use crate::plugin_workers::Refused;
use crate::usage::Transport;

/// `history-truncated`'s data: the resume point is older than the retained
/// history; what remains follows.
#[derive(Debug, Serialize)]
struct HistoryTruncated {
    last_event_id: i64,
}

/// The reconnection delay asked for with `plugin-budget-exhausted`, so that
/// a client whose hooks are too slow does not come straight back.
const BUDGET_RETRY_MS: u128 = 10_000;
const BUSY_RETRY_MS: u128 = 2_000;

/// One entry of a batch waiting for deliver hooks, in stream order.
enum Item {
    /// Sent as it is: a control frame, or a notification no hook looks at
    /// (counted and reported only once it is really sent, see `Feed::sent`).
    Send(Bytes, Option<Arc<Notification>>),
    /// Decided by the hooks; with its stored frame when it came live.
    Hook(Arc<Notification>, Option<Bytes>),
}

/// Why a stream stops for its deliver hooks.
#[derive(Debug, Clone, Copy)]
enum HookStop {
    /// Its hook-time allowance is used up.
    Budget,
    /// The tenant's queue on the plugin workers is full.
    TenantBusy,
    /// The plugin workers are stopping with the node.
    Stopping,
}

impl From<Refused> for HookStop {
    fn from(r: Refused) -> Self {
        match r {
            Refused::QueueFull => HookStop::TenantBusy,
            Refused::Stopped => HookStop::Stopping,
        }
    }
}

/// A batch whose deliver hooks run on the plugin workers.
struct Hooked {
    rx: tokio::sync::oneshot::Receiver<HookAnswer>,
    items: Vec<Item>,
    /// How many `Item::Hook`s the job decides.
    hooks: usize,
    /// For a history page: where it ends and whether history is caught up.
    page: Option<(Seq, bool)>,
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
        let mut pruned = ResumeCheck::default();
        if let Some(after) = resume {
            pruned = self.inner.store.resume_check(&tenant, &patterns, after).await?;
            if pruned.truncated() {
                let data = serde_json::to_string(&HistoryTruncated { last_event_id: after }).expect("an integer serializes");
                pending.push_back(Frame::control("history-truncated", &data, false).bytes);
            }
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
            hooked: None,
            decided: resume.unwrap_or(0),
            pending,
            pruned,
            exp: subscriber.expires_at,
            plain,
            request_id,
            finished: false,
            counted: false,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Replaying history from the database.
    History,
    /// History read to its end: subscribe, from the hub's recent history
    /// if it reaches back far enough, else plainly and read once more.
    HandOver,
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
    /// A batch waiting for its deliver hooks; nothing after it is read
    /// until it is settled, so order holds.
    hooked: Option<Box<Hooked>>,
    /// Highest id sent or skipped by a hook: the resume point named when
    /// the stream closes for its hooks.
    decided: Seq,
    /// Encoded frames to send before anything else.
    pending: VecDeque<Bytes>,
    /// Channels retention pruned past the resume point (usually none),
    /// which the hub's recent history may still hold.
    pruned: ResumeCheck,
    exp: i64,
    /// Notifications without their `event:` line (`events=message`).
    plain: bool,
    request_id: Option<Arc<str>>,
    finished: bool,
    /// Whether the resume was counted in `herald_stream_resumes_total`.
    counted: bool,
}

/// Frames taken from the queue for one write: several events queued behind
/// a busy socket go out in one `send`.
const COALESCE: usize = 64;

impl Feed {
    fn subscribe(&mut self) {
        let hub = &self.sink.app.inner.hub;
        self.sub = Some(hub.subscribe(&self.sink.tenant, self.sink.user().clone(), self.patterns.clone(), self.exp));
    }

    /// A span naming the request, for lines logged after it returned.
    fn span(&self) -> Option<tracing::Span> {
        self.request_id.as_ref().map(|id| tracing::error_span!("request", request_id = %id))
    }

    /// Keeps a live frame unless the hand-over already sent it: sent as it
    /// is, or through the deliver hooks.
    fn accept(&mut self, frame: Frame) -> Option<Item> {
        self.finished |= frame.last;
        match frame.id {
            Some(id) if id <= self.cursor => None,
            Some(id) => {
                self.cursor = id;
                match frame.note {
                    Some(n) if self.sink.needs_hooks(&n) => Some(Item::Hook(n, Some(frame.bytes))),
                    note => Some(Item::Send(self.named(frame.bytes), note)),
                }
            }
            None => Some(Item::Send(frame.bytes, None)),
        }
    }

    /// A notification that goes out as stored: counted, reported to the
    /// email tracker, and the resume point moves past it.
    fn sent(&mut self, note: Option<&Notification>) {
        if let Some(n) = note {
            self.sink.pass(n);
            self.decided = n.id;
        }
    }

    /// Queues a batch's deliver hooks; on refusal the stream ends with
    /// `plugin-budget-exhausted` (`tenant-busy`), or quietly if the node is
    /// stopping.
    fn start_hooks(&mut self, items: Vec<Item>, page: Option<(Seq, bool)>) {
        let batch: Vec<Arc<Notification>> =
            items.iter().filter_map(|i| if let Item::Hook(n, _) = i { Some(n.clone()) } else { None }).collect();
        let hooks = batch.len();
        // What precedes the first hooked item is decided already: send it
        // whatever becomes of the rest.
        match self.sink.run_hooks(batch) {
            Ok(rx) => self.hooked = Some(Box::new(Hooked { rx, items, hooks, page })),
            Err(refused) => {
                for item in items {
                    let Item::Send(b, note) = item else { break };
                    self.sent(note.as_deref());
                    self.pending.push_back(b);
                }
                self.close_for_hooks(refused.into());
            }
        }
    }

    /// Sends what the hooks decided, in order, up to where they stopped.
    fn settle(&mut self, hooked: Hooked, answer: Option<HookAnswer>) {
        let Hooked { items, hooks, page, .. } = hooked;
        let Some(answer) = answer else {
            self.close_for_hooks(HookStop::Stopping);
            return;
        };
        self.sink.charge(answer.spent);
        let cut = answer.cut_short(hooks);
        let mut decided = answer.decided.into_iter();
        let mut out: Option<BytesMut> = None;
        let mut notifications = 0u64;
        let mut push = |b: &Bytes| out.get_or_insert_with(BytesMut::new).extend_from_slice(b);
        for item in items {
            match item {
                Item::Send(b, note) => {
                    push(&b);
                    notifications += u64::from(note.is_some());
                    self.sent(note.as_deref());
                }
                Item::Hook(n, stored) => {
                    let Some(d) = decided.next() else { break };
                    self.decided = n.id;
                    match self.sink.settle(&n, d) {
                        Delivery::Unchanged => {
                            let bytes = stored.unwrap_or_else(|| Frame::notification(&n).bytes);
                            push(&self.named(bytes));
                        }
                        Delivery::Replaced(changed) => push(&self.named(Frame::notification(&changed).bytes)),
                        Delivery::Skipped => continue,
                    }
                    notifications += 1;
                }
            }
        }
        if let Some(out) = out {
            self.pending.push_back(out.freeze());
        }
        if cut {
            self.close_for_hooks(HookStop::Budget);
            return;
        }
        if let Some((next_after, done)) = page {
            self.sink.app.inner.metrics.replayed().inc_by(notifications);
            self.page_done(next_after, done);
        }
    }

    /// Ends the stream because of its deliver hooks, with
    /// `plugin-budget-exhausted` and a longer `retry:` (quietly when the
    /// node is stopping).
    fn close_for_hooks(&mut self, why: HookStop) {
        self.finished = true;
        let (reason, retry) = match why {
            HookStop::Stopping => return,
            HookStop::Budget => ("stream-budget", BUDGET_RETRY_MS),
            HookStop::TenantBusy => ("tenant-busy", BUSY_RETRY_MS),
        };
        self.pending.push_back(Frame::retry(retry).bytes);
        self.pending.push_back(Frame::plugin_budget_exhausted(self.decided, reason).bytes);
        self.sink.app.inner.metrics.stream_closed_for_hooks(reason);
        let _span = self.span().map(tracing::Span::entered);
        tracing::info!(tenant = %self.sink.tenant, last_id = self.decided, reason, "closing a stream for its deliver hooks");
    }

    fn page_done(&mut self, next_after: Seq, done: bool) {
        self.cursor = next_after;
        if done {
            if self.sub.is_none() {
                self.phase = Phase::HandOver;
            } else {
                self.phase = Phase::Live;
                self.pruned = ResumeCheck::default();
            }
        }
    }

    /// Takes what the stream still needs from the hub's recent history and
    /// subscribes in the same step, if that history reaches back to the
    /// last id sent; tells whether it did.
    fn resume_from_memory(&mut self) -> bool {
        let hub = &self.sink.app.inner.hub;
        let pruned = &self.pruned;
        let resumed = hub.resume(&self.sink.tenant, self.sink.user().clone(), self.patterns.clone(), self.exp, self.cursor, |n| {
            !pruned.was_pruned(n.channel.as_str(), n.id)
        });
        let Some((sub, entries, upto)) = resumed else { return false };
        self.sub = Some(sub);
        let notes = entries.into_iter().map(|e| (e.note, Some(e.frame))).collect();
        self.replayed(notes, upto, true);
        true
    }

    /// Sends replayed notifications (with their stored frames when they
    /// came from memory), through the deliver hooks if any looks at them;
    /// the page ends at `next_after`.
    fn replayed(&mut self, notes: Vec<(Arc<Notification>, Option<Bytes>)>, next_after: Seq, done: bool) {
        let hooked: Vec<bool> = notes.iter().map(|(n, _)| self.sink.needs_hooks(n)).collect();
        if hooked.contains(&true) {
            let items = notes
                .into_iter()
                .zip(hooked)
                .map(|((n, frame), hooked)| {
                    if hooked {
                        Item::Hook(n, frame)
                    } else {
                        let bytes = frame.unwrap_or_else(|| Frame::notification(&n).bytes);
                        Item::Send(self.named(bytes), Some(n))
                    }
                })
                .collect();
            self.start_hooks(items, Some((next_after, done)));
            return;
        }
        let sent = notes.len();
        // Frame by frame, shared rather than joined: the HTTP layer copies
        // them into its write buffer until that holds 32 KiB and writes
        // once, so joining them here would only be a second copy, held by
        // every stream of a reconnect storm at once.
        for (n, frame) in notes {
            let bytes = self.named(frame.unwrap_or_else(|| Frame::notification(&n).bytes));
            self.sent(Some(&n));
            self.pending.push_back(bytes);
        }
        self.sink.app.inner.metrics.replayed().inc_by(sent as u64);
        self.page_done(next_after, done);
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

    /// Everything already queued for this stream, as one chunk, or a
    /// batch handed to the deliver hooks.
    fn poll_live(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        loop {
            let sub = self.sub.as_mut().expect("subscribed before going live");
            // `None`: dropped by the hub (slow reader, tenant deleted or
            // suspended, shutdown): end the stream so the client resumes
            // from history.
            let Some(first) = ready!(sub.rx.poll_recv(cx)) else {
                let _span = self.span().map(tracing::Span::entered);
                tracing::debug!(tenant = %self.sink.tenant, last_id = self.cursor, "the hub ended the stream (too slow, tenant gone, or shutting down)");
                return Poll::Ready(Next::End);
            };
            if let Some(fed) = first.fed {
                self.sink.app.inner.metrics.delivery_stage(DeliveryStage::Queue, fed.elapsed());
            }
            let Some(first) = self.accept(first) else { continue };
            // The common case at everyday rates: one frame per wake-up,
            // sent as it is, with nothing allocated for it.
            let next = if self.finished { None } else { self.sub.as_mut().expect("live").rx.try_recv().ok() };
            let Some(next) = next else {
                match first {
                    Item::Send(b, note) => {
                        self.sent(note.as_deref());
                        return Poll::Ready(Next::Send(b));
                    }
                    hook => {
                        self.start_hooks(vec![hook], None);
                        return Poll::Ready(Next::Again);
                    }
                }
            };
            let mut items = vec![first];
            items.extend(self.accept(next));
            for _ in 2..COALESCE {
                if self.finished {
                    break;
                }
                let Ok(frame) = self.sub.as_mut().expect("live").rx.try_recv() else { break };
                items.extend(self.accept(frame));
            }
            if items.iter().any(|i| matches!(i, Item::Hook(..))) {
                self.start_hooks(items, None);
                return Poll::Ready(Next::Again);
            }
            let mut chunks = Vec::with_capacity(items.len());
            for item in items {
                let Item::Send(b, note) = item else { unreachable!("no hooked item here") };
                self.sent(note.as_deref());
                chunks.push(b);
            }
            if chunks.len() == 1 {
                return Poll::Ready(Next::Send(chunks.pop().expect("one")));
            }
            let mut joined = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            chunks.iter().for_each(|b| joined.extend_from_slice(b));
            return Poll::Ready(Next::Send(joined.freeze()));
        }
    }
}

/// What the live phase has for the transport.
enum Next {
    Send(Bytes),
    /// A batch went to the deliver hooks: look again.
    Again,
    End,
}

impl Stream for Feed {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        loop {
            if let Some(b) = this.pending.pop_front() {
                if this.pending.is_empty() {
                    // Live frames never pass through here: an idle stream
                    // should not keep the slots its first frames needed.
                    this.pending = VecDeque::new();
                }
                return Poll::Ready(Some(b));
            }
            // Before `finished`: a batch may hold the stream's last frame
            // (`token-expired`) behind notifications still to send.
            if let Some(hooked) = this.hooked.as_mut() {
                let answer = ready!(Pin::new(&mut hooked.rx).poll(cx)).ok();
                let hooked = *this.hooked.take().expect("checked above");
                this.settle(hooked, answer);
                continue;
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match this.phase {
                Phase::Subscribe => {
                    this.subscribe();
                    this.phase = Phase::Live;
                }
                Phase::HandOver => {
                    if !this.resume_from_memory() {
                        this.subscribe();
                        this.phase = Phase::History;
                    }
                }
                Phase::Live => match ready!(this.poll_live(cx)) {
                    Next::Send(b) => return Poll::Ready(Some(b)),
                    Next::Again => continue,
                    Next::End => return Poll::Ready(None),
                },
                Phase::History => {
                    if this.replay.is_none() {
                        if chrono::Utc::now().timestamp() >= this.exp {
                            this.finished = true;
                            return Poll::Ready(Some(Frame::token_expired(this.exp).bytes));
                        }
                        if this.sub.is_none() {
                            let from_memory = this.resume_from_memory();
                            if !std::mem::replace(&mut this.counted, true) {
                                this.sink.app.inner.metrics.resumed(from_memory);
                            }
                            if from_memory {
                                continue;
                            }
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
                    let notes = page.items.into_iter().map(|n| (Arc::new(n), None)).collect();
                    this.replayed(notes, page.next_after, page.done);
                }
            }
        }
    }
}
