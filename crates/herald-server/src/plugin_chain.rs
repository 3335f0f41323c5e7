//! Running a channel's plugin chain on publish: which plugins, in which
//! version, what a failure does (the channel's failure policy), and the
//! dead-letter record for everything a chain keeps out of delivery.
//!
//! Chains and plugin versions are cached per node for `cache_ttl`, so a
//! changed chain or a newly uploaded version takes effect within that time
//! on every node, without a restart. Compiled components are cached by the
//! plugin host, by content hash.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_core::ids::{DeadLetterId, TenantId};
use herald_core::names::{ChannelName, EventType, PluginName, PluginVersion, UserId};
use herald_core::notification::NewNotification;
use herald_core::plugin::{ChainStep, FailurePolicy};
use herald_core::{DomainError, limits};
use herald_plugins::{CallContext, Decision, LoadedPlugin, PluginError, PluginHost, PluginNotification};
use herald_store::dead_letters::NewDeadLetter;
use herald_store::{Store, StoreError};
use serde_json::value::RawValue;

use crate::problem::{ApiError, ApiResult};

/// What a chain did with a notification.
#[derive(Debug)]
pub enum Outcome {
    /// Store and deliver this (possibly transformed) notification.
    Publish(NewNotification),
    /// Kept out of delivery; the dead letter says why.
    Withheld { plugin: PluginName, reason: String, dead_letter: DeadLetterId },
}

type ChainKey = (TenantId, ChannelName);
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
    store: Store,
    cache_ttl: Duration,
    chains: Mutex<HashMap<ChainKey, (Instant, Chain)>>,
    plugins: Mutex<HashMap<PluginKey, (Instant, LoadedPlugin)>>,
}

impl std::fmt::Debug for Chains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chains").field("cache_ttl", &self.inner.cache_ttl).finish_non_exhaustive()
    }
}

impl Chains {
    pub fn new(host: PluginHost, store: Store, cache_ttl: Duration) -> Self {
        Self { inner: Arc::new(Inner { host, store, cache_ttl, chains: Mutex::default(), plugins: Mutex::default() }) }
    }

    pub fn host(&self) -> &PluginHost {
        &self.inner.host
    }

    /// Forgets what is cached for a tenant's plugin (after an upload or a
    /// delete on this node; other nodes see it after `cache_ttl`).
    pub fn forget_plugin(&self, tenant: &TenantId, name: &PluginName) {
        self.inner.plugins.lock().unwrap_or_else(|e| e.into_inner()).retain(|(t, n, _), _| !(t == tenant && n == name));
    }

    /// Forgets a channel's cached chain (after it changed on this node).
    pub fn forget_channel(&self, tenant: &TenantId, channel: &ChannelName) {
        self.inner.chains.lock().unwrap_or_else(|e| e.into_inner()).remove(&(tenant.clone(), channel.clone()));
    }

    async fn chain(&self, tenant: &TenantId, channel: &ChannelName) -> Result<Chain, StoreError> {
        let key = (tenant.clone(), channel.clone());
        if let Some((at, chain)) = self.inner.chains.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < self.inner.cache_ttl
        {
            return Ok(chain.clone());
        }
        let chain = match self.inner.store.get_channel(tenant, channel).await {
            Ok(c) => Arc::new((c.plugins, c.failure_policy)),
            // Created on first publish, with no plugins.
            Err(StoreError::NotFound(_)) => Arc::new((Vec::new(), FailurePolicy::default())),
            Err(e) => return Err(e),
        };
        self.inner.chains.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (Instant::now(), chain.clone()));
        Ok(chain)
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
        let host = self.inner.host.clone();
        let loaded = tokio::task::spawn_blocking(move || host.load(&blob.wasm))
            .await
            .map_err(|e| StepError::Plugin(PluginError::Unavailable(e.to_string())))?
            .map_err(StepError::Plugin)?;
        self.inner.plugins.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    /// Runs the channel's publish hooks on `n`, in chain order.
    pub async fn on_publish(&self, n: NewNotification) -> ApiResult<Outcome> {
        let chain = self.chain(&n.tenant, &n.channel).await?;
        let (steps, policy) = (&chain.0, chain.1);
        if steps.is_empty() {
            return Ok(Outcome::Publish(n));
        }
        let mut current = n;
        for step in steps {
            let result = match self.load(&current.tenant, &step.plugin, step.version.as_ref()).await {
                Ok(p) if !p.hooks.publish => continue,
                Ok(p) => self.call_publish(p, &current, step).await.map_err(StepError::Plugin),
                Err(e) => Err(e),
            };
            match result {
                Ok(Decision::Keep) => {}
                Ok(Decision::Replace(out)) => match apply(&current, out) {
                    Ok(next) => current = next,
                    Err(reason) => {
                        if let Some(withheld) = self.fail(&current, step, policy, &format!("invalid output: {reason}")).await? {
                            return Ok(withheld);
                        }
                    }
                },
                Ok(Decision::Drop(reason)) => {
                    let dl = self.dead_letter(&current, &step.plugin, "dropped", &reason).await?;
                    return Ok(Outcome::Withheld { plugin: step.plugin.clone(), reason, dead_letter: dl });
                }
                Err(StepError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    if let Some(withheld) = self.fail(&current, step, policy, &e.to_string()).await? {
                        return Ok(withheld);
                    }
                }
            }
        }
        Ok(Outcome::Publish(current))
    }

