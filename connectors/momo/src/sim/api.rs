//! The simulator's `create`, `query` and `refund` endpoints: signatures checked, faults honoured.

use super::{MomoSim, S};
use crate::sign;
use crate::wire::{CreateCall, CreateReply, QueryCall, QueryReply, RefundCall, RefundReply, RefundTrans};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use feegate_connector::crypto;
use feegate_testkit::simkit::{SimOrder, SimStatus};
use std::collections::HashMap;
use time::OffsetDateTime;

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// MoMo's error envelope; signature errors echo the expected raw string with the access
/// key masked, as MoMo does (GATEWAYS.md §2.2).
fn error(status: StatusCode, code: i64, message: &str, raw: Option<String>) -> Response {
    let mut body = serde_json::json!({ "resultCode": code, "message": message, "responseTime": now_ms() });
    if let Some(raw) = raw {
        body["subErrors"] = serde_json::json!([{
            "field": "signature",
            "message": format!("Sai chữ ký. Vui lòng kiểm tra dữ liệu gốc trước khi mã hóa : {raw}"),
        }]);
    }
    (status, Json(body)).into_response()
}

fn bad_format() -> Response {
    error(StatusCode::BAD_REQUEST, 20, "Bad format request.", None)
}

/// Checks partnerCode and the signature over `raw`; the error response otherwise.
fn authenticate(gw: &MomoSim, partner_code: &str, raw: &str, signature: &str) -> Result<(), Response> {
    if partner_code != gw.partner_code {
        return Err(error(StatusCode::BAD_REQUEST, 13, "Merchant authentication failed.", None));
    }
    match crypto::verify_hmac_sha256(gw.secret_key.as_bytes(), raw.as_bytes(), signature) {
        Ok(_) => Ok(()),
        Err(_) => {
            let masked = raw.replacen(&gw.access_key, "********", 1);
            Err(error(StatusCode::BAD_REQUEST, 20, "Bad format request.", Some(masked)))
        }
    }
}

/// MoMo's orderId pattern `^[0-9a-zA-Z]([-_.]*[0-9a-zA-Z]+)*$`.
fn valid_order_id(id: &str) -> bool {
    let b = id.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && b.len() <= 200
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || b"-_.".contains(c))
}

/// `POST /v2/gateway/api/create`.
pub async fn create(State(sim): State<S>, body: Bytes) -> Response {
    let Ok(call) = serde_json::from_slice::<CreateCall>(&body) else {
        return bad_format();
    };
    let gw = &sim.gateway;
    let raw = sign::create_raw(
        &gw.access_key,
        &sign::CreateSigned {
            amount: call.amount,
            extra_data: &call.extra_data,
            ipn_url: &call.ipn_url,
            order_id: &call.order_id,
            order_info: &call.order_info,
            partner_code: &call.partner_code,
            redirect_url: &call.redirect_url,
            request_id: &call.request_id,
            request_type: &call.request_type,
        },
    );
    if let Err(r) = authenticate(gw, &call.partner_code, &raw, &call.signature) {
        return r;
    }
    let known_type = matches!(call.request_type.as_str(), "captureWallet" | "payWithMethod");
    if !known_type || !valid_order_id(&call.order_id) || call.ipn_url.is_empty() || call.request_id.is_empty() {
        return bad_format();
    }
    if !(1_000..=50_000_000).contains(&call.amount) {
        return error(StatusCode::OK, 22, "The transaction amount is out of range.", None);
    }
    if sim.order(&call.order_id).is_some() {
        return error(StatusCode::OK, 41, "Duplicated orderId.", None);
    }
    let mut order = SimOrder::new(&call.order_id, &call.order_id, call.amount);
    order.extra = HashMap::from([
        ("requestId".into(), call.request_id.clone()),
        ("redirectUrl".into(), call.redirect_url),
        ("ipnUrl".into(), call.ipn_url),
        ("orderInfo".into(), call.order_info),
        ("extraData".into(), call.extra_data),
        ("lang".into(), call.lang.clone()),
    ]);
    sim.upsert_order(order);
    gw.remember(&call.order_id);
    let enc: String = url::form_urlencoded::byte_serialize(call.order_id.as_bytes()).collect();
    Json(CreateReply {
        partner_code: call.partner_code,
        order_id: call.order_id,
        request_id: call.request_id,
        amount: call.amount,
        response_time: now_ms(),
        message: if call.lang == "en" { "Successful." } else { "Thành công." }.into(),
        result_code: 0,
        pay_url: format!("{}/pay?orderId={enc}", gw.base_url),
        deeplink: format!("momo://app?action=payWithApp&isScanQR=false&orderId={enc}"),
        qr_code_url: format!("{}/app?isScanQr=true&t={enc}", gw.base_url),
    })
    .into_response()
}

