//! Refunds: reserved against the payment with one guarded update, so the sum of
//! non-failed refunds never exceeds the amount paid, under any concurrency.

use super::types::Millis;
use super::{now_ms, Backend, Result, Store, Tx};
use sqlx::FromRow;

/// A refund row.
#[derive(Debug, Clone, FromRow)]
pub struct RefundRow {
    pub id: String,
    pub payment_id: String,
    pub attempt_id: String,
    pub connector_id: String,
    pub reference: String,
    pub amount: i64,
    pub reason: String,
    pub status: String,
    pub gateway_refund_ref: Option<String>,
    pub failure_code: Option<String>,
    pub bank_reference: Option<String>,
    pub requested_by: String,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
    #[sqlx(try_from = "Millis")]
    pub updated_at: i64,
    /// The duplicate attempt this refund returns (then `attempt_id` too); `None`: it returns
    /// the payment's own collection and is booked on the payment.
    pub duplicate_attempt_id: Option<String>,
}

const COLS: &str = "id, payment_id, attempt_id, connector_id, reference, amount, reason, status, gateway_refund_ref, \
    failure_code, bank_reference, requested_by, created_at, updated_at, duplicate_attempt_id";

impl Store {
    /// Reserves `amount` of a paid payment for a refund. `false`: the payment is not
    /// refundable or the amount exceeds what is left; nothing changed.
    pub async fn reserve_refund(&self, tx: &mut Tx, payment_id: &str, amount: i64) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query(
            "UPDATE payments SET reserved_refunds = reserved_refunds + $1, updated_at = $2 WHERE id = $3 \
             AND status IN ('succeeded', 'partially_refunded') AND reserved_refunds + $1 <= amount",
        )
        .bind(amount)
        .bind(Millis(now_ms()))
        .bind(payment_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// Reserves `amount` of a duplicate collection for its refund: an attempt of
    /// `payment_id` that succeeded but did not pay it, capped at the attempt's amount with
    /// one guarded update. `false`: nothing changed. The attempt's `updated_at` is left alone:
    /// it dates the collection for reconciliation.
    pub async fn reserve_duplicate_refund(
        &self,
        tx: &mut Tx,
        payment_id: &str,
        attempt_id: &str,
        amount: i64,
    ) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query(
            "UPDATE attempts SET reserved_refunds = reserved_refunds + $1 WHERE id = $2 \
             AND payment_id = $3 AND status = 'succeeded' AND reserved_refunds + $1 <= amount \
             AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = $3 AND p.paid_attempt_id = $2)",
        )
        .bind(amount)
        .bind(attempt_id)
        .bind(payment_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// The attempt that paid a paid payment: the one recorded with its success, or (for a
    /// payment paid before that was recorded) its first succeeded attempt. `None` if the
    /// payment is not paid.
    pub async fn paying_attempt(&self, payment_id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = on_pool!(self, |db| sqlx::query_as(
            "SELECT COALESCE(p.paid_attempt_id, (SELECT a.id FROM attempts a WHERE a.payment_id = p.id \
             AND a.status = 'succeeded' ORDER BY a.created_at, a.id LIMIT 1)) FROM payments p \
             WHERE p.id = $1 AND p.status IN ('succeeded', 'partially_refunded', 'refunded')",
        )
        .bind(payment_id)
        .fetch_optional(db)
        .await)?;
        Ok(row.and_then(|r| r.0))
    }

    pub async fn insert_refund(&self, tx: &mut Tx, r: &RefundRow) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(&format!(
            "INSERT INTO refunds ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"
        ))
        .bind(&r.id)
        .bind(&r.payment_id)
        .bind(&r.attempt_id)
        .bind(&r.connector_id)
        .bind(&r.reference)
        .bind(r.amount)
        .bind(&r.reason)
        .bind(&r.status)
        .bind(&r.gateway_refund_ref)
        .bind(&r.failure_code)
        .bind(&r.bank_reference)
        .bind(&r.requested_by)
        .bind(Millis(r.created_at))
        .bind(Millis(r.updated_at))
        .bind(&r.duplicate_attempt_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn refund(&self, id: &str) -> Result<Option<RefundRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!("SELECT {COLS} FROM refunds WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await)?)
    }

    pub async fn refunds(&self, payment_id: &str) -> Result<Vec<RefundRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {COLS} FROM refunds WHERE payment_id = $1 ORDER BY created_at, id"
        ))
        .bind(payment_id)
        .fetch_all(db)
        .await)?)
    }

    /// Completes an open refund (`pending` or `pending_manual`) and books it on the
    /// payment. `None` if this call did not complete it; else the payment's new status.
    /// A duplicate's refund is money out of its attempt's collection: the payment, its
    /// status and refunded amount stay as they are (its status is returned).
    pub async fn complete_refund(
        &self,
        tx: &mut Tx,
        r: &RefundRow,
        gateway_ref: Option<&str>,
        bank_reference: Option<&str>,
    ) -> Result<Option<String>> {
        let now = now_ms();
        let done = on_tx!(tx, |db| {
            sqlx::query(
            "UPDATE refunds SET status = 'succeeded', gateway_refund_ref = COALESCE($1, gateway_refund_ref), \
             bank_reference = COALESCE($2, bank_reference), updated_at = $3 WHERE id = $4 AND status IN ('pending', 'pending_manual')",
        )
        .bind(gateway_ref)
        .bind(bank_reference)
        .bind(Millis(now))
        .bind(&r.id)
        .execute(db)
        .await.map(|r| r.rows_affected())
        })?;
        if done != 1 {
            return Ok(None);
        }
        if r.duplicate_attempt_id.is_some() {
            let (status,): (String,) = on_tx!(tx, |db| sqlx::query_as("SELECT status FROM payments WHERE id = $1")
                .bind(&r.payment_id)
                .fetch_one(db)
                .await)?;
            return Ok(Some(status));
        }
        let (status,): (String,) = on_tx!(tx, |db| sqlx::query_as(
            "UPDATE payments SET refunded_amount = refunded_amount + $1, updated_at = $2, \
             status = CASE WHEN refunded_amount + $1 >= amount THEN 'refunded' ELSE 'partially_refunded' END \
             WHERE id = $3 RETURNING status",
        )
        .bind(r.amount)
        .bind(Millis(now))
        .bind(&r.payment_id)
        .fetch_one(db)
        .await)?;
        Ok(Some(status))
    }

    /// Fails an open refund and releases its reservation. `false` if already final.
    pub async fn fail_refund(&self, tx: &mut Tx, r: &RefundRow, code: &str) -> Result<bool> {
        let now = now_ms();
        let done = on_tx!(tx, |db| {
            sqlx::query("UPDATE refunds SET status = 'failed', failure_code = $1, updated_at = $2 WHERE id = $3 AND status = 'pending'")
            .bind(code)
            .bind(Millis(now))
            .bind(&r.id)
            .execute(db)
            .await.map(|r| r.rows_affected())
        })?;
        if done != 1 {
            return Ok(false);
        }
        if let Some(attempt_id) = &r.duplicate_attempt_id {
            on_tx!(tx, |db| sqlx::query("UPDATE attempts SET reserved_refunds = reserved_refunds - $1 WHERE id = $2")
                .bind(r.amount)
                .bind(attempt_id)
                .execute(db)
                .await
                .map(|r| r.rows_affected()))?;
            return Ok(true);
        }
        on_tx!(tx, |db| sqlx::query(
            "UPDATE payments SET reserved_refunds = reserved_refunds - $1, updated_at = $2 WHERE id = $3"
        )
        .bind(r.amount)
        .bind(Millis(now))
        .bind(&r.payment_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(true)
    }

    /// Records the gateway's own reference of a refund still pending (from an answer
    /// that did not settle it), so that later status queries can recognise it. A
    /// reference already recorded is kept.
    pub async fn note_refund_gateway_ref(&self, tx: &mut Tx, id: &str, gateway_ref: &str) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(
            "UPDATE refunds SET gateway_refund_ref = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'pending' AND gateway_refund_ref IS NULL",
        )
        .bind(gateway_ref)
        .bind(Millis(now_ms()))
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Marks a pending refund as raised for review. `true` only for the one call that
    /// marked it, so the review is opened once however many nodes and passes see it.
    pub async fn mark_refund_for_review(&self, tx: &mut Tx, id: &str) -> Result<bool> {
        let r = on_tx!(tx, |db| {
            sqlx::query(
            "UPDATE refunds SET review_opened_at = $1 WHERE id = $2 AND status = 'pending' AND review_opened_at IS NULL",
        )
        .bind(Millis(now_ms()))
        .bind(id)
        .execute(db)
        .await.map(|r| r.rows_affected())
        })?;
        Ok(r == 1)
    }

    /// Whether a refund was raised for review (its gateway never said what became of it).
    pub async fn refund_under_review(&self, id: &str) -> Result<bool> {
        let (n,): (i64,) = on_pool!(self, |db| sqlx::query_as(
            "SELECT COUNT(*) FROM refunds WHERE id = $1 AND review_opened_at IS NOT NULL"
        )
        .bind(id)
        .fetch_one(db)
        .await)?;
        Ok(n == 1)
    }

    /// Claims open refunds and attempts due for a status query (a lease: the next query
    /// time moves forward, so another node skips them meanwhile).
    pub async fn claim_due_queries(
        &self,
        table: &str,
        now: i64,
        older_than: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<String>> {
        let open = if table == "refunds" { "status = 'pending'" } else { "status IN ('pending', 'unknown')" };
        let lock = if self.backend == Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let mut tx = self.begin().await?;
        let ids: Vec<(String,)> = on_tx!(tx, |db| {
            sqlx::query_as(&format!(
            "SELECT id FROM {table} WHERE {open} AND created_at <= $1 AND (next_query_at IS NULL OR next_query_at <= $2) \
             ORDER BY created_at LIMIT $3 {lock}"
        ))
        .bind(Millis(now - older_than))
        .bind(Millis(now))
        .bind(limit)
        .fetch_all(db)
        .await
        })?;
        for (id,) in &ids {
            on_tx!(tx, |db| sqlx::query(&format!(
                "UPDATE {table} SET next_query_at = $1, queries = queries + 1 WHERE id = $2"
            ))
            .bind(Millis(now + lease_ms))
            .bind(id)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        }
        tx.commit().await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// Sets when an open attempt or refund is next queried (backoff).
    pub async fn schedule_query(&self, table: &str, id: &str, at: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        on_tx!(tx, |db| sqlx::query(&format!("UPDATE {table} SET next_query_at = $1 WHERE id = $2"))
            .bind(Millis(at))
            .bind(id)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await
    }

    /// How many times an attempt or refund has been queried.
    pub async fn query_count(&self, table: &str, id: &str) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, |db| sqlx::query_as(&format!("SELECT queries FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_one(db)
            .await)?;
        Ok(n)
    }
}
