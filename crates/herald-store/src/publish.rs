//! Publishing with group commit.
//!
//! Every publish goes through one writer task per process. The task takes
//! whatever requests are waiting, commits them in one transaction, answers
//! each request, then calls the commit hook (the live fan-out) in commit
//! order. Answering first matters under load: the answer's wake-up is queued
//! on its HTTP worker ahead of the thousands of stream wake-ups the fan-out
//! causes, so a publisher is not kept waiting behind the delivery of what it
//! published. This gives:
//! - durability before acknowledgement (201 only after COMMIT);
//! - hub order equal to commit order, which gapless replay relies on;
//! - one fsync for many concurrent publishes.
//!
//! Ids come from the tenant row's `last_seq`, bumped inside the transaction;
//! on PostgreSQL the row lock also orders commits between nodes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::ids::{Seq, TenantId};
use herald_core::notification::{NewNotification, Notification};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, Set};
use tokio::sync::{mpsc, oneshot};

use crate::clock::{now_micros, to_datetime};
use crate::dialect::Dialect;
use crate::entity::idempotency_key;
use crate::write::WriteTxn;
use crate::{Store, StoreError, bulk};

/// How long an idempotency key keeps returning the first publish's id.
pub const IDEMPOTENCY_WINDOW_MICROS: i64 = 24 * 3600 * 1_000_000;

/// Rows per INSERT statement (keeps well under bind-parameter limits).
const INSERT_CHUNK: usize = 500;

/// Called after each commit with the notifications it made durable, in
/// commit order, once the commit's publishers have been answered. Must not
/// block: it runs on the writer task.
pub type CommitHook = Arc<dyn Fn(&[Arc<Notification>]) + Send + Sync>;

/// Told how long each group's transaction took, from taking a connection
/// and `BEGIN` to the end of `COMMIT` (its statements and, on SQLite, the
/// fsync): the `commit` step of the latency breakdown.
pub type CommitObserver = Arc<dyn Fn(Duration) + Send + Sync>;

/// What the writer answers for one publish request: the ids in request
/// order. A repeated idempotency key answers the first publish's id.
pub type PublishResult = Result<Vec<Seq>, StoreError>;

struct Job {
    items: Vec<NewNotification>,
    reply: oneshot::Sender<PublishResult>,
}

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Publisher")
    }
}

impl Publisher {
    /// Starts the writer task on the current tokio runtime. `queue` bounds
    /// waiting requests; `max_group` bounds the notifications committed
    /// (and so handed to each live subscriber) at once, except that one
    /// request is never split.
    pub fn start(store: Store, hook: CommitHook, queue: usize, max_group: usize) -> (Self, tokio::task::JoinHandle<()>) {
        Self::start_observed(store, hook, None, queue, max_group)
    }

    /// Like [`Publisher::start`], telling `on_commit` how long each
    /// group's transaction took.
    pub fn start_observed(
        store: Store,
        hook: CommitHook,
        on_commit: Option<CommitObserver>,
        queue: usize,
        max_group: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let task = tokio::spawn(writer(store, hook, on_commit, rx, max_group.max(1)));
        (Self { tx }, task)
    }

