//! The webhook outbox: due events claimed under a lease, each delivery attempt logged,
//! events moved to `delivered`, `failed` or `skipped`, and replayed on request.
//!
//! Every move out of a claim is guarded by `lease_owner` and `delivery_status =
//! 'pending'`: a node whose lease ran out (and was taken over) cannot overwrite the
//! newer owner's outcome. Order per payment rests on `seq` (insertion order): an event
//! is due only when no earlier event of its payment is still pending.

use super::types::{Millis, OptMillis};
use super::{Backend, Result, Store, Tx};
use sqlx::FromRow;

/// An event claimed for delivery.
#[derive(Debug, Clone, FromRow)]
pub struct DueEvent {
    pub id: String,
    pub payment_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    /// The payment representation (JSON text) written with the event.
    pub data: String,
    /// Delivery attempts made before this one.
    pub attempts: i64,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
}

/// Where a payment's portal wants its webhooks. Its Debug output hides the secret.
#[derive(Clone, FromRow)]
pub struct WebhookTarget {
    pub portal_id: String,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("portal_id", &self.portal_id)
            .field("webhook_url", &self.webhook_url.as_deref().map(crate::config::redact_url))
            .field("webhook_secret", &"[REDACTED]")
            .finish()
    }
}

/// An event as the outbox lists it, with the portal of its payment.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub payment_id: String,
    pub portal_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub data: String,
    pub webhook: bool,
    pub delivery_status: Option<String>,
    pub attempts: i64,
    #[sqlx(try_from = "OptMillis")]
    pub next_attempt_at: Option<i64>,
    #[sqlx(try_from = "OptMillis")]
    pub delivered_at: Option<i64>,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
}

/// One logged delivery attempt.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    pub attempt_no: i64,
    #[sqlx(try_from = "Millis")]
    pub at: i64,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// Filters for listing outbox events.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// Only this portal's payments (a portal key).
    pub portal_id: Option<String>,
    pub payment_id: Option<String>,
    pub status: Option<String>,
    /// Only these agencies' payments (a caller bound to agencies).
    pub agencies: Option<Vec<String>>,
    pub limit: i64,
}

const OUTBOX_COLS: &str = "e.id, e.payment_id, p.portal_id, e.type, e.data, e.webhook, e.delivery_status, \
    e.attempts, e.next_attempt_at, e.delivered_at, e.created_at";

/// The guard of every move out of a claim.
const HELD: &str = "id = $1 AND lease_owner = $2 AND delivery_status = 'pending'";

