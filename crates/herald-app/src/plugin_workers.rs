//! The threads plugin hooks run on, shared fairly between tenants.
//!
//! A plugin call is synchronous and may run up to its deadline (a second,
//! for a chain step that asks for it), so it must never run on an HTTP
//! worker or a tokio thread: one tenant replaying history through a chain
//! of looping hooks would stall every request on that thread. Hooks run
//! here instead, on a few dedicated threads, as jobs queued per tenant:
//!
//! - the workers take tenants in turn (round robin), one job each, so a
//!   tenant with a thousand queued jobs does not go before one with one;
//! - a tenant runs on at most `max_per_tenant` workers at once (half of
//!   them by default), so the other workers stay free for other tenants
//!   however long one tenant's jobs take;
//! - a tenant's queue is bounded (`max_queued_per_tenant`): past it, the
//!   job is refused rather than kept, and the caller decides (a stream ends
//!   with an event, a publish is answered 503).
//!
//! - the threads may run at a lower CPU priority than the HTTP workers and
//!   the hub (`nice`; 0, the same, by default: a lower one slows every
//!   tenant's hooks alike, and measured no gain for the tenant next to an
//!   attacker).
//!
//! What bounds one job's length is the caller's business (a stream's
//! budget, see `delivery::budget`); what bounds a call's is the plugin
//! host's deadline.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use herald_core::ids::TenantId;
use tokio::sync::oneshot;

/// How the workers are shared.
#[derive(Clone, Copy, Debug)]
pub struct WorkerSettings {
    /// Threads running plugin hooks (default: one per core, at least two).
    pub workers: usize,
    /// Workers one tenant may occupy at once (default: half, at least one).
    pub max_per_tenant: usize,
    /// Jobs one tenant may have waiting; more are refused.
    pub max_queued_per_tenant: usize,
    /// The threads' nice value (Linux; 0 leaves them at the process's).
    pub nice: i32,
}

impl WorkerSettings {
    /// One worker per core (at least two), half of them per tenant.
    pub fn for_this_machine() -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        Self { workers, max_per_tenant: (workers / 2).max(1), max_queued_per_tenant: 1024, nice: 0 }
    }
}

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The tenant already has `max_queued_per_tenant` jobs waiting.
    #[error("the tenant's plugin queue is full")]
    QueueFull,
    /// The workers are stopping (the node is shutting down), or the job panicked.
    #[error("the plugin workers are stopping")]
    Stopped,
}

type Job = Box<dyn FnOnce() + Send>;

/// The worker pool. Cheap to clone; the threads stop when the last clone
/// is dropped (after the job each is running).
#[derive(Clone)]
pub struct PluginWorkers {
    handle: Arc<Handle>,
}

/// Stops the workers when dropped.
struct Handle {
    shared: Arc<Shared>,
}

struct Shared {
    settings: WorkerSettings,
    state: Mutex<State>,
    work: Condvar,
}

#[derive(Default)]
struct State {
    tenants: HashMap<TenantId, TenantQueue>,
    /// Tenants with a job waiting and a worker to spare, in turn order.
    turn: VecDeque<TenantId>,
    stopping: bool,
}

#[derive(Default)]
struct TenantQueue {
    jobs: VecDeque<Job>,
    running: usize,
    /// In `State::turn` now.
    queued_for_turn: bool,
}

impl std::fmt::Debug for PluginWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginWorkers").field("settings", &self.handle.shared.settings).finish_non_exhaustive()
    }
}

impl PluginWorkers {
    /// Starts the threads. Jobs run with `runtime` entered, so they may
    /// spawn tasks (a dead letter written after a failed hook).
    pub fn start(settings: WorkerSettings, runtime: tokio::runtime::Handle) -> std::io::Result<Self> {
        let settings = WorkerSettings {
            workers: settings.workers.max(1),
            max_per_tenant: settings.max_per_tenant.clamp(1, settings.workers.max(1)),
            max_queued_per_tenant: settings.max_queued_per_tenant.max(1),
            nice: settings.nice.clamp(0, 19),
        };
        let shared = Arc::new(Shared { settings, state: Mutex::default(), work: Condvar::new() });
        for i in 0..settings.workers {
            let (shared, runtime) = (shared.clone(), runtime.clone());
            std::thread::Builder::new().name(format!("herald-plugins-{i}")).spawn(move || {
                lower_priority(settings.nice);
                let _entered = runtime.enter();
                shared.work_loop();
            })?;
        }
        Ok(Self { handle: Arc::new(Handle { shared }) })
    }

