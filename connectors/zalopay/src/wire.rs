//! ZaloPay OpenAPI v2 wire types: request bodies we send, answers we read, the callback.

use crate::codes::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v2/create` body (GATEWAYS.md §3.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateOrder {
    pub app_id: u64,
    pub app_user: String,
    pub app_trans_id: String,
    pub app_time: i64,
    pub expire_duration_seconds: i64,
    pub amount: i64,
    /// JSON array text, `[]` for us.
    pub item: String,
    /// JSON object text: `{"redirecturl":"..."}`.
    pub embed_data: String,
    pub description: String,
    /// Empty: the payer chooses the method on ZaloPay's page.
    pub bank_code: String,
    pub callback_url: String,
    pub mac: String,
}

/// `POST /v2/query` body (§3.4).
#[derive(Debug, Clone, Serialize)]
pub struct QueryOrder {
    pub app_id: u64,
    pub app_trans_id: String,
    pub mac: String,
}

/// `POST /v2/refund` body (§3.5), without `refund_fee_amount`.
#[derive(Debug, Clone, Serialize)]
pub struct Refund {
    pub app_id: u64,
    pub m_refund_id: String,
    pub zp_trans_id: String,
    pub amount: i64,
    pub timestamp: i64,
    pub description: String,
    pub mac: String,
}

/// `POST /v2/query_refund` body (§3.5).
#[derive(Debug, Clone, Serialize)]
pub struct QueryRefund {
    pub app_id: u64,
    pub m_refund_id: String,
    pub timestamp: i64,
    pub mac: String,
}

/// Any ZaloPay answer: the verdict fields plus what create, query and refund add.
/// ZaloPay does not sign its answers; they are trusted as far as TLS goes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Answer {
    pub return_code: i64,
    pub return_message: String,
    pub sub_return_code: Option<i64>,
    pub sub_return_message: String,
    // create
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zp_trans_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    // query
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_processing: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zp_trans_id: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_amount: Option<i64>,
    // refund
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<Value>,
}

impl Answer {
    /// The verdict fields, for [`crate::codes`].
    pub fn verdict(&self) -> Verdict {
        Verdict {
            return_code: self.return_code,
            return_message: self.return_message.clone(),
            sub_return_code: self.sub_return_code,
            sub_return_message: self.sub_return_message.clone(),
        }
    }
}

/// The callback's outer body: `{"data": "<JSON text>", "mac": "<hex>", "type": 1}` (§3.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallbackBody {
    pub data: String,
    pub mac: String,
    /// 1 = order, 2 = agreement (binding). Not covered by the mac.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<i64>,
}

/// The callback's `data`, parsed after its mac verified (§3.3). Field order is ZaloPay's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallbackData {
    pub app_id: Value,
    pub app_trans_id: String,
    #[serde(default)]
    pub app_time: Option<i64>,
    #[serde(default)]
    pub app_user: Option<String>,
    pub amount: i64,
    #[serde(default)]
    pub embed_data: Option<String>,
    #[serde(default)]
    pub item: Option<String>,
    pub zp_trans_id: Value,
    #[serde(default)]
    pub server_time: Option<i64>,
    #[serde(default)]
    pub channel: Option<i64>,
    #[serde(default)]
    pub merchant_user_id: Option<String>,
    #[serde(default)]
    pub user_fee_amount: Option<i64>,
    #[serde(default)]
    pub discount_amount: Option<i64>,
}

/// An id ZaloPay sends as a JSON number (`zp_trans_id`, `refund_id`, `app_id`), written as
/// exactly the digits received. Digit strings are accepted too; anything else is `None`.
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_digits_exactly() {
        let big: Value = serde_json::from_str("200904000000389").unwrap();
        assert_eq!(id_text(&big).as_deref(), Some("200904000000389"));
        assert_eq!(id_text(&Value::String("240101000000123".into())).as_deref(), Some("240101000000123"));
        for bad in ["1.5", "2e14", "\"12a\"", "\"\"", "null", "true", "[1]"] {
            assert_eq!(id_text(&serde_json::from_str(bad).unwrap()), None, "{bad}");
        }
    }

    #[test]
    fn answers_with_missing_fields_default_and_never_read_as_success() {
        let a: Answer = serde_json::from_str("{}").unwrap();
        assert_eq!(a.return_code, 0);
        assert!(crate::codes::ReturnCode::parse(a.return_code).is_err());
    }
}
