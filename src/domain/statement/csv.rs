//! Spreadsheet (CSV) exports of Vietnamese banks, read through a configured [`CsvMap`]: which
//! header holds the date, the amounts, the content and the running balance.

use super::{
    check_balance, exponent, line_at, minor_units, normalise, parse_error, utf8, Balance, Direction, Entry, Statement,
    StatementError,
};
use serde::Deserialize;
use time::format_description::BorrowedFormatItem;
use time::Date;

/// Which column of a bank's CSV export holds what, by header text (compared trimmed and
/// case-insensitively). Either one signed `amount` column or both `credit` and `debit`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvMap {
    /// Header of the booking date column.
    pub date: String,
    /// `time` format description of that column, e.g. `[day]/[month]/[year]`.
    pub date_format: String,
    /// Header of a signed amount column (negative = debit unless `direction` says otherwise).
    #[serde(default)]
    pub amount: Option<String>,
    /// Header of the credit (money in) column.
    #[serde(default)]
    pub credit: Option<String>,
    /// Header of the debit (money out) column.
    #[serde(default)]
    pub debit: Option<String>,
    /// Header of a column with `C`/`D`, `CR`/`DR`, `Có`/`Nợ`, used with `amount`.
    #[serde(default)]
    pub direction: Option<String>,
    /// Header of the bank reference column.
    #[serde(default)]
    pub reference: Option<String>,
    /// Header of the transfer content column.
    pub content: String,
    /// Header of the running balance column; without it the opening balance must be given.
    #[serde(default)]
    pub balance: Option<String>,
    /// Field separator: a byte or a one-character string (`","`, `";"`, `"\t"`).
    #[serde(default = "comma", deserialize_with = "delimiter")]
    pub delimiter: u8,
    /// Thousands separator in amounts (`.` in `1.350.000`, `,` in `1,350,000`), if any.
    #[serde(default)]
    pub thousands: Option<char>,
    /// Decimal separator; `,` when `thousands` is `.`, else `.`.
    #[serde(default)]
    pub decimal: Option<char>,
    /// Bank header rows before the column header (the header is the first row from here on
    /// that has the `date` column).
    #[serde(default)]
    pub skip_rows: usize,
}

fn comma() -> u8 {
    b','
}

fn delimiter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Delim {
        Byte(u8),
        Text(String),
    }
    match Delim::deserialize(d)? {
        Delim::Byte(b) => Ok(b),
        Delim::Text(s) if s.len() == 1 => Ok(s.as_bytes()[0]),
        Delim::Text(s) => Err(serde::de::Error::custom(format!("delimiter {s:?} is not one ASCII character"))),
    }
}

