//! The email outbox: one row per (notification, recipient) that may have to
//! be emailed, from the publish that makes it to the email that carries it.
//!
//! **Made in the publish transaction.** [`enqueue`] runs inside the group
//! commit, right after the notifications are inserted: a `201` therefore
//! means the pending emails are committed too, and a restart finds them.
//! It costs nothing for broadcasts (no `recipients`), and at most three
//! constant statements per group otherwise: the channels' email policies,
//! the recipients' preferences, and one insert.
//!
//! **Row life.** `pending` → `sent` | `failed` (by a worker), `delivered`
//! (a live delivery came first, see `deliveries.rs`) or `cancelled` (the
//! recipient, their preferences, the channel's policy or the notification
//! went away before it was due). A row is due at `due_at` (published +
//! `after_seconds`) and may be sent from `send_at` (`due_at` +
//! `digest_seconds`, later after a failed attempt).
//!
//! **Claims.** A worker claims due rows by setting a lease (`lease_until`,
//! `lease_token`); every later change checks the token, so a worker whose
//! lease ran out cannot finish someone else's attempt. On PostgreSQL the
//! claim skips rows another node is claiming (`FOR UPDATE SKIP LOCKED`),
//! so several nodes share the outbox; SQLite is single-node.
//!
//! **Digests.** Claiming a row of a channel with a digest window also claims
//! the recipient's other pending rows of that channel due within the window
//! that opened at the row's `due_at`: they become one email, whose
//! `Message-ID` is the first row's id. A retry claims the same rows again
//! (the first row leads, the window is the same), so it keeps that id.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use herald_core::email::{DeliveryPath, DeliveryStatus, Preferences};
use herald_core::ids::{EmailId, Seq, TenantId};
use herald_core::names::{ChannelName, UserId};
use herald_core::notification::{NewNotification, Notification};
use herald_core::secret;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QueryOrder, Set, Statement, TransactionTrait,
    Value,
};

use crate::clock::now_micros;
use crate::deliveries::{LogEntry, insert_log};
use crate::entity::{notification, server_secret};
use crate::{Store, StoreError, convert};

/// Ids per `IN (…)` list and rows per insert: bounded statement sizes.
const CHUNK: usize = 5000;

fn micros(seconds: i64) -> i64 {
    seconds.saturating_mul(1_000_000)
}

/// Picks the statement for the backend: PostgreSQL's `$n` and JSON
/// functions, or SQLite's `?n` and `json_each`.
fn sql(db: DbBackend, postgres: &'static str, sqlite: &'static str) -> &'static str {
    match db {
        DbBackend::Postgres => postgres,
        _ => sqlite,
    }
}

/// A JSON array of strings, the one list parameter of a statement.
fn json(v: &[&str]) -> String {
    serde_json::to_string(v).expect("strings serialize")
}

