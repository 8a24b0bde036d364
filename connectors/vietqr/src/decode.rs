//! The VietQR payload decoder: TLV structure, lengths, CRC, then the NAPAS fields.
//!
//! It never panics: it walks characters with checked indexing, so any string (truncated,
//! non-ASCII, random) gives either a [`Decoded`] or a [`DecodeError`].

use crate::emv::{crc16_ccitt_false, COUNTRY_VN, CURRENCY_VND, NAPAS_GUID};
use std::fmt;

/// What a valid VietQR payload says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// `true` for a single-use (dynamic, `12`) QR, `false` for a static (`11`) one.
    pub dynamic: bool,
    pub bank_bin: String,
    /// Account or card number.
    pub account: String,
    /// NAPAS service code: `QRIBFTTA` (to account), `QRIBFTTC` (to card), or another NAPAS code.
    pub service_code: String,
    /// ID 52, when present.
    pub merchant_category: Option<String>,
    /// ID 54 in whole đồng, when present.
    pub amount: Option<i64>,
    /// ID 62 sub-ID 01, when present.
    pub bill_number: Option<String>,
    /// ID 62 sub-ID 08 (the transfer content), when present.
    pub purpose: Option<String>,
}

/// Why a payload is not a valid VietQR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The TLV walk failed inside `template` (`root`, `38`, `38.01`, `62`) at character `at`.
    Structure { template: &'static str, at: usize, reason: &'static str },
    /// An object appears twice in one template.
    Duplicate { template: &'static str, id: String },
    /// `00` is not first, `63` is not last, or a mandatory object is missing.
    Missing(&'static str),
    /// The CRC in ID 63 differs from the one computed.
    Crc { expected: String, found: String },
    /// A field has a value VietQR does not allow.
    Field { field: &'static str, reason: &'static str },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Structure { template, at, reason } => {
                write!(f, "bad TLV in {template} at character {at}: {reason}")
            }
            DecodeError::Duplicate { template, id } => write!(f, "object {id} appears twice in {template}"),
            DecodeError::Missing(what) => write!(f, "missing {what}"),
            DecodeError::Crc { expected, found } => write!(f, "CRC is {found}, the payload's is {expected}"),
            DecodeError::Field { field, reason } => write!(f, "{field}: {reason}"),
        }
    }
}

impl std::error::Error for DecodeError {}

type Objects = Vec<(String, String)>;

/// Splits `s` into TLV objects, refusing duplicates, bad IDs and lengths that overrun.
fn walk(s: &str, template: &'static str) -> Result<Objects, DecodeError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out: Objects = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let err = |reason| DecodeError::Structure { template, at: i, reason };
        let head = chars.get(i..i + 4).ok_or(err("object header cut short"))?;
        if !head.iter().all(char::is_ascii_digit) {
            return Err(err("id and length must be 4 digits"));
        }
        let id: String = head[..2].iter().collect();
        let len = head[2..].iter().fold(0usize, |n, c| n * 10 + (*c as usize - '0' as usize));
        if len == 0 {
            return Err(err("length 00"));
        }
        let value: String = chars.get(i + 4..i + 4 + len).ok_or(err("value runs past the end"))?.iter().collect();
        if out.iter().any(|(seen, _)| *seen == id) {
            return Err(DecodeError::Duplicate { template, id });
        }
        out.push((id, value));
        i += 4 + len;
    }
    Ok(out)
}

fn get<'a>(objects: &'a Objects, id: &str) -> Option<&'a str> {
    objects.iter().find(|(k, _)| k == id).map(|(_, v)| v.as_str())
}

fn field(cond: bool, field: &'static str, reason: &'static str) -> Result<(), DecodeError> {
    if cond {
        Ok(())
    } else {
        Err(DecodeError::Field { field, reason })
    }
}

