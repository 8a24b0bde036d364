//! Payments, lines and attempts: round trips, listing, and the guarded transitions with
//! their races.

use crate::harness::*;
use feegate::domain::payment::{AttemptStatus, PaymentStatus};
use feegate::store::now_ms;
use feegate::store::payments::{LineRow, PaymentFilter, PaymentRow};

pub async fn a_payment_with_lines_and_attempts_reads_back_field_by_field(ctx: Ctx) {
    let s = &ctx.store;
    let (account, other_account) = seed(s).await;
    let mut p = payment_row(185_000, "pending", 1_764_000_000_123);
    p.review_reason = Some("amount_mismatch".into());
    p.review_opened_at = Some(1_764_000_000_456);
    p.paid_at = Some(1_764_000_000_789);
    p.refunded_amount = 5_000;
    p.metadata = r#"{"ho_so":"H12.20-1","ghi_chú":"đã nộp"}"#.into();
    let lines = vec![
        LineRow {
            payment_id: p.id.clone(),
            idx: 0,
            kind: "charge".into(),
            code: "LP-GPLX".into(),
            description: "Lệ phí cấp đổi GPLX".into(),
            amount: 135_000,
            account_id: account.clone(),
        },
        LineRow {
            payment_id: p.id.clone(),
            idx: 1,
            kind: "fee".into(),
            code: "PHI-SH".into(),
            description: "Phí sát hạch".into(),
            amount: 50_000,
            account_id: other_account.clone(),
        },
    ];
    let mut tx = s.begin().await.unwrap();
    s.insert_payment(&mut tx, &p, &lines).await.unwrap();
    let mut a1 = attempt_row(&p.id, "vnpay-main", "failed", p.amount);
    a1.failure_code = Some("declined".into());
    a1.gateway_ref = Some("VNP-REF-1".into());
    a1.created_at = 1_764_000_001_000;
    let mut a2 = attempt_row(&p.id, "sandbox", "pending", p.amount);
    a2.action = r#"{"type":"redirect","url":"https://sim.example/pay"}"#.into();
    a2.gateway_txn = Some("TXN-2".into());
    a2.created_at = 1_764_000_002_000;
    s.insert_attempt(&mut tx, &a1).await.unwrap();
    s.insert_attempt(&mut tx, &a2).await.unwrap();
    tx.commit().await.unwrap();

    let got = s.payment(&p.id).await.unwrap().expect("the payment");
    assert_same_payment(&got, &p);
    let got_lines = s.lines(&p.id).await.unwrap();
    assert_eq!(got_lines.len(), 2);
    for (g, w) in got_lines.iter().zip(&lines) {
        assert_eq!(
            (&g.payment_id, g.idx, &g.kind, &g.code, &g.description, g.amount, &g.account_id),
            (&w.payment_id, w.idx, &w.kind, &w.code, &w.description, w.amount, &w.account_id)
        );
    }
    let got_attempts = s.attempts(&p.id).await.unwrap();
    assert_eq!(got_attempts.len(), 2, "both attempts, oldest first");
    for (g, w) in got_attempts.iter().zip([&a1, &a2]) {
        assert_eq!(
            (&g.id, &g.payment_id, &g.connector_id, &g.reference, &g.status, g.amount, &g.currency),
            (&w.id, &w.payment_id, &w.connector_id, &w.reference, &w.status, w.amount, &w.currency)
        );
        assert_eq!(
            (&g.gateway_ref, &g.gateway_txn, &g.failure_code),
            (&w.gateway_ref, &w.gateway_txn, &w.failure_code)
        );
        assert_eq!((&g.action, g.created_at, g.updated_at), (&w.action, w.created_at, w.updated_at));
    }
    let by_ref = s.attempt_by_reference(&a2.reference).await.unwrap().expect("by reference");
    assert_eq!(by_ref.id, a2.id);
    assert_eq!(by_ref.status(), AttemptStatus::Pending);
    assert!(s.payment("pay_missing").await.unwrap().is_none());

    // Reads inside a transaction see the same rows.
    let mut tx = s.begin().await.unwrap();
    assert_same_payment(&s.payment_in(&mut tx, &p.id).await.unwrap().expect("in tx"), &p);
    assert_eq!(s.lines_in(&mut tx, &p.id).await.unwrap().len(), 2);
    assert_eq!(s.attempts_in(&mut tx, &p.id).await.unwrap().len(), 2);
    assert_eq!(
        s.attempt_in(&mut tx, &a1.id).await.unwrap().expect("attempt").gateway_ref.as_deref(),
        Some("VNP-REF-1")
    );
    tx.rollback().await.unwrap();

    // A second payment reusing an attempt reference is refused by the unique constraint.
    let mut dup = attempt_row(&p.id, "sandbox", "pending", p.amount);
    dup.reference = a1.reference.clone();
    let mut tx = s.begin().await.unwrap();
    let err = s.insert_attempt(&mut tx, &dup).await.expect_err("a reference is unique");
    assert!(matches!(err, feegate::store::StoreError::Conflict), "{err:?}");
}

