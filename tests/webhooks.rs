//! Signed webhook delivery to portals: a receiver on loopback plays the portal, verifies
//! signatures the way the README tells portals to, and can be told to answer 500.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{payment_body, ts, TestApp};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;

const SECRET: &str = "whsec_demo_portal_secret";

/// One request as the portal received it.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    kind: String,
    payment_id: String,
    signature: String,
    content_type: String,
    body: String,
    answered: u16,
}

#[derive(Default)]
struct Portal {
    received: Vec<Received>,
    /// Payment id -> how many more requests about it to answer with 500.
    fail: HashMap<String, usize>,
    /// Event ids already processed (the portal's dedupe table).
    processed: HashSet<String>,
    /// How many payment and refund events the portal acted on (once each).
    acted: usize,
}

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Portal>>);

impl Receiver {
    fn fail(&self, payment_id: &str, times: usize) {
        self.0.lock().unwrap().fail.insert(payment_id.to_owned(), times);
    }
    fn received(&self) -> Vec<Received> {
        self.0.lock().unwrap().received.clone()
    }
    /// The payment and refund events received about a payment (the `receipt.*` events
    /// that follow a success have their own test).
    fn about(&self, payment_id: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.payment_id == payment_id && !r.kind.starts_with("receipt.")).collect()
    }
    /// Every event received about a payment, receipts' included.
    fn all_about(&self, payment_id: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.payment_id == payment_id).collect()
    }
    fn acted(&self) -> usize {
        self.0.lock().unwrap().acted
    }
}

