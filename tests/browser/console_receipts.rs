//! The receipt register in a real browser: the demo's reconciliation officer opens
//! "Biên lai" from the navigation, reads each series with its gap check (a series with a
//! number deleted on purpose is red and names it), opens a series' receipts of the month,
//! follows a receipt to its payment's page, and downloads the month's register (read back
//! with calamine). Each page passes the accessibility check of `common/browser.rs`.
//! FEEGATE_WRITE_SCREENSHOTS=1 writes `docs/console/receipts.png`.

use crate::browser::*;
use crate::common::console::*;
use calamine::Data;
use fantoccini::Locator;

#[tokio::test]
async fn a_finance_officer_reads_the_receipt_series_sees_a_gap_in_red_and_opens_a_series_month() {
    with_browser("receipts_register", |c, app| async move {
        for agency in ["H12.20", "H12.20", "H12.20", "H12.25", "H12.25"] {
            let (id, _) = payment_of(&app, agency).await;
            assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
        }
        // A gap made on purpose: Kim Bảng's first receipt is gone (with its provider job:
        // Kim Bảng's receipts also go to the demo's receipt provider).
        sqlx::query(
            "DELETE FROM receipt_jobs WHERE receipt_id IN \
             (SELECT id FROM receipts WHERE agency_code = 'H12.25' AND number = 1)",
        )
        .execute(&app.db)
        .await
        .expect("delete its provider job");
        sqlx::query("DELETE FROM receipts WHERE agency_code = 'H12.25' AND number = 1")
            .execute(&app.db)
            .await
            .expect("delete a receipt");
        let year = &gmt7_today()[..4];
        sign_in_by_keyboard(&c, &app, DEMO_RECON.0, DEMO_RECON.1).await;
        click(&c, Locator::LinkText("Biên lai")).await;
        assert_eq!(text_of(&c, "h1").await, "Sổ biên lai thu phí, lệ phí");
        accessible(&c, "receipts").await;
        let whole = format!("tr#series-H12\\.20-01BLP0-001-GT-26E-{year}");
        let gap = format!("tr#series-H12\\.25-01BLP0-001-KB-26E-{year}");
        assert!(text_of(&c, &whole).await.contains("Liên tục, không trùng"));
        let red = text_of(&c, &gap).await;
        assert!(red.contains("Thiếu số (1): 1"), "{red}");
        let el = c.find(Locator::Css(&format!("{gap} td.check .gap"))).await.expect("the problem");
        let colour = el.css_value("color").await.expect("color");
        assert_eq!(colour, "rgba(161, 29, 29, 1)", "the problem is red");
        assert!(text_of(&c, "#problems").await.ends_with(": 1"));
        c.execute("window.scrollTo(0, 0);", vec![]).await.expect("scroll to the top");
        save_docs_png("receipts.png", &c.screenshot().await.expect("png"));

        // The series' receipts of the month.
        click(&c, Locator::Css(&format!("{whole} a.list-link"))).await;
        let rows = text_of(&c, "#receipts tbody").await;
        for n in ["1", "2", "3"] {
            assert!(c.find(Locator::Id(&format!("receipt-{n}"))).await.is_ok(), "receipt {n}: {rows}");
        }
        assert!(rows.contains("Nguyễn Ngọc Lâm") && rows.contains("135.000 ₫") && rows.contains("Đã lập"), "{rows}");
        accessible(&c, "receipts list").await;
        // The month's register, as the page's link fetches it with the browser's session.
        let href = c.find(Locator::Id("dl-register-xlsx")).await.expect("link").attr("href").await.expect("href");
        let href = href.expect("an href");
        let cookie = c.get_named_cookie("fg_session").await.expect("the session cookie");
        let url = if href.starts_with("http") { href.clone() } else { format!("{}{href}", app.url) };
        let r = app.client.get(url).header("cookie", format!("fg_session={}", cookie.value())).send().await;
        let rows = sheet(&r.expect("xlsx").bytes().await.expect("bytes"));
        // The page chose H12.20 (the series' link did): its register is H12.20's.
        assert_eq!(rows.len(), 1 + 3 + 1, "three receipts of GT-26E, totals: {rows:?}");
        assert!(rows[1..4].iter().all(|r| r[0] == Data::String("H12.20".into())), "{rows:?}");
        assert_eq!(rows[4][16], Data::Float(405_000.0), "the total of three receipts of 135.000 ₫");
        assert_eq!(rows.last().expect("totals")[0], Data::String("Tổng cộng".into()));
        // A receipt's payment, from its row.
        click(&c, Locator::Css("#receipt-2 a[href^='/console/payments/']")).await;
        assert!(c.current_url().await.expect("url").path().starts_with("/console/payments/pay_"));
        app
    })
    .await;
}