    /// Publishes notifications of one tenant atomically; returns their ids
    /// once they are durably committed.
    pub async fn publish(&self, items: Vec<NewNotification>) -> PublishResult {
        debug_assert!(items.windows(2).all(|w| w[0].tenant == w[1].tenant));
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job { items, reply }).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn writer(store: Store, hook: CommitHook, on_commit: Option<CommitObserver>, mut rx: mpsc::Receiver<Job>, max_group: usize) {
    // A request that did not fit in the previous group opens the next one.
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        let mut count = first.items.len();
        let mut jobs = vec![first];
        while count < max_group {
            match rx.try_recv() {
                Ok(job) if count + job.items.len() > max_group => {
                    carry = Some(job);
                    break;
                }
                Ok(job) => {
                    count += job.items.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let groups: Vec<&[NewNotification]> = jobs.iter().map(|j| j.items.as_slice()).collect();
        let began = Instant::now();
        match store.commit_group(&groups).await {
            Ok((results, committed)) => {
                if let Some(observe) = &on_commit {
                    observe(began.elapsed());
                }
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
                hook(&committed);
            }
            Err(e) if jobs.len() == 1 => {
                tracing::warn!(error = %e, "publish transaction failed");
                let _ = jobs.pop().map(|j| j.reply.send(Err(e)));
            }
            Err(e) => {
                // One bad request must not fail its neighbours: retry alone.
                tracing::warn!(error = %e, requests = jobs.len(), "group commit failed; retrying requests one by one");
                for job in jobs {
                    match store.commit_group(&[job.items.as_slice()]).await {
                        Ok((mut results, committed)) => {
                            let _ = job.reply.send(results.pop().unwrap_or(Err(StoreError::Closed)));
                            hook(&committed);
                        }
                        Err(e) => {
                            let _ = job.reply.send(Err(e));
                        }
                    }
                }
            }
        }
    }
}

/// Where one requested notification ended up.
enum Slot {
    /// Already published under the same idempotency key.
    Existing(Seq),
    /// New, at this offset among the tenant's new notifications.
    New(usize),
}

impl Store {
    /// Commits several publish requests in one transaction. Returns one
    /// result per request and the newly committed notifications in order.
    async fn commit_group(&self, jobs: &[&[NewNotification]]) -> Result<(Vec<PublishResult>, Vec<Arc<Notification>>), StoreError> {
        let dialect = self.dialect();
        self.write(|txn| Box::pin(commit_jobs(txn, dialect, jobs))).await
    }
}

/// The body of [`Store::commit_group`], inside its transaction.
async fn commit_jobs(
    txn: &WriteTxn<'_>,
    dialect: Dialect,
    jobs: &[&[NewNotification]],
) -> Result<(Vec<PublishResult>, Vec<Arc<Notification>>), StoreError> {
    let now = now_micros();
    let mut results: Vec<Option<PublishResult>> = (0..jobs.len()).map(|_| None).collect();
    let mut committed = Vec::new();

    let mut by_tenant: Vec<(&TenantId, Vec<usize>)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let Some(first) = job.first() else {
            results[i] = Some(Ok(Vec::new()));
            continue;
        };
        match by_tenant.iter_mut().find(|(t, _)| *t == &first.tenant) {
            Some((_, idxs)) => idxs.push(i),
            None => by_tenant.push((&first.tenant, vec![i])),
        }
    }

    // Lock tenant rows in one global order, so concurrent groups on
    // several nodes cannot deadlock.
    by_tenant.sort_by(|a, b| a.0.cmp(b.0));
    for (tenant, idxs) in by_tenant {
        match commit_tenant(txn, dialect, tenant, idxs.iter().map(|&i| jobs[i]), now).await? {
            Some((seqs, mut new)) => {
                for (i, s) in idxs.into_iter().zip(seqs) {
                    results[i] = Some(Ok(s));
                }
                committed.append(&mut new);
            }
            None => {
                for i in idxs {
                    results[i] = Some(Err(StoreError::NotFound("tenant")));
                }
            }
        }
    }
    Ok((results.into_iter().map(|r| r.unwrap_or(Err(StoreError::Closed))).collect(), committed))
}

/// An idempotency key already used, and the id it answers.
#[derive(Debug, FromQueryResult)]
struct KeyedSeq {
    key: String,
    seq: Seq,
}

/// Writes one tenant's share of a group. `None` when the tenant is gone.
async fn commit_tenant<'a>(
    txn: &WriteTxn<'_>,
    dialect: Dialect,
    tenant: &TenantId,
    jobs: impl Iterator<Item = &'a [NewNotification]> + Clone,
    now: i64,
) -> Result<Option<(Vec<Vec<Seq>>, Vec<Arc<Notification>>)>, StoreError> {
    let t = tenant.as_str();
    let keys: Vec<&str> = jobs.clone().flatten().filter_map(|n| n.idempotency_key.as_ref().map(|k| k.as_str())).collect();
    let mut known: HashMap<String, Seq> = HashMap::new();
    if !keys.is_empty() {
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::TenantId.eq(t))
            .filter(idempotency_key::Column::Key.is_in(keys.iter().copied()))
            .filter(idempotency_key::Column::CreatedAt.lt(now - IDEMPOTENCY_WINDOW_MICROS))
            .exec(txn)
            .await?;
        let rows: Vec<KeyedSeq> = idempotency_key::Entity::find()
            .select_only()
            .column(idempotency_key::Column::Key)
            .column(idempotency_key::Column::Seq)
            .filter(idempotency_key::Column::TenantId.eq(t))
            .filter(idempotency_key::Column::Key.is_in(keys.iter().copied()))
            .into_model()
            .all(txn)
            .await?;
        known.extend(rows.into_iter().map(|r| (r.key, r.seq)));
    }

