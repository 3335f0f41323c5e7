//! What a Mercure access token allows ("Authorization Details"): the
//! `authorization_details` claim read into publish and subscribe grants.
//!
//! A token either parses whole or is refused: one bad Mercure detail
//! rejects the token (`invalid_token`), never just that detail, since
//! acting on the rest would silently change what the token grants.
//! Details of other types are left alone; unknown actions grant nothing.

use serde_json::Value;
use url::Url;

use super::matcher::{MatcherLimits, MatcherType, TopicMatcher};

/// The `type` of a Mercure authorization detail, compared byte by byte.
pub const DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";

/// Limits on one token's grants ("Resource Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantLimits {
    /// Mercure authorization details in one token.
    pub max_details: usize,
    /// Topic matchers in one detail.
    pub max_topics: usize,
    /// Bytes of one detail's `payload`, as JSON.
    pub max_payload_bytes: usize,
    /// Limits on each matcher's value.
    pub matcher: MatcherLimits,
}

impl Default for GrantLimits {
    fn default() -> Self {
        Self { max_details: 32, max_topics: 64, max_payload_bytes: 4096, matcher: MatcherLimits::default() }
    }
}

/// Why a token's grants were refused: always `invalid_token` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Mercure authorization details: {0}")]
pub struct GrantError(pub String);

/// One Mercure authorization detail.
#[derive(Debug)]
struct Detail {
    publish: bool,
    subscribe: bool,
    topics: Vec<TopicMatcher>,
    payload: Option<Value>,
}

/// What a token allows on one hub.
#[derive(Debug, Default)]
pub struct Grants {
    details: Vec<Detail>,
    /// 0.x's `mercure.payload`: every subscription's.
    every_payload: Option<Value>,
}

impl Grants {
    /// Reads the `authorization_details` claim (`None` when the token has
    /// none: it grants nothing).
    pub fn from_claim(claim: Option<&Value>, hub_url: &Url, limits: &GrantLimits) -> Result<Self, GrantError> {
        let Some(claim) = claim else { return Ok(Self::default()) };
        let Value::Array(entries) = claim else { return Err(bad("`authorization_details` is not an array")) };
        let mut details = Vec::new();
        for entry in entries {
            // RFC 9396: every entry is an object with a string `type`.
            let Some(object) = entry.as_object() else { return Err(bad("an entry is not an object")) };
            match object.get("type") {
                Some(Value::String(t)) if t == DETAIL_TYPE => {}
                Some(Value::String(_)) => continue,
                _ => return Err(bad("an entry has no string `type`")),
            }
            if details.len() == limits.max_details {
                return Err(bad(&format!("more than {} Mercure details", limits.max_details)));
            }
            details.push(Detail::parse(object, hub_url, limits)?);
        }
        Ok(Self { details, every_payload: None })
    }

    /// Reads Mercure 0.x's `mercure` claim (`{"publish": [..], "subscribe":
    /// [..], "payload": ..}`, each selector `*`, a string or a URI
    /// template), for tenants with `compat_0x`. Its `payload` goes with
    /// every subscription, as in 0.x.
    pub fn from_legacy_claim(claim: &Value, hub_url: &Url, limits: &GrantLimits) -> Result<Self, GrantError> {
        let Some(object) = claim.as_object() else { return Err(bad("`mercure` is not an object")) };
        let selectors = |field: &str| -> Result<Vec<TopicMatcher>, GrantError> {
            match object.get(field) {
                None => Ok(Vec::new()),
                Some(Value::Array(all)) => {
                    if all.len() > limits.max_topics {
                        return Err(bad(&format!("more than {} selectors in `mercure.{field}`", limits.max_topics)));
                    }
                    all.iter()
                        .map(|s| match s {
                            Value::String(s) => {
                                TopicMatcher::new(MatcherType::UriTemplate, s, hub_url, &limits.matcher).map_err(|e| bad(&e.to_string()))
                            }
                            _ => Err(bad(&format!("`mercure.{field}` holds a non-string"))),
                        })
                        .collect()
                }
                Some(_) => Err(bad(&format!("`mercure.{field}` is not an array"))),
            }
        };
        let payload = match object.get("payload") {
            None | Some(Value::Null) => None,
            Some(p) if p.to_string().len() > limits.max_payload_bytes => {
                return Err(bad(&format!("the payload is over {} bytes", limits.max_payload_bytes)));
            }
            Some(p) => Some(p.clone()),
        };
        let details = vec![
            Detail { publish: true, subscribe: false, topics: selectors("publish")?, payload: None },
            Detail { publish: false, subscribe: true, topics: selectors("subscribe")?, payload: None },
        ];
        Ok(Self { details, every_payload: payload })
    }

