//! `/v1/payments`: create, read, list, cancel, start an attempt, status history.

use super::auth::Principal;
use super::body::{typed, JsonBody};
use super::error::{ApiError, ErrorBody};
use crate::app::AppState;
use crate::service::payments::{self as svc, idempotency_key};
use crate::service::view::{EventView, PaymentView};
use crate::store::payments::PaymentFilter;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use feegate_connector::{Action, Locale};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get))
        .routes(routes!(cancel))
        .routes(routes!(start_attempt))
        .routes(routes!(events))
}

fn stored(s: svc::Stored) -> Response {
    (s.status, [(header::CONTENT_TYPE, "application/json")], s.body).into_response()
}

/// Create a payment for a dossier's fees.
#[utoipa::path(post, path = "/v1/payments", tag = "payments",
    request_body(content = Object, description = "DESIGN §6 create request"),
    params(("Idempotency-Key" = Option<String>, Header, description = "same key + same body -> the first response again")),
    responses((status = 201, body = PaymentView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let key = idempotency_key(headers.get("idempotency-key").map(|v| v.to_str().unwrap_or("\u{1}")))?;
    Ok(stored(svc::create(&state, &who, &body, key).await?))
}

/// Read a payment.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, body = PaymentView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    let p = svc::visible(&state, &who, &id).await?;
    Ok(Json(svc::view(&state, &p).await?))
}

/// Query of the payment list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub dossier_code: Option<String>,
    pub status: Option<String>,
    pub agency_code: Option<String>,
    /// RFC 3339.
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// A page of payments, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentPage {
    pub data: Vec<PaymentView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

fn parse_time(field: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    match v {
        None => Ok(None),
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
            .map_err(|_| ApiError::bad_request("invalid_query", format!("{field} must be RFC 3339")).with_field(field)),
    }
}

/// List payments (a portal sees its own).
#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(ListQuery),
    responses((status = 200, body = PaymentPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<PaymentPage>, ApiError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit is 1-100").with_field("limit"));
    }
    if let Some(s) = &q.status {
        if crate::domain::payment::PaymentStatus::parse(s).is_none() {
            return Err(ApiError::bad_request("invalid_query", "unknown status").with_field("status"));
        }
    }
    let after = match &q.cursor {
        None => None,
        Some(c) => {
            let (at, id) = c.split_once('_').ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "cursor is not one of ours").with_field("cursor")
            })?;
            let at: i64 = at.parse().map_err(|_| {
                ApiError::bad_request("invalid_cursor", "cursor is not one of ours").with_field("cursor")
            })?;
            Some((at, id.to_owned()))
        }
    };
    let f = PaymentFilter {
        portal_id: None,
        dossier_code: q.dossier_code.clone(),
        status: q.status.clone(),
        agency_code: q.agency_code.clone(),
        created_from: parse_time("created_from", &q.created_from)?,
        created_to: parse_time("created_to", &q.created_to)?,
        after,
        limit,
    };
    let (data, next_cursor) = svc::list(&state, &who, f).await?;
    Ok(Json(PaymentPage { data, next_cursor }))
}

/// Cancel a payment nobody has paid.
#[utoipa::path(post, path = "/v1/payments/{id}/cancel", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, body = PaymentView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    Ok(Json(svc::cancel(&state, &who, &id).await?))
}

/// Start request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAttempt {
    /// Connector account id, e.g. `sandbox`.
    pub connector: String,
    /// `vi` (default) or `en`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub locale: Option<Locale>,
}

/// Start an attempt through a connector; answers the action for the payer's browser.
#[utoipa::path(post, path = "/v1/payments/{id}/attempts", tag = "payments", params(("id" = String, Path)),
    request_body = StartAttempt,
    responses((status = 201, body = Object, description = "{\"type\":\"redirect\",\"url\"} or {\"type\":\"qr\",\"payload\",\"transfer\"}"),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn start_attempt(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Action>), ApiError> {
    let req: StartAttempt = typed(body)?;
    let p = svc::visible(&state, &who, &id).await?;
    let action = crate::service::attempts::start(
        &state,
        &p,
        &req.connector,
        Some(addr.ip().to_string()),
        req.locale.unwrap_or_default(),
        &who.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(action)))
}

/// A payment's status history.
#[utoipa::path(get, path = "/v1/payments/{id}/events", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, body = Vec<EventView>), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    Ok(Json(svc::events(&state, &who, &id).await?))
}
