//! MoMo's four strings-to-sign (GATEWAYS.md §2.2, §2.3, §2.5) and HMAC-SHA256 signing.
//!
//! Each string is built explicitly, field by field, in MoMo's fixed (alphabetical)
//! order, with raw values (never URL-encoded) and empty values kept as `key=`.

use feegate_connector::{crypto, SignatureOk, VerifyError};

/// Lower-case hex HMAC-SHA256 of `raw` under the merchant's secretKey.
pub fn sign(secret_key: &[u8], raw: &str) -> String {
    crypto::hmac_sha256_hex(secret_key, raw.as_bytes())
}

/// Checks a received signature over `raw` in constant time.
pub fn verify(secret_key: &[u8], raw: &str, received: &str) -> Result<SignatureOk, VerifyError> {
    crypto::verify_hmac_sha256(secret_key, raw.as_bytes(), received)
}

/// The fields of a create call that are signed (10 with accessKey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSigned<'a> {
    pub amount: i64,
    pub extra_data: &'a str,
    pub ipn_url: &'a str,
    pub order_id: &'a str,
    pub order_info: &'a str,
    pub partner_code: &'a str,
    pub redirect_url: &'a str,
    pub request_id: &'a str,
    pub request_type: &'a str,
}

/// The create string-to-sign.
pub fn create_raw(access_key: &str, f: &CreateSigned<'_>) -> String {
    format!(
        "accessKey={access_key}&amount={}&extraData={}&ipnUrl={}&orderId={}&orderInfo={}&partnerCode={}\
         &redirectUrl={}&requestId={}&requestType={}",
        f.amount,
        f.extra_data,
        f.ipn_url,
        f.order_id,
        f.order_info,
        f.partner_code,
        f.redirect_url,
        f.request_id,
        f.request_type
    )
}

/// The 12 signed fields of an IPN or browser return (13 with accessKey), as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSigned {
    pub amount: String,
    pub extra_data: String,
    pub message: String,
    pub order_id: String,
    pub order_info: String,
    pub order_type: String,
    pub partner_code: String,
    pub pay_type: String,
    pub request_id: String,
    pub response_time: String,
    pub result_code: String,
    pub trans_id: String,
}

/// The IPN / return string-to-sign.
pub fn result_raw(access_key: &str, f: &ResultSigned) -> String {
    format!(
        "accessKey={access_key}&amount={}&extraData={}&message={}&orderId={}&orderInfo={}&orderType={}\
         &partnerCode={}&payType={}&requestId={}&responseTime={}&resultCode={}&transId={}",
        f.amount,
        f.extra_data,
        f.message,
        f.order_id,
        f.order_info,
        f.order_type,
        f.partner_code,
        f.pay_type,
        f.request_id,
        f.response_time,
        f.result_code,
        f.trans_id
    )
}

/// The query string-to-sign.
pub fn query_raw(access_key: &str, order_id: &str, partner_code: &str, request_id: &str) -> String {
    format!("accessKey={access_key}&orderId={order_id}&partnerCode={partner_code}&requestId={request_id}")
}

/// The signed fields of a refund call (7 with accessKey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundSigned<'a> {
    pub amount: i64,
    pub description: &'a str,
    /// The refund's own, new orderId.
    pub order_id: &'a str,
    pub partner_code: &'a str,
    pub request_id: &'a str,
    /// MoMo's transId of the purchase.
    pub trans_id: i64,
}

/// The refund string-to-sign.
pub fn refund_raw(access_key: &str, f: &RefundSigned<'_>) -> String {
    format!(
        "accessKey={access_key}&amount={}&description={}&orderId={}&partnerCode={}&requestId={}&transId={}",
        f.amount, f.description, f.order_id, f.partner_code, f.request_id, f.trans_id
    )
}

#[cfg(test)]
mod tests {
    //! The [SELF] vectors of GATEWAYS.md §2.6: computed with the algorithm from MoMo's
    //! public sample credentials; no MoMo source publishes them, so they guard our code
    //! against regressions, not prove MoMo's acceptance.
    use super::*;

    const ACCESS: &str = "F8BBA842ECF85";
    const SECRET: &[u8] = b"K951B6PE1waDMi640xX08PD3vg6EkVlz";

