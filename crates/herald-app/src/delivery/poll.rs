//! Polling and long-polling: the same notifications as the stream (same
//! token, scopes, deliver hooks and ids), as pages, for clients that
//! cannot hold a stream open.
//!
//! A long-poll checks history, subscribes to the hub, checks again (what
//! committed in between is now visible to the query; what commits after it
//! wakes the subscription), then waits for the first notification or the
//! end of `wait`. It answers from the database either way, so order,
//! deliver hooks and read flags are those of a plain poll.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use herald_core::DomainError;
use herald_core::ids::Seq;
use herald_core::notification::Notification;

use super::sink::{Delivery, DeliverySink};
use super::subscriber::Authorized;
use crate::App;
use crate::delivery_tracking::LivePath;
use crate::error::{AppError, AppResult};
use crate::plugin_chain::Who;
use crate::usage::Transport;

/// Rows scanned past (matching or not) before a poll answers anyway, so a
/// sparse match over a long history cannot hold a request for long.
const SCAN_ROWS: u64 = 5_000;

/// One poll, once its subscriber is authorized.
#[derive(Debug)]
pub struct PollRequest {
    pub who: Authorized,
    /// Notifications after this id, as the client sent it (plain digits);
    /// `None`: start now (no items, `next` is the current position).
    pub after: Option<String>,
    /// Page size; default 100 (or `poll.max_limit` if lower).
    pub limit: Option<u64>,
    /// How long to wait for a notification when there is none yet.
    pub wait: Duration,
    /// The client's address, for the per-address limit while waiting.
    pub peer: Option<IpAddr>,
}

/// A page of a poll.
#[derive(Debug)]
pub struct PollAnswer {
    /// In id order, each with whether this user marked it read.
    pub items: Vec<(Notification, bool)>,
    /// Pass as `after` on the next call.
    pub next: Seq,
    /// More is waiting: call again at once.
    pub more: bool,
    /// Retention already removed notifications after `after` that this
    /// caller would have received.
    pub truncated: bool,
}

impl App {
    /// Answers one poll or long-poll.
    pub async fn poll(&self, req: PollRequest) -> AppResult<PollAnswer> {
        let poll = &self.inner.settings.poll;
        let limit = req.limit.unwrap_or(100.min(poll.max_limit));
        if !(1..=poll.max_limit).contains(&limit) {
            return Err(DomainError::invalid("limit", format!("must be 1 to {}", poll.max_limit)).into());
        }
        if req.wait > poll.max_wait {
            return Err(DomainError::invalid("wait", format!("at most {} seconds", poll.max_wait.as_secs())).into());
        }
        let after = req
            .after
            .as_deref()
            .map(|raw| {
                herald_core::cursor::poll_after(raw)
                    .ok_or_else(|| DomainError::invalid("after", "must be a notification id (0 or more, in plain digits)"))
            })
            .transpose()?;
        let store = &self.inner.store;
        let who = &req.who;
        let (tenant, user) = (&who.tenant, &who.subscriber.user);
        let truncated = match after {
            Some(after) => store.resume_check(tenant, &who.patterns, after).await?.truncated(),
            None => false,
        };
        let mut after = match after {
            Some(after) => after,
            None => store.head(tenant).await?,
        };
        let mut deadline = tokio::time::Instant::now() + req.wait;
        let plugin_who = Who { user: user.clone(), claims: who.subscriber.claims_json.clone() };
        let mut sink = DeliverySink::open(self, tenant.clone(), plugin_who, LivePath::Poll, None).await?;
        let mut sub = None;
        let mut scanned = 0;
        loop {
            let page = store.replay(tenant, &who.patterns, Some(user), after, limit).await?;
            scanned += limit;
            let len = page.items.len();
            let (decided, looked_at) = sink.deliver_all(page.items).await?;
            let cut = decided.len() < len;
            if cut {
                // The hooks' allowance ran out: answer what they decided,
                // and the client comes back for the rest.
                let Some(looked_at) = looked_at else {
                    return Err(AppError::HookBudgetExhausted(
                        "the channel's deliver hooks used up this request's time before deciding on one notification".into(),
                    ));
                };
                after = looked_at;
            } else {
                after = page.next_after;
            }
            let items: Vec<Notification> = decided
                .into_iter()
                .filter_map(|(n, d)| match d {
                    Delivery::Unchanged => Some(n),
                    Delivery::Replaced(changed) => Some(changed),
                    Delivery::Skipped => None,
                })
                .collect();
            let page_done = page.done && !cut;
            let out_of_time = tokio::time::Instant::now() >= deadline;
            if !items.is_empty() || out_of_time || cut || (!page_done && scanned >= SCAN_ROWS) {
                let ids: Vec<Seq> = items.iter().map(|n| n.id).collect();
                let read: HashSet<Seq> = store.read_among(tenant, user, &ids).await?;
                let items = items
                    .into_iter()
                    .map(|n| {
                        let r = read.contains(&n.id);
                        (n, r)
                    })
                    .collect();
                return Ok(PollAnswer { items, next: after, more: !page_done, truncated });
            }
            if !page_done {
                continue;
            }
            // Caught up with nothing to give: subscribe, look once more, then wait.
            let Some(live) = sub.as_mut() else {
                // Held while waiting: a waiting long-poll counts as a connection.
                if !sink.holds_connection() {
                    sink.hold(self.connect(tenant, Transport::LongPoll, who.patterns.clone().into(), req.peer).await?);
                }
                sub = Some(self.inner.hub.subscribe(tenant, user.clone(), who.patterns.clone().into(), who.subscriber.expires_at));
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
}
