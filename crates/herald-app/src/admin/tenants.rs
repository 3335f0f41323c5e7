//! Tenants and operator keys, as the operator manages them.

use herald_core::ids::TenantId;
use herald_core::model::Tenant;
use herald_core::names::TenantName;

use crate::App;
use crate::error::AppResult;

impl App {
    pub async fn create_tenant(&self, name: &TenantName) -> AppResult<Tenant> {
        Ok(self.inner.store.create_tenant(name).await?)
    }

    /// Deletes the tenant and everything it owns; its streams on this node
    /// end at once (other nodes' streams end when their relay finds the
    /// tenant gone).
    pub async fn delete_tenant(&self, id: &TenantId) -> AppResult<()> {
        self.inner.store.delete_tenant(id).await?;
        self.inner.hub.close_tenant(id);
        self.inner.origins.refusals().forget(id);
        crate::events::TenantDeleted { tenant: id }.emit();
        Ok(())
    }

    pub async fn get_tenant(&self, id: &TenantId) -> AppResult<Tenant> {
        Ok(self.inner.store.get_tenant(id).await?)
    }

    /// Tenants in id order (which is creation order), after `after`.
    pub async fn list_tenants(&self, after: Option<&TenantId>, limit: u64) -> AppResult<Vec<Tenant>> {
        Ok(self.inner.store.list_tenants(after, limit).await?)
    }

    /// Renames and/or suspends (or resumes) a tenant. A suspension closes
    /// the tenant's streams on this node at once; other nodes follow within
    /// the key-cache lifetime ([`crate::close_suspended_streams`]).
    pub async fn update_tenant(&self, id: &TenantId, name: Option<&TenantName>, suspended: Option<bool>) -> AppResult<Tenant> {
        let tenant = self.inner.store.update_tenant(id, name, suspended).await?;
        if tenant.suspended {
            // After the flag is stored, so a stream opening meanwhile is
            // either refused or closed here (or by the next sweep).
            self.inner.hub.close_tenant(id);
        }
        if let Some(suspended) = suspended {
            crate::events::SuspensionSet { tenant: id, suspended }.emit();
        }
        Ok(tenant)
    }
}
