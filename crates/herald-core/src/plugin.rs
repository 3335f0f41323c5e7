//! Plugins as the domain sees them: a channel's chain of plugins, what a
//! chain does when a plugin fails, and the records kept of uploads and of
//! notifications a chain kept out of delivery. Running plugins is the job
//! of `herald-plugins`; this module only states the rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::DomainError;
use crate::ids::{DeadLetterId, PluginId, TenantId};
use crate::limits;
use crate::names::{ChannelName, PluginName, PluginVersion};

/// Which hooks an uploaded plugin exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Hooks {
    /// Runs once per notification, before it is stored.
    pub publish: bool,
    /// Runs once per delivery to a subscriber.
    pub deliver: bool,
}

/// One uploaded version of a plugin (without its bytes).
#[derive(Clone, Debug)]
pub struct Plugin {
    pub id: PluginId,
    pub tenant: TenantId,
    pub name: PluginName,
    pub version: PluginVersion,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    pub size: u64,
    pub hooks: Hooks,
    pub created_at: DateTime<Utc>,
}

/// What a channel does with a notification when one of its plugins traps,
/// runs out of time or memory, or returns invalid output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    /// Pass the notification on as it was before the failing plugin.
    #[default]
    FailOpen,
    /// Keep it out of delivery and record it as a dead letter.
    FailClosed,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::FailOpen => "fail-open",
            FailurePolicy::FailClosed => "fail-closed",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "fail-open" => Ok(FailurePolicy::FailOpen),
            "fail-closed" => Ok(FailurePolicy::FailClosed),
            _ => Err(DomainError::invalid("failure_policy", "use `fail-open` or `fail-closed`")),
        }
    }
}

/// One plugin in a channel's chain, with its configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainStep {
    /// The plugin's name within the tenant.
    #[schema(value_type = String, example = "redact")]
    pub plugin: PluginName,
    /// Pin a version; without it the newest upload runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "1.0.0")]
    pub version: Option<PluginVersion>,
    /// Handed to the plugin as JSON text on every call.
    #[serde(default = "empty_config")]
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Per-call deadline, in milliseconds; the server default otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

fn empty_config() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// Checks a chain against the limits: length, config size, deadlines, and
/// no plugin twice (a chain runs each plugin once, in order).
pub fn validate_chain(chain: &[ChainStep]) -> Result<(), DomainError> {
    if chain.len() > limits::MAX_PLUGIN_CHAIN {
        return Err(DomainError::invalid("plugins", format!("at most {} plugins per channel", limits::MAX_PLUGIN_CHAIN)));
    }
    for (i, step) in chain.iter().enumerate() {
        let size = step.config.to_string().len();
        if size > limits::MAX_PLUGIN_CONFIG {
            return Err(DomainError::invalid(
                "plugins",
                format!("the config of `{}` is {size} bytes; at most {}", step.plugin, limits::MAX_PLUGIN_CONFIG),
            ));
        }
        if let Some(ms) = step.deadline_ms
            && !(1..=limits::MAX_PLUGIN_DEADLINE_MS).contains(&ms)
        {
            return Err(DomainError::invalid(
                "plugins",
                format!("deadline_ms of `{}` must be between 1 and {}", step.plugin, limits::MAX_PLUGIN_DEADLINE_MS),
            ));
        }
        if chain[..i].iter().any(|s| s.plugin == step.plugin) {
            return Err(DomainError::invalid("plugins", format!("`{}` appears twice in the chain", step.plugin)));
        }
    }
    Ok(())
}

/// A notification a fail-closed chain kept out of delivery, or one a
/// plugin dropped: nothing a plugin does disappears without a record.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub id: DeadLetterId,
    pub tenant: TenantId,
    pub channel: ChannelName,
    pub plugin: PluginName,
    /// `publish` or `deliver`.
    pub hook: String,
    /// `dropped` (the plugin's decision) or `failed` (trap, timeout, …).
    pub outcome: String,
    pub reason: String,
    /// The notification as the plugin received it, as JSON.
    pub notification: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn step(name: &str) -> ChainStep {
        ChainStep { plugin: PluginName::parse(name).unwrap(), version: None, config: json!({}), deadline_ms: None }
    }

    #[test]
    fn chains_are_checked_against_the_limits() {
        assert!(validate_chain(&[step("a"), step("b")]).is_ok());
        assert!(validate_chain(&[step("a"), step("a")]).is_err(), "a plugin twice");
        let long: Vec<_> = (0..=limits::MAX_PLUGIN_CHAIN).map(|i| step(&format!("p{i}"))).collect();
        assert!(validate_chain(&long).is_err());
        let mut big = step("big");
        big.config = json!({"x": "y".repeat(limits::MAX_PLUGIN_CONFIG)});
        assert!(validate_chain(&[big]).is_err());
        let mut slow = step("slow");
        slow.deadline_ms = Some(limits::MAX_PLUGIN_DEADLINE_MS + 1);
        assert!(validate_chain(&[slow]).is_err());
    }

    #[test]
    fn chain_steps_parse_from_the_channel_json() {
        let chain: Vec<ChainStep> = serde_json::from_value(
            json!([{"plugin": "redact", "config": {"fields": ["body"]}}, {"plugin": "tpl", "version": "1.0.0", "deadline_ms": 10}]),
        )
        .unwrap();
        assert_eq!(chain[0].plugin.as_str(), "redact");
        assert_eq!(chain[1].version.as_ref().unwrap().as_str(), "1.0.0");
        assert_eq!(chain[1].config, json!({}));
        assert!(serde_json::from_value::<Vec<ChainStep>>(json!([{"plugin": "bad name"}])).is_err());
        assert!(serde_json::from_value::<Vec<ChainStep>>(json!([{"plugin": "x", "extra": 1}])).is_err());
    }

    #[test]
    fn failure_policy_round_trips() {
        for p in [FailurePolicy::FailOpen, FailurePolicy::FailClosed] {
            assert_eq!(FailurePolicy::parse(p.as_str()).unwrap(), p);
        }
        assert!(FailurePolicy::parse("open").is_err());
    }
}
