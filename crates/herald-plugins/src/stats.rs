//! Per-plugin call counters: cheap atomics bumped on every call, read as a
//! snapshot by [`crate::PluginHost::stats`] for metrics export.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::PluginError;

/// A snapshot of one plugin's counters (keyed by its content hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PluginStats {
    /// Hook calls made, successful or not.
    pub calls: u64,
    pub ok: u64,
    pub traps: u64,
    pub timeouts: u64,
    pub out_of_fuel: u64,
    pub memory_exceeded: u64,
    pub invalid_output: u64,
    /// Other failures (no such hook, no instance available).
    pub other_errors: u64,
    /// Wall time spent in calls, nanoseconds.
    pub total_ns: u64,
}

impl PluginStats {
    /// All failed calls.
    pub fn errors(&self) -> u64 {
        self.calls - self.ok
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    calls: AtomicU64,
    ok: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    out_of_fuel: AtomicU64,
    memory_exceeded: AtomicU64,
    invalid_output: AtomicU64,
    other_errors: AtomicU64,
    total_ns: AtomicU64,
}

impl Counters {
    pub(crate) fn record<T>(&self, result: &Result<T, PluginError>, elapsed: Duration) {
        self.calls.fetch_add(1, Relaxed);
        self.total_ns.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Relaxed);
        let counter = match result {
            Ok(_) => &self.ok,
            Err(PluginError::Trap(_)) => &self.traps,
            Err(PluginError::Timeout) => &self.timeouts,
            Err(PluginError::OutOfFuel) => &self.out_of_fuel,
            Err(PluginError::MemoryExceeded) => &self.memory_exceeded,
            Err(PluginError::InvalidOutput(_)) => &self.invalid_output,
            Err(_) => &self.other_errors,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> PluginStats {
        PluginStats {
            calls: self.calls.load(Relaxed),
            ok: self.ok.load(Relaxed),
            traps: self.traps.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            out_of_fuel: self.out_of_fuel.load(Relaxed),
            memory_exceeded: self.memory_exceeded.load(Relaxed),
            invalid_output: self.invalid_output.load(Relaxed),
            other_errors: self.other_errors.load(Relaxed),
            total_ns: self.total_ns.load(Relaxed),
        }
    }
}
