//! Recipients of the email fallback, unsubscribes, and the delivery log.

use herald_core::email::{Delivery, Recipient};
use herald_core::ids::{DeliveryId, TenantId};
use herald_core::names::{ChannelName, UserId};
use herald_store::deliveries::DeliveryFilter;
use herald_store::recipients::RecipientUpdate;

use std::str::FromStr;

use crate::App;
use crate::error::AppResult;

impl App {
    /// Deletes a recipient. Emails already in the outbox for them are
    /// cancelled when they come due.
    pub async fn delete_recipient(&self, tenant: &TenantId, user: &UserId) -> AppResult<()> {
        Ok(self.inner.store.delete_recipient(tenant, user).await?)
    }

    pub async fn get_recipient(&self, tenant: &TenantId, user: &UserId) -> AppResult<Recipient> {
        Ok(self.inner.store.get_recipient(tenant, user).await?)
    }

    /// Recipients in user id order, after `after`.
    pub async fn list_recipients(&self, tenant: &TenantId, after: Option<&UserId>, limit: u64) -> AppResult<Vec<Recipient>> {
        Ok(self.inner.store.list_recipients(tenant, after, limit).await?)
    }

    /// Creates or replaces a recipient. Returns it and whether it is new.
    pub async fn put_recipient(&self, tenant: &TenantId, user: &UserId, update: RecipientUpdate<'_>) -> AppResult<(Recipient, bool)> {
        Ok(self.inner.store.put_recipient(tenant, user, update).await?)
    }

    /// Turns email off for one channel (or all, with `None`) for a
    /// recipient, as an unsubscribe link asks. Returns the recipient as it
    /// is now, or `None` when there is no such recipient (nothing to turn
    /// off). Pending emails it rules out are cancelled when they come due.
    pub async fn unsubscribe_recipient(
        &self,
        tenant: &TenantId,
        user: &UserId,
        channel: Option<&ChannelName>,
    ) -> AppResult<Option<Recipient>> {
        Ok(self.inner.store.unsubscribe_recipient(tenant, user, channel).await?)
    }

    /// Log rows oldest first (ids are time-ordered), after `after`.
    pub async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: DeliveryFilter<'_>,
        after: Option<&DeliveryId>,
        limit: u64,
    ) -> AppResult<Vec<Delivery>> {
        Ok(self.inner.store.list_deliveries(tenant, filter, after, limit).await?)
    }
}

/// Parses an address with Herald's rules and then the mailer's own parser,
/// so that an address accepted here can be sent to.
pub fn email_address(raw: String) -> AppResult<herald_core::email::EmailAddress> {
    let address = herald_core::email::EmailAddress::parse(raw)?;
    lettre::Address::from_str(address.as_str())
        .map_err(|e| herald_core::DomainError::invalid("email", format!("`{}` is not a valid address: {e}", address.as_str())))?;
    Ok(address)
}
