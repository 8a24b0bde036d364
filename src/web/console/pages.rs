//! `GET /console` (Today), `GET /console/payments` (search), `GET /console/payments/{id}`
//! (one payment) and `POST /console/payments/{id}/cancel`. Each reads through
//! `service::console`, which applies the caller's agency scope.

use super::{frame, gmt7, i18n, render, vn_date, Staff};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::domain::payment::PaymentStatus;
use crate::service::console::{self as svc, Search};
use crate::web::i18n::Lang;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(today))
        .route("/console/payments", get(payments))
        .route("/console/payments/{id}", get(payment))
        .route("/console/payments/{id}/cancel", post(cancel))
}

pub(super) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn status_label(lang: Lang, status: &str) -> &'static str {
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
    let title = format!("{} {}", i18n::text(lang, "today_title"), vn_date(&d.date));
    let f = frame(&state, lang, &s.path, Some(&s), "today");
    let ctx = context! {
        title, rows, total_count, total_amount, waiting => d.waiting, failed_webhooks => d.failed_webhooks,
        open_cases => d.open_cases, paid_href => format!("/console/payments?paid_on={}", d.date),
        waiting_href => "/console/payments?status=pending", webhooks_href => "/console/payments?webhook_failed=1",
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
        paging => !q.after.is_empty(), webhook_failed => q.webhook_failed == "1",
    };
    render(&state, status, "console/payments.html", f, s.lang, ctx)
}

#[derive(Serialize)]
struct LineCtx {
    kind: &'static str,
    code: String,
    description: String,
    amount: String,
    account: String,
}

#[derive(Serialize)]
struct AttemptCtx {
    reference: String,
    gateway: String,
    status: &'static str,
    amount: String,
    gateway_ref: String,
    failure: String,
    created: String,
}

#[derive(Serialize)]
struct EventCtx {
    kind: String,
    change: String,
    at: String,
}

#[derive(Serialize)]
struct RefundCtx {
    reference: String,
    amount: String,
    reason: String,
    status: &'static str,
    requested_by: String,
    bank_reference: String,
    at: String,
}

#[derive(Serialize)]
struct AuditCtx {
    seq: i64,
    kind: String,
    actor: String,
    at: String,
    payload: String,
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
}

async fn payment(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let lang = s.lang.lang;
    let d = match svc::payment(&state, &s.who, &id).await {
        Ok(d) => d,
        Err(e) => return super::staff_error(&state, &s, &e),
    };
    let gateways = svc::gateways(&state);
    let gw = |id: &str| gateways.iter().find(|(c, _)| c == id).map(|(_, n)| n.clone()).unwrap_or_else(|| id.into());
    let t = |k| i18n::text(lang, k);
    let lines: Vec<LineCtx> = d
        .lines
        .iter()
        .map(|l| LineCtx {
            kind: if l.kind == "fee" { t("fee") } else { t("charge") },
            code: l.code.clone(),
            description: l.description.clone(),
            amount: format_vnd(l.amount),
            account: l.account.clone(),
        })
        .collect();
    let attempts: Vec<AttemptCtx> = d
        .attempts
        .iter()
        .map(|a| AttemptCtx {
            reference: a.reference.clone(),
            gateway: gw(&a.connector_id),
            status: status_label(lang, a.status.as_str()),
            amount: format_vnd(a.amount),
            gateway_ref: a.gateway_txn.clone().or_else(|| a.gateway_ref.clone()).unwrap_or_default(),
            failure: a.failure_code.clone().unwrap_or_default(),
            created: gmt7(a.created_at),
        })
        .collect();
    let events: Vec<EventCtx> = d
        .events
        .iter()
        .map(|e| EventCtx {
            kind: e.kind.clone(),
            change: match (&e.status_from, &e.status_to) {
                (Some(a), Some(b)) => format!("{} → {}", status_label(lang, a), status_label(lang, b)),
                (None, Some(b)) => status_label(lang, b).to_owned(),
                _ => String::new(),
            },
            at: gmt7(e.created_at),
        })
        .collect();
    let refunds: Vec<RefundCtx> = d
        .refunds
        .iter()
        .map(|r| RefundCtx {
            reference: r.reference.clone(),
            amount: format_vnd(r.amount),
            reason: r.reason.clone(),
            status: status_label(lang, &r.status),
            requested_by: r.requested_by.clone(),
            bank_reference: r.bank_reference.clone().unwrap_or_default(),
            at: gmt7(r.created_at),
        })
        .collect();
    let audit: Vec<AuditCtx> = d
        .audit
        .iter()
        .map(|a| AuditCtx {
            seq: a.seq,
            kind: a.kind.clone(),
            actor: a.actor.clone(),
            at: gmt7(a.created_at),
            payload: a.payload.clone(),
        })
        .collect();
    let p = &d.row;
    let payer = [d.view.payer.name.clone().unwrap_or_default(), d.view.payer.id_number.clone().unwrap_or_default()]
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    let may_cancel = s.who.role == crate::service::caller::Role::Admin && p.status.is_payable();
    let title = format!("{} {}", t("payment_title"), p.dossier_code);
    let f = frame(&state, lang, &s.path, Some(&s), "payments");
    let ctx = context! {
        title, id => p.id.clone(), dossier => p.dossier_code.clone(), procedure => p.procedure_code.clone(),
        agency => format!("{} ({})", d.agency_name, p.agency_code), description => p.description.clone(),
        amount => format_vnd(p.amount), refunded => format_vnd(p.refunded_amount),
        status => status_label(lang, p.status.as_str()), status_code => p.status.as_str(), payer,
        created => gmt7(p.created_at), paid_at => p.paid_at.map(gmt7), expires_at => gmt7(p.expires_at),
        lines, attempts, events, refunds, audit, may_cancel, read_only => s.who.role == crate::service::caller::Role::Viewer,
        cancel_url => format!("/console/payments/{}/cancel", enc(&p.id)), cancelled_ok => done.done == "cancelled",
    };
    render(&state, StatusCode::OK, "console/payment.html", f, s.lang, ctx)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn cancel(State(state): State<AppState>, s: Staff, Path(id): Path<String>, Form(f): Form<CsrfForm>) -> Response {
    if let Err(r) = super::check_csrf(&state, &s, &f.csrf) {
        return r;
    }
    // The payments service applies role (admin) and scope, and writes the journal entry
    // under staff:<username>.
    match crate::service::payments::cancel(&state, &s.who, &id).await {
        Ok(_) => Redirect::to(&format!("/console/payments/{}?done=cancelled", enc(&id))).into_response(),
        Err(e) => super::staff_error(&state, &s, &e),
    }
}
