//! The day's reconciliation (đối soát) in a real browser, as issue 10 tells it: the demo's
//! reconciliation officer signs in, uploads the sandbox's settlement file of the day from
//! the form, sees its discrepancies by outcome with the reason in words, finds them in the
//! cases inbox, cannot close the day while they are open (the page says why), resolves them
//! all at once with a code and a note, and closes the day. Every page passes the
//! accessibility check of `common/browser.rs` (labels, headings, lang, the skip link by
//! keyboard). Same harness as `browser/console.rs`: without chromedriver the test says so
//! loudly and passes unless CI is set; FEEGATE_WRITE_SCREENSHOTS=1 writes
//! `docs/console/{recon,cases}.png`.

use crate::browser::*;
use crate::common::console::*;
use fantoccini::{Client, Locator};

/// Ticks every case checkbox of the page; how many there were.
async fn tick_all(c: &Client) -> usize {
    let boxes = c.find_all(Locator::Css("#cases input[type=checkbox]")).await.expect("checkboxes");
    for b in &boxes {
        b.click().await.expect("tick");
    }
    boxes.len()
}

#[tokio::test]
async fn a_finance_officer_uploads_the_days_settlement_resolves_its_cases_and_closes_the_day() {
    with_browser("recon_day", |c, app| async move {
        let planted = planted_settlement(&app).await;
        let dir = std::env::temp_dir().join(format!("feegate-recon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(format!("sandbox-{}.csv", gmt7_today()));
        std::fs::write(&path, &planted.file).expect("write the file");

        sign_in_by_keyboard(&c, &app, DEMO_RECON.0, DEMO_RECON.1).await;
        // Today's open cases link to the inbox; the nav leads to the reconciliation page.
        assert!(c.find(Locator::Css("main a[href='/console/cases']")).await.is_ok(), "Today links the cases");
        click(&c, Locator::LinkText("Đối soát")).await;
        assert_eq!(text_of(&c, "h1").await, "Đối soát");
        accessible(&c, "recon").await;
        c.find(Locator::Css("#u-source option[value='sandbox']")).await.expect("sandbox").click().await.expect("pick");
        let file = c.find(Locator::Id("u-file")).await.expect("file input");
        file.send_keys(path.to_str().expect("a path")).await.expect("choose the file");
        click(&c, Locator::Id("upload")).await;
        let _ = std::fs::remove_dir_all(&dir);

        // The run: counts per outcome, then only the amount that differs, with its reason.
        assert!(text_of(&c, "h1").await.starts_with("Lần đối soát 1 · sandbox"));
        let counts = text_of(&c, "#counts").await;
        for want in ["Khớp: 1", "Thiếu trong tệp: 1", "Không có trong hệ thống: 1", "Lệch số tiền: 1"]
        {
            assert!(counts.contains(want), "{want} in {counts}");
        }
        accessible(&c, "run").await;
        click(&c, Locator::Css("#counts a[href$='outcome=amount_mismatch']")).await;
        let items = text_of(&c, "#items tbody").await;
        assert_eq!(items.lines().count(), 1, "{items}");
        assert!(items.contains(&planted.wrong_amount) && items.contains("amount 153000 in file, 135000 in feegate"));
        goto(&c, &app, "/console/recon").await;
        assert!(text_of(&c, "#runs").await.contains("sandbox"));
        save_docs_png("recon.png", &c.screenshot().await.expect("png"));

        // The inbox of the day: three cases; the day cannot close yet, and says why.
        goto(&c, &app, &format!("/console/cases?source=sandbox&date={}", gmt7_today())).await;
        let inbox = text_of(&c, "#cases tbody").await;
        assert_eq!(inbox.lines().count(), 3, "{inbox}");
        for r in [&planted.wrong_amount, &planted.missing, &planted.unknown] {
            assert!(inbox.contains(r.as_str()), "{r} in {inbox}");
        }
        accessible(&c, "cases").await;
        let close_id = format!("close-sandbox-{}", gmt7_today());
        click(&c, Locator::Id(&close_id)).await;
        let why = text_of(&c, "#cases-error").await;
        assert!(why.contains("Chưa thể khóa sổ") && why.ends_with("Số vụ việc: 3"), "{why}");
        save_docs_png("cases.png", &c.screenshot().await.expect("png"));

        // Resolve all three at once with a code and a note.
        assert_eq!(tick_all(&c).await, 3);
        c.find(Locator::Css("#r-code option[value='accepted_difference']"))
            .await
            .expect("code")
            .click()
            .await
            .expect("pick");
        let note = c.find(Locator::Id("r-note")).await.expect("note");
        note.send_keys("Đã đối chiếu với sao kê ngân hàng ngày hôm nay").await.expect("type");
        click(&c, Locator::Id("resolve")).await;
        assert_eq!(text_of(&c, "#cases-notice").await, "Đã xử lý vụ việc: 3");
        assert!(text_of(&c, "#no-cases").await.contains("Không có vụ việc nào"));

        // Now the day closes, and takes no more files.
        click(&c, Locator::Id(&close_id)).await;
        assert_eq!(text_of(&c, "#cases-notice").await, "Đã khóa sổ ngày.");
        assert!(text_of(&c, "#days").await.contains("Đã khóa sổ (staff:doisoat)"));
        accessible(&c, "cases (closed)").await;
        let days = app.get(&format!("/v1/reconciliation/days?source=sandbox&date={}", gmt7_today()), &app.finance_key);
        let days: serde_json::Value = days.send().await.expect("days").json().await.expect("json");
        assert_eq!(days[0]["status"], "closed");
        app
    })
    .await;
}
