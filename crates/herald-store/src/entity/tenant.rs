use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub last_seq: i64,
    /// JSON array of allowed browser origins.
    pub allowed_origins: String,
    pub created_at: i64,
    /// Set by the operator: publishes, new streams and polls are refused.
    pub suspended: bool,
    /// Bumped when a channel and its history are deleted.
    pub history_epoch: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
