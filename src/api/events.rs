//! `/v1/events`: webhook events with their delivery attempts, and replaying one.

use super::auth::{Principal, Role};
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use crate::app::AppState;
use crate::service::error::Code;
use crate::service::rfc3339;
use crate::store::now_ms;
use crate::store::outbox::{DeliveryRow, OutboxFilter, OutboxRow};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(redeliver))
}

/// A webhook event and how its delivery went.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxEventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub payment_id: String,
    pub created_at: String,
    /// `pending`, `delivered`, `failed` (the retry schedule ran out) or `skipped` (the
    /// portal has no webhook URL).
    pub delivery_status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    /// The payment as it was when the event happened (the webhook's `data`).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub deliveries: Vec<DeliveryView>,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub attempt_no: i64,
    pub at: String,
    /// The portal's answer; null on a transport error (refused, timeout, TLS).
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// A list of webhook events, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub data: Vec<OutboxEventView>,
}

/// A webhook event's delivery status, for the OpenAPI document.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
    Skipped,
}

/// Query of the event list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub payment_id: Option<String>,
    /// `pending`, `delivered`, `failed` or `skipped`.
    #[param(value_type = Option<DeliveryStatus>, inline)]
    pub status: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

const STATUSES: [&str; 4] = ["pending", "delivered", "failed", "skipped"];

async fn view(state: &AppState, e: OutboxRow) -> Result<OutboxEventView, ApiError> {
    let deliveries = state.store.deliveries(&e.id).await?;
    Ok(OutboxEventView {
        deliveries: deliveries.iter().map(DeliveryView::from).collect(),
        id: e.id,
        kind: e.kind,
        payment_id: e.payment_id,
        created_at: rfc3339(e.created_at),
        delivery_status: e.delivery_status.unwrap_or_default(),
        attempts: e.attempts,
        next_attempt_at: e.next_attempt_at.map(rfc3339),
        delivered_at: e.delivered_at.map(rfc3339),
        data: serde_json::from_str(&e.data).unwrap_or_default(),
    })
}

impl From<&DeliveryRow> for DeliveryView {
    fn from(d: &DeliveryRow) -> Self {
        DeliveryView {
            attempt_no: d.attempt_no,
            at: rfc3339(d.at),
            http_status: d.http_status,
            latency_ms: d.latency_ms,
            error: d.error.clone(),
        }
    }
}

/// List webhook events with their delivery attempts (a portal sees its own payments').
#[utoipa::path(get, path = "/v1/events", tag = "events", params(ListQuery),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<EventList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(Code::InvalidQuery, "limit is 1-200").with_field("limit"));
    }
    if let Some(s) = &q.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::new(Code::InvalidQuery, "unknown status").with_field("status"));
        }
    }
    let portal_id = match who.role {
        // A portal key without a portal sees nothing rather than everything.
        Role::Portal => Some(who.portal_id.clone().unwrap_or_default()),
        Role::Finance | Role::Admin => None,
    };
    let f = OutboxFilter { portal_id, payment_id: q.payment_id, status: q.status, limit };
    let mut data = Vec::new();
    for e in state.store.list_events(&f).await? {
        data.push(view(&state, e).await?);
    }
    Ok(Json(EventList { data }))
}

/// Deliver a webhook event again now (its attempts are kept; it is audited).
#[utoipa::path(post, path = "/v1/events/{id}/redeliver", tag = "events", params(("id" = String, Path)),
    responses((status = 202, body = OutboxEventView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<OutboxEventView>), ApiError> {
    let store = &state.store;
    let e = match store.outbox_event(&id).await? {
        Some(e) if who.sees_portal(&e.portal_id) => e,
        _ => return Err(ApiError::not_found("event")),
    };
    if e.webhook == 0 {
        return Err(ApiError::new(Code::NotAWebhookEvent, "this event is status history, not sent to portals"));
    }
    let mut tx = store.begin().await?;
    if !store.redeliver(&mut tx, &id, now_ms()).await? {
        tx.rollback().await?;
        return Err(ApiError::not_found("event"));
    }
    let audit = serde_json::json!({"event_id": id, "previous_status": e.delivery_status, "attempts": e.attempts});
    store.audit(&mut tx, &e.payment_id, "event.redelivered", &who.actor(), &audit).await?;
    tx.commit().await?;
    let e = store.outbox_event(&id).await?.ok_or_else(|| ApiError::not_found("event"))?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, e).await?)))
}
