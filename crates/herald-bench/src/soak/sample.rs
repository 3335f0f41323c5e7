//! One look at the server and the client during a soak, and how the looks
//! are printed (a table) and saved (CSV).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::subscriber::CountsNow;
use crate::procfs;

/// When a sample was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Before the first stream opened and the first publish.
    Before,
    /// While publishing and churning.
    Load,
    /// After publishing stopped and every subscriber caught up (or the drain ran out).
    Drained,
    /// After every stream closed.
    After,
}

/// The server's figures from /proc.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Process {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub fds: u64,
    pub threads: u64,
    pub cpu_s: f64,
}

impl Process {
    pub fn read(pid: u32) -> anyhow::Result<Self> {
        let pid = pid.to_string();
        let memory = procfs::memory(&pid)?;
        Ok(Self {
            rss_kib: memory.rss_kib,
            hwm_kib: memory.hwm_kib,
            fds: procfs::open_files(&pid)?,
            threads: procfs::threads(&pid)?,
            cpu_s: procfs::cpu_seconds(&pid)?,
        })
    }
}

/// The part of `GET /v1/stats` a sample keeps.
#[derive(Debug, Deserialize)]
pub struct SystemStats {
    pub totals: Totals,
}

#[derive(Debug, Deserialize)]
pub struct Totals {
    pub connections: Connections,
}

#[derive(Debug, Deserialize)]
pub struct Connections {
    pub total: u64,
}

/// Client totals since the load started.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Client {
    /// Streams open at the moment.
    pub open_streams: u64,
    pub published: u64,
    pub publish_retries: u64,
    /// How late the latest publish started against the schedule.
    pub publish_lag_ms: f64,
    /// Streams opened, first connects included.
    pub connects: u64,
    /// Connections dropped by the subscribers.
    pub drops: u64,
    /// Drops followed by a pause offline.
    pub pauses: u64,
    /// Streams the server ended or that broke.
    pub server_ended: u64,
    pub connect_errors: u64,
    #[serde(flatten)]
    pub counts: CountsNow,
}

/// One sample.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub stage: Stage,
    /// Seconds since the load started (negative before it).
    pub t_s: f64,
    /// `None` without --server-pid.
    pub server: Option<Process>,
    /// Open connections on the node (`totals.connections.total` of
    /// `/v1/stats`: streams and waiting long-polls); `None` when the call failed.
    pub server_connections: Option<u64>,
    #[serde(flatten)]
    pub client: Client,
}

impl Sample {
    /// Open files not accounted for by open connections: what must stay flat.
    pub fn fds_beyond_connections(&self) -> Option<i64> {
        Some(self.server?.fds as i64 - self.server_connections? as i64)
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// An empty CSV field for a missing value.
fn field<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The samples as a table for people, with the server's CPU use between
/// one sample and the previous.
pub fn table(samples: &[Sample]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:>8} {:>7} {:>8} {:>5} {:>6} {:>7} {:>6} {:>6} {:>6} {:>9} {:>10} {:>8} {:>5} {:>5}",
        "stage", "t", "RSS MiB", "fds", "fds-c", "threads", "CPU%", "conns", "open", "published", "delivered", "connects", "gaps", "dups"
    )];
    let mut prev: Option<&Sample> = None;
    for s in samples {
        let cpu = match (prev.and_then(|p| p.server.map(|v| (p.t_s, v.cpu_s))), s.server) {
            (Some((t0, c0)), Some(now)) if s.t_s > t0 => format!("{:.1}", 100.0 * (now.cpu_s - c0) / (s.t_s - t0)),
            _ => "-".into(),
        };
        let stage = format!("{:?}", s.stage).to_lowercase();
        lines.push(format!(
            "{stage:>8} {:>7} {:>8} {:>5} {:>6} {:>7} {cpu:>6} {:>6} {:>6} {:>9} {:>10} {:>8} {:>5} {:>5}",
            minutes(s.t_s),
            opt(s.server.map(|p| format!("{:.1}", p.rss_kib as f64 / 1024.0))),
            opt(s.server.map(|p| p.fds)),
            opt(s.fds_beyond_connections()),
            opt(s.server.map(|p| p.threads)),
            opt(s.server_connections),
            s.client.open_streams,
            s.client.published,
            s.client.counts.delivered,
            s.client.connects,
            s.client.counts.gaps,
            s.client.counts.duplicates,
        ));
        prev = Some(s);
    }
    lines
}

