//! What ZaloPay sends us: the server-to-server callback, the browser redirect, and our replies.

use crate::sign::{redirect_message, strip_date_prefix, RedirectInput};
use crate::wire::{id_text, CallbackBody, CallbackData};
use feegate_connector::{
    crypto, Disposition, InboundRequest, Notification, Outcome, Reply, ReturnInfo, VerifiedNotification, VerifyError,
};
use time::OffsetDateTime;

fn malformed(why: impl Into<String>) -> VerifyError {
    VerifyError::Malformed(why.into())
}

/// Our reference from an `app_trans_id`, or `Malformed`.
fn reference_of(app_trans_id: &str) -> Result<String, VerifyError> {
    strip_date_prefix(app_trans_id)
        .map(str::to_owned)
        .ok_or_else(|| malformed(format!("app_trans_id `{app_trans_id}` has no yymmdd_ prefix")))
}

/// Verifies a callback: key2 mac over the `data` string exactly as received, then parses it.
/// ZaloPay calls back only when it has collected the money, so the outcome is `Succeeded`.
pub fn verify_callback(key2: &[u8], app_id: &str, req: &InboundRequest) -> Result<VerifiedNotification, VerifyError> {
    let body: CallbackBody = serde_json::from_slice(&req.body).map_err(|e| malformed(format!("callback body: {e}")))?;
    let proof = crypto::verify_hmac_sha256(key2, body.data.as_bytes(), &body.mac)?;
    match body.kind {
        None | Some(1) => {}
        Some(other) => return Err(malformed(format!("callback type {other} is not an order payment"))),
    }
    let data: CallbackData = serde_json::from_str(&body.data).map_err(|e| malformed(format!("callback data: {e}")))?;
    match id_text(&data.app_id) {
        Some(id) if id == app_id => {}
        _ => return Err(malformed(format!("callback is for app_id {}, not ours", data.app_id))),
    }
    if data.amount <= 0 {
        return Err(malformed(format!("amount {} is not positive", data.amount)));
    }
    let txn = id_text(&data.zp_trans_id).ok_or_else(|| malformed("zp_trans_id is not an integer"))?;
    let paid_at =
        data.server_time.and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok());
    Ok(VerifiedNotification::new(
        proof,
        Notification {
            reference: reference_of(&data.app_trans_id)?,
            gateway_txn: Some(txn),
            amount: data.amount,
            currency: "VND".into(),
            outcome: Outcome::Succeeded,
            paid_at,
        },
    ))
}

/// The reply ZaloPay expects: always HTTP 200 with `{"return_code", "return_message"}`.
///
/// 1 = processed; 2 = already processed; 0 = ZaloPay retries (at most 3 times); any other
/// value (we use -1) = failed, no retry. An amount mismatch answers 1: we recorded it as a
/// case and a retry cannot fix it. An unknown reference answers -1: we did not process it,
/// and ZaloPay's callback log should show so.
pub fn callback_reply(d: Disposition) -> Reply {
    let (code, message) = match d {
        Disposition::Applied => (1, "success"),
        Disposition::AlreadyFinal => (2, "duplicate"),
        Disposition::AmountMismatch => (1, "received; amount mismatch recorded for review"),
        Disposition::UnknownReference => (-1, "app_trans_id not found"),
        Disposition::BadSignature => (-1, "mac not equal"),
        Disposition::Malformed => (-1, "invalid callback data"),
        Disposition::InternalError => (0, "internal error, retry later"),
    };
    Reply::json(200, &serde_json::json!({ "return_code": code, "return_message": message }))
}

