//! The macros that turn a type implementing the hook traits into a
//! component's exports. Each exports only the hooks it names, so the host
//! can see from the component which hooks a plugin really has.

/// Exports `$ty`'s [`PublishHook`](crate::PublishHook) as the component's
/// `herald:plugin/publish-hook`. `$ty` must be a type name in scope (not a
/// path), and this may be invoked once per plugin crate.
#[macro_export]
macro_rules! export_publish_plugin {
    ($ty:ident) => {
        impl $crate::__bindings::publish::exports::herald::plugin::publish_hook::Guest for $ty {
            fn on_publish(
                notification: $crate::__bindings::WitNotification,
                config: ::std::string::String,
            ) -> $crate::__bindings::WitDecision {
                $crate::run_publish::<$ty>(::std::convert::From::from(notification), &config).into()
            }
        }
        // Natively the symbols are not needed, and their names (with `:`,
        // `@`, `#`) break the linker version script of a native cdylib.
        #[cfg(target_arch = "wasm32")]
        $crate::__bindings::publish::export!($ty with_types_in $crate::__bindings::publish);
    };
}

/// Exports `$ty`'s [`DeliverHook`](crate::DeliverHook) as the component's
/// `herald:plugin/deliver-hook`; see [`export_publish_plugin!`].
#[macro_export]
macro_rules! export_deliver_plugin {
    ($ty:ident) => {
        impl $crate::__bindings::deliver::exports::herald::plugin::deliver_hook::Guest for $ty {
            fn on_deliver(
                delivery: $crate::__bindings::WitDelivery,
                subscriber: $crate::__bindings::WitSubscriber,
                config: ::std::string::String,
            ) -> $crate::__bindings::WitDeliveryDecision {
                $crate::run_deliver::<$ty>(
                    ::std::convert::From::from(delivery),
                    ::std::convert::From::from(subscriber),
                    &config,
                )
                .into()
            }
        }
        // Natively the symbols are not needed, and their names (with `:`,
        // `@`, `#`) break the linker version script of a native cdylib.
        #[cfg(target_arch = "wasm32")]
        $crate::__bindings::deliver::export!($ty with_types_in $crate::__bindings::deliver);
    };
}

/// Exports both of `$ty`'s hooks (the WIT world `plugin`); see
/// [`export_publish_plugin!`].
#[macro_export]
macro_rules! export_plugin {
    ($ty:ident) => {
        $crate::export_publish_plugin!($ty);
        $crate::export_deliver_plugin!($ty);
    };
}
