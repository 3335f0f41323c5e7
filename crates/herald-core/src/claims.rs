//! The subscriber token's claims and the scope check made before a stream opens.

use serde::{Deserialize, Serialize};

use crate::names::UserId;
use crate::pattern::ChannelPattern;
use crate::token::TokenError;
use crate::{DomainError, limits};

/// Claims of a subscriber JWT as the SaaS back end signs them:
/// `{"sub": "42", "exp": 1767225600, "herald": {"subscribe": ["orders", "user.42.*"]}}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubscriberClaims {
    pub sub: String,
    pub exp: i64,
    #[serde(default)]
    pub herald: HeraldClaims,
    /// The tenant's own claims (`locale`, preferences, …), which plugins
    /// may read on delivery.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Herald's own claim namespace inside the token.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HeraldClaims {
    /// Channel patterns the subscriber may stream.
    #[serde(default)]
    pub subscribe: Vec<String>,
}

/// A verified subscriber: who it is, until when, and what it may read.
#[derive(Clone, Debug)]
pub struct Subscriber {
    pub user: UserId,
    /// Unix seconds after which the token is no longer valid.
    pub expires_at: i64,
    pub allowed: Vec<ChannelPattern>,
    /// The token's claims other than Herald's own (`sub`, `exp`, `herald`),
    /// as a JSON object text: what a deliver plugin may see.
    pub claims_json: String,
}

impl Subscriber {
    pub(crate) fn from_claims(claims: SubscriberClaims) -> Result<Self, TokenError> {
        let user = UserId::parse(claims.sub).map_err(|e| TokenError::InvalidClaims(e.to_string()))?;
        if claims.herald.subscribe.len() > limits::MAX_PATTERNS {
            return Err(TokenError::InvalidClaims(format!("herald.subscribe lists more than {} patterns", limits::MAX_PATTERNS)));
        }
        let allowed = claims
            .herald
            .subscribe
            .into_iter()
            .map(ChannelPattern::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TokenError::InvalidClaims(e.to_string()))?;
        let mut visible = claims.extra;
        visible.insert("sub".into(), serde_json::Value::String(user.to_string()));
        let claims_json = serde_json::Value::Object(visible).to_string();
        Ok(Self { user, expires_at: claims.exp, allowed, claims_json })
    }

    /// Refuses the first requested pattern that no allowed pattern covers.
    pub fn authorize(&self, requested: &[ChannelPattern]) -> Result<(), DomainError> {
        for want in requested {
            if !self.allowed.iter().any(|have| have.covers(want)) {
                return Err(DomainError::ScopeDenied(want.to_string()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(allowed: &[&str]) -> Subscriber {
        Subscriber {
            user: UserId::parse("42").unwrap(),
            expires_at: 0,
            allowed: allowed.iter().map(|p| ChannelPattern::parse(*p).unwrap()).collect(),
            claims_json: "{}".into(),
        }
    }

    #[test]
    fn custom_claims_are_kept_for_plugins_and_heralds_own_are_not() {
        let claims: SubscriberClaims = serde_json::from_value(serde_json::json!({
            "sub": "7", "exp": 99, "herald": {"subscribe": ["orders"]}, "locale": "fr", "prefs": {"quiet": true}
        }))
        .unwrap();
        let s = Subscriber::from_claims(claims).unwrap();
        let visible: serde_json::Value = serde_json::from_str(&s.claims_json).unwrap();
        assert_eq!(visible, serde_json::json!({"sub": "7", "locale": "fr", "prefs": {"quiet": true}}));
    }

    #[test]
    fn scope_allows_covered_patterns_only() {
        let s = sub(&["orders", "user.42.*"]);
        let req = |xs: &[&str]| xs.iter().map(|p| ChannelPattern::parse(*p).unwrap()).collect::<Vec<_>>();
        s.authorize(&req(&["orders", "user.42.inbox"])).unwrap();
        s.authorize(&req(&["user.42.*"])).unwrap();
        assert_eq!(s.authorize(&req(&["orders", "user.43.inbox"])), Err(DomainError::ScopeDenied("user.43.inbox".into())));
        assert!(sub(&[]).authorize(&req(&["orders"])).is_err());
    }
}
