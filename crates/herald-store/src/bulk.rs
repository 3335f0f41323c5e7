//! Hand-written SQL for the publish hot path: one round trip to the
//! database whatever the group size.
//!
//! Rows travel as one JSON array parameter that the database unpacks
//! (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL). The
//! statement text is therefore constant, stays in the prepared-statement
//! cache, and nothing is built per row on our side but one JSON array; a
//! multi-row `VALUES` list would be a new statement for every group size.
//! Each row is a JSON array rather than an object to keep that parameter
//! small; the struct that makes it names the fields, and the statement
//! beside it reads them by position.

use std::collections::HashSet;

use herald_core::ids::{ChannelId, Seq, TenantId};
use herald_core::notification::NewNotification;
use sea_orm::{ConnectionTrait, Value};
use serde_json::value::RawValue;

use crate::StoreError;
use crate::dialect::{Dialect, Sql};
use crate::write::WriteTxn;

/// A new notification as its JSON row.
struct NotificationParam<'a> {
    channel: &'a str,
    event_type: &'a str,
    data: &'a str,
    /// The recipients as JSON text, stored as such.
    recipients: Option<String>,
    /// On the first row of each channel in the group: the id the channel
    /// gets if this group creates it.
    new_channel_id: Option<String>,
}

/// A [`NotificationParam`] as the JSON array it travels as.
type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

impl NotificationParam<'_> {
    /// `[channel, type, data, recipients, new_channel_id]`, the positions
    /// [`APPEND`] reads.
    fn json(rows: &[Self]) -> String {
        let tuples: Vec<Row<'_>> =
            rows.iter().map(|r| (r.channel, r.event_type, r.data, r.recipients.as_deref(), r.new_channel_id.as_deref())).collect();
        serde_json::to_string(&tuples).expect("strings serialize")
    }
}

/// Bumps the tenant's head by the number of rows, creates the channels
/// that do not exist yet (default retention), inserts the rows with the
/// ids the bump reserved, and answers the new head; no row when the tenant
/// does not exist, and then nothing is written.
///
/// One round trip: on PostgreSQL one statement of data-modifying CTEs, on
/// SQLite four statements sent as one query (sqlx runs them in turn on its
/// connection thread). Every publish waits for these round trips, and under
/// load each one waits for a thread to be scheduled, so three steps cost
/// one wait instead of three.
///
/// Parameters: 1 tenant, 2 the rows as JSON, 3 now. Each SQLite statement
/// uses a prefix of them (1..=k, no gaps): sqlx binds a multi-statement
/// query's `?NNN` by number, but falls back to position for a number a
/// statement skips.
const APPEND: Sql = Sql {
    postgres: "WITH head AS (\
                 UPDATE tenants SET last_seq = last_seq + jsonb_array_length($2::jsonb) WHERE id = $1 RETURNING last_seq\
               ), batch AS (\
                 SELECT x.v, x.ord FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(v, ord)\
               ), new_channels AS (\
                 INSERT INTO channels (id, tenant_id, name, max_count, max_age_seconds, pruned_seq, created_at) \
                 SELECT batch.v->>4, $1, batch.v->>0, NULL, NULL, 0, $3 FROM head, batch WHERE batch.v->>4 IS NOT NULL \
                 ON CONFLICT (tenant_id, name) DO NOTHING\
               ), inserted AS (\
                 INSERT INTO notifications (tenant_id, seq, channel, event_type, data, recipients, created_at) \
                 SELECT $1, head.last_seq - jsonb_array_length($2::jsonb) + batch.ord, \
                 batch.v->>0, batch.v->>1, batch.v->>2, batch.v->>3, $3 FROM head, batch\
               ) SELECT last_seq FROM head",
    sqlite: "UPDATE tenants SET last_seq = last_seq + json_array_length(?2) WHERE id = ?1; \
             INSERT INTO channels (id, tenant_id, name, max_count, max_age_seconds, pruned_seq, created_at) \
             SELECT json_extract(j.value, '$[4]'), ?1, json_extract(j.value, '$[0]'), NULL, NULL, 0, ?3 \
             FROM tenants AS t, json_each(?2) AS j WHERE t.id = ?1 AND json_extract(j.value, '$[4]') IS NOT NULL \
             ON CONFLICT (tenant_id, name) DO NOTHING; \
             INSERT INTO notifications (tenant_id, seq, channel, event_type, data, recipients, created_at) \
             SELECT ?1, t.last_seq - json_array_length(?2) + 1 + j.key, json_extract(j.value, '$[0]'), \
             json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'), ?3 \
             FROM tenants AS t, json_each(?2) AS j WHERE t.id = ?1; \
             SELECT last_seq FROM tenants WHERE id = ?1",
};

/// Appends `fresh` to the tenant's log (see [`APPEND`]); returns the new
/// head, the id of the last row, or `None` when the tenant does not exist.
pub(crate) async fn append(
    txn: &WriteTxn<'_>,
    dialect: Dialect,
    tenant: &TenantId,
    fresh: &[&NewNotification],
    now: i64,
) -> Result<Option<Seq>, StoreError> {
    let mut seen: HashSet<&str> = HashSet::new();
    let rows: Vec<NotificationParam<'_>> = fresh
        .iter()
        .map(|n| NotificationParam {
            channel: n.channel.as_str(),
            event_type: n.event_type.as_str(),
            data: RawValue::get(&n.data),
            recipients: n.recipients.as_ref().map(|r| serde_json::to_string(r).expect("strings serialize")),
            new_channel_id: seen.insert(n.channel.as_str()).then(|| ChannelId::generate().to_string()),
        })
        .collect();
    let values: [Value; 3] = [tenant.as_str().into(), NotificationParam::json(&rows).into(), now.into()];
    // Every result row comes back; only the last statement makes one.
    let head = txn.query_all_raw(dialect.statement(&APPEND, values)).await?;
    Ok(match head.last() {
        Some(r) => Some(r.try_get::<i64>("", "last_seq")?),
        None => None,
    })
}
