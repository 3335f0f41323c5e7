use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub max_count: Option<i64>,
    pub max_age_seconds: Option<i64>,
    pub pruned_seq: i64,
    pub created_at: i64,
    /// The plugin chain as JSON text.
    pub plugins: String,
    pub failure_policy: String,
    /// The email policy as JSON text; `None`: no email.
    pub email: Option<String>,
    /// Copies of the policy's two delays, for the publish transaction.
    pub email_after_seconds: Option<i64>,
    pub email_digest_seconds: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
