//! Databases for the store's own tests: a SQLite file in a temporary
//! directory, or a PostgreSQL database created for one test on the server
//! at `HERALD_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and dropped after it. A test that needs PostgreSQL fails without it;
//! none is skipped.

use sea_orm::ConnectionTrait;
use sea_orm::prelude::Uuid;

use crate::{DbKind, Store};

/// A migrated store on its own database, removed when this is dropped.
pub(crate) struct TestDb {
    pub store: Store,
    _dir: tempfile::TempDir,
    pg_name: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("HERALD_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

impl TestDb {
    pub(crate) async fn new(kind: DbKind) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg_name) = match kind {
            DbKind::Sqlite => (format!("sqlite://{}", dir.path().join("t.db").display()), None),
            DbKind::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("herald_store_test_{}", Uuid::now_v7().simple());
                let conn = sea_orm::Database::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL tests need a server at {admin} (set HERALD_TEST_POSTGRES): {e}"));
                conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
                conn.close().await.unwrap();
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
                (format!("{base}/{name}"), Some(name))
            }
        };
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.kind(), kind);
        store.migrate().await.unwrap();
        TestDb { store, _dir: dir, pg_name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop may run inside the test's runtime, which must not block:
        // a thread with a runtime of its own drops the database.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(conn) = sea_orm::Database::connect(postgres_admin_url()).await {
                    let _ = conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Runs each `async fn name(kind: DbKind)` of the enclosing module as two
/// tests, `sqlite::name` and `postgres::name`.
macro_rules! on_each_backend {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::DbKind::Sqlite).await
            })+
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::DbKind::Postgres).await
            })+
        }
    };
}
pub(crate) use on_each_backend;
