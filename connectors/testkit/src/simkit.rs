//! Simulator machinery shared by every gateway simulator.
//!
//! A gateway simulator implements [`GatewaySim`] (how its notifications, browser
//! returns and settlement statuses look on the wire) and mounts
//! [`control_router`] beside its own gateway-shaped routes.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use feegate_connector::settlement::write_csv;
use feegate_connector::sim::{SimFaults, SimPaid, SimPay};
use feegate_connector::SettlementKind;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use time::{OffsetDateTime, UtcOffset};

/// Vietnam's offset, GMT+7: gateways' business days and dates are in it.
pub const VN: UtcOffset = match UtcOffset::from_hms(7, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// Where an order stands in a simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimStatus {
    Pending,
    Succeeded,
    Failed,
}

/// A refund the simulator performed.
#[derive(Debug, Clone)]
pub struct SimRefund {
    pub refund_ref: String,
    pub gateway_refund_id: String,
    pub amount: i64,
    pub at: OffsetDateTime,
}

/// One order as the simulated gateway knows it.
#[derive(Debug, Clone)]
pub struct SimOrder {
    /// The gateway's order reference (e.g. `vnp_TxnRef`, `app_trans_id`).
    pub order_ref: String,
    /// feegate's reference (the order reference without gateway prefixes).
    pub reference: String,
    pub amount: i64,
    pub status: SimStatus,
    /// The gateway's transaction number, assigned when the order is finished.
    pub txn_id: String,
    pub created_at: OffsetDateTime,
    pub paid_at: Option<OffsetDateTime>,
    pub refunds: Vec<SimRefund>,
    /// Gateway-specific request fields (return URL, notify URL, order info, ...).
    pub extra: HashMap<String, String>,
}

impl SimOrder {
    /// A new pending order.
    pub fn new(order_ref: &str, reference: &str, amount: i64) -> Self {
        Self {
            order_ref: order_ref.into(),
            reference: reference.into(),
            amount,
            status: SimStatus::Pending,
            txn_id: String::new(),
            created_at: OffsetDateTime::now_utc(),
            paid_at: None,
            refunds: Vec::new(),
            extra: HashMap::new(),
        }
    }
    /// A gateway-specific field, or "".
    pub fn extra(&self, key: &str) -> &str {
        self.extra.get(key).map(String::as_str).unwrap_or("")
    }
    /// Sum of refunds so far.
    pub fn refunded(&self) -> i64 {
        self.refunds.iter().map(|r| r.amount).sum()
    }
}

/// An HTTP request the simulator sends to the merchant (a notification).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub method: reqwest::Method,
    pub url: String,
    pub content_type: Option<&'static str>,
    /// Extra headers (signatures some gateways send in headers).
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The wire-specific half of a simulator.
pub trait GatewaySim: Send + Sync + 'static {
    /// The notification for a finished order, with `amount` reported (a fault may change
    /// it) and signed with a wrong key when `forge` is set. `None`: this gateway sends
    /// none for this outcome (ZaloPay sends nothing for failures).
    fn notification(&self, order: &SimOrder, amount: i64, forge: bool) -> Option<Outbound>;
    /// The signed URL the payer's browser returns to, if the gateway has one.
    fn return_url(&self, order: &SimOrder) -> Option<String>;
    /// The status text written in the settlement file for a successful transaction.
    fn settlement_success_status(&self) -> &'static str;
}

