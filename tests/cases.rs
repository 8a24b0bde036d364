//! Cases and day close: a settlement run's planted discrepancies are open cases that
//! finance resolves once each (audited, staff only); a day closes only when none is open
//! and then takes no more files; a late success is a review case of its connector's day.

mod common;
use common::*;
use feegate_connector::crypto::hmac_sha256_hex;
use serde_json::{json, Value};

/// Today as a GMT+7 business day.
fn today() -> String {
    let d = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7)).date();
    d.format(time::macros::format_description!("[year]-[month]-[day]")).unwrap()
}

/// A paid payment: (payment id, attempt reference).
async fn paid(app: &TestApp) -> (String, String) {
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let reference = app.payment(&id).await["attempts"][0]["reference"].as_str().unwrap().to_owned();
    (id, reference)
}

async fn settlement_file(app: &TestApp, date: &str) -> String {
    let url = format!("{}/sim/sandbox/_control/settlement?date={date}", app.url);
    app.client.get(url).send().await.unwrap().text().await.unwrap()
}

async fn import(app: &TestApp, query: &str, body: Value) -> (u16, Value) {
    let r = app.post(&format!("/v1/reconciliation/runs{query}"), &app.finance_key).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get_json(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    let r = app.get(path, key).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn cases(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, v) = get_json(app, &format!("/v1/cases{query}"), &app.finance_key).await;
    assert_eq!(status, 200, "{v}");
    v.as_array().unwrap().clone()
}

async fn resolve(app: &TestApp, id: &str, key: &str, body: Value) -> (u16, Value) {
    let r = app.post(&format!("/v1/cases/{id}/resolve"), key).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn close(app: &TestApp, source: &str, date: &str) -> (u16, Value) {
    let r = app.post(&format!("/v1/reconciliation/days/{source}/{date}/close"), &app.finance_key).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn audits(app: &TestApp, kind: &str) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE kind = $1").bind(kind).fetch_one(&app.db).await.unwrap();
    n
}

#[tokio::test]
async fn planted_discrepancies_are_cases_that_resolve_once_and_then_the_day_closes() {
    let app = TestApp::spawn().await;
    let (_, ref_a) = paid(&app).await;
    let (_, ref_b) = paid(&app).await;
    let (_, ref_c) = paid(&app).await;
    let date = today();
    let file = settlement_file(&app, &date).await;
    // A's amount is wrong, B is missing, and the file has a payment feegate never saw.
    let mut planted: Vec<String> = file
        .lines()
        .filter(|l| !l.starts_with(&format!("{ref_b},")))
        .map(|l| if l.starts_with(&format!("{ref_a},")) { l.replace(",135000,", ",153000,") } else { l.to_owned() })
        .collect();
    let c_line = planted.iter().find(|l| l.starts_with(&format!("{ref_c},"))).unwrap().clone();
    planted.push(c_line.replacen(&ref_c, "FGUNKNOWN000", 1));
    let planted = planted.join("\n") + "\n";
    let (status, run) = import(&app, "", json!({"source": "sandbox", "date": date, "content": planted})).await;
    assert_eq!(status, 201, "{run}");

    // Exactly the planted discrepancies are open cases; matched C is not one.
    let open = cases(&app, &format!("?status=open&source=sandbox&date={date}")).await;
    let mut outcomes: Vec<(&str, &str)> =
        open.iter().map(|c| (c["outcome"].as_str().unwrap(), c["reference"].as_str().unwrap())).collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        vec![
            ("amount_mismatch", ref_a.as_str()),
            ("missing_in_feegate", "FGUNKNOWN000"),
            ("missing_in_file", ref_b.as_str())
        ]
    );
    assert!(open.iter().all(|c| c["kind"] == "settlement" && c["status"] == "open" && c["date"] == date.as_str()));
    assert!(open.iter().all(|c| c["id"].as_str().unwrap().starts_with("rci_") && c["resolution"].is_null()));
    let amount = open.iter().find(|c| c["outcome"] == "amount_mismatch").unwrap();
    assert_eq!(amount["reason"], "amount 153000 in file, 135000 in feegate");
    assert_eq!((amount["amount_file"].as_str(), amount["amount_feegate"].as_str()), (Some("153000"), Some("135000")));
    assert_eq!(cases(&app, "?kind=review").await.len(), 0);
    assert_eq!(cases(&app, "?kind=settlement&source=vnpay").await.len(), 0);
    assert_eq!(get_json(&app, "/v1/cases", &app.portal_key).await.0, 403);
    for (query, code) in
        [("?status=closed", "invalid_status"), ("?kind=x", "invalid_kind"), ("?date=27/11", "invalid_date")]
    {
        let (status, v) = get_json(&app, &format!("/v1/cases{query}"), &app.finance_key).await;
        assert_eq!((status, v["error"]["code"].as_str()), (422, Some(code)), "{query}");
    }

    // The day cannot close with open cases, and says how many.
    let (status, v) = close(&app, "sandbox", &date).await;
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("open_cases")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().starts_with("3 case(s)"), "{v}");

    // Resolving: staff only, a known code, a note; unknown and matched ids are not cases.
    let id = amount["id"].as_str().unwrap().to_owned();
    let note = json!({"code": "gateway_error", "note": "VNPAY xác nhận nhầm số tiền, đã điều chỉnh"});
    assert_eq!(resolve(&app, &id, &app.portal_key, note.clone()).await.0, 403);
    for (body, code, field) in [
        (json!({"code": "fixed", "note": "x"}), "invalid_resolution_code", "code"),
        (json!({"code": "corrected", "note": "  "}), "invalid_note", "note"),
        (json!({"code": "corrected"}), "missing_field", "note"),
    ] {
        let (status, v) = resolve(&app, &id, &app.finance_key, body.clone()).await;
        assert_eq!((status, v["error"]["code"].as_str(), v["error"]["field"].as_str()), (422, Some(code), Some(field)));
    }
    assert_eq!(resolve(&app, "rci_nope", &app.finance_key, note.clone()).await.0, 404);
    assert_eq!(resolve(&app, "nope", &app.finance_key, note.clone()).await.0, 404);
    let (matched,): (String,) =
        sqlx::query_as("SELECT id FROM recon_items WHERE outcome = 'matched'").fetch_one(&app.db).await.unwrap();
    assert_eq!(resolve(&app, &matched, &app.finance_key, note.clone()).await.0, 404, "a matched item is no case");
    assert_eq!(app.count("case_resolutions").await, 0, "refused resolutions write nothing");

    let (status, done) = resolve(&app, &id, &app.finance_key, note.clone()).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["status"].as_str(), done["resolution"]["code"].as_str()),
        (Some("resolved"), Some("gateway_error"))
    );
    assert!(done["resolution"]["resolved_by"].as_str().unwrap().starts_with("key:key_"), "{done}");
    let (status, v) = resolve(&app, &id, &app.admin_key, json!({"code": "other", "note": "again"})).await;
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("case_already_resolved")));
    for c in open.iter().filter(|c| c["id"] != id.as_str()) {
        let (status, _) =
            resolve(&app, c["id"].as_str().unwrap(), &app.admin_key, json!({"code": "other", "note": "Đã kiểm tra"}))
                .await;
        assert_eq!(status, 200);
    }
    assert_eq!(cases(&app, "").await.len(), 0, "nothing is open");
    let resolved = cases(&app, &format!("?status=resolved&date={date}")).await;
    assert_eq!(resolved.len(), 3);
    let first = resolved.iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(first["resolution"]["note"], "VNPAY xác nhận nhầm số tiền, đã điều chỉnh");
    assert_eq!(cases(&app, "?status=all").await.len(), 3);
    assert_eq!(audits(&app, "case.resolved").await, 3);

    // Now the day closes, once; closing again answers the same record.
    let (status, day) = close(&app, "sandbox", &date).await;
    assert_eq!((status, day["status"].as_str(), day["open_cases"].as_i64()), (200, Some("closed"), Some(0)), "{day}");
    let (status, again) = close(&app, "sandbox", &date).await;
    assert_eq!((status, &again["closed_at"], &again["closed_by"]), (200, &day["closed_at"], &day["closed_by"]));
    assert_eq!(audits(&app, "reconciliation.day_closed").await, 1);
    let (_, days) = get_json(&app, "/v1/reconciliation/days?source=sandbox", &app.finance_key).await;
    assert_eq!(days.as_array().unwrap().len(), 1);
    assert_eq!((days[0]["status"].as_str(), days[0]["date"].as_str()), (Some("closed"), Some(date.as_str())));

    // A closed day takes no more files: not a re-run, not a new file; nothing is written.
    let (runs, items) = (app.count("recon_runs").await, app.count("recon_items").await);
    for (query, content) in [("?rerun=true", &planted), ("", &file)] {
        let (status, v) = import(&app, query, json!({"source": "sandbox", "date": date, "content": content})).await;
        assert_eq!((status, v["error"]["code"].as_str()), (409, Some("day_closed")), "{v}");
    }
    assert_eq!((app.count("recon_runs").await, app.count("recon_items").await), (runs, items));

    // A day without a run cannot close; an unknown source is refused.
    let (status, v) = close(&app, "sandbox", "2020-01-01").await;
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("no_run")));
    let (status, v) = close(&app, "nope", &date).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("unknown_source")));
    let (status, v) = close(&app, "sandbox", "2020-13-01").await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_date")));
    assert_eq!(app.count("recon_days").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_rerun_supersedes_the_cases_of_the_earlier_run() {
    let app = TestApp::spawn().await;
    let (_, ref_a) = paid(&app).await;
    let date = today();
    let file = settlement_file(&app, &date).await;
    let wrong = file.replace(",135000,", ",130000,");
    assert_ne!(wrong, file);
    let (status, _) = import(&app, "", json!({"source": "sandbox", "date": date, "content": wrong})).await;
    assert_eq!(status, 201);
    let open = cases(&app, "").await;
    assert_eq!((open.len(), open[0]["reference"].as_str()), (1, Some(ref_a.as_str())));
    // The gateway sends a corrected file: its run is the day's latest, and it has no case.
    let (status, _) = import(&app, "", json!({"source": "sandbox", "date": date, "content": file})).await;
    assert_eq!(status, 201);
    assert_eq!(cases(&app, "").await.len(), 0);
    let (status, day) = close(&app, "sandbox", &date).await;
    assert_eq!((status, day["status"].as_str()), (200, Some("closed")), "{day}");
    app.stop().await;
}

#[tokio::test]
async fn a_late_success_is_a_review_case_of_its_connectors_day_and_resolves() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let reference = app.payment(&id).await["attempts"][0]["reference"].as_str().unwrap().to_owned();
    // The payment expired before the gateway said the payer paid.
    for sql in [
        "UPDATE payments SET status = 'expired' WHERE id = $1",
        "UPDATE attempts SET status = 'expired' WHERE payment_id = $1",
    ] {
        sqlx::query(sql).bind(&id).execute(&app.db).await.unwrap();
    }
    let body = serde_json::to_vec(&json!({"reference": reference, "transaction_id": "SBX0001", "amount": 135000,
        "currency": "VND", "status": "succeeded", "paid_at": "2026-11-27T10:00:00Z"}))
    .unwrap();
    let sig = hmac_sha256_hex(b"sandbox-demo-secret", &body);
    let r = app
        .client
        .post(format!("{}/callbacks/sandbox", app.url))
        .header("content-type", "application/json")
        .header("X-Sandbox-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.payment(&id).await["review"]["reason"], "late_success");

    let date = today();
    let reviews = cases(&app, &format!("?kind=review&source=sandbox&date={date}")).await;
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let case = &reviews[0];
    assert_eq!(
        (case["payment_id"].as_str(), case["kind"].as_str(), case["outcome"].as_str(), case["source"].as_str()),
        (Some(id.as_str()), Some("review"), Some("late_success"), Some("sandbox"))
    );
    assert!(case["id"].as_str().unwrap().starts_with("rev_"), "a review is a case of its own: {case}");
    assert_eq!(case["date"], date.as_str());
    assert_eq!(cases(&app, "?kind=review&source=vnpay").await.len(), 0);
    assert_eq!(cases(&app, "?kind=review&date=2020-01-01").await.len(), 0);

    // The day's settlement file lacks the late payment (the simulator never saw it): a
    // second case of the same day. Both must be resolved before the day closes.
    let file = settlement_file(&app, &date).await;
    let (status, run) = import(&app, "", json!({"source": "sandbox", "date": date, "content": file})).await;
    assert_eq!((status, run["counts"]["missing_in_file"].as_i64()), (201, Some(1)), "{run}");
    let (status, v) = close(&app, "sandbox", &date).await;
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("open_cases")));
    assert!(v["error"]["message"].as_str().unwrap().starts_with("2 case(s)"), "{v}");
    let (_, days) = get_json(&app, &format!("/v1/reconciliation/days?date={date}"), &app.finance_key).await;
    assert_eq!(days[0]["open_cases"], 2, "{days}");

    let (status, done) = resolve(
        &app,
        &id,
        &app.finance_key,
        json!({"code": "refunded", "note": "Hoàn tiền cho người nộp qua cổng thử nghiệm"}),
    )
    .await;
    assert_eq!((status, done["status"].as_str(), done["kind"].as_str()), (200, Some("resolved"), Some("review")));
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE scope = $1 AND kind = 'case.resolved'")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1, "a review's resolution is in the payment's own journal");
    assert_eq!(resolve(&app, &id, &app.finance_key, json!({"code": "other", "note": "x"})).await.0, 409);
    let (status, v) = close(&app, "sandbox", &date).await;
    assert!(v["error"]["message"].as_str().unwrap_or("").starts_with("1 case(s)"), "{status} {v}");
    let item = cases(&app, "").await;
    assert_eq!(item.len(), 1);
    assert_eq!(item[0]["payment_id"], id.as_str());
    resolve(&app, item[0]["id"].as_str().unwrap(), &app.finance_key, json!({"code": "refunded", "note": "cùng vụ"}))
        .await;
    assert_eq!(close(&app, "sandbox", &date).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_close_racing_an_import_of_its_day_never_lets_both_through() {
    let app = TestApp::spawn().await;
    let header = "reference,gateway_txn,type,amount,fee,status,time\n";
    for d in 1..=8 {
        let date = format!("2026-01-{d:02}");
        // The day has a run and no open case, so it could close...
        let (status, v) = import(&app, "", json!({"source": "sandbox", "date": date, "content": header})).await;
        assert_eq!(status, 201, "{v}");
        // ...while a file with an unknown payment (an open case) arrives for it.
        let file = format!("{header}FGUNKNOWN{d:03},T{d},pay,135000,0,succeeded,{date}T10:00:00+07:00\n");
        let body = json!({"source": "sandbox", "date": date, "content": file});
        let ((imported, iv), (closed, cv)) = tokio::join!(import(&app, "", body), close(&app, "sandbox", &date));
        match (imported, closed) {
            (201, 409) => assert_eq!(cv["error"]["code"], "open_cases", "{date}: {cv}"),
            (409, 200) => assert_eq!(iv["error"]["code"], "day_closed", "{date}: {iv}"),
            other => panic!("{date}: import and close both answered {other:?}: {iv} {cv}"),
        }
    }
    app.stop().await;
}
