use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub channel: String,
    pub seq: i64,
    /// `pending`, `sent`, `delivered`, `failed` or `cancelled`.
    pub status: String,
    /// When a live delivery stops mattering: published at + `after_seconds`.
    pub due_at: i64,
    /// The channel's digest window when the row was made.
    pub digest_seconds: i64,
    /// When the next attempt may start.
    pub send_at: i64,
    pub attempts: i64,
    /// A claimed row belongs to the claimer until then.
    pub lease_until: Option<i64>,
    pub lease_token: Option<String>,
    pub last_error: Option<String>,
    /// `stream` or `poll`, for a `delivered` row.
    pub delivered_via: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
