//! Operator keys as records that can be listed, revoked and rotated:
//! `operator_keys` gains `last_used_at` and `revoked_at` (both NULL until
//! set). The key created at first start (`bootstrap`) is already a row of
//! this table, hashed like every other, and stays valid.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OperatorKeys {
    Table,
    LastUsedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        m.alter_table(Table::alter().table(OperatorKeys::Table).add_column(big_integer_null(OperatorKeys::LastUsedAt)).to_owned()).await?;
        m.alter_table(Table::alter().table(OperatorKeys::Table).add_column(big_integer_null(OperatorKeys::RevokedAt)).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(OperatorKeys::Table).drop_column(OperatorKeys::RevokedAt).to_owned()).await?;
        m.alter_table(Table::alter().table(OperatorKeys::Table).drop_column(OperatorKeys::LastUsedAt).to_owned()).await?;
        Ok(())
    }
}
