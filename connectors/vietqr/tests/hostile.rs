//! Hostile input for the VietQR connector: the bank's credit notification (random bytes,
//! and signed credits mutated field by field, re-signed or not), the EMV payload decoder
//! (random strings, mutated valid payloads with and without a recomputed CRC, and the
//! encoder's output decoding back to what went in), the transfer-content reader, and the
//! bank credit file. Every input gives a value or an error, never a panic; a credit
//! verifies only as exactly what was signed. Seeds and past finds live in
//! `tests/corpus/vietqr-*` at the workspace root.

use feegate_connector::{settlement, Connector, ConnectorConfig, InboundRequest, SettlementKind, VerifyError};
use feegate_testkit::hostile::{byte_op, corpus, edit, mutate, render};
use feegate_vietqr::content::find_reference;
use feegate_vietqr::emv::{crc_hex, encode, Initiation, QrData, Service};
use feegate_vietqr::wire::sign;
use feegate_vietqr::{decode, SETTLEMENT_STATUS};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

const SECRET: &str = "bank-notify-secret";
const VALID_QR: &str = "00020101021238560010A0000007270126000697041501121133666688880208QRIBFTTA53037045405790005802VN62220818Ung Ho Quy Vac Xin63043ACF";

fn connector() -> &'static dyn Connector {
    static C: OnceLock<Box<dyn Connector>> = OnceLock::new();
    C.get_or_init(|| {
        let cfg = ConnectorConfig::new("vietqr-main", "VietQR")
            .with_setting("base_url", "http://127.0.0.1:9/sim/vietqr")
            .with_secret("notify_secret", SECRET);
        feegate_vietqr::factory(cfg, reqwest::Client::new()).expect("config is complete")
    })
    .as_ref()
}

fn callback(body: &[u8], signature: Option<&str>) -> InboundRequest {
    let headers = signature.map(|s| vec![("x-bank-signature".to_owned(), s.to_owned())]).unwrap_or_default();
    InboundRequest { method: "POST".into(), headers, body: body.to_vec(), ..Default::default() }
}

fn valid_credit() -> Map<String, Value> {
    let v = json!({"notification_id": "N1", "account_number": "113366668888", "bank_bin": "970415",
        "amount": 135000, "content": "MBVCB.3278614911.FG0123456789.CT tu 0011004123456 NGUYEN VAN A",
        "bank_txn_id": "FT25331000001", "credited_at": "2026-11-27T10:00:00+07:00"});
    v.as_object().unwrap().clone()
}

/// A mutated payload with its CRC recomputed, so that the decoder reads past the CRC check.
fn with_crc(body: &str) -> String {
    let covered = format!("{body}6304");
    format!("{covered}{}", crc_hex(&covered))
}

fn valid_settlement() -> Vec<u8> {
    let t = time::macros::datetime!(2026-11-27 03:00:00 UTC);
    settlement::write_csv(&[
        ("FG0123456789".into(), "FT25331000001".into(), SettlementKind::Pay, 135_000, 0, SETTLEMENT_STATUS.into(), t),
        ("FG0123456788".into(), "FT25331000002".into(), SettlementKind::Pay, 50_000, 0, SETTLEMENT_STATUS.into(), t),
    ])
}

fn check_settlement(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(lines) = connector().parse_settlement(bytes) {
        for l in &lines {
            prop_assert!(l.amount > 0 && l.fee >= 0 && !l.reference.is_empty() && l.line >= 2, "{l:?}");
            prop_assert_eq!(l.kind, SettlementKind::Pay, "a bank credit file has no refunds");
        }
    }
    Ok(())
}

/// Whether `bytes` is [`VALID_QR`] itself: the same bytes, or the same CRC written with
/// another letter case (`3ACf` is the same check value as `3ACF`; the decoder reads hex
/// either way, so that is not a change of the payload).
fn same_payload(bytes: &[u8]) -> bool {
    let crc_at = VALID_QR.len() - 4;
    bytes.len() == VALID_QR.len()
        && bytes[..crc_at] == VALID_QR.as_bytes()[..crc_at]
        && bytes[crc_at..].eq_ignore_ascii_case(&VALID_QR.as_bytes()[crc_at..])
}

