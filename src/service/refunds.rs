//! Refunds: reserve against the payment (race-free), execute through the connector, and
//! settle when the gateway confirms. A refund may name a duplicate collection (an attempt
//! that succeeded but did not pay the payment): it is reserved against that attempt's
//! amount, goes through that attempt's gateway and leaves the payment as it is. A gateway that cannot refund online (a bank
//! transfer) gives a `pending_manual` refund that finance completes with the bank
//! reference of the payout.

use crate::app::AppState;
use crate::domain::ids::{new_id, new_reference};
use crate::domain::money::Amount;
use crate::service::caller::{Principal, Role};
use crate::service::datetime;
use crate::service::error::Code;
use crate::service::error::Error as ApiError;
use crate::service::idempotency::{Claimed, Idempotent};
use crate::service::payments::Stored;
use crate::store::now_ms;
use crate::store::refunds::RefundRow;
use feegate_connector::{ConnectorError, RefundOutcome, RefundRequest, RefundResult};
use serde::Serialize;

/// A refund as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RefundView {
    pub id: String,
    pub payment_id: String,
    pub amount: String,
    pub reason: String,
    /// `pending`, `succeeded`, `failed` or `pending_manual`.
    pub status: String,
    pub connector: String,
    /// The attempt whose collection the refund returns.
    pub attempt_id: String,
    /// Whether that attempt is a duplicate collection (not the one that paid the payment):
    /// its refund leaves the payment's status and refunded amount as they are.
    pub duplicate: bool,
    pub reference: String,
    pub gateway_refund_ref: Option<String>,
    pub bank_reference: Option<String>,
    pub failure_code: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&RefundRow> for RefundView {
    fn from(r: &RefundRow) -> Self {
        RefundView {
            id: r.id.clone(),
            payment_id: r.payment_id.clone(),
            amount: r.amount.to_string(),
            reason: r.reason.clone(),
            status: r.status.clone(),
            connector: r.connector_id.clone(),
            attempt_id: r.attempt_id.clone(),
            duplicate: r.duplicate_attempt_id.is_some(),
            reference: r.reference.clone(),
            gateway_refund_ref: r.gateway_refund_ref.clone(),
            bank_reference: r.bank_reference.clone(),
            failure_code: r.failure_code.clone(),
            created_at: super::rfc3339(r.created_at),
            updated_at: super::rfc3339(r.updated_at),
        }
    }
}

/// Who may refund: finance and admin always; the owning portal if the config allows.
fn may_refund(state: &AppState, who: &Principal) -> Result<(), ApiError> {
    match who.role {
        Role::Finance | Role::Admin => Ok(()),
        Role::Portal if state.config.allow_portal_refunds => Ok(()),
        Role::Portal | Role::Viewer => Err(ApiError::forbidden()),
    }
}

