//! Gateway notifications: verify, check against the attempt, apply through guarded
//! transitions. The same [`apply`] serves callbacks, status queries and browser returns
//! that led to a query, so every path to "paid" is the same guarded code.

use crate::app::AppState;
use crate::domain::ids::new_id;
use crate::domain::payment::{review, AttemptStatus, PaymentStatus};
use crate::service::error::Code;
use crate::service::error::Error;
use crate::service::view::PaymentView;
use crate::store::payments::{AttemptRow, CallbackRecord, PaymentRow};
use crate::store::{now_ms, Tx};
use feegate_connector::{
    Action, CreditedAccount, Disposition, InboundRequest, Notification, Outcome, QueryRequest, QueryResult, Reply,
    VerifyError,
};
use sha2::{Digest, Sha256};

/// Review reasons beside those of [`review`]: a bank transfer credited to an account other
/// than the one the attempt routed it to.
pub const WRONG_BENEFICIARY: &str = "wrong_beneficiary";

/// A fact about an attempt from a trusted source (a verified notification or a query).
#[derive(Debug, Clone)]
pub struct Fact {
    pub reference: String,
    pub gateway_txn: Option<String>,
    /// `None` when the source does not say (some queries).
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub outcome: Outcome,
    /// For a bank transfer, the account the money landed in, when the source says.
    pub credited_to: Option<CreditedAccount>,
}

