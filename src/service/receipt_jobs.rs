//! External e-receipt providers (issue 11; the contract is `connectors/receipts`). An agency
//! with `provider = "ID"` in `[receipts.agencies."CODE"]` still gets feegate's own numbered,
//! signed receipt in the paying transaction; beside it, in the same transaction, a job is
//! queued to have the provider issue its legal e-receipt under the receipt's id as the
//! idempotency key (and, in a full refund's transaction, a job to cancel it). This worker,
//! on every node, claims due jobs by lease and calls the provider:
//!
//! - done: the provider's series, number, lookup code and address are kept with the job;
//! - the provider unavailable (down, timeout, 5xx, an answer lost): the job waits
//!   `[receipts] retry_secs` and is tried again, for as long as it takes, **looking the key
//!   up first** once an attempt was made (its answer may have been lost after the provider
//!   issued), so a receipt is never lost and never issued twice;
//! - the provider refused (4xx): the job is `failed` with the provider's words and, in the
//!   same transaction, a case is opened for finance (`receipt_provider_refused`: in
//!   `/console/cases`, `GET /v1/cases` and as `payment.needs_review`); nothing retries it by
//!   itself. Finance or an admin sends it again ([`retry`]) once the cause is fixed.
//!
//! A cancellation waits for its receipt's issue to be done (a provider cannot cancel what it
//! has not issued). When the provider refused that issue, the cancellation is done at once
//! without it ("never issued at the provider"; `store::receipt_jobs::NEVER_ISSUED`); if
//! finance re-queues the issue, the cancellation is queued again with it and runs once the
//! issue is done, so a receipt cancelled here is never left issued at the provider.

use crate::app::AppState;
use crate::config::Config;
use crate::domain::receipt::{ProviderView, ReceiptView};
use crate::service::caller::{Principal, Role};
use crate::service::error::{Code, Error};
use crate::store::receipt_jobs::ProviderDone;
pub use crate::store::receipt_jobs::ReceiptJobRow;
use feegate_receipt_issuer::{HttpIssuer, IssueRequest, Issuer, IssuerError, ProviderReceipt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The configured providers by id.
pub type Issuers = BTreeMap<String, Arc<dyn Issuer>>;

/// How long a node holds a claimed job (a provider call times out after 10 s).
const LEASE_MS: i64 = 60_000;
/// Jobs claimed per pass.
const BATCH: i64 = 20;
/// Why a payment needs a person when the receipt provider refused one of its receipts.
pub const REVIEW_PROVIDER_REFUSED: &str = "receipt_provider_refused";
/// The worker's name in the audit journal.
const ACTOR: &str = "worker:receipt-provider";

/// Builds a client per configured provider.
pub fn issuers(config: &Config) -> anyhow::Result<Issuers> {
    let mut out = Issuers::new();
    for (id, p) in &config.receipts.providers {
        let secret = p.secret.resolve().map_err(|e| anyhow::anyhow!("receipts.providers.{id}.secret: {e:#}"))?;
        let issuer = HttpIssuer::new(id, &p.name, &p.url, secret).map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
        out.insert(id.clone(), Arc::new(issuer) as Arc<dyn Issuer>);
    }
    Ok(out)
}

/// Starts the worker (nothing to do, and no pass, without providers).
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let every = Duration::from_millis(state.config.receipts.jobs_interval_ms.max(10));
    let owner = crate::domain::ids::new_id("node");
    super::worker::spawn("receipt provider jobs", every, stop, move || {
        let (state, owner) = (state.clone(), owner.clone());
        async move { pass(&state, &owner).await }
    })
}

/// One pass: claims the due jobs and runs each; how many were claimed.
pub async fn pass(state: &AppState, owner: &str) -> anyhow::Result<usize> {
    if state.issuers.is_empty() {
        return Ok(0);
    }
    let jobs = state.store.claim_receipt_jobs(crate::store::now_ms(), LEASE_MS, owner, BATCH).await?;
    let n = jobs.len();
    for job in jobs {
        run(state, owner, job).await?;
    }
    Ok(n)
}

/// The wait before the next try after `attempts` tries (the last wait repeats).
fn wait_secs(config: &Config, attempts: i32) -> u64 {
    let schedule = &config.receipts.retry_secs;
    let i = usize::try_from(attempts).unwrap_or(0).min(schedule.len().saturating_sub(1));
    schedule.get(i).copied().unwrap_or(60)
}

