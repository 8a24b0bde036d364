//! Simulator of VNPay (feature `sim`): the `vpcpay.html` pay page (signature checked),
//! the signed IPN (HTTP GET to the terminal's registered IPN URL), the signed browser
//! return, the merchant API (querydr, refund; see [`api`]) and, through simkit, the
//! day's settlement file and the fault modes.

mod api;

use crate::sign::{self, Received};
use crate::wire::{self, VERSION};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use feegate_connector::ConnectorConfig;
use feegate_testkit::simkit::{control_router, pay_page, GatewaySim, Outbound, Sim, SimOrder, SimStatus};
use secrecy::ExposeSecret;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use time::OffsetDateTime;

/// The wire half of the VNPay simulator.
pub struct VnpaySim {
    tmn_code: String,
    secret: String,
    /// The IPN URL "registered with VNPay" for this terminal.
    ipn_url: String,
}

impl VnpaySim {
    fn key(&self) -> &[u8] {
        self.secret.as_bytes()
    }

    /// The result fields VNPay puts on the return URL and in the IPN (§1.4).
    fn result_fields(&self, order: &SimOrder, amount: i64) -> BTreeMap<String, String> {
        let ok = order.status == SimStatus::Succeeded;
        let fail_code = Some(order.extra("fail_code")).filter(|c| !c.is_empty()).unwrap_or("24");
        let (code, status, txn) = match order.status {
            SimStatus::Succeeded => ("00", "00", order.txn_id.as_str()),
            SimStatus::Failed => (fail_code, "02", "0"),
            SimStatus::Pending => ("99", "01", "0"),
        };
        let mut f = BTreeMap::new();
        let bank = Some(order.extra("bank_code")).filter(|c| !c.is_empty()).unwrap_or("NCB");
        for (k, v) in [
            ("vnp_Amount", amount.saturating_mul(100).to_string()),
            ("vnp_BankCode", bank.to_owned()),
            ("vnp_BankTranNo", if ok { format!("VNP{}", order.txn_id) } else { String::new() }),
            ("vnp_CardType", "ATM".to_owned()),
            ("vnp_OrderInfo", order.extra("order_info").to_owned()),
            ("vnp_PayDate", order.paid_at.map(sign::vn_date).unwrap_or_default()),
            ("vnp_ResponseCode", code.to_owned()),
            ("vnp_TmnCode", self.tmn_code.clone()),
            ("vnp_TransactionNo", txn.to_owned()),
            ("vnp_TransactionStatus", status.to_owned()),
            ("vnp_TxnRef", order.order_ref.clone()),
        ] {
            f.insert(k.to_owned(), v);
        }
        f
    }
}

fn with_query(base: &str, query: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{query}")
}

impl GatewaySim for VnpaySim {
    fn notification(&self, order: &SimOrder, amount: i64, forge: bool) -> Option<Outbound> {
        let fields = self.result_fields(order, amount);
        let forged = format!("forged-{}", self.secret);
        let key = if forge { forged.as_bytes() } else { self.key() };
        Some(Outbound {
            method: reqwest::Method::GET,
            url: with_query(&self.ipn_url, &sign::signed_query(key, &fields)),
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        })
    }
    fn return_url(&self, order: &SimOrder) -> Option<String> {
        let fields = self.result_fields(order, order.amount);
        Some(with_query(order.extra("return_url"), &sign::signed_query(self.key(), &fields)))
    }
    fn settlement_success_status(&self) -> &'static str {
        "00"
    }
}

type S = Arc<Sim<VnpaySim>>;

/// The simulator's routes, nested by feegate at `/sim/<connector id>`. It reads the same
/// `tmn_code` and `hash_secret` as the connector; `callback_url` plays the IPN URL the
/// province registers with VNPay for the terminal (VNPay takes none per request).
pub fn router(cfg: &ConnectorConfig, callback_url: &str) -> Router {
    let secret = cfg.secret("hash_secret").map(|s| s.expose_secret().trim().to_owned()).unwrap_or_default();
    let tmn_code = cfg.setting_or("tmn_code", "").trim().to_owned();
    let sim = Sim::new(VnpaySim { tmn_code, secret, ipn_url: callback_url.to_owned() });
    Router::new()
        .route("/paymentv2/vpcpay.html", get(pay_get).post(pay_post))
        .route("/merchant_webapi/api/transaction", post(api::transaction))
        .with_state(Arc::clone(&sim))
        .merge(control_router(sim))
}

