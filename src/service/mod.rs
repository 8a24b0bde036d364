//! Orchestration: creating payments and attempts, handling callbacks, expiry, admin
//! actions. Each money-moving step is one transaction with its event and audit entry.

pub mod admin;
pub mod attempts;
pub mod cache;
pub mod callbacks;
pub mod caller;
pub mod cases;
pub mod checkout;
pub mod console;
pub mod corrections;
pub mod error;
pub mod events;
pub mod expiry;
pub mod idempotency;
pub mod inbox;
pub mod outbox;
pub mod payments;
pub mod receipt_jobs;
pub mod receipt_register;
pub mod receipts;
pub mod recon;
pub mod refunds;
pub mod reports;
pub mod resolver;
pub mod spreadsheet;
pub mod staff;
pub mod statements;
pub mod uploads;
pub mod view;
pub mod worker;

/// Milliseconds to an RFC 3339 UTC timestamp.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Milliseconds to an `OffsetDateTime`. Times come from the store, which reads and writes
/// only times `OffsetDateTime` can hold (`store::types::Millis::checked`: a stored time
/// outside them is a read error), or from the clock: the epoch fallback is never reached.
pub fn datetime(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Whether the database answers (`/readyz`).
pub async fn ready(state: &crate::app::AppState) -> bool {
    state.store.ping().await
}
