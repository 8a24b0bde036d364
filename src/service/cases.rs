//! Cases and day close (DESIGN §8): what needs a person after reconciliation, its
//! resolution with a code and a note, and finance's sign-off of a (source, business day)
//! once every case of it is resolved. Each resolution and close is audited in the same
//! transaction as its write.

use crate::app::AppState;
use crate::service::caller::Principal;
use crate::service::error::typed;
use crate::service::error::Code;
use crate::service::error::Error;
use crate::service::recon::{day_bounds, parse_date, require_reader, require_staff};
use crate::service::rfc3339;
use crate::store::cases::{CaseFilter, CaseStatus, DayRow, ItemCaseRow, Resolution, ReviewCaseRow};
use crate::store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

/// The closed list of resolution codes.
pub const RESOLUTION_CODES: &[&str] =
    &["corrected", "refunded", "accepted_difference", "gateway_error", "bank_error", "duplicate_ignored", "other"];

/// The most cases one listing answers.
const MAX_LIMIT: i64 = 5000;

/// A case as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    /// The run item's id (`rci_...`) or the review's id (`rev_...`; a review opened before
    /// reviews had their own records keeps its payment's id, `pay_...`).
    pub id: String,
    /// `settlement` or `statement` (an item of a run of that kind), or `review` (one review
    /// of a payment; a payment may have several).
    pub kind: String,
    /// `open` or `resolved`.
    pub status: String,
    /// The connector account or statement source; for a review, the connector of the
    /// payment's latest attempt.
    pub source: Option<String>,
    /// The GMT+7 business day: the run's day, or the day the review opened.
    pub date: String,
    /// The item's outcome (`missing_in_file`, ...) or the review's reason (`late_success`, ...).
    pub outcome: String,
    /// What differs, in words.
    pub reason: String,
    pub reference: Option<String>,
    pub amount_file: Option<String>,
    pub amount_feegate: Option<String>,
    pub payment_id: Option<String>,
    pub run_id: Option<String>,
    pub opened_at: String,
    pub resolution: Option<ResolutionView>,
}

/// Who resolved a case, when, and how.
#[derive(Debug, Clone, Serialize)]
pub struct ResolutionView {
    /// One of `corrected`, `refunded`, `accepted_difference`, `gateway_error`,
    /// `bank_error`, `duplicate_ignored`, `other`.
    pub code: String,
    pub note: String,
    pub resolved_by: String,
    pub resolved_at: String,
}

fn resolution(
    code: &Option<String>,
    note: &Option<String>,
    by: &Option<String>,
    at: Option<i64>,
) -> Option<ResolutionView> {
    match (code, note, by, at) {
        (Some(code), Some(note), Some(by), Some(at)) => Some(ResolutionView {
            code: code.clone(),
            note: note.clone(),
            resolved_by: by.clone(),
            resolved_at: rfc3339(at),
        }),
        _ => None,
    }
}

