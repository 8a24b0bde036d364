//! The sandbox gateway's wire types and signing rules.

use feegate_connector::{crypto, VerifyError};
use serde::{Deserialize, Serialize};

/// Header carrying hex HMAC-SHA256 signatures on every server-to-server message.
pub const SIGNATURE_HEADER: &str = "X-Sandbox-Signature";

/// Hex HMAC-SHA256 of `message`.
pub fn sign(key: &[u8], message: &[u8]) -> String {
    crypto::hmac_sha256_hex(key, message)
}

/// The pay request carried in the redirect URL's query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayRequest {
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub return_url: String,
    pub notify_url: String,
}

impl PayRequest {
    /// The form-encoded query with `signature` appended.
    pub fn signed_query(&self, key: &[u8]) -> String {
        let q = serde_urlencoded::to_string(self).unwrap_or_default();
        format!("{q}&signature={}", sign(key, q.as_bytes()))
    }
    /// Parses and verifies a signed query.
    pub fn from_signed_query(key: &[u8], query: &str) -> Result<Self, VerifyError> {
        let (unsigned, sig) = split_signature(query)?;
        crypto::verify_hmac_sha256(key, unsigned.as_bytes(), sig)?;
        serde_urlencoded::from_str(unsigned).map_err(|e| VerifyError::Malformed(e.to_string()))
    }
}

fn split_signature(query: &str) -> Result<(&str, &str), VerifyError> {
    query.rsplit_once("&signature=").ok_or_else(|| VerifyError::Malformed("no signature".into()))
}

/// The server-to-server notification body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notify {
    pub reference: String,
    pub transaction_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub paid_at: String,
}

/// The browser return's signed query.
pub fn return_query(key: &[u8], reference: &str, status: &str, amount: i64) -> String {
    let q =
        serde_urlencoded::to_string([("reference", reference), ("status", status), ("amount", &amount.to_string())])
            .unwrap_or_default();
    format!("{q}&signature={}", sign(key, q.as_bytes()))
}

/// Verifies a browser return query; gives (reference, status).
pub fn verify_return(key: &[u8], query: &str) -> Result<(String, String), VerifyError> {
    let (unsigned, sig) = split_signature(query)?;
    crypto::verify_hmac_sha256(key, unsigned.as_bytes(), sig)?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(unsigned).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match (get("reference"), get("status")) {
        (Some(r), Some(s)) => Ok((r, s)),
        _ => Err(VerifyError::Malformed("reference and status required".into())),
    }
}

/// A transaction as the query API reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    pub reference: String,
    pub transaction_id: Option<String>,
    pub amount: i64,
    /// `pending`, `succeeded`, `failed`, or `not_found` (with HTTP 404).
    pub status: String,
}

/// A refund call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundCall {
    pub refund_reference: String,
    pub reference: String,
    pub amount: i64,
    pub reason: String,
}

/// A refund's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RefundReply {
    pub refund_reference: String,
    pub refund_id: Option<String>,
    /// `succeeded`, `pending`, `failed`, or `rejected` (with HTTP 422).
    pub status: String,
    pub error: Option<String>,
}
