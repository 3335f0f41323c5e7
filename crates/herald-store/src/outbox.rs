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
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, Set, Value};

use crate::clock::now_micros;
use crate::deliveries::{LogEntry, insert_log};
use crate::dialect::{Dialect, Sql, json_list};
use crate::entity::{notification, server_secret};
use crate::outbox_status::{OutboxStatus, outbox_status};
use crate::write::WriteTxn;
use crate::{Store, StoreError, convert};

/// Ids per `IN (…)` list and rows per insert: bounded statement sizes.
const CHUNK: usize = 5000;

fn micros(seconds: i64) -> i64 {
    seconds.saturating_mul(1_000_000)
}

const CHANNEL_DELAYS: Sql = Sql {
    postgres: "SELECT name, email_after_seconds, COALESCE(email_digest_seconds, 0) AS email_digest_seconds FROM channels \
               WHERE tenant_id = $1 AND email_after_seconds IS NOT NULL AND name IN (SELECT jsonb_array_elements_text($2::jsonb))",
    sqlite: "SELECT name, email_after_seconds, COALESCE(email_digest_seconds, 0) AS email_digest_seconds FROM channels \
             WHERE tenant_id = ?1 AND email_after_seconds IS NOT NULL AND name IN (SELECT value FROM json_each(?2))",
};

/// A channel that emails, and after how long ([`CHANNEL_DELAYS`]).
#[derive(Debug, FromQueryResult)]
struct ChannelDelays {
    name: String,
    email_after_seconds: i64,
    /// 0 without a digest window.
    email_digest_seconds: i64,
}

const RECIPIENT_PREFERENCES: Sql = Sql {
    postgres: "SELECT user_id, preferences FROM recipients WHERE tenant_id = $1 AND user_id IN (SELECT jsonb_array_elements_text($2::jsonb))",
    sqlite: "SELECT user_id, preferences FROM recipients WHERE tenant_id = ?1 AND user_id IN (SELECT value FROM json_each(?2))",
};

/// A recipient's preferences as stored: JSON text ([`RECIPIENT_PREFERENCES`]).
#[derive(Debug, FromQueryResult)]
struct RecipientPreferences {
    user_id: String,
    preferences: String,
}

/// A new outbox row, as its JSON row in [`INSERT_PENDING`].
struct PendingParam<'a> {
    id: String,
    user: &'a str,
    channel: &'a str,
    seq: Seq,
    due_at: i64,
    digest_seconds: i64,
    send_at: i64,
}

impl PendingParam<'_> {
    /// `[id, user, channel, seq, due_at, digest_seconds, send_at]`, the
    /// positions [`INSERT_PENDING`] reads.
    fn json(rows: &[Self]) -> String {
        let tuples: Vec<(&str, &str, &str, Seq, i64, i64, i64)> =
            rows.iter().map(|r| (r.id.as_str(), r.user, r.channel, r.seq, r.due_at, r.digest_seconds, r.send_at)).collect();
        serde_json::to_string(&tuples).expect("rows serialize")
    }
}

const INSERT_PENDING: Sql = Sql {
    postgres: concat!(
        "INSERT INTO email_outbox (id, tenant_id, user_id, channel, seq, status, due_at, digest_seconds, send_at, attempts, created_at, updated_at) \
         SELECT v->>0, $1, v->>1, v->>2, (v->>3)::bigint, '",
        outbox_status!(Pending),
        "', (v->>4)::bigint, (v->>5)::bigint, (v->>6)::bigint, 0, $2, $2 \
         FROM jsonb_array_elements($3::jsonb) AS v"
    ),
    sqlite: concat!(
        "INSERT INTO email_outbox (id, tenant_id, user_id, channel, seq, status, due_at, digest_seconds, send_at, attempts, created_at, updated_at) \
         SELECT json_extract(value, '$[0]'), ?1, json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
         '",
        outbox_status!(Pending),
        "', json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]'), 0, ?2, ?2 FROM json_each(?3)"
    ),
};

