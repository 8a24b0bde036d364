//! The crash test: a real `feegate serve` is driven with creates (each with an
//! `Idempotency-Key`) and signed gateway callbacks from several tasks while it is killed
//! with SIGKILL at random points and restarted on the same database. Afterwards every
//! invariant of a crash is checked in the database: each answered create exists, a
//! create retried after a lost answer is the same payment and never a second one, each
//! acknowledged callback was applied exactly once, every event reached the portal, and
//! `feegate audit verify` passes.
//!
//! Short form (5 kills, CI): `cargo nextest run --test crash`. Long form:
//! `FEEGATE_CRASH_ROUNDS=50 cargo nextest run --test crash`; `FEEGATE_CRASH_SEED=<n>`
//! replays the kill points and choices of a printed seed. On PostgreSQL when
//! `FEEGATE_TEST_DATABASE_URL` is set.

mod common;

use common::proc::{counts, create_body, sandbox_success, Portal, Server, Workdir};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::RequestBuilder;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrent drivers.
const TASKS: usize = 4;
/// Creates sent at once just before each kill.
const BURST: usize = 16;
/// Kills beyond the asked rounds while no create answer was lost after its commit.
const MAX_EXTRA_KILLS: usize = 30;

/// What the drivers share.
struct Shared {
    base: String,
    portal_key: String,
    stop: AtomicBool,
    /// After this, a request still without an answer fails the test (it must not hang).
    deadline: Instant,
    /// Requests that got no answer (connection refused or cut, or a 5xx).
    unanswered: AtomicUsize,
    /// Creates whose answer was lost after their commit (seen when the retry answered).
    replayed: AtomicUsize,
}

/// One dossier's story as the drivers saw it.
#[derive(Debug, Clone)]
struct Story {
    dossier: String,
    payment_id: String,
    /// Unix ms of the last try of the create that got no answer, if any.
    create_lost_at: Option<i64>,
    /// The reference the acknowledged callback paid, if the dossier was paid.
    paid_reference: Option<String>,
    callback_lost: bool,
    /// The acknowledged callback was sent once more and answered `duplicate`.
    resent: bool,
}

/// An answer's JSON body, with the times of the tries that got none.
struct Answer {
    body: Value,
    lost_at: Vec<i64>,
}

/// Sends a request until the server answers with a status in `ok`; a transport error or
/// a 5xx (the server is down, starting, or was killed mid-request) is retried, as a
/// portal or a gateway would. Any other answer fails the test.
async fn until_answered(sh: &Shared, what: &str, ok: &[u16], make: impl Fn() -> RequestBuilder) -> Answer {
    let mut lost_at = Vec::new();
    loop {
        assert!(Instant::now() < sh.deadline, "{what}: no answer before the deadline");
        match make().send().await {
            Ok(r) if ok.contains(&r.status().as_u16()) => {
                let body = r.json().await.unwrap_or(Value::Null);
                return Answer { body, lost_at };
            }
            Ok(r) if r.status().is_server_error() => {}
            Ok(r) if r.status() == 429 => {
                // Rate limited (should the limits be on): wait as told; not a lost answer.
                let secs = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(secs)).await;
                continue;
            }
            Ok(r) => {
                let status = r.status();
                panic!("{what}: unexpected {status}: {}", r.text().await.unwrap_or_default());
            }
            Err(_) => {}
        }
        lost_at.push(feegate::store::now_ms());
        sh.unanswered.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One driver: creates dossiers and pays three in four through signed callbacks, until
/// told to stop; each step is finished (retried) before the next.
async fn drive(sh: Arc<Shared>, task: usize, seed: u64) -> Vec<Story> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(task as u64 + 1));
    let client = common::proc::client();
    let mut stories = Vec::new();
    let mut n = 0;
    while !sh.stop.load(Ordering::Relaxed) {
        n += 1;
        stories.push(story(&sh, &client, &mut rng, &format!("{task}-{n:05}")).await);
    }
    stories
}