/// The GMT+7 day of a unix-ms instant, `YYYY-MM-DD`.
pub fn gmt7_day(ms: i64) -> String {
    let t = crate::service::datetime(ms).to_offset(time::macros::offset!(+7));
    t.date().format(time::macros::format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

impl From<&ItemCaseRow> for CaseView {
    fn from(r: &ItemCaseRow) -> Self {
        let resolution = resolution(&r.resolution_code, &r.note, &r.resolved_by, r.resolved_at);
        CaseView {
            id: r.id.clone(),
            kind: r.run_kind.clone(),
            status: if resolution.is_some() { "resolved" } else { "open" }.into(),
            source: Some(r.source.clone()),
            date: r.business_date.clone(),
            outcome: r.outcome.clone(),
            reason: r.reason.clone(),
            reference: Some(r.reference.clone()),
            amount_file: r.amount_file.map(|a| a.to_string()),
            amount_feegate: r.amount_feegate.map(|a| a.to_string()),
            payment_id: r.payment_id.clone(),
            run_id: Some(r.run_id.clone()),
            opened_at: rfc3339(r.opened_at),
            resolution,
        }
    }
}

impl From<&ReviewCaseRow> for CaseView {
    fn from(r: &ReviewCaseRow) -> Self {
        let resolution = resolution(&r.resolution_code, &r.note, &r.resolved_by, r.resolved_at);
        let detail = if r.review_detail.is_empty() { String::new() } else { format!(" ({})", r.review_detail) };
        CaseView {
            id: r.review_id.clone(),
            kind: "review".into(),
            status: if resolution.is_some() { "resolved" } else { "open" }.into(),
            source: r.source.clone(),
            date: gmt7_day(r.review_opened_at),
            outcome: r.review_reason.clone(),
            reason: format!(
                "payment {} ({}, {} đồng) needs review: {}{detail}",
                r.id, r.status, r.amount, r.review_reason
            ),
            reference: None,
            amount_file: None,
            amount_feegate: Some(r.amount.to_string()),
            payment_id: Some(r.id.clone()),
            run_id: None,
            opened_at: rfc3339(r.review_opened_at),
            resolution,
        }
    }
}

/// Query of the case list.
#[derive(Debug, Default, Deserialize)]
pub struct CaseQuery {
    /// `open` (the default), `resolved` or `all`.
    pub status: Option<String>,
    /// A connector account or statement source id.
    pub source: Option<String>,
    /// A GMT+7 business day, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// `settlement`, `statement` or `review`.
    pub kind: Option<String>,
    /// At most this many cases (default and maximum 5000).
    pub limit: Option<i64>,
}

/// `GET /v1/cases`: run items first (by day, source, file order), then reviews.
pub async fn list(state: &AppState, who: &Principal, q: &CaseQuery) -> Result<Vec<CaseView>, Error> {
    require_reader(who)?;
    let status = match q.status.as_deref().unwrap_or("open") {
        "open" => CaseStatus::Open,
        "resolved" => CaseStatus::Resolved,
        "all" => CaseStatus::All,
        other => {
            return Err(Error::new(Code::InvalidStatus, format!("status `{other}` is not open, resolved or all"))
                .with_field("status"))
        }
    };
    let kind = q.kind.as_deref();
    if let Some(k) = kind.filter(|k| !["settlement", "statement", "review"].contains(k)) {
        return Err(Error::new(Code::InvalidKind, format!("kind `{k}` is not settlement, statement or review"))
            .with_field("kind"));
    }
    let day = q.date.as_deref().map(parse_date).transpose()?.map(day_bounds);
    let limit = q.limit.unwrap_or(MAX_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::new(Code::InvalidLimit, format!("limit is 1 to {MAX_LIMIT}")).with_field("limit"));
    }
    let f = CaseFilter { status, source: q.source.clone(), date: q.date.clone(), day, limit };
    let mut out: Vec<CaseView> = Vec::new();
    if kind != Some("review") {
        let items = state.store.item_cases(&f).await?;
        out.extend(items.iter().filter(|i| kind.is_none_or(|k| k == i.run_kind)).map(CaseView::from));
    }
    if kind.is_none_or(|k| k == "review") && out.len() < limit as usize {
        out.extend(state.store.review_cases(&f).await?.iter().map(CaseView::from));
    }
    out.truncate(limit as usize);
    Ok(out)
}

/// The resolve request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveCase {
    /// One of `corrected`, `refunded`, `accepted_difference`, `gateway_error`,
    /// `bank_error`, `duplicate_ignored`, `other`.
    pub code: String,
    /// What was found and done, for the next person who reads it (required).
    pub note: String,
}

/// `POST /v1/cases/{id}/resolve`: resolves an open case once; the resolution and its
/// audit entry are written together. A review case is named by its `rev_...` id; a
/// payment's `pay_...` id resolves that payment's oldest open review.
pub async fn resolve(state: &AppState, who: &Principal, id: &str, body: serde_json::Value) -> Result<CaseView, Error> {
    require_staff(who)?;
    let req: ResolveCase = typed(body)?;
    if !RESOLUTION_CODES.contains(&req.code.as_str()) {
        return Err(Error::new(
            Code::InvalidResolutionCode,
            format!("code `{}` is not one of {}", req.code, RESOLUTION_CODES.join(", ")),
        )
        .with_field("code"));
    }
    let note = req.note.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(Error::new(Code::InvalidNote, "note is required, at most 2000 characters").with_field("note"));
    }
    let store = &state.store;
    let actor = who.actor();
    let at = now_ms();
    let mut tx = store.begin().await?;
    let (scope, mut view) = if id.starts_with("rci_") {
        let row = store.item_case(&mut tx, id).await?.ok_or_else(|| Error::not_found("case"))?;
        ("admin".to_owned(), CaseView::from(&row))
    } else if id.starts_with("rev_") || id.starts_with("pay_") {
        let row = store.review_case(&mut tx, id).await?.ok_or_else(|| Error::not_found("case"))?;
        (row.id.clone(), CaseView::from(&row))
    } else {
        return Err(Error::not_found("case"));
    };
    let case_id = view.id.clone();
    let r = Resolution { case_id: &case_id, code: &req.code, note, resolved_by: &actor, resolved_at: at };
    if !store.insert_resolution(&mut tx, &r).await? {
        tx.rollback().await?;
        return Err(Error::new(Code::CaseAlreadyResolved, format!("case {case_id} is already resolved")));
    }
    let data = serde_json::json!({"case_id": case_id, "kind": view.kind, "source": view.source, "date": view.date,
        "outcome": view.outcome, "code": req.code, "note": note});
    store.audit(&mut tx, &scope, "case.resolved", &actor, &data).await?;
    tx.commit().await?;
    tracing::info!(case_id = %case_id, code = %req.code, "case resolved");
    view.status = "resolved".into();
    view.resolution =
        Some(ResolutionView { code: req.code, note: note.to_owned(), resolved_by: actor, resolved_at: rfc3339(at) });
    Ok(view)
}

