//! The reports and a spreadsheet upload in a real browser: the demo's reconciliation
//! officer opens the month's report from the navigation, reads its totals, downloads the
//! XLSX of the page's link with the browser's session (read back with calamine: money as numbers, Vietnamese
//! intact), then uploads the gateway's settlement file as an .xlsx, sees it parsed in the
//! preview (with the progress script on), confirms, and gets the run. Every new page passes
//! the accessibility check of `common/browser.rs`. FEEGATE_WRITE_SCREENSHOTS=1 writes
//! `docs/console/{reports,preview}.png`.

use crate::browser::*;
use crate::common::console::*;
use calamine::Data;
use fantoccini::Locator;

#[tokio::test]
async fn a_finance_officer_reads_the_months_report_downloads_its_xlsx_and_imports_an_xlsx_after_its_preview() {
    with_browser("reports", |c, app| async move {
        let planted = planted_settlement(&app).await;
        sign_in_by_keyboard(&c, &app, DEMO_RECON.0, DEMO_RECON.1).await;
        click(&c, Locator::LinkText("Báo cáo")).await;
        assert_eq!(text_of(&c, "h1").await, "Báo cáo thu phí, lệ phí");
        accessible(&c, "reports").await;
        let total = text_of(&c, "#monthly-total").await;
        assert!(total.contains("405.000 ₫"), "three payments of 135.000 ₫: {total}");
        assert!(text_of(&c, "#chart-data").await.contains("sandbox"));
        assert!(c.find(Locator::Css("svg#chart rect.c-charge")).await.is_ok(), "a bar of lệ phí");
        c.execute("window.scrollTo(0, 0);", vec![]).await.expect("scroll to the top");
        save_docs_png("reports.png", &c.screenshot().await.expect("png"));

        // The XLSX, fetched by the page with its own session as the link would.
        let link = c.find(Locator::Id("dl-monthly-xlsx")).await.expect("link");
        let href = link.attr("href").await.expect("href").expect("an href");
        // The CSP lets no page script fetch: the link is read with the browser's own session.
        let cookie = c.get_named_cookie("fg_session").await.expect("the session cookie");
        let url = if href.starts_with("http") { href.clone() } else { format!("{}{href}", app.url) };
        let r =
            app.client.get(url).header("cookie", format!("fg_session={}", cookie.value())).send().await.expect("xlsx");
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.expect("bytes").to_vec();
        let rows = sheet(&bytes);
        assert_eq!(rows[1][2], Data::String("Sở Giao thông vận tải tỉnh Hà Nam".into()), "{rows:?}");
        assert_eq!(rows[1][4], Data::String("Lệ phí".into()));
        assert_eq!(rows[1][8], Data::Float(405_000.0), "money is a number");
        assert_eq!(rows.last().expect("totals")[0], Data::String("Tổng cộng".into()));

        // The settlement as an .xlsx: previewed first, then imported.
        let dir = std::env::temp_dir().join(format!("feegate-xlsx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(format!("sandbox-{}.xlsx", gmt7_today()));
        std::fs::write(&path, settlement_xlsx(&planted.file, false)).expect("write the file");
        click(&c, Locator::LinkText("Đối soát")).await;
        c.find(Locator::Css("#u-source option[value='sandbox']")).await.expect("sandbox").click().await.expect("pick");
        // The progress script runs (the page's CSP allows it by its hash).
        assert!(c.find(Locator::Css("#upload-form[data-enhanced='progress']")).await.is_ok(), "the script ran");
        let file = c.find(Locator::Id("u-file")).await.expect("file input");
        file.send_keys(path.to_str().expect("a path")).await.expect("choose the file");
        click(&c, Locator::Id("preview-upload")).await;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(text_of(&c, "h1").await, "Xem trước tệp đối soát");
        assert_eq!(text_of(&c, "#preview-total").await, "3");
        let rows = text_of(&c, "#preview tbody").await;
        assert!(rows.contains(&planted.wrong_amount) && rows.contains("153.000 ₫"), "{rows}");
        accessible(&c, "preview").await;
        save_docs_png("preview.png", &c.screenshot().await.expect("png"));
        let runs = app.get("/v1/reconciliation/runs?source=sandbox", &app.finance_key).send().await.expect("runs");
        let runs: serde_json::Value = runs.json().await.expect("json");
        assert_eq!(runs.as_array().map(Vec::len), Some(0), "nothing written before the import");
        click(&c, Locator::Id("import")).await;
        assert!(text_of(&c, "h1").await.starts_with("Lần đối soát 1 · sandbox"));
        let counts = text_of(&c, "#counts").await;
        for want in ["Khớp: 1", "Thiếu trong tệp: 1", "Không có trong hệ thống: 1", "Lệch số tiền: 1"]
        {
            assert!(counts.contains(want), "{want} in {counts}");
        }
        click(&c, Locator::Css("#counts a[href$='outcome=amount_mismatch']")).await;
        let items = text_of(&c, "#items tbody").await;
        assert!(items.contains("Số tiền thanh toán: trong tệp 153.000 ₫, trong hệ thống 135.000 ₫"), "{items}");
        accessible(&c, "run").await;
        app
    })
    .await;
}
