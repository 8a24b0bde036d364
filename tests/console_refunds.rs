//! The console's refunds over HTTP (no browser): a refund from a payment's page (once, even
//! when its form is sent twice), refusals (viewer, another agency, no CSRF token, a bad
//! amount or reason) that change nothing, a manual payout recorded on the Refunds page,
//! a webhook redelivered, the gateway's verified messages shown escaped, and Today's days
//! not closed and gateways whose status queries fail. What changed is checked through the
//! API and the database. Runs on SQLite, and on PostgreSQL with FEEGATE_TEST_DATABASE_URL.

mod common;
use common::console::*;
use common::*;
use feegate::service::caller::Role;
use serde_json::Value;

async fn journal(app: &TestApp, scope: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kind, actor FROM audit_log WHERE scope = $1 ORDER BY seq")
        .bind(scope)
        .fetch_all(&app.db)
        .await
        .expect("audit")
}

/// A payment of `agency` paid through the sandbox (135.000 ₫).
async fn paid_of(app: &TestApp, agency: &str) -> (String, String) {
    let (id, dossier) = payment_of(app, agency).await;
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    (id, dossier)
}

async fn page(app: &TestApp, s: &Session, path: &str) -> (u16, String) {
    let r = get(app, &s.cookie, path).await;
    // Read as the browser does: `/` and `&` are escaped in attributes.
    (r.status().as_u16(), r.text().await.expect("text").replace("&#x2f;", "/").replace("&amp;", "&"))
}

