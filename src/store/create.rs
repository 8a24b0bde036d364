//! A new payment written in one call: its idempotency key claimed with the final answer, the
//! payment, its lines, its `payment.created` event and the first entry of its audit chain.
//! On PostgreSQL that is one data-modifying statement (no BEGIN, no COMMIT: a statement is
//! its own transaction); on SQLite, where a statement costs no round trip, a transaction of
//! the same writes on the writer.

use super::audit::{entry_hash, GENESIS};
use super::idempotency::Claim;
use super::payments::{bind_payment, LineRow, PaymentRow, PAYMENT_COLS};
use super::types::Millis;
use super::{count_statement, now_ms, Pool, Result, Store};
use crate::domain::ids::new_id;
use crate::domain::payment::PaymentStatus;

/// An idempotency key claimed together with the answer of the request that claims it.
pub struct KeyClaim<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    pub request_hash: &'a str,
    pub status: u16,
    pub response: &'a str,
}

/// Everything a create writes, known before the write.
pub struct PaymentWrite<'a> {
    pub payment: &'a PaymentRow,
    pub lines: &'a [LineRow],
    pub claim: Option<KeyClaim<'a>>,
    /// Who created it, and the payload of its first audit entry.
    pub actor: &'a str,
    pub audit: &'a serde_json::Value,
}

const EVENT: &str = "payment.created";

impl Store {
    /// Writes a new payment. `Claim::Owned`: it was written. `Claim::Used`: its key had
    /// been used, and nothing was written.
    pub async fn create_payment(&self, n: &PaymentWrite<'_>) -> Result<Claim> {
        match &self.pool {
            Pool::Postgres(pg) => self.create_on_postgres(pg, n).await,
            Pool::Sqlite(..) => self.create_in_transaction(n).await,
        }
    }

    async fn create_in_transaction(&self, n: &PaymentWrite<'_>) -> Result<Claim> {
        let mut tx = self.begin().await?;
        if let Some(c) = &n.claim {
            let claim =
                self.claim_idempotency_with(&mut tx, c.scope, c.key, c.request_hash, c.status, c.response).await?;
            if let Claim::Used { .. } = claim {
                tx.rollback().await?;
                return Ok(claim);
            }
        }
        let id = &n.payment.id;
        self.insert_payment(&mut tx, n.payment, n.lines).await?;
        let data = serde_json::json!({});
        self.insert_event(&mut tx, id, EVENT, None, Some(PaymentStatus::Created), &data, false).await?;
        // The payment is new in this transaction: its chain starts without a read or a lock.
        self.audit_new_scope(&mut tx, id, EVENT, n.actor, n.audit).await?;
        tx.commit().await?;
        Ok(Claim::Owned)
    }

    async fn create_on_postgres(&self, pg: &sqlx::PgPool, n: &PaymentWrite<'_>) -> Result<Claim> {
        let p = n.payment;
        let payload = n.audit.to_string();
        let audit_at = now_ms();
        let hash = entry_hash(GENESIS, &p.id, 1, EVENT, n.actor, &payload, audit_at);
        let sql = postgres_sql(n.claim.is_some());
        let mut q = bind_payment!(sqlx::query_scalar::<_, i64>(&sql), p)
            .bind(n.lines.iter().map(|l| l.idx).collect::<Vec<_>>())
            .bind(n.lines.iter().map(|l| l.kind.as_str()).collect::<Vec<_>>())
            .bind(n.lines.iter().map(|l| l.code.as_str()).collect::<Vec<_>>())
            .bind(n.lines.iter().map(|l| l.description.as_str()).collect::<Vec<_>>())
            .bind(n.lines.iter().map(|l| l.amount).collect::<Vec<_>>())
            .bind(n.lines.iter().map(|l| l.account_id.as_str()).collect::<Vec<_>>())
            .bind(new_id("evt"))
            .bind(PaymentStatus::Created.as_str())
            .bind(new_id("aud"))
            .bind(n.actor)
            .bind(&payload)
            .bind(Millis(audit_at))
            .bind(GENESIS)
            .bind(&hash);
        if let Some(c) = &n.claim {
            q = q.bind(c.scope).bind(c.key).bind(c.request_hash).bind(i64::from(c.status)).bind(c.response);
        }
        count_statement();
        let written = q.fetch_one(pg).await?;
        if written == 1 {
            return Ok(Claim::Owned);
        }
        // The key was used before: its stored answer (the claim that won has committed, or
        // the conflict would still be waiting on it).
        let Some(c) = &n.claim else {
            return Err(anyhow::anyhow!("a create without an idempotency key wrote no payment").into());
        };
        count_statement();
        let (request_hash, status, response): (String, i64, String) =
            sqlx::query_as("SELECT request_hash, status, response FROM idempotency WHERE scope = $1 AND idem_key = $2")
                .bind(c.scope)
                .bind(c.key)
                .fetch_one(pg)
                .await?;
        Ok(Claim::Used { request_hash, status: status as u16, response })
    }
}

/// The one statement of a create on PostgreSQL. The sibling inserts all read `p`, so with
/// a key nothing is written when the claim finds the key taken; foreign keys are checked at
/// the end of the statement, when the payment exists.
fn postgres_sql(with_claim: bool) -> String {
    let claim = if with_claim {
        "c AS (INSERT INTO idempotency (scope, idem_key, request_hash, status, response, created_at) \
         VALUES ($34, $35, $36, $37, $38, $16) ON CONFLICT (scope, idem_key) DO NOTHING RETURNING 1),"
    } else {
        "c AS (SELECT 1),"
    };
    format!(
        "WITH {claim} \
         p AS (INSERT INTO payments ({PAYMENT_COLS}) \
               SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19 \
               WHERE EXISTS (SELECT 1 FROM c) RETURNING id), \
         l AS (INSERT INTO payment_lines (payment_id, idx, kind, code, description, amount, account_id) \
               SELECT p.id, u.idx, u.kind, u.code, u.description, u.amount, u.account_id FROM p, \
               unnest($20::BIGINT[], $21::TEXT[], $22::TEXT[], $23::TEXT[], $24::BIGINT[], $25::TEXT[]) \
               AS u(idx, kind, code, description, amount, account_id)), \
         e AS (INSERT INTO events (id, payment_id, type, status_from, status_to, data, webhook, delivery_status, \
               created_at) SELECT $26, p.id, '{EVENT}', NULL, $27, '{{}}', FALSE, NULL, $16 FROM p), \
         a AS (INSERT INTO audit_log (id, scope, seq, kind, actor, payload, created_at, prev_hash, hash) \
               SELECT $28, p.id, 1, '{EVENT}', $29, $30, $31, $32, $33 FROM p) \
         SELECT CAST(COUNT(*) AS BIGINT) FROM p"
    )
}