impl From<Notification> for Fact {
    fn from(n: Notification) -> Fact {
        Fact {
            reference: n.reference,
            gateway_txn: n.gateway_txn,
            amount: Some(n.amount),
            currency: Some(n.currency),
            outcome: n.outcome,
            credited_to: None,
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
            credited_to: None,
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
            let credited_to = v.credited_to().cloned();
            let fact = Fact { credited_to, ..Fact::from(v.into_inner()) };
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
) -> Result<(), Error> {
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
) -> Result<Disposition, Error> {
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
    // A bank transfer is ours only if it landed in the account the attempt routed it to.
    let bank_transfer = state.connectors.get(connector_id).is_some_and(|a| a.connector.needs_beneficiary());
    let mut fact = fact;
    let transfer = if bank_transfer && fact.outcome == Outcome::Succeeded {
        if fact.credited_to.is_none() {
            fact.credited_to = Some(landed_in(state, connector_id, &attempt, &fact).await?);
        }
        Some(Transfer { routed: routed_account(state, &attempt).await? })
    } else {
        None
    };
    // What the message said, for the journal. Where it made the payment (or the attempt)
    // change, the entry of that change carries it: one entry for one fact.
    let callback_id = raw.as_ref().map(|_| new_id("cb"));
    let mut heard = Heard {
        entry: callback_id.as_ref().map(|id| {
            serde_json::json!({"callback_id": id, "outcome": fact.outcome, "amount": fact.amount,
                "gateway_txn": fact.gateway_txn, "credited_to": fact.credited_to})
        }),
        kept: raw.as_ref().zip(callback_id.as_ref()).map(|(raw, id)| {
            record(id, connector_id, raw, Disposition::Applied, None, Some(&fact.reference), Some(&attempt.id))
        }),
    };
    let mut tx = store.begin().await?;
    let d = apply_in(state, &mut tx, &attempt, &fact, transfer.as_ref(), actor, &mut heard).await?;
    if let Some(mut kept) = heard.kept {
        kept.disposition = disposition_name(d).to_owned();
        store.record_callback(&mut tx, &kept).await?;
    }
    if let Some(mut entry) = heard.entry {
        // Nothing changed for it (already final, pending, under review): the message alone.
        entry["attempt_id"] = attempt.id.clone().into();
        entry["disposition"] = disposition_name(d).into();
        store.audit(&mut tx, &attempt.payment_id, "callback.received", actor, &entry).await?;
    }
    tx.commit().await?;
    Ok(d)
}

/// The callback behind a fact, if any.
struct Heard {
    /// What it said, for the journal: taken by the entry of the change it made, else written
    /// alone.
    entry: Option<serde_json::Value>,
    /// The message as kept in `callbacks`: a success that pays the payment writes it before
    /// it takes the receipt's number (see [`pay`]); any other outcome after, with its
    /// disposition.
    kept: Option<CallbackRecord>,
}

/// What a bank-transfer success is checked against.
struct Transfer {
    /// The account the attempt's QR (or, failing that, the payment's lines) named.
    routed: Option<CreditedAccount>,
}

fn same_account(a: &CreditedAccount, b: &CreditedAccount) -> bool {
    a.bank_bin.trim() == b.bank_bin.trim() && a.account_number.trim() == b.account_number.trim()
}

fn describe(a: Option<&CreditedAccount>) -> String {
    a.map(|a| format!("{} {}", a.bank_bin, a.account_number)).unwrap_or_else(|| "an unknown account".into())
}

/// Where a bank transfer a query reported landed, asked of the bank. Not knowing is an
/// error (the caller retries later), never a success applied blind.
async fn landed_in(
    state: &AppState,
    connector_id: &str,
    attempt: &AttemptRow,
    fact: &Fact,
) -> Result<CreditedAccount, Error> {
    let unavailable = |m: String| Error::new(Code::GatewayUnavailable, m);
    let account = state.connectors.get(connector_id).ok_or_else(|| Error::not_found("connector"))?;
    let txn = fact.gateway_txn.as_deref().ok_or_else(|| {
        unavailable(format!("a credit for {} without a transaction number cannot be checked", attempt.reference))
    })?;
    let q = QueryRequest {
        reference: attempt.reference.clone(),
        gateway_txn: Some(txn.to_owned()),
        amount: attempt.amount,
        created_at: crate::service::datetime(attempt.created_at),
    };
    match account.connector.credited_account(&q, txn).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(unavailable(format!("the bank does not say where credit {txn} landed; it is not applied"))),
        Err(e) => Err(unavailable(format!("asking the bank where credit {txn} landed failed: {e}"))),
    }
}

/// The account an attempt routed the transfer to: the one its QR named, or (if the
/// gateway's answer to start was never recorded) the payment's single account.
async fn routed_account(state: &AppState, attempt: &AttemptRow) -> Result<Option<CreditedAccount>, Error> {
    if let Some(id) = &attempt.leg_account_id {
        // A leg of a transfer to several accounts: its own account, whatever else.
        return Ok(state
            .store
            .account(id)
            .await?
            .map(|a| CreditedAccount { bank_bin: a.bank_bin, account_number: a.account_number }));
    }
    if let Ok(Action::Qr { transfer, .. }) = serde_json::from_str::<Action>(&attempt.action) {
        return Ok(Some(CreditedAccount { bank_bin: transfer.bank_bin, account_number: transfer.account_number }));
    }
    let lines = state.store.lines(&attempt.payment_id).await?;
    let Some(first) = lines.first() else { return Ok(None) };
    if lines.iter().any(|l| l.account_id != first.account_id) {
        return Ok(None);
    }
    Ok(state
        .store
        .account(&first.account_id)
        .await?
        .map(|a| CreditedAccount { bank_bin: a.bank_bin, account_number: a.account_number }))
}

/// `heard`: the callback behind `fact`, if any; its entry is taken (and carried by the
/// journal entry of the change) when the fact fails the attempt or pays the payment.
async fn apply_in(
    state: &AppState,
    tx: &mut Tx,
    attempt: &AttemptRow,
    fact: &Fact,
    transfer: Option<&Transfer>,
    actor: &str,
    heard: &mut Heard,
) -> Result<Disposition, Error> {
    let store = &state.store;
    let pid = &attempt.payment_id;
    let txn_text = fact.gateway_txn.as_deref().unwrap_or("-");
    if let Some(t) = transfer {
        let landed = fact.credited_to.as_ref();
        if !matches!((landed, &t.routed), (Some(l), Some(r)) if same_account(l, r)) {
            // Money with our reference in someone else's account (another agency's): not
            // ours to apply; a person sorts it out with the bank.
            let detail = format!(
                "attempt {}: credit {txn_text} of {} landed in {}, the attempt routed it to {}",
                attempt.id,
                fact.amount.unwrap_or_default(),
                describe(landed),
                describe(t.routed.as_ref())
            );
            close_for_review(state, tx, attempt, WRONG_BENEFICIARY, actor).await?;
            needs_review(state, tx, pid, WRONG_BENEFICIARY, &detail, actor).await?;
            return Ok(Disposition::AmountMismatch);
        }
    }
    let amount_wrong = fact.amount.is_some_and(|a| a != attempt.amount);
    let currency_wrong = fact.currency.as_deref().is_some_and(|c| c != attempt.currency);
    if (amount_wrong || currency_wrong) && fact.outcome == Outcome::Succeeded {
        let detail = format!(
            "attempt {}: gateway reports {} {} (transaction {txn_text}), attempt is {} {}",
            attempt.id,
            fact.amount.unwrap_or_default(),
            fact.currency.as_deref().unwrap_or("?"),
            attempt.amount,
            attempt.currency
        );
        if transfer.is_some() {
            // The payer typed the amount: this transfer will never become the right one.
            // The attempt is done (nobody polls it for ever); the payer may pay again.
            close_for_review(state, tx, attempt, review::AMOUNT_MISMATCH, actor).await?;
        }
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
            reopen(state, tx, attempt, code).await?;
            let mut entry = serde_json::json!({"attempt_id": attempt.id, "code": code});
            if let Some(h) = heard.entry.take() {
                entry["callback"] = h;
            }
            store.audit(tx, pid, "attempt.failed", actor, &entry).await?;
            Ok(Disposition::Applied)
        }
        Outcome::Succeeded => {
            let txn = fact.gateway_txn.as_deref();
            // A leg takes the payment's row before its own (a one-piece success takes them the
            // other way round, and would deadlock with it paying the payment now).
            let locked = match &attempt.leg_group {
                Some(_) => Some(store.lock_payment(tx, pid).await?.ok_or_else(|| Error::not_found("payment"))?),
                None => None,
            };
            if store.succeed_attempt(tx, &attempt.id, txn).await? {
                let paying = match &locked {
                    None => Some((attempt.clone(), txn.map(str::to_owned))),
                    Some(p) => match leg_arrived(state, tx, attempt, p, txn, actor, heard).await? {
                        LegArrived::Complete(first, txns) => Some((first, Some(txns))),
                        LegArrived::Awaiting => return Ok(Disposition::Applied),
                        LegArrived::NotPayable => None,
                    },
                };
                if let Some((paying, txn)) = paying {
                    if pay(state, tx, &paying, txn.as_deref(), actor, heard).await? {
                        return Ok(Disposition::Applied);
                    }
                }
                // The attempt succeeded but the payment can no longer take it.
                late_or_second(state, tx, attempt, txn, actor).await?;
                return Ok(Disposition::Applied);
            }
            let now = store.attempt_in(tx, &attempt.id).await?;
            if now.as_ref().is_some_and(|a| a.status() == AttemptStatus::Succeeded) {
                let known = now.and_then(|a| a.gateway_txn);
                if let (Some(_), Some(new)) = (transfer, txn) {
                    if known.as_deref() != Some(new) {
                        // Another credit with the same reference: the payer paid twice.
                        let detail = format!(
                            "attempt {} was paid by credit {}; credit {new} of {} carries the same reference",
                            attempt.id,
                            known.as_deref().unwrap_or("-"),
                            fact.amount.unwrap_or_default()
                        );
                        record_second_credit(state, tx, attempt, new, actor).await?;
                        needs_review(state, tx, pid, review::SECOND_SUCCESS, &detail, actor).await?;
                        return Ok(Disposition::Applied);
                    }
                }
                return Ok(Disposition::AlreadyFinal);
            }
            // A success for an attempt we had closed as failed or expired: the gateway has
            // the money. Record the truth on the attempt and raise it for a person.
            store.reopen_attempt_as_succeeded(tx, &attempt.id, txn).await?;
            late_or_second(state, tx, attempt, txn, actor).await?;
            Ok(Disposition::Applied)
        }
    }
}

