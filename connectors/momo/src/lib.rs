//! The `momo` connector: MoMo e-wallet, All-In-One API v2 (`/v2/gateway/api/*`).
//!
//! Map of the crate:
//! - this file: [`factory`], the [`Momo`] account and its [`Connector`] impl;
//! - [`sign`]: the four strings-to-sign (create, IPN/return, query, refund);
//! - [`wire`]: request and response bodies, `orderInfo` sanitising;
//! - [`notify`]: reading and verifying the signed IPN and browser return;
//! - [`codes`]: the `resultCode` table and what each code means for a payment/refund;
//! - [`sim`] (feature `sim`): a simulator of MoMo's wire for tests and the demo.
//!
//! Wire summary (GATEWAYS.md §2; docs/connectors/momo.md): start = `POST create` (JSON,
//! HMAC-SHA256 over 10 fields) then redirect to `payUrl`; the IPN is a JSON `POST` to the
//! `ipnUrl` given per request, answered `204 No Content`; the browser comes back to
//! `redirectUrl` with the same signed fields; `query` and `refund` are JSON `POST`s.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod codes;
pub mod notify;
pub mod sign;
#[cfg(feature = "sim")]
pub mod sim;
pub mod wire;

use async_trait::async_trait;
use codes::QueryVerdict;
use feegate_connector::{
    settlement, Action, ConfigError, Connector, ConnectorConfig, ConnectorError, Disposition, InboundRequest, Locale,
    Notification, Outcome, QueryRequest, QueryResult, RefundOutcome, RefundRequest, RefundResult, Reply, ReturnInfo,
    SettlementError, SettlementLine, StartRequest, Started, VerifiedNotification, VerifyError,
};
use secrecy::{ExposeSecret, SecretString};
use wire::MISSING_CODE;

/// The settlement status MoMo's files use for a successful row (its `resultCode`).
pub const SETTLEMENT_SUCCESS: &str = "0";

/// The merchant's MoMo credentials, as the connector and the simulator both read them.
pub struct Settings {
    pub base_url: String,
    pub partner_code: String,
    /// `captureWallet` (default) or `payWithMethod`.
    pub request_type: &'static str,
    pub access_key: SecretString,
    pub secret_key: SecretString,
}

impl Settings {
    /// Reads settings `base_url`, `partner_code`, `request_type`; secrets `access_key`, `secret_key`.
    pub fn from_config(cfg: &ConnectorConfig) -> Result<Self, ConfigError> {
        let request_type = match cfg.setting_or("request_type", "captureWallet") {
            "" | "captureWallet" => "captureWallet",
            "payWithMethod" => "payWithMethod",
            other => {
                return Err(cfg.invalid("request_type", format!("`{other}`: expected captureWallet or payWithMethod")))
            }
        };
        let base_url = cfg.setting("base_url")?.trim_end_matches('/').to_owned();
        if url::Url::parse(&base_url).is_err() {
            return Err(cfg.invalid("base_url", "not an absolute URL"));
        }
        Ok(Self {
            base_url,
            partner_code: cfg.setting("partner_code")?.to_owned(),
            request_type,
            access_key: cfg.secret("access_key")?,
            secret_key: cfg.secret("secret_key")?,
        })
    }
}

/// Builds a MoMo connector (see [`Settings::from_config`] for the keys).
pub fn factory(cfg: ConnectorConfig, http: reqwest::Client) -> Result<Box<dyn Connector>, ConfigError> {
    let settings = Settings::from_config(&cfg)?;
    Ok(Box::new(Momo { id: cfg.id, name: cfg.display_name, s: settings, http }))
}

/// One MoMo merchant account.
pub struct Momo {
    id: String,
    name: String,
    s: Settings,
    http: reqwest::Client,
}

fn lang(l: Locale) -> &'static str {
    match l {
        Locale::Vi => "vi",
        Locale::En => "en",
    }
}

fn now_ms() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000
}

fn bad(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::BadResponse(msg.into())
}

impl Momo {
    fn access(&self) -> &str {
        self.s.access_key.expose_secret()
    }
    fn secret(&self) -> &[u8] {
        self.s.secret_key.expose_secret().as_bytes()
    }

