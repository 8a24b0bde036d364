//! The connector's server calls (create, query, refund, refund query) against the
//! simulator, and against a stub that answers whatever MoMo might answer.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use feegate_connector::sim::{SimFaults, SimPay};
use feegate_connector::{
    Action, Connector, ConnectorConfig, ConnectorError, Locale, Outcome, QueryRequest, RefundOutcome, RefundRequest,
    StartRequest,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

const ACCESS: &str = "F8BBA842ECF85";
const SECRET: &str = "K951B6PE1waDMi640xX08PD3vg6EkVlz";

fn config(base: &str) -> ConnectorConfig {
    ConnectorConfig::new("momo", "MoMo")
        .with_setting("base_url", base)
        .with_setting("partner_code", "MOMO")
        .with_secret("access_key", ACCESS)
        .with_secret("secret_key", SECRET)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap()
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// A simulator on loopback; returns its base URL.
async fn simulator(cfg: impl Fn(&str) -> ConnectorConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/sim/momo", listener.local_addr().unwrap());
    let app = Router::new().nest("/sim/momo", feegate_momo::sim::router(&cfg(&base), "http://127.0.0.1:9/cb"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

fn start_request(reference: &str, description: &str) -> StartRequest {
    let now = OffsetDateTime::now_utc();
    StartRequest {
        reference: reference.into(),
        payment_id: format!("pay_{reference}"),
        amount: 135_000,
        currency: "VND".into(),
        description: description.into(),
        created_at: now,
        expires_at: now + Duration::from_secs(900),
        return_url: "http://127.0.0.1:9/return/momo".into(),
        notify_url: "http://127.0.0.1:9/callbacks/momo".into(),
        payer_ip: None,
        locale: Locale::En,
        beneficiary: None,
    }
}

fn refund_request(payment: &str, refund: &str, txn: Option<String>, amount: i64) -> RefundRequest {
    RefundRequest {
        refund_reference: refund.into(),
        gateway_refund_ref: None,
        payment_reference: payment.into(),
        gateway_txn: txn,
        amount,
        original_amount: 135_000,
        reason: "Hoàn phí: hồ sơ & lệ phí = sai".into(),
        payment_created_at: OffsetDateTime::now_utc(),
        requested_by: "finance".into(),
        requested_at: OffsetDateTime::now_utc(),
    }
}

fn query_request(reference: &str) -> QueryRequest {
    QueryRequest {
        reference: reference.into(),
        gateway_txn: None,
        amount: 135_000,
        created_at: OffsetDateTime::now_utc(),
    }
}

async fn pay(base: &str, reference: &str, outcome: &str) {
    let r = reqwest::Client::new()
        .post(format!("{base}/_control/pay"))
        .json(&SimPay { order_ref: reference.into(), outcome: outcome.into() })
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn start_sends_a_sanitised_order_info_and_the_pay_page_shows_it() {
    let base = simulator(config).await;
    let c = feegate_momo::factory(config(&base).with_setting("request_type", "payWithMethod"), client()).unwrap();
    let started = c.start(&start_request("FGSTART0001", "Lệ phí & phạt = 5 đồng")).await.unwrap();
    let Action::Redirect { url } = started.action else { panic!("MoMo redirects") };
    assert_eq!(url, format!("{base}/pay?orderId=FGSTART0001"));
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(page.contains("Le phi phat 5 dong"), "{page}");
    assert!(page.contains("135000"));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_momo_with_code_20() {
    let base = simulator(config).await;
    let c = feegate_momo::factory(config(&base).with_secret("secret_key", "wrong"), client()).unwrap();
    let r = c.start(&start_request("FGBADSIG001", "x")).await;
    assert!(matches!(&r, Err(ConnectorError::Rejected { code, .. }) if code == "20"), "{r:?}");
}

#[tokio::test]
async fn a_second_create_with_the_same_order_id_is_rejected_41() {
    let base = simulator(config).await;
    let c = feegate_momo::factory(config(&base), client()).unwrap();
    c.start(&start_request("FGDUP000001", "x")).await.unwrap();
    let r = c.start(&start_request("FGDUP000001", "x")).await;
    assert!(matches!(&r, Err(ConnectorError::Rejected { code, .. }) if code == "41"), "{r:?}");
}

#[tokio::test]
async fn an_order_momo_does_not_know_queries_as_pending() {
    let base = simulator(config).await;
    let c = feegate_momo::factory(config(&base), client()).unwrap();
    let q = c.query(&query_request("FGNOSUCH001")).await.unwrap();
    assert_eq!(q.outcome, Outcome::Pending);
}

#[tokio::test]
async fn refunds_find_the_trans_id_by_query_and_are_listed_by_their_order_id() {
    let base = simulator(config).await;
    let c = feegate_momo::factory(config(&base), client()).unwrap();
    c.start(&start_request("FGREFUND001", "x")).await.unwrap();
    // Not paid yet: MoMo has no transId to refund, so nothing is sent.
    let r = c.refund(&refund_request("FGREFUND001", "RFEARLY0001", None, 10_000)).await;
    assert!(matches!(&r, Err(ConnectorError::Rejected { code, .. }) if code == "no_trans_id"), "{r:?}");
    pay(&base, "FGREFUND001", "success").await;
    let req = refund_request("FGREFUND001", "RFREFUND001", None, 35_000);
    let r = c.refund(&req).await.unwrap();
    assert_eq!(r.outcome, RefundOutcome::Succeeded);
    let listed = c.query_refund(&req).await.unwrap();
    assert_eq!(listed, r, "the query lists the same refund");
    let missing = c.query_refund(&refund_request("FGREFUND001", "RFNOSUCH001", None, 1_000)).await;
    assert_eq!(missing.unwrap().outcome, RefundOutcome::Pending, "a refund MoMo does not list yet is not failed");
    let too_much = c.refund(&refund_request("FGREFUND001", "RFTOOMUCH01", None, 100_001)).await;
    assert!(matches!(&too_much, Err(ConnectorError::Rejected { code, .. }) if code == "1081"), "{too_much:?}");
    let unknown_txn = c.refund(&refund_request("FGREFUND001", "RFBADTXN001", Some("12345".into()), 1_000)).await;
    assert!(matches!(&unknown_txn, Err(ConnectorError::Rejected { code, .. }) if code == "1088"));
    let not_a_number = c.refund(&refund_request("FGREFUND001", "RFBADTXN002", Some("T-1".into()), 1_000)).await;
    assert!(matches!(&not_a_number, Err(ConnectorError::Rejected { code, .. }) if code == "no_trans_id"));
}

#[tokio::test]
async fn a_refund_that_times_out_is_a_transport_error() {
    let base = simulator(config).await;
    let c = feegate_momo::factory(config(&base), client()).unwrap();
    let faults = SimFaults { refund_timeout: true, ..Default::default() };
    let r = reqwest::Client::new().put(format!("{base}/_control/faults")).json(&faults).send().await.unwrap();
    assert!(r.status().is_success());
    let r = c.refund(&refund_request("FGX", "RFX", Some("1".into()), 1_000)).await;
    assert!(matches!(r, Err(ConnectorError::Transport(_))), "{r:?}");
}

type Seen = Arc<Mutex<Vec<serde_json::Value>>>;

/// A stub MoMo that answers every call with `status` and `body`, recording the requests.
async fn stub(status: u16, body: &'static str) -> (Box<dyn Connector>, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let answer = move |req: Bytes| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(serde_json::from_slice(&req).unwrap_or_default());
            (StatusCode::from_u16(status).unwrap(), body)
        }
    };
    let app = Router::new().route("/v2/gateway/api/{op}", post(answer));
    let base = serve(app).await;
    (feegate_momo::factory(config(&base), client()).unwrap(), seen)
}

#[tokio::test]
async fn the_create_body_is_momos_with_a_matching_signature() {
    let (c, seen) = stub(200, r#"{"resultCode":1005,"message":"expired"}"#).await;
    let r = c.start(&start_request("FGBODY00001", "Lệ phí a&b=c")).await;
    assert!(matches!(&r, Err(ConnectorError::Rejected { code, message }) if code == "1005" && message == "expired"));
    let body = seen.lock().unwrap()[0].clone();
    assert_eq!(body["orderId"], "FGBODY00001");
    assert_eq!(body["requestId"], "FGBODY00001");
    assert_eq!(body["amount"], 135_000);
    assert_eq!(body["orderInfo"], "Le phi abc");
    assert_eq!(body["extraData"], "");
    assert_eq!(body["lang"], "en");
    assert_eq!(body["requestType"], "captureWallet");
    assert_eq!(body["ipnUrl"], "http://127.0.0.1:9/callbacks/momo");
    assert_eq!(body["redirectUrl"], "http://127.0.0.1:9/return/momo");
    let raw = "accessKey=F8BBA842ECF85&amount=135000&extraData=&ipnUrl=http://127.0.0.1:9/callbacks/momo\
               &orderId=FGBODY00001&orderInfo=Le phi abc&partnerCode=MOMO&redirectUrl=http://127.0.0.1:9/return/momo\
               &requestId=FGBODY00001&requestType=captureWallet";
    assert_eq!(body["signature"], feegate_momo::sign::sign(SECRET.as_bytes(), raw));
}

#[tokio::test]
async fn server_errors_are_transport_errors_everywhere() {
    let (c, _) = stub(502, "bad gateway").await;
    assert!(matches!(c.start(&start_request("FG5XX000001", "x")).await, Err(ConnectorError::Transport(_))));
    assert!(matches!(c.query(&query_request("FG5XX000001")).await, Err(ConnectorError::Transport(_))));
    let r = c.refund(&refund_request("FG5XX000001", "RF5XX000001", Some("1".into()), 1_000)).await;
    assert!(matches!(r, Err(ConnectorError::Transport(_))));
}

#[tokio::test]
async fn garbage_answers_are_bad_responses_not_outcomes() {
    for body in
        ["<html>oops</html>", r#"{"payUrl":"http://x"}"#, r#"{"resultCode":0,"orderId":"OTHER","payUrl":"http://x"}"#]
    {
        let (c, _) = stub(200, body).await;
        let r = c.start(&start_request("FGGARBAGE01", "x")).await;
        assert!(matches!(r, Err(ConnectorError::BadResponse(_))), "{body}: {r:?}");
    }
    let (c, _) = stub(200, r#"{"orderId":"FGGARBAGE02","amount":135000}"#).await;
    assert!(matches!(c.query(&query_request("FGGARBAGE02")).await, Err(ConnectorError::BadResponse(_))));
}

#[tokio::test]
async fn query_refusals_are_errors_not_payment_failures() {
    let (c, _) = stub(400, r#"{"resultCode":13,"message":"Merchant authentication failed."}"#).await;
    let r = c.query(&query_request("FGQ00000001")).await;
    assert!(matches!(&r, Err(ConnectorError::Rejected { code, .. }) if code == "13"), "{r:?}");
    let (c, _) = stub(200, r#"{"resultCode":10,"message":"maintenance"}"#).await;
    assert!(matches!(c.query(&query_request("FGQ00000001")).await, Err(ConnectorError::Transport(_))));
}

#[tokio::test]
async fn a_query_reporting_9000_or_an_unknown_code_is_pending() {
    for body in [r#"{"resultCode":9000,"orderId":"FGQ00000002","transId":77}"#, r#"{"resultCode":5555}"#] {
        let (c, _) = stub(200, body).await;
        assert_eq!(c.query(&query_request("FGQ00000002")).await.unwrap().outcome, Outcome::Pending, "{body}");
    }
}

#[tokio::test]
async fn a_refund_answered_duplicated_order_id_is_pending_not_refused() {
    let (c, seen) = stub(200, r#"{"resultCode":41,"message":"Duplicated orderId."}"#).await;
    let r = c.refund(&refund_request("FGR00000001", "RFR00000001", Some("4088878653".into()), 1_000)).await.unwrap();
    assert_eq!(r.outcome, RefundOutcome::Pending);
    let body = seen.lock().unwrap()[0].clone();
    assert_eq!((body["orderId"].as_str(), body["transId"].as_i64()), (Some("RFR00000001"), Some(4_088_878_653)));
    assert_eq!(body["description"], "Hoan phi: ho so le phi sai");
}
