//! `/v1/payments/{id}/refunds`: request, list, and complete a manual payout.

use super::auth::Principal;
use super::body::{typed, JsonBody};
use super::error::{ApiError, ErrorBody};
use super::extract::Path;
use crate::app::AppState;
use crate::domain::money::MAX_AMOUNT;
use crate::service::payments::idempotency_key;
use crate::service::refunds::{self as svc, RefundView};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(complete))
}

/// Refund request body.
#[allow(dead_code)]
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    /// Whole đồng, 1 to what is left to refund: a string of digits or a whole number.
    #[schema(schema_with = refund_amount_schema)]
    amount: String,
    /// Why: 1-255 characters (spaces around it do not count), not blank.
    #[schema(min_length = 1)]
    reason: String,
    /// The attempt whose collection to return (an id from the payment's `attempts`).
    /// Absent or null: the attempt that paid the payment, booked on the payment. Another
    /// attempt that also succeeded (a second collection, a late success on an expired or
    /// cancelled payment) is refunded through its own gateway, up to its own amount, in any
    /// payment status, and leaves the payment's status and refunded amount as they are.
    /// 422 `unknown_attempt` (not this payment's), `attempt_not_refundable` (it did not
    /// succeed), `refund_exceeds_attempt` (more than is left of its amount).
    #[schema(max_length = 64, nullable)]
    attempt_id: Option<String>,
}

/// As [`crate::domain::payment::amount_schema`], with the spaces around a string amount the refund parser allows.
fn refund_amount_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^\s*[0-9.]+\s*$")))
        .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(MAX_AMOUNT as f64)))
        .build()
        .into()
}

/// Refund (part of) a paid payment, or of a duplicate collection (`attempt_id`). 202:
/// executed through the gateway, or `pending_manual` where the gateway cannot refund online.
#[utoipa::path(post, path = "/v1/payments/{id}/refunds", tag = "refunds", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$",
            description = "1-255 visible ASCII characters. Same key + same body -> the first response again")),
    request_body = NewRefund,
    responses((status = 202, body = RefundView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "refund_exceeds_available, payment_not_refundable"), (status = 422, body = ErrorBody,
            description = "invalid input; unknown_attempt, attempt_not_refundable, refund_exceeds_attempt")))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let key = idempotency_key(headers.get("idempotency-key").map(|v| v.to_str().unwrap_or("\u{1}")))?;
    let s = svc::create(&state, &who, &id, &body, key).await?;
    Ok(super::payments::stored(s))
}

/// A payment's refunds.
#[utoipa::path(get, path = "/v1/payments/{id}/refunds", tag = "refunds", params(("id" = String, Path)),
    responses((status = 200, body = Vec<RefundView>), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<RefundView>>, ApiError> {
    Ok(Json(svc::list(&state, &who, &id).await?))
}

/// Manual payout record.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualPayout {
    /// The bank's reference of the transfer that paid the refund out.
    pub bank_reference: String,
}

/// Record the manual payout of a `pending_manual` refund (finance).
#[utoipa::path(post, path = "/v1/payments/{id}/refunds/{refund_id}/complete", tag = "refunds",
    params(("id" = String, Path), ("refund_id" = String, Path)), request_body = ManualPayout,
    responses((status = 200, body = RefundView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    who: Principal,
    Path((id, refund_id)): Path<(String, String)>,
    JsonBody(b): JsonBody,
) -> Result<Json<RefundView>, ApiError> {
    let p: ManualPayout = typed(b)?;
    Ok(Json(svc::complete_manual(&state, &who, &id, &refund_id, &p.bank_reference).await?))
}