/// Decodes and validates a VietQR payload.
pub fn decode(payload: &str) -> Result<Decoded, DecodeError> {
    let root = walk(payload, "root")?;
    match root.first() {
        Some((id, v)) if id == "00" => field(v == "01", "00 payload format indicator", "must be 01")?,
        _ => return Err(DecodeError::Missing("00 as the first object")),
    }
    let crc = match root.last() {
        Some((id, v)) if id == "63" => v,
        _ => return Err(DecodeError::Missing("63 (CRC) as the last object")),
    };
    field(crc.len() == 4 && crc.bytes().all(|b| b.is_ascii_hexdigit()), "63 CRC", "must be 4 hex digits")?;
    // 63 is last with 4 ASCII characters, so the CRC input is all but the last 4 bytes.
    let covered = payload.as_bytes().get(..payload.len().saturating_sub(4)).unwrap_or_default();
    let expected = format!("{:04X}", crc16_ccitt_false(covered));
    if !expected.eq_ignore_ascii_case(crc) {
        return Err(DecodeError::Crc { expected, found: crc.clone() });
    }
    let dynamic = match get(&root, "01") {
        Some("11") => false,
        Some("12") => true,
        Some(_) => return Err(DecodeError::Field { field: "01 point of initiation", reason: "must be 11 or 12" }),
        None => return Err(DecodeError::Missing("01 point of initiation")),
    };
    let napas = walk(get(&root, "38").ok_or(DecodeError::Missing("38 NAPAS template"))?, "38")?;
    field(get(&napas, "00") == Some(NAPAS_GUID), "38.00 GUID", "must be A000000727")?;
    let beneficiary = walk(get(&napas, "01").ok_or(DecodeError::Missing("38.01 beneficiary"))?, "38.01")?;
    let bank_bin = get(&beneficiary, "00").ok_or(DecodeError::Missing("38.01.00 bank BIN"))?;
    field(bank_bin.len() == 6 && bank_bin.bytes().all(|b| b.is_ascii_digit()), "38.01.00 bank BIN", "6 digits")?;
    let account = get(&beneficiary, "01").ok_or(DecodeError::Missing("38.01.01 account"))?;
    field(
        account.len() <= 19 && account.bytes().all(|b| b.is_ascii_alphanumeric()),
        "38.01.01 account",
        "at most 19 ASCII letters or digits",
    )?;
    let service_code = get(&napas, "02").ok_or(DecodeError::Missing("38.02 service code"))?;
    field(service_code.bytes().all(|b| b.is_ascii_alphanumeric()), "38.02 service code", "letters and digits")?;
    field(get(&root, "53") == Some(CURRENCY_VND), "53 currency", "must be 704 (VND)")?;
    field(get(&root, "58") == Some(COUNTRY_VN), "58 country", "must be VN")?;
    let merchant_category = get(&root, "52").map(str::to_owned);
    if let Some(mcc) = &merchant_category {
        field(mcc.len() == 4 && mcc.bytes().all(|b| b.is_ascii_digit()), "52 merchant category", "4 digits")?;
    }
    let amount = get(&root, "54").map(parse_amount).transpose()?;
    let (bill_number, purpose) = match get(&root, "62") {
        Some(v) => {
            let extra = walk(v, "62")?;
            (get(&extra, "01").map(str::to_owned), get(&extra, "08").map(str::to_owned))
        }
        None => (None, None),
    };
    Ok(Decoded {
        dynamic,
        bank_bin: bank_bin.to_owned(),
        account: account.to_owned(),
        service_code: service_code.to_owned(),
        merchant_category,
        amount,
        bill_number,
        purpose,
    })
}

/// ID 54: digits with at most one `.`, ≤ 13 characters; VND has no minor unit, so any
/// decimals must be zeros.
fn parse_amount(v: &str) -> Result<i64, DecodeError> {
    let bad = |reason| DecodeError::Field { field: "54 amount", reason };
    if v.len() > 13 {
        return Err(bad("more than 13 characters"));
    }
    let (whole, decimals) = v.split_once('.').unwrap_or((v, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !decimals.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("digits with an optional single '.'"));
    }
    if decimals.bytes().any(|b| b != b'0') {
        return Err(bad("VND has no minor unit"));
    }
    whole.parse::<i64>().map_err(|_| bad("not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_dong() {
        assert_eq!(parse_amount("180000"), Ok(180_000));
        assert_eq!(parse_amount("180000.00"), Ok(180_000));
        assert!(parse_amount("180000.5").is_err());
        assert!(parse_amount(".5").is_err());
        assert!(parse_amount("1.2.3").is_err());
        assert!(parse_amount("50 000").is_err());
        assert!(parse_amount("-5").is_err());
    }

    #[test]
    fn walk_refuses_overruns_duplicates_and_zero_lengths() {
        assert!(walk("0002010", "root").is_err());
        assert!(walk("00020100", "root").is_err());
        assert!(matches!(walk("00020100020102", "root"), Err(DecodeError::Duplicate { .. })));
        assert!(matches!(walk("0000", "root"), Err(DecodeError::Structure { .. })));
        assert_eq!(walk("", "root"), Ok(vec![]));
    }
}