/// Pays the payment with `attempt` (for a transfer to several accounts, its first leg, with
/// every leg's transaction): the payment's other attempts are closed and its receipt is
/// issued, in this transaction. `false` when the payment can no longer take it.
async fn pay(
    state: &AppState,
    tx: &mut Tx,
    attempt: &AttemptRow,
    txn: Option<&str>,
    actor: &str,
    heard: &mut Heard,
) -> Result<bool, Error> {
    let store = &state.store;
    let pid = &attempt.payment_id;
    let Some(paid) = store.pay_payment(tx, pid, &attempt.id, now_ms()).await? else { return Ok(false) };
    let closed = store.close_other_attempts(tx, pid, &attempt.id).await?;
    let lines = store.lines_in(tx, pid).await?;
    let attempts = store.attempts_in(tx, pid).await?;
    let mut entry = serde_json::json!({"attempt_id": attempt.id, "gateway_txn": txn, "other_attempts_closed": closed});
    if let Some(h) = heard.entry.take() {
        entry["callback"] = h;
    }
    store.audit(tx, pid, "payment.succeeded", actor, &entry).await?;
    if let Some(kept) = heard.kept.take() {
        store.record_callback(tx, &kept).await?;
    }
    // The receipt's number locks its series' counter until the commit (that is what keeps
    // the numbers gapless), so it is taken last: only the receipt and the two events it
    // goes into are written while the series waits.
    let receipt = crate::service::receipts::issue(state, tx, &paid, &lines, attempt, txn).await?;
    let receipt = crate::service::receipts::view(&state.config.public_url, &receipt);
    let view = PaymentView::build(&state.config.public_url, &paid, &lines, &attempts);
    let mut data = serde_json::to_value(view).map_err(Error::internal)?;
    data["receipt"] = serde_json::to_value(&receipt).map_err(Error::internal)?;
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
    let issued = serde_json::to_value(&receipt).map_err(Error::internal)?;
    // The success webhook carries the receipt too; receipt.issued follows it (in order, per
    // payment) for a portal that files receipts by event.
    store.insert_event(tx, pid, "receipt.issued", None, None, &issued, true).await?;
    metrics::counter!("feegate_payment_transitions_total", "to" => "succeeded").increment(1);
    // Money that arrived for another way of paying it (a leg of an unfinished transfer to
    // several accounts) is now more than the payment: a person refunds it.
    for other in attempts.iter().filter(|a| {
        a.status() == AttemptStatus::Succeeded
            && a.id != attempt.id
            && a.leg_group.is_some()
            && a.leg_group != attempt.leg_group
    }) {
        let detail = format!(
            "payment paid by attempt {}; leg {} of an unfinished transfer ({} đồng, transaction {}) had arrived \
             too: refund it",
            attempt.id,
            other.id,
            other.amount,
            other.gateway_txn.as_deref().unwrap_or("-")
        );
        needs_review(state, tx, pid, review::SECOND_SUCCESS, &detail, actor).await?;
    }
    Ok(true)
}

