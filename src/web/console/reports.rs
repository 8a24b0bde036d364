//! `GET /console/reports`: the settlement report of a day and the monthly summary of a month
//! as tables whose totals tie out with the API's (`service::reports`, the same figures and
//! the same agency scope), a bar chart of the month per gateway and fee kind (inline SVG
//! drawn on the server, with the same figures as a table for those who cannot see it), and
//! the downloads: `/console/reports/{settlement,monthly}.{csv,xlsx}` (the CSV is the API's;
//! the XLSX has the page's column titles, money as numbers and a totals row).

use super::pages::{enc, OptionCtx};
use super::{frame, i18n, render, vn_date, Staff};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::service::error::{Code, Error};
use crate::service::reports::render::Table;
use crate::service::reports::{self as svc, MonthlyReport, SettlementReport};
use crate::web::i18n::Lang;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/reports", get(show))
        // The downloads: settlement.csv, settlement.xlsx, monthly.csv, monthly.xlsx.
        .route("/console/reports/{file}", get(download))
}

/// The page's query: a day, a month, an agency (all optional: today, this month, every
/// agency in scope).
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct ReportsQuery {
    #[serde(default)]
    date: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    agency: String,
}

impl ReportsQuery {
    fn date(&self) -> String {
        let d = self.date.trim();
        if d.is_empty() {
            crate::service::cases::gmt7_day(crate::service::checkout::now_ms())
        } else {
            d.to_owned()
        }
    }
    fn month(&self) -> String {
        let m = self.month.trim();
        if m.is_empty() {
            self.date().get(..7).unwrap_or_default().to_owned()
        } else {
            m.to_owned()
        }
    }
    fn agency(&self) -> Option<&str> {
        Some(self.agency.trim()).filter(|a| !a.is_empty())
    }
}

fn money(v: &str) -> String {
    v.parse::<i64>().map(format_vnd).unwrap_or_default()
}

fn int(v: &str) -> i64 {
    v.parse().unwrap_or(0)
}

#[derive(Serialize)]
struct AccountCtx {
    agency: String,
    agency_code: String,
    bank: String,
    account_number: String,
    account_name: String,
    paid: String,
    refunded: String,
    expected: String,
    settled: String,
    credited: String,
    diff_settled: String,
    diff_settled_bad: bool,
    diff_credited: String,
    diff_credited_bad: bool,
    open_cases: i64,
}

#[derive(Serialize, Default)]
struct SettlementTotals {
    paid: String,
    refunded: String,
    expected: String,
    settled: String,
    credited: String,
    diff_settled: String,
    diff_credited: String,
    open_cases: i64,
}

