//! `feegate-connector`: the contract between feegate's core and a payment gateway.
//!
//! A connector turns one payment attempt into a gateway request ([`Connector::start`]),
//! turns the gateway's messages back into *verified* facts ([`Connector::verify_callback`],
//! [`Connector::verify_return`]), writes the exact acknowledgement the gateway expects
//! ([`Connector::callback_reply`]), and talks to the gateway's server APIs
//! ([`Connector::query`], [`Connector::refund`], [`Connector::query_refund`]) and files
//! ([`Connector::parse_settlement`]). Operations a gateway does not have answer
//! [`ConnectorError::NotSupported`].
//!
//! The crate knows nothing of web frameworks or databases. Money is in integer minor
//! units (đồng for VND). Signatures are checked through [`crypto`], the only place
//! that can mint the [`SignatureOk`] token a [`VerifiedNotification`] needs.

pub mod config;
pub mod crypto;
pub mod http;
pub mod reference;
pub mod settlement;
pub mod sim;
pub mod text;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use config::{ConfigError, ConnectorConfig};
pub use crypto::SignatureOk;
pub use settlement::{SettlementError, SettlementKind, SettlementLine};

/// Language of the pages the citizen sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    Vi,
    En,
}

/// The account that receives a bank transfer (VietQR needs it; redirect gateways do not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beneficiary {
    /// 6-digit bank BIN, e.g. `970415`.
    pub bank_bin: String,
    pub bank_name: String,
    pub account_number: String,
    pub account_name: String,
}

/// Everything a connector needs to send one attempt to its gateway.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// Our reference for this attempt: ASCII letters and digits, at most 20 characters,
    /// unique forever. Sent to the gateway as its order reference (connectors may add a
    /// gateway-required prefix and must strip it again in notifications).
    pub reference: String,
    pub payment_id: String,
    /// Amount in minor units (đồng).
    pub amount: i64,
    /// ISO 4217 alphabetic code, `VND`.
    pub currency: String,
    /// Free text for the payer's statement; connectors sanitise it for their wire.
    pub description: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Where the gateway sends the payer's browser back (feegate's `/return/{id}`).
    pub return_url: String,
    /// Where the gateway posts its server-to-server notification (`/callbacks/{id}`).
    pub notify_url: String,
    pub payer_ip: Option<String>,
    pub locale: Locale,
    /// Set when every line of the payment goes to one account; `None` otherwise.
    pub beneficiary: Option<Beneficiary>,
}

/// A bank transfer the payer can type by hand when they cannot scan the QR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferInstructions {
    pub bank_bin: String,
    pub bank_name: String,
    pub account_number: String,
    pub account_name: String,
    pub amount: i64,
    /// The transfer content (nội dung chuyển khoản) that identifies the payment.
    pub content: String,
}

/// What the checkout does next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Send the browser to this URL.
    Redirect { url: String },
    /// Show this EMVCo payload as a QR code, with the transfer written out.
    Qr { payload: String, transfer: TransferInstructions },
    /// Several bank transfers, one per beneficiary account, each with its own QR code,
    /// amount and transfer content: a payment whose lines go to several accounts (a fee to
    /// the agency, a charge to the treasury). It is paid when every transfer has arrived.
    /// Built by the core from the [`Action::Qr`] of each leg; a connector never returns it.
    Transfers { transfers: Vec<QrTransfer> },
}

/// One leg of [`Action::Transfers`]: the attempt that awaits it and its QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrTransfer {
    pub attempt_id: String,
    pub payload: String,
    pub transfer: TransferInstructions,
}

/// The gateway's answer to [`Connector::start`].
#[derive(Debug, Clone)]
pub struct Started {
    pub action: Action,
    /// A gateway-side id known already at start (a token, an order id), if any.
    pub gateway_ref: Option<String>,
}

/// The outcome a gateway reports for a payment attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    /// Final failure; `code` is the gateway's own code, kept for people.
    Failed {
        code: String,
        message: String,
    },
    /// Still with the payer or the gateway.
    Pending,
}

