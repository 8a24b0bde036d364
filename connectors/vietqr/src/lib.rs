//! The `vietqr` connector: bank transfer by VietQR (NAPAS247 EMVCo QR) to the agency's account.
//!
//! There is no payment gateway. [`Connector::start`] builds a dynamic VietQR payload locally
//! (bank BIN, account, amount, and our reference as the transfer content); the payer scans
//! it in any bank app. Confirmation comes from the receiving bank's account-notification
//! API: a signed credit message whose content carries our reference (see
//! `docs/connectors/vietqr.md`). Refunds are paid out by hand, so they are `NotSupported`.
//!
//! Map: [`emv`] (TLV, CRC, encoder), [`decode()`] (validating decoder), [`content`] (finding
//! our reference in a rewritten transfer content), [`wire`] (the bank's credit message and
//! signature), [`bank_name`] (BIN table), `sim` (the simulated bank app and bank API).

mod banks;
/// The transfer-content reference rules live in the connector contract, shared with the
/// core's statement matching; re-exported under their old name.
pub use feegate_connector::reference as content;
mod decode;
pub mod emv;
#[cfg(feature = "sim")]
pub mod sim;
pub mod wire;

pub use banks::{bank_list, bank_name};
pub use decode::{decode, DecodeError, Decoded};

use async_trait::async_trait;
use content::ContentError;
use feegate_connector::{
    crypto, settlement, Action, ConfigError, Connector, ConnectorConfig, ConnectorError, CreditedAccount, Disposition,
    InboundRequest, Notification, Outcome, QueryRequest, QueryResult, RefundRequest, RefundResult, Reply, ReturnInfo,
    SettlementError, SettlementKind, SettlementLine, SignatureOk, StartRequest, Started, TransferInstructions,
    VerifiedNotification, VerifyError,
};
use secrecy::{ExposeSecret, SecretString};
use wire::{sign, Credit, SIGNATURE_HEADER};

/// The status the bank's credit file gives every row.
pub const SETTLEMENT_STATUS: &str = "credited";

/// Builds a VietQR connector. Setting: `base_url` (the bank's API); secret: `notify_secret`.
pub fn factory(cfg: ConnectorConfig, http: reqwest::Client) -> Result<Box<dyn Connector>, ConfigError> {
    let base_url = cfg.setting("base_url")?.trim_end_matches('/').to_owned();
    if url::Url::parse(&base_url).is_err() {
        return Err(cfg.invalid("base_url", "not an absolute URL"));
    }
    Ok(Box::new(VietQr { base_url, secret: cfg.secret("notify_secret")?, id: cfg.id, name: cfg.display_name, http }))
}

/// One agency's VietQR connector account.
pub struct VietQr {
    id: String,
    name: String,
    base_url: String,
    secret: SecretString,
    http: reqwest::Client,
}

fn rejected(code: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::Rejected { code: code.into(), message: message.into() }
}

impl VietQr {
    fn key(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }

    /// The bank's signed lookup: the positive credits whose content carries `reference`.
    async fn credits(&self, reference: &str) -> Result<Vec<Credit>, ConnectorError> {
        let query = wire::lookup_query(reference);
        tracing::debug!(connector = %self.id, reference = %reference, "vietqr credits lookup");
        let r = self
            .http
            .get(format!("{}/api/credits?{query}", self.base_url))
            .header(SIGNATURE_HEADER, sign(self.key(), query.as_bytes()))
            .send()
            .await?;
        let status = r.status().as_u16();
        if status >= 500 {
            return Err(ConnectorError::Transport(format!("bank answered HTTP {status}")));
        }
        let sig = r.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = feegate_connector::http::read_capped(r).await?;
        if status != 200 {
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(rejected(&status.to_string(), text));
        }
        crypto::verify_hmac_sha256(self.key(), &body, &sig)
            .map_err(|_| ConnectorError::BadResponse("credits lookup signature does not verify".into()))?;
        let credits: Vec<Credit> =
            serde_json::from_slice(&body).map_err(|e| ConnectorError::BadResponse(e.to_string()))?;
        Ok(credits
            .into_iter()
            .filter(|c| c.amount > 0 && content::find_reference(&c.content).as_deref() == Ok(reference))
            .collect())
    }
}

/// Turns a credit whose signature `proof` vouches for into a notification.
fn credit_notification(proof: SignatureOk, c: Credit) -> Result<VerifiedNotification, VerifyError> {
    let reference = match content::find_reference(&c.content) {
        Ok(r) => r,
        Err(ContentError::None) => return Err(VerifyError::Malformed("no reference in transfer content".into())),
        Err(ContentError::Ambiguous(found)) => {
            return Err(VerifyError::Malformed(format!("several references in transfer content: {}", found.join(" "))))
        }
    };
    if c.amount <= 0 {
        return Err(VerifyError::Malformed(format!("credit amount {} is not positive", c.amount)));
    }
    if c.bank_txn_id.trim().is_empty() {
        return Err(VerifyError::Malformed("empty bank_txn_id".into()));
    }
    let paid_at = time::OffsetDateTime::parse(&c.credited_at, &time::format_description::well_known::Rfc3339).ok();
    // Where the money landed: the core applies the credit only if this is the account the
    // attempt's QR named (a payer may type another agency's account by hand).
    let landed = credited_account(&c);
    Ok(VerifiedNotification::new(
        proof,
        Notification {
            reference,
            gateway_txn: Some(c.bank_txn_id),
            amount: c.amount,
            currency: "VND".into(),
            // A credit is money received: there is no pending or failed credit.
            outcome: Outcome::Succeeded,
            paid_at,
        },
    )
    .with_credited_to(landed))
}

