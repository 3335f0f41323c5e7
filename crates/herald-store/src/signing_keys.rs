//! Subscriber signing keys: HS256 secrets Herald generates, or public keys a
//! tenant uploads. Each pins its algorithm.

use herald_core::ids::{SigningKeyId, TenantId};
use herald_core::keys::SigningAlg;
use herald_core::model::SigningKey;
use herald_core::secret;
use herald_core::token::{KeyMaterial, TokenRules, VerifyingKey};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::now_micros;
use crate::entity::{signing_key, tenant_token_rule};
use crate::write::WriteTxn;
use crate::{Store, StoreError, convert};

/// What a new signing key is made from.
#[derive(Debug)]
pub enum NewSigningKey {
    /// Herald generates the secret and returns it once.
    GeneratedSecret,
    /// A validated PEM public key for an asymmetric algorithm.
    PublicKey(SigningAlg, String),
}

/// What a signing key requires of its tokens' `iss` and `aud` (validated:
/// see `TokenRules::validate_claim`).
#[derive(Debug, Default, Clone)]
pub struct KeyClaims {
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl Store {
    /// Creates a signing key; for HS256 also returns the generated secret.
    pub async fn create_signing_key(
        &self,
        tenant: &TenantId,
        new: NewSigningKey,
        claims: KeyClaims,
    ) -> Result<(SigningKey, Option<String>), StoreError> {
        self.get_tenant(tenant).await?;
        let (alg, secret, public_key) = match new {
            NewSigningKey::GeneratedSecret => (SigningAlg::HS256, Some(secret::generate(secret::SIGNING_SECRET_PREFIX)), None),
            NewSigningKey::PublicKey(alg, pem) => (alg, None, Some(pem)),
        };
        let sealed = secret.as_deref().map(|s| self.seal_secret(s));
        let row = self
            .write_autocommit(|db| async move {
                let row = signing_key::ActiveModel {
                    id: Set(SigningKeyId::generate().to_string()),
                    tenant_id: Set(tenant.to_string()),
                    alg: Set(alg.as_str().to_owned()),
                    secret: Set(sealed),
                    public_key: Set(public_key),
                    created_at: Set(now_micros()),
                    issuer: Set(claims.issuer),
                    audience: Set(claims.audience),
                }
                .insert(db)
                .await?;
                Ok(row)
            })
            .await?;
        Ok((convert::signing_key(row)?, secret))
    }

    pub async fn list_signing_keys(
        &self,
        tenant: &TenantId,
        after: Option<&SigningKeyId>,
        limit: u64,
    ) -> Result<Vec<SigningKey>, StoreError> {
        let mut q = signing_key::Entity::find()
            .filter(signing_key::Column::TenantId.eq(tenant.as_str()))
            .order_by_asc(signing_key::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            q = q.filter(signing_key::Column::Id.gt(after.as_str()));
        }
        q.all(&self.db).await?.into_iter().map(convert::signing_key).collect()
    }

    pub async fn delete_signing_key(&self, tenant: &TenantId, kid: &SigningKeyId) -> Result<(), StoreError> {
        let res = self
            .write_autocommit(|db| async move {
                let res = signing_key::Entity::delete_many()
                    .filter(signing_key::Column::TenantId.eq(tenant.as_str()))
                    .filter(signing_key::Column::Id.eq(kid.as_str()))
                    .exec(db)
                    .await?;
                Ok(res)
            })
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("signing key"));
        }
        Ok(())
    }

    /// The tenant's newest HS256 key and its secret, if it has one: what
    /// Herald signs the tokens it mints with when no key is named.
    pub async fn newest_hs256_key(&self, tenant: &TenantId) -> Result<Option<(SigningKeyId, String)>, StoreError> {
        let row = signing_key::Entity::find()
            .filter(signing_key::Column::TenantId.eq(tenant.as_str()))
            .filter(signing_key::Column::Alg.eq(SigningAlg::HS256.as_str()))
            .filter(signing_key::Column::Secret.is_not_null())
            // Ids are UUIDv7, so they break ties within a microsecond in creation order.
            .order_by_desc(signing_key::Column::CreatedAt)
            .order_by_desc(signing_key::Column::Id)
            .one(&self.db)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let kid = SigningKeyId::parse(&row.id).map_err(|e| StoreError::Corrupt(format!("signing key id {}: {e}", row.id)))?;
        let secret = row.secret.ok_or_else(|| StoreError::Corrupt(format!("signing key {kid} lost its secret")))?;
        Ok(Some((kid, self.open_secret(secret)?)))
    }

    /// The key that verifies a token whose header names `kid`, if the tenant has it.
    pub async fn verifying_key(&self, tenant: &TenantId, kid: &str) -> Result<Option<VerifyingKey>, StoreError> {
        Ok(self.subscriber_key(tenant, kid).await?.map(|(key, _)| key))
    }

    /// [`Store::verifying_key`] with the rules its tokens must also follow:
    /// the key's `issuer` and `audience`, the tenant's maximum lifetime.
    pub async fn subscriber_key(&self, tenant: &TenantId, kid: &str) -> Result<Option<(VerifyingKey, TokenRules)>, StoreError> {
        let row = signing_key::Entity::find()
            .filter(signing_key::Column::TenantId.eq(tenant.as_str()))
            .filter(signing_key::Column::Id.eq(kid))
            .one(&self.db)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let alg: SigningAlg = row.alg.parse().map_err(|e| StoreError::Corrupt(format!("alg: {e}")))?;
        let material = match (row.secret, row.public_key) {
            (Some(s), _) if alg.is_symmetric() => KeyMaterial::Secret(self.open_secret(s)?),
            (_, Some(p)) if !alg.is_symmetric() => KeyMaterial::PublicPem(p),
            _ => return Err(StoreError::Corrupt(format!("signing key {kid} has no material for {alg}"))),
        };
        let max_lifetime_seconds = self.max_token_lifetime(tenant).await?;
        let rules = TokenRules { issuer: row.issuer, audience: row.audience, max_lifetime_seconds };
        Ok(Some((VerifyingKey { alg, material }, rules)))
    }

    /// The tenant's maximum subscriber token lifetime, in seconds (`None`: no maximum).
    pub async fn max_token_lifetime(&self, tenant: &TenantId) -> Result<Option<u64>, StoreError> {
        let row = tenant_token_rule::Entity::find_by_id(tenant.as_str()).one(&self.db).await?;
        Ok(row.and_then(|r| r.max_lifetime_seconds).map(|s| u64::try_from(s).unwrap_or(0)))
    }

    /// Sets (or, with `None`, lifts) the tenant's maximum token lifetime.
    pub async fn set_max_token_lifetime(&self, tenant: &TenantId, max: Option<u64>) -> Result<(), StoreError> {
        self.get_tenant(tenant).await?;
        let max = max.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        self.write_autocommit(|db| async move {
            let row = tenant_token_rule::ActiveModel {
                tenant_id: Set(tenant.to_string()),
                max_lifetime_seconds: Set(max),
                updated_at: Set(now_micros()),
            };
            tenant_token_rule::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(tenant_token_rule::Column::TenantId)
                        .update_columns([tenant_token_rule::Column::MaxLifetimeSeconds, tenant_token_rule::Column::UpdatedAt])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            Ok(())
        })
        .await
    }
}

/// Deletes a tenant's token rules, inside the tenant's deletion.
pub(crate) async fn delete_tenant_token_rules(txn: &WriteTxn<'_>, tenant: &str) -> Result<(), StoreError> {
    tenant_token_rule::Entity::delete_many().filter(tenant_token_rule::Column::TenantId.eq(tenant)).exec(txn).await?;
    Ok(())
}
