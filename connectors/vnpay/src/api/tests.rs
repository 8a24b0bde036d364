//! Mapping of verified merchant-API answers to feegate's outcomes.

use super::*;

fn msg(pairs: &[(&str, &str)]) -> Fields {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn request_ids_are_short_alphanumeric_and_distinct() {
    let (a, b) = (request_id(), request_id());
    assert_ne!(a, b);
    assert!(a.len() <= 32 && a.bytes().all(|c| c.is_ascii_alphanumeric()));
}

#[test]
fn a_paid_payment_queries_as_succeeded_with_its_amount_and_number() {
    let m = msg(&[
        ("vnp_TransactionType", "01"),
        ("vnp_TransactionStatus", "00"),
        ("vnp_Amount", "13500000"),
        ("vnp_TransactionNo", "14422574"),
    ]);
    assert_eq!(
        query_result(&m, None).unwrap(),
        QueryResult { outcome: Outcome::Succeeded, gateway_txn: Some("14422574".into()), amount: Some(135_000) }
    );
}

#[test]
fn payment_statuses_map_to_pending_failed_or_bad_response() {
    let with = |s: &str| query_result(&msg(&[("vnp_TransactionType", "01"), ("vnp_TransactionStatus", s)]), None);
    assert_eq!(with("01").unwrap().outcome, Outcome::Pending);
    assert_eq!(with("07").unwrap().outcome, Outcome::Pending);
    assert!(matches!(with("02").unwrap().outcome, Outcome::Failed { code, .. } if code == "02"));
    assert!(matches!(with("04").unwrap().outcome, Outcome::Failed { .. }));
    assert!(matches!(with("05"), Err(ConnectorError::BadResponse(_))));
    assert!(matches!(with("88"), Err(ConnectorError::BadResponse(_))));
    assert!(matches!(with(""), Err(ConnectorError::BadResponse(_))));
}

#[test]
fn a_query_with_an_unusable_amount_or_type_is_a_bad_response() {
    let m = msg(&[("vnp_TransactionType", "01"), ("vnp_TransactionStatus", "00"), ("vnp_Amount", "12345")]);
    assert!(matches!(query_result(&m, None), Err(ConnectorError::BadResponse(_))));
    let m = msg(&[("vnp_TransactionType", "09"), ("vnp_TransactionStatus", "00")]);
    assert!(matches!(query_result(&m, None), Err(ConnectorError::BadResponse(_))));
}

#[test]
fn unsure_a_refund_shown_by_querydr_means_the_payment_was_paid() {
    let m = msg(&[("vnp_TransactionType", "03"), ("vnp_TransactionStatus", "00"), ("vnp_Amount", "5000000")]);
    let q = query_result(&m, Some("77".into())).unwrap();
    assert_eq!((q.outcome, q.gateway_txn, q.amount), (Outcome::Succeeded, Some("77".into()), None));
}

#[test]
fn refund_answers_map_codes_and_statuses() {
    let ok = |s: &str| {
        refund_result(&msg(&[("vnp_ResponseCode", "00"), ("vnp_TransactionStatus", s), ("vnp_TransactionNo", "9")]))
    };
    assert_eq!(
        ok("00").unwrap(),
        RefundResult { outcome: RefundOutcome::Succeeded, gateway_refund_ref: Some("9".into()) }
    );
    assert_eq!(ok("05").unwrap().outcome, RefundOutcome::Pending);
    assert_eq!(ok("06").unwrap().outcome, RefundOutcome::Pending);
    assert_eq!(ok("").unwrap().outcome, RefundOutcome::Pending);
    assert!(matches!(ok("09").unwrap().outcome, RefundOutcome::Failed { .. }));
    assert!(matches!(ok("zz"), Err(ConnectorError::BadResponse(_))));
    let code = |c: &str| refund_result(&msg(&[("vnp_ResponseCode", c), ("vnp_Message", "m")]));
    assert_eq!(code("94").unwrap().outcome, RefundOutcome::Pending);
    for c in ["02", "03", "91", "95", "97", "42", ""] {
        assert!(matches!(code(c), Err(ConnectorError::Rejected { code, .. }) if code == c), "{c}");
    }
}

#[test]
fn unsure_a_refund_answered_99_other_error_stays_pending_because_99_does_not_say_it_was_refused() {
    let r = refund_result(&msg(&[("vnp_ResponseCode", "99"), ("vnp_Message", "Unexpected error")])).unwrap();
    assert_eq!(r, RefundResult { outcome: RefundOutcome::Pending, gateway_refund_ref: None });
}

fn shown(t: &str, s: &str, a: &str, no: &str) -> Fields {
    msg(&[("vnp_TransactionType", t), ("vnp_TransactionStatus", s), ("vnp_Amount", a), ("vnp_TransactionNo", no)])
}

#[test]
fn refund_query_reads_the_refund_off_querydr_by_its_vnpay_number() {
    let ours = Some("7001");
    let q = |m: &Fields| refund_query_result(m, ours);
    assert_eq!(
        q(&shown("03", "00", "5000000", "7001")).unwrap(),
        RefundResult { outcome: RefundOutcome::Succeeded, gateway_refund_ref: Some("7001".into()) }
    );
    assert_eq!(q(&shown("02", "05", "13500000", "7001")).unwrap().outcome, RefundOutcome::Pending);
    assert!(matches!(q(&shown("03", "09", "5000000", "7001")).unwrap().outcome, RefundOutcome::Failed { .. }));
    // Another refund is shown, or the payment itself (even with a refund state on it): ours
    // cannot be told, so it stays pending.
    assert_eq!(q(&shown("03", "00", "5000000", "7002")).unwrap().outcome, RefundOutcome::Pending);
    assert_eq!(q(&shown("03", "09", "5000000", "7002")).unwrap().outcome, RefundOutcome::Pending);
    assert_eq!(q(&shown("03", "00", "5000000", "")).unwrap().outcome, RefundOutcome::Pending);
    assert_eq!(q(&shown("01", "00", "13500000", "14422574")).unwrap().outcome, RefundOutcome::Pending);
    assert_eq!(q(&shown("01", "05", "13500000", "14422574")).unwrap().outcome, RefundOutcome::Pending);
    assert_eq!(q(&shown("01", "09", "13500000", "14422574")).unwrap().outcome, RefundOutcome::Pending);
    assert!(matches!(q(&shown("03", "zz", "5000000", "7001")), Err(ConnectorError::BadResponse(_))));
    assert!(matches!(q(&shown("77", "00", "5000000", "7001")), Err(ConnectorError::BadResponse(_))));
}

#[test]
fn two_equal_partial_refunds_are_told_apart_by_their_vnpay_numbers_never_by_amount() {
    // VNPay shows refund 7002 of 50 000 đồng: it settles refund 7002 only, not the other
    // refund of the same amount, nor one whose number the lost refund answer never gave.
    let answer = shown("03", "00", "5000000", "7002");
    assert_eq!(refund_query_result(&answer, Some("7002")).unwrap().outcome, RefundOutcome::Succeeded);
    assert_eq!(refund_query_result(&answer, Some("7001")).unwrap().outcome, RefundOutcome::Pending);
    assert_eq!(refund_query_result(&answer, None).unwrap().outcome, RefundOutcome::Pending);
    let failed = shown("03", "09", "5000000", "7002");
    assert_eq!(refund_query_result(&failed, Some("7001")).unwrap().outcome, RefundOutcome::Pending);
    assert_eq!(refund_query_result(&failed, None).unwrap().outcome, RefundOutcome::Pending);
}
