//! Idempotent admin creates: the outcome of each `POST` sent with an
//! `Idempotency-Key`, so that a retry gets the first answer instead of
//! creating a second tenant, channel or key.
//!
//! Rows are found by a hash of the caller's credential and the key, and the
//! stored answer is encrypted under a key derived from both: the database
//! alone cannot read the secrets a create answers with (new API keys).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotentRequests {
    Table,
    Id,
    RequestHash,
    Status,
    Response,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(IdempotentRequests::Table)
                .if_not_exists()
                .col(string_len(IdempotentRequests::Id, 64).primary_key())
                .col(string_len(IdempotentRequests::RequestHash, 64))
                // NULL while the first request is still running.
                .col(small_integer_null(IdempotentRequests::Status))
                // base64 of nonce ‖ ChaCha20-Poly1305 ciphertext.
                .col(text_null(IdempotentRequests::Response))
                .col(big_integer(IdempotentRequests::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_idempotent_requests_created")
                .table(IdempotentRequests::Table)
                .col(IdempotentRequests::CreatedAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(IdempotentRequests::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