    /// POSTs a JSON body; 5xx, 408, 429 and network failures are transport errors (the
    /// outcome is unknown); any other answer must be a JSON body.
    async fn post<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ConnectorError> {
        let bytes = serde_json::to_vec(body).map_err(|e| bad(e.to_string()))?;
        let r = self
            .http
            .post(format!("{}{path}", self.s.base_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=UTF-8")
            .body(bytes)
            .send()
            .await?;
        let status = r.status().as_u16();
        if status >= 500 || status == 408 || status == 429 {
            return Err(ConnectorError::Transport(format!("momo answered HTTP {status}")));
        }
        let body = feegate_connector::http::read_capped(r).await?;
        serde_json::from_slice(&body).map_err(|e| bad(format!("HTTP {status}, body is not a MoMo answer: {e}")))
    }

    /// The query call for `order_id`, with a fresh requestId.
    async fn query_order(&self, order_id: &str) -> Result<wire::QueryReply, ConnectorError> {
        let request_id = format!("{order_id}Q{}", now_ms());
        let raw = sign::query_raw(self.access(), order_id, &self.s.partner_code, &request_id);
        let call = wire::QueryCall {
            partner_code: self.s.partner_code.clone(),
            request_id,
            order_id: order_id.to_owned(),
            lang: "vi".into(),
            signature: sign::sign(self.secret(), &raw),
        };
        let reply: wire::QueryReply = self.post(wire::QUERY_PATH, &call).await?;
        if reply.result_code == MISSING_CODE {
            return Err(bad("query answer has no resultCode"));
        }
        if !reply.order_id.is_empty() && reply.order_id != order_id {
            return Err(bad(format!("query answer is for orderId {}, not {order_id}", reply.order_id)));
        }
        tracing::debug!(order_id, result_code = reply.result_code, "momo query");
        Ok(reply)
    }

    /// The query answer as an order outcome, or the error MoMo's refusal means.
    async fn order_status(&self, order_id: &str) -> Result<(Outcome, wire::QueryReply), ConnectorError> {
        let reply = self.query_order(order_id).await?;
        match codes::query_verdict(reply.result_code, &reply.message) {
            QueryVerdict::Outcome(o) => Ok((o, reply)),
            QueryVerdict::CallRefused { retry: true } => Err(ConnectorError::Transport(format!(
                "momo asked to retry later: resultCode {} {}",
                reply.result_code, reply.message
            ))),
            QueryVerdict::CallRefused { retry: false } => {
                Err(ConnectorError::Rejected { code: reply.result_code.to_string(), message: reply.message })
            }
        }
    }

    /// MoMo's purchase transId for a refund: the recorded one, else the one the query reports.
    async fn purchase_trans_id(&self, req: &RefundRequest) -> Result<i64, ConnectorError> {
        let recorded = req.gateway_txn.as_deref().filter(|t| !t.is_empty());
        let text = match recorded {
            Some(t) => t.to_owned(),
            None => match self.order_status(&req.payment_reference).await? {
                (Outcome::Succeeded, r) => r.trans_id.filter(|t| *t > 0).map(|t| t.to_string()).unwrap_or_default(),
                (Outcome::Pending | Outcome::Failed { .. }, _) => String::new(),
            },
        };
        text.parse::<i64>().ok().filter(|t| *t > 0).ok_or_else(|| ConnectorError::Rejected {
            code: "no_trans_id".into(),
            message: "MoMo refunds need the purchase transId; none is known for this payment".into(),
        })
    }
}

#[async_trait]
impl Connector for Momo {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "momo"
    }
    fn display_name(&self) -> &str {
        &self.name
    }
    fn supports_refund(&self) -> bool {
        true
    }
    /// One wallet order (captureWallet; payWithMethod offers the wallet too): GATEWAYS.md §2.2.
    fn amount_range(&self) -> std::ops::RangeInclusive<i64> {
        1_000..=50_000_000
    }

    async fn start(&self, req: &StartRequest) -> Result<Started, ConnectorError> {
        if req.currency != "VND" {
            return Err(ConnectorError::Rejected {
                code: "currency".into(),
                message: format!("MoMo takes VND only, not {}", req.currency),
            });
        }
        let mut order_info = wire::sanitize_text(&req.description);
        if order_info.is_empty() {
            order_info = format!("Thanh toan {}", req.reference);
        }
        let signed = sign::CreateSigned {
            amount: req.amount,
            extra_data: "",
            ipn_url: &req.notify_url,
            order_id: &req.reference,
            order_info: &order_info,
            partner_code: &self.s.partner_code,
            redirect_url: &req.return_url,
            request_id: &req.reference,
            request_type: self.s.request_type,
        };
        let signature = sign::sign(self.secret(), &sign::create_raw(self.access(), &signed));
        let call = wire::CreateCall {
            partner_code: self.s.partner_code.clone(),
            request_id: req.reference.clone(),
            amount: req.amount,
            order_id: req.reference.clone(),
            order_info,
            redirect_url: req.return_url.clone(),
            ipn_url: req.notify_url.clone(),
            request_type: self.s.request_type.into(),
            extra_data: String::new(),
            lang: lang(req.locale).into(),
            signature,
        };
        let reply: wire::CreateReply = self.post(wire::CREATE_PATH, &call).await?;
        tracing::debug!(reference = %req.reference, result_code = reply.result_code, "momo create");
        match reply.result_code {
            0 => {
                if reply.order_id != req.reference {
                    return Err(bad(format!("create answer is for orderId {}", reply.order_id)));
                }
                if url::Url::parse(&reply.pay_url).is_err() {
                    return Err(bad("create answer has no usable payUrl"));
                }
                Ok(Started { action: Action::Redirect { url: reply.pay_url }, gateway_ref: None })
            }
            MISSING_CODE => Err(bad("create answer has no resultCode")),
            code => Err(ConnectorError::Rejected { code: code.to_string(), message: reply.message }),
        }
    }

    fn verify_callback(&self, req: &InboundRequest) -> Result<VerifiedNotification, VerifyError> {
        let signed = notify::from_json(&req.body)?;
        let (proof, r) = signed.verify(self.access(), self.secret(), &self.s.partner_code)?;
        let outcome = codes::notified_outcome(r.result_code, &r.message);
        let paid_at = if outcome == Outcome::Succeeded { r.response_time } else { None };
        Ok(VerifiedNotification::new(
            proof,
            Notification {
                reference: r.order_id,
                gateway_txn: r.trans_id,
                amount: r.amount,
                currency: "VND".into(),
                outcome,
                paid_at,
            },
        ))
    }

    /// MoMo only wants an acknowledgement: `204 No Content` for every message we read,
    /// whatever we did with it (nothing would change on a retry). A message we could not
    /// verify or read gets 400; our own failure gets 500 so that MoMo sends it again.
    fn callback_reply(&self, d: Disposition) -> Reply {
        match d {
            Disposition::Applied
            | Disposition::AlreadyFinal
            | Disposition::AmountMismatch
            | Disposition::UnknownReference => Reply::empty(204),
            Disposition::BadSignature | Disposition::Malformed => Reply::empty(400),
            Disposition::InternalError => Reply::empty(500),
        }
    }

    fn verify_return(&self, req: &InboundRequest) -> Result<ReturnInfo, VerifyError> {
        let signed = notify::from_pairs(&req.query_pairs())?;
        let (_proof, r) = signed.verify(self.access(), self.secret(), &self.s.partner_code)?;
        Ok(ReturnInfo { reference: r.order_id, outcome: codes::notified_outcome(r.result_code, &r.message) })
    }

    async fn query(&self, req: &QueryRequest) -> Result<QueryResult, ConnectorError> {
        let (outcome, reply) = self.order_status(&req.reference).await?;
        Ok(QueryResult {
            outcome,
            gateway_txn: reply.trans_id.filter(|t| *t > 0).map(|t| t.to_string()),
            amount: reply.amount.filter(|a| *a > 0),
        })
    }

    async fn refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        let trans_id = self.purchase_trans_id(req).await?;
        let description = wire::sanitize_text(&req.reason);
        let signed = sign::RefundSigned {
            amount: req.amount,
            description: &description,
            order_id: &req.refund_reference,
            partner_code: &self.s.partner_code,
            request_id: &req.refund_reference,
            trans_id,
        };
        let signature = sign::sign(self.secret(), &sign::refund_raw(self.access(), &signed));
        let call = wire::RefundCall {
            partner_code: self.s.partner_code.clone(),
            order_id: req.refund_reference.clone(),
            request_id: req.refund_reference.clone(),
            amount: req.amount,
            trans_id,
            lang: "vi".into(),
            description,
            signature,
        };
        let reply: wire::RefundReply = self.post(wire::REFUND_PATH, &call).await?;
        tracing::debug!(refund = %req.refund_reference, result_code = reply.result_code, "momo refund");
        if reply.result_code == MISSING_CODE {
            return Err(bad("refund answer has no resultCode"));
        }
        match codes::refund_verdict(reply.result_code) {
            Some(outcome) => {
                if outcome == RefundOutcome::Succeeded
                    && (reply.order_id != req.refund_reference || reply.amount != req.amount)
                {
                    return Err(bad(format!(
                        "refund answer is for {} / {} đồng, asked {} / {}",
                        reply.order_id, reply.amount, req.refund_reference, req.amount
                    )));
                }
                let gateway_refund_ref = Some(reply.trans_id).filter(|t| *t > 0).map(|t| t.to_string());
                Ok(RefundResult { outcome, gateway_refund_ref })
            }
            None => Err(ConnectorError::Rejected { code: reply.result_code.to_string(), message: reply.message }),
        }
    }

    /// MoMo has no refund-status call: the query of the purchase lists its refunds in
    /// `refundTrans[]`, each under the refund's own orderId (our refund reference). Only
    /// an entry for this refund settles it; none listed leaves it pending.
    async fn query_refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        let (_, reply) = self.order_status(&req.payment_reference).await?;
        match reply.refund_trans.iter().find(|t| t.order_id == req.refund_reference) {
            Some(t) => Ok(RefundResult {
                outcome: codes::listed_refund_outcome(t.result_code, ""),
                gateway_refund_ref: Some(t.trans_id).filter(|t| *t > 0).map(|t| t.to_string()),
            }),
            // Not listed (yet): MoMo has said nothing about this refund, so it is not failed.
            None => Ok(RefundResult { outcome: RefundOutcome::Pending, gateway_refund_ref: None }),
        }
    }

    fn parse_settlement(&self, bytes: &[u8]) -> Result<Vec<SettlementLine>, SettlementError> {
        settlement::parse_csv(bytes, &[SETTLEMENT_SUCCESS], str::to_owned)
    }
}