fn credited_account(c: &Credit) -> CreditedAccount {
    CreditedAccount { bank_bin: c.bank_bin.trim().to_owned(), account_number: c.account_number.trim().to_owned() }
}

#[async_trait]
impl Connector for VietQr {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "vietqr"
    }
    fn display_name(&self) -> &str {
        &self.name
    }
    fn supports_refund(&self) -> bool {
        false
    }
    fn needs_beneficiary(&self) -> bool {
        true
    }

    async fn start(&self, req: &StartRequest) -> Result<Started, ConnectorError> {
        let b = req.beneficiary.as_ref().ok_or_else(|| {
            rejected("no_single_account", "the payment's lines go to several accounts; one QR cannot pay them")
        })?;
        if req.currency != "VND" {
            return Err(rejected("currency", format!("VietQR carries VND only, not {}", req.currency)));
        }
        if !content::is_reference(&req.reference) {
            return Err(rejected("reference", "the reference must be FG + 10 Crockford base32 characters"));
        }
        let payload = emv::encode(&emv::QrData {
            initiation: emv::Initiation::Dynamic,
            bank_bin: b.bank_bin.clone(),
            account: b.account_number.clone(),
            service: emv::Service::ToAccount,
            merchant_category: None,
            amount: Some(req.amount),
            bill_number: None,
            purpose: Some(req.reference.clone()),
        })
        .map_err(|e| rejected("qr", e.to_string()))?;
        let bank_name = if b.bank_name.is_empty() {
            bank_name(&b.bank_bin).unwrap_or_default().to_owned()
        } else {
            b.bank_name.clone()
        };
        let transfer = TransferInstructions {
            bank_bin: b.bank_bin.clone(),
            bank_name,
            account_number: b.account_number.clone(),
            account_name: b.account_name.clone(),
            amount: req.amount,
            content: req.reference.clone(),
        };
        Ok(Started { action: Action::Qr { payload, transfer }, gateway_ref: None })
    }

    fn verify_callback(&self, req: &InboundRequest) -> Result<VerifiedNotification, VerifyError> {
        let sig = req.header(&SIGNATURE_HEADER.to_ascii_lowercase()).ok_or(VerifyError::BadSignature)?;
        let proof = crypto::verify_hmac_sha256(self.key(), &req.body, sig)?;
        let credit: Credit = serde_json::from_slice(&req.body).map_err(|e| VerifyError::Malformed(e.to_string()))?;
        credit_notification(proof, credit)
    }

    fn callback_reply(&self, d: Disposition) -> Reply {
        let (status, word) = match d {
            // A credit with no matching payment is still money in the account:
            // acknowledge it so the bank stops retrying; reconciliation handles it.
            Disposition::Applied
            | Disposition::AlreadyFinal
            | Disposition::AmountMismatch
            | Disposition::UnknownReference => (200, "received"),
            Disposition::BadSignature => (401, "bad_signature"),
            Disposition::Malformed => (400, "malformed"),
            Disposition::InternalError => (500, "retry"),
        };
        Reply::json(status, &serde_json::json!({ "status": word }))
    }

    fn verify_return(&self, _req: &InboundRequest) -> Result<ReturnInfo, VerifyError> {
        Err(VerifyError::NotSupported { operation: "browser return" })
    }

    async fn query(&self, req: &QueryRequest) -> Result<QueryResult, ConnectorError> {
        let ours = self.credits(&req.reference).await?;
        let pick = ours.iter().find(|c| c.amount == req.amount).or(ours.first());
        Ok(match pick {
            Some(c) => QueryResult {
                outcome: Outcome::Succeeded,
                gateway_txn: Some(c.bank_txn_id.clone()),
                amount: Some(c.amount),
            },
            // A bank transfer never fails; it just has not come (yet).
            None => QueryResult { outcome: Outcome::Pending, gateway_txn: None, amount: None },
        })
    }

    async fn credited_account(
        &self,
        req: &QueryRequest,
        gateway_txn: &str,
    ) -> Result<Option<CreditedAccount>, ConnectorError> {
        let ours = self.credits(&req.reference).await?;
        Ok(ours.iter().find(|c| c.bank_txn_id == gateway_txn).map(credited_account))
    }

    async fn refund(&self, _req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        Err(ConnectorError::NotSupported { operation: "refund" })
    }

    async fn query_refund(&self, _req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
        Err(ConnectorError::NotSupported { operation: "refund query" })
    }

    fn parse_settlement(&self, bytes: &[u8]) -> Result<Vec<SettlementLine>, SettlementError> {
        let lines = settlement::parse_csv(bytes, &[SETTLEMENT_STATUS], str::to_owned)?;
        match lines.iter().find(|l| l.kind == SettlementKind::Refund) {
            Some(l) => Err(SettlementError::Row { line: l.line, reason: "a bank credit file has no refunds".into() }),
            None => Ok(lines),
        }
    }
}

#[cfg(test)]
mod tests;
