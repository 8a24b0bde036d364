//! The expiry worker: moves due `created`/`pending` payments to `expired`. A payment
//! with an open attempt is first asked about at its gateway, so a paid dossier is never
//! expired silently; each move is a guarded transition, so several nodes may run it.
//! A payment that must wait (its gateway did not answer) is put off for a while, so any
//! number of them cannot fill every batch and keep the others from expiring.

use crate::app::AppState;
use crate::domain::payment::{AttemptStatus, PaymentStatus};
use crate::service::callbacks::{apply, Fact};
use crate::service::datetime;
use crate::store::now_ms;
use crate::store::payments::PaymentRow;
use feegate_connector::{Outcome, QueryRequest};
use std::time::Duration;
use tokio::sync::watch;

/// Runs the worker until `stop` turns true.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_millis(state.config.expiry_interval_ms.max(50));
    crate::service::worker::spawn("expiry", every, stop, move || {
        let state = state.clone();
        async move { run_once(&state).await }
    })
}

/// Due payments read per batch.
const BATCH: i64 = 200;
/// Batches per pass at most (a pass ends sooner when nothing is left).
const MAX_BATCHES: usize = 25;

/// One pass over due payments; returns how many were expired.
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    // A held payment is not offered again for a few intervals; the next batch of the same
    // pass already reaches past it.
    let put_off = (state.config.expiry_interval_ms.max(50) as i64).saturating_mul(5);
    let mut expired = 0;
    for _ in 0..MAX_BATCHES {
        let due = state.store.due_payments(now_ms(), BATCH).await?;
        let full = due.len() as i64 == BATCH;
        for p in due {
            if ask_gateway_first(state, &p).await {
                state.store.put_off_expiry(&p.id, now_ms() + put_off).await?;
                continue;
            }
            if expire(state, &p).await? {
                expired += 1;
            }
        }
        if !full {
            break;
        }
    }
    Ok(expired)
}

/// Queries each open attempt; true when a success was found and applied (or the answer
/// is unknown, so expiring now would be a guess).
async fn ask_gateway_first(state: &AppState, p: &PaymentRow) -> bool {
    let Ok(attempts) = state.store.attempts(&p.id).await else { return true };
    let mut hold = false;
    for a in attempts.iter().filter(|a| a.status().is_open()) {
        let Some(account) = state.connectors.get(&a.connector_id) else { continue };
        let q = QueryRequest {
            reference: a.reference.clone(),
            gateway_txn: a.gateway_txn.clone(),
            amount: a.amount,
            created_at: datetime(a.created_at),
        };
        match account.connector.query(&q).await {
            Ok(r) if r.outcome == Outcome::Succeeded => {
                let fact = Fact::from_query(a, r);
                if let Err(e) = apply(state, &a.connector_id, fact, None, "worker:expiry").await {
                    tracing::warn!(payment_id = %p.id, error = %e.message, "could not apply a queried success");
                }
                hold = true;
            }
            Ok(_) => {}
            Err(e) => {
                // Unknown: keep the payment until the gateway answers, but not forever: a
                // day past expiry we expire it and the late-success path catches stragglers.
                tracing::warn!(payment_id = %p.id, attempt = %a.id, error = %e, "gateway query failed before expiry");
                if now_ms() - p.expires_at < 24 * 3600 * 1000 {
                    hold = true;
                }
            }
        }
    }
    hold
}

async fn expire(state: &AppState, p: &PaymentRow) -> anyhow::Result<bool> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    if !store.transition_payment(&mut tx, &p.id, PaymentStatus::Expired, None).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    store.expire_open_attempts(&mut tx, &p.id).await?;
    // Legs of a transfer to several accounts that arrived while another did not: that money
    // is in the agencies' accounts for a payment that will never be paid. A person refunds
    // each (POST /v1/payments/{id}/refunds naming its attempt_id).
    let attempts = store.attempts_in(&mut tx, &p.id).await?;
    let arrived: Vec<String> = attempts
        .iter()
        .filter(|a| a.leg_group.is_some() && a.status() == AttemptStatus::Succeeded)
        .map(|a| format!("{} ({} đồng, transaction {})", a.id, a.amount, a.gateway_txn.as_deref().unwrap_or("-")))
        .collect();
    if !arrived.is_empty() {
        let detail = format!(
            "the deadline passed before every transfer arrived; arrived and to be refunded: {}",
            arrived.join("; ")
        );
        crate::service::callbacks::needs_review(
            state,
            &mut tx,
            &p.id,
            crate::domain::payment::review::TRANSFER_INCOMPLETE,
            &detail,
            "worker:expiry",
        )
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    }
    let data =
        crate::service::callbacks::payment_data(state, &mut tx, &p.id).await.map_err(|e| anyhow::anyhow!(e.message))?;
    store
        .insert_event(&mut tx, &p.id, "payment.expired", Some(p.status()), Some(PaymentStatus::Expired), &data, true)
        .await?;
    store
        .audit(
            &mut tx,
            &p.id,
            "payment.expired",
            "worker:expiry",
            &serde_json::json!({"from": p.status, "open_attempts_closed": AttemptStatus::Expired.as_str()}),
        )
        .await?;
    tx.commit().await?;
    metrics::counter!("feegate_payment_transitions_total", "to" => "expired").increment(1);
    Ok(true)
}