fn assert_same_payment(g: &PaymentRow, w: &PaymentRow) {
    assert_eq!(
        (&g.id, &g.portal_id, &g.agency_code, &g.dossier_code, &g.procedure_code, &g.description),
        (&w.id, &w.portal_id, &w.agency_code, &w.dossier_code, &w.procedure_code, &w.description)
    );
    assert_eq!(
        (&g.currency, g.amount, g.refunded_amount, &g.status),
        (&w.currency, w.amount, w.refunded_amount, &w.status)
    );
    assert_eq!((&g.payer, &g.return_url, &g.metadata), (&w.payer, &w.return_url, &w.metadata));
    assert_eq!((&g.review_reason, g.review_opened_at), (&w.review_reason, w.review_opened_at));
    assert_eq!(
        (g.created_at, g.updated_at, g.expires_at, g.paid_at),
        (w.created_at, w.updated_at, w.expires_at, w.paid_at)
    );
}

pub async fn listing_filters_and_keyset_pages_cover_every_payment_once(ctx: Ctx) {
    let s = &ctx.store;
    let (account, other_account) = seed(s).await;
    // 12 payments over 6 instants (two per instant, so pages must break ties by id), in
    // two agencies, two portals and two statuses.
    let base = 1_764_000_000_000;
    let mut all = Vec::new();
    for i in 0..12 {
        let mut p = payment_row(10_000 + i, if i % 3 == 0 { "succeeded" } else { "created" }, base + (i / 2) * 1000);
        let acc = if i % 4 == 0 {
            p.agency_code = OTHER_AGENCY.into();
            &other_account
        } else {
            &account
        };
        if i % 2 == 1 {
            p.portal_id = OTHER_PORTAL.into();
        }
        insert_payment(s, &p, acc).await;
        all.push(p);
    }
    // Newest first, ties by id descending.
    let mut want = all.clone();
    want.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let ids = |v: &[PaymentRow]| v.iter().map(|p| p.id.clone()).collect::<Vec<_>>();

    let whole = s.list_payments(&PaymentFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(ids(&whole), ids(&want));

    // Pages of 5: 5 + 5 + 2, each starting after the previous page's last row.
    let mut paged = Vec::new();
    let mut after = None;
    let mut pages = 0;
    // Bounded: a cursor that repeats its last row must fail here, not loop.
    for _ in 0..10 {
        let page =
            s.list_payments(&PaymentFilter { limit: 5, after: after.clone(), ..Default::default() }).await.unwrap();
        if page.is_empty() {
            break;
        }
        pages += 1;
        let last = page.last().unwrap();
        after = Some((last.created_at, last.id.clone()));
        paged.extend(page);
    }
    assert_eq!(pages, 3);
    assert_eq!(ids(&paged), ids(&want), "the pages together are the whole list, each row once");

    let check = |f: PaymentFilter, pred: &dyn Fn(&PaymentRow) -> bool| {
        let expected: Vec<String> = want.iter().filter(|p| pred(p)).map(|p| p.id.clone()).collect();
        async move {
            let got = s.list_payments(&f).await.unwrap();
            assert!(!expected.is_empty(), "the filter selects something");
            assert_eq!(ids(&got), expected, "{f:?}");
        }
    };
    let f = |g: &dyn Fn(&mut PaymentFilter)| {
        let mut x = PaymentFilter { limit: 100, ..Default::default() };
        g(&mut x);
        x
    };
    check(f(&|x| x.status = Some("succeeded".into())), &|p| p.status.as_str() == "succeeded").await;
    check(f(&|x| x.agency_code = Some(OTHER_AGENCY.into())), &|p| p.agency_code == OTHER_AGENCY).await;
    check(f(&|x| x.portal_id = Some(OTHER_PORTAL.into())), &|p| p.portal_id == OTHER_PORTAL).await;
    let dossier = all[7].dossier_code.clone();
    check(f(&|x| x.dossier_code = Some(dossier.clone())), &|p| p.dossier_code == dossier).await;
    check(f(&|x| x.created_from = Some(base + 2000)), &|p| p.created_at >= base + 2000).await;
    check(f(&|x| x.created_to = Some(base + 2000)), &|p| p.created_at < base + 2000).await;
    check(
        f(&|x| {
            x.portal_id = Some(PORTAL.into());
            x.status = Some("created".into());
            x.created_from = Some(base + 1000);
            x.created_to = Some(base + 5000);
        }),
        &|p| {
            p.portal_id == PORTAL
                && p.status.as_str() == "created"
                && p.created_at >= base + 1000
                && p.created_at < base + 5000
        },
    )
    .await;
    // A filtered listing pages too, inside its filter.
    let first = s
        .list_payments(&PaymentFilter { portal_id: Some(PORTAL.into()), limit: 4, ..Default::default() })
        .await
        .unwrap();
    let last = first.last().unwrap();
    let rest = s
        .list_payments(&PaymentFilter {
            portal_id: Some(PORTAL.into()),
            limit: 100,
            after: Some((last.created_at, last.id.clone())),
            ..Default::default()
        })
        .await
        .unwrap();
    let together: Vec<String> = first.iter().chain(&rest).map(|p| p.id.clone()).collect();
    let expected: Vec<String> = want.iter().filter(|p| p.portal_id == PORTAL).map(|p| p.id.clone()).collect();
    assert_eq!(together, expected);
}

pub async fn a_transition_from_a_wrong_state_changes_nothing(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let id = new_payment(s, &account, 135_000, "expired").await;
    let before = s.payment(&id).await.unwrap().unwrap();
    let mut tx = s.begin().await.unwrap();
    for to in [PaymentStatus::Succeeded, PaymentStatus::Pending, PaymentStatus::Cancelled, PaymentStatus::Refunded] {
        assert!(!s.transition_payment(&mut tx, &id, to, Some(now_ms())).await.unwrap(), "expired -> {to:?}");
    }
    tx.commit().await.unwrap();
    let after = s.payment(&id).await.unwrap().unwrap();
    assert_eq!((after.status.as_str(), after.paid_at, after.updated_at), ("expired", None, before.updated_at));

    // The allowed way works, and then its own source state is gone.
    let id = new_payment(s, &account, 135_000, "pending").await;
    let mut tx = s.begin().await.unwrap();
    assert!(s.transition_payment(&mut tx, &id, PaymentStatus::Succeeded, Some(42)).await.unwrap());
    assert!(!s.transition_payment(&mut tx, &id, PaymentStatus::Expired, None).await.unwrap());
    assert!(!s.transition_payment(&mut tx, &id, PaymentStatus::Succeeded, Some(43)).await.unwrap());
    tx.commit().await.unwrap();
    let p = s.payment(&id).await.unwrap().unwrap();
    assert_eq!((p.status(), p.paid_at), (PaymentStatus::Succeeded, Some(42)));
    assert!(!s
        .transition_payment(&mut s.begin().await.unwrap(), "pay_missing", PaymentStatus::Expired, None)
        .await
        .unwrap());
}

pub async fn two_concurrent_transitions_of_one_payment_have_one_winner(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    for round in 0..3 {
        let id = new_payment(s, &account, 135_000, "pending").await;
        // One task pays the payment, the other expires it, at the same moment.
        let pid = id.clone();
        let won = race(&ctx, 2, move |i, s, mut tx| {
            let id = pid.clone();
            async move {
                let to = if i == 0 { PaymentStatus::Succeeded } else { PaymentStatus::Expired };
                let paid_at = (i == 0).then_some(7);
                let won = s.transition_payment(&mut tx, &id, to, paid_at).await.unwrap();
                (tx, won.then_some(to))
            }
        })
        .await;
        let winners: Vec<PaymentStatus> = won.into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one transition wins: {winners:?}");
        let p = s.payment(&id).await.unwrap().unwrap();
        assert_eq!(p.status(), winners[0], "round {round}: the stored state is the winner's");
        assert_eq!(
            p.paid_at.is_some(),
            winners[0] == PaymentStatus::Succeeded,
            "round {round}: the loser wrote nothing"
        );
    }
}

pub async fn eight_racing_successes_of_one_attempt_have_one_winner(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let id = new_payment(s, &account, 135_000, "pending").await;
    let a = attempt_row(&id, "sandbox", "unknown", 135_000);
    insert_attempts(s, &[&a]).await;
    let aid = a.id.clone();
    let won = race(&ctx, 8, move |i, s, mut tx| {
        let aid = aid.clone();
        async move {
            let won = s.succeed_attempt(&mut tx, &aid, Some(&format!("TXN-{i}"))).await.unwrap();
            (tx, won)
        }
    })
    .await;
    let winners: Vec<usize> = won.iter().enumerate().filter(|(_, w)| **w).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "exactly one success: {won:?}");
    let got = s.attempt(&a.id).await.unwrap().unwrap();
    assert_eq!(got.status(), AttemptStatus::Succeeded);
    assert_eq!(got.gateway_txn, Some(format!("TXN-{}", winners[0])), "the winner's transaction number is kept");

    // A success may follow a failure we made for review (wrong amount), not any failure.
    let mut tx = s.begin().await.unwrap();
    let b = attempt_row(&id, "sandbox", "pending", 135_000);
    let c = attempt_row(&id, "sandbox", "pending", 135_000);
    s.insert_attempt(&mut tx, &b).await.unwrap();
    s.insert_attempt(&mut tx, &c).await.unwrap();
    assert!(s.finish_attempt(&mut tx, &b.id, AttemptStatus::Failed, None, Some("amount_mismatch")).await.unwrap());
    assert!(s.finish_attempt(&mut tx, &c.id, AttemptStatus::Failed, None, Some("declined")).await.unwrap());
    assert!(!s.finish_attempt(&mut tx, &c.id, AttemptStatus::Expired, None, None).await.unwrap(), "already final");
    assert!(s.succeed_attempt(&mut tx, &b.id, Some("TXN-B")).await.unwrap());
    assert!(!s.succeed_attempt(&mut tx, &c.id, Some("TXN-C")).await.unwrap());
    tx.commit().await.unwrap();
    let b = s.attempt(&b.id).await.unwrap().unwrap();
    assert_eq!((b.status.as_str(), b.failure_code.as_deref()), ("succeeded", None));
    let c = s.attempt(&c.id).await.unwrap().unwrap();
    assert_eq!((c.status.as_str(), c.failure_code.as_deref(), c.gateway_txn), ("failed", Some("declined"), None));
}

