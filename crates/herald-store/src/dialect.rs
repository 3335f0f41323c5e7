//! The SQL that differs between SQLite and PostgreSQL, chosen in one place.
//!
//! Most queries are built by sea-orm, which speaks both. The hand-written
//! ones (the publish hot path in `bulk.rs`, the email outbox) are written
//! twice, as one [`Sql`] pair: PostgreSQL's `$n` placeholders and JSON
//! functions beside SQLite's `?n` and `json_each`. Both texts are constants,
//! so they stay in each connection's prepared-statement cache; rewriting
//! one into the other at run time would allocate per call and would hide
//! the JSON functions, which differ anyway.

use sea_orm::{DbBackend, Statement, Value};

use crate::DbKind;

/// The SQL dialect of a store's database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dialect(DbKind);

/// One hand-written statement, in each dialect.
#[derive(Debug)]
pub(crate) struct Sql {
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

impl Dialect {
    pub(crate) const fn of(kind: DbKind) -> Self {
        Self(kind)
    }

    pub(crate) const fn backend(self) -> DbBackend {
        self.0.backend()
    }

    /// The text of `sql` in this dialect.
    pub(crate) const fn text(self, sql: &Sql) -> &'static str {
        match self.0 {
            DbKind::Postgres => sql.postgres,
            DbKind::Sqlite => sql.sqlite,
        }
    }

    /// `sql` in this dialect, with its parameters.
    pub(crate) fn statement<I: IntoIterator<Item = Value>>(self, sql: &Sql, values: I) -> Statement {
        Statement::from_sql_and_values(self.backend(), self.text(sql), values)
    }

    /// Whether `SELECT … FOR UPDATE` exists. SQLite has no row locks; there
    /// the store's write mutex serialises writers instead.
    pub(crate) const fn has_row_locks(self) -> bool {
        self.0.is_postgres()
    }
}

/// A list as the one JSON array parameter a statement unpacks
/// (`json_each`, `jsonb_array_elements_text`): the statement text stays the
/// same whatever the list's length.
pub(crate) fn json_list(items: &[&str]) -> String {
    serde_json::to_string(items).expect("strings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIR: Sql = Sql { postgres: "SELECT $1", sqlite: "SELECT ?1" };

    #[test]
    fn each_kind_gets_its_own_text_and_backend() {
        let pg = Dialect::of(DbKind::Postgres);
        let lite = Dialect::of(DbKind::Sqlite);
        assert_eq!((pg.text(&PAIR), lite.text(&PAIR)), ("SELECT $1", "SELECT ?1"));
        assert_eq!((pg.backend(), lite.backend()), (DbBackend::Postgres, DbBackend::Sqlite));
        assert_eq!(lite.statement(&PAIR, [1i64.into()]).sql, "SELECT ?1");
        assert!(pg.has_row_locks() && !lite.has_row_locks());
        assert_eq!(json_list(&["a", "b\""]), r#"["a","b\""]"#);
    }
}
