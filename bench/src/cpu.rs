//! Where the CPU went during the measured window, from `/proc/stat` and
//! `/proc/<pid>/stat`: a first hint whether a figure is CPU-bound or waits on the disk.

/// Counters at one instant, in clock ticks.
#[derive(Clone, Copy)]
pub struct Snapshot {
    total: u64,
    idle: u64,
    iowait: u64,
    server: Option<u64>,
}

/// CPU use between two snapshots.
#[derive(Clone, Copy, Default)]
pub struct Usage {
    /// Share of all CPUs busy (user, system, irq...), 0..=1.
    pub busy: f64,
    /// Share of all CPUs idle waiting for I/O, 0..=1.
    pub iowait: f64,
    /// CPUs the server process used on average (1.0 = one core), if known.
    pub server_cores: Option<f64>,
}

/// Reads the counters now; `server` is the server's pid.
pub fn snapshot(server: Option<u32>) -> Option<Snapshot> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> =
        stat.lines().next()?.strip_prefix("cpu ")?.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total = cpu.iter().take(8).sum();
    let server = server.and_then(process_ticks);
    Some(Snapshot { total, idle: *cpu.get(3)?, iowait: *cpu.get(4)?, server })
}

/// utime + stime of a process (fields 14 and 15, counted after the command name).
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = after_name.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The use between `a` and `b`.
pub fn between(a: Snapshot, b: Snapshot) -> Usage {
    let total = b.total.saturating_sub(a.total);
    if total == 0 {
        return Usage::default();
    }
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let share = |x: u64| x as f64 / total as f64;
    let idle = b.idle.saturating_sub(a.idle);
    let iowait = b.iowait.saturating_sub(a.iowait);
    Usage {
        busy: 1.0 - share(idle + iowait),
        iowait: share(iowait),
        server_cores: match (a.server, b.server) {
            (Some(x), Some(y)) => Some(share(y.saturating_sub(x)) * cpus),
            _ => None,
        },
    }
}

/// How busy the machine is with nothing of ours running, over `over`.
pub async fn background(over: std::time::Duration) -> Option<Usage> {
    let a = snapshot(None)?;
    tokio::time::sleep(over).await;
    Some(between(a, snapshot(None)?))
}