/// What a leg's arrival makes of its group.
enum LegArrived {
    /// Every leg has arrived: pay the payment with the first leg and these transactions.
    Complete(AttemptRow, String),
    /// Legs are still awaited; the payment stays pending.
    Awaiting,
    /// The payment can no longer be paid (paid another way, expired, cancelled).
    NotPayable,
}

/// A leg has just arrived (its attempt succeeded in `tx`), its payment `locked` (taken
/// before the leg: of two legs arriving at once on two nodes the second counts after the
/// first has committed, and exactly one sees the group complete).
async fn leg_arrived(
    state: &AppState,
    tx: &mut Tx,
    attempt: &AttemptRow,
    locked: &PaymentRow,
    txn: Option<&str>,
    actor: &str,
    heard: &mut Heard,
) -> Result<LegArrived, Error> {
    let store = &state.store;
    let pid = &attempt.payment_id;
    let group = attempt.leg_group.as_deref().ok_or_else(|| Error::internal("a leg without a group"))?;
    if !locked.status().is_payable() {
        return Ok(LegArrived::NotPayable);
    }
    let attempts = store.attempts_in(tx, pid).await?;
    let legs = crate::service::attempts::legs_of(&attempts, group);
    let awaited: Vec<&&AttemptRow> = legs.iter().filter(|l| l.status() != AttemptStatus::Succeeded).collect();
    if awaited.is_empty() {
        let txns: Vec<&str> = legs.iter().map(|l| l.gateway_txn.as_deref().unwrap_or("-")).collect();
        let first = legs.first().map(|l| (*l).clone()).ok_or_else(|| Error::internal("a group without legs"))?;
        return Ok(LegArrived::Complete(first, txns.join(", ")));
    }
    let mut entry = serde_json::json!({"attempt_id": attempt.id, "leg": attempt.leg, "legs": legs.len(),
        "gateway_txn": txn, "amount": attempt.amount, "awaiting": awaited.iter().map(|l| &l.id).collect::<Vec<_>>()});
    if let Some(h) = heard.entry.take() {
        entry["callback"] = h;
    }
    store.audit(tx, pid, "attempt.leg_arrived", actor, &entry).await?;
    Ok(LegArrived::Awaiting)
}

