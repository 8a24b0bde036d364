//! Agency bank statement runs: import one statement file (camt.053, MT940 or CSV) of a
//! configured source's account, match its entries against feegate's records (direct
//! transfers by reference, gateway settlement batches by amount and day, manual refund
//! payouts), store the run, and queue a correction (see [`crate::service::corrections`]) for each payment a
//! credit proves. Each statement of a file is read on its own: one that cannot be read is
//! listed in the run with its reason and the file's other statements still import. Same
//! file twice is the same run; `rerun` makes a new version. See docs/reconciliation.md.

use crate::app::AppState;
use crate::config::{Config, ReconSource};
use crate::connectors::Connectors;
use crate::domain::ids::new_id;
use crate::domain::recon::Outcome;
use crate::domain::statement::{self, Direction, Refused, Statement, StatementError};
use crate::domain::stmt_match::{self, batch_amount, Batch, BatchLine, Book, Entry, Item, Refund};
use crate::service::error::Code;
use crate::service::error::Error;
use crate::service::recon::{day_bounds, parse_date, RunView, StatementSummary};
use crate::service::reports::routed_refund_shares;
use crate::store::recon::{NewCorrection, RunRow};
use crate::store::reports::RefundInfo;
use crate::store::statements::StatementAccount;
use crate::store::{now_ms, Store, StoreError};
use anyhow::bail;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use time::Date;

/// Source formats that are bank statements of an agency account.
pub const STATEMENT_FORMATS: [&str; 3] = ["camt053", "mt940", "csv"];

/// The currency feegate books agency accounts in: statement entries in another are never
/// matched (they are items of their own with the reason).
const BOOK_CURRENCY: &str = "VND";

/// How far back a debit may pay out a refund recorded earlier.
const REFUND_LOOKBACK_MS: i64 = 31 * 86_400_000;

/// Checks `reconciliation.sources` at startup: known formats, a column map for CSV, a
/// connector behind every `settlement` source, and one active agency account behind every
/// statement source. The error names the source and the reason.
pub async fn validate_sources(config: &Config, connectors: &Connectors, store: &Store) -> anyhow::Result<()> {
    let r = &config.reconciliation;
    if r.tolerance < 0 {
        bail!("reconciliation.tolerance must not be negative (it is {})", r.tolerance);
    }
    let mut ids = std::collections::HashSet::new();
    for s in &r.sources {
        let id = &s.id;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            bail!("reconciliation source id {id:?}: use letters, digits, '-' and '_'");
        }
        if !ids.insert(id.as_str()) {
            bail!("reconciliation source {id} is configured twice");
        }
        let is_connector = connectors.get(id).is_some();
        match s.format.as_str() {
            "settlement" => {
                if !is_connector {
                    bail!("reconciliation source {id}: a settlement source must be a connector account id");
                }
                if s.account_number.is_some() || s.csv.is_some() {
                    bail!("reconciliation source {id}: a settlement source takes no account_number or csv map");
                }
                continue;
            }
            f if STATEMENT_FORMATS.contains(&f) => {}
            other => bail!(
                "reconciliation source {id}: unknown format {other:?} (known: settlement, {})",
                STATEMENT_FORMATS.join(", ")
            ),
        }
        if is_connector {
            bail!("reconciliation source {id}: a statement source cannot share its id with a connector account");
        }
        match (s.format.as_str(), &s.csv) {
            ("csv", None) => bail!("reconciliation source {id}: a csv source needs a [csv] column map"),
            ("csv", Some(map)) if map.amount.is_none() && (map.credit.is_none() || map.debit.is_none()) => {
                bail!("reconciliation source {id}: the csv map needs `amount`, or both `credit` and `debit`")
            }
            (f, Some(_)) if f != "csv" => bail!("reconciliation source {id}: a csv map is only for csv sources"),
            _ => {}
        }
        match (s.format.as_str(), s.currency.as_deref()) {
            (_, None) => {}
            ("csv", Some(c)) if statement::exponent(c).is_some() => {}
            ("csv", Some(c)) => bail!("reconciliation source {id}: unknown currency {c:?} (an ISO 4217 code)"),
            (_, Some(_)) => bail!("reconciliation source {id}: only a csv source takes a currency (files name theirs)"),
        }
        let Some(number) = s.account_number.as_deref() else {
            bail!("reconciliation source {id}: a statement source needs the agency account_number");
        };
        // An account may be added through the API after start (and the demo's sources stay in
        // a config that seeds no demo): warn, and let an import answer `unknown_account`.
        match store.accounts_by_number(number).await?.len() {
            1 => {}
            0 => {
                tracing::warn!(source = %id, "account number {number} is not an active agency account (yet); imports will be refused until it is")
            }
            n => {
                tracing::warn!(source = %id, "account number {number} belongs to {n} active accounts; imports will be refused until one remains")
            }
        }
    }
    Ok(())
}

