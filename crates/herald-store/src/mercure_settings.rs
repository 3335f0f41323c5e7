//! A tenant's Mercure hub settings (issue 21). The HS256 secret is sealed
//! at rest under the operator's `secrets_key`, as signing secrets are.

use herald_core::ids::TenantId;
use herald_core::mercure::{Settings, SettingsInput};
use herald_core::token::KeyMaterial;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::clock::now_micros;
use crate::entity::tenant_mercure_setting as row;
use crate::write::WriteTxn;
use crate::{Store, StoreError};

impl Store {
    /// The tenant's hub settings, if it has set them.
    pub async fn mercure_settings(&self, tenant: &TenantId) -> Result<Option<Settings>, StoreError> {
        let Some(r) = row::Entity::find_by_id(tenant.as_str()).one(&self.db).await? else { return Ok(None) };
        let corrupt = |why: String| StoreError::Corrupt(format!("mercure settings of {tenant}: {why}"));
        let jwt_key = match (r.jwt_secret, r.jwt_public_key) {
            (Some(secret), None) => self.open_secret(secret)?,
            (None, Some(pem)) => pem,
            _ => return Err(corrupt("not exactly one of secret and public key".into())),
        };
        let cors_origins: Vec<String> = serde_json::from_str(&r.cors_origins).map_err(|e| corrupt(e.to_string()))?;
        let input = SettingsInput {
            jwt_alg: r.jwt_alg,
            jwt_key,
            issuer: r.issuer,
            audience: r.audience,
            anonymous: r.anonymous,
            cors_origins,
            compat_0x: r.compat_0x,
        };
        Settings::parse(input).map(Some).map_err(|e| corrupt(e.to_string()))
    }

