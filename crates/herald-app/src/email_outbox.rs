//! The email worker: sends what the outbox says is due.
//!
//! Every `poll_interval` (at once again while a pass finds a full batch) it
//! claims due emails from the store (a lease, so several nodes on one
//! PostgreSQL database share the work; see `herald_store::outbox`), and for
//! each one:
//!
//! 1. checks that it is still wanted: the channel still has an email
//!    policy, the recipient still exists and still allows the channel, and
//!    the notifications are still in history; otherwise the rows are
//!    `cancelled`, with the reason in the delivery log;
//! 2. renders it with the channel's templates (Herald's defaults when it
//!    sets none) and a signed one-click unsubscribe link;
//! 3. sends it with `Message-ID: <{first row id}@{from domain}>`, the same on
//!    every attempt, so a receiving system can drop a duplicate;
//! 4. records the outcome: `sent`; `deferred` after a transient failure,
//!    retried after [`retry_delay`] until `max_attempts` attempts were made,
//!    then `failed`; `failed` at once after a permanent failure.
//!
//! A tenant with an `emails_per_day` quota gets at most that many emails
//! sent in any 24 hours, and a tenant without one at most the deployment's
//! `email.default_daily_cap` (unless that is 0): each pass counts the
//! tenant's emails sent in the last 24 hours (from the delivery log, so
//! every node's count) and hands out what is left; an email over it is
//! `failed` at once, with the quota in the log's error, and is not retried.
//! Two nodes' passes running at the same moment can each spend the same
//! remainder, so on a cluster the quota may be exceeded by up to one batch
//! per extra node.
//!
//! A row is marked `sent` only after the SMTP server accepted the email,
//! and only by the claim that sent it. If the process dies between the two,
//! the lease runs out and the email is sent again with the same
//! Message-ID: at least once, never silently lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use herald_core::email::{EmailPolicy, retry_delay};
use herald_core::ids::TenantId;
use herald_core::names::ChannelName;
use herald_email::{
    CompiledTemplates, EmailTemplates, Mailer, NotificationView, OutgoingEmail, Recipient, RenderContext, SendError, UnsubscribeScope,
    UnsubscribeSigner,
};
use herald_store::outbox::{EmailItem, EmailJob, EmailOutcome};
use herald_store::{Store, StoreError};

use crate::events;
use crate::metrics::Metrics;
use crate::tasks::CancellationToken;

/// How the worker runs.
#[derive(Clone, Debug)]
pub struct OutboxSettings {
    /// Base of unsubscribe links, without a trailing slash: links are
    /// `{public_url}/v1/unsubscribe/{token}`.
    pub public_url: String,
    /// Attempts per email before it is `failed`.
    pub max_attempts: u32,
    /// Pause between passes when nothing more is due.
    pub poll_interval: Duration,
    /// Delay after the first failed attempt; doubled per further failure.
    pub retry_base: Duration,
    /// Longest delay between attempts.
    pub retry_max: Duration,
    /// Emails claimed per pass.
    pub batch: u64,
    /// Emails sent at once.
    pub concurrency: usize,
    /// How long a claim lasts; past it, another worker may take the email.
    /// Must exceed the SMTP timeout.
    pub lease: Duration,
    /// Delivery log entries and finished outbox rows older than this are
    /// deleted.
    pub keep_records: Duration,
    /// The daily cap of a tenant without an `emails_per_day` quota
    /// (`None`: unlimited).
    pub default_daily_cap: Option<u32>,
}

/// How often old log entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Compiled templates kept before the cache starts over.
const TEMPLATE_CACHE: usize = 10_000;

/// A channel's compiled templates and the policy they came from.
type CachedTemplates = (EmailPolicy, Arc<CompiledTemplates>);

/// What each tenant of a pass may still send under its `emails_per_day`
/// quota: (quota, emails left). Tenants without the quota are absent.
type Budgets = Mutex<HashMap<TenantId, (u32, u64)>>;

/// Sends due emails. Share one per process.
pub struct EmailOutbox {
    store: Store,
    mailer: Mailer,
    signer: UnsubscribeSigner,
    settings: OutboxSettings,
    /// Counts outcomes (`herald_emails_total`).
    metrics: Metrics,
    defaults: Arc<CompiledTemplates>,
    templates: Mutex<HashMap<(TenantId, ChannelName), CachedTemplates>>,
}

