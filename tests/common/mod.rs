//! Test harness: start the real server on 127.0.0.1:0 with its own database (a temp
//! SQLite file, or a fresh PostgreSQL database when `FEEGATE_TEST_DATABASE_URL` is set),
//! and drive it over HTTP. Gateways are played by the simulators feegate mounts.
#![allow(dead_code)]

pub mod console;
pub mod proc;

use feegate::app::{launch, AppState};
use feegate::config::Config;
use reqwest::{redirect, Client, Response};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct TestApp {
    pub url: String,
    pub db_url: String,
    /// A pool of the test's own on the app's database, for raw SQL checks and tampering
    /// (sqlx's `Any` driver, a dev-dependency only: feegate itself uses native drivers).
    pub db: sqlx::AnyPool,
    pub client: Client,
    pub state: AppState,
    pub admin_key: String,
    pub portal_key: String,
    pub finance_key: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

static N: AtomicU64 = AtomicU64::new(0);

/// A raw pool on a test database (see [`TestApp::db`]).
pub async fn any_pool(db_url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new().max_connections(4).connect(db_url).await.expect("test pool")
}

/// A fresh database URL for one test.
pub async fn fresh_database() -> String {
    let n = N.fetch_add(1, Ordering::Relaxed);
    let tag = format!("{}_{}_{}", std::process::id(), n, feegate::store::now_ms() % 1_000_000);
    match std::env::var("FEEGATE_TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            use sqlx::Connection;
            let name = format!("feegate_test_{tag}");
            let mut c = sqlx::PgConnection::connect(&base).await.expect("FEEGATE_TEST_DATABASE_URL must be reachable");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("create test database");
            let (prefix, _) = base.rsplit_once('/').expect("postgres URL has a database");
            format!("{prefix}/{name}")
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("feegate-test-{tag}"));
            std::fs::create_dir_all(&dir).expect("temp dir");
            format!("sqlite://{}/feegate.db?mode=rwc", dir.display())
        }
    }
}

pub fn on_postgres() -> bool {
    std::env::var("FEEGATE_TEST_DATABASE_URL").map(|u| u.starts_with("postgres")).unwrap_or(false)
}

