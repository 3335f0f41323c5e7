//! Tenants: created and managed by the operator.

use herald_core::ids::TenantId;
use herald_core::model::Tenant;
use herald_core::names::TenantName;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait};

use crate::clock::now_micros;
use crate::entity::{api_key, channel, dead_letter, idempotency_key, notification, plugin, read_mark, read_receipt, signing_key, tenant};
use crate::{Store, StoreError, convert};

impl Store {
    pub async fn create_tenant(&self, name: &TenantName) -> Result<Tenant, StoreError> {
        let _w = self.write_guard().await;
        let row = tenant::ActiveModel {
            id: Set(TenantId::generate().to_string()),
            name: Set(name.to_string()),
            last_seq: Set(0),
            allowed_origins: Set("[]".to_owned()),
            created_at: Set(now_micros()),
        }
        .insert(&self.db)
        .await
        .map_err(|e| StoreError::from_db(e, "a tenant with this name already exists"))?;
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
        let _w = self.write_guard().await;
        let res = tenant::Entity::update_many()
            .col_expr(tenant::Column::Name, sea_orm::sea_query::Expr::value(name.as_str()))
            .filter(tenant::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await
            .map_err(|e| StoreError::from_db(e, "a tenant with this name already exists"))?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        drop(_w);
        self.get_tenant(id).await
    }

    /// Deletes the tenant and everything it owns, in one transaction.
    pub async fn delete_tenant(&self, id: &TenantId) -> Result<(), StoreError> {
        let _w = self.write_guard().await;
        let txn = self.db.begin().await?;
        let t = id.as_str();
        notification::Entity::delete_many().filter(notification::Column::TenantId.eq(t)).exec(&txn).await?;
        idempotency_key::Entity::delete_many().filter(idempotency_key::Column::TenantId.eq(t)).exec(&txn).await?;
        channel::Entity::delete_many().filter(channel::Column::TenantId.eq(t)).exec(&txn).await?;
        plugin::Entity::delete_many().filter(plugin::Column::TenantId.eq(t)).exec(&txn).await?;
        dead_letter::Entity::delete_many().filter(dead_letter::Column::TenantId.eq(t)).exec(&txn).await?;
        read_mark::Entity::delete_many().filter(read_mark::Column::TenantId.eq(t)).exec(&txn).await?;
        read_receipt::Entity::delete_many().filter(read_receipt::Column::TenantId.eq(t)).exec(&txn).await?;
        crate::recipients::delete_tenant_email_data(&txn, t).await?;
        crate::quotas::delete_tenant_quotas(&txn, t).await?;
        signing_key::Entity::delete_many().filter(signing_key::Column::TenantId.eq(t)).exec(&txn).await?;
        api_key::Entity::delete_many().filter(api_key::Column::TenantId.eq(t)).exec(&txn).await?;
        let res = tenant::Entity::delete_by_id(t).exec(&txn).await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        txn.commit().await?;
        self.keys.forget_tenant(id);
        Ok(())
    }
}
