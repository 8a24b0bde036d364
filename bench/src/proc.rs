//! Child processes killed on drop, scratch folders removed on drop, free loopback ports,
//! readiness polling and peak memory from `/proc`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A child process that is killed and reaped when dropped: on success, on error and when
/// the run is abandoned on Ctrl-C (the future holding it is dropped).
pub struct ChildGuard {
    child: Child,
    name: String,
    log: PathBuf,
}

impl ChildGuard {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<ChildGuard> {
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file handle")?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        Ok(ChildGuard { child, name: name.to_owned(), log: log.to_owned() })
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size (`VmHWM`) in MB; read while the child still runs.
    pub fn peak_rss_mb(&self) -> Result<f64> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmHWM in {path}"))?;
        Ok(kb / 1024.0)
    }

    /// Polls `url` until it answers 200, failing early if the child dies.
    pub async fn wait_ready(&mut self, url: &str, limit: Duration) -> Result<()> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .context("building the readiness client")?;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().context("checking the child")? {
                bail!("{} exited before it was ready ({status}); its log:\n{}", self.name, self.log_tail());
            }
            if let Ok(r) = http.get(url).send().await {
                if r.status() == reqwest::StatusCode::OK {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("{} was not ready at {url} within {limit:?}; its log:\n{}", self.name, self.log_tail())
    }

    /// The last lines of the child's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SIGKILL: the measurement is over and the database is thrown away.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch folder under the temp dir, removed (with the SQLite files in it) on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new() -> Result<ScratchDir> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!("feegate-bench-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Runs `feegate keys create --role portal --portal demo-portal` with `env` and returns
/// the key (the last line of its stdout). It seeds the demo data itself.
pub async fn create_portal_key(feegate: &Path, env: &[(&str, String)]) -> Result<String> {
    let mut cmd = tokio::process::Command::new(feegate);
    cmd.args(["feegate", "keys", "create", "--role", "portal", "--portal", "demo-portal", "--name", "bench"])
        .env_remove("FEEGATE_CONFIG")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .context("`feegate keys create` took over 60 s")?
        .context("running `feegate keys create`")?;
    if !out.status.success() {
        bail!("`feegate keys create` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    if !key.starts_with("fgk_") {
        bail!("`feegate keys create` printed no key on its last line: {stdout:?}");
    }
    Ok(key.to_owned())
}
