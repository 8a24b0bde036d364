//! The store suite's harness: a fresh database of either kind per test, a race runner
//! that opens its transactions at once, the rows every test starts from, and the one
//! place that reaches past the store's API (to tamper with rows).

use feegate::domain::agency::{Account, Agency, LineKind};
use feegate::domain::ids::{new_id, new_reference};
use feegate::store::admin::PortalRow;
use feegate::store::payments::{AttemptRow, LineRow, PaymentRow};
use feegate::store::{now_ms, Store, Tx};
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

/// Which database a test body runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The server tried when `FEEGATE_TEST_DATABASE_URL` names none.
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// One test's database and the store on it.
#[derive(Clone)]
pub struct Ctx {
    pub db: Db,
    pub url: String,
    pub store: Store,
    /// PostgreSQL: the server URL to drop the database from, and its name.
    drop: Option<(String, String)>,
}

/// The store's pool size in these tests: a race of 8 holds 8 transactions at once.
const CONNECTIONS: u32 = 12;

static N: AtomicU64 = AtomicU64::new(0);

/// The PostgreSQL server to use: the one `FEEGATE_TEST_DATABASE_URL` names (it must answer:
/// a test run that asked for PostgreSQL fails without it), else the default one if it
/// answers, else none.
async fn postgres_server() -> Option<String> {
    use sqlx::Connection;
    if let Ok(url) = std::env::var("FEEGATE_TEST_DATABASE_URL") {
        if url.starts_with("postgres") {
            return Some(url);
        }
    }
    let probe = tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(DEFAULT_POSTGRES)).await;
    match probe {
        Ok(Ok(c)) => {
            let _ = c.close().await;
            Some(DEFAULT_POSTGRES.to_owned())
        }
        _ => None,
    }
}

impl Ctx {
    /// A fresh, migrated database; `None` for PostgreSQL when no server was asked for and
    /// the default one does not answer.
    async fn open(db: Db) -> Option<Ctx> {
        let tag = format!("{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), now_ms() % 1_000_000);
        let (url, drop) = match db {
            Db::Sqlite => {
                let dir = std::env::temp_dir().join(format!("feegate-store-{tag}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                (format!("sqlite://{}/feegate.db?mode=rwc", dir.display()), None)
            }
            Db::Postgres => {
                use sqlx::Connection;
                let server = postgres_server().await?;
                let name = format!("feegate_store_{tag}");
                let mut c =
                    sqlx::PgConnection::connect(&server).await.expect("the PostgreSQL server must be reachable");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("create test database");
                let _ = c.close().await;
                let (prefix, _) = server.rsplit_once('/').expect("a postgres URL names a database");
                (format!("{prefix}/{name}"), Some((server, name)))
            }
        };
        let store = Store::connect(&url, CONNECTIONS).await.expect("connect");
        store.migrate().await.expect("migrate");
        Some(Ctx { db, url, store, drop })
    }

    /// Closes the store and removes the database.
    async fn close(self) {
        self.store.close().await;
        match (self.db, self.drop) {
            (Db::Postgres, Some((server, name))) => {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&server).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await;
                    let _ = c.close().await;
                }
            }
            _ => {
                let path = self.url.trim_start_matches("sqlite://").split('?').next().unwrap_or("").to_owned();
                if let Some(dir) = std::path::Path::new(&path).parent() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        }
    }

    /// Runs one statement on a connection of the test's own, beside the store: for tests
    /// that must alter rows behind its back. Returns the rows affected.
    pub async fn tamper(&self, sql: &str) -> u64 {
        use sqlx::Connection;
        match self.db {
            Db::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.expect("tamper connect");
                let n = sqlx::query(sql).execute(&mut c).await.expect("tamper").rows_affected();
                let _ = c.close().await;
                n
            }
            Db::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.expect("tamper connect");
                let n = sqlx::query(sql).execute(&mut c).await.expect("tamper").rows_affected();
                let _ = c.close().await;
                n
            }
        }
    }
}

/// Runs `body` on a fresh database of kind `db`, then drops the database (also when the
/// body panics).
pub async fn run<F, Fut>(db: Db, body: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(ctx) = Ctx::open(db).await else {
        eprintln!("PostgreSQL is not reachable at {DEFAULT_POSTGRES} and FEEGATE_TEST_DATABASE_URL is unset: skipped");
        return;
    };
    let started = std::time::Instant::now();
    let body = tokio::time::timeout(Duration::from_secs(60), AssertUnwindSafe(body(ctx.clone())).catch_unwind());
    let outcome = body.await.unwrap_or_else(|_| Err(Box::new("the test body took over 60 s")));
    eprintln!("{db:?}: body took {:?}", started.elapsed());
    ctx.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `n` copies of `work` at once, each in its own transaction, and commits each
/// transaction `work` hands back. On PostgreSQL all `n` transactions are open before any
/// of them runs its statements, and each stays open a moment after its work, so the
/// guarded updates meet uncommitted rivals; on SQLite the tasks queue together on the
/// store's writer lock. The results come in task order.
pub async fn race<T, F, Fut>(ctx: &Ctx, n: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize, Store, Tx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (Tx, T)> + Send + 'static,
{
    let work = Arc::new(work);
    let start = Arc::new(Barrier::new(n));
    let all_open = Arc::new(Barrier::new(n));
    let open = Arc::new(AtomicUsize::new(0));
    let most_open = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (work, start, all_open) = (Arc::clone(&work), Arc::clone(&start), Arc::clone(&all_open));
        let (open, most_open, store, db) = (Arc::clone(&open), Arc::clone(&most_open), ctx.store.clone(), ctx.db);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let tx = store.begin().await.expect("begin");
            most_open.fetch_max(open.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            if db == Db::Postgres {
                all_open.wait().await;
            }
            let (tx, out) = work(i, store, tx).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            open.fetch_sub(1, Ordering::SeqCst);
            tx.commit().await.expect("commit");
            out
        }));
    }
    let joined = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(tasks))
        .await
        .expect("the race finished (a task stuck at its barrier means it failed before it)");
    let out: Vec<T> = joined.into_iter().map(|r| r.expect("race task")).collect();
    let most = most_open.load(Ordering::SeqCst);
    match ctx.db {
        Db::Postgres => assert_eq!(most, n, "all {n} transactions were open at once"),
        Db::Sqlite => assert_eq!(most, 1, "SQLite's writer lock let one write transaction in at a time"),
    }
    out
}