    fn create(extra_data: &'static str, request_type: &'static str) -> CreateSigned<'static> {
        CreateSigned {
            amount: 50_000,
            extra_data,
            ipn_url: "https://callback.url/notify",
            order_id: "MOMO1712345678901",
            order_info: "pay with MoMo",
            partner_code: "MOMO",
            redirect_url: "https://momo.vn/return",
            request_id: "MOMO1712345678901",
            request_type,
        }
    }

    #[test]
    fn self_computed_vector_create_capture_wallet() {
        let raw = create_raw(ACCESS, &create("", "captureWallet"));
        assert_eq!(
            raw,
            "accessKey=F8BBA842ECF85&amount=50000&extraData=&ipnUrl=https://callback.url/notify&orderId=MOMO1712345678901&orderInfo=pay with MoMo&partnerCode=MOMO&redirectUrl=https://momo.vn/return&requestId=MOMO1712345678901&requestType=captureWallet"
        );
        assert_eq!(sign(SECRET, &raw), "0435ba1f0cd3dae894627e6663d92edf35c35242e6575ebc7feb868807f7861d");
    }

    #[test]
    fn self_computed_vector_create_pay_with_method_and_extra_data() {
        let raw = create_raw(ACCESS, &create("eyJ1c2VybmFtZSI6Im1vbW8ifQ==", "payWithMethod"));
        assert_eq!(sign(SECRET, &raw), "6f150f52bd04b867bf8309b4972fac7edd4b23937a653c14853be1cfae3e515c");
    }

    pub(crate) fn ipn_vector_fields() -> ResultSigned {
        ResultSigned {
            amount: "50000".into(),
            extra_data: String::new(),
            message: "Successful.".into(),
            order_id: "MOMO1712345678901".into(),
            order_info: "pay with MoMo".into(),
            order_type: "momo_wallet".into(),
            partner_code: "MOMO".into(),
            pay_type: "qr".into(),
            request_id: "MOMO1712345678901".into(),
            response_time: "1712345700000".into(),
            result_code: "0".into(),
            trans_id: "4088878653".into(),
        }
    }

    #[test]
    fn self_computed_vector_ipn() {
        let raw = result_raw(ACCESS, &ipn_vector_fields());
        assert_eq!(
            raw,
            "accessKey=F8BBA842ECF85&amount=50000&extraData=&message=Successful.&orderId=MOMO1712345678901&orderInfo=pay with MoMo&orderType=momo_wallet&partnerCode=MOMO&payType=qr&requestId=MOMO1712345678901&responseTime=1712345700000&resultCode=0&transId=4088878653"
        );
        assert_eq!(sign(SECRET, &raw), "9a8352a26261648aa1c6ccdb8e7259a28bd139b606411c2c465d079a600c9473");
        assert!(verify(SECRET, &raw, "9A8352A26261648AA1C6CCDB8E7259A28BD139B606411C2C465D079A600C9473").is_ok());
    }

    #[test]
    fn self_computed_vector_query() {
        let raw = query_raw(ACCESS, "MOMO1712345678901", "MOMO", "MOMO1712345679999");
        assert_eq!(sign(SECRET, &raw), "2d30c16213fa6f72cd686043105e0b665bb801ff75131254e1eaebba809e6245");
    }

    #[test]
    fn self_computed_vector_refund_with_empty_description() {
        let raw = refund_raw(
            ACCESS,
            &RefundSigned {
                amount: 50_000,
                description: "",
                order_id: "MOMO1712345680000",
                partner_code: "MOMO",
                request_id: "MOMO1712345680000",
                trans_id: 4_088_878_653,
            },
        );
        assert!(raw.contains("&description=&orderId="));
        assert_eq!(sign(SECRET, &raw), "6d333ddacf7c8ed05737f52378476eb0342550933531cefd73c31d6dd2afb32d");
    }

    #[test]
    fn a_changed_field_does_not_verify() {
        let mut f = ipn_vector_fields();
        f.amount = "50001".into();
        let raw = result_raw(ACCESS, &f);
        assert_eq!(
            verify(SECRET, &raw, "9a8352a26261648aa1c6ccdb8e7259a28bd139b606411c2c465d079a600c9473"),
            Err(VerifyError::BadSignature)
        );
    }
}
