//! Receipt provider jobs the provider refused (issue 11's gaps; docs/receipts.md): a refusal
//! opens one case for finance per failure, finance or an admin sends the job again (API and
//! the console's payment page, audited; a job that is not failed is 409
//! `receipt_job_not_failed`), and a cancellation whose receipt the provider never issued
//! ends without the provider, but runs for real once a re-queued issue is done. The demo's
//! H12.25 sends its receipts to the provider simulator the demo mounts, made to refuse with
//! its `refuse` fault. Runs on SQLite, and on PostgreSQL with FEEGATE_TEST_DATABASE_URL.

mod common;
use common::console::{self as console, payment_of, DEMO_FINANCE, DEMO_RECON};
use common::*;
use serde_json::{json, Value};

const WORDS: &str = "mã số thuế của đơn vị chưa đăng ký phát hành biên lai";

fn sim(app: &TestApp) -> String {
    format!("{}/sim/receipts/bienlai-sim", app.url)
}

async fn sim_control(app: &TestApp, body: Value) {
    let r = reqwest::Client::new().post(format!("{}/control", sim(app))).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

/// What the provider holds: receipts made per key, and each receipt's status there.
async fn at_provider(app: &TestApp) -> (std::collections::BTreeMap<String, u64>, Vec<(String, String)>) {
    let v: Value = reqwest::get(format!("{}/control", sim(app))).await.unwrap().json().await.unwrap();
    let made = v["issued"].as_object().unwrap().iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap())).collect();
    let receipts = v["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r["status"].as_str().unwrap().to_owned()))
        .collect();
    (made, receipts)
}

