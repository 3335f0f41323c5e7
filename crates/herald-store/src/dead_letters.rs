//! The dead-letter list: notifications a plugin dropped, or a fail-closed
//! chain kept out of delivery, with the reason. Nothing a plugin does makes
//! a notification disappear without a row here.

use herald_core::ids::{DeadLetterId, TenantId};
use herald_core::names::{ChannelName, PluginName};
use herald_core::plugin::DeadLetter;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::now_micros;
use crate::entity::dead_letter;
use crate::{Store, StoreError, convert};

/// What a dead letter records.
#[derive(Debug)]
pub struct NewDeadLetter<'a> {
    pub channel: &'a ChannelName,
    pub plugin: &'a PluginName,
    pub hook: &'a str,
    pub outcome: &'a str,
    pub reason: &'a str,
    pub notification: &'a serde_json::Value,
}

impl Store {
    pub async fn record_dead_letter(&self, tenant: &TenantId, new: NewDeadLetter<'_>) -> Result<DeadLetter, StoreError> {
        let row = self
            .write_autocommit(|db| async move {
                let row = dead_letter::ActiveModel {
                    id: Set(DeadLetterId::generate().to_string()),
                    tenant_id: Set(tenant.to_string()),
                    channel: Set(new.channel.to_string()),
                    plugin: Set(new.plugin.to_string()),
                    hook: Set(new.hook.to_owned()),
                    outcome: Set(new.outcome.to_owned()),
                    reason: Set(new.reason.to_owned()),
                    notification: Set(new.notification.to_string()),
                    created_at: Set(now_micros()),
                }
                .insert(db)
                .await?;
                Ok(row)
            })
            .await?;
        convert::dead_letter(row)
    }

    /// Dead letters oldest first (ids are time-ordered), after `after`.
    pub async fn list_dead_letters(
        &self,
        tenant: &TenantId,
        channel: Option<&ChannelName>,
        after: Option<&DeadLetterId>,
        limit: u64,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let mut q = dead_letter::Entity::find()
            .filter(dead_letter::Column::TenantId.eq(tenant.as_str()))
            .order_by_asc(dead_letter::Column::Id)
            .limit(limit);
        if let Some(c) = channel {
            q = q.filter(dead_letter::Column::Channel.eq(c.as_str()));
        }
        if let Some(a) = after {
            q = q.filter(dead_letter::Column::Id.gt(a.as_str()));
        }
        q.all(&self.db).await?.into_iter().map(convert::dead_letter).collect()
    }
}