fn settlement_ctx(r: &SettlementReport) -> (Vec<AccountCtx>, SettlementTotals) {
    let rows = r
        .accounts
        .iter()
        .map(|a| AccountCtx {
            agency: a.agency_name.clone(),
            agency_code: a.agency_code.clone(),
            bank: a.bank_name.clone(),
            account_number: a.account_number.clone(),
            account_name: a.account_name.clone(),
            paid: money(&a.paid),
            refunded: money(&a.refunded),
            expected: money(&a.expected),
            settled: money(&a.settled),
            credited: a.credited.as_deref().map(money).unwrap_or_default(),
            diff_settled: money(&a.difference_settled),
            diff_settled_bad: int(&a.difference_settled) != 0,
            diff_credited: a.difference_credited.as_deref().map(money).unwrap_or_default(),
            diff_credited_bad: a.difference_credited.as_deref().is_some_and(|d| int(d) != 0),
            open_cases: a.open_cases,
        })
        .collect();
    let sum = |f: &dyn Fn(&svc::AccountDay) -> Option<&str>| -> Option<i64> {
        let v: Vec<i64> = r.accounts.iter().filter_map(|a| f(a).map(int)).collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    let show = |v: Option<i64>| v.map(format_vnd).unwrap_or_default();
    let totals = SettlementTotals {
        paid: format_vnd(sum(&|a| Some(&a.paid)).unwrap_or(0)),
        refunded: format_vnd(sum(&|a| Some(&a.refunded)).unwrap_or(0)),
        expected: format_vnd(sum(&|a| Some(&a.expected)).unwrap_or(0)),
        settled: format_vnd(sum(&|a| Some(&a.settled)).unwrap_or(0)),
        credited: show(sum(&|a| a.credited.as_deref())),
        diff_settled: format_vnd(sum(&|a| Some(&a.difference_settled)).unwrap_or(0)),
        diff_credited: show(sum(&|a| a.difference_credited.as_deref())),
        open_cases: r.accounts.iter().map(|a| a.open_cases).sum(),
    };
    (rows, totals)
}

#[derive(Serialize)]
struct MonthRowCtx {
    agency: String,
    kind: String,
    procedure: String,
    gateway: String,
    count: i64,
    amount: String,
    refunded: String,
}

#[derive(Serialize)]
struct BarCtx {
    /// The bar's label (`Phí` / `Lệ phí`) and its figure.
    kind: String,
    kind_code: String,
    amount: String,
    y: i64,
    width: i64,
    text_x: i64,
}

#[derive(Serialize)]
struct GroupCtx {
    gateway: String,
    y: i64,
    bars: Vec<BarCtx>,
    fee: String,
    charge: String,
    total: String,
}

/// The chart's geometry: per gateway a group of two bars (phí, lệ phí), widths scaled to the
/// largest amount.
const LABEL_W: i64 = 150;
const BAR_MAX: i64 = 420;
const BAR_H: i64 = 18;
const GROUP_H: i64 = 2 * BAR_H + 20;

fn chart(lang: Lang, r: &MonthlyReport) -> (Vec<GroupCtx>, i64) {
    let mut by: BTreeMap<&str, [i64; 2]> = BTreeMap::new();
    for row in &r.rows {
        let slot = if row.kind == "fee" { 0 } else { 1 };
        by.entry(&row.gateway).or_default()[slot] += int(&row.amount);
    }
    let max = by.values().flat_map(|v| v.iter().copied()).max().unwrap_or(0).max(1);
    let names = [("fee", i18n::text(lang, "kind_fee")), ("charge", i18n::text(lang, "kind_charge"))];
    let groups: Vec<GroupCtx> = by
        .iter()
        .enumerate()
        .map(|(i, (gateway, amounts))| {
            let top = 10 + i as i64 * GROUP_H;
            let bars = names
                .iter()
                .zip(amounts)
                .enumerate()
                .map(|(j, ((code, name), amount))| {
                    // Integer scaling: no float near money, and a non-zero amount shows at least a sliver.
                    let width = if *amount > 0 { (amount.saturating_mul(BAR_MAX) / max).max(2) } else { 0 };
                    BarCtx {
                        kind: (*name).to_owned(),
                        kind_code: (*code).to_owned(),
                        amount: format_vnd(*amount),
                        y: top + j as i64 * (BAR_H + 2),
                        width,
                        text_x: LABEL_W + width + 6,
                    }
                })
                .collect();
            GroupCtx {
                gateway: (*gateway).to_owned(),
                y: top + BAR_H + 5,
                bars,
                fee: format_vnd(amounts[0]),
                charge: format_vnd(amounts[1]),
                total: format_vnd(amounts[0] + amounts[1]),
            }
        })
        .collect();
    let height = 20 + groups.len() as i64 * GROUP_H;
    (groups, height)
}

/// Where a report could not be built: a bad day or month is said on the page; anything
/// else (another agency: 404) is the refusal page.
enum Built<T> {
    Ok(T),
    Said(String),
}

fn built<T>(r: Result<T, Error>) -> Result<Built<T>, Error> {
    match r {
        Ok(v) => Ok(Built::Ok(v)),
        Err(e) if matches!(e.code, Code::InvalidDate | Code::InvalidMonth) => Ok(Built::Said(e.message)),
        Err(e) => Err(e),
    }
}

async fn show(State(state): State<AppState>, s: Staff, Query(q): Query<ReportsQuery>) -> Response {
    match page(&state, &s, &q).await {
        Ok(r) => r,
        Err(e) => super::staff_error(&state, &s, &e),
    }
}

async fn page(state: &AppState, s: &Staff, q: &ReportsQuery) -> Result<Response, Error> {
    let lang = s.lang.lang;
    let (date, month, agency) = (q.date(), q.month(), q.agency());
    let agencies: Vec<OptionCtx> = svc::agencies(state, &s.who)
        .await?
        .into_iter()
        .map(|(code, name)| OptionCtx {
            selected: Some(code.as_str()) == agency,
            label: format!("{code} · {name}"),
            value: code,
        })
        .collect();
    let mut errors = Vec::new();
    let day = match built(svc::settlement(state, &s.who, &date, agency).await)? {
        Built::Ok(r) => Some(r),
        Built::Said(m) => {
            errors.push(m);
            None
        }
    };
    let mon = match built(svc::monthly(state, &s.who, &month, agency).await)? {
        Built::Ok(r) => Some(r),
        Built::Said(m) => {
            errors.push(m);
            None
        }
    };
    let (accounts, day_totals) = day.as_ref().map(settlement_ctx).unwrap_or_default();
    let unattributed = day.as_ref().map(|d| d.unattributed_open_cases).unwrap_or(0);
    let kind_label = |k: &str| i18n::text(lang, &format!("kind_{k}")).to_owned();
    let month_rows: Vec<MonthRowCtx> = mon
        .iter()
        .flat_map(|m| &m.rows)
        .map(|r| MonthRowCtx {
            agency: format!("{} · {}", r.agency_code, r.agency_name),
            kind: kind_label(&r.kind),
            procedure: r.procedure_code.clone(),
            gateway: r.gateway.clone(),
            count: r.count,
            amount: money(&r.amount),
            refunded: money(&r.refunded),
        })
        .collect();
    let month_totals: Vec<MonthRowCtx> = mon
        .iter()
        .flat_map(|m| &m.totals)
        .map(|t| MonthRowCtx {
            agency: format!("{} · {}", t.agency_code, t.agency_name),
            kind: kind_label(&t.kind),
            procedure: String::new(),
            gateway: String::new(),
            count: t.count,
            amount: money(&t.amount),
            refunded: money(&t.refunded),
        })
        .collect();
    let grand = mon.as_ref().map(|m| {
        let count: i64 = m.totals.iter().map(|t| t.count).sum();
        let amount: i64 = m.totals.iter().map(|t| int(&t.amount)).sum();
        let refunded: i64 = m.totals.iter().map(|t| int(&t.refunded)).sum();
        context! { count, amount => format_vnd(amount), refunded => format_vnd(refunded), net => format_vnd(amount - refunded) }
    });
    let (groups, chart_h) = mon.as_ref().map(|m| chart(lang, m)).unwrap_or_default();
    let a = agency.map(|a| format!("&agency={}", enc(a))).unwrap_or_default();
    let links = context! {
        settlement_csv => format!("/console/reports/settlement.csv?date={}{a}", enc(&date)),
        settlement_xlsx => format!("/console/reports/settlement.xlsx?date={}{a}", enc(&date)),
        monthly_csv => format!("/console/reports/monthly.csv?month={}{a}", enc(&month)),
        monthly_xlsx => format!("/console/reports/monthly.xlsx?month={}{a}", enc(&month)),
    };
    let f = frame(state, lang, &s.path, Some(s), "reports");
    let ctx = context! {
        title => i18n::text(lang, "reports_title"), date, day_label => vn_date(&date), month, agencies,
        errors, has_day => day.is_some(), accounts, day_totals, unattributed,
        has_month => mon.is_some(), month_rows, month_totals, grand, groups, chart_h,
        label_w => LABEL_W, links, scoped => s.who.agencies.is_some(),
    };
    Ok(render(state, StatusCode::OK, "console/reports.html", f, s.lang, ctx))
}

#[derive(Clone, Copy)]
enum Dl {
    SettlementCsv,
    SettlementXlsx,
    MonthlyCsv,
    MonthlyXlsx,
}

impl Dl {
    /// The download a file name asks for.
    fn named(file: &str) -> Option<Dl> {
        Some(match file {
            "settlement.csv" => Dl::SettlementCsv,
            "settlement.xlsx" => Dl::SettlementXlsx,
            "monthly.csv" => Dl::MonthlyCsv,
            "monthly.xlsx" => Dl::MonthlyXlsx,
            _ => return None,
        })
    }
}

/// A column title in the page's language: the key `col_<name>`, or for a gateway's settled
/// column its own title with the gateway's id.
fn column_title(lang: Lang, name: &str) -> String {
    if let Some(g) = name.strip_prefix("settled_") {
        return format!("{} ({g})", i18n::text(lang, "col_settled"));
    }
    let t = i18n::text(lang, &format!("col_{name}"));
    if t.is_empty() {
        name.to_owned()
    } else {
        t.to_owned()
    }
}

/// A download: `bytes` as `filename`, never cached (the console's reports and registers).
pub(super) fn file(bytes: Vec<u8>, content_type: &str, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

pub(super) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

async fn download(
    State(state): State<AppState>,
    s: Staff,
    Path(asked): Path<String>,
    Query(q): Query<ReportsQuery>,
) -> Response {
    let Some(dl) = Dl::named(&asked) else {
        return super::staff_error(&state, &s, &Error::not_found("report"));
    };
    let lang = s.lang.lang;
    let made = async {
        let (table, name, sheet): (Table, String, String) = match dl {
            Dl::SettlementCsv | Dl::SettlementXlsx => {
                let date = q.date();
                let r = svc::settlement(&state, &s.who, &date, q.agency()).await?;
                (r.table(), format!("settlement-{date}"), format!("{} {}", i18n::text(lang, "sheet_day"), date))
            }
            Dl::MonthlyCsv | Dl::MonthlyXlsx => {
                let month = q.month();
                let r = svc::monthly(&state, &s.who, &month, q.agency()).await?;
                (r.table(), format!("monthly-{month}"), format!("{} {}", i18n::text(lang, "sheet_month"), month))
            }
        };
        match dl {
            Dl::SettlementCsv | Dl::MonthlyCsv => {
                Ok::<_, Error>(file(table.to_csv()?, "text/csv; charset=utf-8", &format!("{name}.csv")))
            }
            Dl::SettlementXlsx | Dl::MonthlyXlsx => {
                let header: Vec<String> = table.header.iter().map(|h| column_title(lang, h)).collect();
                let bytes = svc::xlsx::workbook(&table, &sheet, &header, i18n::text(lang, "total"))?;
                Ok(file(bytes, XLSX, &format!("{name}.xlsx")))
            }
        }
    };
    match made.await {
        Ok(r) => r,
        Err(e) => super::staff_error(&state, &s, &e),
    }
}
