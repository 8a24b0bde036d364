//! How many SQL statements a request path sends (docs/performance.md): the count is held
//! here so it cannot grow back silently. Counted with `store::count_statements` around the
//! service call (the API key lookup of the HTTP layer comes on top: one read).
//! Runs on SQLite, and on PostgreSQL with FEEGATE_TEST_DATABASE_URL.

mod common;
use common::*;
use feegate::service::caller::{Principal, Role};
use feegate::store::count_statements;
use serde_json::json;

fn portal() -> Principal {
    Principal {
        key_id: "speed".into(),
        role: Role::Portal,
        portal_id: Some("demo-portal".into()),
        name: "speed".into(),
        agencies: None,
        staff: false,
    }
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

/// The most statements a create may send (warm: after the first request): on PostgreSQL
/// one data-modifying statement; on SQLite a transaction of seven on the writer.
fn create_max() -> u32 {
    if on_postgres() {
        1
    } else {
        7
    }
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

/// The first audit entry of a new payment is written without reading the chain head, and
/// the chain goes on from it: later entries follow it and the whole journal verifies.
#[tokio::test]
async fn a_new_payments_chain_starts_without_a_read_and_verifies() {
    let app = TestApp::spawn().await;
    let (id, _) = counted_create(&app, "speed-chain").await;
    let r = app.post(&format!("/v1/payments/{id}/cancel"), &app.portal_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let store = &app.state.store;
    let chain = store.audit_entries(&id).await.unwrap();
    let kinds: Vec<_> = chain.iter().map(|e| (e.seq, e.kind.as_str())).collect();
    assert_eq!(kinds, [(1, "payment.created"), (2, "payment.cancelled")]);
    assert_eq!(chain[0].prev_hash, feegate::store::audit::GENESIS);
    assert_eq!(chain[1].prev_hash, chain[0].hash);
    assert!(matches!(store.verify_audit().await.unwrap(), Ok(n) if n >= 2));

    // A scope that has entries refuses a second "first" entry (the unique (scope, seq)).
    let mut tx = store.begin().await.unwrap();
    let again = store.audit_new_scope(&mut tx, &id, "payment.created", "test", &serde_json::json!({})).await;
    assert!(matches!(again, Err(feegate::store::StoreError::Conflict)), "{again:?}");
}

/// Portal, agency and accounts are cached, but an API key never: a key revoked after it
/// made a create is refused on its very next create.
#[tokio::test]
async fn a_revoked_key_is_refused_at_once_though_its_portal_is_cached() {
    let app = TestApp::spawn().await;
    let created: serde_json::Value = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"role": "portal", "portal_id": "demo-portal", "name": "speed"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap();
    let r = app.post("/v1/payments", key).json(&payment_body()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .client
        .delete(format!("{}/v1/keys/{}", app.url, created["id"].as_str().unwrap()))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app.post("/v1/payments", key).json(&payment_body()).send().await.unwrap();
    assert_eq!(error_code(r).await.1, "revoked_api_key");
}

/// An admin change through the API empties the cache: the next create routes with the
/// accounts as they are now, not as they were cached a moment ago.
#[tokio::test]
async fn an_admin_change_to_accounts_is_seen_by_the_next_create() {
    let app = TestApp::spawn_with(&[("FEEGATE_CACHE_TTL_MS", "600000")]).await;
    let mut body = payment_body();
    body["lines"] = json!([
        {"kind": "charge", "code": "LP", "description": "Lệ phí", "amount": "135000"},
        {"kind": "fee", "code": "P", "description": "Phí", "amount": "50000"}
    ]);
    app.create_payment(&body).await;
    let accounts: serde_json::Value =
        app.get("/v1/agencies/H12.20/accounts", &app.admin_key).send().await.unwrap().json().await.unwrap();
    let fee = accounts.as_array().unwrap().iter().find(|a| a["receives"] == json!(["fee"])).unwrap();
    let r = app
        .client
        .patch(format!("{}/v1/agencies/H12.20/accounts/{}", app.url, fee["id"].as_str().unwrap()))
        .bearer_auth(&app.admin_key)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    body["dossier_code"] = payment_body()["dossier_code"].clone();
    let (status, code, _) =
        error_code(app.post("/v1/payments", &app.portal_key).json(&body).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (422, "no_account_for_line"));
}

/// A change made around the service (another node, SQL by hand) is seen once the TTL has
/// passed.
#[tokio::test]
async fn a_change_made_elsewhere_is_seen_within_the_ttl() {
    let app = TestApp::spawn_with(&[("FEEGATE_CACHE_TTL_MS", "300")]).await;
    app.create_payment(&payment_body()).await;
    sqlx::query("UPDATE portals SET agencies = '[\"X.00\"]' WHERE id = 'demo-portal'").execute(&app.db).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let r = app.post("/v1/payments", &app.portal_key).json(&payment_body()).send().await.unwrap();
    assert_eq!(error_code(r).await.1, "agency_not_allowed");
}

/// The most statements a successful callback may send (its attempt lookup included);
/// PostgreSQL adds the advisory lock of the payment's audit chain. Issue 11 added four for
/// the receipt issued in the same transaction: the agency's name, the series' next
/// number, the receipt, and its `receipt.issued` history event.
fn callback_max() -> u32 {
    16 + u32::from(on_postgres())
}

/// A callback that pays a payment: one journal entry for the one fact (the payment's
/// success carries the callback), a held number of statements, and the chain verifies.
#[tokio::test]
async fn a_paying_callback_is_one_journal_entry_in_a_held_number_of_statements() {
    use feegate::service::callbacks::{apply, Fact, Raw};
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    app.choose(&id, "sandbox").await;
    let (reference,): (String,) = sqlx::query_as("SELECT reference FROM attempts WHERE payment_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let fact = Fact {
        reference,
        gateway_txn: Some("SBX-1".into()),
        amount: Some(135000),
        currency: Some("VND".into()),
        outcome: feegate_connector::Outcome::Succeeded,
        credited_to: None,
    };
    let raw = Raw { method: "POST".into(), query: String::new(), body: "{}".into() };
    let (d, n) = count_statements(apply(&app.state, "sandbox", fact, Some(raw), "gateway:sandbox")).await;
    eprintln!("statements per paying callback: {n}");
    assert_eq!(d.unwrap(), feegate_connector::Disposition::Applied);
    assert!(n <= callback_max(), "a callback sent {n} statements (at most {})", callback_max());
    assert_eq!(app.payment(&id).await["status"], "succeeded");

    let chain = app.state.store.audit_entries(&id).await.unwrap();
    let kinds: Vec<_> = chain.iter().map(|e| e.kind.as_str()).collect();
    assert!(!kinds.contains(&"callback.received"), "{kinds:?}");
    let paid = chain.iter().find(|e| e.kind == "payment.succeeded").unwrap();
    let payload: serde_json::Value = serde_json::from_str(&paid.payload).unwrap();
    assert!(payload["callback"]["callback_id"].as_str().is_some_and(|c| c.starts_with("cb")), "{payload}");
    assert_eq!(payload["callback"]["gateway_txn"], "SBX-1");
    assert!(app.state.store.verify_audit().await.unwrap().is_ok());
}
