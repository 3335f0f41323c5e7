//! Per-tenant quotas set by the operator (`tenant_quotas`, one row per
//! tenant that has any; a missing row or a null column means unlimited),
//! and an index that lets the email worker and the stats count a tenant's
//! recent delivery log entries without scanning everyone's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantQuotas {
    Table,
    TenantId,
    PublishesPerSecond,
    MaxConnections,
    MaxStoredNotifications,
    EmailsPerDay,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    TenantId,
    CreatedAt,
}

const DELIVERIES_INDEX: &str = "ix_deliveries_tenant_created_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TenantQuotas::Table)
                .if_not_exists()
                .col(string_len(TenantQuotas::TenantId, 64).primary_key())
                .col(big_integer_null(TenantQuotas::PublishesPerSecond))
                .col(big_integer_null(TenantQuotas::MaxConnections))
                .col(big_integer_null(TenantQuotas::MaxStoredNotifications))
                .col(big_integer_null(TenantQuotas::EmailsPerDay))
                .col(big_integer(TenantQuotas::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // The emails-per-day quota counts a tenant's emails sent in the last
        // 24 hours before every batch it sends.
        m.create_index(
            Index::create()
                .name(DELIVERIES_INDEX)
                .table(Deliveries::Table)
                .col(Deliveries::TenantId)
                .col(Deliveries::CreatedAt)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(DELIVERIES_INDEX).table(Deliveries::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(TenantQuotas::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