fn statement_error(e: StatementError) -> Error {
    Error::new(e.code(), format!("the statement is unusable: {e}")).with_field("content")
}

fn folded(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
}

/// Whether a statement's account (as the file writes it) is `ours`: the same letters and
/// digits, or an IBAN that ends with our domestic number.
fn same_account(file: &str, ours: &str) -> bool {
    let (file, ours) = (folded(file), folded(ours));
    let iban = file.len() > 4
        && file[..2].bytes().all(|b| b.is_ascii_alphabetic())
        && file[2..4].bytes().all(|b| b.is_ascii_digit());
    !ours.is_empty() && (file == ours || (iban && file.len() > ours.len() && file.ends_with(&ours)))
}

/// The statements of `account` in the file, and a summary of every statement in it. A file
/// none of whose statements of this account can be read is refused with the first reason.
fn parse(
    source: &ReconSource,
    bytes: &[u8],
    account: &StatementAccount,
) -> Result<(Vec<Statement>, Vec<StatementSummary>), Error> {
    let all: Vec<Result<Statement, Refused>> = match source.format.as_str() {
        "camt053" => statement::camt053::parse(bytes).map_err(statement_error)?.into_iter().map(Ok).collect(),
        "mt940" => statement::mt940::parse_each(bytes).map_err(statement_error)?,
        "csv" => {
            let map = source.csv.as_ref().ok_or_else(|| Error::internal("csv source without a column map"))?;
            let currency = source.currency.as_deref().unwrap_or(BOOK_CURRENCY);
            // CSV exports do not name the account or the currency: the source says which.
            vec![Ok(
                statement::csv::parse(bytes, map, &account.account_number, currency, None).map_err(statement_error)?
            )]
        }
        other => return Err(Error::internal(format!("format {other} is not a statement"))),
    };
    let ours = |name: &str| same_account(name, &account.account_number);
    let mut summaries = Vec::new();
    let mut statements = Vec::new();
    let mut first_refusal = None;
    let mut others = Vec::new();
    for s in all {
        match s {
            Ok(s) => {
                let mine = ours(&s.account);
                summaries.push(StatementSummary {
                    statement_id: s.statement_id.clone(),
                    account: s.account.clone(),
                    status: if mine { "imported" } else { "other_account" }.into(),
                    currency: Some(s.currency.clone()),
                    entries: Some(s.entries.len() as i64),
                    code: None,
                    reason: None,
                });
                if mine {
                    statements.push(s);
                } else {
                    others.push(s.account);
                }
            }
            // A statement that got no further than naming another account is that one's business.
            Err(r) if !r.account.is_empty() && !ours(&r.account) => {
                others.push(r.account.clone());
                first_refusal.get_or_insert(r.error);
                summaries.push(StatementSummary {
                    statement_id: r.statement_id,
                    account: r.account,
                    status: "other_account".into(),
                    currency: None,
                    entries: None,
                    code: None,
                    reason: None,
                });
            }
            Err(r) => {
                summaries.push(StatementSummary {
                    statement_id: r.statement_id.clone(),
                    account: r.account.clone(),
                    status: "refused".into(),
                    currency: None,
                    entries: None,
                    code: Some(r.error.code().as_str().into()),
                    reason: Some(r.error.to_string()),
                });
                first_refusal.get_or_insert(r.error);
            }
        }
    }
    // Nothing of this account imports: the first reason a statement was refused (as for a
    // file of one statement), else that the file is another account's.
    if statements.is_empty() {
        if let Some(e) = first_refusal {
            return Err(statement_error(e));
        }
        others.dedup();
        return Err(Error::new(
            Code::StatementWrongAccount,
            format!(
                "the file is a statement of {}, not of account {} (source {})",
                others.join(", "),
                account.account_number,
                source.id
            ),
        )
        .with_field("content"));
    }
    Ok((statements, summaries))
}

