//! The receipt register (issue 11, the finance console's part): per agency, template,
//! series and year the receipts issued (count, first and last number, amounts,
//! cancellations, adjustments) with the **gap check** (numbers missing between 1 and the
//! highest of the counter's last number and the highest number issued, numbers present
//! twice, a counter that does not match the highest number issued), all read by SQL over
//! the receipt rows themselves (`store::receipts`); the receipts of one series in a GMT+7
//! month, a page at a time; and the month's register as a [`Table`] for CSV and XLSX.
//!
//! Everything goes through the caller's agency scope, like the reports: a caller bound to
//! agencies sees only theirs, and naming another agency answers 404 like a missing one.

use crate::app::AppState;
use crate::domain::receipt::Content;
use crate::service::caller::Principal;
use crate::service::error::{Code, Error};
use crate::service::reports::{may_read, month_bounds, render::Table};
use crate::store::receipts::ReceiptRow;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How many missing numbers a series lists (the count is always exact).
pub const MISSING_SHOWN: usize = 50;
/// Receipts on one page of a series' month.
pub const PAGE: i64 = 50;

/// One series and its gap check.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesCheck {
    pub agency_code: String,
    pub agency_name: String,
    pub template: String,
    pub series: String,
    /// The numbering year (GMT+7) of a yearly series; 0 when it never restarts.
    pub year: i32,
    pub receipts: i64,
    pub first_number: Option<i64>,
    pub last_number: Option<i64>,
    /// Đồng over every receipt of the series (adjustments negative), and over the
    /// cancelled ones among them.
    pub amount: i64,
    pub cancelled_amount: i64,
    pub cancelled: i64,
    pub adjustments: i64,
    /// The counter's last number (`receipt_counters`); `None` when the series has none.
    pub counter: Option<i64>,
    /// How many numbers between 1 and the highest known number have no receipt, and the
    /// first [`MISSING_SHOWN`] of them.
    pub missing_count: i64,
    pub missing: Vec<i64>,
    /// Numbers with more than one receipt, and how many each has.
    pub duplicates: Vec<(i64, i64)>,
    /// The counter's last number is not the highest number issued.
    pub counter_mismatch: bool,
}

impl SeriesCheck {
    /// No gap, no duplicate, and the counter agrees with the receipts.
    pub fn whole(&self) -> bool {
        self.missing_count == 0 && self.duplicates.is_empty() && !self.counter_mismatch
    }
}

type Key = (String, String, String, i32);

/// Refuses an agency the caller is not bound to: "not found", as a missing one.
fn scoped<'a>(who: &Principal, agency: Option<&'a str>) -> Result<Option<&'a str>, Error> {
    may_read(who)?;
    match agency {
        Some(a) if !who.sees_agency(a) => Err(Error::not_found("agency")),
        other => Ok(other),
    }
}

/// Every series `who` may see (of one agency, or all; of one year, or all) with its gap
/// check, by agency, template, series and year.
pub async fn series(
    state: &AppState,
    who: &Principal,
    agency: Option<&str>,
    year: Option<i32>,
) -> Result<Vec<SeriesCheck>, Error> {
    let agency = scoped(who, agency)?;
    let store = &state.store;
    let names: HashMap<String, String> = store.agency_names().await?.into_iter().collect();
    let mut by: BTreeMap<Key, SeriesCheck> = BTreeMap::new();
    let blank = |k: &Key| SeriesCheck {
        agency_code: k.0.clone(),
        agency_name: names.get(&k.0).cloned().unwrap_or_default(),
        template: k.1.clone(),
        series: k.2.clone(),
        year: k.3,
        receipts: 0,
        first_number: None,
        last_number: None,
        amount: 0,
        cancelled_amount: 0,
        cancelled: 0,
        adjustments: 0,
        counter: None,
        missing_count: 0,
        missing: Vec::new(),
        duplicates: Vec::new(),
        counter_mismatch: false,
    };
    for s in store.receipt_series_stats(agency, year).await? {
        let k = (s.agency_code.clone(), s.template.clone(), s.series.clone(), s.year);
        let e = by.entry(k.clone()).or_insert_with(|| blank(&k));
        e.receipts = s.receipts;
        e.first_number = Some(s.first_number);
        e.last_number = Some(s.last_number);
        e.amount = s.amount;
        e.cancelled_amount = s.cancelled_amount;
        e.cancelled = s.cancelled;
        e.adjustments = s.adjustments;
    }
    for c in store.receipt_counters(agency, year).await? {
        let k = (c.agency_code, c.template, c.series, c.year);
        by.entry(k.clone()).or_insert_with(|| blank(&k)).counter = Some(c.last_number);
    }
    let mut gaps: BTreeMap<Key, Vec<(i64, i64)>> = BTreeMap::new();
    for g in store.receipt_number_gaps(agency, year).await? {
        gaps.entry((g.agency_code, g.template, g.series, g.year)).or_default().push((g.gap_after, g.gap_before));
    }
    for d in store.receipt_duplicate_numbers(agency, year).await? {
        if let Some(e) = by.get_mut(&(d.agency_code, d.template, d.series, d.year)) {
            e.duplicates.push((d.number, d.copies));
        }
    }
    for (k, e) in by.iter_mut() {
        let mut holes = gaps.remove(k).unwrap_or_default();
        let top = e.last_number.unwrap_or(0);
        // Numbers the counter gave out after the highest receipt there is.
        if let Some(c) = e.counter.filter(|c| *c > top) {
            holes.push((top, c + 1));
        }
        e.counter_mismatch = e.counter != e.last_number;
        for (after, before) in holes {
            e.missing_count += before - after - 1;
            let room = MISSING_SHOWN.saturating_sub(e.missing.len()) as i64;
            e.missing.extend((after + 1..before).take(room.max(0) as usize));
        }
    }
    let mut out: Vec<SeriesCheck> = by.into_values().collect();
    out.retain(|s| who.sees_agency(&s.agency_code));
    Ok(out)
}

