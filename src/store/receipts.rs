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

// --- The console's receipt register (issue 11): the series' figures, their gap check and
// the receipts of a month. Read-only; every check is SQL over the rows as they are.

/// One series (agency, template, series, year) as its rows say.
#[derive(Debug, Clone, FromRow)]
pub struct SeriesStats {
    pub agency_code: String,
    pub template: String,
    pub series: String,
    pub year: i32,
    /// Rows, and distinct numbers among them (fewer when a number is there twice).
    pub receipts: i64,
    pub numbers: i64,
    pub first_number: i64,
    pub last_number: i64,
    /// Đồng over every receipt (adjustments negative), and over the cancelled ones.
    pub amount: i64,
    pub cancelled_amount: i64,
    pub cancelled: i64,
    pub adjustments: i64,
}

/// A numbering counter: the last number the series gave out.
#[derive(Debug, Clone, FromRow)]
pub struct CounterRow {
    pub agency_code: String,
    pub template: String,
    pub series: String,
    pub year: i32,
    pub last_number: i64,
}

/// A hole between two numbers present in a series: `gap_after + 1 ..= gap_before - 1` are
/// missing (`gap_after` is 0 when the series does not start at 1).
#[derive(Debug, Clone, FromRow)]
pub struct NumberGap {
    pub agency_code: String,
    pub template: String,
    pub series: String,
    pub year: i32,
    pub gap_after: i64,
    pub gap_before: i64,
}

/// A number present more than once in a series.
#[derive(Debug, Clone, FromRow)]
pub struct DuplicateNumber {
    pub agency_code: String,
    pub template: String,
    pub series: String,
    pub year: i32,
    pub number: i64,
    pub copies: i64,
}

/// The four columns a series is keyed by.
const SERIES_KEY: &str = "agency_code, template, series, year";

impl Store {
    /// Per series (of one agency, or all; of one year, or all): its receipts' count, first
    /// and last number, amounts, cancellations and adjustments.
    pub async fn receipt_series_stats(&self, agency_code: Option<&str>, year: Option<i32>) -> Result<Vec<SeriesStats>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {SERIES_KEY}, CAST(COUNT(*) AS BIGINT) AS receipts, \
             CAST(COUNT(DISTINCT number) AS BIGINT) AS numbers, \
             CAST(MIN(number) AS BIGINT) AS first_number, CAST(MAX(number) AS BIGINT) AS last_number, \
             CAST(SUM(amount) AS BIGINT) AS amount, \
             CAST(SUM(CASE WHEN status = 'cancelled' THEN amount ELSE 0 END) AS BIGINT) AS cancelled_amount, \
             CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled, \
             CAST(SUM(CASE WHEN kind = 'adjustment' THEN 1 ELSE 0 END) AS BIGINT) AS adjustments \
             FROM receipts WHERE ($1 = '' OR agency_code = $1) AND ($2 = 0 OR year = $2) \
             GROUP BY {SERIES_KEY} ORDER BY {SERIES_KEY}"
        ))
        .bind(agency_code.unwrap_or(""))
        .bind(year.unwrap_or(0))
        .fetch_all(db)
        .await)?)
    }

    /// The numbering counters (of one agency, or all; of one year, or all).
    pub async fn receipt_counters(&self, agency_code: Option<&str>, year: Option<i32>) -> Result<Vec<CounterRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {SERIES_KEY}, last_number FROM receipt_counters \
             WHERE ($1 = '' OR agency_code = $1) AND ($2 = 0 OR year = $2) ORDER BY {SERIES_KEY}"
        ))
        .bind(agency_code.unwrap_or(""))
        .bind(year.unwrap_or(0))
        .fetch_all(db)
        .await)?)
    }

    /// Every hole in the numbers of each series: each number next to the one before it in
    /// the series (0 before the first), where they are more than one apart.
    pub async fn receipt_number_gaps(&self, agency_code: Option<&str>, year: Option<i32>) -> Result<Vec<NumberGap>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {SERIES_KEY}, prev AS gap_after, number AS gap_before FROM ( \
               SELECT {SERIES_KEY}, number, \
               CAST(COALESCE(LAG(number) OVER (PARTITION BY {SERIES_KEY} ORDER BY number), 0) AS BIGINT) AS prev \
               FROM receipts WHERE ($1 = '' OR agency_code = $1) AND ($2 = 0 OR year = $2) \
             ) x WHERE number > prev + 1 ORDER BY {SERIES_KEY}, number"
        ))
        .bind(agency_code.unwrap_or(""))
        .bind(year.unwrap_or(0))
        .fetch_all(db)
        .await)?)
    }

    /// Every number present more than once in its series.
    pub async fn receipt_duplicate_numbers(
        &self,
        agency_code: Option<&str>,
        year: Option<i32>,
    ) -> Result<Vec<DuplicateNumber>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {SERIES_KEY}, number, CAST(COUNT(*) AS BIGINT) AS copies FROM receipts \
             WHERE ($1 = '' OR agency_code = $1) AND ($2 = 0 OR year = $2) \
             GROUP BY {SERIES_KEY}, number HAVING COUNT(*) > 1 ORDER BY {SERIES_KEY}, number"
        ))
        .bind(agency_code.unwrap_or(""))
        .bind(year.unwrap_or(0))
        .fetch_all(db)
        .await)?)
    }

    /// One page of a series' receipts issued in `[start, end)`, by number: those after
    /// (`after_number`, `after_id`), at most `limit`.
    #[allow(clippy::too_many_arguments)]
    pub async fn receipts_of_series_between(
        &self,
        agency_code: &str,
        series: &str,
        start: i64,
        end: i64,
        after_number: i64,
        after_id: &str,
        limit: i64,
    ) -> Result<Vec<ReceiptRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {COLS} FROM receipts WHERE agency_code = $1 AND series = $2 \
             AND issued_at >= $3 AND issued_at < $4 AND (number > $5 OR (number = $5 AND id > $6)) \
             ORDER BY number, id LIMIT $7"
        ))
        .bind(agency_code)
        .bind(series)
        .bind(Millis(start))
        .bind(Millis(end))
        .bind(after_number)
        .bind(after_id)
        .bind(limit)
        .fetch_all(db)
        .await)?)
    }

    /// Every receipt issued in `[start, end)` (of one agency, or all), by agency, template,
    /// series, year and number.
    pub async fn receipts_issued_between(
        &self,
        agency_code: Option<&str>,
        start: i64,
        end: i64,
    ) -> Result<Vec<ReceiptRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {COLS} FROM receipts WHERE ($1 = '' OR agency_code = $1) \
             AND issued_at >= $2 AND issued_at < $3 ORDER BY {SERIES_KEY}, number, id"
        ))
        .bind(agency_code.unwrap_or(""))
        .bind(Millis(start))
        .bind(Millis(end))
        .fetch_all(db)
        .await)?)
    }
}
