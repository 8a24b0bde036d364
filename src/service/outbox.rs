//! The outbox worker: delivers webhook events to portals, signed, at least once and in
//! order per payment, retrying on the configured schedule. Events of unrelated payments
//! go out concurrently (bounded); leases let another node take over a dead node's work.

use crate::app::AppState;
use crate::service::rfc3339;
use crate::store::now_ms;
use crate::store::outbox::DueEvent;
use anyhow::Context;
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Deliveries in flight at once, per node.
const MAX_IN_FLIGHT: usize = 16;
/// How much of a failing portal's answer is kept in the delivery log.
const MAX_ERROR_BYTES: usize = 500;

/// The webhook body (DESIGN §6).
#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: String,
    data: serde_json::Value,
}

/// The `Feegate-Signature` header for `body` sent at unix second `t`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    format!("t={t},v1={}", feegate_connector::crypto::hmac_sha256_hex(secret.as_bytes(), &message))
}

/// Starts the worker; it runs until `stop` turns true. Unlike the periodic workers
/// ([`crate::service::worker::spawn`]) it claims at once and wakes early when a delivery in
/// flight finishes, so it keeps its own loop.
pub fn spawn(state: AppState, mut stop: watch::Receiver<bool>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        // A redirect is not an acknowledgement: the portal must answer 2xx itself.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("feegate-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the webhook HTTP client")?;
    let owner = crate::domain::ids::new_id("node");
    Ok(tokio::spawn(async move {
        let every = Duration::from_millis(state.config.outbox_interval_ms.max(10));
        // How long a claim is ours (`outbox_lease_ms`, capped at a day so `now + lease`
        // cannot overflow); above the HTTP timeout, so only a dead node loses one.
        let lease_ms = i64::try_from(state.config.outbox_lease_ms.min(86_400_000)).unwrap_or(86_400_000);
        let mut inflight: JoinSet<()> = JoinSet::new();
        loop {
            let free = MAX_IN_FLIGHT.saturating_sub(inflight.len());
            if free > 0 {
                match state.store.claim_due_events(now_ms(), lease_ms, &owner, free as i64).await {
                    Ok(batch) => {
                        for event in batch {
                            let span =
                                tracing::info_span!("webhook", event_id = %event.id, payment_id = %event.payment_id);
                            let job = deliver(state.clone(), client.clone(), owner.clone(), event);
                            inflight.spawn(job.instrument(span));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "outbox claim failed; will retry"),
                }
            }
            // A finished delivery may free the next event of its payment: look again at once.
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(error = %e, "a webhook delivery task failed");
                    }
                }
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        // Let deliveries in flight record their outcome; whatever is cut off is
        // delivered again when its lease runs out (at least once).
        let drain = async { while inflight.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(2), drain).await.is_err() {
            inflight.abort_all();
        }
    }))
}

/// What one HTTP attempt came to.
struct Outcome {
    http_status: Option<i64>,
    error: Option<String>,
    ok: bool,
    latency_ms: i64,
}

/// Delivers one claimed event and records the attempt and the next step.
async fn deliver(state: AppState, client: reqwest::Client, owner: String, event: DueEvent) {
    if let Err(e) = try_deliver(&state, &client, &owner, &event).await {
        // The lease runs out and the event is claimed again.
        tracing::warn!(error = %format!("{e:#}"), "webhook delivery could not be recorded; will retry");
    }
}

async fn try_deliver(state: &AppState, client: &reqwest::Client, owner: &str, event: &DueEvent) -> anyhow::Result<()> {
    let store = &state.store;
    let target = store.webhook_target(&event.payment_id).await?;
    let Some((url, secret)) = target.and_then(|t| t.webhook_url.map(|u| (u, t.webhook_secret))) else {
        store.mark_skipped(&event.id, owner).await?;
        metrics::counter!("feegate_webhook_deliveries_total", "outcome" => "skipped").increment(1);
        return Ok(());
    };
    let body = serde_json::to_vec(&Envelope {
        id: &event.id,
        kind: &event.kind,
        created_at: rfc3339(event.created_at),
        data: serde_json::from_str(&event.data).context("event data is not JSON")?,
    })?;
    let at = now_ms();
    let outcome = post(client, &url, &secret, body).await;
    let attempt_no = event.attempts + 1;
    let schedule = &state.config.webhook_retry_schedule_secs;
    let mut tx = store.begin().await?;
    store
        .record_delivery(
            &mut tx,
            &event.id,
            attempt_no,
            at,
            outcome.http_status,
            outcome.latency_ms,
            outcome.error.as_deref(),
        )
        .await?;
    let (held, label) = if outcome.ok {
        (store.mark_delivered(&mut tx, &event.id, owner, now_ms()).await?, "delivered")
    } else if let Some(wait) = usize::try_from(event.attempts).ok().and_then(|i| schedule.get(i)) {
        let next_at = now_ms().saturating_add(i64::try_from(wait.saturating_mul(1000)).unwrap_or(i64::MAX));
        (store.schedule_retry(&mut tx, &event.id, owner, next_at).await?, "retry")
    } else {
        (store.mark_failed(&mut tx, &event.id, owner).await?, "failed")
    };
    tx.commit().await?;
    metrics::counter!("feegate_webhook_deliveries_total", "outcome" => label).increment(1);
    metrics::histogram!("feegate_webhook_delivery_seconds").record(outcome.latency_ms as f64 / 1000.0);
    if !held {
        tracing::info!(attempt_no, "the event changed hands during delivery (lease lost or redelivered)");
    } else if outcome.ok {
        tracing::info!(attempt_no, status = outcome.http_status, "webhook delivered");
    } else {
        tracing::warn!(
            attempt_no,
            status = outcome.http_status,
            error = outcome.error.as_deref().unwrap_or(""),
            next = label,
            "webhook attempt failed"
        );
    }
    Ok(())
}

/// POSTs a signed body; never fails (a transport error is an outcome).
async fn post(client: &reqwest::Client, url: &str, secret: &str, body: Vec<u8>) -> Outcome {
    let signature = signature_header(secret, now_ms() / 1000, &body);
    let start = Instant::now();
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Feegate-Signature", signature)
        .body(body)
        .send()
        .await;
    let (http_status, error, ok) = match sent {
        Ok(resp) if resp.status().is_success() => (Some(i64::from(resp.status().as_u16())), None, true),
        Ok(mut resp) => {
            let status = resp.status();
            let mut text = Vec::new();
            while text.len() < MAX_ERROR_BYTES {
                match resp.chunk().await {
                    Ok(Some(chunk)) => text.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            text.truncate(MAX_ERROR_BYTES);
            let snippet = String::from_utf8_lossy(&text).trim().to_owned();
            let error = if snippet.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {snippet}") };
            (Some(i64::from(status.as_u16())), Some(error), false)
        }
        // Without the URL: a portal may put a token in it.
        Err(e) => {
            let e = e.without_url();
            (None, Some(error_chain(&e)), false)
        }
    };
    Outcome { http_status, error, ok, latency_ms: start.elapsed().as_millis() as i64 }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