/// A job's status, tries and `skip_reason`.
async fn job(app: &TestApp, receipt_id: &str, action: &str) -> (String, i64, Option<String>) {
    sqlx::query_as(
        "SELECT status, CAST(attempts AS BIGINT), skip_reason FROM receipt_jobs WHERE receipt_id = $1 AND action = $2",
    )
    .bind(receipt_id)
    .bind(action)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// The open review cases of a payment (`GET /v1/cases`).
async fn cases_of(app: &TestApp, payment_id: &str) -> Vec<Value> {
    let r = app.get("/v1/cases?kind=review&status=all", &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let list: Vec<Value> = r.json().await.unwrap();
    list.into_iter().filter(|c| c["payment_id"] == payment_id).collect()
}

async fn count(app: &TestApp, sql: &str, arg: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).bind(arg).fetch_one(&app.db).await.unwrap();
    n
}

fn retry_path(receipt_id: &str, action: &str) -> String {
    format!("/v1/receipts/{receipt_id}/provider-jobs/{action}/retry")
}

async fn refund_in_full(app: &TestApp, payment_id: &str) {
    let r = app
        .post(&format!("/v1/payments/{payment_id}/refunds"), &app.finance_key)
        .json(&json!({"amount": "135000", "reason": "Trả hồ sơ"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// A paid H12.25 payment whose receipt the provider refused: (payment id, receipt id).
async fn refused_payment(app: &TestApp) -> (String, String) {
    sim_control(app, json!({"refuse": WORDS})).await;
    let (id, _) = payment_of(app, "H12.25").await;
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"), "paid regardless");
    let r = provider_reaches(app, &id, "failed").await;
    assert!(r["provider"]["error"].as_str().unwrap().contains(WORDS), "{r}");
    (id, r["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_refused_issue_opens_one_case_per_failure_and_finance_sends_it_again() {
    let app = TestApp::spawn().await;
    let (id, rid) = refused_payment(&app).await;

    // One case, with the receipt, the provider and its words; the payment says so and the
    // portal hears it.
    let cases = cases_of(&app, &id).await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case = &cases[0];
    assert_eq!((case["kind"].as_str(), case["outcome"].as_str()), (Some("review"), Some("receipt_provider_refused")));
    let reason = case["reason"].as_str().unwrap();
    for want in [rid.as_str(), "bienlai-sim", WORDS, "KB-26E", "on try 1", "own receipt stands"] {
        assert!(reason.contains(want), "{want} in {reason}");
    }
    assert_eq!(app.payment(&id).await["review"]["reason"], "receipt_provider_refused");
    let needs_review = "SELECT COUNT(*) FROM events WHERE payment_id = $1 AND type = 'payment.needs_review'";
    assert_eq!(count(&app, needs_review, &id).await, 1);
    // The worker keeps running: still one case (the job is failed; nothing retries it).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(cases_of(&app, &id).await.len(), 1);
    assert_eq!(job(&app, &rid, "issue").await, ("failed".into(), 1, None));

    // Who may send it again, and what.
    let post = |path: String, key: String| {
        let app = &app;
        async move { error_code(app.post(&path, &key).send().await.unwrap()).await }
    };
    assert_eq!(post(retry_path(&rid, "issue"), app.portal_key.clone()).await.1, "forbidden");
    let bound = feegate::service::admin::create_key(
        &app.state.store,
        feegate::api::auth::Role::Finance,
        None,
        &["H12.20".into()],
        "bound",
        "test",
    )
    .await
    .unwrap()
    .1;
    assert_eq!(post(retry_path(&rid, "issue"), bound).await.0, 404, "another agency's receipt is not found");
    assert_eq!(post(retry_path("rct_nothing", "issue"), app.finance_key.clone()).await.0, 404);
    assert_eq!(post(retry_path(&rid, "reissue"), app.finance_key.clone()).await.0, 404);
    assert_eq!(post(retry_path(&rid, "cancel"), app.finance_key.clone()).await.0, 404, "no cancellation job");
    assert_eq!(job(&app, &rid, "issue").await.0, "failed", "nothing changed");

    // Sent again while the provider still refuses: queued (its tries kept), refused again,
    // and that second failure is a second case.
    let r = app.post(&retry_path(&rid, "issue"), &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["id"].as_str(), v["provider"]["status"].as_str()), (Some(rid.as_str()), Some("queued")));
    provider_reaches(&app, &id, "failed").await;
    assert_eq!(job(&app, &rid, "issue").await, ("failed".into(), 2, None));
    let cases = cases_of(&app, &id).await;
    assert_eq!(cases.len(), 2, "{cases:?}");
    assert!(cases.iter().any(|c| c["reason"].as_str().unwrap().contains("on try 2")));
    assert_eq!(count(&app, needs_review, &id).await, 2);

    // The cause settled: sent again by an admin, issued once.
    sim_control(&app, json!({"refuse": ""})).await;
    let r = app.post(&retry_path(&rid, "issue"), &app.admin_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let issued = provider_reaches(&app, &id, "issued").await;
    assert!(issued["provider"]["number"].is_string(), "{issued}");
    assert_eq!(at_provider(&app).await.0.get(&rid), Some(&1));
    assert_eq!(cases_of(&app, &id).await.len(), 2, "no case for a success");
    // A job that is not failed is not sent again.
    let (status, code, _) = post(retry_path(&rid, "issue"), app.finance_key.clone()).await;
    assert_eq!((status, code.as_str()), (409, "receipt_job_not_failed"));

    // Each re-queue is in the payment's journal under the caller's name.
    let actors: Vec<(String,)> = sqlx::query_as(
        "SELECT actor FROM audit_log WHERE scope = $1 AND kind = 'receipt.provider_job.retried' ORDER BY seq",
    )
    .bind(&id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(actors.len(), 2, "{actors:?}");
    assert!(actors.iter().all(|(a,)| a.starts_with("key:")), "{actors:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_cancellation_of_a_receipt_never_issued_ends_without_the_provider_and_runs_after_a_retry() {
    let app = TestApp::spawn().await;
    let (id, rid) = refused_payment(&app).await;

    // Refunded in full: cancelled here; at the provider there is nothing to cancel, so the
    // cancellation is done at once without it, and says why.
    refund_in_full(&app, &id).await;
    let r = receipts_of(&app, &id).await.remove(0);
    assert_eq!(r["status"], "cancelled");
    let (status, tries, note) = job(&app, &rid, "cancel").await;
    assert_eq!((status.as_str(), tries), ("done", 0), "the provider was not asked");
    assert!(note.as_deref().unwrap_or_default().contains("never issued at the provider"), "{note:?}");
    assert_eq!(r["provider"]["status"], "failed");
    assert!(r["provider"]["note"].as_str().unwrap().contains("never issued"), "{r}");
    assert!(at_provider(&app).await.1.is_empty(), "nothing at the provider");

    // The issue sent again and done after all: the cancellation comes back and really runs,
    // so the provider does not keep a receipt cancelled here.
    sim_control(&app, json!({"refuse": ""})).await;
    let r = app.post(&retry_path(&rid, "issue"), &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, _, note) = job(&app, &rid, "cancel").await;
    assert!(status == "queued" || status == "done", "{status}");
    assert!(status == "queued" || note.is_none(), "done by the provider, not skipped: {note:?}");
    let v: Value = sqlx::query_as::<_, (String,)>(
        "SELECT payload FROM audit_log WHERE scope = $1 AND kind = 'receipt.provider_job.retried'",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .map(|(p,)| serde_json::from_str(&p).unwrap())
    .unwrap();
    assert_eq!(v["cancel_requeued"], true, "{v}");
    let r = provider_reaches(&app, &id, "cancelled").await;
    assert!(r["provider"].get("note").is_none(), "{r}");
    let (made, held) = at_provider(&app).await;
    assert_eq!(made.get(&rid), Some(&1));
    assert_eq!(held, vec![(rid.clone(), "cancelled".to_owned())]);
    assert_eq!(job(&app, &rid, "cancel").await, ("done".into(), 1, None));
    app.stop().await;
}

#[tokio::test]
async fn a_cancellation_waiting_for_its_issue_ends_when_the_provider_refuses_the_issue() {
    let app = TestApp::spawn().await;
    // The provider is down: the payment is paid, its issue waits.
    sim_control(&app, json!({"down": true})).await;
    let (id, _) = payment_of(&app, "H12.25").await;
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let rid = receipts_of(&app, &id).await[0]["id"].as_str().unwrap().to_owned();
    // Refunded in full meanwhile: the cancellation waits for the issue.
    refund_in_full(&app, &id).await;
    assert_eq!(job(&app, &rid, "cancel").await, ("queued".into(), 0, None));
    // Back, but refusing: the issue fails and, in the same transaction, the cancellation ends.
    sim_control(&app, json!({"down": false, "refuse": WORDS})).await;
    provider_reaches(&app, &id, "failed").await;
    let (status, tries, note) = job(&app, &rid, "cancel").await;
    assert_eq!((status.as_str(), tries), ("done", 0));
    assert!(note.unwrap_or_default().contains("never issued"));
    let cases = cases_of(&app, &id).await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert!(cases[0]["reason"].as_str().unwrap().contains("never issued at the provider"), "{cases:?}");
    assert!(at_provider(&app).await.1.is_empty());
    // Nothing is left waiting.
    let queued = "SELECT COUNT(*) FROM receipt_jobs WHERE receipt_id = $1 AND status = 'queued'";
    assert_eq!(count(&app, queued, &rid).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_refused_cancellation_opens_a_case_and_is_sent_again() {
    let app = TestApp::spawn().await;
    let (id, _) = payment_of(&app, "H12.25").await;
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let rid = provider_reaches(&app, &id, "issued").await["id"].as_str().unwrap().to_owned();
    sim_control(&app, json!({"refuse": WORDS})).await;
    refund_in_full(&app, &id).await;
    let r = provider_reaches(&app, &id, "cancel_failed").await;
    assert!(r["provider"]["error"].as_str().unwrap().contains(WORDS), "{r}");
    let cases = cases_of(&app, &id).await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    let reason = cases[0]["reason"].as_str().unwrap();
    assert!(reason.contains("refused to cancel") && reason.contains("still issued at the provider"), "{reason}");
    assert_eq!(at_provider(&app).await.1, vec![(rid.clone(), "issued".to_owned())]);

    sim_control(&app, json!({"refuse": ""})).await;
    let (status, code, _) =
        error_code(app.post(&retry_path(&rid, "issue"), &app.finance_key).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (409, "receipt_job_not_failed"), "the issue is done");
    let r = app.post(&retry_path(&rid, "cancel"), &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    provider_reaches(&app, &id, "cancelled").await;
    assert_eq!(at_provider(&app).await.1, vec![(rid.clone(), "cancelled".to_owned())]);
    app.stop().await;
}

#[tokio::test]
async fn retries_sent_at_once_queue_a_failed_job_once() {
    let app = TestApp::spawn().await;
    let (id, rid) = refused_payment(&app).await;
    // Down now: a re-queued job stays queued (put off), so only one retry can find it failed.
    sim_control(&app, json!({"down": true})).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let req = app.post(&retry_path(&rid, "issue"), &app.finance_key);
        tasks.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.push(s.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
    let retried = "SELECT COUNT(*) FROM audit_log WHERE scope = $1 AND kind = 'receipt.provider_job.retried'";
    assert_eq!(count(&app, retried, &id).await, 1);
    assert_eq!(job(&app, &rid, "issue").await.0, "queued");
    app.stop().await;
}

#[tokio::test]
async fn finance_sends_a_refused_job_again_from_the_payment_page() {
    let app = TestApp::spawn().await;
    let (id, rid) = refused_payment(&app).await;
    // The demo's reconciliation officer: finance for every agency (H12.25 included).
    let s = console::session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let page = console::get(&app, &s.cookie, &format!("/console/payments/{id}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Nhà cung cấp từ chối phát hành"), "the provider's status");
    assert!(html.contains(WORDS), "the provider's words");
    let button = format!("id=\"retry-issue-{rid}\"");
    assert!(html.contains(&button), "a retry button");
    let action = format!("/console/payments/{id}/receipts/{rid}/provider-jobs/issue/retry");
    assert!(html.contains(&action.replace('/', "&#x2f;")), "{action} (escaped as the page writes it)");
    // The case is in the console's list too.
    let cases = console::get(&app, &s.cookie, "/console/cases").await.text().await.unwrap();
    assert!(cases.contains("Nhà cung cấp biên lai từ chối") && cases.contains(&rid), "the case in /console/cases");

    // Without the session's CSRF token: refused, nothing changed.
    let r = console::post(&app, &s.cookie, &action, &[("csrf", "forged")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(job(&app, &rid, "issue").await.0, "failed");
    // Finance bound to another agency (H12.20): not found, nothing changed.
    let other = console::session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let r = console::post(&app, &other.cookie, &action, &[("csrf", &other.csrf)]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(job(&app, &rid, "issue").await.0, "failed");

    sim_control(&app, json!({"refuse": ""})).await;
    let r = console::post(&app, &s.cookie, &action, &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("done=provider_retried"), "{}", location(&r));
    provider_reaches(&app, &id, "issued").await;
    let html = console::get(&app, &s.cookie, &format!("/console/payments/{id}")).await.text().await.unwrap();
    assert!(html.contains("Đã phát hành") && !html.contains(&button), "issued, no button left");
    // Sent twice (a double click): the page says nothing was changed.
    let r = console::post(&app, &s.cookie, &action, &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("done=provider_not_failed"));
    let (actor,): (String,) =
        sqlx::query_as("SELECT actor FROM audit_log WHERE scope = $1 AND kind = 'receipt.provider_job.retried'")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(actor, format!("staff:{}", DEMO_RECON.0));
    app.stop().await;
}
