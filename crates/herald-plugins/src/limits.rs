//! Per-store resource limits. The pooling allocator already bounds memory
//! size, but this limiter is consulted first, so a plugin growing past the cap
//! traps at once (rather than seeing `memory.grow` return -1 and carrying on)
//! and the host can report `MemoryExceeded` instead of a generic trap.

use wasmtime::ResourceLimiter;

/// Limits of one store (one plugin instance).
pub(crate) struct Limits {
    memory_bytes: usize,
    table_elements: usize,
    /// Set when the plugin asked for more memory than allowed; read when a call fails.
    pub(crate) memory_exceeded: bool,
}

/// Core instances, tables and memories one component may create. Rust
/// components built by wit-component use a few core instances (main module
/// plus shims), one or two memories and a couple of tables.
pub(crate) const MAX_CORE_INSTANCES: usize = 16;
pub(crate) const MAX_TABLES: usize = 8;
pub(crate) const MAX_MEMORIES: usize = 2;
pub(crate) const MAX_TABLE_ELEMENTS: usize = 20_000;

impl Limits {
    pub(crate) fn new(memory_bytes: usize) -> Self {
        Self { memory_bytes, table_elements: MAX_TABLE_ELEMENTS, memory_exceeded: false }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = true;
            // An error (not `Ok(false)`) turns the grow into a trap, ending the call.
            return Err(wasmtime::format_err!("memory limit of {} bytes exceeded (asked for {desired})", self.memory_bytes));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
