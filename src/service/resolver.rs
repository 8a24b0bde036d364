//! The resolver of uncertain payments: attempts still `pending`/`unknown` and refunds
//! still `pending` after `resolver_delay_ms` are queried at their gateway, with backoff,
//! until they are final; a refund still pending after `refund_query_max_tries` queries is
//! also raised for review, once. Claims are leases (`next_query_at` moves forward in the claiming
//! transaction, with `FOR UPDATE SKIP LOCKED` on PostgreSQL), so several nodes share the
//! work without querying the same thing at once.

use crate::app::AppState;
use crate::service::callbacks::{apply, Fact};
use crate::service::datetime;
use crate::store::now_ms;
use feegate_connector::{Outcome, QueryRequest};
use std::time::Duration;
use tokio::sync::watch;

const LEASE_MS: i64 = 30_000;
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// Runs the resolver until `stop` turns true.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_millis((state.config.resolver_delay_ms / 4).clamp(50, 5_000));
    crate::service::worker::spawn("resolver", every, stop, move || {
        let state = state.clone();
        async move { run_once(&state).await }
    })
}

/// The delay before the `n`th query (n ≥ 1): the configured delay, doubling, capped.
fn backoff(delay_ms: i64, n: i64) -> i64 {
    delay_ms.saturating_mul(1i64 << n.clamp(0, 20)).min(MAX_BACKOFF_MS)
}

/// One pass: queries due attempts and refunds; gives how many reached a final state.
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    let store = &state.store;
    let delay = state.config.resolver_delay_ms as i64;
    let now = now_ms();
    let mut settled = 0;
    for id in store.claim_due_queries("attempts", now, delay, LEASE_MS, 50).await? {
        let Some(a) = store.attempt(&id).await? else {
            continue;
        };
        let Some(account) = state.connectors.get(&a.connector_id) else { continue };
        let q = QueryRequest {
            reference: a.reference.clone(),
            gateway_txn: a.gateway_txn.clone(),
            amount: a.amount,
            created_at: datetime(a.created_at),
        };
        match account.connector.query(&q).await {
            Ok(r) if r.outcome != Outcome::Pending => {
                apply(state, &a.connector_id, Fact::from_query(&a, r), None, "worker:resolver")
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                settled += 1;
            }
            Ok(_) | Err(_) => {
                let n = store.query_count("attempts", &id).await?;
                store.schedule_query("attempts", &id, now_ms() + backoff(delay, n)).await?;
            }
        }
    }
    for id in store.claim_due_queries("refunds", now, delay, LEASE_MS, 50).await? {
        let Some(r) = store.refund(&id).await? else { continue };
        crate::service::refunds::query(state, &r).await.map_err(|e| anyhow::anyhow!(e.message))?;
        match store.refund(&id).await? {
            Some(after) if after.status != "pending" => settled += 1,
            _ => {
                let n = store.query_count("refunds", &id).await?;
                if n >= i64::from(state.config.refund_query_max_tries) {
                    // Still not known after this many tries: finance looks (once); we keep asking.
                    crate::service::refunds::escalate(state, &r, n).await.map_err(|e| anyhow::anyhow!(e.message))?;
                }
                store.schedule_query("refunds", &id, now_ms() + backoff(delay, n)).await?;
            }
        }
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_and_is_capped_at_an_hour() {
        assert_eq!(backoff(60_000, 1), 120_000);
        assert_eq!(backoff(60_000, 3), 480_000);
        assert_eq!(backoff(60_000, 30), 3_600_000);
    }
}
