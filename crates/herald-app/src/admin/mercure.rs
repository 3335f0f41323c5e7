//! A tenant's Mercure hub settings (issue 21).

use herald_core::ids::TenantId;
use herald_core::mercure::Settings;

use crate::App;
use crate::error::{AppError, AppResult};

impl App {
    /// The tenant's hub settings; not found when it has none.
    pub async fn mercure_settings(&self, tenant: &TenantId) -> AppResult<Settings> {
        self.inner.store.get_tenant(tenant).await?;
        self.inner
            .store
            .mercure_settings(tenant)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("tenant {tenant} has no Mercure hub set up: PUT its settings first")))
    }

    /// Sets or replaces the tenant's hub settings (already checked).
    pub async fn put_mercure_settings(&self, tenant: &TenantId, settings: &Settings) -> AppResult<()> {
        Ok(self.inner.store.put_mercure_settings(tenant, settings).await?)
    }
}
