//! IPN and browser-return verification through the `Connector` trait: good messages,
//! forged and tampered ones, malformed bodies, missing fields, odd numbers, and the
//! callback replies MoMo expects.

use feegate_connector::{Connector, ConnectorConfig, Disposition, InboundRequest, Outcome, VerifyError};
use feegate_momo::notify::SignedResult;
use feegate_momo::sign::ResultSigned;
use serde_json::{json, Value};

const ACCESS: &str = "F8BBA842ECF85";
const SECRET: &str = "K951B6PE1waDMi640xX08PD3vg6EkVlz";

fn config() -> ConnectorConfig {
    ConnectorConfig::new("momo", "MoMo")
        .with_setting("base_url", "http://127.0.0.1:9/sim/momo")
        .with_setting("partner_code", "MOMO")
        .with_secret("access_key", ACCESS)
        .with_secret("secret_key", SECRET)
}

fn connector() -> Box<dyn Connector> {
    feegate_momo::factory(config(), reqwest::Client::new()).unwrap()
}

/// The fields of the [SELF] IPN vector of GATEWAYS.md §2.6.
fn fields() -> ResultSigned {
    ResultSigned {
        amount: "50000".into(),
        extra_data: String::new(),
        message: "Successful.".into(),
        order_id: "MOMO1712345678901".into(),
        order_info: "pay with MoMo".into(),
        order_type: "momo_wallet".into(),
        partner_code: "MOMO".into(),
        pay_type: "qr".into(),
        request_id: "MOMO1712345678901".into(),
        response_time: "1712345700000".into(),
        result_code: "0".into(),
        trans_id: "4088878653".into(),
    }
}

fn post(body: Vec<u8>) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body,
        ..Default::default()
    }
}

fn signed_json(f: ResultSigned) -> Value {
    serde_json::from_slice(&SignedResult::signed(f, ACCESS, SECRET.as_bytes()).to_json()).unwrap()
}

fn verify(v: &Value) -> Result<feegate_connector::Notification, VerifyError> {
    connector().verify_callback(&post(v.to_string().into_bytes())).map(|n| n.into_inner())
}

#[test]
fn the_self_computed_ipn_vector_verifies_as_a_json_post_with_numbers() {
    let body = json!({
        "partnerCode": "MOMO", "orderId": "MOMO1712345678901", "requestId": "MOMO1712345678901",
        "amount": 50000, "orderInfo": "pay with MoMo", "orderType": "momo_wallet", "transId": 4088878653u64,
        "resultCode": 0, "message": "Successful.", "payType": "qr", "responseTime": 1712345700000u64,
        "extraData": "", "signature": "9a8352a26261648aa1c6ccdb8e7259a28bd139b606411c2c465d079a600c9473"
    });
    let n = verify(&body).unwrap();
    assert_eq!(n.reference, "MOMO1712345678901");
    assert_eq!((n.amount, n.currency.as_str(), &n.outcome), (50_000, "VND", &Outcome::Succeeded));
    assert_eq!(n.gateway_txn.as_deref(), Some("4088878653"));
    assert_eq!(n.paid_at.map(|t| t.unix_timestamp()), Some(1_712_345_700));
}

#[test]
fn vietnamese_messages_are_signed_as_utf8_unchanged() {
    let mut f = fields();
    f.message = "Giao dịch bị từ chối bởi người dùng.".into();
    f.result_code = "1006".into();
    let n = verify(&signed_json(f)).unwrap();
    assert_eq!(
        n.outcome,
        Outcome::Failed { code: "1006".into(), message: "Giao dịch bị từ chối bởi người dùng.".into() }
    );
    assert_eq!(n.paid_at, None, "a failure has no payment time");
}

#[test]
fn pending_authorized_and_unknown_codes_are_never_success() {
    for code in ["1000", "7000", "9000", "4242", "8000"] {
        let mut f = fields();
        f.result_code = code.into();
        assert_eq!(verify(&signed_json(f)).unwrap().outcome, Outcome::Pending, "code {code}");
    }
}

#[test]
fn numbers_sent_as_strings_verify_the_same() {
    let mut v = signed_json(fields());
    v["amount"] = json!("50000");
    v["transId"] = json!("4088878653");
    assert_eq!(verify(&v).unwrap().amount, 50_000);
}

#[test]
fn a_signature_made_with_another_key_is_refused() {
    let forged = SignedResult::signed(fields(), ACCESS, b"not-the-secret").to_json();
    let r = connector().verify_callback(&post(forged));
    assert_eq!(r.err(), Some(VerifyError::BadSignature));
}

#[test]
fn a_signature_made_with_another_access_key_is_refused() {
    let forged = SignedResult::signed(fields(), "OTHERACCESS", SECRET.as_bytes()).to_json();
    assert_eq!(connector().verify_callback(&post(forged)).err(), Some(VerifyError::BadSignature));
}

#[test]
fn tampering_with_any_signed_field_is_refused() {
    let good = signed_json(fields());
    for (k, v) in [
        ("amount", json!(50001)),
        ("orderId", json!("MOMO1712345678902")),
        ("resultCode", json!(1006)),
        ("transId", json!(4088878654u64)),
        ("message", json!("Successful")),
        ("extraData", json!("eA==")),
    ] {
        let mut bad = good.clone();
        bad[k] = v;
        assert_eq!(verify(&bad).err(), Some(VerifyError::BadSignature), "changed {k}");
    }
    let mut bad = good.clone();
    bad["signature"] = json!("zz-not-hex");
    assert_eq!(verify(&bad).err(), Some(VerifyError::BadSignature));
}

