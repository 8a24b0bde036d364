//! EMVCo merchant-presented QR building blocks: TLV objects, the CRC-16 of ID 63, and the
//! VietQR (NAPAS247) payload encoder.
//!
//! Rules (NAPAS VietQR spec v1.0, GATEWAYS.md §4): each object is a 2-digit ID, a 2-digit
//! length counting characters (`01`..`99`) and the value; `00` first, `63` last; the CRC is
//! CRC-16/CCITT-FALSE over the whole payload including the literal `6304`, as 4 upper-case
//! hex digits.

use std::fmt;

/// NAPAS' application identifier, the GUID (`00`) of the ID 38 template.
pub const NAPAS_GUID: &str = "A000000727";
/// ISO 4217 numeric code of the Vietnamese đồng (ID 53).
pub const CURRENCY_VND: &str = "704";
/// ISO 3166 country code (ID 58).
pub const COUNTRY_VN: &str = "VN";
/// The longest value one TLV object can carry.
pub const MAX_VALUE_LEN: usize = 99;
/// The longest sub-field of the ID 62 template (bill number, purpose, ...).
pub const MAX_ADDITIONAL_LEN: usize = 25;

/// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The CRC of `payload_without_crc` (which must already end in `6304`) as 4 upper-case hex digits.
pub fn crc_hex(payload_without_crc: &str) -> String {
    format!("{:04X}", crc16_ccitt_false(payload_without_crc.as_bytes()))
}

/// Why a payload could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// An object ID that is not two digits.
    BadId(String),
    /// A value that is empty or longer than its field allows.
    BadLength { id: String, len: usize, max: usize },
    /// A value with characters the field does not allow.
    BadValue { field: &'static str, reason: &'static str },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BadId(id) => write!(f, "object id `{id}` is not two digits"),
            EncodeError::BadLength { id, len, max } => write!(f, "object {id}: length {len} is not within 1..={max}"),
            EncodeError::BadValue { field, reason } => write!(f, "{field}: {reason}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// One TLV object: `id` + 2-digit character count + `value`.
pub fn tlv(id: &str, value: &str) -> Result<String, EncodeError> {
    if id.len() != 2 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EncodeError::BadId(id.to_owned()));
    }
    let len = value.chars().count();
    if len == 0 || len > MAX_VALUE_LEN {
        return Err(EncodeError::BadLength { id: id.to_owned(), len, max: MAX_VALUE_LEN });
    }
    Ok(format!("{id}{len:02}{value}"))
}

/// Joins root objects (in the given order, which must start with `00`) and appends the CRC
/// object `63`.
pub fn encode_objects(objects: &[(&str, &str)]) -> Result<String, EncodeError> {
    let mut out = String::new();
    for (id, value) in objects {
        out.push_str(&tlv(id, value)?);
    }
    out.push_str("6304");
    let crc = crc_hex(&out);
    out.push_str(&crc);
    Ok(out)
}

/// Whether the QR may be paid many times (`11`) or once (`12`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiation {
    Static,
    Dynamic,
}

impl Initiation {
    /// The ID 01 value.
    pub fn code(self) -> &'static str {
        match self {
            Initiation::Static => "11",
            Initiation::Dynamic => "12",
        }
    }
}

/// NAPAS247 service codes (ID 38, sub-ID 02) the encoder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `QRIBFTTA`: transfer to an account number.
    ToAccount,
    /// `QRIBFTTC`: transfer to a card number.
    ToCard,
}

impl Service {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            Service::ToAccount => "QRIBFTTA",
            Service::ToCard => "QRIBFTTC",
        }
    }
}

/// What a VietQR payload says, in the order the encoder writes it (ascending IDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrData {
    pub initiation: Initiation,
    /// 6-digit bank BIN.
    pub bank_bin: String,
    /// Account or card number (≤ 19 characters).
    pub account: String,
    pub service: Service,
    /// ID 52, 4 digits, when set.
    pub merchant_category: Option<String>,
    /// ID 54 in whole đồng, when set.
    pub amount: Option<i64>,
    /// ID 62 sub-ID 01.
    pub bill_number: Option<String>,
    /// ID 62 sub-ID 08: the transfer content (nội dung chuyển khoản).
    pub purpose: Option<String>,
}

fn ascii_printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7F).contains(&b))
}

