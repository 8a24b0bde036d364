//! The simulated bank app and bank API behave like the wire documented in
//! `docs/connectors/vietqr.md`: bad QRs refused, unsigned lookups refused, cancel sends nothing.

use feegate_connector::{Action, ConnectorConfig, Outcome};
use feegate_testkit::conformance::{Harness, Kit};
use feegate_vietqr::wire::{lookup_query, sign, Credit, SIGNATURE_HEADER};

const SECRET: &str = "bank-notify-secret";

fn config(sim_base: &str) -> ConnectorConfig {
    ConnectorConfig::new("vietqr", "VietQR").with_setting("base_url", sim_base).with_secret("notify_secret", SECRET)
}

async fn kit() -> Kit {
    Kit::start(&Harness {
        kind: "vietqr",
        connector: Box::new(|sim_base, _cb, http| feegate_vietqr::factory(config(sim_base), http).expect("config")),
        simulator: Box::new(|sim_base, cb| feegate_vietqr::sim::router(&config(sim_base), cb)),
    })
    .await
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn the_bank_app_refuses_a_qr_that_does_not_decode() {
    let kit = kit().await;
    let http = reqwest::Client::new();
    let (_, action) = kit.start_attempt(135_000).await;
    let Action::Qr { payload, .. } = action else { panic!("a QR") };
    let page = http.get(format!("{}/app?payload={}", kit.sim_base, enc(&payload))).send().await.expect("app");
    let html = page.text().await.expect("html");
    assert!(html.contains("Transfer / Chuyển tiền") && html.contains("Cancel / Hủy"), "{html}");
    let broken = payload.replacen("135000", "135001", 1);
    let r = http.get(format!("{}/app?payload={}", kit.sim_base, enc(&broken))).send().await.expect("app");
    assert_eq!(r.status().as_u16(), 400);
    let r = http.get(format!("{}/app?payload=hello", kit.sim_base)).send().await.expect("app");
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn a_cancelled_transfer_sends_nothing_and_stays_pending() {
    let kit = kit().await;
    let (reference, action) = kit.start_attempt(135_000).await;
    let Action::Qr { payload, .. } = action else { panic!("a QR") };
    let r = reqwest::Client::new()
        .post(format!("{}/app?payload={}", kit.sim_base, enc(&payload)))
        .form(&[("outcome", "failure")])
        .send()
        .await
        .expect("cancel");
    assert_eq!(r.status().as_u16(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(kit.seen_for(&reference).is_empty() && kit.unverified().is_empty());
    let q = kit.connector.query(&kit.query_request(&reference, 135_000)).await.expect("query");
    assert_eq!(q.outcome, Outcome::Pending);
}

#[tokio::test]
async fn the_credits_lookup_checks_the_request_signature_and_signs_its_answer() {
    let kit = kit().await;
    let (reference, _) = kit.start_attempt(135_000).await;
    kit.pay(&reference, true).await;
    let http = reqwest::Client::new();
    let q = lookup_query(&reference);
    let url = format!("{}/api/credits?{q}", kit.sim_base);
    let unsigned = http.get(&url).send().await.expect("lookup");
    assert_eq!(unsigned.status().as_u16(), 401);
    let forged = http.get(&url).header(SIGNATURE_HEADER, sign(b"wrong", q.as_bytes())).send().await.expect("lookup");
    assert_eq!(forged.status().as_u16(), 401);
    let ok = http.get(&url).header(SIGNATURE_HEADER, sign(SECRET.as_bytes(), q.as_bytes())).send().await.expect("ok");
    let sig = ok.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = ok.bytes().await.expect("body");
    assert_eq!(sign(SECRET.as_bytes(), &body), sig);
    let credits: Vec<Credit> = serde_json::from_slice(&body).expect("credits");
    assert_eq!(credits.len(), 1);
    assert!(credits[0].content.contains(&reference) && credits[0].content != reference, "{:?}", credits[0]);
    assert_eq!((credits[0].amount, credits[0].bank_bin.as_str()), (135_000, "970415"));
}

/// A one-route bank that answers every lookup with `body`, signed with `key`.
async fn fake_bank(body: &'static str, key: &'static [u8]) -> String {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/api/credits", get(move || async move { ([(SIGNATURE_HEADER, sign(key, body.as_bytes()))], body) }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

async fn query_fake(body: &'static str, key: &'static [u8]) -> Result<feegate_connector::QueryResult, String> {
    let base = fake_bank(body, key).await;
    let c = feegate_vietqr::factory(config(&base), reqwest::Client::new()).expect("config");
    let req = feegate_connector::QueryRequest {
        reference: "FG0123456789".into(),
        gateway_txn: None,
        amount: 135_000,
        created_at: time::OffsetDateTime::now_utc(),
    };
    c.query(&req).await.map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn a_lookup_answer_with_a_bad_signature_or_shape_is_a_bad_response() {
    let unsigned = query_fake("[]", b"not-the-secret").await;
    assert!(matches!(unsigned, Err(ref e) if e.starts_with("BadResponse")), "{unsigned:?}");
    let garbage = query_fake(r#"{"credits":1}"#, SECRET.as_bytes()).await;
    assert!(matches!(garbage, Err(ref e) if e.starts_with("BadResponse")), "{garbage:?}");
}

#[tokio::test]
async fn only_a_credit_carrying_our_reference_counts_and_the_matching_amount_is_preferred() {
    let other = r#"[{"notification_id":"N1","account_number":"1","bank_bin":"970415","amount":135000,"content":"FG0123456788","bank_txn_id":"FT1","credited_at":""}]"#;
    assert_eq!(query_fake(other, SECRET.as_bytes()).await.map(|q| q.outcome), Ok(Outcome::Pending));
    let two = r#"[{"notification_id":"N1","account_number":"1","bank_bin":"970415","amount":5000,"content":"x fg0123456789 y","bank_txn_id":"FT1","credited_at":""},
                 {"notification_id":"N2","account_number":"1","bank_bin":"970415","amount":135000,"content":"FG0123456789","bank_txn_id":"FT2","credited_at":""}]"#;
    let q = query_fake(two, SECRET.as_bytes()).await.expect("query");
    assert_eq!((q.outcome, q.gateway_txn.as_deref(), q.amount), (Outcome::Succeeded, Some("FT2"), Some(135_000)));
}
