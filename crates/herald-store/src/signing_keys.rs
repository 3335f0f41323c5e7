//! Subscriber signing keys: HS256 secrets Herald generates, or public keys a
//! tenant uploads. Each pins its algorithm.

use herald_core::ids::{SigningKeyId, TenantId};
use herald_core::keys::SigningAlg;
use herald_core::model::SigningKey;
use herald_core::secret;
use herald_core::token::{KeyMaterial, VerifyingKey};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::now_micros;
use crate::entity::signing_key;
use crate::{Store, StoreError, convert};

/// What a new signing key is made from.
#[derive(Debug)]
pub enum NewSigningKey {
    /// Herald generates the secret and returns it once.
    GeneratedSecret,
    /// A validated PEM public key for an asymmetric algorithm.
    PublicKey(SigningAlg, String),
}

impl Store {
    /// Creates a signing key; for HS256 also returns the generated secret.
    pub async fn create_signing_key(&self, tenant: &TenantId, new: NewSigningKey) -> Result<(SigningKey, Option<String>), StoreError> {
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
        Ok(Some(VerifyingKey { alg, material }))
    }
}