/// A server-to-server notification whose content the connector has parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Our attempt reference, with any gateway prefix removed.
    pub reference: String,
    pub gateway_txn: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub outcome: Outcome,
    /// Gateway's time of payment, when it says.
    pub paid_at: Option<OffsetDateTime>,
}

/// Where a bank transfer landed: the credited account, as the receiving bank reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditedAccount {
    /// 6-digit BIN of the receiving bank.
    pub bank_bin: String,
    pub account_number: String,
}

/// A notification whose signature was checked. The core changes money state only
/// from this type, and it cannot be built without a [`SignatureOk`] token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNotification {
    notification: Notification,
    credited_to: Option<CreditedAccount>,
}

impl VerifiedNotification {
    /// Wraps a notification whose signature `proof` vouches for.
    pub fn new(_proof: SignatureOk, notification: Notification) -> Self {
        Self { notification, credited_to: None }
    }
    /// For a bank transfer: the account the money was credited to. The core applies a
    /// transfer only when it landed in the account the attempt routed it to.
    pub fn with_credited_to(mut self, account: CreditedAccount) -> Self {
        self.credited_to = Some(account);
        self
    }
    /// The credited account, for bank transfers.
    pub fn credited_to(&self) -> Option<&CreditedAccount> {
        self.credited_to.as_ref()
    }
    pub fn get(&self) -> &Notification {
        &self.notification
    }
    pub fn into_inner(self) -> Notification {
        self.notification
    }
}

/// An HTTP request from a gateway or a browser, as received.
#[derive(Debug, Clone, Default)]
pub struct InboundRequest {
    pub method: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl InboundRequest {
    /// First header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The query string decoded as form pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes()).into_owned().collect()
    }
    /// The body decoded as form pairs.
    pub fn form_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

/// What the core did with a callback; the connector turns it into the gateway's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Recorded and applied (a success, or a failure the gateway reported).
    Applied,
    /// The attempt was already final; nothing changed.
    AlreadyFinal,
    /// No attempt has this reference.
    UnknownReference,
    /// The amount differs from the attempt; recorded for review, nothing applied.
    AmountMismatch,
    /// The signature did not verify.
    BadSignature,
    /// The message could not be parsed.
    Malformed,
    /// Our fault; the gateway should retry.
    InternalError,
}

/// The exact HTTP reply a gateway expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self { status, content_type: Some("application/json"), body: value.to_string().into_bytes() }
    }
    pub fn empty(status: u16) -> Self {
        Self { status, content_type: None, body: Vec::new() }
    }
    pub fn text(status: u16, body: &str) -> Self {
        Self { status, content_type: Some("text/plain; charset=utf-8"), body: body.as_bytes().to_vec() }
    }
}

/// What a verified browser return says. Display only: never applied as a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnInfo {
    pub reference: String,
    pub outcome: Outcome,
}

/// Arguments of a status query.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub reference: String,
    pub gateway_txn: Option<String>,
    pub amount: i64,
    /// When the attempt was started (some gateways need the original create date).
    pub created_at: OffsetDateTime,
}

/// The gateway's answer to a status query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    pub outcome: Outcome,
    pub gateway_txn: Option<String>,
    /// Amount the gateway holds for the order, when it says.
    pub amount: Option<i64>,
}

/// Arguments of a refund.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    /// Our refund reference (ASCII alphanumeric, ≤ 20), unique forever.
    pub refund_reference: String,
    /// The gateway's own reference for this refund, once an answer gave one (`None` for
    /// the refund call itself and while none is known). A gateway whose status query
    /// cannot be asked by our reference (VNPay) recognises the refund by it.
    pub gateway_refund_ref: Option<String>,
    pub payment_reference: String,
    pub gateway_txn: Option<String>,
    pub amount: i64,
    pub original_amount: i64,
    pub reason: String,
    pub payment_created_at: OffsetDateTime,
    /// Who asked for it (staff key name), for gateways that record it.
    pub requested_by: String,
    pub requested_at: OffsetDateTime,
}

