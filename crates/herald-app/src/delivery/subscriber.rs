//! A subscriber, authorized once for every subscriber endpoint: the token
//! verified against the tenant's signing key (algorithm pinned by the key),
//! the requested channels checked against the token's scope, and the
//! tenant not suspended.

use std::net::IpAddr;
use std::sync::Arc;

use herald_core::claims::Subscriber;
use herald_core::ids::TenantId;
use herald_core::pattern::ChannelPattern;
use herald_core::token::{TokenError, read_kid, verify_with};
use herald_core::{DomainError, limits};

use crate::App;
use crate::error::AppResult;
use crate::usage::{Connection, Transport};

/// A verified subscriber and the channels it asked for, within its scope.
#[derive(Debug)]
pub struct Authorized {
    pub tenant: TenantId,
    pub subscriber: Subscriber,
    pub patterns: Vec<ChannelPattern>,
}

impl App {
    /// Verifies a subscriber token for `tenant`: its `kid` must name one of
    /// the tenant's signing keys, and it must verify with that key's
    /// algorithm, unexpired and not before its `nbf`, with the `iss` and
    /// `aud` the key requires and no longer a lifetime than the tenant allows.
    pub async fn verify_subscriber(&self, tenant: &TenantId, token: &str) -> AppResult<Subscriber> {
        let kid = read_kid(token).map_err(DomainError::from)?;
        let (key, rules) =
            self.inner.store.subscriber_key(tenant, &kid).await?.ok_or_else(|| DomainError::from(TokenError::UnknownKey(kid)))?;
        Ok(verify_with(token, &key, &rules, chrono::Utc::now().timestamp()).map_err(DomainError::from)?)
    }

    /// The `channel` values a subscriber asked for, as patterns it may
    /// receive; the tenant must not be suspended.
    pub async fn authorize_subscriber(&self, tenant: TenantId, subscriber: Subscriber, raw: Vec<String>) -> AppResult<Authorized> {
        self.refuse_suspended(&tenant).await?;
        let patterns = subscriber_patterns(&subscriber, raw)?;
        Ok(Authorized { tenant, subscriber, patterns })
    }

    /// Takes a place in the tenant's connection count and the client
    /// address's: refused (a 429) when either is full. The guard shares
    /// `patterns` with the stream that holds it.
    pub(crate) async fn connect(
        &self,
        tenant: &TenantId,
        transport: Transport,
        patterns: Arc<[ChannelPattern]>,
        peer: Option<IpAddr>,
    ) -> AppResult<Connection> {
        self.inner.usage.connect(tenant, transport, patterns, peer).await
    }
}

/// The `channel` values as patterns the subscriber may receive.
pub fn subscriber_patterns(subscriber: &Subscriber, raw: Vec<String>) -> AppResult<Vec<ChannelPattern>> {
    if raw.is_empty() {
        return Err(DomainError::invalid("channel", "name at least one `channel` to receive").into());
    }
    if raw.len() > limits::MAX_PATTERNS {
        return Err(DomainError::invalid("channel", format!("at most {} channels per request", limits::MAX_PATTERNS)).into());
    }
    let mut patterns = raw.into_iter().map(ChannelPattern::parse).collect::<Result<Vec<_>, _>>()?;
    subscriber.authorize(&patterns)?;
    // In one order, once each: the hub then shares the stream's copy.
    patterns.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    patterns.dedup();
    Ok(patterns)
}
