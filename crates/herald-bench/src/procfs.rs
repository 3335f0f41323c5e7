//! What Linux tells about a process in `/proc`: resident memory (`VmRSS`,
//! and its peak `VmHWM`), threads, open files and CPU time used, so a run
//! can report what the server spent on it. Also raises this process's
//! open-file limit.

use anyhow::{Context, bail};
use serde::Serialize;

/// Clock ticks per second of `/proc/PID/stat` times (USER_HZ: 100 on every
/// mainstream Linux build).
const TICKS_PER_S: f64 = 100.0;

/// Resident memory of a process, in KiB.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid` (`"self"` for this process).
pub fn memory(pid: &str) -> anyhow::Result<Memory> {
    let status = Status::read(pid)?;
    Ok(Memory { rss_kib: status.field("VmRSS:")?, hwm_kib: status.field("VmHWM:")? })
}

/// Threads of `pid`.
pub fn threads(pid: &str) -> anyhow::Result<u64> {
    Status::read(pid)?.field("Threads:")
}

/// File descriptors `pid` holds open (sockets included).
pub fn open_files(pid: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&path).with_context(|| format!("listing {path}"))?.count() as u64)
}

/// `/proc/PID/status`, read once.
struct Status {
    path: String,
    text: String,
}

impl Status {
    fn read(pid: &str) -> anyhow::Result<Self> {
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Ok(Self { path, text })
    }

    /// The number of a `Name:   123 kB` or `Name:  123` line.
    fn field(&self, name: &str) -> anyhow::Result<u64> {
        let path = &self.path;
        let line = self.text.lines().find(|l| l.starts_with(name)).with_context(|| format!("{path} has no {name}"))?;
        let value = line[name.len()..].trim().trim_end_matches("kB").trim();
        value.parse().with_context(|| format!("{path}: bad {name} `{line}`"))
    }
}

/// CPU seconds used so far by a process, split into the time it ran its
/// own code and the time the kernel ran on its behalf (system calls, and on
/// loopback the receiving socket's TCP processing, which runs in the
/// sender's context).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub system: f64,
}

impl CpuTimes {
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

impl std::ops::Add for CpuTimes {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self { user: self.user + o.user, system: self.system + o.system }
    }
}

impl std::ops::Sub for CpuTimes {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self { user: self.user - o.user, system: self.system - o.system }
    }
}

/// CPU seconds (user + system) used so far by `pid`.
pub fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    cpu_times(pid).map(CpuTimes::total)
}

/// CPU seconds used so far by `pid`, user and system apart.
pub fn cpu_times(pid: &str) -> anyhow::Result<CpuTimes> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_cpu(&text).with_context(|| format!("{path} is not as expected"))
}

/// `utime` and `stime` from a `/proc/PID/stat` line. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after
/// its last `)`.
fn parse_cpu(stat: &str) -> anyhow::Result<CpuTimes> {
    let after = &stat[stat.rfind(')').context("no command name")? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    if fields.len() < 13 {
        bail!("too few fields");
    }
    let utime: u64 = fields[11].parse()?;
    let stime: u64 = fields[12].parse()?;
    Ok(CpuTimes { user: utime as f64 / TICKS_PER_S, system: stime as f64 / TICKS_PER_S })
}

/// Raises this process's soft limit on open files to its hard limit and
/// returns the limit now in force.
pub fn raise_fd_limit() -> anyhow::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX).context("raising the open-file limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let m = memory("self").unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib, "{m:?}");
        assert!(cpu_seconds("self").unwrap() >= 0.0);
        assert!(raise_fd_limit().unwrap() >= 256);
        assert!(threads("self").unwrap() >= 1);
        // Other tests open sockets at the same time, so no exact count.
        assert!(open_files("self").unwrap() >= 3);
        assert!(open_files("0").is_err());
    }

    #[test]
    fn command_names_with_spaces_and_parentheses_parse() {
        let stat = "42 (a b) c)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000 10";
        assert_eq!(parse_cpu(stat).unwrap(), CpuTimes { user: 2.5, system: 0.5 });
    }
}
