//! Reading committed notifications back for the relay (see
//! `herald_hub::relay`): a range of one tenant's log, every tenant's head
//! and the history epochs.

use herald_core::cluster::{BoxError, BoxFuture, LogSource};
use herald_core::ids::{Seq, TenantId};
use herald_core::notification::Notification;
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::{notification, tenant};
use crate::{Store, StoreError, convert};

impl Store {
    /// Notifications of `tenant` with `after < id <= upto`, oldest first.
    pub async fn committed_range(&self, tenant: &TenantId, after: Seq, upto: Seq, limit: u64) -> Result<Vec<Notification>, StoreError> {
        notification::Entity::find()
            .filter(notification::Column::TenantId.eq(tenant.as_str()))
            .filter(notification::Column::Seq.gt(after))
            .filter(notification::Column::Seq.lte(upto))
            .order_by_asc(notification::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| convert::notification(tenant, row))
            .collect()
    }

    /// Every tenant's last committed id.
    pub async fn heads(&self) -> Result<Vec<(TenantId, Seq)>, StoreError> {
        let rows: Vec<TenantHead> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Id)
            .column(tenant::Column::LastSeq)
            .into_model()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|r| TenantId::parse(&r.id).map(|t| (t, r.last_seq)).map_err(|e| StoreError::Corrupt(format!("tenant id: {e}"))))
            .collect()
    }
}

impl Store {
    /// Every tenant's history epoch that is not 0 (see `LogSource::epochs`).
    pub async fn history_epochs(&self) -> Result<Vec<(TenantId, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Id)
            .column(tenant::Column::HistoryEpoch)
            .filter(tenant::Column::HistoryEpoch.ne(0))
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(id, epoch)| TenantId::parse(&id).map(|t| (t, epoch)).map_err(|e| StoreError::Corrupt(format!("tenant id: {e}"))))
            .collect()
    }
}

/// A tenant's id and last committed id.
#[derive(Debug, FromQueryResult)]
struct TenantHead {
    id: String,
    last_seq: Seq,
}

impl LogSource for Store {
    fn committed_range<'a>(
        &'a self,
        tenant: &'a TenantId,
        after: Seq,
        upto: Seq,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<Notification>, BoxError>> {
        Box::pin(async move { Store::committed_range(self, tenant, after, upto, limit).await.map_err(Into::into) })
    }

    fn heads(&self) -> BoxFuture<'_, Result<Vec<(TenantId, Seq)>, BoxError>> {
        Box::pin(async move { Store::heads(self).await.map_err(Into::into) })
    }

    fn epochs(&self) -> BoxFuture<'_, Result<Vec<(TenantId, i64)>, BoxError>> {
        Box::pin(async move { Store::history_epochs(self).await.map_err(Into::into) })
    }

    fn head<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, Result<Seq, BoxError>> {
        Box::pin(async move {
            match Store::head(self, tenant).await {
                Err(StoreError::NotFound(_)) => Ok(0),
                other => other.map_err(Into::into),
            }
        })
    }
}
