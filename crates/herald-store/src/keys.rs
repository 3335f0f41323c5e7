//! Tenant API keys. Only a hash of each secret is stored; a key is found by
//! hashing the presented secret.

use herald_core::ids::{ApiKeyId, TenantId};
use herald_core::keys::KeyScope;
use herald_core::model::ApiKey;
use herald_core::names::KeyName;
use herald_core::secret;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::now_micros;
use crate::entity::api_key;
use crate::{Store, StoreError, convert};

impl Store {
    /// Creates a key and returns it with its secret, which is not kept.
    pub async fn create_api_key(&self, tenant: &TenantId, name: &KeyName, scopes: &[KeyScope]) -> Result<(ApiKey, String), StoreError> {
        self.get_tenant(tenant).await?;
        let secret = secret::generate(secret::API_KEY_PREFIX);
        let scopes_text = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
        let hash = secret::hash(&secret);
        let row = self
            .write_autocommit(|db| async move {
                let row = api_key::ActiveModel {
                    id: Set(ApiKeyId::generate().to_string()),
                    tenant_id: Set(tenant.to_string()),
                    name: Set(name.to_string()),
                    secret_hash: Set(hash),
                    scopes: Set(scopes_text),
                    created_at: Set(now_micros()),
                }
                .insert(db)
                .await?;
                Ok(row)
            })
            .await?;
        Ok((convert::api_key(row)?, secret))
    }

    pub async fn list_api_keys(&self, tenant: &TenantId, after: Option<&ApiKeyId>, limit: u64) -> Result<Vec<ApiKey>, StoreError> {
        let mut q =
            api_key::Entity::find().filter(api_key::Column::TenantId.eq(tenant.as_str())).order_by_asc(api_key::Column::Id).limit(limit);
        if let Some(after) = after {
            q = q.filter(api_key::Column::Id.gt(after.as_str()));
        }
        q.all(&self.db).await?.into_iter().map(convert::api_key).collect()
    }

    pub async fn delete_api_key(&self, tenant: &TenantId, id: &ApiKeyId) -> Result<(), StoreError> {
        let res = self
            .write_autocommit(|db| async move {
                let res = api_key::Entity::delete_many()
                    .filter(api_key::Column::TenantId.eq(tenant.as_str()))
                    .filter(api_key::Column::Id.eq(id.as_str()))
                    .exec(db)
                    .await?;
                self.keys.forget_key(id);
                Ok(res)
            })
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("key"));
        }
        Ok(())
    }

    /// Finds the key a presented secret belongs to, in any tenant; the caller
    /// then checks that tenant against the one addressed.
    pub async fn find_api_key_by_secret(&self, presented: &str) -> Result<Option<ApiKey>, StoreError> {
        let hash = secret::hash(presented);
        if let Some(key) = self.keys.get(&hash) {
            return Ok(Some(key));
        }
        let row = api_key::Entity::find().filter(api_key::Column::SecretHash.eq(hash.as_str())).one(&self.db).await?;
        let key = row.map(convert::api_key).transpose()?;
        if let Some(k) = &key {
            self.keys.put(hash, k.clone());
        }
        Ok(key)
    }
}
