//! Gateway notifications: verify, check against the attempt, apply through guarded
//! transitions. The same [`apply`] serves callbacks, status queries and browser returns
//! that led to a query, so every path to "paid" is the same guarded code.

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::domain::ids::new_id;
use crate::domain::payment::{review, AttemptStatus, PaymentStatus};
use crate::service::view::PaymentView;
use crate::store::payments::{AttemptRow, CallbackRecord};
use crate::store::{now_ms, Tx};
use feegate_connector::{Disposition, InboundRequest, Notification, Outcome, QueryResult, Reply, VerifyError};

/// A fact about an attempt from a trusted source (a verified notification or a query).
#[derive(Debug, Clone)]
pub struct Fact {
    pub reference: String,
    pub gateway_txn: Option<String>,
    /// `None` when the source does not say (some queries).
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub outcome: Outcome,
}

impl From<Notification> for Fact {
    fn from(n: Notification) -> Fact {
        Fact {
            reference: n.reference,
            gateway_txn: n.gateway_txn,
            amount: Some(n.amount),
            currency: Some(n.currency),
            outcome: n.outcome,
        }
    }
}

impl Fact {
    /// A fact learnt from a status query of `attempt`.
    pub fn from_query(attempt: &AttemptRow, q: QueryResult) -> Fact {
        Fact {
            reference: attempt.reference.clone(),
            gateway_txn: q.gateway_txn,
            amount: q.amount,
            currency: None,
            outcome: q.outcome,
        }
    }
}

/// The raw message behind a fact, kept in `callbacks`.
pub struct Raw {
    pub method: String,
    pub query: String,
    pub body: String,
}

impl Raw {
    pub fn of(req: &InboundRequest) -> Raw {
        Raw {
            method: req.method.clone(),
            query: req.query.clone(),
            body: String::from_utf8_lossy(&req.body).into_owned(),
        }
    }
}

fn disposition_name(d: Disposition) -> &'static str {
    match d {
        Disposition::Applied => "applied",
        Disposition::AlreadyFinal => "already_final",
        Disposition::UnknownReference => "unknown_reference",
        Disposition::AmountMismatch => "amount_mismatch",
        Disposition::BadSignature => "bad_signature",
        Disposition::Malformed => "malformed",
        Disposition::InternalError => "internal_error",
    }
}

/// Handles `GET|POST /callbacks/{connector_id}`; `None` if no such connector.
pub async fn handle(state: &AppState, connector_id: &str, req: InboundRequest) -> Option<Reply> {
    let account = state.connectors.get(connector_id)?;
    let connector = account.connector.clone();
    let raw = Raw::of(&req);
    let d = match connector.verify_callback(&req) {
        Err(e) => {
            let d = match e {
                VerifyError::BadSignature => Disposition::BadSignature,
                VerifyError::Malformed(_) | VerifyError::NotSupported { .. } => Disposition::Malformed,
            };
            metrics::counter!("feegate_callback_verification_failures_total", "connector" => connector_id.to_owned())
                .increment(1);
            tracing::warn!(connector = connector_id, error = %e, "callback did not verify; nothing changes");
            match record_unmatched(state, connector_id, &raw, d, Some(e.to_string()), None).await {
                Ok(()) => d,
                Err(err) => {
                    tracing::error!(error = %err.message, "could not record an unverified callback");
                    Disposition::InternalError
                }
            }
        }
        Ok(v) => {
            let fact = Fact::from(v.into_inner());
            match apply(state, connector_id, fact, Some(raw), &format!("gateway:{connector_id}")).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(connector = connector_id, error = %e.message, "callback failed; the gateway should retry");
                    Disposition::InternalError
                }
            }
        }
    };
    metrics::counter!("feegate_callbacks_total", "connector" => connector_id.to_owned(), "disposition" => disposition_name(d))
        .increment(1);
    Some(connector.callback_reply(d))
}

async fn record_unmatched(
    state: &AppState,
    connector_id: &str,
    raw: &Raw,
    d: Disposition,
    error: Option<String>,
    reference: Option<&str>,
) -> Result<(), ApiError> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    let id = new_id("cb");
    store.record_callback(&mut tx, &record(&id, connector_id, raw, d, error.clone(), reference, None)).await?;
    store
        .audit(&mut tx, &format!("callbacks:{connector_id}"), "callback.rejected", &format!("gateway:{connector_id}"),
            &serde_json::json!({"callback_id": id, "disposition": disposition_name(d), "error": error, "reference": reference}))
        .await?;
    tx.commit().await?;
    Ok(())
}

