//! `tenant_mercure_settings`: a tenant's Mercure hub (issue 21). One row
//! per tenant that has set one up: the key its tokens are verified with
//! (an HS256 secret, sealed at rest like signing secrets, or a public key
//! in PEM), the trusted issuer and the hub's audience, whether anonymous
//! subscribers are served, the CORS origins (a JSON array) and whether
//! Mercure 0.x clients are accepted.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantMercureSettings {
    Table,
    TenantId,
    JwtAlg,
    JwtSecret,
    JwtPublicKey,
    Issuer,
    Audience,
    Anonymous,
    CorsOrigins,
    #[sea_orm(iden = "compat_0x")]
    Compat0x,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TenantMercureSettings::Table)
                .if_not_exists()
                .col(string_len(TenantMercureSettings::TenantId, 64).primary_key())
                .col(string_len(TenantMercureSettings::JwtAlg, 16))
                .col(text_null(TenantMercureSettings::JwtSecret))
                .col(text_null(TenantMercureSettings::JwtPublicKey))
                .col(string_len(TenantMercureSettings::Issuer, 256))
                .col(string_len(TenantMercureSettings::Audience, 256))
                .col(boolean(TenantMercureSettings::Anonymous))
                .col(text(TenantMercureSettings::CorsOrigins))
                .col(boolean(TenantMercureSettings::Compat0x))
                .col(big_integer(TenantMercureSettings::UpdatedAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(TenantMercureSettings::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
