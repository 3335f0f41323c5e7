//! Running channels' plugin chains: publish hooks once per notification
//! before it is stored, deliver hooks once per delivery (live and replayed)
//! through a per-tenant [`DeliverPlan`]; which plugins, in which version,
//! what a failure does (the channel's failure policy), and the dead-letter
//! record for everything a chain keeps out of delivery.
//!
//! Chains and plugin versions are cached per node for `cache_ttl`, so a
//! changed chain or a newly uploaded version takes effect within that time
//! on every node, without a restart. Compiled components are cached by the
//! plugin host, by content hash.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_core::DomainError;
use herald_core::ids::{DeadLetterId, TenantId};
use herald_core::names::{ChannelName, PluginName, PluginVersion, UserId};
use herald_core::notification::{NewNotification, Notification};
use herald_core::plugin::{ChainStep, FailurePolicy};
use herald_core::plugin_output::{deliver_replacement, publish_replacement};
use herald_plugins::{
    CallContext, Decision, Delivery, DeliveryDecision, LoadedPlugin, PluginError, PluginHost, PluginNotification, SubscriberContext,
};
use herald_store::dead_letters::NewDeadLetter;
use herald_store::{Store, StoreError};

use crate::error::{AppError, AppResult};
use crate::events;
use crate::metrics::Metrics;
use crate::plugin_workers::{PluginWorkers, Refused};

/// What a chain did with a notification.
#[derive(Debug)]
pub enum Outcome {
    /// Store and deliver this (possibly transformed) notification.
    Publish(NewNotification),
    /// Kept out of delivery; the dead letter says why.
    Withheld { plugin: PluginName, reason: String, dead_letter: DeadLetterId },
}

/// A tenant's channels that have a chain; a channel not listed has none.
type TenantChains = Arc<HashMap<ChannelName, Chain>>;
/// A channel's chain and failure policy, as cached.
type Chain = Arc<(Vec<ChainStep>, FailurePolicy)>;
type PluginKey = (TenantId, PluginName, Option<PluginVersion>);

/// The chain runner. Cheap to clone.
#[derive(Clone)]
pub struct Chains {
    inner: Arc<Inner>,
}

struct Inner {
    host: PluginHost,
    /// Where hooks run: never on the caller's thread (`plugin_workers`).
    workers: PluginWorkers,
    /// Counts what plugins keep from subscribers.
    metrics: Metrics,
    store: Store,
    cache_ttl: Duration,
    /// Per tenant, not per channel: bounded by the number of tenants however
    /// many channels are published to, and one query per tenant per
    /// `cache_ttl` rather than one per new channel.
    chains: Mutex<HashMap<TenantId, (Instant, TenantChains)>>,
    plugins: Mutex<HashMap<PluginKey, (Instant, LoadedPlugin)>>,
    plans: Mutex<HashMap<TenantId, (Instant, Arc<DeliverPlan>)>>,
    generation: AtomicU64,
}

/// A tenant's deliver hooks by channel, resolved to compiled plugins, so a
/// stream can run them synchronously for each delivery.
#[derive(Default)]
pub struct DeliverPlan {
    channels: HashMap<ChannelName, DeliverChain>,
}

struct DeliverChain {
    steps: Vec<PlanStep>,
    policy: FailurePolicy,
}

struct PlanStep {
    name: PluginName,
    config: String,
    deadline: Option<Duration>,
    /// The plugin, or why it cannot run (not uploaded, failed to load).
    plugin: Result<LoadedPlugin, String>,
}

impl DeliverPlan {
    /// No channel of the tenant has a deliver hook.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// `channel` has deliver hooks.
    pub fn covers(&self, channel: &ChannelName) -> bool {
        self.channels.contains_key(channel)
    }
}

/// What deliver hooks did with one delivery.
#[derive(Debug)]
pub enum Delivered {
    /// Send the notification as it is (the shared frame).
    Unchanged,
    /// Send this subscriber this version (another type or data).
    Replaced(Notification),
    /// Not for this subscriber.
    Skip,
}

