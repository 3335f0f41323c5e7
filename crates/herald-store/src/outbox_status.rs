//! The status of an email outbox row, spelled in one place.
//!
//! The hand-written outbox statements embed `'pending'` in their text
//! (a constant text stays in the prepared-statement cache); they take it
//! from [`outbox_status!`], which [`OutboxStatus::as_str`] uses too, so the
//! SQL and the enum cannot drift apart.

use herald_core::email::DeliveryStatus;

/// A status's spelling as a string literal, for `concat!` in SQL constants.
macro_rules! outbox_status {
    (Pending) => {
        "pending"
    };
    (Sent) => {
        "sent"
    };
    (Delivered) => {
        "delivered"
    };
    (Failed) => {
        "failed"
    };
    (Cancelled) => {
        "cancelled"
    };
}
pub(crate) use outbox_status;

/// Where an outbox row is in its life (see `outbox.rs`): `Pending` until a
/// worker or a live delivery settles it, then one of the others for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutboxStatus {
    Pending,
    Sent,
    Delivered,
    Failed,
    Cancelled,
}

impl OutboxStatus {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => outbox_status!(Pending),
            OutboxStatus::Sent => outbox_status!(Sent),
            OutboxStatus::Delivered => outbox_status!(Delivered),
            OutboxStatus::Failed => outbox_status!(Failed),
            OutboxStatus::Cancelled => outbox_status!(Cancelled),
        }
    }

    /// The status a row takes when the delivery log records `logged` for
    /// it: the same word, except that a deferred attempt leaves it pending.
    pub(crate) const fn after(logged: DeliveryStatus) -> Self {
        match logged {
            DeliveryStatus::Deferred => OutboxStatus::Pending,
            DeliveryStatus::Sent => OutboxStatus::Sent,
            DeliveryStatus::Delivered => OutboxStatus::Delivered,
            DeliveryStatus::Failed => OutboxStatus::Failed,
            DeliveryStatus::Cancelled => OutboxStatus::Cancelled,
        }
    }
}

impl From<OutboxStatus> for sea_orm::Value {
    fn from(s: OutboxStatus) -> Self {
        s.as_str().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_row_says_what_the_log_says() {
        for logged in [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Failed, DeliveryStatus::Cancelled] {
            assert_eq!(OutboxStatus::after(logged).as_str(), logged.as_str());
        }
        assert_eq!(OutboxStatus::after(DeliveryStatus::Deferred), OutboxStatus::Pending);
        assert_eq!(OutboxStatus::Pending.as_str(), "pending");
    }
}
