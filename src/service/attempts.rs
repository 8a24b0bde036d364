//! Starting an attempt: the payer picked a gateway on the checkout page (or the portal
//! did through the API). The attempt is recorded before the gateway is called, so a
//! notification can never arrive for an attempt we do not know.
//!
//! A bank transfer (VietQR) to a payment whose lines go to several beneficiary accounts is
//! started as *legs*: one attempt per account, each with its own reference (the transfer
//! content), amount (the lines routed to that account) and QR code, sharing a `leg_group`.
//! The payment is paid when every leg of the group has arrived
//! ([`crate::service::callbacks`]). Starting again while a group is under way gives the
//! same group back, so a payer who reloads or presses "pay" twice never holds two halves
//! of two different groups.

use crate::app::AppState;
use crate::domain::ids::{new_id, new_reference};
use crate::domain::payment::{AttemptStatus, PaymentStatus};
use crate::service::datetime;
use crate::service::error::Code;
use crate::service::error::Error;
use crate::store::now_ms;
use crate::store::payments::{AttemptRow, PaymentRow};
use crate::store::Tx;
use feegate_connector::{Action, Beneficiary, ConnectorError, Locale, QrTransfer, StartRequest};

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
    let not_accepted = || {
        Error::new(
            Code::AmountNotAccepted,
            format!(
                "{} takes amounts from {} to {} đồng; choose another way to pay",
                account.connector.display_name(),
                range.start(),
                range.end()
            ),
        )
        .with_field("connector")
    };
    let routed = routed_accounts(state, payment).await?;
    let attempts = state.store.attempts(&payment.id).await?;
    if let Some(leg) = arrived_leg(&attempts).filter(|l| l.connector_id != connector_id) {
        return Err(Error::new(
            Code::ConnectorNotApplicable,
            format!(
                "part of this payment has arrived by {}; finish its remaining transfers (or, after the deadline, ask \
                 the agency to refund what arrived)",
                leg.connector_id
            ),
        )
        .with_field("connector"));
    }
    if account.connector.needs_beneficiary() && routed.len() > 1 {
        if routed.iter().any(|(_, amount)| !range.contains(amount)) {
            return Err(not_accepted());
        }
        return start_legs(state, payment, connector_id, &routed, payer_ip, locale, actor).await;
    }
    if !range.contains(&payment.amount) {
        return Err(not_accepted());
    }
    let beneficiary = match routed.as_slice() {
        [(b, _)] => Some(b.clone()),
        _ => None,
    };
    if account.connector.needs_beneficiary() && beneficiary.is_none() {
        return Err(Error::new(Code::ConnectorNotApplicable, "this payment has no account to transfer to")
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
        leg_group: None,
        leg: None,
        leg_account_id: None,
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
        beneficiary: beneficiary.map(|b| b.beneficiary),
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
            let code = failure_code(&e);
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
            Err(start_error(e))
        }
    }
}

fn start_error(e: ConnectorError) -> Error {
    match e {
        ConnectorError::NotSupported { .. } | ConnectorError::Config(_) => Error::internal(e),
        ConnectorError::Rejected { .. } => {
            Error::new(Code::GatewayRejected, format!("the gateway refused the payment: {e}"))
        }
        ConnectorError::Transport(_) | ConnectorError::BadResponse(_) => {
            Error::new(Code::GatewayUnavailable, "the gateway did not answer; try again or choose another")
        }
    }
}

fn failure_code(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Rejected { code, .. } => code.clone(),
        _ => "unreachable".into(),
    }
}

/// A leg that has arrived while its group is not complete (the payment is not paid yet).
fn arrived_leg(attempts: &[AttemptRow]) -> Option<&AttemptRow> {
    attempts.iter().find(|a| a.leg_group.is_some() && a.status() == AttemptStatus::Succeeded)
}

/// The legs of group `group`, in leg order.
pub fn legs_of<'a>(attempts: &'a [AttemptRow], group: &str) -> Vec<&'a AttemptRow> {
    let mut legs: Vec<&AttemptRow> = attempts.iter().filter(|a| a.leg_group.as_deref() == Some(group)).collect();
    legs.sort_by_key(|a| a.leg);
    legs
}

