//! The webhook outbox's leases: claimers never share an event, a lease runs out and
//! passes on, a payment's events go one at a time.

use crate::harness::*;
use feegate::domain::payment::PaymentStatus;
use feegate::store::now_ms;
use feegate::store::outbox::OutboxFilter;
use feegate::store::Store;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

/// Writes one webhook event per payment id given, in that order; gives their ids.
async fn events(s: &Store, payments: &[&str]) -> Vec<String> {
    let mut tx = s.begin().await.unwrap();
    let mut ids = Vec::new();
    for p in payments {
        let data = json!({"id": p, "status": "succeeded"});
        let to = Some(PaymentStatus::Succeeded);
        ids.push(s.insert_event(&mut tx, p, "payment.succeeded", None, to, &data, true).await.unwrap());
    }
    tx.commit().await.unwrap();
    ids
}

pub async fn claimers_running_at_once_never_get_the_same_event(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let mut payments = Vec::new();
    for _ in 0..40 {
        payments.push(new_payment(s, &account, 10_000, "succeeded").await);
    }
    let all = events(s, &payments.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let start = Arc::new(Barrier::new(4));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (s, start) = (s.clone(), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            let owner = format!("node-{w}");
            let mut mine = Vec::new();
            start.wait().await;
            // Bounded: a claim that hands out an event again must fail here, not loop.
            for _ in 0..40 {
                let now = now_ms();
                let batch = s.claim_due_events(now, 60_000, &owner, 3).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                for e in batch {
                    let mut tx = s.begin().await.unwrap();
                    assert!(s.mark_delivered(&mut tx, &e.id, &owner, now).await.unwrap(), "{owner} holds {}", e.id);
                    tx.commit().await.unwrap();
                    mine.push(e.id);
                }
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    let mut busy = 0;
    for t in tasks {
        let mine = t.await.unwrap();
        busy += usize::from(!mine.is_empty());
        claimed.extend(mine);
    }
    let distinct: HashSet<&String> = claimed.iter().collect();
    assert_eq!(claimed.len(), distinct.len(), "no event was claimed twice");
    assert_eq!(distinct, all.iter().collect::<HashSet<_>>(), "every event was claimed");
    assert!(busy >= 2, "the claimers worked side by side ({busy} of 4 got events)");
    let f = OutboxFilter { status: Some("delivered".into()), limit: 100, ..Default::default() };
    assert_eq!(s.list_events(&f).await.unwrap().len(), 40);
}

pub async fn a_claim_passes_over_an_event_another_node_is_closing(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let p1 = new_payment(s, &account, 10_000, "succeeded").await;
    let p2 = new_payment(s, &account, 10_000, "succeeded").await;
    let ids = events(s, &[&p1, &p2]).await;
    let t = now_ms();
    let first = s.claim_due_events(t, 1000, "node-a", 1).await.unwrap();
    assert_eq!(first.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), vec![ids[0].clone()]);

    // node-a's lease has run out, but it is closing the event right now (row written,
    // not committed) when node-b claims.
    let mut closing = s.begin().await.unwrap();
    assert!(s.mark_delivered(&mut closing, &ids[0], "node-a", t + 2000).await.unwrap());
    let b = s.clone();
    let claim = tokio::spawn(async move { b.claim_due_events(t + 5000, 1000, "node-b", 10).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    match ctx.db {
        // SKIP LOCKED: node-b takes what is free and does not wait for node-a.
        Db::Postgres => assert!(claim.is_finished(), "a claim does not wait for a row another node holds"),
        // One writer at a time: node-b waits for node-a's commit.
        Db::Sqlite => assert!(!claim.is_finished(), "the writer lock keeps node-b out until node-a commits"),
    }
    closing.commit().await.unwrap();
    let got: Vec<String> = claim.await.unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(got, vec![ids[1].clone()], "node-b never gets the event node-a delivered");
    assert_eq!(s.outbox_event(&ids[0]).await.unwrap().unwrap().delivery_status.as_deref(), Some("delivered"));
}

pub async fn an_expired_lease_passes_to_another_owner_and_the_old_one_cannot_close_it(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let p = new_payment(s, &account, 10_000, "succeeded").await;
    let id = events(s, &[&p]).await.remove(0);
    let t = now_ms();
    assert_eq!(s.claim_due_events(t, 1000, "node-a", 10).await.unwrap().len(), 1);
    assert!(s.claim_due_events(t + 500, 1000, "node-b", 10).await.unwrap().is_empty(), "leased to node-a");
    let taken = s.claim_due_events(t + 1001, 1000, "node-b", 10).await.unwrap();
    assert_eq!((taken.len(), taken[0].attempts), (1, 0), "node-a's lease ran out");

    let mut tx = s.begin().await.unwrap();
    s.record_delivery(&mut tx, &id, 1, t + 1100, Some(503), 12, Some("HTTP 503")).await.unwrap();
    assert!(!s.mark_delivered(&mut tx, &id, "node-a", t + 1100).await.unwrap(), "node-a lost the lease");
    assert!(!s.mark_failed(&mut tx, &id, "node-a").await.unwrap());
    assert!(s.schedule_retry(&mut tx, &id, "node-b", t + 5000).await.unwrap());
    tx.commit().await.unwrap();
    assert!(s.claim_due_events(t + 2000, 1000, "node-c", 10).await.unwrap().is_empty(), "not before its retry time");
    let again = s.claim_due_events(t + 5000, 1000, "node-c", 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    let mut tx = s.begin().await.unwrap();
    assert!(!s.schedule_retry(&mut tx, &id, "node-b", t + 9000).await.unwrap(), "node-b's lease is gone too");
    s.record_delivery(&mut tx, &id, 2, t + 5100, Some(200), 8, None).await.unwrap();
    assert!(s.mark_delivered(&mut tx, &id, "node-c", t + 5100).await.unwrap());
    tx.commit().await.unwrap();
    let e = s.outbox_event(&id).await.unwrap().unwrap();
    assert_eq!((e.delivery_status.as_deref(), e.attempts, e.delivered_at), (Some("delivered"), 2, Some(t + 5100)));
    let log = s.deliveries(&id).await.unwrap();
    assert_eq!(
        log.iter().map(|d| (d.attempt_no, d.http_status)).collect::<Vec<_>>(),
        vec![(1, Some(503)), (2, Some(200))]
    );
}

pub async fn a_payments_events_are_claimed_one_at_a_time_in_order(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let p = new_payment(s, &account, 10_000, "succeeded").await;
    let q = new_payment(s, &account, 10_000, "succeeded").await;
    let ids = events(s, &[&p, &q, &p, &p]).await;
    let t = now_ms();
    let claim = |owner: &'static str| async move {
        let mut got =
            s.claim_due_events(t, 1000, owner, 10).await.unwrap().into_iter().map(|e| e.id).collect::<Vec<_>>();
        got.sort();
        got
    };
    let mut firsts = vec![ids[0].clone(), ids[1].clone()];
    firsts.sort();
    assert_eq!(claim("a").await, firsts, "the first of each payment");
    let mut tx = s.begin().await.unwrap();
    assert!(s.mark_delivered(&mut tx, &ids[0], "a", t).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(claim("b").await, vec![ids[2].clone()], "the next of p once the first is delivered");
    let mut tx = s.begin().await.unwrap();
    assert!(s.mark_failed(&mut tx, &ids[2], "b").await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(claim("c").await, vec![ids[3].clone()], "a failed event does not hold up the rest");
    assert!(s.mark_skipped(&ids[3], "c").await.unwrap());
    // A replay puts the failed event back in line.
    let mut tx = s.begin().await.unwrap();
    assert!(s.redeliver(&mut tx, &ids[2], t).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(claim("d").await, vec![ids[2].clone()]);
    let of_p = OutboxFilter { payment_id: Some(p.clone()), limit: 10, ..Default::default() };
    let statuses: Vec<Option<String>> =
        s.list_events(&of_p).await.unwrap().into_iter().map(|e| e.delivery_status).collect();
    assert_eq!(statuses.len(), 3);
}
