//! Rules subscriber tokens must follow besides signature and expiry: per
//! signing key an optional `issuer` and `audience` (the token's `iss` must
//! equal it, its `aud` include it), and per tenant an optional maximum
//! token lifetime (`tenant_token_rules`; no row or NULL: no maximum).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Issuer,
    Audience,
}

#[derive(DeriveIden)]
enum TenantTokenRules {
    Table,
    TenantId,
    MaxLifetimeSeconds,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        m.alter_table(Table::alter().table(SigningKeys::Table).add_column(string_len_null(SigningKeys::Issuer, 256)).to_owned()).await?;
        m.alter_table(Table::alter().table(SigningKeys::Table).add_column(string_len_null(SigningKeys::Audience, 256)).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(TenantTokenRules::Table)
                .if_not_exists()
                .col(string_len(TenantTokenRules::TenantId, 64).primary_key())
                .col(big_integer_null(TenantTokenRules::MaxLifetimeSeconds))
                .col(big_integer(TenantTokenRules::UpdatedAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(TenantTokenRules::Table).if_exists().to_owned()).await?;
        m.alter_table(Table::alter().table(SigningKeys::Table).drop_column(SigningKeys::Audience).to_owned()).await?;
        m.alter_table(Table::alter().table(SigningKeys::Table).drop_column(SigningKeys::Issuer).to_owned()).await?;
        Ok(())
    }
}
