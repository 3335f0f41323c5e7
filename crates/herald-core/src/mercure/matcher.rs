//! Topic matchers ("Matcher Types"): `exact` and `urlpattern`, and the
//! reserved wildcard `*`.
//!
//! A `urlpattern` matcher is compiled once, when the subscription is made,
//! and evaluated per update. Patterns compile to the regex crate, whose
//! matching time is linear in the topic's length: the spec's guard against
//! catastrophic backtracking. Its compile-size limit and our limit on a
//! pattern's length bound what compiling one costs.

use icu_properties::CodePointMapData;
use icu_properties::props::GeneralCategory;
use url::Url;
use urlpattern::{UrlPattern, UrlPatternInit, UrlPatternMatchInput, UrlPatternOptions};

use super::uri_template::UriTemplate;

/// The matcher value that matches every topic, whatever the matcher type.
pub const WILDCARD: &str = "*";

/// A topic matcher type, by its canonical name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatcherType {
    /// Byte-for-byte comparison (the default).
    Exact,
    /// A WHATWG URL Pattern, relative ones resolved against the hub's URL.
    UrlPattern,
    /// A Mercure 0.x topic selector (a URI template, or a plain string
    /// compared exactly): only for tenants with `compat_0x`, never named
    /// by a 1.0 request or token.
    UriTemplate,
}

impl MatcherType {
    /// Every 1.0 type this hub supports (for `mercure_matcher_types_supported`).
    pub const ALL: [MatcherType; 2] = [MatcherType::Exact, MatcherType::UrlPattern];

    /// The canonical name (`match_type` in authorization details).
    pub fn name(self) -> &'static str {
        match self {
            MatcherType::Exact => "exact",
            MatcherType::UrlPattern => "urlpattern",
            MatcherType::UriTemplate => "uritemplate",
        }
    }

    /// The type a canonical name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The type a subscribe parameter selects: `match` and `match_exact`
    /// are exact, `match_<type>` is that type; `None` for a parameter that
    /// is not a matcher. The whole `match` prefix is reserved (compared
    /// without case), so `matches` or `Match_exact` is refused, not ignored.
    pub fn from_param(name: &str) -> Result<Option<Self>, MatcherError> {
        if name == "match" {
            return Ok(Some(MatcherType::Exact));
        }
        let reserved = name.len() >= 5 && name.as_bytes()[..5].eq_ignore_ascii_case(b"match");
        if !reserved {
            return Ok(None);
        }
        name.strip_prefix("match_").and_then(Self::from_name).map(Some).ok_or_else(|| MatcherError::UnsupportedType(name.to_owned()))
    }
}

/// Limits on what one subscriber may ask for ("Resource Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatcherLimits {
    /// Matchers in one request.
    pub max_matchers: usize,
    /// Bytes in one matcher's value.
    pub max_value_bytes: usize,
}

impl Default for MatcherLimits {
    fn default() -> Self {
        Self { max_matchers: 64, max_value_bytes: 1024 }
    }
}

/// Why a matcher, or a subscribe request, was refused (a 400 on the wire).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("`{0}` is in the reserved `match` namespace but names no matcher type this hub supports (exact, urlpattern)")]
    UnsupportedType(String),
    #[error("a matcher value must not contain {0}")]
    ForbiddenCharacter(&'static str),
    #[error("a matcher value is at most {max} bytes")]
    TooLong { max: usize },
    #[error("at most {max} matchers per request")]
    TooMany { max: usize },
    #[error("not a valid pattern: {0}")]
    InvalidPattern(String),
    #[error("`topic` is Mercure 0.x's parameter and this hub does not accept 0.x clients: use `match` or `match_urlpattern`")]
    LegacyParameter,
}

/// Refuses a matcher value with C0 or C1 controls, U+007F, or format
/// characters (general category Cf), as "Subscription" requires.
pub fn check_value(value: &str) -> Result<(), MatcherError> {
    let categories = CodePointMapData::<GeneralCategory>::new();
    for c in value.chars() {
        if c.is_control() {
            // `char::is_control` is exactly Cc: C0, U+007F and C1.
            return Err(MatcherError::ForbiddenCharacter("control characters"));
        }
        if categories.get(c) == GeneralCategory::Format {
            return Err(MatcherError::ForbiddenCharacter("format characters (Cf)"));
        }
    }
    Ok(())
}

/// One topic matcher, ready to evaluate.
#[derive(Debug)]
pub struct TopicMatcher {
    kind: MatcherType,
    value: String,
    compiled: Compiled,
}

#[derive(Debug)]
enum Compiled {
    Wildcard,
    Exact,
    Pattern(Box<UrlPattern>),
    Template(Box<UriTemplate>),
}

