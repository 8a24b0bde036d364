//! Test vectors of GATEWAYS.md §1.3 and §1.8 ([VERIFIED] ones as unit tests, [SELF] ones as regressions).

use super::*;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn ipn_fixture(response_code: &str) -> BTreeMap<String, String> {
    params(&[
        ("vnp_Amount", "1000000"),
        ("vnp_BankCode", "NCB"),
        ("vnp_BankTranNo", "VNP14422574"),
        ("vnp_CardType", "ATM"),
        ("vnp_OrderInfo", "Thanh toan don hang 2024-05-21T02:17:31.249Z"),
        ("vnp_PayDate", "20240521091806"),
        ("vnp_ResponseCode", response_code),
        ("vnp_TmnCode", "TEST_TMN_CODE"),
        ("vnp_TransactionNo", "14422574"),
        ("vnp_TransactionStatus", "00"),
        ("vnp_TxnRef", "1716257871703"),
    ])
}

#[test]
fn encoder_matches_row_one_of_the_encoder_table() {
    assert_eq!(encode("A b*~!'()"), "A+b*%7E%21%27%28%29");
    assert_eq!(encode("Thanh toán"), "Thanh+to%C3%A1n");
    assert_eq!(encode("a-b_c.d:/#&=?%"), "a-b_c.d%3A%2F%23%26%3D%3F%25");
}

#[test]
fn verified_vector_ipn_hash_data_and_hash_match_lehuygiang28_fixture() {
    let p = ipn_fixture("00");
    assert_eq!(
        hash_data(&p),
        "vnp_Amount=1000000&vnp_BankCode=NCB&vnp_BankTranNo=VNP14422574&vnp_CardType=ATM&vnp_OrderInfo=Thanh+toan+don+hang+2024-05-21T02%3A17%3A31.249Z&vnp_PayDate=20240521091806&vnp_ResponseCode=00&vnp_TmnCode=TEST_TMN_CODE&vnp_TransactionNo=14422574&vnp_TransactionStatus=00&vnp_TxnRef=1716257871703"
    );
    assert_eq!(
        hmac(b"test_secret", &hash_data(&p)),
        "649982421beb422556a1374713c74e58e716ecbd05007c0c0e1f7effdfaf361dbf146889ca446139afe11b9954c4d5c486e99e3b86fcfab6957f29eb0be72895"
    );
}

#[test]
fn verified_vector_ipn_with_response_code_99() {
    assert_eq!(
        hmac(b"test_secret", &hash_data(&ipn_fixture("99"))),
        "503194f6d93b57b357b2d1d09742565e67e86d771352c5dca4fc8d39df3d392c6b3809add9405f97cfb9631f445e36c80656cfbf47eac67d97fa165865c13e1b"
    );
}

#[test]
fn verified_vector_ipn_query_verifies_through_received() {
    let query = signed_query(b"test_secret", &ipn_fixture("00"));
    let pairs = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let r = Received::from_pairs(pairs).unwrap();
    assert!(r.verify(b"test_secret").is_ok());
    assert!(r.verify(b"other_secret").is_err());
}

#[test]
fn verified_vector_raw_string_with_hash_sign() {
    assert_eq!(
        hmac(b"YOUR_SECURE_SECRET", "vnp_Amount=10000&vnp_OrderInfo=Payment+for+order+%231234567890&vnp_TnxRef=1234567890"),
        "7bb8160a5d2085a85b3267817a40ee4f770a335282f19714726e6fc6f28a64c75a1e7e9c1aa96f3cbda5ce44095088fb4cb2af66c596d2f655b0b53966312089"
    );
    let p = params(&[
        ("vnp_TnxRef", "1234567890"),
        ("vnp_OrderInfo", "Payment for order #1234567890"),
        ("vnp_Amount", "10000"),
    ]);
    assert_eq!(hash_data(&p), "vnp_Amount=10000&vnp_OrderInfo=Payment+for+order+%231234567890&vnp_TnxRef=1234567890");
}

fn doc_example_pay() -> BTreeMap<String, String> {
    params(&[
        ("vnp_Amount", "1806000"),
        ("vnp_Command", "pay"),
        ("vnp_CreateDate", "20210801153333"),
        ("vnp_CurrCode", "VND"),
        ("vnp_IpAddr", "127.0.0.1"),
        ("vnp_Locale", "vn"),
        ("vnp_OrderInfo", "Thanh toan don hang :5"),
        ("vnp_OrderType", "other"),
        ("vnp_ReturnUrl", "https://domainmerchant.vn/ReturnUrl"),
        ("vnp_TmnCode", "DEMOV210"),
        ("vnp_TxnRef", "5"),
        ("vnp_Version", "2.1.0"),
    ])
}

#[test]
fn self_computed_vector_pay_url_of_the_doc_example() {
    let p = doc_example_pay();
    assert_eq!(
        hash_data(&p),
        "vnp_Amount=1806000&vnp_Command=pay&vnp_CreateDate=20210801153333&vnp_CurrCode=VND&vnp_IpAddr=127.0.0.1&vnp_Locale=vn&vnp_OrderInfo=Thanh+toan+don+hang+%3A5&vnp_OrderType=other&vnp_ReturnUrl=https%3A%2F%2Fdomainmerchant.vn%2FReturnUrl&vnp_TmnCode=DEMOV210&vnp_TxnRef=5&vnp_Version=2.1.0"
    );
    assert_eq!(
        hmac(b"VNPAYTESTSECRET0123456789ABCDEFG", &hash_data(&p)),
        "0fcbf1b2f0648a0d7cf0812ec9bef4547a2a8ff80c86ba3942eeb9ae02ba94460b00d1a8c73a038abf751088f5beb14e63095d90a907882fef7cf17c2e664f11"
    );
}

