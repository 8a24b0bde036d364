//! SQLite's one writer, with group commit.
//!
//! SQLite lets one connection write at a time, and a durable commit costs an fsync. So every
//! write transaction of the process runs on one connection: each request in a savepoint of an
//! outer transaction, which commits when nobody else is in line to write, when 64 requests
//! are in it, or when its oldest request has waited 5 ms. Each request is answered only after
//! the commit that holds its work: a failed commit fails every request in it, and a request
//! that fails alone rolls back to its savepoint without touching the others.
//!
//! The pool's connections only read (`PRAGMA query_only`), so a write cannot go round the
//! writer and wait on SQLite's file lock behind an open batch.

use super::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Executor};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

/// Most requests in one commit.
const MAX_BATCH: usize = 64;
/// Longest a released request waits for others to join its commit.
const MAX_WAIT: Duration = Duration::from_millis(5);

/// What a batch's commit told each request in it.
type Outcome = Result<(), String>;

/// The writer connection and the batch open on it.
pub(crate) struct Writer {
    conn: SqliteConnection,
    /// An outer transaction is open on `conn`.
    open: bool,
    /// A request's savepoint is open (its `Tx` is live, or was dropped without an end).
    in_savepoint: bool,
    /// Requests whose released work is in the open transaction, waiting for its commit.
    waiting: Vec<oneshot::Sender<Outcome>>,
    /// When the first of `waiting` joined.
    batch_started: Option<Instant>,
    stats: Arc<Counts>,
}

/// The process's SQLite writer, shared by every clone of the store.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    writer: Arc<Mutex<Writer>>,
    /// Tasks in line for the writer (not counting its holder).
    queued: Arc<AtomicUsize>,
    stats: Arc<Counts>,
}

/// What the writer has committed since the process started.
#[derive(Default)]
struct Counts {
    commits: AtomicU64,
    requests: AtomicU64,
}

/// How many commits the writer made, and how many requests they held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    pub commits: u64,
    pub requests: u64,
}

/// Counts a task in line for the writer until it holds it (or gives up waiting).
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl GroupCommit {
    /// Opens the writer connection.
    pub(crate) async fn open(opts: &SqliteConnectOptions) -> sqlx::Result<GroupCommit> {
        let conn = opts.connect().await?;
        let stats = Arc::new(Counts::default());
        let writer = Writer {
            conn,
            open: false,
            in_savepoint: false,
            waiting: Vec::new(),
            batch_started: None,
            stats: Arc::clone(&stats),
        };
        Ok(GroupCommit { writer: Arc::new(Mutex::new(writer)), queued: Arc::new(AtomicUsize::new(0)), stats })
    }

    /// Commits made and requests they held, so far.
    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            requests: self.stats.requests.load(Ordering::Relaxed),
        }
    }

    /// Waits for the writer, and settles what a dropped transaction left on it.
    async fn lock(&self) -> OwnedMutexGuard<Writer> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let in_line = InLine(&self.queued);
        let mut w = Arc::clone(&self.writer).lock_owned().await;
        drop(in_line);
        w.settle().await;
        w
    }

    /// The writer connection outside any batch (migrations, at start).
    pub(crate) async fn exclusive(&self) -> OwnedMutexGuard<Writer> {
        let mut w = self.lock().await;
        if w.open {
            w.flush().await;
        }
        w
    }

    /// Begins a request's transaction: a savepoint in the open batch (opening one if none is).
    ///
    /// It runs as a task of its own, as do commit and rollback: a request dropped halfway
    /// (its client hung up, a timeout) must not leave the writer between a statement and
    /// the flag that records it. A transaction begun for a caller that is gone is dropped,
    /// which rolls it back.
    pub(crate) async fn begin(&self) -> Result<WriterTx, StoreError> {
        let gc = self.clone();
        match tokio::spawn(async move { gc.begin_now().await }).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Other(anyhow::anyhow!("the writer's begin task failed: {e}"))),
        }
    }

    async fn begin_now(&self) -> Result<WriterTx, StoreError> {
        let mut w = self.lock().await;
        if !w.open {
            w.conn.execute("BEGIN IMMEDIATE").await?;
            w.open = true;
        }
        if let Err(e) = w.conn.execute("SAVEPOINT request").await {
            w.abort(&e.to_string()).await;
            return Err(e.into());
        }
        w.in_savepoint = true;
        Ok(WriterTx { guard: w, gc: self.clone() })
    }

    /// Nobody is in line for the writer.
    fn idle(&self) -> bool {
        self.queued.load(Ordering::SeqCst) == 0
    }
}

