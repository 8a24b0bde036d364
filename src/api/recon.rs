//! `/v1/reconciliation/runs`: import a gateway settlement file, and read runs and their
//! items (finance and admin).

use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use crate::app::AppState;
use crate::service::recon::{self as svc, ImportRun, ItemView, RunView};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(get)).routes(routes!(items))
}

/// Query of the import.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    /// Reconcile the same file again as a new version (earlier versions are kept).
    pub rerun: Option<bool>,
}

/// Import a gateway's settlement file for a GMT+7 business day and reconcile it. 201: a
/// new run; 200: this file was already reconciled for that source and day (that run).
#[utoipa::path(post, path = "/v1/reconciliation/runs", tag = "reconciliation", params(ImportQuery),
    request_body = ImportRun,
    responses((status = 201, body = RunView), (status = 200, body = RunView, description = "the existing run of this file"),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_settlement_file (names the line), unknown_source, invalid_date")))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ImportQuery>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let (created, run) = svc::import(&state, &who, body, q.rerun.unwrap_or(false)).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(run)))
}

/// Query of the run list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// A connector account id.
    pub source: Option<String>,
    /// A business day, `YYYY-MM-DD`.
    pub date: Option<String>,
}

/// Reconciliation runs, newest first (at most 200).
#[utoipa::path(get, path = "/v1/reconciliation/runs", tag = "reconciliation", params(ListQuery),
    responses((status = 200, body = Vec<RunView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    Ok(Json(svc::list(&state, &who, q.source.as_deref(), q.date.as_deref()).await?))
}

/// One run with its counts per outcome.
#[utoipa::path(get, path = "/v1/reconciliation/runs/{id}", tag = "reconciliation", params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(svc::get(&state, &who, &id).await?))
}

/// Query of a run's items.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ItemsQuery {
    /// Only items of this outcome (`matched`, `missing_in_file`, `missing_in_feegate`,
    /// `amount_mismatch`, `status_mismatch`, `duplicate`).
    pub status: Option<String>,
}

/// A run's items in file order, then the records the file lacks.
#[utoipa::path(get, path = "/v1/reconciliation/runs/{id}/items", tag = "reconciliation",
    params(("id" = String, Path), ItemsQuery),
    responses((status = 200, body = Vec<ItemView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn items(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<Vec<ItemView>>, ApiError> {
    Ok(Json(svc::items(&state, &who, &id, q.status.as_deref()).await?))
}