/// The agency, account and portals a test's payments belong to.
pub const AGENCY: &str = "H12.20";
pub const OTHER_AGENCY: &str = "H12.21";
pub const PORTAL: &str = "portal-a";
pub const OTHER_PORTAL: &str = "portal-b";

/// Seeds two agencies with an account each and two portals; gives the accounts' ids.
pub async fn seed(s: &Store) -> (String, String) {
    let mut tx = s.begin().await.unwrap();
    let mut ids = Vec::new();
    for (code, number) in [(AGENCY, "1001"), (OTHER_AGENCY, "1002")] {
        let agency = Agency { code: code.into(), name: format!("Agency {code}"), parent_code: None };
        s.insert_agency(&mut tx, &agency).await.unwrap();
        let account = Account {
            id: new_id("acc"),
            agency_code: code.into(),
            bank_bin: "970415".into(),
            bank_name: "VietinBank".into(),
            account_number: number.into(),
            account_name: format!("Treasury of {code}"),
            kind: "treasury".into(),
            receives: vec![LineKind::Fee, LineKind::Charge],
            budget_chapter: None,
            budget_item: None,
            active: true,
        };
        ids.push(s.upsert_account(&mut tx, &account).await.unwrap());
    }
    for id in [PORTAL, OTHER_PORTAL] {
        let portal = PortalRow {
            id: id.into(),
            name: format!("Portal {id}"),
            webhook_url: None,
            webhook_secret: "whsec_test".into(),
            agencies: "[\"*\"]".into(),
            created_at: now_ms(),
        };
        assert!(s.insert_portal(&mut tx, &portal, false).await.unwrap());
    }
    tx.commit().await.unwrap();
    (ids[0].clone(), ids[1].clone())
}

/// A payment row of `amount` in `status` at AGENCY/PORTAL, created at `created_at`.
pub fn payment_row(amount: i64, status: &str, created_at: i64) -> PaymentRow {
    PaymentRow {
        id: new_id("pay"),
        portal_id: PORTAL.into(),
        agency_code: AGENCY.into(),
        dossier_code: format!("H12.20-261127-{}", N.fetch_add(1, Ordering::Relaxed)),
        procedure_code: "1.004227".into(),
        description: "Cấp đổi giấy phép lái xe".into(),
        currency: "VND".into(),
        amount,
        refunded_amount: 0,
        status: feegate::domain::payment::PaymentStatus::parse(status).expect("a payment status"),
        payer: r#"{"name":"Nguyễn Ngọc Lâm"}"#.into(),
        return_url: "https://portal.example.vn/return".into(),
        metadata: "{}".into(),
        review_reason: None,
        review_opened_at: None,
        created_at,
        updated_at: created_at,
        expires_at: created_at + 900_000,
        paid_at: None,
    }
}

/// One line of the whole amount to `account`.
pub fn one_line(p: &PaymentRow, account: &str) -> Vec<LineRow> {
    vec![LineRow {
        payment_id: p.id.clone(),
        idx: 0,
        kind: "charge".into(),
        code: "LP-GPLX".into(),
        description: "Lệ phí cấp đổi GPLX".into(),
        amount: p.amount,
        account_id: account.into(),
    }]
}

/// Inserts a payment with one line and commits.
pub async fn insert_payment(s: &Store, p: &PaymentRow, account: &str) {
    let mut tx = s.begin().await.unwrap();
    s.insert_payment(&mut tx, p, &one_line(p, account)).await.unwrap();
    tx.commit().await.unwrap();
}

/// A new payment of `amount` in `status`; gives its id.
pub async fn new_payment(s: &Store, account: &str, amount: i64, status: &str) -> String {
    let p = payment_row(amount, status, now_ms());
    insert_payment(s, &p, account).await;
    p.id
}

/// An attempt row of a payment through `connector`, in `status`.
pub fn attempt_row(payment_id: &str, connector: &str, status: &str, amount: i64) -> AttemptRow {
    let now = now_ms();
    AttemptRow {
        id: new_id("att"),
        payment_id: payment_id.into(),
        connector_id: connector.into(),
        reference: new_reference(),
        status: feegate::domain::payment::AttemptStatus::parse(status).expect("an attempt status"),
        amount,
        currency: "VND".into(),
        gateway_ref: None,
        gateway_txn: None,
        failure_code: None,
        action: "{}".into(),
        created_at: now,
        updated_at: now,
        leg_group: None,
        leg: None,
        leg_account_id: None,
    }
}

/// Inserts attempts and commits.
pub async fn insert_attempts(s: &Store, attempts: &[&AttemptRow]) {
    let mut tx = s.begin().await.unwrap();
    for a in attempts {
        s.insert_attempt(&mut tx, a).await.unwrap();
    }
    tx.commit().await.unwrap();
}
