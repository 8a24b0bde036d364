//! Receipts, their numbering counters and the public keys that signed them (migration
//! 0015). A number is taken by one upsert of the counter row inside the transaction that
//! pays the payment: on PostgreSQL the row stays locked until that transaction ends, so
//! concurrent payments of one series take 1, 2, 3, ... in commit order, and a rolled-back
//! payment gives its number back (no gap, no duplicate); SQLite's writer runs one at a time.

use super::types::{Millis, OptMillis};
use super::{Result, Store, Tx};
use sqlx::FromRow;

/// A receipt as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ReceiptRow {
    pub id: String,
    pub token: String,
    pub payment_id: String,
    pub agency_code: String,
    pub template: String,
    pub series: String,
    pub year: i32,
    pub number: i64,
    pub kind: String,
    pub refers_to: Option<String>,
    pub amount: i64,
    /// The canonical JSON that was signed (`domain::receipt::Content`).
    pub content: String,
    pub signature: String,
    pub key_id: String,
    pub verification_code: String,
    pub status: String,
    #[sqlx(try_from = "Millis")]
    pub issued_at: i64,
    #[sqlx(try_from = "OptMillis")]
    pub cancelled_at: Option<i64>,
    pub cancel_reason: Option<String>,
}

pub(super) const COLS: &str =
    "id, token, payment_id, agency_code, template, series, year, number, kind, refers_to, amount, \
    content, signature, key_id, verification_code, status, issued_at, cancelled_at, cancel_reason";

impl Store {
    /// Takes the next number of a series (1 for its first receipt), inside `tx`.
    pub async fn next_receipt_number(
        &self,
        tx: &mut Tx,
        agency_code: &str,
        template: &str,
        series: &str,
        year: i32,
    ) -> Result<i64> {
        Ok(on_tx!(tx, |db| {
            sqlx::query_scalar(
            "INSERT INTO receipt_counters (agency_code, template, series, year, last_number) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (agency_code, template, series, year) \
             DO UPDATE SET last_number = receipt_counters.last_number + 1 RETURNING last_number"
        )
        .bind(agency_code)
        .bind(template)
        .bind(series)
        .bind(year)
        .fetch_one(db)
        .await
        })?)
    }

    pub async fn insert_receipt(&self, tx: &mut Tx, r: &ReceiptRow) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(&format!(
            "INSERT INTO receipts ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)"
        ))
        .bind(&r.id)
        .bind(&r.token)
        .bind(&r.payment_id)
        .bind(&r.agency_code)
        .bind(&r.template)
        .bind(&r.series)
        .bind(r.year)
        .bind(r.number)
        .bind(&r.kind)
        .bind(&r.refers_to)
        .bind(r.amount)
        .bind(&r.content)
        .bind(&r.signature)
        .bind(&r.key_id)
        .bind(&r.verification_code)
        .bind(&r.status)
        .bind(Millis(r.issued_at))
        .bind(r.cancelled_at.map(Millis))
        .bind(&r.cancel_reason)
        .execute(db)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// A payment's receipts, oldest first.
    pub async fn receipts_of(&self, payment_id: &str) -> Result<Vec<ReceiptRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {COLS} FROM receipts WHERE payment_id = $1 ORDER BY issued_at, number"
        ))
        .bind(payment_id)
        .fetch_all(db)
        .await)?)
    }

    /// A payment's original receipt still issued, read inside `tx` (for its adjustment or
    /// cancellation by a refund booked in that transaction).
    pub async fn issued_original_in(&self, tx: &mut Tx, payment_id: &str) -> Result<Option<ReceiptRow>> {
        Ok(on_tx!(tx, |db| sqlx::query_as(&format!(
            "SELECT {COLS} FROM receipts WHERE payment_id = $1 AND kind = 'original' AND status = 'issued'"
        ))
        .bind(payment_id)
        .fetch_optional(db)
        .await)?)
    }

    /// Cancels an issued receipt (its signed content is untouched); whether it was issued.
    pub async fn cancel_receipt(&self, tx: &mut Tx, id: &str, reason: &str, at: i64) -> Result<bool> {
        let n = on_tx!(tx, |db| sqlx::query(
            "UPDATE receipts SET status = 'cancelled', cancelled_at = $1, cancel_reason = $2 \
             WHERE id = $3 AND status = 'issued'"
        )
        .bind(Millis(at))
        .bind(reason)
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// The receipt with this unguessable token.
    pub async fn receipt_by_token(&self, token: &str) -> Result<Option<ReceiptRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!("SELECT {COLS} FROM receipts WHERE token = $1"))
            .bind(token)
            .fetch_optional(db)
            .await)?)
    }

    /// The receipts with this agency, series and number (one per template and year).
    pub async fn receipts_numbered(&self, agency_code: &str, series: &str, number: i64) -> Result<Vec<ReceiptRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {COLS} FROM receipts WHERE agency_code = $1 AND series = $2 AND number = $3"
        ))
        .bind(agency_code)
        .bind(series)
        .bind(number)
        .fetch_all(db)
        .await)?)
    }

    /// Records a public key that signs receipts (once per key).
    pub async fn put_receipt_key(&self, key_id: &str, public_key: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        on_tx!(tx, |db| {
            sqlx::query(
            "INSERT INTO receipt_keys (key_id, public_key, created_at) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING"
        )
        .bind(key_id)
        .bind(public_key)
        .bind(Millis(super::now_ms()))
        .execute(db)
        .await
        .map(|_| ())
        })?;
        tx.commit().await
    }

    /// The public key (hex) with this id.
    pub async fn receipt_key(&self, key_id: &str) -> Result<Option<String>> {
        Ok(on_pool!(self, |db| sqlx::query_scalar("SELECT public_key FROM receipt_keys WHERE key_id = $1")
            .bind(key_id)
            .fetch_optional(db)
            .await)?)
    }
}
