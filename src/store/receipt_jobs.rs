//! Jobs for an external e-receipt provider (migration 0016): written inside the transaction
//! that issues (or, for a cancellation, refunds) feegate's receipt, claimed by lease by the
//! worker of any node (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer), and
//! finished, put off or failed by the node that holds the lease. A cancellation whose
//! receipt the provider refused to issue ends without the provider (`skip_reason`,
//! migration 0018), and comes back when finance re-queues that issue.

use super::types::{Millis, OptMillis};
use super::{Backend, Result, Store, Tx};
use sqlx::FromRow;

/// A job as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ReceiptJobRow {
    pub receipt_id: String,
    /// `issue` or `cancel`.
    pub action: String,
    pub provider: String,
    /// `queued`, `done` or `failed`.
    pub status: String,
    pub reason: Option<String>,
    pub attempts: i32,
    #[sqlx(try_from = "Millis")]
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub provider_series: Option<String>,
    pub provider_number: Option<String>,
    pub provider_code: Option<String>,
    pub provider_url: Option<String>,
    #[sqlx(try_from = "OptMillis")]
    pub done_at: Option<i64>,
    /// Why a `done` job was done without the provider (a cancellation of a receipt the
    /// provider never issued); `None` when the provider did it.
    pub skip_reason: Option<String>,
}

const COLS: &str = "receipt_id, action, provider, status, reason, attempts, next_attempt_at, last_error, \
    provider_series, provider_number, provider_code, provider_url, done_at, skip_reason";

/// The note of a cancellation done without the provider, which never issued the receipt.
pub const NEVER_ISSUED: &str = "never issued at the provider (it refused the issue): nothing to cancel there";

/// A job the provider refused, as [`Store::fail_receipt_job`] left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    /// The tries made, this one included.
    pub attempts: i32,
    /// A refused issue: the receipt's queued cancellation was done without the provider.
    pub cancel_skipped: bool,
}

/// A failed job queued again, as [`Store::requeue_receipt_job`] left it.
#[derive(Debug, Clone)]
pub struct Requeued {
    /// The job as queued again, with its tries and the provider's last words.
    pub job: ReceiptJobRow,
    /// A re-queued issue: the cancellation done without the provider is queued again too (it
    /// runs once the issue is done).
    pub cancel_requeued: bool,
}

/// What the provider answered for a job done.
pub struct ProviderDone<'a> {
    pub series: &'a str,
    pub number: &'a str,
    pub code: &'a str,
    pub url: &'a str,
}

impl Store {
    /// A receipt by its id.
    pub async fn receipt_by_id(&self, id: &str) -> Result<Option<super::receipts::ReceiptRow>> {
        let sql = format!("SELECT {} FROM receipts WHERE id = $1", super::receipts::COLS);
        Ok(on_pool!(self, |db| sqlx::query_as(&sql).bind(id).fetch_optional(db).await)?)
    }