/// Parses one CSV export of `account` in `currency` into a balance-checked statement.
///
/// With a balance column every row's balance is checked against the running total (the opening
/// is the first balance minus the first movement, and must equal `opening` when that is given);
/// without one, `opening` is required. Rows newest-first are accepted when the balances prove
/// that order. Rows without a date after the last dated row (totals) are ignored.
pub fn parse(
    bytes: &[u8],
    map: &CsvMap,
    account: &str,
    currency: &str,
    opening: Option<i64>,
) -> Result<Statement, StatementError> {
    let spec = Spec::new(map, currency)?;
    let text = utf8(bytes)?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(map.delimiter)
        .from_reader(text.as_bytes());
    let mut columns: Option<Columns> = None;
    let mut header_line = 1;
    let mut rows: Vec<Row> = Vec::new();
    let mut undated_with_amount: Option<usize> = None;
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(header_line, |p| record_line(text, p));
            parse_error(line, format!("bad CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| record_line(text, p));
        let Some(cols) = columns.as_ref() else {
            if index >= map.skip_rows {
                columns = Columns::find(&record, map, line)?;
                header_line = line;
            }
            continue;
        };
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").trim();
        if cell(Some(cols.date)).is_empty() {
            let amounts = [cols.amount, cols.credit, cols.debit];
            if undated_with_amount.is_none() && amounts.iter().any(|c| !cell(*c).is_empty()) {
                undated_with_amount = Some(line);
            }
            continue;
        }
        if let Some(at) = undated_with_amount {
            return Err(parse_error(at, "a row with an amount but no date"));
        }
        rows.push(spec.row(line, cols, &record)?);
    }
    if columns.is_none() {
        return Err(parse_error(1, format!("no header row with a {:?} column", map.date)));
    }
    if rows.is_empty() {
        return Err(parse_error(header_line, "no transactions after the header"));
    }
    if map.balance.is_none() && opening.is_none() {
        return Err(parse_error(header_line, "no balance column: the opening balance must be given"));
    }
    let forward = build(rows.clone(), account, currency, opening);
    match forward {
        Err(StatementError::RunningBalance { .. }) if rows.len() > 1 => {
            rows.reverse();
            build(rows, account, currency, opening).or(forward)
        }
        other => other,
    }
}

/// The line a record starts on. csv's position can sit on the end of the previous line
/// (after a CRLF's `\r`), so line ends at the offset are skipped.
fn record_line(text: &str, p: &::csv::Position) -> usize {
    let start = usize::try_from(p.byte()).unwrap_or(usize::MAX).min(text.len());
    let skip = text.as_bytes()[start..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    line_at(text, start + skip)
}

/// One dated row: its entry and the balance written beside it, if any.
#[derive(Clone)]
struct Row {
    entry: Entry,
    balance: Option<i64>,
}

/// Checks the running balance of rows in this order and makes the statement.
fn build(rows: Vec<Row>, account: &str, currency: &str, opening: Option<i64>) -> Result<Statement, StatementError> {
    let overflow = |line| parse_error(line, "the balance overflows");
    let mut start = opening;
    let mut moved: i64 = 0;
    for row in &rows {
        moved = moved.checked_add(row.entry.signed()).ok_or_else(|| overflow(row.entry.line))?;
        let Some(found) = row.balance else { continue };
        let start = *start.get_or_insert(found.checked_sub(moved).ok_or_else(|| overflow(row.entry.line))?);
        let expected = start.checked_add(moved).ok_or_else(|| overflow(row.entry.line))?;
        if found != expected {
            return Err(StatementError::RunningBalance { line: row.entry.line, expected, found });
        }
    }
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Err(parse_error(0, "no transactions"));
    };
    let opening = start.ok_or_else(|| parse_error(first.entry.line, "no balance to start from"))?;
    let closing = opening.checked_add(moved).ok_or_else(|| overflow(last.entry.line))?;
    let (from, to) = (first.entry.booking_date, last.entry.booking_date);
    let last_line = last.entry.line;
    let statement = Statement {
        account: account.to_owned(),
        currency: currency.to_owned(),
        statement_id: format!("{account}/{from}/{to}"),
        opening: Balance { date: from, amount: opening },
        closing: Balance { date: to, amount: closing },
        entries: rows.into_iter().map(|r| r.entry).collect(),
    };
    check_balance(&statement, last_line)?;
    Ok(statement)
}

/// Positions of the mapped columns in the header row.
struct Columns {
    date: usize,
    amount: Option<usize>,
    credit: Option<usize>,
    debit: Option<usize>,
    direction: Option<usize>,
    reference: Option<usize>,
    content: usize,
    balance: Option<usize>,
}

impl Columns {
    /// The columns, if this row is the header (it has the date column); an error if it is but
    /// lacks another mapped column.
    fn find(record: &::csv::StringRecord, map: &CsvMap, line: usize) -> Result<Option<Columns>, StatementError> {
        let headers: Vec<String> =
            record.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase()).collect();
        let at = |name: &str| headers.iter().position(|h| *h == name.trim().to_lowercase());
        let Some(date) = at(&map.date) else { return Ok(None) };
        let need = |name: &Option<String>| -> Result<Option<usize>, StatementError> {
            match name {
                None => Ok(None),
                Some(n) => at(n).map(Some).ok_or_else(|| parse_error(line, format!("no {n:?} column in the header"))),
            }
        };
        let content =
            at(&map.content).ok_or_else(|| parse_error(line, format!("no {:?} column in the header", map.content)))?;
        Ok(Some(Columns {
            date,
            amount: need(&map.amount)?,
            credit: need(&map.credit)?,
            debit: need(&map.debit)?,
            direction: need(&map.direction)?,
            reference: need(&map.reference)?,
            content,
            balance: need(&map.balance)?,
        }))
    }
}

