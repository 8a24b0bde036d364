//! Corrections: a settlement line or a statement credit proves money feegate has not seen
//! arrive (the attempt is still pending, or was closed as expired or failed). The file alone
//! is not trusted to move money state: the attempt's connector is queried, and only a
//! confirmed success is applied — through the same guarded [`callbacks::apply`] that
//! callbacks and the resolver use, so the payment gets its event, webhook and audit entry
//! (or, when it can no longer take the success, a review), never a side door.

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::service::callbacks::{self, Fact};
use crate::service::datetime;
use feegate_connector::{Disposition, Outcome, QueryRequest};

/// A settlement file that proves more payments than this is a systemic fault (a wrong file,
/// a gateway outage) for a person to look at, not for a flood of gateway queries.
pub const MAX_PER_SETTLEMENT_RUN: usize = 50;

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
) -> Result<Correction, ApiError> {
    let store = &state.store;
    let attempt = store.attempt(attempt_id).await?.ok_or_else(|| ApiError::not_found("attempt"))?;
    if attempt.status == "succeeded" {
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
        Err(e) => return Ok(Correction::NotConfirmed(format!("the connector's query failed ({e})"))),
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
async fn status_now(state: &AppState, pid: &str) -> Result<(String, Option<String>), ApiError> {
    let p = state.store.payment(pid).await?.ok_or_else(|| ApiError::not_found("payment"))?;
    Ok((p.status.clone(), p.review_reason.clone()))
}

/// After a settlement run is stored: every pay line the file reports successful for an
/// attempt feegate has not seen succeed is confirmed with the connector like a statement
/// credit, and its item's reason says what came of it. A failure here is logged, never
/// undoes the run.
pub async fn after_settlement(state: &AppState, actor: &str, run_id: &str, file_sha256: &str) {
    let proven = match state.store.settlement_corrections(run_id).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(run_id, error = %e, "could not read the run's status mismatches");
            return;
        }
    };
    if proven.len() > MAX_PER_SETTLEMENT_RUN {
        tracing::warn!(
            run_id,
            proven = proven.len(),
            "more proven payments than one run corrects; the rest stay cases"
        );
    }
    for (item_id, attempt_id, line, amount) in proven.into_iter().take(MAX_PER_SETTLEMENT_RUN) {
        let evidence =
            serde_json::json!({"run_id": run_id, "file_sha256": file_sha256, "line": line, "amount": amount});
        let said = match confirm(state, &attempt_id, actor, &evidence).await {
            Ok(c) => c.describe(),
            Err(e) => format!("not corrected: {}", e.message),
        };
        if let Err(e) = state.store.append_item_reason(&item_id, &said).await {
            tracing::error!(run_id, item_id, error = %e, "could not record a correction on its item");
        }
    }
}
