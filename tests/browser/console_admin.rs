//! The administration pages in a real browser: the demo's admin opens each page from the
//! navigation (each passes the accessibility check of `common/browser.rs`), makes a finance
//! API key bound to one agency and sees it once, makes a staff user who then signs in with
//! the one-time password, and verifies the audit journal. Same harness as
//! `browser/console.rs`; FEEGATE_WRITE_SCREENSHOTS=1 writes `docs/console/admin.png`.

use crate::browser::*;
use crate::common::console::*;
use fantoccini::Locator;

#[tokio::test]
async fn an_admin_makes_a_scoped_finance_key_and_a_staff_user_and_verifies_the_journal() {
    with_browser("admin", |c, app| async move {
        sign_in_by_keyboard(&c, &app, DEMO_ADMIN.0, DEMO_ADMIN.1).await;
        click(&c, Locator::LinkText("Quản trị")).await;
        assert_eq!(text_of(&c, "h1").await, "Cơ quan và tài khoản");
        for (tab, h1) in [
            ("portals", "Cổng dịch vụ công"),
            ("gateways", "Cổng thanh toán"),
            ("staff", "Người dùng"),
            ("audit", "Nhật ký kiểm toán"),
            ("agencies", "Cơ quan và tài khoản"),
        ] {
            click(&c, Locator::Css(&format!("nav.subnav a[href='/console/admin/{tab}']"))).await;
            assert_eq!(text_of(&c, "h1").await, h1);
            accessible(&c, tab).await;
        }
        click(&c, Locator::LinkText("H12.20")).await;
        assert!(text_of(&c, "#accounts").await.contains("Kho bạc"), "the demo's treasury account");
        accessible(&c, "agency").await;

        // A finance key bound to H12.20: shown once, listed with its scope.
        goto(&c, &app, "/console/admin/keys").await;
        c.find(Locator::Css("#k-role option[value='finance']")).await.expect("role").click().await.expect("pick");
        c.find(Locator::Id("k-name")).await.expect("name").send_keys("Kế toán Sở GTVT").await.expect("type");
        c.find(Locator::Css("input[name=agency][value='H12.20']")).await.expect("agency").click().await.expect("tick");
        click(&c, Locator::Id("create-key")).await;
        let key = text_of(&c, "#secret").await;
        assert!(key.starts_with("fgk_"), "{key}");
        let row = text_of(&c, "#keys tbody").await;
        assert!(row.contains("Kế toán Sở GTVT") && row.contains("H12.20"), "{row}");
        save_docs_png("admin.png", &c.screenshot().await.expect("png"));
        let r = app.get("/v1/agencies", &key).send().await.expect("agencies");
        let v: serde_json::Value = r.json().await.expect("json");
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");

        // A staff user, who signs in with the one-time password.
        goto(&c, &app, "/console/admin/staff").await;
        c.find(Locator::Id("s-username")).await.expect("username").send_keys("hoa.nt").await.expect("type");
        c.find(Locator::Id("s-name")).await.expect("name").send_keys("Nguyễn Thị Hoa").await.expect("type");
        click(&c, Locator::Id("create-staff")).await;
        let password = text_of(&c, "#secret").await;
        assert_eq!(password.len(), 23, "{password}");
        assert!(text_of(&c, "#staff tbody").await.contains("Nguyễn Thị Hoa"));
        session(&app, "hoa.nt", &password).await;

        // The journal holds both, and verifies.
        goto(&c, &app, "/console/admin/audit").await;
        let entries = text_of(&c, "#entries tbody").await;
        assert!(entries.contains("key.created") && entries.contains("staff.created"), "{entries}");
        click(&c, Locator::Id("verify")).await;
        assert!(text_of(&c, "#admin-notice").await.starts_with("Nhật ký toàn vẹn"));
        accessible(&c, "audit verified").await;
        app
    })
    .await;
}