    /// Whether every topic of an update may be published: each must be
    /// matched by a `publish` detail ("Publishers").
    pub fn may_publish<'a>(&self, topics: impl IntoIterator<Item = &'a str>, hub_url: &Url) -> bool {
        topics.into_iter().all(|topic| self.details.iter().any(|d| d.publish && d.matches(topic, hub_url)))
    }

    /// Whether a private update may be read: one of its topics, canonical
    /// or alternate, must be matched by a `subscribe` detail ("Subscribers").
    pub fn may_read<'a>(&self, topics: impl IntoIterator<Item = &'a str>, hub_url: &Url) -> bool {
        let mut topics = topics.into_iter();
        topics.any(|topic| self.details.iter().any(|d| d.subscribe && d.matches(topic, hub_url)))
    }

    /// The payload of the first `subscribe` detail whose topics match a
    /// subscription's own matcher string, taken as a topic ("Payloads").
    pub fn payload_for(&self, matcher: &str, hub_url: &Url) -> Option<&Value> {
        let detail = self.details.iter().filter(|d| d.subscribe).find(|d| d.matches(matcher, hub_url));
        detail.and_then(|d| d.payload.as_ref()).or(self.every_payload.as_ref())
    }

    /// Whether the token grants anything at all.
    pub fn is_empty(&self) -> bool {
        self.details.iter().all(|d| (!d.publish && !d.subscribe) || d.topics.is_empty())
    }
}

impl Detail {
    fn parse(object: &serde_json::Map<String, Value>, hub_url: &Url, limits: &GrantLimits) -> Result<Self, GrantError> {
        let Some(Value::Array(actions)) = object.get("actions") else { return Err(bad("`actions` is not an array")) };
        if actions.is_empty() {
            return Err(bad("`actions` is empty"));
        }
        let (mut publish, mut subscribe) = (false, false);
        for action in actions {
            match action.as_str() {
                Some("publish") => publish = true,
                Some("subscribe") => subscribe = true,
                // Unknown actions grant nothing and do not spoil the token.
                Some(_) => {}
                None => return Err(bad("an action is not a string")),
            }
        }
        let Some(Value::Array(topics)) = object.get("topics") else { return Err(bad("`topics` is not an array")) };
        if topics.is_empty() {
            return Err(bad("`topics` is empty"));
        }
        if topics.len() > limits.max_topics {
            return Err(bad(&format!("more than {} topics in a detail", limits.max_topics)));
        }
        let topics = topics.iter().map(|t| topic_matcher(t, hub_url, limits)).collect::<Result<Vec<_>, _>>()?;
        let payload = match object.get("payload") {
            None => None,
            Some(p @ Value::Object(_)) => {
                if p.to_string().len() > limits.max_payload_bytes {
                    return Err(bad(&format!("a payload is over {} bytes", limits.max_payload_bytes)));
                }
                Some(p.clone())
            }
            Some(_) => return Err(bad("`payload` is not an object")),
        };
        Ok(Self { publish, subscribe, topics, payload })
    }

    fn matches(&self, topic: &str, hub_url: &Url) -> bool {
        self.topics.iter().any(|m| m.matches(topic, hub_url))
    }
}