pub async fn closing_other_attempts_closes_only_the_open_ones(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let id = new_payment(s, &account, 135_000, "pending").await;
    let paid = attempt_row(&id, "vnpay-main", "pending", 135_000);
    let open = attempt_row(&id, "momo-main", "pending", 135_000);
    let unknown = attempt_row(&id, "zalopay-main", "unknown", 135_000);
    let mut failed = attempt_row(&id, "sandbox", "failed", 135_000);
    failed.failure_code = Some("declined".into());
    let other_payment = new_payment(s, &account, 135_000, "pending").await;
    let elsewhere = attempt_row(&other_payment, "sandbox", "pending", 135_000);
    insert_attempts(s, &[&paid, &open, &unknown, &failed, &elsewhere]).await;

    let mut tx = s.begin().await.unwrap();
    assert!(s.succeed_attempt(&mut tx, &paid.id, Some("TXN")).await.unwrap());
    assert_eq!(s.close_other_attempts(&mut tx, &id, &paid.id).await.unwrap(), 2, "the pending and the unknown one");
    assert_eq!(s.close_other_attempts(&mut tx, &id, &paid.id).await.unwrap(), 0, "nothing left open");
    tx.commit().await.unwrap();
    let status = |a: &feegate::store::payments::AttemptRow| (a.status.as_str().to_owned(), a.failure_code.clone());
    let got: Vec<_> = s.attempts(&id).await.unwrap().iter().map(|a| (a.id.clone(), status(a))).collect();
    let want = |a: &str, st: &str, code: Option<&str>| (a.to_owned(), (st.to_owned(), code.map(str::to_owned)));
    for w in [
        want(&paid.id, "succeeded", None),
        want(&open.id, "failed", Some("superseded")),
        want(&unknown.id, "failed", Some("superseded")),
        want(&failed.id, "failed", Some("declined")),
    ] {
        assert!(got.contains(&w), "{w:?} in {got:?}");
    }
    assert_eq!(
        s.attempt(&elsewhere.id).await.unwrap().unwrap().status.as_str(),
        "pending",
        "another payment's attempt"
    );
}

