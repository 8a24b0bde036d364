//! Hostile input over HTTP: `POST /v1/payments` with arbitrary JSON-ish bodies (random
//! values at each field of a valid body, wrong types, huge numbers, nested junk, invalid
//! UTF-8, random content types) and `/callbacks/{connector}` for every connector with random
//! and mutated bodies, query strings, headers and methods. Neither ever answers 5xx; a
//! refused create has the stable error body and creates nothing; a refused callback gets
//! the gateway's own error reply and leaves its payment as it was. One server per
//! property, many cases against it (proptest's runner driven by hand around a runtime).
//! Inputs that once found a bug are replayed from `tests/corpus/http-*`.

mod common;
use common::*;
use feegate_connector::crypto::hmac_sha256_hex;
use feegate_connector::{Disposition, InboundRequest};
use feegate_testkit::hostile::{corpus_files, mutate, nth_key, with_duplicates, ByteOp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use std::cell::Cell;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// The shared hostile-test configuration (`feegate_testkit::hostile::config`: seed printed,
/// committed regressions replayed, new failures never written into the tree).
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        max_shrink_iters: 200,
        source_file: Some(file!()),
        ..feegate_testkit::hostile::config(cases)
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
            "135000.00",
            "1e5",
            "１３５０００",
            "99999999999999999999999",
            "0x1F",
            " 135000 ",
            "NaN",
            "\u{0}",
            "a\u{0}b",
            "Lệ phí cấp đổi",
            "fee",
            "charge",
            "FEE",
            "H12.20",
            "H99.99",
            "https://portal.example.vn/r",
            "javascript:alert(1)",
            "-",
            "--1",
            "1-",
            ".",
            "1.",
            "0.0000000000000000000000000000001",
        ])
        .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        (1usize..5000).prop_map(|n| Value::from("9".repeat(n))),
        (1usize..300).prop_map(|n| Value::from("ệ".repeat(n))),
        Just(json!([1, "2", null, {"a": []}])),
        Just(json!({"a": {"b": [{"c": null}]}})),
        (1usize..120).prop_map(|n| serde_json::from_str(&format!("{}{}", "[".repeat(n), "]".repeat(n))).unwrap()),
    ]
}

/// Where in the create body a change lands.
#[derive(Debug, Clone)]
enum Spot {
    Top(usize),
    Line(usize),
    Payer(usize),
}

#[derive(Debug, Clone)]
enum Edit {
    Set(Spot, Value),
    Drop(Spot),
    Add(String, Value),
    /// The key written a second time, first, in the text.
    Dup(usize, Value),
    ManyLines(usize),
}

fn spot() -> impl Strategy<Value = Spot> {
    prop_oneof![
        any::<usize>().prop_map(Spot::Top),
        any::<usize>().prop_map(Spot::Line),
        any::<usize>().prop_map(Spot::Payer)
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (spot(), hostile_value()).prop_map(|(s, v)| Edit::Set(s, v)),
        2 => spot().prop_map(Edit::Drop),
        1 => ("[a-z_]{1,12}", hostile_value()).prop_map(|(k, v)| Edit::Add(k, v)),
        1 => (any::<usize>(), hostile_value()).prop_map(|(i, v)| Edit::Dup(i, v)),
        1 => (0usize..200).prop_map(Edit::ManyLines),
    ]
}

fn object_at<'a>(body: &'a mut Map<String, Value>, spot: &Spot) -> Option<(&'a mut Map<String, Value>, usize)> {
    match spot {
        Spot::Top(i) => Some((body, *i)),
        Spot::Line(i) => body.get_mut("lines")?.get_mut(0)?.as_object_mut().map(|o| (o, *i)),
        Spot::Payer(i) => body.get_mut("payer")?.as_object_mut().map(|o| (o, *i)),
    }
}

/// A create body after `edits`, as text.
fn create_body(edits: &[Edit]) -> Vec<u8> {
    let mut body = payment_body().as_object().unwrap().clone();
    let mut dups = String::new();
    for e in edits {
        match e {
            Edit::Set(s, v) => {
                if let Some((o, i)) = object_at(&mut body, s) {
                    if let Some(k) = nth_key(o, i) {
                        o.insert(k, v.clone());
                    }
                }
            }
            Edit::Drop(s) => {
                if let Some((o, i)) = object_at(&mut body, s) {
                    if let Some(k) = nth_key(o, i) {
                        o.remove(&k);
                    }
                }
            }
            Edit::Add(k, v) => {
                body.insert(k.clone(), v.clone());
            }
            Edit::Dup(i, v) => {
                if let Some(k) = nth_key(&body, *i) {
                    dups.push_str(&format!("{}:{v},", Value::from(k)));
                }
            }
            Edit::ManyLines(n) => {
                let line = json!({"kind": "fee", "code": "P", "description": "d", "amount": "999999999999"});
                body.insert("lines".into(), Value::Array(vec![line; *n]));
            }
        }
    }
    with_duplicates(body, &dups)
}