proptest! {
    #![proptest_config(feegate_testkit::hostile::config(384))]

    #[test]
    fn random_bytes_never_verify_and_never_panic(body in prop::collection::vec(any::<u8>(), 0..600), sig in "[0-9a-f]{0,64}") {
        for s in [None, Some(sig.as_str())] {
            match connector().verify_callback(&callback(&body, s)) {
                Ok(n) => prop_assert!(false, "verified without the key: {n:?}"),
                Err(e) => prop_assert_eq!(e, VerifyError::BadSignature),
            }
        }
        prop_assert!(connector().verify_return(&callback(&body, None)).is_err());
    }

    #[test]
    fn a_mutated_credit_verifies_only_as_what_was_signed(edits in prop::collection::vec(edit(), 0..4), resign in any::<bool>()) {
        let original = render(&valid_credit(), &[]);
        let body = render(&valid_credit(), &edits);
        let sig = sign(if resign { SECRET.as_bytes() } else { b"not-the-secret" }, &body);
        let kept = sign(SECRET.as_bytes(), &original);
        let c = connector();
        match c.verify_callback(&callback(&body, Some(&sig))) {
            Ok(v) => {
                prop_assert!(resign);
                let n = v.into_inner();
                let signed: Value = serde_json::from_slice(&body).unwrap();
                let content = signed["content"].as_str().unwrap_or_default();
                prop_assert_eq!(Ok(n.reference), find_reference(content));
                prop_assert_eq!(Some(n.amount), signed["amount"].as_i64());
                prop_assert!(n.amount > 0);
            }
            Err(e) if resign => prop_assert!(matches!(e, VerifyError::Malformed(_)), "{e:?}"),
            Err(e) => prop_assert_eq!(e, VerifyError::BadSignature),
        }
        // The signature of the unmutated credit fits nothing else.
        let r = c.verify_callback(&callback(&body, Some(&kept)));
        prop_assert_eq!(r.is_ok(), body == original);
    }

    #[test]
    fn the_emv_decoder_never_panics_on_random_or_mutated_payloads(
        raw in ".{0,200}",
        digits in "[0-9A-Z. ]{0,200}",
        ops in prop::collection::vec(byte_op(), 1..5),
    ) {
        let _ = decode(&raw);
        let _ = decode(&digits);
        let _ = decode(&with_crc(&digits));
        let mutated = String::from_utf8_lossy(&mutate(VALID_QR.as_bytes(), &ops)).into_owned();
        let _ = decode(&mutated);
        let body = &VALID_QR[..VALID_QR.len() - 8];
        let fixed = with_crc(&String::from_utf8_lossy(&mutate(body.as_bytes(), &ops)));
        if let Ok(d) = decode(&fixed) {
            prop_assert!(d.bank_bin.len() == 6 && d.bank_bin.bytes().all(|b| b.is_ascii_digit()), "{d:?}");
            prop_assert!(d.account.len() <= 19 && d.amount.is_none_or(|a| a >= 0), "{d:?}");
        }
    }

    #[test]
    fn a_single_change_to_a_valid_payload_never_decodes(op in byte_op()) {
        let mutated = mutate(VALID_QR.as_bytes(), &[op]);
        if !same_payload(&mutated) {
            prop_assert!(decode(&String::from_utf8_lossy(&mutated)).is_err());
        }
    }

    #[test]
    fn what_the_encoder_accepts_decodes_back_to_the_same_fields(
        bin in prop_oneof!["[0-9]{6}", ".{0,8}"],
        account in prop_oneof!["[0-9A-Za-z]{1,19}", ".{0,22}"],
        mcc in prop::option::of(prop_oneof!["[0-9]{4}", ".{0,5}"]),
        amount in prop::option::of(prop_oneof![1i64..10_000_000_000_000, any::<i64>()]),
        bill in prop::option::of(".{0,27}"),
        purpose in prop::option::of(prop_oneof!["[ -~]{1,25}", ".{0,27}"]),
        dynamic in any::<bool>(),
        card in any::<bool>(),
    ) {
        let data = QrData {
            initiation: if dynamic { Initiation::Dynamic } else { Initiation::Static },
            bank_bin: bin,
            account,
            service: if card { Service::ToCard } else { Service::ToAccount },
            merchant_category: mcc,
            amount,
            bill_number: bill,
            purpose,
        };
        if let Ok(payload) = encode(&data) {
            let d = decode(&payload);
            prop_assert!(d.is_ok(), "{payload}: {d:?}");
            let d = d.unwrap();
            prop_assert_eq!((d.dynamic, &d.bank_bin, &d.account), (dynamic, &data.bank_bin, &data.account));
            prop_assert_eq!((d.service_code.as_str(), d.amount), (data.service.code(), data.amount));
            prop_assert_eq!((&d.merchant_category, &d.bill_number, &d.purpose), (&data.merchant_category, &data.bill_number, &data.purpose));
        }
    }

    #[test]
    fn transfer_contents_never_panic_and_a_lone_reference_is_found(
        noise in "[^A-Za-z0-9]{0,3}\\PC{0,40}",
        sep in "[ .\\-/_,;:]{1,3}",
    ) {
        let _ = find_reference(&noise);
        let clean: String = noise.chars().filter(|c| !c.is_alphanumeric()).collect();
        let content = format!("{clean}{sep}FG0123456789{sep}{clean}");
        prop_assert_eq!(find_reference(&content), Ok("FG0123456789".to_owned()));
    }

    #[test]
    fn settlement_files_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        ops in prop::collection::vec(byte_op(), 0..6),
    ) {
        check_settlement(&bytes)?;
        check_settlement(&mutate(&valid_settlement(), &ops))?;
    }
}

