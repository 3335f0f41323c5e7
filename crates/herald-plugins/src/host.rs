//! [`PluginHost`]: loading (validate, compile, cache by content hash) and
//! calling hooks under the deadline, fuel and memory limits.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Trap};

use crate::convert;
use crate::engine::{self, EpochTicker, deadline_ticks};
use crate::pool::{Compiled, Slot};
use crate::state::StoreState;
use crate::stats::Counters;
use crate::{
    CallContext, Decision, Delivery, DeliveryDecision, Hooks, HostConfig, PluginError, PluginNotification, PluginStats, SubscriberContext,
};

/// Runs plugins. Cheap to clone (an `Arc` inside), `Send + Sync`: create one
/// per process and share it.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

struct Inner {
    config: HostConfig,
    engine: Engine,
    linker: Linker<StoreState>,
    cache: Mutex<HashMap<String, Arc<Compiled>>>,
    compiled: AtomicU64,
    /// Every call of every plugin, kept here too because the per-plugin
    /// counters go when a plugin leaves the cache.
    totals: Counters,
    _ticker: EpochTicker,
}

/// A validated, compiled plugin, ready to call. Cheap to clone.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// SHA-256 of the component bytes, lowercase hex.
    pub hash: String,
    pub hooks: Hooks,
    /// Size of the component in bytes.
    pub size: usize,
    compiled: Arc<Compiled>,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin").field("hash", &self.hash).field("hooks", &self.hooks).field("size", &self.size).finish()
    }
}

