//! The load driver: N tasks sharing one HTTP client POST fresh one-line creates for a
//! fixed time after a warm-up. Only requests started inside the measured window count;
//! 201s give the latency samples, anything else is counted apart.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where to send the creates.
pub struct Target {
    pub url: String,
    pub bearer: String,
    /// Prefix of the `Idempotency-Key`s, unique per run.
    pub key_prefix: String,
}

/// How hard and how long.
#[derive(Clone, Copy)]
pub struct Plan {
    pub clients: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one run measured.
#[derive(Default)]
pub struct Stats {
    /// 201s among requests started in the measured window.
    pub created: u64,
    /// Everything else in the window, by `status NNN` or `transport error`.
    pub failures: BTreeMap<String, u64>,
    /// Non-201 answers during the warm-up (not in `failures`; should be 0 too).
    pub warmup_failed: u64,
    /// The first failure seen (warm-up included), for the report.
    pub first_failure: Option<String>,
    /// Latency of each 201 in the window, sorted, in microseconds.
    pub latencies_us: Vec<u64>,
    /// From the window's start until the last request of the window answered.
    pub elapsed: Duration,
    /// CPU use during the window.
    pub cpu: crate::cpu::Usage,
}

impl Stats {
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.created as f64 / secs
        } else {
            0.0
        }
    }

    /// The `q` quantile (0..=1) of the 201 latencies in ms, by nearest rank.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_us[rank - 1] as f64 / 1000.0
    }
}

/// The create request of DESIGN §6 with one line.
fn create_body(n: u64) -> String {
    format!(
        r#"{{"agency_code":"H12.20","dossier_code":"B-{n}","description":"bench","lines":[{{"kind":"charge","code":"LP","description":"Le phi","amount":"135000"}}],"return_url":"https://portal.example.vn/r"}}"#
    )
}

/// One task's share of the samples.
#[derive(Default)]
struct Local {
    created: u64,
    failures: BTreeMap<String, u64>,
    warmup_failed: u64,
    first_failure: Option<String>,
    latencies_us: Vec<u64>,
}

/// Drives `target` with `plan.clients` concurrent clients; every loop ends by time.
/// `server` is the server's pid, for its CPU use.
pub async fn drive(target: Target, plan: Plan, server: Option<u32>) -> Result<Stats> {
    let clients = plan.clients.max(1);
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(clients * 2)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("building the load client")?;
    let target = Arc::new(target);
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let window = start + plan.warmup;
    let end = window + plan.measure;
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (http, target, counter) = (http.clone(), Arc::clone(&target), Arc::clone(&counter));
        tasks.push(tokio::spawn(async move { client_loop(http, &target, &counter, window, end).await }));
    }
    tokio::time::sleep_until(window.into()).await;
    let cpu_before = crate::cpu::snapshot(server);
    let mut stats = Stats::default();
    for t in tasks {
        let local = t.await.context("a load task failed")?;
        stats.created += local.created;
        stats.warmup_failed += local.warmup_failed;
        for (k, v) in local.failures {
            *stats.failures.entry(k).or_default() += v;
        }
        if stats.first_failure.is_none() {
            stats.first_failure = local.first_failure;
        }
        stats.latencies_us.extend(local.latencies_us);
    }
    stats.elapsed = window.elapsed();
    if let (Some(a), Some(b)) = (cpu_before, crate::cpu::snapshot(server)) {
        stats.cpu = crate::cpu::between(a, b);
    }
    stats.latencies_us.sort_unstable();
    Ok(stats)
}

async fn client_loop(http: reqwest::Client, t: &Target, counter: &AtomicU64, window: Instant, end: Instant) -> Local {
    let mut local = Local::default();
    loop {
        let began = Instant::now();
        if began >= end {
            return local;
        }
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let sent = http
            .post(&t.url)
            .bearer_auth(&t.bearer)
            .header("idempotency-key", format!("{}-{n}", t.key_prefix))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(create_body(n))
            .send()
            .await;
        let outcome = match sent {
            Ok(r) => {
                let status = r.status();
                match r.text().await {
                    Ok(_) if status == reqwest::StatusCode::CREATED => Ok(()),
                    Ok(body) => Err((format!("status {}", status.as_u16()), body)),
                    Err(e) => Err(("transport error".to_owned(), format!("{e:#}"))),
                }
            }
            Err(e) => Err(("transport error".to_owned(), format!("{e:#}"))),
        };
        let took = began.elapsed();
        if let Err((_, detail)) = &outcome {
            if local.first_failure.is_none() {
                local.first_failure = Some(detail.chars().take(300).collect());
            }
        }
        if began < window {
            local.warmup_failed += u64::from(outcome.is_err());
            continue;
        }
        match outcome {
            Ok(()) => {
                local.created += 1;
                local.latencies_us.push(took.as_micros() as u64);
            }
            Err((kind, _)) => *local.failures.entry(kind).or_default() += 1,
        }
    }
}
