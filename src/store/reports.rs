//! The reads behind the settlement and monthly reports. Sums over payment lines are done
//! by the database; what needs a split across accounts (refunds, settled amounts that
//! differ from the payment) is read row by row and split by the service.

use super::cases::LATEST_RUN;
use super::types::Millis;
use super::{Result, Store};
use sqlx::FromRow;

/// An agency account with its agency's name.
#[derive(Debug, Clone, FromRow)]
pub struct AccountInfo {
    pub id: String,
    pub agency_code: String,
    pub agency_name: String,
    pub bank_name: String,
    pub account_number: String,
    pub account_name: String,
}

/// A line of a payment, with what the reports group by.
#[derive(Debug, Clone, FromRow)]
pub struct LineInfo {
    pub payment_id: String,
    pub idx: i64,
    pub kind: String,
    pub amount: i64,
    pub account_id: String,
    pub agency_code: String,
    pub procedure_code: String,
}

/// A succeeded refund.
#[derive(Debug, Clone, FromRow)]
pub struct RefundInfo {
    pub id: String,
    pub payment_id: String,
    pub connector_id: String,
    pub amount: i64,
    #[sqlx(try_from = "Millis")]
    pub updated_at: i64,
    /// The duplicate collection (attempt) the refund returns; `None`: the payment's own.
    pub duplicate_attempt_id: Option<String>,
    /// When that duplicate is a leg of a transfer to several accounts: the one account it
    /// paid into (its refund comes out of that account's lines alone).
    pub duplicate_account_id: Option<String>,
}

/// The column of [`RefundInfo::duplicate_account_id`] for a query over `refunds` as `rf`.
pub(crate) const DUPLICATE_ACCOUNT: &str =
    "(SELECT da.leg_account_id FROM attempts da WHERE da.id = rf.duplicate_attempt_id) AS duplicate_account_id";

/// A settled line of a settlement file that is not a whole payment of ours.
#[derive(Debug, Clone, FromRow)]
pub struct SettledRow {
    pub source: String,
    pub kind: String,
    pub amount: i64,
    pub payment_id: String,
    pub refund_id: Option<String>,
}

/// One group of the monthly report's paid side.
#[derive(Debug, Clone, FromRow)]
pub struct MonthGroup {
    pub agency_code: String,
    pub kind: String,
    pub procedure_code: String,
    pub connector: String,
    pub payments: i64,
    pub amount: i64,
}

/// Payments that count as paid: succeeded, even if refunded since.
const PAID: &str = "p.status IN ('succeeded', 'partially_refunded', 'refunded') AND p.paid_at >= $1 AND p.paid_at < $2";

/// The connector of a payment's (first) succeeded attempt.
const PAID_CONNECTOR: &str = "COALESCE((SELECT a.connector_id FROM attempts a WHERE a.payment_id = p.id \
    AND a.status = 'succeeded' ORDER BY a.updated_at, a.id LIMIT 1), '')";

/// A settlement file line the gateway reports as settled: it is in the file, belongs to a
/// payment of ours, and the file says it succeeded (a status mismatch against our success
/// means the file says it failed; against anything else, that it succeeded).
const SETTLED: &str = "r.kind = 'settlement' AND r.business_date = $1 AND i.line IS NOT NULL \
    AND i.amount_file IS NOT NULL AND i.payment_id IS NOT NULL \
    AND ((i.outcome IN ('matched', 'amount_mismatch', 'duplicate') AND i.status_feegate = 'succeeded') \
      OR (i.outcome = 'status_mismatch' AND COALESCE(i.status_feegate, '') <> 'succeeded'))";

/// How many ids one `IN (...)` list holds.
const CHUNK: usize = 500;

