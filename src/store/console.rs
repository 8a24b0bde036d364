//! What the finance console reads and nothing else does: refunds across payments (the
//! Refunds page), a payment's verified gateway messages, what is left to refund, the
//! reconciliation days not closed yet and the gateways whose status queries do not resolve.

use super::payments::agency_clause;
use super::types::{Millis, OptMillis};
use super::{Result, Store};
use sqlx::FromRow;

/// An attempt still open after this many status queries counts as its gateway's status
/// queries failing (the resolver asks with backoff; a payer still at the checkout is
/// queried once or twice, not three times, before the payment expires).
pub const FAILING_AFTER_QUERIES: i64 = 3;

/// The SQL condition (on `attempts` as `{a}`) of an attempt whose status queries fail:
/// left `unknown`, or still `pending` after [`FAILING_AFTER_QUERIES`] queries.
pub fn unresolved_attempt(a: &str) -> String {
    format!("({a}.status = 'unknown' OR ({a}.status = 'pending' AND {a}.queries >= {FAILING_AFTER_QUERIES}))")
}

/// A refund with the payment it returns money of.
#[derive(Debug, Clone, FromRow)]
pub struct RefundListRow {
    pub id: String,
    pub payment_id: String,
    pub connector_id: String,
    pub reference: String,
    pub amount: i64,
    pub reason: String,
    pub status: String,
    pub bank_reference: Option<String>,
    pub failure_code: Option<String>,
    pub requested_by: String,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
    #[sqlx(try_from = "Millis")]
    pub updated_at: i64,
    pub dossier_code: String,
    pub agency_code: String,
}

/// A raw gateway message as received.
#[derive(Debug, Clone, FromRow)]
pub struct CallbackRow {
    pub id: String,
    pub connector_id: String,
    #[sqlx(try_from = "Millis")]
    pub received_at: i64,
    pub method: String,
    pub query: String,
    pub body: String,
    pub reference: Option<String>,
    pub attempt_id: Option<String>,
    pub disposition: String,
}

/// Per gateway: its attempts whose status queries fail.
#[derive(Debug, Clone, FromRow)]
pub struct UnresolvedRow {
    pub connector_id: String,
    /// Attempts left `unknown` or still `pending` after the queries.
    pub unresolved: i64,
    /// Of which `unknown`.
    pub unknown: i64,
    /// The most status queries made for one of them.
    pub max_queries: i64,
    /// When the oldest of them was made.
    #[sqlx(try_from = "OptMillis")]
    pub oldest: Option<i64>,
}

impl Store {
    /// Refunds of the caller's agencies: the open ones (`pending`, `pending_manual`) oldest
    /// first, or (`open == false`) the settled ones (`succeeded`, `failed`) newest first.
    pub async fn console_refunds(
        &self,
        open: bool,
        agencies: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<RefundListRow>> {
        let (statuses, order) = if open {
            ("('pending', 'pending_manual')", "r.created_at, r.id")
        } else {
            ("('succeeded', 'failed')", "r.updated_at DESC, r.id DESC")
        };
        let sql = format!(
            "SELECT r.id, r.payment_id, r.connector_id, r.reference, r.amount, r.reason, r.status, r.bank_reference, \
             r.failure_code, r.requested_by, r.created_at, r.updated_at, p.dossier_code, p.agency_code \
             FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.status IN {statuses}{} \
             ORDER BY {order} LIMIT $1",
            agency_clause("p.agency_code", 2, agencies)
        );
        Ok(on_pool!(self, |db| {
            let mut q = sqlx::query_as::<_, RefundListRow>(&sql).bind(limit);
            for a in agencies.unwrap_or_default() {
                q = q.bind(a);
            }
            q.fetch_all(db).await
        })?)
    }

    /// The verified gateway messages about a payment's attempts (by attempt id or by
    /// reference), oldest first, at most `limit`.
    pub async fn verified_callbacks(&self, payment_id: &str, limit: i64) -> Result<Vec<CallbackRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT c.id, c.connector_id, c.received_at, c.method, c.query, c.body, c.reference, c.attempt_id, \
             c.disposition FROM callbacks c WHERE c.verified \
             AND (c.attempt_id IN (SELECT id FROM attempts WHERE payment_id = $1) \
             OR c.reference IN (SELECT reference FROM attempts WHERE payment_id = $1)) \
             ORDER BY c.received_at, c.id LIMIT $2",
        )
        .bind(payment_id)
        .bind(limit)
        .fetch_all(db)
        .await)?)
    }

    /// What is reserved by the refunds of a payment's own collection (not failed).
    pub async fn reserved_refunds(&self, payment_id: &str) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, |db| sqlx::query_as("SELECT reserved_refunds FROM payments WHERE id = $1")
            .bind(payment_id)
            .fetch_one(db)
            .await)?;
        Ok(n)
    }

    /// Days with a reconciliation run and no close, newest first: (source, business date).
    pub async fn unclosed_days(&self, limit: i64) -> Result<Vec<(String, String)>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT r.source, r.business_date FROM recon_runs r WHERE NOT EXISTS \
             (SELECT 1 FROM recon_days d WHERE d.source = r.source AND d.business_date = r.business_date) \
             GROUP BY r.source, r.business_date ORDER BY r.business_date DESC, r.source LIMIT $1",
        )
        .bind(limit)
        .fetch_all(db)
        .await)?)
    }

    /// Per gateway, the attempts (of the caller's agencies' payments) whose status queries
    /// fail ([`unresolved_attempt`]); gateways with none are left out.
    pub async fn unresolved_attempts(&self, agencies: Option<&[String]>) -> Result<Vec<UnresolvedRow>> {
        let sql = format!(
            "SELECT a.connector_id, COUNT(*) AS unresolved, \
             CAST(SUM(CASE WHEN a.status = 'unknown' THEN 1 ELSE 0 END) AS BIGINT) AS unknown, \
             CAST(MAX(a.queries) AS BIGINT) AS max_queries, MIN(a.created_at) AS oldest \
             FROM attempts a JOIN payments p ON p.id = a.payment_id WHERE {}{} \
             GROUP BY a.connector_id ORDER BY a.connector_id",
            unresolved_attempt("a"),
            agency_clause("p.agency_code", 1, agencies)
        );
        Ok(on_pool!(self, |db| {
            let mut q = sqlx::query_as::<_, UnresolvedRow>(&sql);
            for a in agencies.unwrap_or_default() {
                q = q.bind(a);
            }
            q.fetch_all(db).await
        })?)
    }
}
