//! The VNPay connector (payment gateway API 2.1.0; GATEWAYS.md §1, docs/connectors/vnpay.md).
//!
//! Where to look:
//! - [`sign`]: hash data (sorted, form-encoded, HMAC-SHA512), `|`-joined API checksums, GMT+7 dates;
//! - [`wire`]: pay URL parameters, IPN/return fields -> [`Notification`], the code tables;
//! - `api`: querydr and refund over `POST {api_url}` (JSON, checksums both ways);
//! - `sim` (feature `sim`): the simulator — pay page, IPN sender, return, merchant API, settlement file.
//!
//! Flow: `start` builds the signed `vpcpay.html` URL locally (no network call); VNPay
//! sends the payer back to `vnp_ReturnUrl` (display only) and a signed IPN as an HTTP
//! GET to the IPN URL registered for the terminal; the reply is VNPay's JSON
//! `{"RspCode","Message"}` with HTTP 200.

mod api;
pub mod sign;
#[cfg(feature = "sim")]
pub mod sim;
pub mod wire;

use async_trait::async_trait;
use feegate_connector::{
    settlement, Action, ConfigError, Connector, ConnectorConfig, ConnectorError, Disposition, InboundRequest,
    QueryRequest, QueryResult, RefundRequest, RefundResult, Reply, ReturnInfo, SettlementError, SettlementLine,
    StartRequest, Started, VerifiedNotification, VerifyError,
};
use secrecy::{ExposeSecret, SecretString};
use sign::Received;

/// The connector kind.
pub const KIND: &str = "vnpay";

/// The settings both the connector and its simulator read from a [`ConnectorConfig`].
pub(crate) struct Settings {
    pub tmn_code: String,
    pub secret: SecretString,
    pub order_type: String,
    pub pay_url: String,
    pub api_url: String,
    pub server_ip: String,
}

impl Settings {
    /// Settings: `base_url`, `tmn_code`; optional `order_type` (default `other`),
    /// `pay_url`, `api_url` (production's hosts differ), `server_ip`; secret `hash_secret`.
    pub fn from_config(cfg: &ConnectorConfig) -> Result<Self, ConfigError> {
        let base = cfg.setting("base_url")?.trim_end_matches('/').to_owned();
        check_url(cfg, "base_url", &base)?;
        let tmn_code = cfg.setting("tmn_code")?.trim().to_owned();
        if tmn_code.len() > 16 || !tmn_code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(cfg.invalid("tmn_code", "must be the ASCII letters/digits VNPay issued (8 characters)"));
        }
        let order_type = cfg.setting_or("order_type", "other").trim();
        if order_type.is_empty() || order_type.len() > 100 || !order_type.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(cfg.invalid("order_type", "must be `other` or a VNPay category code"));
        }
        let pay_url = match cfg.settings.get("pay_url").filter(|v| !v.is_empty()) {
            Some(u) => u.clone(),
            None => format!("{base}/paymentv2/vpcpay.html"),
        };
        check_url(cfg, "pay_url", &pay_url)?;
        let api_url = match cfg.settings.get("api_url").filter(|v| !v.is_empty()) {
            Some(u) => u.clone(),
            None => format!("{base}/merchant_webapi/api/transaction"),
        };
        check_url(cfg, "api_url", &api_url)?;
        // A trailing newline from a secrets file is a classic "wrong checksum" cause (§1.9).
        let secret = SecretString::from(cfg.secret("hash_secret")?.expose_secret().trim().to_owned());
        if secret.expose_secret().is_empty() {
            return Err(cfg.invalid("hash_secret", "is blank"));
        }
        Ok(Self {
            tmn_code,
            secret,
            order_type: order_type.to_owned(),
            pay_url,
            api_url,
            server_ip: cfg.setting_or("server_ip", "127.0.0.1").trim().to_owned(),
        })
    }

    pub fn key(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }
}

fn check_url(cfg: &ConnectorConfig, key: &str, value: &str) -> Result<(), ConfigError> {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Ok(()),
        _ => Err(cfg.invalid(key, "must be an http(s) URL")),
    }
}

