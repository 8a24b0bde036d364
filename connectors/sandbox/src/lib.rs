//! The `sandbox` connector: feegate's own always-available test gateway.
//!
//! Its wire is small and documented here, so that it doubles as the model for real
//! connectors (see `docs/connectors.md`):
//! - start: redirect to `{base_url}/pay?reference&amount&currency&description&return_url&notify_url`
//!   plus `signature` = hex HMAC-SHA256(secret, the form-encoded query before it);
//! - notification: `POST notify_url`, JSON `{reference, transaction_id, amount, currency,
//!   status: succeeded|failed, paid_at}`, header `X-Sandbox-Signature` = hex HMAC-SHA256(secret, body);
//! - browser return: `return_url?reference&status&amount&signature` (HMAC over the query before it);
//! - `GET {base_url}/api/transactions/{reference}`, `POST {base_url}/api/refunds`,
//!   `GET {base_url}/api/refunds/{refund_reference}`: JSON, each request and response
//!   signed in `X-Sandbox-Signature` (request: over the body, or the path's last segment for GETs).

#[cfg(feature = "sim")]
pub mod sim;
pub mod wire;

use async_trait::async_trait;
use feegate_connector::{
    crypto, settlement, Action, ConfigError, Connector, ConnectorConfig, ConnectorError, Disposition, InboundRequest,
    Notification, Outcome, QueryRequest, QueryResult, RefundOutcome, RefundRequest, RefundResult, Reply, ReturnInfo,
    SettlementError, SettlementLine, StartRequest, Started, VerifiedNotification, VerifyError,
};
use secrecy::{ExposeSecret, SecretString};
use wire::{sign, SIGNATURE_HEADER};

/// Builds a sandbox connector. Settings: `base_url`; secret: `secret`.
pub fn factory(cfg: ConnectorConfig, http: reqwest::Client) -> Result<Box<dyn Connector>, ConfigError> {
    Ok(Box::new(Sandbox {
        base_url: cfg.setting("base_url")?.trim_end_matches('/').to_owned(),
        secret: cfg.secret("secret")?,
        id: cfg.id,
        name: cfg.display_name,
        http,
    }))
}

/// One sandbox connector account.
pub struct Sandbox {
    id: String,
    name: String,
    base_url: String,
    secret: SecretString,
    http: reqwest::Client,
}

impl Sandbox {
    fn key(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }

    async fn signed_get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        last: &str,
    ) -> Result<(u16, T), ConnectorError> {
        let r = self
            .http
            .get(format!("{}{path}", self.base_url))
            .header(SIGNATURE_HEADER, sign(self.key(), last.as_bytes()))
            .send()
            .await?;
        self.read(r).await
    }

    async fn read<T: serde::de::DeserializeOwned>(&self, r: reqwest::Response) -> Result<(u16, T), ConnectorError> {
        let status = r.status().as_u16();
        if status >= 500 {
            return Err(ConnectorError::Transport(format!("sandbox answered HTTP {status}")));
        }
        let sig = r.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = feegate_connector::http::read_capped(r).await?;
        crypto::verify_hmac_sha256(self.key(), &body, &sig)
            .map_err(|_| ConnectorError::BadResponse("response signature does not verify".into()))?;
        let parsed = serde_json::from_slice(&body).map_err(|e| ConnectorError::BadResponse(e.to_string()))?;
        Ok((status, parsed))
    }
}

fn refund_result(status: u16, r: wire::RefundReply) -> Result<RefundResult, ConnectorError> {
    if status != 200 {
        return Err(ConnectorError::Rejected { code: status.to_string(), message: r.error.unwrap_or_default() });
    }
    let outcome = match r.status.as_str() {
        "succeeded" => RefundOutcome::Succeeded,
        "pending" => RefundOutcome::Pending,
        "failed" => RefundOutcome::Failed { code: "failed".into(), message: r.error.unwrap_or_default() },
        other => return Err(ConnectorError::BadResponse(format!("unknown refund status {other}"))),
    };
    Ok(RefundResult { outcome, gateway_refund_ref: r.refund_id })
}

