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
        self.write_autocommit(|db| async move {
            if operator_key::Entity::find().count(db).await? > 0 {
                return Ok(None);
            }
            let secret = secret::generate(secret::OPERATOR_KEY_PREFIX);
            operator_key::ActiveModel {
                id: Set(OperatorKeyId::generate().to_string()),
                name: Set("bootstrap".into()),
                secret_hash: Set(secret::hash(&secret)),
                created_at: Set(now_micros()),
            }
            .insert(db)
            .await?;
            Ok(Some(secret))
        })
        .await
    }

    /// Is this a stored operator key?
    pub async fn is_operator_key(&self, presented: &str) -> Result<bool, StoreError> {
        let n = operator_key::Entity::find().filter(operator_key::Column::SecretHash.eq(secret::hash(presented))).count(&self.db).await?;
        Ok(n > 0)
    }
}
