//! The delivery sink: the one way a notification reaches a subscriber.
//!
//! A notification whose channel has no deliver hook is settled at once
//! ([`DeliverySink::pass`]). One that has goes, with the others of its
//! batch, to the tenant's queue on the plugin workers
//! ([`DeliverySink::run_hooks`]), and the transport waits for the answer
//! without holding a thread; the batch stops early once the subscriber's
//! hook-time allowance is spent, and the transport closes (a stream) or
//! answers what it has (a poll).

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::ids::{Seq, TenantId};
use herald_core::notification::Notification;
use tokio::sync::oneshot;

use super::budget::Allowance;
use crate::App;
use crate::delivery_tracking::LivePath;
use crate::error::{AppError, AppResult};
use crate::plugin_chain::{DeliverPlan, Delivered, Who};
use crate::plugin_workers::Refused;
use crate::usage::Connection;

/// How often a sink looks for a newer deliver plan (a changed chain).
const PLAN_CHECK: Duration = Duration::from_secs(1);

/// Monotonic time at the kernel tick's resolution (a few milliseconds),
/// for the plan check that runs on every frame: reading it costs no TSC
/// read, and at a second's granularity the precision is not missed.
fn coarse_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// What the sink decided for one notification.
#[derive(Debug)]
pub enum Delivery {
    /// Send it as stored.
    Unchanged,
    /// Send this instead (a deliver hook replaced it).
    Replaced(Notification),
    /// Do not send it to this subscriber.
    Skipped,
}

/// Deliver hooks' answer for a batch, in the batch's order.
#[derive(Debug)]
pub(crate) struct HookAnswer {
    /// One per notification hooks ran for; shorter than the batch when the
    /// allowance ran out, and the rest were not looked at.
    pub(crate) decided: Vec<Delivered>,
    /// Hook time the batch used.
    pub(crate) spent: Duration,
}

impl HookAnswer {
    /// The allowance ran out before the end of a batch of `len`.
    pub(crate) fn cut_short(&self, len: usize) -> bool {
        self.decided.len() < len
    }
}

/// One subscriber's sink, for as long as its transport serves it.
pub struct DeliverySink {
    pub(crate) app: App,
    pub(crate) tenant: TenantId,
    who: Arc<Who>,
    /// The tenant's deliver hooks; refreshed from the cache as it ages.
    plan: Arc<DeliverPlan>,
    /// When the plan was taken, on the coarse clock ([`coarse_now`]).
    plan_at: Duration,
    /// The chains' generation the plan was taken at.
    generation: u64,
    path: LivePath,
    /// The place in the tenant's connection count, for transports that
    /// hold one (a stream; a waiting long-poll): it also counts deliveries.
    conn: Option<Connection>,
    allowance: Allowance,
}

impl DeliverySink {
    /// A sink for `who` on `tenant`, with the tenant's current deliver plan.
    pub(crate) async fn open(app: &App, tenant: TenantId, who: Who, path: LivePath, conn: Option<Connection>) -> AppResult<Self> {
        let generation = app.inner.chains.generation();
        let plan = app.inner.chains.deliver_plan(&tenant).await?;
        let now = Instant::now();
        let allowance = Allowance::new(app.inner.settings.hook_budget, now);
        Ok(Self { app: app.clone(), tenant, who: Arc::new(who), plan, plan_at: coarse_now(), generation, path, conn, allowance })
    }

    pub(crate) fn user(&self) -> &herald_core::names::UserId {
        &self.who.user
    }

    /// Holds a connection place from now on (a long-poll about to wait).
    pub(crate) fn hold(&mut self, conn: Connection) {
        self.conn = Some(conn);
    }

    pub(crate) fn holds_connection(&self) -> bool {
        self.conn.is_some()
    }

    /// Whether `n` goes through deliver hooks; if so it must be settled
    /// through [`Self::run_hooks`] and [`Self::settle`], else through
    /// [`Self::pass`].
    pub(crate) fn needs_hooks(&mut self, n: &Notification) -> bool {
        let chains = &self.app.inner.chains;
        let generation = chains.generation();
        let now = coarse_now();
        if generation != self.generation || now.saturating_sub(self.plan_at) >= PLAN_CHECK {
            self.generation = generation;
            self.plan_at = now;
            if let Some(plan) = chains.deliver_plan_now(&self.tenant) {
                self.plan = plan;
            }
        }
        self.plan.covers(&n.channel)
    }

