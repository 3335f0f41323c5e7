//! Active subscriptions ("Active Subscriptions"): the topic of a
//! subscription's events, and the JSON documents that describe one
//! subscription or a collection of them (the events' data, and the
//! subscription API's answers).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::matcher::MatcherType;

/// Everything but RFC 3986's unreserved characters is encoded: an RFC 6570
/// simple-string expansion, applied once to the raw value (a `%` in it is
/// encoded too).
const EXPANSION: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One subscription as the hub describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionDoc<'a> {
    /// The path of the hub's URL (`/.well-known/mercure`, or the tenant's).
    pub hub_path: &'a str,
    pub match_type: MatcherType,
    /// The matcher as the subscriber wrote it.
    pub matcher: &'a str,
    /// The hub's identifier of the subscriber's connection.
    pub subscriber: &'a str,
    pub active: bool,
    pub payload: Option<&'a Value>,
}

impl SubscriptionDoc<'_> {
    /// `{hub path}/subscriptions/{match_type}/{match}/{subscriber}`: the
    /// topic of this subscription's events and the URL of its document.
    pub fn topic(&self) -> String {
        format!("{}/{}", collection_topic(self.hub_path, Some((self.match_type, self.matcher))), encode(self.subscriber))
    }

    /// The document: the data of a subscription event, and what the
    /// subscription API answers for it.
    pub fn to_json(&self) -> Value {
        let mut doc = json!({
            "id": self.topic(),
            "type": "subscription",
            "match_type": self.match_type.name(),
            "match": self.matcher,
            "subscriber": self.subscriber,
            "active": self.active,
        });
        if let Some(payload) = self.payload {
            doc["payload"] = payload.clone();
        }
        doc
    }
}

/// `{hub path}/subscriptions`, or `…/subscriptions/{match_type}/{match}`
/// for one matcher's subscriptions.
pub fn collection_topic(hub_path: &str, matcher: Option<(MatcherType, &str)>) -> String {
    let base = format!("{}/subscriptions", hub_path.trim_end_matches('/'));
    match matcher {
        None => base,
        Some((kind, value)) => format!("{base}/{}/{}", kind.name(), encode(value)),
    }
}

/// A collection document (`type: subscriptions`).
pub fn collection_json(id: &str, subscriptions: impl IntoIterator<Item = Value>) -> Value {
    json!({"id": id, "type": "subscriptions", "subscriptions": subscriptions.into_iter().collect::<Vec<_>>()})
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, EXPANSION).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_are_the_specifications_examples() {
        let payload = json!({"foo": "bar"});
        let doc = SubscriptionDoc {
            hub_path: "/.well-known/mercure",
            match_type: MatcherType::UrlPattern,
            matcher: "https://example.com/:selector",
            subscriber: "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6",
            active: true,
            payload: Some(&payload),
        };
        assert_eq!(
            doc.to_json(),
            json!({
                "id": "/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2F%3Aselector/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6",
                "type": "subscription",
                "match_type": "urlpattern",
                "match": "https://example.com/:selector",
                "subscriber": "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6",
                "active": true,
                "payload": {"foo": "bar"}
            })
        );
        let ended = SubscriptionDoc { active: false, payload: None, match_type: MatcherType::Exact, ..doc };
        assert_eq!(ended.to_json()["active"], json!(false));
        assert!(ended.to_json().get("payload").is_none());
        assert_eq!(
            collection_json("/.well-known/mercure/subscriptions", [ended.to_json()]),
            json!({"id": "/.well-known/mercure/subscriptions", "type": "subscriptions", "subscriptions": [ended.to_json()]})
        );
    }

    #[test]
    fn values_are_encoded_exactly_once_and_the_tenants_path_is_kept() {
        let doc = SubscriptionDoc {
            hub_path: "/v1/tenants/ten_1/.well-known/mercure",
            match_type: MatcherType::Exact,
            matcher: "a%20b/c d",
            subscriber: "s~1",
            active: true,
            payload: None,
        };
        assert_eq!(doc.topic(), "/v1/tenants/ten_1/.well-known/mercure/subscriptions/exact/a%2520b%2Fc%20d/s~1");
        assert_eq!(
            collection_topic("/.well-known/mercure/", Some((MatcherType::Exact, "é"))),
            "/.well-known/mercure/subscriptions/exact/%C3%A9"
        );
        assert_eq!(collection_topic("/.well-known/mercure", None), "/.well-known/mercure/subscriptions");
    }
}