#[test]
fn the_valid_seeds_verify_and_parse_so_the_mutations_start_from_good_input() {
    let body = render(&valid_credit(), &[]);
    let n = connector().verify_callback(&callback(&body, Some(&sign(SECRET.as_bytes(), &body)))).unwrap().into_inner();
    assert_eq!((n.reference.as_str(), n.amount), ("FG0123456789", 135_000));
    assert!(decode(VALID_QR).is_ok());
    assert_eq!(with_crc(&VALID_QR[..VALID_QR.len() - 8]), VALID_QR);
    assert_eq!(connector().parse_settlement(&valid_settlement()).unwrap().len(), 2);
}

#[test]
fn the_credit_corpus_verifies_only_its_ok_seeds() {
    for (name, body) in corpus("vietqr-credit") {
        let r = connector().verify_callback(&callback(&body, Some(&sign(SECRET.as_bytes(), &body))));
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
    }
}

#[test]
fn the_emv_corpus_decodes_only_its_ok_seeds() {
    for (name, bytes) in corpus("vietqr-emv") {
        let payload = String::from_utf8_lossy(&bytes);
        let r = decode(payload.trim_end_matches('\n'));
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
    }
}

#[test]
fn settlement_corpora_parse_only_their_ok_seeds() {
    for (name, bytes) in corpus("vietqr-settlement") {
        let r = connector().parse_settlement(&bytes);
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
    }
    // The shared files have refund rows or faults: refused unless they hold only payments.
    for (name, bytes) in corpus("settlement") {
        let _ = connector().parse_settlement(&bytes);
        assert!(!name.contains("one-row") || connector().parse_settlement(&bytes).is_err(), "{name}");
    }
}

/// Found by `a_single_change_to_a_valid_payload_never_decodes` with a random seed: the last CRC
/// digit `F` written `f`. The CRC's value is unchanged and the decoder reads hex in either
/// case, so the payload decodes as before: the property's "any changed byte" was wrong for a
/// letter case change inside the CRC, not the decoder.
#[test]
fn a_payload_whose_crc_is_written_in_lower_case_decodes_as_the_same_payload() {
    let lower = format!("{}f", &VALID_QR[..VALID_QR.len() - 1]);
    assert!(same_payload(lower.as_bytes()));
    assert_eq!(decode(&lower).unwrap(), decode(VALID_QR).unwrap());
    // Any other last digit is another CRC, and refused.
    assert!(decode(&format!("{}E", &VALID_QR[..VALID_QR.len() - 1])).is_err());
}