/// A second credit under a paid attempt's reference is a collection of its own: it is
/// recorded as a succeeded attempt (reference `<reference>.<credit>`, the credit as its
/// transaction) so that finance can refund exactly it. The bank's retry of the same credit
/// writes nothing new.
async fn record_second_credit(
    state: &AppState,
    tx: &mut Tx,
    attempt: &AttemptRow,
    txn: &str,
    actor: &str,
) -> Result<(), Error> {
    let now = now_ms();
    let second = AttemptRow {
        id: new_id("att"),
        reference: format!("{}.{txn}", attempt.reference),
        status: AttemptStatus::Succeeded,
        gateway_ref: None,
        gateway_txn: Some(txn.to_owned()),
        failure_code: None,
        created_at: now,
        updated_at: now,
        // Not a leg of the group: a collection of its own (still in the leg's account).
        leg_group: None,
        leg: None,
        ..attempt.clone()
    };
    if state.store.record_duplicate_attempt(tx, &second, &attempt.id).await? {
        state
            .store
            .audit(
                tx,
                &attempt.payment_id,
                "attempt.second_collection",
                actor,
                &serde_json::json!({"attempt_id": second.id, "of_attempt": attempt.id, "gateway_txn": txn,
                    "amount": second.amount}),
            )
            .await?;
    }
    Ok(())
}

