//! SWIFT MT940 customer statements: `:20:` `:25:` `:28C:` `:60F/M:` `:61:` `:86:` `:62F/M:`, one or
//! several statements per file (in `{4:` … `-}` blocks or just one after another), CRLF or LF.
//!
//! Real files carry an envelope around the statements, which is skipped: SOH/ETX control
//! characters, a `:940:` or bank header line (`ABNANL2A`, `940`) before a statement's `:20:`,
//! the `{1:…}{2:…}{3:…}{4:` block headers and the closing `-}` (with its `{5:…}` trailer).
//! Each statement is read and balance-checked on its own: [`parse_each`] gives a bad one as
//! a [`Refused`] beside the good ones; [`parse`] refuses the whole file at the first.

use super::{
    check_balance, minor_units, normalise, parse_error, Balance, Direction, Entry, Refused, Statement, StatementError,
};
use std::borrow::Cow;
use time::{Date, Month};

/// SWIFT wraps `:86:` at 65 characters, often in the middle of a word or reference.
const LINE_WIDTH: usize = 65;

/// Parses every statement in an MT940 file; each one is balance-checked. The first statement
/// that cannot be read refuses the file.
pub fn parse(bytes: &[u8]) -> Result<Vec<Statement>, StatementError> {
    parse_each(bytes)?.into_iter().map(|r| r.map_err(|refused| refused.error)).collect()
}

/// Parses every statement in an MT940 file, each on its own: a statement that cannot be read
/// (or does not add up) is a [`Refused`] in its place and does not spoil the others. The
/// file as a whole is refused only when it holds no statement at all.
pub fn parse_each(bytes: &[u8]) -> Result<Vec<Result<Statement, Refused>>, StatementError> {
    let text = decode(bytes);
    let mut statements = Vec::new();
    let mut draft: Option<Draft> = None;
    // Fields of no statement (before its `:20:`): the first one's error, once.
    let mut orphan: Option<StatementError> = None;
    let flush = |draft: &mut Option<Draft>, orphan: &mut Option<StatementError>, out: &mut Vec<_>| {
        if let Some(error) = orphan.take() {
            out.push(Err(Refused { statement_id: String::new(), account: String::new(), error }));
        }
        if let Some(d) = draft.take() {
            out.push(d.finish());
        }
    };
    for token in tokens(&text) {
        match token {
            Token::Boundary => flush(&mut draft, &mut orphan, &mut statements),
            Token::Field(f) if f.tag == "20" => {
                flush(&mut draft, &mut orphan, &mut statements);
                draft = Some(Draft { line: f.line, reference: f.value.trim().to_owned(), ..Draft::default() });
            }
            Token::Field(f) => match draft.as_mut() {
                Some(d) => d.field(f),
                None => {
                    if orphan.is_none() {
                        orphan = Some(parse_error(f.line, format!(":{}: before the statement's :20:", f.tag)));
                    }
                }
            },
        }
    }
    flush(&mut draft, &mut orphan, &mut statements);
    if statements.is_empty() {
        return Err(parse_error(1, "no MT940 statement (:20:) in the file"));
    }
    Ok(statements)
}

/// UTF-8 (without its BOM) when it is; otherwise Latin-1, which every byte string is.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(bytes.iter().map(|b| char::from(*b)).collect()),
    }
}

/// A field: its tag, the line it starts on, its first line's value and its continuation lines.
struct Field {
    tag: String,
    line: usize,
    value: String,
    more: Vec<String>,
}

enum Token {
    Field(Field),
    /// The end of a `{4:` message block or the start of a new one.
    Boundary,
}

/// SOH and ETX, which frame each message of a file as the SWIFT network delivered it.
fn framing(c: char) -> bool {
    c == '\u{1}' || c == '\u{3}'
}

