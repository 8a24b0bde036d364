//! `GET/POST /console/sign-in` and `POST /console/sign-out`. The sign-in form carries a
//! token of the server's form key (as the checkout's does), so that another site cannot
//! sign a browser in to an account of its choosing; unknown user and wrong password get
//! the same answer; passwords are never logged.

use super::{frame, i18n, message, render, PageLang, Staff};
use crate::app::AppState;
use crate::service::staff::{self as svc, Refused};
use axum::extract::{Query, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;

/// The form-token subject of the sign-in form (the checkout's are payment ids).
const SIGN_IN_SUBJECT: &str = "console-sign-in";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/sign-in", get(show).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/signed-out", get(signed_out))
}

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    expired: Option<String>,
}

/// Where to go after signing in: a console path of ours, never another site.
fn safe_next(next: &str) -> String {
    let ok = next.starts_with("/console") && !next.starts_with("//") && !next.contains('\\') && next.len() <= 512;
    if ok && !next.starts_with("/console/sign-") {
        next.to_owned()
    } else {
        "/console".into()
    }
}

fn now_secs() -> i64 {
    crate::service::checkout::now_ms() / 1000
}

async fn page(
    state: &AppState,
    lang: PageLang,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<String>,
) -> Response {
    let token = match state.pages.form_key(state).await {
        Ok(key) => crate::web::form::token(key, SIGN_IN_SUBJECT, now_secs()),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let path =
        format!("/console/sign-in?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
    let f = frame(state, lang.lang, &path, None, "");
    let title = i18n::text(lang.lang, "sign_in");
    render(
        state,
        status,
        "console/signin.html",
        f,
        lang,
        context! { title, next, username, error, form_token => token },
    )
}

async fn show(
    State(state): State<AppState>,
    lang: PageLang,
    headers: axum::http::HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    // Already signed in: straight on.
    if let Some(sid) = super::cookie(&headers, super::SESSION_COOKIE) {
        if let Ok(Some(_)) = svc::session(&state, sid).await {
            return Redirect::to(&safe_next(&q.next)).into_response();
        }
    }
    let error = q.expired.is_some().then(|| i18n::text(lang.lang, "expired").to_owned());
    page(&state, lang, StatusCode::OK, &safe_next(&q.next), "", error).await
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    form_token: String,
}

async fn sign_in(State(state): State<AppState>, lang: PageLang, Form(f): Form<SignInForm>) -> Response {
    let next = safe_next(&f.next);
    let t = |k| i18n::text(lang.lang, k);
    let key = match state.pages.form_key(&state).await {
        Ok(k) => k,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if !crate::web::form::verify(key, SIGN_IN_SUBJECT, &f.form_token, now_secs()) {
        tracing::warn!("console sign-in without a valid form token refused");
        return page(&state, lang, StatusCode::FORBIDDEN, &next, &f.username, Some(t("form_stale").into())).await;
    }
    match svc::sign_in(&state, &f.username, &f.password).await {
        Ok(Ok(signed)) => {
            tracing::info!(staff = %signed.who.key_id, "console sign-in");
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut().append(header::SET_COOKIE, super::session_cookie(&state, &signed.session_id));
            r
        }
        Ok(Err(Refused::Wrong)) => {
            tracing::info!("console sign-in refused: wrong username or password");
            page(&state, lang, StatusCode::UNAUTHORIZED, &next, &f.username, Some(t("wrong").into())).await
        }
        Ok(Err(Refused::Locked { until })) => {
            tracing::warn!("console sign-in refused: username locked");
            let text = format!("{} {}.", t("locked"), super::gmt7(until));
            page(&state, lang, StatusCode::TOO_MANY_REQUESTS, &next, &f.username, Some(text)).await
        }
        Err(e) => super::error_page(&state, lang.lang, &e),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(state): State<AppState>, s: Staff, Form(f): Form<CsrfForm>) -> Response {
    if let Err(r) = super::check_csrf(&state, &s, &f.csrf) {
        return r;
    }
    if let Err(e) = svc::sign_out(&state, &s.who, &s.session_id).await {
        return super::staff_error(&state, &s, &e);
    }
    tracing::info!(staff = %s.who.key_id, "console sign-out");
    let mut r = Redirect::to("/console/signed-out").into_response();
    r.headers_mut().append(header::SET_COOKIE, super::clear_session_cookie(&state));
    r
}

async fn signed_out(State(state): State<AppState>, lang: PageLang) -> Response {
    let t = |k| i18n::text(lang.lang, k);
    message(&state, StatusCode::OK, lang.lang, None, t("sign_out"), t("signed_out"))
}
