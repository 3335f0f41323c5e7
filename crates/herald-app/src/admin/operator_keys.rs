//! The operator's own keys: create, list, revoke, rotate. A change is
//! seen at once on this node and within the key-cache lifetime on others.

use herald_core::names::KeyName;
use herald_store::operator::OperatorKey;

use crate::App;
use crate::error::AppResult;

impl App {
    /// Creates an operator key; returns it with its secret, which is not kept.
    pub async fn create_operator_key(&self, name: &KeyName) -> AppResult<(OperatorKey, String)> {
        Ok(self.inner.store.create_operator_key(name).await?)
    }

    /// Every operator key, revoked ones included; never their secrets.
    pub async fn list_operator_keys(&self) -> AppResult<Vec<OperatorKey>> {
        Ok(self.inner.store.list_operator_keys().await?)
    }

    /// Revokes an operator key. The last valid one is refused (409) unless
    /// the configuration sets `operator_key`, which still lets the operator in.
    pub async fn revoke_operator_key(&self, id: &str) -> AppResult<OperatorKey> {
        let allow_last = self.inner.operator_key_hash.is_some();
        Ok(self.inner.store.revoke_operator_key(id, allow_last).await?)
    }

    /// Gives an operator key a new secret; the old one stops working.
    pub async fn rotate_operator_key(&self, id: &str) -> AppResult<(OperatorKey, String)> {
        Ok(self.inner.store.rotate_operator_key(id).await?)
    }
}
