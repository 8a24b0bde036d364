//! Gateway settlement reconciliation: import a connector's settlement file for a GMT+7
//! business day, match it against our records, and store the run with one item per line
//! (and per record the file lacks). The same file twice gives the same run; `rerun`
//! makes a new version and keeps the earlier ones as they were.

use crate::api::auth::{Principal, Role};
use crate::api::body::typed;
use crate::api::error::ApiError;
use crate::app::AppState;
use crate::domain::ids::new_id;
use crate::domain::recon::{counts, reconcile, Outcome};
use crate::service::rfc3339;
use crate::store::now_ms;
use crate::store::recon::{ItemRow, RunRow};
use crate::store::StoreError;
use base64::Engine;
use feegate_connector::SettlementError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The import request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRun {
    /// The connector account id whose settlement file this is.
    pub source: String,
    /// The GMT+7 business day, `YYYY-MM-DD`.
    pub date: String,
    /// The file's text (CSV).
    pub content: Option<String>,
    /// Or the file's bytes in standard base64.
    pub content_base64: Option<String>,
}

/// How many items of a run have each outcome.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutcomeCounts {
    pub matched: i64,
    pub missing_in_file: i64,
    pub missing_in_feegate: i64,
    pub amount_mismatch: i64,
    pub status_mismatch: i64,
    pub duplicate: i64,
}

/// A reconciliation run as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: String,
    pub source: String,
    pub date: String,
    pub file_sha256: String,
    /// 1 for a file's first run; a `rerun` of the same file adds one.
    pub version: i64,
    pub status: String,
    /// Lines in the file (header excluded).
    pub lines: i64,
    pub counts: OutcomeCounts,
    pub created_by: String,
    pub created_at: String,
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
        }
    }
}

/// One item of a run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
        }
    }
}

const STAFF: &[Role] = &[Role::Finance, Role::Admin];

fn parse_date(s: &str) -> Result<time::Date, ApiError> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| ApiError::unprocessable("invalid_date", "date must be a day as YYYY-MM-DD").with_field("date"))
}

/// `[start, end)` of a GMT+7 business day in unix ms.
fn day_bounds(day: time::Date) -> (i64, i64) {
    let start = day.midnight().assume_offset(time::macros::offset!(+7)).unix_timestamp() * 1000;
    (start, start + 86_400_000)
}

fn file_bytes(req: &ImportRun) -> Result<Vec<u8>, ApiError> {
    match (&req.content, &req.content_base64) {
        (Some(text), None) => Ok(text.as_bytes().to_vec()),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| {
            ApiError::unprocessable("invalid_base64", "content_base64 is not standard base64")
                .with_field("content_base64")
        }),
        _ => Err(ApiError::unprocessable("missing_field", "send the file as content or content_base64, not both")
            .with_field("content")),
    }
}

fn settlement_error(e: SettlementError) -> ApiError {
    match e {
        SettlementError::NotSupported { .. } => {
            ApiError::unprocessable("settlement_not_supported", "this connector has no settlement file")
                .with_field("source")
        }
        other => {
            ApiError::unprocessable("invalid_settlement_file", format!("the settlement file is unusable: {other}"))
                .with_field("content")
        }
    }
}

