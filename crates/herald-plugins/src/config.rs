//! The host's limits and knobs, with the defaults the issue asks for.

use std::time::Duration;

/// Limits and sizes of a [`crate::PluginHost`]. Fixed for the host's lifetime
/// because most of them shape the engine and its pooling allocator.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Largest component accepted by `load` (default 8 MiB).
    pub max_component_bytes: usize,
    /// Linear memory cap per instance (default 16 MiB); growing past it fails the call.
    pub memory_limit_bytes: usize,
    /// Deadline of a call when the [`crate::CallContext`] gives none (default
    /// 5 ms). Passing it on the clock opens a check: the call is cut off once
    /// it has used half of it again in CPU time, so a call that was only
    /// waiting for a CPU on a busy machine is not (see [`Self::max_wall_time`]).
    pub default_deadline: Duration,
    /// Deadline of a cold call: an instance's start-up, and its first call
    /// with a configuration, when a plugin builds its state (default 100 ms;
    /// the longer of this and the call's own deadline applies).
    pub warmup_deadline: Duration,
    /// The longest any call or start-up may take on the clock, however little
    /// CPU it used (default 1 s; the call's deadline, if longer, applies).
    pub max_wall_time: Duration,
    /// Fuel budget per call; `None` turns fuel metering off (it costs some speed).
    pub fuel: Option<u64>,
    /// Largest replacement or drop reason a plugin may return (default 64 KiB).
    pub max_output_bytes: usize,
    /// Total component instances alive at once across all plugins (pooling allocator, default 1000).
    pub max_instances: u32,
    /// Warm instances kept per plugin between calls (default 4).
    pub pool_per_plugin: usize,
    /// How often the background thread advances the epoch (default 1 ms); deadlines are rounded up to it.
    pub epoch_tick: Duration,
    /// Log lines a plugin may write per call; more are dropped (default 32).
    pub max_log_lines_per_call: u32,
    /// Told the wall time of every call, whatever its outcome (for a
    /// latency histogram; the counters are in [`crate::PluginHost::totals`]).
    pub call_observer: Option<CallObserver>,
}

/// A function told each call's wall time. It runs on the calling thread
/// after every call, so it must be cheap.
#[derive(Clone)]
pub struct CallObserver(pub std::sync::Arc<dyn Fn(Duration) + Send + Sync>);

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallObserver")
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            max_component_bytes: 8 * 1024 * 1024,
            memory_limit_bytes: 16 * 1024 * 1024,
            default_deadline: Duration::from_millis(5),
            warmup_deadline: Duration::from_millis(100),
            max_wall_time: Duration::from_secs(1),
            fuel: None,
            max_output_bytes: 64 * 1024,
            max_instances: 1000,
            pool_per_plugin: 4,
            epoch_tick: Duration::from_millis(1),
            max_log_lines_per_call: 32,
            call_observer: None,
        }
    }
}