/// Splits the file into fields, dropping the envelope: SWIFT block headers and trailers,
/// SOH/ETX, and any line outside a field before a statement's first one (`:940:`, a bank
/// header). A line after a field continues it.
fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let mut line = raw.strip_suffix('\r').unwrap_or(raw).trim_matches(framing);
        if line.starts_with('{') {
            out.push(Token::Boundary);
            match line.find("{4:") {
                Some(at) => line = &line[at + 3..],
                None => continue,
            }
        }
        let trimmed = line.trim();
        if trimmed.starts_with("-}") || trimmed == "-" {
            out.push(Token::Boundary);
            continue;
        }
        if let Some((tag, value)) = split_tag(line) {
            out.push(Token::Field(Field { tag: tag.to_owned(), line: n, value: value.to_owned(), more: Vec::new() }));
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if let Some(Token::Field(f)) = out.last_mut() {
            f.more.push(line.to_owned());
        }
    }
    out
}

/// `:61:rest` -> `("61", "rest")`: two digits or letters and an optional letter between colons.
fn split_tag(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(':')?;
    let end = rest.find(':')?;
    let tag = &rest[..end];
    let b = tag.as_bytes();
    let ok = (b.len() == 2 || (b.len() == 3 && b[2].is_ascii_uppercase()))
        && b[..2].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    ok.then(|| (tag, &rest[end + 1..]))
}

#[derive(Default)]
struct Draft {
    line: usize,
    reference: String,
    sequence: String,
    account: String,
    opening: Option<(Balance, String)>,
    closing: Option<(Balance, String, usize)>,
    entries: Vec<Entry>,
    /// Whether the last field was the last entry's `:61:` or `:86:` (a `:86:` now belongs to it).
    in_entry: bool,
    /// The last entry's own `:86:` lines, and its `:61:` fallback text.
    details: Vec<String>,
    fallback: String,
    /// The first field that could not be read: the statement is refused with it.
    error: Option<StatementError>,
}

impl Draft {
    /// Reads a field; after the statement's first error only its account and number are
    /// still taken (to name it when it is reported).
    fn field(&mut self, f: Field) {
        match f.tag.as_str() {
            "25" => self.account = f.value.trim().to_owned(),
            "28C" | "28" => self.sequence = f.value.trim().to_owned(),
            _ => {}
        }
        if self.error.is_none() {
            if let Err(e) = self.read(f) {
                self.error = Some(e);
            }
        }
    }

    fn read(&mut self, f: Field) -> Result<(), StatementError> {
        let was_in_entry = std::mem::replace(&mut self.in_entry, false);
        match f.tag.as_str() {
            "25" => self.account = f.value.trim().to_owned(),
            "28C" | "28" => self.sequence = f.value.trim().to_owned(),
            "60F" | "60M" => {
                if self.opening.is_some() {
                    return Err(parse_error(f.line, "a second opening balance"));
                }
                self.opening = Some(balance(&f.value, f.line)?);
            }
            "61" => {
                self.close_entry();
                let Some((_, currency)) = &self.opening else {
                    return Err(parse_error(f.line, ":61: before the opening balance :60F:"));
                };
                if self.closing.is_some() {
                    return Err(parse_error(f.line, ":61: after the closing balance"));
                }
                let (entry, fallback) = statement_line(&f, currency)?;
                self.entries.push(entry);
                self.fallback = fallback;
                self.in_entry = true;
            }
            "86" if was_in_entry => {
                self.details.push(f.value);
                self.details.extend(f.more);
                self.in_entry = true;
            }
            "62F" | "62M" => {
                self.close_entry();
                if self.closing.is_some() {
                    return Err(parse_error(f.line, "a second closing balance"));
                }
                let (b, currency) = balance(&f.value, f.line)?;
                self.closing = Some((b, currency, f.line));
            }
            // :21: :13D: :34F: :64: :65: :90C: :90D:, and :86: about the whole statement.
            _ => {}
        }
        Ok(())
    }

    /// Gives the last entry its content: its `:86:` text, or else its `:61:` references.
    fn close_entry(&mut self) {
        let details = std::mem::take(&mut self.details);
        let fallback = std::mem::take(&mut self.fallback);
        if let Some(e) = self.entries.last_mut() {
            if e.content.is_empty() {
                e.content = if details.is_empty() { normalise(&fallback) } else { unwrap_lines(&details) };
            }
        }
    }