impl std::fmt::Debug for EmailOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailOutbox").field("mailer", &self.mailer).field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl EmailOutbox {
    pub fn new(store: Store, mailer: Mailer, signer: UnsubscribeSigner, settings: OutboxSettings, metrics: Metrics) -> Self {
        Self { store, mailer, signer, settings, metrics, defaults: Arc::new(CompiledTemplates::default()), templates: Mutex::default() }
    }

    /// Claim, send, record, wait; until `stop` is cancelled, then it ends
    /// after the pass in progress (what it claimed is sent and recorded).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut pruned = Instant::now();
        loop {
            if stop.is_cancelled() {
                tracing::info!("email outbox stopped");
                return;
            }
            let busy = match self.pass().await {
                Ok(n) => n as u64 >= self.settings.batch,
                Err(e) => {
                    tracing::warn!(error = %e, "email outbox pass failed; retrying");
                    false
                }
            };
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                let cutoff = chrono::Utc::now() - self.settings.keep_records;
                match self.store.prune_email_records(cutoff).await {
                    Ok(n) => tracing::debug!(rows = n, "pruned old delivery log entries"),
                    Err(e) => tracing::warn!(error = %e, "pruning the delivery log failed"),
                }
            }
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(self.settings.poll_interval) => {}
                    () = stop.cancelled() => {}
                }
            }
        }
    }

    /// Claims and sends one batch; returns how many emails it claimed.
    pub async fn pass(&self) -> Result<usize, StoreError> {
        let jobs = self.store.claim_emails(self.settings.batch, self.settings.lease).await?;
        let n = jobs.len();
        let budgets = &self.budgets(&jobs).await?;
        futures_util::stream::iter(jobs)
            .for_each_concurrent(self.settings.concurrency.max(1), |job| async move {
                if let Err(e) = self.handle(&job, budgets).await {
                    // The lease runs out and the email is tried again.
                    tracing::warn!(email = %job.id, tenant = %job.tenant, error = %e, "email not processed");
                }
            })
            .await;
        Ok(n)
    }

    /// The `emails_per_day` budgets of the tenants with jobs in this pass
    /// (the deployment's default cap for a tenant without the quota).
    async fn budgets(&self, jobs: &[EmailJob]) -> Result<Budgets, StoreError> {
        let mut budgets = HashMap::new();
        let since = chrono::Utc::now() - chrono::Duration::hours(24);
        for job in jobs {
            if budgets.contains_key(&job.tenant) {
                continue;
            }
            let quota = self.store.quotas(&job.tenant).await?.emails_per_day.or(self.settings.default_daily_cap);
            if let Some(quota) = quota {
                let sent = self.store.emails_sent_since(&job.tenant, since).await?;
                budgets.insert(job.tenant.clone(), (quota, u64::from(quota).saturating_sub(sent)));
            }
        }
        Ok(Mutex::new(budgets))
    }

    async fn handle(&self, job: &EmailJob, budgets: &Budgets) -> Result<(), StoreError> {
        let channel = match self.store.get_channel(&job.tenant, &job.channel).await {
            Ok(c) => c,
            Err(StoreError::NotFound(_)) => return self.cancel(job, &job.items, "the channel was deleted").await,
            Err(e) => return Err(e),
        };
        let Some(policy) = channel.email else {
            return self.cancel(job, &job.items, "the channel no longer sends email").await;
        };
        let recipient = match self.store.get_recipient(&job.tenant, &job.user).await {
            Ok(r) => r,
            Err(StoreError::NotFound(_)) => return self.cancel(job, &job.items, "the recipient was deleted").await,
            Err(e) => return Err(e),
        };
        if !recipient.preferences.email.allows(&job.channel) {
            return self.cancel(job, &job.items, "the recipient's preferences exclude this channel").await;
        }
        let seqs: Vec<_> = job.items.iter().map(|i| i.notification).collect();
        let notifications = self.store.notifications_by_id(&job.tenant, &seqs).await?;
        let (present, gone): (Vec<EmailItem>, Vec<EmailItem>) =
            job.items.iter().cloned().partition(|i| notifications.iter().any(|n| n.id == i.notification));
        if !gone.is_empty() {
            self.cancel(job, &gone, "the notification is no longer in history").await?;
        }
        if present.is_empty() {
            return Ok(());
        }
        let tenant = match self.store.get_tenant(&job.tenant).await {
            Ok(t) => t,
            // Deleted meanwhile, with its outbox: nothing left to record.
            Err(StoreError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };

        let unsubscribe_url = format!(
            "{}/v1/unsubscribe/{}",
            self.settings.public_url,
            self.signer.sign(&UnsubscribeScope { tenant: job.tenant.clone(), user: job.user.clone(), channel: Some(job.channel.clone()) })
        );
        let context = RenderContext {
            recipient: Recipient {
                user: recipient.user.clone(),
                email: recipient.email.to_string(),
                locale: recipient.locale.as_ref().map(ToString::to_string),
            },
            tenant: tenant.name,
            channel: job.channel.clone(),
            notifications: notifications.iter().map(NotificationView::from).collect(),
            unsubscribe_url: Some(unsubscribe_url.clone()),
        };
        let rendered = self.templates(&job.tenant, &job.channel, &policy).and_then(|t| t.render(&context).map_err(|e| e.to_string()));
        let content = match rendered {
            Ok(c) => c,
            Err(e) => {
                // The same data renders the same way: retrying cannot help.
                let error = format!("rendering the email: {e}");
                return self.finish(job, &present, EmailOutcome::Failed { error: &error }).await.map(drop);
            }
        };
        let email = OutgoingEmail {
            to: recipient.email.to_string(),
            content,
            message_id: Some(job.id.to_string()),
            unsubscribe_url: Some(unsubscribe_url),
        };
        let attempt = job.attempts + 1;
        // Take one email from the tenant's daily budget; given back below
        // unless the email is sent.
        let over_quota = match budgets.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&job.tenant) {
            Some((quota, 0)) => Some(*quota),
            Some((_, left)) => {
                *left -= 1;
                None
            }
            None => None,
        };
        if let Some(quota) = over_quota {
            // Retrying cannot help before the window moves on, and a day of
            // retries would pile up: the email is failed for good.
            let error = format!(
                "not sent: the tenant's daily cap (its `emails_per_day` quota, else `email.default_daily_cap`) of {quota} emails in 24 hours is used up"
            );
            tracing::info!(email = %job.id, tenant = %job.tenant, quota, "email over quota");
            return self.finish(job, &present, EmailOutcome::Failed { error: &error }).await.map(drop);
        }
        let sent = self.mailer.send(&email).await;
        if sent.is_err()
            && let Some((_, left)) = budgets.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&job.tenant)
        {
            *left += 1;
        }
        match sent {
            Ok(()) => {
                self.finish(job, &present, EmailOutcome::Sent).await?;
            }
            Err(e @ SendError::Transient { .. }) if attempt < self.settings.max_attempts => {
                let wait = retry_delay(attempt, self.settings.retry_base, self.settings.retry_max);
                let retry_at = chrono::Utc::now() + wait;
                self.finish(job, &present, EmailOutcome::Deferred { error: &e.to_string(), retry_at }).await?;
            }
            Err(e) => {
                let error = if e.is_transient() { format!("gave up after {attempt} attempts: {e}") } else { e.to_string() };
                self.finish(job, &present, EmailOutcome::Failed { error: &error }).await?;
            }
        }
        Ok(())
    }

    /// Records an email's outcome in the outbox, then emits its event
    /// (log line and metric), so what is logged is what was recorded.
    async fn finish(&self, job: &EmailJob, items: &[EmailItem], outcome: EmailOutcome<'_>) -> Result<usize, StoreError> {
        let finished = self.store.finish_email(job, items, outcome).await?;
        let (email, tenant, attempt) = (&job.id.to_string(), &job.tenant, job.attempts + 1);
        match outcome {
            EmailOutcome::Sent => events::EmailSent { email, tenant, notifications: items.len(), attempt }.emit(&self.metrics),
            EmailOutcome::Deferred { error, retry_at } => {
                let retry_in = (retry_at - chrono::Utc::now()).to_std().unwrap_or_default();
                events::EmailDeferred { email, tenant, attempt, error, retry_in }.emit(&self.metrics);
            }
            EmailOutcome::Failed { error } => events::EmailFailed { email, tenant, attempt, error }.emit(&self.metrics),
            EmailOutcome::Cancelled { reason } => events::EmailCancelled { email, tenant, reason }.emit(&self.metrics),
        }
        Ok(finished)
    }

    async fn cancel(&self, job: &EmailJob, items: &[EmailItem], reason: &str) -> Result<(), StoreError> {
        self.finish(job, items, EmailOutcome::Cancelled { reason }).await.map(drop)
    }

    /// The channel's compiled templates, cached while its policy is unchanged.
    fn templates(&self, tenant: &TenantId, channel: &ChannelName, policy: &EmailPolicy) -> Result<Arc<CompiledTemplates>, String> {
        let (Some(subject), Some(text)) = (&policy.subject, &policy.text) else { return Ok(self.defaults.clone()) };
        let key = (tenant.clone(), channel.clone());
        let mut cache = self.templates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, compiled)) = cache.get(&key)
            && cached == policy
        {
            return Ok(compiled.clone());
        }
        let compiled = Arc::new(
            EmailTemplates { subject: subject.clone(), text: text.clone(), html: policy.html.clone() }
                .compile()
                .map_err(|e| e.to_string())?,
        );
        if cache.len() >= TEMPLATE_CACHE {
            cache.clear();
        }
        cache.insert(key, (policy.clone(), compiled.clone()));
        Ok(compiled)
    }
}

/// Checks a channel's email templates the way the worker will use them:
/// the error says which template and line is wrong.
pub(crate) fn check_templates(policy: &EmailPolicy) -> Result<(), herald_email::TemplateError> {
    if let (Some(subject), Some(text)) = (&policy.subject, &policy.text) {
        EmailTemplates { subject: subject.clone(), text: text.clone(), html: policy.html.clone() }.compile()?;
    }
    Ok(())
}
