//! Bindings generated from `plugins/wit/herald-plugin.wit` (world `plugin`,
//! both hooks). Private: the public API speaks the plain types of `types.rs`.
//! A plugin may export only one hook; `pool.rs` looks each up separately.

wasmtime::component::bindgen!({
    path: "../../plugins/wit",
    world: "plugin",
});

pub(crate) use exports::herald::plugin::{deliver_hook, publish_hook};
#[cfg(test)]
pub(crate) use herald::plugin::types::Content;
pub(crate) use herald::plugin::types::{Decision, Delivery, DeliveryDecision, Level, Notification, Subscriber};
