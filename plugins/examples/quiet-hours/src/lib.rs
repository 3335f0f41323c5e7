//! `quiet-hours`, a deliver hook: holds back notifications a subscriber has
//! asked not to get, by time of day or by event type.
//!
//! Per subscriber, from the token's claims:
//!
//! - `quiet_hours`: `{"start": 22, "end": 7, "tz_offset_minutes": 60}`, hours
//!   0–23 in the subscriber's local time (UTC plus the offset, default 0).
//!   A notification published from `start:00` up to `end:00` is dropped;
//!   a window with `start > end` spans midnight, `start == end` is empty;
//! - `muted_types`: `["marketing.promo", ...]`, event types always dropped.
//!
//! Per channel, from the configuration: `{"always": ["security.alert"]}`,
//! event types delivered even in quiet hours (muting still applies: the
//! claims come from the tenant's own token issuer).
//!
//! Plugins have no clock, so the hour is that of the notification's
//! publication, which Herald gives with every delivery (`published_at_ms`).
//! With a malformed `quiet_hours` claim quiet hours do not apply (and a
//! warning is logged): this is a comfort feature, and losing notifications
//! to a bad input is worse than delivering one at night.

use herald_plugin_kit::{DeliverHook, Delivery, DeliveryDecision, Error, Subscriber};
use serde::Deserialize;

/// The plugin.
pub struct QuietHours;

herald_plugin_kit::export_deliver_plugin!(QuietHours);

/// The channel's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    always: Vec<String>,
}

/// A subscriber's `quiet_hours` claim.
#[derive(Debug, Deserialize)]
struct Window {
    start: u8,
    end: u8,
    #[serde(default)]
    tz_offset_minutes: i32,
}

/// The largest offset in use anywhere is +14:00; a bigger one is a mistake.
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

impl Window {
    fn check(&self) -> Result<(), String> {
        if self.start > 23 || self.end > 23 {
            return Err(format!("hours must be 0-23, got {}-{}", self.start, self.end));
        }
        if self.tz_offset_minutes.abs() > MAX_OFFSET_MINUTES {
            return Err(format!("tz_offset_minutes {} is out of range", self.tz_offset_minutes));
        }
        Ok(())
    }

    /// Whether the local hour at `unix_ms` falls inside the window.
    fn contains(&self, unix_ms: u64) -> bool {
        let unix = i64::try_from(unix_ms / 1_000).unwrap_or(i64::MAX);
        let local = unix + i64::from(self.tz_offset_minutes) * 60;
        let hour = u8::try_from(local.rem_euclid(86_400) / 3_600).expect("an hour is below 24");
        if self.start <= self.end { (self.start..self.end).contains(&hour) } else { hour >= self.start || hour < self.end }
    }
}

impl DeliverHook for QuietHours {
    type Config = Config;

    fn on_deliver(delivery: Delivery, subscriber: Subscriber, config: &Config) -> Result<DeliveryDecision, Error> {
        let event_type = delivery.event_type.as_str();
        let muted = subscriber.claim::<Vec<String>>("muted_types").unwrap_or_else(|e| {
            herald_plugin_kit::warn!("{e}; nothing muted");
            None
        });
        if muted.is_some_and(|muted| muted.iter().any(|t| t == event_type)) {
            return Ok(DeliveryDecision::Drop(format!("`{event_type}` is muted by the subscriber")));
        }
        if config.always.iter().any(|t| t == event_type) {
            return Ok(DeliveryDecision::Keep);
        }

        let window = match subscriber.claim::<Window>("quiet_hours") {
            Ok(None) => return Ok(DeliveryDecision::Keep),
            Ok(Some(window)) => window,
            Err(e) => {
                herald_plugin_kit::warn!("{e}; quiet hours ignored");
                return Ok(DeliveryDecision::Keep);
            }
        };
        if let Err(e) = window.check() {
            herald_plugin_kit::warn!("claim `quiet_hours`: {e}; quiet hours ignored");
            return Ok(DeliveryDecision::Keep);
        }
        Ok(if window.contains(delivery.published_at_ms) {
            DeliveryDecision::Drop(format!("quiet hours ({:02}:00-{:02}:00)", window.start, window.end))
        } else {
            DeliveryDecision::Keep
        })
    }
}

#[cfg(test)]
mod tests {
    use herald_plugin_kit::testing::take_logs;
    use herald_plugin_kit::{Level, run_deliver};
    use serde_json::{Value, json};

    use super::*;

    /// 2024-05-01 00:00:00 UTC, in milliseconds.
    const MIDNIGHT_UTC_MS: u64 = 1_714_521_600_000;

