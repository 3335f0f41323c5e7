//! Reading history: the replay half of gapless resume.

use herald_core::ids::{Seq, TenantId};
use herald_core::names::UserId;
use herald_core::notification::Notification;
use herald_core::pattern::ChannelPattern;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::notification;
use crate::{Store, StoreError, convert};

/// One page of history.
#[derive(Debug)]
pub struct ReplayPage {
    /// Matching notifications, in id order.
    pub items: Vec<Notification>,
    /// Resume the next page after this id (the last row scanned, matching
    /// or not, so pages always advance).
    pub next_after: Seq,
    /// No more rows after `next_after` at the time of the query.
    pub done: bool,
}

impl Store {
    /// Notifications after `after` on channels the patterns match, visible to
    /// `user` (or to everyone when `user` is `None`), oldest first.
    pub async fn replay(
        &self,
        tenant: &TenantId,
        patterns: &[ChannelPattern],
        user: Option<&UserId>,
        after: Seq,
        limit: u64,
    ) -> Result<ReplayPage, StoreError> {
        let mut q = notification::Entity::find()
            .filter(notification::Column::TenantId.eq(tenant.as_str()))
            .filter(notification::Column::Seq.gt(after))
            .order_by_asc(notification::Column::Seq)
            .limit(limit);
        // Narrow in SQL where a pattern has a literal prefix; match exactly below.
        if patterns.iter().all(|p| !p.literal_prefix().is_empty()) {
            let mut any = Condition::any();
            let exact: Vec<&str> = patterns.iter().filter(|p| p.is_exact()).map(|p| p.as_str()).collect();
            if !exact.is_empty() {
                any = any.add(notification::Column::Channel.is_in(exact));
            }
            for p in patterns.iter().filter(|p| !p.is_exact()) {
                any = any.add(notification::Column::Channel.starts_with(p.literal_prefix()));
            }
            q = q.filter(any);
        }
        let rows = q.all(&self.db).await?;
        let done = (rows.len() as u64) < limit;
        let next_after = rows.last().map_or(after, |r| r.seq);
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            if !patterns.iter().any(|p| p.matches_str(&row.channel)) {
                continue;
            }
            let n = convert::notification(tenant, row)?;
            if user.is_none_or(|u| n.is_for(u)) {
                items.push(n);
            }
        }
        Ok(ReplayPage { items, next_after, done })
    }
}

impl Store {
    /// The tenant's newest committed id (0 before the first publish): a
    /// poll "from now" starts after it.
    pub async fn head(&self, tenant: &TenantId) -> Result<Seq, StoreError> {
        let seq: Option<i64> = crate::entity::tenant::Entity::find_by_id(tenant.as_str())
            .select_only()
            .column(crate::entity::tenant::Column::LastSeq)
            .into_tuple()
            .one(&self.db)
            .await?;
        seq.ok_or(StoreError::NotFound("tenant"))
    }
}
