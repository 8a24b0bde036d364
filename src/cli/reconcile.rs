//! `feegate reconcile import|report`: the terminal's side of reconciliation. Each command
//! calls the services (importing a file as the API would, building a report) and writes
//! what the terminal shows: a run described in a sentence and its counts, a report as an
//! aligned table or as CSV (both rendered by `service::reports::render`).

use super::ReconcileCommand;
use crate::app::AppState;
use crate::config::Config;
use crate::service::error::{Code, Error};
use crate::service::{recon, reports};
use anyhow::Context;

/// `feegate reconcile import`: imports a file as the API would (`--format`, if given,
/// must be the source's) and describes the run in a sentence and its counts.
pub async fn import_command(
    state: &AppState,
    source: &str,
    format: Option<&str>,
    date: Option<&str>,
    rerun: bool,
    bytes: Vec<u8>,
) -> Result<String, Error> {
    if let (Some(want), Some(have)) = (format, recon::source_format(state, source)) {
        if want != have {
            return Err(Error::new(Code::FormatMismatch, format!("source {source} takes {have} files, not {want}"))
                .with_field("format"));
        }
    }
    let (created, run) = recon::import_file(state, "cli", source, date, bytes, rerun).await?;
    let c = &run.counts;
    Ok(format!(
        "{} run {} of {} for {} (version {}): {} lines\nmatched {}, missing_in_file {}, missing_in_feegate {}, \
         amount_mismatch {}, status_mismatch {}, duplicate {}\n",
        if created { "new" } else { "this file was already reconciled:" },
        run.id,
        run.source,
        run.date,
        run.version,
        run.lines,
        c.matched,
        c.missing_in_file,
        c.missing_in_feegate,
        c.amount_mismatch,
        c.status_mismatch,
        c.duplicate
    ))
}

/// `feegate reconcile report`: the settlement report of `date` or the monthly summary of
/// `month`, as an aligned table or as CSV (with its BOM).
pub async fn report_command(
    state: &AppState,
    date: Option<&str>,
    month: Option<&str>,
    agency: Option<&str>,
    csv: bool,
) -> Result<Vec<u8>, Error> {
    let (table, note) = match (date, month) {
        (Some(d), None) => {
            let r = reports::settlement_unscoped(state, d, agency).await?;
            let note = (r.unattributed_open_cases > 0)
                .then(|| format!("open cases no account can be named for: {}\n", r.unattributed_open_cases));
            (r.table(), note)
        }
        (None, Some(m)) => (reports::monthly_unscoped(state, m, agency).await?.table(), None),
        _ => return Err(Error::new(Code::MissingField, "give --date D or --month M").with_field("date")),
    };
    if csv {
        return table.to_csv();
    }
    let mut out = table.to_text();
    if let Some(n) = note {
        out.push_str(&n);
    }
    Ok(out.into_bytes())
}

/// Runs `feegate reconcile import|report` and writes its output to stdout.
pub(super) async fn run(command: ReconcileCommand, config: Config) -> anyhow::Result<()> {
    // No serving lock: this may run beside the server on the same SQLite file.
    let state = AppState::build_unlocked(config).await?;
    let api = |e: Error| {
        anyhow::anyhow!("{}{}: {}", e.code, e.field.map(|f| format!(" ({f})")).unwrap_or_default(), e.message)
    };
    let out = match command {
        ReconcileCommand::Import { source, format, date, rerun, file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let svc = import_command(&state, &source, format.as_deref(), date.as_deref(), rerun, bytes);
            svc.await.map_err(api)?.into_bytes()
        }
        ReconcileCommand::Report { date, month, agency, csv } => {
            let svc = report_command(&state, date.as_deref(), month.as_deref(), agency.as_deref(), csv);
            svc.await.map_err(api)?
        }
    };
    state.store.close().await;
    use std::io::Write;
    std::io::stdout().write_all(&out)?;
    Ok(())
}
