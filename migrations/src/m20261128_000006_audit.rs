//! The audit log: one row per successful admin change (who, what, which
//! tenant, when, from where).
//!
//! `tenant_id` is deliberately not a foreign key and deleting a tenant
//! leaves its rows: the operator must still be able to see who changed,
//! and who deleted, a tenant that is gone. Request bodies are never stored;
//! they carry secrets.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    /// `aud_…`, time-ordered: lists page by id, newest first.
    Id,
    /// NULL when the change concerns no one tenant (or the tenant's id was
    /// not known, e.g. a failed lookup).
    TenantId,
    /// `operator` or `api_key`.
    ActorKind,
    /// The API key's id; NULL for the operator.
    ActorKeyId,
    /// The route's name, e.g. `create_channel`.
    Action,
    Method,
    /// The request path, without the query string (it can carry tokens).
    Path,
    Status,
    /// The TCP peer's IP address.
    RemoteAddr,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .if_not_exists()
                .col(string_len(AuditEvents::Id, 64).primary_key())
                .col(string_len_null(AuditEvents::TenantId, 64))
                .col(string_len(AuditEvents::ActorKind, 16))
                .col(string_len_null(AuditEvents::ActorKeyId, 64))
                .col(string_len(AuditEvents::Action, 64))
                .col(string_len(AuditEvents::Method, 16))
                .col(text(AuditEvents::Path))
                .col(integer(AuditEvents::Status))
                .col(string_len_null(AuditEvents::RemoteAddr, 64))
                .col(big_integer(AuditEvents::CreatedAt))
                .to_owned(),
        )
        .await?;
        // Listing by tenant pages by id within the tenant; the operator's
        // list pages by the primary key. `since`/`until` bound `created_at`.
        for (name, cols) in [
            ("ix_audit_events_tenant_id", vec![AuditEvents::TenantId, AuditEvents::Id]),
            ("ix_audit_events_tenant_created_at", vec![AuditEvents::TenantId, AuditEvents::CreatedAt]),
            ("ix_audit_events_created_at", vec![AuditEvents::CreatedAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditEvents::Table).if_not_exists();
            for c in cols {
                index.col(c);
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditEvents::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
