//! The published VietQR payloads of GATEWAYS.md §4.5: rebuilt by the encoder from their
//! parts where they are encoder cases, and decoded with their CRC checked. [SELF] vectors
//! are regression tests of our own code, not proof that banks accept them.

use feegate_vietqr::emv::{crc_hex, encode, encode_objects, tlv, Initiation, QrData, Service};
use feegate_vietqr::{decode, DecodeError, Decoded};

const NAPAS_STATIC_CARD: &str =
    "00020101021138600010A00000072701300006970403011697040311012345670208QRIBFTTC53037045802VN63044F52";
const NAPAS_DYNAMIC_ACCOUNT: &str = "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA530370454061800005802VN62340107NPS68690819thanh toan don hang63042E2E";
const NAPAS_DYNAMIC_CARD: &str = "00020101021238600010A00000072701300006970403011697040311012345670208QRIBFTTC530370454061800005802VN62340107NPS68690819thanh toan don hang6304A203";
/// NAPAS spec §6.1.1 as printed: account length `12` for a 13-character account (typo), CRC
/// `F4E5` over the string as printed. The full string was rebuilt from the fragment in the
/// notes; its CRC matching `F4E5` confirms the reconstruction.
const NAPAS_TYPO: &str =
    "00020101021138570010A00000072701270006970403011200110123456780208QRIBFTTA53037045802VN6304F4E5";
const VIETQR_IO: &str = "00020101021238560010A0000007270126000697041501121133666688880208QRIBFTTA53037045405790005802VN62220818Ung Ho Quy Vac Xin63043ACF";
const ZALOPAY: &str = "00020101021226520010vn.zalopay0203001010627000503173916458628013369138620010A00000072701320006970454011899ZP23237O000015410208QRIBFTTA5204739953037045405690005802VN622108173916458628013369163043895";
const SELF_VCB_STATIC: &str =
    "00020101021138540010A00000072701240006970436011001234567890208QRIBFTTA53037045802VN63046A15";
const SELF_VCB_DYNAMIC: &str = "00020101021238540010A00000072701240006970436011001234567890208QRIBFTTA53037045405500005802VN62200816Thanh toan DH1236304849B";

fn data(initiation: Initiation, bin: &str, account: &str, service: Service) -> QrData {
    QrData {
        initiation,
        bank_bin: bin.into(),
        account: account.into(),
        service,
        merchant_category: None,
        amount: None,
        bill_number: None,
        purpose: None,
    }
}

fn crc_of(payload: &str) -> String {
    crc_hex(&payload[..payload.len() - 4])
}

#[test]
fn crc_check_value_123456789_is_29b1() {
    assert_eq!(crc_hex("123456789"), "29B1");
}

#[test]
fn verified_napas_static_to_card_is_rebuilt_and_decoded() {
    let d = data(Initiation::Static, "970403", "9704031101234567", Service::ToCard);
    assert_eq!(encode(&d).as_deref(), Ok(NAPAS_STATIC_CARD));
    assert_eq!(crc_of(NAPAS_STATIC_CARD), "4F52");
    let got = decode(NAPAS_STATIC_CARD).expect("decodes");
    assert_eq!(
        got,
        Decoded {
            dynamic: false,
            bank_bin: "970403".into(),
            account: "9704031101234567".into(),
            service_code: "QRIBFTTC".into(),
            merchant_category: None,
            amount: None,
            bill_number: None,
            purpose: None,
        }
    );
}

#[test]
fn verified_napas_dynamic_to_account_is_rebuilt_and_decoded() {
    let d = QrData {
        amount: Some(180_000),
        bill_number: Some("NPS6869".into()),
        purpose: Some("thanh toan don hang".into()),
        ..data(Initiation::Dynamic, "970403", "0011012345678", Service::ToAccount)
    };
    assert_eq!(encode(&d).as_deref(), Ok(NAPAS_DYNAMIC_ACCOUNT));
    assert_eq!(crc_of(NAPAS_DYNAMIC_ACCOUNT), "2E2E");
    let got = decode(NAPAS_DYNAMIC_ACCOUNT).expect("decodes");
    assert_eq!((got.dynamic, got.account.as_str(), got.amount), (true, "0011012345678", Some(180_000)));
    assert_eq!((got.bill_number.as_deref(), got.purpose.as_deref()), (Some("NPS6869"), Some("thanh toan don hang")));
}

#[test]
fn verified_napas_dynamic_to_card_is_rebuilt_and_decoded() {
    let d = QrData {
        amount: Some(180_000),
        bill_number: Some("NPS6869".into()),
        purpose: Some("thanh toan don hang".into()),
        ..data(Initiation::Dynamic, "970403", "9704031101234567", Service::ToCard)
    };
    assert_eq!(encode(&d).as_deref(), Ok(NAPAS_DYNAMIC_CARD));
    let got = decode(NAPAS_DYNAMIC_CARD).expect("decodes");
    assert_eq!((got.service_code.as_str(), got.amount), ("QRIBFTTC", Some(180_000)));
}

#[test]
fn verified_napas_typo_payload_is_a_crc_vector_only_and_the_decoder_rejects_its_tlv() {
    assert_eq!(crc_of(NAPAS_TYPO), "F4E5");
    assert!(
        matches!(decode(NAPAS_TYPO), Err(DecodeError::Structure { template: "38.01", .. })),
        "{:?}",
        decode(NAPAS_TYPO)
    );
}

