//! The logs of a whole flow (create, pay, refund) at debug level contain no secret, no
//! API key and no full account number.

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

fn cli(db: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_feegate"))
        .args(args)
        .env("FEEGATE_DATABASE_URL", db)
        .env("FEEGATE_DEMO", "true")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_owned()
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_full_flow_logs_no_secret_key_or_account_number() {
    if on_postgres() {
        return; // the flow and its logs do not depend on the database
    }
    let db = fresh_database().await;
    let portal_key = cli(&db, &["keys", "create", "--role", "portal", "--portal", "demo-portal"]);
    let finance_key = cli(&db, &["keys", "create", "--role", "finance"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let log_path = std::env::temp_dir().join(format!("feegate-logs-{}-{port}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).unwrap();
    let _server = Kill(
        Command::new(env!("CARGO_BIN_EXE_feegate"))
            .args(["serve", "--log-format", "json"])
            .env("FEEGATE_DATABASE_URL", &db)
            .env("FEEGATE_DEMO", "true")
            .env("FEEGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..100 {
        if client.get(format!("{url}/readyz")).send().await.map(|r| r.status() == 200).unwrap_or(false) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let p: Value = client
        .post(format!("{url}/v1/payments"))
        .bearer_auth(&portal_key)
        .json(&payment_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = p["id"].as_str().unwrap();
    for connector in ["vnpay", "sandbox"] {
        let page = client.get(format!("{url}/checkout/{id}")).send().await.unwrap().text().await.unwrap();
        let token = form_token(&page);
        let r = client
            .post(format!("{url}/checkout/{id}"))
            .form(&[("connector", connector), ("form_token", token.as_str())])
            .send()
            .await
            .unwrap();
        let gateway = location(&r);
        client.get(&gateway).send().await.unwrap();
        let outcome = if connector == "sandbox" { "success" } else { "failure" };
        let r = client.post(&gateway).form(&[("outcome", outcome)]).send().await.unwrap();
        client.get(location(&r)).send().await.unwrap();
    }
    let r = client
        .post(format!("{url}/v1/payments/{id}/refunds"))
        .bearer_auth(&finance_key)
        .json(&json!({"amount": "1000", "reason": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = client.get(format!("{url}/v1/payments/{id}")).bearer_auth("fgk_wrong_key").send().await.unwrap();
    assert_eq!(r.status(), 401);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("feegate listening") && logs.lines().count() > 20, "the logs were captured");
    let secret_of = |key: &str| key.rsplit('_').next().unwrap().to_owned();
    for needle in [
        "sandbox-demo-secret".to_owned(),
        "whsec_demo_portal_secret".to_owned(),
        "VNPAYTESTSECRET0123456789ABCDEFG".to_owned(),
        "K951B6PE1waDMi640xX08PD3vg6EkVlz".to_owned(),
        "PcY4iZIKFCIdgZvA6ueMcMHHUbRLYjPL".to_owned(),
        secret_of(&portal_key),
        secret_of(&finance_key),
        "113000012345".to_owned(),
        "0351000765432".to_owned(),
    ] {
        assert!(!logs.contains(&needle), "{needle} appears in the logs");
    }
}

#[tokio::test]
async fn the_database_password_never_appears_in_the_logs() {
    if !on_postgres() {
        return; // a SQLite URL has no password
    }
    let mut db = url::Url::parse(&fresh_database().await).unwrap();
    let password = match db.password() {
        Some(p) => p.to_owned(),
        None => {
            // The test server trusts local connections, so any password connects.
            db.set_password(Some("pw-never-logged-5f3a")).unwrap();
            "pw-never-logged-5f3a".to_owned()
        }
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let log_path = std::env::temp_dir().join(format!("feegate-dblogs-{}-{port}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).unwrap();
    let server = Kill(
        Command::new(env!("CARGO_BIN_EXE_feegate"))
            .args(["serve", "--log-format", "json"])
            .env("FEEGATE_DATABASE_URL", db.as_str())
            .env("FEEGATE_DEMO", "true")
            .env("FEEGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{url}/readyz")).send().await.map(|r| r.status() == 200).unwrap_or(false) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "feegate did not start: {}", std::fs::read_to_string(&log_path).unwrap_or_default());
    drop(server);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("feegate listening") && logs.contains(":***@"), "the start line names the database: {logs}");
    assert!(!logs.contains(&password), "the database password appears in the logs");
}