/// The map checked once: date format, separators and currency.
struct Spec<'a> {
    date: Vec<BorrowedFormatItem<'a>>,
    thousands: Option<char>,
    decimal: char,
    currency: &'a str,
}

impl<'a> Spec<'a> {
    fn new(map: &'a CsvMap, currency: &'a str) -> Result<Spec<'a>, StatementError> {
        let bad = |reason: String| StatementError::Map { reason };
        let date = time::format_description::parse_borrowed::<2>(&map.date_format)
            .map_err(|e| bad(format!("date_format {:?}: {e}", map.date_format)))?;
        let decimal = map.decimal.unwrap_or(if map.thousands == Some('.') { ',' } else { '.' });
        if !matches!(decimal, '.' | ',') || map.thousands.is_some_and(|t| t == decimal || !matches!(t, '.' | ',' | ' '))
        {
            return Err(bad(format!("separators thousands {:?} and decimal {decimal:?} do not fit", map.thousands)));
        }
        match (&map.amount, &map.credit, &map.debit) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            _ => return Err(bad("map either one amount column or both credit and debit columns".into())),
        }
        if exponent(currency).is_none() {
            return Err(bad(format!("unknown currency {currency:?}")));
        }
        Ok(Spec { date, thousands: map.thousands, decimal, currency })
    }

    fn row(&self, line: usize, cols: &Columns, record: &::csv::StringRecord) -> Result<Row, StatementError> {
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").trim();
        let date_text = cell(Some(cols.date));
        let booking_date = Date::parse(date_text, &self.date)
            .or_else(|e| match date_text.split_once(' ') {
                Some((day, _)) => Date::parse(day, &self.date),
                None => Err(e),
            })
            .map_err(|e| parse_error(line, format!("date {date_text:?}: {e}")))?;
        let (amount, direction) = match cols.amount {
            Some(_) => {
                let (negative, amount) =
                    self.amount(cell(cols.amount), line)?.ok_or_else(|| parse_error(line, "the amount is empty"))?;
                let direction = match cols.direction {
                    Some(_) => {
                        let d = direction(cell(cols.direction), line)?;
                        if negative && d == Direction::Credit {
                            return Err(parse_error(line, "a negative amount marked as credit"));
                        }
                        d
                    }
                    None if negative => Direction::Debit,
                    None => Direction::Credit,
                };
                (amount, direction)
            }
            None => {
                let credit = self.amount(cell(cols.credit), line)?.map(|(_, a)| a);
                let debit = self.amount(cell(cols.debit), line)?.map(|(_, a)| a);
                match (credit, debit) {
                    (Some(c), Some(d)) if c > 0 && d > 0 => {
                        return Err(parse_error(line, "both a credit and a debit amount"));
                    }
                    (None, None) => return Err(parse_error(line, "neither a credit nor a debit amount")),
                    (_, Some(d)) if d > 0 => (d, Direction::Debit),
                    (c, _) => (c.unwrap_or(0), Direction::Credit),
                }
            }
        };
        let balance = self.amount(cell(cols.balance), line)?.map(|(neg, a)| if neg { -a } else { a });
        let entry = Entry {
            line,
            booking_date,
            value_date: None,
            amount,
            currency: self.currency.to_owned(),
            direction,
            reference: cell(cols.reference).to_owned(),
            content: normalise(cell(Some(cols.content))),
        };
        Ok(Row { entry, balance })
    }

    /// An amount cell: `1.350.000`, `1,350,000`, `-135000.00`, `(5,500)`; `None` when empty.
    fn amount(&self, text: &str, line: usize) -> Result<Option<(bool, i64)>, StatementError> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let bad = || parse_error(line, format!("{t:?} is not an amount"));
        let (negative, t) = match t.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
            Some(inner) => (true, inner.trim()),
            None => match t.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, t.strip_prefix('+').unwrap_or(t)),
            },
        };
        let (int, frac) = match t.split_once(self.decimal) {
            Some((i, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (i, Some(f)),
            Some(_) => return Err(bad()),
            None => (t, None),
        };
        let digits = match self.thousands {
            Some(sep) if int.contains(sep) => {
                let groups: Vec<&str> = int.split(sep).collect();
                let first_ok = (1..=3).contains(&groups[0].len());
                if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
                    return Err(bad());
                }
                groups.concat()
            }
            _ => int.to_owned(),
        };
        let plain = match frac {
            Some(f) => format!("{digits}.{f}"),
            None => digits,
        };
        minor_units(&plain, self.currency, line).map(|a| Some((negative, a)))
    }
}