/// Verifies the browser redirect's checksum (key2) and says what it shows. Display only.
///
/// `status` 1 is success; 2 or a negative code is a failure; any other integer is shown as
/// pending ([UNVERIFIED]: ZaloPay documents only 1 = success).
pub fn verify_return(key2: &[u8], app_id: &str, req: &InboundRequest) -> Result<ReturnInfo, VerifyError> {
    let pairs = req.query_pairs();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let need = |k: &'static str| get(k).ok_or_else(|| malformed(format!("redirect has no `{k}`")));
    let input = RedirectInput {
        appid: need("appid")?,
        apptransid: need("apptransid")?,
        pmcid: get("pmcid").unwrap_or(""),
        bankcode: get("bankcode").unwrap_or(""),
        amount: need("amount")?,
        discountamount: get("discountamount").unwrap_or(""),
        status: need("status")?,
    };
    let checksum = get("checksum").ok_or(VerifyError::BadSignature)?;
    crypto::verify_hmac_sha256(key2, redirect_message(&input).as_bytes(), checksum)?;
    if input.appid != app_id {
        return Err(malformed(format!("redirect is for appid {}, not ours", input.appid)));
    }
    let status: i64 = input.status.parse().map_err(|_| malformed(format!("status `{}`", input.status)))?;
    let outcome = match status {
        1 => Outcome::Succeeded,
        s if s == 2 || s < 0 => {
            Outcome::Failed { code: s.to_string(), message: "the payment was not completed at ZaloPay".into() }
        }
        _pending => Outcome::Pending,
    };
    Ok(ReturnInfo { reference: reference_of(input.apptransid)?, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;
    use feegate_connector::crypto::hmac_sha256_hex;

    const KEY2: &[u8] = b"kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz";
    const DOC_DATA: &str = r#"{"app_id":2553,"app_trans_id":"200904_2553_1598435687208","app_time":1599189392817,"app_user":"demo","amount":10000,"embed_data":"{\"merchantinfo\":\"embeddata123\",\"promotioninfo\":\"\"}","item":"[{\"itemid\":\"knb\",\"itemname\":\"kim nguyen bao\",\"itemprice\":198400,\"itemquantity\":1}]","zp_trans_id":200904000000389,"server_time":1599189413498,"channel":38,"merchant_user_id":"7ZMSl3nEg5sOUJzOLSoUFT8xKNQVaLOLXHB--8Eytqc","user_fee_amount":0,"discount_amount":0}"#;
    const DOC_MAC: &str = "d8d33baf449b31d7f9b94fa50d7c942c08cd4d83f28fa185557da21acb104f67";

    fn post(body: &str) -> InboundRequest {
        InboundRequest { method: "POST".into(), body: body.as_bytes().to_vec(), ..Default::default() }
    }
    fn signed(data: &str) -> InboundRequest {
        let body = serde_json::json!({ "data": data, "mac": hmac_sha256_hex(KEY2, data.as_bytes()), "type": 1 });
        post(&body.to_string())
    }

    #[test]
    fn verified_vector_the_documented_callback_verifies_and_parses() {
        let body = serde_json::json!({ "data": DOC_DATA, "mac": DOC_MAC, "type": 1 }).to_string();
        let n = verify_callback(KEY2, "2553", &post(&body)).unwrap().into_inner();
        assert_eq!(n.reference, "2553_1598435687208");
        assert_eq!(n.gateway_txn.as_deref(), Some("200904000000389"));
        assert_eq!((n.amount, n.currency.as_str(), n.outcome), (10000, "VND", Outcome::Succeeded));
        assert_eq!(n.paid_at.map(|t| t.unix_timestamp()), Some(1_599_189_413));
    }

    #[test]
    fn a_forged_or_tampered_callback_is_a_bad_signature() {
        let tampered = DOC_DATA.replace("10000", "10001");
        let body = serde_json::json!({ "data": tampered, "mac": DOC_MAC, "type": 1 }).to_string();
        assert_eq!(verify_callback(KEY2, "2553", &post(&body)).unwrap_err(), VerifyError::BadSignature);
        let forged = hmac_sha256_hex(b"another key", DOC_DATA.as_bytes());
        let body = serde_json::json!({ "data": DOC_DATA, "mac": forged }).to_string();
        assert_eq!(verify_callback(KEY2, "2553", &post(&body)).unwrap_err(), VerifyError::BadSignature);
        let body = serde_json::json!({ "data": DOC_DATA, "mac": "zz" }).to_string();
        assert_eq!(verify_callback(KEY2, "2553", &post(&body)).unwrap_err(), VerifyError::BadSignature);
    }

    #[test]
    fn the_mac_is_checked_on_the_data_text_not_a_reserialisation() {
        // Same JSON meaning, different bytes: the original mac no longer fits.
        let spaced = DOC_DATA.replacen(",", ", ", 1);
        let body = serde_json::json!({ "data": spaced, "mac": DOC_MAC }).to_string();
        assert_eq!(verify_callback(KEY2, "2553", &post(&body)).unwrap_err(), VerifyError::BadSignature);
    }

    #[test]
    fn malformed_callbacks_are_refused_without_panicking() {
        for body in ["", "not json", "[]", r#"{"mac":"00"}"#, r#"{"data":"{}"}"#, r#"{"data":1,"mac":"00"}"#] {
            assert!(matches!(verify_callback(KEY2, "2553", &post(body)), Err(VerifyError::Malformed(_))), "{body}");
        }
    }

    #[test]
    fn signed_but_unusable_data_is_malformed() {
        let cases = [
            "not json".to_owned(),
            DOC_DATA.replace(r#""amount":10000"#, r#""amount":"abc""#),
            DOC_DATA.replace(r#""amount":10000"#, r#""amount":100.5"#),
            DOC_DATA.replace(r#""amount":10000"#, r#""amount":0"#),
            DOC_DATA.replace(r#""amount":10000,"#, ""),
            DOC_DATA.replace(r#""zp_trans_id":200904000000389"#, r#""zp_trans_id":2.5"#),
            DOC_DATA.replace(r#""zp_trans_id":200904000000389,"#, ""),
            DOC_DATA.replace("200904_2553_1598435687208", "2553_1598435687208"),
            DOC_DATA.replace("200904_2553_1598435687208", "abc"),
            DOC_DATA.replace(r#""app_id":2553"#, r#""app_id":2554"#),
        ];
        for data in cases {
            assert!(matches!(verify_callback(KEY2, "2553", &signed(&data)), Err(VerifyError::Malformed(_))), "{data}");
        }
    }

    #[test]
    fn agreement_callbacks_are_not_order_payments() {
        let body = serde_json::json!({ "data": DOC_DATA, "mac": DOC_MAC, "type": 2 }).to_string();
        assert!(matches!(verify_callback(KEY2, "2553", &post(&body)), Err(VerifyError::Malformed(_))));
    }

    #[test]
    fn replies_are_the_json_zalopay_expects() {
        let body = |d| String::from_utf8(callback_reply(d).body).unwrap();
        assert_eq!(body(Disposition::Applied), r#"{"return_code":1,"return_message":"success"}"#);
        assert_eq!(body(Disposition::AlreadyFinal), r#"{"return_code":2,"return_message":"duplicate"}"#);
        assert_eq!(body(Disposition::BadSignature), r#"{"return_code":-1,"return_message":"mac not equal"}"#);
        assert!(body(Disposition::InternalError).starts_with(r#"{"return_code":0,"#));
        assert!(body(Disposition::AmountMismatch).starts_with(r#"{"return_code":1,"#));
        assert!(body(Disposition::UnknownReference).starts_with(r#"{"return_code":-1,"#));
        assert!(body(Disposition::Malformed).starts_with(r#"{"return_code":-1,"#));
        assert_eq!(callback_reply(Disposition::BadSignature).status, 200);
    }

    fn redirect(status: &str, amount: &str) -> String {
        let msg = format!("2553|240101_FG123|38|zalopayapp|{amount}|0|{status}");
        format!(
            "appid=2553&apptransid=240101_FG123&pmcid=38&bankcode=zalopayapp&amount={amount}&discountamount=0&status={status}&checksum={}",
            hmac_sha256_hex(KEY2, msg.as_bytes())
        )
    }
    fn get(query: &str) -> InboundRequest {
        InboundRequest { method: "GET".into(), query: query.into(), ..Default::default() }
    }

    #[test]
    fn the_redirect_verifies_and_maps_its_status() {
        let ok = verify_return(KEY2, "2553", &get(&redirect("1", "50000"))).unwrap();
        assert_eq!((ok.reference.as_str(), ok.outcome), ("FG123", Outcome::Succeeded));
        for s in ["2", "-49"] {
            let r = verify_return(KEY2, "2553", &get(&redirect(s, "50000"))).unwrap();
            assert!(matches!(r.outcome, Outcome::Failed { .. }), "{s}");
        }
        let r = verify_return(KEY2, "2553", &get(&redirect("3", "50000"))).unwrap();
        assert_eq!(r.outcome, Outcome::Pending);
    }

    #[test]
    fn a_tampered_or_unsigned_redirect_is_refused() {
        let tampered = redirect("1", "50000").replace("amount=50000", "amount=50001");
        assert_eq!(verify_return(KEY2, "2553", &get(&tampered)).unwrap_err(), VerifyError::BadSignature);
        let flipped = redirect("2", "50000").replace("status=2", "status=1");
        assert_eq!(verify_return(KEY2, "2553", &get(&flipped)).unwrap_err(), VerifyError::BadSignature);
        let unsigned = redirect("1", "50000").split("&checksum").next().unwrap().to_owned();
        assert_eq!(verify_return(KEY2, "2553", &get(&unsigned)).unwrap_err(), VerifyError::BadSignature);
        assert!(matches!(verify_return(KEY2, "2553", &get("status=1")), Err(VerifyError::Malformed(_))));
        assert!(matches!(verify_return(KEY2, "2553", &get("")), Err(VerifyError::Malformed(_))));
        assert!(matches!(verify_return(KEY2, "2553", &get(&redirect("ok", "50000"))), Err(VerifyError::Malformed(_))));
        assert!(matches!(verify_return(KEY2, "553", &get(&redirect("1", "50000"))), Err(VerifyError::Malformed(_))));
    }
}
