//! The ceiling: a bare axum server whose one POST does one durable single-row insert
//! with feegate's database settings, so the benchmark can say how close a feegate
//! create comes to what the database and the HTTP stack allow at all.
//!
//! Mirrors feegate's store settings on purpose (copied, not imported, so the figure does
//! not move when the store does): a native pool (`SqlitePool` or `PgPool`, by the URL's
//! scheme) of the same size and acquire timeout; on SQLite WAL, `synchronous=FULL`,
//! `busy_timeout`, `foreign_keys`, and a process-wide tokio mutex taken before each write
//! transaction begins and held until it ends. The insert runs in an explicit transaction
//! as every feegate write does.

use anyhow::{bail, Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::Rng;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// The path the ceiling answers creates on.
pub const PATH: &str = "/rows";

const CREATE: &str = "CREATE TABLE IF NOT EXISTS bench_rows (id TEXT PRIMARY KEY, body TEXT NOT NULL)";
const INSERT: &str = "INSERT INTO bench_rows (id, body) VALUES ($1, $2)";

/// The ceiling's database, native to its kind.
#[derive(Clone)]
enum Pool {
    /// With the write lock every SQLite write transaction takes first.
    Sqlite(SqlitePool, Arc<Mutex<()>>),
    Pg(PgPool),
}

#[derive(Clone)]
struct Ceiling {
    pool: Pool,
    rows: u32,
}

/// Serves the ceiling on `listen` (loopback only) until killed. `rows` inserts per
/// transaction: 1 is the ceiling; more is a diagnostic (what each statement costs).
pub async fn serve(db_url: &str, listen: &str, pool_size: u32, rows: u32) -> Result<()> {
    let addr: SocketAddr = listen.parse().with_context(|| format!("--listen {listen} is not an address"))?;
    if !addr.ip().is_loopback() {
        bail!("the ceiling server binds loopback only, not {addr}");
    }
    let size = pool_size.max(1);
    let acquire = Duration::from_secs(5);
    let pool = if db_url.starts_with("sqlite:") {
        let opts = SqliteConnectOptions::from_str(db_url)
            .context("parsing --db-url")?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(size)
            .acquire_timeout(acquire)
            .connect_with(opts)
            .await
            .context("connecting to the database")?;
        sqlx::query(CREATE).execute(&pool).await.context("creating bench_rows")?;
        Pool::Sqlite(pool, Arc::new(Mutex::new(())))
    } else {
        let opts = PgConnectOptions::from_str(db_url).context("parsing --db-url")?;
        let pool = PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(acquire)
            .connect_with(opts)
            .await
            .context("connecting to the database")?;
        sqlx::query(CREATE).execute(&pool).await.context("creating bench_rows")?;
        Pool::Pg(pool)
    };
    let state = Ceiling { pool, rows: rows.max(1) };
    let app =
        Router::new().route(PATH, post(insert)).route("/readyz", get(|| async { StatusCode::OK })).with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    axum::serve(listener, app).await.context("serving")?;
    Ok(())
}

async fn insert(State(c): State<Ceiling>, body: String) -> Response {
    match c.insert(&body).await {
        Ok(id) => (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], format!(r#"{{"id":"{id}"}}"#))
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    }
}

impl Ceiling {
    async fn insert(&self, body: &str) -> Result<String> {
        let id = new_id();
        let row_ids: Vec<String> =
            (0..self.rows).map(|i| if i == 0 { id.clone() } else { format!("{id}_{i}") }).collect();
        match &self.pool {
            Pool::Sqlite(pool, lock) => {
                let _guard = Arc::clone(lock).lock_owned().await;
                let mut tx = pool.begin().await?;
                for row_id in &row_ids {
                    sqlx::query(INSERT).bind(row_id).bind(body).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Pool::Pg(pool) => {
                let mut tx = pool.begin().await?;
                for row_id in &row_ids {
                    sqlx::query(INSERT).bind(row_id).bind(body).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(id)
    }
}

/// A random key shaped like feegate's ids (`row_` + 20 base62), so the index sees the
/// same random inserts.
fn new_id() -> String {
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let tail: String = (0..20).map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char).collect();
    format!("row_{tail}")
}
