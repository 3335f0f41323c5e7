//! The Mercure protocol's rules that need no I/O (issue 21): which topics a
//! subscriber's matchers select, and how a subscribe request's parameters
//! are read. The HTTP layer parses requests into these types; the hub and
//! the store never see Mercure's wire format.
//!
//! The protocol text is the Mercure 1.0 specification (`shared/mercure/mercure.md`
//! beside the project); section names below refer to it.

mod matcher;
mod subscribe_query;

pub use matcher::{MatcherError, MatcherLimits, MatcherType, TopicMatcher, WILDCARD, check_value};
pub use subscribe_query::SubscribeQuery;
