//! Payments, lines, attempts, events and raw callbacks.

use super::types::{Millis, OptMillis};
use super::{now_ms, Result, Store, Tx};
use crate::domain::payment::{AttemptStatus, PaymentStatus};
use sqlx::FromRow;

/// A payment row.
#[derive(Debug, Clone, FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub portal_id: String,
    pub agency_code: String,
    pub dossier_code: String,
    pub procedure_code: String,
    pub description: String,
    pub currency: String,
    pub amount: i64,
    pub refunded_amount: i64,
    pub status: PaymentStatus,
    pub payer: String,
    pub return_url: String,
    pub metadata: String,
    pub review_reason: Option<String>,
    #[sqlx(try_from = "OptMillis")]
    pub review_opened_at: Option<i64>,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
    #[sqlx(try_from = "Millis")]
    pub updated_at: i64,
    #[sqlx(try_from = "Millis")]
    pub expires_at: i64,
    #[sqlx(try_from = "OptMillis")]
    pub paid_at: Option<i64>,
}

impl PaymentRow {
    pub fn status(&self) -> PaymentStatus {
        self.status
    }
}

/// A payment line row.
#[derive(Debug, Clone, FromRow)]
pub struct LineRow {
    pub payment_id: String,
    pub idx: i64,
    pub kind: String,
    pub code: String,
    pub description: String,
    pub amount: i64,
    pub account_id: String,
}

/// An attempt row.
#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    pub id: String,
    pub payment_id: String,
    pub connector_id: String,
    pub reference: String,
    pub status: AttemptStatus,
    pub amount: i64,
    pub currency: String,
    pub gateway_ref: Option<String>,
    pub gateway_txn: Option<String>,
    pub failure_code: Option<String>,
    pub action: String,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
    #[sqlx(try_from = "Millis")]
    pub updated_at: i64,
    /// The legs of one multi-account bank transfer share this (the first leg's id); `None`
    /// for a one-piece attempt (migration 0017).
    pub leg_group: Option<String>,
    /// This leg's place in its group, from 1.
    pub leg: Option<i64>,
    /// The account this leg's transfer must land in.
    pub leg_account_id: Option<String>,
}

impl AttemptRow {
    pub fn status(&self) -> AttemptStatus {
        self.status
    }
}

/// An event row (status history, and the outbox of portal webhooks).
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: String,
    pub payment_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub status_from: Option<String>,
    pub status_to: Option<String>,
    pub data: String,
    pub webhook: bool,
    pub delivery_status: Option<String>,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
}

/// A raw callback as received, verified or not.
#[derive(Debug, Clone)]
pub struct CallbackRecord {
    pub id: String,
    pub connector_id: String,
    pub method: String,
    pub query: String,
    pub body: String,
    pub verified: bool,
    pub error: Option<String>,
    pub reference: Option<String>,
    pub attempt_id: Option<String>,
    pub disposition: String,
}

/// Filters for listing payments.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub portal_id: Option<String>,
    pub dossier_code: Option<String>,
    pub status: Option<String>,
    pub agency_code: Option<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    /// Only these agencies (a caller bound to agencies); an empty list matches nothing.
    pub agencies: Option<Vec<String>>,
    /// Payments with an attempt of this reference.
    pub reference: Option<String>,
    /// Payments with an attempt through this connector (gateway).
    pub connector_id: Option<String>,
    /// Paid in `[paid_from, paid_to)` (unix ms).
    pub paid_from: Option<i64>,
    pub paid_to: Option<i64>,
    /// Payments whose payer (name or identity number) contains this text (ASCII letters
    /// in any case; others as typed).
    pub payer: Option<String>,
    /// Only payments with a webhook event whose delivery failed.
    pub webhook_failed: bool,
    /// Only payments with an attempt whose gateway status queries fail (of `connector_id`
    /// when that is set too): see [`crate::store::console::unresolved_attempt`].
    pub unresolved_attempts: bool,
    /// Keyset cursor: (created_at, id) of the last row of the previous page.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

pub(crate) const PAYMENT_COLS: &str =
    "id, portal_id, agency_code, dossier_code, procedure_code, description, currency, amount, \
    refunded_amount, status, payer, return_url, metadata, review_reason, review_opened_at, created_at, updated_at, \
    expires_at, paid_at";

