//! [`App`], the application layer's handle: what every transport holds and
//! every use case runs on. Built once at start-up by `herald::run`.

use std::sync::Arc;

use herald_email::UnsubscribeSigner;
use herald_hub::Hub;
use herald_hub::relay::BusState;
use herald_store::Store;
use herald_store::publish::Publisher;

use crate::allowed_origins::AllowedOrigins;
use crate::delivery_tracking::Tracker;
use crate::metrics::Metrics;
use crate::plugin_chain::Chains;
use crate::settings::Settings;
use crate::usage::Usage;

/// The parts of a node the application layer runs on, wired by the caller.
pub struct AppParts {
    pub store: Store,
    pub hub: Hub,
    pub publisher: Publisher,
    pub chains: Chains,
    pub origins: AllowedOrigins,
    pub tracker: Tracker,
    pub unsubscribe: UnsubscribeSigner,
    pub usage: Usage,
    pub metrics: Metrics,
    pub bus: BusState,
    /// SHA-256 of `HERALD_OPERATOR_KEY`, when the operator key comes from
    /// the environment rather than the database.
    pub operator_key_hash: Option<String>,
    pub settings: Settings,
}

/// The application layer. Cheap to clone; every clone is the same node.
#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<AppParts>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

impl App {
    pub fn new(parts: AppParts) -> Self {
        Self { inner: Arc::new(parts) }
    }

    /// How this node was configured.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// What `/metrics` reports.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// `/metrics` in OpenMetrics text, read now.
    pub fn metrics_openmetrics(&self) -> String {
        self.inner.metrics.render(self)
    }

    /// `/metrics` in the Prometheus text format 0.0.4, read now.
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.render_text(self)
    }

    /// Streams and waiting long-polls on this node.
    pub fn subscriber_count(&self) -> usize {
        self.inner.hub.subscriber_count()
    }
}
