//! What a bank statement of an agency account is matched against (its payments, the
//! gateways' settlement batches, manual refunds), and the write of a statement run.

use super::recon::{RunRow, ITEM_COLS, ITEM_EXTRA};
use super::reports::RefundInfo;
use super::types::Millis;
use super::{Result, Store, Tx};
use crate::domain::ids::new_id;
use crate::domain::statement::Direction;
use crate::domain::stmt_match::{BatchLine, Item, Payment};
use std::collections::HashSet;

/// An active agency account a statement source names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementAccount {
    pub id: String,
    pub agency_code: String,
    pub account_number: String,
}

/// How many parameters one `IN (...)` list holds.
const CHUNK: usize = 500;

/// `$from, $from+1, ...` for `n` parameters.
fn marks(from: usize, n: usize) -> String {
    (0..n).map(|i| format!("${}", from + i)).collect::<Vec<_>>().join(",")
}

/// The lines of a payment routed to account `$1`.
/// The payment's lines routed to account $1, summed (0: the money belongs elsewhere).
macro_rules! lines_routed_here {
    () => {
        "COALESCE((SELECT SUM(l.amount) FROM payment_lines l WHERE l.payment_id = p.id AND l.account_id = $1), 0)"
    };
}

const ROUTED: &str = concat!("CAST(", lines_routed_here!(), " AS BIGINT)");

/// What attempt `a` brought to account $1: a leg of a transfer to several accounts, its own
/// amount in its own account (0 elsewhere: another account's leg is neither expected here
/// nor matched by a credit naming it); any other, its payment's lines routed there.
const ATTEMPT_ROUTED: &str = concat!(
    "CAST(CASE WHEN a.leg_account_id IS NOT NULL THEN (CASE WHEN a.leg_account_id = $1 THEN a.amount ELSE 0 END) \
     ELSE ",
    lines_routed_here!(),
    " END AS BIGINT)"
);

type PaymentRaw = (String, String, String, String, String, String, String, i64);
/// A settlement item as a batch is summed from: (kind, amount, fee, outcome, our status,
/// payment amount, routed here, payment, our refund).
type BatchRaw = (String, Option<i64>, i64, String, Option<String>, i64, i64, String, Option<String>);

/// A refund a statement debit may be the payout of, whole: its share routed to the account
/// is the service's to compute, by the one rule of a refund's share.
#[derive(Debug, Clone)]
pub struct StatementRefund {
    pub refund: RefundInfo,
    pub reference: String,
    pub bank_reference: Option<String>,
    pub status: String,
}

