//! Request limits: a key over its rate gets 429 with `Retry-After` and nothing happens,
//! other keys and wrong keys do not spend its tokens, a flood of forged callbacks stops
//! being stored while a verified callback still applies, oversized headers get 431.

mod common;
use common::*;
use feegate::api::auth::Role;
use feegate_connector::crypto::hmac_sha256_hex;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SANDBOX_SECRET: &[u8] = b"sandbox-demo-secret";

static FILES: AtomicU64 = AtomicU64::new(0);

/// Starts feegate with `toml` as its config file (over the defaults).
async fn spawn_with_config(toml: &str) -> TestApp {
    let path = std::env::temp_dir().join(format!(
        "feegate-limits-{}-{}-{}.toml",
        std::process::id(),
        FILES.fetch_add(1, Ordering::Relaxed),
        feegate::store::now_ms()
    ));
    std::fs::write(&path, toml).unwrap();
    let app = TestApp::spawn_with(&[("FEEGATE_CONFIG", path.to_str().unwrap())]).await;
    let _ = std::fs::remove_file(&path);
    app
}

/// Portal keys get 3 requests at once, then 1 a second.
async fn small_portal_limit() -> TestApp {
    spawn_with_config("[rate_limits]\nportal = { per_second = 1, burst = 3 }\n").await
}

async fn portal_key(app: &TestApp) -> (String, String) {
    feegate::service::admin::create_key(
        &app.state.store,
        Role::Portal,
        Some("demo-portal".into()),
        &[],
        "limits",
        "test",
    )
    .await
    .unwrap()
}

async fn list(app: &TestApp, key: &str) -> reqwest::Response {
    app.get("/v1/payments", key).send().await.unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    let v = r.headers().get("retry-after").expect("a Retry-After header").to_str().unwrap();
    v.parse().unwrap_or_else(|_| panic!("Retry-After is whole seconds: {v}"))
}

/// Spends a key's burst; gives the `Retry-After` of the first refusal.
async fn exhaust(app: &TestApp, key: &str) -> u64 {
    for _ in 0..3 {
        assert_eq!(list(app, key).await.status(), 200);
    }
    let r = list(app, key).await;
    assert_eq!(r.status(), 429);
    let secs = retry_after(&r);
    assert_eq!(error_code(r).await.1, "rate_limited");
    secs
}

