use sea_orm::entity::prelude::*;

/// A tenant's Mercure hub settings; `jwt_secret` (sealed) for HS256,
/// `jwt_public_key` (PEM) for the other algorithms.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_mercure_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub jwt_alg: String,
    pub jwt_secret: Option<String>,
    pub jwt_public_key: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub anonymous: bool,
    /// A JSON array of origins.
    pub cors_origins: String,
    pub compat_0x: bool,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