impl fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginHost").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Builds the engine (one per process is the intent) and starts its epoch thread.
    pub fn new(config: HostConfig) -> Result<Self, PluginError> {
        let engine = engine::build(&config)?;
        let mut linker = Linker::new(&engine);
        let setup = |e: wasmtime::Error| PluginError::Setup(format!("{e:#}"));
        crate::wasi::add_to_linker(&mut linker).map_err(setup)?;
        crate::bindings::Plugin::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s).map_err(setup)?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                engine,
                linker,
                cache: Mutex::new(HashMap::new()),
                compiled: AtomicU64::new(0),
                totals: Counters::default(),
                _ticker: ticker,
            }),
        })
    }

    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// Validates and compiles a component (what an upload calls). The same
    /// bytes loaded again reuse the cached compilation. Compiling costs
    /// milliseconds to seconds of CPU: call it off the async executor.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedPlugin, PluginError> {
        let inner = &self.inner;
        if wasm.len() > inner.config.max_component_bytes {
            return Err(PluginError::Invalid(format!("{} bytes, over the limit of {}", wasm.len(), inner.config.max_component_bytes)));
        }
        let hash = hex::encode(Sha256::digest(wasm));
        if let Some(compiled) = self.cache().get(&hash).cloned() {
            return Ok(LoadedPlugin { hash, hooks: compiled.hooks, size: wasm.len(), compiled });
        }
        check_header(wasm)?;
        let component =
            Component::from_binary(&inner.engine, wasm).map_err(|e| PluginError::Invalid(format!("does not compile: {e:#}")))?;
        inner.compiled.fetch_add(1, Ordering::Relaxed);
        let compiled = Compiled::new(&inner.linker, &component)?;
        // Start one instance now: a plugin whose start-up fails is refused at
        // upload, not at its first notification. It becomes the first warm instance.
        let slot = compiled.instantiate(&inner.engine, &inner.config).map_err(|e| match e {
            PluginError::Unavailable(_) => e,
            e => PluginError::Invalid(format!("fails to start: {e}")),
        })?;
        compiled.give_back(slot, inner.config.pool_per_plugin);
        // Two concurrent loads of the same bytes may both compile; the first kept wins.
        let compiled = self.cache().entry(hash.clone()).or_insert_with(|| Arc::new(compiled)).clone();
        Ok(LoadedPlugin { hash, hooks: compiled.hooks, size: wasm.len(), compiled })
    }

    /// Forgets a compiled plugin (and its warm instances) once no
    /// `LoadedPlugin` handle refers to it any more.
    pub fn unload(&self, hash: &str) {
        self.cache().remove(hash);
    }

    /// Runs the publish hook. Synchronous: returns within the deadline plus
    /// the cost of (rarely) instantiating.
    pub fn on_publish(
        &self,
        plugin: &LoadedPlugin,
        ctx: &CallContext<'_>,
        n: &PluginNotification,
        config_json: &str,
    ) -> Result<Decision, PluginError> {
        if !plugin.hooks.publish {
            return Err(PluginError::NoSuchHook);
        }
        let max = self.inner.config.max_output_bytes;
        self.call(plugin, ctx, config_json, |slot| {
            convert::fill_notification(&mut slot.notification, n);
            let Some(guest) = &slot.publish else { return Ok(Err(PluginError::NoSuchHook)) };
            let out = guest.call_on_publish(&mut slot.store, &slot.notification, config_json)?;
            Ok(convert::decision(out, n, max))
        })
    }

    /// Runs the deliver hook for one subscriber.
    pub fn on_deliver(
        &self,
        plugin: &LoadedPlugin,
        ctx: &CallContext<'_>,
        delivery: &Delivery<'_>,
        who: &SubscriberContext<'_>,
        config_json: &str,
    ) -> Result<DeliveryDecision, PluginError> {
        if !plugin.hooks.deliver {
            return Err(PluginError::NoSuchHook);
        }
        let max = self.inner.config.max_output_bytes;
        self.call(plugin, ctx, config_json, |slot| {
            convert::fill_delivery(&mut slot.delivery, delivery);
            convert::fill_subscriber(&mut slot.subscriber, who);
            let Some(guest) = &slot.deliver else { return Ok(Err(PluginError::NoSuchHook)) };
            let out = guest.call_on_deliver(&mut slot.store, &slot.delivery, &slot.subscriber, config_json)?;
            Ok(convert::delivery_decision(out, max))
        })
    }

    /// Counters of the plugin with this hash (zeros if it is not loaded).
    pub fn stats(&self, hash: &str) -> PluginStats {
        self.cache().get(hash).map(|c| c.counters.snapshot()).unwrap_or_default()
    }

    /// Counters of every call this host made, across all plugins.
    pub fn totals(&self) -> PluginStats {
        self.inner.totals.snapshot()
    }

    /// How many components this host has compiled (cache misses).
    pub fn compiled_count(&self) -> u64 {
        self.inner.compiled.load(Ordering::Relaxed)
    }

    /// Warm instances kept for this plugin now.
    pub fn idle_instances(&self, plugin: &LoadedPlugin) -> usize {
        plugin.compiled.idle_count()
    }

    /// One call on a warm (or new) instance of `plugin`: arms the limits,
    /// runs `hook`, keeps the instance if the call ended normally, and counts
    /// the outcome. `hook` returns the wasmtime error of a failed call, or
    /// the checked decision (which may refuse the plugin's output).
    fn call<T>(
        &self,
        plugin: &LoadedPlugin,
        ctx: &CallContext<'_>,
        config_json: &str,
        hook: impl FnOnce(&mut Slot) -> wasmtime::Result<Result<T, PluginError>>,
    ) -> Result<T, PluginError> {
        let start = Instant::now();
        let compiled = &plugin.compiled;
        let result = self.call_inner(compiled, ctx, config_json, start, hook);
        let elapsed = start.elapsed();
        compiled.counters.record(&result, elapsed);
        self.inner.totals.record(&result, elapsed);
        if let Some(observe) = &self.inner.config.call_observer {
            (observe.0)(elapsed);
        }
        result
    }

    fn call_inner<T>(
        &self,
        compiled: &Compiled,
        ctx: &CallContext<'_>,
        config_json: &str,
        start: Instant,
        hook: impl FnOnce(&mut Slot) -> wasmtime::Result<Result<T, PluginError>>,
    ) -> Result<T, PluginError> {
        let config = &self.inner.config;
        let mut slot = compiled.take(&self.inner.engine, config)?;
        let deadline = ctx.deadline.unwrap_or(config.default_deadline);
        // A cold call builds the plugin's state for this configuration; give
        // it the warm-up deadline unless this plugin has just shown that it
        // runs past even that.
        let cold = !slot.is_warm_for(config_json);
        let deadline =
            if cold && !compiled.warmup_revoked.load(Ordering::Relaxed) { deadline.max(config.warmup_deadline) } else { deadline };
        let state = slot.store.data_mut();
        state.begin_call(ctx.tenant, ctx.plugin_name, config.max_log_lines_per_call);
        state.deadline.arm(deadline, config.max_wall_time, start);
        slot.store.set_epoch_deadline(deadline_ticks(deadline, config.epoch_tick));
        if let Some(fuel) = config.fuel {
            slot.store.set_fuel(fuel).map_err(|e| PluginError::Unavailable(format!("{e:#}")))?;
        }
        match hook(&mut slot) {
            Ok(decision) => {
                let dropped = slot.store.data().dropped_log_lines;
                if dropped > 0 {
                    tracing::warn!(
                        plugin = ctx.plugin_name,
                        tenant = ctx.tenant,
                        dropped,
                        "plugin log lines over the per-call limit were dropped"
                    );
                }
                if cold {
                    compiled.warmup_revoked.store(false, Ordering::Relaxed);
                    slot.warmed_for(config_json);
                }
                // The instance finished normally, so it is safe to reuse even
                // if its output is refused.
                compiled.give_back(slot, config.pool_per_plugin);
                decision
            }
            // The slot is dropped here: never reuse an instance that failed mid-call.
            Err(e) => {
                let error = classify(e, slot.store.data(), PluginError::Trap);
                if cold && error == PluginError::Timeout {
                    compiled.warmup_revoked.store(true, Ordering::Relaxed);
                }
                Err(error)
            }
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Arc<Compiled>>> {
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Refuses anything but a binary component before spending time compiling
/// (wasmtime would also accept a core module or, with `wat`, text).
fn check_header(wasm: &[u8]) -> Result<(), PluginError> {
    const MAGIC: &[u8] = b"\0asm";
    match wasm.get(..8) {
        // Bytes 4..6 are the version, 6..8 the layer: 1 for components, 0 for core modules.
        Some(h) if &h[..4] == MAGIC && h[6..8] == [1, 0] => Ok(()),
        Some(h) if &h[..4] == MAGIC => Err(PluginError::Invalid("a core module, not a component".into())),
        _ => Err(PluginError::Invalid("not a WebAssembly component".into())),
    }
}

/// Maps a wasmtime error to the crate's kinds; `other` wraps anything that is not a known trap.
pub(crate) fn classify(err: wasmtime::Error, state: &StoreState, other: fn(String) -> PluginError) -> PluginError {
    if state.limits.memory_exceeded {
        return PluginError::MemoryExceeded;
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => PluginError::Timeout,
        Some(Trap::OutOfFuel) => PluginError::OutOfFuel,
        Some(_) => PluginError::Trap(format!("{err:#}")),
        None => other(format!("{err:#}")),
    }
}