impl Store {
    /// Every account with its agency's name, optionally of one agency.
    pub async fn report_accounts(&self, agency_code: Option<&str>) -> Result<Vec<AccountInfo>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT a.id, a.agency_code, g.name AS agency_name, a.bank_name, a.account_number, a.account_name \
             FROM accounts a JOIN agencies g ON g.code = a.agency_code WHERE ($1 = '' OR a.agency_code = $1) \
             ORDER BY a.agency_code, a.id",
        )
        .bind(agency_code.unwrap_or(""))
        .fetch_all(db)
        .await)?)
    }

    /// Agencies' names by code.
    pub async fn agency_names(&self) -> Result<Vec<(String, String)>> {
        Ok(on_pool!(self, |db| sqlx::query_as("SELECT code, name FROM agencies").fetch_all(db).await)?)
    }

    /// Per account, the lines of payments paid in `[start, end)`.
    pub async fn paid_by_account(&self, start: i64, end: i64) -> Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT l.account_id, CAST(SUM(l.amount) AS BIGINT) FROM payments p \
             JOIN payment_lines l ON l.payment_id = p.id WHERE {PAID} GROUP BY l.account_id"
        ))
        .bind(Millis(start))
        .bind(Millis(end))
        .fetch_all(db)
        .await)?)
    }

    /// Per agency, line kind, procedure and connector: the payments paid in `[start, end)`
    /// (how many have a line of that kind) and the sum of those lines.
    pub async fn paid_groups(&self, start: i64, end: i64) -> Result<Vec<MonthGroup>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT x.agency_code, x.kind, x.procedure_code, x.connector, \
             CAST(COUNT(DISTINCT x.payment_id) AS BIGINT) AS payments, CAST(SUM(x.amount) AS BIGINT) AS amount \
             FROM (SELECT p.id AS payment_id, p.agency_code, p.procedure_code, l.kind, l.amount, \
                   {PAID_CONNECTOR} AS connector \
                   FROM payments p JOIN payment_lines l ON l.payment_id = p.id WHERE {PAID}) x \
             GROUP BY x.agency_code, x.kind, x.procedure_code, x.connector"
        ))
        .bind(Millis(start))
        .bind(Millis(end))
        .fetch_all(db)
        .await)?)
    }

    /// Refunds that succeeded in `[start, end)`.
    pub async fn refunds_succeeded(&self, start: i64, end: i64) -> Result<Vec<RefundInfo>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT rf.id, rf.payment_id, rf.connector_id, rf.amount, rf.updated_at, rf.duplicate_attempt_id, \
             {DUPLICATE_ACCOUNT} FROM refunds rf WHERE rf.status = 'succeeded' AND rf.updated_at >= $1 \
             AND rf.updated_at < $2"
        ))
        .bind(Millis(start))
        .bind(Millis(end))
        .fetch_all(db)
        .await)?)
    }

    /// Every succeeded refund of these payments.
    pub async fn refunds_of(&self, payment_ids: &[String]) -> Result<Vec<RefundInfo>> {
        let mut out = Vec::new();
        for chunk in payment_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT rf.id, rf.payment_id, rf.connector_id, rf.amount, rf.updated_at, rf.duplicate_attempt_id, \
                 {DUPLICATE_ACCOUNT} FROM refunds rf WHERE rf.status = 'succeeded' AND rf.payment_id IN ({})",
                marks(chunk.len())
            );
            out.extend(on_pool!(self, |db| {
                let mut q = sqlx::query_as::<_, RefundInfo>(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(db).await
            })?);
        }
        Ok(out)
    }

    /// The lines of these payments, in line order.
    pub async fn lines_of(&self, payment_ids: &[String]) -> Result<Vec<LineInfo>> {
        let mut out = Vec::new();
        for chunk in payment_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT l.payment_id, l.idx, l.kind, l.amount, l.account_id, p.agency_code, p.procedure_code \
                 FROM payment_lines l JOIN payments p ON p.id = l.payment_id WHERE l.payment_id IN ({}) \
                 ORDER BY l.payment_id, l.idx",
                marks(chunk.len())
            );
            out.extend(on_pool!(self, |db| {
                let mut q = sqlx::query_as::<_, LineInfo>(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(db).await
            })?);
        }
        Ok(out)
    }

    /// Per source and account, the pay lines of the latest settlement runs of `date` that
    /// settle a whole payment of ours (the file's amount is the payment's): its lines' sums.
    pub async fn settled_whole(&self, date: &str) -> Result<Vec<(String, String, i64)>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT r.source, l.account_id, CAST(SUM(l.amount) AS BIGINT) FROM recon_items i \
             JOIN recon_runs r ON r.id = i.run_id JOIN payments p ON p.id = i.payment_id \
             JOIN payment_lines l ON l.payment_id = p.id \
             WHERE {SETTLED} AND {LATEST_RUN} AND i.kind = 'pay' AND i.amount_file = p.amount \
             GROUP BY r.source, l.account_id"
        ))
        .bind(date)
        .fetch_all(db)
        .await)?)
    }

    /// The other settled lines of the latest settlement runs of `date`: refunds, and pays
    /// whose amount is not the payment's.
    pub async fn settled_parts(&self, date: &str) -> Result<Vec<SettledRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT r.source, i.kind, i.amount_file AS amount, i.payment_id, i.refund_id FROM recon_items i \
             JOIN recon_runs r ON r.id = i.run_id JOIN payments p ON p.id = i.payment_id \
             WHERE {SETTLED} AND {LATEST_RUN} AND NOT (i.kind = 'pay' AND i.amount_file = p.amount) \
             ORDER BY r.source, i.idx"
        ))
        .bind(date)
        .fetch_all(db)
        .await)?)
    }

    /// Which gateways have a settlement run for `date`.
    pub async fn settlement_sources(&self, date: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(self, |db| {
            sqlx::query_as(
            "SELECT DISTINCT source FROM recon_runs WHERE kind = 'settlement' AND business_date = $1 ORDER BY source",
        )
        .bind(date)
        .fetch_all(db)
        .await
        })?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Per agency account, the credits and debits of the latest statement runs of `date`:
    /// (account id, item kind, sum).
    pub async fn statement_sums(&self, date: &str) -> Result<Vec<(String, String, i64)>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT r.account_id, i.kind, CAST(SUM(i.amount_file) AS BIGINT) FROM recon_items i \
             JOIN recon_runs r ON r.id = i.run_id \
             WHERE r.kind = 'statement' AND r.business_date = $1 AND r.account_id IS NOT NULL \
             AND i.line IS NOT NULL AND i.amount_file IS NOT NULL AND i.kind IN ('credit', 'debit') AND {LATEST_RUN} \
             GROUP BY r.account_id, i.kind"
        ))
        .bind(date)
        .fetch_all(db)
        .await)?)
    }
}

fn marks(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(",")
}
