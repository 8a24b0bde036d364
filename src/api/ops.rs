//! Operations: `/healthz`, `/readyz`, `/metrics` (Prometheus), `/openapi.json`.
//! `/metrics` is never public: on the main address it answers an admin or finance key
//! only; `metrics_listen` gives it an address of its own (for a scraper on a private
//! network) where it needs no key.

use crate::app::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The documented operations routes.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

/// Routes that describe the API itself.
pub fn router(doc: Arc<utoipa::openapi::OpenApi>) -> Router<AppState> {
    Router::new().route("/metrics", get(metrics)).route(
        "/openapi.json",
        get(move || {
            let doc = Arc::clone(&doc);
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()), responses((status = 200, description = "alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "ops", security(()),
    responses((status = 200, description = "ready"), (status = 503, description = "database unreachable")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if crate::service::ready(&state).await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}

async fn metrics(
    principal: crate::api::auth::Principal,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, crate::api::error::ApiError> {
    use crate::api::auth::Role;
    principal.require(&[Role::Admin, Role::Finance])?;
    // The metrics count every agency's payments: not for a caller bound to some.
    principal.require_every_agency()?;
    Ok(render(&state.metrics))
}

fn render(handle: &metrics_exporter_prometheus::PrometheusHandle) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
}

/// The router of the `metrics_listen` address: `/metrics` alone, without a key.
pub fn metrics_only(handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    Router::new().route("/metrics", get(move || std::future::ready(render(&handle))))
}