#[test]
fn a_missing_signature_is_a_bad_signature() {
    let mut v = signed_json(fields());
    v.as_object_mut().unwrap().remove("signature");
    assert_eq!(verify(&v).err(), Some(VerifyError::BadSignature));
}

#[test]
fn missing_signed_fields_are_malformed() {
    for k in ["orderId", "amount", "extraData", "resultCode", "transId", "partnerCode", "responseTime"] {
        let mut v = signed_json(fields());
        v.as_object_mut().unwrap().remove(k);
        assert!(matches!(verify(&v), Err(VerifyError::Malformed(_))), "without {k}");
    }
}

#[test]
fn bodies_that_are_not_a_json_object_are_malformed() {
    for body in [&b""[..], b"not json", b"[1,2]", b"null", b"partnerCode=MOMO&amount=1", b"{\"amount\":"] {
        let r = connector().verify_callback(&post(body.to_vec()));
        assert!(matches!(r, Err(VerifyError::Malformed(_))), "{:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn values_of_the_wrong_json_type_are_malformed() {
    for (k, v) in [
        ("amount", json!(50000.5)),
        ("amount", json!(1e30)),
        ("amount", json!(true)),
        ("orderId", json!(null)),
        ("extraData", json!({"a": 1})),
        ("transId", json!([1])),
    ] {
        let mut bad = signed_json(fields());
        bad[k] = v;
        assert!(matches!(verify(&bad), Err(VerifyError::Malformed(_))), "{k}");
    }
}

#[test]
fn non_numeric_amounts_are_malformed_even_when_signed() {
    for amount in ["abc", "-50000", "50 000", "5e4", "", "99999999999999999999"] {
        let mut f = fields();
        f.amount = amount.into();
        let body = SignedResult::signed(f, ACCESS, SECRET.as_bytes()).to_json();
        assert!(
            matches!(connector().verify_callback(&post(body)), Err(VerifyError::Malformed(_))),
            "amount {amount:?}"
        );
    }
}

#[test]
fn non_numeric_result_codes_and_trans_ids_are_malformed_even_when_signed() {
    let mut f = fields();
    f.result_code = "ok".into();
    assert!(matches!(verify(&signed_json(f)), Err(VerifyError::Malformed(_))));
    let mut f = fields();
    f.trans_id = "T-1".into();
    assert!(matches!(verify(&signed_json(f)), Err(VerifyError::Malformed(_))));
}

#[test]
fn another_merchants_partner_code_is_malformed() {
    let mut f = fields();
    f.partner_code = "OTHER".into();
    assert!(matches!(verify(&signed_json(f)), Err(VerifyError::Malformed(_))));
}

#[test]
fn the_browser_return_carries_the_same_signed_fields() {
    let query = SignedResult::signed(fields(), ACCESS, SECRET.as_bytes()).to_query();
    assert!(query.contains("orderInfo=pay+with+MoMo"));
    let c = connector();
    let get = |q: String| InboundRequest { method: "GET".into(), query: q, ..Default::default() };
    let info = c.verify_return(&get(query.clone())).unwrap();
    assert_eq!((info.reference.as_str(), &info.outcome), ("MOMO1712345678901", &Outcome::Succeeded));
    let tampered = query.replacen("amount=50000", "amount=5000", 1);
    assert_eq!(c.verify_return(&get(tampered)).err(), Some(VerifyError::BadSignature));
    let unsigned = query.split("&signature=").next().unwrap_or_default().to_owned();
    assert_eq!(c.verify_return(&get(unsigned)).err(), Some(VerifyError::BadSignature));
    assert!(matches!(c.verify_return(&get(String::new())), Err(VerifyError::Malformed(_))));
}

#[test]
fn momo_gets_204_for_everything_it_should_not_resend() {
    let c = connector();
    for d in
        [Disposition::Applied, Disposition::AlreadyFinal, Disposition::AmountMismatch, Disposition::UnknownReference]
    {
        let r = c.callback_reply(d);
        assert_eq!((r.status, r.body.len()), (204, 0), "{d:?}");
    }
    assert_eq!(c.callback_reply(Disposition::BadSignature).status, 400);
    assert_eq!(c.callback_reply(Disposition::Malformed).status, 400);
    assert_eq!(c.callback_reply(Disposition::InternalError).status, 500, "so MoMo retries");
}

#[test]
fn incomplete_or_wrong_settings_are_config_errors() {
    let http = reqwest::Client::new;
    let cfg = ConnectorConfig::new("momo", "MoMo").with_setting("base_url", "http://x");
    assert!(feegate_momo::factory(cfg, http()).is_err());
    assert!(feegate_momo::factory(config().with_setting("request_type", "payWithATM"), http()).is_err());
    assert!(feegate_momo::factory(config().with_setting("base_url", "not a url"), http()).is_err());
    assert!(feegate_momo::factory(config().with_secret("secret_key", ""), http()).is_err());
    assert!(feegate_momo::factory(config().with_setting("request_type", "payWithMethod"), http()).is_ok());
}

#[test]
fn settlement_rows_with_status_zero_are_successes() {
    let file = "reference,gateway_txn,type,amount,fee,status,time\n\
                FG1,4088878653,pay,135000,0,0,2026-11-27T10:00:00+07:00\n\
                FG2,4088878654,pay,135000,0,1006,2026-11-27T10:00:00+07:00\n";
    let lines = connector().parse_settlement(file.as_bytes()).unwrap();
    assert_eq!(lines.iter().map(|l| l.succeeded).collect::<Vec<_>>(), [true, false]);
}
