//! What a run creates before it measures anything: a fresh tenant, a publish
//! key and, for subscribers, an HS256 signing key and tokens minted with it.
//! A fresh tenant per run keeps runs apart and leaves earlier data alone.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use herald_core::claims::{HeraldClaims, SubscriberClaims};
use herald_core::keys::SigningAlg;
use herald_core::token::{SigningMaterial, mint};
use serde::Deserialize;
use serde_json::json;

use crate::api::Api;

/// A tenant made for one run.
#[derive(Debug)]
pub struct BenchTenant {
    pub id: String,
    pub name: String,
    /// Secret of an API key with the `publish` scope.
    pub publish_key: String,
}

/// An HS256 subscriber signing key.
pub struct SigningKey {
    pub kid: String,
    pub secret: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct CreatedKey {
    secret: String,
}

#[derive(Deserialize)]
struct CreatedSigningKey {
    kid: String,
    secret: String,
}

/// Unix time in microseconds.
pub fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// A tenant name unique to this run: `bench-<kind>-<unix ms>-<pid>`.
pub fn run_name(kind: &str) -> String {
    format!("bench-{kind}-{}-{}", unix_micros() / 1000, std::process::id())
}

/// Creates a tenant and a publish key for it, with the operator key.
pub async fn create_tenant(api: &mut Api, operator_key: &str, kind: &str) -> anyhow::Result<BenchTenant> {
    let name = run_name(kind);
    let tenant: Created = api.post("/v1/tenants", operator_key, &json!({ "name": name })).await.context("creating the tenant")?;
    let key: CreatedKey = api
        .post(&format!("/v1/tenants/{}/keys", tenant.id), operator_key, &json!({ "name": "herald-bench", "scopes": ["publish"] }))
        .await
        .context("creating the publish key")?;
    Ok(BenchTenant { id: tenant.id, name, publish_key: key.secret })
}

/// Creates an HS256 signing key for the tenant's subscriber tokens.
pub async fn create_signing_key(api: &mut Api, operator_key: &str, tenant: &str) -> anyhow::Result<SigningKey> {
    let key: CreatedSigningKey = api
        .post(&format!("/v1/tenants/{tenant}/signing-keys"), operator_key, &json!({ "alg": "HS256" }))
        .await
        .context("creating the signing key")?;
    Ok(SigningKey { kid: key.kid, secret: key.secret })
}

/// Uploads `wasm` as plugin `hook` and creates `channel` with it as its
/// only step.
pub async fn create_hooked_channel(api: &mut Api, operator_key: &str, tenant: &str, channel: &str, wasm: &[u8]) -> anyhow::Result<()> {
    let _: serde_json::Value = api
        .upload(&format!("/v1/tenants/{tenant}/plugins?name=hook&version=1"), operator_key, wasm.to_vec())
        .await
        .context("uploading the deliver hook")?;
    let _: serde_json::Value = api
        .post(&format!("/v1/tenants/{tenant}/channels"), operator_key, &json!({ "name": channel, "plugins": [{ "plugin": "hook" }] }))
        .await
        .context("creating the hooked channel")?;
    Ok(())
}

/// Mints a token for user `sub` that may read `channels`, valid for `ttl_secs`.
pub fn subscriber_token(key: &SigningKey, sub: &str, channels: &[String], ttl_secs: u64) -> anyhow::Result<String> {
    let claims = SubscriberClaims {
        sub: sub.to_owned(),
        exp: (unix_micros() / 1_000_000 + ttl_secs) as i64,
        herald: HeraldClaims { subscribe: channels.to_vec() },
        extra: Default::default(),
    };
    mint(&key.kid, SigningAlg::HS256, &SigningMaterial::Secret(key.secret.clone()), &claims).context("minting a subscriber token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_are_valid_tenant_names() {
        let name = run_name("latency");
        assert!(name.starts_with("bench-latency-"));
        assert!(name.len() <= herald_core::limits::MAX_TENANT_NAME);
        herald_core::names::TenantName::parse(name).unwrap();
    }
}
