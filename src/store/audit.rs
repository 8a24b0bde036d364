//! The audit journal: every transition, callback and staff action, hash-chained per
//! scope (a payment's id, `admin`, or `callbacks:{connector}` for messages that match no
//! payment). `hash = sha256(prev_hash || "|" || entry)`, so altering, removing or
//! reordering a row breaks its chain. Chains per scope instead of one global chain: two
//! payments never wait on each other to write their journal.

use super::types::Millis;
#[cfg(doc)]
use super::StoreError;
use super::{now_ms, Backend, Result, Store, Tx};
use sha2::{Digest, Sha256};
use sqlx::FromRow;

/// The hash before the first entry of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: String,
    pub scope: String,
    pub seq: i64,
    pub kind: String,
    pub actor: String,
    pub payload: String,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry given the previous one.
pub fn entry_hash(
    prev: &str,
    scope: &str,
    seq: i64,
    kind: &str,
    actor: &str,
    payload: &str,
    created_at: i64,
) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    for part in [scope, &seq.to_string(), kind, actor, payload, &created_at.to_string()] {
        h.update(b"|");
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The first entry that does not fit its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub id: String,
    pub scope: String,
    pub seq: i64,
    pub reason: String,
}

impl Store {
    /// Appends an entry to `scope`'s chain inside `tx`.
    pub async fn audit(
        &self,
        tx: &mut Tx,
        scope: &str,
        kind: &str,
        actor: &str,
        payload: &serde_json::Value,
    ) -> Result<()> {
        // Serialises appends to one chain until commit; other chains are not blocked.
        self.xact_lock(tx, scope).await?;
        let last: Option<(i64, String)> = on_tx!(tx, |db| sqlx::query_as(
            "SELECT seq, hash FROM audit_log WHERE scope = $1 ORDER BY seq DESC LIMIT 1"
        )
        .bind(scope)
        .fetch_optional(db)
        .await)?;
        let (seq, prev) = match last {
            Some((s, h)) => (s + 1, h),
            None => (1, GENESIS.to_owned()),
        };
        self.insert_audit(tx, scope, seq, &prev, kind, actor, payload).await
    }

    /// Appends the first entry of a scope that is new in `tx` (a payment created in it):
    /// seq 1 after [`GENESIS`], without reading the chain head or taking its lock, since
    /// nobody else can know the scope yet. Should the scope have entries after all, the
    /// unique `(scope, seq)` constraint refuses the write ([`StoreError::Conflict`]).
    pub async fn audit_new_scope(
        &self,
        tx: &mut Tx,
        scope: &str,
        kind: &str,
        actor: &str,
        payload: &serde_json::Value,
    ) -> Result<()> {
        self.insert_audit(tx, scope, 1, GENESIS, kind, actor, payload).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_audit(
        &self,
        tx: &mut Tx,
        scope: &str,
        seq: i64,
        prev: &str,
        kind: &str,
        actor: &str,
        payload: &serde_json::Value,
    ) -> Result<()> {
        let payload = payload.to_string();
        let created_at = now_ms();
        let hash = entry_hash(prev, scope, seq, kind, actor, &payload, created_at);
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO audit_log (id, scope, seq, kind, actor, payload, created_at, prev_hash, hash) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        )
        .bind(crate::domain::ids::new_id("aud"))
        .bind(scope)
        .bind(seq)
        .bind(kind)
        .bind(actor)
        .bind(&payload)
        .bind(Millis(created_at))
        .bind(prev)
        .bind(&hash)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Entries of one scope in order.
    pub async fn audit_entries(&self, scope: &str) -> Result<Vec<AuditRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT id, scope, seq, kind, actor, payload, created_at, prev_hash, hash FROM audit_log \
             WHERE scope = $1 ORDER BY seq",
        )
        .bind(scope)
        .fetch_all(db)
        .await)?)
    }

    /// The latest entries of every scope, newest first: `limit` of them written before
    /// `before` (`(created_at, id)` of the last one seen), of `actor` when given.
    pub async fn recent_audit(
        &self,
        actor: Option<&str>,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        // With no `before`, everything up to a day ahead (any clock skew between nodes).
        let (at, id) = before.unwrap_or((now_ms() + 86_400_000, ""));
        let at = Millis(at);
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT id, scope, seq, kind, actor, payload, created_at, prev_hash, hash FROM audit_log \
             WHERE ($1 = '' OR actor = $1) AND (created_at < $2 OR (created_at = $2 AND id < $3 AND $3 <> '')) \
             ORDER BY created_at DESC, id DESC LIMIT $4",
        )
        .bind(actor.unwrap_or(""))
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(db)
        .await)?)
    }

    /// Re-computes every chain; the count of entries checked, or the first broken entry.
    pub async fn verify_audit(&self) -> Result<std::result::Result<u64, Broken>> {
        on_pool!(self, |db| {
            verify_rows(
            sqlx::query_as::<_, AuditRow>(
                "SELECT id, scope, seq, kind, actor, payload, created_at, prev_hash, hash FROM audit_log ORDER BY scope, seq",
            )
            .fetch(db)
        )
        .await
        })
    }
}

impl Store {
    /// Holds `key` until the transaction ends, so that transactions taking the same key run
    /// their checks and writes one after another. PostgreSQL only: SQLite writers already
    /// run one at a time ([`Store::begin`]).
    pub(crate) async fn xact_lock(&self, tx: &mut Tx, key: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            on_tx!(tx, |db| sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))::text")
                .bind(key)
                .execute(db)
                .await
                .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }
}

/// Walks every chain in `(scope, seq)` order: the count of entries checked, or the first
/// broken entry.
async fn verify_rows(
    rows: impl futures_lite::Stream<Item = std::result::Result<AuditRow, sqlx::Error>>,
) -> Result<std::result::Result<u64, Broken>> {
    use futures_lite::StreamExt;
    let mut rows = std::pin::pin!(rows);
    let mut scope = String::new();
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 1;
    let mut n = 0u64;
    while let Some(row) = rows.next().await {
        let r = row?;
        if r.scope != scope {
            scope = r.scope.clone();
            prev = GENESIS.to_owned();
            expected_seq = 1;
        }
        let broken =
            |reason: &str| Broken { id: r.id.clone(), scope: r.scope.clone(), seq: r.seq, reason: reason.into() };
        if r.seq != expected_seq {
            return Ok(Err(broken(&format!(
                "sequence {} where {expected_seq} was expected (an entry is missing)",
                r.seq
            ))));
        }
        if r.prev_hash != prev {
            return Ok(Err(broken("prev_hash does not match the previous entry")));
        }
        let h = entry_hash(&prev, &r.scope, r.seq, &r.kind, &r.actor, &r.payload, r.created_at);
        if h != r.hash {
            return Ok(Err(broken("content does not match its hash (the row was altered)")));
        }
        prev = r.hash.clone();
        expected_seq += 1;
        n += 1;
    }
    Ok(Ok(n))
}
