//! Money that must not be lost or paid twice: every review is its own case, a wrong VietQR
//! amount or account closes its attempt for review, due payments that must wait cannot
//! starve the expiry of the others, a paid payment's other attempts are closed, and a
//! second credit for a paid reference is raised at once. Bank credits are written by hand
//! and signed with the demo VietQR notify secret.

mod common;
use common::*;
use serde_json::{json, Value};

/// A payment with a started VietQR attempt: (payment id, reference, bank BIN, account).
async fn vietqr_payment(app: &TestApp) -> (String, String, String, String) {
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let action = start_attempt(app, &id, "vietqr").await;
    let t = &action["transfer"];
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    (id, s(&t["content"]), s(&t["bank_bin"]), s(&t["account_number"]))
}

async fn review_cases(app: &TestApp, status: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/cases?kind=review&status={status}"), &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap().as_array().unwrap().clone()
}

async fn resolve(app: &TestApp, case: &str) -> u16 {
    app.post(&format!("/v1/cases/{case}/resolve"), &app.finance_key)
        .json(&json!({"code": "other", "note": "checked with the bank"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn attempt_status(p: &Value, i: usize) -> &str {
    p["attempts"][i]["status"].as_str().unwrap()
}

#[tokio::test]
async fn every_review_of_a_payment_is_its_own_case_and_event_and_resolving_one_keeps_the_next() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    start_attempt(&app, &id, "sandbox").await;
    start_attempt(&app, &id, "sandbox").await;
    let p = app.payment(&id).await;
    let (a, b) = (p["attempts"][0]["reference"].as_str().unwrap(), p["attempts"][1]["reference"].as_str().unwrap());
    assert_eq!(sandbox_success(&app, a, "SBXA1", 135_000).await, 200);
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    // The payer paid a second time through the other attempt: a second success...
    assert_eq!(sandbox_success(&app, b, "SBXB1", 135_000).await, 200);
    // ...and the gateway then reports a wrong amount on the first: a second, other review.
    assert_eq!(sandbox_success(&app, a, "SBXA2", 1_000).await, 200);
    // The gateway retries the same message: the same review, not a third.
    assert_eq!(sandbox_success(&app, a, "SBXA2", 1_000).await, 200);

    let open = review_cases(&app, "open").await;
    let reasons: Vec<&str> = open.iter().map(|c| c["outcome"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["second_success", "amount_mismatch"], "{open:?}");
    assert!(open.iter().all(|c| c["payment_id"] == id.as_str() && c["id"].as_str().unwrap().starts_with("rev_")));
    assert_eq!(event_count(&app, &id, "payment.needs_review").await, 2, "each review sends its own event");
    assert_eq!(app.payment(&id).await["review"]["reason"], "amount_mismatch", "the latest review shows");

    assert_eq!(resolve(&app, open[0]["id"].as_str().unwrap()).await, 200);
    let still = review_cases(&app, "open").await;
    assert_eq!(still.len(), 1, "{still:?}");
    assert_eq!(still[0]["id"], open[1]["id"]);
    // A payment's id still resolves its oldest open review (the case API before reviews had ids).
    assert_eq!(resolve(&app, &id).await, 200);
    assert_eq!(review_cases(&app, "open").await.len(), 0);
    assert_eq!(resolve(&app, &id).await, 409);
    assert_eq!(review_cases(&app, "resolved").await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_review_of_a_database_from_before_reviews_had_records_stays_a_case() {
    let db_url = fresh_database().await;
    {
        // The database as migrations 0001..0006 left it, with two payments under review,
        // one of them already resolved.
        let pool = old_database(&db_url, 7).await;
        let now = feegate::store::now_ms();
        for (pid, reason) in [("pay_oldopen", "late_success"), ("pay_olddone", "second_success")] {
            sqlx::query(
                "INSERT INTO payments (id, portal_id, agency_code, dossier_code, procedure_code, description, \
                 currency, amount, refunded_amount, status, payer, return_url, metadata, review_reason, \
                 review_opened_at, created_at, updated_at, expires_at, paid_at) VALUES ($1, 'old-portal', 'OLD.01', \
                 'D-1', 'P-1', 'old', 'VND', 135000, 0, 'expired', '{}', 'https://p.example/r', '{}', $2, $3, $3, $3, \
                 $3, NULL)",
            )
            .bind(pid)
            .bind(reason)
            .bind(now)
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO case_resolutions (case_id, resolution_code, note, resolved_by, resolved_at) \
             VALUES ('pay_olddone', 'refunded', 'paid back', 'staff:old', $1)",
        )
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let app = TestApp::spawn_on(&db_url, &[]).await;
    let open = review_cases(&app, "open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!((open[0]["id"].as_str(), open[0]["outcome"].as_str()), (Some("pay_oldopen"), Some("late_success")));
    let done = review_cases(&app, "resolved").await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["resolution"]["note"], "paid back");
    assert_eq!(resolve(&app, "pay_oldopen").await, 200);
    assert_eq!(review_cases(&app, "open").await.len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_vietqr_credit_of_the_wrong_amount_closes_its_attempt_for_review() {
    let app = TestApp::spawn().await;
    let (id, reference, bin, account) = vietqr_payment(&app).await;
    // The payer typed 100 000 instead of 135 000.
    assert_eq!(vietqr_credit(&app.url, &reference, 100_000, "FT0001", &bin, &account).await, 200);
    let p = app.payment(&id).await;
    assert_eq!(attempt_status(&p, 0), "failed", "the attempt is done, not polled for ever: {p}");
    assert_eq!(p["status"], "created", "the payer may pay again: {p}");
    assert_eq!(p["review"]["reason"], "amount_mismatch");
    let (queries,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM attempts WHERE payment_id = $1 AND status IN ('pending', 'unknown')")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(queries, 0);
    // The bank retries the same credit: still one review.
    assert_eq!(vietqr_credit(&app.url, &reference, 100_000, "FT0001", &bin, &account).await, 200);
    assert_eq!(review_cases(&app, "open").await.len(), 1);
    // The payer then transfers the right amount with the same content: that pays it.
    assert_eq!(vietqr_credit(&app.url, &reference, 135_000, "FT0002", &bin, &account).await, 200);
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), attempt_status(&p, 0)), (Some("succeeded"), "succeeded"), "{p}");
    app.stop().await;
}

#[tokio::test]
async fn a_vietqr_credit_into_another_account_is_a_review_not_a_success() {
    let app = TestApp::spawn().await;
    let (id, reference, bin, account) = vietqr_payment(&app).await;
    // Right reference and amount, but typed by hand into another agency's account.
    assert_eq!(vietqr_credit(&app.url, &reference, 135_000, "FT0101", "970436", "0071000999999").await, 200);
    let p = app.payment(&id).await;
    assert_ne!(p["status"], "succeeded", "{p}");
    assert_eq!(p["review"]["reason"], "wrong_beneficiary", "{p}");
    assert_eq!(attempt_status(&p, 0), "failed");
    let open = review_cases(&app, "open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0]["reason"].as_str().unwrap().contains("0071000999999"), "{open:?}");
    // Same bank, another account of it: not ours either.
    let (id2, reference2, _, _) = vietqr_payment(&app).await;
    assert_eq!(vietqr_credit(&app.url, &reference2, 135_000, "FT0102", &bin, "999999999").await, 200);
    assert_ne!(app.payment(&id2).await["status"], "succeeded");
    // The right account pays.
    assert_eq!(vietqr_credit(&app.url, &reference, 135_000, "FT0103", &bin, &account).await, 200);
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn held_due_payments_do_not_starve_the_expiry_of_the_others() {
    let app = TestApp::spawn().await;
    // One payment with an open sandbox attempt, cloned into more than a batch of them.
    let template = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    start_attempt(&app, &template, "sandbox").await;
    // The gateway cannot be asked about them, so none of them may expire yet.
    app.faults("sandbox", json!({"query_5xx": true})).await;
    let store = &app.db;
    let now = feegate::store::now_ms();
    for n in 0..230 {
        let pid = format!("pay_held{n:05}");
        // The payment and its open attempt in one transaction: the app's own expiry worker
        // must never see a held payment without its attempt (it would expire it at once).
        let mut t = store.begin().await.unwrap();
        sqlx::query(&format!(
            "INSERT INTO payments (id, portal_id, agency_code, dossier_code, procedure_code, description, currency, \
             amount, refunded_amount, status, payer, return_url, metadata, created_at, updated_at, expires_at) \
             SELECT $1, portal_id, agency_code, dossier_code, procedure_code, description, currency, amount, 0, \
             'pending', payer, return_url, metadata, created_at, updated_at, {} FROM payments WHERE id = $3",
            common::ts("$2")
        ))
        .bind(&pid)
        .bind(now - 60_000 + n)
        .bind(&template)
        .execute(&mut *t)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO attempts (id, payment_id, connector_id, reference, status, amount, currency, action, \
             created_at, updated_at) SELECT $1, $2, connector_id, $3, 'pending', amount, currency, action, \
             created_at, updated_at FROM attempts WHERE payment_id = $4",
        )
        .bind(format!("att_held{n:05}"))
        .bind(&pid)
        .bind(format!("FGHELD{n:06}"))
        .bind(&template)
        .execute(&mut *t)
        .await
        .unwrap();
        t.commit().await.unwrap();
    }
    // One plain due payment, due after all of them.
    let plain = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    sqlx::query(&format!("UPDATE payments SET expires_at = {} WHERE id = $2", common::ts("$1")))
        .bind(now - 1_000)
        .bind(&plain)
        .execute(store)
        .await
        .unwrap();
    feegate::service::expiry::run_once(&app.state).await.unwrap();
    feegate::service::expiry::run_once(&app.state).await.unwrap();
    assert_eq!(app.payment(&plain).await["status"], "expired");
    let (held,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM payments WHERE id LIKE 'pay_held%' AND status = 'pending'")
            .fetch_one(store)
            .await
            .unwrap();
    assert_eq!(held, 230, "payments whose gateway did not answer wait");
    app.stop().await;
}

#[tokio::test]
async fn a_success_closes_the_payments_other_open_attempts_at_once() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    start_attempt(&app, &id, "sandbox").await;
    start_attempt(&app, &id, "vietqr").await;
    let p = app.payment(&id).await;
    let reference = p["attempts"][0]["reference"].as_str().unwrap().to_owned();
    assert_eq!(sandbox_success(&app, &reference, "SBX0201", 135_000).await, 200);
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), attempt_status(&p, 0)), (Some("succeeded"), "succeeded"));
    assert_eq!(attempt_status(&p, 1), "failed", "the other attempt is closed with the success: {p}");
    app.stop().await;
}

#[tokio::test]
async fn a_second_vietqr_credit_for_a_paid_reference_opens_a_review_at_once() {
    let app = TestApp::spawn().await;
    let (id, reference, bin, account) = vietqr_payment(&app).await;
    assert_eq!(vietqr_credit(&app.url, &reference, 135_000, "FT0301", &bin, &account).await, 200);
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    // The bank retries the first credit: nothing new.
    assert_eq!(vietqr_credit(&app.url, &reference, 135_000, "FT0301", &bin, &account).await, 200);
    assert_eq!(review_cases(&app, "open").await.len(), 0);
    // The payer scanned the QR twice: a second credit, another transaction.
    assert_eq!(vietqr_credit(&app.url, &reference, 135_000, "FT0302", &bin, &account).await, 200);
    let open = review_cases(&app, "open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["outcome"], "second_success");
    assert!(open[0]["reason"].as_str().unwrap().contains("FT0302"), "{open:?}");
    assert_eq!(event_count(&app, &id, "payment.needs_review").await, 1);
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn a_vietqr_credit_found_by_a_lookup_in_another_account_is_not_applied() {
    let app = TestApp::spawn().await;
    app.faults("vietqr", json!({"no_callback": true})).await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let action = start_attempt(&app, &id, "vietqr").await;
    let account = action["transfer"]["account_number"].as_str().unwrap().to_owned();
    // The payer transfers; the notification is lost, so only the bank's lookup knows.
    let app_url = format!("{}/sim/vietqr/app?payload={}", app.url, urlencode(action["payload"].as_str().unwrap()));
    assert_eq!(app.client.get(&app_url).send().await.unwrap().status(), 200);
    let r = app.client.post(&app_url).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The attempt had routed the transfer to another account than the one credited.
    let store = &app.db;
    sqlx::query("UPDATE attempts SET action = REPLACE(action, $1, '0071000999999') WHERE payment_id = $2")
        .bind(&account)
        .bind(&id)
        .execute(store)
        .await
        .unwrap();
    sqlx::query(&format!("UPDATE payments SET expires_at = {} WHERE id = $2", common::ts("$1")))
        .bind(feegate::store::now_ms() - 1_000)
        .bind(&id)
        .execute(store)
        .await
        .unwrap();
    // Before expiring it, the worker asks the bank, which finds the credit.
    feegate::service::expiry::run_once(&app.state).await.unwrap();
    let p = app.payment(&id).await;
    assert_ne!(p["status"], "succeeded", "{p}");
    assert_eq!(p["review"]["reason"], "wrong_beneficiary", "{p}");
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_duplicate_collection_can_be_refunded_and_its_review_resolved() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    // The payer opened two gateway tabs and paid in both; the second attempt had been
    // closed by the first success, and its money is raised for review.
    let tabs = [app.choose(&id, "sandbox").await, app.choose(&id, "sandbox").await];
    for tab in &tabs {
        let r = app.client.post(tab).form(&[("outcome", "success")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
    }
    let p = app.payment(&id).await;
    assert_eq!((attempt_status(&p, 0), attempt_status(&p, 1)), ("succeeded", "succeeded"), "{p}");
    let open = review_cases(&app, "open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["outcome"], "second_success");
    // Finance pays the duplicate back, naming the second attempt: through its own gateway
    // transaction, and the payment (paid once) stays paid...
    let second = p["attempts"][1]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
        .json(
            &json!({"amount": "135000", "reason": "Thu trùng: hoàn lại lần thanh toán thứ hai", "attempt_id": second}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let refund: Value = r.json().await.unwrap();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert_eq!((refund["attempt_id"].as_str(), refund["duplicate"].as_bool()), (Some(second.as_str()), Some(true)));
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("succeeded"), Some("0")), "{p}");
    assert_eq!(event_count(&app, &id, "payment.refunded").await, 0);
    // ...and closes the case with it.
    let r = app
        .post(&format!("/v1/cases/{}/resolve", open[0]["id"].as_str().unwrap()), &app.finance_key)
        .json(&json!({"code": "refunded", "note": format!("refund {}", refund["id"])}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(review_cases(&app, "open").await.len(), 0);
    app.stop().await;
}
