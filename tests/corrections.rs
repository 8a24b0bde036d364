//! The correction queue under two nodes: a correction a run proves is claimed by one node at
//! a time, a lease that ran out is taken over, and the node that lost it writes nothing.

mod common;
use common::*;
use feegate::app::AppState;
use feegate::config::Config;
use feegate::domain::recon::Outcome;
use feegate::domain::statement::Direction;
use feegate::domain::stmt_match::Item;
use feegate::store::recon::{NewCorrection, RunRow, CORRECTION_PENDING};
use feegate::store::{now_ms, Store};
use std::collections::HashSet;

fn item(n: i64) -> Item {
    Item {
        line: Some(n + 2),
        reference: format!("FG{n:010}"),
        bank_ref: None,
        direction: Direction::Credit,
        amount_file: Some(135_000),
        currency: Some("VND".into()),
        amount_feegate: Some(135_000),
        status_feegate: Some("pending".into()),
        outcome: Outcome::StatusMismatch,
        reason: format!("credit proves FG{n:010}"),
        payment_id: Some(format!("pay_{n}")),
        attempt_id: Some(format!("att_{n}")),
        refund_id: None,
        content: Some("le phi".into()),
        booking_date: None,
        batch_source: None,
        correct: true,
    }
}

#[tokio::test]
async fn two_nodes_never_claim_the_same_correction_and_a_lost_lease_writes_nothing() {
    let db = fresh_database().await;
    let env = vec![("FEEGATE_DATABASE_URL".to_string(), db.clone())];
    // No server: no worker of its own claims the queue while the test does.
    let state = AppState::build_unlocked(Config::load_with(None, &env).unwrap()).await.unwrap();
    let a = state.store.clone();
    // A second node has its own pool (SQLite is one node: the same store).
    let b = if on_postgres() { Store::connect(&db, 4).await.unwrap() } else { a.clone() };
    let now = now_ms();
    let run = RunRow {
        id: "rcn_leasetest".into(),
        source: "ctg-113000012345".into(),
        business_date: "2026-11-27".into(),
        file_sha256: "00".repeat(32),
        version: 1,
        status: "completed".into(),
        lines: 20,
        matched: 0,
        missing_in_file: 0,
        missing_in_feegate: 0,
        amount_mismatch: 0,
        status_mismatch: 20,
        duplicate: 0,
        created_by: "test".into(),
        created_at: now,
        kind: "statement".into(),
        account_id: None,
        statements: None,
    };
    let items: Vec<Item> = (0..20).map(item).collect();
    let mut tx = a.begin().await.unwrap();
    let ids = a.insert_statement_run(&mut tx, &run, &items).await.unwrap();
    let queue: Vec<NewCorrection> =
        ids.iter().enumerate().map(|(n, id)| (id.clone(), format!("att_{n}"), "{}".to_string())).collect();
    a.queue_corrections(&mut tx, &run.id, "test", &queue, now).await.unwrap();
    tx.commit().await.unwrap();

    let (x, y) =
        tokio::join!(a.claim_corrections(now, 60_000, "node-a", 20), b.claim_corrections(now, 60_000, "node-b", 20));
    let (x, y) = (x.unwrap(), y.unwrap());
    let xs: HashSet<String> = x.iter().map(|c| c.id.clone()).collect();
    let ys: HashSet<String> = y.iter().map(|c| c.id.clone()).collect();
    assert_eq!(xs.len() + ys.len(), 20, "every correction claimed once");
    assert!(xs.is_disjoint(&ys), "no correction claimed by both nodes");
    assert!(a.claim_corrections(now + 1_000, 60_000, "node-c", 20).await.unwrap().is_empty(), "leases hold");

    // A lease that ran out is taken over; the node that lost it cannot write its late result.
    let late = now + 61_000;
    let taken = b.claim_corrections(late, 60_000, "node-c", 1).await.unwrap();
    let [c] = taken.as_slice() else { panic!("{taken:?}") };
    assert_eq!(c.tries, 2);
    let loser = if xs.contains(&c.id) { "node-a" } else { "node-b" };
    assert!(!a.finish_correction(c, loser, "stale", late).await.unwrap());
    assert!(!a.retry_correction(c, loser, late, "stale").await.unwrap());
    assert!(b.finish_correction(c, "node-c", "corrected: test", late).await.unwrap());
    assert!(!b.finish_correction(c, "node-c", "corrected: again", late).await.unwrap(), "done once");
    let (reason,): (String,) = sqlx::query_as("SELECT reason FROM recon_items WHERE id = $1")
        .bind(&c.item_id)
        .fetch_one(&any_pool(&db).await)
        .await
        .unwrap();
    assert!(reason.ends_with("; corrected: test") && !reason.contains(CORRECTION_PENDING), "{reason}");
    assert_eq!(a.run_correction_counts(&run.id).await.unwrap(), (19, 1));
    a.close().await;
    b.close().await;
}
