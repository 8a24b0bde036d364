//! `GET /console` (Today) and `GET /console/payments` (search). Each reads through
//! `service::console`, which applies the caller's agency scope. One payment's page is
//! `payment.rs`.

use super::{frame, gmt7, i18n, render, vn_date, Staff};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::domain::payment::PaymentStatus;
use crate::service::console::{self as svc, Search};
use crate::web::i18n::Lang;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use minijinja::context;
use serde::Serialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/console", get(today)).route("/console/payments", get(payments))
}

pub(super) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub(super) fn status_label(lang: Lang, status: &str) -> &'static str {
    let t = i18n::text(lang, &format!("st_{status}"));
    if t.is_empty() {
        i18n::text(lang, "st_unknown")
    } else {
        t
    }
}

#[derive(Serialize)]
struct CollectedCtx {
    agency: String,
    gateway: String,
    count: i64,
    amount: String,
    href: String,
}

#[derive(Serialize)]
struct DayCtx {
    source: String,
    date: String,
    href: String,
}

#[derive(Serialize)]
struct GatewayCtx {
    name: String,
    unresolved: i64,
    unknown: i64,
    max_queries: i64,
    oldest: String,
    href: String,
}

async fn today(State(state): State<AppState>, s: Staff) -> Response {
    let lang = s.lang.lang;
    let d = match svc::today(&state, &s.who).await {
        Ok(d) => d,
        Err(e) => return super::staff_error(&state, &s, &e),
    };
    let names = svc::agencies(&state, &s.who).await.unwrap_or_default();
    let gateways = svc::gateways(&state);
    let name_of = |list: &[(String, String)], code: &str| {
        list.iter().find(|(c, _)| c == code).map(|(_, n)| format!("{n} ({code})")).unwrap_or_else(|| code.to_owned())
    };
    let rows: Vec<CollectedCtx> = d
        .collected
        .iter()
        .map(|c| CollectedCtx {
            agency: name_of(&names, &c.agency_code),
            gateway: name_of(&gateways, &c.connector_id),
            count: c.count,
            amount: format_vnd(c.amount),
            href: format!(
                "/console/payments?agency={}&gateway={}&paid_on={}",
                enc(&c.agency_code),
                enc(&c.connector_id),
                d.date
            ),
        })
        .collect();
    let total_count: i64 = d.collected.iter().map(|c| c.count).sum();
    let total_amount = format_vnd(d.collected.iter().map(|c| c.amount).sum());
    let unclosed: Option<Vec<DayCtx>> = d.unclosed_days.as_ref().map(|days| {
        days.iter()
            .map(|(source, date)| DayCtx {
                source: name_of(&gateways, source),
                date: vn_date(date),
                href: format!("/console/cases?source={}&date={}", enc(source), enc(date)),
            })
            .collect()
    });
    let failing: Vec<GatewayCtx> = d
        .failing_gateways
        .iter()
        .map(|g| GatewayCtx {
            name: format!("{} ({})", g.name, g.connector_id),
            unresolved: g.unresolved,
            unknown: g.unknown,
            max_queries: g.max_queries,
            oldest: g.oldest.map(gmt7).unwrap_or_default(),
            href: format!("/console/payments?gateway={}&unresolved=1", enc(&g.connector_id)),
        })
        .collect();
    let title = format!("{} {}", i18n::text(lang, "today_title"), vn_date(&d.date));
    let f = frame(&state, lang, &s.path, Some(&s), "today");
    let ctx = context! {
        title, rows, total_count, total_amount, waiting => d.waiting, failed_webhooks => d.failed_webhooks,
        open_cases => d.open_cases, paid_href => format!("/console/payments?paid_on={}", d.date),
        waiting_href => "/console/payments?status=pending", webhooks_href => "/console/payments?webhook_failed=1",
        unclosed, failing, unresolved_href => "/console/payments?unresolved=1",
    };
    render(&state, StatusCode::OK, "console/today.html", f, s.lang, ctx)
}

#[derive(Serialize)]
struct RowCtx {
    href: String,
    created: String,
    dossier: String,
    agency: String,
    description: String,
    amount: String,
    status: &'static str,
    status_code: String,
}

#[derive(Serialize)]
pub(super) struct OptionCtx {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn options(list: Vec<(String, String)>, chosen: &str) -> Vec<OptionCtx> {
    list.into_iter().map(|(v, l)| OptionCtx { selected: v == chosen, label: format!("{l} ({v})"), value: v }).collect()
}

async fn payments(State(state): State<AppState>, s: Staff, Query(q): Query<Search>) -> Response {
    let lang = s.lang.lang;
    let (rows, next, error) = match svc::search(&state, &s.who, &q).await {
        Ok((rows, next)) => (rows, next, None),
        Err(e) if e.code.is_server_fault() => return super::staff_error(&state, &s, &e),
        Err(e) => (Vec::new(), None, Some(e.message)),
    };
    let rows: Vec<RowCtx> = rows
        .iter()
        .map(|p| RowCtx {
            href: format!("/console/payments/{}", enc(&p.id)),
            created: gmt7(p.created_at),
            dossier: p.dossier_code.clone(),
            agency: p.agency_code.clone(),
            description: p.description.clone(),
            amount: format_vnd(p.amount),
            status: status_label(lang, p.status.as_str()),
            status_code: p.status.as_str().to_owned(),
        })
        .collect();
    let next_href = next.map(|n| {
        let mut q2 = q.clone();
        q2.after = n;
        format!("/console/payments?{}", serde_urlencoded::to_string(&q2).unwrap_or_default())
    });
    let statuses: Vec<OptionCtx> = PaymentStatus::ALL
        .iter()
        .map(|st| OptionCtx {
            value: st.as_str().into(),
            label: status_label(lang, st.as_str()).into(),
            selected: q.status == st.as_str(),
        })
        .collect();
    let agencies = options(svc::agencies(&state, &s.who).await.unwrap_or_default(), &q.agency);
    let gateways = options(svc::gateways(&state), &q.gateway);
    let title = i18n::text(lang, "payments_title");
    let f = frame(&state, lang, &s.path, Some(&s), "payments");
    let paid_on = (!q.paid_on.is_empty()).then(|| vn_date(&q.paid_on));
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let ctx = context! {
        title, rows, next_href, statuses, agencies, gateways, q => q.clone(), error, paid_on,
        paging => !q.after.is_empty(), webhook_failed => q.webhook_failed == "1", unresolved => q.unresolved == "1",
    };
    render(&state, status, "console/payments.html", f, s.lang, ctx)
}
