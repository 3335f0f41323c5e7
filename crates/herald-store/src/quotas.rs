//! Per-tenant quotas, set by the operator, and the few counts that enforce
//! them or report on them: notifications stored, emails sent in a window,
//! email outcomes and dead letters since a moment.
//!
//! A tenant without a row, and a null column, is unlimited. The server
//! caches quotas per node and decides what a quota means; this module only
//! stores numbers.

use chrono::{DateTime, Utc};
use herald_core::email::{DeliveryPath, DeliveryStatus};
use herald_core::ids::TenantId;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QuerySelect, Set};

use crate::clock::now_micros;
use crate::entity::{dead_letter, delivery, notification, tenant, tenant_quota};
use crate::write::WriteTxn;
use crate::{Store, StoreError};

/// A tenant's quotas; `None` is unlimited, except for the plugin quotas,
/// where it is the server's default (see `herald_app`'s plugin uploads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Publishes accepted per second (a batch counts its size).
    pub publishes_per_second: Option<u32>,
    /// Streams and waiting long-polls open at once.
    pub max_connections: Option<u32>,
    /// Notifications kept in the tenant's log.
    pub max_stored_notifications: Option<u64>,
    /// Emails sent in any 24 hours.
    pub emails_per_day: Option<u32>,
    /// Plugins (distinct names) the tenant may have.
    pub max_plugins: Option<u32>,
    /// Versions kept of each plugin.
    pub max_plugin_versions: Option<u32>,
    /// Bytes of components, all versions of all plugins together.
    pub max_plugin_bytes: Option<u64>,
    /// Plugin uploads (accepted or not) per minute, per node.
    pub plugin_uploads_per_minute: Option<u32>,
}

impl Quotas {
    /// No quota at all.
    pub fn is_unlimited(&self) -> bool {
        *self == Quotas::default()
    }
}

/// A stored value that does not fit its type: only a hand-edited row.
fn narrow<T: TryFrom<i64>>(tenant: &str, what: &str, v: Option<i64>) -> Result<Option<T>, StoreError> {
    v.map(|v| T::try_from(v).map_err(|_| StoreError::Corrupt(format!("tenant {tenant} quota {what}: {v} is out of range")))).transpose()
}

fn convert(m: tenant_quota::Model) -> Result<Quotas, StoreError> {
    let t = m.tenant_id.as_str();
    Ok(Quotas {
        publishes_per_second: narrow(t, "publishes_per_second", m.publishes_per_second)?,
        max_connections: narrow(t, "max_connections", m.max_connections)?,
        max_stored_notifications: narrow(t, "max_stored_notifications", m.max_stored_notifications)?,
        emails_per_day: narrow(t, "emails_per_day", m.emails_per_day)?,
        max_plugins: narrow(t, "max_plugins", m.max_plugins)?,
        max_plugin_versions: narrow(t, "max_plugin_versions", m.max_plugin_versions)?,
        max_plugin_bytes: narrow(t, "max_plugin_bytes", m.max_plugin_bytes)?,
        plugin_uploads_per_minute: narrow(t, "plugin_uploads_per_minute", m.plugin_uploads_per_minute)?,
    })
}

/// Saturates rather than wraps: a count past `i64::MAX` cannot happen.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Grouped counts, most frequent first (ties by name, so the order is stable).
fn most_frequent_first(rows: impl Iterator<Item = (String, i64)>) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = rows.map(|(s, n)| (s, count(n))).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Delivery log entries with one status, counted.
#[derive(Debug, FromQueryResult)]
struct StatusCount {
    status: String,
    n: i64,
}

/// Dead letters with one outcome, counted.
#[derive(Debug, FromQueryResult)]
struct OutcomeCount {
    outcome: String,
    n: i64,
}

impl Store {
    /// The tenant's quotas (all `None` when none were set). Does not check
    /// that the tenant exists: callers have authorized it already.
    pub async fn quotas(&self, tenant: &TenantId) -> Result<Quotas, StoreError> {
        match tenant_quota::Entity::find_by_id(tenant.as_str()).one(&self.db).await? {
            Some(row) => convert(row),
            None => Ok(Quotas::default()),
        }
    }

