//! The `zalopay` connector: ZaloPay OpenAPI v2 (GATEWAYS.md §3; docs/connectors/zalopay.md).
//!
//! Module map:
//! - [`sign`]: the MAC strings (key1 for what we send, key2 for what ZaloPay sends) and the
//!   `yymmdd_` identifiers (`app_trans_id`, `m_refund_id`) with their GMT+7 dates;
//! - [`wire`]: request bodies, answers and the callback as JSON types;
//! - [`codes`]: `return_code` / `sub_return_code` mapped to feegate outcomes and errors;
//! - [`inbound`]: callback and browser-redirect verification, and the callback replies;
//! - `sim` (feature `sim`): a simulator of ZaloPay for tests and the demo.
//!
//! Flow: `start` POSTs `/v2/create` and redirects the payer to `order_url`. ZaloPay calls
//! back only for successful payments; failures and expiries are learnt from `/v2/query`.
//! Refunds are asynchronous (`/v2/refund`, then `/v2/query_refund`).

pub mod codes;
pub mod inbound;
pub mod sign;
#[cfg(feature = "sim")]
pub mod sim;
pub mod wire;

use async_trait::async_trait;
use feegate_connector::text::ascii_fold;
use feegate_connector::{
    settlement, Action, ConfigError, Connector, ConnectorConfig, ConnectorError, Disposition, InboundRequest, Outcome,
    QueryRequest, QueryResult, RefundRequest, RefundResult, Reply, ReturnInfo, SettlementError, SettlementKind,
    SettlementLine, StartRequest, Started, VerifiedNotification, VerifyError,
};
use secrecy::{ExposeSecret, SecretString};
use sign::{millis, OrderMacInput};
use time::OffsetDateTime;
use wire::{id_text, Answer};

/// ZaloPay's limits on `expire_duration_seconds` (§3.2).
const EXPIRY_MIN_S: i64 = 300;
const EXPIRY_MAX_S: i64 = 2_592_000;
/// ZaloPay's limit on `description`.
const DESCRIPTION_MAX: usize = 256;
/// The status a settlement row carries for a successful transaction.
pub const SETTLEMENT_SUCCESS: &str = "1";

/// Builds a ZaloPay connector. Settings: `base_url`, `app_id`, `app_user` (default `feegate`);
/// secrets: `key1` (signs requests), `key2` (verifies callbacks and redirects).
pub fn factory(cfg: ConnectorConfig, http: reqwest::Client) -> Result<Box<dyn Connector>, ConfigError> {
    Ok(Box::new(ZaloPay::new(&cfg, http)?))
}

/// One ZaloPay merchant app.
pub struct ZaloPay {
    id: String,
    name: String,
    base_url: String,
    app_id: u64,
    app_user: String,
    key1: SecretString,
    key2: SecretString,
    http: reqwest::Client,
}

/// The plain settings, checked once when the connector is built.
struct Settings {
    pub base_url: String,
    pub app_id: u64,
    pub app_user: String,
}

fn settings(cfg: &ConnectorConfig) -> Result<Settings, ConfigError> {
    let base_url = cfg.setting("base_url")?.trim_end_matches('/').to_owned();
    if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
        return Err(cfg.invalid("base_url", "must be an http(s) URL"));
    }
    let app_id = cfg.setting("app_id")?;
    let app_id = app_id
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && !app_id.starts_with('0'))
        .ok_or_else(|| cfg.invalid("app_id", "must be ZaloPay's numeric app id"))?;
    let app_user = cfg.setting_or("app_user", "feegate");
    let app_user = if app_user.is_empty() { "feegate" } else { app_user };
    if app_user.chars().count() > 50 {
        return Err(cfg.invalid("app_user", "at most 50 characters"));
    }
    Ok(Settings { base_url, app_id, app_user: app_user.to_owned() })
}

impl ZaloPay {
    /// Reads and checks the configuration.
    pub fn new(cfg: &ConnectorConfig, http: reqwest::Client) -> Result<Self, ConfigError> {
        let s = settings(cfg)?;
        Ok(Self {
            id: cfg.id.clone(),
            name: cfg.display_name.clone(),
            base_url: s.base_url,
            app_id: s.app_id,
            app_user: s.app_user,
            key1: cfg.secret("key1")?,
            key2: cfg.secret("key2")?,
            http,
        })
    }