/// One `{"match", "match_type"?}` object ("Topic Matcher List").
fn topic_matcher(value: &Value, hub_url: &Url, limits: &GrantLimits) -> Result<TopicMatcher, GrantError> {
    let Some(object) = value.as_object() else { return Err(bad("a topic matcher is not an object")) };
    let Some(Value::String(pattern)) = object.get("match") else { return Err(bad("a topic matcher has no string `match`")) };
    let kind = match object.get("match_type") {
        None => MatcherType::Exact,
        Some(Value::String(name)) => MatcherType::from_name(name).ok_or_else(|| bad(&format!("unsupported `match_type` `{name}`")))?,
        Some(_) => return Err(bad("`match_type` is not a string")),
    };
    TopicMatcher::new(kind, pattern, hub_url, &limits.matcher).map_err(|e| bad(&e.to_string()))
}

fn bad(why: &str) -> GrantError {
    GrantError(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hub() -> Url {
        Url::parse("https://hub.example.com/.well-known/mercure").unwrap()
    }

    fn grants(claim: Value) -> Result<Grants, GrantError> {
        Grants::from_claim(Some(&claim), &hub(), &GrantLimits::default())
    }

    fn detail(actions: Value, topics: Value) -> Value {
        json!({"type": DETAIL_TYPE, "actions": actions, "topics": topics})
    }

    #[test]
    fn a_private_update_is_readable_through_any_of_its_topics() {
        let g = grants(json!([detail(
            json!(["subscribe"]),
            json!([{"match": "https://example.com/users/42/*", "match_type": "urlpattern"}, {"match": "https://example.com/books/1"}])
        )]))
        .unwrap();
        assert!(g.may_read(["https://example.com/books/1"], &hub()));
        assert!(!g.may_read(["https://example.com/books/2"], &hub()));
        // The alternate topic is what the grant covers.
        assert!(g.may_read(["https://example.com/books/2", "https://example.com/users/42/books/2"], &hub()));
        assert!(!g.may_publish(["https://example.com/books/1"], &hub()), "subscribe grants no publish");
    }

    #[test]
    fn publishing_needs_every_topic() {
        let g = grants(json!([
            detail(json!(["publish"]), json!([{"match": "https://example.com/books/:id", "match_type": "urlpattern"}])),
            detail(json!(["subscribe"]), json!([{"match": "*"}])),
        ]))
        .unwrap();
        assert!(g.may_publish(["https://example.com/books/1", "https://example.com/books/2"], &hub()));
        assert!(!g.may_publish(["https://example.com/books/1", "https://example.com/authors/2"], &hub()));
        assert!(g.may_read(["anything"], &hub()), "the wildcard, with no match_type");
    }

    #[test]
    fn other_detail_types_and_unknown_actions_grant_nothing_but_spoil_nothing() {
        let g = grants(json!([
            {"type": "https://example.com/payment", "whatever": [1, 2]},
            detail(json!(["read-later", "subscribe"]), json!([{"match": "a"}])),
            detail(json!(["read-later"]), json!([{"match": "*"}])),
        ]))
        .unwrap();
        assert!(g.may_read(["a"], &hub()));
        assert!(!g.may_read(["b"], &hub()), "a detail with only unknown actions grants nothing");
        assert!(Grants::from_claim(None, &hub(), &GrantLimits::default()).unwrap().is_empty());
    }

    #[test]
    fn one_bad_detail_rejects_the_whole_token() {
        let good = detail(json!(["subscribe"]), json!([{"match": "a"}]));
        for bad in [
            json!("not an array"),
            json!([good.clone(), "a string"]),
            json!([good.clone(), {"actions": ["subscribe"]}]),
            json!([good.clone(), detail(json!([]), json!([{"match": "a"}]))]),
            json!([good.clone(), detail(json!(["subscribe", 7]), json!([{"match": "a"}]))]),
            json!([good.clone(), detail(json!(["subscribe"]), json!([]))]),
            json!([good.clone(), detail(json!(["subscribe"]), json!(["a"]))]),
            json!([good.clone(), detail(json!(["subscribe"]), json!([{"match": "a", "match_type": "Exact"}]))]),
            json!([good.clone(), detail(json!(["subscribe"]), json!([{"match": "a", "match_type": "uritemplate"}]))]),
            json!([good.clone(), detail(json!(["subscribe"]), json!([{"match": "https://e.com/:x(", "match_type": "urlpattern"}]))]),
            json!([good.clone(), detail(json!(["subscribe"]), json!([{"match": "a\u{200b}"}]))]),
            json!([good.clone(), {"type": DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "a"}], "payload": [1]}]),
        ] {
            assert!(grants(bad.clone()).is_err(), "expected {bad} to be refused");
        }
    }

    #[test]
    fn limits_refuse_the_token() {
        let limits = GrantLimits { max_details: 2, max_topics: 2, max_payload_bytes: 20, ..GrantLimits::default() };
        let one = detail(json!(["subscribe"]), json!([{"match": "a"}]));
        let parse = |v: Value| Grants::from_claim(Some(&v), &hub(), &limits);
        assert!(parse(json!([one.clone(), one.clone()])).is_ok());
        assert!(parse(json!([one.clone(), one.clone(), one.clone()])).is_err(), "three details");
        assert!(parse(json!([detail(json!(["subscribe"]), json!([{"match": "a"}, {"match": "b"}, {"match": "c"}]))])).is_err());
        let payload = |p: Value| json!([{"type": DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "a"}], "payload": p}]);
        assert!(parse(payload(json!({"k": "short"}))).is_ok());
        assert!(parse(payload(json!({"k": "a value that is far too long"}))).is_err());
    }

    #[test]
    fn the_0x_claim_grants_by_string_or_template() {
        let limits = GrantLimits::default();
        let g = Grants::from_legacy_claim(
            &json!({"publish": ["*"], "subscribe": ["https://example.com/users/42", "https://example.com/books/{id}"], "payload": {"u": 42}}),
            &hub(),
            &limits,
        )
        .unwrap();
        assert!(g.may_publish(["anything", "https://example.com/x"], &hub()));
        assert!(g.may_read(["https://example.com/books/7"], &hub()));
        assert!(g.may_read(["https://example.com/users/42"], &hub()));
        assert!(!g.may_read(["https://example.com/users/43"], &hub()));
        assert_eq!(g.payload_for("https://example.com/books/{id}", &hub()), Some(&json!({"u": 42})));
        let subscribe_only = Grants::from_legacy_claim(&json!({"subscribe": ["*"]}), &hub(), &limits).unwrap();
        assert!(!subscribe_only.may_publish(["a"], &hub()));
        assert!(!subscribe_only.is_empty());
        assert!(Grants::from_legacy_claim(&json!({"publish": []}), &hub(), &limits).unwrap().is_empty());
        for bad in [json!([]), json!({"publish": "*"}), json!({"subscribe": [1]}), json!({"subscribe": ["https://e.com/{x"]})] {
            assert!(Grants::from_legacy_claim(&bad, &hub(), &limits).is_err(), "expected {bad} to be refused");
        }
    }

    #[test]
    fn the_first_matching_subscribe_detail_gives_the_payload() {
        let g = grants(json!([
            {"type": DETAIL_TYPE, "actions": ["publish"], "topics": [{"match": "*"}], "payload": {"p": 0}},
            {"type": DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/foo"}], "payload": {"p": 1}},
            {"type": DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/bar/:id", "match_type": "urlpattern"}], "payload": {"p": 2}},
            {"type": DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "*"}], "payload": {"p": 3}},
        ]))
        .unwrap();
        assert_eq!(g.payload_for("https://example.com/foo", &hub()), Some(&json!({"p": 1})));
        // The subscription's own matcher string, taken as a topic.
        assert_eq!(g.payload_for("https://example.com/bar/7", &hub()), Some(&json!({"p": 2})));
        assert_eq!(g.payload_for("https://example.com/bar/:id", &hub()), Some(&json!({"p": 2})));
        assert_eq!(g.payload_for("other", &hub()), Some(&json!({"p": 3})), "the wildcard as a default");
    }
}