/// The days a statement covers: `[first, last]`, `last` being its business day.
fn period(statements: &[Statement], date: Option<Date>) -> (Date, Date) {
    if let Some(d) = date {
        return (d, d);
    }
    let closings = statements.iter().map(|s| s.closing.date);
    let last = closings.clone().max().unwrap_or(Date::MIN);
    let first = statements.iter().flat_map(|s| s.entries.iter().map(|e| e.booking_date)).chain(closings).min();
    (first.unwrap_or(last).min(last), last)
}

/// Imports one statement file of a statement `source`: `(true, run)` for a new run,
/// `(false, run)` when this file was already reconciled for that day (and no `rerun`).
pub async fn import(
    state: &AppState,
    actor: &str,
    source: &ReconSource,
    date: Option<&str>,
    bytes: Vec<u8>,
    rerun: bool,
) -> Result<(bool, RunView), Error> {
    let store = &state.store;
    let number = source.account_number.as_deref().unwrap_or_default();
    let account = match store.accounts_by_number(number).await?.as_slice() {
        [one] => one.clone(),
        _ => {
            return Err(Error::new(
                Code::UnknownAccount,
                format!("account {number} of source {} is not one active agency account", source.id),
            )
            .with_field("source"))
        }
    };
    let day = date.map(parse_date).transpose()?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let (statements, summaries) = parse(source, &bytes, &account)?;
    let (first, last) = period(&statements, day);
    let business_date = last.to_string();
    if !rerun {
        if let Some(run) = store.latest_recon_run(&source.id, &business_date, &sha).await? {
            return Ok((false, RunView::from(&run)));
        }
    }
    let entries: Vec<Entry> = statements
        .iter()
        .flat_map(|s| s.entries.iter())
        .map(|e| Entry {
            line: e.line as i64,
            booking_date: e.booking_date,
            amount: e.amount,
            currency: e.currency.clone(),
            direction: e.direction,
            bank_ref: e.reference.clone(),
            content: e.content.clone(),
        })
        .collect();
    let book = book(state, &account, first, last, &entries).await?;
    let items = stmt_match::match_statement(&entries, &book);
    let ignored_debits = entries.iter().filter(|e| e.direction == Direction::Debit).count()
        - items.iter().filter(|i| i.line.is_some() && i.direction == Direction::Debit).count();
    let refused = summaries.iter().filter(|s| s.status == "refused").count();
    if refused > 0 {
        tracing::warn!(source = %source.id, refused, "statements of the file refused; the others are imported");
    }
    let n = counts(&items);
    let run = RunRow {
        id: new_id("rcn"),
        source: source.id.clone(),
        business_date: business_date.clone(),
        file_sha256: sha.clone(),
        version: 1,
        status: "completed".into(),
        lines: entries.len() as i64,
        matched: n[0],
        missing_in_file: n[1],
        missing_in_feegate: n[2],
        amount_mismatch: n[3],
        status_mismatch: n[4],
        duplicate: n[5],
        created_by: actor.to_owned(),
        created_at: now_ms(),
        kind: "statement".into(),
        account_id: Some(account.id.clone()),
        statements: Some(serde_json::to_string(&summaries).map_err(Error::internal)?),
    };
    let detail = serde_json::json!({"ignored_debits": ignored_debits,
        "period": [first.to_string(), last.to_string()], "statements": summaries});
    store_run(state, run, &items, rerun, detail).await
}

