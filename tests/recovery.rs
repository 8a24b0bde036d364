//! Database outage and recovery without a restart: feegate reaches PostgreSQL through a
//! TCP proxy in the test; cutting the proxy makes the API answer 503
//! `database_unavailable` and `/readyz` fail, and restoring it makes the same server
//! answer again within seconds, background workers included.

mod common;

use common::proc::{create_body, Portal, Workdir};
use common::{error_code, on_postgres, TestApp};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A TCP proxy on 127.0.0.1 to `upstream`. While cut, it drops open connections and
/// closes new ones at once, as a database that went away does.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (up2, conns2) = (Arc::clone(&up), Arc::clone(&conns));
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut list = conns2.lock().unwrap_or_else(|e| e.into_inner());
                list.retain(|h| !h.is_finished());
                list.push(task.abort_handle());
            }
        })
        .abort_handle();
        Proxy { addr, up, conns, accept }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Sends a request with a bound on its time; gives (status, error code, how long it took).
async fn call(req: reqwest::RequestBuilder) -> (u16, String, Duration) {
    let start = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(20), req.send())
        .await
        .expect("an answer within 20 s")
        .expect("an HTTP answer");
    let (status, code, _) = error_code(r).await;
    (status, code, start.elapsed())
}

/// Polls until `cond` holds (at most `secs`), giving how long it took.
async fn within<F, Fut>(secs: u64, what: &str, cond: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(start.elapsed() < Duration::from_secs(secs), "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503_and_the_same_server_recovers_when_it_returns() {
    if !on_postgres() {
        // An embedded SQLite file has no connection to lose: an outage there is a failed
        // disk, which open file handles do not see (a chmod changes nothing for them).
        eprintln!("skipped: a database outage needs PostgreSQL (set FEEGATE_TEST_DATABASE_URL)");
        return;
    }
    let db_url = common::fresh_database().await;
    let mut via_proxy = url::Url::parse(&db_url).expect("database URL");
    let upstream = format!("{}:{}", via_proxy.host_str().expect("host"), via_proxy.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream).await;
    via_proxy.set_host(Some("127.0.0.1")).expect("host");
    via_proxy.set_port(Some(proxy.addr.port())).expect("port");

    let work = Workdir::new("recovery");
    let portal = Portal::start(Duration::from_secs(1)).await;
    let config = work.portal_config(&portal.url);
    let app = TestApp::spawn_on(
        via_proxy.as_str(),
        &[("FEEGATE_OUTBOX_INTERVAL_MS", "50"), ("FEEGATE_CONFIG", config.to_str().expect("utf-8 path"))],
    )
    .await;
    let ready = || {
        let req = app.client.get(format!("{}/readyz", app.url)).timeout(Duration::from_secs(20));
        async move { req.send().await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(ready().await.ok(), Some(200));
    let delivered = |payment_id: String| {
        let portal = portal.clone();
        move || {
            let ok = portal.deliveries().iter().any(|d| d.payment_id == payment_id && d.answered == 200);
            async move { ok }
        }
    };

    // Before the outage: a payment whose event the portal refuses once, so that its
    // retry (a second later) falls into the outage.
    portal.fail_next(1);
    let before = app.create_payment(&common::payment_body()).await["id"].as_str().expect("id").to_owned();
    app.pay_sandbox(&before, "success").await;
    within(10, "the first, refused, delivery", || {
        let seen = !portal.deliveries().is_empty();
        async move { seen }
    })
    .await;

    proxy.cut();
    let cut_at = Instant::now();
    let (status, code, took) = call(app.get("/v1/payments", &app.portal_key)).await;
    assert_eq!((status, code.as_str()), (503, "database_unavailable"), "a read during the outage");
    println!("outage: a read answered 503 in {took:?}");
    let body = create_body("H12.20-OUTAGE-0001", 135000);
    let create = || app.post("/v1/payments", &app.portal_key).header("Idempotency-Key", "outage-0001").json(&body);
    let (status, code, _) = call(create()).await;
    assert_eq!((status, code.as_str()), (503, "database_unavailable"), "a create during the outage");
    assert_eq!(ready().await.ok(), Some(503));
    // The refused event's retry falls due during the outage; the outbox cannot claim it.
    tokio::time::sleep(Duration::from_millis(2500).saturating_sub(cut_at.elapsed())).await;
    assert_eq!(portal.deliveries().len(), 1, "a delivery during the outage: {:?}", portal.deliveries());

    proxy.restore();
    let took = within(10, "the API answering again", || {
        let req = app.get("/v1/payments", &app.portal_key);
        async move { call(req).await.0 == 200 }
    })
    .await;
    println!("recovery: reads answer 200 again {took:?} after the database came back");
    assert_eq!(ready().await.ok(), Some(200));
    // The create refused during the outage wrote nothing: its key is free and makes one payment.
    let first: Value = create().send().await.expect("create").json().await.expect("json");
    let again: Value = create().send().await.expect("create").json().await.expect("json");
    assert_eq!(first["dossier_code"], "H12.20-OUTAGE-0001", "{first}");
    assert_eq!(first["id"], again["id"]);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM payments WHERE dossier_code = 'H12.20-OUTAGE-0001'")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(n, 1);
    // The workers resume: the event retried across the outage and a new one both arrive.
    within(15, "the event retried across the outage", delivered(before.clone())).await;
    let after = first["id"].as_str().expect("id").to_owned();
    app.pay_sandbox(&after, "success").await;
    within(15, "an event after the outage", delivered(after)).await;
    assert_eq!(portal.bad_signatures(), 0);
    app.stop().await;
    drop(proxy);
    work.remove();
}
