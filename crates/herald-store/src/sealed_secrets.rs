//! Secrets the store must keep readable (HS256 signing secrets: verifying
//! a token needs them in the clear; server secrets such as the generated
//! unsubscribe key) sealed at rest under the operator's `secrets_key`, so
//! that a copy of the database alone does not give away the keys that sign
//! subscriber tokens or unsubscribe links.
//!
//! A sealed value is stored as `sealed:v1:` + `herald_core::sealed`'s
//! text. Values stored before a key was set stay readable and are sealed
//! by [`Store::seal_stored_secrets`] at start.

use herald_core::sealed;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::entity::{server_secret, signing_key, tenant_mercure_setting};
use crate::{Store, StoreError};

const PREFIX: &str = "sealed:v1:";

/// The key that seals secrets, derived from the configured `secrets_key`.
#[derive(Clone)]
pub(crate) struct SecretsKey([u8; 32]);

impl SecretsKey {
    pub(crate) fn derive(master: &str) -> Self {
        Self(sealed::derive_key("herald secrets at rest v1", &[master.as_bytes()]))
    }
}

impl Store {
    /// Seals `secrets` under `master` from now on (see the module docs).
    pub fn with_secrets_key(mut self, master: &str) -> Self {
        self.secrets = Some(std::sync::Arc::new(SecretsKey::derive(master)));
        self
    }

    /// What to store for a secret: sealed when a key is set.
    pub(crate) fn seal_secret(&self, plain: &str) -> String {
        match &self.secrets {
            Some(key) => format!("{PREFIX}{}", sealed::seal(&key.0, plain.as_bytes())),
            None => plain.to_owned(),
        }
    }

    /// A stored secret, opened.
    pub(crate) fn open_secret(&self, stored: String) -> Result<String, StoreError> {
        let Some(text) = stored.strip_prefix(PREFIX) else { return Ok(stored) };
        let key = self.secrets.as_ref().ok_or_else(|| StoreError::Config("a stored secret is sealed: set secrets_key".into()))?;
        let plain = sealed::open(&key.0, text).ok_or_else(|| StoreError::Config("secrets_key does not open the stored secrets".into()))?;
        String::from_utf8(plain).map_err(|_| StoreError::Corrupt("a sealed secret is not text".into()))
    }

    /// At start: checks that the stored secrets open with this node's
    /// `secrets_key` (or that none is sealed when it has none), so that a
    /// wrong or missing key stops the start instead of failing every
    /// token; with a key, seals the secrets stored in the clear. Returns
    /// how many were sealed now.
    pub async fn seal_stored_secrets(&self) -> Result<usize, StoreError> {
        let rows = signing_key::Entity::find().filter(signing_key::Column::Secret.is_not_null()).all(&self.db).await?;
        let servers = server_secret::Entity::find().all(&self.db).await?;
        let mercure =
            tenant_mercure_setting::Entity::find().filter(tenant_mercure_setting::Column::JwtSecret.is_not_null()).all(&self.db).await?;
        let stored = rows
            .iter()
            .filter_map(|r| r.secret.clone())
            .chain(servers.iter().map(|r| r.value.clone()))
            .chain(mercure.iter().filter_map(|r| r.jwt_secret.clone()));
        if let Some(sealed) = stored.into_iter().find(|s| s.starts_with(PREFIX)) {
            self.open_secret(sealed)?;
        }
        if self.secrets.is_none() {
            return Ok(0);
        }
        let mut n = 0;
        for row in servers.into_iter().filter(|r| !r.value.starts_with(PREFIX)) {
            let seal = server_secret::Entity::update_many()
                .col_expr(server_secret::Column::Value, Expr::value(self.seal_secret(&row.value)))
                .filter(server_secret::Column::Name.eq(row.name))
                .filter(server_secret::Column::Value.eq(row.value));
            self.write_autocommit(|db| async move { Ok(seal.exec(db).await?) }).await?;
            n += 1;
        }
        for row in rows {
            let Some(secret) = row.secret.filter(|s| !s.starts_with(PREFIX)) else { continue };
            let seal = signing_key::Entity::update_many()
                .col_expr(signing_key::Column::Secret, Expr::value(self.seal_secret(&secret)))
                .filter(signing_key::Column::Id.eq(row.id))
                .filter(signing_key::Column::Secret.eq(secret));
            self.write_autocommit(|db| async move { Ok(seal.exec(db).await?) }).await?;
            n += 1;
        }
        for row in mercure {
            let Some(secret) = row.jwt_secret.filter(|s| !s.starts_with(PREFIX)) else { continue };
            let seal = tenant_mercure_setting::Entity::update_many()
                .col_expr(tenant_mercure_setting::Column::JwtSecret, Expr::value(self.seal_secret(&secret)))
                .filter(tenant_mercure_setting::Column::TenantId.eq(row.tenant_id))
                .filter(tenant_mercure_setting::Column::JwtSecret.eq(secret));
            self.write_autocommit(|db| async move { Ok(seal.exec(db).await?) }).await?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DbKind;
    use crate::test_db::{TestDb, on_each_backend};

    async fn the_unsubscribe_key_is_sealed_at_rest_with_a_secrets_key(kind: DbKind) {
        let db = TestDb::new(kind).await;
        // Stored in the clear by a node without a key.
        let clear = db.store.server_secret("unsubscribe", || "the-key".into()).await.unwrap();
        assert_eq!(clear, "the-key");
        let keyed = db.store.clone().with_secrets_key("master");
        assert_eq!(keyed.seal_stored_secrets().await.unwrap(), 1);
        let raw = server_secret::Entity::find_by_id("unsubscribe").one(&keyed.db).await.unwrap().unwrap().value;
        assert!(raw.starts_with(PREFIX) && !raw.contains("the-key"), "{raw}");
        assert_eq!(keyed.server_secret("unsubscribe", || "other".into()).await.unwrap(), "the-key");
        assert_eq!(keyed.seal_stored_secrets().await.unwrap(), 0, "sealed once");
        // A new one is sealed as it is stored.
        assert_eq!(keyed.server_secret("fresh", || "new".into()).await.unwrap(), "new");
        let raw = server_secret::Entity::find_by_id("fresh").one(&keyed.db).await.unwrap().unwrap().value;
        assert!(raw.starts_with(PREFIX), "{raw}");
        // Without the key (or with another), the start is refused.
        assert!(matches!(db.store.seal_stored_secrets().await, Err(StoreError::Config(_))));
        let wrong = db.store.clone().with_secrets_key("other");
        assert!(matches!(wrong.seal_stored_secrets().await, Err(StoreError::Config(_))));
    }

    on_each_backend!(the_unsubscribe_key_is_sealed_at_rest_with_a_secrets_key);
}
