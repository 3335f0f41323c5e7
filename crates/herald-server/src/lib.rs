//! Herald's HTTP API on actix-web: routes, auth extractors, DTOs, the SSE
//! response and problem+json errors. The only crate that knows actix.
//!
//! Handlers are thin: they authenticate through the extractors in
//! [`auth`], turn requests into the application layer's inputs, call its
//! use cases (`herald_app`), and map every error through [`problem`]. This
//! crate depends on no storage, hub or plugin crate: it reaches them only
//! through `herald_app` (checked by `scripts/check-layers`).

#![forbid(unsafe_code)]

mod admin_console;
mod app;
mod asyncapi;
mod audit;
mod auth;
mod client_addr;
mod cors;
mod docs_page;
mod http;
mod idempotency;
mod known_paths;
mod openapi;
mod pagination;
mod problem;
mod request_id;
pub mod request_limits;
mod request_metrics;
mod routes;
mod state;
mod stream;
mod subscriber_auth;
pub mod tls;

pub use asyncapi::asyncapi_yaml;
pub use client_addr::TrustedProxies;
pub use http::{LISTEN_BACKLOG, ServeOptions, bind, serve, shutdown_signal};
pub use openapi::openapi_json;
pub use state::AppState;
