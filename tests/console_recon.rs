//! The console's reconciliation and cases pages over HTTP (no browser), on SQLite and
//! PostgreSQL: an upload makes a run whose discrepancies the run page shows by outcome;
//! resolving needs the session's CSRF token; a viewer reads and changes nothing; an
//! agency-bound user sees neither page; a day with open cases does not close and the page
//! says why; once every case is resolved it closes. What changed is checked through the
//! API, not the pages.

mod common;
use common::console::*;
use common::*;
use feegate::service::caller::Role;
use serde_json::Value;

async fn api(app: &TestApp, path: &str) -> Value {
    let r = app.get(path, &app.finance_key).send().await.expect("api");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

async fn open_cases(app: &TestApp) -> Vec<Value> {
    let v = api(app, &format!("/v1/cases?source=sandbox&date={}", gmt7_today())).await;
    v.as_array().expect("a list").clone()
}

async fn day_status(app: &TestApp) -> String {
    let v = api(app, &format!("/v1/reconciliation/days?source=sandbox&date={}", gmt7_today())).await;
    v[0]["status"].as_str().unwrap_or("none").to_owned()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// Uploads the planted file as the demo's reconciliation officer: (session, run page path).
async fn uploaded(app: &TestApp) -> (Session, Planted, String) {
    let planted = planted_settlement(app).await;
    let s = session(app, DEMO_RECON.0, DEMO_RECON.1).await;
    let r = upload(app, &s, &s.csrf, "sandbox", &planted.file).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let to = location(&r);
    assert!(to.starts_with("/console/recon/runs/rcr_") || to.starts_with("/console/recon/runs/"), "{to}");
    (s, planted, to)
}

#[tokio::test]
async fn an_upload_makes_a_run_whose_page_shows_its_discrepancies_by_outcome() {
    let app = TestApp::spawn().await;
    let planted = planted_settlement(&app).await;
    let s = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let form = get(&app, &s.cookie, "/console/recon").await.text().await.unwrap();
    assert!(form.contains(r#"enctype="multipart/form-data""#) && form.contains(r#"<label for="u-file">"#), "{form}");
    assert!(form.contains(r#"<option value="sandbox">"#), "the sandbox is a source");
    // Without the CSRF token: refused, no run.
    let r = upload(&app, &s, "", "sandbox", &planted.file).await;
    assert_eq!(r.status(), 403);
    assert_eq!(api(&app, "/v1/reconciliation/runs?source=sandbox").await.as_array().unwrap().len(), 0);
    // An unknown source: the page says so, no run.
    let r = upload(&app, &s, &s.csrf, "nosuch", &planted.file).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("no connector or reconciliation source nosuch"));
    let r = upload(&app, &s, &s.csrf, "sandbox", &planted.file).await;
    assert_eq!(r.status(), 303);
    let run_page = location(&r);
    assert!(run_page.ends_with("?done=new"), "{run_page}");
    let runs = api(&app, "/v1/reconciliation/runs?source=sandbox").await;
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let html = get(&app, &s.cookie, &run_page).await.text().await.unwrap();
    assert!(html.contains("Đã đối soát tệp."), "{html}");
    for (label, n) in [("Khớp", 1), ("Thiếu trong tệp", 1), ("Không có trong hệ thống", 1), ("Lệch số tiền", 1)]
    {
        assert!(html.contains(&format!("{label}: <strong>{n}</strong>")), "{label} {n}");
    }
    let path = run_page.split('?').next().unwrap();
    let only = get(&app, &s.cookie, &format!("{path}?outcome=amount_mismatch&lang=en")).await.text().await.unwrap();
    assert!(only.contains(&planted.wrong_amount) && only.contains("Amount differs"), "{only}");
    assert!(only.contains("amount 153000 in file, 135000 in feegate"), "the reason in words: {only}");
    assert!(!only.contains(&planted.missing) && !only.contains(&planted.unknown));
    // The runs list links the run; the same file again is that run.
    let list = get(&app, &s.cookie, "/console/recon?source=sandbox&lang=vi").await.text().await.unwrap();
    let run_id = path.rsplit('/').next().unwrap();
    assert!(list.contains(run_id), "{list}");
    let again = upload(&app, &s, &s.csrf, "sandbox", &planted.file).await;
    assert!(location(&again).starts_with(path) && location(&again).ends_with("?done=same"));
    // "Reconcile again" makes the next version and keeps the first.
    let part = reqwest::multipart::Part::text(planted.file.clone()).file_name("again.csv");
    let form = reqwest::multipart::Form::new()
        .text("csrf", s.csrf.clone())
        .text("source", "sandbox")
        .text("date", gmt7_today())
        .text("rerun", "1")
        .part("file", part);
    let r = app.client.post(format!("{}/console/recon", app.url)).header("cookie", &s.cookie).multipart(form);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).ends_with("?done=new") && !location(&r).starts_with(path));
    let second = get(&app, &s.cookie, &location(&r)).await.text().await.unwrap();
    assert!(second.contains("<h1>Lần đối soát 2 · sandbox"), "{second}");
    assert_eq!(api(&app, "/v1/reconciliation/runs?source=sandbox").await.as_array().unwrap().len(), 2);
    // A bad outcome filter is refused in words.
    assert_eq!(get(&app, &s.cookie, &format!("{path}?outcome=nope")).await.status(), 422);
    app.stop().await;
}

#[tokio::test]
async fn resolving_needs_the_csrf_token_and_resolves_the_selected_cases_once() {
    let app = TestApp::spawn().await;
    let (s, planted, _) = uploaded(&app).await;
    let cases = open_cases(&app).await;
    assert_eq!(cases.len(), 3, "{cases:?}");
    let page = get(&app, &s.cookie, "/console/cases").await.text().await.unwrap();
    for r in [&planted.wrong_amount, &planted.missing, &planted.unknown] {
        assert!(page.contains(r.as_str()), "{r} is in the inbox");
    }
    let id = cases.iter().find(|c| c["reference"] == planted.wrong_amount.as_str()).unwrap()["id"].as_str().unwrap();
    let form = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("case".to_owned(), id.to_owned()),
            ("code".to_owned(), "gateway_error".to_owned()),
            ("note".to_owned(), "VNPay đã xác nhận số tiền đúng là 135.000".to_owned()),
        ]
    };
    let post_form = |f: Vec<(String, String)>| {
        app.client.post(format!("{}/console/cases/resolve", app.url)).header("cookie", &s.cookie).form(&f).send()
    };
    let r = post_form(form("")).await.unwrap();
    assert_eq!(r.status(), 403);
    let r = post_form(form(&"0".repeat(64))).await.unwrap();
    assert_eq!(r.status(), 403, "another token");
    assert_eq!(open_cases(&app).await.len(), 3, "nothing changed");
    // A code the service does not take: refused in words, nothing changed.
    let mut bad = form(&s.csrf);
    bad[2].1 = "made_up".into();
    let r = post_form(bad).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("is not one of"));
    assert_eq!(open_cases(&app).await.len(), 3);
    let r = post_form(form(&s.csrf)).await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("done=resolved&n=1"), "{}", location(&r));
    assert_eq!(open_cases(&app).await.len(), 2);
    let resolved = api(&app, "/v1/cases?status=resolved").await;
    assert_eq!(resolved[0]["resolution"]["resolved_by"], "staff:doisoat");
    // Once only.
    let r = post_form(form(&s.csrf)).await.unwrap();
    assert_eq!(r.status(), 409);
    // The resolved filter shows it with its resolution in words.
    let page = get(&app, &s.cookie, "/console/cases?status=resolved").await.text().await.unwrap();
    assert!(page.contains("Lỗi của cổng thanh toán — VNPay đã xác nhận"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_resolve_or_close_and_an_agency_bound_user_sees_neither_page() {
    let app = TestApp::spawn().await;
    let (_, _, run_page) = uploaded(&app).await;
    create_staff(&app, "xem", Role::Viewer, &[], "viewer-password-2026").await;
    let v = session(&app, "xem", "viewer-password-2026").await;
    let page = get(&app, &v.cookie, "/console/cases").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("FGUNKNOWN000") && !html.contains(r#"id="resolve""#) && !html.contains("/console/cases/close")
    );
    assert_eq!(get(&app, &v.cookie, &run_page).await.status(), 200);
    assert!(!get(&app, &v.cookie, "/console/recon").await.text().await.unwrap().contains("u-file"));
    let id = open_cases(&app).await[0]["id"].as_str().unwrap().to_owned();
    let date = gmt7_today();
    let r = post(
        &app,
        &v.cookie,
        "/console/cases/resolve",
        &[("csrf", &v.csrf), ("case", &id), ("code", "other"), ("note", "x")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post(&app, &v.cookie, "/console/cases/close", &[("csrf", &v.csrf), ("source", "sandbox"), ("date", &date)])
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(upload(&app, &v, &v.csrf, "sandbox", "x").await.status(), 403);
    assert_eq!(open_cases(&app).await.len(), 3, "nothing changed");
    // ketoan is bound to H12.20: a settlement file holds every agency's payments.
    let k = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    for path in ["/console/cases", "/console/recon", run_page.as_str()] {
        let r = get(&app, &k.cookie, path).await;
        assert_eq!(r.status(), 403, "{path}");
        assert!(r.text().await.unwrap().contains("không theo cơ quan"));
    }
    let r = post(&app, &k.cookie, "/console/cases/close", &[("csrf", &k.csrf), ("source", "sandbox"), ("date", &date)])
        .await;
    assert_eq!(r.status(), 403);
    assert!(!get(&app, &k.cookie, "/console").await.text().await.unwrap().contains("/console/cases"), "no nav link");
    assert_eq!(day_status(&app).await, "open");
    app.stop().await;
}

#[tokio::test]
async fn a_day_with_open_cases_does_not_close_and_says_why_then_closes_once_all_are_resolved() {
    let app = TestApp::spawn().await;
    let (s, _, _) = uploaded(&app).await;
    let date = gmt7_today();
    let close = [("csrf", s.csrf.as_str()), ("source", "sandbox"), ("date", date.as_str()), ("back", "source=sandbox")];
    let r = post(&app, &s.cookie, "/console/cases/close", &close).await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("Chưa thể khóa sổ: còn vụ việc chưa xử lý của nguồn và ngày này. Số vụ việc: 3"), "{html}");
    assert_eq!(day_status(&app).await, "open");
    // Without the token: refused.
    let r = post(&app, &s.cookie, "/console/cases/close", &close[1..]).await;
    assert_eq!(r.status(), 403);
    // Resolve all three in one form, then the day closes.
    let ids: Vec<String> = open_cases(&app).await.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    let mut form =
        vec![("csrf", s.csrf.as_str()), ("code", "accepted_difference"), ("note", "Đã đối chiếu với ngân hàng")];
    form.extend(ids.iter().map(|i| ("case", i.as_str())));
    let r = post(&app, &s.cookie, "/console/cases/resolve", &form).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("n=3"));
    assert!(open_cases(&app).await.is_empty());
    let r = post(&app, &s.cookie, "/console/cases/close", &close).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/console/cases?status=&source=sandbox&date=&outcome=&done=closed&n=0");
    assert_eq!(day_status(&app).await, "closed");
    let html = get(&app, &s.cookie, &location(&r)).await.text().await.unwrap();
    assert!(html.contains("Đã khóa sổ ngày.") && html.contains("Đã khóa sổ (staff:doisoat)"), "{html}");
    // A closed day takes no more files: the upload page says so.
    let r = upload(&app, &s, &s.csrf, "sandbox", "whatever").await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("was closed by staff:doisoat"));
    app.stop().await;
}

#[tokio::test]
async fn a_runs_items_come_a_hundred_a_page() {
    let app = TestApp::spawn().await;
    let planted = planted_settlement(&app).await;
    let mut lines: Vec<String> = planted.file.lines().map(str::to_owned).collect();
    let template = lines.iter().find(|l| l.starts_with(&planted.unknown)).unwrap().clone();
    lines.extend((0..120).map(|i| template.replacen(&planted.unknown, &format!("FGPAGE{i:04}"), 1)));
    let s = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let r = upload(&app, &s, &s.csrf, "sandbox", &(lines.join("\n") + "\n")).await;
    assert_eq!(r.status(), 303);
    let path = location(&r).split('?').next().unwrap().to_owned();
    let rows = |html: &str| html.matches("<td class=\"o-missing_in_feegate\">").count();
    let first = get(&app, &s.cookie, &format!("{path}?outcome=missing_in_feegate")).await.text().await.unwrap();
    assert_eq!(rows(&first), 100);
    assert!(first.contains("Trang 1/2") && first.contains("FGPAGE0098") && !first.contains("FGPAGE0099"));
    let second = get(&app, &s.cookie, &format!("{path}?outcome=missing_in_feegate&page=2")).await.text().await.unwrap();
    assert_eq!(rows(&second), 21, "121 unknown lines in all");
    assert!(second.contains("Trang 2/2") && second.contains("FGPAGE0119") && second.contains("rel=\"prev\""));
    app.stop().await;
}
