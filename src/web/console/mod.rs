//! The finance console under `/console`: server-rendered pages (templates in
//! `templates/console/`), Vietnamese first (`?lang=en` switches and is remembered in a
//! cookie), no JavaScript. A page needs a staff session: the `fg_session` cookie
//! (HttpOnly, SameSite=Strict, Path=/console, Secure when the public URL is https) holds a
//! random id the server keeps only as a hash (`service::staff`). Every POST carries the
//! session's CSRF token and is refused without it. `auth` signs in and out; `pages` shows
//! Today and the payment search; `payment` a payment and its actions (cancel, refund,
//! redeliver); `refunds` the refunds and manual payouts; `recon` the uploads and runs;
//! `cases` the cases inbox and the close of a day; `admin` the administration pages.

mod admin;
mod auth;
mod cases;
mod i18n;
mod pages;
mod payment;
mod payment_receipts;
mod preview;
mod receipts;
mod recon;
mod refunds;
mod reports;

use super::i18n::Lang;
use crate::app::AppState;
use crate::service::caller::Principal;
use crate::service::error::{Code, Error};
use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;
use serde::Serialize;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "fg_session";
/// The language cookie's name.
pub const LANG_COOKIE: &str = "fg_lang";

pub fn router() -> Router<AppState> {
    auth::router()
        .merge(pages::router())
        .merge(recon::router())
        .merge(cases::router())
        .merge(payment::router())
        .merge(payment_receipts::router())
        .merge(refunds::router())
        .merge(reports::router())
        .merge(receipts::router())
        .merge(preview::router())
        .merge(admin::router())
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The page's language: `?lang=` first (then remembered), else the cookie, else Vietnamese.
#[derive(Debug, Clone, Copy)]
pub struct PageLang {
    pub lang: Lang,
    /// Chosen by `?lang=` on this request: the answer sets the cookie.
    chosen: bool,
}

impl PageLang {
    fn of(parts: &Parts) -> PageLang {
        let query = parts.uri.query().unwrap_or("");
        let asked = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "lang").map(|(_, v)| v);
        match asked.as_deref() {
            Some("en") => PageLang { lang: Lang::En, chosen: true },
            Some("vi") => PageLang { lang: Lang::Vi, chosen: true },
            _ => {
                let lang = if cookie(&parts.headers, LANG_COOKIE) == Some("en") { Lang::En } else { Lang::Vi };
                PageLang { lang, chosen: false }
            }
        }
    }
}

impl FromRequestParts<AppState> for PageLang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(PageLang::of(parts))
    }
}

/// A signed-in staff user, from the session cookie; without a live session a page answers
/// 303 to the sign-in page.
pub struct Staff {
    pub who: Principal,
    pub session_id: String,
    pub lang: PageLang,
    /// The path and query of this page, for the language switch.
    pub path: String,
}

impl Staff {
    /// The CSRF token every form of this session carries.
    pub fn csrf(&self) -> String {
        crate::service::staff::csrf_token(&self.session_id)
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let lang = PageLang::of(parts);
        let path = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
        let sid = cookie(&parts.headers, SESSION_COOKIE).unwrap_or("").to_owned();
        let who = match crate::service::staff::session(state, &sid).await {
            Ok(Some(who)) => who,
            Ok(None) => {
                let expired = !sid.is_empty();
                let next = if parts.method == axum::http::Method::GET { path.clone() } else { "/console".into() };
                let enc: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                let to = format!("/console/sign-in?next={enc}{}", if expired { "&expired=1" } else { "" });
                let mut r = Redirect::to(&to).into_response();
                if expired {
                    r.headers_mut().append(header::SET_COOKIE, clear_session_cookie(state));
                }
                return Err(r);
            }
            Err(e) => return Err(error_page(state, lang.lang, &e)),
        };
        Ok(Staff { who, session_id: sid, lang, path })
    }
}

fn secure(state: &AppState) -> &'static str {
    if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// The session cookie: the browser keeps it until it closes; the server ends it sooner.
fn session_cookie(state: &AppState, session_id: &str) -> HeaderValue {
    let v = format!("{SESSION_COOKIE}={session_id}; Path=/console; HttpOnly; SameSite=Strict{}", secure(state));
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("fg_session=; Path=/console"))
}

fn clear_session_cookie(state: &AppState) -> HeaderValue {
    let v = format!("{SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{}", secure(state));
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("fg_session=; Path=/console; Max-Age=0"))
}

/// What every console page shows around its body.
#[derive(Serialize)]
struct Frame {
    lang: &'static str,
    t: std::collections::BTreeMap<&'static str, &'static str>,
    organisation: String,
    switch_url: String,
    /// The signed-in user, if any: name, role label, scope.
    user: Option<UserCtx>,
    csrf: String,
    nav: &'static str,
}

#[derive(Serialize)]
struct UserCtx {
    name: String,
    username: String,
    role: &'static str,
    scope: String,
    /// Bound to no agency: may see reconciliation and cases.
    scope_all: bool,
    /// An admin bound to no agency: may use the administration pages.
    is_admin: bool,
}

