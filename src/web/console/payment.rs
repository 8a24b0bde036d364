//! One payment's page, `GET /console/payments/{id}`: its lines and accounts, attempts with
//! the gateways' verified messages, status history, webhook deliveries, refunds and audit
//! entries, with the actions the role allows: `POST .../cancel` (admin, while unpaid),
//! `POST .../refund` (finance and admin, while something is left to refund; a per-form
//! idempotency key makes a double click one refund) and `POST .../events/{event}/redeliver`
//! (finance and admin); its receipts and their provider jobs are `payment_receipts`.
//! Everything goes through `service::console` with the Principal.

use super::pages::{enc, status_label};
use super::{frame, gmt7, i18n, render, Staff};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::service::caller::Role;
use crate::service::console::{self as svc, PaymentDetail};
use crate::service::error::{Code, Error};
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
        .route("/console/payments/{id}", get(payment))
        .route("/console/payments/{id}/cancel", post(cancel))
        .route("/console/payments/{id}/refund", post(refund))
        .route("/console/payments/{id}/events/{event}/redeliver", post(redeliver))
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
    /// The gateway's verified messages about this attempt.
    messages: Vec<MessageCtx>,
}

#[derive(Serialize)]
struct MessageCtx {
    at: String,
    method: String,
    disposition: String,
    /// The query and the body as received (escaped by the template).
    raw: String,
}

#[derive(Serialize)]
struct EventCtx {
    kind: String,
    change: String,
    at: String,
}

#[derive(Serialize)]
struct WebhookCtx {
    id: String,
    kind: String,
    status: &'static str,
    status_code: String,
    tries: i64,
    last: String,
    next: String,
    redeliver_url: String,
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

/// The refund form as sent back with a refusal (empty on a fresh page).
#[derive(Deserialize, Default, Clone)]
pub struct RefundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    /// The form's idempotency key (a hidden field, new on every page).
    #[serde(default)]
    key: String,
}

async fn payment(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    match svc::payment(&state, &s.who, &id).await {
        Ok(d) => page(&state, &s, &d, &done.done, None, StatusCode::OK),
        Err(e) => super::staff_error(&state, &s, &e),
    }
}

fn delivery_label(lang: Lang, status: &str) -> &'static str {
    let t = i18n::text(lang, &format!("ds_{status}"));
    if t.is_empty() {
        i18n::text(lang, "st_unknown")
    } else {
        t
    }
}