impl Store {
    /// The active accounts with this account number (one, when the configuration is sound).
    pub async fn accounts_by_number(&self, number: &str) -> Result<Vec<StatementAccount>> {
        let rows: Vec<(String, String, String)> = on_pool!(self, |db| {
            sqlx::query_as(
                "SELECT id, agency_code, account_number FROM accounts WHERE account_number = $1 AND active ORDER BY id",
            )
            .bind(number)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, agency_code, account_number)| StatementAccount { id, agency_code, account_number })
            .collect())
    }

    /// Attempts a statement of `account_id` may prove: the direct transfers (`direct`
    /// connectors) that succeeded in `[start, end)` with lines routed here (`expected`; a
    /// second credit recorded as its own attempt is not: the statement shows it as a
    /// `duplicate` of the attempt whose reference it carried), and
    /// any attempt whose reference the statement names whole or as a cut-short prefix.
    pub async fn statement_payments(
        &self,
        account_id: &str,
        direct: &[String],
        start: i64,
        end: i64,
        whole: &[String],
        prefixes: &[String],
    ) -> Result<Vec<Payment>> {
        let cols = format!(
            "SELECT a.reference, a.payment_id, a.id, a.connector_id, a.status, p.status, p.currency, {ATTEMPT_ROUTED} \
             FROM attempts a JOIN payments p ON p.id = a.payment_id"
        );
        let mut out: Vec<Payment> = Vec::new();
        let mut seen = HashSet::new();
        let mut push = |rows: Vec<PaymentRaw>, expected: bool, out: &mut Vec<Payment>| {
            for (reference, payment_id, attempt_id, connector_id, attempt_status, payment_status, currency, routed) in
                rows
            {
                if seen.insert(attempt_id.clone()) {
                    out.push(Payment {
                        reference,
                        payment_id,
                        attempt_id,
                        connector_id,
                        attempt_status,
                        payment_status,
                        currency,
                        routed,
                        expected,
                    });
                }
            }
        };
        if !direct.is_empty() {
            let sql = format!(
                "{cols} WHERE a.status = 'succeeded' AND a.updated_at >= $2 AND a.updated_at < $3 \
                 AND a.second_of IS NULL AND a.connector_id IN ({}) AND EXISTS (SELECT 1 FROM payment_lines l \
                 WHERE l.payment_id = p.id AND l.account_id = $1) ORDER BY a.reference",
                marks(4, direct.len())
            );
            push(
                on_pool!(self, |db| {
                    let mut q =
                        sqlx::query_as::<_, PaymentRaw>(&sql).bind(account_id).bind(Millis(start)).bind(Millis(end));
                    for d in direct {
                        q = q.bind(d);
                    }
                    q.fetch_all(db).await
                })?,
                true,
                &mut out,
            );
        }
        for chunk in whole.chunks(CHUNK) {
            let sql = format!("{cols} WHERE a.reference IN ({})", marks(2, chunk.len()));
            push(
                on_pool!(self, |db| {
                    let mut q = sqlx::query_as::<_, PaymentRaw>(&sql).bind(account_id);
                    for r in chunk {
                        q = q.bind(r);
                    }
                    q.fetch_all(db).await
                })?,
                false,
                &mut out,
            );
        }
        for prefix in prefixes {
            // A prefix is `FG` + Crockford base32: no LIKE wildcard can be in it.
            let sql = format!("{cols} WHERE a.reference LIKE $2 ORDER BY a.reference LIMIT 20");
            let rows = on_pool!(self, |db| sqlx::query_as::<_, PaymentRaw>(&sql)
                .bind(account_id)
                .bind(format!("{prefix}%"))
                .fetch_all(db)
                .await)?;
            push(rows, false, &mut out);
        }
        Ok(out)
    }

    /// The file lines of the latest settlement run of each (connector, day) for `days`
    /// (connectors in `skip` left out), as batches to this account are summed from:
    /// (connector, day, line).
    pub async fn settlement_batch_lines(
        &self,
        account_id: &str,
        days: &[String],
        skip: &[String],
    ) -> Result<Vec<(String, String, BatchLine)>> {
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let runs: Vec<(String, String, String)> = {
            let sql = format!(
                "SELECT r.id, r.source, r.business_date FROM recon_runs r WHERE r.kind = 'settlement' \
                 AND r.business_date IN ({}) AND NOT EXISTS (SELECT 1 FROM recon_runs n WHERE n.kind = 'settlement' \
                 AND n.source = r.source AND n.business_date = r.business_date \
                 AND (n.created_at > r.created_at OR (n.created_at = r.created_at AND n.version > r.version))) \
                 ORDER BY r.source, r.business_date",
                marks(1, days.len())
            );
            on_pool!(self, |db| {
                let mut q = sqlx::query_as(&sql);
                for d in days {
                    q = q.bind(d);
                }
                q.fetch_all(db).await
            })?
        };
        let mut out = Vec::new();
        for (run_id, source, day) in runs.into_iter().filter(|(_, s, _)| !skip.contains(s)) {
            let rows: Vec<BatchRaw> = on_pool!(self, |db| sqlx::query_as(&format!(
                "SELECT i.kind, i.amount_file, COALESCE(i.fee, 0), i.outcome, i.status_feegate, p.amount, {ROUTED}, \
                 i.payment_id, i.refund_id FROM recon_items i JOIN payments p ON p.id = i.payment_id \
                 WHERE i.run_id = $2 AND i.line IS NOT NULL"
            ))
            .bind(account_id)
            .bind(&run_id)
            .fetch_all(db)
            .await)?;
            for (kind, amount, fee, outcome, status_feegate, payment_amount, routed, payment_id, refund_id) in rows {
                if routed == 0 {
                    continue;
                }
                // The item keeps our status; a status mismatch means the file said the opposite.
                let ours = status_feegate.as_deref() == Some("succeeded");
                let succeeded = if outcome == "status_mismatch" { !ours } else { ours };
                let line = BatchLine {
                    refund: kind == "refund",
                    amount: amount.unwrap_or(0),
                    fee,
                    succeeded,
                    payment_amount,
                    routed,
                    payment_id,
                    refund_id: refund_id.filter(|_| kind == "refund"),
                    routed_refund: None,
                };
                out.push((source.clone(), day.clone(), line));
            }
        }
        Ok(out)
    }

    /// Batch keys (`source@day`) already credited on this account's statements of other days.
    pub async fn credited_batches(&self, account_id: &str, business_date: &str) -> Result<HashSet<String>> {
        let rows: Vec<(String,)> = on_pool!(self, |db| sqlx::query_as(
            "SELECT i.reference FROM recon_items i JOIN recon_runs r ON r.id = i.run_id \
             WHERE r.kind = 'statement' AND r.account_id = $1 AND r.business_date <> $2 \
             AND i.batch_source IS NOT NULL AND i.line IS NOT NULL AND i.outcome IN ('matched', 'amount_mismatch')",
        )
        .bind(account_id)
        .bind(business_date)
        .fetch_all(db)
        .await)?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }

    /// Refunds of direct transfers to this account, paid out by hand or waiting to be, that
    /// changed since `since` (unix ms): what a debit may be the payout of. Whole refunds; see
    /// [`StatementRefund`].
    pub async fn statement_refunds(
        &self,
        account_id: &str,
        direct: &[String],
        since: i64,
    ) -> Result<Vec<StatementRefund>> {
        if direct.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT f.id, f.payment_id, f.connector_id, f.amount, f.updated_at, f.duplicate_attempt_id, \
             f.reference, f.bank_reference, f.status, p.amount, {ROUTED}, \
             (SELECT da.leg_account_id FROM attempts da WHERE da.id = f.duplicate_attempt_id) \
             FROM refunds f JOIN payments p ON p.id = f.payment_id \
             WHERE f.status IN ('succeeded', 'pending_manual') AND f.updated_at >= $2 AND f.connector_id IN ({}) \
             ORDER BY f.created_at",
            marks(3, direct.len())
        );
        type Raw = (
            String,
            String,
            String,
            i64,
            Millis,
            Option<String>,
            String,
            Option<String>,
            String,
            i64,
            i64,
            Option<String>,
        );
        Ok(on_pool!(self, |db| {
            let mut q = sqlx::query_as::<_, Raw>(&sql).bind(account_id).bind(Millis(since));
            for d in direct {
                q = q.bind(d);
            }
            q.fetch_all(db).await
        })?
        .into_iter()
        // A refund of a leg of a transfer to several accounts is paid out of that leg's account.
        .filter(|r| r.10 > 0 && r.9 > 0 && r.11.as_ref().is_none_or(|a| a == account_id))
        .map(
            |(
                id,
                payment_id,
                connector_id,
                amount,
                updated_at,
                duplicate_attempt_id,
                reference,
                bank_reference,
                status,
                _,
                _,
                duplicate_account_id,
            )| {
                StatementRefund {
                    refund: RefundInfo {
                        id,
                        payment_id,
                        connector_id,
                        amount,
                        updated_at: updated_at.0,
                        duplicate_attempt_id,
                        duplicate_account_id,
                    },
                    reference,
                    bank_reference,
                    status,
                }
            },
        )
        .collect())
    }

    /// The pay items of a settlement run whose file line succeeded while feegate's attempt
    /// did not: (item id, attempt id, line, amount in the file). Read inside the run's `tx`.
    pub async fn settlement_corrections(
        &self,
        tx: &mut Tx,
        run_id: &str,
    ) -> Result<Vec<(String, String, Option<i64>, Option<i64>)>> {
        Ok(on_tx!(tx, |db| sqlx::query_as(
            "SELECT id, attempt_id, line, amount_file FROM recon_items WHERE run_id = $1 AND kind = 'pay' \
             AND outcome = 'status_mismatch' AND attempt_id IS NOT NULL \
             AND (status_feegate IS NULL OR status_feegate <> 'succeeded') ORDER BY idx",
        )
        .bind(run_id)
        .fetch_all(db)
        .await)?)
    }

    /// Writes a statement run and its items; gives the items' ids in order. `Conflict` if
    /// that version of the run exists.
    pub async fn insert_statement_run(&self, tx: &mut Tx, run: &RunRow, items: &[Item]) -> Result<Vec<String>> {
        self.insert_run_row(tx, run).await?;
        let sql = format!(
            "INSERT INTO recon_items ({ITEM_COLS}, {ITEM_EXTRA}) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
        );
        let mut ids = Vec::with_capacity(items.len());
        for (idx, i) in items.iter().enumerate() {
            let id = new_id("rci");
            let kind = match i.direction {
                Direction::Credit => "credit",
                Direction::Debit => "debit",
            };
            on_tx!(tx, |db| sqlx::query(&sql)
                .bind(&id)
                .bind(&run.id)
                .bind(idx as i64)
                .bind(i.line)
                .bind(&i.reference)
                .bind(&i.bank_ref)
                .bind(kind)
                .bind(i.amount_file)
                .bind(i.amount_feegate)
                .bind(i.line.map(|_| "booked"))
                .bind(&i.status_feegate)
                .bind(i.outcome.as_str())
                .bind(&i.reason)
                .bind(&i.payment_id)
                .bind(&i.attempt_id)
                .bind(&i.refund_id)
                .bind(&i.content)
                .bind(i.booking_date.map(|d| d.to_string()))
                .bind(&i.batch_source)
                .bind(None::<i64>)
                .bind(&i.currency)
                .execute(db)
                .await
                .map(|r| r.rows_affected()))?;
            ids.push(id);
        }
        Ok(ids)
    }
}
