//! Channel patterns: what a token may subscribe to and what a stream asks for.
//!
//! A pattern is a channel name whose segments may be wildcards, with NATS
//! semantics: `*` matches exactly one segment, `>` (last segment only) matches
//! one or more trailing segments. `orders` matches only `orders`;
//! `user.42.*` matches `user.42.inbox` but not `user.42.a.b`;
//! `user.42.>` matches both.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{ChannelName, is_segment_byte};
use crate::{DomainError, limits};

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Segment {
    Literal(String),
    One,
    Tail,
}

/// A validated channel pattern.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelPattern {
    text: String,
    segments: Vec<Segment>,
}

impl ChannelPattern {
    pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
        let text = s.into();
        const FIELD: &str = "channel pattern";
        if text.is_empty() {
            return Err(DomainError::invalid(FIELD, "must not be empty"));
        }
        if text.len() > limits::MAX_CHANNEL_NAME {
            return Err(DomainError::invalid(FIELD, format!("must be at most {} bytes", limits::MAX_CHANNEL_NAME)));
        }
        let parts: Vec<&str> = text.split('.').collect();
        let last = parts.len() - 1;
        let mut segments = Vec::with_capacity(parts.len());
        for (i, seg) in parts.into_iter().enumerate() {
            segments.push(match seg {
                "*" => Segment::One,
                ">" if i == last => Segment::Tail,
                ">" => return Err(DomainError::invalid(FIELD, "`>` may only be the last segment")),
                "" => return Err(DomainError::invalid(FIELD, "segments separated by `.` must not be empty")),
                lit if lit.bytes().all(is_segment_byte) => Segment::Literal(lit.to_owned()),
                _ => {
                    return Err(DomainError::invalid(FIELD, "use letters, digits and `-_:@=+` in segments, or a whole segment `*` or `>`"));
                }
            });
        }
        Ok(Self { text, segments })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the pattern names exactly one channel (no wildcard).
    pub fn is_exact(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Literal(_)))
    }

    /// The literal text before the first wildcard, e.g. `user.42.` for
    /// `user.42.*`; lets storage narrow a scan before matching exactly.
    pub fn literal_prefix(&self) -> &str {
        match self.text.find(['*', '>']) {
            Some(i) => &self.text[..i],
            None => &self.text,
        }
    }

    /// Does this pattern match the channel?
    pub fn matches(&self, channel: &ChannelName) -> bool {
        self.matches_str(channel.as_str())
    }

    /// Does this pattern match the (already validated) channel name?
    pub fn matches_str(&self, channel: &str) -> bool {
        let mut parts = channel.split('.');
        for seg in &self.segments {
            match seg {
                Segment::Tail => return parts.next().is_some(),
                Segment::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(lit) => {
                    if parts.next() != Some(lit.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// Does every channel that `other` matches also match `self`? Used to
    /// check a stream request against the token's allowed patterns.
    pub fn covers(&self, other: &ChannelPattern) -> bool {
        let mut theirs = other.segments.iter();
        for mine in &self.segments {
            match mine {
                // `>` covers whatever non-empty tail remains.
                Segment::Tail => return theirs.next().is_some(),
                Segment::One => match theirs.next() {
                    Some(Segment::Literal(_) | Segment::One) => {}
                    _ => return false,
                },
                Segment::Literal(lit) => match theirs.next() {
                    Some(Segment::Literal(t)) if t == lit => {}
                    _ => return false,
                },
            }
        }
        theirs.next().is_none()
    }
}

impl fmt::Display for ChannelPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ChannelPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl TryFrom<String> for ChannelPattern {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl From<ChannelPattern> for String {
    fn from(p: ChannelPattern) -> String {
        p.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ChannelPattern {
        ChannelPattern::parse(s).unwrap()
    }

    #[test]
    fn matching() {
        let cases = [
            ("orders", "orders", true),
            ("orders", "orders.eu", false),
            ("user.42.*", "user.42.inbox", true),
            ("user.42.*", "user.42", false),
            ("user.42.*", "user.42.a.b", false),
            ("user.42.>", "user.42.a.b", true),
            ("user.42.>", "user.42", false),
            ("user.*.inbox", "user.7.inbox", true),
            ("user.*.inbox", "user.7.outbox", false),
            (">", "anything.at.all", true),
        ];
        for (pat, ch, want) in cases {
            assert_eq!(p(pat).matches_str(ch), want, "{pat} vs {ch}");
        }
    }

    #[test]
    fn covering() {
        let cases = [
            ("orders", "orders", true),
            ("orders", "orders2", false),
            ("user.42.*", "user.42.inbox", true),
            ("user.42.*", "user.42.*", true),
            ("user.42.*", "user.42.>", false),
            ("user.42.*", "user.*.inbox", false),
            ("user.42.>", "user.42.*", true),
            ("user.42.>", "user.42.a.>", true),
            ("user.42.>", "user.42", false),
            ("user.*.inbox", "user.42.inbox", true),
            (">", "user.*.inbox", true),
        ];
        for (mine, theirs, want) in cases {
            assert_eq!(p(mine).covers(&p(theirs)), want, "{mine} covers {theirs}");
        }
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in ["", "a.>.b", "a..b", "a*", "a.b*", ".", "a b"] {
            assert!(ChannelPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn literal_prefix_narrows_scans() {
        assert_eq!(p("user.42.*").literal_prefix(), "user.42.");
        assert_eq!(p("orders").literal_prefix(), "orders");
        assert!(p("orders").is_exact());
        assert!(!p("a.>").is_exact());
    }
}
