//! Herald's sandboxed plugin host.
//!
//! Plugins are WebAssembly components implementing `herald:plugin@0.1.0`
//! (`plugins/wit/herald-plugin.wit`): a publish hook, a deliver hook, or
//! both. [`PluginHost::load`] validates and compiles one for a tenant (the
//! code cached by the SHA-256 of its bytes and shared, instances and
//! statistics per tenant); [`PluginHost::on_publish`] and
//! [`PluginHost::on_deliver`] run a hook synchronously on a warm instance
//! under a deadline (epoch interruption, counted in CPU time once the clock
//! has passed it, see `deadline`), optional fuel, a memory cap and an output
//! size cap. Plugins get WASI with no capabilities and frozen clocks.

mod bindings;
mod config;
mod convert;
mod deadline;
mod engine;
mod error;
mod host;
mod idle;
mod limits;
mod output_rules;
mod pool;
mod state;
mod stats;
mod types;
mod wasi;

pub use config::{CallObserver, HostConfig};
pub use error::PluginError;
pub use host::{LoadedPlugin, PluginHost};
pub use stats::PluginStats;
pub use types::{CallContext, Decision, Delivery, DeliveryDecision, Hooks, PluginNotification, SubscriberContext};
