//! A tenant's allowed browser origins: the web apps whose pages may call
//! the subscriber endpoints across origins (CORS).

use herald_core::ids::TenantId;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::entity::tenant;
use crate::{Store, StoreError};

impl Store {
    pub async fn allowed_origins(&self, id: &TenantId) -> Result<Vec<String>, StoreError> {
        let json: Option<String> =
            tenant::Entity::find_by_id(id.as_str()).select_only().column(tenant::Column::AllowedOrigins).into_tuple().one(&self.db).await?;
        let json = json.ok_or(StoreError::NotFound("tenant"))?;
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("tenant {id} allowed_origins: {e}")))
    }

    /// Replaces the list; the caller has validated each origin.
    pub async fn set_allowed_origins(&self, id: &TenantId, origins: &[String]) -> Result<(), StoreError> {
        let json = serde_json::to_string(origins).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let res = self
            .write_autocommit(|db| async move {
                let res = tenant::Entity::update_many()
                    .col_expr(tenant::Column::AllowedOrigins, sea_orm::sea_query::Expr::value(json))
                    .filter(tenant::Column::Id.eq(id.as_str()))
                    .exec(db)
                    .await?;
                Ok(res)
            })
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(())
    }
}
