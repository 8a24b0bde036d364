//! The connector against its simulator over loopback, for the paths the conformance
//! story does not walk: the pay page's own checks, the 303 return, query_refund,
//! refusals, and checksums on the merchant API.

use feegate_connector::sim::SimPay;
use feegate_connector::{
    Action, Connector, ConnectorConfig, ConnectorError, InboundRequest, Locale, Outcome, QueryRequest, RefundOutcome,
    RefundRequest, StartRequest,
};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

const SECRET: &str = "VNPAYTESTSECRET0123456789ABCDEFG";

struct Env {
    base: String,
    ipn_queries: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

fn config(base: &str, secret: &str) -> ConnectorConfig {
    ConnectorConfig::new("vnpay", "VNPay")
        .with_setting("base_url", base)
        .with_setting("tmn_code", "FEEGATE1")
        .with_secret("hash_secret", secret)
}

async fn env() -> Env {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = format!("http://{}", listener.local_addr().unwrap());
    let base = format!("{root}/sim/vnpay");
    let ipn_queries = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&ipn_queries);
    let ipn = axum::routing::get(move |axum::extract::RawQuery(q): axum::extract::RawQuery| {
        let seen = Arc::clone(&seen);
        async move {
            seen.lock().unwrap().push(q.unwrap_or_default());
            axum::Json(serde_json::json!({"RspCode": "00", "Message": "Confirm Success"}))
        }
    });
    let app = axum::Router::new()
        .nest("/sim/vnpay", feegate_vnpay::sim::router(&config(&base, SECRET), &format!("{root}/callbacks/vnpay")))
        .route("/callbacks/vnpay", ipn);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Env { base, ipn_queries, http }
}

fn connector(env: &Env, secret: &str) -> Box<dyn Connector> {
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(2)).build().unwrap();
    feegate_vnpay::factory(config(&env.base, secret), http).unwrap()
}

fn start_request(reference: &str) -> StartRequest {
    let now = OffsetDateTime::now_utc();
    StartRequest {
        reference: reference.into(),
        payment_id: "pay_1".into(),
        amount: 135_000,
        currency: "VND".into(),
        description: "Lệ phí trước bạ".into(),
        created_at: now,
        expires_at: now + time::Duration::minutes(15),
        return_url: "http://portal.invalid/return/vnpay?keep=1".into(),
        notify_url: "http://ignored.invalid/".into(),
        payer_ip: Some("203.0.113.9".into()),
        locale: Locale::Vi,
        beneficiary: None,
    }
}

async fn pay_url(c: &dyn Connector, reference: &str) -> String {
    match c.start(&start_request(reference)).await.unwrap().action {
        Action::Redirect { url } => url,
        Action::Qr { .. } | Action::Transfers { .. } => panic!("VNPay redirects"),
    }
}

async fn paid(env: &Env, c: &dyn Connector, reference: &str, success: bool) {
    let page = pay_url(c, reference).await;
    assert_eq!(env.http.get(&page).send().await.unwrap().status(), 200);
    let outcome = if success { "success" } else { "failure" };
    let body = SimPay { order_ref: reference.into(), outcome: outcome.into() };
    let r = env.http.post(format!("{}/_control/pay", env.base)).json(&body).send().await.unwrap();
    assert!(r.status().is_success());
}

fn query(reference: &str, txn: Option<String>) -> QueryRequest {
    QueryRequest {
        reference: reference.into(),
        gateway_txn: txn,
        amount: 135_000,
        created_at: OffsetDateTime::now_utc(),
    }
}

fn refund(reference: &str, refund_ref: &str, txn: Option<String>, amount: i64) -> RefundRequest {
    RefundRequest {
        refund_reference: refund_ref.into(),
        gateway_refund_ref: None,
        payment_reference: reference.into(),
        gateway_txn: txn,
        amount,
        original_amount: 135_000,
        reason: "Hoàn phí (hồ sơ bị từ chối)".into(),
        payment_created_at: OffsetDateTime::now_utc(),
        requested_by: "ke.toan".into(),
        requested_at: OffsetDateTime::now_utc(),
    }
}

