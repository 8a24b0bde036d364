//! Refund reservations and idempotency keys: the guarded writes that keep money and
//! requests from being counted twice, raced.

use crate::harness::*;
use feegate::domain::ids::{new_id, new_reference};
use feegate::store::idempotency::Claim;
use feegate::store::now_ms;
use feegate::store::refunds::RefundRow;
use feegate::store::{Store, Tx};

fn refund_row(payment_id: &str, attempt_id: &str, amount: i64) -> RefundRow {
    let now = now_ms();
    RefundRow {
        id: new_id("rfd"),
        payment_id: payment_id.into(),
        attempt_id: attempt_id.into(),
        connector_id: "sandbox".into(),
        reference: new_reference(),
        amount,
        reason: "nộp thừa".into(),
        status: "pending".into(),
        gateway_refund_ref: None,
        failure_code: None,
        bank_reference: None,
        requested_by: "finance".into(),
        created_at: now,
        updated_at: now,
        duplicate_attempt_id: None,
    }
}

/// A paid payment of `amount` with its succeeded attempt: (payment id, attempt id).
async fn paid_payment(s: &Store, account: &str, amount: i64) -> (String, String) {
    let id = new_payment(s, account, amount, "succeeded").await;
    let a = attempt_row(&id, "sandbox", "succeeded", amount);
    insert_attempts(s, &[&a]).await;
    (id, a.id)
}

/// Reserves and, if that worked, records the refund, in `tx`.
async fn request_refund(s: &Store, tx: &mut Tx, payment_id: &str, attempt_id: &str, amount: i64) -> Option<RefundRow> {
    if !s.reserve_refund(tx, payment_id, amount).await.unwrap() {
        return None;
    }
    let r = refund_row(payment_id, attempt_id, amount);
    s.insert_refund(tx, &r).await.unwrap();
    Some(r)
}

pub async fn concurrent_refunds_never_reserve_more_than_was_paid(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let (pid, aid) = paid_payment(s, &account, 100_000).await;
    // Eight refunds of 30 000 against 100 000 paid: three fit, together 90 000.
    let (p, a) = (pid.clone(), aid.clone());
    let got = race(&ctx, 8, move |_, s, mut tx| {
        let (p, a) = (p.clone(), a.clone());
        async move {
            let r = request_refund(&s, &mut tx, &p, &a, 30_000).await;
            (tx, r)
        }
    })
    .await;
    let accepted: Vec<RefundRow> = got.into_iter().flatten().collect();
    assert_eq!(accepted.len(), 3, "three refunds of 30 000 fit in 100 000");
    let stored = s.refunds(&pid).await.unwrap();
    assert_eq!(stored.iter().map(|r| r.amount).sum::<i64>(), 90_000);

    // What is left is exactly 10 000: it fits, one more đồng does not.
    let mut tx = s.begin().await.unwrap();
    assert!(!s.reserve_refund(&mut tx, &pid, 10_001).await.unwrap());
    assert!(s.reserve_refund(&mut tx, &pid, 10_000).await.unwrap());
    assert!(!s.reserve_refund(&mut tx, &pid, 1).await.unwrap());
    tx.rollback().await.unwrap();

    // A failed refund gives its reservation back; a completed one books the amount.
    let mut tx = s.begin().await.unwrap();
    assert!(s.fail_refund(&mut tx, &accepted[0], "gateway_declined").await.unwrap());
    assert!(!s.fail_refund(&mut tx, &accepted[0], "gateway_declined").await.unwrap(), "already failed");
    assert_eq!(
        s.complete_refund(&mut tx, &accepted[1], Some("GW-1"), None).await.unwrap().as_deref(),
        Some("partially_refunded")
    );
    assert_eq!(s.complete_refund(&mut tx, &accepted[1], Some("GW-1"), None).await.unwrap(), None, "completed once");
    tx.commit().await.unwrap();
    let p = s.payment(&pid).await.unwrap().unwrap();
    assert_eq!((p.status.as_str(), p.refunded_amount), ("partially_refunded", 30_000));
    let mut tx = s.begin().await.unwrap();
    assert!(!s.reserve_refund(&mut tx, &pid, 40_001).await.unwrap(), "60 000 reserved, 40 000 left");
    assert!(s.reserve_refund(&mut tx, &pid, 40_000).await.unwrap());
    tx.rollback().await.unwrap();

    // A payment that is not paid cannot be refunded at all.
    let unpaid = new_payment(s, &account, 100_000, "pending").await;
    let mut tx = s.begin().await.unwrap();
    assert!(!s.reserve_refund(&mut tx, &unpaid, 1).await.unwrap());
}