#[test]
fn verified_vietqr_io_sample_is_rebuilt_and_decoded() {
    let d = QrData {
        amount: Some(79_000),
        purpose: Some("Ung Ho Quy Vac Xin".into()),
        ..data(Initiation::Dynamic, "970415", "113366668888", Service::ToAccount)
    };
    assert_eq!(encode(&d).as_deref(), Ok(VIETQR_IO));
    let got = decode(VIETQR_IO).expect("decodes");
    assert_eq!((got.bank_bin.as_str(), got.account.as_str(), got.amount), ("970415", "113366668888", Some(79_000)));
    assert_eq!(got.purpose.as_deref(), Some("Ung Ho Quy Vac Xin"));
}

#[test]
fn verified_zalopay_qr_with_an_extra_id_26_template_is_rebuilt_from_objects_and_decoded() {
    let zalo = [tlv("00", "vn.zalopay"), tlv("02", "001"), tlv("01", "270005"), tlv("03", "39164586280133691")]
        .into_iter()
        .collect::<Result<String, _>>()
        .expect("template");
    let beneficiary = tlv("00", "970454").and_then(|a| Ok(a + &tlv("01", "99ZP23237O00001541")?)).expect("bene");
    let napas = [tlv("00", "A000000727"), tlv("01", &beneficiary), tlv("02", "QRIBFTTA")]
        .into_iter()
        .collect::<Result<String, _>>()
        .expect("napas");
    let extra = tlv("08", "39164586280133691").expect("62");
    let built = encode_objects(&[
        ("00", "01"),
        ("01", "12"),
        ("26", &zalo),
        ("38", &napas),
        ("52", "7399"),
        ("53", "704"),
        ("54", "69000"),
        ("58", "VN"),
        ("62", &extra),
    ]);
    assert_eq!(built.as_deref(), Ok(ZALOPAY));
    let got = decode(ZALOPAY).expect("decodes");
    assert_eq!((got.bank_bin.as_str(), got.account.as_str()), ("970454", "99ZP23237O00001541"));
    assert_eq!((got.merchant_category.as_deref(), got.amount), (Some("7399"), Some(69_000)));
    assert_eq!(got.purpose.as_deref(), Some("39164586280133691"));
}

#[test]
fn self_computed_vietcombank_static_vector_regression() {
    let d = data(Initiation::Static, "970436", "0123456789", Service::ToAccount);
    assert_eq!(encode(&d).as_deref(), Ok(SELF_VCB_STATIC));
    assert_eq!(decode(SELF_VCB_STATIC).map(|d| d.dynamic), Ok(false));
}

#[test]
fn self_computed_vietcombank_dynamic_vector_regression() {
    let d = QrData {
        amount: Some(50_000),
        purpose: Some("Thanh toan DH123".into()),
        ..data(Initiation::Dynamic, "970436", "0123456789", Service::ToAccount)
    };
    assert_eq!(encode(&d).as_deref(), Ok(SELF_VCB_DYNAMIC));
    let got = decode(SELF_VCB_DYNAMIC).expect("decodes");
    assert_eq!((got.amount, got.purpose.as_deref()), (Some(50_000), Some("Thanh toan DH123")));
}

#[test]
fn lower_case_crc_is_accepted_and_a_changed_character_is_not() {
    let lower = format!("{}{}", &VIETQR_IO[..VIETQR_IO.len() - 4], "3acf");
    assert!(decode(&lower).is_ok());
    let changed = VIETQR_IO.replacen("79000", "79001", 1);
    assert!(matches!(decode(&changed), Err(DecodeError::Crc { .. })));
}

#[test]
fn payloads_that_break_vietqr_rules_are_refused() {
    let rebuild = |objects: &[(&str, &str)]| encode_objects(objects).expect("objects");
    let napas = "0010A00000072701240006970436011001234567890208QRIBFTTA";
    let cases = [
        ("00 not first", rebuild(&[("01", "12"), ("00", "01"), ("38", napas), ("53", "704"), ("58", "VN")])),
        ("no 01", rebuild(&[("00", "01"), ("38", napas), ("53", "704"), ("58", "VN")])),
        ("no 38", rebuild(&[("00", "01"), ("01", "12"), ("53", "704"), ("58", "VN")])),
        ("USD", rebuild(&[("00", "01"), ("01", "12"), ("38", napas), ("53", "840"), ("58", "VN")])),
        ("country", rebuild(&[("00", "01"), ("01", "12"), ("38", napas), ("53", "704"), ("58", "TH")])),
        (
            "amount",
            rebuild(&[("00", "01"), ("01", "12"), ("38", napas), ("53", "704"), ("54", "50 000"), ("58", "VN")]),
        ),
        (
            "guid",
            rebuild(&[
                ("00", "01"),
                ("01", "12"),
                ("38", &napas.replace("A000000727", "A000000728")),
                ("53", "704"),
                ("58", "VN"),
            ]),
        ),
        ("63 not last", format!("{SELF_VCB_STATIC}5802VN")),
        ("no CRC", SELF_VCB_STATIC[..SELF_VCB_STATIC.len() - 8].to_owned()),
    ];
    for (what, payload) in cases {
        assert!(decode(&payload).is_err(), "{what}: {payload}");
    }
}