fn check(cond: bool, field: &'static str, reason: &'static str) -> Result<(), EncodeError> {
    if cond {
        Ok(())
    } else {
        Err(EncodeError::BadValue { field, reason })
    }
}

/// Builds the payload for `data`, CRC included.
pub fn encode(data: &QrData) -> Result<String, EncodeError> {
    check(data.bank_bin.len() == 6 && data.bank_bin.bytes().all(|b| b.is_ascii_digit()), "bank_bin", "6 digits")?;
    check(
        (1..=19).contains(&data.account.len()) && data.account.bytes().all(|b| b.is_ascii_alphanumeric()),
        "account",
        "1 to 19 ASCII letters or digits",
    )?;
    let beneficiary = format!("{}{}", tlv("00", &data.bank_bin)?, tlv("01", &data.account)?);
    let napas = format!("{}{}{}", tlv("00", NAPAS_GUID)?, tlv("01", &beneficiary)?, tlv("02", data.service.code())?);
    let mut objects: Vec<(&str, String)> =
        vec![("00", "01".into()), ("01", data.initiation.code().into()), ("38", napas)];
    if let Some(mcc) = &data.merchant_category {
        check(mcc.len() == 4 && mcc.bytes().all(|b| b.is_ascii_digit()), "merchant_category", "4 digits")?;
        objects.push(("52", mcc.clone()));
    }
    objects.push(("53", CURRENCY_VND.into()));
    if let Some(amount) = data.amount {
        check(amount > 0, "amount", "must be positive")?;
        let text = amount.to_string();
        check(text.len() <= 13, "amount", "at most 13 digits")?;
        objects.push(("54", text));
    }
    objects.push(("58", COUNTRY_VN.into()));
    let mut additional = String::new();
    for (sub, value, field) in [("01", &data.bill_number, "bill_number"), ("08", &data.purpose, "purpose")] {
        if let Some(v) = value {
            check(ascii_printable(v), field, "printable ASCII only (fold diacritics first)")?;
            check((1..=MAX_ADDITIONAL_LEN).contains(&v.len()), field, "1 to 25 characters")?;
            additional.push_str(&tlv(sub, v)?);
        }
    }
    if !additional.is_empty() {
        objects.push(("62", additional));
    }
    let refs: Vec<(&str, &str)> = objects.iter().map(|(id, v)| (*id, v.as_str())).collect();
    encode_objects(&refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value_of_123456789_is_29b1() {
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
        assert_eq!(crc_hex("123456789"), "29B1");
    }

    #[test]
    fn tlv_refuses_empty_long_and_badly_named_objects() {
        assert_eq!(tlv("54", "50000"), Ok("540550000".into()));
        assert!(matches!(tlv("54", ""), Err(EncodeError::BadLength { .. })));
        assert!(matches!(tlv("62", &"x".repeat(100)), Err(EncodeError::BadLength { .. })));
        assert!(matches!(tlv("5", "1"), Err(EncodeError::BadId(_))));
        assert!(matches!(tlv("5a", "1"), Err(EncodeError::BadId(_))));
    }

    #[test]
    fn encoder_refuses_what_a_bank_app_could_not_read() {
        let ok = QrData {
            initiation: Initiation::Dynamic,
            bank_bin: "970415".into(),
            account: "113366668888".into(),
            service: Service::ToAccount,
            merchant_category: None,
            amount: Some(79_000),
            bill_number: None,
            purpose: Some("FG0123456789".into()),
        };
        assert!(encode(&ok).is_ok());
        for bad in [
            QrData { bank_bin: "97041".into(), ..ok.clone() },
            QrData { account: "11336666888811336666".into(), ..ok.clone() },
            QrData { account: "1133 6666".into(), ..ok.clone() },
            QrData { amount: Some(0), ..ok.clone() },
            QrData { amount: Some(-5), ..ok.clone() },
            QrData { amount: Some(12_345_678_901_234), ..ok.clone() },
            QrData { purpose: Some("Lệ phí".into()), ..ok.clone() },
            QrData { purpose: Some("x".repeat(26)), ..ok.clone() },
            QrData { merchant_category: Some("73".into()), ..ok.clone() },
        ] {
            assert!(matches!(encode(&bad), Err(EncodeError::BadValue { .. })), "{bad:?}");
        }
    }
}
