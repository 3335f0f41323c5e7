//! The first schema: operator keys, tenants, tenant API keys, subscriber
//! signing keys, channels, notifications and idempotency records.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OperatorKeys {
    Table,
    Id,
    Name,
    SecretHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    LastSeq,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    Name,
    SecretHash,
    Scopes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Id,
    TenantId,
    Alg,
    Secret,
    PublicKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Channels {
    Table,
    Id,
    TenantId,
    Name,
    MaxCount,
    MaxAgeSeconds,
    PrunedSeq,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    TenantId,
    Seq,
    Channel,
    EventType,
    Data,
    Recipients,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    TenantId,
    Key,
    Seq,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OperatorKeys::Table)
                .if_not_exists()
                .col(string_len(OperatorKeys::Id, 64).primary_key())
                .col(string_len(OperatorKeys::Name, 64))
                .col(string_len_uniq(OperatorKeys::SecretHash, 64))
                .col(big_integer(OperatorKeys::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Tenants::Table)
                .if_not_exists()
                .col(string_len(Tenants::Id, 64).primary_key())
                .col(string_len_uniq(Tenants::Name, 64))
                // The tenant's log position: bumped inside each publishing
                // transaction, which serialises commits per tenant.
                .col(big_integer(Tenants::LastSeq).default(0))
                .col(big_integer(Tenants::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiKeys::Table)
                .if_not_exists()
                .col(string_len(ApiKeys::Id, 64).primary_key())
                .col(string_len(ApiKeys::TenantId, 64))
                .col(string_len(ApiKeys::Name, 64))
                .col(string_len_uniq(ApiKeys::SecretHash, 64))
                .col(string_len(ApiKeys::Scopes, 64))
                .col(big_integer(ApiKeys::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_api_keys_tenant").table(ApiKeys::Table).col(ApiKeys::TenantId).if_not_exists().to_owned())
            .await?;

        m.create_table(
            Table::create()
                .table(SigningKeys::Table)
                .if_not_exists()
                .col(string_len(SigningKeys::Id, 64).primary_key())
                .col(string_len(SigningKeys::TenantId, 64))
                .col(string_len(SigningKeys::Alg, 16))
                .col(text_null(SigningKeys::Secret))
                .col(text_null(SigningKeys::PublicKey))
                .col(big_integer(SigningKeys::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_signing_keys_tenant").table(SigningKeys::Table).col(SigningKeys::TenantId).if_not_exists().to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Channels::Table)
                .if_not_exists()
                .col(string_len(Channels::Id, 64).primary_key())
                .col(string_len(Channels::TenantId, 64))
                .col(string_len(Channels::Name, 128))
                .col(big_integer_null(Channels::MaxCount))
                .col(big_integer_null(Channels::MaxAgeSeconds))
                // Highest seq retention has removed from this channel; a
                // resume from below it is told history was truncated.
                .col(big_integer(Channels::PrunedSeq).default(0))
                .col(big_integer(Channels::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_channels_tenant_name")
                .table(Channels::Table)
                .col(Channels::TenantId)
                .col(Channels::Name)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Notifications::Table)
                .if_not_exists()
                .col(big_pk_auto(Notifications::Id))
                .col(string_len(Notifications::TenantId, 64))
                .col(big_integer(Notifications::Seq))
                .col(string_len(Notifications::Channel, 128))
                .col(string_len(Notifications::EventType, 64))
                .col(text(Notifications::Data))
                .col(text_null(Notifications::Recipients))
                .col(big_integer(Notifications::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_notifications_tenant_seq")
                .table(Notifications::Table)
                .col(Notifications::TenantId)
                .col(Notifications::Seq)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_notifications_tenant_channel_seq")
                .table(Notifications::Table)
                .col(Notifications::TenantId)
                .col(Notifications::Channel)
                .col(Notifications::Seq)
                .if_not_exists()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(IdempotencyKeys::Table)
                .if_not_exists()
                .col(string_len(IdempotencyKeys::TenantId, 64))
                .col(string_len(IdempotencyKeys::Key, 128))
                .col(big_integer(IdempotencyKeys::Seq))
                .col(big_integer(IdempotencyKeys::CreatedAt))
                .primary_key(Index::create().col(IdempotencyKeys::TenantId).col(IdempotencyKeys::Key))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_idempotency_keys_created")
                .table(IdempotencyKeys::Table)
                .col(IdempotencyKeys::CreatedAt)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            IdempotencyKeys::Table.into_iden(),
            Notifications::Table.into_iden(),
            Channels::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Tenants::Table.into_iden(),
            OperatorKeys::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
