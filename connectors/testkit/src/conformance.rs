//! The conformance story every connector must pass against its simulator.
//!
//! A connector's test builds a [`Harness`] and calls [`run`]. The kit starts one HTTP
//! server on `127.0.0.1:0` carrying the simulator (under `/sim/<kind>`) and a
//! merchant-side callback endpoint (`/callbacks/test`) that plays feegate's core in
//! miniature: it verifies each notification through the connector, decides what a
//! correct core would decide, and answers with the connector's reply for that decision.
//!
//! The story: pay → verified callback → succeeded; decline → failed (by callback or by
//! query); forged signature → nothing changes; wrong amount → mismatch, not success;
//! duplicate and late callbacks → one transition; lost callback → the query finds the
//! outcome; query faults → typed transport errors; full and partial refunds (or a typed
//! `NotSupported`); the day's settlement file parsed into canonical lines.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use feegate_connector::sim::{SimFaults, SimPaid, SimPay};
use feegate_connector::{
    Action, Beneficiary, Connector, ConnectorError, Disposition, InboundRequest, Locale, Notification, Outcome,
    QueryRequest, RefundOutcome, RefundRequest, SettlementKind, StartRequest, VerifyError,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// Builds the connector under test: (simulator base URL, merchant callback URL, HTTP client).
pub type BuildConnector = Box<dyn Fn(&str, &str, reqwest::Client) -> Box<dyn Connector> + Send + Sync>;
/// Builds the simulator router: (simulator base URL, merchant callback URL).
pub type BuildSimulator = Box<dyn Fn(&str, &str) -> Router + Send + Sync>;

/// How to build the connector and its simulator for a run.
pub struct Harness {
    /// Gateway kind; the simulator is mounted at `/sim/<kind>`.
    pub kind: &'static str,
    /// Builds the connector given the simulator base URL (`http://127.0.0.1:P/sim/<kind>`)
    /// and the merchant callback URL (`http://127.0.0.1:P/callbacks/test`).
    /// The client passed has a 2 s timeout.
    pub connector: BuildConnector,
    /// Builds the simulator router given the same two URLs.
    pub simulator: BuildSimulator,
}

/// One callback as the miniature core saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub request: InboundRequest,
    pub verified: Result<Notification, VerifyError>,
    pub disposition: Disposition,
    pub reply_status: u16,
    pub reply_body: Vec<u8>,
}

#[derive(Default)]
struct MiniCore {
    /// reference -> (amount, final?)
    attempts: HashMap<String, (i64, bool)>,
    seen: Vec<Seen>,
}

type Shared = Arc<(Arc<dyn Connector>, Mutex<MiniCore>)>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, MiniCore> {
    s.1.lock().unwrap_or_else(|p| p.into_inner())
}

async fn callback(
    State(s): State<Shared>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = InboundRequest {
        method: method.to_string(),
        query: q.unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    let connector = Arc::clone(&s.0);
    let verified = connector.verify_callback(&request).map(|v| v.into_inner());
    let mut core = lock(&s);
    let disposition = match &verified {
        Err(VerifyError::BadSignature) => Disposition::BadSignature,
        Err(_) => Disposition::Malformed,
        Ok(n) => match core.attempts.get_mut(&n.reference) {
            None => Disposition::UnknownReference,
            Some((amount, _)) if *amount != n.amount => Disposition::AmountMismatch,
            Some((_, true)) => Disposition::AlreadyFinal,
            Some((_, done)) => {
                if n.outcome != Outcome::Pending {
                    *done = true;
                }
                Disposition::Applied
            }
        },
    };
    let reply = connector.callback_reply(disposition);
    core.seen.push(Seen { request, verified, disposition, reply_status: reply.status, reply_body: reply.body.clone() });
    let mut resp = (axum::http::StatusCode::from_u16(reply.status).unwrap_or_default(), reply.body).into_response();
    if let Some(ct) = reply.content_type {
        resp.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static(ct));
    }
    resp
}

/// A running kit: server, connector, simulator.
pub struct Kit {
    pub connector: Arc<dyn Connector>,
    pub sim_base: String,
    shared: Shared,
    http: reqwest::Client,
}

/// A fresh attempt reference in feegate's format: `FG` + 10 Crockford base32 characters
/// (digits and upper-case letters without I, L, O, U).
pub fn new_reference() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut out = String::from("FG");
    for _ in 0..10 {
        out.push(ALPHABET[(x & 31) as usize] as char);
        x >>= 5;
    }
    out
}

