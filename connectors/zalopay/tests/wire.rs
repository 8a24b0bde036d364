//! The connector against its simulator over HTTP, for what the conformance story does not
//! cover: refusals, the browser pay page, refunds without a known zp_trans_id, callbacks
//! that go nowhere on failure.

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use feegate_connector::{
    Action, Connector, ConnectorConfig, ConnectorError, InboundRequest, Locale, Outcome, QueryRequest, RefundOutcome,
    RefundRequest, StartRequest,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

const KEY1: &str = "PcY4iZIKFCIdgZvA6ueMcMHHUbRLYjPL";
const KEY2: &str = "kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz";

struct Env {
    base: String,
    sim: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    browser: reqwest::Client,
}

fn config(sim: &str, key1: &str) -> ConnectorConfig {
    ConnectorConfig::new("zalopay", "ZaloPay")
        .with_setting("base_url", sim)
        .with_setting("app_id", "2553")
        .with_secret("key1", key1)
        .with_secret("key2", KEY2)
}

async fn env() -> Env {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sim = format!("{base}/sim/zalopay");
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    let app = Router::new()
        .nest("/sim/zalopay", feegate_zalopay::sim::router(&config(&sim, KEY1), &format!("{base}/callbacks/zalopay")))
        .route(
            "/callbacks/zalopay",
            post(move |body: Bytes| async move {
                seen.lock().unwrap().push(body.to_vec());
                r#"{"return_code":1,"return_message":"success"}"#
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Env { base, sim, bodies, browser }
}

fn connector(env: &Env, key1: &str) -> Box<dyn Connector> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    feegate_zalopay::factory(config(&env.sim, key1), http).unwrap()
}

fn start_request(env: &Env, reference: &str) -> StartRequest {
    let now = OffsetDateTime::now_utc();
    StartRequest {
        reference: reference.into(),
        payment_id: format!("pay_{reference}"),
        amount: 135_000,
        currency: "VND".into(),
        description: "Lệ phí cấp đổi giấy phép lái xe".into(),
        created_at: now,
        expires_at: now + Duration::from_secs(900),
        return_url: format!("{}/return/zalopay", env.base),
        notify_url: format!("{}/callbacks/zalopay", env.base),
        payer_ip: None,
        locale: Locale::Vi,
        beneficiary: None,
    }
}

fn reference() -> String {
    format!("FG{}", OffsetDateTime::now_utc().unix_timestamp_nanos() % 10_000_000_000)
}

/// Starts an order and has the payer answer on the pay page; gives the redirect's query.
async fn pay_in_browser(env: &Env, z: &dyn Connector, reference: &str, outcome: &str) -> String {
    let started = z.start(&start_request(env, reference)).await.expect("start");
    assert!(started.gateway_ref.is_some(), "zp_trans_token is kept");
    let Action::Redirect { url } = started.action else { panic!("ZaloPay redirects") };
    let page = env.browser.get(&url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("Le phi cap doi giay phep lai xe"), "description is ASCII-folded");
    let done = env.browser.post(&url).form(&[("outcome", outcome)]).send().await.unwrap();
    assert_eq!(done.status().as_u16(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/return/zalopay?", env.base)), "{location}");
    location.split_once('?').unwrap().1.to_owned()
}

fn get(query: &str) -> InboundRequest {
    InboundRequest { method: "GET".into(), query: query.into(), ..Default::default() }
}

#[tokio::test]
async fn a_browser_payment_calls_back_signed_and_returns_with_a_checksum() {
    let env = env().await;
    let z = connector(&env, KEY1);
    let r = reference();
    let query = pay_in_browser(&env, z.as_ref(), &r, "success").await;
    let info = z.verify_return(&get(&query)).unwrap();
    assert_eq!((info.reference.as_str(), info.outcome), (r.as_str(), Outcome::Succeeded));
    let bodies = env.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one callback for a success");
    let req = InboundRequest { method: "POST".into(), body: bodies[0].clone(), ..Default::default() };
    let n = z.verify_callback(&req).unwrap().into_inner();
    assert_eq!((n.reference.as_str(), n.amount), (r.as_str(), 135_000));
}

#[tokio::test]
async fn a_declined_payment_sends_no_callback_and_only_the_query_tells() {
    let env = env().await;
    let z = connector(&env, KEY1);
    let r = reference();
    let query = pay_in_browser(&env, z.as_ref(), &r, "failure").await;
    assert!(matches!(z.verify_return(&get(&query)).unwrap().outcome, Outcome::Failed { .. }));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(env.bodies.lock().unwrap().is_empty(), "ZaloPay never calls back for failures");
    let q = QueryRequest { reference: r, gateway_txn: None, amount: 135_000, created_at: OffsetDateTime::now_utc() };
    assert!(matches!(z.query(&q).await.unwrap().outcome, Outcome::Failed { code, .. } if code == "-329"));
}

#[tokio::test]
async fn an_unpaid_order_queries_as_pending_and_an_unknown_one_as_failed() {
    let env = env().await;
    let z = connector(&env, KEY1);
    let r = reference();
    z.start(&start_request(&env, &r)).await.unwrap();
    let q = QueryRequest { reference: r, gateway_txn: None, amount: 135_000, created_at: OffsetDateTime::now_utc() };
    assert_eq!(z.query(&q).await.unwrap().outcome, Outcome::Pending);
    let unknown = QueryRequest { reference: "FGNOSUCH".into(), ..q };
    assert!(matches!(z.query(&unknown).await.unwrap().outcome, Outcome::Failed { code, .. } if code == "-101"));
}

#[tokio::test]
async fn a_wrong_key1_is_refused_and_never_reads_as_an_outcome() {
    let env = env().await;
    let good = connector(&env, KEY1);
    let bad = connector(&env, "not-the-key");
    let r = reference();
    let e = bad.start(&start_request(&env, &r)).await.unwrap_err();
    assert!(matches!(&e, ConnectorError::Rejected { code, .. } if code == "-402"), "{e:?}");
    good.start(&start_request(&env, &r)).await.unwrap();
    let again = good.start(&start_request(&env, &r)).await.unwrap_err();
    assert!(matches!(&again, ConnectorError::Rejected { code, .. } if code == "-68"), "{again:?}");
    let q = QueryRequest { reference: r, gateway_txn: None, amount: 135_000, created_at: OffsetDateTime::now_utc() };
    assert!(matches!(bad.query(&q).await, Err(ConnectorError::Rejected { .. })));
}

#[tokio::test]
async fn a_refund_without_zp_trans_id_finds_it_and_completes_asynchronously() {
    let env = env().await;
    let z = connector(&env, KEY1);
    let r = reference();
    pay_in_browser(&env, z.as_ref(), &r, "success").await;
    let now = OffsetDateTime::now_utc();
    let refund = RefundRequest {
        refund_reference: r.replacen("FG", "RF", 1),
        gateway_refund_ref: None,
        payment_reference: r.clone(),
        gateway_txn: None,
        amount: 35_000,
        original_amount: 135_000,
        reason: "Hoàn phí".into(),
        payment_created_at: now,
        requested_by: "finance".into(),
        requested_at: now,
    };
    let first = z.refund(&refund).await.unwrap();
    assert_eq!(first.outcome, RefundOutcome::Pending);
    assert!(first.gateway_refund_ref.is_some());
    assert_eq!(z.query_refund(&refund).await.unwrap().outcome, RefundOutcome::Succeeded);
    // The same m_refund_id again is the same refund, not a second one.
    assert_eq!(z.refund(&refund).await.unwrap().outcome, RefundOutcome::Succeeded);
    let unknown = RefundRequest { refund_reference: "RFNOSUCH".into(), ..refund };
    assert_eq!(z.query_refund(&unknown).await.unwrap().outcome, RefundOutcome::Pending, "not known is not failed");
    let day = now.to_offset(feegate_zalopay::sign::VN).date();
    let file = env.browser.get(format!("{}/_control/settlement?date={day}", env.sim)).send().await.unwrap();
    let lines = z.parse_settlement(&file.bytes().await.unwrap()).unwrap();
    let refs: Vec<&str> = lines.iter().map(|l| l.reference.as_str()).collect();
    assert!(refs.contains(&r.as_str()) && refs.contains(&r.replacen("FG", "RF", 1).as_str()), "{refs:?}");
}

#[tokio::test]
async fn a_refund_of_an_unpaid_order_is_rejected_before_reaching_the_refund_api() {
    let env = env().await;
    let z = connector(&env, KEY1);
    let r = reference();
    z.start(&start_request(&env, &r)).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let refund = RefundRequest {
        refund_reference: "RF1".into(),
        gateway_refund_ref: None,
        payment_reference: r,
        gateway_txn: None,
        amount: 1000,
        original_amount: 135_000,
        reason: String::new(),
        payment_created_at: now,
        requested_by: "finance".into(),
        requested_at: now,
    };
    assert!(matches!(z.refund(&refund).await, Err(ConnectorError::Rejected { code, .. }) if code == "not_paid"));
}