#[test]
fn self_computed_vector_pay_url_with_bank_code_and_expire_date() {
    let mut p = doc_example_pay();
    p.insert("vnp_BankCode".into(), "VNBANK".into());
    p.insert("vnp_ExpireDate".into(), "20210801154833".into());
    let q = signed_query(b"VNPAYTESTSECRET0123456789ABCDEFG", &p);
    assert!(q.ends_with(
        "&vnp_SecureHash=f1a98cd7927212fb16ecaa280abe963d22e3d06b2b63b5035f43617d9a42e4ccce99b7f177923a9e188962237bb7dfd037fdee0e70487d5253f140322d68bdce"
    ));
}

#[test]
fn self_computed_vector_querydr_checksum() {
    let v = [
        "REQUEST123456",
        "2.1.0",
        "querydr",
        "TEST_TMN_CODE",
        "TXN123456789",
        "20231221103000",
        "20231221103000",
        "127.0.0.1",
        "Test order query",
    ];
    assert_eq!(
        pipe_checksum(b"test_secret", &v),
        "ac23f7e0db3fc8bc6dc83350725b891aa921ec7a83d1a370978d314457eeda176ff26a87bd4e13dc896c24890238b29fadf033080a07aa52abafa830cd2eb565"
    );
    let msg: BTreeMap<String, String> =
        QUERYDR_REQUEST.iter().zip(v).map(|(k, v)| ((*k).to_owned(), v.to_owned())).collect();
    assert_eq!(message_checksum(b"test_secret", &msg, &QUERYDR_REQUEST), pipe_checksum(b"test_secret", &v));
}

#[test]
fn self_computed_vector_refund_checksum() {
    let v = [
        "REFUND123456",
        "2.1.0",
        "refund",
        "TEST_TMN_CODE",
        "02",
        "TXN123456789",
        "1000000",
        "14422574",
        "20231221103000",
        "merchant_user",
        "20231221103000",
        "127.0.0.1",
        "Test refund order",
    ];
    assert_eq!(
        pipe_checksum(b"test_secret", &v),
        "1b0d3f82bc64cda12af250a284e72895b965ad745fef5a5b4f2b0ab50142e0089598fd9fd28e73d1c4ede96932996c3b08b4e9ab8a02fa5e88ecc555afba9a33"
    );
}

#[test]
fn empty_values_are_dropped_from_hash_data() {
    let p = params(&[("vnp_B", ""), ("vnp_A", "1"), ("vnp_C", "x y")]);
    assert_eq!(hash_data(&p), "vnp_A=1&vnp_C=x+y");
}

#[test]
fn unsure_php_style_hash_with_empty_values_also_verifies() {
    let mut p = ipn_fixture("00");
    p.insert("vnp_BankTranNo".into(), String::new());
    let php_style = hash_data_with(&p, true);
    let sig = hmac(b"test_secret", &php_style);
    let r = Received { fields: p, secure_hash: Some(sig) };
    assert!(r.verify(b"test_secret").is_ok());
}

#[test]
fn received_keeps_only_vnp_fields_and_refuses_duplicates() {
    let pairs = vec![
        ("payment_id".to_owned(), "p1".to_owned()),
        ("vnp_TxnRef".to_owned(), "FG1".to_owned()),
        ("vnp_SecureHashType".to_owned(), "HmacSHA512".to_owned()),
        ("vnp_SecureHash".to_owned(), "ab".to_owned()),
    ];
    let r = Received::from_pairs(pairs).unwrap();
    assert_eq!(r.fields.keys().collect::<Vec<_>>(), ["vnp_TxnRef"]);
    assert_eq!(r.secure_hash.as_deref(), Some("ab"));
    let dup = vec![("vnp_TxnRef".to_owned(), "A".to_owned()), ("vnp_TxnRef".to_owned(), "B".to_owned())];
    assert!(matches!(Received::from_pairs(dup), Err(VerifyError::Malformed(_))));
}

#[test]
fn missing_or_garbage_secure_hash_is_a_bad_signature() {
    let r = Received { fields: ipn_fixture("00"), secure_hash: None };
    assert_eq!(r.verify(b"test_secret"), Err(VerifyError::BadSignature));
    let r = Received { fields: ipn_fixture("00"), secure_hash: Some("zz-not-hex".into()) };
    assert_eq!(r.verify(b"test_secret"), Err(VerifyError::BadSignature));
}

#[test]
fn vn_dates_are_gmt_plus_7_both_ways() {
    let t = OffsetDateTime::from_unix_timestamp(1_627_806_813).unwrap(); // 2021-08-01 08:33:33 UTC
    assert_eq!(vn_date(t), "20210801153333");
    assert_eq!(parse_vn_date("20210801153333"), Some(t));
    assert_eq!(parse_vn_date("2021080115333"), None);
    assert_eq!(parse_vn_date("20211301153333"), None);
    assert_eq!(parse_vn_date("2021-8-01153333"), None);
}

#[test]
fn json_fields_render_numbers_as_text_and_refuse_nesting() {
    let f = json_fields(br#"{"vnp_Amount":1000000,"vnp_TxnRef":"A","vnp_X":null}"#).unwrap();
    assert_eq!(f.get("vnp_Amount").map(String::as_str), Some("1000000"));
    assert!(!f.contains_key("vnp_X"));
    assert!(json_fields(br#"{"a":{"b":1}}"#).is_none());
    assert!(json_fields(b"not json").is_none());
    assert!(json_fields(b"[1,2]").is_none());
}
