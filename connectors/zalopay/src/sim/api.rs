//! The simulator's server API: `/v2/create`, `/v2/query`, `/v2/refund`, `/v2/query_refund`.
//! Each checks `app_id` and the key1 mac as ZaloPay does and answers ZaloPay's JSON.

use super::{number, S};
use crate::sign::{self, millis, OrderMacInput};
use crate::wire::Answer;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use feegate_connector::crypto;
use feegate_testkit::simkit::{SimOrder, SimStatus};
use serde_json::Value;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The request's fields as text, whichever way they came: query string, then a JSON or
/// form body (ZaloPay accepts all three). JSON numbers keep their text.
fn fields(query: Option<String>, headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let mut out: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if is_json {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                out.insert(k, text);
            }
        }
    } else {
        out.extend(url::form_urlencoded::parse(body).into_owned());
    }
    out
}

struct Req(HashMap<String, String>);

impl Req {
    fn get(&self, k: &str) -> &str {
        self.0.get(k).map(String::as_str).unwrap_or("")
    }
    fn int(&self, k: &str) -> Option<i64> {
        self.get(k).parse().ok()
    }
}

fn ok(a: Answer) -> Response {
    Json(a).into_response()
}

fn answer(return_code: i64, sub: i64, message: &str) -> Answer {
    Answer {
        return_code,
        return_message: message.into(),
        sub_return_code: Some(sub),
        sub_return_message: message.into(),
        ..Default::default()
    }
}

fn fail(sub: i64, message: &str) -> Response {
    ok(answer(2, sub, message))
}

/// `Err` with ZaloPay's answer when `app_id` is not ours or the mac does not verify.
fn authenticate(sim: &S, r: &Req, expected_mac: &str) -> Result<(), Response> {
    if r.get("app_id") != sim.gateway.app_id() || sim.gateway.app_id == 0 {
        return Err(fail(-402, "ILLEGAL_APP_REQUEST"));
    }
    if !crypto::ct_eq(expected_mac.as_bytes(), r.get("mac").to_ascii_lowercase().as_bytes()) {
        return Err(fail(-402, "ILLEGAL_SIGNATURE_REQUEST: mac not equal"));
    }
    Ok(())
}

pub(super) async fn create(State(sim): State<S>, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let r = Req(fields(q, &headers, &body));
    let mac = sign::order_mac(
        sim.gateway.key1.as_bytes(),
        &OrderMacInput {
            app_id: r.get("app_id"),
            app_trans_id: r.get("app_trans_id"),
            app_user: r.get("app_user"),
            amount: r.get("amount"),
            app_time: r.get("app_time"),
            embed_data: r.get("embed_data"),
            item: r.get("item"),
        },
    );
    if let Err(resp) = authenticate(&sim, &r, &mac) {
        return resp;
    }
    let now = OffsetDateTime::now_utc();
    let (Some(amount), Some(app_time)) = (r.int("amount").filter(|a| *a > 0), r.int("app_time")) else {
        return fail(-401, "ILLEGAL_DATA_REQUEST: amount and app_time must be integers");
    };
    if (millis(now) - app_time).abs() > 15 * 60 * 1000 {
        return fail(-54, "TIME_INVALID: app_time is more than 15 minutes off");
    }
    let app_trans_id = r.get("app_trans_id");
    let today = sign::yymmdd(now);
    let of_app_time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(app_time) * 1_000_000).map(sign::yymmdd);
    let dated = app_trans_id.starts_with(&today) || of_app_time.is_ok_and(|d| app_trans_id.starts_with(&d));
    let Some(reference) = sign::strip_date_prefix(app_trans_id).filter(|_| dated && app_trans_id.len() <= 40) else {
        return fail(-401, "ILLEGAL_DATA_REQUEST: app_trans_id must be yymmdd_ (GMT+7 today) + id, at most 40");
    };
    let embed: Option<serde_json::Map<String, Value>> = serde_json::from_str(r.get("embed_data")).ok();
    let item_ok = serde_json::from_str::<Vec<Value>>(r.get("item")).is_ok();
    let expiry_ok = r.get("expire_duration_seconds").is_empty()
        || r.int("expire_duration_seconds").is_some_and(|s| (300..=2_592_000).contains(&s));
    let (Some(embed), true, true) = (embed, item_ok, expiry_ok) else {
        return fail(-401, "ILLEGAL_DATA_REQUEST: embed_data, item or expire_duration_seconds");
    };
    if r.get("description").is_empty() || r.get("app_user").is_empty() {
        return fail(-401, "ILLEGAL_DATA_REQUEST: description and app_user are required");
    }
    if sim.order(app_trans_id).is_some() {
        return fail(-68, "DUPLICATE_APPS_TRANS_ID");
    }
    let mut order = SimOrder::new(app_trans_id, reference, amount);
    for k in ["app_time", "app_user", "embed_data", "item", "description", "callback_url"] {
        order.extra.insert(k.into(), r.get(k).to_owned());
    }
    let redirect = embed.get("redirecturl").and_then(Value::as_str).unwrap_or("").to_owned();
    order.extra.insert("redirecturl".into(), redirect);
    sim.upsert_order(order);
    sim.gateway.remember(app_trans_id);
    let token = format!("ACSIM{}", sim.next_txn_id());
    ok(Answer {
        zp_trans_token: Some(token.clone()),
        order_url: Some(format!("{}/{}", sim.gateway.base_url, super::pay_action(app_trans_id))),
        order_token: Some(token),
        // Not a payable EMVCo string: the simulator's payers use the pay page.
        qr_code: Some(format!("ZALOPAY-SIM|{}|{amount}", app_trans_id)),
        ..answer(1, 1, "Giao dich thanh cong")
    })
}

