//! The citizen pages in a real browser, at phone width (390 px) and desktop width (1280 px),
//! in Vietnamese and English: choosing how to pay, the VietQR transfer page (which refreshes
//! itself until the money arrives), the paid page, an expired payment and an unknown
//! address. Each page passes the harness's accessibility check, names the site (not
//! "feegate"), fits the width without sideways scrolling, and its buttons use the page's
//! font. FEEGATE_WRITE_SCREENSHOTS=1 writes `docs/citizen/*.png`.

use crate::browser::*;
use crate::common::console::payment_of;
use crate::common::{ts, TestApp};
use fantoccini::{Client, Locator};
use std::time::Duration;

/// The page from its top (the accessibility check left it scrolled to the main content).
async fn save_png(c: &Client, name: &str) {
    if std::env::var("FEEGATE_WRITE_SCREENSHOTS").as_deref() == Ok("1") {
        c.execute("window.scrollTo(0, 0);", vec![]).await.expect("scroll");
        let png = c.screenshot().await.expect("png");
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/citizen");
        std::fs::create_dir_all(&dir).expect("docs/citizen");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }
}

/// Makes the page area `width` x `height` CSS pixels (the window is that plus its frame).
async fn viewport(c: &Client, width: u32, height: u32) {
    let inner = c.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.expect("size");
    let (w, h) = (inner[0].as_u64().unwrap_or(0) as u32, inner[1].as_u64().unwrap_or(0) as u32);
    let (ow, oh) = c.get_window_size().await.map(|(w, h)| (w as u32, h as u32)).expect("window size");
    c.set_window_size(width + ow.saturating_sub(w), height + oh.saturating_sub(h)).await.expect("resize");
    let inner = c.execute("return window.innerWidth;", vec![]).await.expect("width");
    assert_eq!(inner.as_u64(), Some(u64::from(width)), "the page is {width} px wide");
}

/// What every citizen page must be: accessible, the site's name in the header, no
/// sideways scrolling at this width.
async fn well_formed(c: &Client, page: &str, site: &str) {
    accessible(c, page).await;
    assert_eq!(text_of(c, "#site-name").await, site, "{page}");
    let wide = c
        .execute("return document.documentElement.scrollWidth > window.innerWidth;", vec![])
        .await
        .expect("scroll width");
    assert_eq!(wide, serde_json::Value::Bool(false), "{page}: the page scrolls sideways");
}