/// A receipt as the register shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: String,
    pub token: String,
    pub payment_id: String,
    pub agency_code: String,
    pub agency_name: String,
    pub template: String,
    pub series: String,
    pub year: i32,
    pub number: i64,
    /// `original` or `adjustment`.
    pub kind: String,
    /// `issued` or `cancelled`.
    pub status: String,
    pub cancel_reason: Option<String>,
    pub cancelled_at: Option<i64>,
    /// Đồng; negative on an adjustment.
    pub amount: i64,
    pub issued_at: i64,
    /// From the signed content: the original's `template/series/number` of an adjustment,
    /// the payer's name, the dossier, the gateway and its transaction number.
    pub refers_to: Option<String>,
    pub payer_name: String,
    pub dossier_code: String,
    pub gateway: String,
    pub gateway_txn: String,
}

fn entry(r: ReceiptRow, names: &HashMap<String, String>) -> Entry {
    // The content is the signed JSON; one that does not read (tampered) still lists its
    // row, with the names it cannot give left empty (the receipt's page says it fails).
    let c: Option<Content> = serde_json::from_str(&r.content).ok();
    Entry {
        agency_name: names.get(&r.agency_code).cloned().unwrap_or_default(),
        refers_to: c.as_ref().and_then(|c| c.refers_to.clone()),
        payer_name: c.as_ref().and_then(|c| c.payer_name.clone()).unwrap_or_default(),
        dossier_code: c.as_ref().map(|c| c.dossier_code.clone()).unwrap_or_default(),
        gateway: c.as_ref().map(|c| c.gateway.clone()).unwrap_or_default(),
        gateway_txn: c.as_ref().and_then(|c| c.gateway_txn.clone()).unwrap_or_default(),
        id: r.id,
        token: r.token,
        payment_id: r.payment_id,
        agency_code: r.agency_code,
        template: r.template,
        series: r.series,
        year: r.year,
        number: r.number,
        kind: r.kind,
        status: r.status,
        cancel_reason: r.cancel_reason,
        cancelled_at: r.cancelled_at,
        amount: r.amount,
        issued_at: r.issued_at,
    }
}

/// Where a page of a series' month starts: after this number and receipt id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct After {
    pub number: i64,
    pub id: String,
}

/// One page of a series' receipts issued in a GMT+7 month, by number.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesMonth {
    pub entries: Vec<Entry>,
    /// Where the next page starts, when there is one.
    #[serde(skip)]
    pub next: Option<After>,
}

/// The receipts of `agency`'s `series` issued in `month` (`YYYY-MM`, GMT+7), at most
/// [`PAGE`] after `after`.
pub async fn series_month(
    state: &AppState,
    who: &Principal,
    agency: &str,
    series: &str,
    month: &str,
    after: &After,
) -> Result<SeriesMonth, Error> {
    scoped(who, Some(agency))?;
    let (start, end) = month_bounds(month)?;
    if after.number < 0 {
        return Err(Error::new(Code::InvalidQuery, "after must be a receipt number").with_field("after"));
    }
    let names: HashMap<String, String> = state.store.agency_names().await?.into_iter().collect();
    let mut rows =
        state.store.receipts_of_series_between(agency, series, start, end, after.number, &after.id, PAGE + 1).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let next = more.then(|| rows.last().map(|r| After { number: r.number, id: r.id.clone() })).flatten();
    Ok(SeriesMonth { entries: rows.into_iter().map(|r| entry(r, &names)).collect(), next })
}

/// The register of a GMT+7 month: every receipt issued in it that `who` may see (of one
/// agency, or all), by agency, template, series, year and number.
#[derive(Debug, Clone, Serialize)]
pub struct Register {
    pub month: String,
    pub agency_code: Option<String>,
    pub entries: Vec<Entry>,
}

/// The month's register as `who` may see it.
pub async fn register(state: &AppState, who: &Principal, month: &str, agency: Option<&str>) -> Result<Register, Error> {
    let agency = scoped(who, agency)?;
    let (start, end) = month_bounds(month)?;
    let names: HashMap<String, String> = state.store.agency_names().await?.into_iter().collect();
    let mut entries: Vec<Entry> =
        state.store.receipts_issued_between(agency, start, end).await?.into_iter().map(|r| entry(r, &names)).collect();
    entries.retain(|e| who.sees_agency(&e.agency_code));
    Ok(Register { month: month.to_owned(), agency_code: agency.map(str::to_owned), entries })
}

