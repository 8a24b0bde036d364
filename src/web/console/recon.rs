//! `GET /console/recon` (upload form and runs per source and day), `POST /console/recon`
//! (a multipart upload, reconciled by `service::recon::import_upload` as the API's is) and
//! `GET /console/recon/runs/{id}` (a run's counts per outcome and its items by outcome,
//! paginated). Finance and admin upload; a viewer reads; an agency-bound user is refused by
//! the service (runs are per source, not per agency).

use super::pages::{enc, OptionCtx};
use super::{frame, gmt7, i18n, render, vn_date, Staff};
use crate::api::body::MAX_UPLOAD;
use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::domain::recon::Outcome;
use crate::service::caller::Role;
use crate::service::error::{Code, Error};
use crate::service::recon::{self as svc, ItemView, RunView, Upload};
use crate::web::i18n::Lang;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use minijinja::context;
use serde::{Deserialize, Serialize};

/// Items of a run shown per page.
const ITEMS_PER_PAGE: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/recon", get(show).post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD)))
        .route("/console/recon/runs/{id}", get(run))
}

/// `resp` with the security CSP plus the hashes of `template`'s inline scripts (they hold no
/// template expression, so the page carries them byte for byte) and `connect-src 'self'`
/// for the upload's XMLHttpRequest: the progressive enhancement runs, nothing else does.
pub(super) fn with_script(mut resp: Response, template: &str) -> Response {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let hashes: Vec<String> = template
        .split("<script>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</script>").map(|(js, _)| js))
        .map(|js| {
            format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(js.as_bytes())))
        })
        .collect();
    let csp = format!("{}; script-src {}; connect-src 'self'", crate::web::headers::CSP, hashes.join(" "));
    if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
        resp.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The upload page's template (its script's hash goes into the page's CSP).
const RECON_HTML: &str = include_str!("../../../templates/console/recon.html");

/// An agency-bound user's refusal, in words (the services refuse them too): runs and cases
/// are per source, not per agency.
pub(super) fn scoped_refusal(state: &AppState, s: &Staff) -> Option<Response> {
    s.who.agencies.is_some().then(|| {
        let lang = s.lang.lang;
        super::message(
            state,
            StatusCode::FORBIDDEN,
            lang,
            Some(s),
            i18n::text(lang, "error"),
            i18n::text(lang, "per_source"),
        )
    })
}

/// An outcome (or review reason) in words.
pub(super) fn outcome_label(lang: Lang, outcome: &str) -> String {
    let t = i18n::text(lang, &format!("oc_{outcome}"));
    if t.is_empty() {
        outcome.to_owned()
    } else {
        t.to_owned()
    }
}

/// The sources as select options (`chosen` selected).
pub(super) fn source_options(state: &AppState, chosen: &str) -> Vec<OptionCtx> {
    svc::sources(state)
        .into_iter()
        .map(|(id, name, format)| OptionCtx {
            selected: id == chosen,
            label: format!("{name} ({id}, {format})"),
            value: id,
        })
        .collect()
}

/// A `YYYY-MM-DD` day from a form, or nothing when empty.
pub(super) fn opt(v: &str) -> Option<&str> {
    Some(v.trim()).filter(|v| !v.is_empty())
}

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct RunsQuery {
    #[serde(default)]
    source: String,
    #[serde(default)]
    date: String,
    /// `new` or `same` after an upload.
    #[serde(default)]
    done: String,
}

#[derive(Serialize)]
struct RunCtx {
    href: String,
    date: String,
    source: String,
    version: i64,
    kind: String,
    lines: i64,
    matched: i64,
    discrepancies: i64,
    by: String,
    at: String,
}

fn discrepancies(r: &RunView) -> i64 {
    let c = &r.counts;
    c.missing_in_file + c.missing_in_feegate + c.amount_mismatch + c.status_mismatch + c.duplicate
}

fn run_ctx(lang: Lang, r: &RunView) -> RunCtx {
    let at = time::OffsetDateTime::parse(&r.created_at, &time::format_description::well_known::Rfc3339)
        .map(|t| gmt7((t.unix_timestamp_nanos() / 1_000_000) as i64))
        .unwrap_or_else(|_| r.created_at.clone());
    RunCtx {
        href: format!("/console/recon/runs/{}", enc(&r.id)),
        date: vn_date(&r.date),
        source: r.source.clone(),
        version: r.version,
        kind: i18n::text(lang, &format!("k_{}", r.kind)).to_owned(),
        lines: r.lines,
        matched: r.counts.matched,
        discrepancies: discrepancies(r),
        by: r.created_by.clone(),
        at,
    }
}

