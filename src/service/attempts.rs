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
    // What each attempt collects: the payment whole, or (a bank transfer to a payment whose
    // lines go to several accounts) one leg per account.
    let pieces: Vec<(Option<Routed>, i64)> = if account.connector.needs_beneficiary() && routed.len() > 1 {
        routed.into_iter().map(|(r, amount)| (Some(r), amount)).collect()
    } else {
        let to = match routed.as_slice() {
            [(r, _)] => Some(r.clone()),
            _ => None,
        };
        vec![(to, payment.amount)]
    };
    if pieces.iter().any(|(_, amount)| !range.contains(amount)) {
        return Err(not_accepted());
    }
    if account.connector.needs_beneficiary() && pieces.iter().any(|(to, _)| to.is_none()) {
        return Err(Error::new(Code::ConnectorNotApplicable, "this payment has no account to transfer to")
            .with_field("connector"));
    }
    let rows = open(state, payment, connector_id, &pieces, actor).await?;
    let public = &state.config.public_url;
    let mut actions = Vec::new();
    for row in &rows {
        if let (Some(_), Ok(action @ Action::Qr { .. })) = (&row.leg_group, serde_json::from_str(&row.action)) {
            // A leg of the group under way whose code was made before: the same code.
            actions.push((row.id.clone(), action));
            continue;
        }
        let to = match &row.leg_account_id {
            Some(id) => pieces.iter().find(|(to, _)| to.as_ref().is_some_and(|t| &t.account_id == id)),
            None => pieces.first(),
        };
        let req = StartRequest {
            reference: row.reference.clone(),
            payment_id: payment.id.clone(),
            amount: row.amount,
            currency: payment.currency.clone(),
            description: format!("{} {}", payment.dossier_code, payment.description),
            created_at: datetime(row.created_at),
            expires_at: datetime(payment.expires_at),
            return_url: format!("{public}/return/{connector_id}"),
            notify_url: format!("{public}/callbacks/{connector_id}"),
            payer_ip: payer_ip.clone(),
            locale,
            beneficiary: to.and_then(|(to, _)| to.as_ref()).map(|t| t.beneficiary.clone()),
        };
        match account.connector.start(&req).await {
            Ok(started) => {
                let mut tx = state.store.begin().await?;
                let action = serde_json::to_string(&started.action).map_err(Error::internal)?;
                state.store.set_attempt_action(&mut tx, &row.id, &action, started.gateway_ref.as_deref()).await?;
                tx.commit().await?;
                actions.push((row.id.clone(), started.action));
            }
            Err(e) => {
                start_failed(state, payment, &rows, row, &e, actor).await?;
                tracing::warn!(payment_id = %payment.id, connector = connector_id, error = %e, "gateway refused to start");
                return Err(start_error(e));
            }
        }
    }
    match actions.len() {
        1 => Ok(actions.remove(0).1),
        _ => {
            let mut transfers = Vec::new();
            for (attempt_id, action) in actions {
                let Action::Qr { payload, transfer } = action else {
                    return Err(Error::internal(format!("{connector_id} answered a transfer leg without a QR code")));
                };
                transfers.push(QrTransfer { attempt_id, payload, transfer });
            }
            Ok(Action::Transfers { transfers })
        }
    }
}

/// Records the attempts of a start, one per piece, in one transaction: the payment's row
/// first (so two presses of "pay" at once make one group of legs, and no leg arrives
/// between the check below and the insert), then the attempts. While a leg of a transfer to
/// several accounts has arrived, another connector is refused. A payment with a group of
/// legs of this connector under way gets that group back, a leg closed for the wrong amount
/// or account awaited again.
async fn open(
    state: &AppState,
    payment: &PaymentRow,
    connector_id: &str,
    pieces: &[(Option<Routed>, i64)],
    actor: &str,
) -> Result<Vec<AttemptRow>, Error> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    if !store.transition_payment(&mut tx, &payment.id, PaymentStatus::Pending, None).await? {
        tx.rollback().await?;
        return Err(Error::new(Code::PaymentNotPayable, "the payment is no longer payable"));
    }
    let existing = store.attempts_in(&mut tx, &payment.id).await?;
    if let Some(leg) = arrived_leg(&existing).filter(|l| l.connector_id != connector_id) {
        // Another way to pay now would collect the part that arrived a second time.
        tx.rollback().await?;
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
    if pieces.len() > 1 {
        if let Some(g) = group_under_way(&existing, connector_id) {
            let legs: Vec<AttemptRow> = legs_of(&existing, &g).into_iter().cloned().collect();
            for l in legs.iter().filter(|l| l.status() == AttemptStatus::Failed) {
                store.reawait_leg(&mut tx, &l.id).await?;
            }
            tx.commit().await?;
            return Ok(legs);
        }
    }
    let now = now_ms();
    let first = new_id("att");
    let legs = pieces.len() > 1;
    let rows: Vec<AttemptRow> = pieces
        .iter()
        .enumerate()
        .map(|(i, (to, amount))| AttemptRow {
            id: if i == 0 { first.clone() } else { new_id("att") },
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
            leg_group: legs.then(|| first.clone()),
            leg: legs.then_some(i as i64 + 1),
            leg_account_id: to.as_ref().filter(|_| legs).map(|t| t.account_id.clone()),
        })
        .collect();
    for row in &rows {
        store.insert_attempt(&mut tx, row).await?;
    }
    if payment.status() == PaymentStatus::Created {
        store
            .insert_event(
                &mut tx,
                &payment.id,
                "payment.pending",
                Some(PaymentStatus::Created),
                Some(PaymentStatus::Pending),
                &serde_json::json!({"attempt_id": first, "connector": connector_id}),
                false,
            )
            .await?;
    }
    let mut started =
        serde_json::json!({"attempt_id": first, "connector": connector_id, "reference": rows[0].reference});
    if legs {
        started["legs"] = rows
            .iter()
            .map(|l| {
                serde_json::json!({"attempt_id": l.id, "reference": l.reference, "amount": l.amount,
                "account_id": l.leg_account_id})
            })
            .collect();
    }
    store.audit(&mut tx, &payment.id, "attempt.started", actor, &started).await?;
    tx.commit().await?;
    Ok(rows)
}

/// `row`'s gateway refused to start it (or did not answer): the start's open attempts are
/// failed with the gateway's code and the payment is given back to the payer.
async fn start_failed(
    state: &AppState,
    payment: &PaymentRow,
    rows: &[AttemptRow],
    row: &AttemptRow,
    e: &ConnectorError,
    actor: &str,
) -> Result<(), Error> {
    let store = &state.store;
    let code = failure_code(e);
    let mut tx = store.begin().await?;
    for r in rows {
        store.finish_attempt(&mut tx, &r.id, AttemptStatus::Failed, None, Some(&code)).await?;
    }
    store.reopen_payment(&mut tx, &payment.id).await?;
    store
        .audit(
            &mut tx,
            &payment.id,
            "attempt.start_failed",
            actor,
            &serde_json::json!({"attempt_id": row.id, "error": e.to_string()}),
        )
        .await?;
    tx.commit().await?;
    Ok(())
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