/// A failed attempt gives the payment back to the payer (unless another is open).
async fn reopen(state: &AppState, tx: &mut Tx, attempt: &AttemptRow, code: &str) -> Result<(), Error> {
    let pid = &attempt.payment_id;
    if state.store.reopen_payment(tx, pid).await? {
        state
            .store
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
    Ok(())
}

/// Closes an open attempt whose money went wrong (failed with `code`): it will not be
/// polled for ever, and the payer may pay again. A right transfer that follows on the
/// same attempt still pays the payment ([`crate::store::Store::succeed_attempt`]).
async fn close_for_review(
    state: &AppState,
    tx: &mut Tx,
    attempt: &AttemptRow,
    code: &str,
    actor: &str,
) -> Result<(), Error> {
    if state.store.finish_attempt(tx, &attempt.id, AttemptStatus::Failed, None, Some(code)).await? {
        reopen(state, tx, attempt, code).await?;
        state
            .store
            .audit(
                tx,
                &attempt.payment_id,
                "attempt.closed_for_review",
                actor,
                &serde_json::json!({"attempt_id": attempt.id, "code": code}),
            )
            .await?;
    }
    Ok(())
}

async fn late_or_second(
    state: &AppState,
    tx: &mut Tx,
    attempt: &AttemptRow,
    txn: Option<&str>,
    actor: &str,
) -> Result<(), Error> {
    let p = state.store.payment_in(tx, &attempt.payment_id).await?.ok_or_else(|| Error::not_found("payment"))?;
    let reason = match p.status() {
        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => review::SECOND_SUCCESS,
        PaymentStatus::Expired | PaymentStatus::Cancelled => review::LATE_SUCCESS,
        PaymentStatus::Created | PaymentStatus::Pending => review::CONFLICTING_OUTCOME,
    };
    let detail = format!(
        "attempt {} succeeded (transaction {}) while the payment is {}",
        attempt.id,
        txn.unwrap_or("-"),
        p.status
    );
    needs_review(state, tx, &attempt.payment_id, reason, &detail, actor).await
}

/// Raises a payment for a person: each review is its own record and case and sends its
/// own `payment.needs_review`; the same `reason` and `detail` again (a gateway's retry) is
/// the same review. Audited either way.
pub(crate) async fn needs_review(
    state: &AppState,
    tx: &mut Tx,
    pid: &str,
    reason: &str,
    detail: &str,
    actor: &str,
) -> Result<(), Error> {
    let store = &state.store;
    let key = hex::encode(Sha256::digest(format!("{reason}\n{detail}").as_bytes()));
    let review_id = store.open_review(tx, pid, reason, detail, &key, actor).await?;
    if let Some(id) = &review_id {
        let data = payment_data(state, tx, pid).await?;
        store.insert_event(tx, pid, "payment.needs_review", None, None, &data, true).await?;
        metrics::counter!("feegate_reviews_opened_total", "reason" => reason.to_owned()).increment(1);
        tracing::warn!(payment_id = pid, review_id = %id, reason, detail, "payment needs review");
    }
    store
        .audit(
            tx,
            pid,
            "payment.review",
            actor,
            &serde_json::json!({"review_id": review_id, "reason": reason, "detail": detail}),
        )
        .await?;
    Ok(())
}

/// The payment representation, read inside `tx` (the `data` of webhook events).
pub(crate) async fn payment_data(state: &AppState, tx: &mut Tx, pid: &str) -> Result<serde_json::Value, Error> {
    let p = state.store.payment_in(tx, pid).await?.ok_or_else(|| Error::not_found("payment"))?;
    payment_data_of(state, tx, &p).await
}

/// The same for a payment row the transaction already holds (returned by its update).
async fn payment_data_of(state: &AppState, tx: &mut Tx, p: &PaymentRow) -> Result<serde_json::Value, Error> {
    let lines = state.store.lines_in(tx, &p.id).await?;
    let attempts = state.store.attempts_in(tx, &p.id).await?;
    serde_json::to_value(PaymentView::build(&state.config.public_url, p, &lines, &attempts)).map_err(Error::internal)
}

/// Where a verified browser return sends the payer: the portal's return URL with the
/// payment's id, the status the payer should see, its receipt when paid, and a signature
/// the portal can check with its webhook secret ([`return_signature`]).
pub struct Returned {
    pub return_url: String,
    pub payment_id: String,
    pub status: String,
    /// The original receipt's id and page, once paid.
    pub receipt: Option<(String, String)>,
    secret: String,
}

/// The `signature` of a browser return sent at unix second `ts`: hex HMAC-SHA256 keyed with
/// the portal's webhook secret over `"<ts>.<payment_id>.<status>.<receipt_id>.<receipt_url>"`
/// (the last two empty when there is no receipt). It tells the portal the values came from
/// feegate and were not edited in the address bar; it is not the payment's state of record
/// (confirm it by `GET /v1/payments/{id}` or the webhook).
pub fn return_signature(
    secret: &str,
    ts: i64,
    payment_id: &str,
    status: &str,
    receipt: Option<(&str, &str)>,
) -> String {
    let (rid, rurl) = receipt.unwrap_or(("", ""));
    let message = format!("{ts}.{payment_id}.{status}.{rid}.{rurl}");
    feegate_connector::crypto::hmac_sha256_hex(secret.as_bytes(), message.as_bytes())
}

impl Returned {
    /// The portal's return URL (kept with its own query) with `payment_id`, `status`,
    /// `receipt_id` and `receipt_url` (when paid), `ts` and `signature` added; `None` when
    /// the stored URL does not parse.
    pub fn redirect_url(&self, ts: i64) -> Option<String> {
        let mut u = url::Url::parse(&self.return_url).ok()?;
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("payment_id", &self.payment_id).append_pair("status", &self.status);
            if let Some((id, url)) = &self.receipt {
                q.append_pair("receipt_id", id).append_pair("receipt_url", url);
            }
            let receipt = self.receipt.as_ref().map(|(i, u)| (i.as_str(), u.as_str()));
            let sig = return_signature(&self.secret, ts, &self.payment_id, &self.status, receipt);
            q.append_pair("ts", &ts.to_string()).append_pair("signature", &sig);
        }
        Some(u.into())
    }
}

