//! Persistence on SQLite or PostgreSQL, chosen once by the URL scheme.
//!
//! Each database has its own native sqlx driver (`SqlitePool`, `PgPool`); no value goes
//! through a driver-neutral representation. One SQL text serves both (numbered `$n`
//! parameters, `ON CONFLICT`, `RETURNING`): every query is written once and compiled once
//! per driver by [`on_pool!`] and [`on_tx!`], which run it on the native connection of
//! whichever database is behind the store. Where the dialects differ the store says so
//! next to the query. Money invariants live in the SQL: unique references and
//! idempotency keys, and state transitions as guarded `UPDATE ... WHERE status IN (...)`
//! whose affected-row count decides who won.
//!
//! SQLite allows one writer at a time: every write transaction of the process runs on one
//! writer connection, and concurrent requests commit together ([`writer`], group commit).

// The two macros come before the modules that use them (macro_rules scope is textual).
/// Runs one query, written once, on the store's native pool: `$body` is compiled once per
/// driver with `$db` bound to `&SqlitePool` or `&PgPool`.
macro_rules! on_pool {
    ($store:expr, |$db:ident| $body:expr) => {{
        $crate::store::count_statement();
        match &$store.pool {
            $crate::store::Pool::Sqlite($db, _) => $body,
            $crate::store::Pool::Postgres($db) => $body,
        }
    }};
}

/// Runs one query, written once, inside a write transaction: `$body` is compiled once per
/// driver with `$db` bound to the native connection (`&mut SqliteConnection` or
/// `&mut PgConnection`).
macro_rules! on_tx {
    ($tx:expr, |$db:ident| $body:expr) => {{
        $crate::store::count_statement();
        match &mut $tx.inner {
            $crate::store::TxInner::Sqlite(t) => {
                let $db: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::store::TxInner::Postgres(t) => {
                let $db = &mut **t;
                $body
            }
        }
    }};
}

pub mod admin;
pub mod audit;
pub mod cases;
pub mod console;
pub mod create;
pub mod idempotency;
pub mod outbox;
pub mod payments;
pub mod receipt_jobs;
pub mod receipts;
pub mod recon;
pub mod refunds;
pub mod reports;
pub mod staff;
pub mod statements;
pub mod types;
mod writer;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;
pub use writer::WriteStats;
use writer::{GroupCommit, WriterTx};

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
                // The database's own words (table and constraint names, SQL) stay in the log;
                // callers get a sentence of ours.
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    tracing::warn!(error = db.message(), "foreign key refused a write");
                    return StoreError::Constraint("the record refers to something that does not exist".into());
                }
                sqlx::error::ErrorKind::CheckViolation => {
                    tracing::warn!(error = db.message(), "check constraint refused a write");
                    return StoreError::Constraint("a value is outside what the record allows".into());
                }
                _ => {}
            }
        }
        StoreError::Other(anyhow::Error::new(e))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The native pool of the database behind the store.
#[derive(Clone)]
pub(crate) enum Pool {
    /// The readers, and the one writer.
    Sqlite(SqlitePool, GroupCommit),
    Postgres(PgPool),
}

/// The database handle shared by the whole process.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    backend: Backend,
}

