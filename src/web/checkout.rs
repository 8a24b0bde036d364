//! `GET /checkout/{id}`: the payment and the gateways the payer may use (a gateway that
//! cannot take the amount, or needs one beneficiary account, is listed as unavailable);
//! once paid, the time, method, transaction number, receipt and the way back to the portal;
//! once expired, cancelled or refunded, what to do next and whom to call.
//! `POST /checkout/{id}`: with the page's form token, start an attempt and answer 303 to
//! the gateway (or to the transfer page with the VietQR code); on a payment no longer
//! payable (paid, expired), 303 back to its page and nothing started.
//! `GET /checkout/{id}/transfer`: that page, refreshing itself while the transfer is awaited.
//! `GET /` (what this site is) and every unknown address a person asks for: pages in the
//! site's style, in Vietnamese or English.

use super::i18n::{texts, Lang};
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::domain::payment::PaymentStatus;
use crate::service::checkout::{self as svc, Checkout};
use axum::extract::{ConnectInfo, Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
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

fn now_secs() -> i64 {
    svc::now_ms() / 1000
}

/// The other language's code, for the switch link.
fn other(lang: Lang) -> &'static str {
    if lang == Lang::Vi {
        "en"
    } else {
        "vi"
    }
}

/// The phone a payer of `agency_code` may call (`[site] agency_phones`; empty if none).
fn phone_for(state: &AppState, agency_code: &str) -> String {
    state.config.site.agency_phones.get(agency_code).cloned().unwrap_or_default()
}

/// A payment's page that cannot be found, in the site's style.
fn not_found(state: &AppState, lang: Lang, title: &'static str, text: &'static str, switch_url: String) -> Response {
    let t = texts(lang);
    let html = state.pages.render(
        "not_found.html",
        context! {
            lang => lang.code(), title, text, t, switch_url,
            portal_url => state.config.site.portal_url.clone(),
        },
    );
    (StatusCode::NOT_FOUND, Html(html)).into_response()
}

fn lang_of(raw: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()).find(|(k, _)| k == "lang").map(|(_, v)| v.into_owned())
}

/// `GET /`: what this site is and how a payer gets to a payment (from the portal).
pub async fn home(State(state): State<AppState>, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(lang_of(raw.as_deref()).as_deref(), &headers);
    let t = texts(lang);
    let html = state.pages.render(
        "home.html",
        context! {
            lang => lang.code(), title => t.home_title, t, switch_url => format!("/?lang={}", other(lang)),
            portal_url => state.config.site.portal_url.clone(),
        },
    );
    Html(html).into_response()
}

/// Every address no route has. A person (a page address, or a browser asking for HTML)
/// gets the site's "page not found"; `/v1`, the gateways' `/callbacks` and `/sim`, and
/// programs get an empty 404 that the API's contract layer turns into its JSON error.
pub async fn unknown(State(state): State<AppState>, uri: Uri, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let path = uri.path();
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/v1") || under("/callbacks") || under("/sim") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let accepts_html =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    let page_address = under("/checkout") || under("/console") || under("/return") || under("/receipts");
    if !(accepts_html || page_address) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let lang = Lang::negotiate(lang_of(raw.as_deref()).as_deref(), &headers);
    let t = texts(lang);
    let switch_url = format!("{path}?lang={}", other(lang));
    not_found(&state, lang, t.page_not_found, t.page_not_found_text, switch_url)
}

/// A payment's page that does not exist.
fn no_payment(state: &AppState, lang: Lang, id: &str) -> Response {
    let t = texts(lang);
    not_found(state, lang, t.not_found, t.payment_not_found_text, format!("/checkout/{id}?lang={}", other(lang)))
}

