//! Email fallback: recipients (address, locale, email preferences), each
//! channel's email policy, the outbox of emails waiting to be sent, the
//! delivery log, and server-wide secrets (the unsubscribe signing key when
//! the configuration sets none).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Channels {
    Table,
    /// The policy as JSON text; NULL: the channel sends no email.
    Email,
    /// Copies of two policy fields, for the publish transaction's query.
    EmailAfterSeconds,
    EmailDigestSeconds,
}

#[derive(DeriveIden)]
enum Recipients {
    Table,
    TenantId,
    UserId,
    Email,
    Locale,
    Preferences,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EmailOutbox {
    Table,
    Id,
    TenantId,
    UserId,
    Channel,
    Seq,
    Status,
    DueAt,
    DigestSeconds,
    SendAt,
    Attempts,
    LeaseUntil,
    LeaseToken,
    LastError,
    DeliveredVia,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    TenantId,
    UserId,
    Seq,
    Channel,
    Path,
    Status,
    Error,
    EmailId,
    Attempt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ServerSecrets {
    Table,
    Name,
    Value,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Channels::Table).add_column(text_null(Channels::Email)).to_owned()).await?;
        m.alter_table(Table::alter().table(Channels::Table).add_column(big_integer_null(Channels::EmailAfterSeconds)).to_owned()).await?;
        m.alter_table(Table::alter().table(Channels::Table).add_column(big_integer_null(Channels::EmailDigestSeconds)).to_owned()).await?;
        // Each node reloads the channels with a policy every few seconds.
        m.create_index(
            Index::create().name("ix_channels_email").table(Channels::Table).col(Channels::EmailAfterSeconds).if_not_exists().to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Recipients::Table)
                .if_not_exists()
                .col(string_len(Recipients::TenantId, 64))
                .col(string_len(Recipients::UserId, 128))
                .col(string_len(Recipients::Email, 254))
                .col(string_len_null(Recipients::Locale, 35))
                // `{"email": {"channels": …, "unsubscribed": […]}}`
                .col(text(Recipients::Preferences))
                .col(big_integer(Recipients::CreatedAt))
                .col(big_integer(Recipients::UpdatedAt))
                .primary_key(Index::create().col(Recipients::TenantId).col(Recipients::UserId))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EmailOutbox::Table)
                .if_not_exists()
                .col(string_len(EmailOutbox::Id, 64).primary_key())
                .col(string_len(EmailOutbox::TenantId, 64))
                .col(string_len(EmailOutbox::UserId, 128))
                .col(string_len(EmailOutbox::Channel, 128))
                .col(big_integer(EmailOutbox::Seq))
                // pending, sent, delivered, failed, cancelled
                .col(string_len(EmailOutbox::Status, 16))
                .col(big_integer(EmailOutbox::DueAt))
                .col(big_integer(EmailOutbox::DigestSeconds))
                .col(big_integer(EmailOutbox::SendAt))
                .col(big_integer(EmailOutbox::Attempts))
                .col(big_integer_null(EmailOutbox::LeaseUntil))
                .col(string_len_null(EmailOutbox::LeaseToken, 64))
                .col(text_null(EmailOutbox::LastError))
                .col(string_len_null(EmailOutbox::DeliveredVia, 16))
                .col(big_integer(EmailOutbox::CreatedAt))
                .col(big_integer(EmailOutbox::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_email_outbox_tenant_seq_user")
                .table(EmailOutbox::Table)
                .col(EmailOutbox::TenantId)
                .col(EmailOutbox::Seq)
                .col(EmailOutbox::UserId)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_email_outbox_status_send_at")
                .table(EmailOutbox::Table)
                .col(EmailOutbox::Status)
                .col(EmailOutbox::SendAt)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_email_outbox_recipient")
                .table(EmailOutbox::Table)
                .col(EmailOutbox::TenantId)
                .col(EmailOutbox::UserId)
                .col(EmailOutbox::Channel)
                .col(EmailOutbox::Status)
                .if_not_exists()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Deliveries::Table)
                .if_not_exists()
                .col(string_len(Deliveries::Id, 64).primary_key())
                .col(string_len(Deliveries::TenantId, 64))
                .col(string_len(Deliveries::UserId, 128))
                .col(big_integer(Deliveries::Seq))
                .col(string_len(Deliveries::Channel, 128))
                // stream, poll, email
                .col(string_len(Deliveries::Path, 16))
                // delivered, sent, deferred, failed, cancelled
                .col(string_len(Deliveries::Status, 16))
                .col(text_null(Deliveries::Error))
                .col(string_len_null(Deliveries::EmailId, 64))
                .col(big_integer_null(Deliveries::Attempt))
                .col(big_integer(Deliveries::CreatedAt))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("ix_deliveries_tenant_id", vec![Deliveries::TenantId, Deliveries::Id]),
            ("ix_deliveries_tenant_user", vec![Deliveries::TenantId, Deliveries::UserId, Deliveries::Id]),
            ("ix_deliveries_tenant_seq", vec![Deliveries::TenantId, Deliveries::Seq, Deliveries::Id]),
            ("ix_deliveries_created_at", vec![Deliveries::CreatedAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Deliveries::Table).if_not_exists();
            for c in cols {
                index.col(c);
            }
            m.create_index(index.to_owned()).await?;
        }

        m.create_table(
            Table::create()
                .table(ServerSecrets::Table)
                .if_not_exists()
                .col(string_len(ServerSecrets::Name, 64).primary_key())
                .col(text(ServerSecrets::Value))
                .col(big_integer(ServerSecrets::CreatedAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ServerSecrets::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Deliveries::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(EmailOutbox::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Recipients::Table).if_exists().to_owned()).await?;
        m.drop_index(Index::drop().name("ix_channels_email").table(Channels::Table).if_exists().to_owned()).await?;
        m.alter_table(Table::alter().table(Channels::Table).drop_column(Channels::EmailDigestSeconds).to_owned()).await?;
        m.alter_table(Table::alter().table(Channels::Table).drop_column(Channels::EmailAfterSeconds).to_owned()).await?;
        m.alter_table(Table::alter().table(Channels::Table).drop_column(Channels::Email).to_owned()).await?;
        Ok(())
    }
}
