//! Events of the supervised task set ([`crate::tasks`]).

use std::time::Duration;

use crate::tasks::Policy;

/// A supervised task ended or panicked before shutdown.
pub struct TaskDied<'a> {
    pub task: &'static str,
    pub policy: Policy,
    pub why: &'a str,
}

impl TaskDied<'_> {
    pub fn emit(self) {
        match self.policy {
            Policy::Critical => tracing::error!(task = self.task, why = self.why, "a critical task stopped; stopping the node"),
            Policy::Restart => {
                tracing::error!(task = self.task, why = self.why, "a background task stopped; restarting it after a back-off")
            }
        }
    }
}

/// A task did not stop within the shutdown grace and was aborted.
pub struct TaskAbandoned {
    pub task: &'static str,
    pub grace: Duration,
}

impl TaskAbandoned {
    pub fn emit(self) {
        tracing::warn!(task = self.task, grace_ms = self.grace.as_millis() as u64, "a task did not stop in time at shutdown; aborted");
    }
}
