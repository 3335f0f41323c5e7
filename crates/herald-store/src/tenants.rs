//! Tenants: created and managed by the operator, who may also suspend them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::ids::TenantId;
use herald_core::model::Tenant;
use herald_core::names::TenantName;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::now_micros;
use crate::entity::{api_key, channel, dead_letter, idempotency_key, notification, plugin, read_mark, read_receipt, signing_key, tenant};
use crate::{Store, StoreError, convert};

impl Store {
    pub async fn create_tenant(&self, name: &TenantName) -> Result<Tenant, StoreError> {
        let row = self
            .write_autocommit(|db| async move {
                tenant::ActiveModel {
                    id: Set(TenantId::generate().to_string()),
                    name: Set(name.to_string()),
                    last_seq: Set(0),
                    allowed_origins: Set("[]".to_owned()),
                    created_at: Set(now_micros()),
                    suspended: Set(false),
                    history_epoch: Set(0),
                }
                .insert(db)
                .await
                .map_err(|e| StoreError::from_db(e, "a tenant with this name already exists"))
            })
            .await?;
        convert::tenant(row)
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Tenant, StoreError> {
        let row = tenant::Entity::find_by_id(id.as_str()).one(&self.db).await?.ok_or(StoreError::NotFound("tenant"))?;
        convert::tenant(row)
    }

    /// Tenants in id order (which is creation order), after `after`.
    pub async fn list_tenants(&self, after: Option<&TenantId>, limit: u64) -> Result<Vec<Tenant>, StoreError> {
        let mut q = tenant::Entity::find().order_by_asc(tenant::Column::Id).limit(limit);
        if let Some(after) = after {
            q = q.filter(tenant::Column::Id.gt(after.as_str()));
        }
        q.all(&self.db).await?.into_iter().map(convert::tenant).collect()
    }

    pub async fn rename_tenant(&self, id: &TenantId, name: &TenantName) -> Result<Tenant, StoreError> {
        let update = tenant::Entity::update_many()
            .col_expr(tenant::Column::Name, sea_orm::sea_query::Expr::value(name.as_str()))
            .filter(tenant::Column::Id.eq(id.as_str()));
        let res = self
            .write_autocommit(|db| async move {
                update.exec(db).await.map_err(|e| StoreError::from_db(e, "a tenant with this name already exists"))
            })
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        self.get_tenant(id).await
    }

    /// Renames and/or suspends (or resumes) a tenant in one statement, so a
    /// refused name changes nothing. This node's suspension cache learns the
    /// new state at once.
    pub async fn update_tenant(&self, id: &TenantId, name: Option<&TenantName>, suspended: Option<bool>) -> Result<Tenant, StoreError> {
        if name.is_none() && suspended.is_none() {
            return self.get_tenant(id).await;
        }
        let mut update = tenant::Entity::update_many().filter(tenant::Column::Id.eq(id.as_str()));
        if let Some(name) = name {
            update = update.col_expr(tenant::Column::Name, sea_orm::sea_query::Expr::value(name.as_str()));
        }
        if let Some(suspended) = suspended {
            update = update.col_expr(tenant::Column::Suspended, sea_orm::sea_query::Expr::value(suspended));
        }
        let res = self
            .write_autocommit(|db| async move {
                update.exec(db).await.map_err(|e| StoreError::from_db(e, "a tenant with this name already exists"))
            })
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        let tenant = self.get_tenant(id).await?;
        self.suspended.put(id, tenant.suspended);
        Ok(tenant)
    }

    /// Whether the tenant is suspended. Asked on every publish, stream and
    /// poll, so the answer is cached like API keys: a change made on this
    /// node applies at once, one made on another node within the cache's
    /// lifetime. A tenant that does not exist is not suspended (the caller's
    /// other checks refuse it).
    pub async fn tenant_suspended(&self, id: &TenantId) -> Result<bool, StoreError> {
        if let Some(suspended) = self.suspended.get(id) {
            return Ok(suspended);
        }
        let suspended = tenant::Entity::find_by_id(id.as_str())
            .select_only()
            .column(tenant::Column::Suspended)
            .into_tuple::<bool>()
            .one(&self.db)
            .await?
            .unwrap_or(false);
        self.suspended.put(id, suspended);
        Ok(suspended)
    }

    /// Every suspended tenant, in id order: each node closes their streams.
    pub async fn suspended_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let ids: Vec<String> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Id)
            .filter(tenant::Column::Suspended.eq(true))
            .order_by_asc(tenant::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        ids.iter().map(|id| TenantId::parse(id).map_err(|e| StoreError::Corrupt(format!("tenant id {id}: {e}")))).collect()
    }

    /// Deletes the tenant and everything it owns, in one transaction.
    pub async fn delete_tenant(&self, id: &TenantId) -> Result<(), StoreError> {
        let t = id.as_str();
        self.write(|txn| {
            Box::pin(async move {
                notification::Entity::delete_many().filter(notification::Column::TenantId.eq(t)).exec(txn).await?;
                idempotency_key::Entity::delete_many().filter(idempotency_key::Column::TenantId.eq(t)).exec(txn).await?;
                channel::Entity::delete_many().filter(channel::Column::TenantId.eq(t)).exec(txn).await?;
                plugin::Entity::delete_many().filter(plugin::Column::TenantId.eq(t)).exec(txn).await?;
                dead_letter::Entity::delete_many().filter(dead_letter::Column::TenantId.eq(t)).exec(txn).await?;
                read_mark::Entity::delete_many().filter(read_mark::Column::TenantId.eq(t)).exec(txn).await?;
                read_receipt::Entity::delete_many().filter(read_receipt::Column::TenantId.eq(t)).exec(txn).await?;
                crate::recipients::delete_tenant_email_data(txn, t).await?;
                crate::quotas::delete_tenant_quotas(txn, t).await?;
                crate::signing_keys::delete_tenant_token_rules(txn, t).await?;
                crate::mercure_settings::delete_tenant_mercure_settings(txn, t).await?;
                signing_key::Entity::delete_many().filter(signing_key::Column::TenantId.eq(t)).exec(txn).await?;
                api_key::Entity::delete_many().filter(api_key::Column::TenantId.eq(t)).exec(txn).await?;
                let res = tenant::Entity::delete_by_id(t).exec(txn).await?;
                if res.rows_affected == 0 {
                    return Err(StoreError::NotFound("tenant"));
                }
                Ok(())
            })
        })
        .await?;
        self.keys.forget_tenant(id);
        self.suspended.forget(id);
        Ok(())
    }
}

/// Each tenant's suspension flag with when it was read. Bounded like the key
/// cache: it starts over rather than grow past [`SUSPENDED_ENTRIES`].
#[derive(Debug)]
pub(crate) struct SuspendedCache {
    ttl: Duration,
    entries: Mutex<HashMap<TenantId, (bool, Instant)>>,
}

const SUSPENDED_ENTRIES: usize = 10_000;

impl SuspendedCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, (bool, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &TenantId) -> Option<bool> {
        if self.ttl.is_zero() {
            return None;
        }
        self.lock().get(id).filter(|(_, at)| at.elapsed() < self.ttl).map(|(s, _)| *s)
    }

    fn put(&self, id: &TenantId, suspended: bool) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= SUSPENDED_ENTRIES {
            entries.clear();
        }
        entries.insert(id.clone(), (suspended, Instant::now()));
    }

    fn forget(&self, id: &TenantId) {
        self.lock().remove(id);
    }
}
