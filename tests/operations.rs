//! Operations and administration: health, readiness, metrics, the OpenAPI document,
//! the audit journal, the CLI (keys, agencies import, audit verify), agencies API.

mod common;
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.client.get(format!("{}/healthz", app.url)).send().await.unwrap().status(), 200);
    assert_eq!(app.client.get(format!("{}/readyz", app.url)).send().await.unwrap().status(), 200);
    app.create_payment(&payment_body()).await;
    let m = app.metrics().await;
    assert!(m.contains("feegate_http_requests_total{method=\"POST\",route=\"/v1/payments\",status=\"201\"}"), "{m}");
    assert!(m.contains("feegate_payment_transitions_total{to=\"created\"}"));
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_api_route() {
    let app = TestApp::spawn().await;
    let doc: Value = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("/v1/payments", &["get", "post"]),
        ("/v1/payments/{id}", &["get"]),
        ("/v1/payments/{id}/cancel", &["post"]),
        ("/v1/payments/{id}/attempts", &["post"]),
        ("/v1/payments/{id}/events", &["get"]),
        ("/v1/connectors", &["get"]),
        ("/v1/agencies", &["get", "post"]),
        ("/v1/agencies/{code}", &["patch"]),
        ("/v1/agencies/{code}/accounts", &["get", "post"]),
        ("/v1/agencies/{code}/accounts/{id}", &["patch"]),
        ("/v1/portals", &["get", "post"]),
        ("/v1/keys", &["post"]),
        ("/v1/keys/{id}", &["delete"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ];
    for (path, methods) in expected {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} missing from /openapi.json"));
        for m in *methods {
            assert!(item.get(*m).is_some(), "{m} {path} missing from /openapi.json");
        }
    }
    // And every documented /v1 route really answers (not 404/405) on the live router.
    for (path, methods) in expected {
        let concrete = path.replace("{id}", "x").replace("{code}", "H12.20");
        for m in *methods {
            let req = app
                .client
                .request(m.to_uppercase().parse().unwrap(), format!("{}{concrete}", app.url))
                .bearer_auth(&app.admin_key);
            let s = req.send().await.unwrap().status().as_u16();
            assert!(s != 405 && (s != 404 || concrete.contains("/x")), "{m} {concrete} -> {s}");
        }
    }
    app.stop().await;
}

async fn cli(db_url: &str, args: &[&str]) -> std::process::Output {
    // Awaited, never blocking: the test's own server runs on this thread, and a child waiting
    // for SQLite's write lock (a one-shot command seeds the demo data) needs it to commit.
    tokio::process::Command::new(env!("CARGO_BIN_EXE_feegate"))
        .args(args)
        .env("FEEGATE_DATABASE_URL", db_url)
        .env("FEEGATE_DEMO", "true")
        .env("RUST_LOG", "error")
        .output()
        .await
        .expect("run feegate")
}

#[tokio::test]
async fn audit_verify_passes_then_names_the_altered_entry() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    app.pay_sandbox(&id, "success").await;
    let out = cli(&app.db_url, &["audit", "verify"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));
    // Someone edits history: the amount of the creation entry.
    let (entry,): (String,) = sqlx::query_as("SELECT id FROM audit_log WHERE scope = $1 AND seq = 1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET payload = $1 WHERE id = $2")
        .bind("{\"amount\":1,\"lines\":1}")
        .bind(&entry)
        .execute(&app.db)
        .await
        .unwrap();
    let out = cli(&app.db_url, &["audit", "verify"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&entry) && text.contains("altered"), "{text}");
    // Deleting an entry breaks the chain too.
    sqlx::query("DELETE FROM audit_log WHERE id = $1").bind(&entry).execute(&app.db).await.unwrap();
    let out = cli(&app.db_url, &["audit", "verify"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("missing"));
    app.stop().await;
}

