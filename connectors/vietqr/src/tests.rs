//! Unit tests of the connector: start, callback verification on good and bad input, replies.

use super::*;
use feegate_connector::{Beneficiary, Locale};
use time::OffsetDateTime;

const SECRET: &str = "bank-notify-secret";

fn connector() -> Box<dyn Connector> {
    let cfg = ConnectorConfig::new("vietqr-main", "Chuyển khoản VietQR")
        .with_setting("base_url", "http://127.0.0.1:9/sim/vietqr")
        .with_secret("notify_secret", SECRET);
    match factory(cfg, reqwest::Client::new()) {
        Ok(c) => c,
        Err(e) => panic!("config is complete: {e}"),
    }
}

fn start_request(beneficiary: Option<Beneficiary>) -> StartRequest {
    let now = OffsetDateTime::now_utc();
    StartRequest {
        reference: "FG0123456789".into(),
        payment_id: "pay_1".into(),
        amount: 135_000,
        currency: "VND".into(),
        description: "Lệ phí cấp đổi giấy phép lái xe".into(),
        created_at: now,
        expires_at: now,
        return_url: "http://x/return/vietqr-main".into(),
        notify_url: "http://x/callbacks/vietqr-main".into(),
        payer_ip: None,
        locale: Locale::Vi,
        beneficiary,
    }
}

fn vietinbank() -> Beneficiary {
    Beneficiary {
        bank_bin: "970415".into(),
        bank_name: String::new(),
        account_number: "113366668888".into(),
        account_name: "SO GIAO THONG VAN TAI".into(),
    }
}

fn credit_json(content: &str, amount: &str) -> Vec<u8> {
    format!(
        r#"{{"notification_id":"N1","account_number":"113366668888","bank_bin":"970415","amount":{amount},"content":"{content}","bank_txn_id":"FT25331000001","credited_at":"2026-11-27T10:00:00+07:00"}}"#
    )
    .into_bytes()
}

fn inbound(body: Vec<u8>, sig: Option<String>) -> InboundRequest {
    let headers = sig.map(|s| vec![("x-bank-signature".to_owned(), s)]).unwrap_or_default();
    InboundRequest { method: "POST".into(), headers, body, ..Default::default() }
}

fn signed(body: Vec<u8>) -> InboundRequest {
    let sig = sign(SECRET.as_bytes(), &body);
    inbound(body, Some(sig))
}

#[tokio::test]
async fn start_builds_a_dynamic_qr_that_decodes_to_the_transfer_self_computed_vector() {
    let started = connector().start(&start_request(Some(vietinbank()))).await;
    let Ok(Started { action: Action::Qr { payload, transfer }, gateway_ref: None }) = started else {
        panic!("a QR action: {started:?}");
    };
    // [SELF] vector: our encoder and an independent Python CRC agree on it; no bank published it.
    assert_eq!(
        payload,
        "00020101021238560010A0000007270126000697041501121133666688880208QRIBFTTA530370454061350005802VN\
         62160812FG012345678963047E6E"
    );
    let d = decode(&payload).expect("our own payload decodes");
    assert_eq!(
        (d.dynamic, d.bank_bin.as_str(), d.account.as_str(), d.service_code.as_str(), d.amount),
        (true, "970415", "113366668888", "QRIBFTTA", Some(135_000))
    );
    assert_eq!(d.purpose.as_deref(), Some("FG0123456789"));
    assert_eq!(transfer.content, "FG0123456789");
    assert_eq!(transfer.bank_name, "VietinBank", "filled from the BIN table when empty");
    assert_eq!((transfer.amount, transfer.account_number.as_str()), (135_000, "113366668888"));
}

#[tokio::test]
async fn a_payment_without_a_single_account_cannot_be_paid_by_one_qr() {
    let c = connector();
    assert!(c.needs_beneficiary());
    let r = c.start(&start_request(None)).await;
    assert!(matches!(r, Err(ConnectorError::Rejected { ref code, .. }) if code == "no_single_account"), "{r:?}");
}

#[tokio::test]
async fn start_refuses_what_no_bank_app_could_pay() {
    let c = connector();
    let mut bad_ref = start_request(Some(vietinbank()));
    bad_ref.reference = "order-1".into();
    let mut usd = start_request(Some(vietinbank()));
    usd.currency = "USD".into();
    let mut zero = start_request(Some(vietinbank()));
    zero.amount = 0;
    let mut bad_bin = start_request(Some(Beneficiary { bank_bin: "97041".into(), ..vietinbank() }));
    bad_bin.amount = 1;
    for req in [bad_ref, usd, zero, bad_bin] {
        let r = c.start(&req).await;
        assert!(matches!(r, Err(ConnectorError::Rejected { .. })), "{r:?}");
    }
}

#[test]
fn a_signed_credit_is_a_verified_success_with_the_reference_from_the_content() {
    let body = credit_json("MBVCB.3278614911.fg0123456789.CT tu 0011004 NGUYEN VAN A", "135000");
    let n = connector().verify_callback(&signed(body)).expect("verifies").into_inner();
    assert_eq!(n.reference, "FG0123456789");
    assert_eq!((n.amount, n.currency.as_str(), &n.outcome), (135_000, "VND", &Outcome::Succeeded));
    assert_eq!(n.gateway_txn.as_deref(), Some("FT25331000001"));
    assert!(n.paid_at.is_some());
}

#[test]
fn a_verified_credit_says_which_account_it_landed_in() {
    let body = credit_json("FG0123456789", "135000");
    let v = connector().verify_callback(&signed(body)).expect("verifies");
    let landed = v.credited_to().expect("a bank transfer says where it landed");
    assert_eq!((landed.bank_bin.as_str(), landed.account_number.as_str()), ("970415", "113366668888"));
}

