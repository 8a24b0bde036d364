//! Gateway callbacks: verified, checked against the attempt, applied once. Forged,
//! unknown, wrong-amount, duplicate, racing and late callbacks each change exactly what
//! they should. Callbacks are written by hand here and signed with the demo sandbox key.

mod common;
use common::*;
use feegate_connector::crypto::hmac_sha256_hex;
use serde_json::{json, Value};

const SECRET: &[u8] = b"sandbox-demo-secret";

/// A payment with a started sandbox attempt: (payment id, attempt reference).
async fn pending_payment(app: &TestApp) -> (String, String) {
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let p = app.payment(&id).await;
    (id, p["attempts"][0]["reference"].as_str().unwrap().to_owned())
}

fn notification(reference: &str, amount: i64, status: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"reference": reference, "transaction_id": "SBX0001", "amount": amount,
        "currency": "VND", "status": status, "paid_at": "2026-11-27T10:00:00Z"}))
    .unwrap()
}

async fn send(app: &TestApp, connector: &str, body: Vec<u8>, key: &[u8]) -> (u16, String) {
    let sig = hmac_sha256_hex(key, &body);
    let r = app
        .client
        .post(format!("{}/callbacks/{connector}", app.url))
        .header("content-type", "application/json")
        .header("X-Sandbox-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn event_types(app: &TestApp, id: &str) -> Vec<String> {
    let v: Value =
        app.get(&format!("/v1/payments/{id}/events"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    v.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_callback_with_a_bad_signature_changes_nothing_and_is_recorded() {
    let app = TestApp::spawn().await;
    let (id, reference) = pending_payment(&app).await;
    let (status, body) = send(&app, "sandbox", notification(&reference, 135_000, "succeeded"), b"not-the-secret").await;
    assert_eq!((status, body.as_str()), (401, r#"{"status":"bad_signature"}"#));
    assert_eq!(app.payment(&id).await["status"], "pending");
    let (n, verified): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(*) FILTER (WHERE verified = TRUE) FROM callbacks")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((n, verified), (1, 0), "the forged callback is kept, unverified");
    let metrics = app.metrics().await;
    assert!(metrics.contains("feegate_callback_verification_failures_total{connector=\"sandbox\"}"), "{metrics}");
    // Garbage with a valid signature is malformed, and changes nothing either.
    let (status, _) = send(&app, "sandbox", b"{\"reference\": 1}".to_vec(), SECRET).await;
    assert_eq!(status, 400);
    assert_eq!(app.payment(&id).await["status"], "pending");
    app.stop().await;
}

#[tokio::test]
async fn a_callback_for_an_unknown_reference_is_acknowledged_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, _) = pending_payment(&app).await;
    let (status, body) = send(&app, "sandbox", notification("FG0000000000", 135_000, "succeeded"), SECRET).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"unknown_reference"}"#));
    assert_eq!(app.payment(&id).await["status"], "pending");
    assert_eq!(app.count("callbacks").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_callback_with_a_wrong_amount_opens_a_review_and_is_not_a_success() {
    let app = TestApp::spawn().await;
    let (id, reference) = pending_payment(&app).await;
    let (status, body) = send(&app, "sandbox", notification(&reference, 153_000, "succeeded"), SECRET).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"amount_mismatch"}"#));
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "pending");
    assert_eq!(p["review"]["reason"], "amount_mismatch");
    assert_eq!(p["attempts"][0]["status"], "pending");
    assert!(event_types(&app, &id).await.contains(&"payment.needs_review".to_owned()));
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_callback_is_acknowledged_and_applies_once() {
    let app = TestApp::spawn().await;
    let (id, reference) = pending_payment(&app).await;
    let body = notification(&reference, 135_000, "succeeded");
    assert_eq!(send(&app, "sandbox", body.clone(), SECRET).await, (200, r#"{"status":"received"}"#.into()));
    assert_eq!(send(&app, "sandbox", body, SECRET).await, (200, r#"{"status":"duplicate"}"#.into()));
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    let succeeded = event_types(&app, &id).await.iter().filter(|t| *t == "payment.succeeded").count();
    assert_eq!(succeeded, 1);
    app.stop().await;
}

#[tokio::test]
async fn thirty_identical_callbacks_at_once_make_one_transition() {
    let app = TestApp::spawn().await;
    let (id, reference) = pending_payment(&app).await;
    let body = notification(&reference, 135_000, "succeeded");
    let sig = hmac_sha256_hex(SECRET, &body);
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let req = app
            .client
            .post(format!("{}/callbacks/sandbox", app.url))
            .header("X-Sandbox-Signature", &sig)
            .body(body.clone());
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().text().await.unwrap() }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    assert_eq!(replies.iter().filter(|r| r.contains("received")).count(), 1, "{replies:?}");
    assert_eq!(replies.iter().filter(|r| r.contains("duplicate")).count(), 29, "{replies:?}");
    let succeeded = event_types(&app, &id).await.iter().filter(|t| *t == "payment.succeeded").count();
    assert_eq!(succeeded, 1);
    assert_eq!(app.count("callbacks").await, 30, "every callback is recorded");
    app.stop().await;
}

#[tokio::test]
async fn a_late_success_on_an_expired_payment_is_recorded_for_review_not_applied() {
    let app = TestApp::spawn().await;
    let (id, reference) = pending_payment(&app).await;
    // The gateway cannot be asked (query fails), so the payment expires a day later...
    sqlx::query("UPDATE payments SET status = 'expired' WHERE id = $1").bind(&id).execute(&app.db).await.unwrap();
    sqlx::query("UPDATE attempts SET status = 'expired' WHERE payment_id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    // ... and then the gateway says the payer paid.
    let (status, _) = send(&app, "sandbox", notification(&reference, 135_000, "succeeded"), SECRET).await;
    assert_eq!(status, 200);
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "expired", "terminal states never move back");
    assert_eq!(p["review"]["reason"], "late_success");
    assert_eq!(p["attempts"][0]["status"], "succeeded", "the attempt records that the money was taken");
    app.stop().await;
}

/// The guard of the paying update itself: an attempt still open whose payment no longer
/// takes a success (here set by hand; in life a VietQR attempt closed for a wrong amount
/// whose payment expired before the right credit came) never moves the payment.
#[tokio::test]
async fn a_success_for_an_open_attempt_of_a_payment_that_takes_none_is_a_review_not_a_payment() {
    let app = TestApp::spawn().await;
    let (id, reference) = pending_payment(&app).await;
    sqlx::query("UPDATE payments SET status = 'cancelled' WHERE id = $1").bind(&id).execute(&app.db).await.unwrap();
    let (status, _) = send(&app, "sandbox", notification(&reference, 135_000, "succeeded"), SECRET).await;
    assert_eq!(status, 200);
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "cancelled", "terminal states never move back");
    assert_eq!(p["review"]["reason"], "late_success");
    assert!(p["paid_at"].is_null(), "{p}");
    app.stop().await;
}

#[tokio::test]
async fn a_second_success_on_a_paid_payment_is_raised_for_review() {
    let app = TestApp::spawn().await;
    let (id, first) = pending_payment(&app).await;
    // The payer opens a second gateway tab before the first one completes.
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let second = app.payment(&id).await["attempts"][1]["reference"].as_str().unwrap().to_owned();
    send(&app, "sandbox", notification(&first, 135_000, "succeeded"), SECRET).await;
    send(&app, "sandbox", notification(&second, 135_000, "succeeded"), SECRET).await;
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["review"]["reason"], "second_success");
    app.stop().await;
}

#[tokio::test]
async fn a_sandbox_callback_sent_to_another_connector_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, reference) = pending_payment(&app).await;
    let (status, body) = send(&app, "vnpay", notification(&reference, 135_000, "succeeded"), SECRET).await;
    assert_eq!(status, 200, "VNPay answers in its own protocol");
    assert!(body.contains("\"RspCode\":\"97\"") || body.contains("\"RspCode\":\"99\""), "{body}");
    assert_eq!(app.payment(&id).await["status"], "pending");
    let r = app.client.post(format!("{}/callbacks/nope", app.url)).body("x").send().await.unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_failure_callback_reopens_the_payment() {
    let app = TestApp::spawn().await;
    let (id, reference) = pending_payment(&app).await;
    let (status, _) = send(&app, "sandbox", notification(&reference, 135_000, "failed"), SECRET).await;
    assert_eq!(status, 200);
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["attempts"][0]["status"].as_str()), (Some("created"), Some("failed")));
    // A success for the failed attempt afterwards is a conflicting outcome for a person.
    send(&app, "sandbox", notification(&reference, 135_000, "succeeded"), SECRET).await;
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "created");
    assert_eq!(p["review"]["reason"], "conflicting_outcome");
    app.stop().await;
}

#[tokio::test]
async fn a_callback_in_another_currency_opens_a_review_and_is_not_a_success() {
    let app = TestApp::spawn().await;
    let (id, reference) = pending_payment(&app).await;
    let body = serde_json::to_vec(&json!({"reference": reference, "transaction_id": "SBX0001", "amount": 135_000,
        "currency": "USD", "status": "succeeded", "paid_at": "2026-11-27T10:00:00Z"}))
    .unwrap();
    let (status, reply) = send(&app, "sandbox", body, SECRET).await;
    assert_eq!((status, reply.as_str()), (200, r#"{"status":"amount_mismatch"}"#));
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "pending", "135 000 USD is not 135 000 VND");
    assert_eq!(p["review"]["reason"], "amount_mismatch");
    assert_eq!(p["attempts"][0]["status"], "pending");
    let types = event_types(&app, &id).await;
    assert!(types.contains(&"payment.needs_review".to_owned()) && !types.contains(&"payment.succeeded".to_owned()));
    app.stop().await;
}

#[tokio::test]
async fn a_verified_callback_for_another_connectors_attempt_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "vnpay"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let reference = app.payment(&id).await["attempts"][0]["reference"].as_str().unwrap().to_owned();
    // Correctly signed by the sandbox, but about an attempt that went through VNPay.
    let (status, reply) = send(&app, "sandbox", notification(&reference, 135_000, "succeeded"), SECRET).await;
    assert_eq!((status, reply.as_str()), (200, r#"{"status":"unknown_reference"}"#));
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["attempts"][0]["status"].as_str()), (Some("pending"), Some("pending")));
    assert!(p["review"].is_null());
    let (n, attached): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(attempt_id) FROM callbacks WHERE disposition = 'unknown_reference'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((n, attached), (1, 0), "recorded, and tied to no attempt");
    app.stop().await;
}
