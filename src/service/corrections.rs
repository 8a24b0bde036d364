//! Corrections: a settlement line or a statement credit proves money feegate has not seen
//! arrive (the attempt is still pending, or was closed as expired or failed). The file alone
//! is not trusted to move money state: the attempt's connector is queried, and only a
//! confirmed success is applied — through the same guarded [`callbacks::apply`] that
//! callbacks and the resolver use, so the payment gets its event, webhook and audit entry
//! (or, when it can no longer take the success, a review), never a side door.
//!
//! An import does not wait for the gateways: it queues each correction its run proves in
//! the run's own transaction (`recon_corrections`), and says so in the item's reason. The
//! worker started by [`spawn`] claims due corrections under a lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, so two nodes never query the same one at once), asks the
//! connector, and writes the result into the item's reason in place of the queued note. A
//! query that fails (timeout, 5xx) is tried again with backoff, [`MAX_TRIES`] times in all.
//! Should a lease run out mid-query, the next try finds the attempt succeeded and says so:
//! the success is applied through the guarded transition once.

use crate::app::AppState;
use crate::service::callbacks::{self, Fact};
use crate::service::datetime;
use crate::service::error::Error;
use crate::store::recon::{CorrectionRow, NewCorrection};
use crate::store::{now_ms, Tx};
use feegate_connector::{Disposition, Outcome, QueryRequest};
use std::time::Duration;
use tokio::sync::watch;

/// A settlement file that proves more payments than this is a systemic fault (a wrong file,
/// a gateway outage) for a person to look at, not for a flood of gateway queries.
pub const MAX_PER_SETTLEMENT_RUN: usize = 50;

/// Tries of a correction whose query fails before it is given up (and stays a case).
pub const MAX_TRIES: i64 = 5;
/// How often the worker looks for due corrections.
const EVERY: Duration = Duration::from_millis(500);
/// The delay before the second try; doubled for each further one.
const FIRST_RETRY_MS: i64 = 2_000;
/// How many corrections one pass claims.
const BATCH: i64 = 20;

/// What became of one correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Correction {
    /// The connector confirmed the success and it was applied; the payment is now `status`
    /// (with a review when it could not take the success: expired, cancelled, already paid).
    Applied { status: String, review: Option<String> },
    /// The attempt had succeeded meanwhile (a late callback or the resolver won).
    AlreadyDone { status: String },
    /// The connector did not confirm: what it said instead.
    NotConfirmed(String),
    /// The connector's query failed (a timeout, an error): worth another try.
    QueryFailed(String),
}

impl Correction {
    /// A sentence for the item's reason.
    pub fn describe(&self) -> String {
        match self {
            Correction::Applied { status, review: None } => {
                format!("corrected: the connector's query confirmed the success; the payment is now {status}")
            }
            Correction::Applied { status, review: Some(r) } => format!(
                "the connector's query confirmed the success; the payment stays {status} and is raised for review ({r})"
            ),
            Correction::AlreadyDone { status } => format!("the payment has meanwhile become {status}"),
            Correction::NotConfirmed(why) => format!("not corrected: {why}"),
            Correction::QueryFailed(why) => format!("not corrected: the connector's query failed ({why})"),
        }
    }
}

/// Queries the connector of `attempt_id` and applies a confirmed success. `evidence`
/// (which file and line proved it) goes into the audit entry with `actor`.
pub async fn confirm(
    state: &AppState,
    attempt_id: &str,
    actor: &str,
    evidence: &serde_json::Value,
) -> Result<Correction, Error> {
    let store = &state.store;
    let attempt = store.attempt(attempt_id).await?.ok_or_else(|| Error::not_found("attempt"))?;
    if attempt.status == crate::domain::payment::AttemptStatus::Succeeded {
        let (status, _) = status_now(state, &attempt.payment_id).await?;
        return Ok(Correction::AlreadyDone { status });
    }
    let Some(account) = state.connectors.get(&attempt.connector_id) else {
        return Ok(Correction::NotConfirmed(format!("connector {} is no longer configured", attempt.connector_id)));
    };
    let q = QueryRequest {
        reference: attempt.reference.clone(),
        gateway_txn: attempt.gateway_txn.clone(),
        amount: attempt.amount,
        created_at: datetime(attempt.created_at),
    };
    let answer = match account.connector.query(&q).await {
        Ok(r) => r,
        Err(e) => return Ok(Correction::QueryFailed(e.to_string())),
    };
    match &answer.outcome {
        Outcome::Succeeded => {}
        Outcome::Pending => return Ok(Correction::NotConfirmed("the connector still reports it pending".into())),
        Outcome::Failed { code, .. } => {
            return Ok(Correction::NotConfirmed(format!("the connector reports it failed ({code})")))
        }
    }
    let (_, review_before) = status_now(state, &attempt.payment_id).await?;
    let d = callbacks::apply(state, &attempt.connector_id, Fact::from_query(&attempt, answer), None, actor).await?;
    let (status, review) = status_now(state, &attempt.payment_id).await?;
    let mut tx = store.begin().await?;
    let data = serde_json::json!({"attempt_id": attempt.id, "reference": attempt.reference,
        "disposition": format!("{d:?}"), "status": status, "evidence": evidence});
    store.audit(&mut tx, &attempt.payment_id, "payment.correction", actor, &data).await?;
    tx.commit().await?;
    tracing::info!(payment_id = %attempt.payment_id, attempt_id = %attempt.id, status = %status, "correction applied");
    Ok(match d {
        Disposition::AmountMismatch => {
            Correction::Applied { status, review: review.or(review_before).or(Some("amount_mismatch".into())) }
        }
        _ => {
            let review = review.filter(|r| review_before.as_deref() != Some(r.as_str()));
            Correction::Applied { status, review }
        }
    })
}