/// One dossier: created, then (three in four) paid through a signed callback, each step
/// retried until answered.
async fn story(sh: &Shared, client: &reqwest::Client, rng: &mut StdRng, tag: &str) -> Story {
    let url = |path: &str| format!("{}{path}", sh.base);
    {
        let dossier = format!("H12.20-CRASH-{tag}");
        let amount: u64 = rng.gen_range(1..=500) * 1000;
        let body = create_body(&dossier, amount);
        let created = until_answered(sh, "create", &[201], || {
            client.post(url("/v1/payments")).bearer_auth(&sh.portal_key).header("Idempotency-Key", &dossier).json(&body)
        })
        .await;
        assert_eq!(created.body["dossier_code"], dossier.as_str(), "{}", created.body);
        let payment_id = created.body["id"].as_str().expect("payment id").to_owned();
        let created_at = created.body["created_at"]
            .as_str()
            .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .expect("created_at");
        if created.lost_at.last().is_some_and(|lost| created_at <= *lost) {
            sh.replayed.fetch_add(1, Ordering::Relaxed);
        }
        let mut story = Story {
            dossier: dossier.clone(),
            payment_id: payment_id.clone(),
            create_lost_at: created.lost_at.last().copied(),
            paid_reference: None,
            callback_lost: false,
            resent: false,
        };
        if rng.gen_bool(0.75) {
            until_answered(sh, "attempt", &[201], || {
                client
                    .post(url(&format!("/v1/payments/{payment_id}/attempts")))
                    .bearer_auth(&sh.portal_key)
                    .json(&serde_json::json!({"connector": "sandbox"}))
            })
            .await;
            let payment = until_answered(sh, "read", &[200], || {
                client.get(url(&format!("/v1/payments/{payment_id}"))).bearer_auth(&sh.portal_key)
            })
            .await;
            // A retried attempt start may have made two; the gateway pays one of them.
            let reference = payment.body["attempts"]
                .as_array()
                .and_then(|a| a.last())
                .and_then(|a| a["reference"].as_str())
                .expect("an attempt reference")
                .to_owned();
            let (callback, signature) = sandbox_success(&reference, &format!("TXN-{tag}"), amount);
            let send = || {
                client.post(url("/callbacks/sandbox")).header("X-Sandbox-Signature", &signature).body(callback.clone())
            };
            let ack = until_answered(sh, "callback", &[200], send).await;
            let word = ack.body["status"].as_str().unwrap_or("").to_owned();
            // If an earlier try was applied but its answer lost, the retry is a duplicate.
            let expected: &[&str] = if ack.lost_at.is_empty() { &["received"] } else { &["received", "duplicate"] };
            assert!(expected.contains(&word.as_str()), "callback for {payment_id} answered {}", ack.body);
            story.callback_lost = !ack.lost_at.is_empty();
            story.paid_reference = Some(reference);
            if rng.gen_bool(0.25) {
                // The gateway sends an acknowledged callback again (they do).
                let again = until_answered(sh, "callback again", &[200], send).await;
                assert_eq!(again.body["status"], "duplicate", "a second copy of an applied callback for {payment_id}");
                story.resent = true;
            }
        }
        story
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_servers_lose_no_payment_apply_no_callback_twice_and_deliver_every_event() {
    let started = Instant::now();
    let rounds = env_u64("FEEGATE_CRASH_ROUNDS").unwrap_or(5) as usize;
    let seed = env_u64("FEEGATE_CRASH_SEED").unwrap_or_else(rand::random);
    println!("crash test: seed {seed} (FEEGATE_CRASH_SEED={seed} replays it), {rounds} kills");
    let mut rng = StdRng::seed_from_u64(seed);

    let work = Workdir::new("crash");
    let db_url = if common::on_postgres() {
        common::fresh_database().await
    } else {
        format!("sqlite://{}?mode=rwc", work.path("feegate.db").display())
    };
    let portal = Portal::start(Duration::from_secs(30)).await;
    let config = work.portal_config(&portal.url);
    let env: Vec<(String, String)> = [
        ("FEEGATE_DATABASE_URL", db_url.as_str()),
        ("FEEGATE_CONFIG", config.to_str().expect("utf-8 path")),
        ("FEEGATE_OUTBOX_INTERVAL_MS", "50"),
        // A killed node's claims on events run out quickly.
        ("FEEGATE_OUTBOX_LEASE_MS", "2000"),
        // The simulator's memory dies with the server: keep the resolver from asking it
        // about orders it forgot; this test is about callbacks.
        ("FEEGATE_RESOLVER_DELAY_MS", "3600000"),
        // Load, not abuse: one portal key drives all the tasks.
        ("FEEGATE_RATE_LIMITS_ENABLED", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let portal_key = common::proc::create_key(&env, "portal", Some("demo-portal")).await;
    let mut server = Server::start(common::proc::free_port(), &env, &work.path("feegate.log")).await;
    println!("server log: {}", server.log.display());

    let shared = Arc::new(Shared {
        base: server.url.clone(),
        portal_key,
        stop: AtomicBool::new(false),
        deadline: Instant::now() + Duration::from_secs(120 + 15 * rounds as u64),
        unanswered: AtomicUsize::new(0),
        replayed: AtomicUsize::new(0),
    });
    let drivers: Vec<_> = (0..TASKS).map(|t| tokio::spawn(drive(Arc::clone(&shared), t, seed))).collect();
    let mut bursts = Vec::new();
    let mut kills = 0;
    // The lost-create path needs a kill between a commit and its answer: kill again (a
    // bounded number of times) until that has happened once.
    while kills < rounds || (shared.replayed.load(Ordering::Relaxed) == 0 && kills < rounds + MAX_EXTRA_KILLS) {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(500..3000))).await;
        // A burst of creates, so that some are between commit and answer when the kill lands.
        for j in 0..BURST {
            let (sh, mut r) = (Arc::clone(&shared), StdRng::seed_from_u64(rng.gen()));
            bursts.push(tokio::spawn(async move {
                story(&sh, &common::proc::client(), &mut r, &format!("B{kills}-{j:03}")).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(5..60))).await;
        server.kill().await;
        kills += 1;
        println!("kill {kills} at {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..300))).await;
        server.restart().await;
    }
    // Load once more on the last server, then let every driver finish its dossier.
    tokio::time::sleep(Duration::from_millis(500)).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut stories = Vec::new();
    for d in drivers {
        let finished = tokio::time::timeout(Duration::from_secs(120), d).await.expect("drivers finish");
        stories.extend(finished.expect("a driver failed"));
    }
    for b in bursts {
        let finished = tokio::time::timeout(Duration::from_secs(120), b).await.expect("bursts finish");
        stories.push(finished.expect("a burst task failed"));
    }

    let store = feegate::store::Store::connect(&db_url, 2).await.expect("database");
    let pool = &common::any_pool(&db_url).await;
    // Every event reaches the portal, a killed node's claim running out first.
    let wait_from = Instant::now();
    loop {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM events WHERE webhook = TRUE AND delivery_status = 'pending'")
                .fetch_one(pool)
                .await
                .expect("pending events");
        if pending == 0 {
            break;
        }
        assert!(wait_from.elapsed() < Duration::from_secs(60), "{pending} events still undelivered after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Each answered create exists, once, as the payment its answer named.
    let rows: Vec<(String, String, String, i64)> =
        sqlx::query_as(&format!("SELECT id, dossier_code, status, {} FROM payments", common::ms("created_at")))
            .fetch_all(pool)
            .await
            .expect("payments");
    assert_eq!(rows.len(), stories.len(), "payments in the database vs creates answered 201");
    let mut by_dossier: HashMap<&str, Vec<&(String, String, String, i64)>> = HashMap::new();
    for r in &rows {
        by_dossier.entry(r.1.as_str()).or_default().push(r);
    }
    let succeeded_events =
        counts(pool, "SELECT payment_id, COUNT(*) FROM events WHERE type = 'payment.succeeded' GROUP BY payment_id")
            .await;
    let transitions =
        counts(pool, "SELECT payment_id, COUNT(*) FROM events WHERE status_to = 'succeeded' GROUP BY payment_id").await;
    let applied =
        counts(pool, "SELECT reference, COUNT(*) FROM callbacks WHERE disposition = 'applied' GROUP BY reference")
            .await;
    let audited =
        counts(pool, "SELECT scope, COUNT(*) FROM audit_log WHERE kind = 'payment.succeeded' GROUP BY scope").await;
    let mut replayed = 0;
    for s in &stories {
        let found = by_dossier.get(s.dossier.as_str()).cloned().unwrap_or_default();
        assert_eq!(found.len(), 1, "dossier {} has {} payments", s.dossier, found.len());
        let (id, _, status, created_at) = found[0];
        assert_eq!(id, &s.payment_id, "dossier {}: the create's answer named another payment", s.dossier);
        // The payment was committed before a try that got no answer: that answer was
        // lost in a crash and the retry with the same key replayed it.
        if s.create_lost_at.is_some_and(|lost| *created_at <= lost) {
            replayed += 1;
        }
        let once = |m: &HashMap<String, i64>, k: &str| m.get(k).copied().unwrap_or(0);
        match &s.paid_reference {
            Some(reference) => {
                assert_eq!(status, "succeeded", "{id}: an acknowledged callback was not applied");
                assert_eq!(once(&transitions, id), 1, "{id}: transitions to succeeded");
                assert_eq!(once(&succeeded_events, id), 1, "{id}: payment.succeeded events");
                assert_eq!(once(&applied, reference), 1, "{id}: callbacks applied");
                assert_eq!(once(&audited, id), 1, "{id}: payment.succeeded audit entries");
            }
            None => {
                assert_eq!(status, "created", "{id} was never paid");
                assert_eq!(once(&transitions, id), 0, "{id}: transitions to succeeded");
            }
        }
    }

    assert!(replayed > 0, "in {kills} kills no create answer was lost after its commit: the retry was not exercised");

    // Every event was acknowledged by the portal at least once, with a valid signature.
    let events: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, type, delivery_status FROM events WHERE webhook = TRUE")
            .fetch_all(pool)
            .await
            .expect("events");
    let paid = stories.iter().filter(|s| s.paid_reference.is_some()).count();
    // payment.succeeded and the receipt.issued that follows it.
    assert_eq!(events.len(), 2 * paid, "two webhook events per paid payment");
    let receipts = events.iter().filter(|(_, kind, _)| kind == "receipt.issued").count();
    assert_eq!(receipts, paid, "one receipt.issued per paid payment");
    let acknowledged = portal.acknowledged();
    for (id, kind, status) in &events {
        assert_eq!(status.as_deref(), Some("delivered"), "{kind} {id}");
        assert!(acknowledged.contains(id), "the portal never acknowledged {kind} {id}");
    }
    assert_eq!(portal.bad_signatures(), 0, "deliveries with a bad signature");
    let received = portal.deliveries().len();

    let (code, out) = common::proc::cli(&["audit", "verify"], &env).await;
    assert_eq!(code, 0, "feegate audit verify: {out}");

    server.kill().await;
    println!(
        "crash test passed in {:.1} s: {kills} kills, {} creates ({} answers lost, {replayed} of them \
         replayed from a commit before the kill), {paid} paid ({} callback answers lost, {} resent), \
         {} requests unanswered, {} events delivered in {received} requests; {}",
        started.elapsed().as_secs_f64(),
        stories.len(),
        stories.iter().filter(|s| s.create_lost_at.is_some()).count(),
        stories.iter().filter(|s| s.callback_lost).count(),
        stories.iter().filter(|s| s.resent).count(),
        shared.unanswered.load(Ordering::Relaxed),
        events.len(),
        out.trim()
    );
    store.close().await;
    work.remove();
}
