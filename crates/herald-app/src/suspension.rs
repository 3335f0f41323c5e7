//! Following suspensions made through other nodes: every node re-reads
//! the suspended tenants and closes their streams on itself.

use std::time::Duration;

use herald_hub::Hub;
use herald_store::Store;

/// Closes this node's streams of suspended tenants, every `every` (at least
/// a second), until the task is stopped. A suspension made through this
/// node closes them at once; this sweep is how other nodes, which share
/// only the database, follow within the key-cache lifetime. It also catches
/// a stream that passed its suspension check just before the flag was set.
pub async fn close_suspended_streams(store: Store, hub: Hub, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.suspended_tenants().await {
            Ok(tenants) => {
                for tenant in tenants.iter().filter(|t| hub.has_subscribers(t)) {
                    crate::events::SuspendedStreamsClosed { tenant }.emit();
                    hub.close_tenant(tenant);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read the suspended tenants; retrying at the next sweep"),
        }
    }
}