    fn key1(&self) -> &str {
        self.key1.expose_secret()
    }

    fn key2(&self) -> &[u8] {
        self.key2.expose_secret().as_bytes()
    }

    /// POSTs a JSON body; a 5xx, 408, 429 or no answer is a transport error.
    async fn call(&self, path: &str, body: &impl serde::Serialize) -> Result<Answer, ConnectorError> {
        let r = self.http.post(format!("{}{path}", self.base_url)).json(body).send().await?;
        let status = r.status();
        tracing::debug!(connector = %self.id, path, status = status.as_u16(), "zalopay answered");
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            return Err(ConnectorError::Transport(format!("ZaloPay {path} answered HTTP {}", status.as_u16())));
        }
        let bytes = feegate_connector::http::read_capped(r).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ConnectorError::BadResponse(format!("ZaloPay {path} HTTP {}: {e}", status.as_u16())))
    }

    /// `/v2/query` for the order `reference` created at `created_at`.
    async fn query_order(&self, reference: &str, created_at: OffsetDateTime) -> Result<QueryResult, ConnectorError> {
        let app_trans_id = sign::app_trans_id(created_at, reference);
        let app_id = self.app_id.to_string();
        let mac = sign::query_mac(self.key1(), &app_id, &app_trans_id);
        let answer = self.call("/v2/query", &wire::QueryOrder { app_id: self.app_id, app_trans_id, mac }).await?;
        let outcome = codes::query_outcome(&answer.verdict())?;
        let gateway_txn = answer.zp_trans_id.as_ref().and_then(id_text).filter(|t| t != "0");
        Ok(QueryResult { outcome, gateway_txn, amount: answer.amount })
    }
}

/// Folds to ASCII and cuts to ZaloPay's length, with a fallback: ZaloPay refuses empty text.
fn wire_text(text: &str, fallback: String) -> String {
    let folded: String = ascii_fold(text).chars().take(DESCRIPTION_MAX).collect();
    let folded = folded.trim_end().to_owned();
    if folded.is_empty() {
        fallback
    } else {
        folded
    }
}

