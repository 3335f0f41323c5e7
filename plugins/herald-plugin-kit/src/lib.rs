//! The Herald plugin kit: write a Herald plugin as plain Rust functions over
//! typed values, and let the kit do the WebAssembly component glue.
//!
//! A plugin implements [`PublishHook`], [`DeliverHook`] or both, and exports
//! them with one of [`export_publish_plugin!`], [`export_deliver_plugin!`] or
//! [`export_plugin!`]. Only the hooks a plugin exports end up in its
//! component, so the host can tell from the component which hooks are real.
//!
//! ```
//! use herald_plugin_kit::{Decision, Error, Notification, PublishHook};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { max_len: usize }
//!
//! struct MaxLen;
//!
//! impl PublishHook for MaxLen {
//!     type Config = Config;
//!     fn on_publish(n: Notification, config: &Config) -> Result<Decision, Error> {
//!         Ok(if n.data.len() > config.max_len {
//!             Decision::Drop(format!("data longer than {} bytes", config.max_len))
//!         } else {
//!             Decision::Keep
//!         })
//!     }
//! }
//! herald_plugin_kit::export_publish_plugin!(MaxLen);
//!
//! let n = Notification::new("orders", "order.created", &serde_json::json!({"id": 1}));
//! assert_eq!(herald_plugin_kit::run_publish::<MaxLen>(n, r#"{"max_len": 4}"#),
//!            Decision::Drop("data longer than 4 bytes".into()));
//! ```
//!
//! The crate must be a dependency under its own name, `herald_plugin_kit`:
//! the export macros name it in the code they generate.

// The code wit-bindgen generates refers to this crate by name, both here and
// when the export macros expand inside a plugin crate.
extern crate self as herald_plugin_kit;

pub mod dotted;

mod config;
mod error;
mod hooks;
mod logging;
mod types;

mod export;

// Public only for the export macros, which expand in plugin crates.
#[doc(hidden)]
#[path = "bindings.rs"]
pub mod __bindings;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use config::FromConfig;
pub use error::Error;
pub use hooks::{DeliverHook, PublishHook, run_deliver, run_publish};
pub use logging::log;
pub use types::{Decision, Delivery, DeliveryDecision, Level, Notification, Subscriber};

/// Re-exported so plugins need no direct `serde_json` dependency of their
/// own to read data and claims.
pub use serde_json;
