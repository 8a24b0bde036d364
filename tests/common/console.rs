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

/// The demo's reconciliation officer: finance bound to no agency (runs and cases are per
/// source, so an agency-bound user cannot see them).
pub const DEMO_RECON: (&str, &str) = ("doisoat", "demo-doisoat-2026");

/// Today as a GMT+7 business day, `YYYY-MM-DD`.
pub fn gmt7_today() -> String {
    let d = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7)).date();
    d.format(time::macros::format_description!("[year]-[month]-[day]")).expect("a date")
}

/// The references a planted settlement file gets wrong.
pub struct Planted {
    /// The file's text.
    pub file: String,
    /// Paid 135.000 ₫; the file says 153.000 ₫ (`amount_mismatch`).
    pub wrong_amount: String,
    /// Paid; the file lacks it (`missing_in_file`).
    pub missing: String,
    /// In the file only (`missing_in_feegate`).
    pub unknown: String,
}

/// Pays three sandbox payments and takes the sandbox simulator's settlement file of today
/// as it sends it, with the errors a bank file can have planted: one amount wrong, one
/// payment left out, one line of a payment feegate never saw (the third matches).
pub async fn planted_settlement(app: &TestApp) -> Planted {
    let mut refs = Vec::new();
    for _ in 0..3 {
        let (id, _) = payment_of(app, "H12.20").await;
        assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
        refs.push(app.payment(&id).await["attempts"][0]["reference"].as_str().expect("reference").to_owned());
    }
    let url = format!("{}/sim/sandbox/_control/settlement?date={}", app.url, gmt7_today());
    let file = app.client.get(url).send().await.expect("settlement").text().await.expect("text");
    let (a, b, c) = (&refs[0], &refs[1], &refs[2]);
    let mut lines: Vec<String> = file
        .lines()
        .filter(|l| !l.starts_with(&format!("{b},")))
        .map(|l| if l.starts_with(&format!("{a},")) { l.replace(",135000,", ",153000,") } else { l.to_owned() })
        .collect();
    let c_line = lines.iter().find(|l| l.starts_with(&format!("{c},"))).expect("c in the file").clone();
    lines.push(c_line.replacen(c.as_str(), "FGUNKNOWN000", 1));
    Planted {
        file: lines.join("\n") + "\n",
        wrong_amount: a.clone(),
        missing: b.clone(),
        unknown: "FGUNKNOWN000".into(),
    }
}

/// Uploads `file` for `source` and today from the console's form (multipart, the session's
/// CSRF token unless `csrf` is empty).
pub async fn upload(app: &TestApp, s: &Session, csrf: &str, source: &str, file: &str) -> Response {
    let part =
        reqwest::multipart::Part::text(file.to_owned()).file_name("sandbox.csv").mime_str("text/csv").expect("mime");
    upload_part(app, s, csrf, source, part).await
}

/// Uploads one file part (any name and type) for `source` and today from the console's form.
pub async fn upload_part(
    app: &TestApp,
    s: &Session,
    csrf: &str,
    source: &str,
    part: reqwest::multipart::Part,
) -> Response {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .text("source", source.to_owned())
        .text("date", gmt7_today())
        .part("file", part);
    app.client
        .post(format!("{}/console/recon", app.url))
        .header("cookie", &s.cookie)
        .multipart(form)
        .send()
        .await
        .expect("upload")
}

/// A payment of H12.20 paid by bank transfer through the VietQR simulator's bank app (its
/// refunds are paid out by hand: `pending_manual`); its id and dossier code.
pub async fn paid_by_transfer(app: &TestApp) -> (String, String) {
    let (id, dossier) = payment_of(app, "H12.20").await;
    app.choose(&id, "vietqr").await;
    let attempt = app.payment(&id).await["attempts"][0]["id"].as_str().expect("attempt").to_owned();
    let (action,): (String,) = sqlx::query_as("SELECT action FROM attempts WHERE id = $1")
        .bind(&attempt)
        .fetch_one(&app.db)
        .await
        .expect("action");
    let action: serde_json::Value = serde_json::from_str(&action).expect("json");
    let payload: String =
        url::form_urlencoded::byte_serialize(action["payload"].as_str().expect("payload").as_bytes()).collect();
    let bank_app = format!("{}/sim/vietqr/app?payload={payload}", app.url);
    app.client.get(&bank_app).send().await.expect("bank app");
    app.client.post(&bank_app).form(&[("outcome", "success")]).send().await.expect("approve");
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    (id, dossier)
}

/// The first sheet of a workbook, as calamine reads it (reports slice).
pub fn sheet(bytes: &[u8]) -> Vec<Vec<calamine::Data>> {
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("an xlsx");
    let range = book.worksheet_range_at(0).expect("a sheet").expect("readable");
    range.rows().map(|r| r.to_vec()).collect()
}

/// A settlement file (the sandbox's CSV layout) as an .xlsx: amounts and fees as number
/// cells, the time as an Excel date-time in GMT+7, the rest as text; `bad_amount` writes
/// the first line's amount as a fraction of a đồng.
pub fn settlement_xlsx(csv_text: &str, bad_amount: bool) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    let date_format = Format::new().set_num_format("dd/mm/yyyy hh:mm:ss");
    for (r, line) in csv_text.lines().enumerate() {
        let row = r as u32;
        for (c, cell) in line.split(',').enumerate() {
            let col = c as u16;
            match (r, c) {
                (0, _) => {
                    ws.write_string(row, col, cell).unwrap();
                }
                (_, 3 | 4) => {
                    let mut v: f64 = cell.parse().unwrap();
                    if bad_amount && r == 1 && c == 3 {
                        v += 0.5;
                    }
                    ws.write_number(row, col, v).unwrap();
                }
                (_, 6) => {
                    let t = time::OffsetDateTime::parse(cell, &time::format_description::well_known::Rfc3339)
                        .unwrap()
                        .to_offset(time::macros::offset!(+7));
                    let d = ExcelDateTime::from_ymd(t.year() as u16, t.month() as u8, t.day())
                        .unwrap()
                        .and_hms(u16::from(t.hour()), t.minute(), f64::from(t.second()))
                        .unwrap();
                    ws.write_datetime_with_format(row, col, &d, &date_format).unwrap();
                }
                _ => {
                    ws.write_string(row, col, cell).unwrap();
                }
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// Sends the refund form of a payment's console page as a browser would (the page's own
/// idempotency key, the session's CSRF token).
pub async fn refund_form(app: &TestApp, s: &Session, id: &str, amount: &str, reason: &str) -> reqwest::Response {
    let r = get(app, &s.cookie, &format!("/console/payments/{id}")).await;
    assert_eq!(r.status(), 200);
    let key = hidden(&r.text().await.expect("page"), "key");
    assert!(!key.is_empty(), "the refund form has its key");
    post(
        app,
        &s.cookie,
        &format!("/console/payments/{id}/refund"),
        &[("csrf", &s.csrf), ("key", &key), ("amount", amount), ("reason", reason)],
    )
    .await
}
