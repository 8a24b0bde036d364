//! Reconciliation runs and their items, and the records a settlement file is matched
//! against. A run is written whole in one transaction; its version counts the runs of its
//! (source, day), whatever file each reconciled, and is taken under the day's lock.

use super::types::Millis;
use super::{Backend, Result, Store, StoreError, Tx};
use crate::domain::recon::{kind_str, Item, Lines, Record, Records, TooLarge};
use feegate_connector::SettlementKind;
use futures_lite::StreamExt;
use sqlx::{FromRow, Row};

/// A reconciliation run.
#[derive(Debug, Clone, FromRow)]
pub struct RunRow {
    pub id: String,
    pub source: String,
    pub business_date: String,
    pub file_sha256: String,
    pub version: i64,
    pub status: String,
    pub lines: i64,
    pub matched: i64,
    pub missing_in_file: i64,
    pub missing_in_feegate: i64,
    pub amount_mismatch: i64,
    pub status_mismatch: i64,
    pub duplicate: i64,
    pub created_by: String,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
    /// `settlement` or `statement` (written by its default for settlement runs).
    pub kind: String,
    /// The agency account of a statement run.
    pub account_id: Option<String>,
    /// A statement run's statements with what became of each (JSON text, see
    /// `service::recon::StatementSummary`); NULL for a settlement run.
    pub statements: Option<String>,
}

/// One stored item of a run.
#[derive(Debug, Clone, FromRow)]
pub struct ItemRow {
    pub id: String,
    pub run_id: String,
    pub idx: i64,
    pub line: Option<i64>,
    pub reference: String,
    pub gateway_txn: Option<String>,
    pub kind: String,
    pub amount_file: Option<i64>,
    pub amount_feegate: Option<i64>,
    pub status_file: Option<String>,
    pub status_feegate: Option<String>,
    pub outcome: String,
    pub reason: String,
    pub payment_id: Option<String>,
    pub attempt_id: Option<String>,
    pub refund_id: Option<String>,
    /// A statement entry's transfer content as booked.
    pub content: Option<String>,
    /// A statement entry's booking day, `YYYY-MM-DD`.
    pub booking_date: Option<String>,
    /// The connector whose settlement batch a statement credit is.
    pub batch_source: Option<String>,
    /// The gateway fee of a settlement line, when the file has one.
    pub fee: Option<i64>,
    /// The currency of a statement entry's amounts (NULL: the payment's).
    pub currency: Option<String>,
}

pub(crate) const RUN_COLS: &str =
    "id, source, business_date, file_sha256, version, status, lines, matched, missing_in_file, \
    missing_in_feegate, amount_mismatch, status_mismatch, duplicate, created_by, created_at";
pub(crate) const ITEM_COLS: &str = "id, run_id, idx, line, reference, gateway_txn, kind, amount_file, amount_feegate, \
    status_file, status_feegate, outcome, reason, payment_id, attempt_id, refund_id";
/// Columns of migration 0005 (statements), read with the ones above; inserts that omit them
/// get their defaults (`settlement`, NULL).
pub(crate) const RUN_EXTRA: &str = "kind, account_id, statements";
pub(crate) const ITEM_EXTRA: &str = "content, booking_date, batch_source, fee, currency";

/// Item columns a settlement run writes; the statement columns keep their defaults.
const SETTLEMENT_ITEM_COLS: &str = "id, run_id, idx, line, reference, gateway_txn, kind, amount_file, \
    amount_feegate, status_file, status_feegate, outcome, reason, payment_id, attempt_id, refund_id, fee";
const SETTLEMENT_ITEM_WIDTH: usize = 17;

/// How many references one `IN (...)` list holds (well under both backends' limits).
const CHUNK: usize = 500;

/// The tables records come from: (table, kind, the gateway's transaction column).
const SOURCES: [(&str, SettlementKind, &str); 2] =
    [("attempts", SettlementKind::Pay, "gateway_txn"), ("refunds", SettlementKind::Refund, "gateway_refund_ref")];

impl From<TooLarge> for StoreError {
    fn from(e: TooLarge) -> Self {
        StoreError::Other(anyhow::Error::new(e))
    }
}

/// Appends one row of (id, payment_id, reference, txn, amount[, status, updated_at]): a row
/// without status is one of the day's succeeded records.
fn push_record<'r, R: Row>(
    out: &mut Records,
    row: &'r R,
    kind: SettlementKind,
    day_start: i64,
    day_end: i64,
) -> Result<()>
where
    usize: sqlx::ColumnIndex<R>,
    &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<&'r str>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Millis: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let (status, in_day) = if row.len() > 5 {
        let status: &str = row.try_get(5)?;
        let Millis(updated_at) = row.try_get(6)?;
        (status, status == "succeeded" && updated_at >= day_start && updated_at < day_end)
    } else {
        ("succeeded", true)
    };
    out.push(Record {
        kind,
        id: row.try_get(0)?,
        payment_id: row.try_get(1)?,
        reference: row.try_get(2)?,
        gateway_txn: row.try_get(3)?,
        amount: row.try_get(4)?,
        status,
        in_day,
    })?;
    Ok(())
}

