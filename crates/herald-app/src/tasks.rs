//! The node's background tasks, supervised as one set with one shutdown
//! token.
//!
//! The rule, stated once here: a task is either **critical** or
//! **restartable**.
//! - A critical task (the publish writer, the fan-out relay, the HTTP
//!   server) that ends or panics before shutdown brings the node down:
//!   publishes would fail or streams would wait forever, and a process
//!   supervisor restarts a node that exits far more reliably than it can
//!   repair one that runs half-broken.
//! - A restartable task (a periodic loop: retention, the delivery tracker,
//!   the hub's clock, the usage sampler, the suspension sweep, the email
//!   worker) that ends or panics before shutdown is logged and started
//!   again after a back-off (1 s, doubling to 30 s, reset after a minute of
//!   health). These loops hold no state a restart loses beyond one pass.
//!
//! Shutdown: cancelling the token asks every task to stop. Every task
//! watches the token: one that must finish its pass first (the email
//! worker records what it sent) does so, a plain loop is wrapped in
//! [`until_cancelled`] and stops at its next await point. A task that has
//! not stopped within the grace given to [`Supervisor::new`] is aborted.
//! [`Supervisor::wait`] returns once every task has stopped.

use std::future::Future;
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle, JoinSet};
pub use tokio_util::sync::CancellationToken;

use crate::events;

/// Why the node stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
#[error("the {task} stopped unexpectedly: {why}")]
pub struct TaskFailed {
    pub task: &'static str,
    pub why: String,
}

/// How a task's end is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Ending before shutdown stops the node.
    Critical,
    /// Ending before shutdown is logged and the task is started again.
    Restart,
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A restarted task that has run this long counts as healthy again.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// The node's task set. Cheap to hand its token around; owned by whoever
/// waits for the node (`herald::run`).
pub struct Supervisor {
    shutdown: CancellationToken,
    /// Cancelled when the node begins to stop, before `shutdown`: from then
    /// on a critical task may end by itself (the publish writer ends when
    /// the last publisher handle is dropped with the HTTP server).
    stopping: CancellationToken,
    /// How long a task may take to stop once the token is cancelled.
    grace: Duration,
    tasks: JoinSet<Result<(), TaskFailed>>,
}

impl Supervisor {
    /// A supervisor whose tasks stop when `shutdown` is cancelled, each
    /// aborted if it takes longer than `grace` to do so.
    pub fn new(shutdown: CancellationToken, grace: Duration) -> Self {
        Self { stopping: shutdown.clone(), shutdown, grace, tasks: JoinSet::new() }
    }

    /// Says that the node begins to stop when `stopping` is cancelled (its
    /// HTTP server drains), before this set's own token is: a critical task
    /// that ends after that, without panicking, is not a failure.
    pub fn stopping_with(mut self, stopping: CancellationToken) -> Self {
        self.stopping = stopping;
        self
    }

    /// The token every task watches.
    pub fn token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs a task whose end before shutdown stops the node. `make` gets
    /// the shutdown token; the task should end when it is cancelled.
    pub fn critical<F, Fut>(&mut self, name: &'static str, make: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (token, grace, stopping) = (self.shutdown.clone(), self.grace, self.stopping.clone());
        let inner = tokio::spawn(make(token.clone()));
        self.tasks.spawn(async move {
            let Some(ended) = run_once(name, inner, &token, grace).await else { return Ok(()) };
            if stopping.is_cancelled() && ended.is_ok() {
                return Ok(());
            }
            let why = why(ended);
            events::TaskDied { task: name, policy: Policy::Critical, why: &why }.emit();
            Err(TaskFailed { task: name, why })
        });
    }

    /// Runs a task made by `make`, started again by the rule above if it
    /// ends or panics before shutdown. `make` gets the shutdown token, for
    /// tasks that finish their pass before stopping; a task that ignores
    /// it is dropped at shutdown.
    pub fn restartable<F, Fut>(&mut self, name: &'static str, make: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (token, grace) = (self.shutdown.clone(), self.grace);
        self.tasks.spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                let started = tokio::time::Instant::now();
                let inner = tokio::spawn(make(token.clone()));
                let Some(ended) = run_once(name, inner, &token, grace).await else { return Ok(()) };
                let why = why(ended);
                if started.elapsed() >= HEALTHY_AFTER {
                    backoff = FIRST_BACKOFF;
                }
                events::TaskDied { task: name, policy: Policy::Restart, why: &why }.emit();
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = token.cancelled() => return Ok(()),
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }

