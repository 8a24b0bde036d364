//! `GET /console/receipts`: the receipt register (`service::receipt_register`): per agency,
//! template, series and year the receipts issued with the gap check (a series with a
//! missing or doubled number, or a counter that disagrees with its receipts, is shown as a
//! problem, in red and in words, with the missing numbers); the receipts of one series in
//! a month, a page at a time, each linked to its payment and to its public page; and the
//! month's register as `/console/receipts/register.{csv,xlsx}`. The caller's agency scope
//! applies throughout (another agency is 404, like a missing one).

use super::pages::{enc, OptionCtx};
use super::reports::{file, XLSX};
use super::{frame, gmt7, i18n, render, Staff};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::service::error::{Code, Error};
use crate::service::receipt_register::{self as svc, After, SeriesCheck};
use crate::web::i18n::Lang;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/receipts", get(show))
        .route("/console/receipts/register.csv", get(|s: State<AppState>, st: Staff, q| download(s, st, q, false)))
        .route("/console/receipts/register.xlsx", get(|s: State<AppState>, st: Staff, q| download(s, st, q, true)))
}

/// The page's query: all optional (every agency in scope, every year, this month, no
/// series listed).
#[derive(Deserialize, Default)]
pub struct RegisterQuery {
    #[serde(default)]
    agency: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    series: String,
    #[serde(default)]
    month: String,
    /// Where the page of the series' month starts (the last number and receipt id of the
    /// page before).
    #[serde(default)]
    after: String,
    #[serde(default)]
    after_id: String,
}

impl RegisterQuery {
    fn agency(&self) -> Option<&str> {
        Some(self.agency.trim()).filter(|a| !a.is_empty())
    }
    fn series(&self) -> Option<&str> {
        Some(self.series.trim()).filter(|s| !s.is_empty())
    }
    fn month(&self) -> String {
        let m = self.month.trim();
        if m.is_empty() {
            let today = crate::service::cases::gmt7_day(crate::service::checkout::now_ms());
            today.get(..7).unwrap_or_default().to_owned()
        } else {
            m.to_owned()
        }
    }
    fn year(&self) -> Result<Option<i32>, Error> {
        let y = self.year.trim();
        if y.is_empty() {
            return Ok(None);
        }
        y.parse::<i32>()
            .ok()
            .filter(|y| (1..=9999).contains(y))
            .map(Some)
            .ok_or_else(|| Error::new(Code::InvalidQuery, "year must be a year such as 2026").with_field("year"))
    }
    fn after(&self) -> Result<After, Error> {
        let n = self.after.trim();
        if n.is_empty() {
            return Ok(After::default());
        }
        let number = n
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| Error::new(Code::InvalidQuery, "after must be a receipt number").with_field("after"))?;
        Ok(After { number, id: self.after_id.trim().to_owned() })
    }
}

#[derive(Serialize)]
struct SeriesCtx {
    agency: String,
    agency_code: String,
    template: String,
    series: String,
    year: String,
    receipts: i64,
    first: String,
    last: String,
    counter: String,
    amount: String,
    cancelled: i64,
    cancelled_amount: String,
    adjustments: i64,
    whole: bool,
    missing: String,
    missing_more: i64,
    missing_count: i64,
    duplicates: String,
    counter_mismatch: bool,
    list_url: String,
    /// An id for the row (`series-H12.20-BL-2026`), for tests and anchors.
    row_id: String,
}

fn series_ctx(s: &SeriesCheck, month: &str) -> SeriesCtx {
    let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_else(|| "—".into());
    let missing: Vec<String> = s.missing.iter().map(i64::to_string).collect();
    let duplicates: Vec<String> = s.duplicates.iter().map(|(n, c)| format!("{n} (×{c})")).collect();
    SeriesCtx {
        agency: s.agency_name.clone(),
        agency_code: s.agency_code.clone(),
        template: s.template.clone(),
        series: s.series.clone(),
        year: if s.year == 0 { "—".into() } else { s.year.to_string() },
        receipts: s.receipts,
        first: num(s.first_number),
        last: num(s.last_number),
        counter: num(s.counter),
        amount: format_vnd(s.amount),
        cancelled: s.cancelled,
        cancelled_amount: format_vnd(s.cancelled_amount),
        adjustments: s.adjustments,
        whole: s.whole(),
        missing: missing.join(", "),
        missing_more: s.missing_count - s.missing.len() as i64,
        missing_count: s.missing_count,
        duplicates: duplicates.join(", "),
        counter_mismatch: s.counter_mismatch,
        list_url: format!(
            "/console/receipts?agency={}&series={}&month={}#list-h",
            enc(&s.agency_code),
            enc(&s.series),
            enc(month)
        ),
        row_id: format!("series-{}-{}-{}-{}", s.agency_code, s.template, s.series, s.year),
    }
}

#[derive(Serialize)]
struct EntryCtx {
    number: i64,
    template: String,
    issued_at: String,
    kind: String,
    adjustment: bool,
    refers_to: String,
    cancelled: bool,
    status: String,
    cancel_reason: String,
    cancelled_at: String,
    payer: String,
    dossier: String,
    amount: String,
    payment_url: String,
    receipt_url: String,
}