impl Store {
    /// Every attempt and refund at `source` that succeeded in `[day_start, day_end)` (unix
    /// ms), streamed into `out` (one query per table, read by the status and time index).
    pub async fn recon_day_records(&self, source: &str, day_start: i64, day_end: i64, out: &mut Records) -> Result<()> {
        for (table, kind, txn) in SOURCES {
            let sql = format!(
                "SELECT id, payment_id, reference, {txn}, amount FROM {table} \
                 WHERE status = 'succeeded' AND updated_at >= $2 AND updated_at < $3 AND connector_id = $1"
            );
            on_pool!(self, |db| {
                let mut rows = sqlx::query(&sql).bind(source).bind(Millis(day_start)).bind(Millis(day_end)).fetch(db);
                while let Some(row) = rows.next().await {
                    push_record(out, &row?, kind, day_start, day_end)?;
                }
                Ok::<(), StoreError>(())
            })?;
        }
        Ok(())
    }

    /// Appends the attempts and refunds at `source` whose reference is one of `references`,
    /// whatever their status and day (so a line we hold as failed is a status mismatch, not
    /// unknown).
    pub async fn recon_records_by_reference(
        &self,
        source: &str,
        day_start: i64,
        day_end: i64,
        references: &[&str],
        out: &mut Records,
    ) -> Result<()> {
        for (table, kind, txn) in SOURCES {
            for chunk in references.chunks(CHUNK) {
                let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT id, payment_id, reference, {txn}, amount, status, updated_at FROM {table} \
                     WHERE connector_id = $1 AND reference IN ({})",
                    marks.join(",")
                );
                on_pool!(self, |db| {
                    let mut q = sqlx::query(&sql).bind(source);
                    for r in chunk {
                        q = q.bind(*r);
                    }
                    for row in q.fetch_all(db).await? {
                        push_record(out, &row, kind, day_start, day_end)?;
                    }
                    Ok::<(), StoreError>(())
                })?;
            }
        }
        Ok(())
    }

    /// The latest run of this file for this source and day.
    pub async fn latest_recon_run(&self, source: &str, date: &str, sha256: &str) -> Result<Option<RunRow>> {
        Ok(on_pool!(self, |db| {
            sqlx::query_as(&format!(
            "SELECT {RUN_COLS}, {RUN_EXTRA} FROM recon_runs WHERE source = $1 AND business_date = $2 AND file_sha256 = $3 \
             ORDER BY version DESC LIMIT 1"
        ))
        .bind(source)
        .bind(date)
        .bind(sha256)
        .fetch_optional(db)
        .await
        })?)
    }

    /// The version the next run of this source and day gets, whichever file it reconciles:
    /// one more than the day's latest, so a re-run with a corrected file is told apart from
    /// the day's first run. Read inside `tx` after the day's lock
    /// ([`Store::lock_day`]), which keeps two imports of one day from taking the same one.
    pub async fn next_recon_version(&self, tx: &mut Tx, source: &str, date: &str) -> Result<i64> {
        let (v,): (i64,) = on_tx!(tx, |db| sqlx::query_as(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM recon_runs \
             WHERE source = $1 AND business_date = $2",
        )
        .bind(source)
        .bind(date)
        .fetch_one(db)
        .await)?;
        Ok(v + 1)
    }

    /// Whether this file already has a run for this source and day, read inside `tx`.
    pub async fn recon_file_seen(&self, tx: &mut Tx, source: &str, date: &str, sha256: &str) -> Result<bool> {
        let found: Option<(String,)> = on_tx!(tx, |db| sqlx::query_as(
            "SELECT id FROM recon_runs WHERE source = $1 AND business_date = $2 AND file_sha256 = $3 LIMIT 1",
        )
        .bind(source)
        .bind(date)
        .bind(sha256)
        .fetch_optional(db)
        .await)?;
        Ok(found.is_some())
    }

    /// Writes a run's row (settlement or statement). `Conflict` if that version exists.
    pub(crate) async fn insert_run_row(&self, tx: &mut Tx, run: &RunRow) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(&format!(
            "INSERT INTO recon_runs ({RUN_COLS}, {RUN_EXTRA}) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)"
        ))
        .bind(&run.id)
        .bind(&run.source)
        .bind(&run.business_date)
        .bind(&run.file_sha256)
        .bind(run.version)
        .bind(&run.status)
        .bind(run.lines)
        .bind(run.matched)
        .bind(run.missing_in_file)
        .bind(run.missing_in_feegate)
        .bind(run.amount_mismatch)
        .bind(run.status_mismatch)
        .bind(run.duplicate)
        .bind(&run.created_by)
        .bind(Millis(run.created_at))
        .bind(&run.kind)
        .bind(&run.account_id)
        .bind(&run.statements)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Writes a run and its items (each item a line of `lines` and/or a record of
    /// `records`). `Conflict` if that version of the file exists. Items go in multi-row
    /// inserts as wide as the backend's parameter limit allows (SQLite 32766, PostgreSQL
    /// 65535); an item's id is the run's with its position, so ids arrive in key order.
    pub async fn insert_recon_run(
        &self,
        tx: &mut Tx,
        run: &RunRow,
        items: &[Item],
        lines: &Lines,
        records: &Records,
    ) -> Result<()> {
        self.insert_run_row(tx, run).await?;
        let limit = match self.backend {
            Backend::Sqlite => 32766,
            Backend::Postgres => 65535,
        };
        let per_insert = limit / SETTLEMENT_ITEM_WIDTH;
        let run_key = run.id.strip_prefix("rcn_").unwrap_or(&run.id);
        let mut full: Option<String> = None;
        for (c, chunk) in items.chunks(per_insert).enumerate() {
            let short;
            let sql = if chunk.len() == per_insert {
                full.get_or_insert_with(|| values_sql(self.backend, per_insert)).as_str()
            } else {
                short = values_sql(self.backend, chunk.len());
                short.as_str()
            };
            insert_items(tx, sql, run, run_key, c * per_insert, chunk, lines, records).await?;
        }
        Ok(())
    }

    pub async fn recon_run(&self, id: &str) -> Result<Option<RunRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {RUN_COLS}, {RUN_EXTRA} FROM recon_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await)?)
    }

    /// Runs, newest first, optionally of one source and/or day.
    pub async fn recon_runs(&self, source: Option<&str>, date: Option<&str>, limit: i64) -> Result<Vec<RunRow>> {
        Ok(on_pool!(self, |db| {
            sqlx::query_as(&format!(
            "SELECT {RUN_COLS}, {RUN_EXTRA} FROM recon_runs WHERE ($1 = '' OR source = $1) AND ($2 = '' OR business_date = $2) \
             ORDER BY created_at DESC, version DESC LIMIT $3"
        ))
        .bind(source.unwrap_or(""))
        .bind(date.unwrap_or(""))
        .bind(limit)
        .fetch_all(db)
        .await
        })?)
    }

    /// A run's items in file order, optionally of one outcome.
    pub async fn recon_items(&self, run_id: &str, outcome: Option<&str>) -> Result<Vec<ItemRow>> {
        Ok(on_pool!(self, |db| {
            sqlx::query_as(&format!(
            "SELECT {ITEM_COLS}, {ITEM_EXTRA} FROM recon_items WHERE run_id = $1 AND ($2 = '' OR outcome = $2) ORDER BY idx"
        ))
        .bind(run_id)
        .bind(outcome.unwrap_or(""))
        .fetch_all(db)
        .await
        })?)
    }
}

