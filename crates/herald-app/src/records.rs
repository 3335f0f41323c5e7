//! The records use cases take and return, re-exported from the crates that
//! define them, so that a transport names them through the application
//! layer and depends on nothing below it.

pub use herald_email::{UnsubscribeError, UnsubscribeScope};
pub use herald_hub::frame::{Frame, HEARTBEAT, without_event_line};
pub use herald_hub::relay::BusStatus;
pub use herald_plugins::{Decision, PluginError, PluginNotification, PluginStats};
pub use herald_store::audit::{AuditActor, AuditEvent, AuditEventId, AuditFilter, NewAuditEvent};
pub use herald_store::deliveries::DeliveryFilter;
pub use herald_store::history::{HistoryFilter, HistoryPage};
pub use herald_store::idempotent_requests::Claim;
pub use herald_store::operator::OperatorKey;
pub use herald_store::quotas::Quotas;
pub use herald_store::recipients::RecipientUpdate;
pub use herald_store::signing_keys::{KeyClaims, NewSigningKey};
