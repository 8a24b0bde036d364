//! Hostile input for the MoMo connector: random bodies and return queries, and signed IPNs
//! mutated field by field (dropped, given twice, wrong JSON types, a character changed,
//! huge, negative, fractional, non-ASCII values) and re-signed or not. Every input gives a
//! value or an error, never a panic; a message verifies only as exactly what was signed.
//! Seeds and past finds live in `tests/corpus/momo-*` at the workspace root.

use feegate_connector::{settlement, Connector, ConnectorConfig, InboundRequest, Notification, SettlementKind};
use feegate_momo::notify::SignedResult;
use feegate_momo::sign::{self, ResultSigned};
use feegate_testkit::hostile::{byte_op, corpus, edit, mutate, render};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::sync::OnceLock;

const ACCESS: &str = "F8BBA842ECF85";
const SECRET: &str = "K951B6PE1waDMi640xX08PD3vg6EkVlz";

fn connector() -> &'static dyn Connector {
    static C: OnceLock<Box<dyn Connector>> = OnceLock::new();
    C.get_or_init(|| {
        let cfg = ConnectorConfig::new("momo", "MoMo")
            .with_setting("base_url", "http://127.0.0.1:9/sim/momo")
            .with_setting("partner_code", "MOMO")
            .with_secret("access_key", ACCESS)
            .with_secret("secret_key", SECRET);
        feegate_momo::factory(cfg, reqwest::Client::new()).expect("config is complete")
    })
    .as_ref()
}

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

fn signed() -> SignedResult {
    SignedResult::signed(fields(), ACCESS, SECRET.as_bytes())
}

fn valid_ipn() -> Map<String, Value> {
    serde_json::from_slice::<Value>(&signed().to_json()).unwrap().as_object().unwrap().clone()
}

fn post(body: &[u8]) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_vec(),
        ..Default::default()
    }
}

fn original() -> Notification {
    connector().verify_callback(&post(&signed().to_json())).unwrap().into_inner()
}

/// The signed fields as MoMo's verifier reads them from `m`, or `None` if one is missing
/// or not a string or an integer.
fn text_fields(m: &Map<String, Value>) -> Option<ResultSigned> {
    let t = |k: &str| match m.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    };
    Some(ResultSigned {
        amount: t("amount")?,
        extra_data: t("extraData")?,
        message: t("message")?,
        order_id: t("orderId")?,
        order_info: t("orderInfo")?,
        order_type: t("orderType")?,
        partner_code: t("partnerCode")?,
        pay_type: t("payType")?,
        request_id: t("requestId")?,
        response_time: t("responseTime")?,
        result_code: t("resultCode")?,
        trans_id: t("transId")?,
    })
}

fn valid_settlement() -> Vec<u8> {
    let t = time::macros::datetime!(2026-11-27 03:00:00 UTC);
    settlement::write_csv(&[
        ("MOMO1712345678901".into(), "4088878653".into(), SettlementKind::Pay, 50_000, 0, "0".into(), t),
        ("MOMO1712345678902".into(), "4088878654".into(), SettlementKind::Refund, 10_000, 0, "0".into(), t),
        ("MOMO1712345678903".into(), "4088878655".into(), SettlementKind::Pay, 50_000, 0, "1006".into(), t),
    ])
}

fn check_settlement(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(lines) = connector().parse_settlement(bytes) {
        for l in &lines {
            prop_assert!(l.amount > 0 && l.fee >= 0 && !l.reference.is_empty() && l.line >= 2, "{l:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(feegate_testkit::hostile::config(384))]

    #[test]
    fn random_bodies_and_queries_never_verify_and_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..600),
        query in ".{0,300}",
    ) {
        prop_assert!(connector().verify_callback(&post(&body)).is_err());
        let get = InboundRequest { method: "GET".into(), query, ..Default::default() };
        prop_assert!(connector().verify_return(&get).is_err());
    }

    #[test]
    fn a_mutated_ipn_verifies_only_as_what_was_signed(
        edits in prop::collection::vec(edit(), 0..4),
        resign in any::<bool>(),
    ) {
        let mut m = valid_ipn();
        let mut body = render(&m, &edits);
        // Re-signing covers the values as the verifier will read them from the mutated text.
        let read: Option<Map<String, Value>> =
            serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.as_object().cloned());
        let resigned = match (resign, read.as_ref().and_then(text_fields)) {
            (true, Some(f)) => {
                m = read.unwrap_or_default();
                m.insert("signature".into(), Value::from(sign::sign(SECRET.as_bytes(), &sign::result_raw(ACCESS, &f))));
                body = Value::Object(m).to_string().into_bytes();
                Some(f)
            }
            _ => None,
        };
        match (connector().verify_callback(&post(&body)), resigned) {
            (Ok(v), Some(f)) => {
                let n = v.into_inner();
                prop_assert_eq!(&n.reference, &f.order_id);
                prop_assert_eq!(Some(n.amount), f.amount.parse::<i64>().ok());
            }
            (Ok(v), None) => prop_assert_eq!(v.into_inner(), original(), "{}", String::from_utf8_lossy(&body)),
            (Err(_), _) => {}
        }
    }

    #[test]
    fn a_byte_flipped_ipn_or_return_never_verifies_as_another_payment(ops in prop::collection::vec(byte_op(), 1..4)) {
        let body = mutate(&signed().to_json(), &ops);
        if let Ok(v) = connector().verify_callback(&post(&body)) {
            prop_assert_eq!(v.into_inner(), original(), "{}", String::from_utf8_lossy(&body));
        }
        let query = String::from_utf8_lossy(&mutate(signed().to_query().as_bytes(), &ops)).into_owned();
        let get = InboundRequest { method: "GET".into(), query: query.clone(), ..Default::default() };
        if let Ok(info) = connector().verify_return(&get) {
            prop_assert_eq!(info.reference, "MOMO1712345678901", "{}", query);
        }
    }

    #[test]
    fn settlement_files_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        ops in prop::collection::vec(byte_op(), 0..6),
    ) {
        check_settlement(&bytes)?;
        check_settlement(&mutate(&valid_settlement(), &ops))?;
    }
}

#[test]
fn the_valid_seeds_verify_and_parse_so_the_mutations_start_from_good_input() {
    let n = original();
    assert_eq!((n.reference.as_str(), n.amount), ("MOMO1712345678901", 50_000));
    assert_eq!(render(&valid_ipn(), &[]), Value::Object(valid_ipn()).to_string().into_bytes());
    assert_eq!(connector().parse_settlement(&valid_settlement()).unwrap().len(), 3);
}

#[test]
fn the_ipn_corpus_verifies_only_its_ok_seeds() {
    for (name, body) in corpus("momo-ipn") {
        let r = connector().verify_callback(&post(&body));
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
    }
}

#[test]
fn the_settlement_corpus_parses_only_its_ok_seeds() {
    for (name, bytes) in corpus("settlement") {
        let r = connector().parse_settlement(&bytes);
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
    }
}
