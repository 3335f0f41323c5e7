use sea_orm::entity::prelude::*;

/// The outcome of an admin create sent with an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotent_requests")]
pub struct Model {
    /// Hex SHA-256 of the caller's credential and the key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Hex SHA-256 of the method, path and body of the first request.
    pub request_hash: String,
    /// The first answer's status; NULL while it is being made.
    pub status: Option<i16>,
    /// The first answer's body, sealed (see herald-server's idempotency module).
    pub response: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