impl TestApp {
    /// Starts feegate with the default config (demo data, sandbox and simulators).
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Starts feegate with extra environment overrides.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        let db_url = fresh_database().await;
        Self::spawn_on(&db_url, extra).await
    }

    /// Starts feegate on an existing database (a second node, or a restart).
    pub async fn spawn_on(db_url: &str, extra: &[(&str, &str)]) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut env = vec![
            ("FEEGATE_PUBLIC_URL".to_string(), url.clone()),
            ("FEEGATE_DATABASE_URL".to_string(), db_url.to_string()),
            ("FEEGATE_EXPIRY_INTERVAL_MS".to_string(), "200".to_string()),
            // The demo's agencies, portal and simulated gateways (a test may pass
            // FEEGATE_DEMO=false after it: the last value counts).
            ("FEEGATE_DEMO".to_string(), "true".to_string()),
        ];
        for (k, v) in extra {
            env.push((k.to_string(), v.to_string()));
        }
        let mut config = Config::load_with(None, &env).expect("config");
        config.max_db_connections = 8;
        config.gateway_timeout_ms = 3000;
        let state = AppState::build(config).await.expect("app state");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(launch(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        let store = &state.store;
        let key = |role, portal: Option<&str>| {
            let store = store.clone();
            let portal = portal.map(str::to_owned);
            async move {
                feegate::service::admin::create_key(&store, role, portal, &[], "test", "test").await.expect("key").1
            }
        };
        use feegate::api::auth::Role;
        let admin_key = key(Role::Admin, None).await;
        let portal_key = key(Role::Portal, Some("demo-portal")).await;
        let finance_key = key(Role::Finance, None).await;
        let client = Client::builder().redirect(redirect::Policy::none()).build().expect("client");
        TestApp {
            url,
            db_url: db_url.to_string(),
            db: any_pool(db_url).await,
            client,
            state,
            admin_key,
            portal_key,
            finance_key,
            stop: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }

    pub fn post(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.url)).bearer_auth(key)
    }

    pub fn get(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.url)).bearer_auth(key)
    }

    /// Creates a payment with the portal key; panics unless 201.
    pub async fn create_payment(&self, body: &Value) -> Value {
        let r = self.post("/v1/payments", &self.portal_key).json(body).send().await.expect("send");
        let status = r.status();
        let v: Value = r.json().await.expect("json");
        assert_eq!(status, 201, "{v}");
        v
    }

    pub async fn payment(&self, id: &str) -> Value {
        self.get(&format!("/v1/payments/{id}"), &self.portal_key)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json")
    }

    /// The form token of a payment's checkout page, as a browser would get it.
    pub async fn form_token(&self, payment_id: &str) -> String {
        let page = self.client.get(format!("{}/checkout/{payment_id}", self.url)).send().await.expect("page");
        form_token(&page.text().await.expect("page text"))
    }

    /// Chooses a connector on the checkout page; gives the Location the browser is sent to.
    pub async fn choose(&self, payment_id: &str, connector: &str) -> String {
        let token = self.form_token(payment_id).await;
        let r = self
            .client
            .post(format!("{}/checkout/{payment_id}", self.url))
            .form(&[("connector", connector), ("form_token", &token)])
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 303, "checkout POST: {}", r.text().await.unwrap_or_default());
        location(&r)
    }

    /// Pays through the sandbox as a browser would; gives the final portal return URL.
    pub async fn pay_sandbox(&self, payment_id: &str, outcome: &str) -> String {
        let gateway = self.choose(payment_id, "sandbox").await;
        let page = self.client.get(&gateway).send().await.expect("pay page");
        assert_eq!(page.status(), 200);
        let r = self.client.post(&gateway).form(&[("outcome", outcome)]).send().await.expect("pay");
        assert_eq!(r.status(), 303);
        let ret = location(&r);
        let r = self.client.get(&ret).send().await.expect("return");
        assert_eq!(r.status(), 303, "return: {}", r.text().await.unwrap_or_default());
        location(&r)
    }

    /// Sets the faults of a simulator.
    pub async fn faults(&self, connector: &str, faults: Value) {
        let r = self
            .client
            .put(format!("{}/sim/{connector}/_control/faults", self.url))
            .json(&faults)
            .send()
            .await
            .expect("faults");
        assert!(r.status().is_success());
    }

    /// The Prometheus text of `/metrics`, read with the admin key (it is never public).
    pub async fn metrics(&self) -> String {
        let r = self.client.get(format!("{}/metrics", self.url)).bearer_auth(&self.admin_key).send().await;
        r.expect("metrics").text().await.expect("metrics text")
    }

    /// Counts rows of a table (for "nothing was written" checks).
    pub async fn count(&self, table: &str) -> i64 {
        let (n,): (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&self.db).await.expect("count");
        n
    }
}

/// The checkout form token in a checkout page's HTML (empty when the page has no form).
pub fn form_token(html: &str) -> String {
    let marker = "name=\"form_token\" value=\"";
    html.split_once(marker).and_then(|(_, rest)| rest.split_once('"')).map(|(t, _)| t.to_owned()).unwrap_or_default()
}

pub fn location(r: &Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The DESIGN §6 example create request.
pub fn payment_body() -> Value {
    json!({
        "agency_code": "H12.20",
        "dossier_code": format!("H12.20-261127-{:04}", N.fetch_add(1, Ordering::Relaxed)),
        "procedure_code": "1.004227",
        "description": "Cấp đổi giấy phép lái xe",
        "lines": [{"kind": "charge", "code": "LP-GPLX", "description": "Lệ phí cấp đổi GPLX", "amount": "135000"}],
        "payer": {"name": "Nguyễn Ngọc Lâm", "id_number": "001090000001", "phone": "0912345678"},
        "return_url": "https://portal.example.vn/return",
        "expires_in_seconds": 900,
        "metadata": {}
    })
}

/// The error code of a JSON error body.
pub async fn error_code(r: Response) -> (u16, String, Option<String>) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (status, v["error"]["code"].as_str().unwrap_or("").to_owned(), v["error"]["field"].as_str().map(str::to_owned))
}