const ATTEMPT_COLS: &str =
    "id, payment_id, connector_id, reference, status, amount, currency, gateway_ref, gateway_txn, \
    failure_code, action, created_at, updated_at, leg_group, leg, leg_account_id";

/// Binds an attempt's columns in `ATTEMPT_COLS` order (a macro: the query is typed by the
/// driver it runs on).
/// Binds a payment row's columns in [`PAYMENT_COLS`] order ($1..$19).
macro_rules! bind_payment {
    ($q:expr, $p:expr) => {{
        let p: &PaymentRow = $p;
        $q.bind(&p.id)
            .bind(&p.portal_id)
            .bind(&p.agency_code)
            .bind(&p.dossier_code)
            .bind(&p.procedure_code)
            .bind(&p.description)
            .bind(&p.currency)
            .bind(p.amount)
            .bind(p.refunded_amount)
            .bind(p.status)
            .bind(&p.payer)
            .bind(&p.return_url)
            .bind(&p.metadata)
            .bind(&p.review_reason)
            .bind(p.review_opened_at.map(Millis))
            .bind(Millis(p.created_at))
            .bind(Millis(p.updated_at))
            .bind(Millis(p.expires_at))
            .bind(p.paid_at.map(Millis))
    }};
}
pub(crate) use bind_payment;

macro_rules! bind_attempt {
    ($q:expr, $a:expr) => {{
        let a: &AttemptRow = $a;
        $q.bind(&a.id)
            .bind(&a.payment_id)
            .bind(&a.connector_id)
            .bind(&a.reference)
            .bind(a.status)
            .bind(a.amount)
            .bind(&a.currency)
            .bind(&a.gateway_ref)
            .bind(&a.gateway_txn)
            .bind(&a.failure_code)
            .bind(&a.action)
            .bind(Millis(a.created_at))
            .bind(Millis(a.updated_at))
            .bind(&a.leg_group)
            .bind(a.leg)
            .bind(&a.leg_account_id)
    }};
}

/// A typed SQL parameter for dynamically built queries.
enum Param {
    Text(String),
    Int(i64),
    Time(i64),
}

impl Store {
    /// Inserts a payment and its lines.
    pub async fn insert_payment(&self, tx: &mut Tx, p: &PaymentRow, lines: &[LineRow]) -> Result<()> {
        on_tx!(tx, |db| {
            bind_payment!(sqlx::query(&format!(
            "INSERT INTO payments ({PAYMENT_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)"
        )), p)
        .execute(db)
        .await.map(|r| r.rows_affected())
        })?;
        for l in lines {
            on_tx!(tx, |db| sqlx::query(
                "INSERT INTO payment_lines (payment_id, idx, kind, code, description, amount, account_id) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7)",
            )
            .bind(&l.payment_id)
            .bind(l.idx)
            .bind(&l.kind)
            .bind(&l.code)
            .bind(&l.description)
            .bind(l.amount)
            .bind(&l.account_id)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    pub async fn payment(&self, id: &str) -> Result<Option<PaymentRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await)?)
    }

