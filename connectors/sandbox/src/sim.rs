//! Simulator of the sandbox gateway (feature `sim`): pay page, signed notification,
//! browser return, query and refund APIs, settlement file, fault modes.

use crate::wire::{self, sign, SIGNATURE_HEADER};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use feegate_connector::ConnectorConfig;
use feegate_testkit::simkit::{control_router, pay_page, GatewaySim, Outbound, Sim, SimOrder, SimStatus};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::sync::Arc;

/// The wire half of the sandbox simulator.
pub struct SandboxSim {
    secret: String,
}

impl GatewaySim for SandboxSim {
    fn notification(&self, order: &SimOrder, amount: i64, forge: bool) -> Option<Outbound> {
        let body = serde_json::to_vec(&wire::Notify {
            reference: order.order_ref.clone(),
            transaction_id: order.txn_id.clone(),
            amount,
            currency: "VND".into(),
            status: status_word(order.status).into(),
            paid_at: order
                .paid_at
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default(),
        })
        .ok()?;
        let key = if forge { format!("forged-{}", self.secret) } else { self.secret.clone() };
        let sig = sign(key.as_bytes(), &body);
        Some(Outbound {
            method: reqwest::Method::POST,
            url: order.extra("notify_url").to_owned(),
            content_type: Some("application/json"),
            headers: vec![(SIGNATURE_HEADER, sig)],
            body,
        })
    }
    fn return_url(&self, order: &SimOrder) -> Option<String> {
        let base = order.extra("return_url");
        let sep = if base.contains('?') { '&' } else { '?' };
        let q = wire::return_query(self.secret.as_bytes(), &order.order_ref, status_word(order.status), order.amount);
        Some(format!("{base}{sep}{q}"))
    }
    fn settlement_success_status(&self) -> &'static str {
        "succeeded"
    }
}

fn status_word(s: SimStatus) -> &'static str {
    match s {
        SimStatus::Pending => "pending",
        SimStatus::Succeeded => "succeeded",
        SimStatus::Failed => "failed",
    }
}

type S = Arc<Sim<SandboxSim>>;

/// The simulator's routes, to be nested at `/sim/<connector id>`. It reads the same
/// configuration as the connector (the `secret`); the sandbox sends notifications to
/// the `notify_url` of each request, so `_callback_url` is unused.
pub fn router(cfg: &ConnectorConfig, _callback_url: &str) -> Router {
    let secret = cfg.secret("secret").map(|s| s.expose_secret().to_owned()).unwrap_or_default();
    let sim = Sim::new(SandboxSim { secret });
    Router::new()
        .route("/pay", get(pay_get).post(pay_post))
        .route("/api/transactions/{reference}", get(query))
        .route("/api/refunds", post(refund))
        .route("/api/refunds/{refund_reference}", get(refund_query))
        .with_state(Arc::clone(&sim))
        .merge(control_router(sim))
}

fn order_from_query(sim: &S, query: &str) -> Result<SimOrder, Response> {
    let req = wire::PayRequest::from_signed_query(sim.gateway.secret.as_bytes(), query)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid payment request: {e}")).into_response())?;
    let mut order = SimOrder::new(&req.reference, &req.reference, req.amount);
    order.extra = HashMap::from([
        ("return_url".into(), req.return_url),
        ("notify_url".into(), req.notify_url),
        ("description".into(), req.description),
    ]);
    Ok(sim.upsert_order(order))
}

async fn pay_get(State(sim): State<S>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    match order_from_query(&sim, &q) {
        Ok(o) if o.status == SimStatus::Pending => {
            Html(pay_page("Sandbox", o.amount, o.extra("description"), &format!("pay?{q}"), &[])).into_response()
        }
        Ok(o) => Html(format!("<p>Order {} is already {}.</p>", o.order_ref, status_word(o.status))).into_response(),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
struct OutcomeForm {
    outcome: String,
}

async fn pay_post(State(sim): State<S>, RawQuery(q): RawQuery, Form(f): Form<OutcomeForm>) -> Response {
    let order = match order_from_query(&sim, &q.unwrap_or_default()) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if f.outcome != "success" && f.outcome != "failure" {
        return (StatusCode::BAD_REQUEST, "outcome must be success or failure").into_response();
    }
    match sim.finish(&order.order_ref, f.outcome == "success").await {
        Ok(paid) => Redirect::to(&paid.return_url.unwrap_or_default()).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}

fn signed_json(sim: &S, status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let sig = sign(sim.gateway.secret.as_bytes(), &body);
    (status, [(SIGNATURE_HEADER, sig), ("content-type", "application/json".into())], body).into_response()
}

fn authorized(sim: &S, headers: &HeaderMap, message: &[u8]) -> bool {
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    feegate_connector::crypto::verify_hmac_sha256(sim.gateway.secret.as_bytes(), message, sig).is_ok()
}

async fn query(State(sim): State<S>, Path(reference): Path<String>, headers: HeaderMap) -> Response {
    let f = sim.faults();
    if f.query_timeout {
        sim.stall().await;
    }
    if f.query_5xx {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if !authorized(&sim, &headers, reference.as_bytes()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match sim.order(&reference) {
        Some(o) => signed_json(
            &sim,
            StatusCode::OK,
            &wire::Transaction {
                reference,
                transaction_id: Some(o.txn_id.clone()),
                amount: o.amount,
                status: status_word(o.status).into(),
            },
        ),
        None => signed_json(
            &sim,
            StatusCode::NOT_FOUND,
            &wire::Transaction { reference, transaction_id: None, amount: 0, status: "not_found".into() },
        ),
    }
}

async fn refund(State(sim): State<S>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let f = sim.faults();
    if f.refund_timeout {
        sim.stall().await;
    }
    if f.refund_5xx {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if !authorized(&sim, &headers, &body) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(call) = serde_json::from_slice::<wire::RefundCall>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match sim.refund(&call.reference, &call.refund_reference, call.amount) {
        Ok(r) => signed_json(
            &sim,
            StatusCode::OK,
            &wire::RefundReply {
                refund_reference: call.refund_reference,
                refund_id: Some(r.gateway_refund_id),
                status: "succeeded".into(),
                error: None,
            },
        ),
        Err(e) => signed_json(
            &sim,
            StatusCode::UNPROCESSABLE_ENTITY,
            &wire::RefundReply {
                refund_reference: call.refund_reference,
                status: "rejected".into(),
                error: Some(e.into()),
                ..Default::default()
            },
        ),
    }
}

async fn refund_query(State(sim): State<S>, Path(refund_reference): Path<String>, headers: HeaderMap) -> Response {
    if !authorized(&sim, &headers, refund_reference.as_bytes()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let found = sim.find_refund(&refund_reference);
    match found {
        Some(r) => signed_json(
            &sim,
            StatusCode::OK,
            &wire::RefundReply {
                refund_reference,
                refund_id: Some(r.gateway_refund_id),
                status: "succeeded".into(),
                error: None,
            },
        ),
        None => signed_json(
            &sim,
            StatusCode::NOT_FOUND,
            &wire::RefundReply {
                refund_reference,
                status: "not_found".into(),
                error: Some("no such refund".into()),
                ..Default::default()
            },
        ),
    }
}
