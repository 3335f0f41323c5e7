//! The publish pipeline, one path for a single publish and a batch:
//! validate, admit against the tenant's quotas, run each notification's
//! publish hooks, commit what they kept in one transaction, count usage.
//!
//! A `Committed` id means the notification is durably committed: the
//! writer answers after COMMIT, and hands the batch to the relay (live
//! streams) just after answering (see `herald_store::publish`).

use herald_core::ids::{DeadLetterId, Seq, TenantId};
use herald_core::names::{ChannelName, EventType, IdempotencyKey, PluginName, UserId};
use herald_core::notification::NewNotification;
use herald_core::{DomainError, limits};
use serde_json::value::RawValue;

use crate::App;
use crate::error::{AppError, AppResult};
use crate::plugin_chain::Outcome;

/// One notification as a publisher sent it, before validation.
#[derive(Debug)]
pub struct PublishInput {
    pub channel: String,
    pub event_type: String,
    pub data: Box<RawValue>,
    pub recipients: Option<Vec<String>>,
    pub idempotency_key: Option<String>,
}

/// A notification a plugin kept out of storage and delivery.
#[derive(Debug, Clone)]
pub struct Withheld {
    pub plugin: PluginName,
    pub reason: String,
    /// The dead letter that records it.
    pub dead_letter: DeadLetterId,
}

/// What became of one notification of a publish.
#[derive(Debug, Clone)]
pub enum Published {
    /// Durably committed with this id.
    Committed(Seq),
    /// Kept out by the channel's plugin chain.
    Withheld(Withheld),
}

impl App {
    /// Publishes one notification for `tenant`.
    pub async fn publish_one(&self, tenant: &TenantId, input: PublishInput) -> AppResult<Published> {
        let mut answers = self.pipeline(tenant, vec![input], false).await?;
        Ok(answers.pop().expect("one answer per input"))
    }

    /// Publishes a batch for `tenant`, atomically: either every kept
    /// notification is committed, or none is. Answers in request order.
    ///
    /// Every item is validated before anything else happens, so a bad item
    /// fails the request with nothing published, and its error names the
    /// item (`notifications[i]`).
    pub async fn publish_batch(&self, tenant: &TenantId, inputs: Vec<PublishInput>) -> AppResult<Vec<Published>> {
        self.pipeline(tenant, inputs, true).await
    }

    async fn pipeline(&self, tenant: &TenantId, inputs: Vec<PublishInput>, batch: bool) -> AppResult<Vec<Published>> {
        let limits = &self.inner.settings.limits;
        if inputs.is_empty() {
            return Err(DomainError::invalid("notifications", "must not be empty").into());
        }
        if inputs.len() > limits.max_batch {
            return Err(AppError::TooLarge(format!("a batch holds at most {} notifications", limits.max_batch)));
        }
        let validated = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| {
                self.validate(tenant, input).map_err(|e| match e {
                    AppError::Domain(DomainError::Invalid { field, reason }) if batch => {
                        AppError::Domain(DomainError::invalid(field, format!("{reason} (notifications[{i}])")))
                    }
                    other => other,
                })
            })
            .collect::<AppResult<Vec<_>>>()?;
        // Before the plugins: a publish over quota costs no plugin call.
        let admitted = self.inner.usage.admit_publish(tenant, validated.len()).await?;
        // Plugins first, for every item; then the kept ones in one transaction.
        let mut answers: Vec<Option<Published>> = vec![None; validated.len()];
        let mut kept = Vec::with_capacity(validated.len());
        let mut positions = Vec::with_capacity(validated.len());
        for (index, n) in validated.into_iter().enumerate() {
            match self.inner.chains.on_publish(n).await? {
                Outcome::Publish(n) => {
                    kept.push(n);
                    positions.push(index);
                }
                Outcome::Withheld { plugin, reason, dead_letter } => {
                    answers[index] = Some(Published::Withheld(Withheld { plugin, reason, dead_letter }));
                }
            }
        }
        if !kept.is_empty() {
            let ids = self.inner.publisher.publish(kept).await?;
            admitted.published(ids.len());
            for (pos, id) in positions.into_iter().zip(ids) {
                answers[pos] = Some(Published::Committed(id));
            }
        }
        Ok(answers.into_iter().map(|a| a.expect("every position is answered")).collect())
    }

    /// One publisher's notification as domain types, within the limits.
    fn validate(&self, tenant: &TenantId, input: PublishInput) -> AppResult<NewNotification> {
        let max_data = self.inner.settings.limits.max_data_bytes;
        let channel = ChannelName::parse(input.channel)?;
        let event_type = EventType::parse(input.event_type)?;
        if input.data.get().len() > max_data {
            return Err(AppError::TooLarge(format!("`data` is larger than {max_data} bytes")));
        }
        let recipients = match input.recipients {
            None => None,
            Some(r) if r.len() > limits::MAX_RECIPIENTS => {
                return Err(DomainError::invalid("recipients", format!("at most {} recipients", limits::MAX_RECIPIENTS)).into());
            }
            Some(r) => Some(r.into_iter().map(UserId::parse).collect::<Result<Vec<_>, _>>()?),
        };
        let idempotency_key = input.idempotency_key.map(IdempotencyKey::parse).transpose()?;
        Ok(NewNotification { tenant: tenant.clone(), channel, event_type, data: input.data, recipients, idempotency_key })
    }
}
