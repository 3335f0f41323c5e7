//! Events of tenants' lifecycle on this node.

use herald_core::ids::TenantId;

/// A tenant was deleted through this node; its streams here are closed.
pub struct TenantDeleted<'a> {
    pub tenant: &'a TenantId,
}

impl TenantDeleted<'_> {
    pub fn emit(self) {
        tracing::info!(tenant = %self.tenant, "tenant deleted");
    }
}

/// A tenant was suspended or resumed through this node.
pub struct SuspensionSet<'a> {
    pub tenant: &'a TenantId,
    pub suspended: bool,
}

impl SuspensionSet<'_> {
    pub fn emit(self) {
        tracing::info!(tenant = %self.tenant, suspended = self.suspended, "tenant suspension set");
    }
}

/// The suspension sweep found streams of a suspended tenant on this node
/// (suspended through another node) and closed them.
pub struct SuspendedStreamsClosed<'a> {
    pub tenant: &'a TenantId,
}

impl SuspendedStreamsClosed<'_> {
    pub fn emit(self) {
        tracing::info!(tenant = %self.tenant, "closing the streams of a suspended tenant");
    }
}