    fn finish(mut self) -> Result<Statement, Refused> {
        let statement_id = if self.sequence.is_empty() {
            self.reference.clone()
        } else {
            format!("{}/{}", self.reference, self.sequence)
        };
        let account = self.account.clone();
        let error = match self.error.take() {
            Some(e) => e,
            None => match self.build() {
                Ok(s) => return Ok(s),
                Err(e) => e,
            },
        };
        Err(Refused { statement_id, account, error })
    }

    fn build(mut self) -> Result<Statement, StatementError> {
        self.close_entry();
        let at = self.line;
        if self.account.is_empty() {
            return Err(parse_error(at, "statement without an account :25:"));
        }
        let (opening, currency) = self.opening.ok_or_else(|| parse_error(at, "statement without :60F:"))?;
        let (closing, closing_ccy, closing_line) =
            self.closing.ok_or_else(|| parse_error(at, "statement without a closing balance :62F:"))?;
        if closing_ccy != currency {
            return Err(parse_error(closing_line, format!("closing balance in {closing_ccy}, opening in {currency}")));
        }
        let statement_id =
            if self.sequence.is_empty() { self.reference } else { format!("{}/{}", self.reference, self.sequence) };
        let statement =
            Statement { account: self.account, currency, statement_id, opening, closing, entries: self.entries };
        check_balance(&statement, closing_line)?;
        Ok(statement)
    }
}

/// Joins wrapped lines: a full 65-character line was cut mid-text, a shorter one ended a phrase.
fn unwrap_lines(lines: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 && lines[i - 1].chars().count() < LINE_WIDTH {
            out.push(' ');
        }
        out.push_str(l);
    }
    normalise(&out)
}

/// `:60F:`/`:62F:` value: `C` or `D`, `YYMMDD`, currency, amount with a decimal comma.
fn balance(value: &str, line: usize) -> Result<(Balance, String), StatementError> {
    let v = value.trim();
    let bad = || parse_error(line, format!("{v:?} is not a balance (C/D, YYMMDD, currency, amount)"));
    let sign = match v.as_bytes().first() {
        Some(b'C') => 1,
        Some(b'D') => -1,
        _ => return Err(bad()),
    };
    let date = yymmdd(v.get(1..7).ok_or_else(bad)?, line)?;
    let currency = v.get(7..10).filter(|c| c.bytes().all(|b| b.is_ascii_uppercase())).ok_or_else(bad)?;
    let amount = swift_amount(v.get(10..).ok_or_else(bad)?, currency, line)?;
    Ok((Balance { date, amount: sign * amount }, currency.to_owned()))
}

/// An amount as SWIFT writes it: digits and a decimal comma (`135000,` or `54484,04`).
fn swift_amount(text: &str, currency: &str, line: usize) -> Result<i64, StatementError> {
    let bad = || parse_error(line, format!("{text:?} is not an amount with a decimal comma"));
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit() || b == b',') {
        return Err(bad());
    }
    let plain = match text.split_once(',') {
        Some((int, "")) => int.to_owned(),
        Some((int, frac)) => format!("{int}.{frac}"),
        None => text.to_owned(),
    };
    minor_units(&plain, currency, line)
}

