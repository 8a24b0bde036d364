//! A refund in a real browser, as issue 10 tells it: the demo's finance officer of Sở Giao
//! thông vận tải Hà Nam (`ketoan`) finds a paid payment, refunds part of it from its page
//! (amount in đồng, reason), sees the refund on the page and on the Refunds page, and there
//! records the bank transfer that paid out a bank-transfer payment's refund by hand. Every
//! page passes the accessibility check of `common/browser.rs`. Same harness as
//! `browser/console.rs`: without chromedriver the test says so loudly and passes unless CI
//! is set; FEEGATE_WRITE_SCREENSHOTS=1 writes `docs/console/refunds.png`.

use crate::browser::*;
use crate::common::console::*;
use crate::common::location;
use fantoccini::Locator;
use serde_json::{json, Value};

#[tokio::test]
async fn a_finance_officer_refunds_a_payment_from_its_page_and_records_a_manual_payout() {
    with_browser("refunds", |c, app| async move {
        let (paid, dossier) = payment_of(&app, "H12.20").await;
        assert!(app.pay_sandbox(&paid, "success").await.contains("status=succeeded"));
        // Two bank transfers refunded from their pages: they wait for finance's payout.
        let officer = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
        let mut manual = Vec::new();
        for (amount, reason) in [("135.000", "Công dân nộp trùng hồ sơ"), ("50.000", "Thu thừa lệ phí cấp bản sao")]
        {
            let (transfer, transfer_dossier) = paid_by_transfer(&app).await;
            let r = refund_form(&app, &officer, &transfer, amount, reason).await;
            assert!(location(&r).ends_with("done=refund_manual"), "{}", location(&r));
            manual.push((transfer, transfer_dossier));
        }
        let (transfer, transfer_dossier) = manual[0].clone();
        let v: Value = app
            .get(&format!("/v1/payments/{transfer}/refunds"), &app.finance_key)
            .send()
            .await
            .expect("refunds")
            .json()
            .await
            .expect("json");
        let rid = v[0]["id"].as_str().expect("id").to_owned();
        // One refunded earlier through the API, for the list of settled ones.
        let (earlier, _) = payment_of(&app, "H12.20").await;
        assert!(app.pay_sandbox(&earlier, "success").await.contains("status=succeeded"));
        let r = app
            .post(&format!("/v1/payments/{earlier}/refunds"), &app.finance_key)
            .json(&json!({"amount": "135000", "reason": "Hồ sơ không đủ điều kiện giải quyết"}))
            .send()
            .await
            .expect("refund");
        assert_eq!(r.status(), 202);

        sign_in_by_keyboard(&c, &app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
        goto(&c, &app, &format!("/console/payments?dossier={dossier}")).await;
        click(&c, Locator::LinkText(&dossier)).await;
        assert_eq!(text_of(&c, "h1").await, format!("Khoản thanh toán {dossier}"));
        assert_eq!(text_of(&c, "#refundable").await, "135.000 ₫");
        accessible(&c, "payment with the refund form").await;
        let amount = c.find(Locator::Id("r-amount")).await.expect("amount");
        amount.clear().await.expect("clear");
        amount.send_keys("35.000").await.expect("type");
        c.find(Locator::Id("r-reason"))
            .await
            .expect("reason")
            .send_keys("Hồ sơ bị từ chối một phần")
            .await
            .expect("type");
        click(&c, Locator::Id("refund")).await;
        assert_eq!(text_of(&c, "#notice").await, "Đã hoàn tiền qua cổng thanh toán.");
        assert_eq!(text_of(&c, "#refundable").await, "100.000 ₫");
        let refunds = text_of(&c, "section[aria-labelledby='refunds-h'] tbody").await;
        assert!(refunds.contains("35.000 ₫") && refunds.contains("staff:ketoan"), "{refunds}");

        // The Refunds page: the manual payout waiting, the refund just made among the settled.
        click(&c, Locator::LinkText("Hoàn tiền")).await;
        assert_eq!(text_of(&c, "h1").await, "Hoàn tiền");
        let open = text_of(&c, "#open tbody").await;
        assert!(open.contains(&transfer_dossier) && open.contains("Chờ chi thủ công"), "{open}");
        let settled = text_of(&c, "#settled tbody").await;
        assert!(settled.contains(&dossier) && settled.contains("Hồ sơ bị từ chối một phần"), "{settled}");
        accessible(&c, "refunds").await;
        c.execute("window.scrollTo(0, 0);", vec![]).await.expect("scroll to the top");
        save_docs_png("refunds.png", &c.screenshot().await.expect("png"));
        c.find(Locator::Id(&format!("bank-{rid}")))
            .await
            .expect("bank reference")
            .send_keys("FT26333904512")
            .await
            .expect("type");
        click(&c, Locator::Id(&format!("payout-{rid}"))).await;
        assert_eq!(text_of(&c, "#refunds-notice").await, "Đã ghi nhận chi trả, mã chứng từ: FT26333904512");
        let open = text_of(&c, "#open tbody").await;
        assert!(!open.contains(&transfer_dossier) && open.contains(&manual[1].1), "{open}");
        assert!(text_of(&c, "#settled tbody").await.contains("FT26333904512"));
        accessible(&c, "refunds (paid out)").await;
        // The dossier link leads back to the payment, now refunded.
        click(&c, Locator::LinkText(&transfer_dossier)).await;
        assert!(text_of(&c, "main").await.contains("Đã hoàn tiền"));
        assert_eq!(app.payment(&transfer).await["status"], "refunded");
        app
    })
    .await;
}
