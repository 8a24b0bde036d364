//! Callbacks, returns, replies and the pay URL through the public connector surface:
//! good messages verify, every bad one is a `VerifyError`, never a panic.

use feegate_connector::{
    Action, Connector, ConnectorConfig, Disposition, InboundRequest, Locale, Outcome, StartRequest, VerifyError,
};
use feegate_vnpay::sign;
use std::collections::BTreeMap;
use time::OffsetDateTime;

const SECRET: &str = "VNPAYTESTSECRET0123456789ABCDEFG";

fn connector() -> Box<dyn Connector> {
    let cfg = ConnectorConfig::new("vnpay-main", "VNPay")
        .with_setting("base_url", "http://127.0.0.1:9/sim/vnpay")
        .with_setting("tmn_code", "FEEGATE1")
        .with_secret("hash_secret", SECRET);
    feegate_vnpay::factory(cfg, reqwest::Client::new()).expect("config")
}

fn ipn_fields() -> BTreeMap<String, String> {
    [
        ("vnp_Amount", "13500000"),
        ("vnp_BankCode", "NCB"),
        ("vnp_BankTranNo", "VNP14226112"),
        ("vnp_CardType", "ATM"),
        ("vnp_OrderInfo", "Le phi cap doi GPLX: ho so 12/2026"),
        ("vnp_PayDate", "20261127100112"),
        ("vnp_ResponseCode", "00"),
        ("vnp_TmnCode", "FEEGATE1"),
        ("vnp_TransactionNo", "14226112"),
        ("vnp_TransactionStatus", "00"),
        ("vnp_TxnRef", "FG0123456789"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn get(query: String) -> InboundRequest {
    InboundRequest { method: "GET".into(), query, ..Default::default() }
}

fn signed(fields: &BTreeMap<String, String>) -> String {
    sign::signed_query(SECRET.as_bytes(), fields)
}

fn with(change: &[(&str, &str)]) -> String {
    let mut f = ipn_fields();
    for (k, v) in change {
        f.insert((*k).to_owned(), (*v).to_owned());
    }
    signed(&f)
}

#[test]
fn a_signed_ipn_verifies_into_the_notification() {
    let n = connector().verify_callback(&get(signed(&ipn_fields()))).expect("verifies").into_inner();
    assert_eq!(n.reference, "FG0123456789");
    assert_eq!(n.gateway_txn.as_deref(), Some("14226112"));
    assert_eq!((n.amount, n.currency.as_str(), n.outcome), (135_000, "VND", Outcome::Succeeded));
    // 10:01:12 in GMT+7 is 03:01:12 UTC.
    assert_eq!(n.paid_at, Some(time::macros::datetime!(2026-11-27 03:01:12 UTC)));
}

#[test]
fn a_declined_ipn_verifies_as_failed_with_the_code_and_no_transaction() {
    let q = with(&[("vnp_ResponseCode", "24"), ("vnp_TransactionStatus", "02"), ("vnp_TransactionNo", "0")]);
    let n = connector().verify_callback(&get(q)).expect("verifies").into_inner();
    assert!(matches!(&n.outcome, Outcome::Failed { code, .. } if code == "24"));
    assert_eq!(n.gateway_txn, None);
}

#[test]
fn response_code_00_with_a_failed_transaction_status_is_not_a_success() {
    let n = connector().verify_callback(&get(with(&[("vnp_TransactionStatus", "02")]))).unwrap().into_inner();
    assert!(matches!(n.outcome, Outcome::Failed { .. }));
}

#[test]
fn a_tampered_amount_or_reference_is_a_bad_signature() {
    let q = signed(&ipn_fields());
    let c = connector();
    for forged in [q.replacen("13500000", "13500100", 1), q.replacen("FG0123456789", "FG0123456788", 1)] {
        assert_ne!(forged, q);
        assert_eq!(c.verify_callback(&get(forged)).unwrap_err(), VerifyError::BadSignature);
    }
}

#[test]
fn an_ipn_signed_with_another_key_is_a_bad_signature() {
    let q = sign::signed_query(b"not-the-secret", &ipn_fields());
    assert_eq!(connector().verify_callback(&get(q)).unwrap_err(), VerifyError::BadSignature);
}

#[test]
fn an_unsigned_or_garbage_signed_ipn_is_a_bad_signature() {
    let c = connector();
    let unsigned = sign::hash_data(&ipn_fields());
    assert_eq!(c.verify_callback(&get(unsigned.clone())).unwrap_err(), VerifyError::BadSignature);
    let garbage = format!("{unsigned}&vnp_SecureHash=%FF%FE");
    assert_eq!(c.verify_callback(&get(garbage)).unwrap_err(), VerifyError::BadSignature);
    assert_eq!(c.verify_callback(&get(String::new())).unwrap_err(), VerifyError::BadSignature);
}

#[test]
fn a_field_given_twice_is_malformed() {
    let q = format!("{}&vnp_TxnRef=FG9", signed(&ipn_fields()));
    assert!(matches!(connector().verify_callback(&get(q)), Err(VerifyError::Malformed(_))));
}

#[test]
fn signed_but_unusable_content_is_malformed() {
    let c = connector();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("vnp_Amount", "abc")],
        vec![("vnp_Amount", "13500050")],
        vec![("vnp_Amount", "-13500000")],
        vec![("vnp_Amount", "1.5e7")],
        vec![("vnp_Amount", "")],
        vec![("vnp_TxnRef", "")],
        vec![("vnp_ResponseCode", "")],
        vec![("vnp_TransactionStatus", "")],
        vec![("vnp_PayDate", "2026-11-27")],
        vec![("vnp_TmnCode", "OTHERTMN")],
    ];
    for change in cases {
        let r = c.verify_callback(&get(with(&change)));
        assert!(matches!(r, Err(VerifyError::Malformed(_))), "{change:?} gave {r:?}");
    }
}

#[test]
fn non_vnp_parameters_and_the_hash_type_are_ignored() {
    let q = format!("payment_id=pay_1&{}&vnp_SecureHashType=HmacSHA512", signed(&ipn_fields()));
    assert!(connector().verify_callback(&get(q.clone())).is_ok());
    let info = connector().verify_return(&get(q)).expect("return verifies");
    assert_eq!((info.reference.as_str(), info.outcome), ("FG0123456789", Outcome::Succeeded));
}

#[test]
fn a_tampered_return_does_not_verify() {
    let q = signed(&ipn_fields()).replacen("vnp_ResponseCode=00", "vnp_ResponseCode=24", 1);
    assert_eq!(connector().verify_return(&get(q)).unwrap_err(), VerifyError::BadSignature);
}

#[test]
fn a_form_posted_ipn_is_read_from_the_body() {
    let req = InboundRequest {
        method: "POST".into(),
        body: signed(&ipn_fields()).into_bytes(),
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        ..Default::default()
    };
    assert!(connector().verify_callback(&req).is_ok());
    let junk = InboundRequest { method: "POST".into(), body: vec![0xff, 0x00, 0x26, 0x3d], ..Default::default() };
    assert_eq!(connector().verify_callback(&junk).unwrap_err(), VerifyError::BadSignature);
}

#[test]
fn callback_replies_are_the_exact_vnpay_bodies() {
    let c = connector();
    let cases = [
        (Disposition::Applied, r#"{"RspCode":"00","Message":"Confirm Success"}"#),
        (Disposition::AlreadyFinal, r#"{"RspCode":"02","Message":"Order already confirmed"}"#),
        (Disposition::UnknownReference, r#"{"RspCode":"01","Message":"Order not found"}"#),
        (Disposition::AmountMismatch, r#"{"RspCode":"04","Message":"invalid amount"}"#),
        (Disposition::BadSignature, r#"{"RspCode":"97","Message":"Invalid signature"}"#),
        (Disposition::Malformed, r#"{"RspCode":"99","Message":"Unknow error"}"#),
        (Disposition::InternalError, r#"{"RspCode":"99","Message":"Unknow error"}"#),
    ];
    for (d, body) in cases {
        let r = c.callback_reply(d);
        assert_eq!((r.status, r.content_type), (200, Some("application/json")), "{d:?}");
        let got: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let want: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(got, want, "{d:?}");
    }
}

fn start_request() -> StartRequest {
    let created = time::macros::datetime!(2026-11-27 03:00:00 UTC);
    StartRequest {
        reference: "FG0123456789".into(),
        payment_id: "pay_1".into(),
        amount: 135_000,
        currency: "VND".into(),
        description: "Lệ phí cấp đổi GPLX (hồ sơ 12/2026)!".into(),
        created_at: created,
        expires_at: created + time::Duration::minutes(15),
        return_url: "https://portal.example.vn/return/vnpay-main".into(),
        notify_url: "https://portal.example.vn/callbacks/vnpay-main".into(),
        payer_ip: None,
        locale: Locale::En,
        beneficiary: None,
    }
}

#[tokio::test]
async fn start_builds_a_signed_pay_url_with_the_wire_fields() {
    let started = connector().start(&start_request()).await.expect("start");
    let Action::Redirect { url } = started.action else { panic!("a redirect") };
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, "http://127.0.0.1:9/sim/vnpay/paymentv2/vpcpay.html");
    let pairs: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let get = |k: &str| pairs.get(k).map(String::as_str).unwrap_or("");
    assert_eq!(get("vnp_Amount"), "13500000");
    assert_eq!(get("vnp_CreateDate"), "20261127100000");
    assert_eq!(get("vnp_ExpireDate"), "20261127101500");
    assert_eq!(get("vnp_OrderInfo"), "Le phi cap doi GPLX ho so 12/2026");
    assert_eq!((get("vnp_IpAddr"), get("vnp_Locale"), get("vnp_OrderType")), ("127.0.0.1", "en", "other"));
    assert_eq!((get("vnp_Version"), get("vnp_Command"), get("vnp_CurrCode")), ("2.1.0", "pay", "VND"));
    assert_eq!((get("vnp_TmnCode"), get("vnp_TxnRef")), ("FEEGATE1", "FG0123456789"));
    assert_eq!(get("vnp_ReturnUrl"), "https://portal.example.vn/return/vnpay-main");
    assert!(!pairs.contains_key("vnp_SecureHashType"));
    // The query before the hash is exactly the hash data (§1.3 step 5).
    let (data, hash) = query.rsplit_once("&vnp_SecureHash=").unwrap();
    assert_eq!(hash, sign::hmac(SECRET.as_bytes(), data));
    let mut fields = pairs.clone();
    fields.remove("vnp_SecureHash");
    assert_eq!(sign::hash_data(&fields), data);
}

#[tokio::test]
async fn start_refuses_what_vnpay_cannot_carry() {
    let c = connector();
    for change in [
        |r: &mut StartRequest| r.currency = "USD".into(),
        |r: &mut StartRequest| r.amount = 0,
        |r: &mut StartRequest| r.amount = i64::MAX,
        |r: &mut StartRequest| r.reference = "FG-1".into(),
        |r: &mut StartRequest| r.return_url = format!("https://portal.example.vn/{}", "r".repeat(250)),
    ] {
        let mut r = start_request();
        change(&mut r);
        assert!(c.start(&r).await.is_err());
    }
}

#[test]
fn settlement_rows_use_status_00_for_success() {
    let t = OffsetDateTime::now_utc();
    let file = feegate_connector::settlement::write_csv(&[
        ("FG1".into(), "1".into(), feegate_connector::SettlementKind::Pay, 135_000, 0, "00".into(), t),
        ("FG2".into(), "2".into(), feegate_connector::SettlementKind::Pay, 135_000, 0, "02".into(), t),
    ]);
    let lines = connector().parse_settlement(&file).expect("parses");
    assert_eq!(lines.iter().map(|l| l.succeeded).collect::<Vec<_>>(), [true, false]);
}

#[test]
fn config_errors_name_the_key() {
    let base = || {
        ConnectorConfig::new("vnpay-main", "VNPay")
            .with_setting("base_url", "https://sandbox.vnpayment.vn")
            .with_setting("tmn_code", "FEEGATE1")
            .with_secret("hash_secret", SECRET)
    };
    assert!(feegate_vnpay::factory(base(), reqwest::Client::new()).is_ok());
    let key_of = |cfg: ConnectorConfig| match feegate_vnpay::factory(cfg, reqwest::Client::new()) {
        Err(
            feegate_connector::ConfigError::Missing { key, .. } | feegate_connector::ConfigError::Invalid { key, .. },
        ) => key,
        Ok(_) => "accepted".into(),
    };
    let mut no_secret = base();
    no_secret.secrets.clear();
    assert_eq!(key_of(no_secret), "hash_secret");
    assert_eq!(key_of(base().with_secret("hash_secret", " \n")), "hash_secret");
    assert_eq!(key_of(base().with_setting("tmn_code", "TMN-1")), "tmn_code");
    assert_eq!(key_of(base().with_setting("base_url", "sandbox.vnpayment.vn")), "base_url");
    assert_eq!(key_of(base().with_setting("order_type", "bill payment")), "order_type");
    assert_eq!(key_of(base().with_setting("api_url", "ftp://x")), "api_url");
}

#[test]
fn a_secret_with_a_trailing_newline_still_signs_like_the_trimmed_one() {
    let cfg = ConnectorConfig::new("vnpay-main", "VNPay")
        .with_setting("base_url", "http://127.0.0.1:9")
        .with_setting("tmn_code", "FEEGATE1")
        .with_secret("hash_secret", &format!("{SECRET}\n"));
    let c = feegate_vnpay::factory(cfg, reqwest::Client::new()).unwrap();
    assert!(c.verify_callback(&get(signed(&ipn_fields()))).is_ok());
}
