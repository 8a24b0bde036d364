//! `/v1/reports`: the settlement report of a day and the monthly summary, as JSON or as
//! CSV a spreadsheet opens (finance and admin), within the caller's agency scope
//! (`service::reports` applies it, for the console too).

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::Query;
use crate::app::AppState;
use crate::service::error::Code;
use crate::service::reports::render::{self, Format, Table};
use crate::service::reports::{self as svc, MonthlyReport, SettlementReport};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(settlement)).routes(routes!(monthly))
}

/// Query of the settlement report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SettlementQuery {
    /// The GMT+7 business day, `YYYY-MM-DD` (required).
    #[param(format = Date)]
    pub date: Option<String>,
    /// Only this agency's accounts (all of them, even without activity).
    pub agency_code: Option<String>,
    /// `json` (the default) or `csv`.
    pub format: Option<String>,
}

fn csv_response(table: &Table, filename: &str) -> Result<Response, ApiError> {
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        table.to_csv()?,
    )
        .into_response())
}

/// Per agency account and day: expected (paid minus refunded), settled by each gateway,
/// credited on the statement, the differences and the open cases.
#[utoipa::path(get, path = "/v1/reports/settlement", tag = "reports", params(SettlementQuery),
    responses((status = 200, description = "the report", content((SettlementReport = "application/json"),
            (String = "text/csv"))),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "an agency the caller is not bound to"),
        (status = 422, body = ErrorBody, description = "missing_field, invalid_date, invalid_format")))]
pub async fn settlement(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<SettlementQuery>,
) -> Result<Response, ApiError> {
    svc::may_read(&who)?;
    let format = render::format(q.format.as_deref())?;
    let date =
        q.date.as_deref().ok_or_else(|| ApiError::new(Code::MissingField, "date is required").with_field("date"))?;
    let report = svc::settlement(&state, &who, date, q.agency_code.as_deref()).await?;
    match format {
        Format::Json => Ok(Json(report).into_response()),
        Format::Csv => csv_response(&report.table(), &format!("settlement-{date}.csv")),
    }
}

/// Query of the monthly summary.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MonthlyQuery {
    /// The GMT+7 month, `YYYY-MM` (required).
    pub month: Option<String>,
    /// Only this agency.
    pub agency_code: Option<String>,
    /// `json` (the default) or `csv`.
    pub format: Option<String>,
}

/// Per agency and fee kind (phí / lệ phí), per procedure code and per gateway: how many
/// payments, their amount, and the refunds of the month.
#[utoipa::path(get, path = "/v1/reports/monthly", tag = "reports", params(MonthlyQuery),
    responses((status = 200, description = "the summary", content((MonthlyReport = "application/json"),
            (String = "text/csv"))),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "an agency the caller is not bound to"),
        (status = 422, body = ErrorBody, description = "missing_field, invalid_month, invalid_format")))]
pub async fn monthly(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<MonthlyQuery>,
) -> Result<Response, ApiError> {
    svc::may_read(&who)?;
    let format = render::format(q.format.as_deref())?;
    let month =
        q.month.as_deref().ok_or_else(|| ApiError::new(Code::MissingField, "month is required").with_field("month"))?;
    let report = svc::monthly(&state, &who, month, q.agency_code.as_deref()).await?;
    match format {
        Format::Json => Ok(Json(report).into_response()),
        Format::Csv => csv_response(&report.table(), &format!("monthly-{month}.csv")),
    }
}