    pub fn settings(&self) -> WorkerSettings {
        self.handle.shared.settings
    }

    /// Runs `f` on a worker in `tenant`'s turn and returns what it returned.
    pub async fn run<T: Send + 'static>(&self, tenant: &TenantId, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Refused> {
        let (tx, rx) = oneshot::channel();
        // A job that panics drops `tx` while unwinding: its caller sees `Stopped`.
        self.submit(tenant, move || {
            let _ = tx.send(f());
        })?;
        rx.await.map_err(|_| Refused::Stopped)
    }

    /// Queues `job` for `tenant` without waiting for it.
    pub fn submit(&self, tenant: &TenantId, job: impl FnOnce() + Send + 'static) -> Result<(), Refused> {
        let shared = &self.handle.shared;
        let mut state = shared.lock();
        if state.stopping {
            return Err(Refused::Stopped);
        }
        let settings = shared.settings;
        let queue = state.tenants.entry(tenant.clone()).or_default();
        if queue.jobs.len() >= settings.max_queued_per_tenant {
            return Err(Refused::QueueFull);
        }
        queue.jobs.push_back(Box::new(job));
        if !queue.queued_for_turn && queue.running < settings.max_per_tenant {
            queue.queued_for_turn = true;
            state.turn.push_back(tenant.clone());
            shared.work.notify_one();
        }
        Ok(())
    }

    /// Stops the threads (each after the job it is running) and drops the
    /// jobs still waiting: the node is shutting down.
    pub fn stop(&self) {
        self.handle.shared.stop();
    }

    /// Jobs waiting, across tenants (for `/metrics`).
    pub fn queued(&self) -> usize {
        self.handle.shared.lock().tenants.values().map(|q| q.jobs.len()).sum()
    }
}

