//! What each plugin store carries: its WASI context, its limits, and who the
//! current call is for, so the `host.log` import can name plugin and tenant.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{Level, herald};
use crate::deadline::CallDeadline;
use crate::limits::Limits;

/// Longest log message kept; a plugin cannot flood the log with one line.
const MAX_LOG_MESSAGE: usize = 2048;

pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: Limits,
    /// The current call's (or the start-up's) deadline, for the epoch callback.
    pub(crate) deadline: CallDeadline,
    /// Set per call; the strings keep their capacity so a warm call does not allocate.
    pub(crate) tenant: String,
    pub(crate) plugin: String,
    /// Log lines left in the current call.
    pub(crate) log_budget: u32,
    pub(crate) dropped_log_lines: u32,
}

impl StoreState {
    pub(crate) fn new(memory_limit_bytes: usize, deadline: CallDeadline) -> Self {
        Self {
            wasi: crate::wasi::context(),
            table: ResourceTable::new(),
            limits: Limits::new(memory_limit_bytes),
            deadline,
            tenant: String::new(),
            plugin: String::new(),
            log_budget: 0,
            dropped_log_lines: 0,
        }
    }

    /// Names the call and resets its log budget.
    pub(crate) fn begin_call(&mut self, tenant: &str, plugin: &str, log_budget: u32) {
        if self.tenant != tenant {
            self.tenant.clear();
            self.tenant.push_str(tenant);
        }
        if self.plugin != plugin {
            self.plugin.clear();
            self.plugin.push_str(plugin);
        }
        self.log_budget = log_budget;
        self.dropped_log_lines = 0;
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl herald::plugin::types::Host for StoreState {}

impl herald::plugin::host::Host for StoreState {
    fn log(&mut self, level: Level, message: String) {
        if self.log_budget == 0 {
            self.dropped_log_lines += 1;
            return;
        }
        self.log_budget -= 1;
        let message = escape(&message[..message.floor_char_boundary(MAX_LOG_MESSAGE)]);
        let (plugin, tenant) = (self.plugin.as_str(), self.tenant.as_str());
        // tracing's level must be a constant per call site, hence one arm per level.
        match level {
            Level::Trace => tracing::trace!(target: "herald_plugins::log", plugin, tenant, "{message}"),
            Level::Debug => tracing::debug!(target: "herald_plugins::log", plugin, tenant, "{message}"),
            Level::Info => tracing::info!(target: "herald_plugins::log", plugin, tenant, "{message}"),
            Level::Warn => tracing::warn!(target: "herald_plugins::log", plugin, tenant, "{message}"),
            Level::Error => tracing::error!(target: "herald_plugins::log", plugin, tenant, "{message}"),
        }
    }
}

/// Makes a plugin's message one harmless line: control characters (line
/// breaks, carriage returns, escape sequences that drive terminals) and
/// Unicode line and paragraph separators are written as escapes, so a
/// plugin cannot forge log lines or rewrite what an operator's terminal shows.
pub(crate) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn plugin_log_text_cannot_forge_lines() {
        assert_eq!(escape("plain text, é and \"quotes\""), "plain text, é and \"quotes\"");
        assert_eq!(
            escape("ok\n2026-12-07T00:00:00Z  INFO herald: forged\r\u{1b}[2J\u{2028}end"),
            "ok\\n2026-12-07T00:00:00Z  INFO herald: forged\\r\\u{1b}[2J\\u{2028}end"
        );
        assert!(!escape("a\nb\tc\u{85}d").contains(['\n', '\t', '\u{85}']));
    }
}
