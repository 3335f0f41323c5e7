//! Timing of every SQL statement the store runs, handed to an observer
//! (the server's metrics) without this crate knowing how it is exported.
//!
//! sea-orm times each statement itself, inside and outside transactions;
//! the observer gets the statement's kind, never its text or parameters,
//! which can hold tenant data.

use std::time::Duration;

use crate::Store;

/// What kind of statement ran: a bounded set, fit for a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Select,
    Insert,
    Update,
    Delete,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints.
    Transaction,
    Other,
}

impl Operation {
    /// The kind of `sql`, from its first keyword.
    pub fn of(sql: &str) -> Self {
        let word = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
        let is = |k: &str| word.eq_ignore_ascii_case(k);
        if is("select") || is("with") {
            Self::Select
        } else if is("insert") {
            Self::Insert
        } else if is("update") {
            Self::Update
        } else if is("delete") {
            Self::Delete
        } else if is("begin") || is("commit") || is("rollback") || is("savepoint") || is("release") || is("start") {
            Self::Transaction
        } else {
            Self::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Select => "select",
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Transaction => "transaction",
            Self::Other => "other",
        }
    }
}

/// One statement's timing.
#[derive(Clone, Copy, Debug)]
pub struct QueryObservation {
    pub operation: Operation,
    pub elapsed: Duration,
    pub failed: bool,
}

impl Store {
    /// Tells `observe` about every statement from now on. Call before the
    /// store is cloned: clones made earlier keep the connection they had.
    pub fn with_query_observer(mut self, observe: impl Fn(&QueryObservation) + Send + Sync + 'static) -> Self {
        self.db.set_metric_callback(move |info| {
            observe(&QueryObservation { operation: Operation::of(&info.statement.sql), elapsed: info.elapsed, failed: info.failed })
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::Operation;

    #[test]
    fn statements_are_classified_by_their_first_keyword() {
        assert_eq!(Operation::of("  SELECT \"id\" FROM t"), Operation::Select);
        assert_eq!(Operation::of("with x as (select 1) select * from x"), Operation::Select);
        assert_eq!(Operation::of("INSERT INTO t VALUES ($1)"), Operation::Insert);
        assert_eq!(Operation::of("update t set a = 1"), Operation::Update);
        assert_eq!(Operation::of("DELETE FROM t"), Operation::Delete);
        assert_eq!(Operation::of("BEGIN IMMEDIATE"), Operation::Transaction);
        assert_eq!(Operation::of("COMMIT"), Operation::Transaction);
        assert_eq!(Operation::of("PRAGMA foreign_keys = ON"), Operation::Other);
        assert_eq!(Operation::of(""), Operation::Other);
    }
}
