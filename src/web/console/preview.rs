//! The preview before an import: `POST /console/recon` with `step=preview` (or any workbook)
//! keeps the file (`service::uploads`, bound to the session, 30 minutes) and answers 303 to
//! `GET /console/recon/preview/{id}`, which shows the first rows as the import would read
//! them (`service::spreadsheet::preview`), how many there are, or why the file cannot be
//! read; `POST` there imports it (`action=import`) or drops it (`action=cancel`). Nothing is
//! written before the import.

use super::pages::enc;
use super::recon::{import, scoped_refusal, upload_refused};
use super::{frame, i18n, render, vn_date, Staff};
use crate::app::AppState;
use crate::service::error::{Code, Error};
use crate::service::recon::{self as recon_svc, Upload};
use crate::service::spreadsheet::{self, Preview, PREVIEW_ROWS};
use crate::service::uploads::{self, Waiting};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use minijinja::context;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/recon/preview/{id}", get(show).post(confirm))
}

/// Keeps an upload for its preview and sends the browser to it.
pub(super) async fn keep(state: &AppState, s: &Staff, up: Upload, rerun: bool, file_name: String) -> Response {
    let refused = |e: Error| async move { upload_refused(state, s, &e).await };
    if up.source.is_empty() {
        return refused(Error::new(Code::MissingField, "the form needs a source").with_field("source")).await;
    }
    if recon_svc::source_format(state, &up.source).is_none() {
        let m = format!("no connector or reconciliation source {} is configured", up.source);
        return refused(Error::new(Code::UnknownSource, m).with_field("source")).await;
    }
    if up.bytes.is_empty() {
        return refused(Error::new(Code::MissingField, "the form needs a non-empty file").with_field("file")).await;
    }
    let w = Waiting::new(up.source, up.date, rerun, file_name);
    match uploads::put(&s.session_id, w, &up.bytes).await {
        Ok(id) => Redirect::to(&format!("/console/recon/preview/{}", enc(&id))).into_response(),
        Err(e) if e.is_server_fault() && e.code != Code::Unavailable => super::staff_error(state, s, &e),
        Err(e) => refused(e).await,
    }
}

/// Column titles of a preview, by its kind.
fn columns(kind: &str) -> &'static [&'static str] {
    if kind == "settlement" {
        &["pv_line", "reference", "pv_txn", "kind", "pv_amount", "pv_fee", "pv_status", "pv_time"]
    } else {
        &["pv_line", "pv_booking", "pv_direction", "pv_amount", "reference", "pv_content"]
    }
}

async fn show(State(state): State<AppState>, s: Staff, Path(id): Path<String>) -> Response {
    if let Some(r) = scoped_refusal(&state, &s) {
        return r;
    }
    let (w, bytes) = match uploads::get(&s.session_id, &id).await {
        Ok(v) => v,
        Err(e) => return upload_refused(&state, &s, &e).await,
    };
    // Parsing a large file is CPU work: off the async workers.
    let (st, who, source) = (state.clone(), s.who.clone(), w.source.clone());
    let p: Result<Preview, Error> =
        tokio::task::spawn_blocking(move || spreadsheet::preview(&st, &who, &source, bytes))
            .await
            .unwrap_or_else(|e| Err(Error::internal(e)));
    let p = match p {
        Ok(p) => p,
        Err(e) if e.code == Code::Forbidden || e.is_server_fault() => return super::staff_error(&state, &s, &e),
        Err(e) => return upload_refused(&state, &s, &e).await,
    };
    let lang = s.lang.lang;
    let heads: Vec<&str> = columns(p.kind).iter().map(|k| i18n::text(lang, k)).collect();
    let numeric: Vec<bool> = columns(p.kind).iter().map(|k| matches!(*k, "pv_line" | "pv_amount" | "pv_fee")).collect();
    let f = frame(&state, lang, &s.path, Some(&s), "recon");
    let ctx = context! {
        title => i18n::text(lang, "preview_title"), id, source => w.source, date => w.date.as_deref().map(vn_date),
        file_name => w.file_name, size_kb => w.size.div_ceil(1024), rerun => w.rerun,
        format => p.format, spreadsheet => p.spreadsheet, heads, numeric, rows => p.rows, total => p.total,
        shown => p.total.min(PREVIEW_ROWS), error => p.error,
        action => format!("/console/recon/preview/{}", enc(&id)),
    };
    super::recon::with_script(
        render(&state, StatusCode::OK, "console/preview.html", f, s.lang, ctx),
        include_str!("../../../templates/console/preview.html"),
    )
}

async fn confirm(State(state): State<AppState>, s: Staff, Path(id): Path<String>, body: Bytes) -> Response {
    if let Some(r) = scoped_refusal(&state, &s) {
        return r;
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let one = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    if let Err(r) = super::check_csrf(&state, &s, one("csrf")) {
        return r;
    }
    if let Err(e) = recon_svc::require_staff(&s.who) {
        return super::staff_error(&state, &s, &e);
    }
    if one("action") == "cancel" {
        uploads::discard(&s.session_id, &id).await;
        return Redirect::to("/console/recon").into_response();
    }
    let (w, bytes) = match uploads::get(&s.session_id, &id).await {
        Ok(v) => v,
        Err(e) => return upload_refused(&state, &s, &e).await,
    };
    let up = Upload { source: w.source, date: w.date, format: None, bytes };
    let answer = import(&state, &s, up, w.rerun).await;
    // Imported or refused (nothing written then, and the page says why): either way done.
    uploads::discard(&s.session_id, &id).await;
    answer
}