async fn run(state: &AppState, owner: &str, job: ReceiptJobRow) -> anyhow::Result<()> {
    let store = &state.store;
    let now = crate::store::now_ms();
    let later = now + 1000 * wait_secs(&state.config, job.attempts) as i64;
    let Some(issuer) = state.issuers.get(&job.provider) else {
        // The provider was taken out of the configuration: the job waits for it.
        let why = format!("no [receipts.providers.{}] is configured", job.provider);
        store.put_off_receipt_job(&job.receipt_id, &job.action, owner, &why, later).await?;
        return Ok(());
    };
    let outcome = match job.action.as_str() {
        "issue" => issue(state, issuer.as_ref(), &job).await,
        _ => issuer.cancel(&job.receipt_id, job.reason.as_deref().unwrap_or("refunded")).await,
    };
    let provider = job.provider.clone();
    match outcome {
        Ok(r) => {
            let done = ProviderDone { series: &r.series, number: &r.number, code: &r.lookup_code, url: &r.url };
            store.finish_receipt_job(&job.receipt_id, &job.action, owner, &done, now).await?;
            metrics::counter!("feegate_receipt_provider_jobs_total", "provider" => provider, "outcome" => "done")
                .increment(1);
        }
        Err(IssuerError::Unavailable(e)) => {
            tracing::warn!(receipt = %job.receipt_id, action = %job.action, provider = %job.provider, error = %e,
                "the receipt provider is unavailable; the job waits and is tried again");
            store.put_off_receipt_job(&job.receipt_id, &job.action, owner, &e, later).await?;
            metrics::counter!("feegate_receipt_provider_jobs_total", "provider" => provider, "outcome" => "retry")
                .increment(1);
        }
        Err(IssuerError::Refused(e)) => {
            tracing::error!(receipt = %job.receipt_id, action = %job.action, provider = %job.provider, error = %e,
                "the receipt provider refused the job");
            fail(state, owner, &job, &e, now).await?;
            metrics::counter!("feegate_receipt_provider_jobs_total", "provider" => provider, "outcome" => "failed")
                .increment(1);
        }
    }
    Ok(())
}

/// The provider refused `job`: it is `failed` with the provider's words and, in the same
/// transaction, a case is opened for finance, once per failure (the guarded update lets one
/// node do it; the detail names the try, so a job re-queued and refused again is a new case).
async fn fail(state: &AppState, owner: &str, job: &ReceiptJobRow, words: &str, now: i64) -> anyhow::Result<()> {
    let store = &state.store;
    let receipt = store.receipt_by_id(&job.receipt_id).await?;
    let mut tx = store.begin().await?;
    if let Some(r) = &receipt {
        store.lock_payment(&mut tx, &r.payment_id).await?;
    }
    let Some(failed) = store.fail_receipt_job(&mut tx, &job.receipt_id, &job.action, owner, words, now).await? else {
        // The lease was lost: the node that holds it now decides.
        tx.rollback().await?;
        return Ok(());
    };
    if let Some(r) = &receipt {
        let name = state.config.receipts.providers.get(&job.provider).map(|p| p.name.as_str()).unwrap_or("");
        let what = match job.action.as_str() {
            "issue" => "issue the e-receipt of",
            _ => "cancel the e-receipt of",
        };
        let mut detail = format!(
            "the receipt provider {name} ({}) refused to {what} receipt {}/{}/{:07} ({}) on try {}: {words}. ",
            job.provider, r.template, r.series, r.number, r.id, failed.attempts
        );
        detail.push_str(match (job.action.as_str(), failed.cancel_skipped) {
            ("issue", false) => "feegate's own receipt stands; ",
            ("issue", true) => {
                "the receipt is cancelled here and was never issued at the provider, so nothing is \
                cancelled there; "
            }
            _ => "the receipt is cancelled here but still issued at the provider; ",
        });
        detail.push_str(&format!(
            "once the cause is settled with the provider, send the job again \
             (POST /v1/receipts/{}/provider-jobs/{}/retry, or the payment's console page)",
            r.id, job.action
        ));
        super::callbacks::needs_review(state, &mut tx, &r.payment_id, REVIEW_PROVIDER_REFUSED, &detail, ACTOR)
            .await
            .map_err(|e| anyhow::anyhow!("opening the case of a refused receipt job: {}", e.message))?;
    }
    tx.commit().await?;
    Ok(())
}

