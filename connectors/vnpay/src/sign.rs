//! VNPay 2.1.0 signing: the sorted form-encoded hash data of the pay URL, return URL and
//! IPN (GATEWAYS.md §1.3/§1.4), the `|`-joined API checksums (§1.6/§1.7), and GMT+7 dates.

use feegate_connector::{crypto, SignatureOk, VerifyError};
use std::collections::BTreeMap;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Vietnam's offset: every VNPay date is GMT+7 wall time.
pub const VN: UtcOffset = match UtcOffset::from_hms(7, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year][month][day][hour][minute][second]");

/// `yyyyMMddHHmmss` in GMT+7.
pub fn vn_date(t: OffsetDateTime) -> String {
    t.to_offset(VN).format(DATE).unwrap_or_default()
}

/// Parses a `yyyyMMddHHmmss` GMT+7 date.
pub fn parse_vn_date(s: &str) -> Option<OffsetDateTime> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    PrimitiveDateTime::parse(s, DATE).ok().map(|p| p.assume_offset(VN))
}

/// Form-urlencodes one value the WHATWG/Java way (space -> `+`, keeps `*-._`), the
/// encoder of row 1 of the §1.3 table.
pub fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The hash data of §1.3: pairs sorted by key (byte order), empty values dropped,
/// `encode(key)=encode(value)` joined with `&`. The same string is the URL's query.
pub fn hash_data(params: &BTreeMap<String, String>) -> String {
    hash_data_with(params, false)
}

fn hash_data_with(params: &BTreeMap<String, String>, keep_empty: bool) -> String {
    params
        .iter()
        .filter(|(_, v)| keep_empty || !v.is_empty())
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lower-case hex HMAC-SHA512 of `data`.
pub fn hmac(secret: &[u8], data: &str) -> String {
    crypto::hmac_sha512_hex(secret, data.as_bytes())
}

/// The signed query string: hash data + `&vnp_SecureHash=` + its HMAC-SHA512.
pub fn signed_query(secret: &[u8], params: &BTreeMap<String, String>) -> String {
    let data = hash_data(params);
    let hash = hmac(secret, &data);
    format!("{data}&vnp_SecureHash={hash}")
}

/// The `vnp_` fields of a received query (return URL or IPN), decoded, and its hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// Every `vnp_` field except `vnp_SecureHash` and `vnp_SecureHashType`.
    pub fields: BTreeMap<String, String>,
    pub secure_hash: Option<String>,
}

impl Received {
    /// Splits decoded pairs; keeps only `vnp_` keys (a return URL may carry its own
    /// parameters). A key given twice makes the message ambiguous, hence malformed.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, VerifyError> {
        let mut out = Received::default();
        for (k, v) in pairs {
            if !k.starts_with("vnp_") {
                continue;
            }
            if k == "vnp_SecureHash" {
                if out.secure_hash.replace(v).is_some() {
                    return Err(VerifyError::Malformed("vnp_SecureHash given twice".into()));
                }
            } else if k == "vnp_SecureHashType" {
                continue;
            } else if out.fields.insert(k.clone(), v).is_some() {
                return Err(VerifyError::Malformed(format!("{k} given twice")));
            }
        }
        Ok(out)
    }

    /// Checks `vnp_SecureHash` against the rebuilt hash data, in constant time. The
    /// rebuilt data drops empty values (§1.3, Java/C#/Node demos); the PHP demo's
    /// verifier keeps them, so when that fails and some value is empty, the variant
    /// with empties is tried too. Both need the secret, so neither weakens the check.
    pub fn verify(&self, secret: &[u8]) -> Result<SignatureOk, VerifyError> {
        let hash = self.secure_hash.as_deref().filter(|h| !h.is_empty()).ok_or(VerifyError::BadSignature)?;
        let first = crypto::verify_hmac_sha512(secret, hash_data(&self.fields).as_bytes(), hash);
        match first {
            Ok(ok) => Ok(ok),
            Err(e) if self.fields.values().any(String::is_empty) => {
                crypto::verify_hmac_sha512(secret, hash_data_with(&self.fields, true).as_bytes(), hash).map_err(|_| e)
            }
            Err(e) => Err(e),
        }
    }

    /// A field's value, or "".
    pub fn get(&self, key: &str) -> &str {
        self.fields.get(key).map(String::as_str).unwrap_or("")
    }
}

/// The `|`-joined checksum of the merchant API (§1.6, §1.7): raw values, fixed order.
pub fn pipe_checksum(secret: &[u8], values: &[&str]) -> String {
    hmac(secret, &values.join("|"))
}

/// Field order of the querydr request checksum (§1.6).
pub const QUERYDR_REQUEST: [&str; 9] = [
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_TransactionDate",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
];

/// Field order of the querydr response checksum (§1.6, [3P]).
pub const QUERYDR_RESPONSE: [&str; 15] = [
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
    "vnp_PromotionCode",
    "vnp_PromotionAmount",
];

/// Field order of the refund request checksum (§1.7).
pub const REFUND_REQUEST: [&str; 13] = [
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TransactionType",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_TransactionNo",
    "vnp_TransactionDate",
    "vnp_CreateBy",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
];

/// Field order of the refund response checksum (§1.7).
pub const REFUND_RESPONSE: [&str; 13] = [
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
];

/// The checksum of a JSON message over `order` (absent fields count as "").
pub fn message_checksum(secret: &[u8], msg: &BTreeMap<String, String>, order: &[&str]) -> String {
    let values: Vec<&str> = order.iter().map(|k| msg.get(*k).map(String::as_str).unwrap_or("")).collect();
    pipe_checksum(secret, &values)
}

/// Verifies a JSON message's `vnp_SecureHash` over `order`, in constant time.
pub fn verify_message(secret: &[u8], msg: &BTreeMap<String, String>, order: &[&str]) -> bool {
    let values: Vec<&str> = order.iter().map(|k| msg.get(*k).map(String::as_str).unwrap_or("")).collect();
    let received = msg.get("vnp_SecureHash").map(String::as_str).unwrap_or("");
    crypto::verify_hmac_sha512(secret, values.join("|").as_bytes(), received).is_ok()
}

/// Reads a JSON object of the merchant API into text values (numbers as their decimal
/// text, as the PHP demo sends some of them; nulls as absent).
pub fn json_fields(body: &[u8]) -> Option<BTreeMap<String, String>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => continue,
            serde_json::Value::Bool(_) | serde_json::Value::Array(_) | serde_json::Value::Object(_) => return None,
        };
        out.insert(k.clone(), text);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
