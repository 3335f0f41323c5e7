//! [`PluginHost`]: loading (validate, compile under caps, cache by content
//! hash, bind to a tenant), evicting by use, and calling hooks under the
//! deadline, fuel and memory limits.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Trap};

use crate::convert;
use crate::engine::{self, EpochTicker, deadline_ticks};
use crate::idle::{IdleLimits, IdlePool};
use crate::pool::{Compiled, Slot, is_pool_full};
use crate::state::StoreState;
use crate::stats::Counters;
use crate::{
    CallContext, Decision, Delivery, DeliveryDecision, Hooks, HostConfig, PluginError, PluginNotification, PluginStats, SubscriberContext,
};

/// Runs plugins. Cheap to clone (an `Arc` inside), `Send + Sync`: create one
/// per process and share it.
///
/// Compiled code is cached by content hash and shared by every tenant that
/// uploaded the same bytes; warm instances, the warm-up allowance and call
/// statistics belong to one tenant's *binding* of the code, so nothing a
/// plugin does for one tenant can be seen by another.
///
/// What the host keeps is bounded, least recently used first out: compiled
/// plugins ([`HostConfig::max_cached_plugins`]) and idle instances (per
/// plugin, per tenant and in total, see `idle.rs`). Idle instances stay well
/// below the pooling allocator's [`HostConfig::max_instances`], so the rest of
/// the pool is left for calls in flight (one instance each, bounded by the
/// threads making calls) and uploads; should the pool still run out, the
/// host evicts idle instances and tries once more.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

struct Inner {
    config: HostConfig,
    engine: Engine,
    linker: Linker<StoreState>,
    /// Compiled code by content hash.
    code: Mutex<HashMap<String, Arc<Compiled>>>,
    /// Each tenant's binding of a cached plugin, by (tenant, hash).
    bindings: Mutex<Bindings>,
    idle: IdlePool,
    /// Ticks on every load and call; a plugin's `last_used` is a reading of it.
    clock: AtomicU64,
    next_binding: AtomicU64,
    permit: CompilePermit,
    compiled: AtomicU64,
    evicted: AtomicU64,
    /// Every call of every plugin, kept here too because the per-plugin
    /// counters go when a plugin leaves the cache.
    totals: Counters,
    _ticker: EpochTicker,
}

/// Each tenant's binding of a cached plugin, by (tenant, hash).
type Bindings = HashMap<(Arc<str>, String), Arc<Binding>>;

/// One tenant's use of a compiled plugin: its instances and statistics.
struct Binding {
    /// Keys its idle instances in the pool.
    id: u64,
    tenant: Arc<str>,
    code: Arc<Compiled>,
    counters: Counters,
    /// Set when a cold call (see [`Slot::is_warm_for`]) ran out of even the
    /// warm-up deadline, cleared by the next cold call that succeeds. While
    /// set, cold calls get the ordinary deadline: a plugin that loops on
    /// every call gets the long warm-up deadline once, not on every fresh
    /// instance it forces.
    warmup_revoked: AtomicBool,
}

/// A validated, compiled plugin bound to the tenant that loaded it, ready to
/// call. Cheap to clone. Calls through it only ever use that tenant's
/// instances and count in that tenant's statistics. It keeps working after
/// the host evicted the plugin (a call then starts a fresh instance).
#[derive(Clone)]
pub struct LoadedPlugin {
    /// SHA-256 of the component bytes, lowercase hex.
    pub hash: String,
    pub hooks: Hooks,
    /// Size of the component in bytes.
    pub size: usize,
    binding: Arc<Binding>,
}

