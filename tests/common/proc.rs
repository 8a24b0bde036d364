//! Real feegate processes for crash and node tests: `feegate serve` children that are
//! killed with SIGKILL (and in Drop, so a failing test leaves nothing running), the CLI
//! (`keys create`, `audit verify`), and a webhook receiver on loopback that plays the
//! portal, checks each signature and can hold deliveries open.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The feegate binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_feegate");

/// The webhook secret of the portal the config files below set up.
pub const WEBHOOK_SECRET: &str = "whsec_proc_test_portal";

/// A temp folder for one test (config, logs, SQLite file); removed by [`Workdir::remove`].
pub struct Workdir(pub PathBuf);

impl Workdir {
    pub fn new(name: &str) -> Workdir {
        let tag = format!("{}-{}-{}", std::process::id(), feegate::store::now_ms(), rand::random::<u32>());
        let dir = std::env::temp_dir().join(format!("feegate-{name}-{tag}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Workdir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// Writes a config file whose demo portal posts webhooks to `webhook_url`, retrying
    /// every second, and gives its path.
    pub fn portal_config(&self, webhook_url: &str) -> PathBuf {
        let path = self.path("feegate.toml");
        let text = format!(
            "webhook_retry_schedule_secs = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n\n\
             [[demo.portals]]\nid = \"demo-portal\"\nname = \"Test portal\"\n\
             webhook_url = \"{webhook_url}\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\n\
             return_origins = [\"https://portal.example.vn\"]\n"
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Removes the folder (call it when the test passed; a failure keeps the logs).
    pub fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port on 127.0.0.1 that was free a moment ago (kept across restarts of one server).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A feegate command with `env` and without any FEEGATE_* variable of the test runner.
fn command(args: &[&str], env: &[(String, String)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args).kill_on_drop(true).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("FEEGATE_") {
            cmd.env_remove(k);
        }
    }
    // The demo's data and simulated gateways unless the test says otherwise.
    cmd.env("FEEGATE_DEMO", "true");
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd
}

/// Runs the CLI to completion (at most 60 s); gives (exit code, stdout).
pub async fn cli(args: &[&str], env: &[(String, String)]) -> (i32, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), command(args, env).output())
        .await
        .unwrap_or_else(|_| panic!("feegate {args:?} did not finish in 60 s"))
        .expect("run feegate");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        eprintln!("feegate {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    (out.status.code().unwrap_or(-1), stdout)
}

/// Creates an API key with the CLI (which also migrates and seeds); gives the key.
pub async fn create_key(env: &[(String, String)], role: &str, portal: Option<&str>) -> String {
    let mut args = vec!["keys", "create", "--role", role];
    if let Some(p) = portal {
        args.extend(["--portal", p]);
    }
    let (code, out) = cli(&args, env).await;
    assert_eq!(code, 0, "keys create: {out}");
    out.lines().last().expect("the key on the last line").trim().to_owned()
}

/// One `feegate serve` process.
pub struct Server {
    child: Option<tokio::process::Child>,
    pub url: String,
    pub log: PathBuf,
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts `feegate serve` on 127.0.0.1:`port` with `env`, output appended to `log`,
    /// and waits (at most 60 s) until it answers `/healthz`.
    pub async fn start(port: u16, env: &[(String, String)], log: &Path) -> Server {
        let url = format!("http://127.0.0.1:{port}");
        let mut env = env.to_vec();
        env.push(("FEEGATE_LISTEN".into(), format!("127.0.0.1:{port}")));
        env.push(("FEEGATE_PUBLIC_URL".into(), url.clone()));
        let mut server = Server { child: None, url, log: log.to_path_buf(), env };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command(&["serve"], &self.env).stdout(out).stderr(err).spawn().expect("spawn feegate serve");
        self.child = Some(child);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("feegate serve exited with {status} while starting; see {}", self.log.display());
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.url)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "feegate serve not ready in 60 s; see {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (`kill -9`): no shutdown code runs; waits until the process is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }

    /// Starts the same server again (same port, database and settings).
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// One webhook request as the portal received it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub kind: String,
    pub payment_id: String,
    pub at: Instant,
    /// The status answered; 0 for a request held open and never answered in time.
    pub answered: u16,
}

#[derive(Default)]
struct PortalState {
    deliveries: Vec<Delivery>,
    /// How many more first deliveries of a new event to hold open.
    hold_first: usize,
    held: Vec<String>,
    /// How many more requests to answer 500.
    fail_next: usize,
    bad_signatures: usize,
}

/// A portal's webhook endpoint on 127.0.0.1 (`url`). It verifies `Feegate-Signature`
/// (401 if wrong), records every request, and stops with the test's runtime.
#[derive(Clone)]
pub struct Portal {
    pub url: String,
    state: Arc<Mutex<PortalState>>,
    hold_for: Duration,
}

impl Portal {
    /// Starts a receiver; a held request is answered only after `hold_for`.
    pub async fn start(hold_for: Duration) -> Portal {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let portal = Portal { url, state: Arc::default(), hold_for };
        let app = axum::Router::new().route("/hooks", axum::routing::post(receive)).with_state(portal.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        portal
    }

    /// Holds open the first delivery of each of the next `n` new events.
    pub fn hold_first(&self, n: usize) {
        self.lock().hold_first = n;
    }

    /// Answers the next `n` requests with 500.
    pub fn fail_next(&self, n: usize) {
        self.lock().fail_next = n;
    }

    pub fn held(&self) -> Vec<String> {
        self.lock().held.clone()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// Event ids answered 2xx at least once.
    pub fn acknowledged(&self) -> HashSet<String> {
        self.lock().deliveries.iter().filter(|d| d.answered == 200).map(|d| d.event_id.clone()).collect()
    }

    pub fn bad_signatures(&self) -> usize {
        self.lock().bad_signatures
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PortalState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Checks a `Feegate-Signature` header against the raw body, as the README tells portals.
fn signature_ok(header: &str, body: &[u8]) -> bool {
    let Some(t) = header.split(',').find_map(|p| p.strip_prefix("t=")).and_then(|t| t.parse::<i64>().ok()) else {
        return false;
    };
    let expected = feegate::service::outbox::signature_header(WEBHOOK_SECRET, t, body);
    subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), header.as_bytes()).into()
}

async fn receive(State(portal): State<Portal>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let header = headers.get("feegate-signature").and_then(|h| h.to_str().ok()).unwrap_or("");
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut d = Delivery {
        event_id: v["id"].as_str().unwrap_or("").to_owned(),
        kind: v["type"].as_str().unwrap_or("").to_owned(),
        payment_id: v["data"]["id"].as_str().unwrap_or("").to_owned(),
        at: Instant::now(),
        answered: 0,
    };
    let answer_now = {
        let mut s = portal.lock();
        let answer = if !signature_ok(header, &body) {
            s.bad_signatures += 1;
            Some(StatusCode::UNAUTHORIZED)
        } else if s.hold_first > 0 && !s.deliveries.iter().any(|x| x.event_id == d.event_id) {
            s.hold_first -= 1;
            s.held.push(d.event_id.clone());
            None
        } else if s.fail_next > 0 {
            s.fail_next -= 1;
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        } else {
            Some(StatusCode::OK)
        };
        d.answered = answer.map_or(0, |a| a.as_u16());
        s.deliveries.push(d);
        answer
    };
    if let Some(status) = answer_now {
        return status;
    }
    tokio::time::sleep(portal.hold_for).await;
    StatusCode::OK
}

/// An HTTP client for driving servers: no redirects followed, every request bounded.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

/// A create request for `dossier_code` of `amount` đồng.
pub fn create_body(dossier_code: &str, amount: u64) -> Value {
    json!({
        "agency_code": "H12.20",
        "dossier_code": dossier_code,
        "procedure_code": "1.004227",
        "description": "Cấp đổi giấy phép lái xe",
        "lines": [{"kind": "charge", "code": "LP-GPLX", "description": "Lệ phí cấp đổi GPLX", "amount": amount.to_string()}],
        "payer": {"name": "Nguyễn Ngọc Lâm"},
        "return_url": "https://portal.example.vn/return",
        "expires_in_seconds": 3600,
        "metadata": {}
    })
}

/// A signed sandbox gateway callback saying `reference` was paid.
pub fn sandbox_success(reference: &str, txn: &str, amount: u64) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(&json!({"reference": reference, "transaction_id": txn, "amount": amount,
        "currency": "VND", "status": "succeeded", "paid_at": "2026-11-27T10:00:00Z"}))
    .expect("json");
    let sig = feegate_connector::crypto::hmac_sha256_hex(b"sandbox-demo-secret", &body);
    (body, sig)
}

/// Counts of rows by key from a `SELECT key, COUNT(*) ... GROUP BY key` query.
pub async fn counts(pool: &sqlx::AnyPool, sql: &str) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(sql).fetch_all(pool).await.expect("count query").into_iter().collect()
}
