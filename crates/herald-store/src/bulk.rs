//! Hand-written SQL for the publish hot path, one statement per step
//! whatever the group size.
//!
//! Rows travel as one JSON array parameter that the database unpacks
//! (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL). The
//! statement text is therefore constant, stays in the prepared-statement
//! cache, and nothing is built per row on our side but one JSON array; a
//! multi-row `VALUES` list would be a new statement for every group size.

use herald_core::ids::{ChannelId, Seq, TenantId};
use herald_core::names::ChannelName;
use herald_core::notification::NewNotification;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};
use serde_json::value::RawValue;

use crate::StoreError;

fn backend(txn: &DatabaseTransaction) -> DbBackend {
    txn.get_database_backend()
}

/// Bumps the tenant's log head by `n`; returns the new head, or `None`
/// when the tenant does not exist. On PostgreSQL the row stays locked until
/// commit, which orders concurrent writers.
pub(crate) async fn bump_head(txn: &DatabaseTransaction, tenant: &TenantId, n: i64) -> Result<Option<Seq>, StoreError> {
    let db = backend(txn);
    let sql = match db {
        DbBackend::Postgres => "UPDATE tenants SET last_seq = last_seq + $1 WHERE id = $2 RETURNING last_seq",
        _ => "UPDATE tenants SET last_seq = last_seq + ?1 WHERE id = ?2 RETURNING last_seq",
    };
    let row = txn.query_one_raw(Statement::from_sql_and_values(db, sql, [n.into(), tenant.as_str().into()])).await?;
    Ok(match row {
        Some(r) => Some(r.try_get_by_index::<i64>(0)?),
        None => None,
    })
}

/// Creates the channels that do not exist yet, with default retention.
pub(crate) async fn ensure_channels(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    names: &[&ChannelName],
    now: i64,
) -> Result<(), StoreError> {
    if names.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, &str)> = names.iter().map(|n| (ChannelId::generate().to_string(), n.as_str())).collect();
    let json = serde_json::to_string(&rows).expect("strings serialize");
    let db = backend(txn);
    let sql = match db {
        DbBackend::Postgres => {
            "INSERT INTO channels (id, tenant_id, name, max_count, max_age_seconds, pruned_seq, created_at) \
             SELECT v->>0, $1, v->>1, NULL, NULL, 0, $2 FROM jsonb_array_elements($3::jsonb) AS v \
             ON CONFLICT (tenant_id, name) DO NOTHING"
        }
        // `WHERE true` resolves SQLite's parsing ambiguity between a join's
        // ON and the upsert's ON CONFLICT.
        _ => {
            "INSERT INTO channels (id, tenant_id, name, max_count, max_age_seconds, pruned_seq, created_at) \
             SELECT json_extract(value, '$[0]'), ?1, json_extract(value, '$[1]'), NULL, NULL, 0, ?2 FROM json_each(?3) WHERE true \
             ON CONFLICT (tenant_id, name) DO NOTHING"
        }
    };
    txn.execute_raw(Statement::from_sql_and_values(db, sql, [tenant.as_str().into(), now.into(), json.into()])).await?;
    Ok(())
}

/// Inserts `fresh` with ids `first_seq..`, in order.
pub(crate) async fn insert_notifications(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    fresh: &[&NewNotification],
    first_seq: Seq,
    now: i64,
) -> Result<(), StoreError> {
    // [channel, type, data, recipients]: a JSON array per row.
    let rows: Vec<(&str, &str, &str, Option<String>)> = fresh
        .iter()
        .map(|n| {
            let recipients = n.recipients.as_ref().map(|r| serde_json::to_string(r).expect("strings serialize"));
            (n.channel.as_str(), n.event_type.as_str(), RawValue::get(&n.data), recipients)
        })
        .collect();
    let json = serde_json::to_string(&rows).expect("strings serialize");
    let db = backend(txn);
    let sql = match db {
        DbBackend::Postgres => {
            "INSERT INTO notifications (tenant_id, seq, channel, event_type, data, recipients, created_at) \
             SELECT $1, $2 + x.ord - 1, x.v->>0, x.v->>1, x.v->>2, x.v->>3, $3 \
             FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS x(v, ord)"
        }
        _ => {
            "INSERT INTO notifications (tenant_id, seq, channel, event_type, data, recipients, created_at) \
             SELECT ?1, ?2 + key, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
             json_extract(value, '$[3]'), ?3 FROM json_each(?4)"
        }
    };
    let values: [Value; 4] = [tenant.as_str().into(), first_seq.into(), now.into(), json.into()];
    txn.execute_raw(Statement::from_sql_and_values(db, sql, values)).await?;
    Ok(())
}
