//! Hostile input for the MoMo connector: random bodies and return queries, and signed IPNs
//! mutated field by field (dropped, given twice, wrong JSON types, a character changed,
//! huge, negative, fractional, non-ASCII values) and re-signed or not. Every input gives a
//! value or an error, never a panic; a message verifies only as exactly what was signed.
//! Seeds and past finds live in `tests/corpus/momo-*` at the workspace root.

use feegate_connector::{settlement, Connector, ConnectorConfig, InboundRequest, Notification, SettlementKind};
use feegate_momo::notify::SignedResult;
use feegate_momo::sign::{self, ResultSigned};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
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
    #![proptest_config(ProptestConfig::with_cases(384))]

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