/// The reconciliation page, with an upload's refusal (`error`) when there is one.
async fn page(state: &AppState, s: &Staff, q: &RunsQuery, status: StatusCode, error: Option<String>) -> Response {
    if let Some(r) = scoped_refusal(state, s) {
        return r;
    }
    let lang = s.lang.lang;
    let (runs, list_error) = match svc::list(state, &s.who, opt(&q.source), opt(&q.date)).await {
        Ok(runs) => (runs, None),
        Err(e) if e.code == Code::InvalidDate => (Vec::new(), Some(e.message)),
        Err(e) => return super::staff_error(state, s, &e),
    };
    let runs: Vec<RunCtx> = runs.iter().map(|r| run_ctx(lang, r)).collect();
    let today = crate::service::cases::gmt7_day(crate::service::checkout::now_ms());
    let f = frame(state, lang, &s.path, Some(s), "recon");
    let ctx = context! {
        title => i18n::text(lang, "recon_title"), runs, q => q.clone(), today,
        sources => source_options(state, &q.source), upload_sources => source_options(state, ""),
        may_upload => s.who.role != Role::Viewer, max_mb => MAX_UPLOAD / (1024 * 1024),
        error => error.or(list_error), uploaded_new => q.done == "new", uploaded_same => q.done == "same",
    };
    with_script(render(state, status, "console/recon.html", f, s.lang, ctx), RECON_HTML)
}

async fn show(State(state): State<AppState>, s: Staff, Query(q): Query<RunsQuery>) -> Response {
    page(&state, &s, &q, StatusCode::OK, None).await
}

/// The upload form's fields; the CSRF token is one of them.
struct Form {
    csrf: String,
    up: Upload,
    rerun: bool,
    file_name: String,
    /// `step=preview`: show the parsed rows first (always so for a workbook).
    preview: bool,
}

async fn read_form(mut form: Multipart) -> Result<Form, Error> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::new(Code::BodyTooLarge, format!("the file is larger than {MAX_UPLOAD} bytes"))
        } else {
            Error::new(Code::InvalidMultipart, format!("the form cannot be read: {}", e.body_text()))
        }
    };
    let mut f =
        Form { csrf: String::new(), up: Upload::default(), rerun: false, file_name: String::new(), preview: false };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            f.file_name = field.file_name().unwrap_or("").chars().filter(|c| !c.is_control()).take(200).collect();
            f.up.bytes = field.bytes().await.map_err(bad)?.to_vec();
            continue;
        }
        let text = field.text().await.map_err(bad)?.trim().to_owned();
        match name.as_str() {
            "csrf" => f.csrf = text,
            "source" => f.up.source = text,
            "date" => f.up.date = Some(text).filter(|t| !t.is_empty()),
            "rerun" => f.rerun = text == "1",
            "step" => f.preview = text == "preview",
            _ => {}
        }
    }
    Ok(f)
}

async fn upload(State(state): State<AppState>, s: Staff, form: Multipart) -> Response {
    if let Some(r) = scoped_refusal(&state, &s) {
        return r;
    }
    // Refuse a role that may not before reading what may be megabytes.
    if let Err(e) = svc::require_staff(&s.who) {
        return super::staff_error(&state, &s, &e);
    }
    let q = RunsQuery::default();
    let f = match read_form(form).await {
        Ok(v) => v,
        Err(e) => return page(&state, &s, &q, crate::api::error::status(e.code), Some(e.message)).await,
    };
    if let Err(r) = super::check_csrf(&state, &s, &f.csrf) {
        return r;
    }
    if f.preview || crate::domain::sheet::is_workbook(&f.up.bytes) {
        return super::preview::keep(&state, &s, f.up, f.rerun, f.file_name).await;
    }
    import(&state, &s, f.up, f.rerun).await
}

/// Imports an upload (through `service::recon::import_upload`, as the API's) and answers 303
/// to its run, or the upload page with the refusal.
pub(super) async fn import(state: &AppState, s: &Staff, up: Upload, rerun: bool) -> Response {
    match svc::import_upload(state, &s.who, up, rerun).await {
        Ok((created, run)) => {
            let done = if created { "new" } else { "same" };
            Redirect::to(&format!("/console/recon/runs/{}?done={done}", enc(&run.id))).into_response()
        }
        Err(e) if e.is_server_fault() || e.code == Code::Forbidden => super::staff_error(state, s, &e),
        Err(e) => upload_refused(state, s, &e).await,
    }
}

/// The upload page with a refusal of an upload in words.
pub(super) async fn upload_refused(state: &AppState, s: &Staff, e: &Error) -> Response {
    page(state, s, &RunsQuery::default(), crate::api::error::status(e.code), Some(e.message.clone())).await
}

#[derive(Deserialize, Default)]
pub struct RunQuery {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    done: String,
}

#[derive(Serialize)]
struct CountCtx {
    label: String,
    count: i64,
    href: String,
    current: bool,
}

#[derive(Serialize)]
struct ItemCtx {
    line: String,
    reference: String,
    kind: String,
    amount_file: String,
    amount_feegate: String,
    outcome: String,
    outcome_code: String,
    reason: String,
    /// The service's own sentence (English), beside a Vietnamese reason.
    reason_detail: String,
    payment_href: Option<String>,
}