/// A time as Vietnam reads it in a spreadsheet: `2026-11-29 14:05:33` (GMT+7).
pub fn gmt7_seconds(ms: i64) -> String {
    let t = crate::service::datetime(ms).to_offset(time::macros::offset!(+7));
    t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default()
}

/// The register's columns, in order (the console titles them `rr_col_<name>`).
pub const COLUMNS: &[&str] = &[
    "agency_code",
    "agency_name",
    "template",
    "series",
    "year",
    "number",
    "issued_at",
    "kind",
    "status",
    "cancel_reason",
    "refers_to",
    "payer_name",
    "dossier_code",
    "gateway",
    "gateway_txn",
    "payment_id",
    "amount",
];

/// The column of the amount: the one a totals row adds.
const AMOUNT_COL: usize = 16;
/// Columns that hold whole numbers (the year, the receipt's number, the amount).
/// The receipt number's column: the totals row counts the receipts there.
const COUNT_COL: usize = 5;
const NUMBER_COLS: [usize; 3] = [4, COUNT_COL, AMOUNT_COL];

impl Register {
    /// One row per receipt; `kind` and `status` as their codes (`original`, `cancelled`).
    pub fn table(&self) -> Table {
        let rows = self
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.agency_code.clone(),
                    e.agency_name.clone(),
                    e.template.clone(),
                    e.series.clone(),
                    e.year.to_string(),
                    e.number.to_string(),
                    gmt7_seconds(e.issued_at),
                    e.kind.clone(),
                    e.status.clone(),
                    e.cancel_reason.clone().unwrap_or_default(),
                    e.refers_to.clone().unwrap_or_default(),
                    e.payer_name.clone(),
                    e.dossier_code.clone(),
                    e.gateway.clone(),
                    e.gateway_txn.clone(),
                    e.payment_id.clone(),
                    e.amount.to_string(),
                ]
            })
            .collect();
        Table {
            header: COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
            numeric: (0..COLUMNS.len()).map(|c| NUMBER_COLS.contains(&c)).collect(),
            rows,
        }
    }

    /// The sum of the amounts (adjustments negative, cancelled receipts included).
    pub fn total(&self) -> i64 {
        self.entries.iter().map(|e| e.amount).sum()
    }
}

/// The register as a workbook: a bold header of `header` (one title per column of
/// `table`), a row per receipt with the year, number and amount as numbers (money with a
/// thousands format), then a totals row: `totals_label`, the count of receipts in the
/// number's column and the amounts' sum (the reports' writer, `reports::xlsx::write`).
pub fn workbook(table: &Table, sheet: &str, header: &[String], totals_label: &str) -> Result<Vec<u8>, Error> {
    let money: Vec<bool> = (0..COLUMNS.len()).map(|c| c == AMOUNT_COL).collect();
    let mut totals = vec![None; COLUMNS.len()];
    totals[COUNT_COL] = Some(table.rows.len() as i64);
    totals[AMOUNT_COL] = Some(table.rows.iter().filter_map(|r| r.get(AMOUNT_COL)?.parse::<i64>().ok()).sum());
    crate::service::reports::xlsx::write(table, sheet, header, totals_label, &money, &totals)
}

/// The register's CSV: the table's rows (the API's CSV conventions: UTF-8 with a byte
/// order mark, CRLF, cells a spreadsheet would run as a formula defused), then a totals row
/// with `totals_label`, the count of receipts and the amounts' sum.
pub fn csv(register: &Register, header: &[String], totals_label: &str) -> Result<Vec<u8>, Error> {
    let mut table = register.table();
    table.header = header.to_vec();
    let mut totals = vec![String::new(); COLUMNS.len()];
    totals[0] = totals_label.to_owned();
    totals[COUNT_COL] = register.entries.len().to_string();
    totals[AMOUNT_COL] = register.total().to_string();
    table.rows.push(totals);
    table.to_csv()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_register_table_has_a_column_per_title_and_numbers_where_numbers_are() {
        let t = Register { month: "2026-11".into(), agency_code: None, entries: Vec::new() }.table();
        assert_eq!(t.header.len(), COLUMNS.len());
        assert_eq!(COLUMNS[AMOUNT_COL], "amount");
        assert_eq!(COLUMNS[5], "number");
        assert_eq!(t.numeric.iter().filter(|n| **n).count(), 3);
        let bytes = workbook(&t, "Tháng 11", &t.header, "Tổng cộng").unwrap();
        assert!(bytes.starts_with(b"PK"), "an xlsx is a zip");
    }

    #[test]
    fn a_time_reads_in_gmt7() {
        // 2026-11-29 17:05:33 UTC is 2026-11-30 00:05:33 in Vietnam.
        assert_eq!(gmt7_seconds(1_795_971_933_000), "2026-11-30 00:05:33");
    }
}
