//! The knobs use cases read, set once at start-up from the configuration.

use std::time::Duration;

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

/// Which build this node runs, as `/healthz` reports it. The binary knows
/// (its build script asks git); the layers below it only pass it on.
#[derive(Clone, Copy, Debug)]
pub struct BuildInfo {
    /// The package version, `0.1.0`.
    pub version: &'static str,
    /// The commit's short hash, or `unknown`.
    pub commit: &'static str,
}

/// Everything a use case may read about how this node was configured.
#[derive(Clone, Debug)]
pub struct Settings {
    pub stream: StreamSettings,
    pub poll: PollSettings,
    pub limits: Limits,
    /// Deliver-hook time one stream or poll may use.
    pub hook_budget: crate::delivery::HookBudget,
    /// Whether this node sends email (`email.smtp_url` is set); channels may
    /// have an email policy only then.
    pub email_sending: bool,
    pub build: BuildInfo,
}