async fn page(state: &AppState, c: &Checkout, lang: Lang, error: Option<String>) -> Response {
    let t = texts(lang);
    let english = lang == Lang::En;
    let (p, lines, agency_name) = (&c.payment, &c.lines, c.agency_name.clone());
    let form_token = match state.pages.form_key(state).await {
        Ok(key) => super::form::token(key, &p.id, now_secs()),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let name_of = |connector_id: &str| {
        state.connectors.get(connector_id).map(|a| a.name(english).to_owned()).unwrap_or_else(|| connector_id.into())
    };
    let (mut connectors, mut unavailable) = (Vec::new(), Vec::new());
    for a in state.connectors.for_agency(&p.agency_code) {
        let mut c = ConnectorCtx { id: a.connector.id().to_owned(), name: a.name(english).to_owned(), reason: "" };
        if !a.connector.amount_range().contains(&p.amount) {
            c.reason = t.amount_not_accepted;
            unavailable.push(c);
        } else {
            connectors.push(c);
        }
    }
    let status = p.status();
    let payable = status.is_payable() && p.expires_at > svc::now_ms();
    let (state_text, next_text) = match status {
        PaymentStatus::Succeeded => (t.paid, ""),
        PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => (t.refunded, t.refunded_next),
        PaymentStatus::Cancelled => (t.cancelled, t.cancelled_next),
        PaymentStatus::Expired | PaymentStatus::Created | PaymentStatus::Pending => (t.expired, t.expired_next),
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
    let issued = match payable {
        true => Ok(None),
        false => crate::service::receipts::issued_for(state, &p.id).await,
    };
    let receipt = match issued {
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
    // What paid it: the payer reads the gateway's name and transaction number here even
    // when no receipt was issued (a payment paid before receipts existed).
    let paid_with = c.paid_by().map(|a| {
        context! {
            method => name_of(&a.connector_id),
            transaction => c.transaction_of(a),
            paid_at => p.paid_at.map(gmt7).unwrap_or_default(),
        }
    });
    let last_failed = payable.then(|| c.last_failed().map(|a| name_of(&a.connector_id))).flatten();
    // An attempt under way: its name, and the way back to its transfer code if it has one.
    let under_way = payable.then(|| c.open_attempt()).flatten().map(|a| {
        let qr = serde_json::from_str::<Action>(&a.action).is_ok_and(|act| matches!(act, Action::Qr { .. }));
        context! {
            name => name_of(&a.connector_id),
            transfer_url => qr.then(|| format!("/checkout/{}/transfer?lang={}", p.id, lang.code())),
        }
    });
    // The way back (and its receipt and signature) only where the page shows it: not while
    // the payment can still be paid (the page most viewed).
    let back_url = match payable {
        true => None,
        false => match crate::service::checkout::back_url(state, c, &state.config.site.portal_url).await {
            Ok(u) => u,
            Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        },
    };
    let html = state.pages.render(
        "checkout.html",
        context! {
            lang => lang.code(), title => p.description.clone(), t, switch_url => format!("/checkout/{}?lang={}", p.id, other(lang)),
            agency_name, description => p.description.clone(), dossier_code => p.dossier_code.clone(),
            procedure_code => p.procedure_code.clone(), lines, total => format_vnd(p.amount), payable,
            paid => matches!(status, PaymentStatus::Succeeded), state_text, next_text, connectors, unavailable,
            expires_at => gmt7(p.expires_at), error, form_token, receipt, paid_with, last_failed, under_way,
            back_url, phone => phone_for(state, &p.agency_code),
        },
    );
    Html(html).into_response()
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(q.lang.as_deref(), &headers);
    match svc::load(&state, &id).await {
        Ok(Some(c)) => page(&state, &c, lang, None).await,
        Ok(None) => no_payment(&state, lang, &id),
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
    headers: HeaderMap,
    Form(f): Form<Choice>,
) -> Response {
    let lang = Lang::negotiate(q.lang.as_deref(), &headers);
    let c = match svc::load(&state, &id).await {
        Ok(Some(c)) => c,
        Ok(None) => return no_payment(&state, lang, &id),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let p = &c.payment;
    // "Pay" pressed again after the payment was paid (or ran out): nothing to start; the
    // payer is sent to the payment's page, which says it is paid (or what to do next).
    if !(p.status().is_payable() && p.expires_at > svc::now_ms()) {
        tracing::info!(payment_id = %p.id, status = %p.status.as_str(), "checkout POST on a payment no longer payable");
        return Redirect::to(&format!("/checkout/{id}?lang={}", lang.code())).into_response();
    }
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
        Ok(Action::Qr { .. } | Action::Transfers { .. }) => {
            Redirect::to(&format!("/checkout/{id}/transfer?lang={}", lang.code())).into_response()
        }
        Err(e) => {
            let c = svc::load(&state, &id).await.ok().flatten().unwrap_or(c);
            if !c.payment.status().is_payable() {
                // Paid (or closed) between the read above and the start: its page says so.
                return Redirect::to(&format!("/checkout/{id}?lang={}", lang.code())).into_response();
            }
            let mut r = page(&state, &c, lang, Some(e.message)).await;
            *r.status_mut() = crate::api::error::status(e.code);
            r
        }
    }
}

/// Seconds between the transfer page's own refreshes while the transfer is awaited.
const TRANSFER_REFRESH_SECS: u32 = 10;

async fn transfer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(q.lang.as_deref(), &headers);
    let t = texts(lang);
    let c = match svc::load(&state, &id).await {
        Ok(Some(c)) => c,
        Ok(None) => return no_payment(&state, lang, &id),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let Ok(latest) = svc::transfers(&state, &id).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    // No transfer awaited any more (paid, failed, expired): the payment's page says what
    // happened: the receipt and the way back to the portal once paid.
    let Some(shown) = latest else {
        return Redirect::to(&format!("/checkout/{id}?lang={}", lang.code())).into_response();
    };
    let simulate = state.connectors.get(&shown.connector_id).map(|a| a.simulate).unwrap_or(false);
    let count = shown.transfers.len();
    let mut transfers = Vec::new();
    for (i, s) in shown.transfers.into_iter().enumerate() {
        let svg = match qrcode::QrCode::new(s.payload.as_bytes()) {
            Ok(code) => code.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).build(),
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        let sim_url = (simulate && !s.arrived).then(|| {
            let enc: String = url::form_urlencoded::byte_serialize(s.payload.as_bytes()).collect();
            format!("/sim/{}/app?payload={enc}", shown.connector_id)
        });
        let tr = s.transfer;
        // The first transfer keeps the page's plain ids (a single transfer has only it).
        let suffix = if i == 0 { String::new() } else { format!("-{}", i + 1) };
        transfers.push(context! {
            n => i + 1, suffix, arrived => s.arrived,
            qr_svg_b64 => base64::engine::general_purpose::STANDARD.encode(svg.as_bytes()),
            bank_name => tr.bank_name, bank_bin => tr.bank_bin, account_number => tr.account_number,
            account_name => tr.account_name, amount => format_vnd(tr.amount), content => tr.content, sim_url,
        });
    }
    let p = &c.payment;
    let html = state.pages.render(
        "qr.html",
        context! {
            lang => lang.code(), title => "VietQR", t, switch_url => format!("/checkout/{id}/transfer?lang={}", other(lang)),
            refresh_secs => TRANSFER_REFRESH_SECS,
            agency_name => c.agency_name.clone(), description => p.description.clone(),
            dossier_code => p.dossier_code.clone(), procedure_code => p.procedure_code.clone(),
            expires_at => gmt7(p.expires_at), checked_at => gmt7(svc::now_ms()),
            transfers, count, total => format_vnd(p.amount),
            checkout_url => format!("/checkout/{id}?lang={}", lang.code()),
        },
    );
    Html(html).into_response()
}
