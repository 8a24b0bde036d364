//! A report [`Table`] as an Excel workbook (`rust_xlsxwriter`): one sheet with a bold header
//! row, the rows, and a totals row. Numeric columns are written as numbers with a
//! thousands format (`#,##0`), never as text, so a finance officer's SUM works; text cells
//! are written as they are (UTF-8: Vietnamese intact; a cell starting with `=` is a string,
//! never a formula, since nothing here writes formulas).

use super::render::Table;
use crate::service::error::Error;
use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook};

/// Money beyond this is not exact as an Excel number (a double): written as text instead.
const EXACT: i64 = 1 << 53;

/// The totals of `table`'s numeric columns (a sum per column; `None` for a column that is
/// not numeric or has no value).
pub fn totals(table: &Table) -> Vec<Option<i64>> {
    (0..table.header.len())
        .map(|c| {
            if !table.numeric.get(c).copied().unwrap_or(false) {
                return None;
            }
            let values: Vec<i64> = table.rows.iter().filter_map(|r| r.get(c)?.parse::<i64>().ok()).collect();
            (!values.is_empty()).then(|| values.iter().sum())
        })
        .collect()
}

/// The workbook's bytes: sheet `sheet`, `header` (the column titles to show, one per column
/// of `table`), the rows, then `totals_label` with the sum of each numeric column.
pub fn workbook(table: &Table, sheet: &str, header: &[String], totals_label: &str) -> Result<Vec<u8>, Error> {
    write(table, sheet, header, totals_label, &table.numeric, &totals(table))
}

/// As [`workbook`], with the thousands format only on the columns `money` marks (other
/// numeric columns are plain numbers) and the totals row's numbers given (`None`: blank).
pub fn write(
    table: &Table,
    sheet: &str,
    header: &[String],
    totals_label: &str,
    money_cols: &[bool],
    totals: &[Option<i64>],
) -> Result<Vec<u8>, Error> {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name(sheet).map_err(Error::internal)?;
    let head =
        Format::new().set_bold().set_background_color(Color::RGB(0xF3F5F8)).set_border_bottom(FormatBorder::Thin);
    let money = Format::new().set_num_format("#,##0");
    let plain = Format::new().set_num_format("0");
    let total_text = Format::new().set_bold().set_border_top(FormatBorder::Thin);
    let total_money = Format::new().set_bold().set_num_format("#,##0").set_border_top(FormatBorder::Thin);
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, &head).map_err(Error::internal)?;
    }
    let mut row: u32 = 1;
    for r in &table.rows {
        for (c, cell) in r.iter().enumerate() {
            let col = c as u16;
            let number = table.numeric.get(c).copied().unwrap_or(false);
            match cell.parse::<i64>() {
                Ok(v) if number && v.abs() < EXACT => {
                    let f = if money_cols.get(c).copied().unwrap_or(false) { &money } else { &plain };
                    ws.write_number_with_format(row, col, v as f64, f).map_err(Error::internal)?;
                }
                _ if cell.is_empty() => {}
                _ => {
                    ws.write_string(row, col, cell).map_err(Error::internal)?;
                }
            }
        }
        row += 1;
    }
    ws.write_string_with_format(row, 0, totals_label, &total_text).map_err(Error::internal)?;
    for (c, t) in totals.iter().copied().enumerate() {
        match t {
            Some(v) if v.abs() < EXACT => {
                ws.write_number_with_format(row, c as u16, v as f64, &total_money).map_err(Error::internal)?;
            }
            Some(v) => {
                ws.write_string_with_format(row, c as u16, v.to_string(), &total_text).map_err(Error::internal)?;
            }
            None if c > 0 => {
                ws.write_blank(row, c as u16, &total_text).map_err(Error::internal)?;
            }
            None => {}
        }
    }
    ws.set_freeze_panes(1, 0).map_err(Error::internal)?;
    ws.set_autofit_max_width(320);
    ws.autofit();
    book.save_to_buffer().map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_numeric_columns_only() {
        let t = Table {
            header: vec!["agency_name".into(), "amount".into(), "credited".into()],
            numeric: vec![false, true, true],
            rows: vec![vec!["Sở A".into(), "135000".into(), "".into()], vec!["Sở B".into(), "-5000".into(), "".into()]],
        };
        assert_eq!(totals(&t), vec![None, Some(130_000), None]);
        let bytes = workbook(&t, "Tháng 11", &t.header, "Tổng cộng").unwrap();
        assert!(bytes.starts_with(b"PK"), "an xlsx is a zip");
    }
}