    /// Replaces the tenant's quotas; the caller has checked the bounds.
    pub async fn set_quotas(&self, tenant: &TenantId, quotas: &Quotas) -> Result<(), StoreError> {
        self.write_autocommit(|db| async move {
            // Checked here, not by a foreign key: the row of a tenant deleted
            // meanwhile is removed with it (see `delete_tenant`).
            if tenant::Entity::find_by_id(tenant.as_str()).count(db).await? == 0 {
                return Err(StoreError::NotFound("tenant"));
            }
            let row = tenant_quota::ActiveModel {
                tenant_id: Set(tenant.to_string()),
                publishes_per_second: Set(quotas.publishes_per_second.map(i64::from)),
                max_connections: Set(quotas.max_connections.map(i64::from)),
                max_stored_notifications: Set(quotas.max_stored_notifications.map(|v| i64::try_from(v).unwrap_or(i64::MAX))),
                emails_per_day: Set(quotas.emails_per_day.map(i64::from)),
                max_plugins: Set(quotas.max_plugins.map(i64::from)),
                max_plugin_versions: Set(quotas.max_plugin_versions.map(i64::from)),
                max_plugin_bytes: Set(quotas.max_plugin_bytes.map(|v| i64::try_from(v).unwrap_or(i64::MAX))),
                plugin_uploads_per_minute: Set(quotas.plugin_uploads_per_minute.map(i64::from)),
                updated_at: Set(now_micros()),
            };
            tenant_quota::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(tenant_quota::Column::TenantId)
                        .update_columns([
                            tenant_quota::Column::PublishesPerSecond,
                            tenant_quota::Column::MaxConnections,
                            tenant_quota::Column::MaxStoredNotifications,
                            tenant_quota::Column::EmailsPerDay,
                            tenant_quota::Column::MaxPlugins,
                            tenant_quota::Column::MaxPluginVersions,
                            tenant_quota::Column::MaxPluginBytes,
                            tenant_quota::Column::PluginUploadsPerMinute,
                            tenant_quota::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            Ok(())
        })
        .await
    }

    /// How many notifications the tenant's log holds now. A `COUNT(*)` over
    /// the tenant's index range: callers cache it.
    pub async fn stored_notification_count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        Ok(notification::Entity::find().filter(notification::Column::TenantId.eq(tenant.as_str())).count(&self.db).await?)
    }

    /// Emails sent to the tenant's recipients since `since`: distinct email
    /// ids among `sent` log entries, so a digest counts once.
    pub async fn emails_sent_since(&self, tenant: &TenantId, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let n: Option<i64> = delivery::Entity::find()
            .select_only()
            .expr(Expr::cust("COUNT(DISTINCT email_id)"))
            .filter(delivery::Column::TenantId.eq(tenant.as_str()))
            .filter(delivery::Column::CreatedAt.gte(since.timestamp_micros()))
            .filter(delivery::Column::Path.eq(DeliveryPath::Email.as_str()))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Sent.as_str()))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(count(n.unwrap_or(0)))
    }

    /// Delivery log entries of the tenant since `since`, counted by status
    /// (`sent`, `failed`, …), most frequent first.
    pub async fn delivery_outcomes_since(&self, tenant: &TenantId, since: DateTime<Utc>) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<StatusCount> = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::Status)
            .column_as(Expr::cust("COUNT(*)"), "n")
            .filter(delivery::Column::TenantId.eq(tenant.as_str()))
            .filter(delivery::Column::CreatedAt.gte(since.timestamp_micros()))
            .group_by(delivery::Column::Status)
            .into_model()
            .all(&self.db)
            .await?;
        Ok(most_frequent_first(rows.into_iter().map(|r| (r.status, r.n))))
    }

    /// Dead letters of the tenant since `since`, counted by outcome
    /// (`dropped`, `failed`, …), most frequent first.
    pub async fn dead_letters_since(&self, tenant: &TenantId, since: DateTime<Utc>) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<OutcomeCount> = dead_letter::Entity::find()
            .select_only()
            .column(dead_letter::Column::Outcome)
            .column_as(Expr::cust("COUNT(*)"), "n")
            .filter(dead_letter::Column::TenantId.eq(tenant.as_str()))
            .filter(dead_letter::Column::CreatedAt.gte(since.timestamp_micros()))
            .group_by(dead_letter::Column::Outcome)
            .into_model()
            .all(&self.db)
            .await?;
        Ok(most_frequent_first(rows.into_iter().map(|r| (r.outcome, r.n))))
    }
}

/// Removes the tenant's quotas inside `delete_tenant`'s transaction.
pub(crate) async fn delete_tenant_quotas(txn: &WriteTxn<'_>, tenant: &str) -> Result<(), StoreError> {
    tenant_quota::Entity::delete_many().filter(tenant_quota::Column::TenantId.eq(tenant)).exec(txn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use herald_core::names::TenantName;

    use super::*;
    use crate::DbKind;
    use crate::test_db::{TestDb, on_each_backend};

    async fn store(kind: DbKind) -> (Store, TestDb) {
        let db = TestDb::new(kind).await;
        (db.store.clone(), db)
    }

    async fn quotas_round_trip_and_go_with_their_tenant(kind: DbKind) {
        let (store, _db) = store(kind).await;
        let t = store.create_tenant(&TenantName::parse("acme").unwrap()).await.unwrap();
        let other = store.create_tenant(&TenantName::parse("other").unwrap()).await.unwrap();
        assert!(store.quotas(&t.id).await.unwrap().is_unlimited());

        let q = Quotas {
            publishes_per_second: Some(10),
            max_connections: None,
            max_stored_notifications: Some(10_000_000_000),
            emails_per_day: Some(3),
            max_plugins: Some(5),
            max_plugin_versions: None,
            max_plugin_bytes: Some(10_000_000_000),
            plugin_uploads_per_minute: Some(7),
        };
        store.set_quotas(&t.id, &q).await.unwrap();
        assert_eq!(store.quotas(&t.id).await.unwrap(), q);
        // Replaced as a whole, and scoped to the tenant.
        let q2 = Quotas { max_connections: Some(2), ..Quotas::default() };
        store.set_quotas(&t.id, &q2).await.unwrap();
        assert_eq!(store.quotas(&t.id).await.unwrap(), q2);
        assert!(store.quotas(&other.id).await.unwrap().is_unlimited());

        store.delete_tenant(&t.id).await.unwrap();
        assert!(store.quotas(&t.id).await.unwrap().is_unlimited());
        assert!(matches!(store.set_quotas(&t.id, &q).await, Err(StoreError::NotFound(_))));
    }

    async fn counts_start_at_zero(kind: DbKind) {
        let (store, _db) = store(kind).await;
        let t = store.create_tenant(&TenantName::parse("acme").unwrap()).await.unwrap();
        let since = Utc::now() - chrono::Duration::hours(24);
        assert_eq!(store.stored_notification_count(&t.id).await.unwrap(), 0);
        assert_eq!(store.emails_sent_since(&t.id, since).await.unwrap(), 0);
        assert!(store.delivery_outcomes_since(&t.id, since).await.unwrap().is_empty());
        assert!(store.dead_letters_since(&t.id, since).await.unwrap().is_empty());
    }

    on_each_backend!(quotas_round_trip_and_go_with_their_tenant, counts_start_at_zero);
}
