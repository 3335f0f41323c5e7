//! Operator keys: the server-wide administrator credential.

use herald_core::ids::OperatorKeyId;
use herald_core::secret;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

use crate::clock::now_micros;
use crate::entity::operator_key;
use crate::{Store, StoreError};

impl Store {
    /// On a database with no operator key, creates one and returns its
    /// secret (to be shown once); otherwise returns `None`.
    pub async fn bootstrap_operator_key(&self) -> Result<Option<String>, StoreError> {
        let _w = self.write_guard().await;
        if operator_key::Entity::find().count(&self.db).await? > 0 {
            return Ok(None);
        }
        let secret = secret::generate(secret::OPERATOR_KEY_PREFIX);
        operator_key::ActiveModel {
            id: Set(OperatorKeyId::generate().to_string()),
            name: Set("bootstrap".into()),
            secret_hash: Set(secret::hash(&secret)),
            created_at: Set(now_micros()),
        }
        .insert(&self.db)
        .await?;
        Ok(Some(secret))
    }

    /// Is this a stored operator key?
    pub async fn is_operator_key(&self, presented: &str) -> Result<bool, StoreError> {
        let n = operator_key::Entity::find().filter(operator_key::Column::SecretHash.eq(secret::hash(presented))).count(&self.db).await?;
        Ok(n > 0)
    }
}