impl Kit {
    /// Starts the server and builds connector and simulator.
    pub async fn start(h: &Harness) -> Kit {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let sim_base = format!("{base}/sim/{}", h.kind);
        let cb = format!("{base}/callbacks/test");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
        let connector: Arc<dyn Connector> = Arc::from((h.connector)(&sim_base, &cb, client));
        let shared: Shared = Arc::new((Arc::clone(&connector), Mutex::new(MiniCore::default())));
        let callbacks = Router::new().route("/callbacks/test", any(callback)).with_state(Arc::clone(&shared));
        let app = Router::new().nest(&format!("/sim/{}", h.kind), (h.simulator)(&sim_base, &cb)).merge(callbacks);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Kit { connector, sim_base, shared, http }
    }

    /// Switches simulator faults.
    pub async fn faults(&self, f: SimFaults) {
        let r = self.http.put(format!("{}/_control/faults", self.sim_base)).json(&f).send().await.expect("faults");
        assert!(r.status().is_success(), "setting faults failed: {}", r.status());
    }

    /// Starts an attempt of `amount` and opens its pay page as a browser would.
    pub async fn start_attempt(&self, amount: i64) -> (String, Action) {
        let reference = new_reference();
        lock(&self.shared).attempts.insert(reference.clone(), (amount, false));
        let now = OffsetDateTime::now_utc();
        let req = StartRequest {
            reference: reference.clone(),
            payment_id: format!("pay_{reference}"),
            amount,
            currency: "VND".into(),
            description: "Lệ phí cấp đổi giấy phép lái xe".into(),
            created_at: now,
            expires_at: now + Duration::from_secs(900),
            return_url: format!("{}/../../return/test", self.sim_base),
            notify_url: format!("{}/../../callbacks/test", self.sim_base),
            payer_ip: Some("127.0.0.1".into()),
            locale: Locale::Vi,
            beneficiary: Some(Beneficiary {
                bank_bin: "970415".into(),
                bank_name: "VietinBank".into(),
                account_number: "113366668888".into(),
                account_name: "SO GIAO THONG VAN TAI".into(),
            }),
        };
        let started = self.connector.start(&req).await.expect("start must succeed against the simulator");
        let page = match &started.action {
            Action::Redirect { url } => url.clone(),
            Action::Qr { payload, .. } => {
                let enc: String = url::form_urlencoded::byte_serialize(payload.as_bytes()).collect();
                format!("{}/app?payload={enc}", self.sim_base)
            }
            Action::Transfers { .. } => panic!("a connector never answers start with several transfers"),
        };
        let r = self.http.get(&page).send().await.expect("pay page");
        assert_eq!(r.status().as_u16(), 200, "pay page {page} must answer 200");
        (reference, started.action)
    }

    /// The payer approves or declines.
    pub async fn pay(&self, reference: &str, success: bool) -> SimPaid {
        let body = SimPay { order_ref: reference.into(), outcome: if success { "success" } else { "failure" }.into() };
        let r = self.http.post(format!("{}/_control/pay", self.sim_base)).json(&body).send().await.expect("pay");
        assert!(r.status().is_success(), "control/pay failed: {}", r.status());
        r.json().await.expect("SimPaid")
    }

    /// Callbacks seen so far for `reference` (verified ones by reference; unverified ones
    /// are returned by [`Kit::unverified`]).
    pub fn seen_for(&self, reference: &str) -> Vec<Seen> {
        lock(&self.shared)
            .seen
            .iter()
            .filter(|s| matches!(&s.verified, Ok(n) if n.reference == reference))
            .cloned()
            .collect()
    }

    /// Callbacks that did not verify.
    pub fn unverified(&self) -> Vec<Seen> {
        lock(&self.shared).seen.iter().filter(|s| s.verified.is_err()).cloned().collect()
    }

