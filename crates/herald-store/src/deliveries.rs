//! The delivery log: one row per outcome of the email fallback. A live
//! delivery (stream, poll) is recorded when it cancels a pending email, so
//! replaying old history adds nothing; every email attempt is recorded:
//! sent, deferred (with the SMTP answer), failed or cancelled.

use chrono::{DateTime, Utc};
use herald_core::email::{Delivery, DeliveryPath, DeliveryStatus};
use herald_core::ids::{DeliveryId, EmailId, Seq, TenantId};
use herald_core::names::{ChannelName, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::{now_micros, to_datetime};
use crate::entity::{delivery, email_outbox};
use crate::outbox_status::OutboxStatus;
use crate::{Store, StoreError};

/// Log rows per INSERT statement.
const INSERT_CHUNK: usize = 500;

/// A notification handed to a user on a live path.
#[derive(Clone, Debug)]
pub struct LiveDelivery {
    pub user: UserId,
    pub notification: Seq,
    pub channel: ChannelName,
    pub path: DeliveryPath,
    pub at: DateTime<Utc>,
}

/// What one log row says, before it has an id.
#[derive(Debug)]
pub(crate) struct LogEntry<'a> {
    pub user: &'a str,
    pub notification: Seq,
    pub channel: &'a str,
    pub path: DeliveryPath,
    pub status: DeliveryStatus,
    pub error: Option<&'a str>,
    pub email: Option<&'a str>,
    pub attempt: Option<i64>,
    pub at: i64,
}

pub(crate) async fn insert_log<C: ConnectionTrait>(db: &C, tenant: &TenantId, entries: &[LogEntry<'_>]) -> Result<(), StoreError> {
    for chunk in entries.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|e| delivery::ActiveModel {
            id: Set(DeliveryId::generate().to_string()),
            tenant_id: Set(tenant.to_string()),
            user_id: Set(e.user.to_owned()),
            seq: Set(e.notification),
            channel: Set(e.channel.to_owned()),
            path: Set(e.path.as_str().to_owned()),
            status: Set(e.status.as_str().to_owned()),
            error: Set(e.error.map(str::to_owned)),
            email_id: Set(e.email.map(str::to_owned)),
            attempt: Set(e.attempt),
            created_at: Set(e.at),
        });
        delivery::Entity::insert_many(rows).exec_without_returning(db).await?;
    }
    Ok(())
}

fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

fn convert(m: delivery::Model) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: DeliveryId::parse(&m.id).map_err(corrupt("delivery id"))?,
        tenant: TenantId::parse(&m.tenant_id).map_err(corrupt("tenant id"))?,
        user: UserId::parse(m.user_id).map_err(corrupt("user id"))?,
        notification: m.seq,
        channel: ChannelName::parse(m.channel).map_err(corrupt("channel"))?,
        path: DeliveryPath::parse(&m.path).map_err(corrupt("path"))?,
        status: DeliveryStatus::parse(&m.status).map_err(corrupt("status"))?,
        error: m.error,
        email: m.email_id.as_deref().map(EmailId::parse).transpose().map_err(corrupt("email id"))?,
        attempt: m.attempt.map(|a| a.clamp(0, i64::from(u32::MAX)) as u32),
        at: to_datetime(m.created_at),
    })
}

/// Which log rows to list.
#[derive(Debug, Default)]
pub struct DeliveryFilter<'a> {
    pub user: Option<&'a UserId>,
    pub notification: Option<Seq>,
}

impl Store {
    /// Log rows oldest first (ids are time-ordered), after `after`.
    pub async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: DeliveryFilter<'_>,
        after: Option<&DeliveryId>,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut q =
            delivery::Entity::find().filter(delivery::Column::TenantId.eq(tenant.as_str())).order_by_asc(delivery::Column::Id).limit(limit);
        if let Some(u) = filter.user {
            q = q.filter(delivery::Column::UserId.eq(u.as_str()));
        }
        if let Some(n) = filter.notification {
            q = q.filter(delivery::Column::Seq.eq(n));
        }
        if let Some(a) = after {
            q = q.filter(delivery::Column::Id.gt(a.as_str()));
        }
        q.all(&self.db).await?.into_iter().map(convert).collect()
    }

    /// Records live deliveries of one tenant that make an email
    /// unnecessary: a pending email that no worker is sending right now
    /// becomes `delivered`, with a log row. Deliveries that cancel nothing
    /// leave no trace. One transaction for the whole batch.
    pub async fn record_live_deliveries(&self, tenant: &TenantId, items: &[LiveDelivery]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let now = now_micros();
        self.write(|txn| {
            Box::pin(async move {
                let mut cancelled = Vec::new();
                for d in items {
                    let res = email_outbox::Entity::update_many()
                        .col_expr(email_outbox::Column::Status, Expr::value(OutboxStatus::after(DeliveryStatus::Delivered)))
                        .col_expr(email_outbox::Column::DeliveredVia, Expr::value(d.path.as_str()))
                        .col_expr(email_outbox::Column::UpdatedAt, Expr::value(now))
                        .filter(email_outbox::Column::TenantId.eq(tenant.as_str()))
                        .filter(email_outbox::Column::UserId.eq(d.user.as_str()))
                        .filter(email_outbox::Column::Seq.eq(d.notification))
                        .filter(email_outbox::Column::Status.eq(OutboxStatus::Pending))
                        // A claimed email is being sent: let it finish.
                        .filter(
                            Condition::any().add(email_outbox::Column::LeaseUntil.is_null()).add(email_outbox::Column::LeaseUntil.lt(now)),
                        )
                        .exec(txn)
                        .await?;
                    if res.rows_affected > 0 {
                        cancelled.push(d);
                    }
                }
                let entries: Vec<LogEntry<'_>> = cancelled
                    .iter()
                    .map(|d| LogEntry {
                        user: d.user.as_str(),
                        notification: d.notification,
                        channel: d.channel.as_str(),
                        path: d.path,
                        status: DeliveryStatus::Delivered,
                        error: None,
                        email: None,
                        attempt: None,
                        at: d.at.timestamp_micros(),
                    })
                    .collect();
                insert_log(txn, tenant, &entries).await?;
                Ok(())
            })
        })
        .await
    }

    /// Deletes log rows, and finished outbox rows, older than `cutoff`.
    /// Returns how many rows went.
    pub async fn prune_email_records(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = cutoff.timestamp_micros();
        self.write_autocommit(|db| async move {
            let log = delivery::Entity::delete_many().filter(delivery::Column::CreatedAt.lt(cutoff)).exec(db).await?.rows_affected;
            let outbox = email_outbox::Entity::delete_many()
                .filter(email_outbox::Column::Status.ne(OutboxStatus::Pending))
                .filter(email_outbox::Column::UpdatedAt.lt(cutoff))
                .exec(db)
                .await?
                .rows_affected;
            Ok(log + outbox)
        })
        .await
    }

    /// How many emails wait in the outbox, across tenants (for logs and tests).
    pub async fn pending_email_count(&self) -> Result<u64, StoreError> {
        Ok(email_outbox::Entity::find().filter(email_outbox::Column::Status.eq(OutboxStatus::Pending)).count(&self.db).await?)
    }
}
