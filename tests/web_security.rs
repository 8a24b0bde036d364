//! The payer's pages and the API against the browser-side attacks (issue 9): security
//! headers on every answer, the checkout form token, rate limits on the checkout and
//! return pages, allowed return origins per portal (no open redirect), and gateways that
//! cannot take an amount.

mod common;
use common::*;
use serde_json::{json, Value};

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn assert_security_headers(r: &reqwest::Response, what: &str) {
    assert_eq!(header(r, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(r, "x-frame-options"), "DENY", "{what}");
    let csp = header(r, "content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert_eq!(header(r, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(r, "cache-control"), "no-store", "{what}");
}

/// A config file with `text`, for one test.
fn config_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("feegate-web-{name}-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("feegate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn attempts(app: &TestApp, id: &str) -> usize {
    app.payment(id).await["attempts"].as_array().map(Vec::len).unwrap_or(0)
}

async fn post_choice(app: &TestApp, id: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(format!("{}/checkout/{id}", app.url)).form(fields).send().await.unwrap()
}

// ---- 1. security headers ---------------------------------------------------------------

#[tokio::test]
async fn every_answer_carries_the_security_headers_errors_and_404s_included() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let api = app.get(&format!("/v1/payments/{id}"), &app.portal_key).send().await.unwrap();
    assert_eq!(api.status(), 200);
    assert_security_headers(&api, "an API answer");
    let page = app.client.get(format!("{}/checkout/{id}", app.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_security_headers(&page, "the checkout page");
    let html = page.text().await.unwrap();
    assert!(html.contains("<style>") && !html.contains("<script"), "the CSP allows inline styles and no script");
    let err = app.post("/v1/payments", &app.portal_key).json(&json!({"lines": 1})).send().await.unwrap();
    assert_eq!(err.status(), 422);
    assert_security_headers(&err, "an error answer");
    let unauth = app.client.get(format!("{}/v1/payments/{id}", app.url)).send().await.unwrap();
    assert_eq!(unauth.status(), 401);
    assert_security_headers(&unauth, "a 401");
    for path in ["/no/such/page", "/checkout/pay_nosuchpayment", "/return/no-such-connector"] {
        let r = app.client.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_security_headers(&r, path);
    }
    // The redirect back to the portal, after a payment.
    let back = app.choose(&id, "sandbox").await;
    let r = app.client.post(&back).form(&[("outcome", "success")]).send().await.unwrap();
    let ret = app.client.get(location(&r)).send().await.unwrap();
    assert_eq!(ret.status(), 303);
    assert_security_headers(&ret, "the return redirect");
    app.stop().await;
}

// ---- 2. checkout form token ------------------------------------------------------------

#[tokio::test]
async fn a_checkout_post_without_or_with_a_wrong_form_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let other = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let other_token = app.form_token(&other).await;
    let token = app.form_token(&id).await;
    assert!(!token.is_empty(), "the checkout page carries a form token");
    let (secs, sig) = token.split_once('.').unwrap();
    let older = format!("{}.{sig}", secs.parse::<i64>().unwrap() - 1);
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        ("no token", vec![("connector", "sandbox")]),
        ("empty token", vec![("connector", "sandbox"), ("form_token", "")]),
        ("another payment's token", vec![("connector", "sandbox"), ("form_token", &other_token)]),
        ("a forged time", vec![("connector", "sandbox"), ("form_token", &older)]),
        ("garbage", vec![("connector", "sandbox"), ("form_token", "1.zz")]),
    ];
    for (what, fields) in &cases {
        let r = post_choice(&app, &id, fields).await;
        assert_eq!(r.status(), 403, "{what}");
        assert!(header(&r, "location").is_empty(), "{what}: not sent to a gateway");
        let page = r.text().await.unwrap();
        assert!(page.contains("Không có gì thay đổi"), "{what}: a clear page: {page}");
        assert!(!form_token(&page).is_empty(), "{what}: with a fresh form to choose again");
    }
    assert_eq!(attempts(&app, &id).await, 0);
    assert_eq!(app.payment(&id).await["status"], "created");
    // The page's own token works.
    let r = post_choice(&app, &id, &[("connector", "sandbox"), ("form_token", &token)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(attempts(&app, &id).await, 1);
    app.stop().await;
}

// ---- 3. rate limits on the payer's pages -----------------------------------------------

#[tokio::test]
async fn the_checkout_and_return_pages_are_rate_limited_per_client_address() {
    let config = config_file("rate", "[rate_limits]\ncheckout = { per_second = 1, burst = 3 }\n");
    let app = TestApp::spawn_with(&[("FEEGATE_CONFIG", config.to_str().unwrap())]).await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let page = |path: String| app.client.get(format!("{}{path}", app.url)).send();
    // The burst passes; then the bucket is empty. One token comes back a second, so of
    // five quick requests to any payer page at least one is refused however slow the
    // machine is (all five passing would take four seconds).
    let mut ok = 0;
    while page(format!("/checkout/{id}")).await.unwrap().status() == 200 {
        ok += 1;
        assert!(ok < 30, "never limited");
    }
    assert!(ok >= 3, "the burst of 3 passes first; {ok} did");
    for path in [format!("/checkout/{id}"), format!("/checkout/{id}/transfer"), "/return/sandbox?x=1".to_owned()] {
        let mut refused = None;
        for _ in 0..5 {
            let r = page(path.clone()).await.unwrap();
            if r.status() == 429 {
                refused = Some(r);
                break;
            }
        }
        let r = refused.unwrap_or_else(|| panic!("{path} is not limited"));
        let wait: u64 = header(&r, "retry-after").parse().unwrap_or(0);
        assert!((1..=2).contains(&wait), "{path}: Retry-After {wait}");
        assert_security_headers(&r, "a 429");
        assert!(r.text().await.unwrap().contains("Too many requests"));
    }
    let mut posts = Vec::new();
    for _ in 0..5 {
        posts.push(post_choice(&app, &id, &[("connector", "sandbox")]).await.status());
    }
    assert!(posts.contains(&reqwest::StatusCode::TOO_MANY_REQUESTS), "a POST is limited too: {posts:?}");
    assert_eq!(attempts(&app, &id).await, 0, "and starts nothing");
    // The API has its own limits.
    assert_eq!(app.get(&format!("/v1/payments/{id}"), &app.portal_key).send().await.unwrap().status(), 200);
    // The bucket fills again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(page(format!("/checkout/{id}")).await.unwrap().status(), 200);
    app.stop().await;
}

// ---- 4. allowed return origins ---------------------------------------------------------

async fn create_with(app: &TestApp, key: &str, return_url: &str) -> (u16, String, Option<String>) {
    let mut body = payment_body();
    body["return_url"] = json!(return_url);
    let r = app.post("/v1/payments", key).json(&body).send().await.unwrap();
    if r.status() == 201 {
        return (201, String::new(), None);
    }
    error_code(r).await
}

#[tokio::test]
async fn a_return_url_off_the_portals_origins_is_refused_as_an_open_redirect() {
    let app = TestApp::spawn().await;
    let key = app.portal_key.clone();
    for url in [
        "https://evil.example/return",
        "http://portal.example.vn/return",
        "https://portal.example.vn.evil.example/return",
        "https://portal.example.vn@evil.example/return",
        "https://portal.example.vn:8443/return",
        "https://sub.portal.example.vn/return",
    ] {
        let (status, code, field) = create_with(&app, &key, url).await;
        assert_eq!(
            (status, code.as_str(), field.as_deref()),
            (422, "return_url_not_allowed", Some("return_url")),
            "{url}"
        );
    }
    for url in ["not a url", "javascript:alert(1)", "//evil.example/return"] {
        let (status, code, field) = create_with(&app, &key, url).await;
        assert_eq!((status, field.as_deref()), (422, Some("return_url")), "{url}: {code}");
        assert!(["invalid_return_url", "return_url_not_allowed"].contains(&code.as_str()), "{url}: {code}");
    }
    assert_eq!(app.count("payments").await, 0, "a refused create writes nothing");
    for url in ["https://portal.example.vn/return?dossier=1", "https://PORTAL.example.vn:443/r"] {
        assert_eq!(create_with(&app, &key, url).await.0, 201, "{url}");
    }
    // And the payer is sent back there, on the allowed origin.
    let mut body = payment_body();
    body["return_url"] = json!("https://portal.example.vn/done?x=1");
    let id = app.create_payment(&body).await["id"].as_str().unwrap().to_owned();
    let back = app.pay_sandbox(&id, "success").await;
    assert!(back.starts_with("https://portal.example.vn/done?x=1&payment_id="), "{back}");
    app.stop().await;
}

#[tokio::test]
async fn only_an_admin_sets_a_portals_return_origins_and_it_is_audited() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/v1/portals", &app.admin_key)
        .json(&json!({"id": "district-portal", "name": "Cổng huyện"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["return_origins"], json!([]));
    use feegate::api::auth::Role;
    let (_, district) = feegate::service::admin::create_key(
        &app.state.store,
        Role::Portal,
        Some("district-portal".into()),
        &[],
        "t",
        "t",
    )
    .await
    .unwrap();
    let url = "https://dvc.kimbang.example.vn/back";
    assert_eq!(
        create_with(&app, &district, url).await,
        (422, "return_url_not_allowed".into(), Some("return_url".into())),
        "a portal without origins may send the payer nowhere"
    );
    let put = |key: &str, body: Value| {
        app.client
            .put(format!("{}/v1/portals/district-portal/return-origins", app.url))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let origins = json!({"origins": ["https://dvc.kimbang.example.vn"]});
    for key in [&district, &app.portal_key, &app.finance_key] {
        assert_eq!(put(key, origins.clone()).await.unwrap().status(), 403);
    }
    assert_eq!(put("wrong", origins.clone()).await.unwrap().status(), 401);
    for bad in ["http://dvc.kimbang.example.vn", "https://dvc.kimbang.example.vn/path", "dvc.kimbang.example.vn", ""] {
        let r = put(&app.admin_key, json!({"origins": [bad]})).await.unwrap();
        assert_eq!(error_code(r).await, (422, "invalid_return_origin".into(), Some("origins".into())), "{bad}");
    }
    let audited = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE kind = 'portal.return_origins_set'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        n
    };
    assert_eq!(audited().await, 0, "a refused change is not recorded");
    assert_eq!(create_with(&app, &district, url).await.0, 422, "a refused change changes nothing");
    let r = put(&app.admin_key, origins.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["return_origins"], json!(["https://dvc.kimbang.example.vn"]));
    assert!(v.get("webhook_secret").is_none());
    assert_eq!(audited().await, 1);
    let listed: Value = app.get("/v1/portals", &app.admin_key).send().await.unwrap().json().await.unwrap();
    let mine = listed.as_array().unwrap().iter().find(|p| p["id"] == "district-portal").unwrap().clone();
    assert_eq!(mine["return_origins"], json!(["https://dvc.kimbang.example.vn"]));
    assert_eq!(create_with(&app, &district, url).await.0, 201);
    assert_eq!(create_with(&app, &district, "https://portal.example.vn/return").await.0, 422, "not the demo's");
    // An empty list closes it again; an unknown portal is a 404.
    assert_eq!(put(&app.admin_key, json!({"origins": []})).await.unwrap().status(), 200);
    assert_eq!(create_with(&app, &district, url).await.0, 422);
    let r = app
        .client
        .put(format!("{}/v1/portals/nobody/return-origins", app.url))
        .bearer_auth(&app.admin_key)
        .json(&origins)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_portal_created_with_return_origins_may_use_them_at_once() {
    let app = TestApp::spawn().await;
    let create = |body: Value| app.post("/v1/portals", &app.admin_key).json(&body).send();
    let r = create(json!({"id": "ward-portal", "name": "Phường", "return_origins": ["http://ward.example.vn"]}))
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (422, "invalid_return_origin".into(), Some("origins".into())));
    assert_eq!(app.count("portals").await, 1, "only the demo portal: a refused create writes nothing");
    let r = create(json!({"id": "ward-portal", "name": "Phường", "return_origins": ["https://Ward.example.vn/"]}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["return_origins"], json!(["https://ward.example.vn"]));
    use feegate::api::auth::Role;
    let (_, ward) =
        feegate::service::admin::create_key(&app.state.store, Role::Portal, Some("ward-portal".into()), &[], "t", "t")
            .await
            .unwrap();
    assert_eq!(create_with(&app, &ward, "https://ward.example.vn/ho-so/1").await.0, 201);
    assert_eq!(create_with(&app, &ward, "https://portal.example.vn/return").await.0, 422);
    app.stop().await;
}

#[tokio::test]
async fn the_demo_seed_does_not_undo_an_admins_return_origins_on_restart() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .put(format!("{}/v1/portals/demo-portal/return-origins", app.url))
        .bearer_auth(&app.admin_key)
        .json(&json!({"origins": ["https://dvc.hanam.example.vn"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let db = app.db_url.clone();
    app.stop().await;
    let app = TestApp::spawn_on(&db, &[]).await;
    assert_eq!(create_with(&app, &app.portal_key, "https://portal.example.vn/return").await.0, 422);
    assert_eq!(create_with(&app, &app.portal_key, "https://dvc.hanam.example.vn/return").await.0, 201);
    app.stop().await;
}

// ---- 5. amounts a gateway cannot take --------------------------------------------------

fn body_of(amount: &str) -> Value {
    let mut b = payment_body();
    b["lines"][0]["amount"] = json!(amount);
    b
}

#[tokio::test]
async fn a_gateway_that_cannot_take_the_amount_is_hidden_and_choosing_it_anyway_is_422() {
    let app = TestApp::spawn().await;
    // Above VNPay's 10-digit vnp_Amount/100 and MoMo's wallet maximum.
    let big = app.create_payment(&body_of("10000000000")).await["id"].as_str().unwrap().to_owned();
    let page = app.client.get(format!("{}/checkout/{big}", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"sandbox\""), "{page}");
    assert!(!page.contains("value=\"vnpay\"") && !page.contains("value=\"momo\""), "{page}");
    assert!(page.contains("không nhận số tiền này"), "the page says why");
    let token = form_token(&page);
    for connector in ["vnpay", "momo"] {
        let r = post_choice(&app, &big, &[("connector", connector), ("form_token", &token)]).await;
        assert_eq!(r.status(), 422, "{connector}: not a 502");
        let html = r.text().await.unwrap();
        assert!(html.contains("choose another way to pay"), "{connector}: a clear page: {html}");
        let r = app
            .post(&format!("/v1/payments/{big}/attempts"), &app.portal_key)
            .json(&json!({"connector": connector}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(r).await, (422, "amount_not_accepted".into(), Some("connector".into())), "{connector}");
    }
    assert_eq!(attempts(&app, &big).await, 0, "nothing was started");
    assert_eq!(app.payment(&big).await["status"], "created");
    // Below MoMo's minimum: MoMo is hidden, VNPay is offered and works.
    let small = app.create_payment(&body_of("500")).await["id"].as_str().unwrap().to_owned();
    let page = app.client.get(format!("{}/checkout/{small}", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"vnpay\"") && !page.contains("value=\"momo\""), "{page}");
    assert!(app.choose(&small, "vnpay").await.contains("vnp_Amount=50000"));
    app.stop().await;
}
