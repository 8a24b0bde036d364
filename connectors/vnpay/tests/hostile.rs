//! Hostile input for the VNPay connector: random query strings and form bodies, and signed
//! IPNs mutated field by field (dropped, given twice, a character changed, huge, negative,
//! fractional, non-ASCII values) and re-signed or not. Every input gives a value or an
//! error, never a panic; a message verifies only as exactly what was signed. Seeds and past
//! finds live in `tests/corpus/vnpay-*` at the workspace root.

use feegate_connector::{settlement, Connector, ConnectorConfig, InboundRequest, Notification, SettlementKind};
use feegate_testkit::hostile::{apply_edits, byte_op, corpus, edit_with, mutate, Edit};
use feegate_vnpay::sign;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const SECRET: &str = "VNPAYTESTSECRET0123456789ABCDEFG";

fn connector() -> &'static dyn Connector {
    static C: OnceLock<Box<dyn Connector>> = OnceLock::new();
    C.get_or_init(|| {
        let cfg = ConnectorConfig::new("vnpay-main", "VNPay")
            .with_setting("base_url", "http://127.0.0.1:9/sim/vnpay")
            .with_setting("tmn_code", "FEEGATE1")
            .with_secret("hash_secret", SECRET);
        feegate_vnpay::factory(cfg, reqwest::Client::new()).expect("config is complete")
    })
    .as_ref()
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

fn get(query: &str) -> InboundRequest {
    InboundRequest { method: "GET".into(), query: query.to_owned(), ..Default::default() }
}

fn original() -> Notification {
    connector().verify_callback(&get(&sign::signed_query(SECRET.as_bytes(), &ipn_fields()))).unwrap().into_inner()
}

fn hostile_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "0",
            "-13500000",
            "13500050",
            "1.35e7",
            "135000.00",
            "１３５０００００",
            "99999999999999999999999",
            "9223372036854775807",
            "+13500000",
            " 13500000",
            "00",
            "24",
            "FG0123456788",
            "FG0123456789\u{0}",
            "OTHERTMN",
            "20261399250000",
            "Lệ phí cấp đổi",
            "a&vnp_Amount=1",
            "%FF%FE",
            "=",
            "&&",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,40}",
        ".{0,12}",
        (1usize..3000).prop_map(|n| "9".repeat(n)),
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

/// One change to the IPN's fields: new keys `vnp_…`, values from [`hostile_text`].
fn edit() -> impl Strategy<Value = Edit<String>> {
    edit_with("vnp_[A-Za-z]{1,12}", hostile_text())
}

/// The edited fields, and the pairs appended after the signature.
fn apply(edits: &[Edit<String>]) -> (BTreeMap<String, String>, Vec<(String, String)>) {
    let mut m = ipn_fields();
    let extra = apply_edits(&mut m, edits);
    (m, extra)
}

/// The `vnp_` pairs of a query as VNPay's verifier reads them, without the hash fields.
fn received_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(k, _)| k.starts_with("vnp_") && k != "vnp_SecureHash" && k != "vnp_SecureHashType")
        .collect()
}