/// `POST /v1/receipts/{receipt_id}/provider-jobs/{action}/retry` (finance, admin; the
/// console's button too): queues a `failed` job again, due now, its tries kept (an issue
/// then looks its key up before asking again), audited under the caller's name. Re-queueing
/// an issue re-queues the cancellation that ended without the provider, so the receipt, if
/// cancelled here, is cancelled at the provider once issued there. A job that is not failed
/// is `receipt_job_not_failed`; a receipt without such a job (or out of the caller's scope)
/// is not found. The receipt with its provider part as it is now.
pub async fn retry(state: &AppState, who: &Principal, receipt_id: &str, action: &str) -> Result<ReceiptView, Error> {
    who.require(&[Role::Finance, Role::Admin])?;
    let store = &state.store;
    let receipt = store.receipt_by_id(receipt_id).await?.ok_or_else(|| Error::not_found("receipt"))?;
    super::payments::visible(state, who, &receipt.payment_id).await?;
    if !matches!(action, "issue" | "cancel") {
        return Err(Error::not_found("provider job"));
    }
    let now = crate::store::now_ms();
    let mut tx = store.begin().await?;
    store.lock_payment(&mut tx, &receipt.payment_id).await?;
    let Some(requeued) = store.requeue_receipt_job(&mut tx, receipt_id, action, now).await? else {
        tx.rollback().await?;
        let jobs = store.receipt_jobs_of(receipt_id).await?;
        return match jobs.iter().find(|j| j.action == action) {
            None => Err(Error::not_found("provider job")),
            Some(j) => Err(Error::new(
                Code::ReceiptJobNotFailed,
                format!("the {action} job of receipt {receipt_id} is {}: only a failed job is sent again", j.status),
            )),
        };
    };
    let job = &requeued.job;
    store
        .audit(
            &mut tx,
            &receipt.payment_id,
            "receipt.provider_job.retried",
            &who.actor(),
            &serde_json::json!({
                "receipt_id": receipt_id, "action": action, "provider": job.provider, "attempts": job.attempts,
                "last_error": job.last_error, "cancel_requeued": requeued.cancel_requeued,
            }),
        )
        .await?;
    tx.commit().await?;
    tracing::info!(receipt = %receipt_id, action, provider = %job.provider, actor = %who.actor(),
        "a failed receipt provider job was queued again");
    metrics::counter!("feegate_receipt_provider_jobs_total", "provider" => job.provider.clone(), "outcome" => "requeued")
        .increment(1);
    let mut v = super::receipts::view(&state.config.public_url, &receipt);
    v.provider = provided(state, receipt_id).await?;
    Ok(v)
}

/// A payment's receipts (for a caller that may see it) with their provider part and the
/// provider jobs behind it (the console's payment page).
pub async fn of_payment(state: &AppState, payment_id: &str) -> Result<Vec<(ReceiptView, Vec<ReceiptJobRow>)>, Error> {
    let mut out = Vec::new();
    for r in state.store.receipts_of(payment_id).await? {
        let mut v = super::receipts::view(&state.config.public_url, &r);
        let jobs = state.store.receipt_jobs_of(&r.id).await?;
        if !jobs.is_empty() {
            v.provider = provided(state, &r.id).await?;
        }
        out.push((v, jobs));
    }
    Ok(out)
}

/// Issues at the provider; after a try whose answer never came, looks the key up first.
async fn issue(state: &AppState, issuer: &dyn Issuer, job: &ReceiptJobRow) -> Result<ProviderReceipt, IssuerError> {
    if job.attempts > 0 {
        if let Some(found) = issuer.lookup(&job.receipt_id).await? {
            return Ok(found);
        }
    }
    let row = match state.store.receipt_by_id(&job.receipt_id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(IssuerError::Refused("the receipt is not in the database".into())),
        Err(e) => return Err(IssuerError::Unavailable(format!("reading the receipt: {e}"))),
    };
    let req = IssueRequest {
        key: row.id.clone(),
        agency_code: row.agency_code.clone(),
        payment_id: row.payment_id.clone(),
        amount: row.amount,
        content: row.content.clone(),
    };
    issuer.issue(&req).await
}

/// What the provider has of receipt `receipt_id` (`None`: its agency has no provider).
pub async fn provided(
    state: &AppState,
    receipt_id: &str,
) -> Result<Option<ProviderView>, crate::service::error::Error> {
    let jobs = state.store.receipt_jobs_of(receipt_id).await?;
    let Some(issue) = jobs.iter().find(|j| j.action == "issue") else { return Ok(None) };
    let cancel = jobs.iter().find(|j| j.action == "cancel");
    let status = match (issue.status.as_str(), cancel.map(|c| c.status.as_str())) {
        ("done", Some("done")) => "cancelled",
        ("done", Some("failed")) => "cancel_failed",
        ("done", Some(_)) => "cancelling",
        ("done", None) => "issued",
        ("failed", _) => "failed",
        _ => "queued",
    };
    let error = match status {
        "failed" => issue.last_error.clone(),
        "cancelling" | "cancel_failed" => cancel.and_then(|c| c.last_error.clone()),
        _ => None,
    };
    let name = state.config.receipts.providers.get(&issue.provider).map(|p| p.name.clone());
    Ok(Some(ProviderView {
        provider: issue.provider.clone(),
        name: name.unwrap_or_else(|| issue.provider.clone()),
        status: status.into(),
        series: issue.provider_series.clone(),
        number: issue.provider_number.clone(),
        lookup_code: issue.provider_code.clone(),
        url: issue.provider_url.clone(),
        error,
        note: cancel.and_then(|c| c.skip_reason.clone()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_follow_the_schedule_and_the_last_repeats() {
        let mut cfg = Config::load_with(None, &[("FEEGATE_DATABASE_URL".into(), "sqlite::memory:".into())]).unwrap();
        cfg.receipts.retry_secs = vec![1, 5, 60];
        assert_eq!([0, 1, 2, 3, 50].map(|a| wait_secs(&cfg, a)), [1, 5, 60, 60, 60]);
    }
}
