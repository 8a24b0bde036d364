//! HTTP: the `/v1` API (one module per resource), callbacks and returns, operations
//! endpoints, and the assembly of the whole router with its layers.

pub mod admin;
pub mod auth;
pub mod body;
pub mod callbacks;
pub mod cases;
pub mod error;
pub mod events;
pub mod extract;
pub mod ops;
pub mod payments;
pub mod ratelimit;
pub mod receipts;
pub mod recon;
pub mod refunds;
pub mod reports;
mod schema;

use crate::app::AppState;
use crate::service::error::Code;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(payments::router())
        .merge(refunds::router())
        .merge(receipts::router())
        .merge(recon::router())
        .merge(cases::router())
        .merge(reports::router())
        .merge(admin::router())
        .merge(events::router())
        .merge(ops::documented())
        .split_for_parts();
    let mut doc = doc;
    complete(&mut doc);
    (router, doc)
}

/// Adds to every `/v1` operation the refusals any of them can answer, so that the
/// document lists every status a client may see: the key (401, 403), the limits (429
/// with `Retry-After`, 431, 413), the request's shape (400, 415, 422), the resource (404)
/// and the database (503).
fn complete(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, Header, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in ops.into_iter().flatten() {
            let params = op.parameters.as_deref().unwrap_or_default();
            let in_path = params.iter().any(|p| matches!(p.parameter_in, ParameterIn::Path));
            let has_body = op.request_body.is_some();
            let mut add = |status: &str, response: ResponseBuilder| {
                op.responses.responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(response.build()));
            };
            add("400", error("invalid_query, invalid_path, invalid_json, bad_request: the request is malformed"));
            add("401", error("missing_api_key, invalid_api_key, revoked_api_key"));
            add("403", error("forbidden: this key's role or portal may not do that"));
            if in_path {
                add("404", error("not_found"));
            }
            if has_body {
                add("413", error("body_too_large"));
                add("415", error("unsupported_media_type: send Content-Type: application/json"));
            }
            if has_body || !params.is_empty() {
                add("422", error("the request breaks a rule; `field` names the part at fault"));
            }
            let retry_after = Header::new(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)));
            add("429", error("rate_limited: this key's quota is spent").header("Retry-After", retry_after));
            add("431", error("headers_too_large"));
            add("503", error("database_unavailable, unavailable: retry later"));
        }
    }
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
        .layer(axum::middleware::from_fn_with_state(state.clone(), contract))
        .layer(CatchPanicLayer::custom(|_| error::ApiError::internal("a handler panicked").into_response_owned()))
        .with_state(state.clone());
    // Simulators exist only in demo mode (outside it, `serve` refuses `simulate = true`).
    if state.config.demo_mode {
        for (id, sim) in state.connectors.simulators(&state.config.public_url) {
            app = app.nest(&format!("/sim/{id}"), sim);
        }
        for (id, sim) in receipt_simulators(&state.config) {
            app = app.nest(&format!("/sim/receipts/{id}"), sim);
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

/// Who reads an answer at a path: a program (the `/v1` API and everything else), a
/// person (the hosted pages, the console), or a gateway (callbacks, simulators: their
/// own protocols, left as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    Api,
    Program,
    Person,
    Gateway,
}

impl Reader {
    fn of(path: &str, accepts_html: bool) -> Reader {
        let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
        if under("/v1") {
            Reader::Api
        } else if under("/callbacks") || under("/sim") {
            Reader::Gateway
        } else if under("/checkout") || under("/console") || under("/return") || accepts_html {
            Reader::Person
        } else {
            Reader::Program
        }
    }
}

/// The JSON refusal for an error answered without one: axum's 404 of an unknown route and
/// 405 of a wrong method (both with an empty body), a timeout's 503, the streaming body
/// limit's 413, and any plain-text rejection on `/v1`.
fn refusal(status: StatusCode, method: &axum::http::Method, text: &str) -> error::ApiError {
    let said = |default: &str| if text.trim().is_empty() { default.to_owned() } else { text.trim().to_owned() };
    let (code, message) = match status.as_u16() {
        400 => (Code::BadRequest, said("the request is malformed")),
        404 => (Code::NotFound, "no such resource: see /openapi.json for the routes".to_owned()),
        405 => (Code::MethodNotAllowed, format!("{method} is not allowed here; the Allow header lists what is")),
        408 => (Code::RequestTimeout, "the request took too long to arrive".to_owned()),
        413 => (Code::BodyTooLarge, said("the request body is too large")),
        415 => (Code::UnsupportedMediaType, said("unsupported Content-Type")),
        422 => (Code::Unprocessable, said("the request cannot be processed")),
        431 => (Code::HeadersTooLarge, "the request's headers are too large".to_owned()),
        503 => (Code::Unavailable, "the service cannot answer now; retry later".to_owned()),
        s if s >= 500 => (Code::InternalError, "internal error".to_owned()),
        _ => (Code::ClientError, said("the request was refused")),
    };
    error::ApiError::new(code, message)
}

/// Keeps every refusal in the contract: an API error is `{"error": {...}}` with a stable
/// code, a page error is a page, and no error has an empty body. Headers such as `Allow`
/// and `Retry-After` are kept.
async fn contract(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let accepts_html =
        req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    let reader = Reader::of(req.uri().path(), accepts_html);
    let method = req.method().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || reader == Reader::Gateway {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let empty = axum::body::HttpBody::size_hint(resp.body()).exact() == Some(0);
    let rewrite = match reader {
        Reader::Api => !is_json,
        _ => empty,
    };
    if !rewrite {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = if empty || status.is_server_error() {
        String::new()
    } else {
        let bytes = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
        String::from_utf8_lossy(&bytes).chars().take(500).collect()
    };
    let err = refusal(status, &method, &text);
    let fresh = if reader == Reader::Person {
        // A person reads this page (a payer who mistyped or followed an old link): in
        // Vietnamese and English, and what to do next rather than the API's words.
        let (title, message) = match status.as_u16() {
            404 => (
                "Không tìm thấy trang · Page not found".to_owned(),
                "Địa chỉ này không có trên trang thanh toán. Hãy quay lại cổng dịch vụ công và mở lại \
                 liên kết thanh toán của hồ sơ. · This address does not exist here: go back to the \
                 public service portal and open the dossier's payment link again."
                    .to_owned(),
            ),
            _ => (
                format!("Không thực hiện được yêu cầu · The request could not be completed ({})", status.as_u16()),
                format!(
                    "Hãy quay lại cổng dịch vụ công và thử lại sau. · Go back to the public service portal and try \
                     again later. ({})",
                    err.message
                ),
            ),
        };
        (status, axum::response::Html(state.pages.message(&title, &message))).into_response()
    } else {
        error::envelope(status, err)
    };
    let (fresh_parts, fresh_body) = fresh.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    for (name, value) in &fresh_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, fresh_body)
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

/// The receipt providers' simulators to mount at `/sim/receipts/{id}` (demo mode only).
fn receipt_simulators(config: &crate::config::Config) -> Vec<(String, Router)> {
    use secrecy::ExposeSecret;
    config
        .receipts
        .providers
        .iter()
        .filter(|(_, p)| p.simulate)
        .filter_map(|(id, p)| {
            let secret = p.secret.resolve().ok()?;
            let public = format!("{}/sim/receipts/{id}", config.public_url);
            Some((id.clone(), feegate_receipt_issuer::sim::router(id, secret.expose_secret().as_bytes(), &public)))
        })
        .collect()
}
