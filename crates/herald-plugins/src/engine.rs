//! The process's wasmtime engine and the thread that drives its epoch.
//!
//! Deadlines use epoch interruption (cheap checks in loops and calls, unlike
//! fuel): one background thread bumps the engine's epoch every tick, and each
//! call sets its deadline as a number of ticks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::limits::{MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES};
use crate::{HostConfig, PluginError};

const WASM_PAGE: usize = 64 * 1024;

/// Builds the engine: cranelift, epoch interruption, optional fuel, and a
/// pooling allocator bounding instances and memory.
pub(crate) fn build(config: &HostConfig) -> Result<Engine, PluginError> {
    let max_instances = config.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances.saturating_mul(MAX_CORE_INSTANCES as u32))
        .total_memories(max_instances.saturating_mul(MAX_MEMORIES as u32))
        .total_tables(max_instances.saturating_mul(MAX_TABLES as u32))
        .max_core_instances_per_component(MAX_CORE_INSTANCES as u32)
        .max_memories_per_component(MAX_MEMORIES as u32)
        .max_tables_per_component(MAX_TABLES as u32)
        .table_elements(MAX_TABLE_ELEMENTS)
        // Calls are synchronous, so no fiber stacks are needed; the pool
        // would otherwise map 1000 of them, each with a guard page, per
        // engine (the `async` feature comes with wasmtime-wasi).
        .total_stacks(0)
        // The store limiter enforces the exact cap; this is the hard backstop.
        .max_memory_size(config.memory_limit_bytes.div_ceil(WASM_PAGE) * WASM_PAGE);

    let mut wasm = Config::new();
    wasm.strategy(wasmtime::Strategy::Cranelift)
        .epoch_interruption(true)
        .consume_fuel(config.fuel.is_some())
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        // One compile uses one core: with one compile at a time per host
        // (see `PluginHost::load`), uploads can never take every core.
        .parallel_compilation(false)
        .wasm_component_model(true);
    Engine::new(&wasm).map_err(|e| PluginError::Setup(format!("{e:#}")))
}

/// Bumps the engine's epoch every tick until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> Result<Self, PluginError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("herald-plugin-epoch".into())
            .spawn(move || {
                // The epoch counts ticks of the clock, not wake-ups of this
                // thread: on a busy machine a 1 ms sleep can last several,
                // and deadlines in ticks would then stretch with the load.
                // So each wake-up catches up with the clock.
                let origin = Instant::now();
                let tick_ns = tick.as_nanos().max(1);
                let mut ticks: u128 = 0;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    let due = origin.elapsed().as_nanos() / tick_ns;
                    while ticks < due {
                        engine.increment_epoch();
                        ticks += 1;
                    }
                }
            })
            .map_err(|e| PluginError::Setup(format!("epoch thread: {e}")))?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Epoch ticks for a deadline: rounded up, plus one because the current tick
/// may be almost over when the call starts.
pub(crate) fn deadline_ticks(deadline: Duration, tick: Duration) -> u64 {
    let tick_ns = tick.as_nanos().max(1);
    let ticks = deadline.as_nanos().div_ceil(tick_ns);
    u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_and_add_a_tick() {
        let ms = Duration::from_millis(1);
        assert_eq!(deadline_ticks(Duration::from_millis(5), ms), 6);
        assert_eq!(deadline_ticks(Duration::from_micros(4500), ms), 6);
        assert_eq!(deadline_ticks(Duration::ZERO, ms), 1);
    }
}