pub async fn concurrent_refunds_of_a_duplicate_collection_stay_within_it(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let pid = new_payment(s, &account, 100_000, "pending").await;
    let first = attempt_row(&pid, "sandbox", "succeeded", 100_000);
    insert_attempts(s, &[&first]).await;
    let paying = first.id.clone();
    let mut tx = s.begin().await.unwrap();
    let paid = s.pay_payment(&mut tx, &pid, &paying, now_ms()).await.unwrap().expect("a pending payment is paid");
    assert_eq!(paid.status.as_str(), "succeeded");
    assert!(
        s.pay_payment(&mut tx, &pid, &paying, now_ms()).await.unwrap().is_none(),
        "a paid payment is not paid twice"
    );
    let second = attempt_row(&pid, "sandbox", "succeeded", 100_000);
    assert!(s.record_duplicate_attempt(&mut tx, &second, &paying).await.unwrap());
    let retry = feegate::store::payments::AttemptRow { id: new_id("att"), ..second.clone() };
    assert!(!s.record_duplicate_attempt(&mut tx, &retry, &paying).await.unwrap(), "the bank's retry of one credit");
    tx.commit().await.unwrap();

    let (p, d) = (pid.clone(), second.id.clone());
    let got = race(&ctx, 8, move |_, s, mut tx| {
        let (p, d) = (p.clone(), d.clone());
        async move {
            let ok = s.reserve_duplicate_refund(&mut tx, &p, &d, 40_000).await.unwrap();
            (tx, ok)
        }
    })
    .await;
    assert_eq!(got.iter().filter(|x| **x).count(), 2, "two of 40 000 fit in the duplicate's 100 000: {got:?}");
    let mut tx = s.begin().await.unwrap();
    assert!(!s.reserve_duplicate_refund(&mut tx, &pid, &second.id, 20_001).await.unwrap());
    assert!(s.reserve_duplicate_refund(&mut tx, &pid, &second.id, 20_000).await.unwrap());
    assert!(
        !s.reserve_duplicate_refund(&mut tx, &pid, &paying, 1).await.unwrap(),
        "the paying attempt is no duplicate"
    );
    tx.rollback().await.unwrap();
    assert_eq!(s.paying_attempt(&pid).await.unwrap().as_deref(), Some(paying.as_str()));
}

pub async fn concurrent_claims_of_one_idempotency_key_do_the_work_once(ctx: Ctx) {
    let s = &ctx.store;
    // Eight requests with one key: four with one body, four with another.
    let got = race(&ctx, 8, move |i, s, mut tx| async move {
        let hash = if i % 2 == 0 { "hash-a" } else { "hash-b" };
        let claim = s.claim_idempotency(&mut tx, "portal-a:payments", "key-1", hash).await.unwrap();
        let out = match claim {
            Claim::Owned => {
                s.save_idempotent(&mut tx, "portal-a:payments", "key-1", 201, &format!("{{\"by\":{i}}}"))
                    .await
                    .unwrap();
                Ok(hash)
            }
            Claim::Used { request_hash, status, response } => Err((hash, request_hash, status, response)),
        };
        (tx, out)
    })
    .await;
    let owners: Vec<&str> = got.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    assert_eq!(owners.len(), 1, "one request owns the key");
    let owner_index = got.iter().position(|r| r.is_ok()).unwrap();
    let (mut replays, mut conflicts) = (0, 0);
    for r in got.iter().filter_map(|r| r.as_ref().err()) {
        let (mine, theirs, status, response) = r;
        assert_eq!(*theirs, owners[0], "the saved request hash is the owner's");
        assert_eq!(
            (*status, response.as_str()),
            (201, format!("{{\"by\":{owner_index}}}").as_str()),
            "the saved answer"
        );
        if mine == theirs {
            replays += 1;
        } else {
            conflicts += 1;
        }
    }
    assert_eq!((replays, conflicts), (3, 4), "same body: replay; other body: conflict");

    // Keys are per scope; a claim rolled back leaves the key free.
    let mut tx = s.begin().await.unwrap();
    assert!(matches!(s.claim_idempotency(&mut tx, "portal-b:payments", "key-1", "h").await.unwrap(), Claim::Owned));
    assert!(matches!(s.claim_idempotency(&mut tx, "portal-b:refunds", "key-2", "h").await.unwrap(), Claim::Owned));
    tx.rollback().await.unwrap();
    let mut tx = s.begin().await.unwrap();
    assert!(matches!(s.claim_idempotency(&mut tx, "portal-b:refunds", "key-2", "h2").await.unwrap(), Claim::Owned));
    tx.commit().await.unwrap();
}
