//! A compiled plugin, and one instance of it ([`Slot`]).
//!
//! The compiled code is shared by every tenant that uploaded the same bytes;
//! instances never are (see `idle.rs`).

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use crate::bindings::{Delivery, Notification, Subscriber, deliver_hook, publish_hook};
use crate::convert::{empty_delivery, empty_notification, empty_subscriber};
use crate::deadline::{CallDeadline, Verdict, thread_cpu_time};
use crate::engine::deadline_ticks;
use crate::state::StoreState;
use crate::{Hooks, HostConfig, PluginError};

const PUBLISH_EXPORT: &str = "herald:plugin/publish-hook@0.1.0";
const DELIVER_EXPORT: &str = "herald:plugin/deliver-hook@0.1.0";

/// How an [`PluginError::Unavailable`] from [`Compiled::instantiate`] starts
/// when the pooling allocator had no free slot (the host then evicts idle
/// instances and tries once more).
pub(crate) const POOL_FULL: &str = "the instance pool is full";

/// Did instantiating fail only for want of a free pool slot?
pub(crate) fn is_pool_full(e: &PluginError) -> bool {
    matches!(e, PluginError::Unavailable(m) if m.starts_with(POOL_FULL))
}

/// One plugin, compiled and pre-linked: code only, no state, so tenants
/// that uploaded the same bytes share it.
pub(crate) struct Compiled {
    pub(crate) hooks: Hooks,
    pre: InstancePre<StoreState>,
    publish: Option<publish_hook::GuestIndices>,
    deliver: Option<deliver_hook::GuestIndices>,
    /// The host's use clock when this code was last loaded or called, for
    /// evicting the least recently used.
    pub(crate) last_used: AtomicU64,
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
        Ok(Self { hooks, pre, publish, deliver, last_used: AtomicU64::new(0) })
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
            Err(e) if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => {
                return Err(PluginError::Unavailable(format!("{POOL_FULL}: {e:#}")));
            }
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
}
