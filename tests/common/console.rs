//! Console helpers for the HTTP and browser tests: staff users, signing in over HTTP, and
//! requests that carry the session cookie.

use super::TestApp;
use feegate::service::caller::Role;
use feegate::service::staff::{self, NewStaff};
use reqwest::Response;

/// The demo's users (config/demo.toml; README "Console").
pub const DEMO_ADMIN: (&str, &str) = ("admin", "demo-admin-2026");
pub const DEMO_FINANCE: (&str, &str) = ("ketoan", "demo-ketoan-2026");

/// A signed-in session: the `Cookie` header value and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Creates a staff user through the service (as `feegate staff create` does).
pub async fn create_staff(app: &TestApp, username: &str, role: Role, agencies: &[&str], password: &str) {
    let n = NewStaff {
        username: username.into(),
        display_name: format!("Cán bộ {username}"),
        role,
        agencies: agencies.iter().map(|a| a.to_string()).collect(),
    };
    staff::create(&app.state.store, &n, password, "test").await.expect("create staff");
}

/// The value of the hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.split_once(&marker).and_then(|(_, rest)| rest.split_once('"')).map(|(t, _)| t.to_owned()).unwrap_or_default()
}

/// Posts the sign-in form as a browser would (token from the page first).
pub async fn sign_in(app: &TestApp, username: &str, password: &str) -> Response {
    let page = app.client.get(format!("{}/console/sign-in", app.url)).send().await.expect("sign-in page");
    assert_eq!(page.status(), 200);
    let token = hidden(&page.text().await.expect("text"), "form_token");
    assert!(!token.is_empty(), "the sign-in page has a form token");
    app.client
        .post(format!("{}/console/sign-in", app.url))
        .form(&[("username", username), ("password", password), ("form_token", &token), ("next", "/console")])
        .send()
        .await
        .expect("sign in")
}

/// The `fg_session` cookie a sign-in answer sets (`name=value`), if any.
pub fn session_cookie(r: &Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("fg_session=") && !v.contains("Max-Age=0"))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// Signs in (asserting success) and reads the session's CSRF token from Today.
pub async fn session(app: &TestApp, username: &str, password: &str) -> Session {
    let r = sign_in(app, username, password).await;
    assert_eq!(r.status(), 303, "sign-in of {username}: {}", r.text().await.unwrap_or_default());
    let cookie = session_cookie(&r).expect("a session cookie");
    let page = get(app, &cookie, "/console").await;
    assert_eq!(page.status(), 200);
    let csrf = hidden(&page.text().await.expect("text"), "csrf");
    assert_eq!(csrf.len(), 64, "a CSRF token in the page");
    Session { cookie, csrf }
}

/// GET with a session cookie (no redirect followed).
pub async fn get(app: &TestApp, cookie: &str, path: &str) -> Response {
    app.client.get(format!("{}{path}", app.url)).header("cookie", cookie).send().await.expect("get")
}

/// POST a form with a session cookie.
pub async fn post(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> Response {
    app.client.post(format!("{}{path}", app.url)).header("cookie", cookie).form(form).send().await.expect("post")
}

/// A payment of `agency` (created by the demo portal); its id and dossier code.
pub async fn payment_of(app: &TestApp, agency: &str) -> (String, String) {
    let mut body = super::payment_body();
    body["agency_code"] = agency.into();
    let dossier = body["dossier_code"].as_str().unwrap_or_default().replacen("H12.20", agency, 1);
    body["dossier_code"] = dossier.clone().into();
    let v = app.create_payment(&body).await;
    (v["id"].as_str().expect("id").to_owned(), dossier)
}
