//! What subscribers read besides the stream: read state, history pages,
//! allowed origins and their refusals.

use std::collections::HashSet;

use herald_core::ids::{Seq, TenantId};
use herald_core::limits;
use herald_core::names::UserId;
use herald_core::pattern::ChannelPattern;
use herald_store::notifications::ReplayPage;
use herald_store::reads::{MarkRead, Unread};

use crate::App;
use crate::allowed_origins::OriginCheck;
use crate::error::{AppError, AppResult};
use crate::origin_refusals::TenantRefusals;

impl App {
    /// Marks single notifications read (those above the watermark; the
    /// others already are).
    ///
    /// Refused with [`AppError::UnknownNotification`] for an id never
    /// committed, and with [`AppError::TooManyReadReceipts`] once the user
    /// holds [`limits::MAX_READ_RECEIPTS`] receipts: the bound that keeps
    /// one subscriber from growing the table forever.
    pub async fn mark_read(&self, tenant: &TenantId, user: &UserId, ids: &[Seq]) -> AppResult<()> {
        match self.inner.store.mark_read(tenant, user, ids, limits::MAX_READ_RECEIPTS).await? {
            MarkRead::Marked => Ok(()),
            MarkRead::Unknown(id) => Err(AppError::UnknownNotification(format!("notification {id} does not exist"))),
            MarkRead::Full { held } => Err(AppError::TooManyReadReceipts(format!(
                "this user holds {held} notifications marked read one by one, and at most {} are kept; mark read up to an id instead",
                limits::MAX_READ_RECEIPTS
            ))),
        }
    }

    /// Marks everything up to `up_to` read; a watermark never moves back.
    pub async fn mark_read_up_to(&self, tenant: &TenantId, user: &UserId, up_to: Seq) -> AppResult<()> {
        Ok(self.inner.store.mark_read_up_to(tenant, user, up_to).await?)
    }

    /// Which of `ids` the user has read.
    pub async fn read_among(&self, tenant: &TenantId, user: &UserId, ids: &[Seq]) -> AppResult<HashSet<Seq>> {
        Ok(self.inner.store.read_among(tenant, user, ids).await?)
    }

    /// Unread notifications on `patterns` visible to `user`, counted up to
    /// `cap`. The scan is bounded, so a count over a very long backlog
    /// stops early and says so.
    pub async fn unread_count(&self, tenant: &TenantId, patterns: &[ChannelPattern], user: &UserId, cap: u64) -> AppResult<Unread> {
        Ok(self.inner.store.unread_count(tenant, patterns, user, cap).await?)
    }

    /// The tenant's newest committed id (0 before the first publish): a
    /// poll "from now" starts after it.
    pub async fn head(&self, tenant: &TenantId) -> AppResult<Seq> {
        Ok(self.inner.store.head(tenant).await?)
    }

    /// Notifications after `after` on channels the patterns match, visible to
    /// `user` (or to everyone when `user` is `None`), oldest first.
    pub async fn replay(
        &self,
        tenant: &TenantId,
        patterns: &[ChannelPattern],
        user: Option<&UserId>,
        after: Seq,
        limit: u64,
    ) -> AppResult<ReplayPage> {
        Ok(self.inner.store.replay(tenant, patterns, user, after, limit).await?)
    }

    pub async fn allowed_origins(&self, id: &TenantId) -> AppResult<Vec<String>> {
        Ok(self.inner.store.allowed_origins(id).await?)
    }

    /// Replaces the tenant's allowed browser origins; this node's CORS
    /// cache learns them at once.
    pub async fn set_allowed_origins(&self, id: &TenantId, origins: &[String]) -> AppResult<()> {
        self.inner.store.set_allowed_origins(id, origins).await?;
        self.inner.origins.changed(id);
        Ok(())
    }

    /// Whether the tenant allows `origin` (cached per node).
    pub async fn origin_allowed(&self, tenant: &TenantId, origin: &str) -> AppResult<bool> {
        Ok(self.inner.origins.allows(tenant, origin).await?)
    }

    /// Whether the tenant allows a cross-origin request from `origin`. A
    /// refusal by a tenant that exists is counted and logged (rate-limited):
    /// the browser does not say why, so Herald must.
    pub async fn cross_origin_allowed(&self, tenant: &TenantId, origin: &str, preflight: bool) -> AppResult<bool> {
        let origins = &self.inner.origins;
        Ok(match origins.check(tenant, origin).await? {
            OriginCheck::Allowed => true,
            OriginCheck::UnknownTenant => false,
            OriginCheck::Refused => {
                crate::events::OriginRefused { tenant, origin, preflight }.emit(origins.refusals());
                false
            }
        })
    }

    /// The tenant's cross-origin refusals on this node since it started.
    pub async fn origin_refusals(&self, tenant: &TenantId) -> AppResult<TenantRefusals> {
        // 404 for a tenant that does not exist, as for its list.
        self.inner.store.get_tenant(tenant).await?;
        Ok(self.inner.origins.refusals().of(tenant))
    }
}