fn entry_ctx(lang: Lang, e: &svc::Entry) -> EntryCtx {
    EntryCtx {
        number: e.number,
        template: e.template.clone(),
        issued_at: gmt7(e.issued_at),
        kind: i18n::text(lang, &format!("rr_kind_{}", e.kind)).to_owned(),
        adjustment: e.kind == "adjustment",
        refers_to: e.refers_to.clone().unwrap_or_default(),
        cancelled: e.status == "cancelled",
        status: i18n::text(lang, &format!("rr_st_{}", e.status)).to_owned(),
        cancel_reason: e.cancel_reason.clone().unwrap_or_default(),
        cancelled_at: e.cancelled_at.map(gmt7).unwrap_or_default(),
        payer: e.payer_name.clone(),
        dossier: e.dossier_code.clone(),
        amount: format_vnd(e.amount),
        payment_url: format!("/console/payments/{}", enc(&e.payment_id)),
        receipt_url: format!("/receipts/{}", enc(&e.token)),
    }
}

async fn show(State(state): State<AppState>, s: Staff, Query(q): Query<RegisterQuery>) -> Response {
    match page(&state, &s, &q).await {
        Ok(r) => r,
        Err(e) => super::staff_error(&state, &s, &e),
    }
}

/// A bad year, month or page start is said on the page; another agency is the refusal
/// page (404).
fn said(e: &Error) -> bool {
    matches!(e.code, Code::InvalidMonth | Code::InvalidQuery)
}

async fn page(state: &AppState, s: &Staff, q: &RegisterQuery) -> Result<Response, Error> {
    let lang = s.lang.lang;
    let (agency, month, series) = (q.agency(), q.month(), q.series());
    let agencies: Vec<OptionCtx> = crate::service::reports::agencies(state, &s.who)
        .await?
        .into_iter()
        .map(|(code, name)| OptionCtx {
            selected: Some(code.as_str()) == agency,
            label: format!("{code} · {name}"),
            value: code,
        })
        .collect();
    let mut errors = Vec::new();
    let year = q.year().unwrap_or_else(|e| {
        errors.push(e.message);
        None
    });
    let checks = svc::series(state, &s.who, agency, year).await?;
    let problems = checks.iter().filter(|c| !c.whole()).count();
    let rows: Vec<SeriesCtx> = checks.iter().map(|c| series_ctx(c, &month)).collect();
    // The receipts of one series in the month, when a series (and its agency) is chosen.
    let mut list = None;
    let mut next_url = String::new();
    if series.is_some() && agency.is_none() {
        errors.push(i18n::text(lang, "rr_need_agency").to_owned());
    }
    if let (Some(a), Some(se)) = (agency, series) {
        let after = q.after();
        match after {
            Err(e) => errors.push(e.message),
            Ok(after) => match svc::series_month(state, &s.who, a, se, &month, &after).await {
                Ok(m) => {
                    if let Some(n) = &m.next {
                        next_url = format!(
                            "/console/receipts?agency={}&series={}&month={}&after={}&after_id={}#list-h",
                            enc(a),
                            enc(se),
                            enc(&month),
                            n.number,
                            enc(&n.id)
                        );
                    }
                    let entries: Vec<EntryCtx> = m.entries.iter().map(|e| entry_ctx(lang, e)).collect();
                    list = Some(entries);
                }
                Err(e) if said(&e) => errors.push(e.message),
                Err(e) => return Err(e),
            },
        }
    }
    let first_page = q.after.trim().is_empty();
    let a = agency.map(|a| format!("&agency={}", enc(a))).unwrap_or_default();
    let links = context! {
        csv => format!("/console/receipts/register.csv?month={}{a}", enc(&month)),
        xlsx => format!("/console/receipts/register.xlsx?month={}{a}", enc(&month)),
        first => format!("/console/receipts?agency={}&series={}&month={}#list-h",
            enc(agency.unwrap_or_default()), enc(series.unwrap_or_default()), enc(&month)),
    };
    let f = frame(state, lang, &s.path, Some(s), "receipts");
    let ctx = context! {
        title => i18n::text(lang, "rr_title"), agencies, scoped => s.who.agencies.is_some(),
        year => q.year.trim(), month, series => series.unwrap_or_default(), errors,
        rows, problems, has_list => list.is_some(), list => list.unwrap_or_default(), next_url, first_page,
        list_agency => agency.unwrap_or_default(), links,
    };
    Ok(render(state, StatusCode::OK, "console/receipts.html", f, s.lang, ctx))
}

async fn download(State(state): State<AppState>, s: Staff, Query(q): Query<RegisterQuery>, xlsx: bool) -> Response {
    let lang = s.lang.lang;
    let made = async {
        let month = q.month();
        let r = svc::register(&state, &s.who, &month, q.agency()).await?;
        let header: Vec<String> =
            svc::COLUMNS.iter().map(|c| i18n::text(lang, &format!("rr_col_{c}")).to_owned()).collect();
        let total = i18n::text(lang, "total");
        // The file's name holds only characters a Content-Disposition header keeps as they are.
        let safe = |v: &str| -> String {
            v.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect()
        };
        let name = match q.agency() {
            Some(a) => format!("receipts-{}-{}", safe(a), safe(&month)),
            None => format!("receipts-{}", safe(&month)),
        };
        if xlsx {
            let mut table = r.table();
            // Kinds and statuses in the page's language in the workbook; codes in the CSV.
            for row in &mut table.rows {
                row[7] = i18n::text(lang, &format!("rr_kind_{}", row[7])).to_owned();
                row[8] = i18n::text(lang, &format!("rr_st_{}", row[8])).to_owned();
            }
            let sheet = format!("{} {month}", i18n::text(lang, "rr_sheet"));
            let bytes = svc::workbook(&table, &sheet, &header, total)?;
            Ok::<_, Error>(file(bytes, XLSX, &format!("{name}.xlsx")))
        } else {
            Ok(file(svc::csv(&r, &header, total)?, "text/csv; charset=utf-8", &format!("{name}.csv")))
        }
    };
    match made.await {
        Ok(r) => r,
        Err(e) => super::staff_error(&state, &s, &e),
    }
}