/// One payer's way through the pages in `lang` at `width`, with screenshots.
async fn tour(c: &Client, app: &TestApp, lang: &str, width: u32) {
    let en = lang == "en";
    let site = if en { "Hà Nam Province Public Service Portal" } else { "Cổng Dịch vụ công tỉnh Hà Nam" };
    let shot = |page: &str| format!("{page}-{lang}-{width}.png");

    // Choosing how to pay.
    let (id, dossier) = payment_of(app, "H12.25").await;
    goto(c, app, &format!("/checkout/{id}?lang={lang}")).await;
    well_formed(c, "choose", site).await;
    assert_eq!(text_of(c, "#dossier").await, dossier);
    let vietqr = c.find(Locator::Css("button[value=vietqr]")).await.expect("the VietQR button");
    let name = vietqr.text().await.expect("name");
    assert_eq!(name, if en { "VietQR bank transfer (any bank)" } else { "Chuyển khoản VietQR (mọi ngân hàng)" });
    let fonts = "const b = getComputedStyle(document.querySelector('button.choice')); \
                 const p = getComputedStyle(document.body); \
                 return [b.fontFamily === p.fontFamily, b.fontSize === p.fontSize];";
    let same = c.execute(fonts, vec![]).await.expect("fonts");
    assert_eq!(same, serde_json::json!([true, true]), "the buttons use the page's font");
    save_png(c, &shot("choose")).await;

    // The transfer page: dossier, agency, deadline, the status, and a refresh of its own.
    click(c, Locator::Css("button[value=vietqr]")).await;
    well_formed(c, "transfer", site).await;
    assert_eq!(text_of(c, "#dossier").await, dossier);
    assert!(text_of(c, "#agency").await.contains("Ủy ban nhân dân huyện Kim Bảng"));
    let status = text_of(c, "#status").await;
    assert!(status.contains(if en { "Waiting for your transfer" } else { "Đang chờ tiền chuyển đến" }), "{status}");
    let refresh = c.find(Locator::Css("meta[http-equiv=refresh]")).await.expect("a refresh");
    assert_eq!(refresh.attr("content").await.expect("content").as_deref(), Some("10"));
    save_png(c, &shot("qr")).await;

    // The payer's bank app sends the money; the page's next refresh shows it paid.
    let sim = c.find(Locator::Id("sim")).await.expect("the simulated bank").attr("href").await.expect("href");
    let sim = sim.expect("a link");
    let r = app.client.post(format!("{}{sim}", app.url)).form(&[("outcome", "success")]).send().await.unwrap();
    assert!(r.status().is_success());
    for _ in 0..50 {
        if app.payment(&id).await["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.refresh().await.expect("refresh");
    let paid = text_of(c, "#state").await;
    assert_eq!(paid, if en { "Paid. Thank you!" } else { "Đã thanh toán. Cảm ơn bạn!" });
    well_formed(c, "paid", site).await;
    assert_eq!(text_of(c, "#method").await, name);
    assert!(!text_of(c, "#transaction").await.is_empty());
    assert!(text_of(c, "#receipt").await.contains("KB-26E"), "the receipt");
    let back = c.find(Locator::Id("to-portal")).await.expect("the way back").attr("href").await.expect("href");
    assert!(back.unwrap_or_default().starts_with("https://portal.example.vn/return?payment_id="));
    save_png(c, &shot("paid")).await;

    // An expired payment: what to do next, whom to call.
    let (expired, _) = payment_of(app, "H12.20").await;
    sqlx::query(&format!("UPDATE payments SET expires_at = {} WHERE id = $2", ts("$1")))
        .bind(feegate::store::now_ms() - 1)
        .bind(&expired)
        .execute(&app.db)
        .await
        .unwrap();
    goto(c, app, &format!("/checkout/{expired}?lang={lang}")).await;
    well_formed(c, "expired", site).await;
    assert!(text_of(c, "#contact").await.contains("0226 3852 000"));
    save_png(c, &shot("expired")).await;

    // An address that does not exist.
    goto(c, app, &format!("/ho-so/khong-co?lang={lang}")).await;
    well_formed(c, "not found", site).await;
    assert_eq!(text_of(c, "h1").await, if en { "Page not found" } else { "Không tìm thấy trang" });
    save_png(c, &shot("not-found")).await;
}

#[tokio::test]
async fn a_payer_on_a_phone_chooses_pays_by_transfer_and_sees_the_paid_expired_and_missing_pages() {
    with_browser("citizen_phone", |c, app| async move {
        viewport(&c, 390, 844).await;
        tour(&c, &app, "vi", 390).await;
        tour(&c, &app, "en", 390).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_payer_on_a_desktop_chooses_pays_by_transfer_and_sees_the_paid_expired_and_missing_pages() {
    with_browser("citizen_desktop", |c, app| async move {
        viewport(&c, 1280, 800).await;
        tour(&c, &app, "vi", 1280).await;
        tour(&c, &app, "en", 1280).await;
        app
    })
    .await;
}

/// A dossier whose charge goes to the treasury and whose fee to the agency's bank: one
/// transfer per account on one page, each marked as it arrives, then the paid page.
async fn two_transfers(c: &Client, app: &TestApp, lang: &str, width: u32) {
    let en = lang == "en";
    let site = if en { "Hà Nam Province Public Service Portal" } else { "Cổng Dịch vụ công tỉnh Hà Nam" };
    let mut body = crate::common::payment_body();
    body["lines"] = serde_json::json!([
        {"kind": "charge", "code": "LP", "description": "Lệ phí cấp đổi GPLX", "amount": "135000"},
        {"kind": "fee", "code": "P", "description": "Phí thẩm định", "amount": "50000"}
    ]);
    let id = app.create_payment(&body).await["id"].as_str().unwrap().to_owned();
    goto(c, app, &format!("/checkout/{id}?lang={lang}")).await;
    click(c, Locator::Css("button[value=vietqr]")).await;
    well_formed(c, "two transfers", site).await;
    assert_eq!(text_of(c, "#total").await, "185.000 ₫");
    assert!(text_of(c, "#leg-h").await.starts_with(if en { "Transfer 1/2" } else { "Khoản 1/2" }));
    assert_eq!(text_of(c, "#amount").await, "135.000 ₫");
    assert_eq!(text_of(c, "#amount-2").await, "50.000 ₫");
    assert_ne!(text_of(c, "#content").await, text_of(c, "#content-2").await);
    assert_ne!(text_of(c, "#account").await, text_of(c, "#account-2").await);
    assert_eq!(c.find_all(Locator::Css(".qr img")).await.expect("codes").len(), 2);
    save_png(c, &format!("qr-two-accounts-{lang}-{width}.png")).await;

    // The first transfer arrives: the page marks it and keeps the other's code.
    let sim = |n: &'static str| async move {
        let href = c.find(Locator::Id(n)).await.expect("the simulated bank").attr("href").await.expect("href");
        let r = app.client.post(format!("{}{}", app.url, href.expect("a link"))).form(&[("outcome", "success")]);
        assert!(r.send().await.unwrap().status().is_success());
    };
    sim("sim").await;
    c.refresh().await.expect("refresh");
    well_formed(c, "one transfer arrived", site).await;
    assert_eq!(text_of(c, "#leg-state").await, if en { "Received" } else { "Đã nhận" });
    assert_eq!(text_of(c, "#leg-state-2").await, if en { "Waiting" } else { "Đang chờ" });
    assert_eq!(c.find_all(Locator::Css(".qr img")).await.expect("codes").len(), 1);
    save_png(c, &format!("qr-two-accounts-arrived-{lang}-{width}.png")).await;

    sim("sim-2").await;
    c.refresh().await.expect("refresh");
    assert_eq!(text_of(c, "#state").await, if en { "Paid. Thank you!" } else { "Đã thanh toán. Cảm ơn bạn!" });
    assert_eq!(text_of(c, "#transaction").await.matches(", ").count(), 1, "both transactions");
}

#[tokio::test]
async fn a_payer_pays_a_charge_and_a_fee_to_two_accounts_by_two_transfers_on_one_page() {
    with_browser("citizen_two_transfers", |c, app| async move {
        viewport(&c, 390, 844).await;
        two_transfers(&c, &app, "vi", 390).await;
        viewport(&c, 1280, 800).await;
        two_transfers(&c, &app, "en", 1280).await;
        app
    })
    .await;
}
