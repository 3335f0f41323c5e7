//! Events of tenants' plugin chains ([`crate::plugin_chain`]): a log line
//! for each, and the `plugin_dropped` counts `/metrics` reports.

use herald_core::ids::{Seq, TenantId};
use herald_core::names::{ChannelName, PluginName, UserId};
use herald_core::plugin::FailurePolicy;

use crate::metrics::{Metrics, PluginDrop};

/// A deliver hook chose not to deliver to one subscriber (quiet hours,
/// preferences): the notification was stored and reaches the others.
pub struct DeliverHookSkipped<'a> {
    pub tenant: &'a TenantId,
    pub id: Seq,
    pub plugin: &'a PluginName,
    pub user: &'a UserId,
    pub reason: &'a str,
}

impl DeliverHookSkipped<'_> {
    pub fn emit(self, metrics: &Metrics) {
        tracing::debug!(tenant = %self.tenant, id = self.id, plugin = %self.plugin, user = %self.user, reason = self.reason, "deliver hook skipped a delivery");
        metrics.plugin_dropped(PluginDrop::Filtered);
    }
}

/// A deliver hook failed; the channel's policy decides what happens.
pub struct DeliverHookFailed<'a> {
    pub tenant: &'a TenantId,
    pub id: Seq,
    pub plugin: &'a PluginName,
    pub error: &'a str,
    pub policy: FailurePolicy,
}

impl DeliverHookFailed<'_> {
    pub fn emit(self, metrics: &Metrics) {
        match self.policy {
            FailurePolicy::FailOpen => {
                tracing::warn!(tenant = %self.tenant, id = self.id, plugin = %self.plugin, error = self.error, "deliver hook failed; delivering (fail-open)");
            }
            FailurePolicy::FailClosed => {
                tracing::warn!(tenant = %self.tenant, id = self.id, plugin = %self.plugin, error = self.error, "deliver hook failed; withholding the delivery (fail-closed)");
                metrics.plugin_dropped(PluginDrop::Failed);
            }
        }
    }
}

/// A publish hook dropped a notification (it becomes a dead letter).
pub struct PublishHookDropped<'a> {
    pub tenant: &'a TenantId,
    pub channel: &'a ChannelName,
    pub plugin: &'a PluginName,
    pub reason: &'a str,
}

impl PublishHookDropped<'_> {
    pub fn emit(self, metrics: &Metrics) {
        tracing::debug!(tenant = %self.tenant, channel = %self.channel, plugin = %self.plugin, reason = self.reason, "publish hook withheld a notification");
        metrics.plugin_dropped(PluginDrop::Filtered);
    }
}

/// A publish hook failed; the channel's policy decides what happens.
pub struct PublishHookFailed<'a> {
    pub tenant: &'a TenantId,
    pub channel: &'a ChannelName,
    pub plugin: &'a PluginName,
    pub error: &'a str,
    pub policy: FailurePolicy,
}

impl PublishHookFailed<'_> {
    pub fn emit(self, metrics: &Metrics) {
        match self.policy {
            FailurePolicy::FailOpen => {
                tracing::warn!(tenant = %self.tenant, channel = %self.channel, plugin = %self.plugin, error = self.error, "plugin failed; passing the notification on (fail-open)");
            }
            FailurePolicy::FailClosed => {
                tracing::warn!(tenant = %self.tenant, channel = %self.channel, plugin = %self.plugin, error = self.error, "plugin failed; withholding the notification (fail-closed)");
                metrics.plugin_dropped(PluginDrop::Failed);
            }
        }
    }
}
