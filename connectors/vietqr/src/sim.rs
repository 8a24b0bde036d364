//! Simulator (feature `sim`) of a bank app that scans VietQR and of the receiving bank's
//! account-notification API: credit notifications, the credits lookup, the day's credit file.
//!
//! - `GET  /app?payload=<EMVCo>`: the bank app after scanning; 400 when the payload does not
//!   decode; otherwise shows the transfer with Transfer / Cancel.
//! - `POST /app?payload=<EMVCo>` (form `outcome=success|failure`): success sends the signed
//!   credit notification to the registered callback URL; cancel sends nothing.
//! - `GET  /api/credits?content=<text>`: signed lookup of credits whose content carries `text`.

use crate::wire::{sign, Credit, SIGNATURE_HEADER};
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use feegate_connector::ConnectorConfig;
use feegate_testkit::simkit::{control_router, pay_page, GatewaySim, Outbound, Sim, SimOrder, SimStatus, VN};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::sync::Arc;

/// The wire half of the VietQR simulator.
pub struct VietQrSim {
    secret: String,
    callback_url: String,
}

impl VietQrSim {
    /// The credit as the receiving bank reports it. The payer's bank rewrites the content
    /// the QR carried: it adds its own prefix and suffix around it, as real banks do.
    fn credit(&self, order: &SimOrder, amount: i64) -> Credit {
        Credit {
            notification_id: format!("N{}", order.txn_id),
            account_number: order.extra("account").to_owned(),
            bank_bin: order.extra("bank_bin").to_owned(),
            amount,
            content: format!(
                "MBVCB.{}.{}.CT tu 0011004123456 NGUYEN VAN A toi {}",
                order.txn_id,
                order.reference,
                order.extra("account")
            ),
            bank_txn_id: order.txn_id.clone(),
            credited_at: order
                .paid_at
                .and_then(|t| t.to_offset(VN).format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default(),
        }
    }
}

impl GatewaySim for VietQrSim {
    fn notification(&self, order: &SimOrder, amount: i64, forge: bool) -> Option<Outbound> {
        match order.status {
            SimStatus::Succeeded => {}
            // A cancelled or unfinished transfer moves no money, so the bank says nothing.
            SimStatus::Pending | SimStatus::Failed => return None,
        }
        let body = serde_json::to_vec(&self.credit(order, amount)).ok()?;
        let key = if forge { format!("forged-{}", self.secret) } else { self.secret.clone() };
        Some(Outbound {
            method: reqwest::Method::POST,
            url: self.callback_url.clone(),
            content_type: Some("application/json"),
            headers: vec![(SIGNATURE_HEADER, sign(key.as_bytes(), &body))],
            body,
        })
    }
    fn return_url(&self, _order: &SimOrder) -> Option<String> {
        None
    }
    fn settlement_success_status(&self) -> &'static str {
        crate::SETTLEMENT_STATUS
    }
}

type S = Arc<Sim<VietQrSim>>;

/// The simulator's routes, nested at `/sim/<connector id>`. It reads the connector's
/// `notify_secret`; the bank posts credits to `callback_url`, which a real bank has
/// registered out of band.
pub fn router(cfg: &ConnectorConfig, callback_url: &str) -> Router {
    let secret = cfg.secret("notify_secret").map(|s| s.expose_secret().to_owned()).unwrap_or_default();
    let sim = Sim::new(VietQrSim { secret, callback_url: callback_url.to_owned() });
    Router::new()
        .route("/app", get(app_get).post(app_post))
        .route("/api/credits", get(credits))
        .with_state(Arc::clone(&sim))
        .merge(control_router(sim))
}

#[derive(serde::Deserialize)]
struct AppQuery {
    payload: String,
}

fn order_from_payload(sim: &S, payload: &str) -> Result<SimOrder, Response> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m).into_response();
    let d = crate::decode(payload).map_err(|e| bad(format!("this QR is not a valid VietQR: {e}")))?;
    let content = d.purpose.clone().filter(|p| !p.is_empty()).ok_or_else(|| bad("the QR has no content".into()))?;
    let amount = d.amount.ok_or_else(|| bad("the QR has no amount".into()))?;
    let mut order = SimOrder::new(&content, &content, amount);
    order.extra = HashMap::from([("bank_bin".into(), d.bank_bin), ("account".into(), d.account)]);
    Ok(sim.upsert_order(order))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn app_get(State(sim): State<S>, Query(q): Query<AppQuery>) -> Response {
    let o = match order_from_payload(&sim, &q.payload) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if o.status != SimStatus::Pending {
        return Html(format!("<p>Transfer {} is already done.</p>", o.reference)).into_response();
    }
    let bank = crate::bank_name(o.extra("bank_bin")).unwrap_or("bank");
    let what = format!("Chuyển khoản tới {} {} — nội dung {}", bank, o.extra("account"), o.reference);
    let page = pay_page("VietQR bank app", o.amount, &what, &format!("app?payload={}", enc(&q.payload)), &[])
        .replace("Approve / Thanh toán", "Transfer / Chuyển tiền")
        .replace("Decline / Từ chối", "Cancel / Hủy");
    Html(page).into_response()
}

#[derive(serde::Deserialize)]
struct OutcomeForm {
    outcome: String,
}

async fn app_post(State(sim): State<S>, Query(q): Query<AppQuery>, Form(f): Form<OutcomeForm>) -> Response {
    let order = match order_from_payload(&sim, &q.payload) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let success = match f.outcome.as_str() {
        "success" => true,
        "failure" => false,
        _ => return (StatusCode::BAD_REQUEST, "outcome must be success or failure").into_response(),
    };
    match sim.finish(&order.order_ref, success).await {
        Ok(_) if success => Html("<p>Chuyển tiền thành công / Transfer sent.</p>").into_response(),
        Ok(_) => Html("<p>Đã hủy / Cancelled. No money moved.</p>").into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct CreditsQuery {
    content: String,
}

async fn credits(State(sim): State<S>, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let f = sim.faults();
    if f.query_timeout {
        sim.stall().await;
    }
    if f.query_5xx {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let raw = raw.unwrap_or_default();
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if feegate_connector::crypto::verify_hmac_sha256(sim.gateway.secret.as_bytes(), raw.as_bytes(), sig).is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(q) = serde_urlencoded::from_str::<CreditsQuery>(&raw) else {
        return (StatusCode::BAD_REQUEST, "content is required").into_response();
    };
    let found: Vec<Credit> = sim
        .order(&q.content.to_ascii_uppercase())
        .filter(|o| o.status == SimStatus::Succeeded)
        .map(|o| sim.gateway.credit(&o, o.amount))
        .into_iter()
        .collect();
    let body = serde_json::to_vec(&found).unwrap_or_default();
    let sig = sign(sim.gateway.secret.as_bytes(), &body);
    (StatusCode::OK, [(SIGNATURE_HEADER, sig), ("content-type", "application/json".into())], body).into_response()
}