    /// Waits up to 3 s for `n` callbacks matching `pred`.
    pub async fn wait_for(&self, n: usize, pred: impl Fn(&Seen) -> bool) -> Vec<Seen> {
        for _ in 0..60 {
            let got: Vec<Seen> = lock(&self.shared).seen.iter().filter(|s| pred(s)).cloned().collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        lock(&self.shared).seen.iter().filter(|s| pred(s)).cloned().collect()
    }

    /// Whether the miniature core holds `reference` as final.
    pub fn is_final(&self, reference: &str) -> bool {
        lock(&self.shared).attempts.get(reference).map(|a| a.1).unwrap_or(false)
    }

    /// A status query for an attempt of this kit.
    pub fn query_request(&self, reference: &str, amount: i64) -> QueryRequest {
        QueryRequest {
            reference: reference.into(),
            gateway_txn: self.seen_for(reference).iter().find_map(|s| s.verified.as_ref().ok()?.gateway_txn.clone()),
            amount,
            created_at: OffsetDateTime::now_utc(),
        }
    }

    /// A refund request for a paid attempt.
    pub fn refund_request(&self, reference: &str, txn: Option<String>, amount: i64, original: i64) -> RefundRequest {
        RefundRequest {
            refund_reference: new_reference().replacen("FG", "RF", 1),
            gateway_refund_ref: None,
            payment_reference: reference.into(),
            gateway_txn: txn,
            amount,
            original_amount: original,
            reason: "Hoàn phí do hồ sơ bị từ chối".into(),
            payment_created_at: OffsetDateTime::now_utc(),
            requested_by: "finance".into(),
            requested_at: OffsetDateTime::now_utc(),
        }
    }

    /// The day's settlement file from the simulator.
    pub async fn settlement_file(&self) -> Vec<u8> {
        let day = OffsetDateTime::now_utc().to_offset(crate::simkit::VN).date();
        let r = self
            .http
            .get(format!("{}/_control/settlement?date={day}", self.sim_base))
            .send()
            .await
            .expect("settlement");
        assert!(r.status().is_success());
        r.bytes().await.expect("settlement body").to_vec()
    }
}

const AMOUNT: i64 = 135_000;

fn assert_reply(kit: &Kit, seen: &Seen, d: Disposition) {
    assert_eq!(seen.disposition, d, "disposition of {:?}", seen.request);
    let expected = kit.connector.callback_reply(d);
    assert_eq!((seen.reply_status, &seen.reply_body), (expected.status, &expected.body));
}

/// Runs the whole conformance story; panics with the step that failed.
pub async fn run(h: Harness) {
    let kit = Kit::start(&h).await;
    let paid = pay_succeeds(&kit).await;
    decline_fails(&kit).await;
    forged_signature_changes_nothing(&kit).await;
    wrong_amount_is_a_mismatch(&kit).await;
    duplicate_callbacks_apply_once(&kit).await;
    late_callback_after_return_applies(&kit).await;
    lost_callback_is_found_by_query(&kit).await;
    query_faults_are_transport_errors(&kit).await;
    let refunds = refunds_work_or_are_not_supported(&kit, &paid).await;
    settlement_file_parses(&kit, &paid, &refunds).await;
}

/// pay → verified callback → succeeded; the browser return verifies; the query agrees.
pub async fn pay_succeeds(kit: &Kit) -> Vec<(String, Option<String>)> {
    let (reference, _) = kit.start_attempt(AMOUNT).await;
    let paid = kit.pay(&reference, true).await;
    let seen = kit.wait_for(1, |s| matches!(&s.verified, Ok(n) if n.reference == reference)).await;
    assert_eq!(seen.len(), 1, "exactly one verified callback for a successful payment");
    let n = seen[0].verified.as_ref().expect("verified");
    assert_eq!((n.amount, n.currency.as_str(), &n.outcome), (AMOUNT, "VND", &Outcome::Succeeded));
    assert!(n.gateway_txn.is_some(), "a success names the gateway transaction");
    assert_reply(kit, &seen[0], Disposition::Applied);
    assert!(kit.is_final(&reference));
    if let Some(url) = paid.return_url {
        let query = url.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
        let info = kit
            .connector
            .verify_return(&InboundRequest { method: "GET".into(), query: query.clone(), ..Default::default() })
            .expect("the gateway's own return URL verifies");
        assert_eq!(info.reference, reference);
        assert_eq!(info.outcome, Outcome::Succeeded);
        let forged = query.replacen("135000", "135001", 1);
        if forged != query {
            assert!(kit
                .connector
                .verify_return(&InboundRequest { method: "GET".into(), query: forged, ..Default::default() })
                .is_err());
        }
    }
    let q = kit.connector.query(&kit.query_request(&reference, AMOUNT)).await.expect("query");
    assert_eq!(q.outcome, Outcome::Succeeded);
    let txn = n.gateway_txn.clone();
    vec![(reference, txn)]
}

/// decline → the attempt fails (by callback where the gateway sends one, else by query).
pub async fn decline_fails(kit: &Kit) {
    let (reference, _) = kit.start_attempt(AMOUNT).await;
    kit.pay(&reference, false).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for s in kit.seen_for(&reference) {
        let n = s.verified.as_ref().expect("verified");
        assert!(matches!(n.outcome, Outcome::Failed { .. }), "a decline is never a success: {n:?}");
        assert_reply(kit, &s, Disposition::Applied);
    }
    let q = kit.connector.query(&kit.query_request(&reference, AMOUNT)).await.expect("query");
    assert_ne!(q.outcome, Outcome::Succeeded, "a declined attempt must not query as succeeded");
}

/// A notification signed with the wrong key verifies as `BadSignature`, changes nothing.
pub async fn forged_signature_changes_nothing(kit: &Kit) {
    kit.faults(SimFaults { wrong_signature: true, ..Default::default() }).await;
    let before = kit.unverified().len();
    let (reference, _) = kit.start_attempt(AMOUNT).await;
    kit.pay(&reference, true).await;
    let bad = kit.wait_for(before + 1, |s| s.verified.is_err()).await;
    kit.faults(SimFaults::default()).await;
    assert_eq!(bad.len(), before + 1, "the forged callback arrived");
    let last = bad.last().expect("one");
    assert_eq!(last.verified, Err(VerifyError::BadSignature));
    assert_reply(kit, last, Disposition::BadSignature);
    assert!(!kit.is_final(&reference), "a forged callback changes nothing");
    assert!(kit.seen_for(&reference).is_empty());
}

/// A notification whose amount differs from the attempt is a mismatch, never a success.
pub async fn wrong_amount_is_a_mismatch(kit: &Kit) {
    kit.faults(SimFaults { wrong_amount: Some(AMOUNT + 18_000), ..Default::default() }).await;
    let (reference, _) = kit.start_attempt(AMOUNT).await;
    kit.pay(&reference, true).await;
    let seen = kit.wait_for(1, |s| matches!(&s.verified, Ok(n) if n.reference == reference)).await;
    kit.faults(SimFaults::default()).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].verified.as_ref().map(|n| n.amount), Ok(AMOUNT + 18_000));
    assert_reply(kit, &seen[0], Disposition::AmountMismatch);
    assert!(!kit.is_final(&reference));
}

