//! The finance console over HTTP (no browser): the session cookie's attributes, CSRF
//! refusal, sign-out on the server, idle and absolute timeouts, the wrong-password
//! throttle and lock, roles (a viewer changes nothing), agency scope, the journal, and
//! `feegate staff create`. Runs on SQLite, and on PostgreSQL with FEEGATE_TEST_DATABASE_URL.

mod common;
use common::console::*;
use common::*;
use feegate::service::caller::Role;
use std::time::{Duration, Instant};

async fn audit_rows(app: &TestApp, scope: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kind, actor FROM audit_log WHERE scope = $1 ORDER BY seq")
        .bind(scope)
        .fetch_all(&app.db)
        .await
        .expect("audit")
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_for_the_console_only() {
    let app = TestApp::spawn().await;
    let r = sign_in(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/console");
    let set: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let c = set.iter().find(|c| c.starts_with("fg_session=")).expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(c.contains(attr), "{c} lacks {attr}");
    }
    assert!(!c.contains("Secure"), "plain http: no Secure ({c})");
    // The id is 32 random bytes; the database keeps only its SHA-256.
    let id = c.split(';').next().unwrap().trim_start_matches("fg_session=");
    assert_eq!(id.len(), 43, "{id}");
    let stored: Vec<(String,)> = sqlx::query_as("SELECT id_hash FROM staff_sessions").fetch_all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, id);
    assert!(!stored[0].0.contains(id));
    app.stop().await;

    let app = TestApp::spawn_with(&[("FEEGATE_PUBLIC_URL", "https://pay.example.gov.vn")]).await;
    let r = sign_in(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    assert_eq!(r.status(), 303);
    let c = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(c.contains("; Secure"), "https public URL: Secure ({c})");
    app.stop().await;
}

#[tokio::test]
async fn pages_need_a_session_and_send_the_browser_to_sign_in() {
    let app = TestApp::spawn().await;
    for path in ["/console", "/console/payments?dossier=X", "/console/payments/pay_x"] {
        let r = app.client.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert!(location(&r).starts_with("/console/sign-in?next=%2Fconsole"), "{path}: {}", location(&r));
    }
    let r = get(&app, "fg_session=made-up", "/console").await;
    assert_eq!(r.status(), 303);
    // The sign-in page of a signed-in user goes straight on.
    let s = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let r = get(&app, &s.cookie, "/console/sign-in?next=%2Fconsole%2Fpayments").await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/console/payments".to_owned()));
    // A sign-in page never sends anyone to another site afterwards.
    let token = hidden(
        &app.client.get(format!("{}/console/sign-in", app.url)).send().await.unwrap().text().await.unwrap(),
        "form_token",
    );
    let r = app
        .client
        .post(format!("{}/console/sign-in", app.url))
        .form(&[
            ("username", DEMO_ADMIN.0),
            ("password", DEMO_ADMIN.1),
            ("form_token", &token),
            ("next", "//evil.example/x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/console");
    app.stop().await;
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, _) = payment_of(&app, "H12.20").await;
    let admin = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let other = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let path = format!("/console/payments/{id}/cancel");
    for token in ["", "0000", other.csrf.as_str()] {
        let r = post(&app, &admin.cookie, &path, &[("csrf", token)]).await;
        assert_eq!(r.status(), 403, "token {token:?}");
        assert_eq!(app.payment(&id).await["status"], "created", "nothing changed");
    }
    // The sign-in form without its token changes nothing either.
    let r = app
        .client
        .post(format!("{}/console/sign-in", app.url))
        .form(&[("username", DEMO_ADMIN.0), ("password", DEMO_ADMIN.1)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(session_cookie(&r).is_none());
    let r = post(&app, &admin.cookie, &path, &[("csrf", &admin.csrf)]).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(app.payment(&id).await["status"], "cancelled");
    let journal = audit_rows(&app, &id).await;
    assert!(journal.contains(&("payment.cancelled".into(), "staff:admin".into())), "{journal:?}");
    app.stop().await;
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let s = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let r = post(&app, &s.cookie, "/console/sign-out", &[("csrf", "")]).await;
    assert_eq!(r.status(), 403, "sign-out needs the token too");
    assert_eq!(get(&app, &s.cookie, "/console").await.status(), 200);
    let r = post(&app, &s.cookie, "/console/sign-out", &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status(), 303);
    let cleared = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cleared.starts_with("fg_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie, kept by someone, opens nothing.
    let r = get(&app, &s.cookie, "/console").await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.count("staff_sessions").await, 0);
    let journal = audit_rows(&app, "staff").await;
    for kind in ["staff.signed_in", "staff.signed_out"] {
        assert!(journal.contains(&(kind.into(), "staff:ketoan".into())), "{kind}: {journal:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_idle_session_ends_and_so_does_an_old_one_however_busy() {
    let app = TestApp::spawn_with(&[
        ("FEEGATE_CONSOLE_IDLE_TIMEOUT_MS", "2000"),
        ("FEEGATE_CONSOLE_ABSOLUTE_TIMEOUT_MS", "5000"),
    ])
    .await;
    // The abandoned and idle sessions first, the busy one last, and the clock started after
    // it: a sign-in (argon2) can take a second on a loaded machine, which must not eat into
    // the busy session's absolute lifetime before the test looks at it.
    let _abandoned = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let idle = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let busy = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let start = Instant::now();
    // The busy session is used every 300 ms and outlives the idle timeout...
    let mut busy_alive = false;
    while start.elapsed() < Duration::from_millis(2600) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        busy_alive = get(&app, &busy.cookie, "/console").await.status() == 200;
        assert!(busy_alive, "a used session lives on at {:?}", start.elapsed());
    }
    assert!(busy_alive);
    // ...the idle one does not.
    let r = get(&app, &idle.cookie, "/console").await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("expired=1"), "{}", location(&r));
    // The busy one ends at the absolute timeout all the same (bounded: 10 s).
    let mut ended = None;
    while start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if get(&app, &busy.cookie, "/console").await.status() == 303 {
            ended = Some(start.elapsed());
            break;
        }
    }
    let ended = ended.expect("the absolute timeout ends a busy session");
    assert!(ended >= Duration::from_millis(4000), "not before the absolute timeout: {ended:?}");
    // A session nobody came back with is gone too once anyone signs in after its end.
    assert_eq!(app.count("staff_sessions").await, 1, "the abandoned one is still there");
    session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    assert_eq!(app.count("staff_sessions").await, 1, "only the new session is left");
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_slow_down_then_lock_known_and_unknown_names_alike() {
    let app = TestApp::spawn_with(&[("FEEGATE_CONSOLE_LOCK_MS", "2500")]).await;
    let mut answers = Vec::new();
    for name in [DEMO_FINANCE.0, "nobody"] {
        let mut took = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let t = Instant::now();
            let r = sign_in(&app, name, "wrong-password-123").await;
            took.push(t.elapsed());
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            last = Some((status, body));
            if took.len() <= 4 {
                let (s, b) = last.as_ref().unwrap();
                assert_eq!(*s, 401, "{name} #{}", took.len());
                assert!(b.contains("Tên đăng nhập hoặc mật khẩu không đúng."), "{name}");
                let typed = format!("value=\"{name}\"");
                answers.push(b.replace(&hidden(b, "form_token"), "").replace(&typed, ""));
            }
        }
        assert!(took[3] >= Duration::from_millis(450), "{name}: the 4th wrong password waits ({took:?})");
        let (status, body) = last.unwrap();
        assert_eq!(status, 429, "{name}: the 5th locks");
        assert!(body.contains("Tài khoản tạm khóa"), "{name}: {body}");
        // Locked: even the right password is refused, with the same words.
        let r = sign_in(&app, name, DEMO_FINANCE.1).await;
        assert_eq!(r.status(), 429, "{name} locked");
    }
    // An unknown name answers exactly as a known one with a wrong password.
    assert_eq!(answers[0], answers[4]);
    // The lock ends after lock_ms (bounded wait).
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let r = sign_in(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    assert_eq!(r.status(), 303, "the lock has passed");
    let journal = audit_rows(&app, "staff").await;
    assert!(journal.contains(&("staff.locked".into(), "staff:ketoan".into())), "{journal:?}");
    assert!(journal.iter().all(|(_, actor)| actor != "staff:nobody"), "no journal entry for a name nobody has");
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_and_a_finance_user_cannot_cancel() {
    let app = TestApp::spawn().await;
    create_staff(&app, "xem", Role::Viewer, &[], "viewer-password-1").await;
    let (id, _) = payment_of(&app, "H12.20").await;
    for (user, pass) in [("xem", "viewer-password-1"), DEMO_FINANCE] {
        let s = session(&app, user, pass).await;
        let page = get(&app, &s.cookie, &format!("/console/payments/{id}")).await.text().await.unwrap();
        assert!(!page.contains("id=\"cancel\""), "{user}: no cancel button");
        let r = post(&app, &s.cookie, &format!("/console/payments/{id}/cancel"), &[("csrf", &s.csrf)]).await;
        assert_eq!(r.status(), 403, "{user}");
        assert_eq!(app.payment(&id).await["status"], "created");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_agency_scoped_user_sees_only_their_agencys_payments() {
    let app = TestApp::spawn().await;
    let (mine, my_dossier) = payment_of(&app, "H12.20").await;
    let (theirs, their_dossier) = payment_of(&app, "H12.25").await;
    let s = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    assert_eq!(get(&app, &s.cookie, &format!("/console/payments/{mine}")).await.status(), 200);
    let r = get(&app, &s.cookie, &format!("/console/payments/{theirs}")).await;
    assert_eq!(r.status(), 404, "another agency's payment is not found");
    let missing = get(&app, &s.cookie, "/console/payments/pay_doesnotexist").await;
    assert_eq!(missing.status(), 404);
    let main = |html: String| html.split("<main").nth(1).unwrap_or_default().to_owned();
    assert_eq!(main(r.text().await.unwrap()), main(missing.text().await.unwrap()), "the same answer as a missing one");
    let list = get(&app, &s.cookie, "/console/payments").await.text().await.unwrap();
    assert!(list.contains(&my_dossier) && !list.contains(&their_dossier), "the list is scoped");
    for q in [format!("dossier={their_dossier}"), "agency=H12.25".into()] {
        let page = get(&app, &s.cookie, &format!("/console/payments?{q}")).await.text().await.unwrap();
        assert!(!page.contains("id=\"results\"") && page.contains("id=\"no-results\""), "{q}");
    }
    // The admin (every agency) sees both, and finds one by its dossier code.
    let a = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let page = get(&app, &a.cookie, &format!("/console/payments?dossier={their_dossier}")).await.text().await.unwrap();
    let results = page.split("id=\"results\"").nth(1).expect("results");
    assert!(results.contains(&their_dossier) && !results.contains(&my_dossier));
    assert_eq!(get(&app, &a.cookie, &format!("/console/payments/{theirs}")).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn today_counts_what_was_paid_per_agency_and_gateway() {
    let app = TestApp::spawn().await;
    let (id, dossier) = payment_of(&app, "H12.20").await;
    app.pay_sandbox(&id, "success").await;
    payment_of(&app, "H12.25").await;
    let s = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let page =
        get(&app, &s.cookie, "/console").await.text().await.unwrap().replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(page.contains("135.000 ₫"), "{page}");
    assert!(page.contains("Sở Giao thông vận tải tỉnh Hà Nam (H12.20)"));
    assert!(!page.contains("(H12.25)"), "scoped to H12.20");
    let link = page.split("href=\"/console/payments?agency=").nth(1).unwrap().split('"').next().unwrap();
    let list = get(&app, &s.cookie, &format!("/console/payments?agency={link}")).await;
    assert!(list.text().await.unwrap().contains(&dossier), "the count links to its payments");
    let en = get(&app, &s.cookie, "/console?lang=en").await;
    assert!(en.headers().get("set-cookie").unwrap().to_str().unwrap().starts_with("fg_lang=en"));
    assert!(en.text().await.unwrap().contains("Collected today"));
    let again = get(&app, &format!("{}; fg_lang=en", s.cookie), "/console").await.text().await.unwrap();
    assert!(again.contains("Collected today"), "the cookie remembers the language");
    app.stop().await;
}

#[tokio::test]
async fn the_staff_create_command_prints_a_one_time_password_or_reads_one() {
    let db = fresh_database().await;
    let env = vec![("FEEGATE_DATABASE_URL".to_string(), db.clone()), ("FEEGATE_DEMO".to_string(), "true".to_string())];
    let (code, out) =
        proc::cli(&["staff", "create", "--role", "viewer", "--agency", "H12.25", "--name", "Lê Văn Xem", "xem"], &env)
            .await;
    assert_eq!(code, 0, "{out}");
    let password = out.lines().last().unwrap().trim().to_owned();
    assert_eq!(password.len(), 23, "{out}");
    let out = std::process::Command::new(proc::BIN)
        .args(["staff", "create", "--role", "finance", "--password-stdin", "kt2"])
        .env("FEEGATE_DATABASE_URL", &db)
        .env("FEEGATE_DEMO", "true")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"a-long-chosen-password\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("a-long-chosen-password"));
    let (code, out) = proc::cli(&["staff", "create", "--role", "portal", "p"], &env).await;
    assert_ne!(code, 0, "portal is not a staff role: {out}");
    let app = TestApp::spawn_on(&db, &[]).await;
    session(&app, "xem", &password).await;
    session(&app, "kt2", "a-long-chosen-password").await;
    let stored: Vec<(String,)> = sqlx::query_as("SELECT password_hash FROM staff_users WHERE username = 'kt2'")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(stored[0].0.starts_with("$argon2id$"), "argon2id: {}", stored[0].0);
    app.stop().await;
}

#[tokio::test]
async fn passwords_never_reach_the_log_even_at_debug_level() {
    let db = fresh_database().await;
    let dir = proc::Workdir::new("console-log");
    let log = dir.path("feegate.log");
    let env = vec![("FEEGATE_DATABASE_URL".to_string(), db), ("RUST_LOG".to_string(), "debug".to_string())];
    let mut server = proc::Server::start(proc::free_port(), &env, &log).await;
    let client = proc::client();
    let wrong = "Wr0ng-and-Secret-Pass";
    for password in [wrong, DEMO_ADMIN.1] {
        let page = client.get(format!("{}/console/sign-in", server.url)).send().await.unwrap().text().await.unwrap();
        let token = hidden(&page, "form_token");
        let r = client
            .post(format!("{}/console/sign-in", server.url))
            .form(&[("username", DEMO_ADMIN.0), ("password", password), ("form_token", &token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), if password == wrong { 401 } else { 303 });
    }
    server.kill().await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("console sign-in"), "the sign-ins are logged");
    for secret in [wrong, DEMO_ADMIN.1] {
        assert!(!text.contains(secret), "the log holds a password: {secret}");
    }
    dir.remove();
}

#[tokio::test]
async fn the_search_finds_payments_by_reference_status_gateway_and_day_and_pages_them() {
    let app = TestApp::spawn().await;
    let (paid, paid_dossier) = payment_of(&app, "H12.20").await;
    app.pay_sandbox(&paid, "success").await;
    let reference = app.payment(&paid).await["attempts"][0]["reference"].as_str().unwrap().to_owned();
    let (_, open_dossier) = payment_of(&app, "H12.20").await;
    let s = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    let results = |html: String| html.split("id=\"results\"").nth(1).map(str::to_owned).unwrap_or_default();
    let today = feegate::service::cases::gmt7_day(feegate::store::now_ms());
    for (q, finds_paid, finds_open) in [
        (format!("reference={}", reference.to_lowercase()), true, false),
        ("status=succeeded".to_string(), true, false),
        ("status=created".to_string(), false, true),
        ("gateway=sandbox".to_string(), true, false),
        (format!("from={today}&to={today}"), true, true),
        ("from=2001-01-01&to=2001-01-02".to_string(), false, false),
        (format!("paid_on={today}"), true, false),
    ] {
        let page = results(get(&app, &s.cookie, &format!("/console/payments?{q}")).await.text().await.unwrap());
        assert_eq!(page.contains(&paid_dossier), finds_paid, "{q}");
        assert_eq!(page.contains(&open_dossier), finds_open, "{q}");
    }
    for bad in ["status=nonsense", "gateway=nobody", "from=29/11/2026", "after=garbage"] {
        let r = get(&app, &s.cookie, &format!("/console/payments?{bad}")).await;
        assert_eq!(r.status(), 422, "{bad}");
        assert!(r.text().await.unwrap().contains("class=\"alert\""), "{bad}: the refusal is on the page");
    }
    // 50 a page: the 51st payment is on the next page, found through its link.
    for _ in 0..50 {
        payment_of(&app, "H12.25").await;
    }
    let first = get(&app, &s.cookie, "/console/payments").await.text().await.unwrap();
    assert!(!first.contains(&paid_dossier), "the oldest payment is not on the first page");
    let next = first.split("rel=\"next\"").next().unwrap().rsplit("href=\"").next().unwrap().split('"').next().unwrap();
    let next = next.replace("&#x2f;", "/").replace("&amp;", "&");
    let second = get(&app, &s.cookie, &next).await.text().await.unwrap();
    assert!(results(second).contains(&paid_dossier), "{next}");
    app.stop().await;
}

#[tokio::test]
async fn the_search_finds_payments_by_part_of_the_payers_name_or_identity_number() {
    let app = TestApp::spawn().await;
    let (id, dossier) = payment_of(&app, "H12.20").await;
    let mut other = payment_body();
    other["payer"] = serde_json::json!({"name": "Trần Thị Bình", "id_number": "036200000777"});
    other["dossier_code"] = "H12.20-261127-0777".into();
    app.create_payment(&other).await;
    let s = session(&app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
    // The demo payer is "Nguyễn Ngọc Lâm", CCCD 001090000001.
    for typed in ["ngọc lâm", "NGUYỄN", "001090000001", "0900"] {
        let path = format!(
            "/console/payments?payer={}",
            url::form_urlencoded::byte_serialize(typed.as_bytes()).collect::<String>()
        );
        let html = get(&app, &s.cookie, &path).await.text().await.unwrap();
        assert!(html.contains(&dossier), "{typed} finds the payment");
        assert!(!html.contains("H12.20-261127-0777"), "{typed} finds only it");
    }
    // LIKE's wildcards are text, not patterns.
    for typed in ["%", "_", "Nguy%Lâm"] {
        let path = format!(
            "/console/payments?payer={}",
            url::form_urlencoded::byte_serialize(typed.as_bytes()).collect::<String>()
        );
        let html = get(&app, &s.cookie, &path).await.text().await.unwrap();
        assert!(!html.contains(&id) && !html.contains(&dossier), "{typed} is not a pattern");
    }
    let long = "x".repeat(101);
    assert_eq!(get(&app, &s.cookie, &format!("/console/payments?payer={long}")).await.status(), 422);
    app.stop().await;
}