/// Verifies a `Feegate-Signature` header exactly as the README's snippet does.
fn verify(header: &str, body: &str, secret: &str, now: i64) -> Result<(), &'static str> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (t, v1) = (t.ok_or("no t")?, v1.ok_or("no v1")?);
    if (now - t).abs() > 300 {
        return Err("too old");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if expected.as_bytes().ct_eq(v1.as_bytes()).into() {
        Ok(())
    } else {
        Err("bad signature")
    }
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let header = |name: &str| headers.get(name).and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    let mut portal = r.0.lock().unwrap();
    // A payment's event carries the payment; a receipt's names its payment.
    let kind = v["type"].as_str().unwrap_or("");
    let about = if kind.starts_with("receipt.") { &v["data"]["payment_id"] } else { &v["data"]["id"] };
    let payment_id = about.as_str().unwrap_or("").to_owned();
    let status = match portal.fail.get_mut(&payment_id) {
        Some(n) if *n > 0 => {
            *n -= 1;
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::OK,
    };
    let event_id = v["id"].as_str().unwrap_or("").to_owned();
    // The portal's side of at-least-once: act on an event id once, acknowledge every copy.
    if status == StatusCode::OK && portal.processed.insert(event_id.clone()) && !kind.starts_with("receipt.") {
        portal.acted += 1;
    }
    portal.received.push(Received {
        event_id,
        kind: v["type"].as_str().unwrap_or("").to_owned(),
        payment_id,
        signature: header("feegate-signature"),
        content_type: header("content-type"),
        body,
        answered: status.as_u16(),
    });
    status
}

/// Starts a receiver and a feegate whose demo portal posts to it, with a short schedule.
async fn setup() -> (TestApp, Receiver) {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/hooks", axum::routing::post(hook)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = std::env::temp_dir().join(format!("feegate-webhooks-{}-{}", std::process::id(), rand_tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("outbox.toml");
    std::fs::write(&config, "webhook_retry_schedule_secs = [1, 1]\n").unwrap();
    let app =
        TestApp::spawn_with(&[("FEEGATE_OUTBOX_INTERVAL_MS", "50"), ("FEEGATE_CONFIG", config.to_str().unwrap())])
            .await;
    sqlx::query("UPDATE portals SET webhook_url = $1 WHERE id = 'demo-portal'")
        .bind(&url)
        .execute(&app.db)
        .await
        .unwrap();
    (app, receiver)
}

fn rand_tag() -> u64 {
    feegate::store::now_ms() as u64 ^ u64::from(std::process::id()) << 20 ^ rand::random::<u32>() as u64
}

async fn wait_for<F: Fn() -> bool>(what: &str, cond: F) {
    for _ in 0..300 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn paid_payment(app: &TestApp) -> String {
    let p = app.create_payment(&payment_body()).await;
    let id = p["id"].as_str().unwrap().to_owned();
    app.pay_sandbox(&id, "success").await;
    id
}

async fn events(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/events{query}"), key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["data"].as_array().unwrap().clone()
}

async fn event_status(app: &TestApp, payment_id: &str) -> Value {
    let list = events(app, &app.admin_key, &format!("?payment_id={payment_id}")).await;
    list.into_iter().find(|e| e["type"] == "payment.succeeded").unwrap_or(Value::Null)
}

async fn wait_status(app: &TestApp, payment_id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let e = event_status(app, payment_id).await;
        if e["delivery_status"] == status {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the event of {payment_id} never became {status}");
}

fn now_secs() -> i64 {
    feegate::store::now_ms() / 1000
}

#[tokio::test]
async fn a_paid_payment_is_announced_with_a_signature_the_portal_can_verify() {
    let (app, receiver) = setup().await;
    let id = paid_payment(&app).await;
    wait_for("the webhook", || !receiver.about(&id).is_empty()).await;
    let got = receiver.about(&id)[0].clone();
    assert_eq!(got.kind, "payment.succeeded");
    assert_eq!(got.content_type, "application/json");
    assert_eq!(verify(&got.signature, &got.body, SECRET, now_secs()), Ok(()), "{}", got.signature);
    assert_eq!(
        verify(&got.signature, &got.body.replace("succeeded", "cancelled"), SECRET, now_secs()),
        Err("bad signature")
    );
    assert_eq!(verify(&got.signature, &got.body, "whsec_other", now_secs()), Err("bad signature"));
    assert_eq!(
        verify(&got.signature, &got.body, SECRET, now_secs() + 301),
        Err("too old"),
        "a replayed request is refused"
    );
    let body: Value = serde_json::from_str(&got.body).unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(body["data"]["status"], "succeeded");
    assert_eq!(body["data"]["amount"], "135000");
    assert!(time::OffsetDateTime::parse(
        body["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());

    let listed = wait_status(&app, &id, "delivered").await;
    assert_eq!(listed["id"], body["id"]);
    assert_eq!(listed["attempts"], 1);
    assert_eq!(listed["deliveries"][0]["http_status"], 200);

    // A replay (as after a lost acknowledgement) carries the same event id: the portal
    // acknowledges it and does not act twice.
    let r = app.post(&format!("/v1/events/{}/redeliver", got.event_id), &app.portal_key).send().await.unwrap();
    assert_eq!(r.status(), 202);
    wait_for("the second copy", || receiver.about(&id).len() == 2).await;
    let copies = receiver.about(&id);
    assert_eq!(copies[1].event_id, copies[0].event_id);
    assert_eq!(copies[1].answered, 200);
    assert_eq!(receiver.acted(), 1);
    wait_status(&app, &id, "delivered").await;
    app.stop().await;
}

#[tokio::test]
async fn a_portal_answering_500_twice_gets_the_event_a_third_time() {
    let (app, receiver) = setup().await;
    let p = app.create_payment(&payment_body()).await;
    let id = p["id"].as_str().unwrap().to_owned();
    receiver.fail(&id, 2);
    app.pay_sandbox(&id, "success").await;
    let e = wait_status(&app, &id, "delivered").await;
    let got = receiver.about(&id);
    assert_eq!(got.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 500, 200]);
    assert!(got.iter().all(|r| r.event_id == got[0].event_id));
    assert_eq!(e["attempts"], 3);
    let deliveries = e["deliveries"].as_array().unwrap();
    let statuses: Vec<_> = deliveries.iter().map(|d| d["http_status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(deliveries.iter().map(|d| d["attempt_no"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(deliveries[0]["error"].as_str().unwrap().contains("500"));
    assert!(deliveries[2]["error"].is_null());
    assert!(deliveries.iter().all(|d| d["latency_ms"].as_i64().unwrap() >= 0 && d["at"].is_string()));
    app.stop().await;
}

#[tokio::test]
async fn events_of_one_payment_arrive_in_order_even_when_the_first_needs_retries() {
    let (app, receiver) = setup().await;
    let p = app.create_payment(&payment_body()).await;
    let id = p["id"].as_str().unwrap().to_owned();
    receiver.fail(&id, 2);
    app.pay_sandbox(&id, "success").await;
    // A second event of the same payment while the first is waiting for its retry.
    let store = &app.state.store;
    let mut tx = store.begin().await.unwrap();
    let later = store
        .insert_event(&mut tx, &id, "payment.needs_review", None, None, &json!({"id": id, "reason": "test"}), true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // An unrelated payment is not held up by the first one's retries.
    let other = paid_payment(&app).await;
    wait_for("the unrelated webhook", || !receiver.about(&other).is_empty()).await;
    assert!(receiver.about(&id).iter().all(|r| r.answered == 500), "the other payment went first");

    wait_for("both events", || receiver.about(&id).iter().filter(|r| r.answered == 200).count() == 2).await;
    let got = receiver.about(&id);
    let order: Vec<_> = got.iter().map(|r| (r.kind.as_str(), r.answered)).collect();
    assert_eq!(
        order,
        [
            ("payment.succeeded", 500),
            ("payment.succeeded", 500),
            ("payment.succeeded", 200),
            ("payment.needs_review", 200)
        ]
    );
    assert_eq!(got[3].event_id, later);
    app.stop().await;
}

#[tokio::test]
async fn an_event_fails_when_the_schedule_runs_out_and_can_then_be_redelivered() {
    let (app, receiver) = setup().await;
    let p = app.create_payment(&payment_body()).await;
    let id = p["id"].as_str().unwrap().to_owned();
    receiver.fail(&id, 3);
    app.pay_sandbox(&id, "success").await;
    let e = wait_status(&app, &id, "failed").await;
    assert_eq!(e["attempts"], 3);
    assert_eq!(receiver.about(&id).len(), 3);
    let failed = events(&app, &app.finance_key, &format!("?payment_id={id}&status=failed")).await;
    assert_eq!(failed.len(), 1);

    let r = app
        .post(&format!("/v1/events/{}/redeliver", e["id"].as_str().unwrap()), &app.finance_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let queued: Value = r.json().await.unwrap();
    assert_eq!(queued["delivery_status"], "pending");
    let e = wait_status(&app, &id, "delivered").await;
    assert_eq!(e["attempts"], 4);
    let statuses: Vec<_> =
        e["deliveries"].as_array().unwrap().iter().map(|d| d["http_status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    assert_eq!(receiver.acted(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_portal_cannot_see_or_redeliver_another_portals_events() {
    let (app, receiver) = setup().await;
    let id = paid_payment(&app).await;
    wait_for("the webhook", || !receiver.about(&id).is_empty()).await;
    let event_id = receiver.about(&id)[0].event_id.clone();

    let r = app
        .post("/v1/portals", &app.admin_key)
        .json(&json!({"id": "other-portal", "name": "Other", "agencies": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    use feegate::api::auth::Role;
    let (_, other_key) =
        feegate::service::admin::create_key(&app.state.store, Role::Portal, Some("other-portal".into()), &[], "t", "t")
            .await
            .unwrap();

    assert!(events(&app, &other_key, &format!("?payment_id={id}")).await.is_empty());
    assert!(events(&app, &other_key, "").await.is_empty());
    let r = app.post(&format!("/v1/events/{event_id}/redeliver"), &other_key).send().await.unwrap();
    assert_eq!(common::error_code(r).await, (404, "not_found".into(), None));

    // Its own: the success and the receipt that follows it.
    let own = events(&app, &app.portal_key, "").await;
    let mut kinds: Vec<&str> = own.iter().map(|e| e["type"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["payment.succeeded", "receipt.issued"]);
    assert!(own.iter().any(|e| e["id"] == event_id.as_str()));
    let r = app.get("/v1/events?status=sideways", &app.portal_key).send().await.unwrap();
    assert_eq!(common::error_code(r).await, (400, "invalid_query".into(), Some("status".into())));
    app.stop().await;
}

#[tokio::test]
async fn nodes_deliver_each_event_once_and_take_over_a_dead_nodes_lease() {
    let (app, receiver) = setup().await;
    let config = std::env::temp_dir().join(format!("feegate-webhooks-2-{}", rand_tag()));
    std::fs::write(&config, "webhook_retry_schedule_secs = [1, 1]\n").unwrap();
    // SQLite is single-node (feegate refuses a second server on one file).
    let second = if common::on_postgres() {
        let env = [("FEEGATE_OUTBOX_INTERVAL_MS", "50"), ("FEEGATE_CONFIG", config.to_str().unwrap())];
        Some(TestApp::spawn_on(&app.db_url, &env).await)
    } else {
        None
    };
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(paid_payment(&app).await);
    }
    // An event leased by a node that died a moment ago.
    let orphan = ids[0].clone();
    let stranded = insert_leased_event(&app, &orphan, "node_dead", feegate::store::now_ms() + 700).await;

    // Two events per paid payment (payment.succeeded, receipt.issued) and the stranded one.
    let all = ids.len() * 2 + 1;
    wait_for("every event", || receiver.received().len() == all).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.received();
    assert_eq!(got.len(), all, "an event was delivered twice: {got:?}");
    let distinct: HashSet<_> = got.iter().map(|r| r.event_id.clone()).collect();
    assert_eq!(distinct.len(), got.len());
    assert!(got.iter().any(|r| r.event_id == stranded));
    if let Some(second) = second {
        second.stop().await;
    }
    app.stop().await;
}

#[tokio::test]
async fn an_event_leased_by_a_live_node_waits_for_its_lease_to_run_out() {
    let (app, receiver) = setup().await;
    let id = paid_payment(&app).await;
    wait_for("the first webhook", || !receiver.about(&id).is_empty()).await;
    // Another node (alive) holds the lease of the payment's next event for two seconds.
    let leased = insert_leased_event(&app, &id, "node_alive", feegate::store::now_ms() + 2000).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(receiver.received().iter().all(|r| r.event_id != leased), "delivered under another node's live lease");
    // The lease runs out (that node died): this node takes the event over, once.
    wait_for("the taken-over event", || receiver.received().iter().any(|r| r.event_id == leased)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().iter().filter(|r| r.event_id == leased).count(), 1);
    app.stop().await;
}

/// A webhook event of `payment_id` written already leased by another node (`owner`, until
/// `until`), in one statement: the app's own worker cannot claim it in between.
async fn insert_leased_event(app: &TestApp, payment_id: &str, owner: &str, until: i64) -> String {
    let id = format!("evt_{owner}_{}", feegate::store::now_ms());
    sqlx::query(&format!(
        "INSERT INTO events (id, payment_id, type, status_from, status_to, data, webhook, delivery_status, created_at, \
         lease_owner, lease_until) VALUES ($1, $2, 'payment.needs_review', NULL, NULL, $3, TRUE, 'pending', {}, $5, {})",
        ts("$4"),
        ts("$6")
    ))
    .bind(&id)
    .bind(payment_id)
    .bind(json!({"id": payment_id}).to_string())
    .bind(feegate::store::now_ms())
    .bind(owner)
    .bind(until)
    .execute(&app.db)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn the_receipt_follows_the_success_as_its_own_webhook_and_a_full_refund_cancels_it_by_webhook() {
    let (app, receiver) = setup().await;
    let id = paid_payment(&app).await;
    wait_for("the receipt's webhook", || receiver.all_about(&id).len() == 2).await;
    let got = receiver.all_about(&id);
    let kinds: Vec<&str> = got.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["payment.succeeded", "receipt.issued"], "in order, the success first");
    let paid: Value = serde_json::from_str(&got[0].body).unwrap();
    let issued: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(verify(&got[1].signature, &got[1].body, SECRET, now_secs()), Ok(()));
    assert_eq!(issued["data"]["payment_id"], id);
    assert_eq!(issued["data"]["id"], paid["data"]["receipt"]["id"], "the receipt the success announced");
    assert_eq!(issued["data"]["status"], "issued");
    assert!(issued["data"]["url"].as_str().unwrap().contains("/receipts/"));

    // Refunded in full: the receipt is cancelled, and the portal hears it with the reason.
    let r = app
        .post(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
        .header("Idempotency-Key", format!("rf-{id}"))
        .json(&serde_json::json!({"amount": "135000", "reason": "Hồ sơ bị từ chối"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    wait_for("receipt.cancelled", || receiver.all_about(&id).iter().any(|r| r.kind == "receipt.cancelled")).await;
    let cancelled = receiver.all_about(&id).into_iter().find(|r| r.kind == "receipt.cancelled").unwrap();
    let v: Value = serde_json::from_str(&cancelled.body).unwrap();
    assert_eq!(v["data"]["id"], issued["data"]["id"]);
    assert_eq!(v["data"]["status"], "cancelled");
    assert!(v["data"]["reason"].as_str().unwrap().contains("Hồ sơ bị từ chối"));
    app.stop().await;
}
