//! A compiled plugin and its warm instances.
//!
//! Instantiating per call would cost far more than a trivial hook, so each
//! plugin keeps a few idle instances (store + hook handles). A call takes
//! one, and gives it back only if the call ended normally: an instance that
//! trapped, timed out or ran out of memory may be in any state and is dropped.

use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use crate::bindings::{Delivery, Notification, Subscriber, deliver_hook, publish_hook};
use crate::convert::{empty_delivery, empty_notification, empty_subscriber};
use crate::deadline::{CallDeadline, Verdict, thread_cpu_time};
use crate::engine::deadline_ticks;
use crate::state::StoreState;
use crate::stats::Counters;
use crate::{Hooks, HostConfig, PluginError};

const PUBLISH_EXPORT: &str = "herald:plugin/publish-hook@0.1.0";
const DELIVER_EXPORT: &str = "herald:plugin/deliver-hook@0.1.0";

/// One plugin, compiled and pre-linked, shared by every call to it.
pub(crate) struct Compiled {
    pub(crate) hooks: Hooks,
    pre: InstancePre<StoreState>,
    publish: Option<publish_hook::GuestIndices>,
    deliver: Option<deliver_hook::GuestIndices>,
    idle: Mutex<Vec<Slot>>,
    pub(crate) counters: Counters,
    /// Set when a cold call (see [`Slot::is_warm_for`]) ran out of even the
    /// warm-up deadline, cleared by the next cold call that succeeds. While
    /// set, cold calls get the ordinary deadline: a plugin that loops on
    /// every call gets the long warm-up deadline once, not on every fresh
    /// instance it forces.
    pub(crate) warmup_revoked: AtomicBool,
}

/// One instance of a plugin with its store, ready for a call.
pub(crate) struct Slot {
    pub(crate) store: Store<StoreState>,
    pub(crate) publish: Option<publish_hook::Guest>,
    pub(crate) deliver: Option<deliver_hook::Guest>,
    /// Argument buffers reused across calls (see `convert.rs`).
    pub(crate) notification: Notification,
    pub(crate) delivery: Delivery,
    pub(crate) subscriber: Subscriber,
    /// Configurations this instance has completed a call with, most recent
    /// last. A plugin does its set-up (parsing its configuration, compiling
    /// patterns) on the first call with a configuration and caches it, so
    /// that first call may take far longer than the ones after it.
    warm_configs: Vec<String>,
}

/// Configurations remembered per instance; the plugin kit caches as many.
const WARM_CONFIGS: usize = 8;

impl Slot {
    /// Has this instance completed a call with `config` before?
    pub(crate) fn is_warm_for(&self, config: &str) -> bool {
        self.warm_configs.iter().any(|c| c == config)
    }

    /// Records a completed call with `config`.
    pub(crate) fn warmed_for(&mut self, config: &str) {
        if self.is_warm_for(config) {
            return;
        }
        if self.warm_configs.len() == WARM_CONFIGS {
            self.warm_configs.remove(0);
        }
        self.warm_configs.push(config.to_owned());
    }
}

impl Compiled {
    /// Links the component and finds its hooks. Fails if an import is not
    /// offered (e.g. sockets), a hook export has the wrong type, or there is no hook.
    pub(crate) fn new(linker: &Linker<StoreState>, component: &Component) -> Result<Self, PluginError> {
        let pre = linker.instantiate_pre(component).map_err(|e| PluginError::Invalid(format!("cannot link: {e:#}")))?;
        let publish = match component.get_export_index(None, PUBLISH_EXPORT) {
            None => None,
            Some(_) => Some(
                publish_hook::GuestIndices::new(&pre).map_err(|e| PluginError::Invalid(format!("bad {PUBLISH_EXPORT} export: {e:#}")))?,
            ),
        };
        let deliver = match component.get_export_index(None, DELIVER_EXPORT) {
            None => None,
            Some(_) => Some(
                deliver_hook::GuestIndices::new(&pre).map_err(|e| PluginError::Invalid(format!("bad {DELIVER_EXPORT} export: {e:#}")))?,
            ),
        };
        let hooks = Hooks { publish: publish.is_some(), deliver: deliver.is_some() };
        if !hooks.publish && !hooks.deliver {
            return Err(PluginError::Invalid(format!("exports neither {PUBLISH_EXPORT} nor {DELIVER_EXPORT}")));
        }
        Ok(Self {
            hooks,
            pre,
            publish,
            deliver,
            idle: Mutex::new(Vec::new()),
            counters: Counters::default(),
            warmup_revoked: AtomicBool::new(false),
        })
    }

    /// A fresh instance. Its start-up runs under the warm-up deadline, since
    /// a plugin's initialisation could loop.
    pub(crate) fn instantiate(&self, engine: &Engine, config: &HostConfig) -> Result<Slot, PluginError> {
        let startup = config.warmup_deadline.max(config.default_deadline);
        let deadline = CallDeadline::new(startup, config.max_wall_time, Instant::now());
        let mut store = Store::new(engine, StoreState::new(config.memory_limit_bytes, deadline));
        store.limiter(|state| &mut state.limits);
        let tick = config.epoch_tick;
        store.epoch_deadline_callback(move |mut ctx| {
            Ok(match ctx.data_mut().deadline.on_expiry(thread_cpu_time(), Instant::now()) {
                Verdict::Extend(more) => UpdateDeadline::Continue(deadline_ticks(more, tick)),
                Verdict::Stop => UpdateDeadline::Interrupt,
            })
        });
        store.set_epoch_deadline(deadline_ticks(startup, tick));
        if let Some(fuel) = config.fuel {
            store.set_fuel(fuel).map_err(|e| PluginError::Unavailable(format!("{e:#}")))?;
        }
        let instance = match self.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(e) => return Err(crate::host::classify(e, store.data(), PluginError::Unavailable)),
        };
        let publish = match &self.publish {
            Some(idx) => Some(idx.load(&mut store, &instance).map_err(|e| PluginError::Invalid(format!("{e:#}")))?),
            None => None,
        };
        let deliver = match &self.deliver {
            Some(idx) => Some(idx.load(&mut store, &instance).map_err(|e| PluginError::Invalid(format!("{e:#}")))?),
            None => None,
        };
        Ok(Slot {
            store,
            publish,
            deliver,
            notification: empty_notification(),
            delivery: empty_delivery(),
            subscriber: empty_subscriber(),
            warm_configs: Vec::new(),
        })
    }

    /// An idle instance, or a new one.
    pub(crate) fn take(&self, engine: &Engine, config: &HostConfig) -> Result<Slot, PluginError> {
        if let Some(slot) = self.idle().pop() {
            return Ok(slot);
        }
        self.instantiate(engine, config)
    }

    /// Keeps a healthy instance for the next call, up to `keep` idle ones.
    pub(crate) fn give_back(&self, slot: Slot, keep: usize) {
        let mut idle = self.idle();
        if idle.len() < keep {
            idle.push(slot);
        }
    }

    /// Idle instances now (for tests and diagnostics).
    pub(crate) fn idle_count(&self) -> usize {
        self.idle().len()
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Slot>> {
        // A panic while holding the lock leaves the Vec intact; keep going.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
