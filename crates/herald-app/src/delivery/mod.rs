//! Delivering to subscribers. Every transport (the SSE stream, polling and
//! long-polling, and the transports to come) opens a [`DeliverySink`] for
//! an authorized subscriber and hands it every notification it would send;
//! the sink runs the tenant's deliver hooks, counts the delivery and tells
//! the email tracker, so no transport can skip one of those steps.
//!
//! - [`subscriber`]: verifying a subscriber's token and scope, the
//!   suspension check and the connection guard.
//! - [`sink`]: the sink. Deliver hooks never run on the caller's thread:
//!   the sink queues them on the tenant's share of the plugin workers
//!   (`crate::plugin_workers`) and charges each subscriber's hook-time
//!   allowance ([`budget`]).
//! - [`feed`]: the SSE stream's replay-then-live feed of encoded frames.
//! - [`poll`]: polling and long-polling pages.

pub mod budget;
pub mod feed;
pub mod poll;
pub mod sink;
pub mod subscriber;

pub use budget::HookBudget;
pub use feed::{Feed, FeedRequest};
pub use poll::{PollAnswer, PollRequest};
pub use sink::DeliverySink;
pub use subscriber::Authorized;
