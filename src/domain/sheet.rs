//! Excel workbooks (`.xlsx`, `.xls`) as banks and gateways send them, read with `calamine`
//! and turned into the CSV text the existing parsers read, so a spreadsheet goes through
//! the same column map (a CSV statement source) or the same gateway layout (a settlement
//! source) as the CSV export would, and makes the same records.
//!
//! Only the first sheet is read. Each sheet row becomes one CSV line, so a parser's "line
//! 7" is the sheet's row 7 (blank rows are blank lines, skipped as in a CSV). Cells are
//! written as the export would have them: text as is (line breaks inside a cell become
//! spaces), whole numbers as digits, a date cell in the statement's date column in the
//! map's `date_format`, a date-time elsewhere as RFC 3339 in GMT+7 (Excel keeps no zone;
//! Vietnamese files are in Vietnam time). A number cell of money must be exact: whole đồng
//! (or at most the currency's minor unit), else the row and column are named.

use super::statement::CsvMap;
use calamine::{Data, Reader};
use std::io::Cursor;

/// How to read the sheet: a gateway's settlement layout (every number cell is money or a
/// transaction number: whole), or a bank statement through its column map.
#[derive(Debug, Clone, Copy)]
pub enum Plan<'a> {
    Settlement,
    Statement { map: &'a CsvMap, exponent: u32 },
}

/// Why a workbook could not be read: the sheet row (1-based; 0 for the file itself) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if *.row == 0 { String::new() } else { format!("row {}: ", .row) })]
pub struct SheetError {
    pub row: usize,
    pub reason: String,
}

fn err(row: usize, reason: impl Into<String>) -> SheetError {
    SheetError { row, reason: reason.into() }
}

/// Whether `bytes` are a workbook: an Office Open XML zip (`.xlsx`) or an OLE compound file
/// (`.xls`). Neither a CSV, camt.053 nor MT940 file starts so.
pub fn is_workbook(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

/// A column's letters: 0 → `A`, 26 → `AA`.
pub fn column_name(mut col: u32) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Largest whole number a double holds exactly.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// What a column of the sheet holds, for writing its number and date cells.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Other,
    Money,
    Date,
}

/// The first sheet of a workbook as CSV text (`plan` says which cells are money and dates,
/// and the separator).
pub fn to_csv(bytes: &[u8], plan: Plan<'_>) -> Result<Vec<u8>, SheetError> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| err(0, format!("the file is not a workbook that can be read: {e}")))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| err(0, "the workbook has no sheet"))?
        .map_err(|e| err(0, format!("the first sheet cannot be read: {e}")))?;
    let Some((first_row, first_col)) = range.start() else {
        return Err(err(0, "the first sheet is empty"));
    };
    let (delimiter, date_format) = match plan {
        Plan::Settlement => (b',', None),
        Plan::Statement { map, .. } => {
            let f = time::format_description::parse_borrowed::<2>(&map.date_format)
                .map_err(|e| err(0, format!("column map: date_format {:?}: {e}", map.date_format)))?;
            (map.delimiter, Some(f))
        }
    };
    let mut kinds: Vec<Col> = Vec::new();
    let mut header_seen = matches!(plan, Plan::Settlement);
    let mut non_blank = 0usize;
    // Row numbers stay the sheet's: the rows above the used range are blank lines.
    let mut out: Vec<u8> = b"\n".repeat(first_row as usize);
    for (i, row) in range.rows().enumerate() {
        let row_no = first_row as usize + i + 1;
        if row.iter().all(|c| matches!(c, Data::Empty)) {
            out.push(b'\n');
            continue;
        }
        if let (false, Plan::Statement { map, .. }) = (header_seen, plan) {
            if non_blank >= map.skip_rows {
                if let Some(k) = statement_columns(row, map) {
                    kinds = k;
                    header_seen = true;
                }
            }
        }
        non_blank += 1;
        let mut cells = Vec::with_capacity(row.len());
        for (j, cell) in row.iter().enumerate() {
            let kind = match plan {
                Plan::Settlement => Col::Money,
                Plan::Statement { .. } => kinds.get(j).copied().unwrap_or(Col::Other),
            };
            let at = || format!("column {}", column_name(first_col + j as u32));
            cells.push(
                cell_text(cell, kind, plan, date_format.as_deref())
                    .map_err(|r| err(row_no, format!("{}: {r}", at())))?,
            );
        }
        write_line(&mut out, &cells, delimiter);
    }
    Ok(out)
}

/// The kinds of the header row's columns, if this row is the statement's header (it has the
/// map's date column).
fn statement_columns(row: &[Data], map: &CsvMap) -> Option<Vec<Col>> {
    let norm = |s: &str| s.trim().trim_start_matches('\u{feff}').to_lowercase();
    let headers: Vec<String> =
        row.iter().map(|c| if let Data::String(s) = c { norm(s) } else { String::new() }).collect();
    let date = norm(&map.date);
    if !headers.contains(&date) {
        return None;
    }
    let money: Vec<String> =
        [&map.amount, &map.credit, &map.debit, &map.balance].into_iter().flatten().map(|h| norm(h)).collect();
    Some(
        headers
            .iter()
            .map(|h| {
                if *h == date {
                    Col::Date
                } else if money.contains(h) {
                    Col::Money
                } else {
                    Col::Other
                }
            })
            .collect(),
    )
}