impl Writer {
    /// Rolls back the savepoint of a transaction that was dropped without commit or rollback.
    async fn settle(&mut self) {
        if !self.in_savepoint {
            return;
        }
        self.in_savepoint = false;
        if let Err(e) = self.end_savepoint(true).await {
            self.abort(&e.to_string()).await;
        }
    }

    async fn end_savepoint(&mut self, rollback: bool) -> sqlx::Result<()> {
        if rollback {
            self.conn.execute("ROLLBACK TO SAVEPOINT request").await?;
        }
        self.conn.execute("RELEASE SAVEPOINT request").await?;
        Ok(())
    }

    /// Commits the open batch and tells every request in it.
    async fn flush(&mut self) {
        if !self.open {
            return;
        }
        match self.conn.execute("COMMIT").await {
            Ok(_) => {
                self.open = false;
                self.batch_started = None;
                let n = self.waiting.len() as u64;
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats.requests.fetch_add(n, Ordering::Relaxed);
                metrics::counter!("feegate_sqlite_commits_total").increment(1);
                metrics::counter!("feegate_sqlite_committed_requests_total").increment(n);
                for w in self.waiting.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => self.abort(&e.to_string()).await,
        }
    }

    /// The batch is lost (a failed commit or savepoint, or SQLite rolled the transaction
    /// back itself): roll back whatever is left and fail every request in it.
    async fn abort(&mut self, why: &str) {
        tracing::error!(error = why, requests = self.waiting.len(), "a SQLite write batch failed and was rolled back");
        if let Err(e) = self.conn.execute("ROLLBACK").await {
            // SQLite may already have rolled back (disk full, I/O): nothing is open then.
            tracing::debug!(error = %e, "rollback after a failed batch");
        }
        self.open = false;
        self.in_savepoint = false;
        self.batch_started = None;
        for w in self.waiting.drain(..) {
            let _ = w.send(Err(why.to_owned()));
        }
    }
}

/// A request's write transaction on the writer: a savepoint in the open batch.
pub struct WriterTx {
    guard: OwnedMutexGuard<Writer>,
    gc: GroupCommit,
}

impl std::ops::Deref for WriterTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.guard.conn
    }
}

impl std::ops::DerefMut for WriterTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.guard.conn
    }
}

impl WriterTx {
    /// Releases the savepoint into the batch and returns once the batch that holds it is
    /// committed (or has failed).
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        self.end_in_task(false).await
    }

    /// Rolls back to the savepoint; the batch goes on without this request. If the batch
    /// holds others' uncommitted work, which this request could read, it returns only once
    /// that work is committed (an answer built on it, such as an idempotent replay, must not
    /// go out before it is durable), and fails if that commit fails.
    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        self.end_in_task(true).await
    }

    /// Ends the savepoint in a task of its own, so that it finishes (and the batch commits)
    /// even if the caller is dropped meanwhile.
    async fn end_in_task(self, rollback: bool) -> Result<(), StoreError> {
        match tokio::spawn(self.end(rollback)).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Other(anyhow::anyhow!("the writer's commit task failed: {e}"))),
        }
    }

    async fn end(mut self, rollback: bool) -> Result<(), StoreError> {
        let w = &mut *self.guard;
        w.in_savepoint = false;
        if let Err(e) = w.end_savepoint(rollback).await {
            w.abort(&e.to_string()).await;
            return Err(e.into());
        }
        if rollback && w.waiting.is_empty() {
            if self.gc.idle() {
                // Nobody else will release the (empty) transaction.
                w.flush().await;
            }
            return Ok(());
        }
        let (tx, mut rx) = oneshot::channel();
        w.waiting.push(tx);
        let started = *w.batch_started.get_or_insert_with(Instant::now);
        if self.gc.idle() || w.waiting.len() >= MAX_BATCH || started.elapsed() >= MAX_WAIT {
            w.flush().await;
        }
        let gc = self.gc.clone();
        drop(self);
        let outcome = match tokio::time::timeout(MAX_WAIT * 2, &mut rx).await {
            Ok(outcome) => outcome,
            Err(_) => {
                // Whoever was in line gave up waiting (its request was cancelled): commit
                // the batch from here.
                gc.lock().await.flush().await;
                rx.await
            }
        };
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(StoreError::Unavailable(format!("the write batch failed: {why}"))),
            Err(_) => Err(StoreError::Unavailable("the write batch was dropped".into())),
        }
    }
}

