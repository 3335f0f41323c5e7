//! The WIT bindings wit-bindgen generates from `plugins/wit`, and the
//! conversions between its types and the kit's plain ones.
//!
//! There is one `generate!` per world with exports, `publish-plugin` and
//! `deliver-plugin`, each with `pub_export_macro` so that the export glue,
//! and the custom section naming the exported interface, are emitted only in
//! the plugin crate that invokes the matching export macro. A plugin with
//! both hooks invokes both, and the component linker unions the two worlds
//! into the `plugin` world. A third `generate!` for `plugin` itself would
//! emit a second `#[macro_export]` macro for each hook's glue, under the same
//! name, which does not compile.

use crate::{Decision, Delivery, DeliveryDecision, Level, Notification, Subscriber};

/// The `publish-plugin` world; it also owns the `types` and `host` bindings
/// that the `deliver` module reuses.
pub mod publish {
    wit_bindgen::generate!({
        path: "../wit",
        world: "herald:plugin/publish-plugin",
        pub_export_macro: true,
        default_bindings_module: "herald_plugin_kit::__bindings::publish",
    });
}

/// The `deliver-plugin` world.
pub mod deliver {
    wit_bindgen::generate!({
        path: "../wit",
        world: "herald:plugin/deliver-plugin",
        pub_export_macro: true,
        default_bindings_module: "herald_plugin_kit::__bindings::deliver",
        with: {
            "herald:plugin/types@0.1.0": crate::__bindings::publish::herald::plugin::types,
            "herald:plugin/host@0.1.0": crate::__bindings::publish::herald::plugin::host,
        },
    });
}

use publish::herald::plugin::types as wit;

pub use wit::{
    Decision as WitDecision, Delivery as WitDelivery, DeliveryDecision as WitDeliveryDecision, Notification as WitNotification,
    Subscriber as WitSubscriber,
};

impl From<WitNotification> for Notification {
    fn from(n: WitNotification) -> Self {
        Self { channel: n.channel, event_type: n.event_type, data: n.data, recipients: n.recipients, metadata: n.metadata }
    }
}

impl From<Notification> for WitNotification {
    fn from(n: Notification) -> Self {
        Self { channel: n.channel, event_type: n.event_type, data: n.data, recipients: n.recipients, metadata: n.metadata }
    }
}

impl From<WitDelivery> for Delivery {
    fn from(d: WitDelivery) -> Self {
        Self { id: d.id, channel: d.channel, event_type: d.event_type, data: d.data, direct: d.direct, published_at_ms: d.published_at_ms }
    }
}

impl From<WitSubscriber> for Subscriber {
    fn from(s: WitSubscriber) -> Self {
        Self { user: s.user, claims: s.claims }
    }
}

impl From<DeliveryDecision> for WitDeliveryDecision {
    fn from(d: DeliveryDecision) -> Self {
        match d {
            DeliveryDecision::Keep => Self::Keep,
            DeliveryDecision::Replace { event_type, data } => Self::Replace(wit::Content { event_type, data }),
            DeliveryDecision::Drop(reason) => Self::Drop(reason),
        }
    }
}

impl From<Decision> for WitDecision {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Keep => Self::Keep,
            Decision::Replace(n) => Self::Replace(n.into()),
            Decision::Drop(reason) => Self::Drop(reason),
        }
    }
}

impl From<Level> for wit::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => Self::Trace,
            Level::Debug => Self::Debug,
            Level::Info => Self::Info,
            Level::Warn => Self::Warn,
            Level::Error => Self::Error,
        }
    }
}
