//! Refunds: full and partial through the gateway, never more than was paid (also under 50
//! concurrent requests), manual payouts for bank transfers, unknown outcomes settled by
//! the resolver only on the gateway's word (a refund it does not know stays pending and is
//! raised for review once), VNPay refunds told apart by their own number.

mod common;
use common::*;
use serde_json::{json, Value};

async fn paid(app: &TestApp) -> String {
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    id
}

async fn refund(app: &TestApp, id: &str, amount: &str) -> (u16, Value) {
    let r = app
        .post(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
        .json(&json!({"amount": amount, "reason": "Hồ sơ bị từ chối"}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn event_types(app: &TestApp, id: &str) -> Vec<String> {
    let v: Value =
        app.get(&format!("/v1/payments/{id}/events"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    v.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_partial_then_the_rest_refunds_the_payment_and_no_more() {
    let app = TestApp::spawn().await;
    let id = paid(&app).await;
    let (status, r) = refund(&app, &id, "35000").await;
    assert_eq!((status, r["status"].as_str()), (202, Some("succeeded")), "{r}");
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("partially_refunded"), Some("35000")));
    let (status, r) = refund(&app, &id, "100000").await;
    assert_eq!((status, r["status"].as_str()), (202, Some("succeeded")));
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("refunded"), Some("135000")));
    let (status, r) = refund(&app, &id, "1").await;
    assert_eq!((status, r["error"]["code"].as_str()), (409, Some("payment_not_refundable")));
    let types = event_types(&app, &id).await;
    assert_eq!(types.iter().filter(|t| *t == "refund.succeeded").count(), 2);
    assert!(types.contains(&"payment.refunded".to_owned()));
    let list: Value =
        app.get(&format!("/v1/payments/{id}/refunds"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_refunds_of_sixty_percent_accept_exactly_one() {
    let app = TestApp::spawn().await;
    let id = paid(&app).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let req = app
            .post(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
            .json(&json!({"amount": "81000", "reason": "race"}));
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|a| a.0 == 202).count(), 1, "{answers:?}");
    assert_eq!(
        answers.iter().filter(|a| a == &&(409, "refund_exceeds_available".to_owned())).count(),
        49,
        "{answers:?}"
    );
    let (n, sum): (i64, i64) = sqlx::query_as("SELECT COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds WHERE payment_id = $1 AND status <> 'failed'")
        .bind(&id).fetch_one(&app.db).await.unwrap();
    assert_eq!((n, sum), (1, 81_000));
    assert_eq!(app.payment(&id).await["refunded_amount"], "81000");
    app.stop().await;
}

#[tokio::test]
async fn refund_requests_are_checked_and_change_nothing_when_wrong() {
    let app = TestApp::spawn().await;
    let unpaid = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    assert_eq!(refund(&app, &unpaid, "1000").await.1["error"]["code"], "payment_not_refundable");
    let id = paid(&app).await;
    let r = app
        .post(&format!("/v1/payments/{id}/refunds"), &app.portal_key)
        .json(&json!({"amount": "1000", "reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.0, 403, "portals may not refund unless the config allows it");
    for (body, code, field) in [
        (json!({"amount": "1000"}), "missing_field", "reason"),
        (json!({"amount": "-5", "reason": "x"}), "invalid_amount", "amount"),
        (json!({"amount": "10.5", "reason": "x"}), "invalid_amount", "amount"),
        (json!({"amount": "135001", "reason": "x"}), "refund_exceeds_available", "amount"),
        (json!({"amount": "1000", "reason": "x", "extra": 1}), "unknown_field", "extra"),
    ] {
        let r = app.post(&format!("/v1/payments/{id}/refunds"), &app.finance_key).json(&body).send().await.unwrap();
        let (_, got, f) = error_code(r).await;
        assert_eq!((got.as_str(), f.as_deref()), (code, Some(field)), "{body}");
    }
    assert_eq!(app.count("refunds").await, 0);
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn the_same_idempotency_key_refunds_once() {
    let app = TestApp::spawn().await;
    let id = paid(&app).await;
    let send = || {
        app.post(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
            .header("Idempotency-Key", "refund-1")
            .json(&json!({"amount": "50000", "reason": "x"}))
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let again: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(app.count("refunds").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_bank_transfer_is_refunded_by_hand_and_recorded_with_the_bank_reference() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    app.choose(&id, "vietqr").await;
    let attempt = app.payment(&id).await["attempts"][0].clone();
    // The bank tells feegate of the credit (the simulated bank app does this on approve).
    let payload = sqlx::query_as::<_, (String,)>("SELECT action FROM attempts WHERE id = $1")
        .bind(attempt["id"].as_str().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap()
        .0;
    let payload: Value = serde_json::from_str(&payload).unwrap();
    let bank_app = format!(
        "{}/sim/vietqr/app?payload={}",
        app.url,
        url::form_urlencoded::byte_serialize(payload["payload"].as_str().unwrap().as_bytes()).collect::<String>()
    );
    app.client.get(&bank_app).send().await.unwrap();
    app.client.post(&bank_app).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    let (status, r) = refund(&app, &id, "135000").await;
    assert_eq!((status, r["status"].as_str()), (202, Some("pending_manual")), "{r}");
    let rid = r["id"].as_str().unwrap();
    let done = app
        .post(&format!("/v1/payments/{id}/refunds/{rid}/complete"), &app.finance_key)
        .json(&json!({"bank_reference": "FT26332000123"}))
        .send()
        .await
        .unwrap();
    let done: Value = done.json().await.unwrap();
    assert_eq!((done["status"].as_str(), done["bank_reference"].as_str()), (Some("succeeded"), Some("FT26332000123")));
    assert_eq!(app.payment(&id).await["status"], "refunded");
    let again = app
        .post(&format!("/v1/payments/{id}/refunds/{rid}/complete"), &app.finance_key)
        .json(&json!({"bank_reference": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(again).await.1, "invalid_state");
    app.stop().await;
}

/// The refunds of a payment as the API lists them.
async fn refunds_of(app: &TestApp, id: &str) -> Vec<Value> {
    let list: Value =
        app.get(&format!("/v1/payments/{id}/refunds"), &app.finance_key).send().await.unwrap().json().await.unwrap();
    list.as_array().unwrap().clone()
}

/// How many status queries the refund has had, and its status.
async fn queries(app: &TestApp, refund_id: &str) -> (i64, String) {
    sqlx::query_as("SELECT queries, status FROM refunds WHERE id = $1")
        .bind(refund_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Waits (at most ~20 s) until the resolver has queried the refund `n` times, or it is no
/// longer pending (the caller's assertions then say what went wrong).
async fn until_queried(app: &TestApp, refund_id: &str, n: i64) {
    for _ in 0..200 {
        let (done, status) = queries(app, refund_id).await;
        if done >= n || status != "pending" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the resolver queried refund {refund_id} only {} times", queries(app, refund_id).await.0);
}

/// A server whose resolver asks after 100 ms and raises a refund for review after `tries`.
async fn spawn_resolving(tries: u32) -> TestApp {
    let file = std::env::temp_dir().join(format!("feegate-refunds-{}.toml", feegate::domain::ids::new_id("cfg")));
    std::fs::write(&file, format!("refund_query_max_tries = {tries}\n")).unwrap();
    let app =
        TestApp::spawn_with(&[("FEEGATE_RESOLVER_DELAY_MS", "100"), ("FEEGATE_CONFIG", file.to_str().unwrap())]).await;
    assert_eq!(app.state.config.refund_query_max_tries, tries);
    app
}

#[tokio::test]
async fn a_refund_whose_outcome_is_unknown_is_settled_by_the_resolver() {
    let app = spawn_resolving(100).await;
    let id = paid(&app).await;
    app.faults("sandbox", json!({"refund_5xx": true})).await;
    let (status, r) = refund(&app, &id, "135000").await;
    assert_eq!((status, r["status"].as_str()), (202, Some("pending")), "a 5xx leaves the refund pending, not failed");
    app.faults("sandbox", json!({})).await;
    let rid = r["id"].as_str().unwrap();
    // The gateway does not know the refund: that is no answer, so it stays pending.
    until_queried(&app, rid, 3).await;
    assert_eq!(refunds_of(&app, &id).await[0]["status"], "pending");
    // The gateway gets it after all (a retry, or the first request landing late) ...
    let (reference,): (String,) =
        sqlx::query_as("SELECT reference FROM attempts WHERE payment_id = $1 AND status = 'succeeded'")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let body = serde_json::to_vec(&feegate_sandbox::wire::RefundCall {
        refund_reference: r["reference"].as_str().unwrap().to_owned(),
        reference,
        amount: 135_000,
        reason: "late".into(),
    })
    .unwrap();
    let late = app
        .client
        .post(format!("{}/sim/sandbox/api/refunds", app.url))
        .header(feegate_sandbox::wire::SIGNATURE_HEADER, feegate_sandbox::wire::sign(b"sandbox-demo-secret", &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 200);
    // ... and the resolver's next query settles it by the gateway's answer.
    let mut st = String::new();
    for _ in 0..100 {
        st = refunds_of(&app, &id).await[0]["status"].as_str().unwrap().to_owned();
        if st != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(st, "succeeded");
    assert!(event_types(&app, &id).await.contains(&"refund.succeeded".to_owned()));
    assert_eq!(app.payment(&id).await["status"], "refunded");
    app.stop().await;
}

#[tokio::test]
async fn a_refund_the_gateway_does_not_know_stays_pending_and_is_raised_for_review_once() {
    let app = spawn_resolving(3).await;
    let id = paid(&app).await;
    app.faults("sandbox", json!({"refund_5xx": true})).await;
    let (_, r) = refund(&app, &id, "135000").await;
    app.faults("sandbox", json!({})).await;
    let rid = r["id"].as_str().unwrap();
    until_queried(&app, rid, 2).await;
    assert_eq!(app.payment(&id).await["review"], Value::Null, "not before refund_query_max_tries");
    let complete = |reference: &'static str| {
        app.post(&format!("/v1/payments/{id}/refunds/{rid}/complete"), &app.finance_key)
            .json(&json!({"bank_reference": reference}))
            .send()
    };
    let early = complete("VNP-GUESS").await.unwrap();
    assert_eq!(error_code(early).await.1, "invalid_state", "no completing by hand while the gateway may still answer");
    // Every query answers "no such refund": never a failure, and the amount stays reserved.
    until_queried(&app, rid, 6).await;
    let rf = &refunds_of(&app, &id).await[0];
    assert_eq!((rf["status"].as_str(), rf["failure_code"].as_str()), (Some("pending"), None), "{rf}");
    assert!(!event_types(&app, &id).await.contains(&"refund.failed".to_owned()));
    let (status, again) = refund(&app, &id, "1").await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("refund_exceeds_available")), "{again}");
    // Finance is asked to look: once, though the resolver went on asking.
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["review"]["reason"].as_str()), (Some("succeeded"), Some("refund_unresolved")));
    let reviews = event_types(&app, &id).await.iter().filter(|t| *t == "payment.needs_review").count();
    assert_eq!(reviews, 1);
    let (audited,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE scope = $1 AND kind = 'payment.review'")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(audited, 1, "one review, not one per query");
    // Finance finds the payout in the gateway's admin and records it.
    let done: Value = complete("RF-SANDBOX-0001").await.unwrap().json().await.unwrap();
    assert_eq!(
        (done["status"].as_str(), done["bank_reference"].as_str()),
        (Some("succeeded"), Some("RF-SANDBOX-0001"))
    );
    assert_eq!(app.payment(&id).await["status"], "refunded");
    app.stop().await;
}

/// Pays a payment through the VNPay simulator, as a browser would.
async fn paid_by_vnpay(app: &TestApp) -> String {
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let gateway = app.choose(&id, "vnpay").await;
    assert_eq!(app.client.get(&gateway).send().await.unwrap().status(), 200);
    let r = app.client.post(&gateway).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    id
}

#[tokio::test]
async fn two_equal_partial_refunds_through_vnpay_are_not_both_settled_by_one_answer() {
    let app = spawn_resolving(100).await;
    let id = paid_by_vnpay(&app).await;
    // Refund a never reaches VNPay; refund b, of the same amount, is paid out.
    app.faults("vnpay", json!({"refund_5xx": true})).await;
    let (_, a) = refund(&app, &id, "50000").await;
    assert_eq!(a["status"], "pending", "{a}");
    app.faults("vnpay", json!({})).await;
    let (_, b) = refund(&app, &id, "50000").await;
    assert_eq!(b["status"], "succeeded", "{b}");
    // querydr now shows b (a refund of 50 000 đồng): that is not an answer about a.
    until_queried(&app, a["id"].as_str().unwrap(), 4).await;
    let list = refunds_of(&app, &id).await;
    let a_now = list.iter().find(|r| r["id"] == a["id"]).unwrap();
    assert_eq!(a_now["status"], "pending", "{a_now}");
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("partially_refunded"), Some("50000")));
    assert_eq!(event_types(&app, &id).await.iter().filter(|t| *t == "refund.succeeded").count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_lost_callback_ends_succeeded_through_the_resolver() {
    let app = TestApp::spawn_with(&[("FEEGATE_RESOLVER_DELAY_MS", "100")]).await;
    app.faults("sandbox", json!({"no_callback": true})).await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let gateway = app.choose(&id, "sandbox").await;
    app.client.get(&gateway).send().await.unwrap();
    let r = app.client.post(&gateway).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 303, "the payer closes the tab: the return is never followed");
    let mut status = String::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = app.payment(&id).await["status"].as_str().unwrap().to_owned();
        if status == "succeeded" {
            break;
        }
    }
    assert_eq!(status, "succeeded");
    assert!(event_types(&app, &id).await.contains(&"payment.succeeded".to_owned()));
    app.stop().await;
}
