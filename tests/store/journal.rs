//! The audit chain, reviews (cases) and their dedupe, and reconciliation runs.

use crate::harness::*;
use feegate::domain::recon::{counts, reconcile, Lines, Outcome, Records};
use feegate::store::audit::GENESIS;
use feegate::store::cases::{CaseFilter, CaseStatus, Resolution};
use feegate::store::recon::RunRow;
use feegate::store::{now_ms, StoreError};
use feegate_connector::{SettlementKind, SettlementLine};
use serde_json::json;

pub async fn concurrent_appends_to_one_chain_keep_it_contiguous_and_verifiable(ctx: Ctx) {
    let s = &ctx.store;
    // Five rounds of eight transactions at once, each appending to the same chain (and
    // every other one to a second chain as well).
    for round in 0..5 {
        race(&ctx, 8, move |i, s, mut tx| async move {
            let payload = json!({"round": round, "task": i});
            s.audit(&mut tx, "pay_shared", "payment.transition", &format!("task-{i}"), &payload).await.unwrap();
            if i % 2 == 0 {
                s.audit(&mut tx, "admin", "key.created", "admin", &payload).await.unwrap();
            }
            (tx, ())
        })
        .await;
    }
    let chain = s.audit_entries("pay_shared").await.unwrap();
    assert_eq!(chain.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<i64>>(), "no gap, no repeat");
    let mut prev = GENESIS.to_owned();
    for e in &chain {
        assert_eq!(e.prev_hash, prev, "entry {} follows entry {}", e.seq, e.seq - 1);
        prev = e.hash.clone();
    }
    let mut seen: Vec<String> = chain.iter().map(|e| e.payload.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 40, "every append is there once");
    assert_eq!(s.audit_entries("admin").await.unwrap().len(), 20);
    assert_eq!(s.verify_audit().await.unwrap(), Ok(60));
}

