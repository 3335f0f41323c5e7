//! Tenants' quotas as stored.

use chrono::{DateTime, Utc};
use herald_core::ids::TenantId;
use herald_store::quotas::Quotas;

use crate::App;
use crate::error::AppResult;

impl App {
    /// Dead letters of the tenant since `since`, counted by outcome
    /// (`dropped`, `failed`, …), most frequent first.
    pub async fn dead_letters_since(&self, tenant: &TenantId, since: DateTime<Utc>) -> AppResult<Vec<(String, u64)>> {
        Ok(self.inner.store.dead_letters_since(tenant, since).await?)
    }

    /// Delivery log entries of the tenant since `since`, counted by status
    /// (`sent`, `failed`, …), most frequent first.
    pub async fn delivery_outcomes_since(&self, tenant: &TenantId, since: DateTime<Utc>) -> AppResult<Vec<(String, u64)>> {
        Ok(self.inner.store.delivery_outcomes_since(tenant, since).await?)
    }

    /// The tenant's quotas (all `None` when none were set). Does not check
    /// that the tenant exists: callers have authorized it already.
    pub async fn quotas(&self, tenant: &TenantId) -> AppResult<Quotas> {
        Ok(self.inner.store.quotas(tenant).await?)
    }

    /// Sets the tenant's quotas; this node enforces them at once.
    pub async fn set_quotas(&self, tenant: &TenantId, quotas: &Quotas) -> AppResult<()> {
        self.inner.store.set_quotas(tenant, quotas).await?;
        self.inner.usage.quotas_changed(tenant, *quotas);
        Ok(())
    }
}