impl TopicMatcher {
    /// Checks and compiles `value` as a matcher of `kind`; relative URL
    /// patterns are resolved against `hub_url`.
    pub fn new(kind: MatcherType, value: &str, hub_url: &Url, limits: &MatcherLimits) -> Result<Self, MatcherError> {
        if value.len() > limits.max_value_bytes {
            return Err(MatcherError::TooLong { max: limits.max_value_bytes });
        }
        check_value(value)?;
        // The wildcard is recognized before the type is.
        let compiled = if value == WILDCARD {
            Compiled::Wildcard
        } else {
            match kind {
                MatcherType::Exact => Compiled::Exact,
                MatcherType::UrlPattern => Compiled::Pattern(Box::new(compile_pattern(value, hub_url)?)),
                // 0.x compared the selector itself first, then as a template.
                MatcherType::UriTemplate if !value.contains(['{', '}']) => Compiled::Exact,
                MatcherType::UriTemplate => {
                    Compiled::Template(Box::new(UriTemplate::parse(value).map_err(|e| MatcherError::InvalidPattern(e.to_string()))?))
                }
            }
        };
        Ok(Self { kind, value: value.to_owned(), compiled })
    }

    pub fn kind(&self) -> MatcherType {
        self.kind
    }

    /// The matcher as the subscriber wrote it.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether it selects every topic.
    pub fn is_wildcard(&self) -> bool {
        matches!(self.compiled, Compiled::Wildcard)
    }

    /// Whether it selects `topic`. `hub_url` must be the one the matcher
    /// was made with: relative topics are resolved against it.
    pub fn matches(&self, topic: &str, hub_url: &Url) -> bool {
        match &self.compiled {
            Compiled::Wildcard => true,
            // Raw bytes: no resolution, no normalization ("Exact Matching").
            Compiled::Exact => self.value == topic,
            // A topic that is no URL reference against the hub's URL
            // matches no pattern.
            Compiled::Template(template) => template.matches(topic),
            Compiled::Pattern(pattern) => {
                hub_url.join(topic).is_ok_and(|url| pattern.test(UrlPatternMatchInput::Url(url)).unwrap_or(false))
            }
        }
    }
}