    // Decide which items are new; a key repeated within the group maps to
    // the first occurrence.
    let mut fresh: Vec<&NewNotification> = Vec::new();
    let mut pending_keys: HashMap<&str, usize> = HashMap::new();
    let mut plan: Vec<Vec<Slot>> = Vec::new();
    for job in jobs {
        let mut slots = Vec::with_capacity(job.len());
        for n in job {
            let key = n.idempotency_key.as_ref().map(|k| k.as_str());
            let slot = match key {
                Some(k) if known.contains_key(k) => Slot::Existing(known[k]),
                Some(k) if pending_keys.contains_key(k) => Slot::New(pending_keys[k]),
                _ => {
                    if let Some(k) = key {
                        pending_keys.insert(k, fresh.len());
                    }
                    fresh.push(n);
                    Slot::New(fresh.len() - 1)
                }
            };
            slots.push(slot);
        }
        plan.push(slots);
    }

    let mut first_seq = 0;
    if !fresh.is_empty() {
        let Some(last) = bulk::append(txn, dialect, tenant, &fresh, now).await? else {
            return Ok(None);
        };
        first_seq = last - fresh.len() as i64 + 1;
        // Pending emails commit with the notifications that call for them.
        crate::outbox::enqueue(txn, dialect, tenant, &fresh, first_seq, now).await?;
        let keyed: Vec<idempotency_key::ActiveModel> = pending_keys
            .iter()
            .map(|(k, &i)| idempotency_key::ActiveModel {
                tenant_id: Set(t.to_owned()),
                key: Set((*k).to_owned()),
                seq: Set(first_seq + i as i64),
                created_at: Set(now),
            })
            .collect();
        for chunk in keyed.chunks(INSERT_CHUNK) {
            idempotency_key::Entity::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
        }
    }