/// A cell as the CSV export would have written it.
fn cell_text(
    cell: &Data,
    kind: Col,
    plan: Plan<'_>,
    date_format: Option<&[time::format_description::BorrowedFormatItem<'_>]>,
) -> Result<String, String> {
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.replace(['\r', '\n'], " "),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::Float(f) => number(*f, kind, plan)?,
        Data::DateTime(d) if d.is_datetime() => {
            let (y, mo, da, h, mi, s, _) = d.to_ymd_hms_milli();
            let month = time::Month::try_from(mo).map_err(|_| format!("date {y}-{mo}-{da} is not a date"))?;
            let date = time::Date::from_calendar_date(i32::from(y), month, da)
                .map_err(|_| format!("date {y}-{mo}-{da} is not a date"))?;
            match (kind, date_format) {
                (Col::Date, Some(f)) => date.format(f).map_err(|e| format!("date {date}: {e}"))?,
                _ => {
                    let t = time::Time::from_hms(h, mi, s).map_err(|_| format!("time {h}:{mi}:{s} is not a time"))?;
                    let at = time::PrimitiveDateTime::new(date, t).assume_offset(time::macros::offset!(+7));
                    at.format(&time::format_description::well_known::Rfc3339).map_err(|e| e.to_string())?
                }
            }
        }
        Data::DateTime(d) => number(d.as_f64(), kind, plan)?,
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(format!("the cell holds the Excel error {e}")),
    })
}

/// A number cell: money must be exact (whole đồng, or at most the currency's minor unit);
/// any other whole number is written as digits, not `1e21` or `135000.0`.
fn number(f: f64, kind: Col, plan: Plan<'_>) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!("{f} is not a number"));
    }
    if kind == Col::Money {
        let exponent = match plan {
            Plan::Settlement => 0,
            Plan::Statement { exponent, .. } => exponent,
        };
        let scale = 10f64.powi(exponent as i32);
        let minor = f * scale;
        let whole = minor.round();
        if whole.abs() >= EXACT {
            return Err(format!("{f} is too large to be an exact amount"));
        }
        // A double of a decimal amount is within rounding noise of a whole minor unit.
        if (minor - whole).abs() > 1e-6 * scale.max(1.0) {
            return Err(if exponent == 0 {
                format!("{f} is not a whole number of đồng")
            } else {
                format!("{f} has more than {exponent} decimals")
            });
        }
        let w = whole as i64;
        if exponent == 0 {
            return Ok(w.to_string());
        }
        let decimal = match plan {
            Plan::Statement { map, .. } => map.decimal.unwrap_or(if map.thousands == Some('.') { ',' } else { '.' }),
            Plan::Settlement => '.',
        };
        let sign = if w < 0 { "-" } else { "" };
        let (int, frac) = (w.unsigned_abs() / 10u64.pow(exponent), w.unsigned_abs() % 10u64.pow(exponent));
        return Ok(format!("{sign}{int}{decimal}{frac:0width$}", width = exponent as usize));
    }
    if f.fract() == 0.0 && f.abs() < EXACT {
        Ok((f as i64).to_string())
    } else {
        Ok(f.to_string())
    }
}

/// One CSV line: a field with the delimiter, a quote or a line break is quoted.
fn write_line(out: &mut Vec<u8>, cells: &[String], delimiter: u8) {
    // Trailing empty cells of a row are the sheet's width, not the export's.
    let n = cells.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
    for (i, c) in cells[..n].iter().enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        if c.bytes().any(|b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r') {
            out.push(b'"');
            out.extend(c.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend(c.as_bytes());
        }
    }
    out.extend(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_named_as_excel_names_them() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }

    #[test]
    fn money_must_be_exact() {
        assert_eq!(number(135000.0, Col::Money, Plan::Settlement).unwrap(), "135000");
        assert!(number(135000.5, Col::Money, Plan::Settlement).unwrap_err().contains("whole number of đồng"));
        assert!(number(1e17, Col::Money, Plan::Settlement).unwrap_err().contains("too large"));
        assert_eq!(number(1e15, Col::Other, Plan::Settlement).unwrap(), "1000000000000000");
        assert_eq!(number(0.5, Col::Other, Plan::Settlement).unwrap(), "0.5");
    }

    #[test]
    fn a_csv_line_quotes_what_needs_quoting() {
        let mut out = Vec::new();
        write_line(&mut out, &["a,b".into(), "say \"x\"".into(), "plain".into(), String::new()], b',');
        assert_eq!(String::from_utf8(out).unwrap(), "\"a,b\",\"say \"\"x\"\"\",plain\r\n");
    }

    #[test]
    fn only_office_files_are_workbooks() {
        assert!(is_workbook(b"PK\x03\x04rest"));
        assert!(is_workbook(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]));
        assert!(!is_workbook(b"reference,gateway_txn"));
        assert!(!is_workbook(b"<?xml"));
    }
}