/// Status of a refund at the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RefundOutcome {
    Succeeded,
    Pending,
    Failed { code: String, message: String },
}

/// The gateway's answer to a refund or refund query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundResult {
    pub outcome: RefundOutcome,
    pub gateway_refund_ref: Option<String>,
}

/// Why a connector operation did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The gateway has no such operation (a bank transfer cannot be refunded online).
    #[error("{operation} is not supported by this gateway")]
    NotSupported { operation: &'static str },
    /// No answer we can trust: timeout, connection error, 5xx. The outcome is unknown.
    #[error("gateway unreachable: {0}")]
    Transport(String),
    /// The gateway answered, and said no.
    #[error("gateway rejected the request: {code} {message}")]
    Rejected { code: String, message: String },
    /// The gateway answered something we cannot read or whose signature is wrong.
    #[error("unusable gateway response: {0}")]
    BadResponse(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl From<reqwest::Error> for ConnectorError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display never carries credentials; the URL may, so drop it.
        ConnectorError::Transport(e.without_url().to_string())
    }
}

/// Why a callback or return could not be turned into a verified notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("{operation} is not supported by this gateway")]
    NotSupported { operation: &'static str },
}

/// One configured gateway merchant account.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// The connector account id, e.g. `vnpay-main`.
    fn id(&self) -> &str;
    /// The gateway kind, e.g. `vnpay`.
    fn kind(&self) -> &'static str;
    /// A name to show on the checkout page.
    fn display_name(&self) -> &str;
    /// Whether [`Connector::refund`] can move money back online.
    fn supports_refund(&self) -> bool;
    /// Whether the payment needs a [`Beneficiary`] (bank transfer to the agency account).
    fn needs_beneficiary(&self) -> bool {
        false
    }
    /// The amounts (minor units) the gateway takes for one payment. The checkout does not
    /// offer a gateway for an amount outside it, and an attempt for one is refused (422).
    fn amount_range(&self) -> std::ops::RangeInclusive<i64> {
        1..=i64::MAX
    }

    /// Sends one attempt to the gateway (or builds its redirect/QR locally).
    async fn start(&self, req: &StartRequest) -> Result<Started, ConnectorError>;

    /// Verifies a server-to-server notification.
    fn verify_callback(&self, req: &InboundRequest) -> Result<VerifiedNotification, VerifyError>;

    /// The exact reply for a callback the core handled with `disposition`.
    fn callback_reply(&self, disposition: Disposition) -> Reply;

    /// Verifies a browser return. Display only.
    fn verify_return(&self, req: &InboundRequest) -> Result<ReturnInfo, VerifyError>;

    /// Asks the gateway where an attempt stands.
    async fn query(&self, req: &QueryRequest) -> Result<QueryResult, ConnectorError>;

    /// For bank transfers ([`Connector::needs_beneficiary`]): the account the credit with
    /// this transaction number (as [`Connector::query`] reported it) landed in, or `None`
    /// if the bank does not know that credit. Gateways that collect the money themselves
    /// keep this default.
    async fn credited_account(
        &self,
        req: &QueryRequest,
        gateway_txn: &str,
    ) -> Result<Option<CreditedAccount>, ConnectorError> {
        let _ = (req, gateway_txn);
        Ok(None)
    }

    /// Refunds (part of) a paid attempt.
    async fn refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError>;

    /// Asks where a refund stands.
    async fn query_refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError>;

    /// Parses this gateway's settlement file (our documented CSV layout per gateway).
    fn parse_settlement(&self, bytes: &[u8]) -> Result<Vec<SettlementLine>, SettlementError>;
}

/// Builds a connector from its configuration.
pub type Factory = fn(ConnectorConfig, reqwest::Client) -> Result<Box<dyn Connector>, ConfigError>;