pub(crate) enum TxInner {
    Sqlite(WriterTx),
    Postgres(Transaction<'static, Postgres>),
}

/// A write transaction: on SQLite a savepoint on the writer, committed with its batch.
pub struct Tx {
    inner: TxInner,
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        count_statement();
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
    pub async fn rollback(self) -> Result<()> {
        count_statement();
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await?,
            TxInner::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

tokio::task_local! {
    static STATEMENTS: std::cell::Cell<u32>;
}

/// Runs `f` and counts the SQL statements the store sends for it in this task (every query
/// of [`on_pool!`]/[`on_tx!`], and BEGIN, COMMIT, ROLLBACK), so a test can hold a request
/// path to a number of statements. Work of other tasks (workers) is not counted.
pub async fn count_statements<F: std::future::Future>(f: F) -> (F::Output, u32) {
    STATEMENTS
        .scope(std::cell::Cell::new(0), async move {
            let out = f.await;
            (out, STATEMENTS.with(|c| c.get()))
        })
        .await
}

/// One statement sent, for [`count_statements`] (nothing outside of it).
pub(crate) fn count_statement() {
    let _ = STATEMENTS.try_with(|c| c.set(c.get() + 1));
}

/// Current time in unix milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Store {
    /// Connects, creating the SQLite file (and its folder) if needed.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        let max = max_connections.max(1);
        let acquire = Duration::from_secs(5);
        if url.starts_with("sqlite:") {
            if let Some(path) = sqlite_path(url) {
                ensure_parent_dir(&path)?;
            }
            if sqlite_path(url).is_none() {
                // The writer and the readers are separate connections: each would have its
                // own in-memory database.
                anyhow::bail!("database_url must name a SQLite file (sqlite:PATH), not an in-memory database");
            }
            // Money must survive a power cut: WAL with a full fsync on commit.
            let opts = SqliteConnectOptions::from_str(url)
                .context("parsing database_url")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let writer = GroupCommit::open(&opts).await.context("connecting to the database")?;
            // The pool only reads: every write goes through the writer.
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire)
                .connect_with(opts.pragma("query_only", "ON"))
                .await
                .context("connecting to the database")?;
            Ok(Store { pool: Pool::Sqlite(pool, writer), backend: Backend::Sqlite })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url).context("parsing database_url")?;
            let pool = PgPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire)
                .connect_with(opts)
                .await
                .context("connecting to the database")?;
            Ok(Store { pool: Pool::Postgres(pool), backend: Backend::Postgres })
        } else {
            anyhow::bail!("database_url must start with sqlite: or postgres:");
        }
    }

    /// Applies pending migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite(_, w) => SQLITE_MIGRATIONS.run(&mut **w.exclusive().await).await,
            Pool::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await,
        }
        .context("applying migrations")?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The clause that locks the rows a `SELECT` reads until the transaction ends: `FOR
    /// UPDATE` on PostgreSQL; nothing on SQLite, whose one writer holds the whole database.
    pub(crate) fn row_lock(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// The native pool, when the store is on SQLite (for tools such as the benchmark).
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p, _) => Some(p),
            Pool::Postgres(_) => None,
        }
    }

    /// The native pool, when the store is on PostgreSQL.
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(..) => None,
        }
    }

    /// Begins a write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        count_statement();
        let inner = match &self.pool {
            Pool::Sqlite(_, w) => TxInner::Sqlite(w.begin().await?),
            Pool::Postgres(p) => TxInner::Postgres(p.begin().await?),
        };
        Ok(Tx { inner })
    }

    /// SQLite's group commit so far: commits made, and the requests they held (`None` on
    /// PostgreSQL, where each transaction commits itself).
    pub fn write_stats(&self) -> Option<WriteStats> {
        match &self.pool {
            Pool::Sqlite(_, w) => Some(w.stats()),
            Pool::Postgres(_) => None,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        on_pool!(self, |db| sqlx::query("SELECT 1").execute(db).await.map(|r| r.rows_affected())).is_ok()
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p, w) => {
                // Commits a batch still open (its requests are waiting for it).
                drop(w.exclusive().await);
                p.close().await
            }
            Pool::Postgres(p) => p.close().await,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused write answers in our words, never the database's (which name tables,
    /// constraints and SQL).
    #[tokio::test]
    async fn constraint_violations_do_not_carry_the_databases_own_message() {
        let path = std::env::temp_dir().join(format!("feegate-constraint-{}.db", crate::domain::ids::new_id("t")));
        let store = Store::connect(&format!("sqlite:{}", path.display()), 1).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        for sql in [
            "CREATE TABLE parent (id TEXT PRIMARY KEY)",
            "CREATE TABLE child (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parent (id), \
             amount BIGINT NOT NULL CHECK (amount >= 0))",
            "INSERT INTO parent (id) VALUES ('p')",
        ] {
            on_tx!(tx, |db| sqlx::query(sql).execute(db).await.map(|_| ())).unwrap();
        }
        for sql in [
            "INSERT INTO child (id, parent_id, amount) VALUES ('c1', 'nobody', 1)",
            "INSERT INTO child (id, parent_id, amount) VALUES ('c2', 'p', -1)",
        ] {
            let e = StoreError::from(on_tx!(tx, |db| sqlx::query(sql).execute(db).await.map(|_| ())).unwrap_err());
            let StoreError::Constraint(m) = &e else { panic!("{sql}: {e:?}") };
            let lower = m.to_lowercase();
            for leak in ["foreign key", "check", "constraint", "child", "parent", "amount"] {
                assert!(!lower.contains(leak), "{sql}: the answer {m:?} carries the database's word {leak:?}");
            }
        }
        let e = StoreError::from(
            on_tx!(tx, |db| sqlx::query("INSERT INTO parent (id) VALUES ('p')").execute(db).await.map(|_| ()))
                .unwrap_err(),
        );
        assert!(matches!(e, StoreError::Conflict), "{e:?}");
        tx.rollback().await.unwrap();
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