/// A `:61:` statement line, and the text to use as content when no `:86:` follows.
fn statement_line(f: &Field, currency: &str) -> Result<(Entry, String), StatementError> {
    let line = f.line;
    let v = f.value.trim_end();
    let b = v.as_bytes();
    let bad = |what: &str| parse_error(line, format!(":61: {v:?}: {what}"));
    let value_date = yymmdd(v.get(0..6).ok_or_else(|| bad("no value date YYMMDD"))?, line)?;
    let mut at = 6;
    let mut booking_date = value_date;
    if b.len() >= at + 4 && b[at..at + 4].iter().all(u8::is_ascii_digit) {
        booking_date = entry_date(&v[at..at + 4], value_date, line)?;
        at += 4;
    }
    let (direction, mark_len) = match (b.get(at), b.get(at + 1)) {
        (Some(b'R'), Some(b'C')) => (Direction::Debit, 2),
        (Some(b'R'), Some(b'D')) => (Direction::Credit, 2),
        (Some(b'C'), _) => (Direction::Credit, 1),
        (Some(b'D'), _) => (Direction::Debit, 1),
        _ => return Err(bad("no debit/credit mark (C, D, RC, RD)")),
    };
    at += mark_len;
    if b.get(at).is_some_and(u8::is_ascii_uppercase) {
        at += 1; // funds code
    }
    let amount_len = b[at.min(b.len())..].iter().take_while(|c| c.is_ascii_digit() || **c == b',').count();
    let amount = swift_amount(&v[at..at + amount_len], currency, line)?;
    at += amount_len;
    let kind = v.get(at..at + 4).ok_or_else(|| bad("no transaction type (N, F or S and three characters)"))?;
    if !matches!(kind.as_bytes()[0], b'N' | b'F' | b'S') || !kind.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad("no transaction type (N, F or S and three characters)"));
    }
    let refs = &v[at + 4..];
    let (customer, bank) = refs.split_once("//").unwrap_or((refs, ""));
    let (customer, bank) = (customer.trim(), bank.trim());
    let customer = if customer == "NONREF" { "" } else { customer };
    let reference = if bank.is_empty() { customer } else { bank }.to_owned();
    let fallback = format!("{customer} {}", f.more.join(" "));
    let entry = Entry {
        line,
        booking_date,
        value_date: Some(value_date),
        amount,
        currency: currency.to_owned(),
        direction,
        reference,
        content: String::new(),
    };
    Ok((entry, fallback))
}

/// `YYMMDD`: years 80–99 are 19YY, the rest 20YY.
fn yymmdd(text: &str, line: usize) -> Result<Date, StatementError> {
    let bad = || parse_error(line, format!("{text:?} is not a date YYMMDD"));
    let n = two_digits(text, bad)?;
    let year = if n[0] >= 80 { 1900 } else { 2000 } + i32::from(n[0]);
    let month = Month::try_from(n[1]).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, n[2]).map_err(|_| bad())
}

/// The `MMDD` entry date of a `:61:`, in the value date's year or the one either side of it,
/// whichever is nearest (a booking on 31 Dec for a value date of 2 Jan).
fn entry_date(text: &str, value: Date, line: usize) -> Result<Date, StatementError> {
    let bad = || parse_error(line, format!("{text:?} is not an entry date MMDD"));
    let n = two_digits(text, bad)?;
    let month = Month::try_from(n[0]).map_err(|_| bad())?;
    [value.year() - 1, value.year(), value.year() + 1]
        .into_iter()
        .filter_map(|y| Date::from_calendar_date(y, month, n[1]).ok())
        .min_by_key(|d| (*d - value).abs())
        .ok_or_else(bad)
}

