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
    /// Warm instances kept per plugin and tenant between calls (default 4).
    pub pool_per_plugin: usize,
    /// Warm instances kept between calls across all plugins and tenants
    /// (default 256). Past it, the least recently used idle instance goes.
    /// Keep it well below [`Self::max_instances`]: the rest of the pool is
    /// for calls in flight and uploads (see `PluginHost`).
    pub max_idle_instances: usize,
    /// Warm instances one tenant may keep between calls (default 32), so one
    /// tenant's many plugins cannot take the others' share of
    /// [`Self::max_idle_instances`].
    pub max_idle_instances_per_tenant: usize,
    /// Compiled plugins kept in memory (default 256). Past it, the least
    /// recently used one is forgotten (with its tenants' warm instances and
    /// statistics); a handle to it keeps working, and loading it again compiles it again.
    pub max_cached_plugins: usize,
    /// Longest a compile may run before the upload is refused (default 20 s).
    /// One compile runs at a time per host, on its own thread; a compile
    /// that runs past this is refused, but its thread goes on until the
    /// compiler returns and keeps the one compile permit until then.
    pub compile_timeout: Duration,
    /// Most functions (core function bodies, across nested modules) a
    /// component may define (default 50 000); checked before compiling.
    pub max_functions: usize,
    /// Largest single function body in bytes (default 1 MiB); checked before
    /// compiling. The compiler's time and memory grow with a function's size,
    /// so this bounds what one compile can cost.
    pub max_function_bytes: usize,
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
            max_idle_instances: 256,
            max_idle_instances_per_tenant: 32,
            max_cached_plugins: 256,
            compile_timeout: Duration::from_secs(20),
            max_functions: 50_000,
            max_function_bytes: 1024 * 1024,
            epoch_tick: Duration::from_millis(1),
            max_log_lines_per_call: 32,
            call_observer: None,
        }
    }
}
