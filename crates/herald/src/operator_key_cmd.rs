//! `herald operator-key`: operator keys managed on the database directly,
//! without the API, so an operator who lost every key can get back in.
//! Each change is recorded in the audit log (method `CLI`).

use std::io::Write;

use anyhow::Context;
use herald_core::names::KeyName;
use herald_store::Store;
use herald_store::audit::{AuditActor, NewAuditEvent};
use herald_store::operator::OperatorKey;

use crate::cli::OperatorKeyCommand;

/// Runs one `herald operator-key` command on `store`, writing what it shows
/// to `out`. Secrets go to `out` only (standard output), never to the log.
pub async fn run(store: &Store, command: OperatorKeyCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        OperatorKeyCommand::Create { name } => {
            let name = KeyName::parse(name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            let (key, secret) = store.create_operator_key(&name).await.context("creating an operator key")?;
            audit(store, "create_operator_key", "herald operator-key create", 201).await;
            writeln!(out, "created operator key {} ({}); its secret, shown only now:\n{secret}", key.id, key.name)?;
        }
        OperatorKeyCommand::List => {
            let keys = store.list_operator_keys().await.context("listing operator keys")?;
            writeln!(out, "{:<38} {:<24} {:<25} {:<25} REVOKED", "ID", "NAME", "CREATED", "LAST USED")?;
            for k in keys {
                writeln!(out, "{}", line(&k))?;
            }
        }
        OperatorKeyCommand::Revoke { id, force } => {
            let key = store.revoke_operator_key(&id, force).await.map_err(|e| match e {
                herald_store::StoreError::Conflict(m) => anyhow::anyhow!("{m} (--force revokes it anyway)"),
                e => anyhow::Error::from(e).context(format!("revoking operator key {id}")),
            })?;
            audit(store, "revoke_operator_key", "herald operator-key revoke", 200).await;
            writeln!(out, "revoked operator key {} ({}); other nodes refuse it within key_cache_seconds", key.id, key.name)?;
        }
        OperatorKeyCommand::Rotate { id } => {
            let (key, secret) = store.rotate_operator_key(&id).await.with_context(|| format!("rotating operator key {id}"))?;
            audit(store, "rotate_operator_key", "herald operator-key rotate", 200).await;
            writeln!(
                out,
                "rotated operator key {} ({}); the old secret no longer works; the new one, shown only now:\n{secret}",
                key.id, key.name
            )?;
        }
    }
    Ok(())
}

fn line(k: &OperatorKey) -> String {
    let time = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros).map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    };
    let opt = |m: Option<i64>| m.map_or_else(|| "-".to_owned(), time);
    format!("{:<38} {:<24} {:<25} {:<25} {}", k.id.as_str(), k.name, time(k.created_at), opt(k.last_used_at), opt(k.revoked_at))
}

async fn audit(store: &Store, action: &str, path: &str, status: u16) {
    let event = NewAuditEvent { tenant: None, actor: &AuditActor::Operator(None), action, method: "CLI", path, status, remote_addr: None };
    if let Err(e) = store.record_audit_event(&event).await {
        tracing::error!(error = %e, action, "recording an audit event failed: the change was made but is missing from the audit log");
    }
}
