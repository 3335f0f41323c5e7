//! A subscribe request's parameters ("Subscription" and "Reconnection"):
//! the topic matchers and the cursor, from the query component and, for
//! methods with a body, the form-encoded body, taken as their union.

use url::Url;

use super::matcher::{MatcherError, MatcherLimits, MatcherType, TopicMatcher};

/// What a subscriber asked for.
#[derive(Debug)]
pub struct SubscribeQuery {
    /// In the order given, without repeats of the same type and value.
    pub matchers: Vec<TopicMatcher>,
    /// Where to resume: the `Last-Event-ID` header, else the query's
    /// `last_event_id`, else the body's.
    pub last_event_id: Option<String>,
}

impl SubscribeQuery {
    /// Reads decoded name/value pairs. `query` and `body` are both read (a
    /// matcher list too long for a URL can travel in the body); a name in
    /// the reserved `match` namespace that names no supported type is
    /// refused, as is any matcher past the limits. Other names are ignored.
    pub fn parse<'a>(
        query: impl IntoIterator<Item = (&'a str, &'a str)>,
        body: impl IntoIterator<Item = (&'a str, &'a str)>,
        last_event_id_header: Option<&str>,
        hub_url: &Url,
        limits: &MatcherLimits,
        compat_0x: bool,
    ) -> Result<Self, MatcherError> {
        let mut matchers: Vec<TopicMatcher> = Vec::new();
        let mut cursor = [None, None];
        for (source, pairs) in [(0, query.into_iter().collect::<Vec<_>>()), (1, body.into_iter().collect())] {
            for (name, value) in pairs {
                if name == "last_event_id" {
                    // Single-valued: the first one of each component counts.
                    cursor[source].get_or_insert(value);
                    continue;
                }
                let kind = if name == "topic" {
                    // 0.x's selector: a URI template or a string.
                    if !compat_0x {
                        return Err(MatcherError::LegacyParameter);
                    }
                    MatcherType::UriTemplate
                } else {
                    let Some(kind) = MatcherType::from_param(name)? else { continue };
                    kind
                };
                if matchers.iter().any(|m| m.kind() == kind && m.value() == value) {
                    continue;
                }
                if matchers.len() == limits.max_matchers {
                    return Err(MatcherError::TooMany { max: limits.max_matchers });
                }
                matchers.push(TopicMatcher::new(kind, value, hub_url, limits)?);
            }
        }
        let last_event_id = last_event_id_header.or(cursor[0]).or(cursor[1]).map(str::to_owned);
        Ok(Self { matchers, last_event_id })
    }

    /// Whether any matcher selects `topic`.
    pub fn selects(&self, topic: &str, hub_url: &Url) -> bool {
        self.matchers.iter().any(|m| m.matches(topic, hub_url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Url {
        Url::parse("https://hub.example.com/.well-known/mercure").unwrap()
    }

    fn parse<'a>(query: &[(&'a str, &'a str)], body: &[(&'a str, &'a str)], header: Option<&str>) -> Result<SubscribeQuery, MatcherError> {
        SubscribeQuery::parse(query.iter().copied(), body.iter().copied(), header, &hub(), &MatcherLimits::default(), false)
    }

    fn values(q: &SubscribeQuery) -> Vec<(&'static str, &str)> {
        q.matchers.iter().map(|m| (m.kind().name(), m.value())).collect()
    }

    #[test]
    fn the_query_and_the_body_are_one_list() {
        let q = parse(
            &[("match", "https://example.com/foo"), ("match", "bar"), ("other", "x")],
            &[("match_urlpattern", "https://example.com/bar/:id"), ("match_exact", "bar")],
            None,
        )
        .unwrap();
        assert_eq!(
            values(&q),
            [("exact", "https://example.com/foo"), ("exact", "bar"), ("urlpattern", "https://example.com/bar/:id")],
            "the union, in order, the repeated exact `bar` once"
        );
        assert!(q.selects("https://example.com/bar/7", &hub()));
        assert!(q.selects("bar", &hub()));
        assert!(!q.selects("https://example.com/baz", &hub()));
        assert_eq!(q.last_event_id, None);
    }

    #[test]
    fn the_cursor_comes_from_the_header_then_the_query_then_the_body() {
        let both = [("last_event_id", "q1"), ("last_event_id", "q2")];
        let body = [("last_event_id", "b1")];
        assert_eq!(parse(&both, &body, Some("h")).unwrap().last_event_id.as_deref(), Some("h"));
        assert_eq!(parse(&both, &body, None).unwrap().last_event_id.as_deref(), Some("q1"));
        assert_eq!(parse(&[], &body, None).unwrap().last_event_id.as_deref(), Some("b1"));
        assert_eq!(parse(&[("last_event_id", "earliest")], &[], None).unwrap().last_event_id.as_deref(), Some("earliest"));
    }

    #[test]
    fn topic_is_the_0x_selector_only_where_the_tenant_allows_it() {
        let pairs = [("topic", "https://example.com/books/{id}"), ("match", "https://example.com/x")];
        let parse = |compat| SubscribeQuery::parse(pairs, [], None, &hub(), &MatcherLimits::default(), compat);
        assert_eq!(parse(false).unwrap_err(), MatcherError::LegacyParameter);
        let q = parse(true).unwrap();
        assert_eq!(values(&q), [("uritemplate", "https://example.com/books/{id}"), ("exact", "https://example.com/x")]);
        assert!(q.selects("https://example.com/books/3", &hub()));
    }

    #[test]
    fn bad_names_values_and_counts_are_refused() {
        assert_eq!(parse(&[("matches", "x")], &[], None).unwrap_err(), MatcherError::UnsupportedType("matches".into()));
        assert_eq!(parse(&[], &[("Match_exact", "x")], None).unwrap_err(), MatcherError::UnsupportedType("Match_exact".into()));
        assert!(matches!(parse(&[("match_urlpattern", "https://e.com/:x(")], &[], None), Err(MatcherError::InvalidPattern(_))));
        assert!(matches!(parse(&[("match", "a\u{1}")], &[], None), Err(MatcherError::ForbiddenCharacter(_))));
        let many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
        let pairs: Vec<(&str, &str)> = many.iter().map(|t| ("match", t.as_str())).collect();
        assert_eq!(parse(&pairs, &[], None).unwrap_err(), MatcherError::TooMany { max: 64 });
        assert_eq!(parse(&pairs[..64], &[], None).unwrap().matchers.len(), 64);
        // Repeats do not count against the limit.
        let repeated = vec![("match", "same"); 100];
        assert_eq!(parse(&repeated, &[], None).unwrap().matchers.len(), 1);
    }
}
