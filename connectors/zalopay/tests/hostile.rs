//! Hostile input for the ZaloPay connector: random bodies and redirect queries, and signed
//! callbacks mutated in their outer body (`data`, `mac`, `type`) and inside `data` (fields
//! dropped, given twice, wrong JSON types, a character changed, huge, negative, fractional,
//! non-ASCII values), re-signed or not. Every input gives a value or an error, never a
//! panic; a message verifies only as exactly what was signed. Seeds and past finds live in
//! `tests/corpus/zalopay-*` at the workspace root.

use feegate_connector::crypto::hmac_sha256_hex;
use feegate_connector::{settlement, Connector, ConnectorConfig, InboundRequest, Notification, SettlementKind};
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

/// The files of `tests/corpus/{target}` at the workspace root, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{} is empty", dir.display());
    out
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

/// Values that break parsers: wrong types, huge and negative numbers, fractions, exponents,
/// non-ASCII digits, control characters, deep nesting, long strings.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1.0e20f64..1.0e20).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "",
            "-135000",
            "135000.5",
            "1e5",
            "１３５０００",
            "99999999999999999999999",
            "0x1F",
            " 135000 ",
            "NaN",
            "\u{0}",
            "FG0123456789\u{0}",
            "Lệ phí cấp đổi",
            "succeeded ",
            "SUCCEEDED",
            "failed",
            "pending",
            "2026-13-45T99:00:00Z",
            "FG0123456788",
        ])
        .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        (1usize..3000).prop_map(|n| Value::from("9".repeat(n))),
        Just(json!([1, "2", null])),
        Just(json!({"a": {"b": [{"c": null}]}})),
    ]
}

/// One change to a JSON object's fields (indices are taken modulo the field count).
#[derive(Debug, Clone)]
enum Edit {
    Drop(usize),
    Set(usize, Value),
    Add(String, Value),
    /// The key appears twice in the text, the extra one first.
    Dup(usize, Value),
    /// One character of a string value replaced.
    Char(usize, usize, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Drop),
        (any::<usize>(), hostile_value()).prop_map(|(i, v)| Edit::Set(i, v)),
        ("[a-z_]{1,12}", hostile_value()).prop_map(|(k, v)| Edit::Add(k, v)),
        (any::<usize>(), hostile_value()).prop_map(|(i, v)| Edit::Dup(i, v)),
        (any::<usize>(), any::<usize>(), any::<char>()).prop_map(|(i, at, c)| Edit::Char(i, at, c)),
    ]
}

/// Applies `edits` to `fields` and writes the JSON text (duplicate keys spliced in as text).
fn render(fields: &Map<String, Value>, edits: &[Edit]) -> Vec<u8> {
    let mut m = fields.clone();
    let mut dups = Vec::new();
    for e in edits {
        let keys: Vec<String> = m.keys().cloned().collect();
        let key = |i: &usize| (!keys.is_empty()).then(|| keys[i % keys.len()].clone());
        match e {
            Edit::Drop(i) => {
                if let Some(k) = key(i) {
                    m.remove(&k);
                }
            }
            Edit::Set(i, v) => {
                if let Some(k) = key(i) {
                    m.insert(k, v.clone());
                }
            }
            Edit::Add(k, v) => {
                m.insert(k.clone(), v.clone());
            }
            Edit::Dup(i, v) => dups.extend(key(i).map(|k| format!("{}:{v},", Value::from(k)))),
            Edit::Char(i, at, c) => {
                if let Some(Value::String(s)) = key(i).and_then(|k| m.get_mut(&k)) {
                    let mut chars: Vec<char> = s.chars().collect();
                    if !chars.is_empty() {
                        let n = chars.len();
                        chars[at % n] = *c;
                        *s = chars.into_iter().collect();
                    }
                }
            }
        }
    }
    let text = Value::Object(m).to_string();
    let extra = dups.concat();
    if text == "{}" {
        format!("{{{}}}", extra.trim_end_matches(',')).into_bytes()
    } else {
        format!("{{{extra}{}", &text[1..]).into_bytes()
    }
}

/// One byte-level change (positions taken modulo the length).
#[derive(Debug, Clone)]
enum ByteOp {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Repeat(usize, usize),
}

fn byte_op() -> impl Strategy<Value = ByteOp> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteOp::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteOp::Insert(i, b)),
        any::<usize>().prop_map(ByteOp::Delete),
        any::<usize>().prop_map(ByteOp::Truncate),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| ByteOp::Repeat(i, n)),
    ]
}

fn mutate(bytes: &[u8], ops: &[ByteOp]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for op in ops {
        let n = b.len().max(1);
        match *op {
            ByteOp::Set(i, x) if !b.is_empty() => b[i % n] = x,
            ByteOp::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            ByteOp::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            ByteOp::Truncate(i) => b.truncate(i % n),
            ByteOp::Repeat(i, len) if !b.is_empty() => {
                let start = i % n;
                let piece: Vec<u8> = b[start..(start + len).min(b.len())].to_vec();
                b.splice(start..start, piece);
            }
            _ => {}
        }
    }
    b
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
    #![proptest_config(ProptestConfig::with_cases(384))]

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
