//! Recipients: the email address, locale and email preferences a tenant
//! keeps for each of its users, so that direct notifications they do not
//! receive live can reach them by email.

use herald_core::email::{EmailAddress, Locale, Preferences, Recipient};
use herald_core::ids::TenantId;
use herald_core::names::{ChannelName, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::{now_micros, to_datetime};
use crate::entity::{delivery, email_outbox, recipient};
use crate::write::WriteTxn;
use crate::{Store, StoreError};

fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn convert(m: recipient::Model) -> Result<Recipient, StoreError> {
    Ok(Recipient {
        tenant: TenantId::parse(&m.tenant_id).map_err(corrupt("tenant id"))?,
        user: UserId::parse(m.user_id).map_err(corrupt("user id"))?,
        email: EmailAddress::parse(m.email).map_err(corrupt("email"))?,
        locale: m.locale.map(Locale::parse).transpose().map_err(corrupt("locale"))?,
        preferences: serde_json::from_str(&m.preferences).map_err(corrupt("preferences"))?,
        created_at: to_datetime(m.created_at),
        updated_at: to_datetime(m.updated_at),
    })
}

fn preferences_text(p: &Preferences) -> Result<String, StoreError> {
    serde_json::to_string(p).map_err(|e| StoreError::Corrupt(format!("preferences: {e}")))
}

/// What a `PUT` of a recipient sets.
#[derive(Debug)]
pub struct RecipientUpdate<'a> {
    pub email: &'a EmailAddress,
    pub locale: Option<&'a Locale>,
    /// `None` keeps the stored preferences (the defaults for a new
    /// recipient), so that syncing addresses never undoes an unsubscribe.
    pub preferences: Option<&'a Preferences>,
}

impl Store {
    /// Creates or replaces a recipient. Returns it and whether it is new.
    pub async fn put_recipient(
        &self,
        tenant: &TenantId,
        user: &UserId,
        update: RecipientUpdate<'_>,
    ) -> Result<(Recipient, bool), StoreError> {
        let now = now_micros();
        let (row, created) = self
            .write(|txn| {
                Box::pin(async move {
                    let existing = recipient::Entity::find_by_id((tenant.to_string(), user.to_string())).one(txn).await?;
                    let created = existing.is_none();
                    let row = match existing {
                        Some(row) => {
                            let mut am: recipient::ActiveModel = row.into();
                            am.email = Set(update.email.to_string());
                            am.locale = Set(update.locale.map(ToString::to_string));
                            if let Some(p) = update.preferences {
                                am.preferences = Set(preferences_text(p)?);
                            }
                            am.updated_at = Set(now);
                            am.update(txn).await?
                        }
                        None => recipient::ActiveModel {
                            tenant_id: Set(tenant.to_string()),
                            user_id: Set(user.to_string()),
                            email: Set(update.email.to_string()),
                            locale: Set(update.locale.map(ToString::to_string)),
                            preferences: Set(preferences_text(update.preferences.unwrap_or(&Preferences::default()))?),
                            created_at: Set(now),
                            updated_at: Set(now),
                        }
                        .insert(txn)
                        .await
                        .map_err(|e| StoreError::from_db(e, "the recipient was created concurrently; retry"))?,
                    };
                    Ok((row, created))
                })
            })
            .await?;
        Ok((convert(row)?, created))
    }

    pub async fn get_recipient(&self, tenant: &TenantId, user: &UserId) -> Result<Recipient, StoreError> {
        let row = recipient::Entity::find_by_id((tenant.to_string(), user.to_string()))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound("recipient"))?;
        convert(row)
    }

    /// Recipients in user id order, after `after`.
    pub async fn list_recipients(&self, tenant: &TenantId, after: Option<&UserId>, limit: u64) -> Result<Vec<Recipient>, StoreError> {
        let mut q = recipient::Entity::find()
            .filter(recipient::Column::TenantId.eq(tenant.as_str()))
            .order_by_asc(recipient::Column::UserId)
            .limit(limit);
        if let Some(after) = after {
            q = q.filter(recipient::Column::UserId.gt(after.as_str()));
        }
        q.all(&self.db).await?.into_iter().map(convert).collect()
    }

    /// Deletes a recipient. Emails already in the outbox for them are
    /// cancelled when they come due.
    pub async fn delete_recipient(&self, tenant: &TenantId, user: &UserId) -> Result<(), StoreError> {
        let delete = recipient::Entity::delete_by_id((tenant.to_string(), user.to_string()));
        let res = self.write_autocommit(|db| async move { Ok(delete.exec(db).await?) }).await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("recipient"));
        }
        Ok(())
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
    ) -> Result<Option<Recipient>, StoreError> {
        let mut q = recipient::Entity::find_by_id((tenant.to_string(), user.to_string()));
        if self.dialect().has_row_locks() {
            q = q.lock_exclusive();
        }
        let unsubscribed = self
            .write(|txn| {
                Box::pin(async move {
                    // Not found ends the transaction with a rollback, as
                    // every failed write does; it becomes `None` below.
                    let row = q.one(txn).await?.ok_or(StoreError::NotFound("recipient"))?;
                    let mut r = convert(row)?;
                    if r.preferences.email.unsubscribe(channel) {
                        let now = now_micros();
                        recipient::Entity::update_many()
                            .col_expr(recipient::Column::Preferences, Expr::value(preferences_text(&r.preferences)?))
                            .col_expr(recipient::Column::UpdatedAt, Expr::value(now))
                            .filter(recipient::Column::TenantId.eq(tenant.as_str()))
                            .filter(recipient::Column::UserId.eq(user.as_str()))
                            .exec(txn)
                            .await?;
                        r.updated_at = to_datetime(now);
                    }
                    Ok(r)
                })
            })
            .await;
        match unsubscribed {
            Ok(r) => Ok(Some(r)),
            Err(StoreError::NotFound("recipient")) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Deletes a tenant's recipients, outbox and delivery log; part of
/// deleting the tenant, in its transaction.
pub(crate) async fn delete_tenant_email_data(txn: &WriteTxn<'_>, tenant: &str) -> Result<(), StoreError> {
    recipient::Entity::delete_many().filter(recipient::Column::TenantId.eq(tenant)).exec(txn).await?;
    email_outbox::Entity::delete_many().filter(email_outbox::Column::TenantId.eq(tenant)).exec(txn).await?;
    delivery::Entity::delete_many().filter(delivery::Column::TenantId.eq(tenant)).exec(txn).await?;
    Ok(())
}
