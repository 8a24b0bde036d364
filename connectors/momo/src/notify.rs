//! The signed result MoMo sends twice: the IPN (JSON `POST`) and the browser return
//! (`GET redirectUrl?...`), with the same fields and the same 13-field signature (§2.3).

use crate::sign::{self, ResultSigned};
use feegate_connector::{SignatureOk, VerifyError};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// JSON keys of the signed fields, in the order of [`ResultSigned`].
const KEYS: [&str; 12] = [
    "amount",
    "extraData",
    "message",
    "orderId",
    "orderInfo",
    "orderType",
    "partnerCode",
    "payType",
    "requestId",
    "responseTime",
    "resultCode",
    "transId",
];

/// Keys sent as JSON numbers by MoMo (Long / int).
const NUMERIC: [&str; 4] = ["amount", "responseTime", "resultCode", "transId"];

/// A result message as received: the signed fields as text, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedResult {
    pub fields: ResultSigned,
    pub signature: String,
}

/// A result whose signature verified, with its numbers parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MomoResult {
    pub order_id: String,
    pub amount: i64,
    pub result_code: i64,
    pub message: String,
    /// MoMo's transaction number, when it gives a non-zero one.
    pub trans_id: Option<String>,
    pub response_time: Option<OffsetDateTime>,
}

fn build(get: impl Fn(&str) -> Result<String, VerifyError>) -> Result<SignedResult, VerifyError> {
    let mut v = Vec::with_capacity(KEYS.len());
    for k in KEYS {
        v.push(get(k)?);
    }
    let signature = get("signature").map_err(|_| VerifyError::BadSignature)?;
    let mut it = v.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let fields = ResultSigned {
        amount: next(),
        extra_data: next(),
        message: next(),
        order_id: next(),
        order_info: next(),
        order_type: next(),
        partner_code: next(),
        pay_type: next(),
        request_id: next(),
        response_time: next(),
        result_code: next(),
        trans_id: next(),
    };
    Ok(SignedResult { fields, signature })
}

/// Reads an IPN body. Numbers are rendered as plain decimal text, strings as they are;
/// a missing signed field, or one of another JSON type, is malformed.
pub fn from_json(body: &[u8]) -> Result<SignedResult, VerifyError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| VerifyError::Malformed(format!("IPN body is not JSON: {e}")))?;
    let obj = value.as_object().ok_or_else(|| VerifyError::Malformed("IPN body is not a JSON object".into()))?;
    build(|k| match obj.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(other) => Err(VerifyError::Malformed(format!("`{k}` has an unexpected JSON value {other}"))),
        None => Err(VerifyError::Malformed(format!("`{k}` is missing"))),
    })
}

/// Reads a browser return's decoded query pairs (the first of repeated keys counts).
pub fn from_pairs(pairs: &[(String, String)]) -> Result<SignedResult, VerifyError> {
    build(|k| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| VerifyError::Malformed(format!("`{k}` is missing")))
    })
}

impl SignedResult {
    /// Signs `fields` (for the simulator and tests).
    pub fn signed(fields: ResultSigned, access_key: &str, secret_key: &[u8]) -> Self {
        let signature = sign::sign(secret_key, &sign::result_raw(access_key, &fields));
        Self { fields, signature }
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        let f = &self.fields;
        let values = [
            &f.amount,
            &f.extra_data,
            &f.message,
            &f.order_id,
            &f.order_info,
            &f.order_type,
            &f.partner_code,
            &f.pay_type,
            &f.request_id,
            &f.response_time,
            &f.result_code,
            &f.trans_id,
        ];
        let mut out: Vec<(&'static str, &str)> = KEYS.iter().copied().zip(values.map(String::as_str)).collect();
        out.push(("signature", &self.signature));
        out
    }

    /// The IPN JSON body as MoMo sends it (numeric fields as JSON numbers).
    pub fn to_json(&self) -> Vec<u8> {
        let mut obj = Map::new();
        for (k, v) in self.pairs() {
            let value = match (NUMERIC.contains(&k), v.parse::<i64>()) {
                (true, Ok(n)) => Value::from(n),
                _ => Value::from(v),
            };
            obj.insert(k.to_owned(), value);
        }
        Value::Object(obj).to_string().into_bytes()
    }

    /// The browser return's query string (form-encoded).
    pub fn to_query(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs() {
            s.append_pair(k, v);
        }
        s.finish()
    }

    /// Checks the signature with the merchant's keys, then that the message is this
    /// merchant's and its numbers are numbers. Nothing is parsed before the signature holds.
    pub fn verify(
        &self,
        access_key: &str,
        secret_key: &[u8],
        partner_code: &str,
    ) -> Result<(SignatureOk, MomoResult), VerifyError> {
        let f = &self.fields;
        let proof = sign::verify(secret_key, &sign::result_raw(access_key, f), &self.signature)?;
        if f.partner_code != partner_code {
            return Err(VerifyError::Malformed(format!("partnerCode `{}` is not this account's", f.partner_code)));
        }
        if f.order_id.is_empty() {
            return Err(VerifyError::Malformed("orderId is empty".into()));
        }
        let amount = digits(&f.amount).ok_or_else(|| VerifyError::Malformed(format!("amount `{}`", f.amount)))?;
        let result_code = f
            .result_code
            .parse::<i64>()
            .map_err(|_| VerifyError::Malformed(format!("resultCode `{}`", f.result_code)))?;
        let trans_id = match f.trans_id.as_str() {
            "" | "0" => None,
            t if t.bytes().all(|b| b.is_ascii_digit()) => Some(t.to_owned()),
            t => return Err(VerifyError::Malformed(format!("transId `{t}`"))),
        };
        let response_time = digits(&f.response_time)
            .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok());
        Ok((
            proof,
            MomoResult {
                order_id: f.order_id.clone(),
                amount,
                result_code,
                message: f.message.clone(),
                trans_id,
                response_time,
            },
        ))
    }
}

/// A non-negative whole number written in plain decimal digits.
fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