#[derive(Debug, Clone)]
enum CreateInput {
    Edited(Vec<Edit>),
    Bytes(Vec<u8>),
    Truncated(usize),
}

fn create_input() -> impl Strategy<Value = (CreateInput, Option<String>, Option<String>)> {
    let input = prop_oneof![
        6 => prop::collection::vec(edit(), 1..4).prop_map(CreateInput::Edited),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(CreateInput::Bytes),
        1 => any::<usize>().prop_map(CreateInput::Truncated),
    ];
    let content_type = prop::option::weighted(
        0.3,
        prop_oneof![
            Just("text/plain".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            Just("multipart/form-data; boundary=x".to_owned()),
            Just("application/json; charset=latin1".to_owned()),
            "[ -~]{0,40}",
        ],
    );
    let idempotency = prop::option::weighted(0.2, "[ -~]{0,300}");
    (input, content_type, idempotency)
}

/// The stable error body of DESIGN §6.
fn check_error_body(status: u16, text: &str) -> Result<(), TestCaseError> {
    let v: Value = serde_json::from_str(text).map_err(|e| TestCaseError::fail(format!("{status} {text:?}: {e}")))?;
    let code = v["error"]["code"].as_str().unwrap_or_default();
    prop_assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "{status} error code in {text}"
    );
    prop_assert!(v["error"]["message"].is_string(), "{status} message in {text}");
    prop_assert!(v["error"]["field"].is_null() || v["error"]["field"].is_string(), "{status} field in {text}");
    Ok(())
}

