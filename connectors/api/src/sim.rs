//! Types shared by every gateway simulator's control surface (the simulators themselves
//! live in each connector crate behind the `sim` feature).
//!
//! Every simulator mounted at `/sim/<kind>` answers, besides its gateway-shaped routes:
//! - `PUT  /sim/<kind>/_control/faults` with a [`SimFaults`] JSON body;
//! - `POST /sim/<kind>/_control/pay` with a [`SimPay`] JSON body: the payer finishes the
//!   order as if on the pay page; the answer is a [`SimPaid`] JSON body;
//! - `GET  /sim/<kind>/_control/settlement?date=YYYY-MM-DD`: the business day's settlement
//!   file (GMT+7 day) in the layout of [`crate::settlement::CSV_HEADER`].

use serde::{Deserialize, Serialize};

/// Misbehaviours a test can switch on in a simulator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimFaults {
    /// Do not send the server-to-server notification at all.
    pub no_callback: bool,
    /// Send the notification twice.
    pub duplicate_callbacks: bool,
    /// Send the notification only after the browser return (default: before).
    pub callback_after_return: bool,
    /// Wait this long before sending the notification (it is sent in the background).
    pub callback_delay_ms: u64,
    /// Report this amount instead of the order's in notifications.
    pub wrong_amount: Option<i64>,
    /// Sign notifications with a wrong key.
    pub wrong_signature: bool,
    /// Answer status queries with HTTP 500.
    pub query_5xx: bool,
    /// Never answer status queries (the client's timeout fires).
    pub query_timeout: bool,
    /// Answer refunds with HTTP 500.
    pub refund_5xx: bool,
    /// Never answer refunds.
    pub refund_timeout: bool,
}

/// The payer finishes an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPay {
    /// The gateway's order reference as the connector sent it (e.g. `vnp_TxnRef`).
    pub order_ref: String,
    /// `success` or `failure`.
    pub outcome: String,
}

/// What happened when the payer finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPaid {
    /// Where the browser would go next (the gateway's signed return URL), if anywhere.
    pub return_url: Option<String>,
    /// HTTP statuses of the notifications that were sent synchronously.
    pub callback_statuses: Vec<u16>,
}
