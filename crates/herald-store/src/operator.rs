//! Operator keys: the server-wide administrator credentials.
//!
//! Each is a row with a name, the SHA-256 hash of its secret (the secret
//! itself is shown once and never kept), when it was created and last
//! used, and when it was revoked. A revoked key stays listed but is never
//! accepted again; rotating a key gives the same record a new secret.
//!
//! Lookups are cached for the key-cache lifetime like API keys: a revoke or
//! rotate takes effect at once on the node that made it and within that
//! lifetime on the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::ids::OperatorKeyId;
use herald_core::names::KeyName;
use herald_core::secret;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};

use crate::clock::now_micros;
use crate::entity::operator_key;
use crate::{Store, StoreError};

/// An operator key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorKey {
    pub id: OperatorKeyId,
    pub name: String,
    /// Unix microseconds.
    pub created_at: i64,
    /// Unix microseconds, to within [`LAST_USED_GRANULARITY`]; `None` if never used.
    pub last_used_at: Option<i64>,
    /// Unix microseconds; `None` while the key is valid.
    pub revoked_at: Option<i64>,
}

/// `last_used_at` is written at most this often per key and node, so a
/// busy operator does not turn every request into a write.
pub const LAST_USED_GRANULARITY: Duration = Duration::from_secs(60);

fn record(m: operator_key::Model) -> Result<OperatorKey, StoreError> {
    let id = OperatorKeyId::parse(&m.id).map_err(|_| StoreError::Corrupt(format!("operator key id `{}`", m.id)))?;
    Ok(OperatorKey { id, name: m.name, created_at: m.created_at, last_used_at: m.last_used_at, revoked_at: m.revoked_at })
}

/// Is `id` well formed? A malformed one names no key.
fn parse_id(id: &str) -> Result<OperatorKeyId, StoreError> {
    OperatorKeyId::parse(id).map_err(|_| StoreError::NotFound("operator key"))
}

/// Cached answers to "which valid operator key has this hash?".
#[derive(Debug)]
pub(crate) struct OperatorKeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Option<OperatorKeyId>, Instant)>>,
}

const OPERATOR_ENTRIES: usize = 1_000;

impl OperatorKeyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<OperatorKeyId>, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, hash: &str) -> Option<Option<OperatorKeyId>> {
        if self.ttl.is_zero() {
            return None;
        }
        self.lock().get(hash).filter(|(_, at)| at.elapsed() < self.ttl).map(|(id, _)| id.clone())
    }

    fn put(&self, hash: String, id: Option<OperatorKeyId>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= OPERATOR_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (id, Instant::now()));
    }

    /// Forgets everything: a key changed on this node.
    fn clear(&self) {
        self.lock().clear();
    }
}

impl Store {
    /// On a database with no valid operator key, creates one named
    /// `bootstrap` and returns its secret (to be shown once); otherwise
    /// returns `None`.
    pub async fn bootstrap_operator_key(&self) -> Result<Option<String>, StoreError> {
        self.write_autocommit(|db| async move {
            if operator_key::Entity::find().filter(operator_key::Column::RevokedAt.is_null()).count(db).await? > 0 {
                return Ok(None);
            }
            let secret = secret::generate(secret::OPERATOR_KEY_PREFIX);
            new_row("bootstrap", secret::hash(&secret)).insert(db).await?;
            Ok(Some(secret))
        })
        .await
    }

    /// Creates an operator key; returns it with its secret, which is not kept.
    pub async fn create_operator_key(&self, name: &KeyName) -> Result<(OperatorKey, String), StoreError> {
        let secret = secret::generate(secret::OPERATOR_KEY_PREFIX);
        let hash = secret::hash(&secret);
        let row = self.write_autocommit(|db| async move { Ok(new_row(name.as_str(), hash).insert(db).await?) }).await?;
        Ok((record(row)?, secret))
    }

    /// Every operator key, revoked ones included, oldest first.
    pub async fn list_operator_keys(&self) -> Result<Vec<OperatorKey>, StoreError> {
        let rows = operator_key::Entity::find().order_by_asc(operator_key::Column::Id).all(&self.db).await?;
        rows.into_iter().map(record).collect()
    }

    /// Revokes a key. Unless `allow_last`, the last valid key is refused
    /// (`Conflict`): without it nobody could call the API as the operator.
    /// A key already revoked is a `Conflict` too: it stays revoked.
    pub async fn revoke_operator_key(&self, id: &str, allow_last: bool) -> Result<OperatorKey, StoreError> {
        let id = parse_id(id)?;
        let row = self
            .write(|txn| {
                Box::pin(async move {
                    let row = operator_key::Entity::find_by_id(id.as_str()).one(txn).await?.ok_or(StoreError::NotFound("operator key"))?;
                    if row.revoked_at.is_some() {
                        return Err(StoreError::Conflict("this operator key is already revoked".into()));
                    }
                    let valid = operator_key::Entity::find().filter(operator_key::Column::RevokedAt.is_null()).count(txn).await?;
                    if valid <= 1 && !allow_last {
                        return Err(StoreError::Conflict(
                            "this is the last valid operator key: create another first (or set HERALD_OPERATOR_KEY), so the operator is not locked out"
                                .into(),
                        ));
                    }
                    let mut active: operator_key::ActiveModel = row.into();
                    active.revoked_at = Set(Some(now_micros()));
                    Ok(active.update(txn).await?)
                })
            })
            .await?;
        self.operators.clear();
        record(row)
    }