/// The payer's browser came back from `connector_id` with `reference` (verified by the
/// connector). The return alone proves nothing: if the attempt is still open, the gateway
/// is asked and its answer applied through the same guarded path as callbacks. `None`: no
/// attempt of this connector has the reference; `Some(Err)`: the payment cannot be read.
pub async fn returned(state: &AppState, connector_id: &str, reference: &str) -> Option<Result<Returned, Error>> {
    let attempt = match state.store.attempt_by_reference(reference).await {
        Ok(Some(a)) if a.connector_id == connector_id => a,
        _ => return None,
    };
    if attempt.status().is_open() {
        if let Some(account) = state.connectors.get(connector_id) {
            let q = QueryRequest {
                reference: attempt.reference.clone(),
                gateway_txn: attempt.gateway_txn.clone(),
                amount: attempt.amount,
                created_at: crate::service::datetime(attempt.created_at),
            };
            match account.connector.query(&q).await {
                Ok(r) => {
                    let fact = Fact::from_query(&attempt, r);
                    if let Err(e) = apply(state, connector_id, fact, None, "browser-return:query").await {
                        tracing::warn!(error = %e.message, "applying a queried outcome failed");
                    }
                }
                Err(e) => {
                    tracing::info!(connector = %connector_id, error = %e, "status query on return failed; the callback or resolver will tell")
                }
            }
        }
    }
    let p = match state.store.payment(&attempt.payment_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return Some(Err(Error::not_found("payment"))),
        Err(e) => return Some(Err(e.into())),
    };
    // The attempt as it is now (the query above may have settled it).
    let attempt_now =
        state.store.attempt(&attempt.id).await.ok().flatten().map(|a| a.status()).unwrap_or(attempt.status());
    let status = match p.status() {
        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => {
            p.status.as_str().to_owned()
        }
        _ if attempt_now == AttemptStatus::Failed => "failed".to_owned(),
        _ => p.status.as_str().to_owned(),
    };
    Some(returned_for(state, p, status).await)
}

/// The way back to the portal for payment `p` with the `status` the payer should see:
/// its receipt (once paid) and the portal's secret to sign it with. Also the paid page's
/// "back to the portal" link.
pub async fn returned_for(state: &AppState, p: PaymentRow, status: String) -> Result<Returned, Error> {
    let receipt = state
        .store
        .receipts_of(&p.id)
        .await?
        .iter()
        .find(|r| r.kind == "original")
        .map(|r| (r.id.clone(), super::receipts::view(&state.config.public_url, r).url));
    let secret = state.store.webhook_target(&p.id).await?.map(|t| t.webhook_secret).unwrap_or_default();
    Ok(Returned { return_url: p.return_url, payment_id: p.id, status, receipt, secret })
}
