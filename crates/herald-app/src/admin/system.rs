//! The node's own health: database reachable, migrations applied.

use crate::App;
use crate::error::AppResult;

impl App {
    /// Migrations this binary knows that the database has not applied (for
    /// the readiness check: a node must not serve an older schema).
    pub async fn pending_migrations(&self) -> AppResult<usize> {
        Ok(self.inner.store.pending_migrations().await?)
    }

    /// Round-trips a trivial query (for health checks).
    pub async fn ping(&self) -> AppResult<()> {
        Ok(self.inner.store.ping().await?)
    }
}

/// The node's live figures and its peers' link, for the stats routes and
/// readiness.
impl App {
    /// This node's live figures of one tenant.
    pub fn tenant_usage(&self, tenant: &herald_core::ids::TenantId) -> crate::TenantSnapshot {
        self.inner.usage.snapshot(tenant)
    }

    /// This node's live figures of every tenant it has seen.
    pub fn all_usage(&self) -> Vec<(herald_core::ids::TenantId, crate::TenantSnapshot)> {
        self.inner.usage.snapshot_all()
    }

    /// The tenant's quotas as this node enforces them (cached).
    pub async fn effective_quotas(&self, tenant: &herald_core::ids::TenantId) -> AppResult<crate::records::Quotas> {
        Ok(self.inner.usage.quotas(tenant).await?)
    }

    /// How long this node has been counting.
    pub fn uptime(&self) -> std::time::Duration {
        self.inner.usage.uptime()
    }

    /// Failed calls of the tenant's plugins on this node. The host counts
    /// per tenant and component, so versions with the same bytes are counted once.
    pub async fn plugin_call_errors(&self, tenant: &herald_core::ids::TenantId, max_plugins: u64) -> AppResult<u64> {
        let plugins = self.inner.store.list_plugins(tenant, None, max_plugins).await?;
        let hashes: std::collections::HashSet<&str> = plugins.iter().map(|p| p.sha256.as_str()).collect();
        let host = self.inner.chains.host();
        Ok(hashes.into_iter().map(|h| host.stats(tenant.as_str(), h).errors()).sum())
    }

    /// Whether this node hears the bus between nodes.
    pub fn bus_status(&self) -> crate::records::BusStatus {
        self.inner.bus.status()
    }

    /// Which database this node runs on (`sqlite`, `postgres`).
    pub fn backend_name(&self) -> &'static str {
        self.inner.store.backend_name()
    }

    /// Checks a one-click unsubscribe token; what it names.
    pub fn verify_unsubscribe(&self, token: &str) -> Result<crate::records::UnsubscribeScope, crate::records::UnsubscribeError> {
        self.inner.unsubscribe.verify(token)
    }

    /// Streams asked to reconnect and closed over `window`, at shutdown;
    /// returns how many.
    pub async fn drain_streams(&self, window: std::time::Duration) -> usize {
        self.inner.hub.drain(window).await
    }
}