fn record(
    id: &str,
    connector_id: &str,
    raw: &Raw,
    d: Disposition,
    error: Option<String>,
    reference: Option<&str>,
    attempt_id: Option<&str>,
) -> CallbackRecord {
    CallbackRecord {
        id: id.to_owned(),
        connector_id: connector_id.to_owned(),
        method: raw.method.clone(),
        query: storable(&raw.query),
        body: storable(&raw.body),
        verified: !matches!(d, Disposition::BadSignature | Disposition::Malformed),
        error: error.as_deref().map(storable),
        reference: reference.map(storable),
        attempt_id: attempt_id.map(str::to_owned),
        disposition: disposition_name(d).to_owned(),
    }
}

/// A gateway's text as PostgreSQL can keep it: its `text` type refuses NUL, which a hostile
/// body (or an error quoting one) may carry. U+FFFD stands in, as for invalid UTF-8.
fn storable(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// Applies a trusted fact to its attempt and payment. Never moves money state unless
/// a guarded update says this call won the transition.
pub async fn apply(
    state: &AppState,
    connector_id: &str,
    fact: Fact,
    raw: Option<Raw>,
    actor: &str,
) -> Result<Disposition, ApiError> {
    let store = &state.store;
    // No reference of ours holds NUL, and PostgreSQL would refuse it as a parameter.
    let found = if fact.reference.contains('\0') { None } else { store.attempt_by_reference(&fact.reference).await? };
    let attempt = match found {
        Some(a) if a.connector_id == connector_id => a,
        found => {
            // Unknown reference, or one that belongs to another connector (a cross-connector
            // replay): recorded, nothing changes.
            let why = if found.is_some() {
                "reference belongs to another connector"
            } else {
                "no attempt has this reference"
            };
            if let Some(raw) = &raw {
                record_unmatched(
                    state,
                    connector_id,
                    raw,
                    Disposition::UnknownReference,
                    Some(why.into()),
                    Some(&fact.reference),
                )
                .await?;
            }
            return Ok(Disposition::UnknownReference);
        }
    };
    let mut tx = store.begin().await?;
    let d = apply_in(state, &mut tx, &attempt, &fact, actor).await?;
    if let Some(raw) = &raw {
        let id = new_id("cb");
        store
            .record_callback(
                &mut tx,
                &record(&id, connector_id, raw, d, None, Some(&fact.reference), Some(&attempt.id)),
            )
            .await?;
        store
            .audit(
                &mut tx,
                &attempt.payment_id,
                "callback.received",
                actor,
                &serde_json::json!({"callback_id": id, "attempt_id": attempt.id, "disposition": disposition_name(d),
                    "outcome": fact.outcome, "amount": fact.amount, "gateway_txn": fact.gateway_txn}),
            )
            .await?;
    }
    tx.commit().await?;
    Ok(d)
}

async fn apply_in(
    state: &AppState,
    tx: &mut Tx,
    attempt: &AttemptRow,
    fact: &Fact,
    actor: &str,
) -> Result<Disposition, ApiError> {
    let store = &state.store;
    let pid = &attempt.payment_id;
    let amount_wrong = fact.amount.is_some_and(|a| a != attempt.amount);
    let currency_wrong = fact.currency.as_deref().is_some_and(|c| c != attempt.currency);
    if (amount_wrong || currency_wrong) && fact.outcome == Outcome::Succeeded {
        let detail = format!(
            "gateway reports {} {}, attempt is {} {}",
            fact.amount.unwrap_or_default(),
            fact.currency.as_deref().unwrap_or("?"),
            attempt.amount,
            attempt.currency
        );
        needs_review(state, tx, pid, review::AMOUNT_MISMATCH, &detail, actor).await?;
        return Ok(Disposition::AmountMismatch);
    }
    match &fact.outcome {
        Outcome::Pending => Ok(Disposition::Applied),
        Outcome::Failed { code, .. } => {
            if !store
                .finish_attempt(tx, &attempt.id, AttemptStatus::Failed, fact.gateway_txn.as_deref(), Some(code))
                .await?
            {
                return Ok(Disposition::AlreadyFinal);
            }
            if store.reopen_payment(tx, pid).await? {
                store
                    .insert_event(
                        tx,
                        pid,
                        "payment.reopened",
                        Some(PaymentStatus::Pending),
                        Some(PaymentStatus::Created),
                        &serde_json::json!({"attempt_id": attempt.id, "failure_code": code}),
                        false,
                    )
                    .await?;
                metrics::counter!("feegate_payment_transitions_total", "to" => "created").increment(1);
            }
            store
                .audit(tx, pid, "attempt.failed", actor, &serde_json::json!({"attempt_id": attempt.id, "code": code}))
                .await?;
            Ok(Disposition::Applied)
        }
        Outcome::Succeeded => {
            let txn = fact.gateway_txn.as_deref();
            if store.finish_attempt(tx, &attempt.id, AttemptStatus::Succeeded, txn, None).await? {
                if store.transition_payment(tx, pid, PaymentStatus::Succeeded, Some(now_ms())).await? {
                    let data = payment_data(state, tx, pid).await?;
                    store
                        .insert_event(
                            tx,
                            pid,
                            "payment.succeeded",
                            Some(PaymentStatus::Pending),
                            Some(PaymentStatus::Succeeded),
                            &data,
                            true,
                        )
                        .await?;
                    store
                        .audit(
                            tx,
                            pid,
                            "payment.succeeded",
                            actor,
                            &serde_json::json!({"attempt_id": attempt.id, "gateway_txn": txn}),
                        )
                        .await?;
                    metrics::counter!("feegate_payment_transitions_total", "to" => "succeeded").increment(1);
                    return Ok(Disposition::Applied);
                }
                // The attempt succeeded but the payment can no longer take it.
                late_or_second(state, tx, attempt, actor).await?;
                return Ok(Disposition::Applied);
            }
            let current =
                store.attempt_in(tx, &attempt.id).await?.map(|a| a.status()).unwrap_or(AttemptStatus::Unknown);
            if current == AttemptStatus::Succeeded {
                return Ok(Disposition::AlreadyFinal);
            }
            // A success for an attempt we had closed as failed or expired: the gateway has
            // the money. Record the truth on the attempt and raise it for a person.
            store.reopen_attempt_as_succeeded(tx, &attempt.id, txn).await?;
            late_or_second(state, tx, attempt, actor).await?;
            Ok(Disposition::Applied)
        }
    }
}

async fn late_or_second(state: &AppState, tx: &mut Tx, attempt: &AttemptRow, actor: &str) -> Result<(), ApiError> {
    let p = state.store.payment_in(tx, &attempt.payment_id).await?.ok_or_else(|| ApiError::not_found("payment"))?;
    let reason = match p.status() {
        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => review::SECOND_SUCCESS,
        PaymentStatus::Expired | PaymentStatus::Cancelled => review::LATE_SUCCESS,
        PaymentStatus::Created | PaymentStatus::Pending => review::CONFLICTING_OUTCOME,
    };
    let detail = format!("attempt {} succeeded while the payment is {}", attempt.id, p.status);
    needs_review(state, tx, &attempt.payment_id, reason, &detail, actor).await
}

pub(crate) async fn needs_review(
    state: &AppState,
    tx: &mut Tx,
    pid: &str,
    reason: &str,
    detail: &str,
    actor: &str,
) -> Result<(), ApiError> {
    let store = &state.store;
    if store.open_review(tx, pid, reason).await? {
        let data = payment_data(state, tx, pid).await?;
        store.insert_event(tx, pid, "payment.needs_review", None, None, &data, true).await?;
        metrics::counter!("feegate_reviews_opened_total", "reason" => reason.to_owned()).increment(1);
    }
    store.audit(tx, pid, "payment.review", actor, &serde_json::json!({"reason": reason, "detail": detail})).await?;
    tracing::warn!(payment_id = pid, reason, detail, "payment needs review");
    Ok(())
}

/// The payment representation, read inside `tx` (the `data` of webhook events).
pub(crate) async fn payment_data(state: &AppState, tx: &mut Tx, pid: &str) -> Result<serde_json::Value, ApiError> {
    let store = &state.store;
    let p = store.payment_in(tx, pid).await?.ok_or_else(|| ApiError::not_found("payment"))?;
    let lines = store.lines_in(tx, pid).await?;
    let attempts = store.attempts_in(tx, pid).await?;
    serde_json::to_value(PaymentView::build(&state.config.public_url, &p, &lines, &attempts))
        .map_err(ApiError::internal)
}
