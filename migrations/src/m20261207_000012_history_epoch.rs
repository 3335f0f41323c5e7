//! `tenants.history_epoch`: bumped whenever a channel and its history are
//! deleted. A node's in-memory recent history (the hub's) may still hold
//! that channel's notifications; a stream resuming from memory checks the
//! epoch it read from the database against the one the memory was built
//! under, so no node replays a deleted channel, whichever node deleted it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    HistoryEpoch,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Tenants::Table).add_column(big_integer(Tenants::HistoryEpoch).default(0)).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::HistoryEpoch).to_owned()).await?;
        Ok(())
    }
}
