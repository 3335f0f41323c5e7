//! A tenant's plugins: uploads (validated by the sandbox before they are stored), versions, deletion.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use herald_core::DomainError;
use herald_core::ids::{PluginId, TenantId};
use herald_core::names::{PluginName, PluginVersion};
use herald_core::plugin::{Hooks, Plugin};
use herald_plugins::{CallContext, Decision, Delivery, DeliveryDecision, PluginError, PluginNotification, PluginStats, SubscriberContext};
use herald_store::plugins::NewPlugin;
use herald_store::quotas::Quotas;

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

/// The plugin quotas of a tenant with none set: every tenant's plugins are
/// bounded, since each costs storage, memory on every node that runs it and
/// a compile.
pub const DEFAULT_MAX_PLUGINS: u32 = 50;
/// Versions kept of each plugin when the tenant's quota is unset.
pub const DEFAULT_MAX_PLUGIN_VERSIONS: u32 = 20;
/// Bytes of components (all versions of all plugins) when the tenant's quota is unset: 64 MiB.
pub const DEFAULT_MAX_PLUGIN_BYTES: u64 = 64 * 1024 * 1024;
/// Plugin uploads a minute, per node, when the tenant's quota is unset.
pub const DEFAULT_PLUGIN_UPLOADS_PER_MINUTE: u32 = 30;

/// A tenant's plugin quotas with the defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PluginQuotas {
    pub(crate) max_plugins: u32,
    pub(crate) max_versions: u32,
    pub(crate) max_bytes: u64,
    pub(crate) uploads_per_minute: u32,
}

impl PluginQuotas {
    pub(crate) fn of(q: &Quotas) -> Self {
        Self {
            max_plugins: q.max_plugins.unwrap_or(DEFAULT_MAX_PLUGINS),
            max_versions: q.max_plugin_versions.unwrap_or(DEFAULT_MAX_PLUGIN_VERSIONS),
            max_bytes: q.max_plugin_bytes.unwrap_or(DEFAULT_MAX_PLUGIN_BYTES),
            uploads_per_minute: q.plugin_uploads_per_minute.unwrap_or(DEFAULT_PLUGIN_UPLOADS_PER_MINUTE),
        }
    }

    /// May a version of `name` of `size` bytes join the stored versions
    /// (`footprint`: name and size of each)?
    pub(crate) fn admit(&self, footprint: &[(String, u64)], name: &str, size: u64) -> AppResult<()> {
        let names: HashSet<&str> = footprint.iter().map(|(n, _)| n.as_str()).collect();
        if !names.contains(name) && names.len() >= self.max_plugins as usize {
            return Err(AppError::PluginQuotaExceeded(format!(
                "the tenant has {} plugins and its `max_plugins` quota is {}; delete one first",
                names.len(),
                self.max_plugins
            )));
        }
        let versions = footprint.iter().filter(|(n, _)| n == name).count();
        if versions >= self.max_versions as usize {
            return Err(AppError::PluginQuotaExceeded(format!(
                "plugin `{name}` has {versions} versions and the `max_plugin_versions` quota is {}; delete an old one first",
                self.max_versions
            )));
        }
        let bytes: u64 = footprint.iter().map(|(_, s)| *s).sum();
        if bytes.saturating_add(size) > self.max_bytes {
            return Err(AppError::PluginQuotaExceeded(format!(
                "the tenant's plugins take {bytes} bytes; {size} more would pass its `max_plugin_bytes` quota of {}",
                self.max_bytes
            )));
        }
        Ok(())
    }
}

impl App {
    /// Largest component an upload may carry.
    pub fn max_component_bytes(&self) -> usize {
        self.inner.chains.host().config().max_component_bytes
    }

    /// Validates an uploaded component in the sandbox (off the async
    /// workers: compiling takes milliseconds to seconds), then stores it as
    /// a new version; this node's plans see it at once.
    ///
    /// First the tenant's plugin quotas: the upload rate (429), then the
    /// number of plugins, of versions of this one and the bytes of all of
    /// them (409), each the tenant's quota or, unset, the default. The
    /// counts are read before storing, so uploads racing each other may
    /// pass one over by their number.
    pub async fn upload_plugin(
        &self,
        tenant: &TenantId,
        name: &PluginName,
        version: &PluginVersion,
        wasm: bytes::Bytes,
    ) -> AppResult<Plugin> {
        let quotas = PluginQuotas::of(&self.inner.usage.quotas(tenant).await?);
        self.inner.usage.admit_plugin_upload(tenant, quotas.uploads_per_minute)?;
        let footprint = self.inner.store.plugin_footprint(tenant).await?;
        quotas.admit(&footprint, name.as_str(), wasm.len() as u64)?;
        let host = self.inner.chains.host().clone();
        let (bytes, owner) = (wasm.clone(), tenant.to_string());
        let loaded = tokio::task::spawn_blocking(move || host.load(&owner, &bytes))
            .await
            .map_err(|e| AppError::Rejected(e.to_string()))?
            .map_err(|e| match e {
            PluginError::Invalid(m) => AppError::Domain(DomainError::invalid("component", m)),
            other => AppError::Domain(DomainError::invalid("component", other.to_string())),
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
            .map(|p| (host.stats(tenant.as_str(), &p.sha256), p))
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
    /// fail by their policy until it is uploaded again. This node's host
    /// forgets the tenant's instances and statistics of bytes that no
    /// version of the plugin has any more.
    pub async fn delete_plugin(&self, tenant: &TenantId, name: &PluginName, version: Option<&PluginVersion>) -> AppResult<()> {
        let before = self.inner.store.plugin_versions(tenant, name).await.unwrap_or_default();
        self.inner.store.delete_plugin(tenant, name, version).await?;
        self.inner.chains.changed(tenant).await;
        let kept: HashSet<String> = match version {
            None => HashSet::new(),
            Some(v) => before.iter().filter(|p| &p.version != v).map(|p| p.sha256.clone()).collect(),
        };
        let host = self.inner.chains.host();
        for gone in before.iter().map(|p| &p.sha256).filter(|h| !kept.contains(*h)).collect::<HashSet<_>>() {
            host.unload(tenant.as_str(), gone);
        }
        Ok(())
    }

    /// Every uploaded version, oldest first (ids are time-ordered), after
    /// `after`; without the bytes.
    pub async fn list_plugins(&self, tenant: &TenantId, after: Option<&PluginId>, limit: u64) -> AppResult<Vec<Plugin>> {
        Ok(self.inner.store.list_plugins(tenant, after, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_quotas_default_and_count_names_versions_and_bytes() {
        let q = PluginQuotas::of(&Quotas::default());
        assert_eq!((q.max_plugins, q.max_versions, q.max_bytes, q.uploads_per_minute), (50, 20, 64 * 1024 * 1024, 30));
        let q = PluginQuotas::of(&Quotas {
            max_plugins: Some(2),
            max_plugin_versions: Some(2),
            max_plugin_bytes: Some(100),
            ..Quotas::default()
        });
        let stored = vec![("a".to_owned(), 10), ("a".to_owned(), 10), ("b".to_owned(), 10)];
        let refused = |r: AppResult<()>, what: &str| match r {
            Err(AppError::PluginQuotaExceeded(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("unexpected {other:?}"),
        };
        refused(q.admit(&stored, "c", 1), "`max_plugins` quota is 2");
        refused(q.admit(&stored, "a", 1), "`max_plugin_versions` quota is 2");
        refused(q.admit(&stored, "b", 71), "`max_plugin_bytes` quota of 100");
        q.admit(&stored, "b", 70).unwrap();
        q.admit(&[], "c", 100).unwrap();
    }
}