/// Two identical notifications: the first applies, the second is acknowledged as a duplicate.
pub async fn duplicate_callbacks_apply_once(kit: &Kit) {
    kit.faults(SimFaults { duplicate_callbacks: true, ..Default::default() }).await;
    let (reference, _) = kit.start_attempt(AMOUNT).await;
    kit.pay(&reference, true).await;
    let seen = kit.wait_for(2, |s| matches!(&s.verified, Ok(n) if n.reference == reference)).await;
    kit.faults(SimFaults::default()).await;
    assert_eq!(seen.len(), 2, "the simulator sent the notification twice");
    assert_reply(kit, &seen[0], Disposition::Applied);
    assert_reply(kit, &seen[1], Disposition::AlreadyFinal);
}

/// A notification that arrives after the browser came back still applies, once.
pub async fn late_callback_after_return_applies(kit: &Kit) {
    kit.faults(SimFaults { callback_after_return: true, ..Default::default() }).await;
    let (reference, _) = kit.start_attempt(AMOUNT).await;
    let paid = kit.pay(&reference, true).await;
    assert!(paid.callback_statuses.is_empty(), "no callback before the return");
    let seen = kit.wait_for(1, |s| matches!(&s.verified, Ok(n) if n.reference == reference)).await;
    kit.faults(SimFaults::default()).await;
    assert_eq!(seen.len(), 1);
    assert_reply(kit, &seen[0], Disposition::Applied);
}

/// No notification at all: the status query finds the success and its transaction.
pub async fn lost_callback_is_found_by_query(kit: &Kit) {
    kit.faults(SimFaults { no_callback: true, ..Default::default() }).await;
    let (reference, _) = kit.start_attempt(AMOUNT).await;
    kit.pay(&reference, true).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    kit.faults(SimFaults::default()).await;
    assert!(kit.seen_for(&reference).is_empty());
    let q = kit.connector.query(&kit.query_request(&reference, AMOUNT)).await.expect("query");
    assert_eq!(q.outcome, Outcome::Succeeded);
    assert!(q.gateway_txn.is_some());
    if let Some(a) = q.amount {
        assert_eq!(a, AMOUNT);
    }
}