/// A direction cell: `C`/`CR`/`Có`/`Ghi có`/`+` or `D`/`DR`/`Nợ`/`Ghi nợ`/`-`.
fn direction(text: &str, line: usize) -> Result<Direction, StatementError> {
    match text.trim().to_lowercase().as_str() {
        "c" | "cr" | "credit" | "có" | "co" | "ghi có" | "ghi co" | "+" => Ok(Direction::Credit),
        "d" | "dr" | "debit" | "nợ" | "no" | "ghi nợ" | "ghi no" | "-" => Ok(Direction::Debit),
        other => Err(parse_error(line, format!("direction {other:?} is neither credit nor debit"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statement::test_support::{fixture, never_panics};
    use time::macros::date;

    fn vcb_map() -> CsvMap {
        CsvMap {
            date: "Ngày giao dịch".into(),
            date_format: "[day]/[month]/[year]".into(),
            amount: None,
            credit: Some("Số tiền ghi có".into()),
            debit: Some("Số tiền ghi nợ".into()),
            direction: None,
            reference: Some("Số tham chiếu".into()),
            content: "Nội dung chi tiết".into(),
            balance: Some("Số dư".into()),
            delimiter: b',',
            thousands: Some(','),
            decimal: None,
            skip_rows: 4,
        }
    }

    /// An Agribank-like export: semicolons, one signed amount column, `Có`/`Nợ`, dots for thousands.
    const SIGNED: &str = "Ngay GD;So tien;Loai;Dien giai\n\
        01/04/2025;135.000;Có;FG1AAAAAAAAA nop phi\n\
        01/04/2025;-11.000;Nợ;Phi SMS\n\
        02/04/2025;1.350.000,00;C;FG2BBBBBBBBB  nop   phi\n";

    fn signed_map() -> CsvMap {
        CsvMap {
            date: "ngay gd".into(),
            amount: Some("So tien".into()),
            credit: None,
            debit: None,
            direction: Some("Loai".into()),
            reference: None,
            content: "Dien giai".into(),
            balance: None,
            delimiter: b';',
            thousands: Some('.'),
            skip_rows: 0,
            ..vcb_map()
        }
    }

    #[test]
    fn a_vcb_export_with_bank_header_rows_reads_every_row() {
        let s = parse(&fixture("vcb_statement.csv"), &vcb_map(), "0071001234567", "VND", None).unwrap();
        assert_eq!(s.statement_id, "0071001234567/2025-03-15/2025-03-16");
        assert_eq!(s.opening, Balance { date: date!(2025 - 03 - 15), amount: 18_250_000 });
        assert_eq!(s.closing, Balance { date: date!(2025 - 03 - 16), amount: 20_334_500 });
        assert_eq!(s.entries.iter().map(|e| e.line).collect::<Vec<_>>(), [6, 7, 9, 10, 11]);
        let e = &s.entries[0];
        assert_eq!((e.amount, e.direction, e.reference.as_str()), (135_000, Direction::Credit, "5073IBT1ZX9Q2W"));
        assert_eq!(e.content, "MBVCB.3278614911.FG8WCR2FK0AM.CT tu 0011004 NGUYEN VAN A toi 0071001234567");
        assert_eq!(
            s.entries[1].content,
            "IBFT FG4HN2XK81QD nop phi cap phieu ly lich tu phap cho TRAN VAN BINH CCCD 079088001234"
        );
        assert_eq!(s.entries[2].booking_date, date!(2025 - 03 - 15), "a time after the date is ignored");
        assert_eq!((s.entries[3].amount, s.entries[3].direction), (5_500, Direction::Debit));
        assert_eq!(s.entries[4].content, "Nộp phí hộ tịch FG7KQ2M4XH1B, người nộp: Lê Thị Hoa");
    }

    #[test]
    fn the_given_opening_balance_must_match_the_file() {
        let bytes = fixture("vcb_statement.csv");
        assert!(parse(&bytes, &vcb_map(), "0071001234567", "VND", Some(18_250_000)).is_ok());
        let e = parse(&bytes, &vcb_map(), "0071001234567", "VND", Some(18_000_000)).unwrap_err();
        assert_eq!(e, StatementError::RunningBalance { line: 6, expected: 18_135_000, found: 18_385_000 });
    }

    #[test]
    fn an_unbalanced_csv_names_the_first_row_that_does_not_add_up() {
        let e = parse(&fixture("vcb_statement_unbalanced.csv"), &vcb_map(), "0071001234567", "VND", None);
        assert_eq!(e.unwrap_err(), StatementError::RunningBalance { line: 9, expected: 20_140_000, found: 20_150_000 });
    }

    #[test]
    fn a_signed_amount_column_with_a_direction_column_reads_without_a_balance() {
        let s = parse(SIGNED.as_bytes(), &signed_map(), "1500201012345", "VND", Some(1_000_000)).unwrap();
        let amounts: Vec<i64> = s.entries.iter().map(Entry::signed).collect();
        assert_eq!(amounts, [135_000, -11_000, 1_350_000]);
        assert_eq!(s.closing.amount, 2_474_000);
        assert_eq!(s.entries[2].content, "FG2BBBBBBBBB nop phi");
        assert_eq!(s.entries[2].line, 4);
        let e = parse(SIGNED.as_bytes(), &signed_map(), "1500201012345", "VND", None).unwrap_err();
        assert_eq!(e.line(), 1);
        assert!(e.to_string().contains("opening balance"), "{e}");
        let no_direction = CsvMap { direction: None, ..signed_map() };
        let s = parse(SIGNED.as_bytes(), &no_direction, "1500201012345", "VND", Some(0)).unwrap();
        assert_eq!(s.entries[1].direction, Direction::Debit);
    }

    #[test]
    fn newest_first_exports_are_accepted_when_the_balances_prove_it() {
        let text = "Date,Amount,Balance,Content\n\
            02/04/2025,-20000,1315000,fee\n\
            01/04/2025,135000,1335000,FG1AAAAAAAAA\n";
        let map = CsvMap {
            date: "Date".into(),
            amount: Some("Amount".into()),
            credit: None,
            debit: None,
            reference: None,
            content: "Content".into(),
            balance: Some("Balance".into()),
            thousands: None,
            skip_rows: 0,
            ..vcb_map()
        };
        let s = parse(text.as_bytes(), &map, "X", "VND", None).unwrap();
        assert_eq!((s.opening.amount, s.closing.amount), (1_200_000, 1_315_000));
        assert_eq!(s.entries[0].line, 3);
        assert_eq!(s.opening.date, date!(2025 - 04 - 01));
    }

    #[test]
    fn the_map_comes_from_toml_configuration() {
        let map: CsvMap = toml::from_str(
            r#"date = "ngay gd"
               date_format = "[day]/[month]/[year]"
               amount = "So tien"
               direction = "Loai"
               content = "Dien giai"
               delimiter = ";"
               thousands = "."
            "#,
        )
        .unwrap();
        assert_eq!((map.delimiter, map.thousands, map.skip_rows), (b';', Some('.'), 0));
        assert!(parse(SIGNED.as_bytes(), &map, "1500201012345", "VND", Some(0)).is_ok());
        assert!(toml::from_str::<CsvMap>("date = \"d\"\ndate_format = \"x\"\ncontent = \"c\"\ncolour = 1").is_err());
    }

    #[test]
    fn unusable_maps_are_refused_before_reading() {
        let bytes = fixture("vcb_statement.csv");
        let both = CsvMap { amount: Some("Số dư".into()), ..vcb_map() };
        let bad_format = CsvMap { date_format: "[day/[month]".into(), ..vcb_map() };
        let same_separators = CsvMap { decimal: Some(','), ..vcb_map() };
        for map in [both, bad_format, same_separators] {
            assert!(matches!(parse(&bytes, &map, "A", "VND", None), Err(StatementError::Map { .. })), "{map:?}");
        }
        assert!(matches!(parse(&bytes, &vcb_map(), "A", "XYZ", None), Err(StatementError::Map { .. })));
    }

    #[test]
    fn bad_cells_are_errors_that_name_their_line() {
        let good = String::from_utf8(fixture("vcb_statement.csv")).unwrap();
        let cases = [
            (good.replacen("\"135,000\",\"18,385,000\"", "\"1,35\",\"18,385,000\"", 1), 6, "not an amount"),
            (good.replacen("\"135,000\",\"18,385,000\"", "\"135,000.5\",\"18,385,000\"", 1), 6, "whole"),
            (good.replacen("5,16/03/2025", "5,31/02/2025", 1), 11, "date"),
            (good.replacen(",\"5,500\",0,", ",\"5,500\",\"5,500\",", 1), 10, "both"),
            (good.replacen(",\"5,500\",0,", ",,,", 1), 10, "neither"),
            (good.replacen("2,15/03/2025,", "2,,", 1), 7, "no date"),
            (good.replacen("Số dư", "Số dư cuối", 1), 5, "Số dư"),
            (good.replacen("Ngày giao dịch", "Ngày", 1), 1, "header"),
        ];
        for (text, line, words) in cases {
            let e = parse(text.as_bytes(), &vcb_map(), "0071001234567", "VND", None).unwrap_err();
            assert_eq!(e.line(), line, "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        let only_header = "Ngay GD;So tien;Loai;Dien giai\n";
        assert_eq!(parse(only_header.as_bytes(), &signed_map(), "A", "VND", Some(0)).unwrap_err().line(), 1);
        let e = parse(b"Ngay GD;So tien;Loai;Dien giai\n\xff", &signed_map(), "A", "VND", Some(0)).unwrap_err();
        assert_eq!(e.line(), 2);
    }

    #[test]
    fn no_input_makes_the_csv_parser_panic() {
        never_panics(&fixture("vcb_statement.csv"), 3000, |b| {
            let _ = parse(b, &vcb_map(), "0071001234567", "VND", None);
        });
        never_panics(SIGNED.as_bytes(), 2000, |b| {
            let _ = parse(b, &signed_map(), "1500201012345", "VND", Some(0));
        });
    }
}
