//! ZaloPay's MAC strings (GATEWAYS.md §3.2–3.5) and its identifiers with GMT+7 date prefixes.
//!
//! Every MAC is lower-case hex HMAC-SHA256 over a fixed `|`-joined sequence of the values
//! exactly as sent. key1 signs what we send; key2 signs what ZaloPay sends us.

use feegate_connector::crypto::hmac_sha256_hex;
use time::{OffsetDateTime, UtcOffset};

/// Vietnam's offset: ZaloPay's `yymmdd` prefixes are GMT+7 dates.
pub const VN: UtcOffset = time::macros::offset!(+7);

/// `yymmdd` of `t` in GMT+7.
pub fn yymmdd(t: OffsetDateTime) -> String {
    let d = t.to_offset(VN).date();
    format!("{:02}{:02}{:02}", d.year().rem_euclid(100), u8::from(d.month()), d.day())
}

/// `app_trans_id` for an attempt: `yymmdd_` (GMT+7 date of creation) + our reference.
pub fn app_trans_id(created_at: OffsetDateTime, reference: &str) -> String {
    format!("{}_{reference}", yymmdd(created_at))
}

/// `m_refund_id` for a refund: `yymmdd_<app_id>_<refund reference>` (GMT+7 date of the request).
pub fn m_refund_id(requested_at: OffsetDateTime, app_id: &str, refund_reference: &str) -> String {
    format!("{}_{app_id}_{refund_reference}", yymmdd(requested_at))
}

/// Our reference from an `app_trans_id`: everything after the first `_`, which must follow
/// a 6-digit date. `None` when the prefix is missing or nothing follows it.
pub fn strip_date_prefix(id: &str) -> Option<&str> {
    let (date, rest) = id.split_once('_')?;
    (date.len() == 6 && date.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()).then_some(rest)
}

/// Our refund reference from an `m_refund_id` (`yymmdd_appid_uid`) of app `app_id`; a uid
/// with a further `_` is not one of ours (a mangled or doubled prefix).
pub fn strip_refund_prefix<'a>(id: &'a str, app_id: &str) -> Option<&'a str> {
    let rest = strip_date_prefix(id)?;
    rest.strip_prefix(app_id)?.strip_prefix('_').filter(|r| !r.is_empty() && !r.contains('_'))
}

/// Unix time in milliseconds, as ZaloPay's `app_time` and `timestamp` carry it.
pub fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn mac(key: &[u8], parts: &[&str]) -> String {
    hmac_sha256_hex(key, parts.join("|").as_bytes())
}

/// The fields of `/v2/create` that its MAC covers, as sent.
pub struct OrderMacInput<'a> {
    pub app_id: &'a str,
    pub app_trans_id: &'a str,
    pub app_user: &'a str,
    pub amount: &'a str,
    pub app_time: &'a str,
    pub embed_data: &'a str,
    pub item: &'a str,
}

/// `/v2/create` mac = key1 over `app_id|app_trans_id|app_user|amount|app_time|embed_data|item`.
pub fn order_mac(key1: &[u8], o: &OrderMacInput<'_>) -> String {
    mac(key1, &[o.app_id, o.app_trans_id, o.app_user, o.amount, o.app_time, o.embed_data, o.item])
}

/// `/v2/query` mac = key1 over `app_id|app_trans_id|key1` (key1 is both key and data).
pub fn query_mac(key1: &str, app_id: &str, app_trans_id: &str) -> String {
    mac(key1.as_bytes(), &[app_id, app_trans_id, key1])
}

/// `/v2/refund` mac = key1 over `app_id|zp_trans_id|amount|description|timestamp`
/// (with `refund_fee_amount` after `amount` when a fee is sent).
pub fn refund_mac(
    key1: &[u8],
    app_id: &str,
    zp_trans_id: &str,
    amount: &str,
    fee: Option<&str>,
    description: &str,
    timestamp: &str,
) -> String {
    match fee {
        Some(fee) => mac(key1, &[app_id, zp_trans_id, amount, fee, description, timestamp]),
        None => mac(key1, &[app_id, zp_trans_id, amount, description, timestamp]),
    }
}

/// `/v2/query_refund` mac = key1 over `app_id|m_refund_id|timestamp`.
pub fn query_refund_mac(key1: &[u8], app_id: &str, m_refund_id: &str, timestamp: &str) -> String {
    mac(key1, &[app_id, m_refund_id, timestamp])
}

/// The fields of a browser redirect that its checksum covers, as received.
pub struct RedirectInput<'a> {
    pub appid: &'a str,
    pub apptransid: &'a str,
    pub pmcid: &'a str,
    pub bankcode: &'a str,
    pub amount: &'a str,
    pub discountamount: &'a str,
    pub status: &'a str,
}

