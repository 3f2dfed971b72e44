//! Process metrics in the names Prometheus client libraries use, read from `/proc/self` on
//! Linux (elsewhere they are left out): CPU seconds, resident memory, open and maximum file
//! descriptors, start time.

use metrics::{describe_gauge, gauge, Unit};

const CPU_SECONDS: &str = "process_cpu_seconds_total";
const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
const OPEN_FDS: &str = "process_open_fds";
const MAX_FDS: &str = "process_max_fds";
const START_TIME: &str = "process_start_time_seconds";

/// `/proc` counts CPU time and start time in `USER_HZ` ticks, which Linux fixes at 100 for
/// user space on every architecture Keel runs on.
const TICKS_PER_SECOND: f64 = 100.0;

pub(super) fn describe() {
    describe_gauge!(
        CPU_SECONDS,
        Unit::Seconds,
        "CPU time this process used, user and system."
    );
    describe_gauge!(RESIDENT_MEMORY, Unit::Bytes, "Resident memory of this process.");
    describe_gauge!(OPEN_FDS, "Open file descriptors of this process.");
    describe_gauge!(MAX_FDS, "The most file descriptors this process may open (soft limit).");
    describe_gauge!(
        START_TIME,
        Unit::Seconds,
        "When this process started, in seconds since the Unix epoch."
    );
}

pub(super) fn refresh() {
    if let Some(stat) = read("/proc/self/stat").as_deref().and_then(parse_stat) {
        gauge!(CPU_SECONDS).set((stat.utime + stat.stime) as f64 / TICKS_PER_SECOND);
        if let Some(boot) = read("/proc/stat").as_deref().and_then(boot_time) {
            gauge!(START_TIME).set(boot as f64 + stat.start_ticks as f64 / TICKS_PER_SECOND);
        }
    }
    if let Some(kib) = read("/proc/self/status")
        .as_deref()
        .and_then(|s| field_kib(s, "VmRSS:"))
    {
        gauge!(RESIDENT_MEMORY).set((kib * 1024) as f64);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        gauge!(OPEN_FDS).set(dir.count() as f64);
    }
    if let Some(max) = read("/proc/self/limits").as_deref().and_then(max_open_files) {
        gauge!(MAX_FDS).set(max as f64);
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[derive(Debug, PartialEq)]
struct Stat {
    utime: u64,
    stime: u64,
    start_ticks: u64,
}

/// Fields 14, 15 and 22 of `/proc/self/stat`; the command name (field 2) may hold spaces and
/// parentheses, so counting starts after its last `)`.
fn parse_stat(s: &str) -> Option<Stat> {
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3 (the state).
    let n = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: n(14)?,
        stime: n(15)?,
        start_ticks: n(22)?,
    })
}

/// `btime` of `/proc/stat`: boot time in seconds since the epoch.
fn boot_time(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A `Name:   123 kB` line of `/proc/self/status`, in KiB.
fn field_kib(s: &str, name: &str) -> Option<u64> {
    let line = s.lines().find_map(|l| l.strip_prefix(name))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_open_files(s: &str) -> Option<u64> {
    let line = s.lines().find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed() {
        let stat = "4242 (keel (a) b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9 0 123456 999 77";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                utime: 250,
                stime: 50,
                start_ticks: 123456
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        assert_eq!(field_kib("Name:\tkeel\nVmRSS:\t   51200 kB\n", "VmRSS:"), Some(51200));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
    }
}
