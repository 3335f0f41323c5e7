//! Read state per user, for inboxes and unread badges: a watermark (every
//! notification up to it is read) and receipts for single notifications
//! read above it. The watermark keeps the state small however long a user
//! stays: receipts at or below it are deleted when it moves.

use std::collections::HashSet;

use herald_core::ids::{Seq, TenantId};
use herald_core::names::UserId;
use herald_core::pattern::ChannelPattern;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set};

use crate::entity::{notification, read_mark, read_receipt};
use crate::{Store, StoreError};

/// Rows of history scanned at most by one unread count.
const UNREAD_SCAN_ROWS: u64 = 10_000;
const UNREAD_PAGE: u64 = 500;

/// What [`Store::mark_read`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkRead {
    Marked,
    /// This id was never committed (it is above the tenant's head):
    /// nothing was marked.
    Unknown(Seq),
    /// The user already holds `held` receipts, and these would pass the
    /// cap: nothing was marked.
    Full {
        held: u64,
    },
}

/// An unread count, possibly stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unread {
    pub count: u64,
    /// The count stopped at the cap (or the scan limit): there may be more.
    pub capped: bool,
}

impl Store {
    /// The user's watermark (0 when they have read nothing).
    pub async fn read_watermark(&self, tenant: &TenantId, user: &UserId) -> Result<Seq, StoreError> {
        let row = read_mark::Entity::find_by_id((tenant.to_string(), user.to_string())).one(&self.db).await?;
        Ok(row.map_or(0, |r| r.up_to))
    }

    /// Marks everything up to `up_to` read; a watermark never moves back.
    pub async fn mark_read_up_to(&self, tenant: &TenantId, user: &UserId, up_to: Seq) -> Result<(), StoreError> {
        // Two statements, not one transaction: a receipt left behind at or
        // below the watermark changes no answer, and the next move deletes it.
        self.write_autocommit(|db| async move {
            let row = read_mark::ActiveModel { tenant_id: Set(tenant.to_string()), user_id: Set(user.to_string()), up_to: Set(up_to) };
            read_mark::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([read_mark::Column::TenantId, read_mark::Column::UserId])
                        .update_column(read_mark::Column::UpTo)
                        .action_and_where(Expr::col((read_mark::Entity, read_mark::Column::UpTo)).lt(up_to))
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            read_receipt::Entity::delete_many()
                .filter(read_receipt::Column::TenantId.eq(tenant.as_str()))
                .filter(read_receipt::Column::UserId.eq(user.as_str()))
                .filter(read_receipt::Column::Seq.lte(up_to))
                .exec(db)
                .await?;
            Ok(())
        })
        .await
    }

