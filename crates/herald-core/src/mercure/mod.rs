//! The Mercure protocol's rules that need no I/O (issue 21): which topics a
//! subscriber's matchers select, how a subscribe request's parameters are
//! read, and what an access token grants. The HTTP layer parses requests into these types; the hub and
//! the store never see Mercure's wire format.
//!
//! The protocol text is the Mercure 1.0 specification (`shared/mercure/mercure.md`
//! beside the project); section names below refer to it.

mod access_token;
mod grants;
mod matcher;
mod publish_form;
mod settings;
mod subscribe_query;
mod subscription_doc;
mod uri_template;

pub use access_token::{AccessToken, HubKey, InvalidToken, verify as verify_access_token};
pub use grants::{DETAIL_TYPE, GrantError, GrantLimits, Grants};
pub use matcher::{MatcherError, MatcherLimits, MatcherType, TopicMatcher, WILDCARD, check_value};
pub use publish_form::{PublishError, PublishLimits, Update};
pub use settings::{MAX_SECRET_BYTES, MIN_SECRET_BYTES, Settings, SettingsInput};
pub use subscribe_query::SubscribeQuery;
pub use subscription_doc::{SubscriptionDoc, collection_json, collection_topic};
pub use uri_template::{TemplateError, UriTemplate};