fn error_page(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"vi\"><body><h1>VNPay — simulator</h1><p>Lỗi {code}: {message}</p></body></html>"
    );
    (status, Html(body)).into_response()
}

/// Verifies a pay URL's query (§1.2/§1.3) and records its order.
fn order_from_query(sim: &S, query: &str) -> Result<SimOrder, Response> {
    let invalid = |m: &str| error_page(StatusCode::BAD_REQUEST, "03", m);
    let pairs = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let r = Received::from_pairs(pairs).map_err(|e| invalid(&e.to_string()))?;
    if r.verify(sim.gateway.key()).is_err() {
        return Err(error_page(StatusCode::BAD_REQUEST, "70", "Sai chữ ký (invalid vnp_SecureHash)"));
    }
    if r.get("vnp_Version") != VERSION || r.get("vnp_Command") != "pay" || r.get("vnp_CurrCode") != "VND" {
        return Err(invalid("vnp_Version 2.1.0, vnp_Command pay and vnp_CurrCode VND are required"));
    }
    if r.get("vnp_TmnCode") != sim.gateway.tmn_code {
        return Err(error_page(StatusCode::BAD_REQUEST, "02", "Website chưa được phê duyệt (unknown vnp_TmnCode)"));
    }
    let amount = wire::parse_amount(r.get("vnp_Amount")).map_err(|e| invalid(&e))?;
    let created = sign::parse_vn_date(r.get("vnp_CreateDate")).ok_or_else(|| invalid("bad vnp_CreateDate"))?;
    let expires = sign::parse_vn_date(r.get("vnp_ExpireDate")).ok_or_else(|| invalid("bad vnp_ExpireDate"))?;
    for k in ["vnp_TxnRef", "vnp_OrderInfo", "vnp_OrderType", "vnp_ReturnUrl", "vnp_IpAddr"] {
        if r.get(k).is_empty() {
            return Err(invalid(&format!("{k} is required")));
        }
    }
    if !matches!(r.get("vnp_Locale"), "vn" | "en") {
        return Err(invalid("vnp_Locale must be vn or en"));
    }
    let txn_ref = r.get("vnp_TxnRef");
    let mut order = SimOrder::new(txn_ref, txn_ref, amount);
    order.created_at = created;
    order.extra = HashMap::from([
        ("return_url".to_owned(), r.get("vnp_ReturnUrl").to_owned()),
        ("order_info".to_owned(), r.get("vnp_OrderInfo").to_owned()),
        ("bank_code".to_owned(), r.get("vnp_BankCode").to_owned()),
        ("expires".to_owned(), expires.unix_timestamp().to_string()),
    ]);
    let stored = sim.upsert_order(order);
    if stored.amount != amount {
        return Err(invalid("vnp_TxnRef already used with another amount"));
    }
    Ok(stored)
}

fn expired(o: &SimOrder) -> bool {
    o.extra("expires").parse::<i64>().map(|e| OffsetDateTime::now_utc().unix_timestamp() > e).unwrap_or(false)
}

async fn pay_get(State(sim): State<S>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    match order_from_query(&sim, &q) {
        Ok(o) if o.status == SimStatus::Pending && expired(&o) => {
            error_page(StatusCode::OK, "11", "Giao dịch đã quá thời gian chờ thanh toán")
        }
        Ok(o) if o.status == SimStatus::Pending => {
            Html(pay_page("VNPay", o.amount, o.extra("order_info"), &format!("vpcpay.html?{q}"), &[])).into_response()
        }
        Ok(_) => error_page(StatusCode::OK, "02", "Giao dịch đã được xử lý (order already finished)"),
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
    let success = match f.outcome.as_str() {
        "success" => !expired(&order),
        "failure" => false,
        _ => return (StatusCode::BAD_REQUEST, "outcome must be success or failure").into_response(),
    };
    if expired(&order) {
        sim.update_order(&order.order_ref, |o| o.extra.insert("fail_code".into(), "11".into()));
    }
    match sim.finish(&order.order_ref, success).await {
        Ok(paid) => Redirect::to(&paid.return_url.unwrap_or_default()).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}
