//! Herald's schema, as sea-orm migrations that run unchanged on SQLite and
//! PostgreSQL. `herald migrate` and `herald serve` apply them at start.
//!
//! Timestamps are stored as Unix microseconds (`BIGINT`) so both backends
//! compare and index them the same way, with no time-zone conversions.

#![forbid(unsafe_code)]

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_init;
mod m20261126_000002_plugins;
mod m20261127_000003_polling;
mod m20261127_000004_email;
mod m20261128_000005_quotas;
mod m20261128_000006_audit;
mod m20261128_000007_idempotent_requests;
mod m20261129_000008_suspend;
mod m20261207_000009_operator_keys;
mod m20261207_000010_token_rules;
mod m20261207_000011_plugin_quotas;
mod m20261207_000012_history_epoch;
mod m20261208_000013_mercure_settings;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_init::Migration),
            Box::new(m20261126_000002_plugins::Migration),
            Box::new(m20261127_000003_polling::Migration),
            Box::new(m20261127_000004_email::Migration),
            Box::new(m20261128_000005_quotas::Migration),
            Box::new(m20261128_000006_audit::Migration),
            Box::new(m20261128_000007_idempotent_requests::Migration),
            Box::new(m20261129_000008_suspend::Migration),
            Box::new(m20261207_000009_operator_keys::Migration),
            Box::new(m20261207_000010_token_rules::Migration),
            Box::new(m20261207_000011_plugin_quotas::Migration),
            Box::new(m20261207_000012_history_epoch::Migration),
            Box::new(m20261208_000013_mercure_settings::Migration),
        ]
    }
}