pub async fn two_attempts_succeeding_at_once_leave_one_paying_attempt(ctx: Ctx) {
    let s = &ctx.store;
    let (account, _) = seed(s).await;
    let id = new_payment(s, &account, 135_000, "pending").await;
    let a = attempt_row(&id, "vnpay-main", "pending", 135_000);
    let b = attempt_row(&id, "momo-main", "pending", 135_000);
    insert_attempts(s, &[&a, &b]).await;
    let (pid, ids) = (id.clone(), [a.id.clone(), b.id.clone()]);
    // Each success takes the payment first (the row both contend for), then its attempt,
    // then closes the other: the loser of the payment row writes nothing.
    let won = race(&ctx, 2, move |i, s, mut tx| {
        let (pid, mine) = (pid.clone(), ids[i].clone());
        async move {
            if !s.transition_payment(&mut tx, &pid, PaymentStatus::Succeeded, Some(now_ms())).await.unwrap() {
                return (tx, false);
            }
            assert!(s.succeed_attempt(&mut tx, &mine, None).await.unwrap());
            assert_eq!(s.close_other_attempts(&mut tx, &pid, &mine).await.unwrap(), 1);
            (tx, true)
        }
    })
    .await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let attempts = s.attempts(&id).await.unwrap();
    let succeeded: Vec<_> = attempts.iter().filter(|a| a.status.as_str() == "succeeded").collect();
    let superseded: Vec<_> = attempts.iter().filter(|a| a.failure_code.as_deref() == Some("superseded")).collect();
    assert_eq!((succeeded.len(), superseded.len()), (1, 1), "{attempts:?}");
    assert_eq!(succeeded[0].id, if won[0] { &a.id } else { &b.id }.clone());
}
