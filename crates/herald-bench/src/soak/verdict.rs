//! Whether a soak passed, and why.
//!
//! - **Memory flat**: the server's mean RSS over the last quarter of the
//!   load samples taken after warm-up is at most `tolerance` percent above
//!   its mean over the first quarter of them. Warm-up is left out because
//!   a fresh process grows its allocator arenas, caches and worker pools
//!   once; a leak keeps growing after that, and a quarter's mean evens out
//!   the ups and downs of connections coming and going. The least-squares
//!   slope over the same samples is reported alongside.
//! - **Open files flat**: open files beyond open connections (the node's
//!   own count from `/v1/stats`) have the same mean, within `tolerance`
//!   files, over the last quarter as over the first; and once every stream
//!   is closed the server holds at most `tolerance` more files than that
//!   first-quarter mean. (Not more than before the first stream opened:
//!   the database pool opens its connections, and SQLite its journal
//!   files, under the first load, once.)
//! - **Delivery exact**: no gap, duplicate, misdelivery, truncation, expired
//!   token or unreadable event, and nothing missing once every subscriber
//!   caught up.

use serde::Serialize;

use super::sample::{Sample, Stage};
use super::subscriber::CountsNow;

/// Fewest load samples after warm-up that a trend can be read from.
pub const MIN_SAMPLES: usize = 4;

/// One criterion.
#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// The load samples after warm-up.
fn steady(samples: &[Sample], warmup_s: f64) -> Vec<&Sample> {
    samples.iter().filter(|s| s.stage == Stage::Load && s.t_s >= warmup_s).collect()
}

/// Mean of `f` over the first and the last quarter of `steady`.
fn quarters(steady: &[&Sample], f: impl Fn(&Sample) -> Option<f64>) -> Option<(f64, f64)> {
    let q = steady.len() / 4;
    let mean = |part: &[&Sample]| -> Option<f64> {
        let values: Option<Vec<f64>> = part.iter().map(|s| f(s)).collect();
        let values = values?;
        Some(values.iter().sum::<f64>() / values.len() as f64)
    };
    Some((mean(&steady[..q])?, mean(&steady[steady.len() - q..])?))
}

/// Least-squares slope of `y` over `t`, per hour.
fn slope_per_hour(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mt, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let var: f64 = points.iter().map(|p| (p.0 - mt).powi(2)).sum();
    if var == 0.0 {
        return 0.0;
    }
    points.iter().map(|p| (p.0 - mt) * (p.1 - my)).sum::<f64>() / var * 3600.0
}

pub fn memory(samples: &[Sample], warmup_s: f64, tolerance_pct: f64) -> Check {
    let name = "memory flat";
    let steady = steady(samples, warmup_s);
    if steady.len() < MIN_SAMPLES {
        return Check { name, ok: false, detail: format!("{} samples after warm-up; need {MIN_SAMPLES}", steady.len()) };
    }
    let Some((first, last)) = quarters(&steady, |s| s.server.map(|p| p.rss_kib as f64)) else {
        return Check { name, ok: false, detail: "no server memory figures (--server-pid)".into() };
    };
    let growth = 100.0 * (last - first) / first;
    let points: Vec<(f64, f64)> = steady.iter().filter_map(|s| Some((s.t_s, s.server?.rss_kib as f64 / 1024.0))).collect();
    Check {
        name,
        ok: growth <= tolerance_pct,
        detail: format!(
            "mean RSS {:.1} MiB in the first quarter after warm-up, {:.1} MiB in the last ({growth:+.1}%, tolerance {tolerance_pct}%); slope {:+.2} MiB/h",
            first / 1024.0,
            last / 1024.0,
            slope_per_hour(&points)
        ),
    }
}

pub fn open_files(samples: &[Sample], warmup_s: f64, tolerance: u64) -> Check {
    let name = "open files flat";
    let steady = steady(samples, warmup_s);
    if steady.len() < MIN_SAMPLES {
        return Check { name, ok: false, detail: format!("{} samples after warm-up; need {MIN_SAMPLES}", steady.len()) };
    }
    let Some((first, last)) = quarters(&steady, |s| s.fds_beyond_connections().map(|v| v as f64)) else {
        return Check { name, ok: false, detail: "no open-file or connection figures (--server-pid, /v1/stats)".into() };
    };
    let fds = |stage| samples.iter().find(|s| s.stage == stage).and_then(|s| s.server).map(|p| p.fds);
    let Some((before, after)) = fds(Stage::Before).zip(fds(Stage::After)) else {
        return Check { name, ok: false, detail: "no open-file figures before and after the load".into() };
    };
    let tol = tolerance as f64;
    // Once every stream closed, the server should hold what it held beyond
    // its connections under load (the database pool has grown to its size
    // by then, so the count before the load is only reported).
    let ok = last - first <= tol && after as f64 <= first + tol;
    Check {
        name,
        ok,
        detail: format!(
            "files beyond connections: mean {first:.1} in the first quarter after warm-up, {last:.1} in the last; \
             {after} open after the last stream closed ({before} before the first opened); tolerance {tolerance}"
        ),
    }
}

