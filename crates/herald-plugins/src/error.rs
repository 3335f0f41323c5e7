//! The crate's one error type: what can go wrong loading or calling a plugin.
//!
//! The variants are the kinds the server reports and counts separately, so a
//! caller can tell "the upload is bad" (`Invalid`) from "this call failed".

use thiserror::Error;

/// Why a plugin could not be loaded or a hook call produced no decision.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PluginError {
    /// The upload is not usable: not a component, does not compile, imports
    /// something the host does not offer, exports no known hook, too large.
    #[error("invalid plugin: {0}")]
    Invalid(String),
    /// The plugin trapped (e.g. `unreachable`, a panic, an out-of-bounds access).
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The call ran past its deadline and was cut off.
    #[error("plugin timed out")]
    Timeout,
    /// The call used up its fuel budget.
    #[error("plugin ran out of fuel")]
    OutOfFuel,
    /// The plugin tried to grow its memory beyond the per-instance limit.
    #[error("plugin exceeded its memory limit")]
    MemoryExceeded,
    /// The plugin returned a decision the host refuses (bad JSON, too large, empty names).
    #[error("invalid plugin output: {0}")]
    InvalidOutput(String),
    /// The hook called is not exported by this plugin.
    #[error("the plugin does not export this hook")]
    NoSuchHook,
    /// No instance could be created for the call (e.g. the instance pool is exhausted).
    #[error("plugin unavailable: {0}")]
    Unavailable(String),
    /// The host itself could not be set up (engine configuration).
    #[error("plugin host setup failed: {0}")]
    Setup(String),
}

impl PluginError {
    /// A short stable name for the kind, for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Invalid(_) => "invalid",
            PluginError::Trap(_) => "trap",
            PluginError::Timeout => "timeout",
            PluginError::OutOfFuel => "out_of_fuel",
            PluginError::MemoryExceeded => "memory_exceeded",
            PluginError::InvalidOutput(_) => "invalid_output",
            PluginError::NoSuchHook => "no_such_hook",
            PluginError::Unavailable(_) => "unavailable",
            PluginError::Setup(_) => "setup",
        }
    }
}
