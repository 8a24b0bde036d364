//! Exact money: amounts are whole minor units (đồng for VND). No floats anywhere.

use rust_decimal::Decimal;
use std::str::FromStr;

/// The largest amount feegate accepts for one payment or line: 10^12 đồng.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// A positive amount of đồng, at most [`MAX_AMOUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i64);

/// Why a JSON value is not an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    NotANumber,
    Fractional,
    NotPositive,
    TooLarge,
}

impl AmountError {
    /// Human text for the error.
    pub fn message(self) -> &'static str {
        match self {
            AmountError::NotANumber => "amount must be a string of digits, e.g. \"135000\"",
            AmountError::Fractional => "VND has no minor unit: amounts are whole đồng",
            AmountError::NotPositive => "amount must be greater than zero",
            AmountError::TooLarge => "amount is larger than 1000000000000 đồng",
        }
    }
}

impl Amount {
    /// Parses a JSON amount: a string of digits, or a whole JSON number.
    pub fn from_json(v: &serde_json::Value) -> Result<Amount, AmountError> {
        let text = match v {
            serde_json::Value::String(s) => s.trim().to_owned(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err(AmountError::NotANumber),
        };
        Self::parse(&text)
    }

    /// Parses decimal text exactly (`"135000"`, `"135000.00"`; not `"1.5"`, `"1e3"`).
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        if text.is_empty() || text.len() > 40 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
            return Err(AmountError::NotANumber);
        }
        let d = Decimal::from_str(text).map_err(|_| AmountError::NotANumber)?;
        if d.is_sign_negative() || d.is_zero() {
            return Err(AmountError::NotPositive);
        }
        if d.fract() != Decimal::ZERO {
            return Err(AmountError::Fractional);
        }
        if d > Decimal::from(MAX_AMOUNT) {
            return Err(AmountError::TooLarge);
        }
        let whole: i64 = d.trunc().to_string().parse().map_err(|_| AmountError::TooLarge)?;
        Ok(Amount(whole))
    }

    /// Wraps a stored value (already checked when written).
    pub fn from_stored(v: i64) -> Amount {
        Amount(v)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Adds two amounts; `None` beyond [`MAX_AMOUNT`].
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).filter(|v| *v <= MAX_AMOUNT).map(Amount)
    }
}

/// Formats đồng the Vietnamese way: `135.000 ₫`.
pub fn format_vnd(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if amount < 0 {
        out.insert(0, '-');
    }
    format!("{out} ₫")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_and_whole_numbers_are_amounts() {
        assert_eq!(Amount::from_json(&json!("135000")).unwrap().get(), 135_000);
        assert_eq!(Amount::from_json(&json!(135000)).unwrap().get(), 135_000);
        assert_eq!(Amount::from_json(&json!("135000.00")).unwrap().get(), 135_000);
        assert_eq!(Amount::from_json(&json!(1_000_000_000_000i64)).unwrap().get(), MAX_AMOUNT);
    }

    #[test]
    fn bad_amounts_are_refused_with_their_reason() {
        assert_eq!(Amount::from_json(&json!("-5")), Err(AmountError::NotPositive));
        assert_eq!(Amount::from_json(&json!(0)), Err(AmountError::NotPositive));
        assert_eq!(Amount::from_json(&json!("10.5")), Err(AmountError::Fractional));
        assert_eq!(Amount::from_json(&json!(10.5)), Err(AmountError::Fractional));
        assert_eq!(Amount::from_json(&json!("1000000000001")), Err(AmountError::TooLarge));
        assert_eq!(Amount::from_json(&json!(1e30)), Err(AmountError::NotANumber));
        assert_eq!(Amount::from_json(&json!("1e3")), Err(AmountError::NotANumber));
        assert_eq!(Amount::from_json(&json!("abc")), Err(AmountError::NotANumber));
        assert_eq!(Amount::from_json(&json!(true)), Err(AmountError::NotANumber));
        assert_eq!(Amount::from_json(&json!(null)), Err(AmountError::NotANumber));
    }

    #[test]
    fn vnd_is_formatted_with_dots() {
        assert_eq!(format_vnd(135_000), "135.000 ₫");
        assert_eq!(format_vnd(1_500), "1.500 ₫");
        assert_eq!(format_vnd(999), "999 ₫");
        assert_eq!(format_vnd(1_000_000_000_000), "1.000.000.000.000 ₫");
    }
}
