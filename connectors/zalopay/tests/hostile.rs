//! Hostile input for the ZaloPay connector: random bodies and redirect queries, and signed
//! callbacks mutated in their outer body (`data`, `mac`, `type`) and inside `data` (fields
//! dropped, given twice, wrong JSON types, a character changed, huge, negative, fractional,
//! non-ASCII values), re-signed or not. Every input gives a value or an error, never a
//! panic; a message verifies only as exactly what was signed. Seeds and past finds live in
//! `tests/corpus/zalopay-*` at the workspace root.

use feegate_connector::crypto::hmac_sha256_hex;
use feegate_connector::{settlement, Connector, ConnectorConfig, InboundRequest, Notification, SettlementKind};
use feegate_testkit::hostile::{byte_op, corpus, edit, mutate, render};
use feegate_zalopay::sign::strip_date_prefix;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

const KEY1: &str = "PcY4iZIKFCIdgZvA6ueMcMHHUbRLYjPL";
const KEY2: &str = "kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz";
/// ZaloPay's documented callback `data` (GATEWAYS.md §3.3), for app 2553.
const DOC_DATA: &str = r#"{"app_id":2553,"app_trans_id":"200904_2553_1598435687208","app_time":1599189392817,"app_user":"demo","amount":10000,"embed_data":"{\"merchantinfo\":\"embeddata123\",\"promotioninfo\":\"\"}","item":"[{\"itemid\":\"knb\",\"itemname\":\"kim nguyen bao\",\"itemprice\":198400,\"itemquantity\":1}]","zp_trans_id":200904000000389,"server_time":1599189413498,"channel":38,"merchant_user_id":"7ZMSl3nEg5sOUJzOLSoUFT8xKNQVaLOLXHB--8Eytqc","user_fee_amount":0,"discount_amount":0}"#;

fn connector() -> &'static dyn Connector {
    static C: OnceLock<Box<dyn Connector>> = OnceLock::new();
    C.get_or_init(|| {
        let cfg = ConnectorConfig::new("zalopay", "ZaloPay")
            .with_setting("base_url", "http://127.0.0.1:9/sim/zalopay")
            .with_setting("app_id", "2553")
            .with_secret("key1", KEY1)
            .with_secret("key2", KEY2);
        feegate_zalopay::factory(cfg, reqwest::Client::new()).expect("config is complete")
    })
    .as_ref()
}

fn post(body: &[u8]) -> InboundRequest {
    InboundRequest { method: "POST".into(), body: body.to_vec(), ..Default::default() }
}

fn outer(data: &str, mac: &str) -> Vec<u8> {
    json!({ "data": data, "mac": mac, "type": 1 }).to_string().into_bytes()
}

fn original() -> Notification {
    let mac = hmac_sha256_hex(KEY2.as_bytes(), DOC_DATA.as_bytes());
    connector().verify_callback(&post(&outer(DOC_DATA, &mac))).unwrap().into_inner()
}

fn doc_fields() -> Map<String, Value> {
    serde_json::from_str::<Value>(DOC_DATA).unwrap().as_object().unwrap().clone()
}

/// The browser redirect of a paid order, signed with key2.
fn redirect() -> String {
    let msg = "2553|240101_FG0123456789|38|zalopayapp|50000|0|1";
    format!(
        "appid=2553&apptransid=240101_FG0123456789&pmcid=38&bankcode=zalopayapp&amount=50000&discountamount=0&status=1&checksum={}",
        hmac_sha256_hex(KEY2.as_bytes(), msg.as_bytes())
    )
}

fn valid_settlement() -> Vec<u8> {
    let t = time::macros::datetime!(2026-11-27 03:00:00 UTC);
    settlement::write_csv(&[
        ("261127_FG0123456789".into(), "261127000000389".into(), SettlementKind::Pay, 135_000, 0, "1".into(), t),
        ("261127_2553_FGR123456789".into(), "261127000000390".into(), SettlementKind::Refund, 35_000, 0, "1".into(), t),
    ])
}

