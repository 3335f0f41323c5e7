//! The objects tenants and operators manage, as the rest of Herald sees them.

use chrono::{DateTime, Utc};

use crate::email::EmailPolicy;
use crate::ids::{ApiKeyId, ChannelId, SigningKeyId, TenantId};
use crate::keys::{KeyScope, SigningAlg};
use crate::names::{ChannelName, KeyName, TenantName};
use crate::plugin::{ChainStep, FailurePolicy};
use crate::retention::Retention;

#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: TenantId,
    pub name: TenantName,
    pub created_at: DateTime<Utc>,
    /// Publishes, new streams and polls are refused; the admin API still works.
    pub suspended: bool,
}

/// A tenant API key, without its secret (only its hash is stored).
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    pub name: KeyName,
    pub scopes: Vec<KeyScope>,
    pub created_at: DateTime<Utc>,
}

/// A subscriber signing key as listed (never with its secret).
#[derive(Clone, Debug)]
pub struct SigningKey {
    pub kid: SigningKeyId,
    pub tenant: TenantId,
    pub alg: SigningAlg,
    pub public_key: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When set, a token's `iss` must equal it.
    pub issuer: Option<String>,
    /// When set, a token's `aud` must include it.
    pub audience: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Channel {
    pub id: ChannelId,
    pub tenant: TenantId,
    pub name: ChannelName,
    /// As configured; an unset bound falls back to the server default.
    pub retention: Retention,
    /// Plugins run on this channel's notifications, in order.
    pub plugins: Vec<ChainStep>,
    /// What happens when one of them fails.
    pub failure_policy: FailurePolicy,
    /// When and how direct notifications not received live are emailed;
    /// `None`: never.
    pub email: Option<EmailPolicy>,
    pub created_at: DateTime<Utc>,
}