/// What the subscribers' checks found, and what they lacked at the end.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Delivery {
    #[serde(flatten)]
    pub found: CountsNow,
    /// Committed notifications a subscriber had not received when the drain ended.
    pub missing: u64,
}

pub fn delivery(d: &Delivery) -> Check {
    let f = &d.found;
    let bad = f.gaps + f.duplicates + f.misdelivered + f.truncated + f.token_expired + f.unexpected + d.missing;
    Check {
        name: "delivery exact",
        ok: bad == 0 && f.delivered > 0,
        detail: format!(
            "{} delivered; gaps {}, duplicates {}, misdelivered {}, history-truncated {}, token-expired {}, unexpected {}, missing at the end {}",
            f.delivered, f.gaps, f.duplicates, f.misdelivered, f.truncated, f.token_expired, f.unexpected, d.missing
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::sample::tests::sample;

    /// Before, 12 load samples a minute apart from the given RSS and
    /// open-file functions, and after.
    fn run(rss: impl Fn(u64) -> u64, fds: impl Fn(u64) -> u64, after_fds: u64) -> Vec<Sample> {
        let mut before = sample(-1.0, 20_000, 20, 0);
        before.stage = Stage::Before;
        let mut after = sample(800.0, 30_000, after_fds, 0);
        after.stage = Stage::After;
        let mut all = vec![before];
        all.extend((0..12).map(|i| sample(60.0 * i as f64, rss(i), fds(i) + 400, 400)));
        all.push(after);
        all
    }

    #[test]
    fn flat_runs_pass() {
        // Warm-up growth at first, then noise.
        let samples = run(|i| if i == 0 { 20_000 } else { 30_000 + (i % 3) * 500 }, |i| 20 + i % 2, 21);
        let m = memory(&samples, 60.0, 10.0);
        assert!(m.ok, "{}", m.detail);
        let f = open_files(&samples, 60.0, 10);
        assert!(f.ok, "{}", f.detail);
    }

    #[test]
    fn steady_growth_fails() {
        // 1 MiB a minute on 30 MiB.
        let samples = run(|i| 30_000 + i * 1024, |i| 20 + i * 3, 21);
        let m = memory(&samples, 60.0, 10.0);
        assert!(!m.ok, "{}", m.detail);
        assert!(m.detail.contains("slope +60.00 MiB/h"), "{}", m.detail);
        let f = open_files(&samples, 60.0, 10);
        assert!(!f.ok, "{}", f.detail);
    }

    #[test]
    fn files_left_open_after_the_load_fail() {
        let samples = run(|_| 30_000, |_| 20, 45);
        let f = open_files(&samples, 60.0, 10);
        assert!(!f.ok && f.detail.contains("45 open after the last stream closed (20 before"), "{}", f.detail);
        let grown_once = run(|_| 30_000, |_| 28, 29);
        let f = open_files(&grown_once, 60.0, 10);
        assert!(f.ok, "{}", f.detail);
    }

    #[test]
    fn too_short_runs_and_blind_runs_fail() {
        let samples = run(|_| 30_000, |_| 20, 20);
        assert!(!memory(&samples, 600.0, 10.0).ok);
        let blind: Vec<Sample> = samples
            .into_iter()
            .map(|mut s| {
                s.server = None;
                s
            })
            .collect();
        assert!(!memory(&blind, 60.0, 10.0).ok);
        assert!(!open_files(&blind, 60.0, 10).ok);
    }

    #[test]
    fn any_delivery_fault_fails() {
        let found = CountsNow { delivered: 10, ..CountsNow::default() };
        let clean = Delivery { found, missing: 0 };
        assert!(delivery(&clean).ok);
        assert!(!delivery(&Delivery { missing: 1, ..clean }).ok);
        assert!(!delivery(&Delivery { found: CountsNow { duplicates: 1, ..found }, ..clean }).ok);
        assert!(!delivery(&Delivery { found: CountsNow { truncated: 1, ..found }, ..clean }).ok);
        assert!(!delivery(&Delivery::default()).ok);
    }
}
