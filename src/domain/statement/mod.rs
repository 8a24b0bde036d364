//! Agency bank account statements (camt.053, MT940, CSV) in one canonical, balance-checked shape.
//!
//! Pure: bytes in, statements or an error naming the line out. Every statement returned has been
//! checked: opening + credits − debits = closing. The reconciliation service calls
//! [`camt053::parse`], [`mt940::parse`] or [`csv::parse`] with a [`CsvMap`] from configuration.

pub mod camt053;
pub mod csv;
pub mod mt940;

pub use self::csv::CsvMap;

use crate::domain::code::Code;
use rust_decimal::Decimal;
use std::str::FromStr;
use time::Date;

/// One statement of one account: booked opening and closing balances and the entries between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// IBAN or account number as written in the file.
    pub account: String,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// The bank's statement reference (camt `Stmt/Id`; MT940 `:20:`, with `/` and `:28C:` when present).
    pub statement_id: String,
    pub opening: Balance,
    pub closing: Balance,
    pub entries: Vec<Entry>,
}

/// A booked balance on a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub date: Date,
    /// Signed minor units: đồng for VND, cents for EUR/USD (see [`exponent`]).
    pub amount: i64,
}

/// One booked movement on the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line in the file where the entry starts.
    pub line: usize,
    pub booking_date: Date,
    pub value_date: Option<Date>,
    /// Minor units of [`Entry::currency`], never negative: the sign is in [`Entry::direction`].
    pub amount: i64,
    /// ISO 4217 code of the amount (camt.053 `Amt/@Ccy`, MT940 `:60F:`, a CSV source's
    /// configured currency): a credit in another currency is never taken for đồng.
    pub currency: String,
    pub direction: Direction,
    /// The bank's reference for the entry (empty when the file has none).
    pub reference: String,
    /// Remittance information / transfer content, whitespace-normalised.
    pub content: String,
}

/// Money into the account (credit) or out of it (debit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Credit,
    Debit,
}

impl Entry {
    /// The amount with its sign: positive for credits, negative for debits.
    pub fn signed(&self) -> i64 {
        match self.direction {
            Direction::Credit => self.amount,
            Direction::Debit => -self.amount,
        }
    }
}

/// A statement of a file that could not be read, with what is known of it (either may be
/// empty), beside the file's other statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The bank's statement reference, as far as it was read.
    pub statement_id: String,
    /// The account the statement names, as far as it was read.
    pub account: String,
    pub error: StatementError,
}

/// Why a statement file was rejected. Every variant names the line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// The file does not follow the format at this line.
    #[error("line {line}: {reason}")]
    Parse { line: usize, reason: String },
    /// Opening + credits − debits is not the closing balance; `line` is the closing balance's.
    #[error(
        "line {line}: statement {statement_id} does not add up: opening {opening} + movements {movements} \
         is not closing {closing}"
    )]
    Unbalanced { line: usize, statement_id: String, opening: i64, movements: i64, closing: i64 },
    /// A CSV row's balance column disagrees with the running balance computed up to it.
    #[error("line {line}: the balance column says {found}, the movements so far give {expected}")]
    RunningBalance { line: usize, expected: i64, found: i64 },
    /// The CSV column map itself is unusable (line 0: not the file's fault).
    #[error("column map: {reason}")]
    Map { reason: String },
}

impl StatementError {
    /// The 1-based line at fault (0 for a bad column map).
    pub fn line(&self) -> usize {
        match self {
            StatementError::Parse { line, .. }
            | StatementError::Unbalanced { line, .. }
            | StatementError::RunningBalance { line, .. } => *line,
            StatementError::Map { .. } => 0,
        }
    }

    /// A stable machine code for the error.
    pub fn code(&self) -> Code {
        match self {
            StatementError::Parse { .. } => Code::StatementParse,
            StatementError::Unbalanced { .. } => Code::StatementUnbalanced,
            StatementError::RunningBalance { .. } => Code::StatementRunningBalance,
            StatementError::Map { .. } => Code::StatementColumnMap,
        }
    }
}

/// Shorthand for a [`StatementError::Parse`].
pub(crate) fn parse_error(line: usize, reason: impl Into<String>) -> StatementError {
    StatementError::Parse { line, reason: reason.into() }
}

