//! `/v1/events`: webhook events with their delivery attempts, and replaying one.

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use crate::app::AppState;
use crate::service::events::{self as svc, Event};
use crate::service::rfc3339;
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

fn view(Event { event: e, deliveries }: Event) -> OutboxEventView {
    OutboxEventView {
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryView {
                attempt_no: d.attempt_no,
                at: rfc3339(d.at),
                http_status: d.http_status,
                latency_ms: d.latency_ms,
                error: d.error,
            })
            .collect(),
        id: e.id,
        kind: e.kind,
        payment_id: e.payment_id,
        created_at: rfc3339(e.created_at),
        delivery_status: e.delivery_status.unwrap_or_default(),
        attempts: e.attempts,
        next_attempt_at: e.next_attempt_at.map(rfc3339),
        delivered_at: e.delivered_at.map(rfc3339),
        data: serde_json::from_str(&e.data).unwrap_or_default(),
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
    let events = svc::list(&state, &who, q.payment_id, q.status, q.limit.unwrap_or(50)).await?;
    Ok(Json(EventList { data: events.into_iter().map(view).collect() }))
}

/// Deliver a webhook event again now (its attempts are kept; it is audited).
#[utoipa::path(post, path = "/v1/events/{id}/redeliver", tag = "events", params(("id" = String, Path)),
    responses((status = 202, body = OutboxEventView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<OutboxEventView>), ApiError> {
    let e = svc::redeliver(&state, &who, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(view(e))))
}
