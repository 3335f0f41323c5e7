//! Channel patterns (`ChannelPattern::parse`) on arbitrary text, and the
//! rules the hub, the store and the scope check rely on for every pattern
//! that parses.
//!
//! Input: up to three lines. Each line is parsed as a pattern; the last one
//! is also used as a channel name.

#![no_main]

use herald_core::names::ChannelName;
use herald_core::pattern::ChannelPattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.splitn(3, '\n').collect();
    let patterns: Vec<Option<ChannelPattern>> = lines.iter().map(|l| parse(l)).collect();
    let channel = lines.last().and_then(|l| ChannelName::parse(*l).ok());

    for (line, pattern) in lines.iter().zip(&patterns) {
        // Unvalidated text never makes matching panic.
        if let Some(p) = pattern {
            p.matches_str(line);
        }
    }
    for p in patterns.iter().flatten() {
        if let Some(c) = &channel {
            channel_rules(p, c);
        }
        for q in patterns.iter().flatten() {
            if let Some(c) = &channel
                && p.covers(q)
                && q.matches(c)
            {
                assert!(p.matches(c), "{p:?} covers {q:?}, which matches {c:?}, but {p:?} does not");
            }
            for r in patterns.iter().flatten() {
                if p.covers(q) && q.covers(r) {
                    assert!(p.covers(r), "covers is not transitive: {p:?} ⊇ {q:?} ⊇ {r:?}");
                }
            }
        }
    }
});

/// Parses one pattern and checks what holds for every pattern on its own.
fn parse(s: &str) -> Option<ChannelPattern> {
    let p = ChannelPattern::parse(s).ok();
    // A pattern without wildcards is exactly a channel name.
    let exact = p.as_ref().is_some_and(ChannelPattern::is_exact);
    assert_eq!(exact, ChannelName::parse(s).is_ok(), "{s:?}: exact pattern and channel name disagree");
    let p = p?;
    assert_eq!(p.as_str(), s);
    assert_eq!(p.to_string(), s);
    assert_eq!(ChannelPattern::parse(p.as_str()).as_ref(), Ok(&p));
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<ChannelPattern>(&json).unwrap(), p);
    assert!(p.covers(&p), "{p:?} does not cover itself");

    // The store narrows a history scan by this prefix before matching exactly.
    let prefix = p.literal_prefix();
    assert!(s.starts_with(prefix), "{p:?}: literal prefix {prefix:?} is not a prefix");
    assert!(!prefix.contains(['*', '>']), "{p:?}: literal prefix {prefix:?} holds a wildcard");
    if p.is_exact() {
        assert_eq!(prefix, s);
        assert!(p.matches_str(s), "exact {p:?} does not match its own name");
    }
    Some(p)
}

/// A pattern against a valid channel name.
fn channel_rules(p: &ChannelPattern, c: &ChannelName) {
    let matches = p.matches(c);
    assert_eq!(matches, p.matches_str(c.as_str()));
    if matches {
        assert!(c.as_str().starts_with(p.literal_prefix()), "{p:?} matches {c:?} outside its literal prefix: a history scan would miss it");
    }
    if p.is_exact() {
        assert_eq!(matches, p.as_str() == c.as_str(), "exact {p:?} against {c:?}");
    }
    // A channel name is an exact pattern, and matching it is covering it.
    let exact = ChannelPattern::parse(c.as_str()).expect("a channel name is a pattern");
    assert_eq!(matches, p.covers(&exact), "{p:?} matches {c:?} but does not cover it, or the reverse");
}
