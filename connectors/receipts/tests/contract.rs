//! The issuer contract against the simulator, over real HTTP on 127.0.0.1: issue, look up,
//! issue again with the same key (the same receipt, none made), other content under a used
//! key (refused), cancel (twice: the same), the provider down (unavailable, nothing made), an
//! answer lost (made once; the lookup finds it), a provider refusing (nothing made or
//! cancelled), a forged request (refused).

use feegate_receipt_issuer::{sim, HttpIssuer, IssueRequest, Issuer, IssuerError};
use secrecy::SecretString;

async fn serve() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = sim::router("bl-sim", b"provider-secret", &base);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task)
}

fn req(key: &str, amount: i64) -> IssueRequest {
    IssueRequest {
        key: key.into(),
        agency_code: "H12.25".into(),
        payment_id: "pay_1".into(),
        amount,
        content: format!("{{\"total\":{amount}}}"),
    }
}

async fn control(base: &str, body: serde_json::Value) {
    let r = reqwest::Client::new().post(format!("{base}/control")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

async fn made(base: &str, key: &str) -> u64 {
    let v: serde_json::Value = reqwest::get(format!("{base}/control")).await.unwrap().json().await.unwrap();
    v["issued"][key].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn the_simulator_keeps_the_issuer_contract() {
    let (base, task) = serve().await;
    let issuer = HttpIssuer::new("bl-sim", "BL sim", &base, SecretString::from("provider-secret")).unwrap();

    assert_eq!(issuer.lookup("rct_1").await, Ok(None), "nothing before the issue");
    let first = issuer.issue(&req("rct_1", 135_000)).await.unwrap();
    assert_eq!((first.status.as_str(), first.number.as_str()), ("issued", "0000001"));
    assert_eq!(issuer.lookup("rct_1").await, Ok(Some(first.clone())));
    // The same key again: the same receipt, none made.
    assert_eq!(issuer.issue(&req("rct_1", 135_000)).await, Ok(first.clone()));
    assert_eq!(made(&base, "rct_1").await, 1);
    // The key used for other content: refused (a bug in the caller, not a retry).
    assert!(matches!(issuer.issue(&req("rct_1", 1)).await, Err(IssuerError::Refused(_))));

    // Down: unavailable, and nothing is made.
    control(&base, serde_json::json!({"down": true})).await;
    assert!(matches!(issuer.issue(&req("rct_2", 50_000)).await, Err(IssuerError::Unavailable(_))));
    assert!(matches!(issuer.lookup("rct_2").await, Err(IssuerError::Unavailable(_))));
    control(&base, serde_json::json!({"down": false})).await;
    assert_eq!(made(&base, "rct_2").await, 0);

    // The answer lost: made once, unavailable to the caller, found by the lookup.
    control(&base, serde_json::json!({"lose_answers": 1})).await;
    assert!(matches!(issuer.issue(&req("rct_3", 20_000)).await, Err(IssuerError::Unavailable(_))));
    let found = issuer.lookup("rct_3").await.unwrap().expect("issued although the answer was lost");
    assert_eq!(issuer.issue(&req("rct_3", 20_000)).await, Ok(found));
    assert_eq!(made(&base, "rct_3").await, 1);

    // A provider without idempotency keys makes a second receipt for a key asked twice:
    // what a caller's lookup before a retry is for.
    control(&base, serde_json::json!({"idempotent": false})).await;
    issuer.issue(&req("rct_4", 10_000)).await.unwrap();
    issuer.issue(&req("rct_4", 10_000)).await.unwrap();
    assert_eq!(made(&base, "rct_4").await, 2);
    control(&base, serde_json::json!({"idempotent": true})).await;

    // Cancel, twice: the same answer; an unknown key is refused.
    let c = issuer.cancel("rct_1", "hoàn trả toàn bộ").await.unwrap();
    assert_eq!(c.status, "cancelled");
    assert_eq!(issuer.cancel("rct_1", "hoàn trả toàn bộ").await, Ok(c));
    assert!(matches!(issuer.cancel("rct_404", "x").await, Err(IssuerError::Refused(_))));

    // Refusing: issues and cancellations are refused with the provider's words, nothing is
    // made or cancelled; once it stops, the same key is issued.
    control(&base, serde_json::json!({"refuse": "mã số thuế chưa đăng ký"})).await;
    let refused = issuer.issue(&req("rct_5", 30_000)).await;
    assert!(
        matches!(&refused, Err(IssuerError::Refused(w)) if w.contains("422") && w.contains("chưa đăng ký")),
        "{refused:?}"
    );
    assert!(matches!(issuer.cancel("rct_3", "x").await, Err(IssuerError::Refused(_))));
    assert_eq!(issuer.lookup("rct_3").await.unwrap().map(|r| r.status), Some("issued".into()));
    control(&base, serde_json::json!({"refuse": ""})).await;
    assert_eq!(made(&base, "rct_5").await, 0);
    issuer.issue(&req("rct_5", 30_000)).await.unwrap();
    assert_eq!(made(&base, "rct_5").await, 1);

    // A forged request (another secret) is refused and makes nothing.
    let forger = HttpIssuer::new("bl-sim", "BL sim", &base, SecretString::from("guess")).unwrap();
    assert!(matches!(forger.issue(&req("rct_9", 1)).await, Err(IssuerError::Refused(_))));
    assert_eq!(made(&base, "rct_9").await, 0);
    // Nothing listens: unavailable.
    let gone = HttpIssuer::new("x", "x", "http://127.0.0.1:9", SecretString::from("k")).unwrap();
    assert!(matches!(gone.lookup("rct_1").await, Err(IssuerError::Unavailable(_))));
    task.abort();
}