/// Everything the statement is matched against.
async fn book(
    state: &AppState,
    account: &StatementAccount,
    first: Date,
    last: Date,
    entries: &[Entry],
) -> Result<Book, Error> {
    let store = &state.store;
    let direct: Vec<String> = state
        .connectors
        .all()
        .filter(|a| a.connector.needs_beneficiary())
        .map(|a| a.connector.id().to_owned())
        .collect();
    let (start, _) = day_bounds(first);
    let (_, end) = day_bounds(last);
    let (whole, cut) = stmt_match::wanted(entries);
    let payments = store.statement_payments(&account.id, &direct, start, end, &whole, &cut).await?;
    // Batches of the day before the period (paid T+1) to its last day (paid T+0).
    let mut days = Vec::new();
    let mut d = first.previous_day().unwrap_or(first);
    while d <= last {
        days.push(d);
        match d.next_day() {
            Some(n) => d = n,
            None => break,
        }
    }
    let day_names: Vec<String> = days.iter().map(Date::to_string).collect();
    let mut lines = store.settlement_batch_lines(&account.id, &day_names, &direct).await?;
    routed_batch_refunds(store, &account.id, &mut lines).await?;
    let mut grouped: BTreeMap<(String, String), Vec<BatchLine>> = BTreeMap::new();
    for (source, day, line) in lines {
        grouped.entry((source, day)).or_default().push(line);
    }
    let credited = store.credited_batches(&account.id, &last.to_string()).await?;
    let mut batches = Vec::new();
    for ((source, day), lines) in grouped {
        let date = parse_date(&day)?;
        let mut b = Batch { source, date, amount: batch_amount(&lines), expected: false };
        // Due on this statement when paid T+1 within the period, unless credited elsewhere.
        b.expected = date < last && !credited.contains(&b.key());
        if b.amount != 0 {
            batches.push(b);
        }
    }
    let whole = store.statement_refunds(&account.id, &direct, start - REFUND_LOOKBACK_MS).await?;
    let infos: Vec<RefundInfo> = whole.iter().map(|r| r.refund.clone()).collect();
    let routed = routed_refund_shares(store, &account.id, &infos).await?;
    let refunds = whole
        .into_iter()
        .map(|r| Refund {
            amount: routed.get(&r.refund.id).copied().unwrap_or(0),
            refund_id: r.refund.id,
            payment_id: r.refund.payment_id,
            reference: r.reference,
            bank_reference: r.bank_reference,
            status: r.status,
        })
        .collect();
    Ok(Book {
        payments,
        batches,
        refunds,
        currency: BOOK_CURRENCY.into(),
        tolerance: state.config.reconciliation.tolerance,
    })
}