/// `POST /v1/reconciliation/runs`: `(true, run)` when a run was made, `(false, run)`
/// when this file was already reconciled for that source and day (and no `rerun`).
pub async fn import(
    state: &AppState,
    who: &Principal,
    body: serde_json::Value,
    rerun: bool,
) -> Result<(bool, RunView), ApiError> {
    who.require(STAFF)?;
    let req: ImportRun = typed(body)?;
    let account = state.connectors.get(&req.source).ok_or_else(|| {
        ApiError::unprocessable("unknown_source", format!("no connector {} is configured", req.source))
            .with_field("source")
    })?;
    let day = parse_date(&req.date)?;
    let date = req.date.clone();
    let bytes = file_bytes(&req)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let store = &state.store;
    if !rerun {
        if let Some(run) = store.latest_recon_run(&req.source, &date, &sha).await? {
            return Ok((false, RunView::from(&run)));
        }
    }
    let lines = account.connector.parse_settlement(&bytes).map_err(settlement_error)?;
    let (start, end) = day_bounds(day);
    let mut refs: Vec<String> = lines.iter().map(|l| l.reference.clone()).collect();
    refs.sort();
    refs.dedup();
    let records = store.recon_records(&req.source, start, end, &refs).await?;
    let items = reconcile(&lines, &records);
    let n = counts(&items);
    let mut run = RunRow {
        id: new_id("rcn"),
        source: req.source.clone(),
        business_date: date.clone(),
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
        created_by: who.actor(),
        created_at: now_ms(),
    };
    // Two imports of one file may race for the same version: the unique key decides, the
    // loser answers with the winner's run (or, re-running, takes the next version).
    for _ in 0..3 {
        let mut tx = store.begin().await?;
        run.version = store.next_recon_version(&mut tx, &run.source, &date, &sha).await?;
        if !rerun && run.version > 1 {
            tx.rollback().await?;
            return existing(state, &run.source, &date, &sha).await;
        }
        match store.insert_recon_run(&mut tx, &run, &items).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                tx.rollback().await?;
                if rerun {
                    continue;
                }
                return existing(state, &run.source, &date, &sha).await;
            }
            Err(e) => return Err(e.into()),
        }
        let data = serde_json::json!({"run_id": run.id, "source": run.source, "date": date, "file_sha256": sha,
            "version": run.version, "lines": run.lines, "counts": RunView::from(&run).counts});
        store.audit(&mut tx, "admin", "reconciliation.run", &who.actor(), &data).await?;
        tx.commit().await?;
        tracing::info!(run_id = %run.id, source = %run.source, date = %date, version = run.version, "reconciliation run");
        return Ok((true, RunView::from(&run)));
    }
    Err(ApiError::conflict("conflict", "concurrent re-runs of this file; retry"))
}

async fn existing(state: &AppState, source: &str, date: &str, sha: &str) -> Result<(bool, RunView), ApiError> {
    let run = state.store.latest_recon_run(source, date, sha).await?.ok_or_else(|| ApiError::not_found("run"))?;
    Ok((false, RunView::from(&run)))
}

/// `GET /v1/reconciliation/runs`: newest first.
pub async fn list(
    state: &AppState,
    who: &Principal,
    source: Option<&str>,
    date: Option<&str>,
) -> Result<Vec<RunView>, ApiError> {
    who.require(STAFF)?;
    if let Some(d) = date {
        parse_date(d)?;
    }
    Ok(state.store.recon_runs(source, date, 200).await?.iter().map(RunView::from).collect())
}

/// `GET /v1/reconciliation/runs/{id}`.
pub async fn get(state: &AppState, who: &Principal, id: &str) -> Result<RunView, ApiError> {
    who.require(STAFF)?;
    let run = state.store.recon_run(id).await?.ok_or_else(|| ApiError::not_found("run"))?;
    Ok(RunView::from(&run))
}

/// `GET /v1/reconciliation/runs/{id}/items`, optionally of one outcome.
pub async fn items(
    state: &AppState,
    who: &Principal,
    id: &str,
    outcome: Option<&str>,
) -> Result<Vec<ItemView>, ApiError> {
    who.require(STAFF)?;
    if let Some(o) = outcome {
        Outcome::parse(o).ok_or_else(|| {
            ApiError::unprocessable("invalid_status", format!("status `{o}` is not an outcome")).with_field("status")
        })?;
    }
    state.store.recon_run(id).await?.ok_or_else(|| ApiError::not_found("run"))?;
    Ok(state.store.recon_items(id, outcome).await?.iter().map(ItemView::from).collect())
}
