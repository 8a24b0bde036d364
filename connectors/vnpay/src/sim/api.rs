//! The simulated merchant API, `POST /merchant_webapi/api/transaction`: querydr and
//! refund, request checksums verified and responses signed (§1.6, §1.7), with the
//! query/refund fault modes.

use super::S;
use crate::sign::{self, QUERYDR_REQUEST, QUERYDR_RESPONSE, REFUND_REQUEST, REFUND_RESPONSE};
use crate::wire::{self, VERSION};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use feegate_testkit::simkit::{SimOrder, SimStatus};
use std::collections::BTreeMap;
use time::OffsetDateTime;

type Fields = BTreeMap<String, String>;

fn field<'a>(m: &'a Fields, k: &str) -> &'a str {
    m.get(k).map(String::as_str).unwrap_or("")
}

/// Dispatches on `vnp_Command`.
pub async fn transaction(State(sim): State<S>, body: Bytes) -> Response {
    let Some(req) = sign::json_fields(&body) else {
        return (StatusCode::BAD_REQUEST, "body must be a flat JSON object").into_response();
    };
    match field(&req, "vnp_Command") {
        "querydr" => {
            let f = sim.faults();
            if f.query_timeout {
                sim.stall().await;
            }
            if f.query_5xx {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            querydr(&sim, &req)
        }
        "refund" => {
            let f = sim.faults();
            if f.refund_timeout {
                sim.stall().await;
            }
            if f.refund_5xx {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            refund(&sim, &req)
        }
        _ => answer(&sim, &req, &QUERYDR_RESPONSE, "03", "Invalid vnp_Command", Fields::new()),
    }
}

/// A signed JSON answer with the common head fields.
fn answer(sim: &S, req: &Fields, order: &[&str], code: &str, message: &str, mut body: Fields) -> Response {
    for (k, v) in [
        ("vnp_ResponseId", crate::api::request_id()),
        ("vnp_Command", field(req, "vnp_Command").to_owned()),
        ("vnp_ResponseCode", code.to_owned()),
        ("vnp_Message", message.to_owned()),
        ("vnp_TmnCode", sim.gateway.tmn_code.clone()),
        ("vnp_TxnRef", field(req, "vnp_TxnRef").to_owned()),
    ] {
        body.insert(k.to_owned(), v);
    }
    let hash = sign::message_checksum(sim.gateway.key(), &body, order);
    body.insert("vnp_SecureHash".into(), hash);
    (StatusCode::OK, Json(body)).into_response()
}

/// The request-level checks both commands share; `Err((code, message))` on failure.
fn check(sim: &S, req: &Fields, order: &[&str], dates: &[&str]) -> Result<(), (&'static str, &'static str)> {
    if !sign::verify_message(sim.gateway.key(), req, order) {
        return Err(("97", "Invalid Checksum"));
    }
    if field(req, "vnp_TmnCode") != sim.gateway.tmn_code {
        return Err(("02", "Invalid TmnCode"));
    }
    if field(req, "vnp_Version") != VERSION || order.iter().any(|k| field(req, k).is_empty()) {
        return Err(("03", "Invalid data format"));
    }
    if dates.iter().any(|k| sign::parse_vn_date(field(req, k)).is_none()) {
        return Err(("03", "Invalid date format"));
    }
    Ok(())
}

fn txn_matches(req: &Fields, o: &SimOrder) -> bool {
    match wire::txn_no(field(req, "vnp_TransactionNo")) {
        Some(t) => t == o.txn_id,
        None => true,
    }
}

fn querydr(sim: &S, req: &Fields) -> Response {
    let reply = |code, message, body| answer(sim, req, &QUERYDR_RESPONSE, code, message, body);
    if let Err((code, message)) = check(sim, req, &QUERYDR_REQUEST, &["vnp_TransactionDate", "vnp_CreateDate"]) {
        return reply(code, message, Fields::new());
    }
    let Some(o) = sim.order(field(req, "vnp_TxnRef")).filter(|o| txn_matches(req, o)) else {
        return reply("91", "Transaction not found", Fields::new());
    };
    let mut body = Fields::new();
    let mut put = |k: &str, v: String| {
        body.insert(k.to_owned(), v);
    };
    put("vnp_OrderInfo", o.extra("order_info").to_owned());
    put("vnp_BankCode", "NCB".into());
    if let Some(r) = o.refunds.last() {
        // After a refund, the simulator shows the latest refund of the order.
        put("vnp_Amount", (r.amount * 100).to_string());
        put("vnp_PayDate", sign::vn_date(r.at));
        put("vnp_TransactionNo", r.gateway_refund_id.clone());
        put("vnp_TransactionType", if r.amount == o.amount { "02" } else { "03" }.into());
        put("vnp_TransactionStatus", "00".into());
    } else {
        let (status, txn) = match o.status {
            SimStatus::Succeeded => ("00", o.txn_id.clone()),
            SimStatus::Failed => ("02", "0".to_owned()),
            SimStatus::Pending => ("01", String::new()),
        };
        put("vnp_Amount", (o.amount * 100).to_string());
        put("vnp_PayDate", o.paid_at.map(sign::vn_date).unwrap_or_default());
        put("vnp_TransactionNo", txn);
        put("vnp_TransactionType", "01".into());
        put("vnp_TransactionStatus", status.into());
    }
    reply("00", "QueryDR Success", body)
}

fn refund(sim: &S, req: &Fields) -> Response {
    let reply = |code, message, body| answer(sim, req, &REFUND_RESPONSE, code, message, body);
    let dates = ["vnp_TransactionDate", "vnp_CreateDate"];
    if let Err((code, message)) = check(sim, req, &REFUND_REQUEST, &dates) {
        return reply(code, message, Fields::new());
    }
    let kind = field(req, "vnp_TransactionType");
    let Ok(amount) = wire::parse_amount(field(req, "vnp_Amount")) else {
        return reply("03", "Invalid amount", Fields::new());
    };
    if !matches!(kind, "02" | "03") {
        return reply("03", "Invalid vnp_TransactionType", Fields::new());
    }
    let Some(o) = sim.order(field(req, "vnp_TxnRef")).filter(|o| txn_matches(req, o)) else {
        return reply("91", "Transaction not found", Fields::new());
    };
    if o.status != SimStatus::Succeeded {
        return reply("95", "Original transaction not successful", Fields::new());
    }
    if kind == "02" && amount != o.amount {
        return reply("03", "A full refund (02) must be the whole amount", Fields::new());
    }
    match sim.refund(&o.order_ref, field(req, "vnp_RequestId"), amount) {
        Ok(r) => {
            let mut body = Fields::new();
            for (k, v) in [
                ("vnp_Amount", (r.amount * 100).to_string()),
                ("vnp_BankCode", "NCB".to_owned()),
                ("vnp_PayDate", sign::vn_date(OffsetDateTime::now_utc())),
                ("vnp_TransactionNo", r.gateway_refund_id),
                ("vnp_TransactionType", kind.to_owned()),
                ("vnp_TransactionStatus", "00".to_owned()),
                ("vnp_OrderInfo", field(req, "vnp_OrderInfo").to_owned()),
            ] {
                body.insert(k.to_owned(), v);
            }
            reply("00", "Refund success", body)
        }
        Err("order not found") => reply("91", "Transaction not found", Fields::new()),
        Err("order not paid") => reply("95", "Original transaction not successful", Fields::new()),
        // VNPay's code for "more than what is left" is not documented; the simulator says 03.
        Err(e) => reply("03", e, Fields::new()),
    }
}
