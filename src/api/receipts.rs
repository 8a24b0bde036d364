//! `/v1/receipts/{receipt_id}/...`: a receipt's jobs at its agency's external e-receipt
//! provider (docs/receipts.md): sending a job the provider refused again.

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::Path;
use crate::app::AppState;
use crate::domain::receipt::ReceiptView;
use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(retry_provider_job))
}

/// Send a receipt's provider job that the provider refused (`failed`) again (finance,
/// admin; audited). Its tries are kept: an issue looks its key up at the provider before
/// asking again. Re-queueing the issue of a receipt cancelled here also queues its
/// cancellation again, which runs once the issue is done. Answers the receipt with its
/// `provider` part as it is now (`queued`).
#[utoipa::path(post, path = "/v1/receipts/{receipt_id}/provider-jobs/{action}/retry", tag = "receipts",
    params(("receipt_id" = String, Path, description = "`rct_...`"),
        ("action" = String, Path, description = "`issue` or `cancel`")),
    responses((status = 200, body = ReceiptView),
        (status = 403, body = ErrorBody, description = "forbidden: not a finance or admin key"),
        (status = 404, body = ErrorBody, description = "not_found: no such receipt in the key's scope, or no such job"),
        (status = 409, body = ErrorBody, description = "receipt_job_not_failed: the job is queued or done")))]
pub async fn retry_provider_job(
    State(state): State<AppState>,
    who: Principal,
    Path((receipt_id, action)): Path<(String, String)>,
) -> Result<Json<ReceiptView>, ApiError> {
    Ok(Json(crate::service::receipt_jobs::retry(&state, &who, &receipt_id, &action).await?))
}
