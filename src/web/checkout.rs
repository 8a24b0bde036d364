//! `GET /checkout/{id}`: the payment and the gateways the payer may use (a gateway that
//! cannot take the amount, or needs one beneficiary account, is listed as unavailable);
//! `POST /checkout/{id}`: with the page's form token, start an attempt and answer 303 to
//! the gateway (or to the transfer page with the VietQR code); `GET /checkout/{id}/transfer`:
//! that page.

use super::i18n::{texts, Lang};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::domain::payment::PaymentStatus;
use crate::service::checkout::{self as svc, Checkout};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use base64::Engine;
use feegate_connector::{Action, Locale};
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new().route("/checkout/{id}", get(show).post(choose)).route("/checkout/{id}/transfer", get(transfer))
}

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

#[derive(Serialize)]
struct LineCtx {
    description: String,
    code: String,
    kind_label: &'static str,
    amount: String,
}

#[derive(Serialize)]
struct ConnectorCtx {
    id: String,
    name: String,
    /// Why it is not offered, for the unavailable ones.
    reason: &'static str,
}

fn gmt7(ms: i64) -> String {
    let t = crate::service::datetime(ms).to_offset(time::macros::offset!(+7));
    let fmt = time::macros::format_description!("[hour]:[minute] [day]/[month]/[year] (GMT+7)");
    t.format(&fmt).unwrap_or_default()
}

fn not_found(state: &AppState, lang: Lang) -> Response {
    let t = texts(lang);
    (StatusCode::NOT_FOUND, Html(state.pages.message(t.not_found, t.not_found))).into_response()
}

fn now_secs() -> i64 {
    svc::now_ms() / 1000
}