fn compile_pattern(value: &str, hub_url: &Url) -> Result<UrlPattern, MatcherError> {
    let invalid = |e: urlpattern::Error| MatcherError::InvalidPattern(e.to_string());
    let init = UrlPatternInit::parse_constructor_string::<regex::Regex>(value, Some(hub_url.clone())).map_err(invalid)?;
    // Never `ignore_case` ("URL Pattern").
    UrlPattern::parse(init, UrlPatternOptions { ignore_case: false, ..UrlPatternOptions::default() }).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Url {
        Url::parse("https://hub.example.com/.well-known/mercure").unwrap()
    }

    fn matcher(kind: MatcherType, value: &str) -> TopicMatcher {
        TopicMatcher::new(kind, value, &hub(), &MatcherLimits::default()).unwrap_or_else(|e| panic!("{value}: {e}"))
    }

    #[test]
    fn parameter_names_select_types_and_the_match_prefix_is_reserved() {
        assert_eq!(MatcherType::from_param("match"), Ok(Some(MatcherType::Exact)));
        assert_eq!(MatcherType::from_param("match_exact"), Ok(Some(MatcherType::Exact)));
        assert_eq!(MatcherType::from_param("match_urlpattern"), Ok(Some(MatcherType::UrlPattern)));
        assert_eq!(MatcherType::from_param("topic"), Ok(None));
        assert_eq!(MatcherType::from_param("last_event_id"), Ok(None));
        assert_eq!(MatcherType::from_param("mat"), Ok(None));
        for refused in ["matches", "Match", "MATCH_exact", "match_URLPattern", "match_", "match_regex", "matchexact"] {
            assert_eq!(
                MatcherType::from_param(refused),
                Err(MatcherError::UnsupportedType(refused.into())),
                "expected {refused} to be refused"
            );
        }
    }

    #[test]
    fn exact_is_byte_for_byte() {
        let m = matcher(MatcherType::Exact, "https://example.com/books/1");
        assert!(m.matches("https://example.com/books/1", &hub()));
        for other in ["https://example.com/books/1/", "https://EXAMPLE.com/books/1", "https://example.com/books/%31", "/books/1"] {
            assert!(!m.matches(other, &hub()), "expected {other} not to match");
        }
        // Not resolved against the hub either.
        let relative = matcher(MatcherType::Exact, "books/1");
        assert!(relative.matches("books/1", &hub()));
        assert!(!relative.matches("https://hub.example.com/.well-known/books/1", &hub()));
        // Nor normalized: "é" precomposed against e + combining acute.
        let nfc = matcher(MatcherType::Exact, "caf\u{e9}");
        assert!(!nfc.matches("cafe\u{301}", &hub()));
    }

    #[test]
    fn the_wildcard_matches_every_topic_whatever_the_type() {
        for kind in MatcherType::ALL {
            let m = matcher(kind, "*");
            assert!(m.is_wildcard());
            for topic in ["https://example.com/a", "relative", "", "not a url \u{1}"] {
                assert!(m.matches(topic, &hub()), "{kind:?} * should match {topic:?}");
            }
        }
    }

    #[test]
    fn url_patterns_match_absolute_and_relative_topics() {
        let books = matcher(MatcherType::UrlPattern, "https://example.com/books/:id");
        assert!(books.matches("https://example.com/books/1", &hub()));
        assert!(books.matches("https://EXAMPLE.com/books/1", &hub()), "hosts compare without case");
        assert!(!books.matches("https://example.com/Books/1", &hub()), "paths compare with case");
        assert!(!books.matches("https://example.com/books/1/reviews", &hub()));
        assert!(!books.matches("https://example.org/books/1", &hub()));
        // Relative patterns and topics are resolved against the hub's URL,
        // so hub-published topics such as subscription events can be matched.
        let subs = matcher(MatcherType::UrlPattern, "/.well-known/mercure/subscriptions/exact/:topic/:subscriber");
        assert!(subs.matches("/.well-known/mercure/subscriptions/exact/t1/s1", &hub()));
        assert!(subs.matches("https://hub.example.com/.well-known/mercure/subscriptions/exact/t1/s1", &hub()));
        assert!(!subs.matches("https://other.example.com/.well-known/mercure/subscriptions/exact/t1/s1", &hub()));
        // A topic that is no URL reference matches no pattern.
        let any_path = matcher(MatcherType::UrlPattern, "https://example.com/*");
        assert!(!any_path.matches("http://[::1", &hub()));
    }

    #[test]
    fn pathological_patterns_are_refused_or_linear() {
        // Nested quantifiers that backtrack exponentially in an ECMAScript
        // engine: with the regex crate the topic is matched in linear time.
        let evil = matcher(MatcherType::UrlPattern, "https://example.com/:x((?:a+)+b)");
        assert!(evil.matches("https://example.com/aaab", &hub()));
        let topic = format!("https://example.com/{}c", "a".repeat(5000));
        assert!(!evil.matches(&topic, &hub()));
        assert!(matches!(
            TopicMatcher::new(MatcherType::UrlPattern, "https://example.com/:id(", &hub(), &MatcherLimits::default()),
            Err(MatcherError::InvalidPattern(_))
        ));
    }

    #[test]
    fn legacy_selectors_are_strings_or_uri_templates_and_no_1_0_name_reaches_them() {
        let plain = matcher(MatcherType::UriTemplate, "https://example.com/books/1");
        assert!(plain.matches("https://example.com/books/1", &hub()));
        assert!(!plain.matches("https://example.com/books/2", &hub()));
        let template = matcher(MatcherType::UriTemplate, "https://example.com/books/{id}");
        assert!(template.matches("https://example.com/books/2", &hub()));
        assert!(!template.matches("https://example.com/books/2/reviews", &hub()));
        assert!(matcher(MatcherType::UriTemplate, "*").is_wildcard());
        assert!(matches!(
            TopicMatcher::new(MatcherType::UriTemplate, "https://example.com/{id", &hub(), &MatcherLimits::default()),
            Err(MatcherError::InvalidPattern(_))
        ));
        assert_eq!(MatcherType::from_name("uritemplate"), None, "not a 1.0 `match_type`");
        assert!(MatcherType::from_param("match_uritemplate").is_err(), "nor a 1.0 parameter");
    }

    #[test]
    fn values_are_checked_for_length_and_characters() {
        let limits = MatcherLimits { max_matchers: 4, max_value_bytes: 16 };
        let new = |v: &str| TopicMatcher::new(MatcherType::Exact, v, &hub(), &limits).map(|_| ());
        assert_eq!(new("0123456789abcdef"), Ok(()));
        assert_eq!(new("0123456789abcdefg"), Err(MatcherError::TooLong { max: 16 }));
        for bad in ["a\u{0}b", "a\nb", "a\u{7f}", "a\u{85}", "a\u{9f}"] {
            assert_eq!(new(bad), Err(MatcherError::ForbiddenCharacter("control characters")), "{bad:?}");
        }
        for bad in ["a\u{200b}", "\u{feff}a", "a\u{202e}b", "a\u{ad}", "a\u{e0001}"] {
            assert_eq!(new(bad), Err(MatcherError::ForbiddenCharacter("format characters (Cf)")), "{bad:?}");
        }
        assert_eq!(new("caf\u{e9} \u{1f600}"), Ok(()), "other non-ASCII is fine");
    }
}
