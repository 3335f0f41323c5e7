use sea_orm::entity::prelude::*;

/// A tenant's quotas; a null column is unlimited (the plugin quotas: the server's default).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_quotas")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub publishes_per_second: Option<i64>,
    pub max_connections: Option<i64>,
    pub max_stored_notifications: Option<i64>,
    pub emails_per_day: Option<i64>,
    pub max_plugins: Option<i64>,
    pub max_plugin_versions: Option<i64>,
    pub max_plugin_bytes: Option<i64>,
    pub plugin_uploads_per_minute: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