/// Builds a VNPay connector (see [`Settings::from_config`] for the keys).
pub fn factory(cfg: ConnectorConfig, http: reqwest::Client) -> Result<Box<dyn Connector>, ConfigError> {
    let settings = Settings::from_config(&cfg)?;
    Ok(Box::new(Vnpay { id: cfg.id, name: cfg.display_name, settings, http }))
}

/// One VNPay terminal (`vnp_TmnCode`).
pub struct Vnpay {
    id: String,
    name: String,
    settings: Settings,
    http: reqwest::Client,
}

impl Vnpay {
    fn verified(&self, pairs: Vec<(String, String)>) -> Result<VerifiedNotification, VerifyError> {
        let received = Received::from_pairs(pairs)?;
        let proof = received.verify(self.settings.key())?;
        let n = wire::notification(&received, &self.settings.tmn_code)?;
        Ok(VerifiedNotification::new(proof, n))
    }
}

/// VNPay's IPN acknowledgement (§1.4): always HTTP 200, the code in `RspCode`.
pub fn ipn_reply(d: Disposition) -> Reply {
    let (code, message) = match d {
        // `00` means "received and recorded", for a recorded failure too.
        Disposition::Applied => ("00", "Confirm Success"),
        Disposition::AlreadyFinal => ("02", "Order already confirmed"),
        Disposition::UnknownReference => ("01", "Order not found"),
        Disposition::AmountMismatch => ("04", "invalid amount"),
        Disposition::BadSignature => ("97", "Invalid signature"),
        // Signed but unusable content is not a checksum failure; 97 would send people
        // hunting a key problem. 99 is VNPay's "other error" and makes it retry.
        Disposition::Malformed => ("99", "Unknow error"),
        Disposition::InternalError => ("99", "Unknow error"),
    };
    // Byte for byte the official demo's body, keys in its order (serde_json would sort them).
    let body = format!(r#"{{"RspCode":"{code}","Message":"{message}"}}"#);
    Reply { status: 200, content_type: Some("application/json"), body: body.into_bytes() }
}

#[async_trait]
impl Connector for Vnpay {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn display_name(&self) -> &str {
        &self.name
    }
    fn supports_refund(&self) -> bool {
        true
    }
    fn amount_range(&self) -> std::ops::RangeInclusive<i64> {
        1..=wire::MAX_AMOUNT
    }

    async fn start(&self, req: &StartRequest) -> Result<Started, ConnectorError> {
        let params = wire::pay_params(&self.settings.tmn_code, &self.settings.order_type, req)
            .map_err(|message| ConnectorError::Rejected { code: "invalid_request".into(), message })?;
        let query = sign::signed_query(self.settings.key(), &params);
        let sep = if self.settings.pay_url.contains('?') { '&' } else { '?' };
        Ok(Started {
            action: Action::Redirect { url: format!("{}{sep}{query}", self.settings.pay_url) },
            gateway_ref: None,
        })
    }

    fn verify_callback(&self, req: &InboundRequest) -> Result<VerifiedNotification, VerifyError> {
        // The IPN is a GET; a form POST is read too, in case a proxy converts it.
        let mut pairs = req.query_pairs();
        if !pairs.iter().any(|(k, _)| k.starts_with("vnp_")) {
            pairs = req.form_pairs();
        }
        self.verified(pairs)
    }

    fn callback_reply(&self, disposition: Disposition) -> Reply {
        ipn_reply(disposition)
    }

    fn verify_return(&self, req: &InboundRequest) -> Result<ReturnInfo, VerifyError> {
        let n = self.verified(req.query_pairs())?.into_inner();
        Ok(ReturnInfo { reference: n.reference, outcome: n.outcome })
    }

    async fn query(&self, req: &QueryRequest) -> Result<QueryResult, ConnectorError> {
        api::query(&self.settings, &self.http, req).await
    }

    async fn refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        api::refund(&self.settings, &self.http, req).await
    }

    async fn query_refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        api::query_refund(&self.settings, &self.http, req).await
    }

    fn parse_settlement(&self, bytes: &[u8]) -> Result<Vec<SettlementLine>, SettlementError> {
        settlement::parse_csv(bytes, &["00"], str::to_owned)
    }
}
