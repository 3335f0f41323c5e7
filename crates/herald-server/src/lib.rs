//! Herald's HTTP API on actix-web: routes, auth extractors, the SSE stream
//! and problem+json errors. The only crate that knows actix.
//!
//! Handlers are thin: they authenticate through the extractors in
//! [`auth`], validate into `herald_core` types, call the store, the
//! publisher or the hub, and map every error through [`problem`].

#![forbid(unsafe_code)]

mod admin_console;
mod allowed_origins;
mod app;
mod asyncapi;
mod audit;
mod auth;
mod cors;
mod delivery_tracking;
mod email_outbox;
mod http;
mod idempotency;
mod known_paths;
mod metrics;
mod openapi;
mod pagination;
mod plugin_chain;
mod problem;
mod request_id;
pub mod request_limits;
mod routes;
mod state;
mod stream;
mod subscriber_auth;
mod usage;

pub use allowed_origins::AllowedOrigins;
pub use asyncapi::asyncapi_yaml;
pub use delivery_tracking::{LivePath, Tracker};
pub use email_outbox::{EmailOutbox, OutboxSettings};
pub use http::{LISTEN_BACKLOG, ServeOptions, bind, serve};
pub use metrics::{Metrics, MetricsSettings};
pub use openapi::openapi_json;
pub use plugin_chain::Chains;
pub use routes::tenants::close_suspended_streams;
pub use state::{AppState, EmailState, Limits, PollSettings, StreamSettings};
pub use usage::{Usage, UsageSettings};
