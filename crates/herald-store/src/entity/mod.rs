//! sea-orm entities, one per table. Rows stay inside this crate: the
//! repositories convert them to `herald_core` types before returning.

pub mod api_key;
pub mod audit_event;
pub mod channel;
pub mod dead_letter;
pub mod delivery;
pub mod email_outbox;
pub mod idempotency_key;
pub mod idempotent_request;
pub mod notification;
pub mod operator_key;
pub mod plugin;
pub mod read_mark;
pub mod read_receipt;
pub mod recipient;
pub mod server_secret;
pub mod signing_key;
pub mod tenant;
pub mod tenant_mercure_setting;
pub mod tenant_quota;
pub mod tenant_token_rule;
