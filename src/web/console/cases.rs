//! `GET /console/cases` (the inbox filtered by status, source, day and outcome, and the
//! days with their open cases), `POST /console/cases/resolve` (one or many cases with a
//! code and a note, each through `service::cases::resolve` as the API's) and
//! `POST /console/cases/close` (a source's day, through `service::cases::close_day`; when
//! it cannot close the page says why). Finance and admin act; a viewer reads; an
//! agency-bound user is refused by the service (cases are per source, not per agency).

use super::pages::{enc, OptionCtx};
use super::recon::{opt, outcome_label, scoped_refusal, source_options};
use super::{frame, i18n, render, vn_date, Staff};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::domain::recon::Outcome;
use crate::service::caller::Role;
use crate::service::cases::{self as svc, CaseQuery, RESOLUTION_CODES};
use crate::service::error::{Code, Error};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use serde::{Deserialize, Serialize};

/// The most cases one form resolves.
const MAX_AT_ONCE: usize = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/cases", get(show))
        .route("/console/cases/resolve", post(resolve))
        .route("/console/cases/close", post(close))
}

/// The inbox's filters as typed in the form (empty: any); `done`/`n` after an action.
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    outcome: String,
    #[serde(default, skip_serializing)]
    done: String,
    #[serde(default, skip_serializing)]
    n: usize,
}

impl Filters {
    fn href(&self, done: &str, n: usize) -> String {
        let q = serde_urlencoded::to_string(self).unwrap_or_default();
        format!("/console/cases?{q}&done={done}&n={n}")
    }
}

#[derive(Serialize)]
struct CaseCtx {
    id: String,
    open: bool,
    kind: String,
    source: String,
    date: String,
    outcome: String,
    reason: String,
    reference: String,
    amount_file: String,
    amount_feegate: String,
    payment_href: Option<String>,
    resolution: String,
}

#[derive(Serialize)]
struct DayCtx {
    source: String,
    date: String,
    date_vn: String,
    open_cases: i64,
    closed: bool,
    closed_by: String,
    cases_href: String,
}

fn money(v: &Option<String>) -> String {
    v.as_deref().and_then(|a| a.parse::<i64>().ok()).map(format_vnd).unwrap_or_default()
}

/// The cases page; `error` is an action's refusal in words.
async fn page(state: &AppState, s: &Staff, f: &Filters, status: StatusCode, error: Option<String>) -> Response {
    if let Some(r) = scoped_refusal(state, s) {
        return r;
    }
    let lang = s.lang.lang;
    let t = |k: &str| i18n::text(lang, k);
    let q = CaseQuery {
        status: opt(&f.status).map(str::to_owned),
        source: opt(&f.source).map(str::to_owned),
        date: opt(&f.date).map(str::to_owned),
        kind: None,
        limit: None,
    };
    let (mut cases, list_error) = match svc::list(state, &s.who, &q).await {
        Ok(c) => (c, None),
        Err(e) if matches!(e.code, Code::InvalidDate | Code::InvalidStatus) => (Vec::new(), Some(e.message)),
        Err(e) => return super::staff_error(state, s, &e),
    };
    if let Some(o) = opt(&f.outcome) {
        cases.retain(|c| c.outcome == o);
    }
    let cases: Vec<CaseCtx> = cases
        .iter()
        .map(|c| CaseCtx {
            id: c.id.clone(),
            open: c.resolution.is_none(),
            kind: t(&format!("k_{}", c.kind)).to_owned(),
            source: c.source.clone().unwrap_or_default(),
            date: vn_date(&c.date),
            outcome: outcome_label(lang, &c.outcome),
            reason: c.reason.clone(),
            reference: c.reference.clone().unwrap_or_default(),
            amount_file: money(&c.amount_file),
            amount_feegate: money(&c.amount_feegate),
            payment_href: c.payment_id.as_ref().map(|p| format!("/console/payments/{}", enc(p))),
            resolution: c
                .resolution
                .as_ref()
                .map(|r| format!("{} — {} ({})", t(&format!("rc_{}", r.code)), r.note, r.resolved_by))
                .unwrap_or_default(),
        })
        .collect();
    let days = svc::list_days(state, &s.who, opt(&f.source), opt(&f.date)).await.unwrap_or_default();
    let days: Vec<DayCtx> = days
        .iter()
        .map(|d| DayCtx {
            source: d.source.clone(),
            date: d.date.clone(),
            date_vn: vn_date(&d.date),
            open_cases: d.open_cases,
            closed: d.status == "closed",
            closed_by: d.closed_by.clone().unwrap_or_default(),
            cases_href: format!("/console/cases?source={}&date={}", enc(&d.source), enc(&d.date)),
        })
        .collect();
    let outcomes: Vec<OptionCtx> = Outcome::ALL
        .iter()
        .filter(|o| **o != Outcome::Matched)
        .map(|o| o.as_str())
        .chain([
            "late_success",
            crate::domain::payment::review::TRANSFER_INCOMPLETE,
            crate::service::receipt_jobs::REVIEW_PROVIDER_REFUSED,
        ])
        .map(|o| OptionCtx { value: o.into(), label: outcome_label(lang, o), selected: f.outcome == o })
        .collect();
    let statuses: Vec<OptionCtx> = ["open", "resolved", "all"]
        .iter()
        .map(|v| OptionCtx {
            value: (*v).into(),
            label: t(&format!("cs_{v}")).into(),
            selected: f.status == *v || (f.status.is_empty() && *v == "open"),
        })
        .collect();
    let codes: Vec<OptionCtx> = RESOLUTION_CODES
        .iter()
        .map(|c| OptionCtx { value: (*c).into(), label: t(&format!("rc_{c}")).into(), selected: false })
        .collect();
    let notice = match f.done.as_str() {
        "resolved" => Some(format!("{} {}", t("resolved_ok"), f.n)),
        "closed" => Some(t("closed_ok").to_owned()),
        _ => None,
    };
    let fr = frame(state, lang, &s.path, Some(s), "cases");
    let ctx = context! {
        title => t("cases_title"), cases, days, outcomes, statuses, codes, f => f.clone(),
        sources => source_options(state, &f.source), may_act => s.who.role != Role::Viewer,
        error => error.or(list_error), notice, back => serde_urlencoded::to_string(f).unwrap_or_default(),
    };
    render(state, status, "console/cases.html", fr, s.lang, ctx)
}

