//! Herald's application layer: the use cases, between the transports
//! (`herald-server` speaks HTTP) and the domain's lower crates (store, hub,
//! plugin sandbox, email).
//!
//! - [`publish`]: the publish pipeline (validate, quota, publish hooks,
//!   commit, usage), one path for single and batch publishes.
//! - [`delivery`]: the delivery sink every transport uses (SSE, polling,
//!   and the transports to come): authorize, guard, deliver hooks,
//!   tracking, counters; and the replay-then-live feed.
//! - [`admin`]: what admins do to tenants, keys, channels, plugins,
//!   recipients, quotas and the audit log, with the side effects a change
//!   has on this node (closed streams, rebuilt plans, dropped caches).
//! - [`plugin_workers`]: the threads plugin hooks run on, shared fairly
//!   between tenants (never an HTTP worker or a tokio thread).
//! - [`tasks`]: the supervised background tasks and their shutdown token.
//! - [`events`]: typed internal events (one log line and one metric each).
//!
//! Everything returns [`AppError`]; a transport maps it to its own errors
//! in one place.

#![forbid(unsafe_code)]

pub mod admin;
mod allowed_origins;
mod app;
pub mod delivery;
mod delivery_tracking;
mod email_outbox;
mod error;
pub mod events;
pub mod metrics;
pub mod origin_refusals;
mod plugin_chain;
pub mod plugin_workers;
pub mod publish;
pub mod records;
mod settings;
mod suspension;
pub mod tasks;
mod usage;

pub use allowed_origins::AllowedOrigins;
pub use app::{App, AppParts};
pub use delivery_tracking::{LivePath, Tracker, TrackerTask};
pub use email_outbox::{EmailOutbox, OutboxSettings};
pub use error::{AppError, AppResult};
pub use metrics::{DeliveryStage, Metrics, MetricsSettings};
pub use plugin_chain::Chains;
pub use settings::{BuildInfo, Limits, PollSettings, Settings, StreamSettings};
pub use suspension::close_suspended_streams;
pub use usage::{Rates, TenantSnapshot, Transport, Usage, UsageSettings};
