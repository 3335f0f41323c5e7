//! Channels: named streams within a tenant, each with a retention policy.
//! Publishing to a channel that does not exist yet creates it with the
//! server's default retention.

use herald_core::email::EmailPolicy;
use herald_core::ids::{ChannelId, Seq, TenantId};
use herald_core::model::Channel;
use herald_core::names::ChannelName;
use herald_core::pattern::ChannelPattern;
use herald_core::plugin::{ChainStep, FailurePolicy};
use herald_core::retention::Retention;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::now_micros;
use crate::entity::{channel, notification, tenant};
use crate::{Store, StoreError, convert};

pub(crate) fn new_row(tenant: &TenantId, name: &ChannelName, retention: Retention) -> channel::ActiveModel {
    channel::ActiveModel {
        id: Set(ChannelId::generate().to_string()),
        tenant_id: Set(tenant.to_string()),
        name: Set(name.to_string()),
        max_count: Set(retention.max_count),
        max_age_seconds: Set(retention.max_age_seconds),
        pruned_seq: Set(0),
        created_at: Set(now_micros()),
        plugins: Set("[]".to_owned()),
        failure_policy: Set(FailurePolicy::default().as_str().to_owned()),
        email: Set(None),
        email_after_seconds: Set(None),
        email_digest_seconds: Set(None),
    }
}

/// A channel's tenant and name, without the rest of its row.
#[derive(Debug, FromQueryResult)]
struct TenantChannel {
    tenant_id: String,
    name: String,
}

impl Store {
    pub async fn create_channel(&self, tenant: &TenantId, name: &ChannelName, retention: Retention) -> Result<Channel, StoreError> {
        self.get_tenant(tenant).await?;
        let row = self
            .write_autocommit(|db| async move {
                new_row(tenant, name, retention)
                    .insert(db)
                    .await
                    .map_err(|e| StoreError::from_db(e, "a channel with this name already exists"))
            })
            .await?;
        convert::channel(row)
    }

