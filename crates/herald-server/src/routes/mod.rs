//! Route handlers, one file per resource. Each handler is annotated with
//! `utoipa::path` and registered through `utoipa_actix_web`, so a route and
//! its OpenAPI description cannot drift apart.

pub(crate) mod audit;
pub(crate) mod channels;
pub(crate) mod deliveries;
pub(crate) mod history;
pub(crate) mod keys;
pub(crate) mod mercure_settings;
pub(crate) mod metrics;
pub(crate) mod operator_keys;
pub(crate) mod origins;
pub(crate) mod plugins;
pub(crate) mod poll;
pub(crate) mod publish;
pub(crate) mod quotas;
pub(crate) mod reads;
pub(crate) mod recipients;
pub(crate) mod session;
pub(crate) mod signing_keys;
pub(crate) mod stats;
pub(crate) mod system;
pub(crate) mod tenants;
pub(crate) mod tokens;
pub(crate) mod unsubscribe;
pub(crate) mod whoami;
