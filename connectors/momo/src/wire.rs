//! MoMo AIO v2 request and response bodies (GATEWAYS.md §2.2, §2.5), JSON with camelCase keys.
//!
//! Responses are read leniently (`#[serde(default)]`) except `resultCode`, without which
//! an answer means nothing. Published responses carry no signature (§2.2, §2.5).

use serde::{Deserialize, Serialize};

/// API paths under `base_url`.
pub const CREATE_PATH: &str = "/v2/gateway/api/create";
pub const QUERY_PATH: &str = "/v2/gateway/api/query";
pub const REFUND_PATH: &str = "/v2/gateway/api/refund";

/// `POST /v2/gateway/api/create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCall {
    pub partner_code: String,
    pub request_id: String,
    pub amount: i64,
    pub order_id: String,
    pub order_info: String,
    pub redirect_url: String,
    pub ipn_url: String,
    pub request_type: String,
    pub extra_data: String,
    pub lang: String,
    pub signature: String,
}

/// The create answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateReply {
    pub partner_code: String,
    pub order_id: String,
    pub request_id: String,
    pub amount: i64,
    pub response_time: i64,
    pub message: String,
    #[serde(default = "missing_code")]
    pub result_code: i64,
    pub pay_url: String,
    pub deeplink: String,
    pub qr_code_url: String,
}

/// `POST /v2/gateway/api/query`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryCall {
    pub partner_code: String,
    pub request_id: String,
    pub order_id: String,
    pub lang: String,
    pub signature: String,
}

/// One refund listed in a query answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RefundTrans {
    pub order_id: String,
    pub amount: i64,
    #[serde(default = "missing_code")]
    pub result_code: i64,
    pub trans_id: i64,
    pub created_time: i64,
}

/// The query answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryReply {
    pub partner_code: String,
    pub request_id: String,
    pub order_id: String,
    pub extra_data: String,
    /// Absent in some error answers.
    pub amount: Option<i64>,
    /// `0` or absent while nothing was paid.
    pub trans_id: Option<i64>,
    pub pay_type: String,
    #[serde(default = "missing_code")]
    pub result_code: i64,
    pub refund_trans: Vec<RefundTrans>,
    pub message: String,
    pub response_time: i64,
}

/// `POST /v2/gateway/api/refund`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundCall {
    pub partner_code: String,
    /// A new id for the refund itself (our refund reference).
    pub order_id: String,
    pub request_id: String,
    pub amount: i64,
    /// MoMo's transId of the purchase (a JSON number).
    pub trans_id: i64,
    pub lang: String,
    pub description: String,
    pub signature: String,
}

/// The refund answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RefundReply {
    pub partner_code: String,
    pub order_id: String,
    pub request_id: String,
    pub amount: i64,
    /// MoMo's transId of the refund.
    pub trans_id: i64,
    #[serde(default = "missing_code")]
    pub result_code: i64,
    pub message: String,
    pub response_time: i64,
}

/// Marks an answer without `resultCode`; never a code MoMo uses, so it reads as unknown.
pub const MISSING_CODE: i64 = i64::MIN;

fn missing_code() -> i64 {
    MISSING_CODE
}

/// Text for MoMo's `orderInfo` / refund `description`: ASCII-folded, without `&` and `=`
/// (they would make the unencoded string-to-sign ambiguous, §2.7), at most 255 characters.
pub fn sanitize_text(input: &str) -> String {
    feegate_connector::text::ascii_fold(input).chars().filter(|c| *c != '&' && *c != '=').take(255).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_info_is_folded_and_loses_separators() {
        assert_eq!(sanitize_text("Lệ phí a&b=c ĐKX"), "Le phi abc DKX");
        assert_eq!(sanitize_text(&"x".repeat(400)).len(), 255);
    }

    #[test]
    fn an_answer_without_result_code_is_not_read_as_success() {
        let r: CreateReply = serde_json::from_str(r#"{"payUrl":"https://x"}"#).unwrap();
        assert_eq!(r.result_code, MISSING_CODE);
        let q: QueryReply = serde_json::from_str("{}").unwrap();
        assert_ne!(q.result_code, 0);
    }
}
