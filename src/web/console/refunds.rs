//! `GET /console/refunds`: the refunds in the caller's agency scope, open ones first
//! (`pending` at the gateway, `pending_manual` waiting for finance's bank transfer) and the
//! latest settled ones, each with its payment's dossier linked; and
//! `POST /console/refunds/{id}/payout`, finance (or admin) recording the manual payout of a
//! `pending_manual` refund with the bank's reference, through
//! `service::refunds::complete_manual` as `POST /v1/payments/{id}/refunds/{id}/complete`.

use super::pages::{enc, status_label};
use super::{frame, gmt7, i18n, render, Staff};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::service::caller::Role;
use crate::service::console as svc;
use crate::service::console::RefundListRow;
use crate::service::error::{Code, Error};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new().route("/console/refunds", get(list)).route("/console/refunds/{id}/payout", post(payout))
}

#[derive(Serialize)]
struct RowCtx {
    id: String,
    created: String,
    updated: String,
    dossier: String,
    payment_href: String,
    agency: String,
    gateway: String,
    amount: String,
    reason: String,
    status: &'static str,
    status_code: String,
    requested_by: String,
    bank_reference: String,
    failure: String,
    payment_id: String,
    payout_url: String,
    /// Finance records its payout here.
    manual: bool,
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    reference: String,
}

fn rows(state: &AppState, lang: crate::web::i18n::Lang, list: &[RefundListRow]) -> Vec<RowCtx> {
    let gateways = svc::gateways(state);
    let gw = |id: &str| gateways.iter().find(|(c, _)| c == id).map(|(_, n)| n.clone()).unwrap_or_else(|| id.into());
    list.iter()
        .map(|r| RowCtx {
            id: r.id.clone(),
            created: gmt7(r.created_at),
            updated: gmt7(r.updated_at),
            dossier: r.dossier_code.clone(),
            payment_href: format!("/console/payments/{}", enc(&r.payment_id)),
            agency: r.agency_code.clone(),
            gateway: gw(&r.connector_id),
            amount: format_vnd(r.amount),
            reason: r.reason.clone(),
            status: status_label(lang, &r.status),
            status_code: r.status.clone(),
            requested_by: r.requested_by.clone(),
            bank_reference: r.bank_reference.clone().unwrap_or_default(),
            failure: r.failure_code.clone().unwrap_or_default(),
            payment_id: r.payment_id.clone(),
            payout_url: format!("/console/refunds/{}/payout", enc(&r.id)),
            manual: r.status == "pending_manual",
        })
        .collect()
}

/// The page; `refused`: the refund whose payout was refused, what was typed and why.
async fn page(state: &AppState, s: &Staff, done: &Done, refused: Option<(&str, &PayoutForm, String)>) -> Response {
    let lang = s.lang.lang;
    let t = |k| i18n::text(lang, k);
    let lists = match svc::refunds(state, &s.who).await {
        Ok(l) => l,
        Err(e) => return super::staff_error(state, s, &e),
    };
    let open = rows(state, lang, &lists.open);
    let settled = rows(state, lang, &lists.settled);
    let waiting_manual = lists.open.iter().filter(|r| r.status == "pending_manual").count();
    let notice = (done.done == "paid_out").then(|| format!("{} {}", t("payout_ok"), done.reference));
    let (error_for, error, typed) = match refused {
        Some((id, f, why)) => (id.to_owned(), Some(why), f.bank_reference.clone()),
        None => (String::new(), None, String::new()),
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let f = frame(state, lang, &s.path, Some(s), "refunds");
    let ctx = context! {
        title => t("refunds_title"), open, settled, waiting_manual, notice, error, error_for, typed,
        may_act => matches!(s.who.role, Role::Admin | Role::Finance),
    };
    render(state, status, "console/refunds.html", f, s.lang, ctx)
}

#[derive(Deserialize, Default)]
pub struct PayoutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    payment_id: String,
    #[serde(default)]
    bank_reference: String,
}

async fn list(State(state): State<AppState>, s: Staff, Query(done): Query<Done>) -> Response {
    page(&state, &s, &done, None).await
}

/// Why a payout was refused, in the page's language; `None` for a refusal that is a page
/// of its own (role, scope, the database).
fn payout_refusal(lang: crate::web::i18n::Lang, e: &Error) -> Option<String> {
    let t = |k| i18n::text(lang, k);
    match e.code {
        Code::Forbidden | Code::NotFound => None,
        _ if e.is_server_fault() => None,
        Code::InvalidState => Some(t("payout_not_manual").to_owned()),
        _ if e.field.as_deref() == Some("bank_reference") => Some(t("payout_reference_bad").to_owned()),
        _ => Some(e.message.clone()),
    }
}

async fn payout(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<String>,
    Form(f): Form<PayoutForm>,
) -> Response {
    if let Err(r) = super::check_csrf(&state, &s, &f.csrf) {
        return r;
    }
    // Role, scope (another agency's refund is "not found"), the state and the journal
    // (`staff:<username>`) are the refunds service's, as for the API.
    match crate::service::refunds::complete_manual(&state, &s.who, &f.payment_id, &id, &f.bank_reference).await {
        Ok(r) => {
            let to = format!("/console/refunds?done=paid_out&reference={}", enc(&r.bank_reference.unwrap_or_default()));
            Redirect::to(&to).into_response()
        }
        Err(e) => match payout_refusal(s.lang.lang, &e) {
            Some(why) => page(&state, &s, &Done::default(), Some((&id, &f, why))).await,
            None => super::staff_error(&state, &s, &e),
        },
    }
}
