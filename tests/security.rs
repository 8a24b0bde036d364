//! Keys and roles: missing, malformed and revoked keys are refused; a portal sees only its
//! own payments (another portal's is a 404); roles limit what a key may do.

mod common;
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn requests_without_a_valid_key_are_refused_with_stable_codes() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/payments", app.url);
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(error_code(r).await, (401, "missing_api_key".into(), None));
    let r = app.client.get(&url).header("Authorization", "Basic abc").send().await.unwrap();
    assert_eq!(error_code(r).await.1, "invalid_api_key");
    let r = app.client.get(&url).bearer_auth("fgk_nope_nope").send().await.unwrap();
    assert_eq!(error_code(r).await.1, "invalid_api_key");
    // A real key id with a wrong secret.
    // (The last character is replaced by another one: a key that ends in 'x' gets a 'y'.)
    let (head, last) = app.portal_key.split_at(app.portal_key.len() - 1);
    let forged = format!("{head}{}", if last == "x" { "y" } else { "x" });
    let r = app.client.get(&url).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(error_code(r).await.1, "invalid_api_key");
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let created: Value = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"role": "portal", "portal_id": "demo-portal", "name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap();
    assert_eq!(app.get("/v1/payments", key).send().await.unwrap().status(), 200);
    let r = app
        .client
        .delete(format!("{}/v1/keys/{}", app.url, created["id"].as_str().unwrap()))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(error_code(app.get("/v1/payments", key).send().await.unwrap()).await.1, "revoked_api_key");
    let r = app
        .client
        .delete(format!("{}/v1/keys/{}", app.url, created["id"].as_str().unwrap()))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_portal_sees_only_its_own_payments() {
    let app = TestApp::spawn().await;
    let portal: Value = app
        .post("/v1/portals", &app.admin_key)
        .json(&json!({"id": "district-portal", "name": "Cổng huyện"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(portal["webhook_secret"].as_str().unwrap().starts_with("whsec_"), "the secret is shown once, at creation");
    let listed: Value = app.get("/v1/portals", &app.admin_key).send().await.unwrap().json().await.unwrap();
    assert!(listed.as_array().unwrap().iter().all(|p| p.get("webhook_secret").is_none()));
    let other: Value = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"role": "portal", "portal_id": "district-portal"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_key = other["key"].as_str().unwrap();
    let mine = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    for path in [format!("/v1/payments/{mine}"), format!("/v1/payments/{mine}/events")] {
        let r = app.get(&path, other_key).send().await.unwrap();
        assert_eq!(error_code(r).await, (404, "not_found".into(), None), "{path}");
    }
    let r = app.post(&format!("/v1/payments/{mine}/cancel"), other_key).send().await.unwrap();
    assert_eq!(error_code(r).await.0, 404);
    let r = app
        .post(&format!("/v1/payments/{mine}/attempts"), other_key)
        .json(&json!({"connector": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.0, 404);
    let list: Value = app.get("/v1/payments", other_key).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    // Finance reads everything.
    assert_eq!(app.get(&format!("/v1/payments/{mine}"), &app.finance_key).send().await.unwrap().status(), 200);
    assert_eq!(app.payment(&mine).await["status"], "created");
    app.stop().await;
}

#[tokio::test]
async fn roles_limit_what_a_key_may_do() {
    let app = TestApp::spawn().await;
    let (status, code, _) =
        error_code(app.post("/v1/keys", &app.finance_key).json(&json!({"role": "admin"})).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let r = app.post("/v1/keys", &app.portal_key).json(&json!({"role": "admin"})).send().await.unwrap();
    assert_eq!(error_code(r).await.0, 403);
    let r = app.post("/v1/agencies", &app.finance_key).json(&json!({"code": "X1", "name": "X"})).send().await.unwrap();
    assert_eq!(error_code(r).await.0, 403);
    let r = app.post("/v1/payments", &app.finance_key).json(&payment_body()).send().await.unwrap();
    assert_eq!(error_code(r).await.0, 403, "only portals create payments");
    let r = app.post("/v1/keys", &app.admin_key).json(&json!({"role": "portal"})).send().await.unwrap();
    assert_eq!(error_code(r).await, (422, "missing_field".into(), Some("portal_id".into())));
    let r = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"role": "portal", "portal_id": "ghost"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "unknown_portal");
    let r = app.post("/v1/keys", &app.admin_key).json(&json!({"role": "root"})).send().await.unwrap();
    assert_eq!(error_code(r).await.1, "invalid_role");
    let r = app.post("/v1/keys", &app.admin_key).json(&json!({"role": 5})).send().await.unwrap();
    assert_eq!(error_code(r).await, (422, "invalid_type".into(), Some("role".into())));
    app.stop().await;
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let hashes: Vec<(String,)> = sqlx::query_as("SELECT hash FROM api_keys").fetch_all(&app.db).await.unwrap();
    for (h,) in &hashes {
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&app.portal_key) && !app.portal_key.contains(h.as_str()));
    }
    let secret = app.portal_key.rsplit('_').next().unwrap();
    let dump: Vec<(String, String)> = sqlx::query_as("SELECT id, name FROM api_keys").fetch_all(&app.db).await.unwrap();
    assert!(dump.iter().all(|(id, n)| !id.contains(secret) && !n.contains(secret)));
    app.stop().await;
}

#[tokio::test]
async fn a_portal_cannot_refund_another_portals_payment() {
    let dir =
        std::env::temp_dir().join(format!("feegate-security-{}-{}", std::process::id(), feegate::store::now_ms()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("portal-refunds.toml");
    std::fs::write(&config, "allow_portal_refunds = true\n").unwrap();
    let app = TestApp::spawn_with(&[("FEEGATE_CONFIG", config.to_str().unwrap())]).await;
    let r = app
        .post("/v1/portals", &app.admin_key)
        .json(&json!({"id": "district-portal", "name": "Cổng huyện"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let other: Value = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"role": "portal", "portal_id": "district-portal"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_key = other["key"].as_str().unwrap();
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let refund = |key: &str| {
        app.post(&format!("/v1/payments/{id}/refunds"), key).json(&json!({"amount": "1000", "reason": "x"})).send()
    };
    assert_eq!(error_code(refund(other_key).await.unwrap()).await, (404, "not_found".into(), None));
    let r = app.get(&format!("/v1/payments/{id}/refunds"), other_key).send().await.unwrap();
    assert_eq!(error_code(r).await.0, 404);
    assert_eq!(app.count("refunds").await, 0);
    let p = app.payment(&id).await;
    assert_eq!((p["status"].as_str(), p["refunded_amount"].as_str()), (Some("succeeded"), Some("0")));
    // The owning portal may refund here, so the 404 above is isolation, not the role.
    assert_eq!(refund(&app.portal_key).await.unwrap().status(), 202);
    app.stop().await;
}

#[tokio::test]
async fn a_finance_key_cannot_manage_keys() {
    let app = TestApp::spawn().await;
    let r = app.post("/v1/keys", &app.finance_key).json(&json!({"role": "finance"})).send().await.unwrap();
    assert_eq!(error_code(r).await, (403, "forbidden".into(), None));
    let created: Value = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"role": "portal", "portal_id": "demo-portal"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, key) = (created["id"].as_str().unwrap(), created["key"].as_str().unwrap());
    for who in [&app.finance_key, &app.portal_key] {
        let r = app.client.delete(format!("{}/v1/keys/{id}", app.url)).bearer_auth(who).send().await.unwrap();
        assert_eq!(error_code(r).await, (403, "forbidden".into(), None));
    }
    assert_eq!(app.get("/v1/payments", key).send().await.unwrap().status(), 200, "the key still works");
    let (revoked,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL").fetch_one(&app.db).await.unwrap();
    assert_eq!(revoked, 0);
    app.stop().await;
}