#[async_trait]
impl Connector for Sandbox {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "sandbox"
    }
    fn display_name(&self) -> &str {
        &self.name
    }
    fn supports_refund(&self) -> bool {
        true
    }

    async fn start(&self, req: &StartRequest) -> Result<Started, ConnectorError> {
        let query = wire::PayRequest {
            reference: req.reference.clone(),
            amount: req.amount,
            currency: req.currency.clone(),
            description: feegate_connector::text::ascii_fold(&req.description),
            return_url: req.return_url.clone(),
            notify_url: req.notify_url.clone(),
        }
        .signed_query(self.key());
        Ok(Started { action: Action::Redirect { url: format!("{}/pay?{query}", self.base_url) }, gateway_ref: None })
    }

    fn verify_callback(&self, req: &InboundRequest) -> Result<VerifiedNotification, VerifyError> {
        let sig = req.header(&SIGNATURE_HEADER.to_ascii_lowercase()).ok_or(VerifyError::BadSignature)?;
        let proof = crypto::verify_hmac_sha256(self.key(), &req.body, sig)?;
        let n: wire::Notify = serde_json::from_slice(&req.body).map_err(|e| VerifyError::Malformed(e.to_string()))?;
        let outcome = match n.status.as_str() {
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed { code: "failed".into(), message: "declined by the payer".into() },
            other => return Err(VerifyError::Malformed(format!("unknown status {other}"))),
        };
        let paid_at = time::OffsetDateTime::parse(&n.paid_at, &time::format_description::well_known::Rfc3339).ok();
        Ok(VerifiedNotification::new(
            proof,
            Notification {
                reference: n.reference,
                gateway_txn: Some(n.transaction_id),
                amount: n.amount,
                currency: n.currency,
                outcome,
                paid_at,
            },
        ))
    }

    fn callback_reply(&self, d: Disposition) -> Reply {
        let (status, word) = match d {
            Disposition::Applied => (200, "received"),
            Disposition::AlreadyFinal => (200, "duplicate"),
            Disposition::AmountMismatch => (200, "amount_mismatch"),
            Disposition::UnknownReference => (200, "unknown_reference"),
            Disposition::BadSignature => (401, "bad_signature"),
            Disposition::Malformed => (400, "malformed"),
            Disposition::InternalError => (500, "retry"),
        };
        Reply::json(status, &serde_json::json!({ "status": word }))
    }

    fn verify_return(&self, req: &InboundRequest) -> Result<ReturnInfo, VerifyError> {
        let (reference, status) = wire::verify_return(self.key(), &req.query)?;
        let outcome = match status.as_str() {
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed { code: "failed".into(), message: "declined".into() },
            _ => Outcome::Pending,
        };
        Ok(ReturnInfo { reference, outcome })
    }

    async fn query(&self, req: &QueryRequest) -> Result<QueryResult, ConnectorError> {
        let (status, t): (u16, wire::Transaction) =
            self.signed_get(&format!("/api/transactions/{}", req.reference), &req.reference).await?;
        if status == 404 {
            return Ok(QueryResult { outcome: Outcome::Pending, gateway_txn: None, amount: None });
        }
        let outcome = match t.status.as_str() {
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed { code: "failed".into(), message: "declined".into() },
            "pending" => Outcome::Pending,
            other => return Err(ConnectorError::BadResponse(format!("unknown status {other}"))),
        };
        Ok(QueryResult { outcome, gateway_txn: t.transaction_id.filter(|s| !s.is_empty()), amount: Some(t.amount) })
    }

    async fn refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        let body = serde_json::to_vec(&wire::RefundCall {
            refund_reference: req.refund_reference.clone(),
            reference: req.payment_reference.clone(),
            amount: req.amount,
            reason: feegate_connector::text::ascii_fold(&req.reason),
        })
        .map_err(|e| ConnectorError::BadResponse(e.to_string()))?;
        let r = self
            .http
            .post(format!("{}/api/refunds", self.base_url))
            .header(SIGNATURE_HEADER, sign(self.key(), &body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let (status, reply) = self.read(r).await?;
        refund_result(status, reply)
    }

    async fn query_refund(&self, req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        let (status, reply) =
            self.signed_get(&format!("/api/refunds/{}", req.refund_reference), &req.refund_reference).await?;
        refund_result(status, reply)
    }

    fn parse_settlement(&self, bytes: &[u8]) -> Result<Vec<SettlementLine>, SettlementError> {
        settlement::parse_csv(bytes, &["succeeded"], str::to_owned)
    }
}
