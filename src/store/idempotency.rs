//! Idempotency keys: claimed with `INSERT ... ON CONFLICT DO NOTHING` in the same
//! transaction as the work, so two racing requests with one key do the work once.

use super::types::Millis;
use super::{now_ms, Result, Store, Tx};

/// What a claim found.
pub enum Claim {
    /// This transaction owns the key: do the work, then [`Store::save_idempotent`].
    Owned,
    /// The key was used before: (request hash, HTTP status, response body).
    Used { request_hash: String, status: u16, response: String },
}

impl Store {
    /// Claims `(scope, key)` inside `tx`. On `Used`, the caller rolls back and answers
    /// the saved response (or 409 if the request differs).
    pub async fn claim_idempotency(&self, tx: &mut Tx, scope: &str, key: &str, request_hash: &str) -> Result<Claim> {
        self.claim_idempotency_with(tx, scope, key, request_hash, 0, "").await
    }

    /// Claims `(scope, key)` inside `tx` together with its final answer, for a request
    /// whose answer is known before its writes: one statement, no later
    /// [`Store::save_idempotent`]. Rolled back with the work if the work fails.
    pub async fn claim_idempotency_with(
        &self,
        tx: &mut Tx,
        scope: &str,
        key: &str,
        request_hash: &str,
        status: u16,
        response: &str,
    ) -> Result<Claim> {
        let r = on_tx!(tx, |db| sqlx::query(
            "INSERT INTO idempotency (scope, idem_key, request_hash, status, response, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, idem_key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(status as i64)
        .bind(response)
        .bind(Millis(now_ms()))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        if r == 1 {
            return Ok(Claim::Owned);
        }
        let (request_hash, status, response): (String, i64, String) = on_tx!(tx, |db| sqlx::query_as(
            "SELECT request_hash, status, response FROM idempotency WHERE scope = $1 AND idem_key = $2"
        )
        .bind(scope)
        .bind(key)
        .fetch_one(db)
        .await)?;
        Ok(Claim::Used { request_hash, status: status as u16, response })
    }

    /// Saves the response of an owned key (same transaction as the work).
    pub async fn save_idempotent(
        &self,
        tx: &mut Tx,
        scope: &str,
        key: &str,
        status: u16,
        response: &str,
    ) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(
            "UPDATE idempotency SET status = $1, response = $2 WHERE scope = $3 AND idem_key = $4"
        )
        .bind(status as i64)
        .bind(response)
        .bind(scope)
        .bind(key)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
