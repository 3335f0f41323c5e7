//! Rows to domain types. A row that fails validation is reported as corrupt
//! rather than silently dropped or passed on.

use herald_core::ids::{ApiKeyId, ChannelId, DeadLetterId, PluginId, SigningKeyId, TenantId};
use herald_core::model::{ApiKey, Channel, SigningKey, Tenant};
use herald_core::names::{ChannelName, EventType, KeyName, PluginName, PluginVersion, TenantName, UserId};
use herald_core::notification::Notification;
use herald_core::plugin::{DeadLetter, FailurePolicy, Hooks, Plugin};
use herald_core::retention::Retention;

use crate::StoreError;
use crate::clock::to_datetime;
use crate::entity::{api_key, channel, dead_letter, notification, plugin, signing_key, tenant};

fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn tenant(m: tenant::Model) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: TenantId::parse(&m.id).map_err(corrupt("tenant id"))?,
        name: TenantName::parse(m.name).map_err(corrupt("tenant name"))?,
        created_at: to_datetime(m.created_at),
        suspended: m.suspended,
    })
}

pub(crate) fn api_key(m: api_key::Model) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: ApiKeyId::parse(&m.id).map_err(corrupt("key id"))?,
        tenant: TenantId::parse(&m.tenant_id).map_err(corrupt("tenant id"))?,
        name: KeyName::parse(m.name).map_err(corrupt("key name"))?,
        scopes: m.scopes.split(',').filter(|s| !s.is_empty()).map(str::parse).collect::<Result<_, _>>().map_err(corrupt("scopes"))?,
        created_at: to_datetime(m.created_at),
    })
}

pub(crate) fn signing_key(m: signing_key::Model) -> Result<SigningKey, StoreError> {
    Ok(SigningKey {
        kid: SigningKeyId::parse(&m.id).map_err(corrupt("kid"))?,
        tenant: TenantId::parse(&m.tenant_id).map_err(corrupt("tenant id"))?,
        alg: m.alg.parse().map_err(corrupt("alg"))?,
        public_key: m.public_key,
        created_at: to_datetime(m.created_at),
        issuer: m.issuer,
        audience: m.audience,
    })
}

pub(crate) fn channel(m: channel::Model) -> Result<Channel, StoreError> {
    Ok(Channel {
        id: ChannelId::parse(&m.id).map_err(corrupt("channel id"))?,
        tenant: TenantId::parse(&m.tenant_id).map_err(corrupt("tenant id"))?,
        name: ChannelName::parse(m.name).map_err(corrupt("channel name"))?,
        retention: Retention { max_count: m.max_count, max_age_seconds: m.max_age_seconds },
        plugins: serde_json::from_str(&m.plugins).map_err(corrupt("plugin chain"))?,
        failure_policy: FailurePolicy::parse(&m.failure_policy).map_err(corrupt("failure policy"))?,
        email: m.email.as_deref().map(serde_json::from_str).transpose().map_err(corrupt("email policy"))?,
        created_at: to_datetime(m.created_at),
    })
}

pub(crate) fn plugin(m: plugin::Model) -> Result<Plugin, StoreError> {
    Ok(Plugin {
        id: PluginId::parse(&m.id).map_err(corrupt("plugin id"))?,
        tenant: TenantId::parse(&m.tenant_id).map_err(corrupt("tenant id"))?,
        name: PluginName::parse(m.name).map_err(corrupt("plugin name"))?,
        version: PluginVersion::parse(m.version).map_err(corrupt("plugin version"))?,
        sha256: m.sha256,
        size: m.size.max(0) as u64,
        hooks: Hooks { publish: m.hook_publish, deliver: m.hook_deliver },
        created_at: to_datetime(m.created_at),
    })
}

pub(crate) fn dead_letter(m: dead_letter::Model) -> Result<DeadLetter, StoreError> {
    Ok(DeadLetter {
        id: DeadLetterId::parse(&m.id).map_err(corrupt("dead letter id"))?,
        tenant: TenantId::parse(&m.tenant_id).map_err(corrupt("tenant id"))?,
        channel: ChannelName::parse(m.channel).map_err(corrupt("channel name"))?,
        plugin: PluginName::parse(m.plugin).map_err(corrupt("plugin name"))?,
        hook: m.hook,
        outcome: m.outcome,
        reason: m.reason,
        notification: serde_json::from_str(&m.notification).map_err(corrupt("dead letter notification"))?,
        created_at: to_datetime(m.created_at),
    })
}

pub(crate) fn notification(tenant: &TenantId, m: notification::Model) -> Result<Notification, StoreError> {
    let recipients = match m.recipients {
        None => None,
        Some(text) => Some(serde_json::from_str::<Vec<UserId>>(&text).map_err(corrupt("recipients"))?),
    };
    Ok(Notification {
        tenant: tenant.clone(),
        id: m.seq,
        channel: ChannelName::parse(m.channel).map_err(corrupt("channel"))?,
        event_type: EventType::parse(m.event_type).map_err(corrupt("type"))?,
        data: serde_json::value::RawValue::from_string(m.data).map_err(corrupt("data"))?,
        recipients,
        created_at: to_datetime(m.created_at),
    })
}
