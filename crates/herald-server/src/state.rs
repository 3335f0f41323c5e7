//! What every handler shares.

use std::time::Duration;

use herald_hub::Hub;
use herald_store::Store;
use herald_store::publish::Publisher;

use crate::allowed_origins::AllowedOrigins;
use crate::delivery_tracking::Tracker;
use crate::plugin_chain::Chains;
use crate::usage::Usage;

/// Stream behaviour knobs.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// The `retry:` sent at the start of each stream.
    pub retry: Duration,
    /// Rows fetched per history query while replaying.
    pub replay_page: u64,
}

/// Polling and long-polling knobs.
#[derive(Clone, Debug)]
pub struct PollSettings {
    /// Longest `wait` a long-poll may ask for.
    pub max_wait: Duration,
    /// Largest page (`limit`).
    pub max_limit: u64,
}

/// Input limits not fixed by the domain.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest `data` of one notification, in bytes (its JSON text).
    pub max_data_bytes: usize,
    /// Most notifications in one batch publish.
    pub max_batch: usize,
}

/// The email fallback, as handlers see it.
#[derive(Clone, Debug)]
pub struct EmailState {
    /// Records live deliveries that cancel pending emails: the stream and
    /// the poll route call `tracker.delivered` for every delivery.
    pub tracker: Tracker,
    /// Signs and checks unsubscribe links.
    pub unsubscribe: herald_email::UnsubscribeSigner,
    /// Whether this server sends email (`email.smtp_url` is set); channels
    /// may have an email policy only then.
    pub sending: bool,
}

/// Shared application state.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub hub: Hub,
    pub publisher: Publisher,
    /// Channels' plugin chains and the plugin host.
    pub chains: Chains,
    pub stream: StreamSettings,
    pub poll: PollSettings,
    pub limits: Limits,
    /// Tenants' allowed browser origins (CORS), cached.
    pub origins: AllowedOrigins,
    /// Recipients' email fallback: delivery tracking and unsubscribe links.
    pub email: EmailState,
    /// This node's per-tenant usage (connections, rates) and quota checks.
    pub usage: Usage,
    /// What `/metrics` reports; latencies and drops are recorded into it.
    pub metrics: crate::metrics::Metrics,
    /// Whether this node hears the bus between nodes (for `/readyz`).
    pub bus: herald_hub::relay::BusState,
    /// SHA-256 of `HERALD_OPERATOR_KEY`, when the operator key comes from
    /// the environment rather than the database.
    pub operator_key_hash: Option<String>,
}
