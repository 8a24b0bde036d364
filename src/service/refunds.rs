//! Refunds: reserve against the payment (race-free), execute through the connector, and
//! settle when the gateway confirms. A gateway that cannot refund online (a bank
//! transfer) gives a `pending_manual` refund that finance completes with the bank
//! reference of the payout.

use crate::api::auth::{Principal, Role};
use crate::api::error::ApiError;
use crate::app::AppState;
use crate::domain::ids::{new_id, new_reference};
use crate::domain::money::Amount;
use crate::service::datetime;
use crate::service::payments::{replay, request_hash, Stored};
use crate::store::idempotency::Claim;
use crate::store::now_ms;
use crate::store::refunds::RefundRow;
use axum::http::StatusCode;
use feegate_connector::{ConnectorError, RefundOutcome, RefundRequest, RefundResult};
use serde::Serialize;

/// A refund as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundView {
    pub id: String,
    pub payment_id: String,
    pub amount: String,
    pub reason: String,
    /// `pending`, `succeeded`, `failed` or `pending_manual`.
    pub status: String,
    pub connector: String,
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
        Role::Portal => Err(ApiError::forbidden()),
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
        .ok_or_else(|| ApiError::unprocessable("invalid_type", "the body must be a JSON object").with_field("body"))?;
    if let Some(k) = obj.keys().find(|k| *k != "amount" && *k != "reason") {
        return Err(ApiError::unprocessable("unknown_field", format!("unknown field {k}")).with_field(k.clone()));
    }
    let amount = match obj.get("amount") {
        None | Some(serde_json::Value::Null) => {
            return Err(ApiError::unprocessable("missing_field", "amount is required").with_field("amount"))
        }
        Some(v) => Amount::from_json(v)
            .map_err(|e| ApiError::unprocessable("invalid_amount", e.message()).with_field("amount"))?,
    };
    let reason = match obj.get("reason") {
        Some(serde_json::Value::String(s)) => crate::domain::text("reason", s, 255, true)?,
        None | Some(serde_json::Value::Null) => {
            return Err(ApiError::unprocessable("missing_field", "a refund needs a reason").with_field("reason"))
        }
        Some(_) => return Err(ApiError::unprocessable("invalid_type", "reason must be a string").with_field("reason")),
    };
    let attempt =
        state.store.attempts(payment_id).await?.into_iter().find(|a| a.status == "succeeded").ok_or_else(|| {
            ApiError::conflict("payment_not_refundable", format!("a {} payment cannot be refunded", payment.status))
        })?;
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
    };
    let hash = request_hash(&format!("POST /v1/payments/{payment_id}/refunds"), body);
    let scope = format!("{}:{}", who.role.as_str(), who.portal_id.clone().unwrap_or_else(|| who.key_id.clone()));
    let store = &state.store;
    let mut tx = store.begin().await?;
    if let Some(k) = &key {
        if let Claim::Used { request_hash: used, status, response } =
            store.claim_idempotency(&mut tx, &scope, k, &hash).await?
        {
            tx.rollback().await?;
            return replay(&hash, &used, status, response);
        }
    }
    if !store.reserve_refund(&mut tx, payment_id, row.amount).await? {
        tx.rollback().await?;
        let p = store.payment(payment_id).await?.ok_or_else(|| ApiError::not_found("payment"))?;
        if !matches!(p.status.as_str(), "succeeded" | "partially_refunded") {
            return Err(ApiError::conflict(
                "payment_not_refundable",
                format!("a {} payment cannot be refunded", p.status),
            ));
        }
        return Err(ApiError::conflict("refund_exceeds_available", "the refunds would exceed the amount paid")
            .with_field("amount"));
    }
    store.insert_refund(&mut tx, &row).await?;
    store
        .audit(
            &mut tx,
            payment_id,
            "refund.requested",
            &who.actor(),
            &serde_json::json!({"refund_id": row.id, "amount": row.amount, "reason": row.reason, "manual": manual}),
        )
        .await?;
    let response = serde_json::to_string(&RefundView::from(&row)).map_err(ApiError::internal)?;
    if let Some(k) = &key {
        store.save_idempotent(&mut tx, &scope, k, 202, &response).await?;
    }
    tx.commit().await?;
    if manual {
        return Ok(Stored { status: StatusCode::ACCEPTED, body: response });
    }
    let result = execute(state, &row).await;
    settle(state, &row, result, &who.actor()).await?;
    let now = store.refund(&row.id).await?.ok_or_else(|| ApiError::not_found("refund"))?;
    Ok(Stored {
        status: StatusCode::ACCEPTED,
        body: serde_json::to_string(&RefundView::from(&now)).map_err(ApiError::internal)?,
    })
}

