//! Per-tenant plugin quotas: how many plugins, how many versions of each,
//! how many bytes of components in all, and uploads per minute. A null
//! column means the server's default, not unlimited: every tenant's
//! plugins are bounded (see docs/quotas-and-stats.md).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum TenantQuotas {
    Table,
    MaxPlugins,
    MaxPluginVersions,
    MaxPluginBytes,
    PluginUploadsPerMinute,
}

const COLUMNS: [TenantQuotas; 4] =
    [TenantQuotas::MaxPlugins, TenantQuotas::MaxPluginVersions, TenantQuotas::MaxPluginBytes, TenantQuotas::PluginUploadsPerMinute];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in COLUMNS {
            m.alter_table(Table::alter().table(TenantQuotas::Table).add_column(big_integer_null(column)).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            m.alter_table(Table::alter().table(TenantQuotas::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