/// A running simulator's state.
pub struct Sim<G> {
    pub gateway: G,
    orders: Mutex<HashMap<String, SimOrder>>,
    faults: Mutex<SimFaults>,
    counter: AtomicU64,
    http: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<G: GatewaySim> Sim<G> {
    /// A simulator with no orders and no faults.
    pub fn new(gateway: G) -> Arc<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Arc::new(Self {
            gateway,
            orders: Mutex::new(HashMap::new()),
            faults: Mutex::new(SimFaults::default()),
            counter: AtomicU64::new(0),
            http,
        })
    }
    /// The faults now switched on.
    pub fn faults(&self) -> SimFaults {
        lock(&self.faults).clone()
    }
    /// Switches faults.
    pub fn set_faults(&self, f: SimFaults) {
        *lock(&self.faults) = f;
    }
    /// Records an order unless one with the same `order_ref` exists; returns the stored one.
    pub fn upsert_order(&self, order: SimOrder) -> SimOrder {
        lock(&self.orders).entry(order.order_ref.clone()).or_insert(order).clone()
    }
    /// The order with this gateway reference.
    pub fn order(&self, order_ref: &str) -> Option<SimOrder> {
        lock(&self.orders).get(order_ref).cloned()
    }
    /// The order whose feegate reference is `reference`.
    pub fn order_by_reference(&self, reference: &str) -> Option<SimOrder> {
        lock(&self.orders).values().find(|o| o.reference == reference).cloned()
    }
    /// Changes an order in place.
    pub fn update_order<R>(&self, order_ref: &str, f: impl FnOnce(&mut SimOrder) -> R) -> Option<R> {
        lock(&self.orders).get_mut(order_ref).map(f)
    }
    /// A fresh numeric transaction id (as gateways hand out).
    pub fn next_txn_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}{:06}", OffsetDateTime::now_utc().unix_timestamp() % 100_000_000, n)
    }

    /// The refund with our reference `refund_ref`, on any order.
    pub fn find_refund(&self, refund_ref: &str) -> Option<SimRefund> {
        lock(&self.orders).values().flat_map(|o| o.refunds.iter()).find(|r| r.refund_ref == refund_ref).cloned()
    }

    /// Records a refund of `amount` on `order_ref`; refuses more than what is left.
    pub fn refund(&self, order_ref: &str, refund_ref: &str, amount: i64) -> Result<SimRefund, &'static str> {
        let id = self.next_txn_id();
        let mut orders = lock(&self.orders);
        let order = orders.get_mut(order_ref).ok_or("order not found")?;
        if order.status != SimStatus::Succeeded {
            return Err("order not paid");
        }
        if let Some(existing) = order.refunds.iter().find(|r| r.refund_ref == refund_ref) {
            return Ok(existing.clone());
        }
        if amount <= 0 || amount > order.amount - order.refunded() {
            return Err("amount exceeds refundable");
        }
        let r =
            SimRefund { refund_ref: refund_ref.into(), gateway_refund_id: id, amount, at: OffsetDateTime::now_utc() };
        order.refunds.push(r.clone());
        Ok(r)
    }

    /// The payer finishes the order: marks it, sends the notification(s) as the faults
    /// say, and answers where the browser goes.
    pub async fn finish(self: &Arc<Self>, order_ref: &str, success: bool) -> Result<SimPaid, &'static str> {
        let txn = self.next_txn_id();
        let order = self
            .update_order(order_ref, |o| {
                if o.status == SimStatus::Pending {
                    o.status = if success { SimStatus::Succeeded } else { SimStatus::Failed };
                    o.txn_id = txn;
                    o.paid_at = Some(OffsetDateTime::now_utc());
                }
                o.clone()
            })
            .ok_or("order not found")?;
        let faults = self.faults();
        let amount = faults.wrong_amount.unwrap_or(order.amount);
        let note =
            if faults.no_callback { None } else { self.gateway.notification(&order, amount, faults.wrong_signature) };
        let times = if faults.duplicate_callbacks { 2 } else { 1 };
        let mut statuses = Vec::new();
        if let Some(req) = note {
            if faults.callback_delay_ms > 0 || faults.callback_after_return {
                let me = Arc::clone(self);
                let delay = faults.callback_delay_ms.max(if faults.callback_after_return { 300 } else { 0 });
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    for _ in 0..times {
                        let _ = me.send(&req).await;
                    }
                });
            } else {
                for _ in 0..times {
                    statuses.push(self.send(&req).await.unwrap_or(0));
                }
            }
        }
        Ok(SimPaid { return_url: self.gateway.return_url(&order), callback_statuses: statuses })
    }

    async fn send(&self, req: &Outbound) -> Result<u16, reqwest::Error> {
        let mut b = self.http.request(req.method.clone(), &req.url);
        if let Some(ct) = req.content_type {
            b = b.header(reqwest::header::CONTENT_TYPE, ct);
        }
        for (k, v) in &req.headers {
            b = b.header(*k, v);
        }
        if !req.body.is_empty() {
            b = b.body(req.body.clone());
        }
        Ok(b.send().await?.status().as_u16())
    }

    /// The settlement file of a GMT+7 business day.
    pub fn settlement(&self, day: time::Date) -> Vec<u8> {
        let ok = self.gateway.settlement_success_status().to_owned();
        let orders = lock(&self.orders);
        let mut rows = Vec::new();
        let mut list: Vec<&SimOrder> = orders.values().collect();
        list.sort_by_key(|o| (o.paid_at, o.order_ref.clone()));
        for o in list {
            if let (SimStatus::Succeeded, Some(at)) = (o.status, o.paid_at) {
                if at.to_offset(VN).date() == day {
                    rows.push((
                        o.order_ref.clone(),
                        o.txn_id.clone(),
                        SettlementKind::Pay,
                        o.amount,
                        0,
                        ok.clone(),
                        at.to_offset(VN),
                    ));
                }
            }
            for r in &o.refunds {
                if r.at.to_offset(VN).date() == day {
                    rows.push((
                        r.refund_ref.clone(),
                        r.gateway_refund_id.clone(),
                        SettlementKind::Refund,
                        r.amount,
                        0,
                        ok.clone(),
                        r.at.to_offset(VN),
                    ));
                }
            }
        }
        write_csv(&rows)
    }

    /// Sleeps "forever" (past any client timeout) when a timeout fault is on.
    pub async fn stall(&self) {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
}

