//! Admin use cases: tenants, keys, Mercure hubs, channels, plugins, recipients, quotas
//! and the audit log. Most are one store call; those whose change must be
//! seen at once on this node (closed streams, a rebuilt deliver plan, a
//! dropped cache) do that here, so a route cannot forget it.

mod audit;
mod callers;
mod channels;
mod keys;
mod mercure;
mod operator_keys;
mod plugins;
mod quotas;
mod recipients;
mod subscribers;
mod system;
mod tenants;

pub use callers::Caller;
pub use plugins::{PluginSample, PluginTestRun};
pub use recipients::email_address;
