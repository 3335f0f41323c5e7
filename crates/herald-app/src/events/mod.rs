//! Typed internal events: each is a struct whose `emit` writes its log line
//! and records its metric together, so the two cannot drift apart (the
//! shape of Vector's `internal_events`). Code that wants to say "this
//! happened" builds the event and emits it; it never writes the log line
//! or bumps the counter by hand.
//!
//! Events that happen once per delivery on the hot path (a replayed
//! notification, a delivery counted) are not here: they are plain counters
//! kept where the work is, read at scrape time (see [`crate::metrics`]).

mod email;
mod origins;
mod plugins;
mod tasks;
mod tenants;

pub use email::{EmailCancelled, EmailDeferred, EmailFailed, EmailSent};
pub use origins::OriginRefused;
pub use plugins::{DeliverHookFailed, DeliverHookSkipped, PublishHookDropped, PublishHookFailed};
pub use tasks::{TaskAbandoned, TaskDied};
pub use tenants::{SuspendedStreamsClosed, SuspensionSet, TenantDeleted};