    /// Sets (or replaces) the tenant's hub settings.
    pub async fn put_mercure_settings(&self, tenant: &TenantId, settings: &Settings) -> Result<(), StoreError> {
        self.get_tenant(tenant).await?;
        let (secret, public_key) = match &settings.jwt_key {
            KeyMaterial::Secret(s) => (Some(self.seal_secret(s)), None),
            KeyMaterial::PublicPem(p) => (None, Some(p.clone())),
        };
        let origins: Vec<&str> = settings.cors_origins.iter().map(|o| o.as_str()).collect();
        let model = row::ActiveModel {
            tenant_id: Set(tenant.to_string()),
            jwt_alg: Set(settings.jwt_alg.as_str().to_owned()),
            jwt_secret: Set(secret),
            jwt_public_key: Set(public_key),
            issuer: Set(settings.issuer.clone()),
            audience: Set(settings.audience.clone()),
            anonymous: Set(settings.anonymous),
            cors_origins: Set(serde_json::to_string(&origins).map_err(|e| StoreError::Corrupt(e.to_string()))?),
            compat_0x: Set(settings.compat_0x),
            updated_at: Set(now_micros()),
        };
        self.write_autocommit(|db| async move {
            row::Entity::insert(model)
                .on_conflict(
                    OnConflict::column(row::Column::TenantId)
                        .update_columns([
                            row::Column::JwtAlg,
                            row::Column::JwtSecret,
                            row::Column::JwtPublicKey,
                            row::Column::Issuer,
                            row::Column::Audience,
                            row::Column::Anonymous,
                            row::Column::CorsOrigins,
                            row::Column::Compat0x,
                            row::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            Ok(())
        })
        .await
    }
}

/// Deletes a tenant's hub settings, inside the tenant's deletion.
pub(crate) async fn delete_tenant_mercure_settings(txn: &WriteTxn<'_>, tenant: &str) -> Result<(), StoreError> {
    row::Entity::delete_many().filter(row::Column::TenantId.eq(tenant)).exec(txn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DbKind;
    use crate::test_db::{TestDb, on_each_backend};
    use herald_core::names::TenantName;

    const ED_PUBLIC: &str =
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
    const SECRET: &str = "a-mercure-secret-that-is-long-enough!";

    fn settings(alg: &str, key: &str, origins: &[&str]) -> Settings {
        Settings::parse(SettingsInput {
            jwt_alg: alg.into(),
            jwt_key: key.into(),
            issuer: "https://app.example.com".into(),
            audience: "https://hub.example.com/.well-known/mercure".into(),
            anonymous: true,
            cors_origins: origins.iter().map(|o| o.to_string()).collect(),
            compat_0x: false,
        })
        .unwrap()
    }

    async fn settings_are_kept_per_tenant_with_the_secret_sealed(kind: DbKind) {
        let db = TestDb::new(kind).await;
        let store = db.store.clone().with_secrets_key("master");
        let acme = store.create_tenant(&TenantName::parse("acme").unwrap()).await.unwrap().id;
        let globex = store.create_tenant(&TenantName::parse("globex").unwrap()).await.unwrap().id;
        assert!(store.mercure_settings(&acme).await.unwrap().is_none());
        store.put_mercure_settings(&acme, &settings("HS256", SECRET, &["https://app.example.com"])).await.unwrap();
        let got = store.mercure_settings(&acme).await.unwrap().expect("set");
        assert!(matches!(&got.jwt_key, KeyMaterial::Secret(s) if s == SECRET));
        assert_eq!(got.cors_origins.iter().map(|o| o.as_str()).collect::<Vec<_>>(), ["https://app.example.com"]);
        assert!(store.mercure_settings(&globex).await.unwrap().is_none(), "another tenant's are not visible");
        let raw = row::Entity::find_by_id(acme.as_str()).one(&store.db).await.unwrap().unwrap();
        let sealed = raw.jwt_secret.unwrap();
        assert!(sealed.starts_with("sealed:v1:") && !sealed.contains(SECRET), "stored sealed, got {sealed}");
        // Replaced whole: a public key now, and no secret left behind.
        store.put_mercure_settings(&acme, &settings("EdDSA", ED_PUBLIC, &[])).await.unwrap();
        let got = store.mercure_settings(&acme).await.unwrap().unwrap();
        assert!(matches!(&got.jwt_key, KeyMaterial::PublicPem(p) if p == ED_PUBLIC));
        assert!(got.cors_origins.is_empty());
        let raw = row::Entity::find_by_id(acme.as_str()).one(&store.db).await.unwrap().unwrap();
        assert_eq!(raw.jwt_secret, None);
        // A missing tenant has none to set; a deleted one keeps none.
        let ghost = TenantId::generate();
        assert!(matches!(store.put_mercure_settings(&ghost, &settings("EdDSA", ED_PUBLIC, &[])).await, Err(StoreError::NotFound(_))));
        store.delete_tenant(&acme).await.unwrap();
        assert!(row::Entity::find_by_id(acme.as_str()).one(&store.db).await.unwrap().is_none(), "deleted with the tenant");
    }

    async fn a_secret_stored_in_the_clear_is_sealed_at_start(kind: DbKind) {
        let db = TestDb::new(kind).await;
        let acme = db.store.create_tenant(&TenantName::parse("acme").unwrap()).await.unwrap().id;
        // Stored by a node without a secrets key.
        db.store.put_mercure_settings(&acme, &settings("HS256", SECRET, &[])).await.unwrap();
        let keyed = db.store.clone().with_secrets_key("master");
        assert_eq!(keyed.seal_stored_secrets().await.unwrap(), 1);
        let raw = row::Entity::find_by_id(acme.as_str()).one(&keyed.db).await.unwrap().unwrap().jwt_secret.unwrap();
        assert!(raw.starts_with("sealed:v1:"), "expected it sealed, got {raw}");
        let got = keyed.mercure_settings(&acme).await.unwrap().unwrap();
        assert!(matches!(&got.jwt_key, KeyMaterial::Secret(s) if s == SECRET));
        // A node with another key refuses to start rather than fail every token.
        assert!(db.store.clone().with_secrets_key("other").seal_stored_secrets().await.is_err());
    }

    on_each_backend!(settings_are_kept_per_tenant_with_the_secret_sealed, a_secret_stored_in_the_clear_is_sealed_at_start);
}