/// The `/_control/...` routes every simulator answers (see `feegate_connector::sim`).
pub fn control_router<G: GatewaySim>(sim: Arc<Sim<G>>) -> Router {
    Router::new()
        .route("/_control/faults", put(put_faults).get(get_faults))
        .route("/_control/pay", post(control_pay))
        .route("/_control/settlement", get(settlement))
        .with_state(sim)
}

async fn put_faults<G: GatewaySim>(State(sim): State<Arc<Sim<G>>>, Json(f): Json<SimFaults>) -> StatusCode {
    sim.set_faults(f);
    StatusCode::NO_CONTENT
}

async fn get_faults<G: GatewaySim>(State(sim): State<Arc<Sim<G>>>) -> Json<SimFaults> {
    Json(sim.faults())
}

async fn control_pay<G: GatewaySim>(State(sim): State<Arc<Sim<G>>>, Json(p): Json<SimPay>) -> Response {
    let Some(order) = sim.order_by_reference(&p.order_ref).or_else(|| sim.order(&p.order_ref)) else {
        return (StatusCode::NOT_FOUND, "order not found").into_response();
    };
    match sim.finish(&order.order_ref, p.outcome == "success").await {
        Ok(paid) => Json(paid).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct DayQuery {
    date: String,
}

async fn settlement<G: GatewaySim>(State(sim): State<Arc<Sim<G>>>, Query(q): Query<DayQuery>) -> Response {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(&q.date, &fmt) {
        Ok(day) => {
            ([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], sim.settlement(day)).into_response()
        }
        Err(_) => (StatusCode::BAD_REQUEST, "date must be YYYY-MM-DD").into_response(),
    }
}

/// A minimal HTML page with an Approve and a Decline button posting `outcome` to `action`,
/// with `hidden` fields carried along. Simulators use it as their pay page.
pub fn pay_page(gateway: &str, amount: i64, description: &str, action: &str, hidden: &[(&str, &str)]) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let fields: String =
        hidden.iter().map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, esc(k), esc(v))).collect();
    format!(
        r#"<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{gw} (simulator)</title><style>body{{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}
button{{font-size:1.1rem;padding:.6rem 1.2rem;margin:.3rem}}.ok{{background:#0a7d2c;color:#fff}}.no{{background:#b3261e;color:#fff}}</style></head>
<body><h1>{gw} — simulator</h1><p>This is a test gateway. No real money moves.</p>
<p><strong>{desc}</strong></p><p>Amount: <strong>{amount} VND</strong></p>
<form method="post" action="{action}">{fields}
<button class="ok" name="outcome" value="success">Approve / Thanh toán</button>
<button class="no" name="outcome" value="failure">Decline / Từ chối</button></form></body></html>"#,
        gw = esc(gateway),
        desc = esc(description),
        action = esc(action),
    )
}
