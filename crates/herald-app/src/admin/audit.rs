//! The audit log and the claims behind `Idempotency-Key`s.

use std::time::Duration;

use herald_core::ids::TenantId;
use herald_store::audit::{AuditEvent, AuditEventId, AuditFilter, NewAuditEvent};
use herald_store::idempotent_requests::Claim;

use crate::App;
use crate::error::AppResult;

impl App {
    /// Every tenant's events (or one tenant's, existing or deleted), newest
    /// first, before the cursor `after`. For the operator only.
    pub async fn list_audit_events(
        &self,
        tenant: Option<&TenantId>,
        filter: AuditFilter<'_>,
        after: Option<&AuditEventId>,
        limit: u64,
    ) -> AppResult<Vec<AuditEvent>> {
        Ok(self.inner.store.list_audit_events(tenant, filter, after, limit).await?)
    }

    /// One tenant's events, newest first, before the cursor `after`.
    pub async fn list_tenant_audit_events(
        &self,
        tenant: &TenantId,
        filter: AuditFilter<'_>,
        after: Option<&AuditEventId>,
        limit: u64,
    ) -> AppResult<Vec<AuditEvent>> {
        Ok(self.inner.store.list_tenant_audit_events(tenant, filter, after, limit).await?)
    }

    /// Records one change. Awaited by the request that made it, so the
    /// caller finds it in the log as soon as it has its answer.
    pub async fn record_audit_event(&self, event: &NewAuditEvent<'_>) -> AppResult<AuditEventId> {
        Ok(self.inner.store.record_audit_event(event).await?)
    }

    /// Claims `id` for a request whose method, path and body hash to
    /// `request_hash`. Rows older than `ttl` are forgotten; a claim still
    /// unanswered after `stale_after` (its server died mid-request) is
    /// taken over.
    pub async fn claim_idempotent_request(&self, id: &str, request_hash: &str, stale_after: Duration, ttl: Duration) -> AppResult<Claim> {
        Ok(self.inner.store.claim_idempotent_request(id, request_hash, stale_after, ttl).await?)
    }

    /// Records the answer to a claimed request.
    pub async fn complete_idempotent_request(&self, id: &str, status: u16, response: &str) -> AppResult<()> {
        Ok(self.inner.store.complete_idempotent_request(id, status, response).await?)
    }

    /// Forgets a claim whose request changed nothing (it failed), so that a
    /// retry runs again.
    pub async fn release_idempotent_request(&self, id: &str) -> AppResult<()> {
        Ok(self.inner.store.release_idempotent_request(id).await?)
    }
}
