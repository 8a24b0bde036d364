//! Gateway settlement reconciliation: import a connector's settlement file for a GMT+7
//! business day, match it against our records, and store the run with one item per line
//! (and per record the file lacks). The same file twice gives the same run; `rerun`
//! makes a new version and keeps the earlier ones as they were.

use crate::app::AppState;
use crate::domain::ids::new_id;
use crate::domain::recon::{counts, Item, Lines, Matcher, Outcome, Records};
use crate::service::caller::{Principal, Role};
use crate::service::error::typed;
use crate::service::error::Code;
use crate::service::error::Error;
use crate::service::rfc3339;
use crate::store::now_ms;
use crate::store::recon::{ItemRow, RunRow};
use crate::store::StoreError;
use base64::Engine;
use feegate_connector::SettlementError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The import request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRun {
    /// The connector account id whose settlement file this is.
    pub source: String,
    /// The GMT+7 business day, `YYYY-MM-DD` (required for a settlement file; a statement's
    /// defaults to its closing balance's day).
    pub date: Option<String>,
    /// The file's text (CSV).
    pub content: Option<String>,
    /// Or the file's bytes in standard base64.
    pub content_base64: Option<String>,
}

/// How many items of a run have each outcome.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeCounts {
    pub matched: i64,
    pub missing_in_file: i64,
    pub missing_in_feegate: i64,
    pub amount_mismatch: i64,
    pub status_mismatch: i64,
    pub duplicate: i64,
}

/// A reconciliation run as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: String,
    pub source: String,
    pub date: String,
    pub file_sha256: String,
    /// 1 for the first run of its source and day; each `rerun` of that day (the same file or
    /// a corrected one) is the next.
    pub version: i64,
    pub status: String,
    /// Lines in the file (header excluded).
    pub lines: i64,
    pub counts: OutcomeCounts,
    pub created_by: String,
    pub created_at: String,
    /// `settlement` (a gateway's file) or `statement` (an agency account's bank statement).
    pub kind: String,
    /// The agency account of a statement run.
    pub account_id: Option<String>,
    /// A statement run's statements in file order, each with what became of it (empty for a
    /// settlement run): one bad statement of a file does not refuse the others.
    pub statements: Vec<StatementSummary>,
    /// The corrections the run queued (`GET /v1/reconciliation/runs/{id}` only): how many the
    /// worker has still to do and how many are done; each result is in its item's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrections: Option<CorrectionCounts>,
}

/// A run's queued corrections.
#[derive(Debug, Clone, Serialize)]
pub struct CorrectionCounts {
    pub pending: i64,
    pub done: i64,
}

/// One statement of an imported statement file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatementSummary {
    /// The bank's statement reference (camt `Stmt/Id`; MT940 `:20:`/`:28C:`), as far as read.
    pub statement_id: String,
    /// The account the statement names, as far as read.
    pub account: String,
    /// `imported` (its entries are the run's items), `refused` (it could not be read or does
    /// not add up: `code` and `reason` say why) or `other_account` (not this source's).
    pub status: String,
    /// ISO 4217 code of an imported statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Booked entries of an imported statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<i64>,
    /// Why a statement was refused: the stable error code…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// …and the reason in words, naming the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&RunRow> for RunView {
    fn from(r: &RunRow) -> Self {
        RunView {
            id: r.id.clone(),
            source: r.source.clone(),
            date: r.business_date.clone(),
            file_sha256: r.file_sha256.clone(),
            version: r.version,
            status: r.status.clone(),
            lines: r.lines,
            counts: OutcomeCounts {
                matched: r.matched,
                missing_in_file: r.missing_in_file,
                missing_in_feegate: r.missing_in_feegate,
                amount_mismatch: r.amount_mismatch,
                status_mismatch: r.status_mismatch,
                duplicate: r.duplicate,
            },
            created_by: r.created_by.clone(),
            created_at: rfc3339(r.created_at),
            kind: r.kind.clone(),
            account_id: r.account_id.clone(),
            statements: r.statements.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default(),
            corrections: None,
        }
    }
}

/// One item of a run.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    pub id: String,
    /// The file line (header is line 1); absent for a record the file lacks.
    pub line: Option<i64>,
    pub reference: String,
    pub gateway_txn: Option<String>,
    /// `pay` or `refund`.
    pub kind: String,
    pub amount_file: Option<String>,
    pub amount_feegate: Option<String>,
    pub status_file: Option<String>,
    pub status_feegate: Option<String>,
    /// `matched`, `missing_in_file`, `missing_in_feegate`, `amount_mismatch`,
    /// `status_mismatch` or `duplicate`.
    pub outcome: String,
    /// What differs, in words (empty when matched).
    pub reason: String,
    pub payment_id: Option<String>,
    pub attempt_id: Option<String>,
    pub refund_id: Option<String>,
    /// A statement entry's transfer content as booked.
    pub content: Option<String>,
    /// A statement entry's booking day.
    pub booking_date: Option<String>,
    /// The connector whose settlement batch a statement credit is.
    pub batch_source: Option<String>,
    /// The ISO 4217 currency of a statement entry's amounts (absent: the payment's).
    pub currency: Option<String>,
}

