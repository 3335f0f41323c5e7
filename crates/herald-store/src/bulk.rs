//! Hand-written SQL for the publish hot path, one statement per step
//! whatever the group size.
//!
//! Rows travel as one JSON array parameter that the database unpacks
//! (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL). The
//! statement text is therefore constant, stays in the prepared-statement
//! cache, and nothing is built per row on our side but one JSON array; a
//! multi-row `VALUES` list would be a new statement for every group size.
//! Each row is a JSON array rather than an object to keep that parameter
//! small; the struct that makes it names the fields, and the statement
//! beside it reads them by position.

use herald_core::ids::{ChannelId, Seq, TenantId};
use herald_core::names::ChannelName;
use herald_core::notification::NewNotification;
use sea_orm::{ConnectionTrait, Value};
use serde_json::value::RawValue;

use crate::StoreError;
use crate::dialect::{Dialect, Sql};
use crate::write::WriteTxn;

const BUMP_HEAD: Sql = Sql {
    postgres: "UPDATE tenants SET last_seq = last_seq + $1 WHERE id = $2 RETURNING last_seq",
    sqlite: "UPDATE tenants SET last_seq = last_seq + ?1 WHERE id = ?2 RETURNING last_seq",
};

/// Bumps the tenant's log head by `n`; returns the new head, or `None`
/// when the tenant does not exist. On PostgreSQL the row stays locked until
/// commit, which orders concurrent writers.
pub(crate) async fn bump_head(txn: &WriteTxn<'_>, dialect: Dialect, tenant: &TenantId, n: i64) -> Result<Option<Seq>, StoreError> {
    let row = txn.query_one_raw(dialect.statement(&BUMP_HEAD, [n.into(), tenant.as_str().into()])).await?;
    Ok(match row {
        Some(r) => Some(r.try_get::<i64>("", "last_seq")?),
        None => None,
    })
}

/// A channel [`ensure_channels`] may have to create, as its JSON row.
struct ChannelParam<'a> {
    id: String,
    name: &'a str,
}

impl ChannelParam<'_> {
    /// `[id, name]`, the positions [`ENSURE_CHANNELS`] reads.
    fn json(rows: &[Self]) -> String {
        let tuples: Vec<(&str, &str)> = rows.iter().map(|r| (r.id.as_str(), r.name)).collect();
        serde_json::to_string(&tuples).expect("strings serialize")
    }
}

const ENSURE_CHANNELS: Sql = Sql {
    postgres: "INSERT INTO channels (id, tenant_id, name, max_count, max_age_seconds, pruned_seq, created_at) \
               SELECT v->>0, $1, v->>1, NULL, NULL, 0, $2 FROM jsonb_array_elements($3::jsonb) AS v \
               ON CONFLICT (tenant_id, name) DO NOTHING",
    // `WHERE true` resolves SQLite's parsing ambiguity between a join's
    // ON and the upsert's ON CONFLICT.
    sqlite: "INSERT INTO channels (id, tenant_id, name, max_count, max_age_seconds, pruned_seq, created_at) \
             SELECT json_extract(value, '$[0]'), ?1, json_extract(value, '$[1]'), NULL, NULL, 0, ?2 FROM json_each(?3) WHERE true \
             ON CONFLICT (tenant_id, name) DO NOTHING",
};

/// Creates the channels that do not exist yet, with default retention.
pub(crate) async fn ensure_channels(
    txn: &WriteTxn<'_>,
    dialect: Dialect,
    tenant: &TenantId,
    names: &[&ChannelName],
    now: i64,
) -> Result<(), StoreError> {
    if names.is_empty() {
        return Ok(());
    }
    let rows: Vec<ChannelParam<'_>> =
        names.iter().map(|n| ChannelParam { id: ChannelId::generate().to_string(), name: n.as_str() }).collect();
    let values: [Value; 3] = [tenant.as_str().into(), now.into(), ChannelParam::json(&rows).into()];
    txn.execute_raw(dialect.statement(&ENSURE_CHANNELS, values)).await?;
    Ok(())
}

/// A new notification as its JSON row.
struct NotificationParam<'a> {
    channel: &'a str,
    event_type: &'a str,
    data: &'a str,
    /// The recipients as JSON text, stored as such.
    recipients: Option<String>,
}

impl NotificationParam<'_> {
    /// `[channel, type, data, recipients]`, the positions
    /// [`INSERT_NOTIFICATIONS`] reads.
    fn json(rows: &[Self]) -> String {
        let tuples: Vec<(&str, &str, &str, Option<&str>)> =
            rows.iter().map(|r| (r.channel, r.event_type, r.data, r.recipients.as_deref())).collect();
        serde_json::to_string(&tuples).expect("strings serialize")
    }
}

const INSERT_NOTIFICATIONS: Sql = Sql {
    postgres: "INSERT INTO notifications (tenant_id, seq, channel, event_type, data, recipients, created_at) \
               SELECT $1, $2 + x.ord - 1, x.v->>0, x.v->>1, x.v->>2, x.v->>3, $3 \
               FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS x(v, ord)",
    sqlite: "INSERT INTO notifications (tenant_id, seq, channel, event_type, data, recipients, created_at) \
             SELECT ?1, ?2 + key, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
             json_extract(value, '$[3]'), ?3 FROM json_each(?4)",
};

/// Inserts `fresh` with ids `first_seq..`, in order.
pub(crate) async fn insert_notifications(
    txn: &WriteTxn<'_>,
    dialect: Dialect,
    tenant: &TenantId,
    fresh: &[&NewNotification],
    first_seq: Seq,
    now: i64,
) -> Result<(), StoreError> {
    let rows: Vec<NotificationParam<'_>> = fresh
        .iter()
        .map(|n| NotificationParam {
            channel: n.channel.as_str(),
            event_type: n.event_type.as_str(),
            data: RawValue::get(&n.data),
            recipients: n.recipients.as_ref().map(|r| serde_json::to_string(r).expect("strings serialize")),
        })
        .collect();
    let values: [Value; 4] = [tenant.as_str().into(), first_seq.into(), now.into(), NotificationParam::json(&rows).into()];
    txn.execute_raw(dialect.statement(&INSERT_NOTIFICATIONS, values)).await?;
    Ok(())
}