/// Honours the query/refund fault switches: `Some` is the answer to give instead.
async fn faulted(sim: &S, timeout: bool, five_xx: bool) -> Option<Response> {
    if timeout {
        sim.stall().await;
    }
    five_xx.then(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub(super) async fn query(State(sim): State<S>, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let f = sim.faults();
    if let Some(resp) = faulted(&sim, f.query_timeout, f.query_5xx).await {
        return resp;
    }
    let r = Req(fields(q, &headers, &body));
    let mac = sign::query_mac(&sim.gateway.key1, r.get("app_id"), r.get("app_trans_id"));
    if let Err(resp) = authenticate(&sim, &r, &mac) {
        return resp;
    }
    let Some(order) = sim.order(r.get("app_trans_id")) else {
        return fail(-101, "ORDER_NOT_EXIST");
    };
    match order.status {
        SimStatus::Pending => {
            ok(Answer { is_processing: Some(false), ..answer(3, 1, "Giao dich chua duoc thanh toan") })
        }
        SimStatus::Failed => fail(-329, "Nguoi dung huy giao dich"),
        SimStatus::Succeeded => ok(Answer {
            is_processing: Some(false),
            amount: Some(order.amount),
            zp_trans_id: Some(number(&order.txn_id)),
            server_time: order.paid_at.map(millis),
            discount_amount: Some(0),
            ..answer(1, 1, "Giao dich thanh cong")
        }),
    }
}

pub(super) async fn refund(State(sim): State<S>, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let f = sim.faults();
    if let Some(resp) = faulted(&sim, f.refund_timeout, f.refund_5xx).await {
        return resp;
    }
    let r = Req(fields(q, &headers, &body));
    let fee = Some(r.get("refund_fee_amount")).filter(|s| !s.is_empty());
    let mac = sign::refund_mac(
        sim.gateway.key1.as_bytes(),
        r.get("app_id"),
        r.get("zp_trans_id"),
        r.get("amount"),
        fee,
        r.get("description"),
        r.get("timestamp"),
    );
    if let Err(resp) = authenticate(&sim, &r, &mac) {
        return resp;
    }
    let m_refund_id = r.get("m_refund_id");
    let (Some(amount), Some(_)) = (r.int("amount"), sign::strip_refund_prefix(m_refund_id, &sim.gateway.app_id()))
    else {
        return fail(-401, "ILLEGAL_DATA_REQUEST: amount, or m_refund_id not yymmdd_appid_xxx");
    };
    if let Some(done) = sim.find_refund(m_refund_id) {
        // The same m_refund_id again: ZaloPay answers for the refund it already has.
        return ok(Answer { refund_id: Some(number(&done.gateway_refund_id)), ..answer(1, 1, "Hoan tien thanh cong") });
    }
    let zp_trans_id = r.get("zp_trans_id");
    let found = sim.gateway.order_ids().into_iter().find(|id| sim.order(id).is_some_and(|o| o.txn_id == zp_trans_id));
    let Some(order_ref) = found else {
        return fail(-1, "zp_trans_id not found (simulator)");
    };
    match sim.refund(&order_ref, m_refund_id, amount) {
        // Refunds are asynchronous: the first answer is PROCESSING.
        Ok(done) => ok(Answer { refund_id: Some(number(&done.gateway_refund_id)), ..answer(3, 1, "Dang xu ly") }),
        Err(why) => fail(-1, &format!("{why} (simulator)")),
    }
}

pub(super) async fn query_refund(
    State(sim): State<S>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = Req(fields(q, &headers, &body));
    let mac =
        sign::query_refund_mac(sim.gateway.key1.as_bytes(), r.get("app_id"), r.get("m_refund_id"), r.get("timestamp"));
    if let Err(resp) = authenticate(&sim, &r, &mac) {
        return resp;
    }
    match sim.find_refund(r.get("m_refund_id")) {
        Some(done) => {
            ok(Answer { refund_id: Some(number(&done.gateway_refund_id)), ..answer(1, 1, "Hoan tien thanh cong") })
        }
        None => fail(crate::codes::REFUND_NOT_KNOWN, "m_refund_id not found (simulator)"),
    }
}
