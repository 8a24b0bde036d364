//! Jobs for an external e-receipt provider (migration 0016): written inside the transaction
//! that issues (or, for a cancellation, refunds) feegate's receipt, claimed by lease by the
//! worker of any node (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer), and
//! finished, put off or failed by the node that holds the lease.

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
}

const COLS: &str = "receipt_id, action, provider, status, reason, attempts, next_attempt_at, last_error, \
    provider_series, provider_number, provider_code, provider_url, done_at";

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

    /// The provider could not take it: try again at `next` (`failed`: it refused, for good).
    pub async fn put_off_receipt_job(
        &self,
        receipt_id: &str,
        action: &str,
        owner: &str,
        error: &str,
        next: Option<i64>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let (status, at) = match next {
            Some(at) => ("queued", at),
            None => ("failed", 0),
        };
        let n = on_tx!(tx, |db| sqlx::query(
            "UPDATE receipt_jobs SET status = $1, attempts = attempts + 1, last_error = $2, \
             next_attempt_at = CASE WHEN $1 = 'queued' THEN $3 ELSE next_attempt_at END, lease_owner = NULL, \
             lease_until = NULL WHERE receipt_id = $4 AND action = $5 AND lease_owner = $6 AND status = 'queued'"
        )
        .bind(status)
        .bind(error)
        .bind(Millis(at))
        .bind(receipt_id)
        .bind(action)
        .bind(owner)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(n == 1)
    }
}