/// Adds the pending emails a group's new notifications call for. Runs in
/// the publish transaction; see the module documentation.
pub(crate) async fn enqueue(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    fresh: &[&NewNotification],
    first_seq: Seq,
    now: i64,
) -> Result<(), StoreError> {
    let direct: Vec<(Seq, &NewNotification)> = fresh
        .iter()
        .enumerate()
        .filter(|(_, n)| n.recipients.as_ref().is_some_and(|r| !r.is_empty()))
        .map(|(i, n)| (first_seq + i as i64, *n))
        .collect();
    if direct.is_empty() {
        return Ok(());
    }
    let db = txn.get_database_backend();

    // Which of their channels email, and after how long.
    let mut names: Vec<&str> = direct.iter().map(|(_, n)| n.channel.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut policies: HashMap<String, (i64, i64)> = HashMap::new();
    for chunk in names.chunks(CHUNK) {
        let stmt = Statement::from_sql_and_values(
            db,
            sql(
                db,
                "SELECT name, email_after_seconds, COALESCE(email_digest_seconds, 0) FROM channels \
                 WHERE tenant_id = $1 AND email_after_seconds IS NOT NULL AND name IN (SELECT jsonb_array_elements_text($2::jsonb))",
                "SELECT name, email_after_seconds, COALESCE(email_digest_seconds, 0) FROM channels \
                 WHERE tenant_id = ?1 AND email_after_seconds IS NOT NULL AND name IN (SELECT value FROM json_each(?2))",
            ),
            [tenant.as_str().into(), json(chunk).into()],
        );
        for row in txn.query_all_raw(stmt).await? {
            policies.insert(row.try_get_by_index(0)?, (row.try_get_by_index(1)?, row.try_get_by_index(2)?));
        }
    }
    if policies.is_empty() {
        return Ok(());
    }

    // Which of their recipients have an address, and what they allow.
    let mut users: Vec<&str> = direct
        .iter()
        .filter(|(_, n)| policies.contains_key(n.channel.as_str()))
        .flat_map(|(_, n)| n.recipients.iter().flatten().map(UserId::as_str))
        .collect();
    users.sort_unstable();
    users.dedup();
    let mut preferences: HashMap<String, Preferences> = HashMap::new();
    for chunk in users.chunks(CHUNK) {
        let stmt = Statement::from_sql_and_values(
            db,
            sql(
                db,
                "SELECT user_id, preferences FROM recipients WHERE tenant_id = $1 AND user_id IN (SELECT jsonb_array_elements_text($2::jsonb))",
                "SELECT user_id, preferences FROM recipients WHERE tenant_id = ?1 AND user_id IN (SELECT value FROM json_each(?2))",
            ),
            [tenant.as_str().into(), json(chunk).into()],
        );
        for row in txn.query_all_raw(stmt).await? {
            let user: String = row.try_get_by_index(0)?;
            let text: String = row.try_get_by_index(1)?;
            // An unreadable row costs that recipient their email, never the publish.
            match serde_json::from_str(&text) {
                Ok(p) => {
                    preferences.insert(user, p);
                }
                Err(e) => tracing::error!(tenant = %tenant, user, error = %e, "corrupt recipient preferences; not emailing this recipient"),
            }
        }
    }
    if preferences.is_empty() {
        return Ok(());
    }

    // [id, user, channel, seq, due_at, digest_seconds, send_at]
    let mut rows: Vec<(String, &str, &str, Seq, i64, i64, i64)> = Vec::new();
    for (seq, n) in &direct {
        let Some(&(after, digest)) = policies.get(n.channel.as_str()) else { continue };
        let due = now + micros(after);
        let mut seen = HashSet::new();
        for user in n.recipients.iter().flatten() {
            let allowed = preferences.get(user.as_str()).is_some_and(|p| p.email.allows(&n.channel));
            if allowed && seen.insert(user.as_str()) {
                rows.push((EmailId::generate().to_string(), user.as_str(), n.channel.as_str(), *seq, due, digest, due + micros(digest)));
            }
        }
    }
    for chunk in rows.chunks(CHUNK) {
        let stmt = Statement::from_sql_and_values(
            db,
            sql(
                db,
                "INSERT INTO email_outbox (id, tenant_id, user_id, channel, seq, status, due_at, digest_seconds, send_at, attempts, created_at, updated_at) \
                 SELECT v->>0, $1, v->>1, v->>2, (v->>3)::bigint, 'pending', (v->>4)::bigint, (v->>5)::bigint, (v->>6)::bigint, 0, $2, $2 \
                 FROM jsonb_array_elements($3::jsonb) AS v",
                "INSERT INTO email_outbox (id, tenant_id, user_id, channel, seq, status, due_at, digest_seconds, send_at, attempts, created_at, updated_at) \
                 SELECT json_extract(value, '$[0]'), ?1, json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
                 'pending', json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]'), 0, ?2, ?2 FROM json_each(?3)",
            ),
            [tenant.as_str().into(), now.into(), serde_json::to_string(chunk).expect("rows serialize").into()],
        );
        txn.execute_raw(stmt).await?;
    }
    Ok(())
}