/// A correction a run proved, claimed by the worker.
#[derive(Debug, Clone, FromRow)]
pub struct CorrectionRow {
    pub id: String,
    pub run_id: String,
    pub item_id: String,
    pub attempt_id: String,
    /// Who imported the file: the correction is audited under their name.
    pub actor: String,
    /// Which file and line proved it (JSON text).
    pub evidence: String,
    /// Tries so far, this one included.
    pub tries: i64,
}

/// One correction to queue: (item id, attempt id, evidence as JSON text).
pub type NewCorrection = (String, String, String);

/// What a queued correction's item says until the worker has done it; replaced by the result.
pub const CORRECTION_PENDING: &str = "correction queued: the connector will be asked to confirm it";

/// The guard of every move out of a claim.
const CORRECTION_HELD: &str = "id = $1 AND lease_owner = $2 AND status = 'pending'";

impl Store {
    /// Queues the corrections a run proves, inside the run's transaction, and says so in
    /// each item's reason.
    pub async fn queue_corrections(
        &self,
        tx: &mut Tx,
        run_id: &str,
        actor: &str,
        list: &[NewCorrection],
        now: i64,
    ) -> Result<()> {
        for (item_id, attempt_id, evidence) in list {
            on_tx!(tx, |db| {
                sqlx::query(
                "INSERT INTO recon_corrections (id, run_id, item_id, attempt_id, actor, evidence, next_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(crate::domain::ids::new_id("rcc"))
            .bind(run_id)
            .bind(item_id)
            .bind(attempt_id)
            .bind(actor)
            .bind(evidence)
            .bind(Millis(now))
            .execute(db)
            .await.map(|r| r.rows_affected())
            })?;
            on_tx!(tx, |db| sqlx::query("UPDATE recon_items SET reason = reason || '; ' || $1 WHERE id = $2")
                .bind(CORRECTION_PENDING)
                .bind(item_id)
                .execute(db)
                .await
                .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    /// Leases up to `limit` due corrections to `owner` until `now + lease_ms`: pending,
    /// past their retry time, not leased by a live owner. Each claim counts as a try.
    pub async fn claim_corrections(
        &self,
        now: i64,
        lease_ms: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<CorrectionRow>> {
        // SQLite has one writer at a time (the store's lock), so there is nothing to skip.
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE recon_corrections SET lease_until = $1, lease_owner = $2, tries = tries + 1 WHERE id IN (\
             SELECT id FROM recon_corrections WHERE status = 'pending' AND next_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $3) ORDER BY created_at, id LIMIT $4{lock}) \
             RETURNING id, run_id, item_id, attempt_id, actor, evidence, tries"
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

    /// Records a correction's result, in its item's reason too; `false` (nothing written)
    /// when `owner` no longer holds it.
    pub async fn finish_correction(&self, c: &CorrectionRow, owner: &str, result: &str, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = on_tx!(tx, |db| sqlx::query(&format!(
            "UPDATE recon_corrections SET status = 'done', result = $3, done_at = $4, lease_owner = NULL, \
             lease_until = NULL WHERE {CORRECTION_HELD}"
        ))
        .bind(&c.id)
        .bind(owner)
        .bind(result)
        .bind(Millis(now))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        if done != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        on_tx!(tx, |db| sqlx::query("UPDATE recon_items SET reason = REPLACE(reason, $1, $2) WHERE id = $3")
            .bind(CORRECTION_PENDING)
            .bind(result)
            .bind(&c.item_id)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(true)
    }

    /// Puts a correction back to be tried again at `next_at`, noting why; `false` when
    /// `owner` no longer holds it.
    pub async fn retry_correction(&self, c: &CorrectionRow, owner: &str, next_at: i64, why: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = on_tx!(tx, |db| sqlx::query(&format!(
            "UPDATE recon_corrections SET next_at = $3, result = $4, lease_owner = NULL, lease_until = NULL \
             WHERE {CORRECTION_HELD}"
        ))
        .bind(&c.id)
        .bind(owner)
        .bind(Millis(next_at))
        .bind(why)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// How many of a run's corrections are still to do, and how many are done.
    pub async fn run_correction_counts(&self, run_id: &str) -> Result<(i64, i64)> {
        let (pending, done): (i64, i64) = on_pool!(self, |db| sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM recon_corrections WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_one(db)
        .await)?;
        Ok((pending, done))
    }
}

/// `INSERT INTO recon_items (...) VALUES (...), ...` for `rows` items. SQLite gets
/// anonymous `?` parameters: it looks a named one (`$n`) up by a linear scan of the
/// statement's names, when parsing and again when binding, which makes an insert of
/// thousands of `$n` quadratic.
fn values_sql(backend: Backend, rows: usize) -> String {
    let mut sql = format!("INSERT INTO recon_items ({SETTLEMENT_ITEM_COLS}) VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ",(" });
        for c in 0..SETTLEMENT_ITEM_WIDTH {
            if c > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => sql.push_str(&format!("${}", r * SETTLEMENT_ITEM_WIDTH + c + 1)),
            }
        }
        sql.push(')');
    }
    sql
}

/// One multi-row insert of `chunk`, whose first item is the run's `first`.
#[allow(clippy::too_many_arguments)]
async fn insert_items(
    tx: &mut Tx,
    sql: &str,
    run: &RunRow,
    run_key: &str,
    first: usize,
    chunk: &[Item],
    lines: &Lines,
    records: &Records,
) -> Result<()> {
    let ids: Vec<String> = (first..first + chunk.len()).map(|idx| format!("rci_{run_key}_{idx:07}")).collect();
    on_tx!(tx, |db| {
        let mut q = sqlx::query(sql);
        for (k, item) in chunk.iter().enumerate() {
            let f = item.fields(lines, records);
            q = q
                .bind(ids[k].as_str())
                .bind(run.id.as_str())
                .bind((first + k) as i64)
                .bind(f.line)
                .bind(f.reference)
                .bind(f.gateway_txn)
                .bind(kind_str(f.kind))
                .bind(f.amount_file)
                .bind(f.amount_feegate)
                .bind(f.status_file)
                .bind(f.status_feegate)
                .bind(f.outcome.as_str())
                .bind(f.reason)
                .bind(f.payment_id)
                .bind(f.attempt_id)
                .bind(f.refund_id)
                .bind(f.fee);
        }
        q.execute(db).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}