impl From<&ItemRow> for ItemView {
    fn from(i: &ItemRow) -> Self {
        ItemView {
            id: i.id.clone(),
            line: i.line,
            reference: i.reference.clone(),
            gateway_txn: i.gateway_txn.clone(),
            kind: i.kind.clone(),
            amount_file: i.amount_file.map(|a| a.to_string()),
            amount_feegate: i.amount_feegate.map(|a| a.to_string()),
            status_file: i.status_file.clone(),
            status_feegate: i.status_feegate.clone(),
            outcome: i.outcome.clone(),
            reason: i.reason.clone(),
            payment_id: i.payment_id.clone(),
            attempt_id: i.attempt_id.clone(),
            refund_id: i.refund_id.clone(),
            content: i.content.clone(),
            booking_date: i.booking_date.clone(),
            batch_source: i.batch_source.clone(),
            currency: i.currency.clone(),
        }
    }
}

const STAFF: &[Role] = &[Role::Finance, Role::Admin];
/// Who may read runs: finance, admin and the console's viewer (no API key is a viewer).
const READERS: &[Role] = &[Role::Finance, Role::Admin, Role::Viewer];

pub fn parse_date(s: &str) -> Result<time::Date, Error> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| Error::new(Code::InvalidDate, "date must be a day as YYYY-MM-DD").with_field("date"))
}

/// `[start, end)` of a GMT+7 business day in unix ms.
pub fn day_bounds(day: time::Date) -> (i64, i64) {
    let start = day.midnight().assume_offset(time::macros::offset!(+7)).unix_timestamp() * 1000;
    (start, start + 86_400_000)
}

fn file_bytes(req: &ImportRun) -> Result<Vec<u8>, Error> {
    match (&req.content, &req.content_base64) {
        (Some(text), None) => Ok(text.as_bytes().to_vec()),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| {
            Error::new(Code::InvalidBase64, "content_base64 is not standard base64").with_field("content_base64")
        }),
        _ => Err(Error::new(Code::MissingField, "send the file as content or content_base64, not both")
            .with_field("content")),
    }
}

fn settlement_error(e: SettlementError) -> Error {
    match e {
        SettlementError::NotSupported { .. } => {
            Error::new(Code::SettlementNotSupported, "this connector has no settlement file").with_field("source")
        }
        other => Error::new(Code::InvalidSettlementFile, format!("the settlement file is unusable: {other}"))
            .with_field("content"),
    }
}

/// `POST /v1/reconciliation/runs` with a JSON body: `(true, run)` when a run was made,
/// `(false, run)` when this file was already reconciled for that source and day (and no
/// `rerun`).
pub async fn import(
    state: &AppState,
    who: &Principal,
    body: serde_json::Value,
    rerun: bool,
) -> Result<(bool, RunView), Error> {
    require_staff(who)?;
    let req: ImportRun = typed(body)?;
    let bytes = file_bytes(&req)?;
    import_file(state, &who.actor(), &req.source, req.date.as_deref(), bytes, rerun).await
}

/// A file uploaded as `multipart/form-data` (fields `source`, `date`, `format`, `file`).
#[derive(Debug, Default)]
pub struct Upload {
    pub source: String,
    pub date: Option<String>,
    /// When given, must be the source's format (a guard against the wrong file).
    pub format: Option<String>,
    pub bytes: Vec<u8>,
}

/// Finance and admin bound to no agency only: checked before a handler reads an upload.
pub fn require_staff(who: &Principal) -> Result<(), Error> {
    who.require(STAFF)?;
    who.require_every_agency()
}

/// Who may read runs and cases: finance, admin or viewer, bound to no agency.
pub fn require_reader(who: &Principal) -> Result<(), Error> {
    who.require(READERS)?;
    who.require_every_agency()
}

/// The sources a file can be imported for: each connector account (its settlement file)
/// and each configured statement source, as (id, display name, format).
pub fn sources(state: &AppState) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = state
        .connectors
        .all()
        .map(|a| (a.connector.id().to_owned(), a.connector.display_name().to_owned(), "settlement".to_owned()))
        .collect();
    for s in state.config.reconciliation.sources.iter().filter(|s| s.format != "settlement") {
        if !out.iter().any(|(id, _, _)| *id == s.id) {
            out.push((s.id.clone(), s.id.clone(), s.format.clone()));
        }
    }
    out
}