/// Fills in the share routed to the account of each batch line that settles one of our
/// refunds whole (the file's amount is the refund's), by the settlement report's rule.
async fn routed_batch_refunds(
    store: &Store,
    account_id: &str,
    lines: &mut [(String, String, BatchLine)],
) -> Result<(), Error> {
    let ids: Vec<String> = lines.iter().filter_map(|(_, _, l)| l.refund_id.clone()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let pids: Vec<String> =
        lines.iter().filter(|(_, _, l)| l.refund_id.is_some()).map(|(_, _, l)| l.payment_id.clone()).collect();
    let ours: Vec<RefundInfo> = store.refunds_of(&pids).await?.into_iter().filter(|r| ids.contains(&r.id)).collect();
    let routed = routed_refund_shares(store, account_id, &ours).await?;
    for (_, _, l) in lines.iter_mut() {
        let whole =
            l.refund_id.as_ref().and_then(|id| ours.iter().find(|r| &r.id == id)).is_some_and(|r| r.amount == l.amount);
        if whole {
            l.routed_refund = l.refund_id.as_ref().and_then(|id| routed.get(id)).copied();
        }
    }
    Ok(())
}

/// The corrections a run's items prove (credits of attempts feegate has not seen succeed),
/// with the evidence: the file and line.
fn corrections_of(run: &RunRow, items: &[Item], ids: &[String]) -> Vec<NewCorrection> {
    items
        .iter()
        .zip(ids)
        .filter(|(i, _)| i.correct)
        .filter_map(|(i, id)| {
            let attempt_id = i.attempt_id.clone()?;
            let evidence = serde_json::json!({"source": run.source, "file_sha256": run.file_sha256, "line": i.line,
                "amount": i.amount_file, "booking_date": i.booking_date.map(|d| d.to_string())});
            Some((id.clone(), attempt_id, evidence.to_string()))
        })
        .collect()
}

fn counts(items: &[Item]) -> [i64; 6] {
    let mut n = [0i64; 6];
    for i in items {
        if let Some(k) = Outcome::ALL.iter().position(|o| *o == i.outcome) {
            n[k] += 1;
        }
    }
    n
}

/// Writes the run, its items and its audit entry; two imports of one file race on the
/// unique version, the loser answers with the winner's run (or, re-running, takes the next).
async fn store_run(
    state: &AppState,
    mut run: RunRow,
    items: &[Item],
    rerun: bool,
    detail: serde_json::Value,
) -> Result<(bool, RunView), Error> {
    let store = &state.store;
    for _ in 0..3 {
        let mut tx = store.begin().await?;
        crate::service::cases::lock_open_day(state, &mut tx, &run.source, &run.business_date).await?;
        if !rerun && store.recon_file_seen(&mut tx, &run.source, &run.business_date, &run.file_sha256).await? {
            tx.rollback().await?;
            return existing(state, &run).await;
        }
        run.version = store.next_recon_version(&mut tx, &run.source, &run.business_date).await?;
        let ids = match store.insert_statement_run(&mut tx, &run, items).await {
            Ok(ids) => ids,
            Err(StoreError::Conflict) => {
                tx.rollback().await?;
                if rerun {
                    continue;
                }
                return existing(state, &run).await;
            }
            Err(e) => return Err(e.into()),
        };
        // Queued with the run, worked off by the correction worker: never inside this request.
        let queued = corrections_of(&run, items, &ids);
        store.queue_corrections(&mut tx, &run.id, &run.created_by, &queued, now_ms()).await?;
        let data = serde_json::json!({"run_id": run.id, "kind": "statement", "source": run.source,
            "account_id": run.account_id, "date": run.business_date, "file_sha256": run.file_sha256,
            "version": run.version, "lines": run.lines, "counts": RunView::from(&run).counts, "detail": detail,
            "corrections_queued": queued.len()});
        store.audit(&mut tx, "admin", "reconciliation.run", &run.created_by, &data).await?;
        tx.commit().await?;
        tracing::info!(run_id = %run.id, source = %run.source, date = %run.business_date, version = run.version, "statement run");
        return Ok((true, RunView::from(&run)));
    }
    Err(Error::new(Code::Conflict, "concurrent re-runs of this file; retry"))
}

async fn existing(state: &AppState, run: &RunRow) -> Result<(bool, RunView), Error> {
    let found = state.store.latest_recon_run(&run.source, &run.business_date, &run.file_sha256).await?;
    let found = found.ok_or_else(|| Error::not_found("run"))?;
    Ok((false, RunView::from(&found)))
}
