//! Refunds of a duplicate collection (issue 9): a refund names the attempt it returns; an
//! attempt that succeeded but did not pay its payment (a second VietQR credit, a late
//! success on an expired payment, a second gateway tab) is refunded through its own
//! gateway, up to its own amount, in any payment status, and leaves the payment as it is.

mod common;
use common::*;
use serde_json::{json, Value};

/// Asks for a refund (finance); gives the status and the body.
async fn refund(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let r = app.post(&format!("/v1/payments/{id}/refunds"), &app.finance_key).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn attempt(p: &Value, i: usize) -> (String, String) {
    let a = &p["attempts"][i];
    (a["id"].as_str().unwrap().to_owned(), a["status"].as_str().unwrap().to_owned())
}

/// A payment the payer paid in two sandbox tabs: (payment id, paying attempt, duplicate).
async fn paid_twice(app: &TestApp) -> (String, String, String) {
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let tabs = [app.choose(&id, "sandbox").await, app.choose(&id, "sandbox").await];
    for tab in &tabs {
        let r = app.client.post(tab).form(&[("outcome", "success")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
    }
    let p = app.payment(&id).await;
    let ((first, s0), (second, s1)) = (attempt(&p, 0), attempt(&p, 1));
    assert_eq!((s0.as_str(), s1.as_str(), p["status"].as_str()), ("succeeded", "succeeded", Some("succeeded")));
    (id, first, second)
}

#[tokio::test]
async fn a_second_vietqr_credit_of_a_paid_payment_is_refunded_by_hand_and_the_payment_stays_paid() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "vietqr"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let t = r.json::<Value>().await.unwrap()["transfer"].clone();
    let (reference, bin, account) =
        (t["content"].as_str().unwrap(), t["bank_bin"].as_str().unwrap(), t["account_number"].as_str().unwrap());
    assert_eq!(vietqr_credit(&app.url, reference, 135_000, "FT0401", bin, account).await, 200);
    // The payer scanned the QR twice; the bank also retries the second credit.
    assert_eq!(vietqr_credit(&app.url, reference, 135_000, "FT0402", bin, account).await, 200);
    assert_eq!(vietqr_credit(&app.url, reference, 135_000, "FT0402", bin, account).await, 200);
    let p = app.payment(&id).await;
    assert_eq!(p["attempts"].as_array().unwrap().len(), 2, "the second credit is one collection: {p}");
    let (dup, status) = attempt(&p, 1);
    assert_eq!(status, "succeeded");
    assert_eq!(p["attempts"][1]["reference"], format!("{reference}.FT0402"));

    let (status, r) =
        refund(&app, &id, json!({"amount": "135000", "reason": "Chuyển khoản trùng", "attempt_id": dup})).await;
    assert_eq!(status, 202, "{r}");
    assert_eq!((r["status"].as_str(), r["attempt_id"].as_str()), (Some("pending_manual"), Some(dup.as_str())));
    assert_eq!((r["duplicate"].as_bool(), r["connector"].as_str()), (Some(true), Some("vietqr")));
    let rid = r["id"].as_str().unwrap();
    let r = app
        .post(&format!("/v1/payments/{id}/refunds/{rid}/complete"), &app.finance_key)
        .json(&json!({"bank_reference": "FT0499"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r: Value = r.json().await.unwrap();
    assert_eq!((r["status"].as_str(), r["bank_reference"].as_str()), (Some("succeeded"), Some("FT0499")));
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("succeeded"), Some("0")), "{p}");
    assert_eq!(event_count(&app, &id, "refund.succeeded").await, 1);
    assert_eq!(event_count(&app, &id, "payment.refunded").await, 0, "the fee was paid once");
    // The payment's own collection is still there to refund, in full.
    let (status, r) = refund(&app, &id, json!({"amount": "135000", "reason": "Hồ sơ bị từ chối"})).await;
    assert_eq!((status, r["duplicate"].as_bool()), (202, Some(false)), "{r}");
    assert_eq!(r["attempt_id"], p["attempts"][0]["id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_late_success_on_an_expired_payment_is_refunded_through_its_own_gateway() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let tab = app.choose(&id, "sandbox").await;
    // The payment expires while the payer is on the gateway's page...
    let store = &app.db;
    sqlx::query("UPDATE payments SET status = 'expired' WHERE id = $1").bind(&id).execute(store).await.unwrap();
    sqlx::query("UPDATE attempts SET status = 'expired' WHERE payment_id = $1").bind(&id).execute(store).await.unwrap();
    // ...who pays anyway: the gateway has the money.
    let r = app.client.post(&tab).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let p = app.payment(&id).await;
    let (late, status) = attempt(&p, 0);
    assert_eq!((p["status"].as_str(), status.as_str()), (Some("expired"), "succeeded"), "{p}");
    // Without naming it, an expired payment has nothing of its own to refund.
    let (status, r) = refund(&app, &id, json!({"amount": "135000", "reason": "x"})).await;
    assert_eq!((status, r["error"]["code"].as_str()), (409, Some("payment_not_refundable")));
    let (status, r) = refund(&app, &id, json!({"amount": "135000", "reason": "Thu sau hạn", "attempt_id": late})).await;
    assert_eq!(status, 202, "{r}");
    assert_eq!((r["status"].as_str(), r["connector"].as_str()), (Some("succeeded"), Some("sandbox")), "{r}");
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("expired"), Some("0")), "{p}");
    assert_eq!(event_count(&app, &id, "refund.succeeded").await, 1);
    assert_eq!(event_count(&app, &id, "payment.refunded").await, 0);
    let (status, r) = refund(&app, &id, json!({"amount": "1", "reason": "again", "attempt_id": late})).await;
    assert_eq!((status, r["error"]["code"].as_str()), (422, Some("refund_exceeds_attempt")), "{r}");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_refunds_of_one_duplicate_accept_at_most_its_amount() {
    let app = TestApp::spawn().await;
    let (id, first, dup) = paid_twice(&app).await;
    // The payment's own collection is refunded in full first (naming its attempt is the
    // same as naming none): the duplicate is still refundable.
    let (status, r) = refund(&app, &id, json!({"amount": "135000", "reason": "x", "attempt_id": first})).await;
    assert_eq!((status, r["duplicate"].as_bool()), (202, Some(false)), "{r}");
    assert_eq!(app.payment(&id).await["status"], "refunded");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let req = app
            .post(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
            .json(&json!({"amount": "50000", "reason": "race", "attempt_id": dup}));
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
    assert_eq!(answers.iter().filter(|a| a.0 == 202).count(), 2, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| a == &&(422, "refund_exceeds_attempt".to_owned())).count(), 18);
    let (n, sum): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds \
         WHERE attempt_id = $1 AND status <> 'failed'",
    )
    .bind(&dup)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((n, sum), (2, 100_000));
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("refunded"), Some("135000")));
    assert_eq!(event_count(&app, &id, "payment.refunded").await, 1, "only the payment's own refund");
    assert_eq!(event_count(&app, &id, "refund.succeeded").await, 3);
    app.stop().await;
}

#[tokio::test]
async fn refunds_naming_a_wrong_attempt_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    // A payment whose first try was declined, then paid.
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    assert!(app.pay_sandbox(&id, "failure").await.contains("status="));
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let p = app.payment(&id).await;
    let (declined, status) = attempt(&p, 0);
    assert_eq!(status, "failed", "{p}");
    let (other, _, other_dup) = paid_twice(&app).await;
    let (refunds, events) = (app.count("refunds").await, app.count("events").await);
    let cases: [(Value, u16, &str, &str); 7] = [
        (json!(declined), 422, "attempt_not_refundable", "attempt_id"),
        (json!(other_dup), 422, "unknown_attempt", "attempt_id"),
        (json!("att_nope"), 422, "unknown_attempt", "attempt_id"),
        (json!(7), 422, "invalid_type", "attempt_id"),
        (json!(" "), 422, "missing_field", "attempt_id"),
        (json!("att_\u{0}"), 422, "invalid_field", "attempt_id"),
        (json!("a".repeat(65)), 422, "field_too_long", "attempt_id"),
    ];
    for (attempt_id, status, code, field) in cases {
        let r = app
            .post(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
            .json(&json!({"amount": "1000", "reason": "x", "attempt_id": attempt_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(r).await, (status, code.to_owned(), Some(field.to_owned())), "{attempt_id}");
    }
    // More than the duplicate collected.
    let (status, r) = refund(&app, &other, json!({"amount": "135001", "reason": "x", "attempt_id": other_dup})).await;
    assert_eq!(
        (status, r["error"]["code"].as_str(), r["error"]["field"].as_str()),
        (422, Some("refund_exceeds_attempt"), Some("amount"))
    );
    assert_eq!((app.count("refunds").await, app.count("events").await), (refunds, events), "nothing was written");
    let (reserved,): (i64,) = sqlx::query_as("SELECT reserved_refunds FROM attempts WHERE id = $1")
        .bind(&other_dup)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(reserved, 0);
    for p in [&id, &other] {
        let p = app.payment(p).await;
        assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("succeeded"), Some("0")));
    }
    app.stop().await;
}

#[tokio::test]
async fn a_refunded_duplicate_ties_out_in_the_settlement_report() {
    let app = TestApp::spawn().await;
    let mut body = payment_body();
    body["lines"] = json!([
        {"kind": "charge", "code": "LP-GPLX", "description": "Lệ phí cấp đổi GPLX", "amount": "135000"},
        {"kind": "fee", "code": "P-SH", "description": "Phí sát hạch", "amount": "50000"}
    ]);
    let id = app.create_payment(&body).await["id"].as_str().unwrap().to_owned();
    let tabs = [app.choose(&id, "sandbox").await, app.choose(&id, "sandbox").await];
    for tab in &tabs {
        assert_eq!(app.client.post(tab).form(&[("outcome", "success")]).send().await.unwrap().status(), 303);
    }
    let p = app.payment(&id).await;
    let dup = attempt(&p, 1).0;
    // The duplicate is paid back in two parts.
    for amount in ["35000", "150000"] {
        let (status, r) = refund(&app, &id, json!({"amount": amount, "reason": "Thu trùng", "attempt_id": dup})).await;
        assert_eq!((status, r["status"].as_str()), (202, Some("succeeded")), "{r}");
    }
    let date = time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+7))
        .date()
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap();
    let file = app
        .client
        .get(format!("{}/sim/sandbox/_control/settlement?date={date}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = app
        .post("/v1/reconciliation/runs", &app.finance_key)
        .json(&json!({"source": "sandbox", "date": date, "content": file}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let rep: Value = app
        .get(&format!("/v1/reports/settlement?date={date}"), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The gateway settled both collections and the duplicate's refunds: what is left is the
    // payment, which feegate expects once, with nothing of it refunded.
    for (line, paid) in [(0, "135000"), (1, "50000")] {
        let account = p["lines"][line]["account_id"].as_str().unwrap();
        let a = rep["accounts"].as_array().unwrap().iter().find(|a| a["account_id"] == account).unwrap();
        assert_eq!(
            [&a["paid"], &a["refunded"], &a["expected"], &a["settled"], &a["difference_settled"]],
            [&json!(paid), &json!("0"), &json!(paid), &json!(paid), &json!("0")],
            "{rep}"
        );
    }
    // The month counts the payment once, with nothing of it refunded.
    let month = &date[..7];
    let rep: Value = app
        .get(&format!("/v1/reports/monthly?month={month}"), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows: Vec<(&str, &str)> = rep["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["amount"].as_str().unwrap(), r["refunded"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, vec![("135000", "0"), ("50000", "0")], "{rep}");
    app.stop().await;
}

#[tokio::test]
async fn the_attempt_that_paid_is_the_payments_own_even_when_another_was_started_first() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let tabs = [app.choose(&id, "sandbox").await, app.choose(&id, "sandbox").await];
    // The payer pays in the second tab first; the first tab's success is the duplicate.
    for tab in tabs.iter().rev() {
        assert_eq!(app.client.post(tab).form(&[("outcome", "success")]).send().await.unwrap().status(), 303);
    }
    let p = app.payment(&id).await;
    let ((started_first, _), (paid_by, _)) = (attempt(&p, 0), attempt(&p, 1));
    let (status, r) = refund(&app, &id, json!({"amount": "1000", "reason": "x"})).await;
    assert_eq!(
        (status, r["attempt_id"].as_str(), r["duplicate"].as_bool()),
        (202, Some(paid_by.as_str()), Some(false))
    );
    let (status, r) = refund(&app, &id, json!({"amount": "1000", "reason": "x", "attempt_id": started_first})).await;
    assert_eq!((status, r["duplicate"].as_bool()), (202, Some(true)), "{r}");
    assert_eq!(app.payment(&id).await["refunded_amount"], "1000");
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_refund_body_names_the_attempt_and_refuses_unknown_fields() {
    let app = TestApp::spawn().await;
    let doc: Value = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    let body = &doc["components"]["schemas"]["NewRefund"];
    assert_eq!(body["additionalProperties"], false, "{body}");
    let attempt_id = &body["properties"]["attempt_id"];
    assert_eq!(attempt_id["maxLength"], 64, "{attempt_id}");
    assert!(attempt_id["description"].as_str().unwrap().contains("refund_exceeds_attempt"), "{attempt_id}");
    let required: Vec<&str> = body["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(!required.contains(&"attempt_id"), "{body}");
    // The server refuses what the schema refuses.
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
        .json(&json!({"amount": "1", "reason": "x", "attempt": "att_1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (422, "unknown_field".to_owned(), Some("attempt".to_owned())));
    app.stop().await;
}

#[tokio::test]
async fn payments_of_an_older_database_keep_the_attempt_their_refunds_went_through() {
    let db_url = fresh_database().await;
    {
        // The database as migrations 0001..0010 left it: a payment paid twice whose refund
        // went through its first succeeded attempt, one paid after a declined try, and an
        // expired one with a late success.
        let pool = old_database(&db_url, 11).await;
        for (pid, status, refunded) in
            [("pay_twice", "partially_refunded", 1000), ("pay_retry", "succeeded", 0), ("pay_late", "expired", 0)]
        {
            sqlx::query(
                "INSERT INTO payments (id, portal_id, agency_code, dossier_code, procedure_code, description, \
                 currency, amount, refunded_amount, status, payer, return_url, metadata, created_at, updated_at, \
                 expires_at, paid_at, reserved_refunds) VALUES ($1, 'old-portal', 'OLD.01', 'D-1', 'P-1', 'old', \
                 'VND', 135000, $2, $3, '{}', 'https://p.example/r', '{}', 1, 1, 1, 1, $2)",
            )
            .bind(pid)
            .bind(refunded)
            .bind(status)
            .execute(&pool)
            .await
            .unwrap();
        }
        for (id, pid, status, created) in [
            ("att_a", "pay_twice", "succeeded", 1),
            ("att_b", "pay_twice", "succeeded", 2),
            ("att_c", "pay_retry", "failed", 1),
            ("att_d", "pay_retry", "succeeded", 2),
            ("att_e", "pay_late", "succeeded", 1),
        ] {
            sqlx::query(
                "INSERT INTO attempts (id, payment_id, connector_id, reference, status, amount, currency, action, \
                 created_at, updated_at) VALUES ($1, $2, 'sandbox', $1, $3, 135000, 'VND', '{}', $4, $4)",
            )
            .bind(id)
            .bind(pid)
            .bind(status)
            .bind(created)
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, attempt_id, connector_id, reference, amount, reason, status, \
             requested_by, created_at, updated_at) VALUES ('rfd_old', 'pay_twice', 'att_a', 'sandbox', 'FGROLD', \
             1000, 'old', 'succeeded', 'staff:old', 3, 3)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let app = TestApp::spawn_on(&db_url, &[]).await;
    for (pid, paying) in [("pay_twice", Some("att_a")), ("pay_retry", Some("att_d")), ("pay_late", None)] {
        let (got,): (Option<String>,) = sqlx::query_as("SELECT paid_attempt_id FROM payments WHERE id = $1")
            .bind(pid)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(got.as_deref(), paying, "{pid}");
    }
    let list: Value =
        app.get("/v1/payments/pay_twice/refunds", &app.finance_key).send().await.unwrap().json().await.unwrap();
    assert_eq!((list[0]["attempt_id"].as_str(), list[0]["duplicate"].as_bool()), (Some("att_a"), Some(false)));
    // The second collection of the old payment is a duplicate, capped at its own amount.
    let (status, r) =
        refund(&app, "pay_twice", json!({"amount": "135001", "reason": "x", "attempt_id": "att_b"})).await;
    assert_eq!((status, r["error"]["code"].as_str()), (422, Some("refund_exceeds_attempt")), "{r}");
    app.stop().await;
}

#[tokio::test]
async fn a_second_credit_on_the_statement_is_a_duplicate_not_a_missing_transfer() {
    let app = TestApp::spawn().await;
    // A fee (to the Vietcombank account of the demo's statement source) paid twice by VietQR.
    let mut body = payment_body();
    body["lines"] = json!([{"kind": "fee", "code": "P-01", "description": "Phí thẩm định", "amount": "135000"}]);
    let id = app.create_payment(&body).await["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "vietqr"}))
        .send()
        .await
        .unwrap();
    let t = r.json::<Value>().await.unwrap()["transfer"].clone();
    let (reference, bin, account) =
        (t["content"].as_str().unwrap(), t["bank_bin"].as_str().unwrap(), t["account_number"].as_str().unwrap());
    assert_eq!(account, "0351000765432");
    for txn in ["FT0501", "FT0502"] {
        assert_eq!(vietqr_credit(&app.url, reference, 135_000, txn, bin, account).await, 200);
    }
    assert_eq!(app.payment(&id).await["attempts"].as_array().unwrap().len(), 2);
    let day = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7)).date();
    let d = format!("{:02}/{:02}/{}", day.day(), u8::from(day.month()), day.year());
    let mut csv = String::from(
        "NGÂN HÀNG TMCP NGOẠI THƯƠNG VIỆT NAM,,,,,,\nSAO KÊ TÀI KHOẢN / ACCOUNT STATEMENT,,,,,,\n\
         Số tài khoản: 0351000765432 - SO GIAO THONG VAN TAI TINH HA NAM,,,,,,\nLoại tiền: VND,,,,,,\n\
         STT,Ngày giao dịch,Số tham chiếu,Số tiền ghi nợ,Số tiền ghi có,Số dư,Nội dung chi tiết\n",
    );
    for (n, (txn, balance)) in [("FT0501", "10,135,000"), ("FT0502", "10,270,000")].iter().enumerate() {
        csv.push_str(&format!(
            "{},{d},5073IBT{:07},\"\",\"135,000\",\"{balance}\",\"MBVCB.{txn}.{reference}.CT tu 0011004123456\"\n",
            n + 1,
            n + 1
        ));
    }
    let r = app
        .post("/v1/reconciliation/runs", &app.finance_key)
        .json(&json!({"source": "vcb-0351000765432", "content": csv}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let run: Value = r.json().await.unwrap();
    // The second credit is the duplicate the review is about; the attempt recorded for it is
    // not a transfer the statement lacks.
    assert_eq!(
        (
            run["counts"]["matched"].as_i64(),
            run["counts"]["duplicate"].as_i64(),
            run["counts"]["missing_in_file"].as_i64()
        ),
        (Some(1), Some(1), Some(0)),
        "{run}"
    );
    app.stop().await;
}