/// `POST /v1/payments/{id}/refunds`.
pub async fn create(
    state: &AppState,
    who: &Principal,
    payment_id: &str,
    body: &serde_json::Value,
    key: Option<String>,
) -> Result<Stored, ApiError> {
    may_refund(state, who)?;
    let payment = crate::service::payments::visible(state, who, payment_id).await?;
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::new(Code::InvalidType, "the body must be a JSON object").with_field("body"))?;
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "amount" | "reason" | "attempt_id")) {
        return Err(ApiError::new(Code::UnknownField, format!("unknown field {k}")).with_field(k.clone()));
    }
    let amount = match obj.get("amount") {
        None | Some(serde_json::Value::Null) => {
            return Err(ApiError::new(Code::MissingField, "amount is required").with_field("amount"))
        }
        Some(v) => {
            Amount::from_json(v).map_err(|e| ApiError::new(Code::InvalidAmount, e.message()).with_field("amount"))?
        }
    };
    let reason = match obj.get("reason") {
        Some(serde_json::Value::String(s)) => crate::domain::text("reason", s, 255, true)?,
        None | Some(serde_json::Value::Null) => {
            return Err(ApiError::new(Code::MissingField, "a refund needs a reason").with_field("reason"))
        }
        Some(_) => return Err(ApiError::new(Code::InvalidType, "reason must be a string").with_field("reason")),
    };
    let named = match obj.get("attempt_id") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(crate::domain::text("attempt_id", s, 64, true)?),
        Some(_) => return Err(ApiError::new(Code::InvalidType, "attempt_id must be a string").with_field("attempt_id")),
    };
    let paying = state.store.paying_attempt(payment_id).await?;
    let attempts = state.store.attempts(payment_id).await?;
    let attempt = match &named {
        // No attempt named, or the paying one: the payment's own collection is returned.
        None => paying.as_ref().and_then(|p| attempts.iter().find(|a| &a.id == p)),
        Some(id) => Some(attempts.iter().find(|a| &a.id == id).ok_or_else(|| {
            ApiError::new(Code::UnknownAttempt, "the payment has no attempt with this id").with_field("attempt_id")
        })?),
    }
    .ok_or_else(|| {
        ApiError::new(Code::PaymentNotRefundable, format!("a {} payment cannot be refunded", payment.status))
    })?;
    // A leg of the transfer to several accounts that paid the payment is the payment's own
    // collection: its refund is the payment's (split over the lines like any other).
    let paying_leg = |a: &crate::store::payments::AttemptRow| {
        a.leg_group.is_some() && paying.as_ref().is_some_and(|p| a.leg_group.as_ref() == Some(p))
    };
    let attempt = match paying_leg(attempt) {
        true => paying.as_ref().and_then(|p| attempts.iter().find(|a| &a.id == p)).unwrap_or(attempt),
        false => attempt,
    };
    let duplicate = paying.as_deref() != Some(attempt.id.as_str());
    if duplicate && attempt.status != crate::domain::payment::AttemptStatus::Succeeded {
        return Err(ApiError::new(
            Code::AttemptNotRefundable,
            format!("a {} attempt collected nothing to refund", attempt.status),
        )
        .with_field("attempt_id"));
    }
    let account = state
        .connectors
        .get(&attempt.connector_id)
        .ok_or_else(|| ApiError::internal("the paying connector is no longer configured"))?;
    let manual = !account.connector.supports_refund();
    let now = now_ms();
    let row = RefundRow {
        id: new_id("rfd"),
        payment_id: payment_id.to_owned(),
        attempt_id: attempt.id.clone(),
        connector_id: attempt.connector_id.clone(),
        reference: new_reference(),
        amount: amount.get(),
        reason,
        status: if manual { "pending_manual" } else { "pending" }.into(),
        gateway_refund_ref: None,
        failure_code: None,
        bank_reference: None,
        requested_by: who.actor(),
        created_at: now,
        updated_at: now,
        duplicate_attempt_id: duplicate.then(|| attempt.id.clone()),
    };
    let scope = format!("{}:{}", who.role.as_str(), who.portal_id.clone().unwrap_or_else(|| who.key_id.clone()));
    let route = format!("POST /v1/payments/{payment_id}/refunds");
    let idem = Idempotent::new(scope, key.as_deref(), &route, body);
    let store = &state.store;
    let mut tx = match idem.claim(store, store.begin().await?).await? {
        Claimed::Fresh(tx) => tx,
        Claimed::Replay(answer) => return Ok(answer),
    };
    if duplicate {
        // Money out of the duplicate's own collection, capped at its amount.
        if !store.reserve_duplicate_refund(&mut tx, payment_id, &attempt.id, row.amount).await? {
            tx.rollback().await?;
            return Err(ApiError::new(
                Code::RefundExceedsAttempt,
                format!("the refunds of attempt {} would exceed the {} it collected", attempt.id, attempt.amount),
            )
            .with_field("amount"));
        }
    } else if !store.reserve_refund(&mut tx, payment_id, row.amount).await? {
        tx.rollback().await?;
        let p = store.payment(payment_id).await?.ok_or_else(|| ApiError::not_found("payment"))?;
        if !matches!(p.status.as_str(), "succeeded" | "partially_refunded") {
            return Err(ApiError::new(
                Code::PaymentNotRefundable,
                format!("a {} payment cannot be refunded", p.status),
            ));
        }
        return Err(ApiError::new(Code::RefundExceedsAvailable, "the refunds would exceed the amount paid")
            .with_field("amount"));
    }
    store.insert_refund(&mut tx, &row).await?;
    store
        .audit(
            &mut tx,
            payment_id,
            "refund.requested",
            &who.actor(),
            &serde_json::json!({"refund_id": row.id, "amount": row.amount, "reason": row.reason, "manual": manual,
                "attempt_id": row.attempt_id, "duplicate": duplicate}),
        )
        .await?;
    let response = serde_json::to_string(&RefundView::from(&row)).map_err(ApiError::internal)?;
    let answer = Stored::accepted(response);
    idem.save(store, &mut tx, &answer).await?;
    tx.commit().await?;
    if manual {
        return Ok(answer);
    }
    let result = execute(state, &row).await;
    settle(state, &row, call_verdict(result), &who.actor()).await?;
    let now = store.refund(&row.id).await?.ok_or_else(|| ApiError::not_found("refund"))?;
    Ok(Stored::accepted(serde_json::to_string(&RefundView::from(&now)).map_err(ApiError::internal)?))
}

