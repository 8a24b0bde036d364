//! Several nodes: on PostgreSQL two feegate processes share one database and a callback
//! sent to both at once is applied once; SQLite is single-node and refuses a second server.

mod common;
use common::*;
use feegate::app::AppState;
use feegate::config::Config;
use feegate_connector::crypto::hmac_sha256_hex;
use serde_json::{json, Value};

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_is_refused_with_a_reason() {
    if on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let env = vec![("FEEGATE_DATABASE_URL".to_string(), app.db_url.clone())];
    let err =
        AppState::build(Config::load_with(None, &env).unwrap()).await.err().expect("a second server must be refused");
    let text = format!("{err:#}");
    assert!(text.contains("SQLite is single-node") && text.contains("PostgreSQL"), "{text}");
    let db = app.db_url.clone();
    app.stop().await;
    // Once the first one stopped, the file can be served again.
    let again = TestApp::spawn_on(&db, &[]).await;
    again.stop().await;
}

#[tokio::test]
async fn the_same_callback_sent_to_two_nodes_at_once_applies_once() {
    if !on_postgres() {
        return;
    }
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(&a.db_url, &[]).await;
    for round in 0..10 {
        let id = a.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
        let r = a
            .post(&format!("/v1/payments/{id}/attempts"), &a.portal_key)
            .json(&json!({"connector": "sandbox"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let reference = a.payment(&id).await["attempts"][0]["reference"].as_str().unwrap().to_owned();
        let body = serde_json::to_vec(
            &json!({"reference": reference, "transaction_id": format!("T{round}"), "amount": 135000,
            "currency": "VND", "status": "succeeded", "paid_at": "2026-11-27T10:00:00Z"}),
        )
        .unwrap();
        let sig = hmac_sha256_hex(b"sandbox-demo-secret", &body);
        let mut tasks = Vec::new();
        for i in 0..10 {
            let node = if i % 2 == 0 { &a } else { &b };
            let req = node
                .client
                .post(format!("{}/callbacks/sandbox", node.url))
                .header("X-Sandbox-Signature", &sig)
                .body(body.clone());
            tasks.push(tokio::spawn(async move { req.send().await.unwrap().text().await.unwrap() }));
        }
        let mut replies = Vec::new();
        for t in tasks {
            replies.push(t.await.unwrap());
        }
        assert_eq!(replies.iter().filter(|r| r.contains("received")).count(), 1, "round {round}: {replies:?}");
        assert_eq!(replies.iter().filter(|r| r.contains("duplicate")).count(), 9, "round {round}: {replies:?}");
        let events: Value =
            b.get(&format!("/v1/payments/{id}/events"), &b.finance_key).send().await.unwrap().json().await.unwrap();
        let succeeded = events.as_array().unwrap().iter().filter(|e| e["type"] == "payment.succeeded").count();
        assert_eq!(succeeded, 1, "round {round}");
    }
    assert_eq!(a.state.store.verify_audit().await.unwrap().map(|_| ()), Ok(()));
    b.stop().await;
    a.stop().await;
}