/// An item's finding in the page's language. The service's reason is an English sentence
/// (the API's, naming amounts and statuses); the item's structured fields (outcome, kind,
/// both amounts, both statuses) say the same in Vietnamese. English pages show the
/// service's sentence as it is.
fn reason_words(lang: Lang, i: &ItemView) -> String {
    if lang == Lang::En {
        return i.reason.clone();
    }
    let what = match i.kind.as_str() {
        "pay" => "thanh toán",
        "refund" => "hoàn tiền",
        "credit" => "ghi có",
        "debit" => "ghi nợ",
        _ => "giao dịch",
    };
    let (file, ours) = (money(&i.amount_file), money(&i.amount_feegate));
    let status = |s: &Option<String>| {
        s.as_deref()
            .map(|s| {
                let t = i18n::text(lang, &format!("st_{s}"));
                if t.is_empty() {
                    s.to_owned()
                } else {
                    t.to_owned()
                }
            })
            .unwrap_or_else(|| "—".into())
    };
    match i.outcome.as_str() {
        "matched" => String::new(),
        "amount_mismatch" => {
            let diff = match (&i.amount_file, &i.amount_feegate) {
                (Some(a), Some(b)) => match (a.parse::<i64>(), b.parse::<i64>()) {
                    (Ok(a), Ok(b)) => format!(" (chênh lệch {})", format_vnd(a - b)),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            format!("Số tiền {what}: trong tệp {file}, trong hệ thống {ours}{diff}.")
        }
        "status_mismatch" => format!(
            "Trạng thái khác nhau: trong tệp «{}», trong hệ thống «{}»{}.",
            status(&i.status_file),
            status(&i.status_feegate),
            if ours.is_empty() { String::new() } else { format!("; số tiền {ours}") }
        ),
        "missing_in_file" => format!("Hệ thống có khoản {what} {ours} nhưng tệp không có."),
        "missing_in_feegate" => format!("Tệp có khoản {what} {file} mà hệ thống không có hoặc không nhận ra."),
        "duplicate" => format!("Khoản {what} {file} xuất hiện nhiều lần trong tệp."),
        _ => i.reason.clone(),
    }
}

fn money(v: &Option<String>) -> String {
    v.as_deref().and_then(|a| a.parse::<i64>().ok()).map(format_vnd).unwrap_or_default()
}

async fn run(State(state): State<AppState>, s: Staff, Path(id): Path<String>, Query(q): Query<RunQuery>) -> Response {
    if let Some(r) = scoped_refusal(&state, &s) {
        return r;
    }
    let lang = s.lang.lang;
    let run = match svc::get(&state, &s.who, &id).await {
        Ok(r) => r,
        Err(e) => return super::staff_error(&state, &s, &e),
    };
    let outcome = opt(&q.outcome);
    let items = match svc::items(&state, &s.who, &id, outcome).await {
        Ok(i) => i,
        Err(e) => return super::staff_error(&state, &s, &e),
    };
    let base = format!("/console/recon/runs/{}", enc(&id));
    let c = &run.counts;
    let by_outcome =
        [c.matched, c.missing_in_file, c.missing_in_feegate, c.amount_mismatch, c.status_mismatch, c.duplicate];
    let mut counts = vec![CountCtx {
        label: i18n::text(lang, "all_outcomes").into(),
        count: by_outcome.iter().sum(),
        href: base.clone(),
        current: outcome.is_none(),
    }];
    counts.extend(Outcome::ALL.iter().zip(by_outcome).map(|(o, count)| CountCtx {
        label: outcome_label(lang, o.as_str()),
        count,
        href: format!("{base}?outcome={}", o.as_str()),
        current: outcome == Some(o.as_str()),
    }));
    let pages = items.len().div_ceil(ITEMS_PER_PAGE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let shown: Vec<ItemCtx> = items
        .iter()
        .skip((page - 1) * ITEMS_PER_PAGE)
        .take(ITEMS_PER_PAGE)
        .map(|i| ItemCtx {
            line: i.line.map(|l| l.to_string()).unwrap_or_default(),
            reference: i.reference.clone(),
            kind: i.kind.clone(),
            amount_file: money(&i.amount_file),
            amount_feegate: money(&i.amount_feegate),
            outcome: outcome_label(lang, &i.outcome),
            outcome_code: i.outcome.clone(),
            reason: reason_words(lang, i),
            reason_detail: if lang == Lang::En { String::new() } else { i.reason.clone() },
            payment_href: i.payment_id.as_ref().map(|p| format!("/console/payments/{}", enc(p))),
        })
        .collect();
    let page_href = |n: usize| match outcome {
        Some(o) => format!("{base}?outcome={o}&page={n}"),
        None => format!("{base}?page={n}"),
    };
    let title = format!("{} {} · {} · {}", i18n::text(lang, "run_title"), run.version, run.source, vn_date(&run.date));
    let f = frame(&state, lang, &s.path, Some(&s), "recon");
    let ctx = context! {
        title, run => run_ctx(lang, &run), counts, items => shown, page, pages,
        prev_href => (page > 1).then(|| page_href(page - 1)), next_href => (page < pages).then(|| page_href(page + 1)),
        uploaded_new => q.done == "new", uploaded_same => q.done == "same",
        cases_href => format!("/console/cases?source={}&date={}", enc(&run.source), enc(&run.date)),
    };
    render(&state, StatusCode::OK, "console/run.html", f, s.lang, ctx)
}