    /// The payment read inside a transaction (sees the transaction's own writes).
    pub async fn payment_in(&self, tx: &mut Tx, id: &str) -> Result<Option<PaymentRow>> {
        Ok(on_tx!(tx, |db| sqlx::query_as(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await)?)
    }

    pub async fn lines(&self, payment_id: &str) -> Result<Vec<LineRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT payment_id, idx, kind, code, description, amount, account_id FROM payment_lines \
             WHERE payment_id = $1 ORDER BY idx",
        )
        .bind(payment_id)
        .fetch_all(db)
        .await)?)
    }

    /// The lines, read inside a transaction (never take a second pool connection while
    /// holding one: under load that deadlocks the pool).
    pub async fn lines_in(&self, tx: &mut Tx, payment_id: &str) -> Result<Vec<LineRow>> {
        Ok(on_tx!(tx, |db| sqlx::query_as(
            "SELECT payment_id, idx, kind, code, description, amount, account_id FROM payment_lines \
             WHERE payment_id = $1 ORDER BY idx",
        )
        .bind(payment_id)
        .fetch_all(db)
        .await)?)
    }

    /// The attempts, read inside a transaction.
    pub async fn attempts_in(&self, tx: &mut Tx, payment_id: &str) -> Result<Vec<AttemptRow>> {
        Ok(on_tx!(tx, |db| sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLS} FROM attempts WHERE payment_id = $1 ORDER BY created_at, COALESCE(leg, 0), id"
        ))
        .bind(payment_id)
        .fetch_all(db)
        .await)?)
    }

    pub async fn attempts(&self, payment_id: &str) -> Result<Vec<AttemptRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLS} FROM attempts WHERE payment_id = $1 ORDER BY created_at, COALESCE(leg, 0), id"
        ))
        .bind(payment_id)
        .fetch_all(db)
        .await)?)
    }

    pub async fn attempt_by_reference(&self, reference: &str) -> Result<Option<AttemptRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!("SELECT {ATTEMPT_COLS} FROM attempts WHERE reference = $1"))
            .bind(reference)
            .fetch_optional(db)
            .await)?)
    }

    pub async fn attempt(&self, id: &str) -> Result<Option<AttemptRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!("SELECT {ATTEMPT_COLS} FROM attempts WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await)?)
    }

    /// Records what the gateway answered to `start` (the action and its own id).
    pub async fn set_attempt_action(
        &self,
        tx: &mut Tx,
        id: &str,
        action: &str,
        gateway_ref: Option<&str>,
    ) -> Result<()> {
        on_tx!(tx, |db| sqlx::query("UPDATE attempts SET action = $1, gateway_ref = $2 WHERE id = $3")
            .bind(action)
            .bind(gateway_ref)
            .bind(id)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A success for an attempt already closed as failed or expired: the gateway has the
    /// money, so the attempt records it. Returns whether this call changed it.
    pub async fn reopen_attempt_as_succeeded(&self, tx: &mut Tx, id: &str, gateway_txn: Option<&str>) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query(
            "UPDATE attempts SET status = 'succeeded', gateway_txn = COALESCE($1, gateway_txn), updated_at = $2 \
             WHERE id = $3 AND status IN ('failed', 'expired')",
        )
        .bind(gateway_txn)
        .bind(Millis(now_ms()))
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    pub async fn attempt_in(&self, tx: &mut Tx, id: &str) -> Result<Option<AttemptRow>> {
        Ok(on_tx!(tx, |db| sqlx::query_as(&format!("SELECT {ATTEMPT_COLS} FROM attempts WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await)?)
    }

    /// Lists payments newest first with keyset pagination.
    pub async fn list_payments(&self, f: &PaymentFilter) -> Result<Vec<PaymentRow>> {
        let mut sql = format!("SELECT {PAYMENT_COLS} FROM payments WHERE 1 = 1");
        let mut params: Vec<Param> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, p: Param| {
            params.push(p);
            sql.push_str(&clause.replace("$?", &format!("${}", params.len())));
        };
        if let Some(v) = &f.portal_id {
            push(&mut sql, " AND portal_id = $?", Param::Text(v.clone()));
        }
        if let Some(v) = &f.dossier_code {
            push(&mut sql, " AND dossier_code = $?", Param::Text(v.clone()));
        }
        if let Some(v) = &f.status {
            push(&mut sql, " AND status = $?", Param::Text(v.clone()));
        }
        if let Some(v) = &f.agency_code {
            push(&mut sql, " AND agency_code = $?", Param::Text(v.clone()));
        }
        if let Some(v) = f.created_from {
            push(&mut sql, " AND created_at >= $?", Param::Time(v));
        }
        if let Some(v) = f.created_to {
            push(&mut sql, " AND created_at < $?", Param::Time(v));
        }
        if let Some(scope) = &f.agencies {
            if scope.is_empty() {
                sql.push_str(" AND 1 = 0");
            }
            for (i, a) in scope.iter().enumerate() {
                let open = if i == 0 { " AND agency_code IN ($?" } else { ", $?" };
                push(&mut sql, open, Param::Text(a.clone()));
            }
            if !scope.is_empty() {
                sql.push(')');
            }
        }
        if let Some(v) = &f.reference {
            push(&mut sql, " AND id IN (SELECT payment_id FROM attempts WHERE reference = $?)", Param::Text(v.clone()));
        }
        if let Some(v) = f.paid_from {
            push(&mut sql, " AND paid_at >= $?", Param::Time(v));
        }
        if let Some(v) = f.paid_to {
            push(&mut sql, " AND paid_at < $?", Param::Time(v));
        }
        if let Some(v) = &f.payer {
            // The payer is stored as JSON text: its name and identity number, read out of
            // it, then a LIKE whose wildcards are escaped (typed text is never a pattern).
            let (name, number) = match self.backend {
                super::Backend::Postgres => ("payer::jsonb->>'name'", "payer::jsonb->>'id_number'"),
                super::Backend::Sqlite => ("json_extract(payer, '$.name')", "json_extract(payer, '$.id_number')"),
            };
            let escaped = v.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            push(
                &mut sql,
                &format!(" AND LOWER(COALESCE({name}, '') || ' ' || COALESCE({number}, '')) LIKE $? ESCAPE '\\'"),
                Param::Text(format!("%{escaped}%")),
            );
        }
        if f.webhook_failed {
            sql.push_str(" AND id IN (SELECT payment_id FROM events WHERE webhook AND delivery_status = 'failed')");
        }
        if f.unresolved_attempts {
            let open = crate::store::console::unresolved_attempt("a");
            match &f.connector_id {
                None => sql.push_str(&format!(" AND id IN (SELECT a.payment_id FROM attempts a WHERE {open})")),
                Some(v) => push(
                    &mut sql,
                    &format!(" AND id IN (SELECT a.payment_id FROM attempts a WHERE {open} AND a.connector_id = $?)"),
                    Param::Text(v.clone()),
                ),
            }
        }
        if let Some(v) = &f.connector_id {
            push(
                &mut sql,
                " AND id IN (SELECT payment_id FROM attempts WHERE connector_id = $?)",
                Param::Text(v.clone()),
            );
        }
        if let Some((at, id)) = &f.after {
            push(&mut sql, " AND (created_at < $?", Param::Time(*at));
            push(&mut sql, " OR (created_at = $?", Param::Time(*at));
            push(&mut sql, " AND id < $?))", Param::Text(id.clone()));
        }
        push(&mut sql, " ORDER BY created_at DESC, id DESC LIMIT $?", Param::Int(f.limit));
        Ok(on_pool!(self, |db| {
            let mut q = sqlx::query_as::<_, PaymentRow>(&sql);
            for p in params {
                q = match p {
                    Param::Text(s) => q.bind(s),
                    Param::Int(i) => q.bind(i),
                    Param::Time(t) => q.bind(Millis(t)),
                };
            }
            q.fetch_all(db).await
        })?)
    }

    /// Moves a payment to `to` if it is in one of the allowed source states. Returns
    /// whether this call made the transition.
    pub async fn transition_payment(
        &self,
        tx: &mut Tx,
        id: &str,
        to: PaymentStatus,
        paid_at: Option<i64>,
    ) -> Result<bool> {
        let sources = PaymentStatus::sql_list(PaymentStatus::sources(to));
        let r = on_tx!(tx, |db| sqlx::query(&format!(
            "UPDATE payments SET status = $1, updated_at = $2, paid_at = COALESCE($3, paid_at) \
             WHERE id = $4 AND status IN ({sources})"
        ))
        .bind(to.as_str())
        .bind(Millis(now_ms()))
        .bind(paid_at.map(Millis))
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// A failed attempt gives the payment back to the payer, unless another attempt is
    /// still open.
    pub async fn reopen_payment(&self, tx: &mut Tx, id: &str) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query(
            "UPDATE payments SET status = 'created', updated_at = $1 WHERE id = $2 AND status = 'pending' \
             AND NOT EXISTS (SELECT 1 FROM attempts WHERE payment_id = $2 AND status IN ('pending', 'unknown'))",
        )
        .bind(Millis(now_ms()))
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// Opens a review of a payment: a record of its own (so a second or third review is
    /// never lost), unless the same fact (`dedupe_key`) was raised before. The payment's
    /// `review_reason` follows the latest review. Returns the new review's id.
    pub async fn open_review(
        &self,
        tx: &mut Tx,
        payment_id: &str,
        reason: &str,
        detail: &str,
        dedupe_key: &str,
        opened_by: &str,
    ) -> Result<Option<String>> {
        let id = crate::domain::ids::new_id("rev");
        let now = now_ms();
        let r = on_tx!(tx, |db| sqlx::query(
            "INSERT INTO reviews (id, payment_id, reason, detail, dedupe_key, opened_by, opened_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (payment_id, dedupe_key) DO NOTHING",
        )
        .bind(&id)
        .bind(payment_id)
        .bind(reason)
        .bind(detail)
        .bind(dedupe_key)
        .bind(opened_by)
        .bind(Millis(now))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        if r != 1 {
            return Ok(None);
        }
        on_tx!(tx, |db| sqlx::query(
            "UPDATE payments SET review_reason = $1, review_opened_at = $2, updated_at = $2 WHERE id = $3"
        )
        .bind(reason)
        .bind(Millis(now))
        .bind(payment_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(Some(id))
    }

    /// A success for an attempt: from open, or from one we closed ourselves for review
    /// (a wrong amount, the wrong account) when the right transfer follows. Returns
    /// whether this call made it succeed.
    pub async fn succeed_attempt(&self, tx: &mut Tx, id: &str, gateway_txn: Option<&str>) -> Result<bool> {
        let r = on_tx!(tx, |db| {
            sqlx::query(
            "UPDATE attempts SET status = 'succeeded', gateway_txn = COALESCE($1, gateway_txn), failure_code = NULL, \
             updated_at = $2 WHERE id = $3 AND (status IN ('pending', 'unknown') \
             OR (status = 'failed' AND failure_code IN ('amount_mismatch', 'wrong_beneficiary')))",
        )
        .bind(gateway_txn)
        .bind(Millis(now_ms()))
        .bind(id)
        .execute(db)
        .await.map(|r| r.rows_affected())
        })?;
        Ok(r == 1)
    }

    /// Closes the payment's other open attempts once one of them paid it (failed,
    /// `superseded`): nobody polls them any more, and a success of one later is a
    /// second collection for review. Returns how many were closed.
    pub async fn close_other_attempts(&self, tx: &mut Tx, payment_id: &str, except: &str) -> Result<u64> {
        let r = on_tx!(tx, |db| sqlx::query(
            "UPDATE attempts SET status = 'failed', failure_code = 'superseded', updated_at = $1 \
             WHERE payment_id = $2 AND id <> $3 AND status IN ('pending', 'unknown')",
        )
        .bind(Millis(now_ms()))
        .bind(payment_id)
        .bind(except)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r)
    }

    /// Pays a payment with one of its attempts: the guarded transition to `succeeded`, the
    /// time and the paying attempt in one statement (a refund that names no attempt returns
    /// that one, and every other succeeded attempt of the payment is a duplicate
    /// collection). `None`: the payment's status no longer takes a success.
    pub async fn pay_payment(
        &self,
        tx: &mut Tx,
        id: &str,
        attempt_id: &str,
        paid_at: i64,
    ) -> Result<Option<PaymentRow>> {
        let sources = PaymentStatus::sql_list(PaymentStatus::sources(PaymentStatus::Succeeded));
        Ok(on_tx!(tx, |db| sqlx::query_as(&format!(
            "UPDATE payments SET status = 'succeeded', updated_at = $1, paid_at = $1, paid_attempt_id = $2 \
             WHERE id = $3 AND status IN ({sources}) RETURNING {PAYMENT_COLS}"
        ))
        .bind(Millis(paid_at))
        .bind(attempt_id)
        .bind(id)
        .fetch_optional(db)
        .await)?)
    }

    /// Records a second collection under an attempt's reference (another bank credit for a
    /// paid reference) as its own succeeded attempt, so that it can be refunded. Its
    /// reference is derived from the credit, so the bank's retry of the same credit finds
    /// the attempt already there: `false`, nothing written. `second_of` is the attempt whose
    /// reference the credit carried.
    pub async fn record_duplicate_attempt(&self, tx: &mut Tx, a: &AttemptRow, second_of: &str) -> Result<bool> {
        let sql = format!(
            "INSERT INTO attempts ({ATTEMPT_COLS}, second_of) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) \
             ON CONFLICT (reference) DO NOTHING"
        );
        let r = on_tx!(tx, |db| bind_attempt!(sqlx::query(&sql), a)
            .bind(second_of)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    pub async fn insert_attempt(&self, tx: &mut Tx, a: &AttemptRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO attempts ({ATTEMPT_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
        );
        on_tx!(tx, |db| bind_attempt!(sqlx::query(&sql), a).execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Awaits again a leg of a multi-account transfer that was closed (the wrong amount or
    /// account came, or its start failed) when the payer takes up its group again.
    pub async fn reawait_leg(&self, tx: &mut Tx, id: &str) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query(
            "UPDATE attempts SET status = 'pending', failure_code = NULL, updated_at = $1 \
             WHERE id = $2 AND status = 'failed' AND leg_group IS NOT NULL"
        )
        .bind(Millis(now_ms()))
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// Takes the payment's row for the rest of `tx` (PostgreSQL: `FOR UPDATE`; SQLite's one
    /// writer holds the whole database already): two legs of one transfer arriving at once
    /// are counted one after the other, so exactly one of them sees the group complete; a
    /// provider job's transaction that writes the payment's review takes it first too, in
    /// the order a refund's transaction takes its locks, so that the two cannot deadlock.
    /// `None` if there is no such payment.
    pub async fn lock_payment(&self, tx: &mut Tx, id: &str) -> Result<Option<PaymentRow>> {
        let lock = self.row_lock();
        let sql = format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1{lock}");
        Ok(on_tx!(tx, |db| sqlx::query_as(&sql).bind(id).fetch_optional(db).await)?)
    }

    /// Moves an open attempt to `to`. Returns whether this call made the transition.
    pub async fn finish_attempt(
        &self,
        tx: &mut Tx,
        id: &str,
        to: AttemptStatus,
        gateway_txn: Option<&str>,
        failure_code: Option<&str>,
    ) -> Result<bool> {
        let r = on_tx!(tx, |db| {
            sqlx::query(
            "UPDATE attempts SET status = $1, gateway_txn = COALESCE($2, gateway_txn), failure_code = $3, updated_at = $4 \
             WHERE id = $5 AND status IN ('pending', 'unknown')",
        )
        .bind(to.as_str())
        .bind(gateway_txn)
        .bind(failure_code)
        .bind(Millis(now_ms()))
        .bind(id)
        .execute(db)
        .await.map(|r| r.rows_affected())
        })?;
        Ok(r == 1)
    }

    /// Closes every open attempt of a payment (on expiry or cancellation).
    pub async fn expire_open_attempts(&self, tx: &mut Tx, payment_id: &str) -> Result<()> {
        on_tx!(tx, |db| {
            sqlx::query(
            "UPDATE attempts SET status = 'expired', updated_at = $1 WHERE payment_id = $2 AND status IN ('pending', 'unknown')",
        )
        .bind(Millis(now_ms()))
        .bind(payment_id)
        .execute(db)
        .await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Appends an event. `webhook` marks the types portals receive.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_event(
        &self,
        tx: &mut Tx,
        payment_id: &str,
        kind: &str,
        from: Option<PaymentStatus>,
        to: Option<PaymentStatus>,
        data: &serde_json::Value,
        webhook: bool,
    ) -> Result<String> {
        let id = crate::domain::ids::new_id("evt");
        on_tx!(tx, |db| {
            sqlx::query(
            "INSERT INTO events (id, payment_id, type, status_from, status_to, data, webhook, delivery_status, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        )
        .bind(&id)
        .bind(payment_id)
        .bind(kind)
        .bind(from.map(|s| s.as_str()))
        .bind(to.map(|s| s.as_str()))
        .bind(data.to_string())
        .bind(webhook)
        .bind(webhook.then_some("pending"))
        .bind(Millis(now_ms()))
        .execute(db)
        .await.map(|r| r.rows_affected())
        })?;
        Ok(id)
    }

    /// A payment's history in the order it was written (`seq`: events of one transaction
    /// share a millisecond, and the success comes before its receipt).
    pub async fn events(&self, payment_id: &str) -> Result<Vec<EventRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT id, payment_id, type, status_from, status_to, data, webhook, delivery_status, created_at \
             FROM events WHERE payment_id = $1 ORDER BY seq",
        )
        .bind(payment_id)
        .fetch_all(db)
        .await)?)
    }

    /// Stores a raw callback (inside the transaction that acts on it, or alone).
    pub async fn record_callback(&self, tx: &mut Tx, c: &CallbackRecord) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO callbacks (id, connector_id, received_at, method, query, body, verified, error, reference, \
             attempt_id, disposition) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .bind(&c.id)
        .bind(&c.connector_id)
        .bind(Millis(now_ms()))
        .bind(&c.method)
        .bind(&c.query)
        .bind(&c.body)
        .bind(c.verified)
        .bind(&c.error)
        .bind(&c.reference)
        .bind(&c.attempt_id)
        .bind(&c.disposition)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Payments past their expiry that are still payable, oldest first, leaving out those
    /// the expiry worker put off until later ([`Store::put_off_expiry`]).
    pub async fn due_payments(&self, now: i64, limit: i64) -> Result<Vec<PaymentRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {PAYMENT_COLS} FROM payments WHERE status IN ('created', 'pending') AND expires_at <= $1 \
             AND (expiry_check_after IS NULL OR expiry_check_after <= $1) ORDER BY expires_at, id LIMIT $2"
        ))
        .bind(Millis(now))
        .bind(limit)
        .fetch_all(db)
        .await)?)
    }

    /// The expiry worker could not expire a due payment (its gateway must be asked
    /// first): it is not offered again before `until`, so it cannot hold up the others.
    pub async fn put_off_expiry(&self, id: &str, until: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        on_tx!(tx, |db| sqlx::query("UPDATE payments SET expiry_check_after = $1 WHERE id = $2")
            .bind(Millis(until))
            .bind(id)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await
    }
}

/// Payments paid in a period, per agency and the gateway that collected them.
#[derive(Debug, Clone, FromRow)]
pub struct CollectedRow {
    pub agency_code: String,
    pub connector_id: String,
    pub count: i64,
    pub amount: i64,
}

/// ` AND {col} IN ($n, ...)` for a caller bound to agencies (numbered from `first`), and
/// what to bind; nothing for `None`, and a clause that matches nothing for an empty list.
pub(crate) fn agency_clause(col: &str, first: usize, agencies: Option<&[String]>) -> String {
    match agencies {
        None => String::new(),
        Some([]) => " AND 1 = 0".into(),
        Some(list) => {
            let params: Vec<String> = (0..list.len()).map(|i| format!("${}", first + i)).collect();
            format!(" AND {col} IN ({})", params.join(", "))
        }
    }
}

impl Store {
    /// What came in during `[from, to)` (by the time paid) per agency and gateway.
    pub async fn collected_between(
        &self,
        from: i64,
        to: i64,
        agencies: Option<&[String]>,
    ) -> Result<Vec<CollectedRow>> {
        let sql = format!(
            "SELECT p.agency_code, a.connector_id, COUNT(*) AS count, CAST(SUM(p.amount) AS BIGINT) AS amount \
             FROM payments p JOIN attempts a ON a.id = p.paid_attempt_id \
             WHERE p.paid_at >= $1 AND p.paid_at < $2{} \
             GROUP BY p.agency_code, a.connector_id ORDER BY p.agency_code, a.connector_id",
            agency_clause("p.agency_code", 3, agencies)
        );
        Ok(on_pool!(self, |db| {
            let mut q = sqlx::query_as::<_, CollectedRow>(&sql).bind(Millis(from)).bind(Millis(to));
            for a in agencies.unwrap_or_default() {
                q = q.bind(a);
            }
            q.fetch_all(db).await
        })?)
    }

    /// How many payments are in `status` (of the caller's agencies).
    pub async fn count_payments_in(&self, status: PaymentStatus, agencies: Option<&[String]>) -> Result<i64> {
        let sql =
            format!("SELECT COUNT(*) FROM payments WHERE status = $1{}", agency_clause("agency_code", 2, agencies));
        let (n,): (i64,) = on_pool!(self, |db| {
            let mut q = sqlx::query_as(&sql).bind(status);
            for a in agencies.unwrap_or_default() {
                q = q.bind(a);
            }
            q.fetch_one(db).await
        })?;
        Ok(n)
    }

    /// How many payments have a webhook event whose delivery failed (of the caller's agencies).
    pub async fn count_failed_webhook_payments(&self, agencies: Option<&[String]>) -> Result<i64> {
        let sql = format!(
            "SELECT COUNT(*) FROM payments WHERE id IN \
             (SELECT payment_id FROM events WHERE webhook AND delivery_status = 'failed'){}",
            agency_clause("agency_code", 1, agencies)
        );
        let (n,): (i64,) = on_pool!(self, |db| {
            let mut q = sqlx::query_as(&sql);
            for a in agencies.unwrap_or_default() {
                q = q.bind(a);
            }
            q.fetch_one(db).await
        })?;
        Ok(n)
    }
}
