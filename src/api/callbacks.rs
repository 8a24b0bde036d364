//! `GET|POST /callbacks/{connector_id}` (gateway notifications) and
//! `GET /return/{connector_id}` (the payer's browser coming back).

use crate::app::AppState;
use crate::service::callbacks::returned;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::Router;
use feegate_connector::InboundRequest;

pub fn router() -> Router<AppState> {
    Router::new().route("/callbacks/{connector_id}", any(callback)).route("/return/{connector_id}", get(browser_return))
}

pub(super) fn inbound(method: &Method, query: Option<String>, headers: &HeaderMap, body: Bytes) -> InboundRequest {
    InboundRequest {
        method: method.to_string(),
        query: query.unwrap_or_default(),
        headers: headers
            .iter()
            .filter(|(k, _)| k.as_str() != "authorization" && k.as_str() != "cookie")
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    }
}

async fn callback(
    State(state): State<AppState>,
    Path(connector_id): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = inbound(&method, query, &headers, body);
    match crate::service::callbacks::handle(&state, &connector_id, req).await {
        None => (StatusCode::NOT_FOUND, "unknown connector").into_response(),
        Some(reply) => {
            let mut resp = (StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK), reply.body).into_response();
            if let Some(ct) = reply.content_type {
                resp.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            resp
        }
    }
}

/// The browser is back: verify (display only), ask the gateway if we still do not know,
/// then send the payer to the portal with the payment's real status.
async fn browser_return(
    State(state): State<AppState>,
    Path(connector_id): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(account) = state.connectors.get(&connector_id) else {
        return (StatusCode::NOT_FOUND, "unknown connector").into_response();
    };
    let req = inbound(&method, query, &headers, Bytes::new());
    let info = match account.connector.verify_return(&req) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(connector = %connector_id, error = %e, "browser return did not verify");
            return (
                StatusCode::BAD_REQUEST,
                Html(
                    state
                        .pages
                        .message("Liên kết không hợp lệ / Invalid link", "The return link could not be verified."),
                ),
            )
                .into_response();
        }
    };
    let Some(back) = returned(&state, &connector_id, &info.reference).await else {
        return (
            StatusCode::NOT_FOUND,
            Html(state.pages.message("Không tìm thấy / Not found", "No payment has this reference.")),
        )
            .into_response();
    };
    let Ok(p) = back else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    match p.redirect_url(ts) {
        Some(u) => Redirect::to(&u).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
