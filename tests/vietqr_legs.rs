//! VietQR for a dossier whose lines go to two beneficiary accounts (a charge to the
//! treasury, a fee to the agency's bank account): one transfer per account, each with its
//! own QR code, amount and transfer content; the payment is paid when every leg has
//! arrived; a missing leg after the deadline is a review and the legs that arrived are
//! refundable. Bank credits are written by hand and signed with the demo notify secret.

mod common;
use common::*;
use serde_json::{json, Value};

/// A charge of 135 000 (to the treasury) and a fee of 50 000 (to the agency's bank).
fn two_account_body() -> Value {
    let mut body = payment_body();
    body["lines"] = json!([
        {"kind": "charge", "code": "LP", "description": "Lệ phí cấp đổi GPLX", "amount": "135000"},
        {"kind": "fee", "code": "P", "description": "Phí thẩm định", "amount": "50000"}
    ]);
    body
}

/// One leg of a started transfer, as the API's action gives it.
#[derive(Debug, Clone, PartialEq)]
struct Leg {
    attempt_id: String,
    reference: String,
    amount: i64,
    bin: String,
    account: String,
}

fn legs_of(action: &Value) -> Vec<Leg> {
    assert_eq!(action["type"], "transfers", "{action}");
    action["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Leg {
            attempt_id: t["attempt_id"].as_str().unwrap().to_owned(),
            reference: t["transfer"]["content"].as_str().unwrap().to_owned(),
            amount: t["transfer"]["amount"].as_i64().unwrap(),
            bin: t["transfer"]["bank_bin"].as_str().unwrap().to_owned(),
            account: t["transfer"]["account_number"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// A two-account payment with its VietQR legs started: (payment id, legs).
async fn started(app: &TestApp) -> (String, Vec<Leg>) {
    let id = app.create_payment(&two_account_body()).await["id"].as_str().unwrap().to_owned();
    let legs = legs_of(&start_attempt(app, &id, "vietqr").await);
    (id, legs)
}

async fn arrive(app: &TestApp, leg: &Leg, txn: &str) -> u16 {
    vietqr_credit(&app.url, &leg.reference, leg.amount, txn, &leg.bin, &leg.account).await
}

async fn review_reasons(app: &TestApp, id: &str) -> Vec<String> {
    let r = app.get("/v1/cases?kind=review&status=all&limit=200", &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|c| c["payment_id"] == id)
        .map(|c| c["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn refund(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let r = app.post(&format!("/v1/payments/{id}/refunds"), &app.finance_key).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_payment_to_two_accounts_is_two_transfers_and_is_paid_when_both_have_arrived() {
    let app = TestApp::spawn().await;
    let p = app.create_payment(&two_account_body()).await;
    let id = p["id"].as_str().unwrap();
    let legs = legs_of(&start_attempt(&app, id, "vietqr").await);
    // One transfer per account, each with the lines routed to it, in the lines' order.
    assert_eq!(legs.len(), 2);
    assert_eq!((legs[0].amount, legs[1].amount), (135_000, 50_000));
    assert_ne!(legs[0].reference, legs[1].reference, "each leg has its own transfer content");
    assert_ne!(legs[0].account, legs[1].account, "each leg goes to its own account");
    let p = app.payment(id).await;
    let attempts = p["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 2);
    for (a, l) in attempts.iter().zip(["1", "2"]) {
        assert_eq!(a["leg_group"], legs[0].attempt_id.as_str(), "{a}");
        assert_eq!(a["leg"].to_string(), l);
        assert_eq!(a["status"], "pending");
    }
    assert_eq!(attempts.iter().find(|a| a["leg"] == 1).unwrap()["account_id"], p["lines"][0]["account_id"]);
    assert_eq!(attempts.iter().find(|a| a["leg"] == 2).unwrap()["account_id"], p["lines"][1]["account_id"]);

    // "Pay" again (a reload, a second press): the same transfers, not a second set.
    assert_eq!(legs_of(&start_attempt(&app, id, "vietqr").await), legs);
    assert_eq!(app.payment(id).await["attempts"].as_array().unwrap().len(), 2);

    // The first leg arrives (twice: the bank retries): the payment waits for the other.
    assert_eq!(arrive(&app, &legs[0], "FT001").await, 200);
    assert_eq!(arrive(&app, &legs[0], "FT001").await, 200);
    let p = app.payment(id).await;
    assert_eq!(p["status"], "pending", "{p}");
    assert!(receipts_of(&app, id).await.is_empty(), "no receipt before every leg has arrived");
    assert_eq!(event_count(&app, id, "payment.succeeded").await, 0);
    // Another way to pay it now would collect the arrived part twice: refused.
    let r = app
        .post(&format!("/v1/payments/{id}/attempts"), &app.portal_key)
        .json(&json!({"connector": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "connector_not_applicable");

    // The second leg arrives: paid, once, with one receipt naming both transactions.
    assert_eq!(arrive(&app, &legs[1], "FT002").await, 200);
    let p = app.payment(id).await;
    assert_eq!(p["status"], "succeeded", "{p}");
    assert_eq!(event_count(&app, id, "payment.succeeded").await, 1);
    let rs = receipts_of(&app, id).await;
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert_eq!(rs[0]["amount"], 185_000, "{}", rs[0]);
    let page = app.client.get(rs[0]["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("FT001, FT002"), "the receipt names both transactions");
    // The bank's retry of the last leg changes nothing.
    assert_eq!(arrive(&app, &legs[1], "FT002").await, 200);
    assert_eq!(event_count(&app, id, "payment.succeeded").await, 1);
    assert_eq!(receipts_of(&app, id).await.len(), 1);
    // A second credit under a paid leg's content is money twice: a review, not a second payment.
    assert_eq!(arrive(&app, &legs[1], "FT003").await, 200);
    assert!(review_reasons(&app, id).await.contains(&"second_success".to_owned()));
    assert_eq!(event_count(&app, id, "payment.succeeded").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_leg_of_the_wrong_amount_is_raised_and_the_right_transfer_then_pays() {
    let app = TestApp::spawn().await;
    let (id, legs) = started(&app).await;
    assert_eq!(arrive(&app, &legs[0], "FT101").await, 200);
    let short = Leg { amount: 5_000, ..legs[1].clone() };
    assert_eq!(arrive(&app, &short, "FT102").await, 200);
    let p = app.payment(&id).await;
    assert_ne!(p["status"], "succeeded", "{p}");
    assert!(review_reasons(&app, &id).await.contains(&"amount_mismatch".to_owned()));
    // A leg credited to the other leg's account is not that leg's money.
    let elsewhere = Leg { bin: legs[0].bin.clone(), account: legs[0].account.clone(), ..legs[1].clone() };
    assert_eq!(arrive(&app, &elsewhere, "FT103").await, 200);
    assert_ne!(app.payment(&id).await["status"], "succeeded");
    assert!(review_reasons(&app, &id).await.contains(&"wrong_beneficiary".to_owned()));
    // The payer takes the transfer up again: the same legs, the closed one awaited anew.
    let again = legs_of(&start_attempt(&app, &id, "vietqr").await);
    assert_eq!(again, legs);
    assert_eq!(arrive(&app, &legs[1], "FT104").await, 200);
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "succeeded", "{p}");
    assert_eq!(receipts_of(&app, &id).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_missing_leg_at_the_deadline_expires_the_payment_for_review_and_the_arrived_leg_is_refundable() {
    let app = TestApp::spawn().await;
    let (id, legs) = started(&app).await;
    assert_eq!(arrive(&app, &legs[0], "FT201").await, 200);
    sqlx::query(&format!("UPDATE payments SET expires_at = {} WHERE id = $2", common::ts("$1")))
        .bind(feegate::store::now_ms() - 1_000)
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    feegate::service::expiry::run_once(&app.state).await.unwrap();
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "expired", "{p}");
    assert_eq!(p["review"]["reason"], "transfer_incomplete", "{p}");
    assert!(receipts_of(&app, &id).await.is_empty());
    let leg1 = p["attempts"].as_array().unwrap().iter().find(|a| a["leg"] == 1).unwrap().clone();
    let leg2 = p["attempts"].as_array().unwrap().iter().find(|a| a["leg"] == 2).unwrap().clone();
    assert_eq!((leg1["status"].as_str(), leg2["status"].as_str()), (Some("succeeded"), Some("expired")));

    // Nothing of the payment itself was paid, so only the leg that arrived can be refunded,
    // and no more than it brought.
    let (status, body) = refund(&app, &id, json!({"amount": "185000", "reason": "hồ sơ hết hạn"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("payment_not_refundable")), "{body}");
    let named = json!({"amount": "135001", "reason": "hồ sơ hết hạn", "attempt_id": legs[0].attempt_id});
    let (status, body) = refund(&app, &id, named).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("refund_exceeds_attempt")), "{body}");
    let (status, body) =
        refund(&app, &id, json!({"amount": "50000", "reason": "x", "attempt_id": legs[1].attempt_id})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("attempt_not_refundable")), "{body}");
    let named = json!({"amount": "135000", "reason": "hồ sơ hết hạn", "attempt_id": legs[0].attempt_id});
    let (status, body) = refund(&app, &id, named).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!((body["status"].as_str(), body["duplicate"].as_bool()), (Some("pending_manual"), Some(true)), "{body}");
    assert_eq!(app.payment(&id).await["status"], "expired", "the refund of a leg leaves the payment as it is");

    // The missing leg arriving after the deadline is money for an expired payment: a review.
    assert_eq!(arrive(&app, &legs[1], "FT202").await, 200);
    assert_eq!(app.payment(&id).await["status"], "expired");
    assert!(review_reasons(&app, &id).await.contains(&"late_success".to_owned()));
    app.stop().await;
}

#[tokio::test]
async fn a_paid_two_account_payment_is_refunded_as_one_payment() {
    let app = TestApp::spawn().await;
    let (id, legs) = started(&app).await;
    assert_eq!(arrive(&app, &legs[1], "FT301").await, 200);
    assert_eq!(arrive(&app, &legs[0], "FT302").await, 200);
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    // Naming the second leg is naming the payment: its refund is the payment's own.
    let named = json!({"amount": "185000", "reason": "rút hồ sơ", "attempt_id": legs[1].attempt_id});
    let (status, body) = refund(&app, &id, named).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!((body["status"].as_str(), body["duplicate"].as_bool()), (Some("pending_manual"), Some(false)), "{body}");
    assert_eq!(body["attempt_id"], legs[0].attempt_id.as_str(), "the payment's paying attempt is its first leg");
    let (status, body) = refund(&app, &id, json!({"amount": "1", "reason": "more"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("refund_exceeds_available")), "{body}");
    app.stop().await;
}

/// Both legs arrive at once, on one node or (PostgreSQL) on two: exactly one of them sees
/// the group complete, so the payment is paid once with one receipt, never left pending.
#[tokio::test]
async fn legs_arriving_at_the_same_moment_pay_the_payment_exactly_once() {
    let a = TestApp::spawn().await;
    let b = if on_postgres() { Some(TestApp::spawn_on(&a.db_url, &[]).await) } else { None };
    let other = b.as_ref().map(|b| b.url.clone()).unwrap_or_else(|| a.url.clone());
    for i in 0..12 {
        let (id, legs) = started(&a).await;
        let (l0, l1) = (&legs[0], &legs[1]);
        let (t0, t1) = (format!("FT4{i:02}A"), format!("FT4{i:02}B"));
        let (s0, s1) = tokio::join!(
            vietqr_credit(&a.url, &l0.reference, l0.amount, &t0, &l0.bin, &l0.account),
            vietqr_credit(&other, &l1.reference, l1.amount, &t1, &l1.bin, &l1.account)
        );
        // A node that lost the race for the payment's row may ask the bank to retry.
        for (s, l, t) in [(s0, l0, &t0), (s1, l1, &t1)] {
            if s != 200 {
                assert_eq!(s, 500, "a retry is asked for, never a refusal");
                assert_eq!(vietqr_credit(&a.url, &l.reference, l.amount, t, &l.bin, &l.account).await, 200);
            }
        }
        let p = a.payment(&id).await;
        assert_eq!(p["status"], "succeeded", "round {i}: {p}");
        assert_eq!(event_count(&a, &id, "payment.succeeded").await, 1, "round {i}");
        assert_eq!(receipts_of(&a, &id).await.len(), 1, "round {i}");
    }
    if let Some(b) = b {
        b.stop().await;
    }
    a.stop().await;
}

#[tokio::test]
async fn the_checkout_shows_one_qr_per_account_and_marks_each_leg_as_it_arrives() {
    let app = TestApp::spawn().await;
    let p = app.create_payment(&two_account_body()).await;
    let id = p["id"].as_str().unwrap();
    let page = app.client.get(p["checkout_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"vietqr\""), "VietQR is offered for two accounts");
    let next = app.choose(id, "vietqr").await;
    assert_eq!(next, format!("/checkout/{id}/transfer?lang=vi"));
    let url = format!("{}{next}", app.url);
    let page = app.client.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("data:image/svg+xml;base64,").count(), 2, "two QR codes");
    assert!(page.contains("135.000 ₫") && page.contains("50.000 ₫") && page.contains("185.000 ₫"));
    assert!(page.contains("Khoản 1/2") && page.contains("Khoản 2/2"));
    let legs = legs_of(&start_attempt(&app, id, "vietqr").await);
    for l in &legs {
        assert!(page.contains(&l.reference) && page.contains(&l.account), "{l:?}");
    }
    assert_eq!(arrive(&app, &legs[0], "FT501").await, 200);
    let page = app.client.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("data:image/svg+xml;base64,").count(), 1, "the arrived leg's code is gone");
    assert!(page.contains("Đã nhận") && page.contains("Đang chờ"));
    assert_eq!(arrive(&app, &legs[1], "FT502").await, 200);
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, format!("/checkout/{id}?lang=vi")));
    let page = app.client.get(p["checkout_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("FT501, FT502"), "the paid page names both transactions");
    app.stop().await;
}

/// A payer who opened another gateway before the transfers, paid one leg, then paid the
/// whole by that gateway: the payment is paid once, and the leg that arrived is raised for
/// a refund of its own.
#[tokio::test]
async fn a_leg_that_arrived_before_the_payment_was_paid_another_way_is_raised_and_refundable() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&two_account_body()).await["id"].as_str().unwrap().to_owned();
    start_attempt(&app, &id, "sandbox").await;
    let card = app.payment(&id).await["attempts"][0]["reference"].as_str().unwrap().to_owned();
    let legs = legs_of(&start_attempt(&app, &id, "vietqr").await);
    assert_eq!(arrive(&app, &legs[0], "FT601").await, 200);
    assert_eq!(sandbox_success(&app, &card, "SB601", 185_000).await, 200);
    let p = app.payment(&id).await;
    assert_eq!(p["status"], "succeeded", "{p}");
    assert_eq!(event_count(&app, &id, "payment.succeeded").await, 1);
    assert!(review_reasons(&app, &id).await.contains(&"second_success".to_owned()));
    let named = json!({"amount": "135000", "reason": "thu trùng", "attempt_id": legs[0].attempt_id});
    let (status, body) = refund(&app, &id, named).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["duplicate"], true, "{body}");
    app.stop().await;
}