/// `12m05s` (or `-0m03s` before the load).
pub fn minutes(t_s: f64) -> String {
    let sign = if t_s < 0.0 { "-" } else { "" };
    let s = t_s.abs().round() as u64;
    format!("{sign}{}m{:02}s", s / 60, s % 60)
}

/// The samples as CSV, one row each.
pub fn csv(samples: &[Sample]) -> String {
    let mut out = String::from(
        "stage,t_s,rss_kib,hwm_kib,fds,threads,cpu_s,server_connections,fds_beyond_connections,open_streams,published,publish_retries,publish_lag_ms,\
         connects,drops,pauses,server_ended,connect_errors,delivered,gaps,duplicates,misdelivered,truncated,token_expired,unexpected\n",
    );
    for s in samples {
        let p = s.server;
        let c = &s.client;
        let n = &c.counts;
        let _ = writeln!(
            out,
            "{},{:.1},{},{},{},{},{},{},{},{},{},{},{:.1},{},{},{},{},{},{},{},{},{},{},{},{}",
            format!("{:?}", s.stage).to_lowercase(),
            s.t_s,
            field(p.map(|p| p.rss_kib)),
            field(p.map(|p| p.hwm_kib)),
            field(p.map(|p| p.fds)),
            field(p.map(|p| p.threads)),
            field(p.map(|p| format!("{:.2}", p.cpu_s))),
            field(s.server_connections),
            field(s.fds_beyond_connections()),
            c.open_streams,
            c.published,
            c.publish_retries,
            c.publish_lag_ms,
            c.connects,
            c.drops,
            c.pauses,
            c.server_ended,
            c.connect_errors,
            n.delivered,
            n.gaps,
            n.duplicates,
            n.misdelivered,
            n.truncated,
            n.token_expired,
            n.unexpected,
        );
    }
    out
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A load sample at `t_s` with the given RSS, open files and connections.
    pub fn sample(t_s: f64, rss_kib: u64, fds: u64, connections: u64) -> Sample {
        Sample {
            stage: Stage::Load,
            t_s,
            server: Some(Process { rss_kib, hwm_kib: rss_kib, fds, threads: 5, cpu_s: t_s / 10.0 }),
            server_connections: Some(connections),
            client: Client { open_streams: connections, ..Client::default() },
        }
    }

    #[test]
    fn tables_and_csv_have_a_row_per_sample() {
        let mut before = sample(-2.0, 20_480, 12, 0);
        before.stage = Stage::Before;
        let samples = [before, sample(60.0, 30_720, 512, 500)];
        let table = table(&samples);
        assert_eq!(table.len(), 3);
        assert!(table[2].contains("1m00s") && table[2].contains("30.0") && table[2].contains(" 12 "), "{}", table[2]);
        let text = csv(&samples);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 3);
        let columns = rows[0].split(',').count();
        assert!(rows.iter().all(|r| r.split(',').count() == columns), "{text}");
        assert!(rows[2].starts_with("load,60.0,30720,30720,512,5,6.00,500,12,500,"), "{}", rows[2]);
        let mut blind = sample(1.0, 1, 1, 1);
        blind.server = None;
        assert!(csv(&[blind]).lines().nth(1).unwrap().starts_with("load,1.0,,,,,,1,,1,"));
        let mut fewer = sample(2.0, 1, 3, 5);
        fewer.client.open_streams = 5;
        assert!(csv(&[fewer]).lines().nth(1).unwrap().starts_with("load,2.0,1,1,3,5,0.20,5,-2,5,"));
    }

    #[test]
    fn minutes_read_well() {
        assert_eq!(minutes(3605.4), "60m05s");
        assert_eq!(minutes(-2.6), "-0m03s");
    }
}
