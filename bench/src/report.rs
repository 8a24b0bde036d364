//! What the benchmark prints: the machine, and one table per database with the targets.

use crate::load::Stats;
use std::path::Path;

/// Targets for a create (per database).
pub const MIN_RATIO: f64 = 0.5;
pub const MAX_P99_MS: f64 = 25.0;
pub const MAX_RSS_MB: f64 = 100.0;

/// The targets a report is judged against.
pub struct Targets {
    pub min_ratio: f64,
    pub max_p99_ms: f64,
    /// What feegate's requests are, for the table.
    pub what: &'static str,
}

impl Targets {
    /// Issue targets: creates (ratio >= 0.5, p99 <= 25 ms), callbacks (ratio >= 0.4, p99 <= 30 ms).
    pub fn for_mode(callback: bool) -> Targets {
        if callback {
            Targets { min_ratio: 0.4, max_p99_ms: 30.0, what: "feegate = signed VNPay IPNs answered RspCode 00" }
        } else {
            Targets { min_ratio: MIN_RATIO, max_p99_ms: MAX_P99_MS, what: "feegate = POST /v1/payments answered 201" }
        }
    }
}

/// One server's run.
pub struct Measured {
    pub stats: Stats,
    /// Peak RSS (feegate only).
    pub rss_mb: Option<f64>,
}

/// Both runs on one database.
pub struct DbReport {
    pub title: String,
    pub feegate: Measured,
    pub ceiling: Measured,
    pub targets: Targets,
}

/// `nproc`, the CPU model and the file system of the temp dir (fsync cost depends on it).
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let tmp = std::env::temp_dir();
    format!("{cpus} CPUs (nproc), {model}; {} on {}", tmp.display(), fs_type(&tmp))
}

/// The type of the file system holding `path`, from the longest matching mount point.
fn fs_type(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, mount, kind) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mount).then(|| (mount.len(), kind.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, kind)| kind)
        .unwrap_or_else(|| "an unknown file system".into())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn row(name: &str, m: &Measured) -> String {
    let s = &m.stats;
    let rss = m.rss_mb.map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".into());
    format!(
        "  {name:<9} {:>9} {:>10.1} {:>9.2} {:>9.2} {:>12} {:>8} {:>8}",
        s.created,
        s.per_second(),
        s.quantile_ms(0.50),
        s.quantile_ms(0.99),
        rss,
        s.failed(),
        s.warmup_failed
    )
}

impl DbReport {
    /// feegate req/s over ceiling req/s.
    pub fn ratio(&self) -> f64 {
        let c = self.ceiling.stats.per_second();
        if c > 0.0 {
            self.feegate.stats.per_second() / c
        } else {
            f64::NAN
        }
    }

    /// No answer other than 201, in the window or the warm-up.
    pub fn clean(&self) -> bool {
        [&self.feegate, &self.ceiling].iter().all(|m| m.stats.failed() == 0 && m.stats.warmup_failed == 0)
    }

    pub fn print(&self) {
        println!();
        println!("== {}", self.title);
        println!("  {}; ceiling = one durable insert answered 201", self.targets.what);
        println!(
            "  {:<9} {:>9} {:>10} {:>9} {:>9} {:>12} {:>8} {:>8}",
            "server", "201s", "req/s", "p50 ms", "p99 ms", "peak RSS MB", "non-201", "warm-up"
        );
        println!("{}", row("feegate", &self.feegate));
        println!("{}", row("ceiling", &self.ceiling));
        let ratio = self.ratio();
        let p99 = self.feegate.stats.quantile_ms(0.99);
        println!("  ratio = feegate / ceiling = {ratio:.2}");
        let Targets { min_ratio, max_p99_ms, .. } = self.targets;
        println!("  target ratio >= {min_ratio:.2}    {ratio:>8.2}  {}", verdict(ratio >= min_ratio));
        println!("  target p99 <= {max_p99_ms:.0} ms     {p99:>8.2}  {}", verdict(p99 <= max_p99_ms));
        match self.feegate.rss_mb {
            Some(rss) => println!("  target RSS <= {MAX_RSS_MB:.0} MB   {rss:>8.1}  {}", verdict(rss <= MAX_RSS_MB)),
            None => println!("  target RSS <= {MAX_RSS_MB:.0} MB   unknown  MISS"),
        }
        let failed: u64 = [&self.feegate, &self.ceiling].iter().map(|m| m.stats.failed() + m.stats.warmup_failed).sum();
        println!("  check  non-201 == 0       {failed:>8}  {}", if self.clean() { "PASS" } else { "FAIL" });
        for (name, m) in [("feegate", &self.feegate), ("ceiling", &self.ceiling)] {
            let cpu = &m.stats.cpu;
            let server = cpu.server_cores.map(|c| format!(", {name} process {c:.2} cores")).unwrap_or_default();
            println!(
                "  cpu during {name}: machine {:.0}% busy, {:.0}% iowait{server}",
                cpu.busy * 100.0,
                cpu.iowait * 100.0
            );
        }
        for (name, m) in [("feegate", &self.feegate), ("ceiling", &self.ceiling)] {
            for (kind, n) in &m.stats.failures {
                println!("  {name}: {n} x {kind}");
            }
            if let Some(first) = &m.stats.first_failure {
                println!("  {name}: first failure: {first}");
            }
        }
    }
}
