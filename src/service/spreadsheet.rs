//! Spreadsheet uploads and the preview of an upload. A workbook (`.xlsx`, `.xls`) for a
//! source is read as the CSV that source takes (`domain::sheet`): a settlement source's
//! gateway layout, or a CSV statement source's column map; [`as_source_file`] is called by
//! every import (`service::recon::import_file`: the API, the console, the CLI, the inbox).
//! [`preview`] parses an upload as the import would, writing nothing, so a wrong column
//! map or a wrong file is seen before a run is made.

use crate::app::AppState;
use crate::config::ReconSource;
use crate::domain::money::format_vnd;
use crate::domain::sheet::{self, Plan};
use crate::domain::statement::{self, exponent, Direction, Statement};
use crate::service::error::{Code, Error};
use crate::service::recon::{require_staff, source_format};
use feegate_connector::SettlementKind;

/// The currency of a CSV statement source's amounts (VND when not given).
fn source_currency(s: &ReconSource) -> &str {
    s.currency.as_deref().unwrap_or("VND")
}

fn statement_source<'a>(state: &'a AppState, source: &str) -> Option<&'a ReconSource> {
    state.config.reconciliation.sources.iter().find(|s| s.id == source && s.format != "settlement")
}

/// `bytes` as the file `source` takes: a workbook is converted to that source's CSV; any
/// other file is left as it is. A workbook for a camt.053 or MT940 source, or one that cannot
/// be read (a money cell that is not whole đồng, an Excel error cell, a damaged file), is
/// refused naming the row and column.
pub fn as_source_file(state: &AppState, source: &str, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
    if !sheet::is_workbook(&bytes) {
        return Ok(bytes);
    }
    let bad = |code: Code, e: sheet::SheetError| {
        Error::new(code, format!("the spreadsheet cannot be read: {e}")).with_field("file")
    };
    if state.connectors.get(source).is_some() {
        return sheet::to_csv(&bytes, Plan::Settlement).map_err(|e| bad(Code::InvalidSettlementFile, e));
    }
    match statement_source(state, source) {
        Some(s) if s.format == "csv" => {
            let map = s.csv.as_ref().ok_or_else(|| Error::internal("csv source without a column map"))?;
            let exponent = exponent(source_currency(s)).unwrap_or(0);
            sheet::to_csv(&bytes, Plan::Statement { map, exponent }).map_err(|e| bad(Code::StatementParse, e))
        }
        Some(s) => Err(Error::new(
            Code::FormatMismatch,
            format!(
                "source {source} takes {} files: a spreadsheet is read only for a settlement source or a CSV statement source (through its column map)",
                s.format
            ),
        )
        .with_field("file")),
        None => Err(Error::new(Code::UnknownSource, format!("no connector or reconciliation source {source} is configured"))
            .with_field("source")),
    }
}

/// How many parsed rows a preview shows.
pub const PREVIEW_ROWS: usize = 20;

/// An upload as the import would read it: the first rows, how many there are, or why the
/// file cannot be read. Nothing is written.
#[derive(Debug, Clone)]
pub struct Preview {
    /// `settlement` (columns: line, reference, gateway transaction, kind, amount, fee,
    /// status, time) or `statement` (line, booking day, credit/debit, amount, reference,
    /// content).
    pub kind: &'static str,
    /// The source's format (`settlement`, `csv`, `camt053`, `mt940`).
    pub format: String,
    /// Whether the file was a workbook (read through `domain::sheet`).
    pub spreadsheet: bool,
    pub rows: Vec<Vec<String>>,
    /// Parsed records in the whole file.
    pub total: usize,
    /// Why the file cannot be imported, naming the line (or row and column).
    pub error: Option<String>,
}

/// Parses an upload for `source` without importing it (finance and admin bound to no
/// agency, as the import).
pub fn preview(
    state: &AppState,
    who: &crate::service::caller::Principal,
    source: &str,
    bytes: Vec<u8>,
) -> Result<Preview, Error> {
    require_staff(who)?;
    let format = source_format(state, source)
        .ok_or_else(|| {
            Error::new(Code::UnknownSource, format!("no connector or reconciliation source {source} is configured"))
                .with_field("source")
        })?
        .to_owned();
    let spreadsheet = sheet::is_workbook(&bytes);
    let kind = if format == "settlement" { "settlement" } else { "statement" };
    let mut p = Preview { kind, format, spreadsheet, rows: Vec::new(), total: 0, error: None };
    let bytes = match as_source_file(state, source, bytes) {
        Ok(b) => b,
        Err(e) => {
            p.error = Some(e.message);
            return Ok(p);
        }
    };
    if let Some(account) = state.connectors.get(source) {
        match account.connector.parse_settlement(&bytes) {
            Ok(lines) => {
                p.total = lines.len();
                p.rows = lines
                    .iter()
                    .take(PREVIEW_ROWS)
                    .map(|l| {
                        let kind = match l.kind {
                            SettlementKind::Pay => "pay",
                            SettlementKind::Refund => "refund",
                        };
                        let time = l.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                        vec![
                            l.line.to_string(),
                            l.reference.clone(),
                            l.gateway_txn.clone(),
                            kind.to_owned(),
                            format_vnd(l.amount),
                            format_vnd(l.fee),
                            l.status.clone(),
                            time,
                        ]
                    })
                    .collect();
            }
            Err(e) => p.error = Some(format!("the settlement file is unusable: {e}")),
        }
        return Ok(p);
    }
    let s = statement_source(state, source).ok_or_else(|| Error::not_found("source"))?;
    let parsed: Result<Vec<Statement>, statement::StatementError> = match s.format.as_str() {
        "camt053" => statement::camt053::parse(&bytes),
        "mt940" => statement::mt940::parse_each(&bytes).map(|all| all.into_iter().filter_map(Result::ok).collect()),
        "csv" => match s.csv.as_ref() {
            Some(map) => {
                statement::csv::parse(&bytes, map, s.account_number.as_deref().unwrap_or(""), source_currency(s), None)
                    .map(|st| vec![st])
            }
            None => return Err(Error::internal("csv source without a column map")),
        },
        other => return Err(Error::internal(format!("format {other} is not a statement"))),
    };
    match parsed {
        Ok(statements) => {
            let entries: Vec<_> = statements.iter().flat_map(|st| &st.entries).collect();
            p.total = entries.len();
            p.rows = entries
                .iter()
                .take(PREVIEW_ROWS)
                .map(|e| {
                    vec![
                        e.line.to_string(),
                        e.booking_date.to_string(),
                        match e.direction {
                            Direction::Credit => "credit",
                            Direction::Debit => "debit",
                        }
                        .to_owned(),
                        amount_text(e.amount, &e.currency),
                        e.reference.clone(),
                        e.content.clone(),
                    ]
                })
                .collect();
        }
        Err(e) => p.error = Some(format!("the statement is unusable: {e}")),
    }
    Ok(p)
}

/// An amount in minor units of `currency`, for reading: `135.000 ₫`, `1350.25 USD`.
fn amount_text(minor: i64, currency: &str) -> String {
    match exponent(currency) {
        Some(0) if currency == "VND" => format_vnd(minor),
        Some(e) if e > 0 => {
            let p = 10i64.pow(e);
            format!("{}.{:0w$} {currency}", minor / p, minor % p, w = e as usize)
        }
        _ => format!("{minor} {currency}"),
    }
}
