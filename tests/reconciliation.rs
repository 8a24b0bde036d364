//! Gateway settlement reconciliation: the sandbox's file for today matches what feegate
//! recorded; the same file twice is one run; planted errors each get their outcome and a
//! readable reason in a new version while the earlier run stays as it was.

mod common;
use common::*;
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

async fn import(app: &TestApp, key: &str, query: &str, body: Value) -> (u16, Value) {
    let r = app.post(&format!("/v1/reconciliation/runs{query}"), key).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn items(app: &TestApp, run: &str, query: &str) -> Vec<Value> {
    let v: Value = app
        .get(&format!("/v1/reconciliation/runs/{run}/items{query}"), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array().unwrap_or_else(|| panic!("{v}")).clone()
}

/// The settlement line of `reference` in `csv`.
fn line_of<'a>(csv: &'a str, reference: &str) -> &'a str {
    csv.lines().find(|l| l.starts_with(&format!("{reference},"))).unwrap_or_else(|| panic!("{reference} in {csv}"))
}

#[tokio::test]
async fn a_days_settlement_file_matches_and_planted_errors_each_get_their_outcome() {
    let app = TestApp::spawn().await;
    let (a, ref_a) = paid(&app).await;
    let (_, ref_b) = paid(&app).await;
    let (_, ref_c) = paid(&app).await;
    let r = app
        .post(&format!("/v1/payments/{a}/refunds"), &app.finance_key)
        .json(&json!({"amount": "35000", "reason": "Hồ sơ bị từ chối"}))
        .send()
        .await
        .unwrap();
    let refund: Value = r.json().await.unwrap();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    let ref_r = refund["reference"].as_str().unwrap().to_owned();
    let date = today();
    let file = app
        .client
        .get(format!("{}/sim/sandbox/_control/settlement?date={date}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // The gateway's file agrees with feegate: every pay and the refund matched.
    let (status, run1) =
        import(&app, &app.finance_key, "", json!({"source": "sandbox", "date": date, "content": file})).await;
    assert_eq!(status, 201, "{run1}");
    assert_eq!((run1["lines"].as_i64(), run1["version"].as_i64()), (Some(4), Some(1)));
    assert_eq!(
        run1["counts"],
        json!({"matched": 4, "missing_in_file": 0, "missing_in_feegate": 0, "amount_mismatch": 0, "status_mismatch": 0, "duplicate": 0})
    );
    let id1 = run1["id"].as_str().unwrap().to_owned();
    let first_items = items(&app, &id1, "").await;
    assert_eq!(first_items.len(), 4);
    assert!(first_items.iter().all(|i| i["outcome"] == "matched" && i["reason"] == ""), "{first_items:?}");
    let refund_item = first_items.iter().find(|i| i["reference"] == ref_r.as_str()).unwrap();
    assert_eq!((refund_item["kind"].as_str(), refund_item["amount_file"].as_str()), (Some("refund"), Some("35000")));
    assert_eq!(refund_item["refund_id"], refund["id"]);

    // The same file again is the same run, not a second one.
    let (status, again) =
        import(&app, &app.admin_key, "", json!({"source": "sandbox", "date": date, "content": file})).await;
    assert_eq!((status, again["id"].as_str()), (200, Some(id1.as_str())));
    assert_eq!(app.count("recon_runs").await, 1);

    // Plant one error of each kind.
    let pay_a = line_of(&file, &ref_a);
    let pay_c = line_of(&file, &ref_c);
    let refund_line = line_of(&file, &ref_r);
    let mut planted: Vec<String> = file
        .lines()
        .filter(|l| !l.starts_with(&format!("{ref_b},")))
        .map(|l| {
            if l == pay_a {
                l.replace(",135000,", ",153000,")
            } else if l == refund_line {
                l.replace(",succeeded,", ",failed,")
            } else {
                l.to_owned()
            }
        })
        .collect();
    planted.push(pay_c.to_owned());
    planted.push(pay_c.replacen(&ref_c, "FGUNKNOWN000", 1));
    let planted = planted.join("\n") + "\n";
    let (status, run2) =
        import(&app, &app.finance_key, "?rerun=true", json!({"source": "sandbox", "date": date, "content": planted}))
            .await;
    assert_eq!(status, 201, "{run2}");
    assert_eq!(run2["version"], 2, "the day's second run, though its file is another: {run2}");
    let id2 = run2["id"].as_str().unwrap().to_owned();
    assert_ne!(id1, id2);
    assert_eq!(
        run2["counts"],
        json!({"matched": 1, "missing_in_file": 1, "missing_in_feegate": 1, "amount_mismatch": 1, "status_mismatch": 1, "duplicate": 1})
    );
    let one = |outcome: &'static str| {
        let app = &app;
        let id2 = id2.clone();
        async move {
            let got = items(app, &id2, &format!("?status={outcome}")).await;
            assert_eq!(got.len(), 1, "{outcome}: {got:?}");
            got[0].clone()
        }
    };
    let amount = one("amount_mismatch").await;
    assert_eq!(
        (amount["reference"].as_str(), amount["reason"].as_str()),
        (Some(ref_a.as_str()), Some("amount 153000 in file, 135000 in feegate"))
    );
    let missing = one("missing_in_file").await;
    assert_eq!((missing["reference"].as_str(), missing["line"].as_i64()), (Some(ref_b.as_str()), None));
    assert_eq!(missing["reason"], format!("pay {ref_b} of 135000 succeeded in feegate but is not in the file"));
    let unknown = one("missing_in_feegate").await;
    assert_eq!(unknown["reason"], "feegate has no pay with reference FGUNKNOWN000");
    let status_item = one("status_mismatch").await;
    assert_eq!(status_item["reason"], format!("refund {ref_r}: failed in file (status failed), succeeded in feegate"));
    let dup = one("duplicate").await;
    // Lines: header, A, A's refund, C, C again, the unknown one.
    assert_eq!((dup["reference"].as_str(), dup["line"].as_i64()), (Some(ref_c.as_str()), Some(5)));
    assert!(dup["reason"].as_str().unwrap().contains("more than once"), "{dup}");
    assert_eq!(one("matched").await["reference"], ref_c.as_str());

    // The first run is untouched; re-running its file makes version 3, now the latest.
    assert_eq!(items(&app, &id1, "").await, first_items);
    let got: Value = app
        .get(&format!("/v1/reconciliation/runs/{id1}"), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["counts"]["matched"], 4);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(file.as_bytes());
    let (status, v2) = import(
        &app,
        &app.finance_key,
        "?rerun=true",
        json!({"source": "sandbox", "date": date, "content_base64": b64}),
    )
    .await;
    assert_eq!((status, v2["version"].as_i64(), v2["counts"]["matched"].as_i64()), (201, Some(3), Some(4)), "{v2}");
    let (status, latest) =
        import(&app, &app.finance_key, "", json!({"source": "sandbox", "date": date, "content": file})).await;
    assert_eq!((status, latest["id"].as_str()), (200, v2["id"].as_str()));
    let list: Value = app
        .get(&format!("/v1/reconciliation/runs?source=sandbox&date={date}"), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE kind = 'reconciliation.run'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 3, "one audit entry per run");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_file_is_refused_with_its_line_and_portals_may_not_reconcile() {
    let app = TestApp::spawn().await;
    let date = today();
    let bad = format!(
        "reference,gateway_txn,type,amount,fee,status,time\n\
         FG1,T1,pay,135000,0,succeeded,{date}T10:00:00+07:00\n\
         FG2,T2,pay,13.5,0,succeeded,{date}T10:00:00+07:00\n"
    );
    let (status, v) =
        import(&app, &app.finance_key, "", json!({"source": "sandbox", "date": date, "content": bad})).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_settlement_file")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("line 3"), "{v}");
    for (body, code, field) in [
        (json!({"source": "nope", "date": date, "content": ""}), "unknown_source", "source"),
        (json!({"source": "sandbox", "date": "27/11/2026", "content": ""}), "invalid_date", "date"),
        (json!({"source": "sandbox", "date": date}), "missing_field", "content"),
        (json!({"source": "sandbox", "date": date, "content_base64": "@@"}), "invalid_base64", "content_base64"),
    ] {
        let (status, v) = import(&app, &app.finance_key, "", body.clone()).await;
        assert_eq!(
            (status, v["error"]["code"].as_str(), v["error"]["field"].as_str()),
            (422, Some(code), Some(field)),
            "{body}"
        );
    }
    let (status, _) =
        import(&app, &app.portal_key, "", json!({"source": "sandbox", "date": date, "content": ""})).await;
    assert_eq!(status, 403);
    let r = app.get("/v1/reconciliation/runs", &app.portal_key).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = app.get("/v1/reconciliation/runs/rcn_nope", &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.count("recon_runs").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn ten_concurrent_imports_of_one_file_make_exactly_one_run() {
    let app = TestApp::spawn().await;
    paid(&app).await;
    let date = today();
    let url = format!("{}/sim/sandbox/_control/settlement?date={date}", app.url);
    let file = app.client.get(url).send().await.unwrap().text().await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let req = app
            .post("/v1/reconciliation/runs", &app.finance_key)
            .json(&json!({"source": "sandbox", "date": date, "content": file}));
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v["id"].as_str().unwrap_or("").to_owned())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|a| a.0 == 201).count(), 1, "{answers:?}");
    assert!(answers.iter().all(|a| a.0 == 201 || a.0 == 200), "{answers:?}");
    let ids: std::collections::HashSet<&str> = answers.iter().map(|a| a.1.as_str()).collect();
    assert_eq!(ids.len(), 1, "every answer is the one run: {answers:?}");
    assert_eq!(app.count("recon_runs").await, 1);
    assert_eq!(app.count("recon_items").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_rerun_with_another_file_reports_the_days_next_version() {
    let app = TestApp::spawn().await;
    let (_, _) = paid(&app).await;
    let (_, ref_b) = paid(&app).await;
    let date = today();
    let file = app
        .client
        .get(format!("{}/sim/sandbox/_control/settlement?date={date}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The gateway's first file lacks B; its corrected file has every line.
    let first: String =
        file.lines().filter(|l| !l.starts_with(&format!("{ref_b},"))).map(|l| format!("{l}\n")).collect();
    assert_ne!(first, file);
    let (status, v1) =
        import(&app, &app.finance_key, "", json!({"source": "sandbox", "date": date, "content": first})).await;
    assert_eq!((status, v1["version"].as_i64()), (201, Some(1)), "{v1}");
    let (status, v2) =
        import(&app, &app.finance_key, "?rerun=true", json!({"source": "sandbox", "date": date, "content": file}))
            .await;
    assert_eq!((status, v2["version"].as_i64()), (201, Some(2)), "the day's second run: {v2}");
    assert_eq!(v2["counts"]["missing_in_file"], 0, "{v2}");
    // From a terminal, `--rerun` of the first file again: the third.
    let said = feegate::cli::reconcile::import_command(
        &app.state,
        "sandbox",
        Some("settlement"),
        Some(&date),
        true,
        first.clone().into_bytes(),
    )
    .await
    .unwrap();
    assert!(said.starts_with("new run ") && said.contains("(version 3)"), "{said}");
    // Without rerun, a file already reconciled answers with its latest run.
    let (status, again) =
        import(&app, &app.finance_key, "", json!({"source": "sandbox", "date": date, "content": first})).await;
    assert_eq!((status, again["version"].as_i64()), (200, Some(3)), "{again}");
    let (status, again) =
        import(&app, &app.finance_key, "", json!({"source": "sandbox", "date": date, "content": file})).await;
    assert_eq!((status, again["id"].as_str()), (200, v2["id"].as_str()), "{again}");
    let list: Value = app
        .get(&format!("/v1/reconciliation/runs?source=sandbox&date={date}"), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let versions: Vec<i64> = list.as_array().unwrap().iter().map(|r| r["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [3, 2, 1]);
    app.stop().await;
}