/// The group of `connector_id` under way for this payment: the latest whose legs are not
/// all closed (one still awaited, or one arrived).
fn group_under_way(attempts: &[AttemptRow], connector_id: &str) -> Option<String> {
    attempts
        .iter()
        .rev()
        .filter(|a| a.connector_id == connector_id)
        .filter_map(|a| a.leg_group.clone())
        .find(|g| legs_of(attempts, g).iter().any(|l| l.status().is_open() || l.status() == AttemptStatus::Succeeded))
}

/// Starts (or gives back) the legs of a bank transfer to several accounts.
async fn start_legs(
    state: &AppState,
    payment: &PaymentRow,
    connector_id: &str,
    routed: &[(Routed, i64)],
    payer_ip: Option<String>,
    locale: Locale,
    actor: &str,
) -> Result<Action, Error> {
    let store = &state.store;
    let now = now_ms();
    let group_id = new_id("att");
    let legs: Vec<AttemptRow> = routed
        .iter()
        .enumerate()
        .map(|(i, (r, amount))| AttemptRow {
            id: if i == 0 { group_id.clone() } else { new_id("att") },
            payment_id: payment.id.clone(),
            connector_id: connector_id.to_owned(),
            reference: new_reference(),
            status: AttemptStatus::Pending,
            amount: *amount,
            currency: payment.currency.clone(),
            gateway_ref: None,
            gateway_txn: None,
            failure_code: None,
            action: "{}".into(),
            created_at: now,
            updated_at: now,
            leg_group: Some(group_id.clone()),
            leg: Some(i as i64 + 1),
            leg_account_id: Some(r.account_id.clone()),
        })
        .collect();
    let mut tx = store.begin().await?;
    // The payment's row is taken first, so two presses of "pay" at once make one group.
    if !store.transition_payment(&mut tx, &payment.id, PaymentStatus::Pending, None).await? {
        tx.rollback().await?;
        return Err(Error::new(Code::PaymentNotPayable, "the payment is no longer payable"));
    }
    let existing = store.attempts_in(&mut tx, &payment.id).await?;
    let legs = match group_under_way(&existing, connector_id) {
        Some(g) => {
            let legs: Vec<AttemptRow> = legs_of(&existing, &g).into_iter().cloned().collect();
            // A leg closed because the wrong amount (or account) came is awaited again: the
            // payer transfers it anew; what came wrong is a review of its own.
            for l in legs.iter().filter(|l| l.status() == AttemptStatus::Failed) {
                store.reawait_leg(&mut tx, &l.id).await?;
            }
            tx.commit().await?;
            legs
        }
        None => {
            for l in &legs {
                store.insert_attempt(&mut tx, l).await?;
            }
            if payment.status() == PaymentStatus::Created {
                store
                    .insert_event(
                        &mut tx,
                        &payment.id,
                        "payment.pending",
                        Some(PaymentStatus::Created),
                        Some(PaymentStatus::Pending),
                        &serde_json::json!({"attempt_id": group_id, "connector": connector_id}),
                        false,
                    )
                    .await?;
            }
            let shown: Vec<serde_json::Value> = legs
                .iter()
                .map(|l| {
                    serde_json::json!({"attempt_id": l.id, "reference": l.reference, "amount": l.amount,
                    "account_id": l.leg_account_id})
                })
                .collect();
            store
                .audit(
                    &mut tx,
                    &payment.id,
                    "attempt.started",
                    actor,
                    &serde_json::json!({"attempt_id": group_id, "connector": connector_id, "legs": shown}),
                )
                .await?;
            tx.commit().await?;
            legs
        }
    };
    let account = state.connectors.get(connector_id).ok_or_else(|| Error::not_found("connector"))?;
    let public = &state.config.public_url;
    let mut transfers = Vec::new();
    for leg in &legs {
        if let Ok(Action::Qr { payload, transfer }) = serde_json::from_str::<Action>(&leg.action) {
            transfers.push(QrTransfer { attempt_id: leg.id.clone(), payload, transfer });
            continue;
        }
        let beneficiary = routed
            .iter()
            .find(|(r, _)| Some(&r.account_id) == leg.leg_account_id.as_ref())
            .map(|(r, _)| r.beneficiary.clone());
        let req = StartRequest {
            reference: leg.reference.clone(),
            payment_id: payment.id.clone(),
            amount: leg.amount,
            currency: payment.currency.clone(),
            description: format!("{} {}", payment.dossier_code, payment.description),
            created_at: datetime(leg.created_at),
            expires_at: datetime(payment.expires_at),
            return_url: format!("{public}/return/{connector_id}"),
            notify_url: format!("{public}/callbacks/{connector_id}"),
            payer_ip: payer_ip.clone(),
            locale,
            beneficiary,
        };
        match account.connector.start(&req).await {
            Ok(started) => {
                let action = serde_json::to_string(&started.action).map_err(Error::internal)?;
                let mut tx = store.begin().await?;
                store.set_attempt_action(&mut tx, &leg.id, &action, started.gateway_ref.as_deref()).await?;
                tx.commit().await?;
                match started.action {
                    Action::Qr { payload, transfer } => {
                        transfers.push(QrTransfer { attempt_id: leg.id.clone(), payload, transfer })
                    }
                    other => {
                        return Err(Error::internal(format!(
                            "{connector_id} answered a transfer leg with {other:?}, not a QR code"
                        )))
                    }
                }
            }
            Err(e) => {
                let mut tx = store.begin().await?;
                fail_legs(state, &mut tx, &legs, &failure_code(&e)).await?;
                store
                    .audit(
                        &mut tx,
                        &payment.id,
                        "attempt.start_failed",
                        actor,
                        &serde_json::json!({"attempt_id": leg.id, "error": e.to_string()}),
                    )
                    .await?;
                tx.commit().await?;
                tracing::warn!(payment_id = %payment.id, connector = connector_id, error = %e, "a transfer leg did not start");
                return Err(start_error(e));
            }
        }
    }
    Ok(Action::Transfers { transfers })
}

