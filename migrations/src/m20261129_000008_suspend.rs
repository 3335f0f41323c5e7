//! Suspended tenants: `tenants.suspended`, set by the operator. A suspended
//! tenant keeps its data and its admin API, but publishes, new streams and
//! polls are refused and open streams are closed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Suspended,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // A default, so existing tenants stay active and the column is never NULL.
        m.alter_table(Table::alter().table(Tenants::Table).add_column(boolean(Tenants::Suspended).default(false)).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::Suspended).to_owned()).await?;
        Ok(())
    }
}