#[test]
fn hostile_create_bodies_never_answer_5xx_and_refused_ones_create_nothing() {
    let rt = runtime();
    // Rate limits would answer most cases 429 and hide the parser; tests/limits.rs covers them.
    let app = rt.block_on(TestApp::spawn_with(&[("FEEGATE_RATE_LIMITS_ENABLED", "false")]));
    let seen: [Cell<u32>; 6] = Default::default();
    let run = |body: Vec<u8>, content_type: Option<String>, key: Option<String>| -> Result<(), TestCaseError> {
        rt.block_on(async {
            let before = app.count("payments").await;
            let mut req = app.post("/v1/payments", &app.portal_key).body(body.clone());
            req = req.header("content-type", content_type.as_deref().unwrap_or("application/json"));
            if let Some(k) = &key {
                req = req.header("idempotency-key", k.as_str());
            }
            let Ok(r) = req.send().await else { return Ok(()) };
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            let after = app.count("payments").await;
            let class = &seen[(status / 100) as usize];
            class.set(class.get() + 1);
            prop_assert!(status < 500, "{status} {text} for {}", String::from_utf8_lossy(&body));
            if status == 201 {
                let v: Value = serde_json::from_str(&text).unwrap();
                prop_assert!(v["id"].as_str().is_some_and(|id| id.starts_with("pay_")), "{text}");
                prop_assert!(v["amount"].as_str().is_some_and(|a| a.bytes().all(|b| b.is_ascii_digit())), "{text}");
                prop_assert_eq!(after, before + 1);
            } else {
                prop_assert!((400..500).contains(&status), "{status} {text}");
                check_error_body(status, &text)?;
                prop_assert_eq!(after, before, "a refused create wrote a payment: {}", text);
            }
            Ok(())
        })
    };
    for (name, body) in corpus_files("http-create") {
        run(body, None, None).unwrap_or_else(|e| panic!("corpus {name}: {e}"));
    }
    let valid = serde_json::to_vec(&payment_body()).unwrap();
    let result = runner(320).run(&create_input(), |(input, content_type, key)| {
        let body = match input {
            CreateInput::Edited(edits) => create_body(&edits),
            CreateInput::Bytes(b) => b,
            CreateInput::Truncated(n) => valid[..n % valid.len()].to_vec(),
        };
        run(body, content_type, key)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The strategy reaches the parser's refusals, not only the content-type gate.
    let seen = seen.map(|c| c.get());
    assert!(seen[4] > 100, "answers by class: {seen:?}");
    rt.block_on(app.stop());
}

/// One gateway message as sent over HTTP.
#[derive(Debug, Clone)]
struct Message {
    method: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A valid, signed callback for `reference` with the demo credentials of `config/default.toml`.
fn valid_callback(connector: &str, reference: &str, amount: i64) -> Message {
    let post = |body: Vec<u8>, headers: Vec<(String, String)>| Message {
        method: "POST".into(),
        query: String::new(),
        headers: [vec![("content-type".to_owned(), "application/json".to_owned())], headers].concat(),
        body,
    };
    match connector {
        "sandbox" => {
            let body = serde_json::to_vec(&json!({"reference": reference, "transaction_id": "SBX0001",
                "amount": amount, "currency": "VND", "status": "succeeded", "paid_at": "2026-11-27T10:00:00Z"}))
            .unwrap();
            let sig = hmac_sha256_hex(b"sandbox-demo-secret", &body);
            post(body, vec![("x-sandbox-signature".into(), sig)])
        }
        "vnpay" => {
            let fields = [
                ("vnp_Amount", (amount * 100).to_string()),
                ("vnp_BankCode", "NCB".into()),
                ("vnp_OrderInfo", "Le phi".into()),
                ("vnp_PayDate", "20261127100112".into()),
                ("vnp_ResponseCode", "00".into()),
                ("vnp_TmnCode", "FEEGATE1".into()),
                ("vnp_TransactionNo", "14226112".into()),
                ("vnp_TransactionStatus", "00".into()),
                ("vnp_TxnRef", reference.into()),
            ];
            let fields = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let query = feegate_vnpay::sign::signed_query(b"VNPAYTESTSECRET0123456789ABCDEFG", &fields);
            Message { method: "GET".into(), query, headers: Vec::new(), body: Vec::new() }
        }
        "momo" => {
            let fields = feegate_momo::sign::ResultSigned {
                amount: amount.to_string(),
                extra_data: String::new(),
                message: "Successful.".into(),
                order_id: reference.into(),
                order_info: "Le phi".into(),
                order_type: "momo_wallet".into(),
                partner_code: "MOMO".into(),
                pay_type: "qr".into(),
                request_id: reference.into(),
                response_time: "1712345700000".into(),
                result_code: "0".into(),
                trans_id: "4088878653".into(),
            };
            let signed = feegate_momo::notify::SignedResult::signed(
                fields,
                "F8BBA842ECF85",
                b"K951B6PE1waDMi640xX08PD3vg6EkVlz",
            );
            post(signed.to_json(), Vec::new())
        }
        "zalopay" => {
            let data =
                json!({"app_id": 2553, "app_trans_id": format!("261127_{reference}"), "app_time": 1_764_212_400_000i64,
                "amount": amount, "zp_trans_id": 261_127_000_000_389i64, "server_time": 1_764_212_460_000i64})
                .to_string();
            let mac = hmac_sha256_hex(b"kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz", data.as_bytes());
            post(json!({"data": data, "mac": mac, "type": 1}).to_string().into_bytes(), Vec::new())
        }
        "vietqr" => {
            let body = serde_json::to_vec(&json!({"notification_id": "N1", "account_number": "113366668888",
                "bank_bin": "970415", "amount": amount, "content": format!("MBVCB.3278614911.{reference}.CT tu A"),
                "bank_txn_id": "FT25331000001", "credited_at": "2026-11-27T10:00:00+07:00"}))
            .unwrap();
            let sig = hmac_sha256_hex(b"vietqr-demo-notify-secret", &body);
            post(body, vec![("x-bank-signature".into(), sig)])
        }
        other => panic!("no valid callback for {other}"),
    }
}

/// One byte-level change, never a repeat.
fn byte_op() -> impl Strategy<Value = ByteOp> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteOp::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteOp::Insert(i, b)),
        any::<usize>().prop_map(ByteOp::Delete),
        any::<usize>().prop_map(ByteOp::Truncate),
    ]
}

