//! The payments API end to end: create, pay in the sandbox, read; idempotency; bad input
//! changes nothing. Runs on SQLite, and on PostgreSQL with FEEGATE_TEST_DATABASE_URL.

mod common;
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_fee_is_paid_end_to_end_through_the_sandbox() {
    let app = TestApp::spawn().await;
    let p = app.create_payment(&payment_body()).await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(p["status"], "created");
    assert_eq!(p["amount"], "135000");
    assert_eq!(p["checkout_url"], format!("{}/checkout/{id}", app.url));

    let page = app.client.get(p["checkout_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("135.000 ₫"), "VND formatted on the checkout");
    assert!(page.contains("Sở Giao thông vận tải tỉnh Hà Nam"));
    assert!(page.contains("value=\"sandbox\""));

    let back = app.pay_sandbox(id, "success").await;
    assert!(back.starts_with("https://portal.example.vn/return?"), "{back}");
    assert!(back.contains(&format!("payment_id={id}")) && back.contains("status=succeeded"), "{back}");

    let p = app.payment(id).await;
    assert_eq!(p["status"], "succeeded");
    assert!(p["paid_at"].is_string());
    assert_eq!(p["attempts"][0]["status"], "succeeded");
    assert_eq!(p["attempts"][0]["connector"], "sandbox");
    assert!(p["attempts"][0]["gateway_ref"].is_string());

    let events: Value =
        app.get(&format!("/v1/payments/{id}/events"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    let types: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["payment.created", "payment.pending", "payment.succeeded", "receipt.issued"]);

    // A paid payment shows its state, not a form.
    let page = app.client.get(format!("{}/checkout/{id}?lang=en", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Paid. Thank you!") && !page.contains("<form"));
    assert_eq!(
        app.state.store.verify_audit().await.unwrap().map_err(|b| b.reason),
        Ok(app.count("audit_log").await as u64)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_declined_attempt_gives_the_payment_back_to_the_payer() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let back = app.pay_sandbox(&id, "failure").await;
    assert!(back.contains("status=failed"), "{back}");
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "created");
    assert_eq!(p["attempts"][0]["status"], "failed");
    // ... and the payer can try again and pay.
    let back = app.pay_sandbox(&id, "success").await;
    assert!(back.contains("status=succeeded"));
    assert_eq!(app.payment(&id).await["attempts"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_returns_the_first_answer() {
    let app = TestApp::spawn().await;
    let body = payment_body();
    let send =
        |b: &Value| app.post("/v1/payments", &app.portal_key).header("Idempotency-Key", "dossier-0001").json(b).send();
    let first = send(&body).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(&body).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let mut other = body.clone();
    other["description"] = json!("something else");
    let (status, code, _) = error_code(send(&other).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (409, "idempotency_key_reused"));
    assert_eq!(app.count("payments").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn twenty_identical_requests_racing_make_one_payment_and_equal_answers() {
    let app = TestApp::spawn().await;
    let body = payment_body();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let req = app.post("/v1/payments", &app.portal_key).header("Idempotency-Key", "double-click").json(&body);
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 201);
    assert_eq!(app.count("payments").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_stable_code_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let before = (app.count("payments").await, app.count("payment_lines").await, app.count("idempotency").await);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = payment_body();
        f(&mut b);
        b
    };
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (with(&|b| b["lines"][0]["amount"] = json!("-135000")), 422, "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!("0")), 422, "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!("1350.5")), 422, "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!(1350.5)), 422, "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!("1000000000001")), 422, "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!(true)), 422, "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["dossier_code"] = json!(42)), 422, "invalid_type", Some("dossier_code")),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("lines");
            }),
            422,
            "missing_field",
            Some("lines"),
        ),
        (with(&|b| b["lines"] = Value::Array(vec![b["lines"][0].clone(); 101])), 422, "too_many_lines", Some("lines")),
        (with(&|b| b["description"] = json!("d".repeat(256))), 422, "field_too_long", Some("description")),
        (with(&|b| b["agency_code"] = json!("NOPE.99")), 422, "unknown_agency", Some("agency_code")),
        (
            with(&|b| b["return_url"] = json!("ftp://portal.example.vn/r")),
            422,
            "invalid_return_url",
            Some("return_url"),
        ),
        (with(&|b| b["lines"][0]["kind"] = json!("tax")), 422, "invalid_line_kind", Some("lines[0].kind")),
        (with(&|b| b["expires_in_seconds"] = json!(5)), 422, "invalid_expiry", Some("expires_in_seconds")),
    ];
    for (body, status, code, field) in cases {
        let r =
            app.post("/v1/payments", &app.portal_key).header("Idempotency-Key", "k").json(&body).send().await.unwrap();
        let got = error_code(r).await;
        assert_eq!((got.0, got.1.as_str(), got.2.as_deref()), (status, code, field), "{body}");
    }
    // Malformed JSON, a non-object, an oversized body, a wrong content type.
    let raw = |body: String| {
        app.post("/v1/payments", &app.portal_key).header("content-type", "application/json").body(body).send()
    };
    assert_eq!(error_code(raw("{\"agency_code\": ".into()).await.unwrap()).await.1, "invalid_json");
    assert_eq!(error_code(raw("[1,2]".into()).await.unwrap()).await.1, "invalid_type");
    let big = format!("{{\"description\": \"{}\"}}", "x".repeat(70 * 1024));
    let (status, code, _) = error_code(raw(big).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (413, "body_too_large"));
    let r =
        app.post("/v1/payments", &app.portal_key).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(error_code(r).await.0, 415);
    // An Idempotency-Key longer than 255 characters.
    let r = app
        .post("/v1/payments", &app.portal_key)
        .header("Idempotency-Key", "k".repeat(256))
        .json(&payment_body())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "invalid_idempotency_key");
    let after = (app.count("payments").await, app.count("payment_lines").await, app.count("idempotency").await);
    assert_eq!(before, after, "bad input changed nothing");
    app.stop().await;
}

#[tokio::test]
async fn a_line_with_no_account_for_its_kind_is_refused() {
    let app = TestApp::spawn().await;
    // Deactivate the agency's only `fee` account.
    let accounts: Value =
        app.get("/v1/agencies/H12.20/accounts", &app.admin_key).send().await.unwrap().json().await.unwrap();
    let fee = accounts.as_array().unwrap().iter().find(|a| a["receives"] == json!(["fee"])).unwrap();
    let r = app
        .client
        .patch(format!("{}/v1/agencies/H12.20/accounts/{}", app.url, fee["id"].as_str().unwrap()))
        .bearer_auth(&app.admin_key)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = payment_body();
    body["lines"] = json!([
        {"kind": "charge", "code": "LP", "description": "Lệ phí", "amount": "135000"},
        {"kind": "fee", "code": "P", "description": "Phí", "amount": "50000"}
    ]);
    let (status, code, field) =
        error_code(app.post("/v1/payments", &app.portal_key).json(&body).send().await.unwrap()).await;
    assert_eq!((status, code.as_str(), field.as_deref()), (422, "no_account_for_line", Some("lines[1].kind")));
    assert_eq!(app.count("payments").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn lines_are_routed_to_the_account_for_their_kind() {
    let app = TestApp::spawn().await;
    let mut body = payment_body();
    body["lines"] = json!([
        {"kind": "charge", "code": "LP", "description": "Lệ phí", "amount": "135000"},
        {"kind": "fee", "code": "P", "description": "Phí", "amount": "50000"}
    ]);
    let p = app.create_payment(&body).await;
    assert_eq!(p["amount"], "185000");
    let accounts: Value =
        app.get("/v1/agencies/H12.20/accounts", &app.admin_key).send().await.unwrap().json().await.unwrap();
    let account_of = |id: &Value| accounts.as_array().unwrap().iter().find(|a| &a["id"] == id).unwrap().clone();
    assert_eq!(account_of(&p["lines"][0]["account_id"])["kind"], "treasury");
    assert_eq!(account_of(&p["lines"][1]["account_id"])["kind"], "bank");
    // Two accounts: VietQR is offered as one transfer per account (tests/vietqr_legs.rs).
    let page = app.client.get(p["checkout_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"vietqr\""));
    let r = app
        .client
        .post(format!("{}/checkout/{}", app.url, p["id"].as_str().unwrap()))
        .form(&[("connector", "vietqr"), ("form_token", &common::form_token(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn list_is_newest_first_with_a_cursor_and_filters() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let page1: Value = app.get("/v1/payments?limit=2", &app.portal_key).send().await.unwrap().json().await.unwrap();
    let got: Vec<&str> = page1["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2: Value = app
        .get(&format!("/v1/payments?limit=2&cursor={cursor}"), &app.portal_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let got: Vec<&str> = page2["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    let cancelled = &ids[0];
    assert_eq!(
        app.post(&format!("/v1/payments/{cancelled}/cancel"), &app.portal_key).send().await.unwrap().status(),
        200
    );
    let f: Value =
        app.get("/v1/payments?status=cancelled", &app.portal_key).send().await.unwrap().json().await.unwrap();
    assert_eq!(f["data"].as_array().unwrap().len(), 1);
    assert!(f["next_cursor"].is_null());
    let r = app.get("/v1/payments?limit=1000", &app.portal_key).send().await.unwrap();
    assert_eq!(error_code(r).await.1, "invalid_query");
    app.stop().await;
}

#[tokio::test]
async fn cancel_works_once_and_a_cancelled_payment_cannot_be_paid() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let r: Value =
        app.post(&format!("/v1/payments/{id}/cancel"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["status"], "cancelled");
    let (status, code, _) =
        error_code(app.post(&format!("/v1/payments/{id}/cancel"), &app.portal_key).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (409, "invalid_state"));
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "payment_not_payable");
    let page = app.client.get(format!("{}/checkout/{id}", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("đã bị hủy") && !page.contains("<form"));
    app.stop().await;
}

#[tokio::test]
async fn a_due_payment_expires_and_shows_its_state() {
    let app = TestApp::spawn().await;
    let mut body = payment_body();
    body["expires_in_seconds"] = json!(60);
    let id = app.create_payment(&body).await["id"].as_str().unwrap().to_owned();
    sqlx::query(&format!("UPDATE payments SET expires_at = {} WHERE id = $2", common::ts("$1")))
        .bind(feegate::store::now_ms() - 1)
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    let mut status = String::new();
    for _ in 0..50 {
        status = app.payment(&id).await["status"].as_str().unwrap().to_owned();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "expired");
    let page = app.client.get(format!("{}/checkout/{id}", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("hết hạn"));
    app.stop().await;
}

#[tokio::test]
async fn an_attempt_through_the_api_answers_the_redirect_action() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let action: Value = r.json().await.unwrap();
    assert_eq!(action["type"], "redirect");
    assert!(action["url"].as_str().unwrap().starts_with(&format!("{}/sim/sandbox/pay?", app.url)));
    assert_eq!(app.payment(&id).await["status"], "pending");
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "unknown_connector");
    app.stop().await;
}

#[tokio::test]
async fn a_paid_dossier_is_never_expired_silently() {
    // The resolver waits its default minute, so only the expiry worker's own question to the
    // gateway stands between these payments and a silent expiry.
    let app = TestApp::spawn().await;
    let approve_without_callback = |faults: Value| {
        let app = &app;
        async move {
            app.faults("sandbox", faults).await;
            let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
            let gateway = app.choose(&id, "sandbox").await;
            app.client.get(&gateway).send().await.unwrap();
            let r = app.client.post(&gateway).form(&[("outcome", "success")]).send().await.unwrap();
            assert_eq!(r.status(), 303, "the payer paid and closed the tab; the callback was lost");
            sqlx::query(&format!("UPDATE payments SET expires_at = {} WHERE id = $2", common::ts("$1")))
                .bind(feegate::store::now_ms() - 1)
                .bind(&id)
                .execute(&app.db)
                .await
                .unwrap();
            id
        }
    };
    // The gateway says it was paid: the payment succeeds instead of expiring.
    let paid = approve_without_callback(json!({"no_callback": true})).await;
    let mut status = String::new();
    for _ in 0..50 {
        status = app.payment(&paid).await["status"].as_str().unwrap().to_owned();
        if status != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "succeeded");
    let events: Value =
        app.get(&format!("/v1/payments/{paid}/events"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    assert!(events.as_array().unwrap().iter().all(|e| e["type"] != "payment.expired"), "{events}");
    // The gateway cannot be asked: the payment waits for an answer rather than expire on a guess.
    let unknown = approve_without_callback(json!({"no_callback": true, "query_5xx": true})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let p = app.payment(&unknown).await;
    assert_eq!((p["status"].as_str(), p["attempts"][0]["status"].as_str()), (Some("pending"), Some("pending")));
    app.faults("sandbox", json!({})).await;
    app.stop().await;
}
