//! The contract between feegate and an external e-receipt provider (VNPT, Viettel, MISA,
//! ...), plugged in the way a gateway connector is: the [`Issuer`] trait, the errors that
//! tell feegate whether to try again ([`IssuerError`]), [`HttpIssuer`], the client of
//! feegate's provider protocol v1 (below), and (feature `sim`) a simulator of that protocol
//! with the faults the conformance story needs.
//!
//! # The guarantees the contract rests on
//! - **Idempotent by key.** Every receipt is issued under feegate's receipt id as `key`; a
//!   provider that is asked twice with the same key answers with the receipt it already
//!   issued, never a second one. A provider whose own API lacks this is adapted by looking
//!   the key up first ([`Issuer::lookup`]), which feegate also does before any retry whose
//!   first answer was lost.
//! - **Unavailable is not refused.** [`IssuerError::Unavailable`] (network, timeout, 5xx)
//!   means "not known to be done; ask again later": feegate keeps the job queued and retries
//!   with backoff, for as long as it takes. [`IssuerError::Refused`] (the provider said no,
//!   4xx) is final and is shown to finance staff.
//!
//! # Protocol v1 (what [`HttpIssuer`] speaks and the simulator serves)
//! JSON over HTTPS, relative to the provider's base URL. Each request carries
//! `Feegate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<METHOD>.<path>.<body>")>`
//! (`path` as sent, starting with `/`; an empty body for GET).
//!
//! | request | answer |
//! |---|---|
//! | `POST /receipts` [`IssueRequest`] | 201 (new) or 200 (this key was issued before) [`ProviderReceipt`]; 409 the key was used for other content |
//! | `GET /receipts/{key}` | 200 [`ProviderReceipt`], or 404 (never issued) |
//! | `POST /receipts/{key}/cancel` `{"reason": "..."}` | 200 [`ProviderReceipt`] with `status: "cancelled"` (again: the same); 404 unknown key |
//!
//! A real provider's own API is reached by a crate of its own implementing [`Issuer`]; the
//! protocol notes in `../shared/protocols/` hold none for e-receipt providers, so no real
//! provider's wire format is claimed here.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[cfg(feature = "sim")]
pub mod sim;

/// What feegate asks a provider to issue: the receipt feegate numbered and signed, by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRequest {
    /// feegate's receipt id: the idempotency key.
    pub key: String,
    pub agency_code: String,
    pub payment_id: String,
    /// Đồng (negative for an adjustment).
    pub amount: i64,
    /// The receipt's canonical content as feegate signed it (JSON text).
    pub content: String,
}

/// A receipt as the provider issued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderReceipt {
    pub key: String,
    /// The provider's series and number (its legal numbering, beside feegate's).
    pub series: String,
    pub number: String,
    /// The code a payer looks the receipt up with on the provider's site.
    pub lookup_code: String,
    /// Where the provider shows it.
    pub url: String,
    /// `issued` or `cancelled`.
    pub status: String,
}

/// Why a provider call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    /// Not known to be done (network, timeout, 5xx, an answer that does not parse): try
    /// again later, looking the key up first.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused (4xx): final until someone changes something.
    #[error("provider refused: {0}")]
    Refused(String),
}

/// An external receipt issuer.
#[async_trait]
pub trait Issuer: Send + Sync {
    /// The configured id (`[receipts.providers.ID]`).
    fn id(&self) -> &str;
    /// The name shown to payers and staff.
    fn display_name(&self) -> &str;
    /// Issues `req` (idempotent by `req.key`).
    async fn issue(&self, req: &IssueRequest) -> Result<ProviderReceipt, IssuerError>;
    /// The receipt issued under `key`, if any.
    async fn lookup(&self, key: &str) -> Result<Option<ProviderReceipt>, IssuerError>;
    /// Cancels the receipt issued under `key` (idempotent).
    async fn cancel(&self, key: &str, reason: &str) -> Result<ProviderReceipt, IssuerError>;
}

/// The `Feegate-Signature` value of a request sent at unix second `t`.
pub fn signature(secret: &[u8], t: i64, method: &str, path: &str, body: &[u8]) -> String {
    let mut message = format!("{t}.{method}.{path}.").into_bytes();
    message.extend_from_slice(body);
    format!("t={t},v1={}", feegate_connector::crypto::hmac_sha256_hex(secret, &message))
}

/// Whether `header` is a valid signature of the request, made within `tolerance_secs` of `now`.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    method: &str,
    path: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    let mut message = format!("{t}.{method}.{path}.").into_bytes();
    message.extend_from_slice(body);
    feegate_connector::crypto::verify_hmac_sha256(secret, &message, v1).is_ok()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The client of protocol v1.
pub struct HttpIssuer {
    id: String,
    name: String,
    base_url: String,
    secret: SecretString,
    client: reqwest::Client,
}