    async fn call_publish(&self, plugin: LoadedPlugin, n: &NewNotification, step: &ChainStep) -> Result<Decision, PluginError> {
        let host = self.inner.host.clone();
        let ctx = CallContext {
            tenant: n.tenant.to_string(),
            plugin_name: step.plugin.to_string(),
            deadline: step.deadline_ms.map(Duration::from_millis),
        };
        let input = to_plugin(n);
        let config = step.config.to_string();
        tokio::task::spawn_blocking(move || host.on_publish(&plugin, &ctx, &input, &config))
            .await
            .map_err(|e| PluginError::Unavailable(e.to_string()))?
    }

    /// A failed step: fail-open logs and goes on with the notification as
    /// it was; fail-closed records a dead letter and withholds it.
    async fn fail(&self, n: &NewNotification, step: &ChainStep, policy: FailurePolicy, reason: &str) -> ApiResult<Option<Outcome>> {
        match policy {
            FailurePolicy::FailOpen => {
                tracing::warn!(tenant = %n.tenant, channel = %n.channel, plugin = %step.plugin, error = reason, "plugin failed; passing the notification on (fail-open)");
                Ok(None)
            }
            FailurePolicy::FailClosed => {
                tracing::warn!(tenant = %n.tenant, channel = %n.channel, plugin = %step.plugin, error = reason, "plugin failed; withholding the notification (fail-closed)");
                let dl = self.dead_letter(n, &step.plugin, "failed", reason).await?;
                Ok(Some(Outcome::Withheld { plugin: step.plugin.clone(), reason: reason.to_owned(), dead_letter: dl }))
            }
        }
    }

    async fn dead_letter(&self, n: &NewNotification, plugin: &PluginName, outcome: &str, reason: &str) -> ApiResult<DeadLetterId> {
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
}

impl From<StepError> for ApiError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Missing => ApiError::NotFound("no such plugin".into()),
            StepError::Plugin(PluginError::Invalid(m)) => DomainError::invalid("plugin", m).into(),
            StepError::Plugin(other) => ApiError::BadRequest(other.to_string()),
            StepError::Store(s) => s.into(),
        }
    }
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

/// A replacement from a publish hook, checked like a publisher's input.
/// The channel cannot change: the chain belongs to the channel, and moving
/// a notification elsewhere would skip that channel's own chain.
fn apply(current: &NewNotification, out: PluginNotification) -> Result<NewNotification, String> {
    if out.channel != current.channel.as_str() {
        return Err(format!("a publish hook cannot move a notification to another channel (`{}`)", out.channel));
    }
    let event_type = EventType::parse(out.event_type).map_err(|e| e.to_string())?;
    let data = RawValue::from_string(out.data).map_err(|e| format!("data is not JSON: {e}"))?;
    let recipients = match out.recipients {
        None => None,
        Some(r) if r.len() > limits::MAX_RECIPIENTS => return Err(format!("at most {} recipients", limits::MAX_RECIPIENTS)),
        Some(r) => Some(r.into_iter().map(UserId::parse).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?),
    };
    Ok(NewNotification {
        tenant: current.tenant.clone(),
        channel: current.channel.clone(),
        event_type,
        data,
        recipients,
        idempotency_key: current.idempotency_key.clone(),
    })
}
