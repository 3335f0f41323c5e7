//! A tenant's channels, their history and dead letters.

use herald_core::DomainError;
use herald_core::email::EmailPolicy;
use herald_core::ids::{DeadLetterId, Seq, TenantId};
use herald_core::model::Channel;
use herald_core::names::ChannelName;
use herald_core::plugin::{ChainStep, DeadLetter, FailurePolicy};
use herald_core::retention::Retention;
use herald_store::history::{HistoryFilter, HistoryPage};

use crate::App;
use crate::error::AppResult;

impl App {
    pub async fn create_channel(&self, tenant: &TenantId, name: &ChannelName, retention: Retention) -> AppResult<Channel> {
        Ok(self.inner.store.create_channel(tenant, name, retention).await?)
    }

    /// Deletes a channel and its history; pending emails of it are not
    /// tracked any more on this node, and this node's recent history
    /// forgets it (other nodes learn of it from the tenant's history epoch).
    pub async fn delete_channel(&self, tenant: &TenantId, name: &ChannelName) -> AppResult<()> {
        self.inner.store.delete_channel(tenant, name).await?;
        self.inner.tracker.channel_changed(tenant, name, false);
        self.inner.hub.forget_channel(tenant, name);
        Ok(())
    }

    pub async fn get_channel(&self, tenant: &TenantId, name: &ChannelName) -> AppResult<Channel> {
        Ok(self.inner.store.get_channel(tenant, name).await?)
    }

    /// Channels in name order, after `after`.
    pub async fn list_channels(&self, tenant: &TenantId, after: Option<&ChannelName>, limit: u64) -> AppResult<Vec<Channel>> {
        Ok(self.inner.store.list_channels(tenant, after, limit).await?)
    }

    /// Checks an email policy before it is saved: bounds, that this server
    /// sends email, and the templates (a syntax error names the template
    /// and line).
    pub fn check_email_policy(&self, policy: &EmailPolicy) -> AppResult<()> {
        policy.validate()?;
        if !self.inner.settings.email_sending {
            return Err(DomainError::invalid("email", "this server does not send email (its email.smtp_url setting is not set)").into());
        }
        crate::email_outbox::check_templates(policy).map_err(|e| DomainError::invalid("email", e.to_string()))?;
        Ok(())
    }

    /// Sets or removes a channel's email policy (checked with
    /// [`App::check_email_policy`]); this node's delivery tracker learns it
    /// at once.
    pub async fn set_channel_email(&self, tenant: &TenantId, name: &ChannelName, policy: Option<&EmailPolicy>) -> AppResult<Channel> {
        let channel = self.inner.store.set_channel_email(tenant, name, policy).await?;
        self.inner.tracker.channel_changed(tenant, name, policy.is_some());
        Ok(channel)
    }

    /// Sets a channel's plugin chain; this node's deliver plans are
    /// rebuilt at once, other nodes' within `plugins.cache_ms`.
    pub async fn set_channel_plugins(
        &self,
        tenant: &TenantId,
        name: &ChannelName,
        chain: &[ChainStep],
        policy: FailurePolicy,
    ) -> AppResult<Channel> {
        let channel = self.inner.store.set_channel_plugins(tenant, name, chain, policy).await?;
        self.inner.chains.changed(tenant).await;
        Ok(channel)
    }

    pub async fn set_channel_retention(&self, tenant: &TenantId, name: &ChannelName, retention: Retention) -> AppResult<Channel> {
        Ok(self.inner.store.set_channel_retention(tenant, name, retention).await?)
    }

    /// Up to `limit` rows of `channel` below `before` (all when `None`),
    /// newest first, narrowed by `filter`.
    pub async fn history(
        &self,
        tenant: &TenantId,
        channel: &ChannelName,
        filter: &HistoryFilter,
        before: Option<Seq>,
        limit: u64,
    ) -> AppResult<HistoryPage> {
        Ok(self.inner.store.history(tenant, channel, filter, before, limit).await?)
    }

    /// Dead letters oldest first (ids are time-ordered), after `after`.
    pub async fn list_dead_letters(
        &self,
        tenant: &TenantId,
        channel: Option<&ChannelName>,
        after: Option<&DeadLetterId>,
        limit: u64,
    ) -> AppResult<Vec<DeadLetter>> {
        Ok(self.inner.store.list_dead_letters(tenant, channel, after, limit).await?)
    }
}
