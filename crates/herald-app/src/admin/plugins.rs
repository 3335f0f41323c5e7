//! A tenant's plugins: uploads (validated by the sandbox before they are stored), versions, deletion.

use std::time::{Duration, Instant};

use herald_core::DomainError;
use herald_core::ids::{PluginId, TenantId};
use herald_core::names::{PluginName, PluginVersion};
use herald_core::plugin::{Hooks, Plugin};
use herald_plugins::{CallContext, Decision, Delivery, DeliveryDecision, PluginError, PluginNotification, PluginStats, SubscriberContext};
use herald_store::plugins::NewPlugin;

use crate::App;
use crate::error::{AppError, AppResult};

/// A sample for [`App::test_plugin`]: the notification as a plugin sees
/// it, the subscriber (user, claims JSON) for a deliver hook, and the
/// configuration a chain would give.
#[derive(Debug)]
pub struct PluginSample {
    pub notification: PluginNotification,
    pub subscriber: Option<(String, String)>,
    pub config: String,
}

/// What a test run gave.
#[derive(Debug)]
pub struct PluginTestRun {
    pub version: String,
    pub result: Result<Decision, PluginError>,
    pub elapsed: Duration,
}

impl App {
    /// Largest component an upload may carry.
    pub fn max_component_bytes(&self) -> usize {
        self.inner.chains.host().config().max_component_bytes
    }

    /// Validates an uploaded component in the sandbox (off the async
    /// workers: compiling takes milliseconds to seconds), then stores it as
    /// a new version; this node's plans see it at once.
    pub async fn upload_plugin(
        &self,
        tenant: &TenantId,
        name: &PluginName,
        version: &PluginVersion,
        wasm: bytes::Bytes,
    ) -> AppResult<Plugin> {
        let host = self.inner.chains.host().clone();
        let bytes = wasm.clone();
        let loaded =
            tokio::task::spawn_blocking(move || host.load(&bytes)).await.map_err(|e| AppError::Rejected(e.to_string()))?.map_err(|e| {
                match e {
                    PluginError::Invalid(m) => AppError::Domain(DomainError::invalid("component", m)),
                    other => AppError::Domain(DomainError::invalid("component", other.to_string())),
                }
            })?;
        let hooks = Hooks { publish: loaded.hooks.publish, deliver: loaded.hooks.deliver };
        let new = NewPlugin { name, version, sha256: &loaded.hash, hooks, wasm: &wasm };
        let plugin = self.inner.store.create_plugin(tenant, new).await?;
        self.inner.chains.changed(tenant).await;
        Ok(plugin)
    }

    /// A plugin's versions, newest first, each with its call statistics on
    /// this node.
    pub async fn plugin_versions(&self, tenant: &TenantId, name: &PluginName) -> AppResult<Vec<(Plugin, PluginStats)>> {
        let host = self.inner.chains.host();
        Ok(self
            .inner
            .store
            .plugin_versions(tenant, name)
            .await?
            .into_iter()
            .map(|p| (host.stats(&p.sha256), p))
            .map(|(s, p)| (p, s))
            .collect())
    }

    /// Runs one hook of a stored plugin on a sample, as a chain would (off
    /// the async workers); returns the version tested, the decision or the
    /// failure, and the call's time.
    pub async fn test_plugin(
        &self,
        tenant: &TenantId,
        name: &PluginName,
        version: Option<&PluginVersion>,
        sample: PluginSample,
    ) -> AppResult<PluginTestRun> {
        let blob = self.inner.store.plugin_blob(tenant, name, version).await?;
        let tested = blob.plugin.version.to_string();
        let loaded = self.inner.chains.load(tenant, name, Some(&blob.plugin.version)).await?;
        let host = self.inner.chains.host().clone();
        let (tenant, name) = (tenant.clone(), name.clone());
        let published_at_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let (result, elapsed) = tokio::task::spawn_blocking(move || {
            let PluginSample { notification: n, subscriber, config } = sample;
            let ctx = CallContext { tenant: tenant.as_str(), plugin_name: name.as_str(), deadline: None };
            let start = Instant::now();
            let r = match &subscriber {
                Some((user, claims)) => {
                    // The sample as a stored notification would be delivered (id 0: not stored).
                    let delivery = Delivery {
                        id: 0,
                        channel: &n.channel,
                        event_type: &n.event_type,
                        data: &n.data,
                        direct: n.recipients.is_some(),
                        published_at_ms,
                    };
                    let who = SubscriberContext { user, claims };
                    host.on_deliver(&loaded, &ctx, &delivery, &who, &config).map(|d| match d {
                        DeliveryDecision::Keep => Decision::Keep,
                        DeliveryDecision::Drop(reason) => Decision::Drop(reason),
                        DeliveryDecision::Replace { event_type, data } => {
                            Decision::Replace(PluginNotification { event_type, data, ..n.clone() })
                        }
                    })
                }
                None => host.on_publish(&loaded, &ctx, &n, &config),
            };
            (r, start.elapsed())
        })
        .await
        .map_err(|e| AppError::Rejected(e.to_string()))?;
        Ok(PluginTestRun { version: tested, result, elapsed })
    }

    /// Deletes a plugin version, or the whole plugin; chains that name it
    /// fail by their policy until it is uploaded again.
    pub async fn delete_plugin(&self, tenant: &TenantId, name: &PluginName, version: Option<&PluginVersion>) -> AppResult<()> {
        self.inner.store.delete_plugin(tenant, name, version).await?;
        self.inner.chains.changed(tenant).await;
        Ok(())
    }

    /// Every uploaded version, oldest first (ids are time-ordered), after
    /// `after`; without the bytes.
    pub async fn list_plugins(&self, tenant: &TenantId, after: Option<&PluginId>, limit: u64) -> AppResult<Vec<Plugin>> {
        Ok(self.inner.store.list_plugins(tenant, after, limit).await?)
    }
}