pub async fn tampering_with_an_audit_row_breaks_verification(ctx: Ctx) {
    let s = &ctx.store;
    let mut tx = s.begin().await.unwrap();
    for scope in ["pay_a", "pay_b", "pay_c"] {
        for n in 0..4 {
            s.audit(&mut tx, scope, "payment.transition", "system", &json!({"n": n, "amount": 135000})).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    assert_eq!(s.verify_audit().await.unwrap(), Ok(12));

    // An altered payload.
    let b3 = s.audit_entries("pay_b").await.unwrap().remove(2);
    let altered = format!("UPDATE audit_log SET payload = '{{\"n\":2,\"amount\":1}}' WHERE id = '{}'", b3.id);
    assert_eq!(ctx.tamper(&altered).await, 1);
    let broken = s.verify_audit().await.unwrap().expect_err("an altered row is found");
    assert_eq!((broken.id.as_str(), broken.scope.as_str(), broken.seq), (b3.id.as_str(), "pay_b", 3), "{broken:?}");
    assert!(broken.reason.contains("altered"), "{}", broken.reason);
    // Put back as it was, the chain fits again: the check is the content, not a flag.
    let restored = format!("UPDATE audit_log SET payload = '{}' WHERE id = '{}'", b3.payload, b3.id);
    assert_eq!(ctx.tamper(&restored).await, 1);
    assert_eq!(s.verify_audit().await.unwrap(), Ok(12));

    // A removed row.
    let c2 = s.audit_entries("pay_c").await.unwrap().remove(1);
    assert_eq!(ctx.tamper(&format!("DELETE FROM audit_log WHERE id = '{}'", c2.id)).await, 1);
    let broken = s.verify_audit().await.unwrap().expect_err("a removed row is found");
    assert_eq!((broken.scope.as_str(), broken.seq), ("pay_c", 3), "{broken:?}");
    assert!(broken.reason.contains("missing"), "{}", broken.reason);
}

pub async fn the_same_dedupe_key_opens_one_review_case(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let pid = new_payment(s, &account, 135_000, "succeeded").await;
    let a = attempt_row(&pid, "sandbox", "succeeded", 135_000);
    insert_attempts(s, &[&a]).await;
    let (p, key) = (pid.clone(), format!("{}:second_success", a.id));
    let opened = race(&ctx, 8, move |i, s, mut tx| {
        let (p, key) = (p.clone(), key.clone());
        async move {
            let id =
                s.open_review(&mut tx, &p, "second_success", &format!("seen by {i}"), &key, "system").await.unwrap();
            (tx, id)
        }
    })
    .await;
    let ids: Vec<String> = opened.into_iter().flatten().collect();
    assert_eq!(ids.len(), 1, "one review for one fact");
    let review = ids[0].clone();
    let payment = s.payment(&pid).await.unwrap().unwrap();
    assert_eq!(payment.review_reason.as_deref(), Some("second_success"));
    assert!(payment.review_opened_at.is_some());

    // Another fact about the same payment is a second case.
    let mut tx = s.begin().await.unwrap();
    let other = s.open_review(&mut tx, &pid, "amount_mismatch", "153000 paid", "att:amount", "system").await.unwrap();
    let other = other.expect("a new fact opens a new review");
    assert!(s.open_review(&mut tx, &pid, "amount_mismatch", "again", "att:amount", "system").await.unwrap().is_none());
    tx.commit().await.unwrap();
    assert_eq!(s.payment(&pid).await.unwrap().unwrap().review_reason.as_deref(), Some("amount_mismatch"));
    let filter = |status| CaseFilter { status, source: None, date: None, day: None, limit: 100 };
    let open = s.review_cases(&filter(CaseStatus::Open)).await.unwrap();
    let mut open_ids: Vec<String> = open.iter().map(|c| c.review_id.clone()).collect();
    open_ids.sort();
    let mut want = vec![review.clone(), other.clone()];
    want.sort();
    assert_eq!(open_ids, want);
    assert!(open.iter().all(|c| c.id == pid && c.source.as_deref() == Some("sandbox") && c.amount == 135_000));

    // Resolving: of four people at once, the first resolution stands.
    let case = review.clone();
    let done = race(&ctx, 4, move |i, s, mut tx| {
        let case = case.clone();
        async move {
            let who = format!("finance-{i}");
            let r = Resolution {
                case_id: &case,
                code: "refunded",
                note: "đã hoàn",
                resolved_by: &who,
                resolved_at: now_ms(),
            };
            let ok = s.insert_resolution(&mut tx, &r).await.unwrap();
            (tx, ok.then_some(who))
        }
    })
    .await;
    let winners: Vec<String> = done.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1);
    let resolved = s.review_cases(&filter(CaseStatus::Resolved)).await.unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!((&resolved[0].review_id, resolved[0].resolved_by.as_ref()), (&review, Some(&winners[0])));
    let open = s.review_cases(&filter(CaseStatus::Open)).await.unwrap();
    assert_eq!(open.iter().map(|c| c.review_id.clone()).collect::<Vec<_>>(), vec![other]);
    assert_eq!(s.review_cases(&filter(CaseStatus::All)).await.unwrap().len(), 2);
}

fn settlement_line(n: usize, reference: &str, amount: i64, succeeded: bool) -> SettlementLine {
    SettlementLine {
        line: n,
        reference: reference.into(),
        gateway_txn: format!("VNP{n:06}"),
        kind: SettlementKind::Pay,
        amount,
        fee: 1_100,
        succeeded,
        status: if succeeded { "00" } else { "02" }.into(),
        time: time::OffsetDateTime::UNIX_EPOCH,
    }
}

pub async fn a_reconciliation_run_reads_back_by_outcome(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let (source, date, day_start) = ("vnpay-main", "2026-11-27", 1_795_712_400_000i64);
    let day_end = day_start + 86_400_000;
    // Four succeeded collections of the day at this gateway, one at another gateway, one
    // of the day before.
    let mut ours = Vec::new();
    for (connector, at) in [(source, day_start + 1), (source, day_start + 2), (source, day_start + 3)]
        .into_iter()
        .chain([(source, day_start + 4), ("momo-main", day_start + 5), (source, day_start - 1)])
    {
        let pid = new_payment(s, &account, 135_000, "succeeded").await;
        let mut a = attempt_row(&pid, connector, "succeeded", 135_000);
        a.gateway_txn = Some(format!("T-{}", a.reference));
        a.updated_at = at;
        insert_attempts(s, &[&a]).await;
        ours.push(a);
    }
    let mut records = Records::default();
    s.recon_day_records(source, day_start, day_end, &mut records).await.unwrap();
    assert_eq!(records.len(), 4, "the day's collections at this gateway, no other");

    // The file: one matched, one with the wrong amount, the matched one again, one we do
    // not know; ours[3] is not in it.
    let lines = Lines::pack(vec![
        settlement_line(2, &ours[0].reference, 135_000, true),
        settlement_line(3, &ours[1].reference, 153_000, true),
        settlement_line(4, &ours[0].reference, 135_000, true),
        settlement_line(5, "FGUNKNOWN00", 50_000, true),
        settlement_line(6, &ours[2].reference, 135_000, true),
    ])
    .unwrap();
    let items = reconcile(&lines, &records, 0).unwrap();
    let n = counts(&items);
    let run = RunRow {
        id: feegate::domain::ids::new_id("rcn"),
        source: source.into(),
        business_date: date.into(),
        file_sha256: "ab".repeat(32),
        version: 0,
        status: "completed".into(),
        lines: lines.len() as i64,
        matched: n[0],
        missing_in_file: n[1],
        missing_in_feegate: n[2],
        amount_mismatch: n[3],
        status_mismatch: n[4],
        duplicate: n[5],
        created_by: "finance".into(),
        created_at: now_ms(),
        kind: "settlement".into(),
        account_id: None,
        statements: None,
    };
    let mut tx = s.begin().await.unwrap();
    assert!(s.lock_day(&mut tx, source, date).await.unwrap().is_none(), "the day is open");
    assert!(!s.recon_file_seen(&mut tx, source, date, &run.file_sha256).await.unwrap());
    let run = RunRow { version: s.next_recon_version(&mut tx, source, date).await.unwrap(), ..run };
    assert_eq!(run.version, 1);
    s.insert_recon_run(&mut tx, &run, &items, &lines, &records).await.unwrap();
    tx.commit().await.unwrap();

    let got = s.recon_run(&run.id).await.unwrap().expect("the run");
    assert_eq!(
        (got.lines, got.matched, got.missing_in_file, got.missing_in_feegate, got.amount_mismatch, got.duplicate),
        (5, 2, 1, 1, 1, 1)
    );
    assert_eq!(
        (got.source.as_str(), got.business_date.as_str(), got.version, got.kind.as_str()),
        (source, date, 1, "settlement")
    );
    let all = s.recon_items(&run.id, None).await.unwrap();
    assert_eq!(all.len(), 6, "five lines and the record the file lacks");
    assert_eq!(all.iter().map(|i| i.idx).collect::<Vec<_>>(), (0..6).collect::<Vec<i64>>(), "in file order");
    let run_id = run.id.as_str();
    let by = |o: Outcome| async move { s.recon_items(run_id, Some(o.as_str())).await.unwrap() };
    let matched = by(Outcome::Matched).await;
    let mut refs: Vec<&str> = matched.iter().map(|i| i.reference.as_str()).collect();
    refs.sort();
    let mut want = vec![ours[0].reference.as_str(), ours[2].reference.as_str()];
    want.sort();
    assert_eq!(refs, want);
    assert!(matched.iter().all(|i| i.attempt_id.is_some() && i.payment_id.is_some() && i.fee == Some(1_100)));
    let mismatch = by(Outcome::AmountMismatch).await;
    assert_eq!(mismatch.len(), 1);
    let m = &mismatch[0];
    assert_eq!(
        (
            m.reference.as_str(),
            m.amount_file,
            m.amount_feegate,
            m.attempt_id.as_deref(),
            m.payment_id.as_deref(),
            m.line
        ),
        (
            ours[1].reference.as_str(),
            Some(153_000),
            Some(135_000),
            Some(ours[1].id.as_str()),
            Some(ours[1].payment_id.as_str()),
            Some(3)
        )
    );
    assert!(!m.reason.is_empty());
    let missing = by(Outcome::MissingInFile).await;
    assert_eq!((missing.len(), missing[0].reference.as_str(), missing[0].line), (1, ours[3].reference.as_str(), None));
    let unknown = by(Outcome::MissingInFeegate).await;
    assert_eq!(
        (unknown.len(), unknown[0].reference.as_str(), unknown[0].payment_id.as_deref()),
        (1, "FGUNKNOWN00", None)
    );
    assert_eq!(by(Outcome::Duplicate).await.len(), 1);
    assert!(by(Outcome::StatusMismatch).await.is_empty());

    // The same file and version again is a conflict; the run is found by its file.
    let mut tx = s.begin().await.unwrap();
    let again = s
        .insert_recon_run(
            &mut tx,
            &RunRow { id: feegate::domain::ids::new_id("rcn"), ..run.clone() },
            &[],
            &lines,
            &records,
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    tx.rollback().await.unwrap();
    assert_eq!(s.latest_recon_run(source, date, &run.file_sha256).await.unwrap().map(|r| r.id), Some(run.id.clone()));
    assert_eq!(s.recon_runs(Some(source), None, 10).await.unwrap().len(), 1);
    // Every item that is not matched is an open case.
    let cases = s
        .item_cases(&CaseFilter {
            status: CaseStatus::Open,
            source: Some(source.into()),
            date: None,
            day: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(cases.len(), 4);
}