/// One change to a gateway message.
#[derive(Debug, Clone)]
enum Change {
    Body(ByteOp),
    Query(ByteOp),
    /// A JSON field of the body (or of ZaloPay's `data`) set to a hostile value, or dropped.
    Field(usize, Option<Value>),
    /// A query parameter's value replaced.
    Param(usize, String),
    RandomBody(Vec<u8>),
    RandomQuery(String),
    DropHeaders,
    Header(String, String),
    Method(String),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => byte_op().prop_map(Change::Body),
        2 => byte_op().prop_map(Change::Query),
        4 => (any::<usize>(), prop::option::weighted(0.8, hostile_value())).prop_map(|(i, v)| Change::Field(i, v)),
        3 => (any::<usize>(), prop_oneof!["\\PC{0,30}", "[0-9-.]{0,30}"]).prop_map(|(i, v)| Change::Param(i, v)),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Change::RandomBody),
        1 => "[ -~]{0,200}".prop_map(Change::RandomQuery),
        1 => Just(Change::DropHeaders),
        1 => (prop::sample::select(vec!["content-type", "x-sandbox-signature", "x-bank-signature"]), "[ -~]{0,80}")
            .prop_map(|(k, v)| Change::Header(k.to_owned(), v)),
        1 => prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE"]).prop_map(|m| Change::Method(m.to_owned())),
    ]
}

fn set_field(m: &mut Map<String, Value>, i: usize, v: &Option<Value>) {
    if let Some(k) = nth_key(m, i) {
        match v {
            Some(v) => m.insert(k, v.clone()),
            None => m.remove(&k),
        };
    }
}

fn apply(msg: &Message, changes: &[Change]) -> Message {
    let mut m = msg.clone();
    for c in changes {
        match c {
            Change::Body(op) => m.body = mutate(&m.body, std::slice::from_ref(op)),
            Change::Query(op) => {
                m.query = String::from_utf8_lossy(&mutate(m.query.as_bytes(), std::slice::from_ref(op))).into_owned()
            }
            Change::Field(i, v) => {
                if let Ok(Value::Object(mut o)) = serde_json::from_slice::<Value>(&m.body) {
                    // ZaloPay's signed content is the JSON text inside `data`.
                    let inner =
                        o.get("data").and_then(Value::as_str).and_then(|d| serde_json::from_str::<Value>(d).ok());
                    match inner {
                        Some(Value::Object(mut d)) if i % 2 == 0 => {
                            set_field(&mut d, i / 2, v);
                            o.insert("data".into(), Value::from(Value::Object(d).to_string()));
                        }
                        _ => set_field(&mut o, *i, v),
                    }
                    m.body = Value::Object(o).to_string().into_bytes();
                }
            }
            Change::Param(i, v) => {
                let mut pairs: Vec<(String, String)> =
                    url::form_urlencoded::parse(m.query.as_bytes()).into_owned().collect();
                if !pairs.is_empty() {
                    let n = pairs.len();
                    pairs[i % n].1 = v.clone();
                    m.query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
                }
            }
            Change::RandomBody(b) => m.body = b.clone(),
            Change::RandomQuery(q) => m.query = q.clone(),
            Change::DropHeaders => m.headers.clear(),
            Change::Header(k, v) => {
                m.headers.retain(|(n, _)| n != k);
                m.headers.push((k.clone(), v.clone()));
            }
            Change::Method(x) => m.method = x.clone(),
        }
    }
    m
}

/// What feegate's callback endpoint hands the connector for `url` and `msg`.
fn inbound(url: &reqwest::Url, msg: &Message) -> InboundRequest {
    InboundRequest {
        method: msg.method.clone(),
        query: url.query().unwrap_or_default().to_owned(),
        headers: msg.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect(),
        body: msg.body.clone(),
    }
}

const CONNECTORS: [&str; 5] = ["sandbox", "vnpay", "momo", "zalopay", "vietqr"];

/// A payment with a started attempt at `connector`: (payment id, reference, amount).
async fn pending_at(app: &TestApp, connector: &str) -> (String, String, i64) {
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": connector}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{connector}: {}", r.text().await.unwrap_or_default());
    let p = app.payment(&id).await;
    (id, p["attempts"][0]["reference"].as_str().unwrap().to_owned(), p["amount"].as_str().unwrap().parse().unwrap())
}