    /// Sends `n` as stored: counted and reported to the email tracker (a
    /// live delivery cancels its pending email).
    pub(crate) fn pass(&mut self, n: &Notification) {
        match &self.conn {
            Some(conn) => conn.delivered(1),
            None => self.app.inner.usage.delivered(&self.tenant, 1),
        }
        self.app.inner.tracker.delivered(n, &self.who.user, self.path);
    }

    /// Queues the deliver hooks of `batch` (in order) on the tenant's share
    /// of the plugin workers, within what is left of this subscriber's
    /// allowance. Refused when the tenant's queue is full.
    pub(crate) fn run_hooks(&mut self, batch: Vec<Arc<Notification>>) -> Result<oneshot::Receiver<HookAnswer>, Refused> {
        let budget = self.allowance.available(Instant::now());
        let (chains, plan, who) = (self.app.inner.chains.clone(), self.plan.clone(), self.who.clone());
        let (tx, rx) = oneshot::channel();
        self.app.inner.chains.workers().submit(&self.tenant, move || {
            let started = Instant::now();
            let until = started + budget;
            let mut decided = Vec::with_capacity(batch.len());
            for n in &batch {
                match chains.on_deliver(&plan, n, &who, until) {
                    Some(d) => decided.push(d),
                    None => break,
                }
            }
            let _ = tx.send(HookAnswer { decided, spent: started.elapsed() });
        })?;
        Ok(rx)
    }

    /// Charges a batch's hook time to this subscriber's allowance.
    pub(crate) fn charge(&mut self, spent: Duration) {
        self.allowance.charge(spent);
    }

    /// Settles what the hooks decided for `n`: anything sent is counted
    /// and reported like [`Self::pass`].
    pub(crate) fn settle(&mut self, n: &Notification, decided: Delivered) -> Delivery {
        let out = match decided {
            Delivered::Unchanged => Delivery::Unchanged,
            Delivered::Replaced(changed) => Delivery::Replaced(changed),
            Delivered::Skip => Delivery::Skipped,
        };
        if !matches!(out, Delivery::Skipped) {
            self.pass(n);
        }
        out
    }

    /// Runs a batch through [`Self::needs_hooks`], [`Self::run_hooks`] and
    /// [`Self::settle`], for a transport that can wait: what each
    /// notification becomes, in order, and the id up to which the batch
    /// was looked at (less than its last when the allowance ran out).
    pub(crate) async fn deliver_all(&mut self, batch: Vec<Notification>) -> AppResult<(Vec<(Notification, Delivery)>, Option<Seq>)> {
        let batch: Vec<Arc<Notification>> = batch.into_iter().map(Arc::new).collect();
        // Decided once per item: the plan may change between two calls.
        let flags: Vec<bool> = batch.iter().map(|n| self.needs_hooks(n)).collect();
        let hooked: Vec<Arc<Notification>> = batch.iter().zip(&flags).filter(|(_, h)| **h).map(|(n, _)| n.clone()).collect();
        let mut answer = if hooked.is_empty() {
            None
        } else {
            let rx = self.run_hooks(hooked).map_err(AppError::from)?;
            let answer = rx.await.map_err(|_| AppError::from(Refused::Stopped))?;
            self.charge(answer.spent);
            Some(answer.decided.into_iter())
        };
        let mut out = Vec::with_capacity(batch.len());
        let mut looked_at = None;
        for (n, hooked) in batch.into_iter().zip(flags) {
            let n = Arc::unwrap_or_clone(n);
            let delivery = if hooked {
                match answer.as_mut().and_then(Iterator::next) {
                    Some(d) => self.settle(&n, d),
                    // The allowance ran out here: the rest waits for the next call.
                    None => break,
                }
            } else {
                self.pass(&n);
                Delivery::Unchanged
            };
            looked_at = Some(n.id);
            out.push((n, delivery));
        }
        Ok((out, looked_at))
    }
}
