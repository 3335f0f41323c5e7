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

/// A stored notification as the deliver hook sees it
/// (`herald:plugin/types.delivery`). Borrowed: the caller builds one per
/// delivery without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivery<'a> {
    pub id: u64,
    pub channel: &'a str,
    pub event_type: &'a str,
    /// JSON text.
    pub data: &'a str,
    /// Addressed to listed recipients rather than to every subscriber.
    pub direct: bool,
    pub published_at_ms: u64,
}

/// The subscriber a delivery is for (`herald:plugin/types.subscriber`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriberContext<'a> {
    pub user: &'a str,
    /// The claims the plugin may see, as a JSON object text.
    pub claims: &'a str,
}

/// What a publish hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Pass the notification on unchanged.
    Keep,
    /// Pass this one on instead. Already validated (non-empty names, JSON
    /// data, size); `metadata` is copied from the input, never the plugin's.
    Replace(PluginNotification),
    /// Do not pass it on; the reason is for the record.
    Drop(String),
}

/// What a deliver hook decided for one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryDecision {
    /// Send the notification unchanged.
    Keep,
    /// Send this event type and data instead. Already validated (non-empty
    /// event type, JSON data, size).
    Replace { event_type: String, data: String },
    /// Do not send it to this subscriber; the reason is for the log.
    Drop(String),
}

/// Which hooks a plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hooks {
    pub publish: bool,
    pub deliver: bool,
}

/// Who a call is for: names the log lines and sets the deadline.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallContext<'a> {
    pub tenant: &'a str,
    pub plugin_name: &'a str,
    /// Overrides [`crate::HostConfig::default_deadline`] for this call.
    pub deadline: Option<Duration>,
}
