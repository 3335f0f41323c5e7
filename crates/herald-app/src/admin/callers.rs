//! Who is calling the admin and publish API: the operator, or a tenant's
//! API key with its scopes. Every path compares hashes of what was
//! presented; the transport only extracts the credential.

use herald_core::ids::{ApiKeyId, OperatorKeyId, TenantId};
use herald_core::keys::KeyScope;
use herald_core::secret;

use crate::App;
use crate::error::{AppError, AppResult};

/// Longest credential looked up; anything longer matches nothing.
const MAX_CREDENTIAL: usize = 1024;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An operator key: a stored one's id, or `None` for the configured one.
    Operator(Option<OperatorKeyId>),
    Key {
        id: ApiKeyId,
        tenant: TenantId,
        scopes: Vec<KeyScope>,
    },
}

impl App {
    /// The caller a presented key belongs to.
    pub async fn identify(&self, presented: &str) -> AppResult<Caller> {
        if presented.len() > MAX_CREDENTIAL {
            return Err(AppError::Unauthorized("the key is not valid".into()));
        }
        if self.inner.operator_key_hash.as_deref().is_some_and(|h| h == secret::hash(presented)) {
            return Ok(Caller::Operator(None));
        }
        // The prefix says which table to look in.
        if presented.starts_with(secret::OPERATOR_KEY_PREFIX) {
            if let Some(id) = self.inner.store.find_operator_key(presented).await? {
                return Ok(Caller::Operator(Some(id)));
            }
        } else if let Some(key) = self.inner.store.find_api_key_by_secret(presented).await? {
            return Ok(Caller::Key { id: key.id, tenant: key.tenant, scopes: key.scopes });
        }
        Err(AppError::Unauthorized("the key is not valid".into()))
    }

    /// Checks that `caller` may act on `tenant` with `need`; the operator
    /// may act on any tenant that exists.
    pub async fn authorize_tenant(&self, caller: &Caller, tenant: &TenantId, need: KeyScope) -> AppResult<()> {
        match caller {
            Caller::Operator(_) => {
                self.inner.store.get_tenant(tenant).await?;
                Ok(())
            }
            Caller::Key { tenant: own, scopes, .. } => {
                if own != tenant {
                    return Err(AppError::Forbidden("this key belongs to another tenant".into()));
                }
                if !need.satisfied_by(scopes) {
                    return Err(AppError::Forbidden(format!("this key lacks the `{}` scope", need.as_str())));
                }
                Ok(())
            }
        }
    }

    /// Refuses a suspended tenant's publishes, streams and polls.
    pub async fn refuse_suspended(&self, tenant: &TenantId) -> AppResult<()> {
        if self.inner.store.tenant_suspended(tenant).await? {
            return Err(AppError::TenantSuspended(format!(
                "tenant {tenant} is suspended: it cannot publish, stream or poll until the operator resumes it"
            )));
        }
        Ok(())
    }
}
