//! Plain Rust types of the public API: what goes into a hook call and what
//! comes out. They mirror the WIT records but keep the generated bindings
//! private, so callers never depend on wasmtime's types.

use std::time::Duration;

/// A notification as a plugin sees it (`herald:plugin/types.notification`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginNotification {
    pub channel: String,
    pub event_type: String,
    /// JSON text.
    pub data: String,
    /// `None` means every subscriber of the channel.
    pub recipients: Option<Vec<String>>,
    /// Read-only facts from Herald (`tenant`, `id`, ...).
    pub metadata: Vec<(String, String)>,
}

/// The subscriber a delivery is for (`herald:plugin/types.subscriber`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriberContext {
    pub user: String,
    pub channel: String,
    /// The claims the plugin may see, as a JSON object text.
    pub claims: String,
}

/// What a plugin decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Pass the notification on unchanged.
    Keep,
    /// Pass this one on instead. Already validated (non-empty names, JSON
    /// data, size). Fields the hook may not change are copied from the input:
    /// `metadata` always, and on deliver also `channel` and `recipients`.
    Replace(PluginNotification),
    /// Do not pass it on; the reason is for the record.
    Drop(String),
}

/// Which hooks a plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hooks {
    pub publish: bool,
    pub deliver: bool,
}

/// Who a call is for: names the log lines and sets the deadline.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub tenant: String,
    pub plugin_name: String,
    /// Overrides [`crate::HostConfig::default_deadline`] for this call.
    pub deadline: Option<Duration>,
}