/// A query that gets a 5xx or no answer is a transport error: the outcome stays unknown.
pub async fn query_faults_are_transport_errors(kit: &Kit) {
    let (reference, _) = kit.start_attempt(AMOUNT).await;
    for f in
        [SimFaults { query_5xx: true, ..Default::default() }, SimFaults { query_timeout: true, ..Default::default() }]
    {
        kit.faults(f.clone()).await;
        let r = kit.connector.query(&kit.query_request(&reference, AMOUNT)).await;
        assert!(matches!(r, Err(ConnectorError::Transport(_))), "{f:?} must give a transport error, got {r:?}");
    }
    kit.faults(SimFaults::default()).await;
}

/// Full and partial refunds where the gateway has them; a typed `NotSupported` elsewhere.
/// Returns the refund references that succeeded.
pub async fn refunds_work_or_are_not_supported(kit: &Kit, paid: &[(String, Option<String>)]) -> Vec<String> {
    let (reference, txn) = paid[0].clone();
    if !kit.connector.supports_refund() {
        let r = kit.connector.refund(&kit.refund_request(&reference, txn, 1000, AMOUNT)).await;
        assert!(matches!(r, Err(ConnectorError::NotSupported { .. })), "got {r:?}");
        return Vec::new();
    }
    let mut done = Vec::new();
    // Partial refund, then the rest, then one đồng too many.
    let part = kit.refund_request(&reference, txn.clone(), 50_000, AMOUNT);
    settle_refund(kit, &part).await;
    done.push(part.refund_reference.clone());
    let rest = kit.refund_request(&reference, txn.clone(), AMOUNT - 50_000, AMOUNT);
    settle_refund(kit, &rest).await;
    done.push(rest.refund_reference.clone());
    let too_much = kit.refund_request(&reference, txn.clone(), 1_000, AMOUNT);
    let r = kit.connector.refund(&too_much).await;
    assert!(
        matches!(r, Err(ConnectorError::Rejected { .. }))
            || matches!(&r, Ok(x) if matches!(x.outcome, RefundOutcome::Failed { .. })),
        "refunding more than was paid must be refused, got {r:?}"
    );
    // A 5xx on refund is a transport error: the refund's fate is unknown, not failed.
    kit.faults(SimFaults { refund_5xx: true, ..Default::default() }).await;
    let r = kit.connector.refund(&kit.refund_request(&reference, txn, 1_000, AMOUNT)).await;
    kit.faults(SimFaults::default()).await;
    assert!(matches!(r, Err(ConnectorError::Transport(_))), "got {r:?}");
    done
}

async fn settle_refund(kit: &Kit, req: &RefundRequest) {
    let r = kit.connector.refund(req).await.expect("refund accepted");
    match r.outcome {
        RefundOutcome::Succeeded => {}
        RefundOutcome::Pending => {
            // As the core does: the query carries the gateway's reference from the answer.
            let req = RefundRequest { gateway_refund_ref: r.gateway_refund_ref.clone(), ..req.clone() };
            let q = kit.connector.query_refund(&req).await.expect("refund query");
            assert_eq!(q.outcome, RefundOutcome::Succeeded);
        }
        RefundOutcome::Failed { code, message } => panic!("refund failed: {code} {message}"),
    }
}

/// The day's settlement file has the paid attempt and the refunds, canonically.
pub async fn settlement_file_parses(kit: &Kit, paid: &[(String, Option<String>)], refunds: &[String]) {
    let bytes = kit.settlement_file().await;
    let lines = kit.connector.parse_settlement(&bytes).expect("the simulator's file parses");
    let (reference, txn) = &paid[0];
    let pay = lines
        .iter()
        .find(|l| &l.reference == reference && l.kind == SettlementKind::Pay)
        .unwrap_or_else(|| panic!("settlement has the payment {reference}: {lines:?}"));
    assert_eq!((pay.amount, pay.succeeded), (AMOUNT, true));
    if let Some(t) = txn {
        assert_eq!(&pay.gateway_txn, t);
    }
    for r in refunds {
        assert!(
            lines.iter().any(|l| &l.reference == r && l.kind == SettlementKind::Refund),
            "settlement has refund {r}: {lines:?}"
        );
    }
    let mut broken = bytes.clone();
    broken.extend_from_slice(b"X,Y,pay,notanumber,0,00,2026-01-01T00:00:00+07:00\n");
    assert!(kit.connector.parse_settlement(&broken).is_err(), "a malformed row is reported, not skipped");
}
