//! The console's administration pages over HTTP (no browser): only an admin bound to no
//! agency opens them; agencies and accounts, portals, API keys (shown once, agency-scoped
//! finance keys, revoke), staff users (create, disable, reset) and the audit journal with
//! its verification. What a page changed is checked through the API or the database; a
//! refused form changes nothing. Runs on SQLite, and on PostgreSQL with
//! FEEGATE_TEST_DATABASE_URL.

mod common;
use common::console::*;
use common::*;
use feegate::service::caller::Role;

const PAGES: [&str; 7] = [
    "/console/admin/agencies",
    "/console/admin/agencies/H12.20",
    "/console/admin/portals",
    "/console/admin/keys",
    "/console/admin/gateways",
    "/console/admin/staff",
    "/console/admin/audit",
];

/// The secret a page shows once (`<code id="secret">`).
fn secret(html: &str) -> String {
    html.split_once("<code id=\"secret\">")
        .and_then(|(_, r)| r.split_once("</code>"))
        .map(|(s, _)| s.to_owned())
        .unwrap_or_default()
}

async fn count_where(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).bind(bind).fetch_one(&app.db).await.expect("count")
}

#[tokio::test]
async fn only_an_admin_bound_to_no_agency_opens_the_administration_pages() {
    let app = TestApp::spawn().await;
    create_staff(&app, "qt.so", Role::Admin, &["H12.20"], "scoped-admin-pass-1").await;
    create_staff(&app, "xem", Role::Viewer, &[], "viewer-password-1").await;
    let admin = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    for path in PAGES {
        let r = get(&app, &admin.cookie, path).await;
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("aria-current=\"page\">Quản trị</a>"), "{path}: the nav marks Administration");
    }
    for (user, pass) in [DEMO_FINANCE, DEMO_RECON, ("qt.so", "scoped-admin-pass-1"), ("xem", "viewer-password-1")] {
        let s = session(&app, user, pass).await;
        let today = get(&app, &s.cookie, "/console").await.text().await.unwrap();
        assert!(!today.contains("/console/admin"), "{user} gets no Administration link");
        for path in PAGES {
            assert_eq!(get(&app, &s.cookie, path).await.status(), 403, "{user} {path}");
        }
        // Nor any action, even with the session's own CSRF token.
        let r =
            post(&app, &s.cookie, "/console/admin/agencies", &[("csrf", &s.csrf), ("code", "X1"), ("name", "X")]).await;
        assert_eq!(r.status(), 403, "{user}");
        let r = post(&app, &s.cookie, "/console/admin/keys", &[("csrf", &s.csrf), ("role", "admin")]).await;
        assert_eq!(r.status(), 403, "{user}");
    }
    assert_eq!(count_where(&app, "SELECT COUNT(*) FROM agencies WHERE code = $1", "X1").await, 0);
    assert_eq!(app.count("api_keys").await, 3, "only the test's own three keys");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_adds_an_agency_and_its_account_and_bad_input_changes_nothing() {
    let app = TestApp::spawn().await;
    let s = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let r = post(
        &app,
        &s.cookie,
        "/console/admin/agencies",
        &[("csrf", &s.csrf), ("code", "H12.30"), ("name", "Sở Tư pháp Hà Nam"), ("parent_code", "H12")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/console/admin/agencies/H12.30?done=created");
    let v: serde_json::Value = app.get("/v1/agencies", &app.admin_key).send().await.unwrap().json().await.unwrap();
    let a = v.as_array().unwrap().iter().find(|a| a["code"] == "H12.30").expect("the new agency");
    assert_eq!(a["name"], "Sở Tư pháp Hà Nam");
    assert_eq!(a["parent_code"], "H12");

    // The same code again: refused with the reason, the form kept.
    let r =
        post(&app, &s.cookie, "/console/admin/agencies", &[("csrf", &s.csrf), ("code", "H12.30"), ("name", "Khác")])
            .await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"admin-error\""), "{html}");
    assert!(html.contains("value=\"Khác\""), "the typed name is kept");
    // Without the CSRF token: refused, nothing written.
    let r = post(&app, &s.cookie, "/console/admin/agencies", &[("code", "H12.31"), ("name", "Không")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(count_where(&app, "SELECT COUNT(*) FROM agencies WHERE code = $1", "H12.31").await, 0);

    // An account: a bad number is refused and writes nothing; a good one is listed.
    let path = "/console/admin/agencies/H12.30/accounts";
    let mut form = vec![
        ("csrf", s.csrf.as_str()),
        ("bank_bin", "970415"),
        ("account_number", "12-ab"),
        ("account_name", "SO TU PHAP HA NAM"),
        ("kind", "bank"),
        ("receives", "fee"),
    ];
    let r = post(&app, &s.cookie, path, &form).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"admin-error\""));
    assert_eq!(count_where(&app, "SELECT COUNT(*) FROM accounts WHERE agency_code = $1", "H12.30").await, 0);
    form[2] = ("account_number", "113000123456");
    let r = post(&app, &s.cookie, path, &form).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let v: serde_json::Value =
        app.get("/v1/agencies/H12.30/accounts", &app.admin_key).send().await.unwrap().json().await.unwrap();
    assert_eq!(v[0]["bank_name"], "VietinBank", "the bank's name comes from its BIN");
    assert_eq!(v[0]["account_number"], "113000123456");
    assert_eq!(v[0]["receives"], serde_json::json!(["fee"]));
    assert_eq!(v[0]["active"], true);
    let page = get(&app, &s.cookie, "/console/admin/agencies/H12.30").await.text().await.unwrap();
    assert!(page.contains("VietinBank (970415)") && page.contains("113000123456"));

    // Deactivate it from its row.
    let id = v[0]["id"].as_str().unwrap();
    let r = post(&app, &s.cookie, &format!("{path}/{id}/active"), &[("csrf", &s.csrf), ("active", "0")]).await;
    assert_eq!(r.status(), 303);
    let v: serde_json::Value =
        app.get("/v1/agencies/H12.30/accounts", &app.admin_key).send().await.unwrap().json().await.unwrap();
    assert_eq!(v[0]["active"], false);
    // The journal names the admin.
    let by: Vec<(String,)> =
        sqlx::query_as("SELECT kind FROM audit_log WHERE actor = 'staff:admin' ORDER BY created_at")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let kinds: Vec<&str> = by.iter().map(|(k,)| k.as_str()).collect();
    for k in ["agency.created", "account.upserted"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_portal_made_in_the_console_shows_its_webhook_secret_once_and_takes_its_origins() {
    let app = TestApp::spawn().await;
    let s = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let r = post(
        &app,
        &s.cookie,
        "/console/admin/portals",
        &[
            ("csrf", &s.csrf),
            ("id", "cong-tinh"),
            ("name", "Cổng DVC tỉnh Hà Nam"),
            ("webhook_url", "https://dvc.hanam.gov.vn/hooks/feegate"),
            ("origins", "https://dvc.hanam.gov.vn"),
            ("agency", "H12.20"),
        ],
    )
    .await;
    assert_eq!(r.status(), 201);
    let html = r.text().await.unwrap();
    let secret = secret(&html);
    assert!(secret.len() >= 32, "the webhook secret is shown: {secret:?}");
    let list = get(&app, &s.cookie, "/console/admin/portals").await.text().await.unwrap();
    assert!(list.contains("cong-tinh") && !list.contains(&secret), "listed, the secret not shown again");
    let v: serde_json::Value = app.get("/v1/portals", &app.admin_key).send().await.unwrap().json().await.unwrap();
    let p = v.as_array().unwrap().iter().find(|p| p["id"] == "cong-tinh").expect("the portal");
    assert_eq!(p["return_origins"], serde_json::json!(["https://dvc.hanam.gov.vn"]));
    assert_eq!(p["agencies"], serde_json::json!(["H12.20"]));

    // A plain-http origin is refused and the old ones stay.
    let path = "/console/admin/portals/cong-tinh/origins";
    let r = post(&app, &s.cookie, path, &[("csrf", &s.csrf), ("origins", "http://evil.example")]).await;
    assert_eq!(r.status(), 422);
    let r = post(
        &app,
        &s.cookie,
        path,
        &[("csrf", &s.csrf), ("origins", "https://dvc.hanam.gov.vn\nhttps://m.dvc.hanam.gov.vn\n")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let v: serde_json::Value = app.get("/v1/portals", &app.admin_key).send().await.unwrap().json().await.unwrap();
    let p = v.as_array().unwrap().iter().find(|p| p["id"] == "cong-tinh").unwrap();
    assert_eq!(p["return_origins"], serde_json::json!(["https://dvc.hanam.gov.vn", "https://m.dvc.hanam.gov.vn"]));
    app.stop().await;
}

#[tokio::test]
async fn a_finance_key_bound_to_an_agency_sees_only_that_agency_and_is_revoked_from_the_console() {
    let app = TestApp::spawn().await;
    let (mine, _) = payment_of(&app, "H12.20").await;
    let (other, _) = payment_of(&app, "H12.25").await;
    let s = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;

    // Agencies on a portal key: refused, nothing written.
    let r = post(
        &app,
        &s.cookie,
        "/console/admin/keys",
        &[("csrf", &s.csrf), ("role", "portal"), ("portal_id", "demo-portal"), ("agency", "H12.20")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.count("api_keys").await, 3);

    let r = post(
        &app,
        &s.cookie,
        "/console/admin/keys",
        &[("csrf", &s.csrf), ("role", "finance"), ("name", "Kế toán Sở GTVT"), ("agency", "H12.20")],
    )
    .await;
    assert_eq!(r.status(), 201);
    let key = secret(&r.text().await.unwrap());
    assert!(key.starts_with("fgk_"), "{key:?}");
    let list = get(&app, &s.cookie, "/console/admin/keys").await.text().await.unwrap();
    assert!(list.contains("Kế toán Sở GTVT") && !list.contains(&key), "listed without its secret");
    let v: serde_json::Value = app.get("/v1/keys", &app.admin_key).send().await.unwrap().json().await.unwrap();
    let k = v.as_array().unwrap().iter().find(|k| k["name"] == "Kế toán Sở GTVT").expect("listed by the API");
    assert_eq!(k["agencies"], serde_json::json!(["H12.20"]));
    let id = k["id"].as_str().unwrap().to_owned();

    // The key reads its agency and nothing of another, by list or by id.
    assert_eq!(app.get(&format!("/v1/payments/{mine}"), &key).send().await.unwrap().status(), 200);
    let (status, code, _) = error_code(app.get(&format!("/v1/payments/{other}"), &key).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let v: serde_json::Value = app.get("/v1/payments?limit=100", &key).send().await.unwrap().json().await.unwrap();
    let agencies: Vec<&str> =
        v["data"].as_array().unwrap().iter().map(|p| p["agency_code"].as_str().unwrap()).collect();
    assert!(!agencies.is_empty() && agencies.iter().all(|a| *a == "H12.20"), "{agencies:?}");
    let v: serde_json::Value = app.get("/v1/agencies", &key).send().await.unwrap().json().await.unwrap();
    let codes: Vec<&str> = v.as_array().unwrap().iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["H12.20"]);
    assert_eq!(app.get("/v1/agencies/H12.25/accounts", &key).send().await.unwrap().status(), 404);
    // Webhook events: only its agency's payments.
    let v: serde_json::Value = app.get("/v1/events?limit=200", &key).send().await.unwrap().json().await.unwrap();
    assert!(v["data"].as_array().unwrap().iter().all(|e| e["payment_id"] != other.as_str()), "{v}");
    // Reconciliation is per source, so the bound key may not see it; nor the metrics.
    assert_eq!(app.get("/v1/reconciliation/runs", &key).send().await.unwrap().status(), 403);
    assert_eq!(app.get("/metrics", &key).send().await.unwrap().status(), 403);
    // The unbound finance key still sees both.
    assert_eq!(app.get(&format!("/v1/payments/{other}"), &app.finance_key).send().await.unwrap().status(), 200);

    // Revoked from the console: the very next request is refused.
    let r = post(&app, &s.cookie, &format!("/console/admin/keys/{id}/revoke"), &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 303);
    let (status, code, _) = error_code(app.get(&format!("/v1/payments/{mine}"), &key).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "revoked_api_key"));
    app.stop().await;
}

#[tokio::test]
async fn an_admin_creates_disables_and_resets_a_staff_user() {
    let app = TestApp::spawn().await;
    let s = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let r = post(
        &app,
        &s.cookie,
        "/console/admin/staff",
        &[
            ("csrf", &s.csrf),
            ("username", "hoa.nt"),
            ("name", "Nguyễn Thị Hoa"),
            ("role", "finance"),
            ("agency", "H12.25"),
        ],
    )
    .await;
    assert_eq!(r.status(), 201);
    let first = secret(&r.text().await.unwrap());
    assert_eq!(first.len(), 23, "a one-time password: {first:?}");
    let hoa = session(&app, "hoa.nt", &first).await;
    let today = get(&app, &hoa.cookie, "/console").await.text().await.unwrap();
    assert!(today.contains("Nguyễn Thị Hoa") && today.contains("H12.25"));

    // A bad username: refused with the reason, nobody created.
    let r = post(
        &app,
        &s.cookie,
        "/console/admin/staff",
        &[("csrf", &s.csrf), ("username", "Hoa NT"), ("name", "X"), ("role", "viewer")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.count("staff_users").await, 4);

    // Disabled: the live session ends at once and the password no longer signs in.
    let r = post(&app, &s.cookie, "/console/admin/staff/hoa.nt/disable", &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(get(&app, &hoa.cookie, "/console").await.status(), 303);
    assert_ne!(sign_in(&app, "hoa.nt", &first).await.status(), 303);
    let r = post(&app, &s.cookie, "/console/admin/staff/hoa.nt/enable", &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 303);

    // Reset: a new one-time password; the old one fails.
    let r = post(&app, &s.cookie, "/console/admin/staff/hoa.nt/reset", &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 200);
    let second = secret(&r.text().await.unwrap());
    assert!(second.len() == 23 && second != first);
    assert_ne!(sign_in(&app, "hoa.nt", &first).await.status(), 303);
    session(&app, "hoa.nt", &second).await;

    // An admin cannot disable themself; an unknown user is not found; no CSRF, no change.
    let r = post(&app, &s.cookie, "/console/admin/staff/admin/disable", &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 409);
    assert_eq!(get(&app, &s.cookie, "/console").await.status(), 200, "still signed in");
    let r = post(&app, &s.cookie, "/console/admin/staff/nobody/reset", &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 404);
    let r = post(&app, &s.cookie, "/console/admin/staff/hoa.nt/disable", &[("csrf", "forged")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(count_where(&app, "SELECT COUNT(*) FROM staff_sessions WHERE username = $1", "hoa.nt").await, 1);

    let kinds: Vec<(String,)> = sqlx::query_as(
        "SELECT kind FROM audit_log WHERE scope = 'staff' AND actor = 'staff:admin' \
             AND kind <> 'staff.signed_in' ORDER BY seq",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let kinds: Vec<&str> = kinds.iter().map(|(k,)| k.as_str()).collect();
    assert_eq!(kinds, ["staff.created", "staff.disabled", "staff.enabled", "staff.password_reset"]);
    app.stop().await;
}

#[tokio::test]
async fn the_audit_page_lists_the_journal_and_finds_a_tampered_entry() {
    let app = TestApp::spawn().await;
    let (id, _) = payment_of(&app, "H12.20").await;
    let s = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let html = get(&app, &s.cookie, "/console/admin/audit").await.text().await.unwrap();
    // (minijinja escapes '/' in attributes as &#x2f;.)
    let link = format!("href=\"&#x2f;console&#x2f;payments&#x2f;{id}\"");
    assert!(html.contains("staff.signed_in") && html.contains(&link), "{html}");
    let mine = get(&app, &s.cookie, "/console/admin/audit?actor=staff%3Aadmin").await.text().await.unwrap();
    assert!(mine.contains("staff.signed_in") && !mine.contains("payment.created"));
    let r = get(&app, &s.cookie, "/console/admin/audit?before=garbage").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"admin-error\""));

    let r = post(&app, &s.cookie, "/console/admin/audit/verify", &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Nhật ký toàn vẹn"));

    // Someone edits an entry in the database: the verification names it.
    sqlx::query("UPDATE audit_log SET payload = '{\"amount\":1}' WHERE scope = $1 AND seq = 1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    let r = post(&app, &s.cookie, "/console/admin/audit/verify", &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("Nhật ký bị sửa đổi tại") && html.contains(&id), "{html}");
    app.stop().await;
}