    /// Queues `action` of receipt `receipt_id` at `provider`, due now, inside `tx`. A second
    /// job of the same action for the same receipt is not written (the key holds).
    pub async fn queue_receipt_job(
        &self,
        tx: &mut Tx,
        receipt_id: &str,
        action: &str,
        provider: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<()> {
        on_tx!(tx, |db| {
            sqlx::query(
            "INSERT INTO receipt_jobs (receipt_id, action, provider, status, reason, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, 'queued', $4, 0, $5, $6) ON CONFLICT (receipt_id, action) DO NOTHING"
        )
        .bind(receipt_id)
        .bind(action)
        .bind(provider)
        .bind(reason)
        .bind(Millis(now))
        .bind(Millis(now))
        .execute(db)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// Queues the cancellation of receipt `receipt_id` at the provider its issue went to, inside
    /// `tx` (a full refund's); nothing without an issue job (its agency has no provider). The
    /// issue job's row is locked first (PostgreSQL; SQLite has one writer), so that an issue
    /// failing or re-queued at the same moment sees this cancellation or is seen by it: when
    /// the provider refused the issue, the cancellation is done at once without it
    /// ([`NEVER_ISSUED`]). The cancellation's status, if one was queued or was there.
    pub async fn queue_receipt_cancel(
        &self,
        tx: &mut Tx,
        receipt_id: &str,
        reason: &str,
        now: i64,
    ) -> Result<Option<String>> {
        let lock = self.row_lock();
        let sql = format!("SELECT provider, status FROM receipt_jobs WHERE receipt_id = $1 AND action = 'issue'{lock}");
        let issue: Option<(String, String)> =
            on_tx!(tx, |db| sqlx::query_as(&sql).bind(receipt_id).fetch_optional(db).await)?;
        let Some((provider, issue_status)) = issue else { return Ok(None) };
        let never_issued = issue_status == "failed";
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO receipt_jobs (receipt_id, action, provider, status, reason, attempts, next_attempt_at, \
             created_at, done_at, skip_reason) VALUES ($1, 'cancel', $2, $3, $4, 0, $5, $5, $6, $7) \
             ON CONFLICT (receipt_id, action) DO NOTHING"
        )
        .bind(receipt_id)
        .bind(&provider)
        .bind(if never_issued { "done" } else { "queued" })
        .bind(reason)
        .bind(Millis(now))
        .bind(never_issued.then_some(Millis(now)))
        .bind(never_issued.then_some(NEVER_ISSUED))
        .execute(db)
        .await
        .map(|_| ()))?;
        Ok(self.receipt_job_in(tx, receipt_id, "cancel").await?.map(|j| j.status))
    }

    /// The provider job of a receipt for `action`, if any (read inside `tx`).
    pub async fn receipt_job_in(&self, tx: &mut Tx, receipt_id: &str, action: &str) -> Result<Option<ReceiptJobRow>> {
        let sql = format!("SELECT {COLS} FROM receipt_jobs WHERE receipt_id = $1 AND action = $2");
        Ok(on_tx!(tx, |db| sqlx::query_as(&sql).bind(receipt_id).bind(action).fetch_optional(db).await)?)
    }

    /// A receipt's provider jobs.
    pub async fn receipt_jobs_of(&self, receipt_id: &str) -> Result<Vec<ReceiptJobRow>> {
        let sql = format!("SELECT {COLS} FROM receipt_jobs WHERE receipt_id = $1 ORDER BY action DESC");
        Ok(on_pool!(self, |db| sqlx::query_as(&sql).bind(receipt_id).fetch_all(db).await)?)
    }

    /// Leases up to `limit` due jobs to `owner` until `now + lease_ms`. A cancellation waits
    /// until its receipt's issue is done (a provider cannot cancel what it has not issued).
    pub async fn claim_receipt_jobs(
        &self,
        now: i64,
        lease_ms: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<ReceiptJobRow>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE receipt_jobs SET lease_until = $1, lease_owner = $2 WHERE (receipt_id, action) IN (\
             SELECT j.receipt_id, j.action FROM receipt_jobs j WHERE j.status = 'queued' AND j.next_attempt_at <= $3 \
             AND (j.lease_until IS NULL OR j.lease_until < $3) \
             AND NOT (j.action = 'cancel' AND EXISTS (SELECT 1 FROM receipt_jobs i WHERE i.receipt_id = j.receipt_id \
             AND i.action = 'issue' AND i.status <> 'done')) \
             ORDER BY j.next_attempt_at LIMIT $4{lock}) RETURNING {COLS}"
        );
        let mut tx = self.begin().await?;
        let rows = on_tx!(tx, |db| sqlx::query_as(&sql)
            .bind(Millis(now + lease_ms))
            .bind(owner)
            .bind(Millis(now))
            .bind(limit)
            .fetch_all(db)
            .await)?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The provider did it: the job is done with the provider's numbers (only by the
    /// lease's owner; `false`: the lease was lost and another node has it).
    pub async fn finish_receipt_job(
        &self,
        receipt_id: &str,
        action: &str,
        owner: &str,
        done: &ProviderDone<'_>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = on_tx!(tx, |db| sqlx::query(
            "UPDATE receipt_jobs SET status = 'done', attempts = attempts + 1, done_at = $1, last_error = NULL, \
             provider_series = $2, provider_number = $3, provider_code = $4, provider_url = $5, lease_owner = NULL, \
             lease_until = NULL WHERE receipt_id = $6 AND action = $7 AND lease_owner = $8 AND status = 'queued'"
        )
        .bind(Millis(now))
        .bind(done.series)
        .bind(done.number)
        .bind(done.code)
        .bind(done.url)
        .bind(receipt_id)
        .bind(action)
        .bind(owner)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The provider could not take it (or is not configured): try again at `next` (only by
    /// the lease's owner).
    pub async fn put_off_receipt_job(
        &self,
        receipt_id: &str,
        action: &str,
        owner: &str,
        error: &str,
        next: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = on_tx!(tx, |db| sqlx::query(
            "UPDATE receipt_jobs SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
             lease_owner = NULL, lease_until = NULL \
             WHERE receipt_id = $3 AND action = $4 AND lease_owner = $5 AND status = 'queued'"
        )
        .bind(error)
        .bind(Millis(next))
        .bind(receipt_id)
        .bind(action)
        .bind(owner)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The provider refused: the job is `failed` with its words, inside `tx` (which opens the
    /// case for finance), only by the lease's owner (`None`: the lease was lost). A refused
    /// issue also ends the receipt's queued cancellation without the provider, which has
    /// nothing to cancel ([`NEVER_ISSUED`]); the issue's row is locked by this update first.
    pub async fn fail_receipt_job(
        &self,
        tx: &mut Tx,
        receipt_id: &str,
        action: &str,
        owner: &str,
        error: &str,
        now: i64,
    ) -> Result<Option<Failed>> {
        let attempts: Option<(i32,)> = on_tx!(tx, |db| {
            sqlx::query_as(
            "UPDATE receipt_jobs SET status = 'failed', attempts = attempts + 1, last_error = $1, lease_owner = NULL, \
             lease_until = NULL WHERE receipt_id = $2 AND action = $3 AND lease_owner = $4 AND status = 'queued' \
             RETURNING attempts"
        )
        .bind(error)
        .bind(receipt_id)
        .bind(action)
        .bind(owner)
        .fetch_optional(db)
        .await
        })?;
        let Some((attempts,)) = attempts else { return Ok(None) };
        let cancel_skipped = action == "issue" && self.skip_cancel(tx, receipt_id, now).await?;
        Ok(Some(Failed { attempts, cancel_skipped }))
    }

    /// Ends a receipt's queued cancellation without the provider (its issue was refused).
    async fn skip_cancel(&self, tx: &mut Tx, receipt_id: &str, now: i64) -> Result<bool> {
        let n = on_tx!(tx, |db| sqlx::query(
            "UPDATE receipt_jobs SET status = 'done', done_at = $1, skip_reason = $2, lease_owner = NULL, \
             lease_until = NULL WHERE receipt_id = $3 AND action = 'cancel' AND status = 'queued'"
        )
        .bind(Millis(now))
        .bind(NEVER_ISSUED)
        .bind(receipt_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Queues a `failed` job again, due now, its tries kept (so an issue looks its key up
    /// first), inside `tx`; `None`: there is no such failed job. Re-queueing an issue also
    /// re-queues the receipt's cancellation that was done without the provider, so that a
    /// receipt the provider issues after all is cancelled there too (the cancellation is
    /// claimed only once the issue is done).
    pub async fn requeue_receipt_job(
        &self,
        tx: &mut Tx,
        receipt_id: &str,
        action: &str,
        now: i64,
    ) -> Result<Option<Requeued>> {
        let sql = format!(
            "UPDATE receipt_jobs SET status = 'queued', next_attempt_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE receipt_id = $2 AND action = $3 AND status = 'failed' RETURNING {COLS}"
        );
        let job: Option<ReceiptJobRow> = on_tx!(tx, |db| sqlx::query_as(&sql)
            .bind(Millis(now))
            .bind(receipt_id)
            .bind(action)
            .fetch_optional(db)
            .await)?;
        let Some(job) = job else { return Ok(None) };
        let mut cancel_requeued = false;
        if action == "issue" {
            let n = on_tx!(tx, |db| {
                sqlx::query(
                "UPDATE receipt_jobs SET status = 'queued', next_attempt_at = $1, done_at = NULL, skip_reason = NULL, \
                 lease_owner = NULL, lease_until = NULL \
                 WHERE receipt_id = $2 AND action = 'cancel' AND status = 'done' AND skip_reason IS NOT NULL"
            )
            .bind(Millis(now))
            .bind(receipt_id)
            .execute(db)
            .await
            .map(|r| r.rows_affected())
            })?;
            cancel_requeued = n > 0;
        }
        Ok(Some(Requeued { job, cancel_requeued }))
    }
}