    let seqs = plan
        .into_iter()
        .map(|slots| {
            slots
                .into_iter()
                .map(|s| match s {
                    Slot::Existing(seq) => seq,
                    Slot::New(i) => first_seq + i as i64,
                })
                .collect()
        })
        .collect();
    let created_at = to_datetime(now);
    let committed = fresh
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            Arc::new(Notification {
                tenant: tenant.clone(),
                id: first_seq + i as i64,
                channel: n.channel.clone(),
                event_type: n.event_type.clone(),
                data: n.data.clone(),
                recipients: n.recipients.clone(),
                created_at,
            })
        })
        .collect();
    Ok(Some((seqs, committed)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use herald_core::names::{ChannelName, EventType, IdempotencyKey, TenantName};
    use serde_json::value::RawValue;

    use super::*;
    use crate::DbKind;
    use crate::test_db::{TestDb, on_each_backend};

    fn note(tenant: &TenantId, channel: &str, key: Option<&str>) -> NewNotification {
        NewNotification {
            tenant: tenant.clone(),
            channel: ChannelName::parse(channel).unwrap(),
            event_type: EventType::parse("t").unwrap(),
            data: RawValue::from_string("{}".into()).unwrap(),
            recipients: None,
            idempotency_key: key.map(|k| IdempotencyKey::parse(k).unwrap()),
        }
    }

    async fn store(kind: DbKind) -> (Store, TestDb) {
        let db = TestDb::new(kind).await;
        (db.store.clone(), db)
    }

    async fn a_group_commits_per_tenant_and_a_missing_tenant_fails_alone(kind: DbKind) {
        let (store, _db) = store(kind).await;
        let a = store.create_tenant(&TenantName::parse("a").unwrap()).await.unwrap().id;
        let b = store.create_tenant(&TenantName::parse("b").unwrap()).await.unwrap().id;
        let gone = TenantId::generate();
        let jobs = [
            vec![note(&a, "x", None), note(&a, "y", Some("k"))],
            vec![note(&gone, "x", None)],
            vec![note(&b, "x", None)],
            vec![note(&a, "x", Some("k")), note(&a, "z", None)],
        ];
        let groups: Vec<&[NewNotification]> = jobs.iter().map(Vec::as_slice).collect();
        let (results, committed) = store.commit_group(&groups).await.unwrap();
        assert_eq!(results[0].as_ref().unwrap(), &vec![1, 2]);
        assert!(matches!(results[1], Err(StoreError::NotFound("tenant"))));
        assert_eq!(results[2].as_ref().unwrap(), &vec![1]);
        // The repeated key maps to the earlier notification; only `z` is new.
        assert_eq!(results[3].as_ref().unwrap(), &vec![2, 3]);
        let order: Vec<(String, Seq)> = committed.iter().map(|n| (n.tenant.to_string(), n.id)).collect();
        // Grouped per tenant, in id order within each.
        let mut want = vec![(a.to_string(), 1), (a.to_string(), 2), (a.to_string(), 3), (b.to_string(), 1)];
        if b < a {
            want.rotate_left(3);
        }
        assert_eq!(order, want);
    }

    /// One round trip appends a group (`bulk::append`): every row lands with
    /// its id, channel, type, data and recipients; channels new to the tenant
    /// are created once each with default retention; a channel that exists
    /// keeps its settings; nothing is written for a tenant that is gone.
    async fn a_group_lands_whole_and_creates_only_missing_channels(kind: DbKind) {
        use herald_core::names::UserId;
        use herald_core::retention::Retention;

        let (store, _db) = store(kind).await;
        let a = store.create_tenant(&TenantName::parse("a").unwrap()).await.unwrap().id;
        let kept = Retention { max_count: Some(7), max_age_seconds: Some(60) };
        let old = store.create_channel(&a, &ChannelName::parse("old").unwrap(), kept).await.unwrap();

        let mut direct = note(&a, "new", None);
        direct.recipients = Some(vec![UserId::parse("u1").unwrap(), UserId::parse("u\"2").unwrap()]);
        direct.data = RawValue::from_string(r#"{"text":"it's \"quoted\"","n":[1,2]}"#.into()).unwrap();
        let jobs = [
            vec![note(&a, "old", None), direct, note(&a, "new", None), note(&a, "old", None)],
            vec![note(&TenantId::generate(), "x", None)],
        ];
        let groups: Vec<&[NewNotification]> = jobs.iter().map(Vec::as_slice).collect();
        let (results, committed) = store.commit_group(&groups).await.unwrap();
        assert_eq!(results[0].as_ref().unwrap(), &vec![1, 2, 3, 4]);
        assert!(matches!(results[1], Err(StoreError::NotFound("tenant"))), "expected the missing tenant's request to fail alone");

        let stored = store.committed_range(&a, 0, 10, 10).await.unwrap();
        let got: Vec<(Seq, &str, &str, Option<&Vec<UserId>>)> =
            stored.iter().map(|n| (n.id, n.channel.as_str(), n.data.get(), n.recipients.as_ref())).collect();
        let want: Vec<(Seq, &str, &str, Option<&Vec<UserId>>)> =
            committed.iter().map(|n| (n.id, n.channel.as_str(), n.data.get(), n.recipients.as_ref())).collect();
        assert_eq!(got, want, "expected what is stored to be what the hook was handed");
        assert_eq!(stored[1].data.get(), r#"{"text":"it's \"quoted\"","n":[1,2]}"#);
        assert_eq!(stored[1].recipients.as_ref().map(Vec::len), Some(2));

        let channels = store.list_channels(&a, None, 10).await.unwrap();
        let names: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["new", "old"], "expected one row per channel");
        let new = &channels[0];
        assert_eq!(
            (new.retention.max_count, new.retention.max_age_seconds),
            (None, None),
            "expected default retention for a created channel"
        );
        assert!(new.id.as_str().starts_with("ch"), "expected a channel id, got {}", new.id);
        assert_eq!((&channels[1].id, &channels[1].retention), (&old.id, &kept), "expected the existing channel untouched");

        // The missing tenant's share wrote nothing; the next group goes on from the head.
        let again = store.commit_group(&[&[note(&a, "new", None)]]).await.unwrap().0;
        assert_eq!(again[0].as_ref().unwrap(), &vec![5]);
    }

    /// What the writer promises (see the module docs): a publisher is
    /// answered only after COMMIT, so its ids are readable by then; the hook
    /// gets each commit's notifications after COMMIT, in commit order. Which
    /// of the two a caller sees first is not promised (the answer is sent
    /// first, but the publisher's task may run later), so it is not asserted.
    ///
    /// While the hook runs, the test checks from another connection that
    /// what it was handed is committed; the hook waits for that check, which
    /// a multi-threaded runtime lets happen meanwhile.
    async fn answers_and_the_hook_come_after_commit_in_commit_order(kind: DbKind) {
        const PUBLISHERS: i64 = 50;
        const WAIT: Duration = Duration::from_secs(10);
        let (store, _db) = store(kind).await;
        let a = store.create_tenant(&TenantName::parse("a").unwrap()).await.unwrap().id;

        // Each hook call hands its ids to the test and waits for its check.
        let (calls, mut hook_calls) = tokio::sync::mpsc::unbounded_channel::<(Vec<Seq>, std::sync::mpsc::SyncSender<()>)>();
        let hook: CommitHook = Arc::new(move |batch: &[Arc<Notification>]| {
            let (checked, wait_check) = std::sync::mpsc::sync_channel(1);
            if calls.send((batch.iter().map(|n| n.id).collect(), checked)).is_ok() {
                // A test that gave up must not hang the writer.
                let _ = wait_check.recv_timeout(WAIT);
            }
        });
        // Every commit is timed once, before its hook runs.
        let timed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let observer: CommitObserver = Arc::new({
            let timed = timed.clone();
            move |_| {
                timed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let (publisher, _task) = Publisher::start_observed(store.clone(), hook, Some(observer), 64, 8);

        let mut publishers = Vec::new();
        for _ in 0..PUBLISHERS {
            let (p, store, a) = (publisher.clone(), store.clone(), a.clone());
            let n = note(&a, "x", None);
            publishers.push(tokio::spawn(async move {
                let ids = p.publish(vec![n.clone(), n]).await.unwrap();
                // Read at once, from another connection: the answer came after COMMIT.
                let readable: Vec<Seq> = store.committed_range(&a, ids[0] - 1, ids[1], 10).await.unwrap().iter().map(|n| n.id).collect();
                assert_eq!(readable, ids, "expected the answered ids {ids:?} to be committed, got {readable:?} readable");
                ids
            }));
        }

        let mut seen: Vec<Seq> = Vec::new();
        let mut commits = 0;
        while (seen.len() as i64) < 2 * PUBLISHERS {
            let got = tokio::time::timeout(WAIT, hook_calls.recv()).await;
            let Ok(Some((ids, checked))) = got else {
                panic!("expected a hook call after id {:?}, got none within {WAIT:?}", seen.last());
            };
            let (first, last) = (ids[0], ids[ids.len() - 1]);
            let readable: Vec<Seq> = store.committed_range(&a, first - 1, last, 1000).await.unwrap().iter().map(|n| n.id).collect();
            assert_eq!(readable, ids, "expected the hook's ids {ids:?} to be committed while it runs, got {readable:?} readable");
            seen.extend(ids);
            commits += 1;
            checked.send(()).unwrap();
        }
        let timings = timed.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(timings, commits, "expected one commit timing per commit ({commits}), got {timings}");
        let want: Vec<Seq> = (1..=2 * PUBLISHERS).collect();
        assert_eq!(seen, want, "expected the hook to see every id once, in commit order");

        let mut answered: Vec<Seq> = Vec::new();
        for p in publishers {
            answered.extend(tokio::time::timeout(WAIT, p).await.expect("expected every publisher to be answered").unwrap());
        }
        answered.sort_unstable();
        assert_eq!(answered, want, "expected every id answered once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_and_the_hook_come_after_commit_in_commit_order_sqlite() {
        answers_and_the_hook_come_after_commit_in_commit_order(DbKind::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_and_the_hook_come_after_commit_in_commit_order_postgres() {
        answers_and_the_hook_come_after_commit_in_commit_order(DbKind::Postgres).await
    }

    on_each_backend!(a_group_commits_per_tenant_and_a_missing_tenant_fails_alone, a_group_lands_whole_and_creates_only_missing_channels);
}