#[test]
fn forged_tampered_and_unsigned_credits_are_bad_signatures() {
    let c = connector();
    let body = credit_json("FG0123456789", "135000");
    let forged = inbound(body.clone(), Some(sign(b"another-key", &body)));
    assert_eq!(c.verify_callback(&forged).map(|_| ()), Err(VerifyError::BadSignature));
    let sig = sign(SECRET.as_bytes(), &body);
    let tampered = inbound(credit_json("FG0123456789", "1350000"), Some(sig.clone()));
    assert_eq!(c.verify_callback(&tampered).map(|_| ()), Err(VerifyError::BadSignature));
    assert_eq!(c.verify_callback(&inbound(body.clone(), None)).map(|_| ()), Err(VerifyError::BadSignature));
    let garbage = inbound(body, Some("zz-not-hex".into()));
    assert_eq!(c.verify_callback(&garbage).map(|_| ()), Err(VerifyError::BadSignature));
}

#[test]
fn malformed_signed_credits_are_malformed_never_a_panic() {
    let c = connector();
    let missing_txn = br#"{"notification_id":"N1","account_number":"1","bank_bin":"970415","amount":5,"content":"FG0123456789","credited_at":""}"#;
    let empty_txn = br#"{"notification_id":"N1","account_number":"1","bank_bin":"970415","amount":5,"content":"FG0123456789","bank_txn_id":" ","credited_at":""}"#;
    for body in [
        b"not json".to_vec(),
        Vec::new(),
        b"[]".to_vec(),
        missing_txn.to_vec(),
        empty_txn.to_vec(),
        credit_json("FG0123456789", "\"135000\""),
        credit_json("FG0123456789", "135000.5"),
        credit_json("FG0123456789", "1e99"),
        credit_json("FG0123456789", "0"),
        credit_json("FG0123456789", "-135000"),
        credit_json("FG0123456789", "null"),
    ] {
        let r = c.verify_callback(&signed(body.clone())).map(|_| ());
        assert!(matches!(r, Err(VerifyError::Malformed(_))), "{} -> {r:?}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn a_credit_without_our_reference_is_malformed_and_two_references_are_not_guessed() {
    let c = connector();
    let none = c.verify_callback(&signed(credit_json("chuyen tien hoc phi", "135000"))).map(|_| ());
    assert_eq!(none, Err(VerifyError::Malformed("no reference in transfer content".into())));
    let two = c.verify_callback(&signed(credit_json("FG0123456789 FG0123456788", "135000"))).map(|_| ());
    assert!(matches!(two, Err(VerifyError::Malformed(_))));
}

#[test]
fn replies_acknowledge_every_credit_that_verified() {
    let c = connector();
    for d in
        [Disposition::Applied, Disposition::AlreadyFinal, Disposition::AmountMismatch, Disposition::UnknownReference]
    {
        let r = c.callback_reply(d);
        assert_eq!((r.status, r.body.as_slice()), (200, br#"{"status":"received"}"#.as_slice()), "{d:?}");
    }
    assert_eq!(c.callback_reply(Disposition::BadSignature).status, 401);
    assert_eq!(c.callback_reply(Disposition::Malformed).status, 400);
    assert_eq!(c.callback_reply(Disposition::InternalError).status, 500);
}

#[tokio::test]
async fn returns_and_refunds_are_not_supported() {
    let c = connector();
    assert!(!c.supports_refund());
    assert!(matches!(c.verify_return(&InboundRequest::default()), Err(VerifyError::NotSupported { .. })));
    let now = OffsetDateTime::now_utc();
    let req = RefundRequest {
        refund_reference: "RF0123456789".into(),
        gateway_refund_ref: None,
        payment_reference: "FG0123456789".into(),
        gateway_txn: None,
        amount: 1,
        original_amount: 1,
        reason: String::new(),
        payment_created_at: now,
        requested_by: "finance".into(),
        requested_at: now,
    };
    assert!(matches!(c.refund(&req).await, Err(ConnectorError::NotSupported { .. })));
    assert!(matches!(c.query_refund(&req).await, Err(ConnectorError::NotSupported { .. })));
}

#[test]
fn the_credit_file_parses_and_refund_rows_are_refused() {
    let c = connector();
    let file = "reference,gateway_txn,type,amount,fee,status,time\n\
                FG0123456789,FT1,pay,135000,0,credited,2026-11-27T10:00:00+07:00\n";
    let lines = c.parse_settlement(file.as_bytes()).expect("parses");
    assert_eq!((lines[0].amount, lines[0].succeeded, lines[0].gateway_txn.as_str()), (135_000, true, "FT1"));
    let with_refund = format!("{file}RF0123456789,FT2,refund,1000,0,credited,2026-11-27T10:00:00+07:00\n");
    assert!(matches!(c.parse_settlement(with_refund.as_bytes()), Err(SettlementError::Row { line: 3, .. })));
}

#[test]
fn factory_requires_base_url_and_secret() {
    let http = reqwest::Client::new();
    let bare = ConnectorConfig::new("v", "V");
    assert!(factory(bare.clone().with_secret("notify_secret", "s"), http.clone()).is_err());
    assert!(factory(bare.clone().with_setting("base_url", "http://b"), http.clone()).is_err());
    let bad = bare.with_setting("base_url", "not a url").with_secret("notify_secret", "s");
    assert!(matches!(factory(bad, http), Err(ConfigError::Invalid { .. })));
}
