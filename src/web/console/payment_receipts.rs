//! The receipts part of a payment's console page: each receipt with its external e-receipt
//! provider's status and the provider jobs behind it, and `POST
//! /console/payments/{id}/receipts/{receipt}/provider-jobs/{action}/retry` (finance and
//! admin, CSRF-checked like the page's other forms), which sends a job the provider
//! refused again through `service::receipt_jobs::retry` with the Principal.

use super::pages::enc;
use super::payment::CsrfForm;
use super::{i18n, Staff};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::domain::receipt::ReceiptView;
use crate::service::console::PaymentDetail;
use crate::service::error::Code;
use crate::service::receipt_jobs::ReceiptJobRow;
use crate::web::i18n::Lang;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Serialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/payments/{id}/receipts/{receipt}/provider-jobs/{action}/retry", post(retry))
}

#[derive(Serialize)]
pub(super) struct ReceiptCtx {
    id: String,
    kind: &'static str,
    number: String,
    status: &'static str,
    amount: String,
    url: String,
    /// The provider's part, when the receipt's agency has one.
    provider: Option<ProviderCtx>,
}

#[derive(Serialize)]
pub(super) struct ProviderCtx {
    name: String,
    status: &'static str,
    status_code: String,
    /// The provider's own series and number, once issued.
    number: String,
    error: String,
    note: String,
    jobs: Vec<JobCtx>,
}

#[derive(Serialize)]
pub(super) struct JobCtx {
    action: &'static str,
    action_code: String,
    status: &'static str,
    status_code: String,
    tries: i32,
    /// The provider's last words, or why it was done without the provider.
    last: String,
    /// The retry form's address, for a failed job.
    retry_url: Option<String>,
}

/// A text of the table by key, or `fallback` for a value the table does not know.
fn label(lang: Lang, key: &str, fallback: &'static str) -> &'static str {
    let t = i18n::text(lang, key);
    if t.is_empty() {
        fallback
    } else {
        t
    }
}

/// The receipts of `d` for the page.
pub(super) fn receipts(lang: Lang, d: &PaymentDetail) -> Vec<ReceiptCtx> {
    let unknown = i18n::text(lang, "st_unknown");
    d.receipts
        .iter()
        .map(|(r, jobs)| ReceiptCtx {
            id: r.id.clone(),
            kind: label(lang, &format!("rr_kind_{}", r.kind), unknown),
            number: format!("{}/{}/{:07}", r.template, r.series, r.number),
            status: label(lang, &format!("rr_st_{}", r.status), unknown),
            amount: format_vnd(r.amount),
            url: r.url.clone(),
            provider: provider(lang, &d.row.id, r, jobs.as_slice()),
        })
        .collect()
}

fn provider(lang: Lang, payment_id: &str, r: &ReceiptView, jobs: &[ReceiptJobRow]) -> Option<ProviderCtx> {
    let unknown = i18n::text(lang, "st_unknown");
    let p = r.provider.as_ref()?;
    let jobs = jobs
        .iter()
        .map(|j| JobCtx {
            action: label(lang, &format!("pj_{}", j.action), unknown),
            action_code: j.action.clone(),
            status: label(lang, &format!("pj_st_{}", j.status), unknown),
            status_code: j.status.clone(),
            tries: j.attempts,
            last: j.skip_reason.clone().or_else(|| j.last_error.clone()).unwrap_or_default(),
            retry_url: (j.status == "failed").then(|| {
                format!(
                    "/console/payments/{}/receipts/{}/provider-jobs/{}/retry",
                    enc(payment_id),
                    enc(&r.id),
                    enc(&j.action)
                )
            }),
        })
        .collect();
    let number = match (&p.series, &p.number) {
        (Some(s), Some(n)) => format!("{s} {n}"),
        _ => String::new(),
    };
    Some(ProviderCtx {
        name: p.name.clone(),
        status: label(lang, &format!("ps_{}", p.status), unknown),
        status_code: p.status.clone(),
        number,
        error: p.error.clone().unwrap_or_default(),
        note: p.note.clone().unwrap_or_default(),
        jobs,
    })
}

async fn retry(
    State(state): State<AppState>,
    s: Staff,
    Path((id, receipt, action)): Path<(String, String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = super::check_csrf(&state, &s, &f.csrf) {
        return r;
    }
    // The page to go back to is the receipt's payment's (the one in the address, unless
    // the form was edited).
    let (page, done) = match crate::service::receipt_jobs::retry(&state, &s.who, &receipt, &action).await {
        Ok(v) => (v.payment_id, "provider_retried"),
        Err(e) if e.code == Code::ReceiptJobNotFailed => (id, "provider_not_failed"),
        Err(e) => return super::staff_error(&state, &s, &e),
    };
    Redirect::to(&format!("/console/payments/{}?done={done}#receipts-h", enc(&page))).into_response()
}
