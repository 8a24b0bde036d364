//! Starting an attempt: the payer picked a gateway on the checkout page (or the portal
//! did through the API). The attempt is recorded before the gateway is called, so a
//! notification can never arrive for an attempt we do not know.

use crate::app::AppState;
use crate::domain::ids::{new_id, new_reference};
use crate::domain::payment::{AttemptStatus, PaymentStatus};
use crate::service::datetime;
use crate::service::error::Code;
use crate::service::error::Error;
use crate::store::now_ms;
use crate::store::payments::{AttemptRow, PaymentRow};
use feegate_connector::{Action, Beneficiary, ConnectorError, Locale, StartRequest};

/// Starts an attempt through `connector_id` and gives the action for the browser.
pub async fn start(
    state: &AppState,
    payment: &PaymentRow,
    connector_id: &str,
    payer_ip: Option<String>,
    locale: Locale,
    actor: &str,
) -> Result<Action, Error> {
    let account = state.connectors.get(connector_id).filter(|a| a.serves(&payment.agency_code)).ok_or_else(|| {
        Error::new(Code::UnknownConnector, format!("connector {connector_id} does not collect for this agency"))
            .with_field("connector")
    })?;
    let now = now_ms();
    if !payment.status().is_payable() || payment.expires_at <= now {
        return Err(Error::new(Code::PaymentNotPayable, format!("the payment is {}", payment.status)));
    }
    let range = account.connector.amount_range();
    if !range.contains(&payment.amount) {
        return Err(Error::new(
            Code::AmountNotAccepted,
            format!(
                "{} takes amounts from {} to {} đồng; choose another way to pay",
                account.connector.display_name(),
                range.start(),
                range.end()
            ),
        )
        .with_field("connector"));
    }
    let beneficiary = single_beneficiary(state, payment).await?;
    if account.connector.needs_beneficiary() && beneficiary.is_none() {
        return Err(Error::new(
            Code::ConnectorNotApplicable,
            "this payment's lines go to several accounts; one bank transfer cannot pay it",
        )
        .with_field("connector"));
    }
    let attempt = AttemptRow {
        id: new_id("att"),
        payment_id: payment.id.clone(),
        connector_id: connector_id.to_owned(),
        reference: new_reference(),
        status: AttemptStatus::Pending,
        amount: payment.amount,
        currency: payment.currency.clone(),
        gateway_ref: None,
        gateway_txn: None,
        failure_code: None,
        action: "{}".into(),
        created_at: now,
        updated_at: now,
    };
    let store = &state.store;
    let mut tx = store.begin().await?;
    store.insert_attempt(&mut tx, &attempt).await?;
    if !store.transition_payment(&mut tx, &payment.id, PaymentStatus::Pending, None).await? {
        tx.rollback().await?;
        return Err(Error::new(Code::PaymentNotPayable, "the payment is no longer payable"));
    }
    if payment.status() == PaymentStatus::Created {
        store
            .insert_event(
                &mut tx,
                &payment.id,
                "payment.pending",
                Some(PaymentStatus::Created),
                Some(PaymentStatus::Pending),
                &serde_json::json!({"attempt_id": attempt.id, "connector": connector_id}),
                false,
            )
            .await?;
    }
    store
        .audit(
            &mut tx,
            &payment.id,
            "attempt.started",
            actor,
            &serde_json::json!({"attempt_id": attempt.id, "connector": connector_id, "reference": attempt.reference}),
        )
        .await?;
    tx.commit().await?;

    let public = &state.config.public_url;
    let req = StartRequest {
        reference: attempt.reference.clone(),
        payment_id: payment.id.clone(),
        amount: payment.amount,
        currency: payment.currency.clone(),
        description: format!("{} {}", payment.dossier_code, payment.description),
        created_at: datetime(now),
        expires_at: datetime(payment.expires_at),
        return_url: format!("{public}/return/{connector_id}"),
        notify_url: format!("{public}/callbacks/{connector_id}"),
        payer_ip,
        locale,
        beneficiary,
    };
    match account.connector.start(&req).await {
        Ok(started) => {
            let mut tx = store.begin().await?;
            let action = serde_json::to_string(&started.action).map_err(Error::internal)?;
            store.set_attempt_action(&mut tx, &attempt.id, &action, started.gateway_ref.as_deref()).await?;
            tx.commit().await?;
            Ok(started.action)
        }
        Err(e) => {
            let code = match &e {
                ConnectorError::Rejected { code, .. } => code.clone(),
                _ => "unreachable".into(),
            };
            let mut tx = store.begin().await?;
            store.finish_attempt(&mut tx, &attempt.id, AttemptStatus::Failed, None, Some(&code)).await?;
            store.reopen_payment(&mut tx, &payment.id).await?;
            store
                .audit(
                    &mut tx,
                    &payment.id,
                    "attempt.start_failed",
                    actor,
                    &serde_json::json!({"attempt_id": attempt.id, "error": e.to_string()}),
                )
                .await?;
            tx.commit().await?;
            tracing::warn!(payment_id = %payment.id, connector = connector_id, error = %e, "gateway refused to start");
            Err(match e {
                ConnectorError::NotSupported { .. } | ConnectorError::Config(_) => Error::internal(e),
                ConnectorError::Rejected { .. } => {
                    Error::new(Code::GatewayRejected, format!("the gateway refused the payment: {e}"))
                }
                ConnectorError::Transport(_) | ConnectorError::BadResponse(_) => {
                    Error::new(Code::GatewayUnavailable, "the gateway did not answer; try again or choose another")
                }
            })
        }
    }
}

/// The one account all lines go to, if there is exactly one.
async fn single_beneficiary(state: &AppState, payment: &PaymentRow) -> Result<Option<Beneficiary>, Error> {
    let lines = state.store.lines(&payment.id).await?;
    let first = match lines.first() {
        Some(l) => l.account_id.clone(),
        None => return Ok(None),
    };
    if lines.iter().any(|l| l.account_id != first) {
        return Ok(None);
    }
    Ok(state.store.account(&first).await?.map(|a| Beneficiary {
        bank_bin: a.bank_bin,
        bank_name: a.bank_name,
        account_number: a.account_number,
        account_name: a.account_name,
    }))
}
