//! `GET|POST /callbacks/{connector_id}` (gateway notifications) and
//! `GET /return/{connector_id}` (the payer's browser coming back).

use crate::app::AppState;
use crate::domain::payment::{AttemptStatus, PaymentStatus};
use crate::service::callbacks::{apply, Fact};
use crate::service::datetime;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::Router;
use feegate_connector::{InboundRequest, QueryRequest};

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
    let attempt = match state.store.attempt_by_reference(&info.reference).await {
        Ok(Some(a)) if a.connector_id == connector_id => a,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Html(state.pages.message("Không tìm thấy / Not found", "No payment has this reference.")),
            )
                .into_response()
        }
    };
    if attempt.status().is_open() {
        // The return alone proves nothing; the gateway's own answer does.
        let q = QueryRequest {
            reference: attempt.reference.clone(),
            gateway_txn: attempt.gateway_txn.clone(),
            amount: attempt.amount,
            created_at: datetime(attempt.created_at),
        };
        match account.connector.query(&q).await {
            Ok(r) => {
                let fact = Fact::from_query(&attempt, r);
                if let Err(e) = apply(&state, &connector_id, fact, None, "browser-return:query").await {
                    tracing::warn!(error = %e.message, "applying a queried outcome failed");
                }
            }
            Err(e) => {
                tracing::info!(connector = %connector_id, error = %e, "status query on return failed; the callback or resolver will tell")
            }
        }
    }
    let Ok(Some(p)) = state.store.payment(&attempt.payment_id).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    // The attempt as it is now (the query above may have settled it).
    let attempt_now =
        state.store.attempt(&attempt.id).await.ok().flatten().map(|a| a.status()).unwrap_or(attempt.status());
    let status = match p.status() {
        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => p.status.clone(),
        _ if attempt_now == AttemptStatus::Failed => "failed".to_owned(),
        _ => p.status.clone(),
    };
    match url::Url::parse(&p.return_url) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("payment_id", &p.id).append_pair("status", &status);
            Redirect::to(u.as_str()).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
