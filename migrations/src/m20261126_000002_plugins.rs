//! Plugins: uploaded WebAssembly components per tenant (every version kept),
//! each channel's plugin chain and failure policy, and the dead-letter list
//! of notifications a chain dropped or kept out of delivery.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Plugins {
    Table,
    Id,
    TenantId,
    Name,
    Version,
    Sha256,
    Size,
    HookPublish,
    HookDeliver,
    Wasm,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Channels {
    Table,
    Plugins,
    FailurePolicy,
}

#[derive(DeriveIden)]
enum DeadLetters {
    Table,
    Id,
    TenantId,
    Channel,
    Plugin,
    Hook,
    Outcome,
    Reason,
    Notification,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Plugins::Table)
                .if_not_exists()
                .col(string_len(Plugins::Id, 64).primary_key())
                .col(string_len(Plugins::TenantId, 64))
                .col(string_len(Plugins::Name, 64))
                .col(string_len(Plugins::Version, 64))
                .col(string_len(Plugins::Sha256, 64))
                .col(big_integer(Plugins::Size))
                .col(boolean(Plugins::HookPublish))
                .col(boolean(Plugins::HookDeliver))
                .col(blob(Plugins::Wasm))
                .col(big_integer(Plugins::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_plugins_tenant_name_version")
                .table(Plugins::Table)
                .col(Plugins::TenantId)
                .col(Plugins::Name)
                .col(Plugins::Version)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;

        // A chain as JSON text: `[{"plugin": …, "config": …}, …]`.
        m.alter_table(Table::alter().table(Channels::Table).add_column(text(Channels::Plugins).default("[]")).to_owned()).await?;
        m.alter_table(
            Table::alter().table(Channels::Table).add_column(string_len(Channels::FailurePolicy, 16).default("fail-open")).to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DeadLetters::Table)
                .if_not_exists()
                .col(string_len(DeadLetters::Id, 64).primary_key())
                .col(string_len(DeadLetters::TenantId, 64))
                .col(string_len(DeadLetters::Channel, 128))
                .col(string_len(DeadLetters::Plugin, 64))
                .col(string_len(DeadLetters::Hook, 16))
                .col(string_len(DeadLetters::Outcome, 16))
                .col(text(DeadLetters::Reason))
                .col(text(DeadLetters::Notification))
                .col(big_integer(DeadLetters::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_dead_letters_tenant_id")
                .table(DeadLetters::Table)
                .col(DeadLetters::TenantId)
                .col(DeadLetters::Id)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DeadLetters::Table).if_exists().to_owned()).await?;
        m.alter_table(Table::alter().table(Channels::Table).drop_column(Channels::FailurePolicy).to_owned()).await?;
        m.alter_table(Table::alter().table(Channels::Table).drop_column(Channels::Plugins).to_owned()).await?;
        m.drop_table(Table::drop().table(Plugins::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