/// `path` with `lang` set to the other language (the rest of its query kept).
fn switch_url(path: &str, lang: Lang) -> String {
    let other = if lang == Lang::Vi { "en" } else { "vi" };
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()).filter(|(k, _)| k != "lang") {
        ser.append_pair(&k, &v);
    }
    ser.append_pair("lang", other);
    format!("{p}?{}", ser.finish())
}

fn frame(state: &AppState, lang: Lang, path: &str, staff: Option<&Staff>, nav: &'static str) -> Frame {
    let user = staff.map(|s| UserCtx {
        name: s.who.name.clone(),
        username: s.who.key_id.clone(),
        role: i18n::text(lang, &format!("role_{}", s.who.role.as_str())),
        scope_all: s.who.agencies.is_none(),
        is_admin: s.who.role == crate::service::caller::Role::Admin && s.who.agencies.is_none(),
        scope: s.who.agencies.as_ref().map(|a| a.join(", ")).unwrap_or_else(|| i18n::text(lang, "all_agencies").into()),
    });
    Frame {
        lang: lang.code(),
        t: i18n::texts(lang),
        organisation: state.config.console.organisation.clone(),
        switch_url: switch_url(path, lang),
        user,
        csrf: staff.map(Staff::csrf).unwrap_or_default(),
        nav,
    }
}

/// Renders a console template with the frame and `ctx` merged; sets the language cookie
/// when `?lang=` chose one.
fn render(
    state: &AppState,
    status: StatusCode,
    name: &str,
    frame: Frame,
    lang: PageLang,
    ctx: minijinja::Value,
) -> Response {
    let merged = minijinja::context! { ..minijinja::Value::from_serialize(&frame), ..ctx };
    let mut r = (status, Html(state.pages.render(name, merged))).into_response();
    if lang.chosen {
        let v = format!("{LANG_COOKIE}={}; Path=/console; SameSite=Strict; Max-Age=31536000", lang.lang.code());
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// A page with a heading and one sentence.
fn message(
    state: &AppState,
    status: StatusCode,
    lang: Lang,
    staff: Option<&Staff>,
    title: &str,
    text: &str,
) -> Response {
    let path = staff.map(|s| s.path.clone()).unwrap_or_else(|| "/console".into());
    let f = frame(state, lang, &path, staff, "");
    render(
        state,
        status,
        "console/message.html",
        f,
        PageLang { lang, chosen: false },
        minijinja::context! { title, text },
    )
}

/// A service refusal as a page: 404 for "not found" (another agency's payment too), 403
/// for a role that may not, the message for a bad search, 503 when the database is away.
fn error_page(state: &AppState, lang: Lang, e: &Error) -> Response {
    refusal_page(state, lang, None, e)
}

/// A refusal on a page of a signed-in user (the header and nav stay).
fn staff_error(state: &AppState, s: &Staff, e: &Error) -> Response {
    refusal_page(state, s.lang.lang, Some(s), e)
}

fn refusal_page(state: &AppState, lang: Lang, s: Option<&Staff>, e: &Error) -> Response {
    let t = |k| i18n::text(lang, k);
    let text = match e.code {
        Code::NotFound => t("not_found").to_owned(),
        Code::Forbidden => t("forbidden").to_owned(),
        _ if e.is_server_fault() => t("unavailable").to_owned(),
        _ => e.message.clone(),
    };
    message(state, crate::api::error::status(e.code), lang, s, t("error"), &text)
}

/// Refuses a POST whose CSRF token is not its session's (nothing is changed).
fn check_csrf(state: &AppState, s: &Staff, presented: &str) -> Result<(), Response> {
    if crate::service::staff::csrf_ok(&s.session_id, presented) {
        return Ok(());
    }
    tracing::warn!(staff = %s.who.key_id, "console POST without a valid CSRF token refused");
    let t = |k| i18n::text(s.lang.lang, k);
    Err(message(state, StatusCode::FORBIDDEN, s.lang.lang, Some(s), t("error"), t("form_stale")))
}

/// A time as Vietnam sees it: `14:05 29/11/2026`.
fn gmt7(ms: i64) -> String {
    let t = crate::service::datetime(ms).to_offset(time::macros::offset!(+7));
    t.format(time::macros::format_description!("[hour]:[minute] [day]/[month]/[year]")).unwrap_or_default()
}

/// A `YYYY-MM-DD` day as `DD/MM/YYYY`.
fn vn_date(day: &str) -> String {
    let mut p = day.split('-');
    match (p.next(), p.next(), p.next()) {
        (Some(y), Some(m), Some(d)) => format!("{d}/{m}/{y}"),
        _ => day.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_switch_keeps_the_search() {
        assert_eq!(
            switch_url("/console/payments?dossier=A%2F1&lang=vi", Lang::Vi),
            "/console/payments?dossier=A%2F1&lang=en"
        );
        assert_eq!(switch_url("/console", Lang::En), "/console?lang=vi");
    }
}
