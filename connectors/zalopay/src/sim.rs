//! Simulator of ZaloPay OpenAPI v2 (feature `sim`): `/v2/create|query|refund|query_refund`,
//! the pay page at `order_url`, the key2-signed callback (successes only, as ZaloPay), the
//! checksummed browser redirect, the settlement file and the fault modes.

mod api;

use crate::sign::{millis, redirect_message, RedirectInput};
use crate::wire::{CallbackBody, CallbackData};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use feegate_connector::crypto::hmac_sha256_hex;
use feegate_connector::ConnectorConfig;
use feegate_testkit::simkit::{control_router, pay_page, GatewaySim, Outbound, Sim, SimOrder, SimStatus};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The wire half of the ZaloPay simulator.
pub struct ZaloPaySim {
    /// Where this simulator is mounted (the connector's `base_url`), for `order_url`.
    base_url: String,
    app_id: u64,
    key1: String,
    key2: String,
    /// Where callbacks go when an order names no `callback_url` (the URL registered with ZaloPay).
    callback_url: String,
    /// Every `app_trans_id` created, to find orders by `zp_trans_id` for refunds.
    order_ids: Mutex<Vec<String>>,
}

impl ZaloPaySim {
    fn app_id(&self) -> String {
        self.app_id.to_string()
    }
    fn remember(&self, app_trans_id: &str) {
        self.order_ids.lock().unwrap_or_else(|p| p.into_inner()).push(app_trans_id.to_owned());
    }
    fn order_ids(&self) -> Vec<String> {
        self.order_ids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A numeric id as ZaloPay sends it: a JSON number when it is one.
fn number(id: &str) -> Value {
    id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::String(id.to_owned()))
}

fn redirect_status(s: SimStatus) -> &'static str {
    match s {
        SimStatus::Succeeded => "1",
        SimStatus::Failed => "2",
        SimStatus::Pending => "3",
    }
}

impl GatewaySim for ZaloPaySim {
    fn notification(&self, order: &SimOrder, amount: i64, forge: bool) -> Option<Outbound> {
        // ZaloPay calls back only when it has collected the money.
        match order.status {
            SimStatus::Succeeded => {}
            SimStatus::Failed | SimStatus::Pending => return None,
        }
        let data = CallbackData {
            app_id: Value::from(self.app_id),
            app_trans_id: order.order_ref.clone(),
            app_time: order.extra("app_time").parse().ok(),
            app_user: Some(order.extra("app_user").to_owned()),
            amount,
            embed_data: Some(order.extra("embed_data").to_owned()),
            item: Some(order.extra("item").to_owned()),
            zp_trans_id: number(&order.txn_id),
            server_time: order.paid_at.map(millis),
            channel: Some(38),
            merchant_user_id: Some("sim-merchant-user".into()),
            user_fee_amount: Some(0),
            discount_amount: Some(0),
        };
        let data = serde_json::to_string(&data).ok()?;
        let key = if forge { format!("forged-{}", self.key2) } else { self.key2.clone() };
        let mac = hmac_sha256_hex(key.as_bytes(), data.as_bytes());
        let body = serde_json::to_vec(&CallbackBody { data, mac, kind: Some(1) }).ok()?;
        let url = match order.extra("callback_url") {
            "" => self.callback_url.clone(),
            url => url.to_owned(),
        };
        Some(Outbound {
            method: reqwest::Method::POST,
            url,
            content_type: Some("application/json"),
            headers: Vec::new(),
            body,
        })
    }

    fn return_url(&self, order: &SimOrder) -> Option<String> {
        let base = order.extra("redirecturl");
        if base.is_empty() {
            return None;
        }
        let appid = self.app_id();
        let amount = order.amount.to_string();
        let input = RedirectInput {
            appid: &appid,
            apptransid: &order.order_ref,
            pmcid: "38",
            bankcode: "zalopayapp",
            amount: &amount,
            discountamount: "0",
            status: redirect_status(order.status),
        };
        let checksum = hmac_sha256_hex(self.key2.as_bytes(), redirect_message(&input).as_bytes());
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("appid", input.appid)
            .append_pair("apptransid", input.apptransid)
            .append_pair("pmcid", input.pmcid)
            .append_pair("bankcode", input.bankcode)
            .append_pair("amount", input.amount)
            .append_pair("discountamount", input.discountamount)
            .append_pair("status", input.status)
            .append_pair("checksum", &checksum)
            .finish();
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(format!("{base}{sep}{query}"))
    }

    fn settlement_success_status(&self) -> &'static str {
        crate::SETTLEMENT_SUCCESS
    }
}

type S = Arc<Sim<ZaloPaySim>>;

/// The simulator's routes, nested at `/sim/<connector id>`. It reads the connector's own
/// settings and secrets (`base_url`, `app_id`, `key1`, `key2`) so signatures agree.
/// `callback_url` is used for orders created without one, as ZaloPay uses the URL
/// registered for the app.
pub fn router(cfg: &ConnectorConfig, callback_url: &str) -> Router {
    let secret = |k: &str| cfg.secret(k).map(|s| s.expose_secret().to_owned()).unwrap_or_default();
    let sim = Sim::new(ZaloPaySim {
        base_url: cfg.setting_or("base_url", "").trim_end_matches('/').to_owned(),
        // An unusable app id leaves 0, which every request's app_id check then refuses.
        app_id: cfg.setting_or("app_id", "").parse().unwrap_or(0),
        key1: secret("key1"),
        key2: secret("key2"),
        callback_url: callback_url.to_owned(),
        order_ids: Mutex::new(Vec::new()),
    });
    Router::new()
        .route("/v2/create", post(api::create))
        .route("/v2/query", post(api::query))
        .route("/v2/refund", post(api::refund))
        .route("/v2/query_refund", post(api::query_refund))
        .route("/pay", get(pay_get).post(pay_post))
        .with_state(Arc::clone(&sim))
        .merge(control_router(sim))
}

#[derive(serde::Deserialize)]
struct PayQuery {
    order: String,
}

fn pay_action(app_trans_id: &str) -> String {
    let enc: String = url::form_urlencoded::byte_serialize(app_trans_id.as_bytes()).collect();
    format!("pay?order={enc}")
}

async fn pay_get(State(sim): State<S>, Query(q): Query<PayQuery>) -> Response {
    match sim.order(&q.order) {
        Some(o) if o.status == SimStatus::Pending => {
            Html(pay_page("ZaloPay", o.amount, o.extra("description"), &pay_action(&o.order_ref), &[])).into_response()
        }
        Some(o) => Html(format!("<p>Order {} is already finished.</p>", html_escape(&o.order_ref))).into_response(),
        None => (StatusCode::NOT_FOUND, "order not found").into_response(),
    }
}

#[derive(serde::Deserialize)]
struct OutcomeForm {
    outcome: String,
}

async fn pay_post(State(sim): State<S>, Query(q): Query<PayQuery>, Form(f): Form<OutcomeForm>) -> Response {
    let success = match f.outcome.as_str() {
        "success" => true,
        "failure" => false,
        _ => return (StatusCode::BAD_REQUEST, "outcome must be success or failure").into_response(),
    };
    match sim.finish(&q.order, success).await {
        Ok(paid) => match paid.return_url {
            Some(url) => Redirect::to(&url).into_response(),
            None => Html("<p>Payment finished. You may close this page.</p>").into_response(),
        },
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