async fn refunds_of(app: &TestApp, id: &str) -> Vec<Value> {
    let v: Value = app
        .get(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
        .send()
        .await
        .expect("refunds")
        .json()
        .await
        .expect("json");
    v.as_array().expect("a list").clone()
}

#[tokio::test]
async fn a_finance_officer_refunds_from_the_payment_page_once_even_when_the_form_is_sent_twice() {
    let app = TestApp::spawn().await;
    let (id, _) = paid_of(&app, "H12.20").await;
    let s = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let (_, html) = page(&app, &s, &format!("/console/payments/{id}")).await;
    // The form offers the whole rest by default.
    assert!(html.contains(r#"name="amount" value="135000""#), "default amount");
    let key = hidden(&html, "key");
    let path = format!("/console/payments/{id}/refund");
    let form = [("csrf", s.csrf.as_str()), ("key", &key), ("amount", "35.000"), ("reason", "Hồ sơ bị từ chối")];
    // A double click: the same form twice at once, then once more.
    let (a, b) = tokio::join!(post(&app, &s.cookie, &path, &form), post(&app, &s.cookie, &path, &form));
    let again = post(&app, &s.cookie, &path, &form).await;
    for r in [&a, &b, &again] {
        assert_eq!(r.status(), 303);
        // The second of the pair may be answered while the first is still at the gateway.
        assert!(location(r).starts_with(&format!("/console/payments/{id}?done=refund")), "{}", location(r));
    }
    assert_eq!(location(&again), format!("/console/payments/{id}?done=refunded"));
    let refunds = refunds_of(&app, &id).await;
    assert_eq!(refunds.len(), 1, "one refund: {refunds:?}");
    assert_eq!((refunds[0]["amount"].as_str(), refunds[0]["status"].as_str()), (Some("35000"), Some("succeeded")));
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("partially_refunded"), Some("35000")));
    assert!(journal(&app, &id).await.contains(&("refund.requested".into(), "staff:ketoan".into())));
    // The page says so, shows the refund and offers the rest (a new form, a new key).
    let (_, html) = page(&app, &s, &format!("/console/payments/{id}?done=refunded")).await;
    assert!(html.contains("Đã hoàn tiền qua cổng thanh toán."));
    assert!(html.contains(r#"name="amount" value="100000""#));
    assert_ne!(hidden(&html, "key"), key);
    // The rest with a new form: now the payment is refunded and offers no refund form.
    assert_eq!(refund_form(&app, &s, &id, "100000", "Hoàn phần còn lại").await.status(), 303);
    assert_eq!(app.payment(&id).await["status"], "refunded");
    let (_, html) = page(&app, &s, &format!("/console/payments/{id}")).await;
    assert!(!html.contains(r#"name="key""#), "nothing left to refund: no form");
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_another_agencys_user_and_a_post_without_csrf_change_nothing() {
    let app = TestApp::spawn().await;
    let (id, _) = paid_of(&app, "H12.20").await;
    let (theirs, _) = paid_of(&app, "H12.25").await;
    create_staff(&app, "xem", Role::Viewer, &[], "viewer-password-1").await;
    let viewer = session(&app, "xem", "viewer-password-1").await;
    let (status, html) = page(&app, &viewer, &format!("/console/payments/{id}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains(r#"name="key""#) && !html.contains("/redeliver"), "a viewer sees no forms");
    let (status, html) = page(&app, &viewer, "/console/refunds").await;
    assert_eq!(status, 200);
    assert!(!html.contains("bank_reference\""), "no payout form for a viewer");
    let events: Value =
        app.get(&format!("/v1/events?payment_id={id}"), &app.finance_key).send().await.unwrap().json().await.unwrap();
    let event = events["data"][0]["id"].as_str().expect("a webhook event").to_owned();
    let form = |csrf: &str| {
        vec![("csrf", csrf.to_owned()), ("key", "k-1".into()), ("amount", "1000".into()), ("reason", "x".into())]
    };
    let send = |s: &Session, path: String, f: Vec<(&'static str, String)>| {
        let app = &app;
        let cookie = s.cookie.clone();
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(app, &cookie, &path, &f).await.status().as_u16()
        }
    };
    let refund = format!("/console/payments/{id}/refund");
    let redeliver = format!("/console/payments/{id}/events/{event}/redeliver");
    assert_eq!(send(&viewer, refund.clone(), form(&viewer.csrf)).await, 403, "a viewer may not refund");
    assert_eq!(send(&viewer, redeliver.clone(), form(&viewer.csrf)).await, 403, "nor redeliver");
    let ketoan = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    assert_eq!(send(&ketoan, refund.clone(), form("")).await, 403, "no CSRF token");
    assert_eq!(send(&ketoan, refund.clone(), form(&viewer.csrf)).await, 403, "another session's token");
    assert_eq!(send(&ketoan, redeliver.clone(), form("")).await, 403, "no CSRF token");
    let other = format!("/console/payments/{theirs}/refund");
    assert_eq!(send(&ketoan, other, form(&ketoan.csrf)).await, 404, "another agency's payment is not found");
    let other_event = format!("/console/payments/{theirs}/events/{event}/redeliver");
    assert_eq!(send(&ketoan, other_event, form(&ketoan.csrf)).await, 404);
    // An event of another payment, through this payment's URL, is not found either.
    let (mine2, _) = paid_of(&app, "H12.20").await;
    let wrong = format!("/console/payments/{mine2}/events/{event}/redeliver");
    assert_eq!(send(&ketoan, wrong, form(&ketoan.csrf)).await, 404);
    assert!(refunds_of(&app, &id).await.is_empty() && refunds_of(&app, &theirs).await.is_empty());
    let redelivered = |j: Vec<(String, String)>| j.iter().any(|(k, _)| k == "event.redelivered");
    assert!(!redelivered(journal(&app, &id).await) && !redelivered(journal(&app, &theirs).await));
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_amount_or_reason_is_answered_with_a_message_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, _) = paid_of(&app, "H12.20").await;
    let s = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    for (amount, reason, says) in [
        ("0", "x", "Số tiền hoàn phải là số đồng nguyên lớn hơn 0"),
        ("", "x", "Số tiền hoàn phải là số đồng nguyên lớn hơn 0"),
        ("1.5", "x", "Số tiền hoàn phải là số đồng nguyên lớn hơn 0"),
        ("12,5", "x", "Số tiền hoàn phải là số đồng nguyên lớn hơn 0"),
        ("một trăm", "x", "Số tiền hoàn phải là số đồng nguyên lớn hơn 0"),
        ("135001", "x", "Số tiền hoàn vượt quá số còn có thể hoàn. Không có gì thay đổi. Còn có thể hoàn: 135.000"),
        ("1000", "   ", "Cần nhập lý do hoàn tiền"),
    ] {
        let r = refund_form(&app, &s, &id, amount, reason).await;
        assert_eq!(r.status(), 422, "{amount:?} {reason:?}");
        let html = r.text().await.unwrap();
        let alert = html.split("id=\"refund-error\">").nth(1).and_then(|t| t.split("</div>").next()).unwrap_or("");
        assert!(alert.contains(says), "{amount:?}: {alert}");
        // What was typed is kept, with a new form key.
        assert!(html.contains(&format!(r#"name="amount" value="{amount}""#)), "{amount:?} kept");
    }
    assert!(refunds_of(&app, &id).await.is_empty());
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("succeeded"), Some("0")));
    let reserved: (i64,) = sqlx::query_as("SELECT reserved_refunds FROM payments WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(reserved.0, 0);
    // In English too.
    let r = get(&app, &s.cookie, &format!("/console/payments/{id}?lang=en")).await;
    let cookie = format!("{}; fg_lang=en", s.cookie);
    assert_eq!(r.status(), 200);
    let html = get(&app, &cookie, &format!("/console/payments/{id}")).await.text().await.unwrap();
    let key = hidden(&html, "key");
    let r = post(
        &app,
        &cookie,
        &format!("/console/payments/{id}/refund"),
        &[("csrf", &s.csrf), ("key", &key), ("amount", "0"), ("reason", "x")],
    )
    .await;
    assert!(r.text().await.unwrap().contains("The amount is a whole number of đồng above 0"));
    app.stop().await;
}

#[tokio::test]
async fn a_manual_payout_is_recorded_on_the_refunds_page_with_the_bank_reference() {
    let app = TestApp::spawn().await;
    let (id, _) = paid_by_transfer(&app).await;
    let s = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let r = refund_form(&app, &s, &id, "135.000", "Nộp nhầm hồ sơ").await;
    assert_eq!(location(&r), format!("/console/payments/{id}?done=refund_manual"));
    let refund = refunds_of(&app, &id).await.remove(0);
    assert_eq!(refund["status"], "pending_manual");
    let rid = refund["id"].as_str().unwrap().to_owned();

    // Listed as waiting, with its dossier linked and a payout form.
    let (status, html) = page(&app, &s, "/console/refunds").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("href=\"/console/payments/{id}\"")), "the dossier links to the payment");
    assert!(html.contains(&format!("id=\"bank-{rid}\"")) && html.contains("Chờ chi thủ công"));
    assert!(html.contains(r#"<div class="value" id="waiting-manual">1</div>"#));
    // An agency-bound user of another agency neither sees it nor records it.
    create_staff(&app, "ketoan2", Role::Finance, &["H12.25"], "finance-password-2").await;
    let other = session(&app, "ketoan2", "finance-password-2").await;
    let (_, theirs) = page(&app, &other, "/console/refunds").await;
    assert!(!theirs.contains(&rid) && theirs.contains("Không có yêu cầu hoàn tiền nào đang chờ."));
    let payout = format!("/console/refunds/{rid}/payout");
    let r = post(&app, &other.cookie, &payout, &[("csrf", &other.csrf), ("payment_id", &id), ("bank_reference", "X")])
        .await;
    assert_eq!(r.status(), 404);
    // No token, or no reference: nothing changes.
    let r = post(&app, &s.cookie, &payout, &[("csrf", ""), ("payment_id", &id), ("bank_reference", "FT1")]).await;
    assert_eq!(r.status(), 403);
    let r = post(&app, &s.cookie, &payout, &[("csrf", &s.csrf), ("payment_id", &id), ("bank_reference", "  ")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Cần nhập mã chứng từ ngân hàng"));
    assert_eq!(refunds_of(&app, &id).await[0]["status"], "pending_manual");

    let r =
        post(&app, &s.cookie, &payout, &[("csrf", &s.csrf), ("payment_id", &id), ("bank_reference", "FT26332000123")])
            .await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/console/refunds?done=paid_out&reference=FT26332000123".into())
    );
    let done = refunds_of(&app, &id).await.remove(0);
    assert_eq!((done["status"].as_str(), done["bank_reference"].as_str()), (Some("succeeded"), Some("FT26332000123")));
    assert_eq!(app.payment(&id).await["status"], "refunded");
    assert!(journal(&app, &id).await.contains(&("refund.succeeded".into(), "staff:ketoan".into())));
    let (_, html) = page(&app, &s, "/console/refunds?done=paid_out&reference=FT26332000123").await;
    assert!(html.contains("Đã ghi nhận chi trả, mã chứng từ: FT26332000123"));
    let settled = html.split("id=\"settled\"").nth(1).unwrap_or("");
    assert!(settled.contains("FT26332000123") && settled.contains("Nộp nhầm hồ sơ"));
    // Recording it again is refused with a message.
    let r = post(&app, &s.cookie, &payout, &[("csrf", &s.csrf), ("payment_id", &id), ("bank_reference", "FT2")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("không còn chờ chi trả thủ công"));
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_is_redelivered_from_the_payment_page_and_journalled() {
    let app = TestApp::spawn().await;
    let (id, _) = paid_of(&app, "H12.20").await;
    let s = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let (_, html) = page(&app, &s, &format!("/console/payments/{id}")).await;
    let webhooks = html.split("id=\"webhooks\"").nth(1).expect("the webhook table");
    assert!(webhooks.contains("payment.succeeded"), "{webhooks}");
    let events: Value =
        app.get(&format!("/v1/events?payment_id={id}"), &app.finance_key).send().await.unwrap().json().await.unwrap();
    let event = events["data"].as_array().unwrap().iter().find(|e| e["type"] == "payment.succeeded").unwrap().clone();
    let eid = event["id"].as_str().unwrap();
    let path = format!("/console/payments/{id}/events/{eid}/redeliver");
    assert!(html.contains(&format!("action=\"{path}\"")));
    let r = post(&app, &s.cookie, &path, &[("csrf", &s.csrf)]).await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, format!("/console/payments/{id}?done=redelivered#webhooks-h"))
    );
    assert!(journal(&app, &id).await.contains(&("event.redelivered".into(), "staff:ketoan".into())));
    let (_, html) = page(&app, &s, &format!("/console/payments/{id}?done=redelivered")).await;
    assert!(html.contains("Đã xếp thông báo để gửi lại ngay."));
    app.stop().await;
}

#[tokio::test]
async fn the_payment_page_shows_the_gateways_verified_messages_as_escaped_text() {
    let app = TestApp::spawn().await;
    let (id, _) = paid_of(&app, "H12.20").await;
    let reference = app.payment(&id).await["attempts"][0]["reference"].as_str().unwrap().to_owned();
    let s = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let (_, html) = page(&app, &s, &format!("/console/payments/{id}")).await;
    let messages = html.split(&format!("id=\"messages-{reference}\"")).nth(1).expect("the attempt's messages");
    let first = messages.split("</ol>").next().unwrap();
    assert!(first.contains("<pre class=\"raw\">") && first.contains(&reference), "{first}");

    // A verified message whose body holds markup is shown as text; an unverified one not at all.
    let (yes, no) = if on_postgres() { ("TRUE", "FALSE") } else { ("1", "0") };
    for (cid, verified, body) in
        [("cb_markup", yes, "{\"note\":\"<script>alert(1)</script>\"}"), ("cb_forged", no, "forged-and-refused")]
    {
        let sql = format!(
            "INSERT INTO callbacks (id, connector_id, received_at, method, query, body, verified, error, reference, \
             attempt_id, disposition) VALUES ($1, 'sandbox', {}, 'POST', 'a=1&b=<b>', $2, {verified}, NULL, $3, NULL, 'duplicate')",
            ts("$4")
        );
        sqlx::query(&sql)
            .bind(cid)
            .bind(body)
            .bind(&reference)
            .bind(feegate::store::now_ms())
            .execute(&app.db)
            .await
            .unwrap();
    }
    let (_, html) = page(&app, &s, &format!("/console/payments/{id}")).await;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("?a=1&b=&lt;b&gt;"));
    assert!(!html.contains("forged-and-refused"), "unverified messages are not shown");
    app.stop().await;
}

#[tokio::test]
async fn today_counts_days_not_closed_and_gateways_whose_status_queries_fail() {
    let app = TestApp::spawn().await;
    let recon = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let (_, html) = page(&app, &recon, "/console").await;
    assert!(html.contains(r#"id="unclosed-count">0<"#) && html.contains(r#"id="failing-count">0<"#), "nothing yet");

    // A day with a run, not closed.
    let planted = planted_settlement(&app).await;
    let r = upload(&app, &recon, &recon.csrf, "sandbox", &planted.file).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    // An attempt still pending after three status queries, and one left unknown.
    let (stuck, stuck_dossier) = payment_of(&app, "H12.20").await;
    app.choose(&stuck, "sandbox").await;
    let (unknown, _) = payment_of(&app, "H12.25").await;
    app.choose(&unknown, "sandbox").await;
    sqlx::query("UPDATE attempts SET queries = 3 WHERE payment_id = $1").bind(&stuck).execute(&app.db).await.unwrap();
    sqlx::query("UPDATE attempts SET status = 'unknown' WHERE payment_id = $1")
        .bind(&unknown)
        .execute(&app.db)
        .await
        .unwrap();
    // A payer still at the checkout (queried twice) is not a failing query.
    let (paying, paying_dossier) = payment_of(&app, "H12.20").await;
    app.choose(&paying, "sandbox").await;
    sqlx::query("UPDATE attempts SET queries = 2 WHERE payment_id = $1").bind(&paying).execute(&app.db).await.unwrap();

    let (_, html) = page(&app, &recon, "/console").await;
    assert!(html.contains(r#"id="unclosed-count">1<"#), "one day not closed");
    let day_href = format!("/console/cases?source=sandbox&date={}", gmt7_today());
    assert!(html.contains(&day_href), "the day links to its cases");
    assert!(html.contains(r#"id="failing-count">1<"#), "one gateway");
    let failing = html.split("id=\"failing\"").nth(1).expect("the failing gateways");
    assert!(failing.contains("/console/payments?gateway=sandbox&unresolved=1\">2</a>"), "{failing}");
    // The list behind it: the two stuck payments, not the payer at the checkout.
    let (status, list) = page(&app, &recon, "/console/payments?gateway=sandbox&unresolved=1").await;
    assert_eq!(status, 200);
    assert!(list.contains(&stuck_dossier) && !list.contains(&paying_dossier));
    assert!(list.contains("id=\"unresolved-filter\""));

    // An agency-bound user: no days (they are per source), the gateway counts of its agency.
    let ketoan = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let (_, html) = page(&app, &ketoan, "/console").await;
    assert!(!html.contains("unclosed-count"));
    assert!(html.contains("/console/payments?gateway=sandbox&unresolved=1\">1</a>"));

    // Closed (as `service::cases::close_day` records it), the day leaves the list.
    let sql = format!("INSERT INTO recon_days (source, business_date, closed_by, closed_at) VALUES ('sandbox', $1, 'staff:doisoat', {})", ts("$2"));
    sqlx::query(&sql).bind(gmt7_today()).bind(feegate::store::now_ms()).execute(&app.db).await.unwrap();
    let (_, html) = page(&app, &recon, "/console").await;
    assert!(html.contains(r#"id="unclosed-count">0<"#));
    app.stop().await;
}