impl std::fmt::Debug for Chains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chains").field("cache_ttl", &self.inner.cache_ttl).finish_non_exhaustive()
    }
}

impl Chains {
    pub fn new(host: PluginHost, workers: PluginWorkers, store: Store, cache_ttl: Duration, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                host,
                workers,
                metrics,
                store,
                cache_ttl,
                chains: Mutex::default(),
                plugins: Mutex::default(),
                plans: Mutex::default(),
                generation: AtomicU64::new(0),
            }),
        }
    }

    pub fn host(&self) -> &PluginHost {
        &self.inner.host
    }

    /// The threads hooks run on.
    pub fn workers(&self) -> &PluginWorkers {
        &self.inner.workers
    }

    /// After a tenant's plugins or chains changed on this node: forgets
    /// what is cached for the tenant and rebuilds its deliver plan before
    /// returning, so that the change applies to the very next publish and
    /// delivery here (other nodes see it within `cache_ttl`).
    pub async fn changed(&self, tenant: &TenantId) {
        self.inner.chains.lock().unwrap_or_else(|e| e.into_inner()).remove(tenant);
        self.inner.plugins.lock().unwrap_or_else(|e| e.into_inner()).retain(|(t, _, _), _| t != tenant);
        if let Err(e) = self.load_plan(tenant).await {
            tracing::warn!(%tenant, error = %e, "rebuilding the deliver plan failed; streams rebuild it later");
            self.inner.plans.lock().unwrap_or_else(|e| e.into_inner()).remove(tenant);
        }
        self.inner.generation.fetch_add(1, Ordering::Release);
    }

    /// Bumped by every [`Chains::changed`]: a stream that sees a new value
    /// takes the tenant's current plan.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// The tenant's deliver plan, fresh (at most `cache_ttl` old).
    pub async fn deliver_plan(&self, tenant: &TenantId) -> AppResult<Arc<DeliverPlan>> {
        if let Some((at, plan)) = self.inner.plans.lock().unwrap_or_else(|e| e.into_inner()).get(tenant)
            && at.elapsed() < self.inner.cache_ttl
        {
            return Ok(plan.clone());
        }
        self.load_plan(tenant).await
    }

    /// Reads the tenant's chains, resolves their deliver hooks and caches the plan.
    async fn load_plan(&self, tenant: &TenantId) -> AppResult<Arc<DeliverPlan>> {
        let mut plan = DeliverPlan::default();
        for channel in self.inner.store.channels_with_plugins(tenant).await? {
            let mut steps = Vec::new();
            for step in &channel.plugins {
                let plugin = match self.load(tenant, &step.plugin, step.version.as_ref()).await {
                    Ok(p) if !p.hooks.deliver => continue,
                    Ok(p) => Ok(p),
                    Err(StepError::Store(e)) => return Err(e.into()),
                    Err(e) => Err(e.to_string()),
                };
                steps.push(PlanStep {
                    name: step.plugin.clone(),
                    config: step.config.to_string(),
                    deadline: step.deadline_ms.map(Duration::from_millis),
                    plugin,
                });
            }
            if !steps.is_empty() {
                plan.channels.insert(channel.name, DeliverChain { steps, policy: channel.failure_policy });
            }
        }
        let plan = Arc::new(plan);
        self.inner.plans.lock().unwrap_or_else(|e| e.into_inner()).insert(tenant.clone(), (Instant::now(), plan.clone()));
        Ok(plan)
    }

    /// The cached plan for a stream that already has one: when it is
    /// stale, one background task refreshes it and the stale plan serves
    /// meanwhile, so a delivery never waits on the database.
    pub fn deliver_plan_now(&self, tenant: &TenantId) -> Option<Arc<DeliverPlan>> {
        let mut plans = self.inner.plans.lock().unwrap_or_else(|e| e.into_inner());
        let (at, plan) = plans.get_mut(tenant)?;
        if at.elapsed() >= self.inner.cache_ttl {
            // Claim the refresh so that other streams do not start one too.
            *at = Instant::now();
            let (this, tenant) = (self.clone(), tenant.clone());
            tokio::spawn(async move {
                if let Err(e) = this.load_plan(&tenant).await {
                    tracing::warn!(%tenant, error = %e, "refreshing the deliver plan failed; the previous one stays");
                }
            });
        }
        Some(plan.clone())
    }

    /// Runs the deliver hooks of `n`'s channel for one subscriber, on the
    /// calling thread (a plugin worker). A step starts only if it can end
    /// by `until` (its whole deadline fits): `None` when one could not, and
    /// the notification was not decided. Cutting a step's deadline short
    /// instead would make it fail, and a fail-open redactor that fails
    /// delivers unredacted data.
    pub fn on_deliver(&self, plan: &DeliverPlan, n: &Notification, who: &Who, until: Instant) -> Option<Delivered> {
        let Some(chain) = plan.channels.get(&n.channel) else { return Some(Delivered::Unchanged) };
        let default_deadline = self.inner.host.config().default_deadline;
        // Everything a call takes is borrowed: a delivery through a chain
        // allocates only when a plugin replaces the content.
        let published_at_ms = u64::try_from(n.created_at.timestamp_millis()).unwrap_or(0);
        let subscriber = SubscriberContext { user: who.user.as_str(), claims: &who.claims };
        let mut replaced: Option<(String, String)> = None;
        for step in &chain.steps {
            if Instant::now() + step.deadline.unwrap_or(default_deadline) > until {
                return None;
            }
            let (event_type, data) = match &replaced {
                Some((event_type, data)) => (event_type.as_str(), data.as_str()),
                None => (n.event_type.as_str(), n.data.get()),
            };
            let delivery = Delivery {
                id: u64::try_from(n.id).unwrap_or(0),
                channel: n.channel.as_str(),
                event_type,
                data,
                direct: n.recipients.is_some(),
                published_at_ms,
            };
            let result = match &step.plugin {
                Ok(plugin) => {
                    let ctx = CallContext { tenant: n.tenant.as_str(), plugin_name: step.name.as_str(), deadline: step.deadline };
                    self.inner.host.on_deliver(plugin, &ctx, &delivery, &subscriber, &step.config).map_err(|e| e.to_string())
                }
                Err(reason) => Err(reason.clone()),
            };
            match result {
                Ok(DeliveryDecision::Keep) => {}
                Ok(DeliveryDecision::Replace { event_type, data }) => replaced = Some((event_type, data)),
                Ok(DeliveryDecision::Drop(reason)) => {
                    // A per-subscriber choice (quiet hours, preferences): the
                    // notification itself was stored and reaches others.
                    events::DeliverHookSkipped { tenant: &n.tenant, id: n.id, plugin: &step.name, user: &who.user, reason: &reason }
                        .emit(&self.inner.metrics);
                    return Some(Delivered::Skip);
                }
                Err(reason) => {
                    let policy = chain.policy;
                    events::DeliverHookFailed { tenant: &n.tenant, id: n.id, plugin: &step.name, error: &reason, policy }
                        .emit(&self.inner.metrics);
                    if policy == FailurePolicy::FailClosed {
                        self.record_deliver_failure(n, &step.name, &who.user, reason);
                        return Some(Delivered::Skip);
                    }
                }
            }
        }
        match replaced {
            Some((event_type, data)) if event_type != n.event_type.as_str() || data != n.data.get() => {
                match deliver_replacement(n, event_type, data) {
                    Ok(changed) => Some(Delivered::Replaced(changed)),
                    Err(reason) => {
                        tracing::warn!(tenant = %n.tenant, id = n.id, error = %reason, "a deliver hook's output is invalid; delivering the original");
                        Some(Delivered::Unchanged)
                    }
                }
            }
            _ => Some(Delivered::Unchanged),
        }
    }

    fn record_deliver_failure(&self, n: &Notification, plugin: &PluginName, user: &UserId, reason: String) {
        let (store, tenant, channel, plugin) = (self.inner.store.clone(), n.tenant.clone(), n.channel.clone(), plugin.clone());
        let notification = serde_json::json!({
            "id": n.id, "channel": n.channel.as_str(), "type": n.event_type.as_str(), "data": &n.data, "user": user.as_str(),
        });
        tokio::spawn(async move {
            let dl = NewDeadLetter {
                channel: &channel,
                plugin: &plugin,
                hook: "deliver",
                outcome: "failed",
                reason: &reason,
                notification: &notification,
            };
            if let Err(e) = store.record_dead_letter(&tenant, dl).await {
                tracing::error!(%tenant, error = %e, "recording a dead letter failed");
            }
        });
    }

    async fn chain(&self, tenant: &TenantId, channel: &ChannelName) -> Result<Option<Chain>, StoreError> {
        let cached = self.inner.chains.lock().unwrap_or_else(|e| e.into_inner()).get(tenant).cloned();
        let chains = match cached {
            Some((at, chains)) if at.elapsed() < self.inner.cache_ttl => chains,
            _ => {
                let chains: TenantChains = Arc::new(
                    self.inner
                        .store
                        .channels_with_plugins(tenant)
                        .await?
                        .into_iter()
                        .map(|c| (c.name, Arc::new((c.plugins, c.failure_policy))))
                        .collect(),
                );
                self.inner.chains.lock().unwrap_or_else(|e| e.into_inner()).insert(tenant.clone(), (Instant::now(), chains.clone()));
                chains
            }
        };
        Ok(chains.get(channel).cloned())
    }

    /// The plugin a step names, compiled (the host caches by content hash).
    pub async fn load(&self, tenant: &TenantId, name: &PluginName, version: Option<&PluginVersion>) -> Result<LoadedPlugin, StepError> {
        let key = (tenant.clone(), name.clone(), version.cloned());
        if let Some((at, p)) = self.inner.plugins.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < self.inner.cache_ttl
        {
            return Ok(p.clone());
        }
        let blob = self.inner.store.plugin_blob(tenant, name, version).await.map_err(|e| match e {
            StoreError::NotFound(_) => StepError::Missing,
            other => StepError::Store(other),
        })?;
        let (host, owner) = (self.inner.host.clone(), tenant.to_string());
        let loaded = tokio::task::spawn_blocking(move || host.load(&owner, &blob.wasm))
            .await
            .map_err(|e| StepError::Plugin(PluginError::Unavailable(e.to_string())))?
            .map_err(StepError::Plugin)?;
        self.inner.plugins.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    /// Runs the channel's publish hooks on `n`, in chain order.
    pub async fn on_publish(&self, n: NewNotification) -> AppResult<Outcome> {
        let Some(chain) = self.chain(&n.tenant, &n.channel).await? else { return Ok(Outcome::Publish(n)) };
        let (steps, policy) = (&chain.0, chain.1);
        let mut current = n;
        for step in steps {
            let result = match self.load(&current.tenant, &step.plugin, step.version.as_ref()).await {
                Ok(p) if !p.hooks.publish => continue,
                Ok(p) => self.call_publish(p, &current, step).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(Decision::Keep) => {}
                Ok(Decision::Replace(out)) => match publish_replacement(&current, &out.channel, out.event_type, out.data, out.recipients) {
                    Ok(next) => current = next,
                    Err(reason) => {
                        if let Some(withheld) = self.fail(&current, step, policy, &format!("invalid output: {reason}")).await? {
                            return Ok(withheld);
                        }
                    }
                },
                Ok(Decision::Drop(reason)) => {
                    events::PublishHookDropped {
                        tenant: &current.tenant,
                        channel: &current.channel,
                        plugin: &step.plugin,
                        reason: &reason,
                    }
                    .emit(&self.inner.metrics);
                    let dl = self.dead_letter(&current, &step.plugin, "dropped", &reason).await?;
                    return Ok(Outcome::Withheld { plugin: step.plugin.clone(), reason, dead_letter: dl });
                }
                Err(StepError::Store(e)) => return Err(e.into()),
                // Never the failure policy: a fail-open redactor skipped
                // because the tenant's queue is full would publish
                // unredacted data. The publisher is answered 503 and retries.
                Err(StepError::Busy(refused)) => return Err(refused.into()),
                Err(e) => {
                    if let Some(withheld) = self.fail(&current, step, policy, &e.to_string()).await? {
                        return Ok(withheld);
                    }
                }
            }
        }
        Ok(Outcome::Publish(current))
    }

    async fn call_publish(&self, plugin: LoadedPlugin, n: &NewNotification, step: &ChainStep) -> Result<Decision, StepError> {
        let host = self.inner.host.clone();
        let (tenant, name) = (n.tenant.clone(), step.plugin.clone());
        let deadline = step.deadline_ms.map(Duration::from_millis);
        let input = to_plugin(n);
        let config = step.config.to_string();
        let run_as = tenant.clone();
        // On the tenant's share of the plugin workers, like deliver hooks:
        // a tenant's looping publish hooks wait behind each other, not in
        // front of another tenant's.
        self.inner
            .workers
            .run(&run_as, move || {
                let ctx = CallContext { tenant: tenant.as_str(), plugin_name: name.as_str(), deadline };
                host.on_publish(&plugin, &ctx, &input, &config)
            })
            .await
            .map_err(StepError::Busy)?
            .map_err(StepError::Plugin)
    }

    /// A failed step: fail-open logs and goes on with the notification as
    /// it was; fail-closed records a dead letter and withholds it.
    async fn fail(&self, n: &NewNotification, step: &ChainStep, policy: FailurePolicy, reason: &str) -> AppResult<Option<Outcome>> {
        events::PublishHookFailed { tenant: &n.tenant, channel: &n.channel, plugin: &step.plugin, error: reason, policy }
            .emit(&self.inner.metrics);
        match policy {
            FailurePolicy::FailOpen => Ok(None),
            FailurePolicy::FailClosed => {
                let dl = self.dead_letter(n, &step.plugin, "failed", reason).await?;
                Ok(Some(Outcome::Withheld { plugin: step.plugin.clone(), reason: reason.to_owned(), dead_letter: dl }))
            }
        }
    }

    async fn dead_letter(&self, n: &NewNotification, plugin: &PluginName, outcome: &str, reason: &str) -> AppResult<DeadLetterId> {
        let notification = serde_json::json!({
            "channel": n.channel.as_str(),
            "type": n.event_type.as_str(),
            "data": &n.data,
            "recipients": &n.recipients,
        });
        let dl = self
            .inner
            .store
            .record_dead_letter(
                &n.tenant,
                NewDeadLetter { channel: &n.channel, plugin, hook: "publish", outcome, reason, notification: &notification },
            )
            .await?;
        Ok(dl.id)
    }
}

