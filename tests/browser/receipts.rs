//! A citizen's receipt in a real browser: after paying, the checkout's paid page shows the
//! receipt's series and number, the transaction number and the time, and leads to the
//! receipt; the receipt shows what was paid, in figures and in words, with its QR code; the
//! verification page (what the QR code opens) says it is genuine. Same harness as the
//! console's browser tests; FEEGATE_WRITE_SCREENSHOTS=1 writes `docs/receipts/*.png`.

use crate::browser::*;
use crate::common::console::payment_of;
use fantoccini::Locator;

fn save_png(name: &str, png: &[u8]) {
    if std::env::var("FEEGATE_WRITE_SCREENSHOTS").as_deref() == Ok("1") {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/receipts");
        std::fs::create_dir_all(&dir).expect("docs/receipts");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }
}

#[tokio::test]
async fn a_citizen_opens_the_receipt_from_the_paid_page_and_verifies_it() {
    with_browser("receipt", |c, app| async move {
        let (id, dossier) = payment_of(&app, "H12.20").await;
        assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
        goto(&c, &app, &format!("/checkout/{id}")).await;
        let receipt = text_of(&c, "#receipt").await;
        assert!(receipt.contains("GT-26E · 0000001"), "{receipt}");
        save_png("paid.png", &c.screenshot().await.expect("png"));
        click(&c, Locator::Id("open-receipt")).await;
        assert_eq!(text_of(&c, "h1").await, "BIÊN LAI THU PHÍ, LỆ PHÍ");
        assert_eq!(text_of(&c, "#number").await, "0000001");
        assert_eq!(text_of(&c, "#words").await, "Một trăm ba mươi lăm nghìn đồng");
        assert_eq!(text_of(&c, "#total").await, "135.000");
        assert!(text_of(&c, "main").await.contains(&dossier));
        assert!(text_of(&c, "#integrity").await.starts_with("Chữ ký số hợp lệ"));
        let qr = c.find(Locator::Css(".qr img")).await.expect("the QR code");
        assert!(qr.attr("src").await.expect("src").unwrap_or_default().starts_with("data:image/svg+xml;base64,"));
        save_png("receipt.png", &c.screenshot().await.expect("png"));

        // What the QR code opens.
        let code = text_of(&c, "#code").await;
        goto(&c, &app, &format!("/receipts/verify?agency=H12.20&series=GT-26E&number=1&code={code}")).await;
        assert!(text_of(&c, "#verdict").await.starts_with("Biên lai hợp lệ"));
        assert_eq!(text_of(&c, "#amount").await, "135.000 ₫");
        app
    })
    .await;
}