/// Lowers this thread's CPU priority to `nice` (on Linux, a nice value is
/// per thread).
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    if nice > 0
        && let Err(e) = rustix::process::setpriority_process(None, nice)
    {
        tracing::warn!(nice, error = %e, "could not lower the plugin thread's priority; it runs at the process's");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl Shared {
    fn stop(&self) {
        let mut state = self.lock();
        state.stopping = true;
        // Jobs never run drop their reply channel: their callers see `Stopped`.
        let dropped: Vec<TenantQueue> = state.tenants.drain().map(|(_, q)| q).collect();
        state.turn.clear();
        drop(state);
        // Dropped outside the lock: a job's captures may be anything.
        drop(dropped);
        self.work.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A job runs outside the lock, so a poisoned lock only means a
        // panic in this file's bookkeeping; the state is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work_loop(&self) {
        let mut state = self.lock();
        loop {
            if state.stopping {
                return;
            }
            let Some(tenant) = state.turn.pop_front() else {
                state = self.work.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            let max_per_tenant = self.settings.max_per_tenant;
            let queue = state.tenants.get_mut(&tenant).expect("a tenant in turn has a queue");
            queue.queued_for_turn = false;
            let Some(job) = queue.jobs.pop_front() else { continue };
            queue.running += 1;
            // Its next job takes a later turn, behind every other tenant waiting.
            if !queue.jobs.is_empty() && queue.running < max_per_tenant {
                queue.queued_for_turn = true;
                state.turn.push_back(tenant.clone());
                self.work.notify_one();
            }
            drop(state);
            // A panicking plugin host must not take the worker with it.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            state = self.lock();
            if state.stopping {
                return;
            }
            let queue = state.tenants.get_mut(&tenant).expect("a running tenant keeps its queue");
            queue.running -= 1;
            if queue.jobs.is_empty() {
                if queue.running == 0 {
                    state.tenants.remove(&tenant);
                }
            } else if !queue.queued_for_turn {
                queue.queued_for_turn = true;
                state.turn.push_back(tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).expect("a valid tenant id")
    }

    fn workers(workers: usize, max_per_tenant: usize, max_queued: usize) -> PluginWorkers {
        let settings = WorkerSettings { workers, max_per_tenant, max_queued_per_tenant: max_queued, nice: 10 };
        PluginWorkers::start(settings, tokio::runtime::Handle::current()).expect("threads start")
    }

    /// A job that blocks its worker until released, and says when it started.
    fn blocker(started: mpsc::Sender<&'static str>, name: &'static str) -> (impl FnOnce() + Send + 'static, mpsc::Sender<()>) {
        let (release, wait) = mpsc::channel::<()>();
        (
            move || {
                started.send(name).expect("the test listens");
                let _ = wait.recv();
            },
            release,
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_holding_its_share_does_not_delay_another_tenant() {
        let pool = workers(2, 1, 100);
        let (a, b) = (tenant("ten_aaaaaaaaaaaa"), tenant("ten_bbbbbbbbbbbb"));
        let (started_tx, started) = mpsc::channel();
        // Tenant A fills its share with a job that never ends until released,
        // and queues more behind it.
        let (job, release_a) = blocker(started_tx.clone(), "a1");
        pool.submit(&a, job).expect("queued");
        assert_eq!(started.recv().expect("a job starts"), "a1");
        let ran_a = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let ran_a = ran_a.clone();
            pool.submit(&a, move || {
                ran_a.fetch_add(1, Ordering::SeqCst);
            })
            .expect("queued");
        }
        // B's job runs on the other worker while A's first job still holds its.
        let got = pool.run(&b, || "b ran").await.expect("B's job runs");
        assert_eq!(got, "b ran");
        assert_eq!(ran_a.load(Ordering::SeqCst), 0, "A ran past its share of one worker");
        release_a.send(()).expect("the job waits");
        // Once released, A's queue drains.
        let ran_a2 = ran_a.clone();
        pool.run(&a, move || ran_a2.load(Ordering::SeqCst)).await.expect("runs");
        assert_eq!(ran_a.load(Ordering::SeqCst), 10, "A's jobs all ran, in order, before its last");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tenants_take_turns_one_job_each() {
        // One worker: the order jobs run in is the scheduling order.
        let pool = workers(1, 1, 100);
        let (a, b) = (tenant("ten_aaaaaaaaaaaa"), tenant("ten_bbbbbbbbbbbb"));
        let (started_tx, started) = mpsc::channel();
        let (job, release) = blocker(started_tx.clone(), "hold");
        pool.submit(&a, job).expect("queued");
        assert_eq!(started.recv().expect("starts"), "hold");
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..3 {
            let order = order.clone();
            pool.submit(&a, move || order.lock().expect("lock").push(format!("a{i}"))).expect("queued");
        }
        for i in 0..3 {
            let order = order.clone();
            pool.submit(&b, move || order.lock().expect("lock").push(format!("b{i}"))).expect("queued");
        }
        release.send(()).expect("waits");
        pool.run(&b, || ()).await.expect("runs");
        pool.run(&a, || ()).await.expect("runs");
        let order = order.lock().expect("lock").clone();
        assert_eq!(order, ["b0", "a0", "b1", "a1", "b2", "a2"], "expected alternating turns (B first: A had just run)");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_and_a_panic_does_not_kill_the_worker() {
        let pool = workers(1, 1, 2);
        let a = tenant("ten_aaaaaaaaaaaa");
        let (started_tx, started) = mpsc::channel();
        let (job, release) = blocker(started_tx, "hold");
        pool.submit(&a, job).expect("queued");
        started.recv().expect("starts");
        pool.submit(&a, || panic!("a plugin host bug")).expect("queued");
        let (drained_tx, drained) = oneshot::channel();
        pool.submit(&a, move || {
            let _ = drained_tx.send(());
        })
        .expect("queued");
        assert_eq!(pool.submit(&a, || ()), Err(Refused::QueueFull));
        release.send(()).expect("waits");
        // The job queued after the panicking one runs on the same (only)
        // worker: it survived, and the queue is empty again.
        drained.await.expect("the job after the panic ran");
        assert_eq!(pool.run(&a, || 7).await, Ok(7), "the worker takes new jobs");
        assert_eq!(pool.run(&a, || -> u8 { panic!("again") }).await, Err(Refused::Stopped));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_pool_stops_its_threads_and_fails_waiting_jobs() {
        let pool = workers(1, 1, 10);
        let a = tenant("ten_aaaaaaaaaaaa");
        let (started_tx, started) = mpsc::channel();
        let (job, release) = blocker(started_tx, "hold");
        pool.submit(&a, job).expect("queued");
        started.recv().expect("starts");
        let (tx, waiting) = oneshot::channel();
        pool.submit(&a, move || {
            let _ = tx.send(1);
        })
        .expect("queued");
        assert_eq!(pool.queued(), 1);
        drop(pool);
        assert!(waiting.await.is_err(), "a job queued when the pool went was run anyway");
        release.send(()).expect("the worker still runs its job");
    }
}
