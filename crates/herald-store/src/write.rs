//! The only way to write: [`Store::write`] (a transaction) and
//! [`Store::write_autocommit`] (statements that commit one by one). Both
//! take the SQLite write mutex first; it lives in this module, so no call
//! site can write without it or take it by hand.
//!
//! Why the mutex: SQLite allows one writer at a time, and a deferred
//! transaction that upgrades to a write fails with `SQLITE_BUSY` instead of
//! waiting. Serialising this process's writers avoids both. PostgreSQL
//! needs none (its row locks order writers), so there the mutex is absent.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use sea_orm::prelude::async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::{DbKind, Store, StoreError};

/// The process-wide write mutex: present on SQLite, absent on PostgreSQL.
/// Cheap to clone; clones share the mutex.
#[derive(Clone, Debug)]
pub(crate) struct WriteLock(Option<Arc<Mutex<()>>>);

impl WriteLock {
    pub(crate) fn for_kind(kind: DbKind) -> Self {
        Self(kind.is_sqlite().then(|| Arc::new(Mutex::new(()))))
    }

    async fn acquire(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.0 {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }
}

/// The future a [`Store::write`] body returns.
pub(crate) type WriteFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// A transaction opened by [`Store::write`], under the write mutex. It
/// cannot be committed or rolled back by hand: `write` does that.
///
/// The lifetime `'a` is the borrows the body may capture: taking
/// `&'c WriteTxn<'a>` tells the compiler that `'a` outlives the
/// transaction, so a body can use its caller's references instead of
/// cloning them into `'static` values.
pub(crate) struct WriteTxn<'a> {
    txn: DatabaseTransaction,
    _borrows: PhantomData<&'a ()>,
}

impl std::fmt::Debug for WriteTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTxn")
    }
}

#[async_trait]
impl ConnectionTrait for WriteTxn<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.txn.is_mock_connection()
    }
}

impl Store {
    /// Runs `body` in a transaction under the write mutex: takes the
    /// mutex, begins, runs, then commits, or rolls back when `body` fails.
    /// The mutex is released after the commit or rollback.
    pub(crate) async fn write<'a, T>(&'a self, body: impl for<'c> FnOnce(&'c WriteTxn<'a>) -> WriteFuture<'c, T>) -> Result<T, StoreError> {
        let _guard = self.write_lock.acquire().await;
        let txn = WriteTxn { txn: self.db.begin().await?, _borrows: PhantomData };
        match body(&txn).await {
            Ok(value) => {
                txn.txn.commit().await?;
                Ok(value)
            }
            Err(e) => {
                if let Err(rollback) = txn.txn.rollback().await {
                    tracing::warn!(error = %rollback, "rolling back a failed write failed");
                }
                Err(e)
            }
        }
    }

    /// Runs `body` under the write mutex, without a transaction: each of
    /// its statements commits on its own. For single statements, and for
    /// the few writes whose steps need not be atomic (batched deletes
    /// commit batch by batch, so no lock is held for long).
    pub(crate) async fn write_autocommit<'a, T, F>(&'a self, body: impl FnOnce(&'a DatabaseConnection) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let _guard = self.write_lock.acquire().await;
        body(&self.db).await
    }
}

#[cfg(test)]
mod tests {
    use herald_core::ids::TenantId;
    use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};

    use super::*;
    use crate::entity::tenant;
    use crate::test_db::{TestDb, on_each_backend};

    fn row(name: &str) -> tenant::ActiveModel {
        tenant::ActiveModel {
            id: Set(TenantId::generate().to_string()),
            name: Set(name.to_owned()),
            last_seq: Set(0),
            allowed_origins: Set("[]".to_owned()),
            created_at: Set(0),
            suspended: Set(false),
            history_epoch: Set(0),
        }
    }

    async fn a_failed_body_rolls_back_and_a_good_one_commits(kind: DbKind) {
        let db = TestDb::new(kind).await;
        let store = &db.store;
        let failed = store
            .write(|txn| {
                Box::pin(async move {
                    row("gone").insert(txn).await?;
                    Err::<(), _>(StoreError::Conflict("stop".into()))
                })
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))), "expected the body's error, got {failed:?}");
        let n = tenant::Entity::find().count(&store.db).await.unwrap();
        assert_eq!(n, 0, "expected the failed write's insert rolled back, got {n} rows");

        store
            .write(|txn| {
                Box::pin(async move {
                    row("kept").insert(txn).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        let n = tenant::Entity::find().count(&store.db).await.unwrap();
        assert_eq!(n, 1, "expected the committed insert, got {n} rows");
    }

    on_each_backend!(a_failed_body_rolls_back_and_a_good_one_commits);

    #[test]
    fn only_sqlite_has_a_write_mutex() {
        assert!(WriteLock::for_kind(DbKind::Sqlite).0.is_some());
        assert!(WriteLock::for_kind(DbKind::Postgres).0.is_none());
    }
}