impl Store {
    /// Leases up to `limit` due events to `owner` until `now + lease_ms`: pending, past
    /// their retry time, not leased by a live owner, and first in line for their payment.
    pub async fn claim_due_events(&self, now: i64, lease_ms: i64, owner: &str, limit: i64) -> Result<Vec<DueEvent>> {
        // SQLite has one writer at a time (the store's lock), so there is nothing to skip.
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE events SET lease_until = $1, lease_owner = $2 WHERE id IN (\
             SELECT e.id FROM events e WHERE e.delivery_status = 'pending' \
             AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= $3) \
             AND (e.lease_until IS NULL OR e.lease_until < $3) \
             AND NOT EXISTS (SELECT 1 FROM events e2 WHERE e2.payment_id = e.payment_id \
             AND e2.delivery_status = 'pending' AND e2.seq < e.seq) \
             ORDER BY e.seq LIMIT $4{lock}) \
             RETURNING id, payment_id, type, data, attempts, created_at"
        );
        let mut tx = self.begin().await?;
        let rows = on_tx!(tx, |db| sqlx::query_as(&sql)
            .bind(Millis(now + lease_ms))
            .bind(owner)
            .bind(Millis(now))
            .bind(limit)
            .fetch_all(db)
            .await)?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The portal webhook settings for a payment's events.
    pub async fn webhook_target(&self, payment_id: &str) -> Result<Option<WebhookTarget>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT p.id AS portal_id, p.webhook_url, p.webhook_secret FROM portals p \
             JOIN payments pay ON pay.portal_id = p.id WHERE pay.id = $1",
        )
        .bind(payment_id)
        .fetch_optional(db)
        .await)?)
    }

    /// Logs one delivery attempt (whatever came of the lease).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_delivery(
        &self,
        tx: &mut Tx,
        event_id: &str,
        attempt_no: i64,
        at: i64,
        http_status: Option<i64>,
        latency_ms: i64,
        error: Option<&str>,
    ) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO deliveries (id, event_id, attempt_no, at, http_status, latency_ms, error) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(crate::domain::ids::new_id("dlv"))
        .bind(event_id)
        .bind(attempt_no)
        .bind(Millis(at))
        .bind(http_status)
        .bind(latency_ms)
        .bind(error)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The portal answered 2xx. Returns whether `owner` still held the event.
    pub async fn mark_delivered(&self, tx: &mut Tx, id: &str, owner: &str, now: i64) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query(&format!(
            "UPDATE events SET delivery_status = 'delivered', delivered_at = $3, attempts = attempts + 1, \
             next_attempt_at = NULL, lease_until = NULL, lease_owner = NULL WHERE {HELD}"
        ))
        .bind(id)
        .bind(owner)
        .bind(Millis(now))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// The attempt failed; try again at `next_at`.
    pub async fn schedule_retry(&self, tx: &mut Tx, id: &str, owner: &str, next_at: i64) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query(&format!(
            "UPDATE events SET attempts = attempts + 1, next_attempt_at = $3, lease_until = NULL, \
             lease_owner = NULL WHERE {HELD}"
        ))
        .bind(id)
        .bind(owner)
        .bind(Millis(next_at))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// The last attempt of the schedule failed: give up (a person may redeliver).
    pub async fn mark_failed(&self, tx: &mut Tx, id: &str, owner: &str) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query(&format!(
            "UPDATE events SET delivery_status = 'failed', attempts = attempts + 1, next_attempt_at = NULL, \
             lease_until = NULL, lease_owner = NULL WHERE {HELD}"
        ))
        .bind(id)
        .bind(owner)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// The portal has no webhook URL: nothing to deliver.
    pub async fn mark_skipped(&self, id: &str, owner: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let r = on_tx!(tx, |db| sqlx::query(&format!(
            "UPDATE events SET delivery_status = 'skipped', next_attempt_at = NULL, lease_until = NULL, \
             lease_owner = NULL WHERE {HELD}"
        ))
        .bind(id)
        .bind(owner)
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(r == 1)
    }

    /// Webhook events, newest first.
    pub async fn list_events(&self, f: &OutboxFilter) -> Result<Vec<OutboxRow>> {
        let mut sql =
            format!("SELECT {OUTBOX_COLS} FROM events e JOIN payments p ON p.id = e.payment_id WHERE e.webhook");
        let mut params: Vec<String> = Vec::new();
        for (clause, value) in
            [("p.portal_id", &f.portal_id), ("e.payment_id", &f.payment_id), ("e.delivery_status", &f.status)]
        {
            if let Some(v) = value {
                params.push(v.clone());
                sql.push_str(&format!(" AND {clause} = ${}", params.len()));
            }
        }
        if let Some(agencies) = &f.agencies {
            let mut marks = Vec::with_capacity(agencies.len());
            for a in agencies {
                params.push(a.clone());
                marks.push(format!("${}", params.len()));
            }
            // An empty scope sees nothing (never the whole table).
            let list = if marks.is_empty() { "NULL".to_owned() } else { marks.join(", ") };
            sql.push_str(&format!(" AND p.agency_code IN ({list})"));
        }
        sql.push_str(&format!(" ORDER BY e.created_at DESC, e.seq DESC LIMIT ${}", params.len() + 1));
        Ok(on_pool!(self, |db| {
            let mut q = sqlx::query_as::<_, OutboxRow>(&sql);
            for p in &params {
                q = q.bind(p);
            }
            q.bind(f.limit).fetch_all(db).await
        })?)
    }

    /// One event with the portal of its payment.
    pub async fn outbox_event(&self, id: &str) -> Result<Option<OutboxRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {OUTBOX_COLS} FROM events e JOIN payments p ON p.id = e.payment_id WHERE e.id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await)?)
    }

    /// An event's delivery attempts, in order.
    pub async fn deliveries(&self, event_id: &str) -> Result<Vec<DeliveryRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT id, event_id, attempt_no, at, http_status, latency_ms, error FROM deliveries \
             WHERE event_id = $1 ORDER BY at, attempt_no",
        )
        .bind(event_id)
        .fetch_all(db)
        .await)?)
    }

    /// Queues a webhook event again now, whatever its state (attempts are kept, so a
    /// replay past the schedule gets one try). Any lease is dropped: a delivery still in
    /// flight cannot then close the event, which is delivered again (at least once).
    pub async fn redeliver(&self, tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query(
            "UPDATE events SET delivery_status = 'pending', next_attempt_at = $2, delivered_at = NULL, \
             lease_until = NULL, lease_owner = NULL WHERE id = $1 AND webhook",
        )
        .bind(id)
        .bind(Millis(now))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_webhook_target_never_shows_its_secret_in_debug_output() {
        let t = super::WebhookTarget {
            portal_id: "p".into(),
            webhook_url: Some("https://portal.example.vn/hook?token=t0ken".into()),
            webhook_secret: "whsec_s3cret".into(),
        };
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("whsec_s3cret") && !dbg.contains("t0ken") && dbg.contains("REDACTED"), "{dbg}");
    }

    #[test]
    fn a_portal_row_never_shows_its_webhook_secret_in_debug_output() {
        let p = crate::store::admin::PortalRow {
            id: "p".into(),
            name: "Portal".into(),
            webhook_url: None,
            webhook_secret: "whsec_s3cret".into(),
            agencies: "[\"*\"]".into(),
            created_at: 0,
        };
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("whsec_s3cret") && dbg.contains("REDACTED"), "{dbg}");
    }
}