/// What a set of fields means to VNPay: the hash fields aside, empty values dropped (§1.3).
fn meaning(fields: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter(|(k, v)| !v.is_empty() && *k != "vnp_SecureHash" && *k != "vnp_SecureHashType")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[derive(Debug, Clone)]
enum Signing {
    Resigned,
    Original,
    WrongKey,
    Garbage(String),
    Missing,
}

fn signing() -> impl Strategy<Value = Signing> {
    prop_oneof![
        Just(Signing::Resigned),
        Just(Signing::Original),
        Just(Signing::WrongKey),
        "[0-9a-fA-F%]{0,140}".prop_map(Signing::Garbage),
        Just(Signing::Missing),
    ]
}

/// The IPN with `edits` applied, signed `how`: it verifies only as what was signed.
fn verifies_only_as_signed(edits: &[Edit<String>], how: &Signing) -> Result<(), TestCaseError> {
    let (fields, extra) = apply(edits);
    let data = sign::hash_data(&fields);
    let (hash, right) = match how {
        Signing::Resigned => (Some(sign::hmac(SECRET.as_bytes(), &data)), true),
        Signing::Original => (Some(sign::hmac(SECRET.as_bytes(), &sign::hash_data(&ipn_fields()))), false),
        Signing::WrongKey => (Some(sign::hmac(b"not-the-secret", &data)), false),
        Signing::Garbage(g) => (Some(g.clone()), false),
        Signing::Missing => (None, false),
    };
    let mut query = data;
    if let Some(h) = hash {
        query = format!("{query}&vnp_SecureHash={h}");
    }
    for (k, v) in &extra {
        query = format!("{query}&{}={}", sign::encode(k), sign::encode(v));
    }
    match connector().verify_callback(&get(&query)) {
        Ok(v) if right => {
            let n = v.into_inner();
            // What the query says: its `vnp_` pairs, the hash aside. A pair may come after
            // the hash (VNPay reads a map, not a sequence) but no key twice, and it must
            // say what was signed, an empty value meaning the same as none (§1.3).
            let pairs = received_pairs(&query);
            let received: BTreeMap<String, String> = pairs.iter().cloned().collect();
            prop_assert_eq!(received.len(), pairs.len(), "a field given twice verified: {}", query);
            prop_assert_eq!(meaning(&received), meaning(&fields), "verified as other than signed: {}", query);
            prop_assert_eq!(Some(&n.reference), fields.get("vnp_TxnRef"));
            let hundredths: Option<i64> = fields.get("vnp_Amount").and_then(|a| a.parse().ok());
            prop_assert_eq!(Some(n.amount * 100), hundredths);
        }
        // Without the key only the very message that was signed gets through.
        Ok(v) => prop_assert_eq!(v.into_inner(), original(), "{}", query),
        Err(_) => {}
    }
    Ok(())
}

fn valid_settlement() -> Vec<u8> {
    let t = time::macros::datetime!(2026-11-27 03:00:00 UTC);
    settlement::write_csv(&[
        ("FG0123456789".into(), "14226112".into(), SettlementKind::Pay, 135_000, 0, "00".into(), t),
        ("FG0123456788".into(), "14226113".into(), SettlementKind::Pay, 50_000, 1_100, "02".into(), t),
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
    fn random_queries_and_bodies_never_verify_and_never_panic(
        query in ".{0,300}",
        pairs in prop::collection::vec(("vnp_[A-Za-z]{1,16}", hostile_text()), 0..14),
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let c = connector();
        let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        for q in [query, encoded.clone(), format!("{encoded}&vnp_SecureHash=00")] {
            prop_assert!(c.verify_callback(&get(&q)).is_err());
            prop_assert!(c.verify_return(&get(&q)).is_err());
        }
        let post = InboundRequest { method: "POST".into(), body, ..Default::default() };
        prop_assert!(c.verify_callback(&post).is_err());
    }

    #[test]
    fn a_mutated_ipn_verifies_only_as_what_was_signed(edits in prop::collection::vec(edit(), 0..4), how in signing()) {
        verifies_only_as_signed(&edits, &how)?;
    }

    #[test]
    fn a_byte_flipped_ipn_never_verifies_as_another_payment(ops in prop::collection::vec(byte_op(), 1..4)) {
        let signed = sign::signed_query(SECRET.as_bytes(), &ipn_fields());
        let query = String::from_utf8_lossy(&mutate(signed.as_bytes(), &ops)).into_owned();
        if let Ok(v) = connector().verify_callback(&get(&query)) {
            prop_assert_eq!(v.into_inner(), original(), "{}", query);
        }
        if let Ok(info) = connector().verify_return(&get(&query)) {
            prop_assert_eq!(info.reference, "FG0123456789");
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
    assert_eq!((n.reference.as_str(), n.amount), ("FG0123456789", 135_000));
    assert_eq!(connector().parse_settlement(&valid_settlement()).unwrap().len(), 2);
}

#[test]
fn the_ipn_corpus_verifies_only_its_ok_seeds() {
    for (name, bytes) in corpus("vnpay-ipn") {
        let query = String::from_utf8_lossy(&bytes).trim_end().to_owned();
        let r = connector().verify_callback(&get(&query));
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
        let form = InboundRequest { method: "POST".into(), body: bytes.clone(), ..Default::default() };
        assert_eq!(connector().verify_callback(&form).is_ok(), name.starts_with("ok"), "{name} as a form");
    }
}

#[test]
fn the_settlement_corpus_parses_only_its_ok_seeds() {
    for (name, bytes) in corpus("settlement") {
        let r = connector().parse_settlement(&bytes);
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
    }
}

/// Found by `a_mutated_ipn_verifies_only_as_what_was_signed` with a random seed: `vnp_OrderInfo`
/// set to "" (so left out of the hash data, §1.3) and then given after `vnp_SecureHash`. The
/// query names the field once, empty, which means exactly what was signed: the verifier was
/// right to accept it; the property's old "any field after the hash is a second copy"
/// expectation was wrong.
#[test]
fn an_ipn_whose_empty_order_info_comes_after_the_signature_verifies_as_what_was_signed() {
    let edits = [Edit::Set(4, String::new()), Edit::Dup(4, String::new())];
    assert_eq!(apply(&edits).1, vec![("vnp_OrderInfo".to_owned(), String::new())]);
    verifies_only_as_signed(&edits, &Signing::Resigned).unwrap();
    let mut fields = ipn_fields();
    fields.remove("vnp_OrderInfo");
    let query = format!("{}&vnp_OrderInfo=", sign::signed_query(SECRET.as_bytes(), &fields));
    let n = connector().verify_callback(&get(&query)).expect("an empty field after the hash is no change");
    assert_eq!(n.into_inner(), original());
    // A non-empty one after the hash is a change, and a second copy is ambiguous.
    assert!(connector().verify_callback(&get(&format!("{query}x"))).is_err());
    assert!(connector().verify_callback(&get(&format!("{query}&vnp_OrderInfo="))).is_err());
}
