//! The delivery sink: the one way a notification reaches a subscriber.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::ids::TenantId;
use herald_core::notification::Notification;

use crate::App;
use crate::delivery_tracking::LivePath;
use crate::error::AppResult;
use crate::plugin_chain::{DeliverPlan, Delivered, Who};
use crate::usage::Connection;

/// How often a sink looks for a newer deliver plan (a changed chain).
const PLAN_CHECK: Duration = Duration::from_secs(1);

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

/// One subscriber's sink, for as long as its transport serves it.
pub struct DeliverySink {
    pub(crate) app: App,
    pub(crate) tenant: TenantId,
    who: Who,
    /// The tenant's deliver hooks; refreshed from the cache as it ages.
    plan: Arc<DeliverPlan>,
    plan_at: Instant,
    /// The chains' generation the plan was taken at.
    generation: u64,
    path: LivePath,
    /// The place in the tenant's connection count, for transports that
    /// hold one (a stream; a waiting long-poll): it also counts deliveries.
    conn: Option<Connection>,
}

impl DeliverySink {
    /// A sink for `who` on `tenant`, with the tenant's current deliver plan.
    pub(crate) async fn open(app: &App, tenant: TenantId, who: Who, path: LivePath, conn: Option<Connection>) -> AppResult<Self> {
        let generation = app.inner.chains.generation();
        let plan = app.inner.chains.deliver_plan(&tenant).await?;
        Ok(Self { app: app.clone(), tenant, who, plan, plan_at: Instant::now(), generation, path, conn })
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

    /// Runs `n` through the tenant's deliver hooks; a notification that is
    /// sent is counted and reported to the email tracker (a live delivery
    /// cancels its pending email).
    pub fn deliver(&mut self, n: &Notification) -> Delivery {
        let chains = &self.app.inner.chains;
        let generation = chains.generation();
        if generation != self.generation || self.plan_at.elapsed() >= PLAN_CHECK {
            self.generation = generation;
            self.plan_at = Instant::now();
            if let Some(plan) = chains.deliver_plan_now(&self.tenant) {
                self.plan = plan;
            }
        }
        let out = if self.plan.is_empty() {
            Delivery::Unchanged
        } else {
            match chains.on_deliver(&self.plan, n, &self.who) {
                Delivered::Unchanged => Delivery::Unchanged,
                Delivered::Replaced(changed) => Delivery::Replaced(changed),
                Delivered::Skip => Delivery::Skipped,
            }
        };
        if !matches!(out, Delivery::Skipped) {
            match &self.conn {
                Some(conn) => conn.delivered(1),
                None => self.app.inner.usage.delivered(&self.tenant, 1),
            }
            self.app.inner.tracker.delivered(n, &self.who.user, self.path);
        }
        out
    }
}
