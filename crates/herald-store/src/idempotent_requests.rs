//! Idempotent admin creates: claiming an `Idempotency-Key`, then recording
//! the answer that retries with it get. The caller derives the row id and
//! seals the answer; this module only keeps rows.

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::clock::now_micros;
use crate::entity::idempotent_request as row;
use crate::{Store, StoreError};

/// What a claim found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or its first request was abandoned): go ahead, then
    /// [`Store::complete_idempotent_request`] or
    /// [`Store::release_idempotent_request`].
    Started,
    /// A request with this key is still running.
    InProgress { request_hash: String },
    /// A request with this key was answered.
    Completed { request_hash: String, status: u16, response: String },
}

impl Store {
    /// Claims `id` for a request whose method, path and body hash to
    /// `request_hash`. Rows older than `ttl` are forgotten; a claim still
    /// unanswered after `stale_after` (its server died mid-request) is
    /// taken over.
    pub async fn claim_idempotent_request(
        &self,
        id: &str,
        request_hash: &str,
        stale_after: Duration,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        self.write_autocommit(|db| async move {
            let now = now_micros();
            row::Entity::delete_many().filter(row::Column::CreatedAt.lt(now - micros(ttl))).exec(db).await?;
            // A claim found taken may be released (its request failed) before
            // it is read back: then it is free to take, so try again.
            let mut attempts = 0;
            let found = loop {
                attempts += 1;
                let fresh = row::ActiveModel {
                    id: Set(id.to_owned()),
                    request_hash: Set(request_hash.to_owned()),
                    status: Set(None),
                    response: Set(None),
                    created_at: Set(now),
                };
                match row::Entity::insert(fresh).exec(db).await.map_err(|e| StoreError::from_db(e, "taken")) {
                    Ok(_) => return Ok(Claim::Started),
                    Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
                match row::Entity::find_by_id(id).one(db).await? {
                    Some(found) => break found,
                    // Released and claimed again this often: someone else's request is running.
                    None if attempts >= 3 => return Ok(Claim::InProgress { request_hash: request_hash.to_owned() }),
                    None => continue,
                }
            };
            match (found.status, found.response) {
                (Some(status), Some(response)) => {
                    Ok(Claim::Completed { request_hash: found.request_hash, status: u16::try_from(status).unwrap_or(500), response })
                }
                _ if found.created_at < now - micros(stale_after) => {
                    // Conditional on the old timestamp: of two retries racing to
                    // take over, one wins.
                    let res = row::Entity::update_many()
                        .col_expr(row::Column::CreatedAt, Expr::value(now))
                        .col_expr(row::Column::RequestHash, Expr::value(request_hash))
                        .filter(row::Column::Id.eq(id))
                        .filter(row::Column::CreatedAt.eq(found.created_at))
                        .filter(row::Column::Status.is_null())
                        .exec(db)
                        .await?;
                    if res.rows_affected == 1 { Ok(Claim::Started) } else { Ok(Claim::InProgress { request_hash: found.request_hash }) }
                }
                _ => Ok(Claim::InProgress { request_hash: found.request_hash }),
            }
        })
        .await
    }

    /// Records the answer to a claimed request.
    pub async fn complete_idempotent_request(&self, id: &str, status: u16, response: &str) -> Result<(), StoreError> {
        let update = row::Entity::update_many()
            .col_expr(row::Column::Status, Expr::value(i16::try_from(status).unwrap_or(500)))
            .col_expr(row::Column::Response, Expr::value(response))
            .filter(row::Column::Id.eq(id));
        self.write_autocommit(|db| async move { Ok(update.exec(db).await?) }).await?;
        Ok(())
    }

    /// Forgets a claim whose request changed nothing (it failed), so that a
    /// retry runs again.
    pub async fn release_idempotent_request(&self, id: &str) -> Result<(), StoreError> {
        let delete = row::Entity::delete_many().filter(row::Column::Id.eq(id)).filter(row::Column::Status.is_null());
        self.write_autocommit(|db| async move { Ok(delete.exec(db).await?) }).await?;
        Ok(())
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
