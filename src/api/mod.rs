//! HTTP: the `/v1` API (one module per resource), callbacks and returns, operations
//! endpoints, and the assembly of the whole router with its layers.

pub mod admin;
pub mod auth;
pub mod body;
pub mod callbacks;
pub mod cases;
pub mod error;
pub mod events;
pub mod ops;
pub mod payments;
pub mod ratelimit;
pub mod recon;
pub mod refunds;
pub mod reports;

use crate::app::AppState;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The OpenAPI document's header; paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "feegate", description = "Fee payment integration middleware: the portal API (DESIGN §6)."),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security =
            Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

/// The `/v1` routes together with their OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(payments::router())
        .merge(refunds::router())
        .merge(recon::router())
        .merge(cases::router())
        .merge(reports::router())
        .merge(admin::router())
        .merge(events::router())
        .merge(ops::documented())
        .split_for_parts()
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api();
    let doc = std::sync::Arc::new(doc);
    let guard = ratelimit::Guard::new(state.clone());
    let mut app = Router::new()
        .merge(api.layer(axum::middleware::from_fn_with_state(guard.clone(), ratelimit::per_key)))
        .merge(ops::router(doc))
        .merge(
            callbacks::router()
                .layer(axum::middleware::from_fn_with_state(guard.clone(), ratelimit::unverified_callbacks)),
        )
        .merge(crate::web::router())
        .layer(axum::middleware::from_fn_with_state(guard, ratelimit::payer_pages))
        .layer(axum::middleware::from_fn(ratelimit::header_limit))
        .layer(axum::middleware::from_fn(track))
        .layer(axum::extract::DefaultBodyLimit::max(body::MAX_BODY))
        // A hard cap as the body streams in; each extractor has its own, smaller limit
        // (64 KiB, DefaultBodyLimit and JsonBody), except reconciliation uploads.
        .layer(RequestBodyLimitLayer::new(body::MAX_UPLOAD))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::custom(|_| error::ApiError::internal("a handler panicked").into_response_owned()))
        .with_state(state.clone());
    // Simulators exist only in demo mode (outside it, `serve` refuses `simulate = true`).
    if state.config.demo_mode {
        for (id, sim) in state.connectors.simulators(&state.config.public_url) {
            app = app.nest(&format!("/sim/{id}"), sim);
        }
    }
    // Outermost, so that every answer has them: errors, 404s, 429s and panics included.
    app.layer(axum::middleware::from_fn(crate::web::headers::security_headers))
}

impl error::ApiError {
    fn into_response_owned(self) -> Response {
        axum::response::IntoResponse::into_response(self)
    }
}

/// The metrics label of a method: one of a fixed set, so that made-up methods cannot
/// create series without bound.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts requests by route and status and logs each one.
async fn track(req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    metrics::counter!("feegate_http_requests_total", "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("feegate_http_request_seconds", "route" => route.clone()).record(elapsed.as_secs_f64());
    tracing::info!(target: "feegate::http", %method, route, status, ms = elapsed.as_millis() as u64, "request");
    resp
}
