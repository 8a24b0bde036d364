//! Unit tests of the connector's configuration, text and settlement handling.

use super::*;

fn cfg() -> ConnectorConfig {
    ConnectorConfig::new("zalopay-main", "ZaloPay")
        .with_setting("base_url", "https://sb-openapi.zalopay.vn/")
        .with_setting("app_id", "2553")
        .with_secret("key1", "PcY4iZIKFCIdgZvA6ueMcMHHUbRLYjPL")
        .with_secret("key2", "kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz")
}

#[test]
fn a_complete_config_builds_with_the_default_app_user() {
    let z = ZaloPay::new(&cfg(), reqwest::Client::new()).unwrap();
    assert_eq!(
        (z.base_url.as_str(), z.app_id, z.app_user.as_str()),
        ("https://sb-openapi.zalopay.vn", 2553, "feegate")
    );
    assert_eq!((z.kind(), z.id(), z.supports_refund()), ("zalopay", "zalopay-main", true));
}

#[test]
fn missing_or_wrong_settings_are_config_errors() {
    let mut c = cfg();
    c.secrets.remove("key2");
    assert!(matches!(factory(c, reqwest::Client::new()), Err(ConfigError::Missing { key, .. }) if key == "key2"));
    for bad in ["abc", "0", "-5", "02553", "25.5"] {
        let c = cfg().with_setting("app_id", bad);
        assert!(matches!(factory(c, reqwest::Client::new()), Err(ConfigError::Invalid { .. })), "{bad}");
    }
    let c = cfg().with_setting("base_url", "sb-openapi.zalopay.vn");
    assert!(matches!(factory(c, reqwest::Client::new()), Err(ConfigError::Invalid { .. })));
    let c = cfg().with_setting("app_user", &"x".repeat(51));
    assert!(matches!(factory(c, reqwest::Client::new()), Err(ConfigError::Invalid { .. })));
}

#[test]
fn wire_text_is_ascii_bounded_and_never_empty() {
    assert_eq!(wire_text("Lệ phí cấp đổi GPLX", "x".into()), "Le phi cap doi GPLX");
    assert_eq!(wire_text("***", "Thanh toan FG1".into()), "Thanh toan FG1");
    assert_eq!(wire_text(&"a".repeat(300), String::new()).len(), DESCRIPTION_MAX);
}

const HEADER: &str = "reference,gateway_txn,type,amount,fee,status,time\n";

#[test]
fn settlement_references_are_stripped_back_to_ours() {
    let file = format!(
        "{HEADER}240101_FG123,240101000000123,pay,135000,0,1,2024-01-01T10:00:00+07:00\n\
         240101_2553_RF9,777,refund,50000,0,1,2024-01-01T11:00:00+07:00\n\
         240101_FG124,240101000000124,pay,20000,0,2,2024-01-01T12:00:00+07:00\n"
    );
    let lines = parse_settlement(file.as_bytes(), "2553").unwrap();
    let got: Vec<_> = lines.iter().map(|l| (l.reference.as_str(), l.kind, l.succeeded)).collect();
    assert_eq!(
        got,
        [
            ("FG123", SettlementKind::Pay, true),
            ("RF9", SettlementKind::Refund, true),
            ("FG124", SettlementKind::Pay, false)
        ]
    );
    assert_eq!(lines[0].gateway_txn, "240101000000123");
}

#[test]
fn settlement_rows_without_zalopay_prefixes_are_errors_with_their_line() {
    let file = format!("{HEADER}FG123,1,pay,135000,0,1,2024-01-01T10:00:00+07:00\n");
    assert!(matches!(parse_settlement(file.as_bytes(), "2553"), Err(SettlementError::Row { line: 2, .. })));
    let other_app = format!("{HEADER}240101_553_RF9,1,refund,1000,0,1,2024-01-01T10:00:00+07:00\n");
    assert!(matches!(parse_settlement(other_app.as_bytes(), "2553"), Err(SettlementError::Row { line: 2, .. })));
    let bad_amount = format!("{HEADER}240101_FG1,1,pay,abc,0,1,2024-01-01T10:00:00+07:00\n");
    assert!(matches!(parse_settlement(bad_amount.as_bytes(), "2553"), Err(SettlementError::Row { line: 2, .. })));
}