    /// Marks single notifications read (those above the watermark; the
    /// others already are). Ids that were never committed are refused;
    /// ids since pruned are skipped (nothing is left to read). A user holds
    /// at most `max_receipts` receipts: receipts of pruned notifications
    /// are dropped to make room, and past that the request is refused.
    pub async fn mark_read(&self, tenant: &TenantId, user: &UserId, ids: &[Seq], max_receipts: u64) -> Result<MarkRead, StoreError> {
        let up_to = self.read_watermark(tenant, user).await?;
        let mut ids: Vec<Seq> = ids.iter().copied().filter(|id| *id > up_to).collect();
        ids.sort_unstable();
        ids.dedup();
        let Some(&last) = ids.last() else { return Ok(MarkRead::Marked) };
        let head = self.head(tenant).await?;
        if last > head {
            return Ok(MarkRead::Unknown(last));
        }
        let existing: Vec<Seq> = notification::Entity::find()
            .select_only()
            .column(notification::Column::Seq)
            .filter(notification::Column::TenantId.eq(tenant.as_str()))
            .filter(notification::Column::Seq.is_in(ids.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await?;
        if existing.is_empty() {
            return Ok(MarkRead::Marked);
        }
        let mut held = self.read_receipt_count(tenant, user).await?;
        if held + existing.len() as u64 > max_receipts {
            self.drop_pruned_receipts(tenant, user).await?;
            held = self.read_receipt_count(tenant, user).await?;
            if held + existing.len() as u64 > max_receipts {
                return Ok(MarkRead::Full { held });
            }
        }
        let rows = existing.into_iter().map(|seq| read_receipt::ActiveModel {
            tenant_id: Set(tenant.to_string()),
            user_id: Set(user.to_string()),
            seq: Set(seq),
        });
        let insert = read_receipt::Entity::insert_many(rows).on_conflict(
            OnConflict::columns([read_receipt::Column::TenantId, read_receipt::Column::UserId, read_receipt::Column::Seq])
                .do_nothing()
                .to_owned(),
        );
        self.write_autocommit(|db| async move { Ok(insert.exec_without_returning(db).await?) }).await?;
        Ok(MarkRead::Marked)
    }

    /// How many receipts the user holds above their watermark.
    pub async fn read_receipt_count(&self, tenant: &TenantId, user: &UserId) -> Result<u64, StoreError> {
        Ok(read_receipt::Entity::find()
            .filter(read_receipt::Column::TenantId.eq(tenant.as_str()))
            .filter(read_receipt::Column::UserId.eq(user.as_str()))
            .count(&self.db)
            .await?)
    }

    /// Deletes the user's receipts of notifications no longer stored.
    async fn drop_pruned_receipts(&self, tenant: &TenantId, user: &UserId) -> Result<(), StoreError> {
        let stored = Query::select()
            .column(notification::Column::Seq)
            .from(notification::Entity)
            .and_where(Expr::col(notification::Column::TenantId).eq(tenant.as_str()))
            .to_owned();
        let delete = read_receipt::Entity::delete_many()
            .filter(read_receipt::Column::TenantId.eq(tenant.as_str()))
            .filter(read_receipt::Column::UserId.eq(user.as_str()))
            .filter(read_receipt::Column::Seq.not_in_subquery(stored));
        self.write_autocommit(|db| async move {
            delete.exec(db).await?;
            Ok(())
        })
        .await
    }

    /// Which of `ids` the user has read.
    pub async fn read_among(&self, tenant: &TenantId, user: &UserId, ids: &[Seq]) -> Result<HashSet<Seq>, StoreError> {
        let up_to = self.read_watermark(tenant, user).await?;
        let mut read: HashSet<Seq> = ids.iter().copied().filter(|id| *id <= up_to).collect();
        let above: Vec<Seq> = ids.iter().copied().filter(|id| *id > up_to).collect();
        if !above.is_empty() {
            let rows = read_receipt::Entity::find()
                .filter(read_receipt::Column::TenantId.eq(tenant.as_str()))
                .filter(read_receipt::Column::UserId.eq(user.as_str()))
                .filter(read_receipt::Column::Seq.is_in(above))
                .all(&self.db)
                .await?;
            read.extend(rows.into_iter().map(|r| r.seq));
        }
        Ok(read)
    }

    /// Unread notifications on `patterns` visible to `user`, counted up to
    /// `cap`. The scan is bounded, so a count over a very long backlog
    /// stops early and says so.
    pub async fn unread_count(
        &self,
        tenant: &TenantId,
        patterns: &[ChannelPattern],
        user: &UserId,
        cap: u64,
    ) -> Result<Unread, StoreError> {
        let mut after = self.read_watermark(tenant, user).await?;
        let mut count = 0;
        let mut scanned = 0;
        loop {
            let page = self.replay(tenant, patterns, Some(user), after, UNREAD_PAGE).await?;
            scanned += UNREAD_PAGE;
            let ids: Vec<Seq> = page.items.iter().map(|n| n.id).collect();
            let read = self.read_among(tenant, user, &ids).await?;
            count += ids.iter().filter(|id| !read.contains(id)).count() as u64;
            if count >= cap {
                return Ok(Unread { count: cap, capped: true });
            }
            if page.done {
                return Ok(Unread { count, capped: false });
            }
            if scanned >= UNREAD_SCAN_ROWS {
                return Ok(Unread { count, capped: true });
            }
            after = page.next_after;
        }
    }
}

#[cfg(test)]
mod tests {
    use herald_core::names::{ChannelName, EventType, TenantName};
    use herald_core::notification::NewNotification;
    use serde_json::value::RawValue;

    use super::*;
    use crate::DbKind;
    use crate::publish::Publisher;
    use crate::test_db::{TestDb, on_each_backend};

    async fn receipts_are_bounded_to_stored_notifications_and_a_cap(kind: DbKind) {
        let db = TestDb::new(kind).await;
        let store = db.store.clone();
        let t = store.create_tenant(&TenantName::parse("acme").unwrap()).await.unwrap().id;
        let (publisher, _task) = Publisher::start(store.clone(), std::sync::Arc::new(|_: &[_]| {}), 16, 64);
        let note = || NewNotification {
            tenant: t.clone(),
            channel: ChannelName::parse("inbox").unwrap(),
            event_type: EventType::parse("t").unwrap(),
            data: RawValue::from_string("{}".into()).unwrap(),
            recipients: None,
            idempotency_key: None,
        };
        publisher.publish((0..5).map(|_| note()).collect()).await.unwrap();
        let ada = UserId::parse("ada").unwrap();
        assert_eq!(store.mark_read(&t, &ada, &[1, 2, 2], 3).await.unwrap(), MarkRead::Marked);
        assert_eq!(store.mark_read(&t, &ada, &[3, 99], 3).await.unwrap(), MarkRead::Unknown(99), "never committed");
        assert_eq!(store.mark_read(&t, &ada, &[3, 4], 3).await.unwrap(), MarkRead::Full { held: 2 });
        assert_eq!(store.read_receipt_count(&t, &ada).await.unwrap(), 2);
        // Once 1 and 2 are pruned, their receipts make room.
        let stored = t.to_string();
        store
            .write_autocommit(|db| async move {
                notification::Entity::delete_many()
                    .filter(notification::Column::TenantId.eq(stored))
                    .filter(notification::Column::Seq.lte(2))
                    .exec(db)
                    .await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(store.mark_read(&t, &ada, &[1, 3, 4], 3).await.unwrap(), MarkRead::Marked, "a pruned id is skipped");
        assert_eq!(store.read_receipt_count(&t, &ada).await.unwrap(), 2);
        assert_eq!(store.read_among(&t, &ada, &[3, 4, 5]).await.unwrap(), HashSet::from([3, 4]));
    }

    on_each_backend!(receipts_are_bounded_to_stored_notifications_and_a_cap);
}