#[async_trait]
impl Connector for ZaloPay {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "zalopay"
    }
    fn display_name(&self) -> &str {
        &self.name
    }
    fn supports_refund(&self) -> bool {
        true
    }

    async fn start(&self, req: &StartRequest) -> Result<Started, ConnectorError> {
        if req.currency != "VND" {
            return Err(ConnectorError::Rejected {
                code: "currency".into(),
                message: format!("ZaloPay collects VND only, not {}", req.currency),
            });
        }
        let app_id = self.app_id.to_string();
        let app_trans_id = sign::app_trans_id(req.created_at, &req.reference);
        let app_time = millis(req.created_at);
        let embed_data = serde_json::json!({ "redirecturl": req.return_url }).to_string();
        let item = "[]";
        let mac = sign::order_mac(
            self.key1().as_bytes(),
            &OrderMacInput {
                app_id: &app_id,
                app_trans_id: &app_trans_id,
                app_user: &self.app_user,
                amount: &req.amount.to_string(),
                app_time: &app_time.to_string(),
                embed_data: &embed_data,
                item,
            },
        );
        let body = wire::CreateOrder {
            app_id: self.app_id,
            app_user: self.app_user.clone(),
            app_trans_id,
            app_time,
            expire_duration_seconds: (req.expires_at - req.created_at)
                .whole_seconds()
                .clamp(EXPIRY_MIN_S, EXPIRY_MAX_S),
            amount: req.amount,
            item: item.into(),
            embed_data,
            description: wire_text(&req.description, format!("Thanh toan {}", req.reference)),
            bank_code: String::new(),
            callback_url: req.notify_url.clone(),
            mac,
        };
        let answer = self.call("/v2/create", &body).await?;
        codes::create_accepted(&answer.verdict())?;
        let url = answer
            .order_url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| ConnectorError::BadResponse("ZaloPay create succeeded without an order_url".into()))?;
        Ok(Started { action: Action::Redirect { url }, gateway_ref: answer.zp_trans_token.filter(|t| !t.is_empty()) })
    }

    fn verify_callback(&self, req: &InboundRequest) -> Result<VerifiedNotification, VerifyError> {
        inbound::verify_callback(self.key2(), &self.app_id.to_string(), req)
    }

    fn callback_reply(&self, disposition: Disposition) -> Reply {
        inbound::callback_reply(disposition)
    }

    fn verify_return(&self, req: &InboundRequest) -> Result<ReturnInfo, VerifyError> {
        inbound::verify_return(self.key2(), &self.app_id.to_string(), req)
    }

    async fn query(&self, req: &QueryRequest) -> Result<QueryResult, ConnectorError> {
        self.query_order(&req.reference, req.created_at).await
    }

    async fn refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        let zp_trans_id = match req.gateway_txn.clone().filter(|t| !t.is_empty()) {
            Some(t) => t,
            // The refund API names the payment by zp_trans_id only; ask for it.
            None => match self.query_order(&req.payment_reference, req.payment_created_at).await? {
                QueryResult { outcome: Outcome::Succeeded, gateway_txn: Some(t), .. } => t,
                other => {
                    return Err(ConnectorError::Rejected {
                        code: "not_paid".into(),
                        message: format!("ZaloPay does not report the payment as paid: {:?}", other.outcome),
                    })
                }
            },
        };
        let app_id = self.app_id.to_string();
        let m_refund_id = sign::m_refund_id(req.requested_at, &app_id, &req.refund_reference);
        let timestamp = millis(OffsetDateTime::now_utc());
        let description = wire_text(&req.reason, format!("Hoan tien {}", req.refund_reference));
        let mac = sign::refund_mac(
            self.key1().as_bytes(),
            &app_id,
            &zp_trans_id,
            &req.amount.to_string(),
            None,
            &description,
            &timestamp.to_string(),
        );
        let body = wire::Refund {
            app_id: self.app_id,
            m_refund_id,
            zp_trans_id,
            amount: req.amount,
            timestamp,
            description,
            mac,
        };
        let answer = self.call("/v2/refund", &body).await?;
        let outcome = codes::refund_outcome(&answer.verdict())?;
        Ok(RefundResult { outcome, gateway_refund_ref: answer.refund_id.as_ref().and_then(id_text) })
    }

    async fn query_refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        let app_id = self.app_id.to_string();
        let m_refund_id = sign::m_refund_id(req.requested_at, &app_id, &req.refund_reference);
        let timestamp = millis(OffsetDateTime::now_utc());
        let mac = sign::query_refund_mac(self.key1().as_bytes(), &app_id, &m_refund_id, &timestamp.to_string());
        let body = wire::QueryRefund { app_id: self.app_id, m_refund_id, timestamp, mac };
        let answer = self.call("/v2/query_refund", &body).await?;
        let outcome = codes::query_refund_outcome(&answer.verdict())?;
        Ok(RefundResult { outcome, gateway_refund_ref: answer.refund_id.as_ref().and_then(id_text) })
    }

    fn parse_settlement(&self, bytes: &[u8]) -> Result<Vec<SettlementLine>, SettlementError> {
        parse_settlement(bytes, &self.app_id.to_string())
    }
}

/// Parses the settlement CSV (shared layout, status `1` = success) and turns `app_trans_id`
/// (pays) and `m_refund_id` (refunds) back into our references.
pub fn parse_settlement(bytes: &[u8], app_id: &str) -> Result<Vec<SettlementLine>, SettlementError> {
    let mut lines = settlement::parse_csv(bytes, &[SETTLEMENT_SUCCESS], str::to_owned)?;
    for l in &mut lines {
        let stripped = match l.kind {
            SettlementKind::Pay => sign::strip_date_prefix(&l.reference),
            SettlementKind::Refund => sign::strip_refund_prefix(&l.reference, app_id),
        };
        l.reference = stripped.map(str::to_owned).ok_or_else(|| SettlementError::Row {
            line: l.line,
            reason: format!("reference `{}` is not a ZaloPay id of app {app_id}", l.reference),
        })?;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests;