/// One email to send: a single notification, or a digest of several, to one
/// recipient, about one channel. Claimed by this worker until its lease ends.
#[derive(Clone, Debug)]
pub struct EmailJob {
    /// The first row: its id is the email's `Message-ID`.
    pub id: EmailId,
    pub tenant: TenantId,
    pub user: UserId,
    pub channel: ChannelName,
    /// The rows it carries, oldest notification first.
    pub items: Vec<EmailItem>,
    /// Attempts already made (the most among its rows).
    pub attempts: u32,
    lease_token: String,
}

/// One (notification, recipient) row of an email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailItem {
    pub id: EmailId,
    pub notification: Seq,
}

/// How an attempt ended, for some rows of a job.
#[derive(Clone, Copy, Debug)]
pub enum EmailOutcome<'a> {
    /// The SMTP server accepted the email.
    Sent,
    /// A transient failure; try again at `retry_at`.
    Deferred { error: &'a str, retry_at: DateTime<Utc> },
    /// A permanent failure, or the last attempt failed.
    Failed { error: &'a str },
    /// Not sent, and never will be.
    Cancelled { reason: &'a str },
}

struct Claimed {
    id: String,
    tenant: String,
    user: String,
    channel: String,
    seq: Seq,
    due_at: i64,
    digest_seconds: i64,
    attempts: i64,
}

fn parse_job(lead: &Claimed, items: Vec<(String, Seq, i64)>, token: &str) -> Result<EmailJob, StoreError> {
    let corrupt = |what: &'static str| move |e: herald_core::DomainError| StoreError::Corrupt(format!("{what}: {e}"));
    let mut parsed = Vec::with_capacity(items.len());
    let mut attempts = lead.attempts;
    for (id, seq, a) in items {
        attempts = attempts.max(a);
        parsed.push(EmailItem { id: EmailId::parse(&id).map_err(corrupt("email id"))?, notification: seq });
    }
    parsed.sort_by_key(|i| i.notification);
    Ok(EmailJob {
        id: EmailId::parse(&lead.id).map_err(corrupt("email id"))?,
        tenant: TenantId::parse(&lead.tenant).map_err(corrupt("tenant id"))?,
        user: UserId::parse(lead.user.clone()).map_err(corrupt("user id"))?,
        channel: ChannelName::parse(lead.channel.clone()).map_err(corrupt("channel"))?,
        items: parsed,
        attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
        lease_token: token.to_owned(),
    })
}

impl Store {
    /// Claims up to `limit` emails that may be sent now, for `lease`. Each
    /// comes with the rows its digest window gathers.
    pub async fn claim_emails(&self, limit: u64, lease: Duration) -> Result<Vec<EmailJob>, StoreError> {
        let now = now_micros();
        let until = now.saturating_add(lease.as_micros().min(i64::MAX as u128) as i64);
        let token = secret::generate("lease");
        let db = self.db.get_database_backend();

        let stmt = Statement::from_sql_and_values(
            db,
            sql(
                db,
                "UPDATE email_outbox SET lease_until = $1, lease_token = $2 WHERE id IN (\
                   SELECT id FROM email_outbox WHERE status = 'pending' AND send_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                   ORDER BY send_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, tenant_id, user_id, channel, seq, due_at, digest_seconds, attempts",
                "UPDATE email_outbox SET lease_until = ?1, lease_token = ?2 WHERE id IN (\
                   SELECT id FROM email_outbox WHERE status = 'pending' AND send_at <= ?3 AND (lease_until IS NULL OR lease_until < ?3) \
                   ORDER BY send_at, id LIMIT ?4) \
                 RETURNING id, tenant_id, user_id, channel, seq, due_at, digest_seconds, attempts",
            ),
            [until.into(), token.clone().into(), now.into(), (limit.min(i64::MAX as u64) as i64).into()],
        );
        let rows = {
            let _w = self.write_guard().await;
            self.db.query_all_raw(stmt).await?
        };
        let mut leads = Vec::with_capacity(rows.len());
        for r in rows {
            leads.push(Claimed {
                id: r.try_get_by_index(0)?,
                tenant: r.try_get_by_index(1)?,
                user: r.try_get_by_index(2)?,
                channel: r.try_get_by_index(3)?,
                seq: r.try_get_by_index(4)?,
                due_at: r.try_get_by_index(5)?,
                digest_seconds: r.try_get_by_index(6)?,
                attempts: r.try_get_by_index(7)?,
            });
        }
        leads.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));

        let mut taken: HashSet<String> = HashSet::new();
        let mut jobs = Vec::with_capacity(leads.len());
        for lead in &leads {
            if taken.contains(&lead.id) {
                continue;
            }
            let mut items = vec![(lead.id.clone(), lead.seq, lead.attempts)];
            if lead.digest_seconds > 0 {
                match self.claim_window(lead, now, until, &token).await {
                    Ok(window) => items = window,
                    // Another node claiming rows of the same window at the
                    // same moment can make PostgreSQL abort one of us; send
                    // the lead alone, the rest go in a later email.
                    Err(e) => tracing::warn!(email = %lead.id, error = %e, "claiming a digest window failed; sending its first row alone"),
                }
            }
            items.retain(|(id, _, _)| !taken.contains(id) || *id == lead.id);
            taken.extend(items.iter().map(|(id, _, _)| id.clone()));
            jobs.push(parse_job(lead, items, &token)?);
        }
        Ok(jobs)
    }

    /// Leases the recipient's pending rows of the lead's channel that are
    /// due within its digest window (the lead's included).
    async fn claim_window(&self, lead: &Claimed, now: i64, until: i64, token: &str) -> Result<Vec<(String, Seq, i64)>, StoreError> {
        let db = self.db.get_database_backend();
        let window_end = lead.due_at.saturating_add(micros(lead.digest_seconds));
        let values: [Value; 7] = [
            until.into(),
            token.into(),
            lead.tenant.as_str().into(),
            lead.user.as_str().into(),
            lead.channel.as_str().into(),
            window_end.into(),
            now.into(),
        ];
        let stmt = Statement::from_sql_and_values(
            db,
            sql(
                db,
                "UPDATE email_outbox SET lease_until = $1, lease_token = $2 \
                 WHERE tenant_id = $3 AND user_id = $4 AND channel = $5 AND status = 'pending' AND due_at <= $6 \
                 AND (lease_until IS NULL OR lease_until < $7 OR lease_token = $2) RETURNING id, seq, attempts",
                "UPDATE email_outbox SET lease_until = ?1, lease_token = ?2 \
                 WHERE tenant_id = ?3 AND user_id = ?4 AND channel = ?5 AND status = 'pending' AND due_at <= ?6 \
                 AND (lease_until IS NULL OR lease_until < ?7 OR lease_token = ?2) RETURNING id, seq, attempts",
            ),
            values,
        );
        let rows = {
            let _w = self.write_guard().await;
            self.db.query_all_raw(stmt).await?
        };
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push((r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?));
        }
        if !items.iter().any(|(id, _, _)| *id == lead.id) {
            items.push((lead.id.clone(), lead.seq, lead.attempts));
        }
        Ok(items)
    }

    /// Records how an attempt ended for `items` (rows of `job`), and logs
    /// it. Rows this claim no longer holds (its lease ran out and another
    /// worker took them, or a live delivery came first) are left alone.
    /// Returns the rows it changed.
    pub async fn finish_email(&self, job: &EmailJob, items: &[EmailItem], outcome: EmailOutcome<'_>) -> Result<usize, StoreError> {
        if items.is_empty() {
            return Ok(0);
        }
        let now = now_micros();
        let (status, add_attempt, error, send_at, log_status): (&str, i64, Option<&str>, Option<i64>, DeliveryStatus) = match outcome {
            EmailOutcome::Sent => ("sent", 1, None, None, DeliveryStatus::Sent),
            EmailOutcome::Deferred { error, retry_at } => {
                ("pending", 1, Some(error), Some(retry_at.timestamp_micros()), DeliveryStatus::Deferred)
            }
            EmailOutcome::Failed { error } => ("failed", 1, Some(error), None, DeliveryStatus::Failed),
            EmailOutcome::Cancelled { reason } => ("cancelled", 0, Some(reason), None, DeliveryStatus::Cancelled),
        };
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        let db = self.db.get_database_backend();
        let values: [Value; 8] = [
            status.into(),
            add_attempt.into(),
            error.map(str::to_owned).into(),
            send_at.into(),
            now.into(),
            json(&ids).into(),
            job.lease_token.as_str().into(),
            job.tenant.as_str().into(),
        ];
        let stmt = Statement::from_sql_and_values(
            db,
            sql(
                db,
                "UPDATE email_outbox SET status = $1, attempts = attempts + $2, last_error = $3, send_at = COALESCE($4::bigint, send_at), \
                 lease_until = NULL, lease_token = NULL, updated_at = $5 \
                 WHERE id IN (SELECT jsonb_array_elements_text($6::jsonb)) AND lease_token = $7 AND tenant_id = $8 AND status = 'pending' \
                 RETURNING id, seq, attempts",
                "UPDATE email_outbox SET status = ?1, attempts = attempts + ?2, last_error = ?3, send_at = COALESCE(?4, send_at), \
                 lease_until = NULL, lease_token = NULL, updated_at = ?5 \
                 WHERE id IN (SELECT value FROM json_each(?6)) AND lease_token = ?7 AND tenant_id = ?8 AND status = 'pending' \
                 RETURNING id, seq, attempts",
            ),
            values,
        );
        let _w = self.write_guard().await;
        let txn = self.db.begin().await?;
        let rows = txn.query_all_raw(stmt).await?;
        let mut changed: Vec<(String, Seq, i64)> = Vec::with_capacity(rows.len());
        for r in rows {
            changed.push((r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?));
        }
        changed.sort_by_key(|c| c.1);
        let entries: Vec<LogEntry<'_>> = changed
            .iter()
            .map(|(_, seq, attempts)| LogEntry {
                user: job.user.as_str(),
                notification: *seq,
                channel: job.channel.as_str(),
                path: DeliveryPath::Email,
                status: log_status,
                error,
                email: Some(job.id.as_str()),
                attempt: (add_attempt > 0).then_some(*attempts),
                at: now,
            })
            .collect();
        insert_log(&txn, &job.tenant, &entries).await?;
        txn.commit().await?;
        Ok(changed.len())
    }

    /// Committed notifications of the tenant with these ids, oldest first;
    /// ids retention or a channel deletion removed are missing.
    pub async fn notifications_by_id(&self, tenant: &TenantId, ids: &[Seq]) -> Result<Vec<Notification>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows = notification::Entity::find()
                .filter(notification::Column::TenantId.eq(tenant.as_str()))
                .filter(notification::Column::Seq.is_in(chunk.iter().copied()))
                .order_by_asc(notification::Column::Seq)
                .all(&self.db)
                .await?;
            for row in rows {
                out.push(convert::notification(tenant, row)?);
            }
        }
        out.sort_by_key(|n| n.id);
        Ok(out)
    }

    /// A server-wide secret by name, made with `generate` and stored the
    /// first time it is asked for, so that every node sharing the database
    /// gets the same one.
    pub async fn server_secret(&self, name: &str, generate: impl FnOnce() -> String) -> Result<String, StoreError> {
        {
            let _w = self.write_guard().await;
            server_secret::Entity::insert(server_secret::ActiveModel {
                name: Set(name.to_owned()),
                value: Set(generate()),
                created_at: Set(now_micros()),
            })
            .on_conflict_do_nothing()
            .exec(&self.db)
            .await?;
        }
        let row = server_secret::Entity::find_by_id(name).one(&self.db).await?.ok_or(StoreError::NotFound("server secret"))?;
        Ok(row.value)
    }
}