    pub async fn get_channel(&self, tenant: &TenantId, name: &ChannelName) -> Result<Channel, StoreError> {
        let row = channel::Entity::find()
            .filter(channel::Column::TenantId.eq(tenant.as_str()))
            .filter(channel::Column::Name.eq(name.as_str()))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound("channel"))?;
        convert::channel(row)
    }

    /// Channels in name order, after `after`.
    pub async fn list_channels(&self, tenant: &TenantId, after: Option<&ChannelName>, limit: u64) -> Result<Vec<Channel>, StoreError> {
        let mut q =
            channel::Entity::find().filter(channel::Column::TenantId.eq(tenant.as_str())).order_by_asc(channel::Column::Name).limit(limit);
        if let Some(after) = after {
            q = q.filter(channel::Column::Name.gt(after.as_str()));
        }
        q.all(&self.db).await?.into_iter().map(convert::channel).collect()
    }

    pub async fn set_channel_retention(&self, tenant: &TenantId, name: &ChannelName, retention: Retention) -> Result<Channel, StoreError> {
        let update = channel::Entity::update_many()
            .col_expr(channel::Column::MaxCount, Expr::value(retention.max_count))
            .col_expr(channel::Column::MaxAgeSeconds, Expr::value(retention.max_age_seconds))
            .filter(channel::Column::TenantId.eq(tenant.as_str()))
            .filter(channel::Column::Name.eq(name.as_str()));
        let res = self.write_autocommit(|db| async move { Ok(update.exec(db).await?) }).await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("channel"));
        }
        self.get_channel(tenant, name).await
    }

    /// The tenant's channels that have a plugin chain.
    pub async fn channels_with_plugins(&self, tenant: &TenantId) -> Result<Vec<Channel>, StoreError> {
        channel::Entity::find()
            .filter(channel::Column::TenantId.eq(tenant.as_str()))
            .filter(channel::Column::Plugins.ne("[]"))
            .order_by_asc(channel::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::channel)
            .collect()
    }

    /// Replaces the channel's plugin chain and failure policy. The chain
    /// must already be validated (`herald_core::plugin::validate_chain`);
    /// the plugins it names need not exist yet (a missing one fails calls
    /// by the failure policy until it is uploaded).
    pub async fn set_channel_plugins(
        &self,
        tenant: &TenantId,
        name: &ChannelName,
        chain: &[ChainStep],
        policy: FailurePolicy,
    ) -> Result<Channel, StoreError> {
        let text = serde_json::to_string(chain).map_err(|e| StoreError::Corrupt(format!("plugin chain: {e}")))?;
        let update = channel::Entity::update_many()
            .col_expr(channel::Column::Plugins, Expr::value(text))
            .col_expr(channel::Column::FailurePolicy, Expr::value(policy.as_str()))
            .filter(channel::Column::TenantId.eq(tenant.as_str()))
            .filter(channel::Column::Name.eq(name.as_str()));
        let res = self.write_autocommit(|db| async move { Ok(update.exec(db).await?) }).await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("channel"));
        }
        self.get_channel(tenant, name).await
    }

    /// Sets or removes (`None`) the channel's email policy. The policy must
    /// already be validated, its templates included. Emails already in the
    /// outbox keep the delays they were made with; they render with the
    /// templates current when they are sent, and are cancelled if the
    /// policy is gone by then.
    pub async fn set_channel_email(
        &self,
        tenant: &TenantId,
        name: &ChannelName,
        policy: Option<&EmailPolicy>,
    ) -> Result<Channel, StoreError> {
        let text = policy.map(|p| serde_json::to_string(p).map_err(|e| StoreError::Corrupt(format!("email policy: {e}")))).transpose()?;
        let update = channel::Entity::update_many()
            .col_expr(channel::Column::Email, Expr::value(text))
            .col_expr(channel::Column::EmailAfterSeconds, Expr::value(policy.map(|p| i64::from(p.after_seconds))))
            .col_expr(channel::Column::EmailDigestSeconds, Expr::value(policy.map(|p| i64::from(p.digest_seconds))))
            .filter(channel::Column::TenantId.eq(tenant.as_str()))
            .filter(channel::Column::Name.eq(name.as_str()));
        let res = self.write_autocommit(|db| async move { Ok(update.exec(db).await?) }).await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("channel"));
        }
        self.get_channel(tenant, name).await
    }

    /// Every channel with an email policy, across tenants, in (tenant,
    /// name) order: what the delivery tracker keeps in memory.
    pub async fn email_channels(&self) -> Result<Vec<(TenantId, ChannelName)>, StoreError> {
        let rows: Vec<TenantChannel> = channel::Entity::find()
            .select_only()
            .column(channel::Column::TenantId)
            .column(channel::Column::Name)
            .filter(channel::Column::EmailAfterSeconds.is_not_null())
            .order_by_asc(channel::Column::TenantId)
            .order_by_asc(channel::Column::Name)
            .into_model()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|r| {
                let t = TenantId::parse(&r.tenant_id).map_err(|e| StoreError::Corrupt(format!("tenant id: {e}")))?;
                let c = ChannelName::parse(r.name).map_err(|e| StoreError::Corrupt(format!("channel name: {e}")))?;
                Ok((t, c))
            })
            .collect()
    }

    /// Deletes the channel and its history.
    pub async fn delete_channel(&self, tenant: &TenantId, name: &ChannelName) -> Result<(), StoreError> {
        self.write(|txn| {
            Box::pin(async move {
                let res = channel::Entity::delete_many()
                    .filter(channel::Column::TenantId.eq(tenant.as_str()))
                    .filter(channel::Column::Name.eq(name.as_str()))
                    .exec(txn)
                    .await?;
                if res.rows_affected == 0 {
                    return Err(StoreError::NotFound("channel"));
                }
                notification::Entity::delete_many()
                    .filter(notification::Column::TenantId.eq(tenant.as_str()))
                    .filter(notification::Column::Channel.eq(name.as_str()))
                    .exec(txn)
                    .await?;
                // Every node's copy of recent history may hold the channel;
                // their relays see this and forget it (`LogSource::epochs`).
                tenant::Entity::update_many()
                    .col_expr(tenant::Column::HistoryEpoch, Expr::col(tenant::Column::HistoryEpoch).add(1))
                    .filter(tenant::Column::Id.eq(tenant.as_str()))
                    .exec(txn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// What a stream resuming after `after` must know before it sends
    /// anything: which channels its patterns match had notifications newer
    /// than `after` removed by retention (then the resume has a gap, and a
    /// copy of history kept in memory must skip them).
    pub async fn resume_check(&self, tenant: &TenantId, patterns: &[ChannelPattern], after: Seq) -> Result<ResumeCheck, StoreError> {
        let rows: Vec<(String, i64)> = channel::Entity::find()
            .select_only()
            .column(channel::Column::Name)
            .column(channel::Column::PrunedSeq)
            .filter(channel::Column::TenantId.eq(tenant.as_str()))
            .filter(channel::Column::PrunedSeq.gt(after))
            .into_tuple()
            .all(&self.db)
            .await?;
        let pruned = rows.into_iter().filter(|(name, _)| patterns.iter().any(|p| p.matches_str(name))).collect();
        Ok(ResumeCheck { pruned })
    }
}

/// See [`Store::resume_check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeCheck {
    /// Matched channels pruned past the resume point, with the newest id
    /// pruned from each.
    pub pruned: Vec<(String, Seq)>,
}

impl ResumeCheck {
    /// The resume has a gap: retention removed something it would replay.
    pub fn truncated(&self) -> bool {
        !self.pruned.is_empty()
    }

    /// Whether a notification on `channel` with `id` was removed by retention.
    pub fn was_pruned(&self, channel: &str, id: Seq) -> bool {
        self.pruned.iter().any(|(name, upto)| name == channel && id <= *upto)
    }
}
