//! A tenant's API keys and subscriber signing keys.

use herald_core::ids::{ApiKeyId, SigningKeyId, TenantId};
use herald_core::keys::KeyScope;
use herald_core::model::{ApiKey, SigningKey};
use herald_core::names::KeyName;
use herald_core::token::{TokenRules, VerifyingKey};
use herald_store::signing_keys::{KeyClaims, NewSigningKey};

use crate::App;
use crate::error::AppResult;

impl App {
    /// Creates a key and returns it with its secret, which is not kept.
    pub async fn create_api_key(&self, tenant: &TenantId, name: &KeyName, scopes: &[KeyScope]) -> AppResult<(ApiKey, String)> {
        Ok(self.inner.store.create_api_key(tenant, name, scopes).await?)
    }

    pub async fn delete_api_key(&self, tenant: &TenantId, id: &ApiKeyId) -> AppResult<()> {
        Ok(self.inner.store.delete_api_key(tenant, id).await?)
    }

    pub async fn list_api_keys(&self, tenant: &TenantId, after: Option<&ApiKeyId>, limit: u64) -> AppResult<Vec<ApiKey>> {
        Ok(self.inner.store.list_api_keys(tenant, after, limit).await?)
    }

    /// Creates a signing key; for HS256 also returns the generated secret.
    /// `claims` are the `iss` and `aud` its tokens must carry, if any.
    pub async fn create_signing_key(
        &self,
        tenant: &TenantId,
        new: NewSigningKey,
        claims: KeyClaims,
    ) -> AppResult<(SigningKey, Option<String>)> {
        Ok(self.inner.store.create_signing_key(tenant, new, claims).await?)
    }

    /// The tenant's maximum subscriber token lifetime in seconds (`None`: no maximum).
    pub async fn max_token_lifetime(&self, tenant: &TenantId) -> AppResult<Option<u64>> {
        Ok(self.inner.store.max_token_lifetime(tenant).await?)
    }

    /// Sets or (with `None`) lifts the tenant's maximum token lifetime.
    pub async fn set_max_token_lifetime(&self, tenant: &TenantId, max: Option<u64>) -> AppResult<()> {
        Ok(self.inner.store.set_max_token_lifetime(tenant, max).await?)
    }

    pub async fn delete_signing_key(&self, tenant: &TenantId, kid: &SigningKeyId) -> AppResult<()> {
        Ok(self.inner.store.delete_signing_key(tenant, kid).await?)
    }

    pub async fn list_signing_keys(&self, tenant: &TenantId, after: Option<&SigningKeyId>, limit: u64) -> AppResult<Vec<SigningKey>> {
        Ok(self.inner.store.list_signing_keys(tenant, after, limit).await?)
    }

    /// The tenant's newest HS256 key and its secret, if it has one: what
    /// Herald signs the tokens it mints with when no key is named.
    pub async fn newest_hs256_key(&self, tenant: &TenantId) -> AppResult<Option<(SigningKeyId, String)>> {
        Ok(self.inner.store.newest_hs256_key(tenant).await?)
    }

    /// What tokens signed with `kid` must satisfy: the key's `issuer` and
    /// `audience`, the tenant's maximum lifetime (none for an unknown key).
    pub async fn token_rules(&self, tenant: &TenantId, kid: &str) -> AppResult<TokenRules> {
        Ok(self.inner.store.subscriber_key(tenant, kid).await?.map(|(_, rules)| rules).unwrap_or_default())
    }

    /// The key that verifies a token whose header names `kid`, if the tenant has it.
    pub async fn verifying_key(&self, tenant: &TenantId, kid: &str) -> AppResult<Option<VerifyingKey>> {
        Ok(self.inner.store.verifying_key(tenant, kid).await?)
    }
}