impl HttpIssuer {
    /// A client for the provider at `base_url` (no trailing slash needed).
    pub fn new(id: &str, name: &str, base_url: &str, secret: SecretString) -> Result<HttpIssuer, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the provider's HTTP client: {e}"))?;
        Ok(HttpIssuer {
            id: id.to_owned(),
            name: name.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret,
            client,
        })
    }

    /// Sends one signed request; the answer's status and body (at most 64 KiB read).
    async fn send(&self, method: &str, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), IssuerError> {
        let url = format!("{}{path}", self.base_url);
        // The signed path is the URL's path as sent (the base URL may have one of its own).
        let signed_path = reqwest::Url::parse(&url)
            .map(|u| u.path().to_owned())
            .map_err(|e| IssuerError::Refused(format!("the provider's URL does not parse: {e}")))?;
        let sig = signature(self.secret.expose_secret().as_bytes(), now_secs(), method, &signed_path, &body);
        let req = match method {
            "GET" => self.client.get(&url),
            _ => self.client.post(&url).header("content-type", "application/json").body(body),
        };
        let resp =
            req.header("feegate-signature", sig).send().await.map_err(|e| IssuerError::Unavailable(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = feegate_connector::http::read_capped_to(resp, 64 * 1024)
            .await
            .map_err(|e| IssuerError::Unavailable(e.to_string()))?;
        Ok((status, bytes))
    }

    fn receipt(status: u16, body: &[u8]) -> Result<ProviderReceipt, IssuerError> {
        match status {
            200 | 201 => serde_json::from_slice(body)
                .map_err(|e| IssuerError::Unavailable(format!("the provider's answer does not parse: {e}"))),
            s if (400..500).contains(&s) => Err(IssuerError::Refused(format!(
                "HTTP {s}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ))),
            s => Err(IssuerError::Unavailable(format!("HTTP {s}"))),
        }
    }
}

/// A key as a path segment: feegate's ids are letters, digits and `_`; anything else is
/// refused rather than escaped.
fn key_segment(key: &str) -> Result<&str, IssuerError> {
    if !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        Ok(key)
    } else {
        Err(IssuerError::Refused(format!("not a receipt key: {key:?}")))
    }
}

#[async_trait]
impl Issuer for HttpIssuer {
    fn id(&self) -> &str {
        &self.id
    }

    fn display_name(&self) -> &str {
        &self.name
    }

    async fn issue(&self, req: &IssueRequest) -> Result<ProviderReceipt, IssuerError> {
        key_segment(&req.key)?;
        let body = serde_json::to_vec(req).map_err(|e| IssuerError::Refused(e.to_string()))?;
        let (status, bytes) = self.send("POST", "/receipts", body).await?;
        Self::receipt(status, &bytes)
    }

    async fn lookup(&self, key: &str) -> Result<Option<ProviderReceipt>, IssuerError> {
        let key = key_segment(key)?;
        let (status, bytes) = self.send("GET", &format!("/receipts/{key}"), Vec::new()).await?;
        if status == 404 {
            return Ok(None);
        }
        Self::receipt(status, &bytes).map(Some)
    }

    async fn cancel(&self, key: &str, reason: &str) -> Result<ProviderReceipt, IssuerError> {
        let key = key_segment(key)?;
        let body = serde_json::to_vec(&serde_json::json!({ "reason": reason }))
            .map_err(|e| IssuerError::Refused(e.to_string()))?;
        let (status, bytes) = self.send("POST", &format!("/receipts/{key}/cancel"), body).await?;
        Self::receipt(status, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_its_request_and_nothing_else() {
        let s = signature(b"k", 1000, "POST", "/receipts", b"{}");
        assert!(verify_signature(b"k", &s, "POST", "/receipts", b"{}", 1000, 300));
        assert!(!verify_signature(b"k", &s, "POST", "/receipts", b"{ }", 1000, 300), "another body");
        assert!(!verify_signature(b"k", &s, "GET", "/receipts", b"{}", 1000, 300), "another method");
        assert!(!verify_signature(b"k", &s, "POST", "/receipts/x", b"{}", 1000, 300), "another path");
        assert!(!verify_signature(b"other", &s, "POST", "/receipts", b"{}", 1000, 300), "another secret");
        assert!(!verify_signature(b"k", &s, "POST", "/receipts", b"{}", 1301, 300), "too old");
        assert!(!verify_signature(b"k", "t=1000", "POST", "/receipts", b"{}", 1000, 300));
    }

    #[test]
    fn keys_are_plain_path_segments() {
        assert!(key_segment("rct_01HX").is_ok());
        for bad in ["", "../x", "a/b", "a?b", &"x".repeat(65)] {
            assert!(key_segment(bad).is_err(), "{bad}");
        }
    }
}