/// The format of a source's files: `settlement` for a connector account, else the
/// configured source's (`camt053`, `mt940`, `csv`).
pub fn source_format<'a>(state: &'a AppState, source: &str) -> Option<&'a str> {
    if state.connectors.get(source).is_some() {
        return Some("settlement");
    }
    state.config.reconciliation.sources.iter().find(|s| s.id == source).map(|s| s.format.as_str())
}

/// `POST /v1/reconciliation/runs` with a multipart upload.
pub async fn import_upload(
    state: &AppState,
    who: &Principal,
    up: Upload,
    rerun: bool,
) -> Result<(bool, RunView), Error> {
    require_staff(who)?;
    if up.source.is_empty() {
        return Err(Error::new(Code::MissingField, "the form needs a source").with_field("source"));
    }
    if let (Some(want), Some(have)) = (up.format.as_deref(), source_format(state, &up.source)) {
        if want != have {
            return Err(Error::new(
                Code::FormatMismatch,
                format!("source {} takes {have} files, not {want}", up.source),
            )
            .with_field("format"));
        }
    }
    if up.bytes.is_empty() {
        return Err(Error::new(Code::MissingField, "the form needs a non-empty file").with_field("file"));
    }
    import_file(state, &who.actor(), &up.source, up.date.as_deref(), up.bytes, rerun).await
}

/// Imports one file of `source` for a GMT+7 business day, whatever brought it (the JSON
/// API, a multipart upload, the CLI or the inbox job): the caller has checked the role. A
/// spreadsheet is converted first (`service::spreadsheet`): its run is keyed by the CSV
/// text it reads as (the same workbook twice is one run).
/// A settlement file needs its `date`; a statement's business day defaults to the day of
/// its closing balance.
pub async fn import_file(
    state: &AppState,
    actor: &str,
    source: &str,
    date: Option<&str>,
    bytes: Vec<u8>,
    rerun: bool,
) -> Result<(bool, RunView), Error> {
    // A workbook (.xlsx, .xls) is read as the CSV this source takes, through its column map.
    let bytes = crate::service::spreadsheet::as_source_file(state, source, bytes)?;
    // A closed day takes no more files (a statement without a date is checked once its
    // closing balance names the day).
    if let Some(d) = date {
        crate::service::cases::refuse_closed_day(state, source, d).await?;
    }
    if state.connectors.get(source).is_some() {
        let date = date.ok_or_else(|| {
            Error::new(Code::MissingField, "a settlement file needs its business date").with_field("date")
        })?;
        let day = parse_date(date)?;
        return import_settlement(state, actor, source, day, date, bytes, rerun).await;
    }
    if let Some(s) = state.config.reconciliation.sources.iter().find(|s| s.id == source && s.format != "settlement") {
        return crate::service::statements::import(state, actor, s, date, bytes, rerun).await;
    }
    Err(Error::new(Code::UnknownSource, format!("no connector or reconciliation source {source} is configured"))
        .with_field("source"))
}

/// A settlement file matched against our records, not yet stored.
pub struct Matched {
    pub lines: Lines,
    pub records: Records,
    pub items: Vec<Item>,
}

/// Parses `bytes` as the settlement file of connector account `source` and matches it
/// against our records of the GMT+7 business `day`: the day's succeeded attempts and refunds
/// (one streaming query per table), then, in chunks, any other the file names. The amount
/// tolerance is `reconciliation.tolerance`.
pub async fn match_settlement(
    state: &AppState,
    source: &str,
    day: time::Date,
    bytes: Vec<u8>,
) -> Result<Matched, Error> {
    let account = state.connectors.get(source).ok_or_else(|| Error::not_found("source"))?;
    let parsed = account.connector.parse_settlement(&bytes).map_err(settlement_error)?;
    drop(bytes);
    let too_large = |_| {
        Error::new(Code::InvalidSettlementFile, "the settlement file is too large to reconcile at once")
            .with_field("content")
    };
    let lines = Lines::pack(parsed).map_err(too_large)?;
    let (start, end) = day_bounds(day);
    let mut records = Records::default();
    state.store.recon_day_records(source, start, end, &mut records).await?;
    let mut matcher = Matcher::new(&lines).map_err(too_large)?;
    matcher.add(&records).map_err(too_large)?;
    let unknown = matcher.unknown_references();
    state.store.recon_records_by_reference(source, start, end, &unknown, &mut records).await?;
    matcher.add(&records).map_err(too_large)?;
    let items = matcher.finish(&records, state.config.reconciliation.tolerance);
    Ok(Matched { lines, records, items })
}