/// The payment's status and review reason.
async fn status_now(state: &AppState, pid: &str) -> Result<(String, Option<String>), Error> {
    let p = state.store.payment(pid).await?.ok_or_else(|| Error::not_found("payment"))?;
    Ok((p.status.as_str().to_owned(), p.review_reason.clone()))
}

/// Queues, inside a settlement run's `tx`, a correction for every pay line the file reports
/// successful for an attempt feegate has not seen succeed (at most
/// [`MAX_PER_SETTLEMENT_RUN`]); gives how many.
pub async fn queue_settlement(
    state: &AppState,
    tx: &mut Tx,
    actor: &str,
    run_id: &str,
    file_sha256: &str,
) -> Result<usize, Error> {
    let proven = state.store.settlement_corrections(tx, run_id).await?;
    if proven.len() > MAX_PER_SETTLEMENT_RUN {
        tracing::warn!(
            run_id,
            proven = proven.len(),
            "more proven payments than one run corrects; the rest stay cases"
        );
    }
    let list: Vec<NewCorrection> = proven
        .into_iter()
        .take(MAX_PER_SETTLEMENT_RUN)
        .map(|(item_id, attempt_id, line, amount)| {
            let evidence =
                serde_json::json!({"run_id": run_id, "file_sha256": file_sha256, "line": line, "amount": amount});
            (item_id, attempt_id, evidence.to_string())
        })
        .collect();
    state.store.queue_corrections(tx, run_id, actor, &list, now_ms()).await?;
    Ok(list.len())
}

/// Runs the correction worker until `stop` turns true.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let owner = crate::domain::ids::new_id("cw");
    crate::service::worker::spawn("correction", EVERY, stop, move || {
        let (state, owner) = (state.clone(), owner.clone());
        async move { run_once(&state, &owner).await }
    })
}

/// The lease of a claimed correction: long enough for a query that runs into the gateway
/// timeout, and the write after it.
fn lease_ms(state: &AppState) -> i64 {
    (state.config.gateway_timeout_ms as i64).saturating_mul(2).saturating_add(30_000)
}

/// One pass: claims due corrections as `owner` and works them off; gives how many were
/// finished (with whatever result).
pub async fn run_once(state: &AppState, owner: &str) -> anyhow::Result<usize> {
    let claimed = state.store.claim_corrections(now_ms(), lease_ms(state), owner, BATCH).await?;
    let mut finished = 0;
    for c in claimed {
        if work(state, owner, &c).await? {
            finished += 1;
        }
    }
    Ok(finished)
}

/// Tries one claimed correction; `true` when it is finished.
async fn work(state: &AppState, owner: &str, c: &CorrectionRow) -> anyhow::Result<bool> {
    let evidence: serde_json::Value = serde_json::from_str(&c.evidence).unwrap_or(serde_json::Value::Null);
    let result = confirm(state, &c.attempt_id, &c.actor, &evidence).await;
    let retry = match &result {
        Ok(Correction::QueryFailed(_)) => true,
        Err(e) => e.is_server_fault(),
        Ok(_) => false,
    };
    let said = match &result {
        Ok(corr) => corr.describe(),
        Err(e) => format!("not corrected: {}", e.message),
    };
    if retry && c.tries < MAX_TRIES {
        let next = now_ms() + FIRST_RETRY_MS.saturating_mul(1i64 << (c.tries - 1).clamp(0, 16));
        tracing::info!(correction = %c.id, attempt_id = %c.attempt_id, tries = c.tries, "correction will be tried again: {said}");
        state.store.retry_correction(c, owner, next, &said).await?;
        return Ok(false);
    }
    let said = if retry { format!("{said}, {} tries", c.tries) } else { said };
    let done = state.store.finish_correction(c, owner, &said, now_ms()).await?;
    if done {
        tracing::info!(correction = %c.id, run_id = %c.run_id, attempt_id = %c.attempt_id, "correction done: {said}");
    }
    Ok(done)
}