/// Closes the open legs of a group whose start failed, and gives the payment back.
async fn fail_legs(state: &AppState, tx: &mut Tx, legs: &[AttemptRow], code: &str) -> Result<(), Error> {
    for l in legs {
        state.store.finish_attempt(tx, &l.id, AttemptStatus::Failed, None, Some(code)).await?;
    }
    if let Some(l) = legs.first() {
        state.store.reopen_payment(tx, &l.payment_id).await?;
    }
    Ok(())
}

/// An account the payment's lines go to, as a transfer names it.
#[derive(Debug, Clone)]
struct Routed {
    account_id: String,
    beneficiary: Beneficiary,
}

/// The accounts the payment's lines go to, each with the sum of its lines, in the order of
/// the lines (the first line's account first).
async fn routed_accounts(state: &AppState, payment: &PaymentRow) -> Result<Vec<(Routed, i64)>, Error> {
    let lines = state.store.lines(&payment.id).await?;
    let mut sums: Vec<(String, i64)> = Vec::new();
    for l in &lines {
        match sums.iter_mut().find(|(id, _)| *id == l.account_id) {
            Some((_, sum)) => *sum += l.amount,
            None => sums.push((l.account_id.clone(), l.amount)),
        }
    }
    let mut out = Vec::new();
    for (account_id, sum) in sums {
        let a = state
            .store
            .account(&account_id)
            .await?
            .ok_or_else(|| Error::internal(format!("payment {} routes to an unknown account", payment.id)))?;
        let beneficiary = Beneficiary {
            bank_bin: a.bank_bin,
            bank_name: a.bank_name,
            account_number: a.account_number,
            account_name: a.account_name,
        };
        out.push((Routed { account_id, beneficiary }, sum));
    }
    Ok(out)
}