    /// Waits until every task has stopped: after the token is cancelled,
    /// or when a critical task fails (the token is then cancelled so that
    /// the rest stop too). Returns the first failure. With no task at all
    /// it returns at once.
    pub async fn wait(mut self) -> Result<(), TaskFailed> {
        let mut first = None;
        while let Some(joined) = self.tasks.join_next().await {
            let result = joined.unwrap_or_else(|e| Err(TaskFailed { task: "supervisor", why: e.to_string() }));
            if let Err(failed) = result {
                self.shutdown.cancel();
                first.get_or_insert(failed);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Waits for one run of a task. `None`: the shutdown token was cancelled
/// (the task was given `grace` to stop, then aborted), so its end is no
/// failure; otherwise how the task ended.
async fn run_once(
    name: &'static str,
    mut inner: JoinHandle<()>,
    token: &CancellationToken,
    grace: Duration,
) -> Option<Result<(), JoinError>> {
    let ended = tokio::select! {
        ended = &mut inner => ended,
        () = token.cancelled() => {
            if tokio::time::timeout(grace, &mut inner).await.is_err() {
                inner.abort();
                events::TaskAbandoned { task: name, grace }.emit();
            }
            return None;
        }
    };
    (!token.is_cancelled()).then_some(ended)
}

/// A task's end, as the log and the failure say it.
fn why(ended: Result<(), JoinError>) -> String {
    match ended {
        Ok(()) => "it returned".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// Runs `task` until it ends or `stop` is cancelled, for loops that have
/// nothing to finish: they stop at their next await point.
pub async fn until_cancelled(stop: CancellationToken, task: impl Future<Output = ()>) {
    tokio::select! {
        () = task => {}
        () = stop.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_restartable_task_that_panics_is_started_again() {
        let runs = Arc::new(AtomicUsize::new(0));
        let token = CancellationToken::new();
        let mut sup = Supervisor::new(token.clone(), Duration::from_secs(5));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        sup.restartable("flaky", {
            let runs = runs.clone();
            move |_| {
                let n = runs.fetch_add(1, Ordering::SeqCst);
                let tx = tx.clone();
                async move {
                    tx.send(n).unwrap();
                    if n < 2 {
                        panic!("run {n} fails");
                    }
                    std::future::pending::<()>().await
                }
            }
        });
        for expected in 0..3 {
            assert_eq!(rx.recv().await, Some(expected), "expected run {expected} to start");
        }
        token.cancel();
        sup.wait().await.expect("a cancelled set stops cleanly");
        assert_eq!(runs.load(Ordering::SeqCst), 3, "expected 3 runs (two panics, one healthy)");
    }

    #[tokio::test(start_paused = true)]
    async fn a_critical_task_that_ends_stops_every_task() {
        let token = CancellationToken::new();
        let mut sup = Supervisor::new(token.clone(), Duration::from_secs(5));
        let stopped = Arc::new(AtomicUsize::new(0));
        sup.restartable("loop", {
            let stopped = stopped.clone();
            move |stop| {
                let stopped = stopped.clone();
                async move {
                    stop.cancelled().await;
                    stopped.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        sup.critical("writer", |_| async {});
        let failed = sup.wait().await.expect_err("a critical task's end is a failure");
        assert_eq!(failed.task, "writer");
        assert!(token.is_cancelled(), "expected the token cancelled for the other tasks");
        assert_eq!(stopped.load(Ordering::SeqCst), 1, "expected the loop told to stop and stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn a_critical_task_may_end_once_the_node_is_stopping() {
        let (token, stopping) = (CancellationToken::new(), CancellationToken::new());
        let mut sup = Supervisor::new(token.clone(), Duration::from_secs(5)).stopping_with(stopping.clone());
        let (end_tx, end_rx) = tokio::sync::oneshot::channel::<()>();
        sup.critical("writer", |_| async move {
            let _ = end_rx.await;
        });
        stopping.cancel();
        drop(end_tx);
        let waiting = tokio::spawn(sup.wait());
        tokio::task::yield_now().await;
        token.cancel();
        waiting.await.unwrap().expect("a critical task that ends while the node stops is not a failure");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_shutdown_is_aborted_after_the_grace() {
        let token = CancellationToken::new();
        let mut sup = Supervisor::new(token.clone(), Duration::from_secs(2));
        sup.restartable("stubborn", |_| std::future::pending());
        token.cancel();
        let start = tokio::time::Instant::now();
        sup.wait().await.expect("an aborted task is not a failure");
        assert_eq!(start.elapsed(), Duration::from_secs(2), "expected the wait to last exactly the grace");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_every_task() {
        let token = CancellationToken::new();
        let mut sup = Supervisor::new(token.clone(), Duration::from_secs(5));
        let finished = Arc::new(AtomicUsize::new(0));
        for name in ["a", "b"] {
            let finished = finished.clone();
            sup.restartable(name, move |stop| {
                let finished = finished.clone();
                async move {
                    stop.cancelled().await;
                    finished.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        sup.critical("server", |stop| async move { stop.cancelled().await });
        token.cancel();
        sup.wait().await.expect("clean shutdown");
        assert_eq!(finished.load(Ordering::SeqCst), 2, "expected both cooperative tasks to finish their pass");
    }
}