/// Splits ASCII digits into two-digit numbers (`"250315"` -> `[25, 3, 15]`).
fn two_digits(text: &str, bad: impl Fn() -> StatementError) -> Result<Vec<u8>, StatementError> {
    if text.is_empty() || !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(text.as_bytes().chunks(2).map(|p| (p[0] - b'0') * 10 + (p[1] - b'0')).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statement::test_support::{fixture, never_panics};
    use time::macros::date;

    #[test]
    fn a_vcb_statement_in_swift_blocks_with_crlf_reads_every_entry() {
        let s = parse(&fixture("mt940_vcb.txt")).unwrap();
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!((s.account.as_str(), s.currency.as_str()), ("0071001234567", "VND"));
        assert_eq!(s.statement_id, "VCB250315000071/74/1");
        assert_eq!(s.opening, Balance { date: date!(2025 - 03 - 14), amount: 18_250_000 });
        assert_eq!(s.closing, Balance { date: date!(2025 - 03 - 15), amount: 20_269_500 });
        assert_eq!(s.entries.len(), 5);
        let e = &s.entries[0];
        assert_eq!((e.line, e.amount, e.direction), (6, 135_000, Direction::Credit));
        assert_eq!(e.reference, "5073IBT1ZX9Q2W");
        assert_eq!(e.content, "MBVCB.3278614911.FG8WCR2FK0AM.CT tu 0011004 NGUYEN VAN A toi 0071001234567");
        assert_eq!((e.booking_date, e.value_date), (date!(2025 - 03 - 15), Some(date!(2025 - 03 - 15))));
        assert_eq!(
            s.entries[1].content,
            "IBFT FG4HN2XK81QD nop phi cap phieu ly lich tu phap cho TRAN VAN BINH CCCD 079088001234"
        );
        assert_eq!((s.entries[3].direction, s.entries[3].amount), (Direction::Debit, 5_500));
    }

    #[test]
    fn a_full_65_character_line_is_joined_without_a_space() {
        let s = parse(&fixture("mt940_vcb.txt")).unwrap();
        assert_eq!(
            s[0].entries[2].content,
            "VNPAY QT NGAY 14/03/2025 FEEGATE SOTUPHAP BINHDUONG 11 GD LO FG7BQ2M9XK4LPA THANH TOAN"
        );
    }

    #[test]
    fn reversals_invert_the_direction() {
        let s = parse(&fixture("mt940_vcb.txt")).unwrap();
        let rd = &s[0].entries[4];
        assert_eq!((rd.direction, rd.amount, rd.line), (Direction::Credit, 135_000, 16));
        let s = parse(&fixture("mt940_two_statements.txt")).unwrap();
        assert_eq!(s[1].entries[0].direction, Direction::Debit);
    }

    #[test]
    fn two_statements_without_blocks_are_split_at_each_20() {
        let s = parse(&fixture("mt940_two_statements.txt")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].statement_id, "CTG2412310001/252/1");
        assert_eq!(s[1].opening.amount, s[0].closing.amount);
        assert_eq!(s[1].closing.amount, 6_330_000);
        let e = &s[0].entries;
        assert_eq!(e[0].line, 6);
        assert_eq!(e[0].content, "NAPAS 247 FG5TT2WQ9LME", "no :86:, so the :61: text");
        assert_eq!(e[1].content, "Phi chuyen tien ra ngoai he thong");
        assert_eq!(s[1].entries[1].amount, 1_350_000);
        assert_eq!(s[1].entries[1].reference, "FT25002000187");
        assert_eq!(s[1].entries[1].content, "VCB;0011004;NGUYEN VAN A;FG8WCR2FK0AM;10 ho so cap ban sao trich luc");
        assert_eq!(s[1].entries[1].booking_date, date!(2025 - 01 - 02));
    }

    #[test]
    fn an_entry_date_in_december_belongs_to_the_year_before_a_january_value_date() {
        let s = parse(&fixture("mt940_two_statements.txt")).unwrap();
        let e = &s[0].entries[0];
        assert_eq!(e.value_date, Some(date!(2025 - 01 - 02)));
        assert_eq!(e.booking_date, date!(2024 - 12 - 31));
        assert_eq!(entry_date("0102", date!(2024 - 12 - 30), 1).unwrap(), date!(2025 - 01 - 02));
        assert_eq!(entry_date("0229", date!(2024 - 03 - 01), 1).unwrap(), date!(2024 - 02 - 29));
        assert!(entry_date("0230", date!(2024 - 03 - 01), 1).is_err());
    }

    #[test]
    fn an_unbalanced_mt940_is_rejected_with_its_numbers() {
        match parse(&fixture("mt940_unbalanced.txt")).unwrap_err() {
            StatementError::Unbalanced { line, statement_id, opening, movements, closing } => {
                assert_eq!((opening, movements, closing), (10_000_000, 405_000, 10_450_000));
                assert_eq!((line, statement_id.as_str()), (10, "CTG2503160001/75/1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_public_wolph_sample_imports_and_adds_up() {
        let s = parse(&fixture("wolph-mt940-statements.sta")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].account.as_str(), s[0].currency.as_str()), ("EXAMPLE-ACCOUNT", "EUR"));
        assert_eq!(s[0].opening, Balance { date: date!(2026 - 01 - 01), amount: 10_000 });
        assert_eq!(s[0].closing.amount, 8_750);
        assert_eq!(s[1].closing.amount, 11_250);
        let e = &s[0].entries[0];
        assert_eq!((e.amount, e.direction, e.reference.as_str()), (1_250, Direction::Debit, "BANK-001"));
        assert_eq!(e.content, "Coffee supplies");
        assert_eq!(s[1].entries[0].content, "Supplier refund");
    }

    #[test]
    fn broken_files_are_errors_that_name_the_line() {
        let good = String::from_utf8(fixture("mt940_two_statements.txt")).unwrap();
        let cases = [
            (good.replacen("C135000,NTRF", "C135000,50NTRF", 1), 6, "whole"),
            (good.replacen("VND5000000,", "XYZ5000000,", 1), 4, "unknown currency"),
            (good.replacen(":60F:C241230VND5000000,", ":60F:C241330VND5000000,", 1), 4, "date"),
            (good.replacen("1231C135000,", "1231X135000,", 1), 6, "mark"),
            (good.replacen("C135000,NTRF", "C135000,ZTRF", 1), 6, "transaction type"),
            (good.replacen("C241231VND5115000,\n:86:Het", "C241231USD5115000,\n:86:Het", 1), 11, "USD"),
            (good.replacen(":20:CTG2412310001\n", "garbage\n", 1), 2, "before"),
            (good.replacen(":20:CTG2412310001\n", "", 1), 1, "before"),
            (good.replacen(":62F:C250102VND6330000,", "", 1), 14, "closing"),
            (good.replacen(":60F:C241231VND5115000,", "", 1), 18, "opening"),
        ];
        for (text, line, words) in cases {
            let e = parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.line(), line, "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        assert_eq!(parse(b"").unwrap_err().line(), 1);
    }

    /// The statements of `mt940_two_statements.txt`, as (first, second) text.
    fn two() -> (String, String) {
        let text = String::from_utf8(fixture("mt940_two_statements.txt")).unwrap();
        let (a, b) = text.split_once("\n\n").unwrap();
        (a.to_owned(), b.to_owned())
    }

    fn same_as_two_statements(s: &[Statement]) {
        let want = parse(&fixture("mt940_two_statements.txt")).unwrap();
        assert_eq!(s.len(), 2);
        for (got, want) in s.iter().zip(&want) {
            assert_eq!(
                (&got.statement_id, &got.account, got.opening, got.closing, got.entries.len()),
                (&want.statement_id, &want.account, want.opening, want.closing, want.entries.len())
            );
            let contents = |s: &Statement| s.entries.iter().map(|e| e.content.clone()).collect::<Vec<_>>();
            assert_eq!(contents(got), contents(want));
        }
    }

    #[test]
    fn soh_and_etx_framing_each_swift_message_is_skipped() {
        let s = parse(&fixture("mt940_envelope.txt")).unwrap();
        same_as_two_statements(&s);
        assert_eq!(s[0].entries[0].line, 7, "lines are the file's (the header is line 1)");
    }

    #[test]
    fn a_940_first_line_is_skipped() {
        let (a, b) = two();
        same_as_two_statements(&parse(format!(":940:\n{a}\n\n{b}").as_bytes()).unwrap());
        same_as_two_statements(&parse(format!(":940:\r\n{a}\n-\n:940:\n{b}").as_bytes()).unwrap());
    }

    #[test]
    fn swift_blocks_around_each_statement_and_the_closing_dash_brace_are_skipped() {
        let (a, b) = two();
        let blocks = "{1:F01ICBVVNVXAXXX0000000000}{2:O9400800250102ICBVVNVXAXXX00000000002501020800N}";
        // Block 4 opened on the header line or on a line of its own; a `{5:}` trailer or none.
        let text = format!("{blocks}{{4:\n{a}\n-}}{{5:{{CHK:0A1B2C3D4E5F}}}}\n{blocks}\n{{4:\n{b}\n-}}\n");
        same_as_two_statements(&parse(text.as_bytes()).unwrap());
        let framed = format!("\u{1}{blocks}{{4:\n{a}\n-}}\u{3}\u{1}{blocks}{{4:\n{b}\n-}}\u{3}");
        same_as_two_statements(&parse(framed.as_bytes()).unwrap());
    }

    #[test]
    fn a_bank_header_before_each_statements_first_20_is_skipped() {
        let (a, b) = two();
        // ABN AMRO style: the bank's BIC, `940`, the BIC again, before each statement.
        let text = format!("ABNANL2A\n940\nABNANL2A\n{a}\n-\nABNANL2A\n940\nABNANL2A\n{b}\n-\n");
        same_as_two_statements(&parse(text.as_bytes()).unwrap());
        let text = format!("0000 01ICBVVNVXAXXX00001\n{a}\n\n{b}");
        same_as_two_statements(&parse(text.as_bytes()).unwrap());
    }

    #[test]
    fn one_bad_statement_is_refused_with_its_reason_and_the_others_still_read() {
        let (a, b) = two();
        let bad = a.replace(":62F:C241231VND5115000,", ":62F:C241231VND5115001,");
        let each = parse_each(format!("{bad}\n\n{b}").as_bytes()).unwrap();
        assert_eq!(each.len(), 2);
        let refused = each[0].as_ref().unwrap_err();
        assert_eq!((refused.statement_id.as_str(), refused.account.as_str()), ("CTG2412310001/252/1", "113000012345"));
        assert!(matches!(refused.error, StatementError::Unbalanced { line: 11, .. }), "{:?}", refused.error);
        assert_eq!(each[1].as_ref().unwrap().statement_id, "CTG2501020001/1/1");
        // A field that cannot be read refuses its own statement only, named as far as it was read.
        let bad = b.replace(":61:250102C1350000,00NTRF", ":61:250102X1350000,00NTRF");
        let each = parse_each(format!("{a}\n\n{bad}").as_bytes()).unwrap();
        assert_eq!(each[0].as_ref().unwrap().statement_id, "CTG2412310001/252/1");
        let refused = each[1].as_ref().unwrap_err();
        assert_eq!((refused.statement_id.as_str(), refused.error.line()), ("CTG2501020001/1/1", 20));
        // Strict parsing still refuses the file at the first bad statement.
        assert_eq!(parse(format!("{a}\n\n{bad}").as_bytes()).unwrap_err().line(), 20);
        // Fields before any `:20:` are a refused statement of their own.
        let each = parse_each(format!(":25:X\n:60F:C241230VND5000000,\n{b}").as_bytes()).unwrap();
        assert_eq!(each.len(), 2);
        assert_eq!(each[0].as_ref().unwrap_err().error.line(), 1);
        assert!(each[1].is_ok());
    }

    #[test]
    fn entries_carry_the_statements_currency() {
        let s = parse(&fixture("wolph-mt940-statements.sta")).unwrap();
        assert!(s[0].entries.iter().all(|e| e.currency == "EUR"));
        let s = parse(&fixture("mt940_vcb.txt")).unwrap();
        assert!(s[0].entries.iter().all(|e| e.currency == "VND"));
    }

    #[test]
    fn latin1_text_is_read_rather_than_refused() {
        let text =
            b":20:X\n:25:A\n:60F:C250101EUR1,00\n:61:250101C1,00NTRFNONREF\n:86:Gr\xFC\xDFe\n:62F:C250101EUR2,00\n";
        let s = parse(text).unwrap();
        assert_eq!(s[0].entries[0].content, "Gr\u{fc}\u{df}e");
        assert_eq!(s[0].entries[0].reference, "");
    }

    #[test]
    fn no_input_makes_the_mt940_parser_panic() {
        for name in ["mt940_vcb.txt", "mt940_two_statements.txt", "wolph-mt940-statements.sta", "mt940_envelope.txt"] {
            never_panics(&fixture(name), 4000, |b| {
                let _ = parse(b);
            });
        }
    }
}