    fn at_utc(hour: u64, minute: u64) -> u64 {
        MIDNIGHT_UTC_MS + (hour * 3_600 + minute * 60) * 1_000
    }

    fn deliver(event_type: &str, published_ms: u64, claims: Value) -> DeliveryDecision {
        let delivery = Delivery::new("alerts", event_type, &json!({})).published_at_ms(published_ms);
        let sub = Subscriber::new("u1", &claims);
        run_deliver::<QuietHours>(delivery, sub, r#"{"always": ["security.alert"]}"#)
    }

    fn night() -> Value {
        json!({"quiet_hours": {"start": 22, "end": 7, "tz_offset_minutes": 60}})
    }

    #[test]
    fn drops_inside_a_window_across_midnight_in_local_time() {
        // 21:00 UTC is 22:00 at +01:00: the window has just started.
        assert_eq!(deliver("order.shipped", at_utc(21, 0), night()), DeliveryDecision::Drop("quiet hours (22:00-07:00)".into()));
        assert!(matches!(deliver("order.shipped", at_utc(2, 30), night()), DeliveryDecision::Drop(_)));
        // 05:59 UTC is 06:59 local, still quiet; 06:00 UTC is 07:00, the end.
        assert!(matches!(deliver("order.shipped", at_utc(5, 59), night()), DeliveryDecision::Drop(_)));
        assert_eq!(deliver("order.shipped", at_utc(6, 0), night()), DeliveryDecision::Keep);
        assert_eq!(deliver("order.shipped", at_utc(20, 59), night()), DeliveryDecision::Keep);
    }

    #[test]
    fn negative_offsets_and_same_day_windows() {
        let lunch = json!({"quiet_hours": {"start": 12, "end": 14, "tz_offset_minutes": -300}});
        // 17:30 UTC is 12:30 at -05:00.
        assert!(matches!(deliver("chat.message", at_utc(17, 30), lunch.clone()), DeliveryDecision::Drop(_)));
        assert_eq!(deliver("chat.message", at_utc(12, 30), lunch), DeliveryDecision::Keep);
        // Before the epoch day boundary in local time: 00:30 UTC is 19:30 the day before.
        let evening = json!({"quiet_hours": {"start": 19, "end": 20, "tz_offset_minutes": -300}});
        assert!(matches!(deliver("chat.message", at_utc(0, 30), evening), DeliveryDecision::Drop(_)));
        let empty = json!({"quiet_hours": {"start": 9, "end": 9}});
        assert_eq!(deliver("chat.message", at_utc(9, 0), empty), DeliveryDecision::Keep);
    }

    #[test]
    fn always_types_pass_quiet_hours_but_not_mutes() {
        assert_eq!(deliver("security.alert", at_utc(23, 0), night()), DeliveryDecision::Keep);
        let muted = json!({"muted_types": ["security.alert", "promo"]});
        assert_eq!(
            deliver("security.alert", at_utc(12, 0), muted.clone()),
            DeliveryDecision::Drop("`security.alert` is muted by the subscriber".into())
        );
        assert!(matches!(deliver("promo", at_utc(3, 0), muted.clone()), DeliveryDecision::Drop(_)));
        assert_eq!(deliver("order.shipped", at_utc(3, 0), muted), DeliveryDecision::Keep);
    }

    #[test]
    fn bad_claims_deliver_with_a_warning() {
        let bad_hours = json!({"quiet_hours": {"start": 25, "end": 7}});
        assert_eq!(deliver("order.shipped", at_utc(23, 0), bad_hours), DeliveryDecision::Keep);
        let bad_shape = json!({"quiet_hours": "22-07", "muted_types": "promo"});
        assert_eq!(deliver("promo", at_utc(23, 0), bad_shape), DeliveryDecision::Keep);
        let logs = take_logs();
        assert_eq!(logs.len(), 3, "{logs:?}");
        assert!(logs.iter().all(|(level, _)| *level == Level::Warn));
        assert!(logs[0].1.contains("hours must be 0-23"), "{logs:?}");
    }

    #[test]
    fn subscribers_without_preferences_get_everything() {
        assert_eq!(deliver("order.shipped", at_utc(3, 0), json!({"locale": "fr"})), DeliveryDecision::Keep);
    }

    #[test]
    fn unknown_configuration_keys_are_refused() {
        let delivery = Delivery::new("alerts", "x", &json!({}));
        let sub = Subscriber::new("u1", &json!({}));
        let DeliveryDecision::Drop(reason) = run_deliver::<QuietHours>(delivery, sub, r#"{"alway": []}"#) else {
            panic!("expected a drop")
        };
        assert!(reason.contains("unknown field `alway`"), "{reason}");
    }
}
