//! Every configured gateway pays a demo fee end to end through feegate, as a browser
//! would: checkout -> gateway simulator page -> approve -> signed callback -> return.

mod common;
use common::*;
use serde_json::Value;

async fn pay_through(app: &TestApp, connector: &str, outcome: &str) -> (String, Value) {
    let p = app.create_payment(&payment_body()).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let gateway = app.choose(&id, connector).await;
    assert!(gateway.starts_with(&format!("{}/sim/{connector}/", app.url)), "{connector}: {gateway}");
    let page = app.client.get(&gateway).send().await.unwrap();
    assert_eq!(page.status(), 200, "{connector} pay page");
    let r = app.client.post(&gateway).form(&[("outcome", outcome)]).send().await.unwrap();
    assert_eq!(r.status(), 303, "{connector} pay: {}", r.text().await.unwrap_or_default());
    let ret = location(&r);
    assert!(ret.starts_with(&format!("{}/return/{connector}", app.url)), "{connector} returns to feegate: {ret}");
    let r = app.client.get(&ret).send().await.unwrap();
    assert_eq!(r.status(), 303, "{connector} return: {}", r.text().await.unwrap_or_default());
    let portal = location(&r);
    (portal, app.payment(&id).await)
}

#[tokio::test]
async fn every_redirect_gateway_pays_a_demo_fee_end_to_end() {
    let app = TestApp::spawn().await;
    for connector in ["sandbox", "vnpay", "momo", "zalopay"] {
        let (portal, p) = pay_through(&app, connector, "success").await;
        assert!(portal.contains("status=succeeded"), "{connector}: {portal}");
        assert_eq!(p["status"], "succeeded", "{connector}");
        assert_eq!(p["attempts"][0]["connector"], connector);
        assert_eq!(p["attempts"][0]["status"], "succeeded");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_redirect_gateway_declines_without_paying() {
    let app = TestApp::spawn().await;
    for connector in ["sandbox", "vnpay", "momo", "zalopay"] {
        let (portal, p) = pay_through(&app, connector, "failure").await;
        assert!(!portal.contains("status=succeeded"), "{connector}: {portal}");
        assert_ne!(p["status"], "succeeded", "{connector}");
        // ZaloPay sends no callback for a failure; the return's query tells.
        assert_eq!(p["attempts"][0]["status"], "failed", "{connector}");
        assert_eq!(p["status"], "created", "{connector}: the payer may try another gateway");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_vietqr_transfer_pays_a_demo_fee() {
    let app = TestApp::spawn().await;
    let p = app.create_payment(&payment_body()).await;
    let id = p["id"].as_str().unwrap();
    let next = app.choose(id, "vietqr").await;
    assert_eq!(next, format!("/checkout/{id}/transfer?lang=vi"));
    let page = app.client.get(format!("{}{next}", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("data:image/svg+xml;base64,"), "the QR is drawn");
    assert!(page.contains("135.000 ₫") && page.contains("113000012345") && page.contains("VietinBank"));
    let page = page.replace("&#x2f;", "/").replace("&amp;", "&");
    let sim = page.split("href=\"").find(|s| s.starts_with("/sim/vietqr/app?")).unwrap().split('"').next().unwrap();
    let bank_app = format!("{}{sim}", app.url);
    assert_eq!(app.client.get(&bank_app).send().await.unwrap().status(), 200);
    let r = app.client.post(&bank_app).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let p = app.payment(id).await;
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["attempts"][0]["connector"], "vietqr");
    app.stop().await;
}

#[tokio::test]
async fn the_connector_list_names_every_configured_gateway() {
    let app = TestApp::spawn().await;
    let list: Value = app.get("/v1/connectors", &app.portal_key).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["momo", "sandbox", "vietqr", "vnpay", "zalopay"]);
    let vietqr = list.as_array().unwrap().iter().find(|c| c["id"] == "vietqr").unwrap();
    assert_eq!(vietqr["supports_refund"], false);
    app.stop().await;
}

#[tokio::test]
async fn two_accounts_of_one_gateway_serve_their_own_agencies_with_their_own_keys() {
    let dir = std::env::temp_dir().join(format!("feegate-multi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("feegate.toml");
    std::fs::write(
        &file,
        r#"
[[connectors]]
id = "vnpay-main"
kind = "vnpay"
display_name = "VNPAY (tỉnh)"
agencies = ["H12.20"]
simulate = true
settings = { base_url = "{public_url}/sim/vnpay-main", tmn_code = "TINH0001" }
secrets = { hash_secret = { env = "FEEGATE_TEST_VNPAY_MAIN_SECRET" } }

[[connectors]]
id = "vnpay-district"
kind = "vnpay"
display_name = "VNPAY (huyện)"
agencies = ["H12.25"]
simulate = true
settings = { base_url = "{public_url}/sim/vnpay-district", tmn_code = "HUYEN001" }
secrets = { hash_secret = { env = "FEEGATE_TEST_VNPAY_DISTRICT_SECRET" } }
"#,
    )
    .unwrap();
    std::env::set_var("FEEGATE_TEST_VNPAY_MAIN_SECRET", "MAINSECRET0123456789ABCDEFGHIJKL");
    std::env::set_var("FEEGATE_TEST_VNPAY_DISTRICT_SECRET", "DISTRICTSECRET0123456789ABCDEFGH");
    let app = TestApp::spawn_with(&[("FEEGATE_CONFIG", file.to_str().unwrap())]).await;
    let list: Value = app.get("/v1/connectors", &app.portal_key).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["vnpay-district", "vnpay-main"]);
    // A provincial department's fee cannot go through the district's merchant account.
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let token = app.form_token(&id).await;
    let r = app
        .client
        .post(format!("{}/checkout/{id}", app.url))
        .form(&[("connector", "vnpay-district"), ("form_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let gateway = app.choose(&id, "vnpay-main").await;
    assert!(gateway.contains("vnp_TmnCode=TINH0001"), "{gateway}");
    app.client.get(&gateway).send().await.unwrap();
    let r = app.client.post(&gateway).form(&[("outcome", "success")]).send().await.unwrap();
    let signed_return = location(&r);
    let back = location(&app.client.get(&signed_return).send().await.unwrap());
    assert!(back.contains("status=succeeded"), "{back}");
    let p = app.payment(&id).await;
    assert_eq!(p["attempts"][0]["connector"], "vnpay-main");
    // The district's IPN URL refuses vnp_ fields signed with the province's secret.
    let query = signed_return.split_once('?').unwrap().1;
    let r = app.client.get(format!("{}/callbacks/vnpay-district?{query}", app.url)).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), r#"{"RspCode":"97","Message":"Invalid signature"}"#);
    app.stop().await;
}
