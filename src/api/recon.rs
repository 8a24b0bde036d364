//! `/v1/reconciliation/runs`: import a gateway settlement file, and read runs and their
//! items (finance and admin).

use super::auth::Principal;
use super::body::{JsonBody, MAX_UPLOAD};
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use crate::app::AppState;
use crate::service::error::Code;
use crate::service::recon::{self as svc, ImportRun, ItemView, RunView, Upload};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get))
        .routes(routes!(items))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD))
}

/// The multipart form of an upload, for the OpenAPI document.
#[allow(dead_code)]
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadForm {
    /// A connector account id (its settlement file) or a configured statement source.
    source: String,
    /// The GMT+7 business day, `YYYY-MM-DD` (required for a settlement file).
    date: Option<String>,
    /// `settlement`, `camt053`, `mt940` or `csv`: if given, must be the source's format.
    format: Option<String>,
    /// The file.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(Code::BodyTooLarge, format!("the upload is larger than {MAX_UPLOAD} bytes"))
    } else {
        ApiError::new(Code::InvalidMultipart, format!("the form cannot be read: {}", e.body_text()))
    }
}

async fn read_upload(mut form: Multipart) -> Result<Upload, ApiError> {
    let mut up = Upload::default();
    let mut has_file = false;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" => {
                up.bytes = field.bytes().await.map_err(multipart_error)?.to_vec();
                has_file = true;
            }
            "source" | "date" | "format" => {
                let text = field.text().await.map_err(multipart_error)?.trim().to_owned();
                match name.as_str() {
                    "source" => up.source = text,
                    "date" => up.date = Some(text).filter(|t| !t.is_empty()),
                    _ => up.format = Some(text).filter(|t| !t.is_empty()),
                }
            }
            other => {
                return Err(ApiError::new(Code::UnknownField, format!("the form has an unknown field `{other}`"))
                    .with_field(other))
            }
        }
    }
    if !has_file {
        return Err(ApiError::new(Code::MissingField, "the form needs a file").with_field("file"));
    }
    Ok(up)
}

/// Query of the import.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    /// Reconcile the same file again as a new version (earlier versions are kept).
    pub rerun: Option<bool>,
}

/// Import a file (a gateway's settlement file, or an agency account's statement) and
/// reconcile it: as JSON with the file inline, or as a `multipart/form-data` upload. 201:
/// a new run; 200: this file was already reconciled for that source and day (that run).
#[utoipa::path(post, path = "/v1/reconciliation/runs", tag = "reconciliation", params(ImportQuery),
    request_body(content((ImportRun = "application/json"), (UploadForm = "multipart/form-data"))),
    responses((status = 201, body = RunView), (status = 200, body = RunView, description = "the existing run of this file"),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_settlement_file (names the line), unknown_source, invalid_date")))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ImportQuery>,
    req: Request,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let rerun = q.rerun.unwrap_or(false);
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
    let (created, run) = if multipart {
        // Refuse before reading what may be megabytes.
        svc::require_staff(&who)?;
        let form = Multipart::from_request(req, &state)
            .await
            .map_err(|e| ApiError::new(Code::InvalidMultipart, e.body_text()))?;
        svc::import_upload(&state, &who, read_upload(form).await?, rerun).await?
    } else {
        let JsonBody(body) = JsonBody::from_request(req, &state).await?;
        svc::import(&state, &who, body, rerun).await?
    };
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(run)))
}

/// Query of the run list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// A connector account id.
    pub source: Option<String>,
    /// A business day, `YYYY-MM-DD`.
    #[param(format = Date)]
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