/// The page of `d`; `refused`: the refund form sent back with the reason it was refused.
fn page(
    state: &AppState,
    s: &Staff,
    d: &PaymentDetail,
    done: &str,
    refused: Option<(&RefundForm, String)>,
    status: StatusCode,
) -> Response {
    let lang = s.lang.lang;
    let gateways = svc::gateways(state);
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
            // A leg of a transfer to several accounts: which one, of how many.
            gateway: match (&a.leg_group, a.leg) {
                (Some(g), Some(n)) => {
                    let of = d.attempts.iter().filter(|b| b.leg_group.as_ref() == Some(g)).count();
                    format!("{} · {n}/{of}", gw(&a.connector_id))
                }
                _ => gw(&a.connector_id),
            },
            status: status_label(lang, a.status.as_str()),
            amount: format_vnd(a.amount),
            gateway_ref: a.gateway_txn.clone().or_else(|| a.gateway_ref.clone()).unwrap_or_default(),
            failure: a.failure_code.clone().unwrap_or_default(),
            created: gmt7(a.created_at),
            messages: d
                .callbacks
                .iter()
                .filter(|c| {
                    c.attempt_id.as_deref() == Some(a.id.as_str())
                        || c.reference.as_deref() == Some(a.reference.as_str())
                })
                .map(|c| {
                    let mut raw = String::new();
                    if !c.query.is_empty() {
                        raw.push('?');
                        raw.push_str(&c.query);
                    }
                    if !c.body.is_empty() {
                        if !raw.is_empty() {
                            raw.push_str("\n\n");
                        }
                        raw.push_str(&c.body);
                    }
                    MessageCtx {
                        at: gmt7(c.received_at),
                        method: c.method.clone(),
                        disposition: c.disposition.clone(),
                        raw,
                    }
                })
                .collect(),
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
    let webhooks: Vec<WebhookCtx> = d
        .webhooks
        .iter()
        .map(|(e, deliveries)| {
            let code = e.delivery_status.clone().unwrap_or_default();
            let last = deliveries
                .last()
                .map(|l| match (&l.error, l.http_status) {
                    (Some(err), _) => err.clone(),
                    (None, Some(st)) => format!("HTTP {st}"),
                    (None, None) => String::new(),
                })
                .unwrap_or_default();
            WebhookCtx {
                id: e.id.clone(),
                kind: e.kind.clone(),
                status: delivery_label(lang, &code),
                status_code: code.clone(),
                tries: e.attempts,
                last,
                next: if code == "pending" { e.next_attempt_at.map(gmt7).unwrap_or_default() } else { String::new() },
                redeliver_url: format!("/console/payments/{}/events/{}/redeliver", enc(&d.row.id), enc(&e.id)),
            }
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
    let may_act = matches!(s.who.role, Role::Admin | Role::Finance);
    let may_cancel = s.who.role == Role::Admin && p.status.is_payable();
    let may_refund = may_act && d.refundable > 0;
    let (refund_amount, refund_reason, refund_error) = match refused {
        Some((f, why)) => (f.amount.clone(), f.reason.clone(), Some(why)),
        None => (d.refundable.to_string(), String::new(), None),
    };
    let title = format!("{} {}", t("payment_title"), p.dossier_code);
    let f = frame(state, lang, &s.path, Some(s), "payments");
    let notice = match done {
        "cancelled" => Some(t("cancelled_ok")),
        "refunded" => Some(t("refunded_ok")),
        "refund_manual" => Some(t("refund_manual_ok")),
        "refund_pending" => Some(t("refund_pending_ok")),
        "refund_failed" => Some(t("refund_failed_ok")),
        "redelivered" => Some(t("redelivered_ok")),
        "provider_retried" => Some(t("provider_retried_ok")),
        "provider_not_failed" => Some(t("provider_not_failed")),
        _ => None,
    };
    let ctx = context! {
        title, id => p.id.clone(), dossier => p.dossier_code.clone(), procedure => p.procedure_code.clone(),
        agency => format!("{} ({})", d.agency_name, p.agency_code), description => p.description.clone(),
        amount => format_vnd(p.amount), refunded => format_vnd(p.refunded_amount),
        status => status_label(lang, p.status.as_str()), status_code => p.status.as_str(), payer,
        created => gmt7(p.created_at), paid_at => p.paid_at.map(gmt7), expires_at => gmt7(p.expires_at),
        lines, attempts, events, webhooks, refunds, audit, may_cancel, may_act, may_refund,
        receipts => super::payment_receipts::receipts(lang, d),
        read_only => s.who.role == Role::Viewer, notice, refund_failed => done == "refund_failed",
        cancel_url => format!("/console/payments/{}/cancel", enc(&p.id)),
        refund_url => format!("/console/payments/{}/refund", enc(&p.id)),
        refundable => format_vnd(d.refundable), refund_amount, refund_reason, refund_error,
        form_key => crate::domain::ids::new_secret(),
    };
    render(state, status, "console/payment.html", f, s.lang, ctx)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
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

/// Why a refund was refused, in the page's language; `None` for a refusal that is a page
/// of its own (role, scope, the database).
fn refund_refusal(lang: Lang, e: &Error, refundable: i64) -> Option<String> {
    let t = |k| i18n::text(lang, k);
    let text = match e.code {
        Code::Forbidden | Code::NotFound => return None,
        _ if e.is_server_fault() => return None,
        Code::RefundExceedsAvailable => format!("{} {}", t("refund_exceeds"), format_vnd(refundable)),
        Code::PaymentNotRefundable => t("not_refundable").to_owned(),
        Code::IdempotencyKeyReused | Code::InvalidIdempotencyKey => t("form_used").to_owned(),
        _ if e.field.as_deref() == Some("amount") => t("refund_amount_bad").to_owned(),
        _ if e.field.as_deref() == Some("reason") => t("refund_reason_bad").to_owned(),
        _ => e.message.clone(),
    };
    Some(text)
}

async fn refund(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<String>,
    Form(f): Form<RefundForm>,
) -> Response {
    if let Err(r) = super::check_csrf(&state, &s, &f.csrf) {
        return r;
    }
    let made = svc::refund(&state, &s.who, &id, &f.amount, &f.reason, &f.key).await;
    let e = match made {
        Ok(r) => {
            let done = match r.status.as_str() {
                "succeeded" => "refunded",
                "pending_manual" => "refund_manual",
                "failed" => "refund_failed",
                _ => "refund_pending",
            };
            return Redirect::to(&format!("/console/payments/{}?done={done}", enc(&id))).into_response();
        }
        Err(e) => e,
    };
    let d = match svc::payment(&state, &s.who, &id).await {
        Ok(d) => d,
        Err(e2) => return super::staff_error(&state, &s, &e2),
    };
    match refund_refusal(s.lang.lang, &e, d.refundable) {
        Some(why) => page(&state, &s, &d, "", Some((&f, why)), StatusCode::UNPROCESSABLE_ENTITY),
        None => super::staff_error(&state, &s, &e),
    }
}

async fn redeliver(
    State(state): State<AppState>,
    s: Staff,
    Path((id, event)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = super::check_csrf(&state, &s, &f.csrf) {
        return r;
    }
    match svc::redeliver(&state, &s.who, &id, &event).await {
        Ok(()) => Redirect::to(&format!("/console/payments/{}?done=redelivered#webhooks-h", enc(&id))).into_response(),
        Err(e) => super::staff_error(&state, &s, &e),
    }
}