async fn page(state: &AppState, c: &Checkout, lang: Lang, error: Option<String>) -> Response {
    let t = texts(lang);
    let (p, lines, agency_name) = (&c.payment, &c.lines, c.agency_name.clone());
    let form_token = match state.pages.form_key(state).await {
        Ok(key) => super::form::token(key, &p.id, now_secs()),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let single_account = lines.windows(2).all(|w| w[0].account_id == w[1].account_id);
    let (mut connectors, mut unavailable) = (Vec::new(), Vec::new());
    for a in state.connectors.for_agency(&p.agency_code) {
        let mut c =
            ConnectorCtx { id: a.connector.id().to_owned(), name: a.connector.display_name().to_owned(), reason: "" };
        if !a.connector.amount_range().contains(&p.amount) {
            c.reason = t.amount_not_accepted;
            unavailable.push(c);
        } else if a.connector.needs_beneficiary() && !single_account {
            c.reason = t.not_available;
            unavailable.push(c);
        } else {
            connectors.push(c);
        }
    }
    let status = p.status();
    let payable = status.is_payable() && p.expires_at > svc::now_ms();
    let state_text = match status {
        PaymentStatus::Succeeded => t.paid,
        PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => t.refunded,
        PaymentStatus::Cancelled => t.cancelled,
        PaymentStatus::Expired | PaymentStatus::Created | PaymentStatus::Pending => t.expired,
    };
    let lines: Vec<LineCtx> = lines
        .iter()
        .map(|l| LineCtx {
            description: l.description.clone(),
            code: l.code.clone(),
            kind_label: if l.kind == "fee" { t.fee } else { t.charge },
            amount: format_vnd(l.amount),
        })
        .collect();
    let receipt = match crate::service::receipts::issued_for(state, &p.id).await {
        Ok(r) => r.map(|r| {
            let paid_at = time::OffsetDateTime::parse(&r.paid_at, &time::format_description::well_known::Rfc3339)
                .ok()
                .and_then(|t| t.format(time::macros::format_description!("[hour]:[minute] [day]/[month]/[year]")).ok())
                .unwrap_or(r.paid_at);
            context! {
                number => format!("{} · {:07}", r.series, r.number), transaction => r.transaction, paid_at,
                code => r.verification_code, url => r.url, cancelled => r.cancelled,
            }
        }),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let other = if lang == Lang::Vi { "en" } else { "vi" };
    let html = state.pages.render(
        "checkout.html",
        context! {
            lang => lang.code(), title => p.description.clone(), t, switch_url => format!("/checkout/{}?lang={other}", p.id),
            agency_name, description => p.description.clone(), dossier_code => p.dossier_code.clone(),
            procedure_code => p.procedure_code.clone(), lines, total => format_vnd(p.amount), payable,
            paid => matches!(status, PaymentStatus::Succeeded), state_text, connectors, unavailable,
            expires_at => gmt7(p.expires_at), error, form_token, receipt,
        },
    );
    Html(html).into_response()
}

async fn show(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::from_query(q.lang.as_deref());
    match svc::load(&state, &id).await {
        Ok(Some(c)) => page(&state, &c, lang, None).await,
        Ok(None) => not_found(&state, lang),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Deserialize)]
pub struct Choice {
    connector: String,
    /// The page's token; missing is the same as wrong.
    #[serde(default)]
    form_token: String,
}

async fn choose(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    Form(f): Form<Choice>,
) -> Response {
    let lang = Lang::from_query(q.lang.as_deref());
    let c = match svc::load(&state, &id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(&state, lang),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let p = &c.payment;
    let key = match state.pages.form_key(&state).await {
        Ok(k) => k,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if !super::form::verify(key, &p.id, &f.form_token, now_secs()) {
        // Changes nothing: the payer gets the page again, with a fresh token.
        tracing::warn!(payment_id = %p.id, %addr, "checkout POST without a valid form token refused");
        metrics::counter!("feegate_checkout_form_refused_total").increment(1);
        let mut r = page(&state, &c, lang, Some(texts(lang).form_invalid.to_owned())).await;
        if r.status().is_success() {
            *r.status_mut() = StatusCode::FORBIDDEN;
        }
        return r;
    }
    let locale = if lang == Lang::En { Locale::En } else { Locale::Vi };
    match crate::service::attempts::start(&state, p, &f.connector, Some(addr.ip().to_string()), locale, "payer").await {
        Ok(Action::Redirect { url }) => Redirect::to(&url).into_response(),
        Ok(Action::Qr { .. }) => Redirect::to(&format!("/checkout/{id}/transfer?lang={}", lang.code())).into_response(),
        Err(e) => {
            let c = svc::load(&state, &id).await.ok().flatten().unwrap_or(c);
            let mut r = page(&state, &c, lang, Some(e.message)).await;
            *r.status_mut() = crate::api::error::status(e.code);
            r
        }
    }
}

async fn transfer(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::from_query(q.lang.as_deref());
    let t = texts(lang);
    let Ok(latest) = svc::open_action(&state, &id).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let Some((connector_id, Action::Qr { payload, transfer })) = latest else {
        return Redirect::to(&format!("/checkout/{id}?lang={}", lang.code())).into_response();
    };
    let svg = match qrcode::QrCode::new(payload.as_bytes()) {
        Ok(code) => code.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).build(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let simulate = state.connectors.get(&connector_id).map(|a| a.simulate).unwrap_or(false);
    let sim_url = simulate.then(|| {
        let enc: String = url::form_urlencoded::byte_serialize(payload.as_bytes()).collect();
        format!("/sim/{connector_id}/app?payload={enc}")
    });
    let other = if lang == Lang::Vi { "en" } else { "vi" };
    let html = state.pages.render(
        "qr.html",
        context! {
            lang => lang.code(), title => "VietQR", t, switch_url => format!("/checkout/{id}/transfer?lang={other}"),
            qr_svg_b64 => base64::engine::general_purpose::STANDARD.encode(svg.as_bytes()),
            bank_name => transfer.bank_name, bank_bin => transfer.bank_bin, account_number => transfer.account_number,
            account_name => transfer.account_name, amount => format_vnd(transfer.amount), content => transfer.content,
            sim_url, checkout_url => format!("/checkout/{id}?lang={}", lang.code()),
        },
    );
    Html(html).into_response()
}