impl LoadedPlugin {
    /// The tenant this plugin was loaded for.
    pub fn tenant(&self) -> &str {
        &self.binding.tenant
    }
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("tenant", &self.binding.tenant)
            .field("hash", &self.hash)
            .field("hooks", &self.hooks)
            .field("size", &self.size)
            .finish()
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
                code: Mutex::new(HashMap::new()),
                bindings: Mutex::new(HashMap::new()),
                idle: IdlePool::default(),
                clock: AtomicU64::new(0),
                next_binding: AtomicU64::new(0),
                permit: CompilePermit::default(),
                compiled: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
                totals: Counters::default(),
                _ticker: ticker,
            }),
        })
    }

    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// Validates and compiles a component for `tenant` (what an upload
    /// calls). The same bytes loaded again, by any tenant, reuse the cached
    /// compilation; the instances and statistics are the tenant's own.
    ///
    /// Before compiling, the component's structure is checked against
    /// [`HostConfig::max_functions`] and [`HostConfig::max_function_bytes`];
    /// the compile runs on its own thread, one at a time per host, and is
    /// refused past [`HostConfig::compile_timeout`] (waiting for another
    /// compile to finish counts against it). Compiling costs milliseconds to
    /// seconds of CPU: call this off the async executor.
    pub fn load(&self, tenant: &str, wasm: &[u8]) -> Result<LoadedPlugin, PluginError> {
        let inner = &self.inner;
        if wasm.len() > inner.config.max_component_bytes {
            return Err(PluginError::Invalid(format!("{} bytes, over the limit of {}", wasm.len(), inner.config.max_component_bytes)));
        }
        let hash = hex::encode(Sha256::digest(wasm));
        let cached = self.code().get(&hash).cloned();
        if let Some(code) = cached {
            code.last_used.store(self.tick(), Ordering::Relaxed);
            let binding = self.bind(tenant, &hash, &code);
            return Ok(LoadedPlugin { hash, hooks: code.hooks, size: wasm.len(), binding });
        }
        check_header(wasm)?;
        check_structure(wasm, &inner.config)?;
        let component = self.compile(wasm)?;
        inner.compiled.fetch_add(1, Ordering::Relaxed);
        let compiled = Compiled::new(&inner.linker, &component)?;
        // Start one instance now: a plugin whose start-up fails is refused at
        // upload, not at its first notification. It becomes the tenant's first warm instance.
        let slot = self.instantiate(&compiled).map_err(|e| match e {
            PluginError::Unavailable(_) => e,
            e => PluginError::Invalid(format!("fails to start: {e}")),
        })?;
        compiled.last_used.store(self.tick(), Ordering::Relaxed);
        // Two concurrent loads of the same bytes may both compile; the first kept wins.
        let (code, evicted) = {
            let mut cache = self.code();
            let code = cache.entry(hash.clone()).or_insert_with(|| Arc::new(compiled)).clone();
            let mut evicted = Vec::new();
            while cache.len() > inner.config.max_cached_plugins.max(1) {
                let Some(oldest) = cache.iter().filter(|(h, _)| **h != hash).min_by_key(|(_, c)| c.last_used.load(Ordering::Relaxed))
                else {
                    break;
                };
                let oldest = oldest.0.clone();
                cache.remove(&oldest);
                evicted.push(oldest);
            }
            (code, evicted)
        };
        for gone in &evicted {
            self.forget_code(gone);
        }
        let binding = self.bind(tenant, &hash, &code);
        let dropped = inner.idle.put(binding.id, &binding.tenant, slot, self.idle_limits());
        drop(dropped);
        Ok(LoadedPlugin { hash, hooks: code.hooks, size: wasm.len(), binding })
    }

    /// Forgets the tenant's binding of a plugin: its warm instances and its
    /// statistics (what deleting the tenant's last version of these bytes
    /// calls). The compiled code goes too once no other tenant has a binding
    /// to it. Handles already given out keep working.
    pub fn unload(&self, tenant: &str, hash: &str) {
        let key: (Arc<str>, String) = (Arc::from(tenant), hash.to_owned());
        let (removed, still_bound) = {
            let mut bindings = self.bindings();
            let removed = bindings.remove(&key);
            (removed, bindings.keys().any(|(_, h)| h == hash))
        };
        if let Some(binding) = removed {
            drop(self.inner.idle.remove(binding.id));
        }
        if !still_bound {
            self.code().remove(hash);
        }
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

    /// The tenant's counters of the plugin with this hash (zeros if the
    /// tenant has not loaded it, or it was evicted since).
    pub fn stats(&self, tenant: &str, hash: &str) -> PluginStats {
        let key: (Arc<str>, String) = (Arc::from(tenant), hash.to_owned());
        self.bindings().get(&key).map(|b| b.counters.snapshot()).unwrap_or_default()
    }

    /// Counters of every call this host made, across all plugins.
    pub fn totals(&self) -> PluginStats {
        self.inner.totals.snapshot()
    }

    /// How many components this host has compiled (cache misses).
    pub fn compiled_count(&self) -> u64 {
        self.inner.compiled.load(Ordering::Relaxed)
    }

    /// How many compiled plugins were evicted from the cache.
    pub fn evicted_count(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }

    /// Compiled plugins in the cache now.
    pub fn cached_plugins(&self) -> usize {
        self.code().len()
    }

    /// Warm instances kept for this plugin (and its tenant) now.
    pub fn idle_instances(&self, plugin: &LoadedPlugin) -> usize {
        self.inner.idle.count(plugin.binding.id)
    }

    /// Warm instances kept for one tenant now, across its plugins.
    pub fn tenant_idle_instances(&self, tenant: &str) -> usize {
        self.inner.idle.tenant_count(tenant)
    }

    /// Warm instances kept now, across all plugins and tenants.
    pub fn total_idle_instances(&self) -> usize {
        self.inner.idle.total()
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
        let binding = &plugin.binding;
        let result = if *binding.tenant == *ctx.tenant {
            self.call_inner(binding, ctx, config_json, start, hook)
        } else {
            // A caller bug, refused rather than run: the instance belongs to another tenant.
            Err(PluginError::Unavailable(format!("plugin loaded for tenant {}, called for {}", binding.tenant, ctx.tenant)))
        };
        let elapsed = start.elapsed();
        binding.counters.record(&result, elapsed);
        self.inner.totals.record(&result, elapsed);
        if let Some(observe) = &self.inner.config.call_observer {
            (observe.0)(elapsed);
        }
        result
    }

    fn call_inner<T>(
        &self,
        binding: &Binding,
        ctx: &CallContext<'_>,
        config_json: &str,
        start: Instant,
        hook: impl FnOnce(&mut Slot) -> wasmtime::Result<Result<T, PluginError>>,
    ) -> Result<T, PluginError> {
        let config = &self.inner.config;
        binding.code.last_used.store(self.tick(), Ordering::Relaxed);
        let mut slot = match self.inner.idle.take(binding.id) {
            Some(slot) => slot,
            None => self.instantiate(&binding.code)?,
        };
        let deadline = ctx.deadline.unwrap_or(config.default_deadline);
        // A cold call builds the plugin's state for this configuration; give
        // it the warm-up deadline unless this plugin has just shown that it
        // runs past even that.
        let cold = !slot.is_warm_for(config_json);
        let deadline =
            if cold && !binding.warmup_revoked.load(Ordering::Relaxed) { deadline.max(config.warmup_deadline) } else { deadline };
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
                    binding.warmup_revoked.store(false, Ordering::Relaxed);
                    slot.warmed_for(config_json);
                }
                // The instance finished normally, so it is safe to reuse even
                // if its output is refused. What the pool evicts to make room
                // is dropped here, outside its lock.
                drop(self.inner.idle.put(binding.id, &binding.tenant, slot, self.idle_limits()));
                decision
            }
            // The slot is dropped here: never reuse an instance that failed mid-call.
            Err(e) => {
                let error = classify(e, slot.store.data(), PluginError::Trap);
                if cold && error == PluginError::Timeout {
                    binding.warmup_revoked.store(true, Ordering::Relaxed);
                }
                Err(error)
            }
        }
    }

    /// A fresh instance of `code`. If the pooling allocator has no free
    /// slot, evicts some of the least recently used idle instances (an
    /// eighth of them, at least one) and tries once more.
    fn instantiate(&self, code: &Compiled) -> Result<Slot, PluginError> {
        let config = &self.inner.config;
        match code.instantiate(&self.inner.engine, config) {
            Err(e) if is_pool_full(&e) => {
                let idle = &self.inner.idle;
                let evicted = idle.evict_oldest((idle.total() / 8).max(1));
                if evicted.is_empty() {
                    return Err(e);
                }
                tracing::warn!(evicted = evicted.len(), "plugin instance pool full: evicted idle instances");
                drop(evicted);
                code.instantiate(&self.inner.engine, config)
            }
            other => other,
        }
    }

    /// Compiles on a thread of its own while holding the host's one compile
    /// permit, waiting at most `compile_timeout` in all (for the permit, then
    /// for the compiler). A compile that runs past it is refused; its thread
    /// goes on until the compiler returns (wasmtime cannot stop it), and
    /// keeps the permit until then, so at most one compile runs at a time
    /// however many were refused.
    fn compile(&self, wasm: &[u8]) -> Result<Component, PluginError> {
        let timeout = self.inner.config.compile_timeout;
        let started = Instant::now();
        let Some(permit) = self.inner.permit.acquire(timeout) else {
            return Err(PluginError::Unavailable(format!(
                "another plugin compile has been running for over {} ms; try again later",
                timeout.as_millis()
            )));
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let engine = self.inner.engine.clone();
        let bytes = wasm.to_vec();
        std::thread::Builder::new()
            .name("herald-plugin-compile".into())
            .spawn(move || {
                let result = Component::from_binary(&engine, &bytes);
                // The caller may have given up; then nobody reads this.
                let _ = tx.send(result);
                drop(permit);
            })
            .map_err(|e| PluginError::Unavailable(format!("compile thread: {e}")))?;
        let left = timeout.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(Ok(component)) => Ok(component),
            Ok(Err(e)) => Err(PluginError::Invalid(format!("does not compile: {e:#}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(timeout_ms = timeout.as_millis(), "plugin compile ran past its time cap and was refused");
                Err(PluginError::Invalid(format!("compiling took longer than the limit of {} ms", timeout.as_millis())))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(PluginError::Unavailable("the compile thread panicked".into())),
        }
    }

    /// The tenant's binding of `code`, made on first use.
    fn bind(&self, tenant: &str, hash: &str, code: &Arc<Compiled>) -> Arc<Binding> {
        let key: (Arc<str>, String) = (Arc::from(tenant), hash.to_owned());
        let mut bindings = self.bindings();
        bindings
            .entry(key)
            .or_insert_with_key(|(tenant, _)| {
                Arc::new(Binding {
                    id: self.inner.next_binding.fetch_add(1, Ordering::Relaxed),
                    tenant: tenant.clone(),
                    code: code.clone(),
                    counters: Counters::default(),
                    warmup_revoked: AtomicBool::new(false),
                })
            })
            .clone()
    }

    /// After `hash` left the code cache: every tenant's binding of it goes,
    /// with its idle instances.
    fn forget_code(&self, hash: &str) {
        self.inner.evicted.fetch_add(1, Ordering::Relaxed);
        let gone: Vec<Arc<Binding>> = {
            let mut bindings = self.bindings();
            let keys: Vec<_> = bindings.keys().filter(|(_, h)| h == hash).cloned().collect();
            keys.iter().filter_map(|k| bindings.remove(k)).collect()
        };
        for binding in gone {
            drop(self.inner.idle.remove(binding.id));
        }
    }

    fn idle_limits(&self) -> IdleLimits {
        let c = &self.inner.config;
        IdleLimits { per_binding: c.pool_per_plugin, per_tenant: c.max_idle_instances_per_tenant, total: c.max_idle_instances }
    }

    fn tick(&self) -> u64 {
        self.inner.clock.fetch_add(1, Ordering::Relaxed)
    }

    fn code(&self) -> MutexGuard<'_, HashMap<String, Arc<Compiled>>> {
        self.inner.code.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bindings(&self) -> MutexGuard<'_, Bindings> {
        self.inner.bindings.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The right to compile: one holder at a time. Held by the compile thread,
/// so a compile the caller stopped waiting for still holds it.
#[derive(Default, Clone)]
struct CompilePermit(Arc<(Mutex<bool>, Condvar)>);

/// A held [`CompilePermit`], given back on drop.
struct Held(Arc<(Mutex<bool>, Condvar)>);

impl CompilePermit {
    /// Waits up to `timeout` for the permit.
    fn acquire(&self, timeout: Duration) -> Option<Held> {
        let (lock, freed) = &*self.0;
        let busy = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (mut busy, _) = freed.wait_timeout_while(busy, timeout, |busy| *busy).unwrap_or_else(|e| e.into_inner());
        if *busy {
            return None;
        }
        *busy = true;
        Some(Held(self.0.clone()))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let (lock, freed) = &*self.0;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = false;
        freed.notify_one();
    }
}

/// Refuses, before compiling, a component whose code would make the
/// compile itself expensive: too many functions or one too large (the
/// compiler's time and memory grow with both). Counts every core function
/// body, in nested modules too.
fn check_structure(wasm: &[u8], config: &HostConfig) -> Result<(), PluginError> {
    let (mut functions, mut largest) = (0usize, 0usize);
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(wasmparser::Payload::CodeSectionEntry(body)) => {
                functions += 1;
                largest = largest.max(body.range().len());
                if functions > config.max_functions {
                    return Err(PluginError::Invalid(format!("more than {} functions", config.max_functions)));
                }
                if largest > config.max_function_bytes {
                    return Err(PluginError::Invalid(format!(
                        "a function of {largest} bytes, over the limit of {}",
                        config.max_function_bytes
                    )));
                }
            }
            Ok(_) => {}
            Err(e) => return Err(PluginError::Invalid(format!("malformed: {e}"))),
        }
    }
    Ok(())
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
