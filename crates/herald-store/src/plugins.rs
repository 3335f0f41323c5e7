//! Uploaded plugins: every version of every plugin a tenant uploaded, with
//! its component bytes. Validation (does it compile, which hooks) happens
//! before a row is written, in the plugin host; this module only stores.

use herald_core::ids::{PluginId, TenantId};
use herald_core::names::{PluginName, PluginVersion};
use herald_core::plugin::{Hooks, Plugin};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::now_micros;
use crate::entity::plugin;
use crate::{Store, StoreError, convert};

/// A plugin version with its component, as the host loads it.
#[derive(Clone, Debug)]
pub struct PluginBlob {
    pub plugin: Plugin,
    pub wasm: Vec<u8>,
}

/// What an upload stores.
#[derive(Debug)]
pub struct NewPlugin<'a> {
    pub name: &'a PluginName,
    pub version: &'a PluginVersion,
    pub sha256: &'a str,
    pub hooks: Hooks,
    pub wasm: &'a [u8],
}

impl Store {
    /// Name and size of every stored version of the tenant's plugins, for
    /// the plugin quotas (bounded by them, so small).
    pub async fn plugin_footprint(&self, tenant: &TenantId) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = plugin::Entity::find()
            .select_only()
            .column(plugin::Column::Name)
            .column(plugin::Column::Size)
            .filter(plugin::Column::TenantId.eq(tenant.as_str()))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|(name, size)| (name, u64::try_from(size).unwrap_or(0))).collect())
    }

    /// Stores a new version; a version already uploaded is a conflict
    /// (versions are immutable, so what a chain runs never changes under it).
    pub async fn create_plugin(&self, tenant: &TenantId, new: NewPlugin<'_>) -> Result<Plugin, StoreError> {
        self.get_tenant(tenant).await?;
        let row = self
            .write_autocommit(|db| async move {
                plugin::ActiveModel {
                    id: Set(PluginId::generate().to_string()),
                    tenant_id: Set(tenant.to_string()),
                    name: Set(new.name.to_string()),
                    version: Set(new.version.to_string()),
                    sha256: Set(new.sha256.to_owned()),
                    size: Set(new.wasm.len() as i64),
                    hook_publish: Set(new.hooks.publish),
                    hook_deliver: Set(new.hooks.deliver),
                    wasm: Set(new.wasm.to_vec()),
                    created_at: Set(now_micros()),
                }
                .insert(db)
                .await
                .map_err(|e| StoreError::from_db(e, "this version of the plugin was already uploaded; upload a new version"))
            })
            .await?;
        convert::plugin(row)
    }

    /// Every uploaded version, oldest first (ids are time-ordered), after
    /// `after`; without the bytes.
    pub async fn list_plugins(&self, tenant: &TenantId, after: Option<&PluginId>, limit: u64) -> Result<Vec<Plugin>, StoreError> {
        let mut q = plugin::Entity::find()
            .select_only()
            .columns(METADATA)
            .filter(plugin::Column::TenantId.eq(tenant.as_str()))
            .order_by_asc(plugin::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            q = q.filter(plugin::Column::Id.gt(after.as_str()));
        }
        let rows: Vec<PluginMeta> = q.into_model().all(&self.db).await?;
        rows.into_iter().map(from_meta).collect()
    }

    /// The versions of one plugin, newest first; without the bytes.
    pub async fn plugin_versions(&self, tenant: &TenantId, name: &PluginName) -> Result<Vec<Plugin>, StoreError> {
        let rows: Vec<PluginMeta> = plugin::Entity::find()
            .select_only()
            .columns(METADATA)
            .filter(plugin::Column::TenantId.eq(tenant.as_str()))
            .filter(plugin::Column::Name.eq(name.as_str()))
            .order_by_desc(plugin::Column::Id)
            .into_model()
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound("plugin"));
        }
        rows.into_iter().map(from_meta).collect()
    }

    /// A version with its bytes: the pinned one, or the newest upload.
    pub async fn plugin_blob(
        &self,
        tenant: &TenantId,
        name: &PluginName,
        version: Option<&PluginVersion>,
    ) -> Result<PluginBlob, StoreError> {
        let mut q = plugin::Entity::find()
            .filter(plugin::Column::TenantId.eq(tenant.as_str()))
            .filter(plugin::Column::Name.eq(name.as_str()))
            .order_by_desc(plugin::Column::Id);
        if let Some(v) = version {
            q = q.filter(plugin::Column::Version.eq(v.as_str()));
        }
        let mut row = q.one(&self.db).await?.ok_or(StoreError::NotFound("plugin"))?;
        let wasm = std::mem::take(&mut row.wasm);
        Ok(PluginBlob { plugin: convert::plugin(row)?, wasm })
    }

    /// Deletes one version, or every version of the plugin.
    pub async fn delete_plugin(&self, tenant: &TenantId, name: &PluginName, version: Option<&PluginVersion>) -> Result<(), StoreError> {
        let mut q = plugin::Entity::delete_many()
            .filter(plugin::Column::TenantId.eq(tenant.as_str()))
            .filter(plugin::Column::Name.eq(name.as_str()));
        if let Some(v) = version {
            q = q.filter(plugin::Column::Version.eq(v.as_str()));
        }
        let res = self.write_autocommit(|db| async move { Ok(q.exec(db).await?) }).await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("plugin"));
        }
        Ok(())
    }
}

/// The columns of [`PluginMeta`]: every one but the bytes.
const METADATA: [plugin::Column; 9] = [
    plugin::Column::Id,
    plugin::Column::TenantId,
    plugin::Column::Name,
    plugin::Column::Version,
    plugin::Column::Sha256,
    plugin::Column::Size,
    plugin::Column::HookPublish,
    plugin::Column::HookDeliver,
    plugin::Column::CreatedAt,
];

/// A plugin row without its bytes ([`METADATA`]).
#[derive(Debug, FromQueryResult)]
struct PluginMeta {
    id: String,
    tenant_id: String,
    name: String,
    version: String,
    sha256: String,
    size: i64,
    hook_publish: bool,
    hook_deliver: bool,
    created_at: i64,
}

fn from_meta(m: PluginMeta) -> Result<Plugin, StoreError> {
    let PluginMeta { id, tenant_id, name, version, sha256, size, hook_publish, hook_deliver, created_at } = m;
    convert::plugin(plugin::Model { id, tenant_id, name, version, sha256, size, hook_publish, hook_deliver, wasm: Vec::new(), created_at })
}