impl Drop for WriterTx {
    fn drop(&mut self) {
        // Dropped without commit or rollback (an error returned early, or the request was
        // cancelled): the next holder rolls the savepoint back; a task makes sure there is
        // one even if no request comes, so the batch before it still commits.
        if self.guard.in_savepoint || (self.guard.open && self.gc.idle()) {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let gc = self.gc.clone();
                rt.spawn(async move {
                    let mut w = gc.lock().await;
                    if gc.idle() {
                        w.flush().await;
                    }
                });
            }
        }
    }
}

impl std::ops::Deref for Writer {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePool;
    use std::str::FromStr;

    /// A scratch database with one table, its writer, and a reader pool.
    async fn scratch(name: &str) -> (GroupCommit, SqlitePool, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("feegate-writer-{name}-{}.db", crate::domain::ids::new_id("t")));
        let opts = SqliteConnectOptions::from_str(&format!("sqlite:{}", path.display()))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .foreign_keys(true);
        let gc = GroupCommit::open(&opts).await.unwrap();
        {
            let mut w = gc.exclusive().await;
            w.execute("CREATE TABLE parent (id TEXT PRIMARY KEY)").await.unwrap();
            w.execute(
                "CREATE TABLE t (id TEXT PRIMARY KEY, parent TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
            )
            .await
            .unwrap();
        }
        let readers = SqlitePool::connect_with(opts.pragma("query_only", "ON")).await.unwrap();
        (gc, readers, path)
    }

    async fn insert(tx: &mut WriterTx, id: &str) {
        sqlx::query("INSERT INTO t (id) VALUES ($1)").bind(id).execute(&mut **tx).await.unwrap();
    }

    async fn ids(readers: &SqlitePool) -> Vec<String> {
        sqlx::query_scalar("SELECT id FROM t ORDER BY id").fetch_all(readers).await.unwrap()
    }

    /// Waits (bounded) until `n` tasks are in line for the writer.
    async fn in_line(gc: &GroupCommit, n: usize) {
        for _ in 0..2000 {
            if gc.queued.load(Ordering::SeqCst) == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{n} tasks never got in line (now {})", gc.queued.load(Ordering::SeqCst));
    }

    /// Spawns a request that inserts `id` and commits, returning what its commit said.
    fn request(gc: &GroupCommit, id: &str) -> tokio::task::JoinHandle<Result<(), String>> {
        let (gc, id) = (gc.clone(), id.to_owned());
        tokio::spawn(async move {
            let mut tx = gc.begin().await.map_err(|e| e.to_string())?;
            insert(&mut tx, &id).await;
            tx.commit().await.map_err(|e| e.to_string())
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_in_line_together_share_one_commit_and_each_is_durable_when_answered() {
        let (gc, readers, _path) = scratch("batch").await;
        let mut first = gc.begin().await.unwrap();
        insert(&mut first, "r00").await;
        let rest: Vec<_> = (1..40).map(|i| request(&gc, &format!("r{i:02}"))).collect();
        in_line(&gc, 39).await;
        first.commit().await.unwrap();
        assert!(ids(&readers).await.contains(&"r00".to_owned()), "answered before its commit was durable");
        for r in rest {
            r.await.unwrap().unwrap();
        }
        assert_eq!(ids(&readers).await.len(), 40);
        let s = gc.stats();
        assert_eq!(s.requests, 40);
        // One commit, unless a batch waited past MAX_WAIT on a slow machine.
        assert!(s.commits < 20, "40 requests in line took {} commits", s.commits);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_that_fails_in_a_batch_rolls_back_alone() {
        let (gc, readers, _path) = scratch("alone").await;
        let holder = gc.begin().await.unwrap();
        let a = request(&gc, "a");
        in_line(&gc, 1).await;
        let dropped = {
            let gc = gc.clone();
            tokio::spawn(async move {
                let mut tx = gc.begin().await.unwrap();
                insert(&mut tx, "dropped").await;
                // An early return: the transaction is dropped without commit or rollback.
                drop(tx);
            })
        };
        in_line(&gc, 2).await;
        let rolled = {
            let gc = gc.clone();
            tokio::spawn(async move {
                let mut tx = gc.begin().await.unwrap();
                insert(&mut tx, "rolled").await;
                tx.rollback().await.unwrap();
            })
        };
        in_line(&gc, 3).await;
        let c = request(&gc, "c");
        in_line(&gc, 4).await;
        holder.commit().await.unwrap();
        a.await.unwrap().unwrap();
        dropped.await.unwrap();
        rolled.await.unwrap();
        c.await.unwrap().unwrap();
        assert_eq!(ids(&readers).await, ["a", "c"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_request_in_its_batch_and_the_writer_goes_on() {
        let (gc, readers, _path) = scratch("fail").await;
        let mut bad = gc.begin().await.unwrap();
        // A deferred foreign key is checked only at COMMIT: the batch's commit fails.
        sqlx::query("INSERT INTO t (id, parent) VALUES ('bad', 'nobody')").execute(&mut *bad).await.unwrap();
        let good = request(&gc, "good");
        in_line(&gc, 1).await;
        let bad_answer = bad.commit().await;
        let good_answer = good.await.unwrap();
        assert!(bad_answer.is_err() && good_answer.is_err(), "{bad_answer:?} {good_answer:?}");
        assert!(ids(&readers).await.is_empty(), "a failed batch left rows");
        request(&gc, "after").await.unwrap().unwrap();
        assert_eq!(ids(&readers).await, ["after"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rollback_after_reading_uncommitted_work_fails_when_that_work_is_not_committed() {
        let (gc, readers, _path) = scratch("replay").await;
        let mut claim = gc.begin().await.unwrap();
        // The first request's row fails the batch at COMMIT (a deferred foreign key).
        sqlx::query("INSERT INTO t (id, parent) VALUES ('key', 'nobody')").execute(&mut *claim).await.unwrap();
        let replay = {
            let gc = gc.clone();
            tokio::spawn(async move {
                let mut tx = gc.begin().await.unwrap();
                // The second sees the first's claim, and would answer with it.
                let seen: Option<String> =
                    sqlx::query_scalar("SELECT id FROM t WHERE id = 'key'").fetch_optional(&mut *tx).await.unwrap();
                (seen, tx.rollback().await.is_err())
            })
        };
        in_line(&gc, 1).await;
        assert!(claim.commit().await.is_err());
        let (seen, refused) = replay.await.unwrap();
        assert_eq!(seen.as_deref(), Some("key"));
        assert!(refused, "the rollback answered Ok although what it read was never committed");
        assert!(ids(&readers).await.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_that_gives_up_in_line_does_not_strand_the_batch() {
        let (gc, readers, _path) = scratch("cancel").await;
        let mut holder = gc.begin().await.unwrap();
        insert(&mut holder, "held").await;
        let quitter = {
            let gc = gc.clone();
            tokio::spawn(async move { tokio::time::timeout(Duration::from_millis(300), gc.begin()).await.is_err() })
        };
        in_line(&gc, 1).await;
        assert!(quitter.await.unwrap(), "the quitter got the writer while it was held");
        // Its begin goes on in its own task and is dropped once it gets the writer (rolled
        // back); the holder's commit does not wait on it for ever.
        tokio::time::timeout(Duration::from_secs(5), holder.commit()).await.expect("commit answered").unwrap();
        assert_eq!(ids(&readers).await, ["held"]);
        for _ in 0..500 {
            if gc.queued.load(Ordering::SeqCst) == 0 && !gc.writer.lock().await.open {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let w = gc.writer.lock().await;
        assert!(!w.open && !w.in_savepoint, "the quitter's transaction was left open");
    }

    /// Callers that hang up in the middle of a begin or a commit (a client gone, a timeout)
    /// leave the writer whole: a commit whose caller is gone still lands, and the writer
    /// takes the next request.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_that_hang_up_mid_begin_or_mid_commit_leave_the_writer_whole() {
        let (gc, readers, _path) = scratch("hangup").await;
        for i in 0..200 {
            let _ = tokio::time::timeout(Duration::from_micros(i % 7), gc.begin()).await;
            let mut tx = gc.begin().await.unwrap();
            insert(&mut tx, &format!("c{i:03}")).await;
            let _ = tokio::time::timeout(Duration::from_micros(i % 5), tx.commit()).await;
        }
        // Bounded: every abandoned commit lands within a few batches.
        for _ in 0..500 {
            if ids(&readers).await.len() == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(ids(&readers).await.len(), 200, "a commit whose caller hung up was lost");
        request(&gc, "after").await.unwrap().unwrap();
        assert_eq!(ids(&readers).await.len(), 201);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_whose_last_request_is_dropped_still_commits() {
        let (gc, readers, _path) = scratch("last").await;
        let holder = gc.begin().await.unwrap();
        let a = request(&gc, "a");
        in_line(&gc, 1).await;
        let last = {
            let gc = gc.clone();
            tokio::spawn(async move {
                let mut tx = gc.begin().await.unwrap();
                insert(&mut tx, "last").await;
                drop(tx);
            })
        };
        in_line(&gc, 2).await;
        holder.rollback().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), a).await.expect("a was answered").unwrap().unwrap();
        last.await.unwrap();
        assert_eq!(ids(&readers).await, ["a"]);
    }
}
