//! Simulator of MoMo AIO v2 (feature `sim`): create/query/refund APIs that check
//! signatures, a pay page, the signed JSON IPN to each order's `ipnUrl`, the signed
//! browser return to its `redirectUrl`, fault modes and the settlement file (via simkit).

mod api;

use crate::notify::SignedResult;
use crate::sign::ResultSigned;
use crate::Settings;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use feegate_connector::ConnectorConfig;
use feegate_testkit::simkit::{control_router, pay_page, GatewaySim, Outbound, Sim, SimOrder, SimStatus};
use secrecy::ExposeSecret;
use std::sync::{Arc, Mutex};

/// The wire half of the MoMo simulator: the merchant's keys and the orders' ids.
pub struct MomoSim {
    partner_code: String,
    access_key: String,
    secret_key: String,
    /// The simulator's own absolute base URL (for `payUrl`).
    base_url: String,
    /// Every purchase orderId, to find an order by its transId on refund.
    order_ids: Mutex<Vec<String>>,
}

impl MomoSim {
    fn order_ids(&self) -> Vec<String> {
        self.order_ids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn remember(&self, order_id: &str) {
        self.order_ids.lock().unwrap_or_else(|p| p.into_inner()).push(order_id.to_owned());
    }

    /// The signed result fields MoMo reports for `order` (IPN and return alike).
    fn result(&self, order: &SimOrder, amount: i64, secret: &[u8]) -> SignedResult {
        let en = order.extra("lang") == "en";
        let (code, message) = match (order.status, en) {
            (SimStatus::Succeeded, false) => (0, "Thành công."),
            (SimStatus::Succeeded, true) => (0, "Successful."),
            (SimStatus::Failed, false) => (1006, "Giao dịch bị từ chối bởi người dùng."),
            (SimStatus::Failed, true) => (1006, "Transaction denied by user."),
            (SimStatus::Pending, _) => (1000, "Transaction is initiated, waiting for user confirmation."),
        };
        let time = order.paid_at.unwrap_or(order.created_at);
        let fields = ResultSigned {
            amount: amount.to_string(),
            extra_data: order.extra("extraData").to_owned(),
            message: message.to_owned(),
            order_id: order.order_ref.clone(),
            order_info: order.extra("orderInfo").to_owned(),
            order_type: "momo_wallet".into(),
            partner_code: self.partner_code.clone(),
            pay_type: "qr".into(),
            request_id: order.extra("requestId").to_owned(),
            response_time: (time.unix_timestamp_nanos() / 1_000_000).to_string(),
            result_code: code.to_string(),
            trans_id: if order.txn_id.is_empty() { "0".into() } else { order.txn_id.clone() },
        };
        SignedResult::signed(fields, &self.access_key, secret)
    }
}

impl GatewaySim for MomoSim {
    fn notification(&self, order: &SimOrder, amount: i64, forge: bool) -> Option<Outbound> {
        let key = if forge { format!("forged-{}", self.secret_key) } else { self.secret_key.clone() };
        Some(Outbound {
            method: reqwest::Method::POST,
            url: order.extra("ipnUrl").to_owned(),
            content_type: Some("application/json"),
            headers: Vec::new(),
            body: self.result(order, amount, key.as_bytes()).to_json(),
        })
    }

    fn return_url(&self, order: &SimOrder) -> Option<String> {
        let base = order.extra("redirectUrl");
        if base.is_empty() {
            return None;
        }
        let sep = if base.contains('?') { '&' } else { '?' };
        let query = self.result(order, order.amount, self.secret_key.as_bytes()).to_query();
        Some(format!("{base}{sep}{query}"))
    }

    fn settlement_success_status(&self) -> &'static str {
        crate::SETTLEMENT_SUCCESS
    }
}

type S = Arc<Sim<MomoSim>>;

/// The simulator's routes, nested by feegate at `/sim/<connector id>`. It reads the same
/// settings and secrets as the connector (`base_url` is its own public address, used in
/// `payUrl`). MoMo takes the IPN URL per request (`ipnUrl`), so `_callback_url` is unused.
pub fn router(cfg: &ConnectorConfig, _callback_url: &str) -> Router {
    let plain = |k: &str| cfg.setting_or(k, "").to_owned();
    let secret = |k: &str| cfg.secret(k).map(|s| s.expose_secret().to_owned()).unwrap_or_default();
    let gateway = match Settings::from_config(cfg) {
        Ok(s) => MomoSim {
            partner_code: s.partner_code,
            access_key: s.access_key.expose_secret().to_owned(),
            secret_key: s.secret_key.expose_secret().to_owned(),
            base_url: s.base_url,
            order_ids: Mutex::new(Vec::new()),
        },
        // An incomplete config still serves (every signature check will then fail).
        Err(_) => MomoSim {
            partner_code: plain("partner_code"),
            access_key: secret("access_key"),
            secret_key: secret("secret_key"),
            base_url: plain("base_url").trim_end_matches('/').to_owned(),
            order_ids: Mutex::new(Vec::new()),
        },
    };
    let sim = Sim::new(gateway);
    Router::new()
        .route("/pay", get(pay_get).post(pay_post))
        .route(crate::wire::CREATE_PATH, post(api::create))
        .route(crate::wire::QUERY_PATH, post(api::query))
        .route(crate::wire::REFUND_PATH, post(api::refund))
        .with_state(Arc::clone(&sim))
        .merge(control_router(sim))
}

fn order_from_query(sim: &S, query: Option<String>) -> Result<SimOrder, Response> {
    let q = query.unwrap_or_default();
    let order_id = url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "orderId")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    sim.order(&order_id)
        .ok_or_else(|| (StatusCode::NOT_FOUND, "Không tìm thấy đơn hàng / order not found").into_response())
}

fn status_text(s: SimStatus) -> &'static str {
    match s {
        SimStatus::Pending => "pending",
        SimStatus::Succeeded => "paid",
        SimStatus::Failed => "failed",
    }
}

async fn pay_get(State(sim): State<S>, RawQuery(q): RawQuery) -> Response {
    match order_from_query(&sim, q) {
        Ok(o) if o.status == SimStatus::Pending => {
            let action: String = url::form_urlencoded::Serializer::new(String::from("pay?"))
                .append_pair("orderId", &o.order_ref)
                .finish();
            Html(pay_page("MoMo", o.amount, o.extra("orderInfo"), &action, &[])).into_response()
        }
        Ok(o) => Html(format!("<p>Order {} is already {}.</p>", o.order_ref, status_text(o.status))).into_response(),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
struct OutcomeForm {
    outcome: String,
}

async fn pay_post(State(sim): State<S>, RawQuery(q): RawQuery, Form(f): Form<OutcomeForm>) -> Response {
    let order = match order_from_query(&sim, q) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if f.outcome != "success" && f.outcome != "failure" {
        return (StatusCode::BAD_REQUEST, "outcome must be success or failure").into_response();
    }
    match sim.finish(&order.order_ref, f.outcome == "success").await {
        Ok(paid) => match paid.return_url {
            Some(url) => Redirect::to(&url).into_response(),
            None => Html("<p>Payment finished; no redirectUrl was given.</p>").into_response(),
        },
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}