#[cfg(test)]
mod tests {
    use herald_core::email::{EmailAddress, EmailPolicy, Preferences};
    use herald_core::names::{EventType, TenantName};
    use serde_json::value::RawValue;

    use super::*;
    use crate::deliveries::{DeliveryFilter, LiveDelivery};
    use crate::publish::Publisher;
    use crate::recipients::RecipientUpdate;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    fn note(tenant: &TenantId, channel: &str, recipients: Option<&[&str]>) -> NewNotification {
        NewNotification {
            tenant: tenant.clone(),
            channel: ChannelName::parse(channel).unwrap(),
            event_type: EventType::parse("t").unwrap(),
            data: RawValue::from_string("{}".into()).unwrap(),
            recipients: recipients.map(|r| r.iter().map(|u| UserId::parse(*u).unwrap()).collect()),
            idempotency_key: None,
        }
    }

    fn user(u: &str) -> UserId {
        UserId::parse(u).unwrap()
    }

    async fn setup(after: u32, digest: u32) -> (Store, tempfile::TempDir, TenantId, Publisher) {
        let (store, dir) = store().await;
        let t = store.create_tenant(&TenantName::parse("acme").unwrap()).await.unwrap().id;
        let orders = ChannelName::parse("orders").unwrap();
        store.create_channel(&t, &orders, Default::default()).await.unwrap();
        let policy = EmailPolicy { after_seconds: after, digest_seconds: digest, subject: None, text: None, html: None };
        store.set_channel_email(&t, &orders, Some(&policy)).await.unwrap();
        let email = EmailAddress::parse("ada@example.com").unwrap();
        store.put_recipient(&t, &user("ada"), RecipientUpdate { email: &email, locale: None, preferences: None }).await.unwrap();
        let none: Preferences = serde_json::from_value(serde_json::json!({"email": {"channels": "none"}})).unwrap();
        let email = EmailAddress::parse("bob@example.com").unwrap();
        store.put_recipient(&t, &user("bob"), RecipientUpdate { email: &email, locale: None, preferences: Some(&none) }).await.unwrap();
        let (publisher, _task) = Publisher::start(store.clone(), std::sync::Arc::new(|_: &[_]| {}), 16, 64);
        (store, dir, t, publisher)
    }