fn trans_id_number(t: &str) -> i64 {
    t.parse().unwrap_or(0)
}

/// `POST /v2/gateway/api/query`.
pub async fn query(State(sim): State<S>, body: Bytes) -> Response {
    let f = sim.faults();
    if f.query_timeout {
        sim.stall().await;
    }
    if f.query_5xx {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let Ok(call) = serde_json::from_slice::<QueryCall>(&body) else {
        return bad_format();
    };
    let gw = &sim.gateway;
    let raw = sign::query_raw(&gw.access_key, &call.order_id, &call.partner_code, &call.request_id);
    if let Err(r) = authenticate(gw, &call.partner_code, &raw, &call.signature) {
        return r;
    }
    let Some(o) = sim.order(&call.order_id) else {
        return error(StatusCode::OK, 42, "Invalid orderId or orderId is not found.", None);
    };
    let (code, message) = match o.status {
        SimStatus::Succeeded => (0, "Thành công."),
        SimStatus::Failed => (1006, "Giao dịch bị từ chối bởi người dùng."),
        SimStatus::Pending => (1000, "Giao dịch đã được khởi tạo, chờ người dùng xác nhận thanh toán."),
    };
    let refund_trans = o
        .refunds
        .iter()
        .map(|r| RefundTrans {
            order_id: r.refund_ref.clone(),
            amount: r.amount,
            result_code: 0,
            trans_id: trans_id_number(&r.gateway_refund_id),
            created_time: ms(r.at),
        })
        .collect();
    Json(QueryReply {
        partner_code: call.partner_code,
        request_id: call.request_id,
        order_id: call.order_id,
        extra_data: o.extra("extraData").to_owned(),
        amount: Some(o.amount),
        trans_id: Some(trans_id_number(&o.txn_id)),
        pay_type: if o.status == SimStatus::Pending { "" } else { "qr" }.into(),
        result_code: code,
        refund_trans,
        message: message.into(),
        response_time: now_ms(),
    })
    .into_response()
}

/// `POST /v2/gateway/api/refund`.
pub async fn refund(State(sim): State<S>, body: Bytes) -> Response {
    let f = sim.faults();
    if f.refund_timeout {
        sim.stall().await;
    }
    if f.refund_5xx {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let Ok(call) = serde_json::from_slice::<RefundCall>(&body) else {
        return bad_format();
    };
    let gw = &sim.gateway;
    let raw = sign::refund_raw(
        &gw.access_key,
        &sign::RefundSigned {
            amount: call.amount,
            description: &call.description,
            order_id: &call.order_id,
            partner_code: &call.partner_code,
            request_id: &call.request_id,
            trans_id: call.trans_id,
        },
    );
    if let Err(r) = authenticate(gw, &call.partner_code, &raw, &call.signature) {
        return r;
    }
    if !valid_order_id(&call.order_id) || call.request_id.is_empty() {
        return bad_format();
    }
    // The refund's orderId must be new: not a purchase's.
    if sim.order(&call.order_id).is_some() {
        return error(StatusCode::OK, 41, "Duplicated orderId.", None);
    }
    if !(1_000..=50_000_000).contains(&call.amount) {
        return error(StatusCode::OK, 22, "The transaction amount is out of range.", None);
    }
    let want = call.trans_id.to_string();
    let purchase = gw.order_ids().into_iter().filter_map(|id| sim.order(&id)).find(|o| o.txn_id == want);
    let Some(purchase) = purchase else {
        return error(StatusCode::OK, 1088, "Refund rejected. The original payment transaction is ineligible.", None);
    };
    match sim.refund(&purchase.order_ref, &call.order_id, call.amount) {
        Ok(r) => Json(RefundReply {
            partner_code: call.partner_code,
            order_id: call.order_id,
            request_id: call.request_id,
            amount: r.amount,
            trans_id: trans_id_number(&r.gateway_refund_id),
            result_code: 0,
            message: "Thành công.".into(),
            response_time: now_ms(),
        })
        .into_response(),
        Err("amount exceeds refundable") => error(
            StatusCode::OK,
            1081,
            "Refund rejected. The original transaction might have been refunded or the amount exceeds the refundable amount.",
            None,
        ),
        Err(_) => error(StatusCode::OK, 1088, "Refund rejected. The original payment transaction is ineligible.", None),
    }
}