async fn show(State(state): State<AppState>, s: Staff, Query(f): Query<Filters>) -> Response {
    page(&state, &s, &f, StatusCode::OK, None).await
}

/// A posted form's fields; `case` may repeat.
fn fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn one(fields: &[(String, String)], name: &str) -> String {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

/// The filters the form came from (its `back` field), to return to the same view.
fn back(fields: &[(String, String)]) -> Filters {
    serde_urlencoded::from_str(&one(fields, "back")).unwrap_or_default()
}

fn refusal(state: &AppState, s: &Staff, e: &Error) -> Option<Response> {
    (e.is_server_fault() || e.code == Code::Forbidden).then(|| super::staff_error(state, s, e))
}

/// A form posted to this page by a user who may act on cases, with its CSRF token checked:
/// its fields and the filter to go back to.
fn posted(state: &AppState, s: &Staff, body: &[u8]) -> Result<(Vec<(String, String)>, Filters), Response> {
    if let Some(r) = scoped_refusal(state, s) {
        return Err(r);
    }
    let form = fields(body);
    super::check_csrf(state, s, &one(&form, "csrf"))?;
    let f = back(&form);
    Ok((form, f))
}

async fn resolve(State(state): State<AppState>, s: Staff, body: Bytes) -> Response {
    let (form, f) = match posted(&state, &s, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ids: Vec<&str> = form.iter().filter(|(k, _)| k == "case").map(|(_, v)| v.as_str()).collect();
    let lang = s.lang.lang;
    if ids.is_empty() {
        let e = i18n::text(lang, "none_selected").to_owned();
        return page(&state, &s, &f, StatusCode::UNPROCESSABLE_ENTITY, Some(e)).await;
    }
    let body = serde_json::json!({"code": one(&form, "code"), "note": one(&form, "note")});
    let mut done = 0;
    if ids.len() > MAX_AT_ONCE {
        let e = format!("{} {MAX_AT_ONCE}", i18n::text(lang, "too_many_selected"));
        return page(&state, &s, &f, StatusCode::UNPROCESSABLE_ENTITY, Some(e)).await;
    }
    for id in &ids {
        if let Err(e) = svc::resolve(&state, &s.who, id, body.clone()).await {
            if let Some(r) = refusal(&state, &s, &e) {
                return r;
            }
            let text = format!("{id}: {} ({} {done})", e.message, i18n::text(lang, "resolved_ok"));
            return page(&state, &s, &f, crate::api::error::status(e.code), Some(text)).await;
        }
        done += 1;
    }
    Redirect::to(&f.href("resolved", done)).into_response()
}

async fn close(State(state): State<AppState>, s: Staff, body: Bytes) -> Response {
    let (form, f) = match posted(&state, &s, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (source, date) = (one(&form, "source"), one(&form, "date"));
    let lang = s.lang.lang;
    match svc::close_day(&state, &s.who, &source, &date).await {
        Ok(_) => Redirect::to(&f.href("closed", 0)).into_response(),
        Err(e) => {
            if let Some(r) = refusal(&state, &s, &e) {
                return r;
            }
            let why = match e.code {
                Code::OpenCases => {
                    let open = svc::list_days(&state, &s.who, Some(&source), Some(&date))
                        .await
                        .ok()
                        .and_then(|d| d.first().map(|d| d.open_cases))
                        .unwrap_or_default();
                    format!("{} {open}", i18n::text(lang, "cannot_close_open"))
                }
                Code::NoRun => i18n::text(lang, "cannot_close_no_run").to_owned(),
                _ => e.message.clone(),
            };
            let text = format!("{source} · {}: {why}", vn_date(&date));
            page(&state, &s, &f, crate::api::error::status(e.code), Some(text)).await
        }
    }
}