    #[tokio::test]
    async fn only_direct_notifications_to_willing_recipients_on_email_channels_are_queued() {
        let (store, _dir, t, publisher) = setup(0, 0).await;
        publisher
            .publish(vec![
                note(&t, "orders", None),                                  // broadcast: no email
                note(&t, "orders", Some(&["ada", "bob", "carol", "ada"])), // bob said none, carol has no record
                note(&t, "billing", Some(&["ada"])),                       // no email policy
            ])
            .await
            .unwrap();
        assert_eq!(store.pending_email_count().await.unwrap(), 1);
        let jobs = store.claim_emails(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!((jobs[0].user.as_str(), jobs[0].channel.as_str()), ("ada", "orders"));
        assert_eq!(jobs[0].items.iter().map(|i| i.notification).collect::<Vec<_>>(), vec![2]);
        // Leased: a second claim gets nothing.
        assert!(store.claim_emails(10, Duration::from_secs(60)).await.unwrap().is_empty());
        assert_eq!(store.finish_email(&jobs[0], &jobs[0].items, EmailOutcome::Sent).await.unwrap(), 1);
        // Exactly once: finishing again changes nothing.
        assert_eq!(store.finish_email(&jobs[0], &jobs[0].items, EmailOutcome::Sent).await.unwrap(), 0);
        assert_eq!(store.pending_email_count().await.unwrap(), 0);
        let log = store.list_deliveries(&t, DeliveryFilter::default(), None, 10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].status, log[0].attempt, log[0].email.as_ref()), (DeliveryStatus::Sent, Some(1), Some(&jobs[0].id)));
    }

    #[tokio::test]
    async fn a_digest_window_makes_one_email_and_a_retry_keeps_it() {
        let (store, _dir, t, publisher) = setup(0, 1).await;
        for _ in 0..3 {
            publisher.publish(vec![note(&t, "orders", Some(&["ada"]))]).await.unwrap();
        }
        // Not before the window closes.
        assert!(store.claim_emails(10, Duration::from_secs(60)).await.unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let jobs = store.claim_emails(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].items.iter().map(|i| i.notification).collect::<Vec<_>>(), vec![1, 2, 3]);
        let retry_at = Utc::now();
        let n = store.finish_email(&jobs[0], &jobs[0].items, EmailOutcome::Deferred { error: "451 busy", retry_at }).await.unwrap();
        assert_eq!(n, 3);
        let again = store.claim_emails(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((&again[0].id, &again[0].items, again[0].attempts), (&jobs[0].id, &jobs[0].items, 1));
        store.finish_email(&again[0], &again[0].items, EmailOutcome::Failed { error: "550 no" }).await.unwrap();
        let log = store.list_deliveries(&t, DeliveryFilter { user: Some(&user("ada")), notification: Some(2) }, None, 10).await.unwrap();
        let got: Vec<_> = log.iter().map(|d| (d.status, d.attempt, d.error.as_deref())).collect();
        assert_eq!(got, vec![(DeliveryStatus::Deferred, Some(1), Some("451 busy")), (DeliveryStatus::Failed, Some(2), Some("550 no"))]);
    }

    #[tokio::test]
    async fn a_live_delivery_cancels_a_pending_email_but_not_one_being_sent() {
        let (store, _dir, t, publisher) = setup(0, 0).await;
        publisher.publish(vec![note(&t, "orders", Some(&["ada"])), note(&t, "orders", Some(&["ada"]))]).await.unwrap();
        let live = |seq| LiveDelivery {
            user: user("ada"),
            notification: seq,
            channel: ChannelName::parse("orders").unwrap(),
            path: DeliveryPath::Stream,
            at: Utc::now(),
        };
        store.record_live_deliveries(&t, &[live(1)]).await.unwrap();
        let jobs = store.claim_emails(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(jobs.iter().map(|j| j.items[0].notification).collect::<Vec<_>>(), vec![2]);
        // Claimed: a live delivery now leaves it to the worker.
        store.record_live_deliveries(&t, &[live(2)]).await.unwrap();
        assert_eq!(store.finish_email(&jobs[0], &jobs[0].items, EmailOutcome::Sent).await.unwrap(), 1);
        let log = store.list_deliveries(&t, DeliveryFilter::default(), None, 10).await.unwrap();
        let got: Vec<_> = log.iter().map(|d| (d.notification, d.path, d.status)).collect();
        // The second live delivery cancelled nothing and left no trace.
        assert_eq!(got, vec![(1, DeliveryPath::Stream, DeliveryStatus::Delivered), (2, DeliveryPath::Email, DeliveryStatus::Sent)]);
    }

    #[tokio::test]
    async fn unsubscribing_and_the_server_secret() {
        let (store, _dir, t, _publisher) = setup(0, 0).await;
        let orders = ChannelName::parse("orders").unwrap();
        let r = store.unsubscribe_recipient(&t, &user("ada"), Some(&orders)).await.unwrap().unwrap();
        assert!(!r.preferences.email.allows(&orders));
        assert!(store.unsubscribe_recipient(&t, &user("nobody"), None).await.unwrap().is_none());

        let a = store.server_secret("unsubscribe", || "first".into()).await.unwrap();
        let b = store.server_secret("unsubscribe", || "second".into()).await.unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("first", "first"));

        // Deleting the tenant takes its email data along.
        store.delete_tenant(&t).await.unwrap();
        assert!(matches!(store.get_recipient(&t, &user("ada")).await, Err(StoreError::NotFound(_))));
    }
}