/// Why a step produced no decision.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("the plugin is not uploaded")]
    Missing,
    #[error(transparent)]
    Plugin(PluginError),
    #[error(transparent)]
    Store(StoreError),
    /// The tenant's queue on the plugin workers is full, or they stopped.
    #[error(transparent)]
    Busy(Refused),
}

impl From<StepError> for AppError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Missing => AppError::NotFound("no such plugin".into()),
            StepError::Plugin(PluginError::Invalid(m)) => DomainError::invalid("plugin", m).into(),
            StepError::Plugin(other) => AppError::Rejected(other.to_string()),
            StepError::Store(s) => s.into(),
            StepError::Busy(r) => r.into(),
        }
    }
}

/// The subscriber deliver hooks run for.
#[derive(Clone, Debug)]
pub struct Who {
    pub user: UserId,
    /// The token's claims a plugin may see, as a JSON object text.
    pub claims: String,
}

pub fn to_plugin(n: &NewNotification) -> PluginNotification {
    PluginNotification {
        channel: n.channel.to_string(),
        event_type: n.event_type.to_string(),
        data: n.data.get().to_owned(),
        recipients: n.recipients.as_ref().map(|r| r.iter().map(ToString::to_string).collect()),
        metadata: vec![("tenant".to_owned(), n.tenant.to_string())],
    }
}
