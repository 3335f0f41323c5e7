//! Retention: pruning history by count and age, in small batches so no
//! lock is held for long and publishes keep flowing meanwhile.

use std::time::Duration;

use herald_core::retention::Retention;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::clock::now_micros;
use crate::entity::{channel, idempotency_key, notification};
use crate::publish::IDEMPOTENCY_WINDOW_MICROS;
use crate::{Store, StoreError};

/// Rows deleted per statement.
const DELETE_BATCH: u64 = 1000;
/// Channels examined per page.
const CHANNEL_PAGE: u64 = 500;

/// What one retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PruneReport {
    pub notifications: u64,
    pub idempotency_keys: u64,
}

impl Store {
    /// One retention pass over every channel. Bounds a channel leaves unset
    /// come from `defaults`.
    pub async fn prune(&self, defaults: Retention) -> Result<PruneReport, StoreError> {
        let now = now_micros();
        let mut report = PruneReport::default();
        let mut after = String::new();
        loop {
            let page = channel::Entity::find()
                .filter(channel::Column::Id.gt(after.as_str()))
                .order_by_asc(channel::Column::Id)
                .limit(CHANNEL_PAGE)
                .all(&self.db)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            for ch in &page {
                let max_count = ch.max_count.or(defaults.max_count);
                let max_age = ch.max_age_seconds.or(defaults.max_age_seconds);
                report.notifications += self.prune_channel(ch, max_count, max_age, now).await?;
            }
        }
        let expired = idempotency_key::Entity::delete_many().filter(idempotency_key::Column::CreatedAt.lt(now - IDEMPOTENCY_WINDOW_MICROS));
        report.idempotency_keys = self.write_autocommit(|db| async move { Ok(expired.exec(db).await?.rows_affected) }).await?;
        Ok(report)
    }

    async fn prune_channel(&self, ch: &channel::Model, max_count: Option<i64>, max_age: Option<i64>, now: i64) -> Result<u64, StoreError> {
        let in_channel = || {
            notification::Entity::find()
                .filter(notification::Column::TenantId.eq(ch.tenant_id.as_str()))
                .filter(notification::Column::Channel.eq(ch.name.as_str()))
        };
        let mut cutoff: i64 = 0;
        if let Some(max_count) = max_count {
            // The newest seq past the first `max_count` (newest first).
            let seq: Option<i64> = in_channel()
                .select_only()
                .column(notification::Column::Seq)
                .order_by_desc(notification::Column::Seq)
                .offset(max_count as u64)
                .limit(1)
                .into_tuple()
                .one(&self.db)
                .await?;
            cutoff = cutoff.max(seq.unwrap_or(0));
        }
        if let Some(max_age) = max_age {
            let oldest_kept = now - max_age.saturating_mul(1_000_000);
            let seq: Option<i64> = in_channel()
                .select_only()
                .column(notification::Column::Seq)
                .filter(notification::Column::CreatedAt.lt(oldest_kept))
                .order_by_desc(notification::Column::Seq)
                .limit(1)
                .into_tuple()
                .one(&self.db)
                .await?;
            cutoff = cutoff.max(seq.unwrap_or(0));
        }
        if cutoff == 0 {
            return Ok(0);
        }
        // Mark the truncation before deleting, so a resume that races the
        // deletion is told about the gap rather than silently skipping it.
        if cutoff > ch.pruned_seq {
            let mark = channel::Entity::update_many()
                .col_expr(channel::Column::PrunedSeq, Expr::value(cutoff))
                .filter(channel::Column::Id.eq(ch.id.as_str()))
                .filter(channel::Column::PrunedSeq.lt(cutoff));
            self.write_autocommit(|db| async move { Ok(mark.exec(db).await?) }).await?;
        }
        let mut deleted = 0;
        loop {
            let ids: Vec<i64> = in_channel()
                .select_only()
                .column(notification::Column::Id)
                .filter(notification::Column::Seq.lte(cutoff))
                .order_by_asc(notification::Column::Seq)
                .limit(DELETE_BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            if ids.is_empty() {
                break;
            }
            // One batch per statement and per turn of the write mutex, so
            // publishes get in between batches.
            let batch = notification::Entity::delete_many().filter(notification::Column::Id.is_in(ids));
            let n = self.write_autocommit(|db| async move { Ok(batch.exec(db).await?.rows_affected) }).await?;
            deleted += n;
            if n < DELETE_BATCH {
                break;
            }
        }
        Ok(deleted)
    }
}

/// Runs retention passes forever at `every`; errors are logged and retried
/// at the next pass.
pub async fn run(store: Store, defaults: Retention, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.prune(defaults).await {
            Ok(r) if r.notifications > 0 || r.idempotency_keys > 0 => {
                tracing::info!(notifications = r.notifications, idempotency_keys = r.idempotency_keys, "retention pruned");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention pass failed"),
        }
    }
}