async fn import_settlement(
    state: &AppState,
    actor: &str,
    source: &str,
    day: time::Date,
    date: &str,
    bytes: Vec<u8>,
    rerun: bool,
) -> Result<(bool, RunView), Error> {
    let sha = hex::encode(Sha256::digest(&bytes));
    let store = &state.store;
    if !rerun {
        if let Some(run) = store.latest_recon_run(source, date, &sha).await? {
            return Ok((false, RunView::from(&run)));
        }
    }
    let started = std::time::Instant::now();
    let Matched { lines, records, items } = match_settlement(state, source, day, bytes).await?;
    let matched_in = started.elapsed();
    let n = counts(&items);
    let mut run = RunRow {
        id: new_id("rcn"),
        source: source.to_owned(),
        business_date: date.to_owned(),
        file_sha256: sha.clone(),
        version: 1,
        status: "completed".into(),
        lines: lines.len() as i64,
        matched: n[0],
        missing_in_file: n[1],
        missing_in_feegate: n[2],
        amount_mismatch: n[3],
        status_mismatch: n[4],
        duplicate: n[5],
        created_by: actor.to_owned(),
        created_at: now_ms(),
        kind: "settlement".into(),
        account_id: None,
        statements: None,
    };
    // Two imports of one file may race for the same version: the unique key decides, the
    // loser answers with the winner's run (or, re-running, takes the next version).
    for _ in 0..3 {
        let mut tx = store.begin().await?;
        crate::service::cases::lock_open_day(state, &mut tx, &run.source, date).await?;
        if !rerun && store.recon_file_seen(&mut tx, &run.source, date, &sha).await? {
            tx.rollback().await?;
            return existing(state, &run.source, date, &sha).await;
        }
        run.version = store.next_recon_version(&mut tx, &run.source, date).await?;
        match store.insert_recon_run(&mut tx, &run, &items, &lines, &records).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                tx.rollback().await?;
                if rerun {
                    continue;
                }
                return existing(state, &run.source, date, &sha).await;
            }
            Err(e) => return Err(e.into()),
        }
        // Queued with the run, worked off by the correction worker: never inside this request.
        let corrections = crate::service::corrections::queue_settlement(state, &mut tx, actor, &run.id, &sha).await?;
        let data = serde_json::json!({"run_id": run.id, "source": run.source, "date": date, "file_sha256": sha,
            "version": run.version, "lines": run.lines, "counts": RunView::from(&run).counts,
            "corrections_queued": corrections});
        store.audit(&mut tx, "admin", "reconciliation.run", actor, &data).await?;
        tx.commit().await?;
        tracing::info!(run_id = %run.id, source = %run.source, date = %date, version = run.version,
            lines = run.lines, match_ms = matched_in.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64, "reconciliation run");
        return Ok((true, RunView::from(&run)));
    }
    Err(Error::new(Code::Conflict, "concurrent re-runs of this file; retry"))
}

async fn existing(state: &AppState, source: &str, date: &str, sha: &str) -> Result<(bool, RunView), Error> {
    let run = state.store.latest_recon_run(source, date, sha).await?.ok_or_else(|| Error::not_found("run"))?;
    Ok((false, RunView::from(&run)))
}

/// `GET /v1/reconciliation/runs`: newest first.
pub async fn list(
    state: &AppState,
    who: &Principal,
    source: Option<&str>,
    date: Option<&str>,
) -> Result<Vec<RunView>, Error> {
    require_reader(who)?;
    if let Some(d) = date {
        parse_date(d)?;
    }
    Ok(state.store.recon_runs(source, date, 200).await?.iter().map(RunView::from).collect())
}

/// `GET /v1/reconciliation/runs/{id}`.
pub async fn get(state: &AppState, who: &Principal, id: &str) -> Result<RunView, Error> {
    require_reader(who)?;
    let run = state.store.recon_run(id).await?.ok_or_else(|| Error::not_found("run"))?;
    let (pending, done) = state.store.run_correction_counts(id).await?;
    Ok(RunView { corrections: Some(CorrectionCounts { pending, done }), ..RunView::from(&run) })
}

/// `GET /v1/reconciliation/runs/{id}/items`, optionally of one outcome.
pub async fn items(state: &AppState, who: &Principal, id: &str, outcome: Option<&str>) -> Result<Vec<ItemView>, Error> {
    require_reader(who)?;
    if let Some(o) = outcome {
        Outcome::parse(o).ok_or_else(|| {
            Error::new(Code::InvalidStatus, format!("status `{o}` is not an outcome")).with_field("status")
        })?;
    }
    state.store.recon_run(id).await?.ok_or_else(|| Error::not_found("run"))?;
    Ok(state.store.recon_items(id, outcome).await?.iter().map(ItemView::from).collect())
}
