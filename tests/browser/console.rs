//! The console in a real browser: headless Chromium driven over WebDriver (`fantoccini`,
//! chromedriver on a free 127.0.0.1 port, started per test and killed when it ends). Sign
//! in with the keyboard, the lock after wrong passwords, the payment search, an agency-
//! scoped user who cannot see another agency's payment (list and URL), and on every page
//! the basic accessibility rules: each input and select has a label, one h1, headings that
//! skip no level. A failing test saves a screenshot under `target/console-screenshots/`.
//!
//! Without chromedriver the tests say so loudly and pass, unless CI is set (then they
//! fail). With FEEGATE_WRITE_SCREENSHOTS=1 they write the README's pictures to
//! `docs/console/`.

use crate::browser::*;
use crate::common::console::*;
use fantoccini::Locator;

#[tokio::test]
async fn a_finance_officer_signs_in_finds_a_payment_by_dossier_code_and_opens_it() {
    with_browser("signs_in_and_finds_a_payment", |c, app| async move {
        let (paid, dossier) = payment_of(&app, "H12.20").await;
        app.pay_sandbox(&paid, "success").await;
        for _ in 0..2 {
            let (other, _) = payment_of(&app, "H12.20").await;
            app.pay_sandbox(&other, "success").await;
        }
        let (waiting, _) = payment_of(&app, "H12.20").await;
        app.choose(&waiting, "sandbox").await;
        payment_of(&app, "H12.20").await;
        payment_of(&app, "H12.25").await;
        goto(&c, &app, "/console/sign-in").await;
        accessible(&c, "sign-in").await;
        save_docs_png("signin.png", &c.screenshot().await.expect("png"));
        sign_in_by_keyboard(&c, &app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
        assert!(text_of(&c, "h1").await.starts_with("Hôm nay"));
        assert!(text_of(&c, "main").await.contains("405.000 ₫"), "three payments of 135.000 ₫ today");
        accessible(&c, "today").await;
        save_docs_png("today.png", &c.screenshot().await.expect("png"));
        click(&c, Locator::LinkText("Thanh toán")).await;
        accessible(&c, "payments").await;
        save_docs_png("payments.png", &c.screenshot().await.expect("png"));
        c.find(Locator::Id("f-dossier")).await.expect("dossier field").send_keys(&dossier).await.expect("type");
        click(&c, Locator::Id("search")).await;
        let results = text_of(&c, "#results tbody").await;
        assert_eq!(results.lines().count(), 1, "{results}");
        assert!(results.contains(&dossier));
        click(&c, Locator::LinkText(&dossier)).await;
        assert_eq!(text_of(&c, "h1").await, format!("Khoản thanh toán {dossier}"));
        let audit = text_of(&c, "#audit").await;
        assert!(audit.contains("payment.created"), "{audit}");
        accessible(&c, "payment").await;
        save_docs_png("payment.png", &c.screenshot().await.expect("png"));
        // English, remembered across pages.
        click(&c, Locator::LinkText("English")).await;
        assert!(text_of(&c, "h1").await.starts_with("Payment"));
        goto(&c, &app, "/console").await;
        assert!(text_of(&c, "h1").await.starts_with("Today"));
        accessible(&c, "today (en)").await;
        app
    })
    .await;
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_with_a_message_in_the_browser() {
    with_browser("wrong_passwords_lock", |c, app| async move {
        for i in 1..=5 {
            sign_in_by_keyboard(&c, &app, DEMO_ADMIN.0, "not-the-password").await;
            let msg = text_of(&c, "#signin-error").await;
            if i < 5 {
                assert_eq!(msg, "Tên đăng nhập hoặc mật khẩu không đúng.", "#{i}");
            } else {
                assert!(msg.starts_with("Tài khoản tạm khóa"), "#{i}: {msg}");
            }
        }
        sign_in_by_keyboard(&c, &app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
        assert!(
            text_of(&c, "#signin-error").await.starts_with("Tài khoản tạm khóa"),
            "locked even with the right password"
        );
        accessible(&c, "sign-in (locked)").await;
        app
    })
    .await;
}

#[tokio::test]
async fn an_agency_scoped_user_cannot_see_another_agencys_payment_in_the_list_or_by_url() {
    with_browser("scoped_user", |c, app| async move {
        let (_, mine) = payment_of(&app, "H12.20").await;
        let (theirs_id, theirs) = payment_of(&app, "H12.25").await;
        sign_in_by_keyboard(&c, &app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
        goto(&c, &app, "/console/payments").await;
        let list = text_of(&c, "main").await;
        assert!(list.contains(&mine) && !list.contains(&theirs), "{list}");
        goto(&c, &app, &format!("/console/payments?dossier={theirs}")).await;
        assert!(text_of(&c, "#no-results").await.contains("Không có"));
        goto(&c, &app, &format!("/console/payments/{theirs_id}")).await;
        assert_eq!(text_of(&c, "h1").await, "Có lỗi xảy ra");
        assert!(text_of(&c, "main").await.contains("Không tìm thấy."));
        accessible(&c, "not found").await;
        // The agency list of the search offers only the user's agency.
        goto(&c, &app, "/console/payments").await;
        let options = text_of(&c, "#f-agency").await;
        assert!(options.contains("H12.20") && !options.contains("H12.25"), "{options}");
        app
    })
    .await;
}
