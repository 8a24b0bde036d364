//! Rendering of the reports (presentation): a report as a [`Table`] of text cells, and a
//! table as CSV a spreadsheet opens (UTF-8 with a BOM, CRLF, formula-like cells defused)
//! or as aligned columns for a terminal. The API's CSV download and `feegate reconcile
//! report` both render through here; the figures themselves are built in
//! [`super`](crate::service::reports).

use super::{MonthlyReport, SettlementReport};
use crate::service::error::{Code, Error};

/// A CSV cell made safe to open in a spreadsheet (OWASP "CSV injection"): text that starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return would be run as a formula (an agency
/// or account name, a dossier or procedure code a portal chose, a bank's transfer content),
/// so it gets a leading `'`. A plain number in a numeric column (`-135000`, `1.5`) stays a
/// number, so amounts still add up in the sheet.
pub fn csv_cell(cell: &str, numeric: bool) -> std::borrow::Cow<'_, str> {
    let plain_number = |s: &str| {
        let digits = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
        !int.is_empty() && !frac.is_empty() && (int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    };
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !(numeric && plain_number(cell)) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// A report as rows of text, for CSV and the terminal.
#[derive(Debug, Clone)]
pub struct Table {
    pub header: Vec<String>,
    /// Which columns hold numbers (right-aligned in the terminal).
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// UTF-8 with a byte order mark and CRLF line ends, so that a spreadsheet opens it with
    /// its Vietnamese intact.
    /// Cells a spreadsheet would run as a formula are defused (see [`csv_cell`]).
    pub fn to_csv(&self) -> Result<Vec<u8>, Error> {
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        w.write_record(self.header.iter().map(|h| csv_cell(h, false).into_owned())).map_err(Error::internal)?;
        for row in &self.rows {
            let cells = row
                .iter()
                .enumerate()
                .map(|(i, c)| csv_cell(c, self.numeric.get(i).copied().unwrap_or(false)).into_owned());
            w.write_record(cells).map_err(Error::internal)?;
        }
        let mut out = "\u{feff}".as_bytes().to_vec();
        out.extend(w.into_inner().map_err(Error::internal)?);
        Ok(out)
    }

    /// Aligned columns for a terminal.
    pub fn to_text(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                widths[i] = widths[i].max(width(c));
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let pad = " ".repeat(widths[i] - width(c));
                if i > 0 {
                    s.push_str("  ");
                }
                if self.numeric[i] {
                    s.push_str(&pad);
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.push_str(&pad);
                }
            }
            s.trim_end().to_owned()
        };
        let mut out = line(&self.header);
        out.push('\n');
        out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

impl SettlementReport {
    /// The report as a table: one row per account, a settled column per gateway.
    pub fn table(&self) -> Table {
        let mut header: Vec<String> =
            ["date", "agency_code", "agency_name", "account_id", "bank_name", "account_number", "account_name"]
                .map(str::to_owned)
                .to_vec();
        let mut numeric = vec![false; header.len()];
        let mut money = vec!["paid".to_owned(), "refunded".into(), "expected".into(), "settled".into()];
        money.extend(self.gateways.iter().map(|g| format!("settled_{g}")));
        money.extend(["credited", "difference_settled", "difference_credited", "open_cases"].map(str::to_owned));
        numeric.extend(money.iter().map(|_| true));
        header.extend(money);
        let rows = self
            .accounts
            .iter()
            .map(|a| {
                let mut r = vec![
                    self.date.clone(),
                    a.agency_code.clone(),
                    a.agency_name.clone(),
                    a.account_id.clone(),
                    a.bank_name.clone(),
                    a.account_number.clone(),
                    a.account_name.clone(),
                    a.paid.clone(),
                    a.refunded.clone(),
                    a.expected.clone(),
                    a.settled.clone(),
                ];
                r.extend(self.gateways.iter().map(|g| a.settled_by_gateway.get(g).cloned().unwrap_or_default()));
                r.push(a.credited.clone().unwrap_or_default());
                r.push(a.difference_settled.clone());
                r.push(a.difference_credited.clone().unwrap_or_default());
                r.push(a.open_cases.to_string());
                r
            })
            .collect();
        Table { header, numeric, rows }
    }
}

impl MonthlyReport {
    /// The report as a table: one row per agency, fee kind, procedure and gateway.
    pub fn table(&self) -> Table {
        let header: Vec<String> = [
            "month",
            "agency_code",
            "agency_name",
            "kind",
            "kind_name",
            "procedure_code",
            "gateway",
            "count",
            "amount",
            "refunded",
        ]
        .map(str::to_owned)
        .to_vec();
        let numeric = header.iter().map(|h| ["count", "amount", "refunded"].contains(&h.as_str())).collect();
        let rows = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    self.month.clone(),
                    r.agency_code.clone(),
                    r.agency_name.clone(),
                    r.kind.clone(),
                    r.kind_name.clone(),
                    r.procedure_code.clone(),
                    r.gateway.clone(),
                    r.count.to_string(),
                    r.amount.clone(),
                    r.refunded.clone(),
                ]
            })
            .collect();
        Table { header, numeric, rows }
    }
}

/// Which rendering a report request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// `json` (the default) or `csv`.
pub fn format(f: Option<&str>) -> Result<Format, Error> {
    match f.unwrap_or("json") {
        "json" => Ok(Format::Json),
        "csv" => Ok(Format::Csv),
        other => {
            Err(Error::new(Code::InvalidFormat, format!("format `{other}` is not json or csv")).with_field("format"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_starts_with_a_bom_and_ends_lines_with_crlf() {
        let t = Table {
            header: vec!["agency_name".into(), "amount".into()],
            numeric: vec![false, true],
            rows: vec![vec!["Sở Giao thông vận tải, Hà Nam".into(), "135000".into()]],
        };
        let csv = String::from_utf8(t.to_csv().unwrap()).unwrap();
        assert_eq!(csv, "\u{feff}agency_name,amount\r\n\"Sở Giao thông vận tải, Hà Nam\",135000\r\n");
        let text = t.to_text();
        assert!(text.lines().nth(2).unwrap().ends_with(" 135000"), "{text}");
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_as_formulas_are_quoted_but_amounts_stay_numbers() {
        let t = Table {
            header: vec!["procedure_code".into(), "amount".into()],
            numeric: vec![false, true],
            rows: vec![
                vec!["=HYPERLINK(\"http://x\",\"y\")".into(), "-135000".into()],
                vec!["+1+2".into(), "135000".into()],
                vec!["-2+3".into(), "0".into()],
                vec!["@SUM(A1)".into(), "-1.5".into()],
                vec!["\tcmd".into(), "=1+1".into()],
                vec!["\rcmd".into(), "-1-1".into()],
                vec!["1.004227".into(), "12".into()],
            ],
        };
        let csv = String::from_utf8(t.to_csv().unwrap()).unwrap();
        let mut r = csv::ReaderBuilder::new().from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        let rows: Vec<Vec<String>> = r.records().map(|rec| rec.unwrap().iter().map(str::to_owned).collect()).collect();
        let want = [
            ["'=HYPERLINK(\"http://x\",\"y\")", "-135000"],
            ["'+1+2", "135000"],
            ["'-2+3", "0"],
            ["'@SUM(A1)", "-1.5"],
            ["'\tcmd", "'=1+1"],
            ["'\rcmd", "'-1-1"],
            ["1.004227", "12"],
        ];
        assert_eq!(rows, want.map(|r| r.map(str::to_owned).to_vec()).to_vec());
        assert_eq!(csv_cell("-135000", false), "'-135000", "a negative number in a text column is text");
    }
}
