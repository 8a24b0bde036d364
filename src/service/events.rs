//! Webhook events as staff and portals see them: the outbox with each event's delivery
//! attempts, and replaying one (audited).

use crate::app::AppState;
use crate::service::caller::{Principal, Role};
use crate::service::error::{Code, Error};
use crate::store::now_ms;
use crate::store::outbox::{DeliveryRow, OutboxFilter, OutboxRow};

/// The delivery statuses an event can have.
pub const STATUSES: [&str; 4] = ["pending", "delivered", "failed", "skipped"];

/// One event with its delivery attempts, oldest first.
pub struct Event {
    pub event: OutboxRow,
    pub deliveries: Vec<DeliveryRow>,
}

async fn with_deliveries(state: &AppState, event: OutboxRow) -> Result<Event, Error> {
    let deliveries = state.store.deliveries(&event.id).await?;
    Ok(Event { event, deliveries })
}

/// Events newest first; a portal sees its own payments' only.
pub async fn list(
    state: &AppState,
    who: &Principal,
    payment_id: Option<String>,
    status: Option<String>,
    limit: i64,
) -> Result<Vec<Event>, Error> {
    if !(1..=200).contains(&limit) {
        return Err(Error::new(Code::InvalidQuery, "limit is 1-200").with_field("limit"));
    }
    if let Some(s) = &status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(Error::new(Code::InvalidQuery, "unknown status").with_field("status"));
        }
    }
    let portal_id = match who.role {
        // A portal key without a portal sees nothing rather than everything.
        Role::Portal => Some(who.portal_id.clone().unwrap_or_default()),
        Role::Finance | Role::Admin | Role::Viewer => None,
    };
    let f = OutboxFilter { portal_id, payment_id, status, agencies: who.agencies.clone(), limit };
    let mut data = Vec::new();
    for e in state.store.list_events(&f).await? {
        data.push(with_deliveries(state, e).await?);
    }
    Ok(data)
}

/// Delivers a webhook event again now (its attempts are kept; it is audited).
pub async fn redeliver(state: &AppState, who: &Principal, id: &str) -> Result<Event, Error> {
    let store = &state.store;
    let e = match store.outbox_event(id).await? {
        Some(e) if who.sees_portal(&e.portal_id) => e,
        _ => return Err(Error::not_found("event")),
    };
    // A caller bound to agencies redelivers only their payments' events.
    if who.agencies.is_some() && crate::service::payments::visible(state, who, &e.payment_id).await.is_err() {
        return Err(Error::not_found("event"));
    }
    if !e.webhook {
        return Err(Error::new(Code::NotAWebhookEvent, "this event is status history, not sent to portals"));
    }
    let mut tx = store.begin().await?;
    if !store.redeliver(&mut tx, id, now_ms()).await? {
        tx.rollback().await?;
        return Err(Error::not_found("event"));
    }
    let audit = serde_json::json!({"event_id": id, "previous_status": e.delivery_status, "attempts": e.attempts});
    store.audit(&mut tx, &e.payment_id, "event.redelivered", &who.actor(), &audit).await?;
    tx.commit().await?;
    let e = store.outbox_event(id).await?.ok_or_else(|| Error::not_found("event"))?;
    with_deliveries(state, e).await
}