/// The payment's status, its attempts' statuses and its number of events.
async fn snapshot(app: &TestApp, id: &str) -> (Value, Vec<Value>, usize) {
    let p = app.payment(id).await;
    let attempts =
        p["attempts"].as_array().unwrap_or_else(|| panic!("{p}")).iter().map(|a| a["status"].clone()).collect();
    let events: Value =
        app.get(&format!("/v1/payments/{id}/events"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    (p["status"].clone(), attempts, events.as_array().map(Vec::len).unwrap_or_default())
}

#[test]
fn hostile_callbacks_never_answer_5xx_and_change_no_payment() {
    let rt = runtime();
    // The resolver stays away, so that every change to a payment would be the callbacks',
    // and rate limits stay off, so that every case reaches the connector (tests/limits.rs covers them).
    let app = rt.block_on(TestApp::spawn_with(&[
        ("FEEGATE_RESOLVER_DELAY_MS", "3600000"),
        ("FEEGATE_RATE_LIMITS_ENABLED", "false"),
    ]));
    let targets: Vec<(&str, String, Message)> = rt.block_on(async {
        let mut out = Vec::new();
        for c in CONNECTORS {
            let (id, reference, amount) = pending_at(&app, c).await;
            out.push((c, id, valid_callback(c, &reference, amount)));
        }
        out
    });
    let before: Vec<_> = rt.block_on(async {
        let mut s = Vec::new();
        for (_, id, _) in &targets {
            s.push(snapshot(&app, id).await);
        }
        s
    });
    let (sent, skipped, limited) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0u32));
    let run = |t: usize, msg: Message| -> Result<(), TestCaseError> {
        let (connector_id, payment_id, _) = &targets[t];
        let connector = &app.state.connectors.get(connector_id).expect("connector").connector;
        let Ok(url) = reqwest::Url::parse(&format!("{}/callbacks/{connector_id}?{}", app.url, msg.query)) else {
            return Ok(());
        };
        if connector.verify_callback(&inbound(&url, &msg)).is_ok() {
            // Still a valid message (a no-op change): sending it would pay the payment.
            skipped.set(skipped.get() + 1);
            return Ok(());
        }
        let Ok(method) = reqwest::Method::from_bytes(msg.method.as_bytes()) else { return Ok(()) };
        rt.block_on(async {
            let mut req = app.client.request(method, url).body(msg.body.clone());
            for (k, v) in &msg.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let Ok(r) = req.send().await else { return Ok(()) };
            let status = r.status().as_u16();
            let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body = r.bytes().await.unwrap_or_default().to_vec();
            sent.set(sent.get() + 1);
            prop_assert!(status < 500, "{connector_id} answered {status} to {msg:?}");
            if status == 429 {
                limited.set(limited.get() + 1);
            } else {
                // The gateway's own refusal: its status and body, and its content type when it has one.
                let expected = [Disposition::BadSignature, Disposition::Malformed].map(|d| connector.callback_reply(d));
                prop_assert!(
                    expected.iter().any(|e| e.status == status
                        && e.body == body
                        && e.content_type.is_none_or(|ct| Some(ct) == content_type.as_deref())),
                    "{connector_id} replied {status} {:?} to {msg:?}",
                    String::from_utf8_lossy(&body)
                );
            }
            prop_assert_eq!(&snapshot(&app, payment_id).await, &before[t], "{} changed after {:?}", payment_id, msg);
            Ok(())
        })
    };
    for (name, bytes) in corpus_files("http-callback") {
        let (c, _) = name.split_once('-').expect("corpus files are named {connector}-...");
        let t = CONNECTORS.iter().position(|x| *x == c).expect("a connector");
        let msg = Message { method: "POST".into(), query: String::new(), headers: Vec::new(), body: bytes };
        run(t, msg).unwrap_or_else(|e| panic!("corpus {name}: {e}"));
    }
    let strategy = (0..CONNECTORS.len(), prop::collection::vec(change(), 1..4));
    let result = runner(320).run(&strategy, |(t, changes)| run(t, apply(&targets[t].2, &changes)));
    if let Err(e) = result {
        panic!("{e}");
    }
    let (sent, skipped, limited) = (sent.get(), skipped.get(), limited.get());
    assert!(sent > 200 && limited < sent / 2, "sent {sent}, skipped {skipped}, rate-limited {limited}");
    rt.block_on(app.stop());
}

#[tokio::test]
async fn a_signed_callback_with_nul_in_its_reference_is_an_unknown_reference_not_a_5xx() {
    // Found by the corpus on PostgreSQL, whose text type refuses NUL: it answered 500.
    let app = TestApp::spawn().await;
    let (id, reference, amount) = pending_at(&app, "sandbox").await;
    let before = snapshot(&app, &id).await;
    let msg = valid_callback("sandbox", &format!("{reference}\u{0}"), amount);
    let mut req = app.client.post(format!("{}/callbacks/sandbox", app.url)).body(msg.body);
    for (k, v) in &msg.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, r#"{"status":"unknown_reference"}"#.to_owned()));
    assert_eq!(snapshot(&app, &id).await, before);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM callbacks WHERE disposition = 'unknown_reference'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1, "the callback is kept for people, NUL and all");
    app.stop().await;
}