#[tokio::test]
async fn the_keys_cli_prints_the_key_alone_on_its_last_line() {
    let db = fresh_database().await;
    let out =
        cli(&db, &["keys", "create", "--role", "portal", "--portal", "demo-portal", "--name", "portal-dev"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout.lines().last().unwrap();
    assert!(key.starts_with("fgk_") && !key.contains(' '));
    let app = TestApp::spawn_on(&db, &[]).await;
    assert_eq!(app.get("/v1/payments", key).send().await.unwrap().status(), 200);
    let out = cli(&db, &["keys", "create", "--role", "portal"]).await;
    assert!(!out.status.success(), "a portal key needs --portal");
    app.stop().await;
}

#[tokio::test]
async fn agencies_import_from_toml_and_csv_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let dir = std::env::temp_dir().join(format!("feegate-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("a.toml");
    std::fs::write(&toml, "[[agencies]]\ncode = \"H12.30\"\nname = \"Sở Tư pháp\"\nparent_code = \"H12\"\n[[agencies.accounts]]\nbank_bin = \"970436\"\nbank_name = \"Vietcombank\"\naccount_number = \"0351000111222\"\naccount_name = \"SO TU PHAP\"\nkind = \"bank\"\nreceives = [\"fee\", \"charge\"]\n").unwrap();
    let out = cli(&app.db_url, &["agencies", "import", toml.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = dir.join("b.csv");
    std::fs::write(&csv, "\u{feff}agency_code,agency_name,parent_code,bank_bin,bank_name,account_number,account_name,kind,receives\nH12.40,Sở Y tế,H12,970418,BIDV,123456789,SO Y TE,bank,fee;charge\nH12.41,Bệnh viện,H12,97041,BIDV,123,X,bank,fee\n").unwrap();
    let out = cli(&app.db_url, &["agencies", "import", csv.to_str().unwrap()]).await;
    assert!(!out.status.success(), "a bad BIN on line 3 fails the whole file");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bank_bin"));
    let agencies: Value = app.get("/v1/agencies", &app.admin_key).send().await.unwrap().json().await.unwrap();
    let codes: Vec<&str> = agencies.as_array().unwrap().iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"H12.30") && !codes.contains(&"H12.40"), "{codes:?}");
    let mut body = payment_body();
    body["agency_code"] = json!("H12.30");
    app.create_payment(&body).await;
    app.stop().await;
}

#[tokio::test]
async fn agencies_and_accounts_are_managed_through_the_api() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/v1/agencies", &app.admin_key)
        .json(&json!({"code": "H12.50", "name": "Sở Xây dựng", "parent_code": "H12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .post("/v1/agencies", &app.admin_key)
        .json(&json!({"code": "H12.50", "name": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "agency_exists");
    let r = app.post("/v1/agencies/H12.50/accounts", &app.admin_key)
        .json(&json!({"bank_bin": "97041", "bank_name": "X", "account_number": "1", "account_name": "X", "kind": "bank", "receives": ["fee"]}))
        .send().await.unwrap();
    assert_eq!(error_code(r).await, (422, "invalid_bank_bin".into(), Some("bank_bin".into())));
    let r = app.post("/v1/agencies/H12.50/accounts", &app.admin_key)
        .json(&json!({"bank_bin": "970415", "bank_name": "VietinBank", "account_number": "100000000001", "account_name": "SO XAY DUNG", "kind": "treasury", "receives": ["charge"]}))
        .send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .client
        .patch(format!("{}/v1/agencies/H12.50", app.url))
        .bearer_auth(&app.admin_key)
        .json(&json!({"name": "Sở Xây dựng tỉnh Hà Nam"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Sở Xây dựng tỉnh Hà Nam");
    let r = app.get("/v1/agencies/NOPE/accounts", &app.admin_key).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let admin_entries: Vec<(String,)> = sqlx::query_as("SELECT kind FROM audit_log WHERE scope = 'admin' ORDER BY seq")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        admin_entries.iter().any(|(k,)| k == "agency.created")
            && admin_entries.iter().any(|(k,)| k == "account.upserted")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_restarted_server_keeps_its_payments() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    let db = app.db_url.clone();
    app.stop().await;
    let again = TestApp::spawn_on(&db, &[]).await;
    assert_eq!(again.get(&format!("/v1/payments/{id}"), &again.finance_key).send().await.unwrap().status(), 200);
    again.stop().await;
}

#[tokio::test]
async fn an_unreachable_database_gives_a_clear_503_and_readyz_says_so() {
    let app = TestApp::spawn().await;
    app.state.store.close().await;
    let r = app.get("/v1/payments", &app.portal_key).send().await.unwrap();
    assert_eq!(error_code(r).await, (503, "database_unavailable".into(), None));
    assert_eq!(app.client.get(format!("{}/readyz", app.url)).send().await.unwrap().status(), 503);
    app.stop().await;
}