fn check_settlement(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(lines) = connector().parse_settlement(bytes) {
        for l in &lines {
            prop_assert!(l.amount > 0 && l.fee >= 0 && !l.reference.is_empty() && l.line >= 2, "{l:?}");
            prop_assert!(!l.reference.contains('_') || l.kind == SettlementKind::Pay, "prefix left on {l:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(feegate_testkit::hostile::config(384))]

    #[test]
    fn random_bodies_and_queries_never_verify_and_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..600),
        data in ".{0,200}",
        mac in "[0-9a-fA-F]{0,70}",
        query in ".{0,300}",
    ) {
        prop_assert!(connector().verify_callback(&post(&body)).is_err());
        prop_assert!(connector().verify_callback(&post(&outer(&data, &mac))).is_err());
        let get = InboundRequest { method: "GET".into(), query, ..Default::default() };
        prop_assert!(connector().verify_return(&get).is_err());
    }

    #[test]
    fn a_mutated_callback_verifies_only_as_what_was_signed(
        edits in prop::collection::vec(edit(), 0..4),
        outer_edits in prop::collection::vec(edit(), 0..2),
        resign in any::<bool>(),
    ) {
        let data = if edits.is_empty() { DOC_DATA.to_owned() } else { String::from_utf8(render(&doc_fields(), &edits)).unwrap() };
        let key = if resign { KEY2 } else { "not-key2" };
        let mac = if edits.is_empty() || resign {
            hmac_sha256_hex(key.as_bytes(), data.as_bytes())
        } else {
            hmac_sha256_hex(KEY2.as_bytes(), DOC_DATA.as_bytes())
        };
        let base = json!({ "data": data, "mac": mac, "type": 1 });
        let body = render(base.as_object().unwrap(), &outer_edits);
        let sent: Option<Value> = serde_json::from_slice(&body).ok();
        if let Ok(v) = connector().verify_callback(&post(&body)) {
            let n = v.into_inner();
            // Only a mac made with key2 over the very `data` text verifies.
            let data_sent = sent.as_ref().and_then(|s| s["data"].as_str()).unwrap_or_default().to_owned();
            let mac_sent = sent.as_ref().and_then(|s| s["mac"].as_str()).unwrap_or_default().to_lowercase();
            prop_assert_eq!(mac_sent.trim(), hmac_sha256_hex(KEY2.as_bytes(), data_sent.as_bytes()));
            let inner: Value = serde_json::from_str(&data_sent).unwrap();
            let reference = inner["app_trans_id"].as_str().and_then(strip_date_prefix);
            prop_assert_eq!(Some(n.reference.as_str()), reference);
            prop_assert_eq!(Some(n.amount), inner["amount"].as_i64());
            if data_sent == DOC_DATA {
                prop_assert_eq!(n, original());
            }
        }
    }

    #[test]
    fn a_byte_flipped_callback_or_redirect_never_verifies_as_another_payment(ops in prop::collection::vec(byte_op(), 1..4)) {
        let mac = hmac_sha256_hex(KEY2.as_bytes(), DOC_DATA.as_bytes());
        let body = mutate(&outer(DOC_DATA, &mac), &ops);
        if let Ok(v) = connector().verify_callback(&post(&body)) {
            prop_assert_eq!(v.into_inner(), original(), "{}", String::from_utf8_lossy(&body));
        }
        let query = String::from_utf8_lossy(&mutate(redirect().as_bytes(), &ops)).into_owned();
        let get = InboundRequest { method: "GET".into(), query: query.clone(), ..Default::default() };
        if let Ok(info) = connector().verify_return(&get) {
            prop_assert_eq!(info.reference, "FG0123456789", "{}", query);
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
    assert_eq!((n.reference.as_str(), n.amount), ("2553_1598435687208", 10_000));
    let get = InboundRequest { method: "GET".into(), query: redirect(), ..Default::default() };
    assert_eq!(connector().verify_return(&get).unwrap().reference, "FG0123456789");
    let lines = connector().parse_settlement(&valid_settlement()).unwrap();
    assert_eq!(lines.iter().map(|l| l.reference.as_str()).collect::<Vec<_>>(), ["FG0123456789", "FGR123456789"]);
}

#[test]
fn the_callback_corpus_verifies_only_its_ok_seeds() {
    for (name, body) in corpus("zalopay-callback") {
        let r = connector().verify_callback(&post(&body));
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
    }
}

#[test]
fn settlement_corpora_parse_only_their_ok_seeds() {
    for (name, bytes) in corpus("zalopay-settlement") {
        let r = connector().parse_settlement(&bytes);
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
    }
    // The shared files carry no ZaloPay prefixes: refused, never a panic.
    for (name, bytes) in corpus("settlement") {
        let r = connector().parse_settlement(&bytes);
        assert!(r.is_err() || name.contains("header-only"), "{name}: {r:?}");
    }
}
