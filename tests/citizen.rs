//! The citizen pages around the checkout (issue 11, "citizen pages a ministry would sign"),
//! over HTTP: the site's name instead of "feegate", `/` and unknown addresses as pages (the
//! API keeps its JSON), the transfer page with the dossier, agency, deadline and a plain
//! HTML refresh until paid, the paid page with time, method, transaction and the way back to
//! the portal, the expired, cancelled and failed pages saying what to do next and whom to
//! call, English connector names, and "pay" pressed twice or after paying. Runs on SQLite,
//! and on PostgreSQL with FEEGATE_TEST_DATABASE_URL.

mod common;
use common::console::payment_of;
use common::*;

/// The checkout's per-address limit off: every payer of these tests is 127.0.0.1.
const UNLIMITED: &[(&str, &str)] = &[("FEEGATE_RATE_LIMITS_ENABLED", "false")];

/// A page as a browser gets it: status, Content-Type, and the HTML with minijinja's
/// escapes of `/` and `&` undone (so links can be compared).
async fn page(app: &TestApp, path: &str, accept_language: Option<&str>) -> (u16, String, String) {
    let mut r = app.client.get(format!("{}{path}", app.url)).header("accept", "text/html,application/xhtml+xml");
    if let Some(l) = accept_language {
        r = r.header("accept-language", l);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = r.text().await.unwrap().replace("&#x2f;", "/").replace("&amp;", "&");
    (status, ct, text)
}

/// The attempts of a payment as (status, failure_code).
async fn attempts(app: &TestApp, id: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT status, failure_code FROM attempts WHERE payment_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// Posts the checkout form (connector, token) as a browser would; (status, Location).
async fn post_choice(app: &TestApp, id: &str, connector: &str, token: &str) -> (u16, String) {
    let r = app
        .client
        .post(format!("{}/checkout/{id}", app.url))
        .form(&[("connector", connector), ("form_token", token)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), location(&r))
}

#[tokio::test]
async fn the_header_names_the_configured_site_not_feegate_in_both_languages() {
    let app = TestApp::spawn().await;
    let (id, _) = payment_of(&app, "H12.20").await;
    let (status, _, vi) = page(&app, &format!("/checkout/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(vi.contains(r#"<span class="name" id="site-name">Cổng Dịch vụ công tỉnh Hà Nam</span>"#), "{vi}");
    assert!(vi.contains("· Cổng Dịch vụ công tỉnh Hà Nam</title>"), "{vi}");
    assert!(vi.contains(r#"<img src="data:image/svg+xml;base64,"#), "the demo's logo");
    assert!(!vi.to_lowercase().contains("feegate"), "{vi}");
    let (_, _, en) = page(&app, &format!("/checkout/{id}?lang=en"), None).await;
    assert!(en.contains(r#"id="site-name">Hà Nam Province Public Service Portal<"#), "{en}");
    // Buttons and inputs take the page's font, not the browser's default for controls.
    assert!(vi.contains("button, input, select, textarea { font: inherit; }"));
    app.stop().await;
}

#[test]
fn without_a_site_section_the_pages_carry_a_neutral_name() {
    // Outside the demo: no [site], so no logo, and a name that claims no province.
    let pages = feegate::web::Pages::new(&feegate::config::Site::default()).unwrap();
    let html = pages.message("Tiêu đề", "Nội dung");
    assert!(html.contains(r#"id="site-name">Thanh toán phí, lệ phí trực tuyến<"#), "{html}");
    assert!(!html.contains("<img") && !html.to_lowercase().contains("feegate"), "{html}");
    assert_eq!(feegate::config::Site::default().name_en(), "Online payment of fees and charges");
}

#[test]
fn a_site_logo_is_a_data_url_or_a_readable_image_file_and_a_site_needs_a_name() {
    let dir = std::env::temp_dir().join(format!("feegate-citizen-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let load = |toml: &str| {
        let file = dir.join("feegate.toml");
        std::fs::write(&file, toml).unwrap();
        feegate::config::Config::load_with(Some(&file), &[])
    };
    let png = dir.join("logo.png");
    std::fs::write(&png, [0x89, b'P', b'N', b'G', 13, 10, 26, 10]).unwrap();
    let cfg = load(&format!("[site]\nname = \"Cổng DVC\"\nlogo = {:?}\n", png.to_str().unwrap())).unwrap();
    assert_eq!(cfg.site.logo_src().unwrap().as_deref(), Some("data:image/png;base64,iVBORw0KGgo="));
    assert_eq!(cfg.site.name_en(), "Cổng DVC", "no English name: the Vietnamese one");
    let err = |toml: &str| format!("{:#}", load(toml).unwrap_err());
    assert!(err("[site]\nname = \"X\"\nlogo = \"/nonexistent/logo.png\"\n").contains("[site] logo: reading"));
    assert!(err("[site]\nname = \"X\"\nlogo = \"logo.gif\"\n").contains(".png, .jpg, .webp or .svg"));
    assert!(err("[site]\nname = \"X\"\nlogo = \"data:text/html,<b>\"\n").contains("data URL"));
    assert!(err("[site]\nname = \" \"\n").contains("[site] name is empty"));
    assert!(err("[site]\nname = \"X\"\nportal_url = \"javascript:alert(1)\"\n").contains("portal_url"));
    assert!(err("[site]\nname = \"X\"\ncolour = \"red\"\n").contains("unknown field"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_front_page_says_how_to_pay_in_the_browser_s_language() {
    let app = TestApp::spawn().await;
    let (status, ct, vi) = page(&app, "/", None).await;
    assert_eq!((status, ct.starts_with("text/html")), (200, true));
    assert!(vi.contains("<html lang=\"vi\">") && vi.contains("mở hồ sơ của bạn trên cổng dịch vụ công"), "{vi}");
    assert!(vi.contains(r#"href="https://portal.example.vn""#), "the site's portal: {vi}");
    let (_, _, en) = page(&app, "/", Some("en-US,en;q=0.9")).await;
    assert!(en.contains("<html lang=\"en\">") && en.contains("open your dossier on the public service portal"));
    let (_, _, forced) = page(&app, "/?lang=vi", Some("en-US,en;q=0.9")).await;
    assert!(forced.contains("<html lang=\"vi\">"), "?lang= beats the browser");
    app.stop().await;
}

#[tokio::test]
async fn unknown_addresses_are_a_page_for_people_and_json_for_the_api() {
    let app = TestApp::spawn().await;
    let (status, ct, vi) = page(&app, "/giay-phep/lai-xe", None).await;
    assert_eq!(status, 404);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(vi.contains("<h1 id=\"title\">Không tìm thấy trang</h1>") && vi.contains("Cổng Dịch vụ công tỉnh Hà Nam"));
    assert!(vi.contains(r#"href="/giay-phep/lai-xe?lang=en""#), "the switch keeps the address: {vi}");
    let (status, _, en) = page(&app, "/giay-phep/lai-xe", Some("en-GB,en;q=0.8")).await;
    assert_eq!(status, 404);
    assert!(en.contains("<h1 id=\"title\">Page not found</h1>"), "{en}");
    let (_, _, en) = page(&app, "/nope?lang=en", None).await;
    assert!(en.contains("Page not found"));
    // A payment that does not exist: its own words, same style.
    let (status, _, html) = page(&app, "/checkout/pay_nope", Some("en")).await;
    assert_eq!(status, 404);
    assert!(html.contains("Payment not found.") && html.contains("The payment link is wrong or out of date"));
    // A page address without Accept: text/html is still a page (a person's link).
    let r = app.client.get(format!("{}/checkout/pay_x/more", app.url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("Không tìm thấy trang"));
    // The API and the gateways keep their JSON, even asked by a browser.
    for path in ["/v1/nope", "/v1/payments/pay_x/nope"] {
        let (status, ct, body) = page(&app, path, None).await;
        assert_eq!(status, 404, "{path}");
        assert!(ct.starts_with("application/json") && body.contains("\"not_found\""), "{path}: {ct} {body}");
    }
    // A program (no Accept: text/html) asking for an unknown address gets the JSON error.
    let r = app.client.get(format!("{}/nope", app.url)).send().await.unwrap();
    let (status, code, _) = error_code(r).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    app.stop().await;
}

#[tokio::test]
async fn connector_names_have_an_english_form_on_the_english_page() {
    let app = TestApp::spawn().await;
    let (id, _) = payment_of(&app, "H12.25").await;
    let (_, _, vi) = page(&app, &format!("/checkout/{id}"), None).await;
    assert!(vi.contains(">Ví MoMo</button>") && vi.contains(">Chuyển khoản VietQR (mọi ngân hàng)</button>"), "{vi}");
    let (_, _, en) = page(&app, &format!("/checkout/{id}?lang=en"), None).await;
    assert!(en.contains(">MoMo wallet</button>") && en.contains(">VietQR bank transfer (any bank)</button>"), "{en}");
    assert!(!en.contains("Ví MoMo"), "{en}");
    // Accept-Language alone also gives the English page.
    let (_, _, en) = page(&app, &format!("/checkout/{id}"), Some("en-US,en;q=0.9")).await;
    assert!(en.contains(">ZaloPay wallet</button>"), "{en}");
    app.stop().await;
}

#[tokio::test]
async fn the_paid_page_shows_time_method_transaction_receipt_and_the_way_back_to_the_portal() {
    let app = TestApp::spawn().await;
    let (id, _) = payment_of(&app, "H12.20").await;
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let (status, _, vi) = page(&app, &format!("/checkout/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(vi.contains(r#"<dd id="method">Cổng thử nghiệm (Sandbox)</dd>"#), "{vi}");
    assert!(vi.contains(r#"<dd id="paid-at">"#) && vi.contains("(GMT+7)</dd>"), "{vi}");
    let txn: String =
        sqlx::query_scalar("SELECT gateway_txn FROM attempts WHERE payment_id = $1 AND status = 'succeeded'")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(vi.contains(&format!(r#"<dd id="transaction">{txn}</dd>"#)), "{vi}");
    assert!(vi.contains("id=\"receipt\"") && vi.contains("id=\"open-receipt\""), "the receipt stays: {vi}");
    // The way back is the signed browser return (README, "The browser's return").
    let back = format!(r#"href="https://portal.example.vn/return?payment_id={id}&status=succeeded&receipt_id="#);
    assert!(vi.contains(&back) && vi.contains("&ts=") && vi.contains("&signature="), "{vi}");
    let (_, _, en) = page(&app, &format!("/checkout/{id}?lang=en"), None).await;
    assert!(
        en.contains(r#"<dd id="method">Test gateway (Sandbox)</dd>"#)
            && en.contains("Back to the public service portal")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_payment_without_return_url_leads_back_to_the_site_s_portal() {
    let app = TestApp::spawn().await;
    // The API requires a return_url; a payment stored without one (an older row) still
    // gets a way back.
    let (id, _) = payment_of(&app, "H12.20").await;
    sqlx::query("UPDATE payments SET return_url = '' WHERE id = $1").bind(&id).execute(&app.db).await.unwrap();
    let token = app.form_token(&id).await;
    let (status, gateway) = post_choice(&app, &id, "sandbox", &token).await;
    assert_eq!(status, 303);
    let r = app.client.post(&gateway).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    app.client.get(location(&r)).send().await.unwrap();
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    let (_, _, html) = page(&app, &format!("/checkout/{id}"), None).await;
    assert!(html.contains(r#"id="to-portal" href="https://portal.example.vn""#), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn expired_and_cancelled_pages_say_to_start_again_and_whom_to_call() {
    let app = TestApp::spawn().await;
    let (expired, _) = payment_of(&app, "H12.20").await;
    sqlx::query(&format!("UPDATE payments SET expires_at = {} WHERE id = $2", ts("$1")))
        .bind(feegate::store::now_ms() - 1)
        .bind(&expired)
        .execute(&app.db)
        .await
        .unwrap();
    let (_, _, vi) = page(&app, &format!("/checkout/{expired}"), None).await;
    assert!(vi.contains("Khoản thanh toán đã hết hạn.") && !vi.contains("<form"), "{vi}");
    assert!(vi.contains("Hãy quay lại cổng dịch vụ công, mở hồ sơ và tạo lại yêu cầu thanh toán."), "{vi}");
    assert!(vi.contains(
        "Sở Giao thông vận tải tỉnh Hà Nam</strong>, điện thoại <a href=\"tel:02263852000\">0226 3852 000</a>"
    ));
    let (_, _, en) = page(&app, &format!("/checkout/{expired}?lang=en"), None).await;
    assert!(en.contains("What to do next") && en.contains("start the payment again"), "{en}");
    // Pressing "pay" on an old page of an expired payment starts nothing.
    let (status, to) = post_choice(&app, &expired, "sandbox", "stale").await;
    assert_eq!((status, to), (303, format!("/checkout/{expired}?lang=vi")));
    assert!(attempts(&app, &expired).await.is_empty());

    // An agency without a configured phone: "contact the agency".
    let (cancelled, _) = payment_of(&app, "H12.25").await;
    let r = app.post(&format!("/v1/payments/{cancelled}/cancel"), &app.portal_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (_, _, vi) = page(&app, &format!("/checkout/{cancelled}"), None).await;
    assert!(vi.contains("đã bị hủy") && vi.contains("hãy mở lại hồ sơ trên cổng dịch vụ công"), "{vi}");
    assert!(vi.contains("Cần hỗ trợ, hãy liên hệ <strong>Ủy ban nhân dân huyện Kim Bảng</strong>."), "{vi}");
    assert!(vi.contains("Tổng đài hỗ trợ: <a href=\"tel:19000000\">1900 0000</a>"), "the site's help line");
    app.stop().await;
}

#[tokio::test]
async fn a_failed_attempt_is_said_and_the_payer_may_choose_again() {
    let app = TestApp::spawn().await;
    let (id, _) = payment_of(&app, "H12.20").await;
    assert!(app.pay_sandbox(&id, "failure").await.contains("status=failed"));
    let (status, _, vi) = page(&app, &format!("/checkout/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(vi.contains("Lần thanh toán trước không thành công (Cổng thử nghiệm (Sandbox))."), "{vi}");
    assert!(vi.contains("đừng thanh toán lại") && vi.contains("0226 3852 000") && vi.contains("<form"), "{vi}");
    let (_, _, en) = page(&app, &format!("/checkout/{id}?lang=en"), None).await;
    assert!(en.contains("Your last payment attempt did not go through (Test gateway (Sandbox))."), "{en}");
    // Choosing again works, and the notice goes once the new attempt is under way.
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let (_, _, vi) = page(&app, &format!("/checkout/{id}"), None).await;
    assert!(!vi.contains("last-failed") && vi.contains("id=\"paid\""), "{vi}");
    app.stop().await;
}

#[tokio::test]
async fn the_transfer_page_shows_the_dossier_and_refreshes_itself_until_paid_then_the_paid_page() {
    let app = TestApp::spawn().await;
    let (id, dossier) = payment_of(&app, "H12.25").await;
    let token = app.form_token(&id).await;
    let (status, to) = post_choice(&app, &id, "vietqr", &token).await;
    assert_eq!((status, to.as_str()), (303, format!("/checkout/{id}/transfer?lang=vi").as_str()));
    let (status, _, qr) = page(&app, &to, None).await;
    assert_eq!(status, 200);
    assert!(qr.contains(r#"<meta http-equiv="refresh" content="10">"#), "{qr}");
    assert!(qr.contains(&format!(r#"<dd id="dossier">{dossier}</dd>"#)), "{qr}");
    assert!(qr.contains("Cơ quan thu: Ủy ban nhân dân huyện Kim Bảng") && qr.contains(r#"<dd id="deadline">"#));
    assert!(qr.contains("Đang chờ tiền chuyển đến"), "{qr}");
    // While the transfer is awaited, the payment's page points back to the code.
    let (_, _, checkout) = page(&app, &format!("/checkout/{id}"), None).await;
    assert!(checkout.contains(&format!(r#"href="/checkout/{id}/transfer?lang=vi""#)), "{checkout}");
    // The payer's bank sends the money (the simulated bank app).
    let sim = qr.split_once(r#"id="sim" href=""#).and_then(|(_, r)| r.split_once('"')).unwrap().0.to_owned();
    let r = app.client.post(format!("{}{sim}", app.url)).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mut paid = false;
    for _ in 0..50 {
        if app.payment(&id).await["status"] == "succeeded" {
            paid = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(paid, "the credit notification paid it");
    // The next refresh of the transfer page lands on the paid page, which leads to the portal.
    let r = app.client.get(format!("{}{to}", app.url)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, format!("/checkout/{id}?lang=vi")));
    let (_, _, paid_page) = page(&app, &format!("/checkout/{id}?lang=vi"), None).await;
    assert!(paid_page.contains("Đã thanh toán") && paid_page.contains("Chuyển khoản VietQR (mọi ngân hàng)"));
    assert!(!paid_page.contains("http-equiv=\"refresh\""), "no refresh once paid");
    assert!(paid_page.contains("https://portal.example.vn/return?payment_id="), "{paid_page}");
    app.stop().await;
}

#[tokio::test]
async fn pressing_pay_twice_leaves_no_second_attempt_pending_once_paid() {
    let app = TestApp::spawn_with(UNLIMITED).await;
    let (id, _) = payment_of(&app, "H12.20").await;
    let token = app.form_token(&id).await;
    // A double click: two POSTs of the same form at once. Both may start an attempt.
    let (a, b) = tokio::join!(post_choice(&app, &id, "sandbox", &token), post_choice(&app, &id, "sandbox", &token));
    assert_eq!((a.0, b.0), (303, 303));
    assert_eq!(attempts(&app, &id).await.len(), 2);
    // The payer pays in the first gateway window.
    let r = app.client.post(&a.1).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    app.client.get(location(&r)).send().await.unwrap();
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    let after = attempts(&app, &id).await;
    assert!(!after.iter().any(|(s, _)| s == "pending" || s == "unknown"), "an attempt left open: {after:?}");
    assert!(after.iter().any(|(s, f)| s == "failed" && f.as_deref() == Some("superseded")), "{after:?}");
    // "Pay" pressed again on the old page (its token still valid): the paid page, no attempt.
    for connector in ["sandbox", "momo"] {
        let (status, to) = post_choice(&app, &id, connector, &token).await;
        assert_eq!((status, to.as_str()), (303, format!("/checkout/{id}?lang=vi").as_str()));
    }
    assert_eq!(attempts(&app, &id).await.len(), 2, "no new attempt on a paid payment");
    let (status, _, html) = page(&app, &format!("/checkout/{id}?lang=vi"), None).await;
    assert_eq!(status, 200);
    assert!(html.contains("Đã thanh toán. Cảm ơn bạn!") && !html.contains("<form"), "{html}");
    app.stop().await;
}
