//! The two hooks a plugin may implement, and the one path every call takes
//! from the host (or a test) into them.

use crate::config::{FromConfig, cached};
use crate::{Decision, Delivery, DeliveryDecision, Error, Level, Notification, Subscriber, log};

/// Runs once per notification, before Herald stores it: filter, rewrite or
/// reject what publishers send. Export it with
/// [`export_publish_plugin!`](crate::export_publish_plugin) or
/// [`export_plugin!`](crate::export_plugin).
pub trait PublishHook {
    /// The channel's configuration for this plugin; built once per distinct
    /// configuration text and cached by the instance.
    type Config: FromConfig;

    /// Decides what happens to `notification`. An `Err` drops it, with the
    /// error as the reason, and logs the error.
    fn on_publish(notification: Notification, config: &Self::Config) -> Result<Decision, Error>;
}

/// Runs once per delivery to each matching subscriber, so it must be cheap:
/// personalise or withhold a notification per recipient. Export it with
/// [`export_deliver_plugin!`](crate::export_deliver_plugin) or
/// [`export_plugin!`](crate::export_plugin).
pub trait DeliverHook {
    /// As [`PublishHook::Config`]; a plugin with both hooks gets the same
    /// configuration text for each and may read it as different types.
    type Config: FromConfig;

    /// Decides what `subscriber` receives of `delivery`. An `Err` drops
    /// this delivery.
    fn on_deliver(delivery: Delivery, subscriber: Subscriber, config: &Self::Config) -> Result<DeliveryDecision, Error>;
}

/// Calls `T`'s publish hook exactly as the host's call does: the
/// configuration text is built (or taken from the cache) and an error becomes
/// a logged [`Decision::Drop`]. Use it in tests to cover the configuration
/// parsing as well.
pub fn run_publish<T: PublishHook>(notification: Notification, config: &str) -> Decision {
    settle(cached::<T::Config>(config).and_then(|config| T::on_publish(notification, &config)), Decision::Drop)
}

/// Calls `T`'s deliver hook exactly as the host's call does; see
/// [`run_publish`].
pub fn run_deliver<T: DeliverHook>(delivery: Delivery, subscriber: Subscriber, config: &str) -> DeliveryDecision {
    settle(cached::<T::Config>(config).and_then(|config| T::on_deliver(delivery, subscriber, &config)), DeliveryDecision::Drop)
}

/// Errors drop rather than pass: a plugin that cannot read its configuration
/// or its input has not checked the notification, and letting it through
/// unchecked (say, unredacted) is the worse mistake. A plugin that wants the
/// channel's failure policy to decide instead can panic, which traps.
fn settle<D>(outcome: Result<D, Error>, drop: fn(String) -> D) -> D {
    outcome.unwrap_or_else(|e| {
        log(Level::Error, e.message());
        drop(e.message().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::testing::take_logs;

    #[derive(Deserialize)]
    struct Prefix {
        prefix: String,
    }

    /// Renames the event type on publish and drops deliveries to `blocked`.
    struct Renamer;

    impl PublishHook for Renamer {
        type Config = Prefix;

        fn on_publish(mut n: Notification, config: &Prefix) -> Result<Decision, Error> {
            n.event_type = format!("{}{}", config.prefix, n.event_type);
            Ok(Decision::Replace(n))
        }
    }

    impl DeliverHook for Renamer {
        type Config = serde_json::Value;

        fn on_deliver(_: Delivery, subscriber: Subscriber, _: &serde_json::Value) -> Result<DeliveryDecision, Error> {
            if subscriber.claim::<bool>("blocked")?.unwrap_or(false) {
                return Ok(DeliveryDecision::Drop("blocked".into()));
            }
            Ok(DeliveryDecision::Keep)
        }
    }

    fn note() -> Notification {
        Notification::new("orders", "created", &json!({}))
    }

    #[test]
    fn publish_runs_with_the_parsed_config() {
        let Decision::Replace(n) = run_publish::<Renamer>(note(), r#"{"prefix": "order."}"#) else {
            panic!("expected a replacement");
        };
        assert_eq!(n.event_type, "order.created");
    }

    #[test]
    fn a_bad_config_drops_with_the_reason_and_logs_it() {
        let decision = run_publish::<Renamer>(note(), r#"{"prefix": 1}"#);
        let Decision::Drop(reason) = decision else { panic!("expected a drop") };
        assert!(reason.starts_with("invalid config: invalid type: integer `1`"), "{reason}");
        assert_eq!(take_logs(), vec![(Level::Error, reason)]);
    }

    #[test]
    fn a_hook_error_drops_the_delivery() {
        let delivery = || Delivery::new("orders", "created", &json!({}));
        let sub = Subscriber::new("u", &json!({"blocked": "yes"}));
        let DeliveryDecision::Drop(reason) = run_deliver::<Renamer>(delivery(), sub, "{}") else {
            panic!("expected a drop");
        };
        assert!(reason.starts_with("claim `blocked`"), "{reason}");

        let sub = Subscriber::new("u", &json!({"blocked": true}));
        assert_eq!(run_deliver::<Renamer>(delivery(), sub, "{}"), DeliveryDecision::Drop("blocked".into()));
        let sub = Subscriber::new("u", &json!({}));
        assert_eq!(run_deliver::<Renamer>(delivery(), sub, "{}"), DeliveryDecision::Keep);
    }
}