#[tokio::test]
async fn the_pay_page_posts_back_and_answers_303_to_the_signed_return_url() {
    let env = env().await;
    let c = connector(&env, SECRET);
    let page = pay_url(c.as_ref(), "FGPAGE0001").await;
    let html = env.http.get(&page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("135000 VND") && html.contains("Le phi truoc ba"), "{html}");
    let r = env.http.post(&page).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let (target, q) = location.split_once('?').unwrap();
    assert_eq!(target, "http://portal.invalid/return/vnpay");
    assert!(q.starts_with("keep=1&"));
    let info =
        c.verify_return(&InboundRequest { method: "GET".into(), query: q.into(), ..Default::default() }).unwrap();
    assert_eq!((info.reference.as_str(), info.outcome), ("FGPAGE0001", Outcome::Succeeded));
    // The IPN went as a GET with the same signed fields, to the registered URL.
    let ipns = env.ipn_queries.lock().unwrap().clone();
    assert_eq!(ipns.len(), 1);
    let n = c.verify_callback(&InboundRequest { method: "GET".into(), query: ipns[0].clone(), ..Default::default() });
    assert_eq!(n.unwrap().get().amount, 135_000);
}

#[tokio::test]
async fn the_pay_page_refuses_a_tampered_or_foreign_url() {
    let env = env().await;
    let page = pay_url(connector(&env, SECRET).as_ref(), "FGPAGE0002").await;
    let tampered = page.replacen("vnp_Amount=13500000", "vnp_Amount=100", 1);
    assert_eq!(env.http.get(&tampered).send().await.unwrap().status(), 400);
    let foreign = pay_url(connector(&env, "another-secret").as_ref(), "FGPAGE0003").await;
    assert_eq!(env.http.get(&foreign).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn an_order_vnpay_never_saw_queries_as_pending_and_an_opened_one_too() {
    let env = env().await;
    let c = connector(&env, SECRET);
    let q = c.query(&query("FGNEVERSEEN1", None)).await.unwrap();
    assert_eq!((q.outcome, q.gateway_txn), (Outcome::Pending, None));
    let page = pay_url(c.as_ref(), "FGOPENED0001").await;
    env.http.get(&page).send().await.unwrap();
    assert_eq!(c.query(&query("FGOPENED0001", None)).await.unwrap().outcome, Outcome::Pending);
}

#[tokio::test]
async fn a_declined_payment_queries_as_failed_and_cannot_be_refunded() {
    let env = env().await;
    let c = connector(&env, SECRET);
    paid(&env, c.as_ref(), "FGDECLINED01", false).await;
    assert!(matches!(c.query(&query("FGDECLINED01", None)).await.unwrap().outcome, Outcome::Failed { .. }));
    let r = c.refund(&refund("FGDECLINED01", "RF0000000001", None, 135_000)).await;
    assert!(matches!(r, Err(ConnectorError::Rejected { code, .. }) if code == "95"));
}

#[tokio::test]
async fn a_refund_is_confirmed_by_query_refund_and_a_retry_is_the_same_refund() {
    let env = env().await;
    let c = connector(&env, SECRET);
    paid(&env, c.as_ref(), "FGREFUND0001", true).await;
    let txn = c.query(&query("FGREFUND0001", None)).await.unwrap().gateway_txn;
    assert!(txn.is_some());
    let req = refund("FGREFUND0001", "RF0000000002", txn.clone(), 35_000);
    let first = c.refund(&req).await.unwrap();
    assert_eq!(first.outcome, RefundOutcome::Succeeded);
    let again = c.refund(&req).await.unwrap();
    assert_eq!(again.gateway_refund_ref, first.gateway_refund_ref, "vnp_RequestId is the refund reference");
    let known = RefundRequest { gateway_refund_ref: first.gateway_refund_ref.clone(), ..req.clone() };
    assert_eq!(c.query_refund(&known).await.unwrap().outcome, RefundOutcome::Succeeded);
    assert_eq!(c.query_refund(&req).await.unwrap().outcome, RefundOutcome::Pending, "without its number: not known");
    // After the refund the payment still queries as paid.
    assert_eq!(c.query(&query("FGREFUND0001", txn.clone())).await.unwrap().outcome, Outcome::Succeeded);
    // A full refund (02) of what is left is refused; the rest as a partial one works.
    let full = c.refund(&refund("FGREFUND0001", "RF0000000003", txn.clone(), 135_000)).await;
    assert!(matches!(full, Err(ConnectorError::Rejected { .. })));
    let rest = c.refund(&refund("FGREFUND0001", "RF0000000004", txn, 100_000)).await.unwrap();
    assert_eq!(rest.outcome, RefundOutcome::Succeeded);
}

#[tokio::test]
async fn a_wrong_transaction_number_is_not_found() {
    let env = env().await;
    let c = connector(&env, SECRET);
    paid(&env, c.as_ref(), "FGWRONGTXN01", true).await;
    let r = c.refund(&refund("FGWRONGTXN01", "RF0000000005", Some("999".into()), 1_000)).await;
    assert!(matches!(r, Err(ConnectorError::Rejected { code, .. }) if code == "91"));
}

#[tokio::test]
async fn a_connector_with_the_wrong_secret_gets_no_trusted_answer() {
    let env = env().await;
    let r = connector(&env, "another-secret").query(&query("FGANY0000001", None)).await;
    assert!(matches!(r, Err(ConnectorError::BadResponse(m)) if m.contains("97")));
}

#[tokio::test]
async fn the_merchant_api_answers_97_to_a_bad_checksum_signed() {
    let env = env().await;
    let body = serde_json::json!({
        "vnp_RequestId": "R1", "vnp_Version": "2.1.0", "vnp_Command": "querydr", "vnp_TmnCode": "FEEGATE1",
        "vnp_TxnRef": "FG1", "vnp_TransactionDate": "20261127100000", "vnp_CreateDate": "20261127100000",
        "vnp_IpAddr": "127.0.0.1", "vnp_OrderInfo": "x", "vnp_SecureHash": "00"
    });
    let r = env.http.post(format!("{}/merchant_webapi/api/transaction", env.base)).json(&body).send().await.unwrap();
    let answer: std::collections::BTreeMap<String, String> = r.json().await.unwrap();
    assert_eq!(answer["vnp_ResponseCode"], "97");
    assert!(feegate_vnpay::sign::verify_message(SECRET.as_bytes(), &answer, &feegate_vnpay::sign::QUERYDR_RESPONSE));
    let r = env.http.post(format!("{}/merchant_webapi/api/transaction", env.base)).body("nope").send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn two_equal_partial_refunds_are_each_settled_only_by_an_answer_about_themselves() {
    let env = env().await;
    let c = connector(&env, SECRET);
    paid(&env, c.as_ref(), "FGTWOEQUAL01", true).await;
    let txn = c.query(&query("FGTWOEQUAL01", None)).await.unwrap().gateway_txn;
    let a = refund("FGTWOEQUAL01", "RF0000000011", txn.clone(), 50_000);
    let b = refund("FGTWOEQUAL01", "RF0000000012", txn, 50_000);
    let a_no = c.refund(&a).await.unwrap().gateway_refund_ref;
    let b_no = c.refund(&b).await.unwrap().gateway_refund_ref;
    assert!(a_no.is_some() && b_no.is_some() && a_no != b_no);
    // querydr now shows the latest refund (b): 50 000 đồng, like a.
    let a = RefundRequest { gateway_refund_ref: a_no, ..a };
    let b = RefundRequest { gateway_refund_ref: b_no, ..b };
    assert_eq!(c.query_refund(&b).await.unwrap().outcome, RefundOutcome::Succeeded);
    assert_eq!(c.query_refund(&a).await.unwrap().outcome, RefundOutcome::Pending, "b's answer is not a's");
}

#[tokio::test]
async fn a_refund_vnpay_does_not_show_yet_queries_as_pending_not_failed() {
    let env = env().await;
    let c = connector(&env, SECRET);
    // querydr answers 91 for an order VNPay never saw.
    let r = c.query_refund(&refund("FGNEVERSEEN2", "RF0000000013", None, 1_000)).await.unwrap();
    assert_eq!(r.outcome, RefundOutcome::Pending);
}
