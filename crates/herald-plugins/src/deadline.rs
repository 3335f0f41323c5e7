//! When a call that has run past its deadline is cut off.
//!
//! The epoch ticker measures the deadline on the clock, but the clock also
//! runs while the calling thread waits for a CPU. On a busy machine (two
//! cores, a load of ten) a call that needs 50 µs can lose its thread for
//! longer than a 5 ms deadline, and cutting it off then would punish the
//! plugin for the host's load. So the clock deadline only opens a check:
//! from there the call is cut off once it has used half its deadline again
//! of *CPU time* on its thread (a plugin that spins is stopped at about one
//! and a half deadlines of CPU), or once it has been running for the wall
//! cap, whichever comes first.
//!
//! Reading a thread's CPU clock is a system call (about 0.3 µs, a third of a
//! trivial call), so it is read only here, at the deadline, never per call.

use std::time::{Duration, Instant};

/// One call's deadline, armed before the call and consulted by the store's
/// epoch callback each time the deadline passes.
#[derive(Debug, Clone)]
pub(crate) struct CallDeadline {
    budget: Duration,
    wall_cap: Duration,
    started: Instant,
    /// The thread's CPU clock when the clock deadline first passed.
    cpu_at_overrun: Option<Duration>,
}

/// What the epoch callback does at a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Look again after this much more time on the clock.
    Extend(Duration),
    /// Cut the call off.
    Stop,
}

impl CallDeadline {
    /// A deadline of `budget`, never running past `wall_cap` (or `budget`,
    /// if that is longer) on the clock from `started`.
    pub(crate) fn new(budget: Duration, wall_cap: Duration, started: Instant) -> Self {
        Self { budget, wall_cap: wall_cap.max(budget), started, cpu_at_overrun: None }
    }

    /// Re-arms for a new call on the same store.
    pub(crate) fn arm(&mut self, budget: Duration, wall_cap: Duration, started: Instant) {
        *self = Self::new(budget, wall_cap, started);
    }

    /// Decides at a deadline, given the thread's CPU clock and the time now.
    pub(crate) fn on_expiry(&mut self, cpu_now: Duration, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed >= self.wall_cap {
            return Verdict::Stop;
        }
        let grace = self.budget / 2;
        let Some(at_overrun) = self.cpu_at_overrun else {
            // The clock deadline has just passed: from now on, count CPU.
            self.cpu_at_overrun = Some(cpu_now);
            return if grace.is_zero() { Verdict::Stop } else { Verdict::Extend(grace.min(self.wall_cap - elapsed)) };
        };
        let used = cpu_now.saturating_sub(at_overrun);
        if used >= grace {
            return Verdict::Stop;
        }
        // Look again when the rest of the grace could have been used, but
        // no later than the wall cap.
        Verdict::Extend((grace - used).min(self.wall_cap - elapsed))
    }
}

/// CPU time the calling thread has used since it started.
#[cfg(unix)]
pub(crate) fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(u64::try_from(t.tv_sec).unwrap_or(0), u32::try_from(t.tv_nsec).unwrap_or(0))
}

/// Without a thread CPU clock, the process's clock stands in: the deadline
/// is then a plain clock deadline plus the grace.
#[cfg(not(unix))]
pub(crate) fn thread_cpu_time() -> Duration {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_call_that_keeps_the_cpu_is_stopped_after_half_its_deadline_more() {
        let t0 = Instant::now();
        let mut d = CallDeadline::new(10 * MS, 1000 * MS, t0);
        // The clock deadline passes with the thread at 40 ms of CPU.
        assert_eq!(d.on_expiry(40 * MS, t0 + 10 * MS), Verdict::Extend(5 * MS));
        // 3 ms more of CPU: 2 ms of grace left.
        assert_eq!(d.on_expiry(43 * MS, t0 + 15 * MS), Verdict::Extend(2 * MS));
        assert_eq!(d.on_expiry(45 * MS, t0 + 17 * MS), Verdict::Stop);
    }

    #[test]
    fn a_call_waiting_for_a_cpu_is_not_stopped_until_the_wall_cap() {
        let t0 = Instant::now();
        let mut d = CallDeadline::new(10 * MS, 100 * MS, t0);
        assert_eq!(d.on_expiry(7 * MS, t0 + 10 * MS), Verdict::Extend(5 * MS));
        // The thread barely ran: the call goes on.
        assert_eq!(d.on_expiry(7 * MS + MS / 10, t0 + 50 * MS), Verdict::Extend(5 * MS - MS / 10));
        // Close to the cap, the next look is at the cap.
        assert_eq!(d.on_expiry(7 * MS + MS / 5, t0 + 98 * MS), Verdict::Extend(2 * MS));
        assert_eq!(d.on_expiry(7 * MS + MS / 5, t0 + 100 * MS), Verdict::Stop);
    }

    #[test]
    fn the_wall_cap_is_never_shorter_than_the_deadline() {
        let t0 = Instant::now();
        let mut d = CallDeadline::new(10 * MS, MS, t0);
        // A cap below the deadline means "no grace": stopped at the deadline.
        assert_eq!(d.on_expiry(Duration::ZERO, t0 + 10 * MS), Verdict::Stop);
        // Ticks run late or early by a little: a look before the deadline
        // is given the time left to it, no more.
        let mut d = CallDeadline::new(10 * MS, MS, t0);
        assert_eq!(d.on_expiry(Duration::ZERO, t0 + 9 * MS), Verdict::Extend(MS));
    }

    #[test]
    fn rearming_forgets_the_last_calls_overrun() {
        let t0 = Instant::now();
        let mut d = CallDeadline::new(10 * MS, 1000 * MS, t0);
        assert_eq!(d.on_expiry(MS, t0 + 10 * MS), Verdict::Extend(5 * MS));
        let t1 = t0 + 20 * MS;
        d.arm(10 * MS, 1000 * MS, t1);
        assert_eq!(d.on_expiry(100 * MS, t1 + 10 * MS), Verdict::Extend(5 * MS));
    }

    #[test]
    fn the_thread_cpu_clock_moves_with_work_and_not_with_sleep() {
        let before = thread_cpu_time();
        std::thread::sleep(20 * MS);
        let slept = thread_cpu_time() - before;
        let before = thread_cpu_time();
        let spin = Instant::now();
        while spin.elapsed() < 20 * MS {
            std::hint::black_box(0u64);
        }
        let spun = thread_cpu_time() - before;
        assert!(spun > slept, "spinning used {spun:?} of CPU, sleeping {slept:?}");
    }
}
