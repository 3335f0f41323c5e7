//! Browsing a channel's history for admins: newest first, filtered by
//! type, recipient and time, paged by id.

use chrono::{DateTime, Utc};
use herald_core::ids::{Seq, TenantId};
use herald_core::names::{ChannelName, EventType, UserId};
use herald_core::notification::Notification;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::notification;
use crate::{Store, StoreError, convert};

/// Which notifications of a channel to list.
#[derive(Debug, Default, Clone)]
pub struct HistoryFilter {
    pub event_type: Option<EventType>,
    /// Notifications this user receives: those addressed to them and those
    /// to everyone on the channel.
    pub recipient: Option<UserId>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
}

/// One page of a channel's history.
#[derive(Debug)]
pub struct HistoryPage {
    /// Matching notifications, newest first.
    pub items: Vec<Notification>,
    /// Continue below this id; `None` when the scan reached the end. The
    /// last row scanned, matching or not, so pages always advance.
    pub next_before: Option<Seq>,
}

impl Store {
    /// Up to `limit` rows of `channel` below `before` (all when `None`),
    /// newest first, narrowed by `filter`.
    pub async fn history(
        &self,
        tenant: &TenantId,
        channel: &ChannelName,
        filter: &HistoryFilter,
        before: Option<Seq>,
        limit: u64,
    ) -> Result<HistoryPage, StoreError> {
        use notification::Column as C;
        let mut q = notification::Entity::find()
            .filter(C::TenantId.eq(tenant.as_str()))
            .filter(C::Channel.eq(channel.as_str()))
            .order_by_desc(C::Seq)
            .limit(limit);
        if let Some(before) = before {
            q = q.filter(C::Seq.lt(before));
        }
        if let Some(t) = &filter.event_type {
            q = q.filter(C::EventType.eq(t.as_str()));
        }
        if let Some(since) = filter.since {
            q = q.filter(C::CreatedAt.gte(since.timestamp_micros()));
        }
        if let Some(until) = filter.until {
            q = q.filter(C::CreatedAt.lt(until.timestamp_micros()));
        }
        if let Some(user) = &filter.recipient {
            // Recipients are stored as a JSON array: a LIKE on the quoted
            // id narrows in SQL (`%` and `_` in an id only widen the match),
            // and `is_for` below decides exactly.
            let quoted = serde_json::to_string(user.as_str()).expect("a string serializes");
            q = q.filter(Condition::any().add(C::Recipients.is_null()).add(C::Recipients.contains(quoted)));
        }
        let rows = q.all(&self.db).await?;
        let next_before = if rows.len() as u64 == limit { rows.last().map(|r| r.seq) } else { None };
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let n = convert::notification(tenant, row)?;
            if filter.recipient.as_ref().is_none_or(|u| n.is_for(u)) {
                items.push(n);
            }
        }
        Ok(HistoryPage { items, next_before })
    }
}