fn request_for(r: &RefundRow, attempt: &crate::store::payments::AttemptRow) -> RefundRequest {
    RefundRequest {
        refund_reference: r.reference.clone(),
        gateway_refund_ref: r.gateway_refund_ref.clone(),
        payment_reference: attempt.reference.clone(),
        gateway_txn: attempt.gateway_txn.clone(),
        amount: r.amount,
        original_amount: attempt.amount,
        reason: r.reason.clone(),
        payment_created_at: datetime(attempt.created_at),
        requested_by: r.requested_by.clone(),
        requested_at: datetime(r.created_at),
    }
}

async fn execute(state: &AppState, r: &RefundRow) -> Result<RefundResult, ConnectorError> {
    let attempt =
        state.store.attempts(&r.payment_id).await.ok().and_then(|v| v.into_iter().find(|a| a.id == r.attempt_id));
    let (Some(account), Some(attempt)) = (state.connectors.get(&r.connector_id), attempt) else {
        return Err(ConnectorError::Transport("connector or attempt missing".into()));
    };
    account.connector.refund(&request_for(r, &attempt)).await
}

/// Asks the gateway where a pending refund stands and settles it (the resolver's job).
pub async fn query(state: &AppState, r: &RefundRow) -> Result<(), ApiError> {
    let attempt = state.store.attempt(&r.attempt_id).await?;
    let (Some(account), Some(attempt)) = (state.connectors.get(&r.connector_id), attempt) else { return Ok(()) };
    let result = account.connector.query_refund(&request_for(r, &attempt)).await;
    settle(state, r, query_verdict(result), "worker:resolver").await
}

/// Why a payment needs a person when one of its refunds stays unresolved.
pub const REVIEW_REFUND_UNRESOLVED: &str = "refund_unresolved";

