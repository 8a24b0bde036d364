//! The bank's account-notification wire: the credit message and its signature.
//!
//! A receiving bank that offers businesses an account-notification API posts every credit
//! to the registered URL and answers lookups of past credits. Both carry the same JSON
//! credit object, signed in [`SIGNATURE_HEADER`] with hex HMAC-SHA256 over the raw body
//! (lookups: the request is signed over its query string).

use feegate_connector::crypto;
use serde::{Deserialize, Serialize};

/// Header carrying the hex HMAC-SHA256 signature.
pub const SIGNATURE_HEADER: &str = "X-Bank-Signature";

/// Hex HMAC-SHA256 of `message`.
pub fn sign(key: &[u8], message: &[u8]) -> String {
    crypto::hmac_sha256_hex(key, message)
}

/// One credit to the account: the notification body and each element of a lookup answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The bank's id of this notification (repeats when the bank retries).
    pub notification_id: String,
    /// The credited account.
    pub account_number: String,
    /// BIN of the receiving bank.
    pub bank_bin: String,
    /// Whole đồng, a JSON integer.
    pub amount: i64,
    /// The transfer content as the bank received it (rewritten by the payer's bank).
    pub content: String,
    /// The bank's transaction number (số bút toán / FT number).
    pub bank_txn_id: String,
    /// RFC 3339, GMT+7.
    pub credited_at: String,
}

/// Query string of a credits lookup by content.
pub fn lookup_query(reference: &str) -> String {
    serde_urlencoded::to_string([("content", reference)]).unwrap_or_default()
}
