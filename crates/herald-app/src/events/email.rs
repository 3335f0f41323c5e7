//! Events of the email worker ([`crate::email_outbox`]): a log line for
//! each outcome, and the `emails` counts `/metrics` reports. Emitted once
//! the outcome is recorded in the outbox.

use std::time::Duration;

use herald_core::ids::TenantId;

use crate::metrics::{EmailOutcome, Metrics};

/// An email went out.
pub struct EmailSent<'a> {
    pub email: &'a str,
    pub tenant: &'a TenantId,
    pub notifications: usize,
    pub attempt: u32,
}

impl EmailSent<'_> {
    pub fn emit(self, metrics: &Metrics) {
        tracing::debug!(email = self.email, tenant = %self.tenant, notifications = self.notifications, attempt = self.attempt, "email sent");
        metrics.email(EmailOutcome::Sent);
    }
}

/// A transient failure: the same email is tried again later.
pub struct EmailDeferred<'a> {
    pub email: &'a str,
    pub tenant: &'a TenantId,
    pub attempt: u32,
    pub error: &'a str,
    pub retry_in: Duration,
}

impl EmailDeferred<'_> {
    pub fn emit(self, metrics: &Metrics) {
        tracing::info!(email = self.email, tenant = %self.tenant, attempt = self.attempt, error = self.error, retry_in = ?self.retry_in, "email deferred");
        metrics.email(EmailOutcome::Deferred);
    }
}

/// An email given up for good (a permanent failure, too many attempts, or
/// the tenant's email quota).
pub struct EmailFailed<'a> {
    pub email: &'a str,
    pub tenant: &'a TenantId,
    pub attempt: u32,
    pub error: &'a str,
}

impl EmailFailed<'_> {
    pub fn emit(self, metrics: &Metrics) {
        tracing::warn!(email = self.email, tenant = %self.tenant, attempt = self.attempt, error = self.error, "email failed");
        metrics.email(EmailOutcome::Failed);
    }
}

/// An email no longer needed (delivered live, unsubscribed, policy gone).
pub struct EmailCancelled<'a> {
    pub email: &'a str,
    pub tenant: &'a TenantId,
    pub reason: &'a str,
}

impl EmailCancelled<'_> {
    pub fn emit(self, metrics: &Metrics) {
        tracing::debug!(email = self.email, tenant = %self.tenant, reason = self.reason, "email cancelled");
        metrics.email(EmailOutcome::Cancelled);
    }
}