/// Opens a review for finance on a refund still `pending` after `tries` status queries:
/// once per refund (a guarded update on the refund), not on every later query. The
/// refund stays pending and its amount reserved; the resolver keeps asking.
pub async fn escalate(state: &AppState, r: &RefundRow, tries: i64) -> Result<(), ApiError> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    if store.mark_refund_for_review(&mut tx, &r.id).await? {
        let detail = format!(
            "refund {} of {} đồng through {} is still pending after {tries} status queries: the gateway has not \
             said whether it was paid out; check it with the gateway",
            r.id, r.amount, r.connector_id
        );
        crate::service::callbacks::needs_review(
            state,
            &mut tx,
            &r.payment_id,
            REVIEW_REFUND_UNRESOLVED,
            &detail,
            "worker:resolver",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a gateway's answer means for a pending refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Paid out, with the gateway's refund reference when it gives one.
    Succeeded(Option<String>),
    /// The gateway says this refund failed (or refused it): final, the amount is released.
    Failed(String),
    /// Not known yet: the refund stays pending (keeping the gateway's reference, if any).
    Open(Option<String>),
}

/// The answer to the refund call itself. A refusal (`Rejected`) is the gateway saying no to
/// this refund, so nothing was paid out; no answer, or one we cannot read, is not known.
pub fn call_verdict(result: Result<RefundResult, ConnectorError>) -> Verdict {
    match result {
        Ok(RefundResult { outcome: RefundOutcome::Succeeded, gateway_refund_ref }) => {
            Verdict::Succeeded(gateway_refund_ref)
        }
        Ok(RefundResult { outcome: RefundOutcome::Failed { code, .. }, .. }) => Verdict::Failed(code),
        Ok(RefundResult { outcome: RefundOutcome::Pending, gateway_refund_ref }) => Verdict::Open(gateway_refund_ref),
        Err(ConnectorError::Rejected { code, .. }) => Verdict::Failed(code),
        Err(
            ConnectorError::Transport(_)
            | ConnectorError::BadResponse(_)
            | ConnectorError::NotSupported { .. }
            | ConnectorError::Config(_),
        ) => Verdict::Open(None),
    }
}

/// The answer to a status query. Only the gateway saying that *this refund* failed fails
/// it. A refused query (VNPay querydr 91/94/97/99, a bad signature), an unreadable or
/// missing answer, or a gateway that does not list the refund (yet) says nothing about
/// the refund: it stays pending, and after `refund_query_max_tries` a person looks.
pub fn query_verdict(result: Result<RefundResult, ConnectorError>) -> Verdict {
    match result {
        // The gateway refused the query or does not know the refund (yet): not about the refund.
        Err(ConnectorError::Rejected { .. }) => Verdict::Open(None),
        other => call_verdict(other),
    }
}

/// Applies what a gateway's answer means to a pending refund.
pub async fn settle(state: &AppState, r: &RefundRow, verdict: Verdict, actor: &str) -> Result<(), ApiError> {
    let store = &state.store;
    if verdict == Verdict::Open(None) {
        tracing::info!(refund_id = %r.id, "refund outcome not known yet; the resolver will ask again");
        return Ok(());
    }
    let mut tx = store.begin().await?;
    match verdict {
        Verdict::Open(gateway_ref) => {
            // The gateway's own reference for the refund is how a later query recognises it.
            if let Some(gateway_ref) = gateway_ref {
                store.note_refund_gateway_ref(&mut tx, &r.id, &gateway_ref).await?;
            }
        }
        Verdict::Succeeded(gateway_ref) => {
            if let Some(status) = store.complete_refund(&mut tx, r, gateway_ref.as_deref(), None).await? {
                booked(state, &mut tx, r, &status, actor).await?;
            }
        }
        Verdict::Failed(code) => {
            if store.fail_refund(&mut tx, r, &code).await? {
                let data = serde_json::json!({"refund_id": r.id, "payment_id": r.payment_id, "amount": r.amount.to_string(), "failure_code": code,
                    "attempt_id": r.attempt_id, "duplicate": r.duplicate_attempt_id.is_some()});
                store.insert_event(&mut tx, &r.payment_id, "refund.failed", None, None, &data, true).await?;
                store.audit(&mut tx, &r.payment_id, "refund.failed", actor, &data).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn booked(
    state: &AppState,
    tx: &mut crate::store::Tx,
    r: &RefundRow,
    status: &str,
    actor: &str,
) -> Result<(), ApiError> {
    let store = &state.store;
    let duplicate = r.duplicate_attempt_id.is_some();
    let data = serde_json::json!({"refund_id": r.id, "payment_id": r.payment_id, "amount": r.amount.to_string(), "payment_status": status,
        "attempt_id": r.attempt_id, "duplicate": duplicate});
    store.insert_event(tx, &r.payment_id, "refund.succeeded", None, None, &data, true).await?;
    if duplicate {
        // The payment was paid once and stays as it is: no `payment.refunded`.
        store.audit(tx, &r.payment_id, "refund.succeeded", actor, &data).await?;
        return Ok(());
    }
    if status == "refunded" {
        store
            .insert_event(
                tx,
                &r.payment_id,
                "payment.refunded",
                None,
                crate::domain::payment::PaymentStatus::parse(status),
                &data,
                true,
            )
            .await?;
    }
    store.audit(tx, &r.payment_id, "refund.succeeded", actor, &data).await?;
    // The receipt follows the money: cancelled by a full refund, adjusted by a partial one.
    crate::service::receipts::refunded(state, tx, &r.payment_id, &r.id, r.amount, &r.reason, status).await?;
    metrics::counter!("feegate_payment_transitions_total", "to" => status.to_owned()).increment(1);
    Ok(())
}

/// `POST /v1/payments/{id}/refunds/{refund_id}/complete`: finance records a manual payout,
/// or, for a refund raised for review because its gateway never said, the payout finance
/// found in the gateway's merchant admin (`bank_reference` is then the gateway's reference).
pub async fn complete_manual(
    state: &AppState,
    who: &Principal,
    payment_id: &str,
    refund_id: &str,
    bank_reference: &str,
) -> Result<RefundView, ApiError> {
    who.require(&[Role::Finance, Role::Admin])?;
    // A user bound to agencies completes only their agencies' refunds (another's is "not found").
    crate::service::payments::visible(state, who, payment_id).await?;
    let bank_reference = crate::domain::text("bank_reference", bank_reference, 64, true)?;
    let r = state
        .store
        .refund(refund_id)
        .await?
        .filter(|r| r.payment_id == payment_id)
        .ok_or_else(|| ApiError::not_found("refund"))?;
    let reviewed = r.status == "pending" && state.store.refund_under_review(&r.id).await?;
    if r.status != "pending_manual" && !reviewed {
        return Err(ApiError::new(Code::InvalidState, format!("a {} refund cannot be completed by hand", r.status)));
    }
    let mut tx = state.store.begin().await?;
    match state.store.complete_refund(&mut tx, &r, None, Some(&bank_reference)).await? {
        Some(status) => booked(state, &mut tx, &r, &status, &who.actor()).await?,
        None => return Err(ApiError::new(Code::InvalidState, "the refund was completed meanwhile")),
    }
    tx.commit().await?;
    let r = state.store.refund(refund_id).await?.ok_or_else(|| ApiError::not_found("refund"))?;
    Ok(RefundView::from(&r))
}

/// `GET /v1/payments/{id}/refunds`.
pub async fn list(state: &AppState, who: &Principal, payment_id: &str) -> Result<Vec<RefundView>, ApiError> {
    crate::service::payments::visible(state, who, payment_id).await?;
    Ok(state.store.refunds(payment_id).await?.iter().map(RefundView::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(code: &str) -> Result<RefundResult, ConnectorError> {
        Err(ConnectorError::Rejected { code: code.into(), message: "m".into() })
    }

    #[test]
    fn a_refused_or_unanswered_status_query_leaves_the_refund_open_vnpay_querydr_91_94_97_99() {
        for code in ["91", "94", "97", "99", "02", "03", "refund_not_found", "-402"] {
            assert_eq!(query_verdict(rejected(code)), Verdict::Open(None), "{code}");
        }
        assert_eq!(query_verdict(Err(ConnectorError::Transport("timeout".into()))), Verdict::Open(None));
        assert_eq!(query_verdict(Err(ConnectorError::BadResponse("checksum".into()))), Verdict::Open(None));
        let pending = RefundResult { outcome: RefundOutcome::Pending, gateway_refund_ref: Some("7".into()) };
        assert_eq!(query_verdict(Ok(pending)), Verdict::Open(Some("7".into())));
    }

    #[test]
    fn only_the_gateway_saying_the_refund_failed_fails_it() {
        let failed = RefundResult {
            outcome: RefundOutcome::Failed { code: "09".into(), message: "refund rejected".into() },
            gateway_refund_ref: None,
        };
        assert_eq!(query_verdict(Ok(failed.clone())), Verdict::Failed("09".into()));
        assert_eq!(call_verdict(Ok(failed)), Verdict::Failed("09".into()));
        // The refund call itself refused: nothing was paid out.
        assert_eq!(call_verdict(rejected("95")), Verdict::Failed("95".into()));
        assert_eq!(call_verdict(Err(ConnectorError::Transport("5xx".into()))), Verdict::Open(None));
        let done = RefundResult { outcome: RefundOutcome::Succeeded, gateway_refund_ref: Some("8".into()) };
        assert_eq!(query_verdict(Ok(done)), Verdict::Succeeded(Some("8".into())));
    }
}
