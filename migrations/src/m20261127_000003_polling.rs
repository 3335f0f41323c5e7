//! Subscribers without a stream: per-user read state (a watermark and the
//! ids read above it) for polling inboxes and unread badges, and each
//! tenant's allowed browser origins (CORS).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    AllowedOrigins,
}

#[derive(DeriveIden)]
enum ReadMarks {
    Table,
    TenantId,
    UserId,
    UpTo,
}

#[derive(DeriveIden)]
enum ReadReceipts {
    Table,
    TenantId,
    UserId,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // JSON array of origins, e.g. `["https://app.example.com"]`.
        m.alter_table(Table::alter().table(Tenants::Table).add_column(text(Tenants::AllowedOrigins).default("[]")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(ReadMarks::Table)
                .if_not_exists()
                .col(string_len(ReadMarks::TenantId, 64))
                .col(string_len(ReadMarks::UserId, 128))
                .col(big_integer(ReadMarks::UpTo))
                .primary_key(Index::create().col(ReadMarks::TenantId).col(ReadMarks::UserId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReadReceipts::Table)
                .if_not_exists()
                .col(string_len(ReadReceipts::TenantId, 64))
                .col(string_len(ReadReceipts::UserId, 128))
                .col(big_integer(ReadReceipts::Seq))
                .primary_key(Index::create().col(ReadReceipts::TenantId).col(ReadReceipts::UserId).col(ReadReceipts::Seq))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReadReceipts::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(ReadMarks::Table).if_exists().to_owned()).await?;
        m.alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::AllowedOrigins).to_owned()).await?;
        Ok(())
    }
}
