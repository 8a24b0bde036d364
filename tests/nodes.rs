//! Several nodes: on PostgreSQL two feegate processes share one database, a callback
//! sent to both at once is applied once, and the events of a node killed mid-delivery are
//! delivered by the other once its lease runs out; SQLite is single-node and refuses a
//! second server.

mod common;
use common::*;
use feegate::app::AppState;
use feegate::config::Config;
use feegate_connector::crypto::hmac_sha256_hex;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_is_refused_with_a_reason() {
    if on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let env = vec![("FEEGATE_DATABASE_URL".to_string(), app.db_url.clone())];
    let err =
        AppState::build(Config::load_with(None, &env).unwrap()).await.err().expect("a second server must be refused");
    let text = format!("{err:#}");
    assert!(text.contains("SQLite is single-node") && text.contains("PostgreSQL"), "{text}");
    let db = app.db_url.clone();
    app.stop().await;
    // Once the first one stopped, the file can be served again.
    let again = TestApp::spawn_on(&db, &[]).await;
    again.stop().await;
}

#[tokio::test]
async fn the_same_callback_sent_to_two_nodes_at_once_applies_once() {
    if !on_postgres() {
        return;
    }
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(&a.db_url, &[]).await;
    // Five payments, each confirmed by 100 copies of its callback split over the two nodes.
    for round in 0..5 {
        let id = a.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
        let r = a
            .post(&format!("/v1/payments/{id}/attempts"), &a.portal_key)
            .json(&json!({"connector": "sandbox"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let reference = a.payment(&id).await["attempts"][0]["reference"].as_str().unwrap().to_owned();
        let body = serde_json::to_vec(
            &json!({"reference": reference, "transaction_id": format!("T{round}"), "amount": 135000,
            "currency": "VND", "status": "succeeded", "paid_at": "2026-11-27T10:00:00Z"}),
        )
        .unwrap();
        let sig = hmac_sha256_hex(b"sandbox-demo-secret", &body);
        let mut tasks = Vec::new();
        for i in 0..100 {
            let node = if i % 2 == 0 { &a } else { &b };
            let req = node
                .client
                .post(format!("{}/callbacks/sandbox", node.url))
                .header("X-Sandbox-Signature", &sig)
                .body(body.clone());
            tasks.push(tokio::spawn(async move { req.send().await.unwrap().text().await.unwrap() }));
        }
        let mut replies = Vec::new();
        for t in tasks {
            replies.push(t.await.unwrap());
        }
        assert_eq!(replies.iter().filter(|r| r.contains("received")).count(), 1, "round {round}: {replies:?}");
        assert_eq!(replies.iter().filter(|r| r.contains("duplicate")).count(), 99, "round {round}: {replies:?}");
        let events: Value =
            b.get(&format!("/v1/payments/{id}/events"), &b.finance_key).send().await.unwrap().json().await.unwrap();
        let succeeded = events.as_array().unwrap().iter().filter(|e| e["type"] == "payment.succeeded").count();
        assert_eq!(succeeded, 1, "round {round}");
    }
    assert_eq!(a.state.store.verify_audit().await.unwrap().map(|_| ()), Ok(()));
    b.stop().await;
    a.stop().await;
}

/// Creates a payment on `node`, starts a sandbox attempt and sends its signed success
/// callback there; gives the payment id.
async fn pay_on(client: &reqwest::Client, node: &str, key: &str, n: usize) -> String {
    let dossier = format!("H12.20-NODES-{n:04}");
    let r = client.post(format!("{node}/v1/payments")).bearer_auth(key).json(&proc::create_body(&dossier, 135000));
    let created: Value = r.send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_str().unwrap_or_else(|| panic!("create: {created}")).to_owned();
    let r = client
        .post(format!("{node}/v1/payments/{id}/attempts"))
        .bearer_auth(key)
        .json(&json!({"connector": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let p: Value =
        client.get(format!("{node}/v1/payments/{id}")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    let reference = p["attempts"][0]["reference"].as_str().unwrap();
    let (body, sig) = proc::sandbox_success(reference, &format!("N{n}"), 135000);
    let r = client.post(format!("{node}/callbacks/sandbox")).header("X-Sandbox-Signature", sig).body(body);
    let reply: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["status"], "received", "{id}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_delivery_has_its_events_delivered_by_the_other_after_the_lease() {
    if !on_postgres() {
        eprintln!("skipped: several nodes need PostgreSQL (set FEEGATE_TEST_DATABASE_URL)");
        return;
    }
    const LEASE_MS: u64 = 3000;
    const HELD: usize = 3;
    let work = proc::Workdir::new("nodes-kill");
    let db_url = fresh_database().await;
    // The portal holds the first delivery of the first events open for longer than the test.
    let portal = proc::Portal::start(Duration::from_secs(60)).await;
    portal.hold_first(HELD);
    let config = work.portal_config(&portal.url);
    let env: Vec<(String, String)> = [
        ("FEEGATE_DATABASE_URL", db_url.as_str()),
        ("FEEGATE_CONFIG", config.to_str().unwrap()),
        ("FEEGATE_OUTBOX_INTERVAL_MS", "50"),
        ("FEEGATE_OUTBOX_LEASE_MS", &LEASE_MS.to_string()),
        ("FEEGATE_RESOLVER_DELAY_MS", "3600000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let key = proc::create_key(&env, "portal", Some("demo-portal")).await;
    let client = proc::client();

    // Node A alone: it claims the first events and is left waiting on the portal.
    let mut a = proc::Server::start(proc::free_port(), &env, &work.path("a.log")).await;
    let mut paid = Vec::new();
    for n in 0..HELD {
        paid.push(pay_on(&client, &a.url, &key, n).await);
    }
    let until = Instant::now() + Duration::from_secs(20);
    while portal.held().len() < HELD {
        assert!(Instant::now() < until, "node A never started delivering; see {}", a.log.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held_at = Instant::now();
    // Node B joins; more payments are paid on both, then A is killed mid-delivery.
    let b = proc::Server::start(proc::free_port(), &env, &work.path("b.log")).await;
    for n in HELD..HELD + 6 {
        let node = if n % 2 == 0 { &a.url } else { &b.url };
        paid.push(pay_on(&client, node, &key, n).await);
    }
    a.kill().await;
    let killed_at = Instant::now();
    // A's HTTP timeout (10 s) must not have fired: A died holding its claims.
    assert!(held_at.elapsed() < Duration::from_secs(9), "too slow to kill A mid-delivery: {:?}", held_at.elapsed());

    let store = feegate::store::Store::connect(&db_url, 2).await.unwrap();
    let pool = &common::any_pool(&db_url).await;
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM events WHERE webhook = TRUE AND delivery_status = 'pending'")
                .fetch_one(pool)
                .await
                .unwrap();
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < until, "{pending} events undelivered 30 s after node A died; see {}", b.log.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let events: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, payment_id, delivery_status FROM events WHERE webhook = TRUE")
            .fetch_all(pool)
            .await
            .unwrap();
    // payment.succeeded and the receipt.issued that follows it.
    assert_eq!(events.len(), 2 * paid.len(), "two webhook events per paid payment");
    let acknowledged = portal.acknowledged();
    for (id, payment_id, status) in &events {
        assert!(paid.contains(payment_id));
        assert_eq!(status, "delivered", "{id}");
        assert!(acknowledged.contains(id), "the portal never acknowledged {id}");
    }
    let deliveries = portal.deliveries();
    for id in portal.held() {
        let copies: Vec<_> = deliveries.iter().filter(|d| d.event_id == id).collect();
        assert!(copies.len() >= 2, "{id} was held by A and never sent again: {copies:?}");
        let (first, retry) = (copies[0], copies[1]);
        assert_eq!((first.answered, retry.answered), (0, 200), "{id}");
        // B waited for A's lease to run out, and took over soon after.
        let gap = retry.at.duration_since(first.at);
        assert!(gap >= Duration::from_millis(LEASE_MS - 300), "{id} was taken over after {gap:?}, inside A's lease");
        assert!(retry.at > killed_at, "{id} was sent again before A died");
        assert!(retry.at.duration_since(killed_at) < Duration::from_millis(LEASE_MS + 5000), "{id}: {gap:?}");
        println!("{id}: node B sent it {gap:?} after A did, {:?} after A died", retry.at.duration_since(killed_at));
        // A died before it could log its attempt: the log holds B's one delivery.
        let logged: Vec<(i64, Option<i64>)> =
            sqlx::query_as("SELECT attempt_no, http_status FROM deliveries WHERE event_id = $1")
                .bind(&id)
                .fetch_all(pool)
                .await
                .unwrap();
        assert_eq!(logged, vec![(1, Some(200))], "{id}");
    }
    assert_eq!(portal.bad_signatures(), 0);
    assert_eq!(store.verify_audit().await.unwrap().map(|_| ()), Ok(()));
    store.close().await;
    drop(b);
    work.remove();
}
