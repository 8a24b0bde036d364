//! `/v1/payments`: create, read, list, cancel, start an attempt, status history.

use super::auth::Principal;
use super::body::{typed, JsonBody};
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use crate::app::AppState;
use crate::domain::payment::{is_code_char, CreatePayment, PaymentStatus};
use crate::service::error::Code;
use crate::service::payments::{self as svc, idempotency_key, PaymentFilter};
use crate::service::view::{EventView, PaymentView};
use axum::extract::{ConnectInfo, State};
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
        .routes(routes!(receipts))
}

pub(super) fn stored(s: svc::Stored) -> Response {
    let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK);
    (status, [(header::CONTENT_TYPE, "application/json")], s.body).into_response()
}

/// Create a payment for a dossier's fees (a portal key).
#[utoipa::path(post, path = "/v1/payments", tag = "payments",
    request_body = CreatePayment,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$",
        description = "1-255 visible ASCII characters. Same key + same body -> the first response again; \
            same key + another body -> 409 `idempotency_key_reused`")),
    responses((status = 201, body = PaymentView),
        (status = 400, body = ErrorBody, description = "invalid_json, invalid_idempotency_key"),
        (status = 403, body = ErrorBody, description = "forbidden: not a portal key"),
        (status = 409, body = ErrorBody, description = "idempotency_key_reused"),
        (status = 422, body = ErrorBody, description = "missing_field, unknown_field, invalid_type, invalid_code, \
            invalid_agency_code, invalid_amount, invalid_line_kind, too_many_lines, field_too_long, invalid_field, \
            invalid_return_url, invalid_expiry, unknown_agency, agency_not_allowed, no_account_for_line")))]
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
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments", params(("id" = String, Path, description = "`pay_...`")),
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
    /// A dossier code (exact).
    #[param(pattern = r"^[A-Za-z0-9._/-]{1,64}$")]
    pub dossier_code: Option<String>,
    #[param(value_type = Option<PaymentStatus>, inline)]
    pub status: Option<String>,
    /// An agency code (exact).
    #[param(pattern = r"^[A-Za-z0-9._-]{1,40}$")]
    pub agency_code: Option<String>,
    /// Created at or after, RFC 3339.
    #[param(format = DateTime)]
    pub created_from: Option<String>,
    /// Created at or before, RFC 3339.
    #[param(format = DateTime)]
    pub created_to: Option<String>,
    /// 1-100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}_[A-Za-z0-9_]{1,64}$")]
    pub cursor: Option<String>,
}

/// Whether `v` is 1-`max` characters of which each passes `ok`.
fn shaped(v: &str, max: usize, ok: impl Fn(char) -> bool) -> bool {
    !v.is_empty() && v.len() <= max && v.chars().all(ok)
}

/// A cursor as [`list`] makes it: `<created_at ms>_<payment id>`.
fn parse_cursor(c: &str) -> Option<(i64, String)> {
    let (at, id) = c.split_once('_')?;
    if !shaped(at, 18, |c| c.is_ascii_digit()) || !shaped(id, 64, |c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((at.parse().ok()?, id.to_owned()))
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
            .map_err(|_| ApiError::new(Code::InvalidQuery, format!("{field} must be RFC 3339")).with_field(field)),
    }
}

/// List payments, newest first (a portal sees its own).
#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(ListQuery),
    responses((status = 200, body = PaymentPage),
        (status = 400, body = ErrorBody, description = "invalid_query (names the parameter), invalid_cursor")))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<PaymentPage>, ApiError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::new(Code::InvalidQuery, "limit is 1-100").with_field("limit"));
    }
    if let Some(s) = &q.status {
        if PaymentStatus::parse(s).is_none() {
            return Err(ApiError::new(Code::InvalidQuery, "unknown status").with_field("status"));
        }
    }
    if q.dossier_code.as_deref().is_some_and(|d| !shaped(d, 64, is_code_char)) {
        return Err(ApiError::new(Code::InvalidQuery, "dossier_code: 1-64 letters, digits, '.', '-', '_' or '/'")
            .with_field("dossier_code"));
    }
    if q.agency_code.as_deref().is_some_and(|a| !shaped(a, 40, |c| c != '/' && is_code_char(c))) {
        return Err(ApiError::new(Code::InvalidQuery, "agency_code: 1-40 letters, digits, '.', '-' or '_'")
            .with_field("agency_code"));
    }
    let after = match &q.cursor {
        None => None,
        Some(c) => Some(
            parse_cursor(c)
                .ok_or_else(|| ApiError::new(Code::InvalidCursor, "cursor is not one of ours").with_field("cursor"))?,
        ),
    };
    let f = PaymentFilter {
        portal_id: None,
        dossier_code: q.dossier_code.clone(),
        status: q.status.clone(),
        agency_code: q.agency_code.clone(),
        created_from: parse_time("created_from", &q.created_from)?,
        created_to: parse_time("created_to", &q.created_to)?,
        agencies: None,
        reference: None,
        connector_id: None,
        paid_from: None,
        paid_to: None,
        payer: None,
        webhook_failed: false,
        unresolved_attempts: false,
        after,
        limit,
    };
    let (data, next_cursor) = svc::list(&state, &who, f).await?;
    Ok(Json(PaymentPage { data, next_cursor }))
}

/// Cancel a payment nobody has paid.
#[utoipa::path(post, path = "/v1/payments/{id}/cancel", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, body = PaymentView), (status = 403, body = ErrorBody, description = "forbidden: a finance key"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "invalid_state")))]
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
    #[schema(example = "sandbox")]
    pub connector: String,
    /// `vi` (default) or `en`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub locale: Option<Locale>,
}

/// Start an attempt through a connector; answers the action for the payer's browser.
#[utoipa::path(post, path = "/v1/payments/{id}/attempts", tag = "payments", params(("id" = String, Path)),
    request_body = StartAttempt,
    responses((status = 201, body = Object, description = "{\"type\":\"redirect\",\"url\"}, {\"type\":\"qr\",\"payload\",\"transfer\"}, or (a bank transfer to a payment whose lines go to several accounts) {\"type\":\"transfers\",\"transfers\":[{\"attempt_id\",\"payload\",\"transfer\"}]}: one QR per account, paid when all have arrived"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "payment_not_payable"),
        (status = 422, body = ErrorBody, description = "unknown_connector, connector_not_allowed, ..."),
        (status = 502, body = ErrorBody, description = "the gateway failed")))]
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

/// A payment's receipts (biên lai): the original issued when it was paid, and any
/// adjustment or cancellation since.
#[utoipa::path(get, path = "/v1/payments/{id}/receipts", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, body = Vec<crate::domain::receipt::ReceiptView>), (status = 404, body = ErrorBody)))]
pub async fn receipts(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<crate::domain::receipt::ReceiptView>>, ApiError> {
    Ok(Json(crate::service::receipts::list(&state, &who, &id).await?))
}