/// A reconciliation day as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DayView {
    pub source: String,
    pub date: String,
    /// `open` or `closed`.
    pub status: String,
    /// Open cases of this source and day.
    pub open_cases: i64,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
}

fn day_view(source: &str, date: &str, open_cases: i64, closed: Option<&DayRow>) -> DayView {
    DayView {
        source: source.to_owned(),
        date: date.to_owned(),
        status: if closed.is_some() { "closed" } else { "open" }.into(),
        open_cases,
        closed_by: closed.map(|d| d.closed_by.clone()),
        closed_at: closed.map(|d| rfc3339(d.closed_at)),
    }
}

fn known_source(state: &AppState, source: &str) -> Result<(), Error> {
    if state.connectors.get(source).is_some() || state.config.reconciliation.sources.iter().any(|s| s.id == source) {
        return Ok(());
    }
    Err(Error::new(Code::UnknownSource, format!("no connector or reconciliation source {source} is configured"))
        .with_field("source"))
}

/// `POST /v1/reconciliation/days/{source}/{date}/close`: 409 `no_run` when nothing was
/// imported for the day, 409 `open_cases` while a case of it is open; closing a closed
/// day answers its record again.
pub async fn close_day(state: &AppState, who: &Principal, source: &str, date: &str) -> Result<DayView, Error> {
    require_staff(who)?;
    known_source(state, source)?;
    let day = day_bounds(parse_date(date)?);
    let store = &state.store;
    let mut tx = store.begin().await?;
    // Imports of this day wait for the close (and it for them): an import either lands
    // before the count below or sees the day closed.
    if let Some(d) = store.lock_day(&mut tx, source, date).await? {
        tx.rollback().await?;
        return Ok(day_view(source, date, 0, Some(&d)));
    }
    if !store.has_run(&mut tx, source, date).await? {
        tx.rollback().await?;
        return Err(Error::new(Code::NoRun, format!("nothing was imported for {source} on {date}")));
    }
    let open = store.open_case_count(&mut tx, source, date, day).await?;
    if open > 0 {
        tx.rollback().await?;
        return Err(Error::new(
            Code::OpenCases,
            format!("{open} case(s) of {source} on {date} are open; resolve them first"),
        ));
    }
    let row = DayRow {
        source: source.to_owned(),
        business_date: date.to_owned(),
        closed_by: who.actor(),
        closed_at: now_ms(),
    };
    // Under the day's lock no other close can be between the check above and this insert.
    store.insert_closed_day(&mut tx, &row).await?;
    let data = serde_json::json!({"source": source, "date": date});
    store.audit(&mut tx, "admin", "reconciliation.day_closed", &row.closed_by, &data).await?;
    tx.commit().await?;
    tracing::info!(source, date, "reconciliation day closed");
    Ok(day_view(source, date, 0, Some(&row)))
}

/// `GET /v1/reconciliation/days`: the days that have a run, newest first (at most 100),
/// with their open cases and whether they are closed.
pub async fn list_days(
    state: &AppState,
    who: &Principal,
    source: Option<&str>,
    date: Option<&str>,
) -> Result<Vec<DayView>, Error> {
    require_reader(who)?;
    if let Some(d) = date {
        parse_date(d)?;
    }
    let store = &state.store;
    let mut out = Vec::new();
    for (source, date) in store.recon_day_list(source, date, 100).await? {
        let day = day_bounds(parse_date(&date)?);
        let closed = store.closed_day(&source, &date).await?;
        let open = store.open_case_count_now(&source, &date, day).await?;
        out.push(day_view(&source, &date, open, closed.as_ref()));
    }
    Ok(out)
}

fn day_closed(source: &str, date: &str, d: &DayRow) -> Error {
    Error::new(
        Code::DayClosed,
        format!("{source} on {date} was closed by {} at {}; nothing was imported", d.closed_by, rfc3339(d.closed_at)),
    )
}

/// Refuses an import into a closed day with 409 `day_closed` before its file is parsed (a
/// cheap early answer; [`lock_open_day`] inside the import's transaction is the guard).
pub async fn refuse_closed_day(state: &AppState, source: &str, date: &str) -> Result<(), Error> {
    match state.store.closed_day(source, date).await? {
        Some(d) => Err(day_closed(source, date, &d)),
        None => Ok(()),
    }
}

/// In an import's transaction, before its run is written: locks the day against a
/// concurrent close and refuses with 409 `day_closed` if it is closed.
pub async fn lock_open_day(state: &AppState, tx: &mut Tx, source: &str, date: &str) -> Result<(), Error> {
    match state.store.lock_day(tx, source, date).await? {
        Some(d) => Err(day_closed(source, date, &d)),
        None => Ok(()),
    }
}
