//! The host's rules for what a hook returns, checked before anything outside
//! the sandbox trusts it: names are not empty, the output fits the size cap,
//! the data is JSON. A refusal's text becomes
//! [`PluginError::InvalidOutput`](crate::PluginError::InvalidOutput).
//!
//! This file uses nothing but std, serde and serde_json, on purpose: the
//! fuzz target `plugin_output` (`fuzz/`) compiles it on its own, so these
//! rules are fuzzed without building wasmtime.

use serde::de::IgnoredAny;

/// A drop decision's reason.
pub(crate) fn drop_reason(reason: &str, max_bytes: usize) -> Result<(), String> {
    check_size("drop reason", reason.len(), max_bytes)
}

/// A publish hook's replacement notification.
pub(crate) fn publish_replacement(
    channel: &str,
    event_type: &str,
    data: &str,
    recipients: Option<&[String]>,
    max_bytes: usize,
) -> Result<(), String> {
    if event_type.is_empty() {
        return Err("replacement has an empty event type".into());
    }
    if channel.is_empty() {
        return Err("replacement has an empty channel".into());
    }
    let recipients_len: usize = recipients.into_iter().flatten().map(String::len).sum();
    check_size("replacement", channel.len() + event_type.len() + data.len() + recipients_len, max_bytes)?;
    check_json(data)
}

/// A deliver hook's replacement content.
pub(crate) fn deliver_replacement(event_type: &str, data: &str, max_bytes: usize) -> Result<(), String> {
    if event_type.is_empty() {
        return Err("replacement has an empty event type".into());
    }
    check_size("replacement", event_type.len() + data.len(), max_bytes)?;
    check_json(data)
}

fn check_json(data: &str) -> Result<(), String> {
    serde_json::from_str::<IgnoredAny>(data).map(|_| ()).map_err(|e| format!("replacement data is not JSON: {e}"))
}

fn check_size(what: &str, len: usize, max: usize) -> Result<(), String> {
    if len > max {
        return Err(format!("{what} is {len} bytes, over the limit of {max}"));
    }
    Ok(())
}
