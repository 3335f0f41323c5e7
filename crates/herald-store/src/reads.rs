//! Read state per user, for inboxes and unread badges: a watermark (every
//! notification up to it is read) and receipts for single notifications
//! read above it. The watermark keeps the state small however long a user
//! stays: receipts at or below it are deleted when it moves.

use std::collections::HashSet;

use herald_core::ids::{Seq, TenantId};
use herald_core::names::UserId;
use herald_core::pattern::ChannelPattern;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::entity::{read_mark, read_receipt};
use crate::{Store, StoreError};

/// Rows of history scanned at most by one unread count.
const UNREAD_SCAN_ROWS: u64 = 10_000;
const UNREAD_PAGE: u64 = 500;

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
    /// others already are).
    pub async fn mark_read(&self, tenant: &TenantId, user: &UserId, ids: &[Seq]) -> Result<(), StoreError> {
        let up_to = self.read_watermark(tenant, user).await?;
        let mut ids: Vec<Seq> = ids.iter().copied().filter(|id| *id > up_to).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let rows = ids.into_iter().map(|seq| read_receipt::ActiveModel {
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
        Ok(())
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