/// Adds the pending emails a group's new notifications call for. Runs in
/// the publish transaction; see the module documentation.
pub(crate) async fn enqueue(
    txn: &WriteTxn<'_>,
    dialect: Dialect,
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

    // Which of their channels email, and after how long.
    let mut names: Vec<&str> = direct.iter().map(|(_, n)| n.channel.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut policies: HashMap<String, ChannelDelays> = HashMap::new();
    for chunk in names.chunks(CHUNK) {
        let stmt = dialect.statement(&CHANNEL_DELAYS, [tenant.as_str().into(), json_list(chunk).into()]);
        for row in ChannelDelays::find_by_statement(stmt).all(txn).await? {
            policies.insert(row.name.clone(), row);
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
        let stmt = dialect.statement(&RECIPIENT_PREFERENCES, [tenant.as_str().into(), json_list(chunk).into()]);
        for row in RecipientPreferences::find_by_statement(stmt).all(txn).await? {
            // An unreadable row costs that recipient their email, never the publish.
            match serde_json::from_str(&row.preferences) {
                Ok(p) => {
                    preferences.insert(row.user_id, p);
                }
                Err(e) => {
                    tracing::error!(tenant = %tenant, user = row.user_id, error = %e, "corrupt recipient preferences; not emailing this recipient")
                }
            }
        }
    }
    if preferences.is_empty() {
        return Ok(());
    }

    let mut rows: Vec<PendingParam<'_>> = Vec::new();
    for (seq, n) in &direct {
        let Some(delays) = policies.get(n.channel.as_str()) else { continue };
        let due_at = now + micros(delays.email_after_seconds);
        let digest_seconds = delays.email_digest_seconds;
        let mut seen = HashSet::new();
        for user in n.recipients.iter().flatten() {
            let allowed = preferences.get(user.as_str()).is_some_and(|p| p.email.allows(&n.channel));
            if allowed && seen.insert(user.as_str()) {
                rows.push(PendingParam {
                    id: EmailId::generate().to_string(),
                    user: user.as_str(),
                    channel: n.channel.as_str(),
                    seq: *seq,
                    due_at,
                    digest_seconds,
                    send_at: due_at + micros(digest_seconds),
                });
            }
        }
    }
    for chunk in rows.chunks(CHUNK) {
        let values: [Value; 3] = [tenant.as_str().into(), now.into(), PendingParam::json(chunk).into()];
        txn.execute_raw(dialect.statement(&INSERT_PENDING, values)).await?;
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

const CLAIM: Sql = Sql {
    postgres: concat!(
        "UPDATE email_outbox SET lease_until = $1, lease_token = $2 WHERE id IN (\
           SELECT id FROM email_outbox WHERE status = '",
        outbox_status!(Pending),
        "' AND send_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
           ORDER BY send_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING id, tenant_id, user_id, channel, seq, due_at, digest_seconds, attempts"
    ),
    sqlite: concat!(
        "UPDATE email_outbox SET lease_until = ?1, lease_token = ?2 WHERE id IN (\
           SELECT id FROM email_outbox WHERE status = '",
        outbox_status!(Pending),
        "' AND send_at <= ?3 AND (lease_until IS NULL OR lease_until < ?3) \
           ORDER BY send_at, id LIMIT ?4) \
         RETURNING id, tenant_id, user_id, channel, seq, due_at, digest_seconds, attempts"
    ),
};

/// A row [`CLAIM`] leased: the lead of an email.
#[derive(Debug, FromQueryResult)]
struct Claimed {
    id: String,
    tenant_id: String,
    user_id: String,
    channel: String,
    seq: Seq,
    due_at: i64,
    digest_seconds: i64,
    attempts: i64,
}

impl Claimed {
    fn item(&self) -> ClaimedItem {
        ClaimedItem { id: self.id.clone(), seq: self.seq, attempts: self.attempts }
    }
}

/// A row of an email, as [`CLAIM_WINDOW`] and [`FINISH`] return it.
#[derive(Debug, FromQueryResult)]
struct ClaimedItem {
    id: String,
    seq: Seq,
    attempts: i64,
}

fn parse_job(lead: &Claimed, items: Vec<ClaimedItem>, token: &str) -> Result<EmailJob, StoreError> {
    let corrupt = |what: &'static str| move |e: herald_core::DomainError| StoreError::Corrupt(format!("{what}: {e}"));
    let mut parsed = Vec::with_capacity(items.len());
    let mut attempts = lead.attempts;
    for item in items {
        attempts = attempts.max(item.attempts);
        parsed.push(EmailItem { id: EmailId::parse(&item.id).map_err(corrupt("email id"))?, notification: item.seq });
    }
    parsed.sort_by_key(|i| i.notification);
    Ok(EmailJob {
        id: EmailId::parse(&lead.id).map_err(corrupt("email id"))?,
        tenant: TenantId::parse(&lead.tenant_id).map_err(corrupt("tenant id"))?,
        user: UserId::parse(lead.user_id.clone()).map_err(corrupt("user id"))?,
        channel: ChannelName::parse(lead.channel.clone()).map_err(corrupt("channel"))?,
        items: parsed,
        attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
        lease_token: token.to_owned(),
    })
}

const CLAIM_WINDOW: Sql = Sql {
    postgres: concat!(
        "UPDATE email_outbox SET lease_until = $1, lease_token = $2 \
         WHERE tenant_id = $3 AND user_id = $4 AND channel = $5 AND status = '",
        outbox_status!(Pending),
        "' AND due_at <= $6 \
         AND (lease_until IS NULL OR lease_until < $7 OR lease_token = $2) RETURNING id, seq, attempts"
    ),
    sqlite: concat!(
        "UPDATE email_outbox SET lease_until = ?1, lease_token = ?2 \
         WHERE tenant_id = ?3 AND user_id = ?4 AND channel = ?5 AND status = '",
        outbox_status!(Pending),
        "' AND due_at <= ?6 \
         AND (lease_until IS NULL OR lease_until < ?7 OR lease_token = ?2) RETURNING id, seq, attempts"
    ),
};

const FINISH: Sql = Sql {
    postgres: concat!(
        "UPDATE email_outbox SET status = $1, attempts = attempts + $2, last_error = $3, send_at = COALESCE($4::bigint, send_at), \
         lease_until = NULL, lease_token = NULL, updated_at = $5 \
         WHERE id IN (SELECT jsonb_array_elements_text($6::jsonb)) AND lease_token = $7 AND tenant_id = $8 AND status = '",
        outbox_status!(Pending),
        "' RETURNING id, seq, attempts"
    ),
    sqlite: concat!(
        "UPDATE email_outbox SET status = ?1, attempts = attempts + ?2, last_error = ?3, send_at = COALESCE(?4, send_at), \
         lease_until = NULL, lease_token = NULL, updated_at = ?5 \
         WHERE id IN (SELECT value FROM json_each(?6)) AND lease_token = ?7 AND tenant_id = ?8 AND status = '",
        outbox_status!(Pending),
        "' RETURNING id, seq, attempts"
    ),
};

impl Store {
    /// Claims up to `limit` emails that may be sent now, for `lease`. Each
    /// comes with the rows its digest window gathers.
    pub async fn claim_emails(&self, limit: u64, lease: Duration) -> Result<Vec<EmailJob>, StoreError> {
        let now = now_micros();
        let until = now.saturating_add(lease.as_micros().min(i64::MAX as u128) as i64);
        let token = secret::generate("lease");

        let values: [Value; 4] = [until.into(), token.clone().into(), now.into(), (limit.min(i64::MAX as u64) as i64).into()];
        let stmt = self.dialect().statement(&CLAIM, values);
        let mut leads = self.write_autocommit(|db| async move { Ok(Claimed::find_by_statement(stmt).all(db).await?) }).await?;
        leads.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));

        let mut taken: HashSet<String> = HashSet::new();
        let mut jobs = Vec::with_capacity(leads.len());
        for lead in &leads {
            if taken.contains(&lead.id) {
                continue;
            }
            let mut items = vec![lead.item()];
            if lead.digest_seconds > 0 {
                match self.claim_window(lead, now, until, &token).await {
                    Ok(window) => items = window,
                    // Another node claiming rows of the same window at the
                    // same moment can make PostgreSQL abort one of us; send
                    // the lead alone, the rest go in a later email.
                    Err(e) => tracing::warn!(email = %lead.id, error = %e, "claiming a digest window failed; sending its first row alone"),
                }
            }
            items.retain(|item| !taken.contains(&item.id) || item.id == lead.id);
            taken.extend(items.iter().map(|item| item.id.clone()));
            jobs.push(parse_job(lead, items, &token)?);
        }
        Ok(jobs)
    }

    /// Leases the recipient's pending rows of the lead's channel that are
    /// due within its digest window (the lead's included).
    async fn claim_window(&self, lead: &Claimed, now: i64, until: i64, token: &str) -> Result<Vec<ClaimedItem>, StoreError> {
        let window_end = lead.due_at.saturating_add(micros(lead.digest_seconds));
        let values: [Value; 7] = [
            until.into(),
            token.into(),
            lead.tenant_id.as_str().into(),
            lead.user_id.as_str().into(),
            lead.channel.as_str().into(),
            window_end.into(),
            now.into(),
        ];
        let stmt = self.dialect().statement(&CLAIM_WINDOW, values);
        let mut items = self.write_autocommit(|db| async move { Ok(ClaimedItem::find_by_statement(stmt).all(db).await?) }).await?;
        if !items.iter().any(|item| item.id == lead.id) {
            items.push(lead.item());
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
        let (log_status, add_attempt, error, send_at): (DeliveryStatus, i64, Option<&str>, Option<i64>) = match outcome {
            EmailOutcome::Sent => (DeliveryStatus::Sent, 1, None, None),
            EmailOutcome::Deferred { error, retry_at } => (DeliveryStatus::Deferred, 1, Some(error), Some(retry_at.timestamp_micros())),
            EmailOutcome::Failed { error } => (DeliveryStatus::Failed, 1, Some(error), None),
            EmailOutcome::Cancelled { reason } => (DeliveryStatus::Cancelled, 0, Some(reason), None),
        };
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        let values: [Value; 8] = [
            OutboxStatus::after(log_status).into(),
            add_attempt.into(),
            error.map(str::to_owned).into(),
            send_at.into(),
            now.into(),
            json_list(&ids).into(),
            job.lease_token.as_str().into(),
            job.tenant.as_str().into(),
        ];
        let stmt = self.dialect().statement(&FINISH, values);
        self.write(|txn| {
            Box::pin(async move {
                let mut changed = ClaimedItem::find_by_statement(stmt).all(txn).await?;
                changed.sort_by_key(|c| c.seq);
                let entries: Vec<LogEntry<'_>> = changed
                    .iter()
                    .map(|c| LogEntry {
                        user: job.user.as_str(),
                        notification: c.seq,
                        channel: job.channel.as_str(),
                        path: DeliveryPath::Email,
                        status: log_status,
                        error,
                        email: Some(job.id.as_str()),
                        attempt: (add_attempt > 0).then_some(c.attempts),
                        at: now,
                    })
                    .collect();
                insert_log(txn, &job.tenant, &entries).await?;
                Ok(changed.len())
            })
        })
        .await
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
    /// gets the same one. Sealed at rest when `secrets_key` is set, like
    /// signing secrets (see `sealed_secrets.rs`).
    pub async fn server_secret(&self, name: &str, generate: impl FnOnce() -> String) -> Result<String, StoreError> {
        let value = self.seal_secret(&generate());
        self.write_autocommit(|db| async move {
            let row = server_secret::ActiveModel { name: Set(name.to_owned()), value: Set(value), created_at: Set(now_micros()) };
            server_secret::Entity::insert(row).on_conflict_do_nothing().exec(db).await?;
            Ok(())
        })
        .await?;
        let row = server_secret::Entity::find_by_id(name).one(&self.db).await?.ok_or(StoreError::NotFound("server secret"))?;
        self.open_secret(row.value)
    }
}

#[cfg(test)]
mod tests {
    use herald_core::email::{EmailAddress, EmailPolicy, Preferences};
    use herald_core::names::{EventType, TenantName};
    use serde_json::value::RawValue;

    use super::*;
    use crate::DbKind;
    use crate::deliveries::{DeliveryFilter, LiveDelivery};
    use crate::publish::Publisher;
    use crate::recipients::RecipientUpdate;
    use crate::test_db::{TestDb, on_each_backend};

    async fn store(kind: DbKind) -> (Store, TestDb) {
        let db = TestDb::new(kind).await;
        (db.store.clone(), db)
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

    async fn setup(kind: DbKind, after: u32, digest: u32) -> (Store, TestDb, TenantId, Publisher) {
        let (store, dir) = store(kind).await;
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

    async fn only_direct_notifications_to_willing_recipients_on_email_channels_are_queued(kind: DbKind) {
        let (store, _dir, t, publisher) = setup(kind, 0, 0).await;
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

    async fn a_digest_window_makes_one_email_and_a_retry_keeps_it(kind: DbKind) {
        const WINDOW: Duration = Duration::from_secs(2);
        let (store, _dir, t, publisher) = setup(kind, 0, WINDOW.as_secs() as u32).await;
        let first = tokio::time::Instant::now();
        for _ in 0..3 {
            publisher.publish(vec![note(&t, "orders", Some(&["ada"]))]).await.unwrap();
        }
        // Not before the window closes (checkable only while it is still
        // open: a loaded machine may get here after it closed).
        let early = store.claim_emails(10, Duration::from_secs(60)).await.unwrap();
        let jobs = if early.is_empty() {
            tokio::time::sleep_until(first + WINDOW + Duration::from_millis(100)).await;
            store.claim_emails(10, Duration::from_secs(60)).await.unwrap()
        } else {
            assert!(first.elapsed() >= WINDOW, "claimed before the window closed: {early:?}");
            early
        };
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

    async fn a_live_delivery_cancels_a_pending_email_but_not_one_being_sent(kind: DbKind) {
        let (store, _dir, t, publisher) = setup(kind, 0, 0).await;
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

    async fn unsubscribing_and_the_server_secret(kind: DbKind) {
        let (store, _dir, t, _publisher) = setup(kind, 0, 0).await;
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

    on_each_backend!(
        only_direct_notifications_to_willing_recipients_on_email_channels_are_queued,
        a_digest_window_makes_one_email_and_a_retry_keeps_it,
        a_live_delivery_cancels_a_pending_email_but_not_one_being_sent,
        unsubscribing_and_the_server_secret
    );
}