/// Redirect checksum = key2 over `appid|apptransid|pmcid|bankcode|amount|discountamount|status`.
pub fn redirect_message(r: &RedirectInput<'_>) -> String {
    [r.appid, r.apptransid, r.pmcid, r.bankcode, r.amount, r.discountamount, r.status].join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY1_2553: &str = "PcY4iZIKFCIdgZvA6ueMcMHHUbRLYjPL";
    const KEY2_2553: &str = "kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz";

    #[test]
    fn verified_vector_callback_mac_of_the_official_callback_doc() {
        let data = r#"{"app_id":2553,"app_trans_id":"200904_2553_1598435687208","app_time":1599189392817,"app_user":"demo","amount":10000,"embed_data":"{\"merchantinfo\":\"embeddata123\",\"promotioninfo\":\"\"}","item":"[{\"itemid\":\"knb\",\"itemname\":\"kim nguyen bao\",\"itemprice\":198400,\"itemquantity\":1}]","zp_trans_id":200904000000389,"server_time":1599189413498,"channel":38,"merchant_user_id":"7ZMSl3nEg5sOUJzOLSoUFT8xKNQVaLOLXHB--8Eytqc","user_fee_amount":0,"discount_amount":0}"#;
        assert_eq!(
            hmac_sha256_hex(KEY2_2553.as_bytes(), data.as_bytes()),
            "d8d33baf449b31d7f9b94fa50d7c942c08cd4d83f28fa185557da21acb104f67"
        );
    }

    #[test]
    fn verified_vector_order_mac_of_the_qrcode_doc_with_v1_names() {
        let m = order_mac(
            b"9phuAOYhan4urywHTh0ndEXiV3pKHr5Q",
            &OrderMacInput {
                app_id: "553",
                app_trans_id: "200904_000234",
                app_user: "user123",
                amount: "10000",
                app_time: "1599202366026",
                embed_data: "{}",
                item: "[]",
            },
        );
        assert_eq!(m, "7e95836a9feace32458f23416feea423172ef0a098f27a668a1e10788b5a6838");
    }

    #[test]
    fn self_computed_vector_create_mac() {
        let m = order_mac(
            KEY1_2553.as_bytes(),
            &OrderMacInput {
                app_id: "2553",
                app_trans_id: "240101_123456",
                app_user: "user123",
                amount: "50000",
                app_time: "1704067200000",
                embed_data: r#"{"redirecturl":"https://example.com/result"}"#,
                item: "[]",
            },
        );
        assert_eq!(m, "eb695499a51585f1b7fcc677cccdd2c13eede2bdaefb139f18dc2b3816bd6257");
    }

    #[test]
    fn self_computed_vector_query_mac() {
        assert_eq!(
            query_mac(KEY1_2553, "2553", "240101_123456"),
            "1f398e7ecd7cc19e0c1baa0f82a47e11cb1042544f9d90dd55bbb0aa2522c2d0"
        );
    }

    #[test]
    fn self_computed_vector_refund_mac_without_fee() {
        let m = refund_mac(
            KEY1_2553.as_bytes(),
            "2553",
            "240101000000123",
            "50000",
            None,
            "Refund order 240101_123456",
            "1704070800000",
        );
        assert_eq!(m, "d1895f726743faad898bc2ea3d42cda74cd57cf9bd9e0945d392bb814f43914a");
    }

    #[test]
    fn self_computed_vector_query_refund_mac() {
        assert_eq!(
            query_refund_mac(KEY1_2553.as_bytes(), "2553", "240101_2553_987654321", "1704070900000"),
            "e23c0c4593c658ccddb23ad3466dc2d2897e040800da556c3c7fa7b2f6f3dbcd"
        );
    }

    #[test]
    fn self_computed_vector_redirect_checksum() {
        let msg = redirect_message(&RedirectInput {
            appid: "2553",
            apptransid: "240101_123456",
            pmcid: "38",
            bankcode: "zalopayapp",
            amount: "50000",
            discountamount: "0",
            status: "1",
        });
        assert_eq!(
            hmac_sha256_hex(KEY2_2553.as_bytes(), msg.as_bytes()),
            "8ffa73c99a43f76b29f99bee238c412bf4b587b3748e242298e5c71504359f0e"
        );
    }

    #[test]
    fn the_date_prefix_is_the_gmt7_date_not_the_utc_one() {
        // 2023-12-31 18:30 UTC is already 2024-01-01 01:30 in Hanoi.
        let t = OffsetDateTime::from_unix_timestamp(1_704_047_400).unwrap();
        assert_eq!(app_trans_id(t, "FG123"), "240101_FG123");
        assert_eq!(m_refund_id(t, "2553", "RF9"), "240101_2553_RF9");
    }

    #[test]
    fn prefixes_strip_back_to_our_references() {
        assert_eq!(strip_date_prefix("240101_FG123"), Some("FG123"));
        assert_eq!(strip_date_prefix("200904_2553_1598435687208"), Some("2553_1598435687208"));
        assert_eq!(strip_refund_prefix("240101_2553_RF9", "2553"), Some("RF9"));
        for bad in ["FG123", "24011_FG1", "2401011_FG1", "24a101_FG1", "240101_", "_FG1", ""] {
            assert_eq!(strip_date_prefix(bad), None, "{bad}");
        }
        assert_eq!(strip_refund_prefix("240101_553_RF9", "2553"), None);
        assert_eq!(strip_refund_prefix("240101_2553_", "2553"), None);
    }

    #[test]
    fn millis_are_unix_milliseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_704_067_200_123_456_789).unwrap();
        assert_eq!(millis(t), 1_704_067_200_123);
    }
}