/// Minor-unit exponent of the currencies feegate may meet on an agency account; `None` for others.
pub fn exponent(currency: &str) -> Option<u32> {
    match currency {
        "VND" | "JPY" | "KRW" | "LAK" | "KHR" => Some(0),
        "EUR" | "USD" | "GBP" | "CHF" | "SEK" | "DKK" | "NOK" | "PLN" | "CZK" | "CNY" | "SGD" | "THB" | "AUD"
        | "CAD" | "HKD" | "TWD" | "MYR" | "NZD" => Some(2),
        _ => None,
    }
}

/// Converts plain decimal text (`digits[.digits]`, no sign or grouping) to minor units of
/// `currency`, exactly. A fraction finer than the currency's minor unit is refused.
pub(crate) fn minor_units(text: &str, currency: &str, line: usize) -> Result<i64, StatementError> {
    let exp = exponent(currency).ok_or_else(|| parse_error(line, format!("unknown currency {currency:?}")))?;
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || text.ends_with('.') || int.len() > 18 || frac.len() > 10 || !digits_ok(int) || !digits_ok(frac)
    {
        return Err(parse_error(line, format!("{text:?} is not an amount")));
    }
    let d = Decimal::from_str(text).map_err(|_| parse_error(line, format!("{text:?} is not an amount")))?;
    let scaled = Decimal::from(10i64.pow(exp))
        .checked_mul(d)
        .ok_or_else(|| parse_error(line, format!("{text:?} is too large")))?;
    if !scaled.fract().is_zero() {
        let why = if exp == 0 {
            format!("{text:?}: {currency} has no minor unit, the amount must be whole")
        } else {
            format!("{text:?} has more than {exp} decimals for {currency}")
        };
        return Err(parse_error(line, why));
    }
    i64::try_from(scaled).map_err(|_| parse_error(line, format!("{text:?} is too large")))
}

/// Collapses runs of whitespace to one space and trims the ends.
pub(crate) fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The 1-based line of a byte offset in `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count()
}

/// Decodes a file as UTF-8 (a BOM is dropped); an invalid byte is an error at its line.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, StatementError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = 1 + good.iter().filter(|b| **b == b'\n').count();
        parse_error(line, "the file is not valid UTF-8")
    })
}

/// Checks opening + credits − debits = closing; `line` is where the closing balance stands.
pub(crate) fn check_balance(statement: &Statement, line: usize) -> Result<(), StatementError> {
    let mut movements: i64 = 0;
    for e in &statement.entries {
        movements = movements.checked_add(e.signed()).ok_or_else(|| parse_error(e.line, "the movements overflow"))?;
    }
    let expected = statement.opening.amount.checked_add(movements);
    if expected != Some(statement.closing.amount) {
        return Err(StatementError::Unbalanced {
            line,
            statement_id: statement.statement_id.clone(),
            opening: statement.opening.amount,
            movements,
            closing: statement.closing.amount,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_convert_exactly_by_the_currency_exponent() {
        assert_eq!(minor_units("135000", "VND", 1), Ok(135_000));
        assert_eq!(minor_units("135000.00", "VND", 1), Ok(135_000));
        assert_eq!(minor_units("18.15", "EUR", 1), Ok(1_815));
        assert_eq!(minor_units("18.1", "EUR", 1), Ok(1_810));
        assert_eq!(minor_units("7", "USD", 1), Ok(700));
        assert_eq!(minor_units("0.1", "EUR", 1), Ok(10));
    }

    #[test]
    fn bad_amounts_are_errors_at_their_line() {
        let e = minor_units("135000.5", "VND", 7).unwrap_err();
        assert_eq!(e.line(), 7);
        assert!(e.to_string().contains("whole"), "{e}");
        assert!(minor_units("1.005", "EUR", 1).is_err());
        assert!(minor_units("1", "XXX", 1).unwrap_err().to_string().contains("unknown currency"));
        for bad in ["", ".", "1.", "-1", "1e3", "1,5", " 1", "1.2.3", "99999999999999999999"] {
            assert!(minor_units(bad, "EUR", 1).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn whitespace_is_normalised() {
        assert_eq!(normalise("  MBVCB.1 \n  CT  tu\t0011004 "), "MBVCB.1 CT tu 0011004");
    }

    #[test]
    fn a_bad_utf8_byte_is_reported_at_its_line() {
        assert_eq!(utf8(b"\xEF\xBB\xBFa\nb").unwrap(), "a\nb");
        assert_eq!(utf8(b"a\nb\n\xFF").unwrap_err().line(), 3);
    }
}
