//! The conformance story at the core, for every redirect gateway, through its simulator's
//! fault modes: forged callbacks change nothing, a wrong amount is a review, duplicates
//! apply once, a lost or late callback is made up for by the gateway's own status query.
//! Runs on SQLite, and on PostgreSQL with FEEGATE_TEST_DATABASE_URL.

mod common;
use common::*;
use serde_json::{json, Value};

const REDIRECT_GATEWAYS: [&str; 4] = ["sandbox", "vnpay", "momo", "zalopay"];

/// Starts a payment through `connector` and approves it on the simulator's page; gives
/// (payment id, where the browser goes next). The browser has not come back yet.
async fn approve(app: &TestApp, connector: &str) -> (String, String) {
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let gateway = app.choose(&id, connector).await;
    assert_eq!(app.client.get(&gateway).send().await.unwrap().status(), 200);
    let r = app.client.post(&gateway).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 303, "{connector}");
    (id, location(&r))
}

async fn come_back(app: &TestApp, ret: &str) -> String {
    let r = app.client.get(ret).send().await.unwrap();
    assert_eq!(r.status(), 303);
    location(&r)
}

async fn succeeded_events(app: &TestApp, id: &str) -> usize {
    let v: Value =
        app.get(&format!("/v1/payments/{id}/events"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    v.as_array().unwrap().iter().filter(|e| e["type"] == "payment.succeeded").count()
}

#[tokio::test]
async fn a_forged_callback_changes_nothing_and_the_query_settles_it() {
    let app = TestApp::spawn().await;
    for c in REDIRECT_GATEWAYS {
        app.faults(c, json!({"wrong_signature": true})).await;
        let (id, ret) = approve(&app, c).await;
        assert_eq!(app.payment(&id).await["status"], "pending", "{c}: a forged callback changes nothing");
        let portal = come_back(&app, &ret).await;
        assert!(portal.contains("status=succeeded"), "{c}: the gateway's query is trusted: {portal}");
        app.faults(c, json!({})).await;
    }
    let (unverified,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM callbacks WHERE verified = FALSE").fetch_one(&app.db).await.unwrap();
    assert_eq!(unverified, 4, "each forged callback was recorded");
    app.stop().await;
}

#[tokio::test]
async fn a_callback_with_the_wrong_amount_is_a_review_not_a_success() {
    let app = TestApp::spawn().await;
    for c in REDIRECT_GATEWAYS {
        app.faults(c, json!({"wrong_amount": 153000})).await;
        let (id, _) = approve(&app, c).await;
        let p = app.payment(&id).await;
        assert_eq!(p["status"], "pending", "{c}");
        assert_eq!(p["review"]["reason"], "amount_mismatch", "{c}");
        app.faults(c, json!({})).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn duplicate_callbacks_make_one_transition() {
    let app = TestApp::spawn().await;
    for c in REDIRECT_GATEWAYS {
        app.faults(c, json!({"duplicate_callbacks": true})).await;
        let (id, ret) = approve(&app, c).await;
        assert_eq!(app.payment(&id).await["status"], "succeeded", "{c}");
        come_back(&app, &ret).await;
        assert_eq!(succeeded_events(&app, &id).await, 1, "{c}");
        app.faults(c, json!({})).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_lost_callback_is_found_by_the_status_query() {
    let app = TestApp::spawn().await;
    for c in REDIRECT_GATEWAYS {
        app.faults(c, json!({"no_callback": true})).await;
        let (id, ret) = approve(&app, c).await;
        assert_eq!(app.payment(&id).await["status"], "pending", "{c}");
        let portal = come_back(&app, &ret).await;
        assert!(portal.contains("status=succeeded"), "{c}: {portal}");
        let p = app.payment(&id).await;
        assert_eq!(p["attempts"][0]["status"], "succeeded");
        assert!(p["attempts"][0]["gateway_ref"].is_string(), "{c}: the query names the gateway transaction");
        app.faults(c, json!({})).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_callback_after_the_browser_returned_is_a_duplicate_of_the_query() {
    let app = TestApp::spawn().await;
    for c in REDIRECT_GATEWAYS {
        app.faults(c, json!({"callback_after_return": true})).await;
        let (id, ret) = approve(&app, c).await;
        let portal = come_back(&app, &ret).await;
        assert!(portal.contains("status=succeeded"), "{c}: {portal}");
        // The simulator sends the late callback a moment after the return; on a loaded
        // machine that moment stretches, so wait for it (at most 15 s) rather than a fixed time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let n = loop {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM callbacks c JOIN attempts a ON a.id = c.attempt_id WHERE a.payment_id = $1 AND c.disposition = 'already_final'")
                .bind(&id).fetch_one(&app.db).await.unwrap();
            if n > 0 || std::time::Instant::now() > deadline {
                break n;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(n, 1, "{c}: the late callback was acknowledged as a duplicate");
        assert_eq!(succeeded_events(&app, &id).await, 1, "{c}");
        app.faults(c, json!({})).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_gateway_that_cannot_be_queried_leaves_the_payment_pending_not_failed() {
    let app = TestApp::spawn().await;
    for c in REDIRECT_GATEWAYS {
        app.faults(c, json!({"no_callback": true, "query_5xx": true})).await;
        let (id, ret) = approve(&app, c).await;
        let portal = come_back(&app, &ret).await;
        assert!(portal.contains("status=pending"), "{c}: {portal}");
        assert_eq!(app.payment(&id).await["attempts"][0]["status"], "pending", "{c}");
        app.faults(c, json!({})).await;
    }
    app.stop().await;
}
