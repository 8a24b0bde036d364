//! Reconciliation runs and their items, and the records a settlement file is matched
//! against. A run is written whole in one transaction; its version is unique per
//! (source, day, file), so two imports of the same file race to one row.

use super::{Result, Store, Tx};
use crate::domain::recon::{kind_str, Item, Record};
use feegate_connector::SettlementKind;
use sqlx::FromRow;
use std::collections::HashSet;

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
    pub created_at: i64,
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
}

const RUN_COLS: &str = "id, source, business_date, file_sha256, version, status, lines, matched, missing_in_file, \
    missing_in_feegate, amount_mismatch, status_mismatch, duplicate, created_by, created_at";
const ITEM_COLS: &str = "id, run_id, idx, line, reference, gateway_txn, kind, amount_file, amount_feegate, \
    status_file, status_feegate, outcome, reason, payment_id, attempt_id, refund_id";

/// An attempt or refund as read for matching: (id, payment_id, reference, txn, amount, status, updated_at).
type Raw = (String, String, String, Option<String>, i64, String, i64);

/// How many references one `IN (...)` list holds (well under both backends' limits).
const CHUNK: usize = 500;

impl Store {
    /// Our records at `source` to match a file against: every attempt and refund that
    /// succeeded in `[day_start, day_end)` (unix ms), and any other whose reference the
    /// file names (so a line we hold as failed is a status mismatch, not unknown).
    pub async fn recon_records(
        &self,
        source: &str,
        day_start: i64,
        day_end: i64,
        references: &[String],
    ) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for (table, kind, txn) in [
            ("attempts", SettlementKind::Pay, "gateway_txn"),
            ("refunds", SettlementKind::Refund, "gateway_refund_ref"),
        ] {
            let cols = format!("id, payment_id, reference, {txn}, amount, status, updated_at");
            let mut rows: Vec<Raw> = sqlx::query_as(&format!(
                "SELECT {cols} FROM {table} WHERE connector_id = $1 AND status = 'succeeded' \
                 AND updated_at >= $2 AND updated_at < $3"
            ))
            .bind(source)
            .bind(day_start)
            .bind(day_end)
            .fetch_all(&self.pool)
            .await?;
            for chunk in references.chunks(CHUNK) {
                let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT {cols} FROM {table} WHERE connector_id = $1 AND reference IN ({})",
                    marks.join(",")
                );
                let mut q = sqlx::query_as::<_, Raw>(&sql).bind(source);
                for r in chunk {
                    q = q.bind(r);
                }
                rows.extend(q.fetch_all(&self.pool).await?);
            }
            let mut seen = HashSet::new();
            for (id, payment_id, reference, gateway_txn, amount, status, updated_at) in rows {
                if !seen.insert(id.clone()) {
                    continue;
                }
                let in_day = status == "succeeded" && updated_at >= day_start && updated_at < day_end;
                let (attempt_id, refund_id) = match kind {
                    SettlementKind::Pay => (Some(id), None),
                    SettlementKind::Refund => (None, Some(id)),
                };
                out.push(Record {
                    kind,
                    reference,
                    gateway_txn,
                    amount,
                    status,
                    in_day,
                    payment_id,
                    attempt_id,
                    refund_id,
                });
            }
        }
        Ok(out)
    }

    /// The latest run of this file for this source and day.
    pub async fn latest_recon_run(&self, source: &str, date: &str, sha256: &str) -> Result<Option<RunRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RUN_COLS} FROM recon_runs WHERE source = $1 AND business_date = $2 AND file_sha256 = $3 \
             ORDER BY version DESC LIMIT 1"
        ))
        .bind(source)
        .bind(date)
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The next version of this file's run for this source and day, read inside `tx`.
    pub async fn next_recon_version(&self, tx: &mut Tx, source: &str, date: &str, sha256: &str) -> Result<i64> {
        let (v,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM recon_runs \
             WHERE source = $1 AND business_date = $2 AND file_sha256 = $3",
        )
        .bind(source)
        .bind(date)
        .bind(sha256)
        .fetch_one(&mut *tx.tx)
        .await?;
        Ok(v + 1)
    }

    /// Writes a run and its items. `Conflict` if that version of the file exists.
    pub async fn insert_recon_run(&self, tx: &mut Tx, run: &RunRow, items: &[Item]) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO recon_runs ({RUN_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"
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
        .bind(run.created_at)
        .execute(&mut *tx.tx)
        .await?;
        let sql = format!(
            "INSERT INTO recon_items ({ITEM_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
        );
        for (idx, i) in items.iter().enumerate() {
            sqlx::query(&sql)
                .bind(crate::domain::ids::new_id("rci"))
                .bind(&run.id)
                .bind(idx as i64)
                .bind(i.line)
                .bind(&i.reference)
                .bind(&i.gateway_txn)
                .bind(kind_str(i.kind))
                .bind(i.amount_file)
                .bind(i.amount_feegate)
                .bind(&i.status_file)
                .bind(&i.status_feegate)
                .bind(i.outcome.as_str())
                .bind(&i.reason)
                .bind(&i.payment_id)
                .bind(&i.attempt_id)
                .bind(&i.refund_id)
                .execute(&mut *tx.tx)
                .await?;
        }
        Ok(())
    }

    pub async fn recon_run(&self, id: &str) -> Result<Option<RunRow>> {
        Ok(sqlx::query_as(&format!("SELECT {RUN_COLS} FROM recon_runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Runs, newest first, optionally of one source and/or day.
    pub async fn recon_runs(&self, source: Option<&str>, date: Option<&str>, limit: i64) -> Result<Vec<RunRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RUN_COLS} FROM recon_runs WHERE ($1 = '' OR source = $1) AND ($2 = '' OR business_date = $2) \
             ORDER BY created_at DESC, version DESC LIMIT $3"
        ))
        .bind(source.unwrap_or(""))
        .bind(date.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A run's items in file order, optionally of one outcome.
    pub async fn recon_items(&self, run_id: &str, outcome: Option<&str>) -> Result<Vec<ItemRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ITEM_COLS} FROM recon_items WHERE run_id = $1 AND ($2 = '' OR outcome = $2) ORDER BY idx"
        ))
        .bind(run_id)
        .bind(outcome.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?)
    }
}
