//! How many SQL statements a request path sends (docs/performance.md): the count is held
//! here so it cannot grow back silently. Counted with `store::count_statements` around the
//! service call (the API key lookup of the HTTP layer comes on top: one read).
//! Runs on SQLite, and on PostgreSQL with FEEGATE_TEST_DATABASE_URL.

mod common;
use common::*;
use feegate::service::caller::{Principal, Role};
use feegate::store::count_statements;

fn portal() -> Principal {
    Principal { key_id: "speed".into(), role: Role::Portal, portal_id: Some("demo-portal".into()), name: "speed".into() }
}

/// Creates a payment through the service with an Idempotency-Key, counting statements.
async fn counted_create(app: &TestApp, key: &str) -> (String, u32) {
    let body = payment_body();
    let (r, n) =
        count_statements(feegate::service::payments::create(&app.state, &portal(), &body, Some(key.into()))).await;
    let stored = r.expect("create");
    assert_eq!(stored.status, 201, "{}", stored.body);
    let v: serde_json::Value = serde_json::from_str(&stored.body).unwrap();
    (v["id"].as_str().unwrap().to_owned(), n)
}

/// The most statements a create may send (warm: after the first request); PostgreSQL
/// adds the advisory lock of an audit append where one is taken.
fn create_max() -> u32 {
    12 + u32::from(on_postgres())
}

#[tokio::test]
async fn a_create_sends_at_most_a_handful_of_statements() {
    let app = TestApp::spawn().await;
    let (_, first) = counted_create(&app, "speed-1").await;
    let (id, n) = counted_create(&app, "speed-2").await;
    eprintln!("statements per create: first {first}, then {n}");
    assert!(n <= create_max(), "a create sent {n} statements (at most {})", create_max());
    assert_eq!(app.payment(&id).await["status"], "created");
}