fn request_for(r: &RefundRow, attempt: &crate::store::payments::AttemptRow) -> RefundRequest {
    RefundRequest {
        refund_reference: r.reference.clone(),
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
    settle(state, r, result, "worker:resolver").await
}

/// Applies a gateway's answer about a refund. Unknown answers leave it pending.
pub async fn settle(
    state: &AppState,
    r: &RefundRow,
    result: Result<RefundResult, ConnectorError>,
    actor: &str,
) -> Result<(), ApiError> {
    let store = &state.store;
    let outcome = match result {
        Ok(RefundResult { outcome: RefundOutcome::Succeeded, gateway_refund_ref }) => Ok(gateway_refund_ref),
        Ok(RefundResult { outcome: RefundOutcome::Failed { code, .. }, .. }) => Err(code),
        Err(ConnectorError::Rejected { code, .. }) => Err(code),
        Ok(RefundResult { outcome: RefundOutcome::Pending, .. }) => return Ok(()),
        Err(e) => {
            tracing::warn!(refund_id = %r.id, error = %e, "refund outcome unknown; the resolver will ask again");
            return Ok(());
        }
    };
    let mut tx = store.begin().await?;
    match outcome {
        Ok(gateway_ref) => {
            if let Some(status) = store.complete_refund(&mut tx, r, gateway_ref.as_deref(), None).await? {
                booked(state, &mut tx, r, &status, actor).await?;
            }
        }
        Err(code) => {
            if store.fail_refund(&mut tx, r, &code).await? {
                let data = serde_json::json!({"refund_id": r.id, "payment_id": r.payment_id, "amount": r.amount.to_string(), "failure_code": code});
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
    let data = serde_json::json!({"refund_id": r.id, "payment_id": r.payment_id, "amount": r.amount.to_string(), "payment_status": status});
    store.insert_event(tx, &r.payment_id, "refund.succeeded", None, None, &data, true).await?;
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
    metrics::counter!("feegate_payment_transitions_total", "to" => status.to_owned()).increment(1);
    Ok(())
}

/// `POST /v1/payments/{id}/refunds/{refund_id}/complete`: finance records a manual payout.
pub async fn complete_manual(
    state: &AppState,
    who: &Principal,
    payment_id: &str,
    refund_id: &str,
    bank_reference: &str,
) -> Result<RefundView, ApiError> {
    who.require(&[Role::Finance, Role::Admin])?;
    let bank_reference = crate::domain::text("bank_reference", bank_reference, 64, true)?;
    let r = state
        .store
        .refund(refund_id)
        .await?
        .filter(|r| r.payment_id == payment_id)
        .ok_or_else(|| ApiError::not_found("refund"))?;
    if r.status != "pending_manual" {
        return Err(ApiError::conflict("invalid_state", format!("a {} refund cannot be completed by hand", r.status)));
    }
    let mut tx = state.store.begin().await?;
    match state.store.complete_refund(&mut tx, &r, None, Some(&bank_reference)).await? {
        Some(status) => booked(state, &mut tx, &r, &status, &who.actor()).await?,
        None => return Err(ApiError::conflict("invalid_state", "the refund was completed meanwhile")),
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