    /// Gives a valid key a new secret; the old one stops working.
    pub async fn rotate_operator_key(&self, id: &str) -> Result<(OperatorKey, String), StoreError> {
        let id = parse_id(id)?;
        let secret = secret::generate(secret::OPERATOR_KEY_PREFIX);
        let hash = secret::hash(&secret);
        let row = self
            .write_autocommit(|db| async move {
                let row = operator_key::Entity::find_by_id(id.as_str()).one(db).await?.ok_or(StoreError::NotFound("operator key"))?;
                if row.revoked_at.is_some() {
                    return Err(StoreError::Conflict("a revoked operator key cannot be rotated; create a new one".into()));
                }
                let mut active: operator_key::ActiveModel = row.into();
                active.secret_hash = Set(hash);
                Ok(active.update(db).await?)
            })
            .await?;
        self.operators.clear();
        Ok((record(row)?, secret))
    }

    /// The valid (not revoked) operator key whose secret was presented.
    /// Notes its use, at most once a minute per key on this node.
    pub async fn find_operator_key(&self, presented: &str) -> Result<Option<OperatorKeyId>, StoreError> {
        let hash = secret::hash(presented);
        if let Some(id) = self.operators.get(&hash) {
            return Ok(id);
        }
        let row = operator_key::Entity::find()
            .filter(operator_key::Column::SecretHash.eq(hash.as_str()))
            .filter(operator_key::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?;
        let id = match row {
            None => None,
            Some(row) => {
                let now = now_micros();
                let stale = row.last_used_at.is_none_or(|at| now - at >= LAST_USED_GRANULARITY.as_micros() as i64);
                if stale {
                    let key = row.id.clone();
                    // Best effort: a failed note must not refuse the operator.
                    let noted = self
                        .write_autocommit(|db| async move {
                            operator_key::Entity::update_many()
                                .col_expr(operator_key::Column::LastUsedAt, Expr::value(now))
                                .filter(operator_key::Column::Id.eq(key))
                                .exec(db)
                                .await?;
                            Ok(())
                        })
                        .await;
                    if let Err(e) = noted {
                        tracing::warn!(error = %e, "noting an operator key's use failed");
                    }
                }
                Some(record(row)?.id)
            }
        };
        self.operators.put(hash, id.clone());
        Ok(id)
    }
}

fn new_row(name: &str, secret_hash: String) -> operator_key::ActiveModel {
    operator_key::ActiveModel {
        id: Set(OperatorKeyId::generate().to_string()),
        name: Set(name.to_owned()),
        secret_hash: Set(secret_hash),
        created_at: Set(now_micros()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DbKind;
    use crate::test_db::{TestDb, on_each_backend};

    async fn keys_are_created_revoked_and_rotated(kind: DbKind) {
        let db = TestDb::new(kind).await;
        let store = db.store.clone();
        let first = store.bootstrap_operator_key().await.unwrap().expect("an empty database gets a key");
        assert!(store.bootstrap_operator_key().await.unwrap().is_none(), "only once");
        let boot = store.find_operator_key(&first).await.unwrap().expect("the bootstrap key is valid");

        // The last valid key cannot be revoked, unless allowed.
        assert!(matches!(store.revoke_operator_key(boot.as_str(), false).await, Err(StoreError::Conflict(_))));
        let (second, secret) = store.create_operator_key(&KeyName::parse("ci").unwrap()).await.unwrap();
        assert_eq!(store.find_operator_key(&secret).await.unwrap(), Some(second.id.clone()));
        let revoked = store.revoke_operator_key(boot.as_str(), false).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(matches!(store.revoke_operator_key(boot.as_str(), false).await, Err(StoreError::Conflict(_))), "once");
        assert_eq!(store.find_operator_key(&first).await.unwrap(), None, "revoked at once on this node");

        // Rotation: same record, new secret, the old one refused.
        let (rotated, new_secret) = store.rotate_operator_key(second.id.as_str()).await.unwrap();
        assert_eq!(rotated.id, second.id);
        assert_eq!(store.find_operator_key(&secret).await.unwrap(), None);
        assert_eq!(store.find_operator_key(&new_secret).await.unwrap(), Some(second.id.clone()));
        assert!(matches!(store.rotate_operator_key(boot.as_str()).await, Err(StoreError::Conflict(_))));

        let listed = store.list_operator_keys().await.unwrap();
        assert_eq!(listed.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["bootstrap", "ci"]);
        assert!(listed[1].last_used_at.is_some(), "use is noted");
        assert!(matches!(store.revoke_operator_key("op_nonsense", false).await, Err(StoreError::NotFound(_))));
    }

    on_each_backend!(keys_are_created_revoked_and_rotated);
}
