//! `/v1/cases` and `/v1/reconciliation/days`: what needs a person after reconciliation,
//! its resolution, and the sign-off of a day (finance and admin).

use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use crate::app::AppState;
use crate::service::cases::{self as svc, CaseQuery, CaseView, DayView, ResolveCase};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(resolve))
        .routes(routes!(list_days))
        .routes(routes!(close_day))
}

/// Cases: every non-matched item of the latest run of each source and day, and every
/// payment with a review; open ones by default.
#[utoipa::path(get, path = "/v1/cases", tag = "reconciliation", params(CaseQuery),
    responses((status = 200, body = Vec<CaseView>), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_status, invalid_kind, invalid_date, invalid_limit")))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<CaseQuery>,
) -> Result<Json<Vec<CaseView>>, ApiError> {
    Ok(Json(svc::list(&state, &who, &q).await?))
}

/// Resolve a case with a code and a note (audited, once).
#[utoipa::path(post, path = "/v1/cases/{id}/resolve", tag = "reconciliation", params(("id" = String, Path)),
    request_body = ResolveCase,
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "case_already_resolved"),
        (status = 422, body = ErrorBody, description = "invalid_resolution_code, invalid_note")))]
pub async fn resolve(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<CaseView>, ApiError> {
    Ok(Json(svc::resolve(&state, &who, &id, body).await?))
}

/// Query of the day list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DaysQuery {
    /// A connector account or statement source id.
    pub source: Option<String>,
    /// A GMT+7 business day, `YYYY-MM-DD`.
    #[param(format = Date)]
    pub date: Option<String>,
}

/// Days that have a reconciliation run, newest first, with their open cases and close.
#[utoipa::path(get, path = "/v1/reconciliation/days", tag = "reconciliation", params(DaysQuery),
    responses((status = 200, body = Vec<DayView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_days(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<DaysQuery>,
) -> Result<Json<Vec<DayView>>, ApiError> {
    Ok(Json(svc::list_days(&state, &who, q.source.as_deref(), q.date.as_deref()).await?))
}

/// Close a source's business day (audited): every case of it must be resolved. Closing a
/// closed day answers its record again. No file may be imported into a closed day.
#[utoipa::path(post, path = "/v1/reconciliation/days/{source}/{date}/close", tag = "reconciliation",
    params(("source" = String, Path), ("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 200, body = DayView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "open_cases (with the count), no_run"),
        (status = 422, body = ErrorBody, description = "unknown_source, invalid_date")))]
pub async fn close_day(
    State(state): State<AppState>,
    who: Principal,
    Path((source, date)): Path<(String, String)>,
) -> Result<Json<DayView>, ApiError> {
    Ok(Json(svc::close_day(&state, &who, &source, &date).await?))
}