#[tokio::test]
async fn a_key_over_its_limit_gets_429_with_retry_after_and_another_key_does_not() {
    let app = small_portal_limit().await;
    let (_, a) = portal_key(&app).await;
    let (_, b) = portal_key(&app).await;
    let secs = exhaust(&app, &a).await;
    assert!((1..=2).contains(&secs), "Retry-After {secs}");
    assert_eq!(list(&app, &b).await.status(), 200, "another key has its own bucket");
    assert_eq!(list(&app, &app.finance_key).await.status(), 200, "another role has its own bucket");
    tokio::time::sleep(Duration::from_secs(secs)).await;
    assert_eq!(list(&app, &a).await.status(), 200, "after Retry-After the key works again");
    let metrics = app.metrics().await;
    assert!(
        metrics.lines().any(|l| l.starts_with("feegate_rate_limited_total")
            && l.contains("scope=\"api_key\"")
            && l.contains("role=\"portal\"")),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_create_refused_with_429_creates_nothing_and_its_retry_creates_one_payment() {
    let app = small_portal_limit().await;
    let (_, key) = portal_key(&app).await;
    let secs = exhaust(&app, &key).await;
    let body = payment_body();
    let create = || app.post("/v1/payments", &key).header("Idempotency-Key", "limits-create-1").json(&body);
    let r = create().send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) >= 1);
    assert_eq!(error_code(r).await.1, "rate_limited");
    assert_eq!(app.count("payments").await, 0);
    assert_eq!(app.count("idempotency").await, 0, "the refused request claimed no idempotency key");
    assert_eq!(app.count("events").await, 0);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let r = create().send().await.unwrap();
    assert_eq!(r.status(), 201, "the retry is a first attempt, not the replay of a 429");
    let first: Value = r.json().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again: Value = create().send().await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(app.count("payments").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn requests_with_a_wrong_secret_do_not_spend_the_real_keys_tokens() {
    let app = small_portal_limit().await;
    let (id, key) = portal_key(&app).await;
    let forged = format!("fgk_{}_{}", id.trim_start_matches("key_"), "not-the-secret");
    assert_ne!(forged, key);
    for _ in 0..20 {
        let (status, code, _) = error_code(list(&app, &forged).await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_api_key"));
    }
    for _ in 0..3 {
        assert_eq!(list(&app, &key).await.status(), 200, "the real key still has its whole burst");
    }
    app.stop().await;
}

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

async fn sandbox_callback(app: &TestApp, body: &[u8], key: &[u8]) -> reqwest::Response {
    app.client
        .post(format!("{}/callbacks/sandbox", app.url))
        .header("content-type", "application/json")
        .header("X-Sandbox-Signature", hmac_sha256_hex(key, body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_flood_of_unverified_callbacks_is_limited_while_a_verified_callback_still_applies() {
    let app = spawn_with_config("[rate_limits]\nunverified_callbacks = { per_second = 1, burst = 5 }\n").await;
    let (id, reference) = pending_payment(&app).await;
    let body = serde_json::to_vec(&json!({"reference": reference, "transaction_id": "SBX0001", "amount": 135000,
        "currency": "VND", "status": "succeeded", "paid_at": "2026-11-27T10:00:00Z"}))
    .unwrap();
    let audit_before = app.count("audit_log").await;
    let mut statuses = Vec::new();
    let mut retry = 0;
    for _ in 0..30 {
        let r = sandbox_callback(&app, &body, b"forged-secret").await;
        if r.status() == 429 {
            retry = retry_after(&r);
            assert_eq!(error_code(r).await.1, "rate_limited");
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    let stored = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(stored, 5, "the burst is answered by the protocol: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 25, "{statuses:?}");
    assert!(retry >= 1);
    assert_eq!(app.count("callbacks").await, 5, "a refused forgery is not stored");
    assert_eq!(app.count("audit_log").await - audit_before, 5, "nor audited");
    assert_eq!(app.payment(&id).await["status"], "pending");

    // The gateway's own, signed callback goes through the exhausted bucket and applies.
    let r = sandbox_callback(&app, &body, SANDBOX_SECRET).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("received"));
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    // Its retry, too, gets the protocol's reply.
    let r = sandbox_callback(&app, &body, SANDBOX_SECRET).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.count("callbacks").await, 7);

    // The bucket is per connector: another gateway's endpoint still answers its protocol.
    let r = app.client.get(format!("{}/callbacks/vnpay?vnp_TxnRef=x&vnp_SecureHash=00", app.url)).send().await.unwrap();
    assert_ne!(r.status(), 429);
    assert_eq!(app.count("callbacks").await, 8);
    let metrics = app.metrics().await;
    assert!(
        metrics.lines().any(|l| l.starts_with("feegate_rate_limited_total")
            && l.contains("scope=\"unverified_callback\"")
            && l.contains("connector=\"sandbox\"")),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn oversized_headers_get_431_and_change_nothing() {
    let app = TestApp::spawn().await;
    let create = |name: &str, value: String| {
        app.post("/v1/payments", &app.portal_key).header(name, value).json(&payment_body()).send()
    };
    // Over feegate's own limit: the API's error body.
    let r = create("x-padding", "a".repeat(40 * 1024)).await.unwrap();
    let (status, code, _) = error_code(r).await;
    assert_eq!((status, code.as_str()), (431, "headers_too_large"));
    // Over hyper's read buffer (about 400 KiB): refused before any parsing.
    let r = create("x-padding", "a".repeat(500 * 1024)).await.unwrap();
    assert_eq!(r.status(), 431);
    // More than 100 headers.
    let mut req = app.post("/v1/payments", &app.portal_key).json(&payment_body());
    for i in 0..120 {
        req = req.header(format!("x-h{i}"), "1");
    }
    assert_eq!(req.send().await.unwrap().status(), 431);
    assert_eq!(app.count("payments").await, 0);
    assert_eq!(app.count("idempotency").await, 0);
    // A callback with oversized headers is not stored either.
    let r = app
        .client
        .post(format!("{}/callbacks/sandbox", app.url))
        .header("x-padding", "a".repeat(40 * 1024))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert_eq!(app.count("callbacks").await, 0);
    // Headers just under the limit are fine.
    let r = create("x-padding", "a".repeat(30 * 1024)).await.unwrap();
    assert_eq!(r.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn the_default_limits_let_a_burst_of_a_hundred_requests_through() {
    let app = TestApp::spawn().await;
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let req = app.get("/v1/payments", &app.portal_key);
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    app.stop().await;
}