/// A database as the migrations before `version` left it (an older feegate's), with one
/// agency `OLD.01` and one portal `old-portal`: for upgrade tests.
pub async fn old_database(db_url: &str, version: i64) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(db_url).await.expect("connect");
    let dir = if on_postgres() { "migrations/postgres" } else { "migrations/sqlite" };
    let mut m = sqlx::migrate::Migrator::new(std::path::Path::new(dir)).await.expect("migrations");
    m.migrations = m.migrations.iter().filter(|x| x.version < version).cloned().collect::<Vec<_>>().into();
    m.run(&pool).await.expect("old migrations");
    for sql in [
        "INSERT INTO agencies (code, name, parent_code, created_at) VALUES ('OLD.01', 'Old agency', NULL, 1)",
        "INSERT INTO portals (id, name, webhook_url, webhook_secret, agencies, created_at) \
         VALUES ('old-portal', 'Old portal', NULL, 'x', '[\"OLD.01\"]', 1)",
    ] {
        sqlx::query(sql).execute(&pool).await.expect("old rows");
    }
    pool
}

/// `param` (unix ms, e.g. `$1`) as the database stores a time: itself on SQLite, a
/// TIMESTAMPTZ on PostgreSQL. For raw SQL that writes or compares times.
pub fn ts(param: &str) -> String {
    if on_postgres() {
        format!("(TIMESTAMPTZ 'epoch' + {param} * INTERVAL '1 millisecond')")
    } else {
        param.to_owned()
    }
}

/// A time column read as unix ms on both databases. For raw SQL that reads times.
pub fn ms(column: &str) -> String {
    if on_postgres() {
        format!("CAST(EXTRACT(EPOCH FROM {column}) * 1000 AS BIGINT)")
    } else {
        column.to_owned()
    }
}

/// The demo VietQR bank's notify secret and the demo sandbox's (`config/demo.toml`).
pub const VIETQR_SECRET: &[u8] = b"vietqr-demo-notify-secret";
pub const SANDBOX_SECRET: &[u8] = b"sandbox-demo-secret";

/// Starts an attempt of payment `id` through `connector` by the API; its action (201 asserted).
pub async fn start_attempt(app: &TestApp, id: &str, connector: &str) -> Value {
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": connector}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// The receiving bank's signed credit notification, sent to the node at `url`: `amount`
/// into `bin`/`account`, the content carrying `reference` as a payer's bank writes it.
pub async fn vietqr_credit(url: &str, reference: &str, amount: i64, txn: &str, bin: &str, account: &str) -> u16 {
    let body = serde_json::to_vec(&json!({"notification_id": format!("N{txn}"), "account_number": account,
        "bank_bin": bin, "amount": amount, "content": format!("MBVCB.{txn}.{reference}.CT tu 0011004123456"),
        "bank_txn_id": txn, "credited_at": "2026-11-27T10:00:00+07:00"}))
    .unwrap();
    let r = Client::new()
        .post(format!("{url}/callbacks/vietqr"))
        .header("content-type", "application/json")
        .header("X-Bank-Signature", feegate_connector::crypto::hmac_sha256_hex(VIETQR_SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

/// A signed sandbox notification that `reference` succeeded with `amount`.
pub async fn sandbox_success(app: &TestApp, reference: &str, txn: &str, amount: i64) -> u16 {
    let body = serde_json::to_vec(&json!({"reference": reference, "transaction_id": txn, "amount": amount,
        "currency": "VND", "status": "succeeded", "paid_at": "2026-11-27T10:00:00Z"}))
    .unwrap();
    let r = app
        .client
        .post(format!("{}/callbacks/sandbox", app.url))
        .header("content-type", "application/json")
        .header("X-Sandbox-Signature", feegate_connector::crypto::hmac_sha256_hex(SANDBOX_SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

/// How many events of `kind` payment `id` has (`GET /v1/payments/{id}/events`).
pub async fn event_count(app: &TestApp, id: &str, kind: &str) -> usize {
    let v: Value =
        app.get(&format!("/v1/payments/{id}/events"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    v.as_array().unwrap().iter().filter(|e| e["type"] == kind).count()
}

/// Payment `id`'s receipts (`GET /v1/payments/{id}/receipts`, the portal's key).
pub async fn receipts_of(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/payments/{id}/receipts"), &app.portal_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap().as_array().unwrap().clone()
}

/// Payment `id`'s original receipt, once its external provider's part says `status` (≤ 30 s).
pub async fn provider_reaches(app: &TestApp, id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let r = receipts_of(app, id).await.remove(0);
        if r["provider"]["status"] == status {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the provider's receipt of {id} never became {status}: {:?}", receipts_of(app, id).await);
}
