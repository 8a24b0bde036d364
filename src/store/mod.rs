//! Persistence on SQLite or PostgreSQL, chosen once by the URL scheme.
//!
//! One SQL text serves both databases (numbered `$n` parameters, `ON CONFLICT`,
//! `RETURNING`), run through sqlx's `Any` driver; where the dialects differ the store
//! says so next to the query. Money invariants live in the SQL: unique references and
//! idempotency keys, and state transitions as guarded `UPDATE ... WHERE status IN (...)`
//! whose affected-row count decides who won.
//!
//! SQLite allows one writer at a time; write transactions take a process-wide async
//! lock first, so concurrent requests queue instead of failing with `SQLITE_BUSY`.

pub mod admin;
pub mod audit;
pub mod cases;
pub mod idempotency;
pub mod outbox;
pub mod payments;
pub mod recon;
pub mod refunds;
pub mod reports;
pub mod statements;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store error: a conflict the caller may expect, or anything else.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("conflict")]
    Conflict,
    /// A foreign key (or check) refused the write.
    #[error("constraint: {0}")]
    Constraint(String),
    /// The database cannot be reached (pool timeout, closed pool, I/O).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)) {
            return StoreError::Unavailable(e.to_string());
        }
        if let Some(db) = e.as_database_error() {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return StoreError::Conflict,
                sqlx::error::ErrorKind::ForeignKeyViolation | sqlx::error::ErrorKind::CheckViolation => {
                    return StoreError::Constraint(db.message().to_owned())
                }
                _ => {}
            }
        }
        StoreError::Other(anyhow::Error::new(e))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The database handle shared by the whole process.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    write_lock: Option<Arc<Mutex<()>>>,
}

/// A write transaction (holding SQLite's writer lock, where there is one).
pub struct Tx {
    pub tx: Transaction<'static, Any>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// Current time in unix milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Store {
    /// Connects, creating the SQLite file (and its folder) if needed.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("database_url must start with sqlite: or postgres:");
        };
        if backend == Backend::Sqlite {
            if let Some(path) = sqlite_path(url) {
                ensure_parent_dir(&path)?;
            }
        }
        let opts = AnyConnectOptions::from_str(url).context("parsing database_url")?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Money must survive a power cut: WAL with a full fsync on commit.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .context("connecting to the database")?;
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Store { pool, backend, write_lock })
    }

    /// Applies pending migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let m = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        m.run(&self.pool).await.context("applying migrations")?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        let guard = match &self.write_lock {
            Some(l) => Some(Arc::clone(l).lock_owned().await),
            None => None,
        };
        let tx = self.pool.begin().await?;
        Ok(Tx { tx, _guard: guard })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// SQLite is single-node: the first process that serves a database file holds an
/// exclusive lock on `<file>.serve-lock` for as long as it runs (the OS releases it if the
/// process dies); a second one is refused with a clear message.
pub fn lock_sqlite_for_serving(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let Some(path) = (url.starts_with("sqlite:")).then(|| sqlite_path(url)).flatten() else { return Ok(None) };
    let lock_path = format!("{path}.serve-lock");
    // The lock is taken before the store opens (and creates) the database: on a fresh
    // clone `data/` does not exist yet.
    ensure_parent_dir(&path).context("the serve lock's folder")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {lock_path}"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another feegate is already serving {path}: SQLite is single-node. Run one server per \
             SQLite file, or use PostgreSQL (FEEGATE_DATABASE_URL=postgres://...) for several nodes"
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {lock_path}")),
    }
}

/// Creates the folder a SQLite file lives in, if it has one.
fn ensure_parent_dir(path: &str) -> anyhow::Result<()> {
    if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}
