//! The inbox job: files that arrive in a reconciliation source's inbox folder (the way
//! banks and gateways deliver them, by SFTP) are imported as if uploaded.
//!
//! A file is claimed by renaming it into `processing/` (a rename is atomic, so of two
//! nodes sharing the folder only one gets it), imported through
//! [`crate::service::recon::import_file`], then moved to `done/`, or to `rejected/` with a
//! `<name>.reason.txt` beside it that says why (a file larger than the upload limit goes there
//! unread, `file_too_large`). Files whose name starts with `.` or ends in
//! `.part`, `.tmp` or `.filepart` are still being written and are left alone, as is any file
//! modified in the last two seconds. A file left in `processing/` by a node that died is
//! imported again after ten minutes: imports are idempotent by content hash, so this can
//! never count it twice.

use crate::app::AppState;
use crate::config::ReconSource;
use crate::service::error::Code;
use crate::service::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

const SETTLING: Duration = Duration::from_secs(2);
const ABANDONED: Duration = Duration::from_secs(600);
/// The largest file a reconciliation upload (multipart) may carry: a gateway's settlement
/// file of a busy day runs to tens of megabytes.
pub const MAX_UPLOAD: usize = 128 * 1024 * 1024;
/// The largest file the inbox imports: the same limit as an upload through the API.
const MAX_FILE: u64 = MAX_UPLOAD as u64;

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Imported: the run id, and whether the run is new (false: the same file was already
    /// reconciled).
    Imported { file: PathBuf, run_id: String, new: bool },
    /// Moved to `rejected/` with this reason.
    Rejected { file: PathBuf, reason: String },
}

/// Runs the inbox job until `stop` turns true; with no source that has an inbox folder the
/// task ends at once.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    if !state.config.reconciliation.sources.iter().any(|s| s.inbox.is_some()) {
        return tokio::spawn(async {});
    }
    let every = Duration::from_millis(state.config.reconciliation.inbox_interval_ms.max(100));
    crate::service::worker::spawn("inbox", every, stop, move || {
        let state = state.clone();
        async move { run_once(&state).await }
    })
}

/// One pass over every source's inbox.
pub async fn run_once(state: &AppState) -> anyhow::Result<Vec<Outcome>> {
    let mut out = Vec::new();
    for source in &state.config.reconciliation.sources {
        if let Some(dir) = &source.inbox {
            out.extend(scan(state, source, dir).await?);
        }
    }
    Ok(out)
}

async fn scan(state: &AppState, source: &ReconSource, dir: &Path) -> anyhow::Result<Vec<Outcome>> {
    for sub in ["processing", "done", "rejected"] {
        tokio::fs::create_dir_all(dir.join(sub)).await?;
    }
    let now = SystemTime::now();
    let mut claimed = Vec::new();
    for (path, modified) in files(dir).await? {
        let name = file_name(&path);
        let still_written = name.starts_with('.')
            || [".part", ".tmp", ".filepart"].iter().any(|s| name.ends_with(s))
            || now.duration_since(modified).unwrap_or_default() < SETTLING;
        if still_written {
            continue;
        }
        let target = dir.join("processing").join(&name);
        // Another node may have claimed it first: then the rename finds nothing.
        if tokio::fs::rename(&path, &target).await.is_ok() {
            claimed.push(target);
        }
    }
    for (path, modified) in files(&dir.join("processing")).await? {
        if now.duration_since(modified).unwrap_or_default() >= ABANDONED && !claimed.contains(&path) {
            tracing::warn!(file = %path.display(), "re-importing a file a node left in processing/");
            claimed.push(path);
        }
    }
    let mut out = Vec::new();
    for path in claimed {
        out.push(import_one(state, source, dir, &path).await?);
    }
    Ok(out)
}

async fn import_one(state: &AppState, source: &ReconSource, dir: &Path, path: &Path) -> anyhow::Result<Outcome> {
    let name = file_name(path);
    // Sized before it is read: a file past the upload limit would be read whole into memory
    // (a multi-gigabyte file took the node down, and again after each restart).
    let size = tokio::fs::metadata(path).await?.len();
    if size > MAX_FILE {
        let e = Error::new(
            Code::FileTooLarge,
            format!("the file has {size} bytes; an import takes at most {MAX_FILE} (the upload limit)"),
        );
        return reject(source, dir, path, &name, e).await;
    }
    let bytes = tokio::fs::read(path).await?;
    let date = if source.format == "settlement" { date_in_name(&name) } else { None };
    let result = if source.format == "settlement" && date.is_none() {
        Err(Error::new(
            Code::MissingField,
            "a settlement file's name must carry its business day (YYYY-MM-DD or YYYYMMDD)",
        ))
    } else {
        crate::service::recon::import_file(
            state,
            &format!("inbox:{}", source.id),
            &source.id,
            date.as_deref(),
            bytes,
            false,
        )
        .await
    };
    match result {
        Ok((new, run)) => {
            let done = free_name(&dir.join("done"), &name).await;
            tokio::fs::rename(path, &done).await?;
            tracing::info!(source = %source.id, file = %name, run_id = %run.id, new, "inbox file imported");
            Ok(Outcome::Imported { file: done, run_id: run.id, new })
        }
        // The database or something else of ours failed: leave the file to be retried.
        Err(e) if e.is_server_fault() => anyhow::bail!("importing {name}: {} ({})", e.message, e.code),
        Err(e) => reject(source, dir, path, &name, e).await,
    }
}

/// Moves a file to `rejected/` with a `<name>.reason.txt` beside it.
async fn reject(source: &ReconSource, dir: &Path, path: &Path, name: &str, e: Error) -> anyhow::Result<Outcome> {
    let rejected = free_name(&dir.join("rejected"), name).await;
    tokio::fs::rename(path, &rejected).await?;
    let reason = format!("{}: {}", e.code, e.message);
    let mut note = rejected.clone().into_os_string();
    note.push(".reason.txt");
    tokio::fs::write(&note, format!("{reason}\n")).await?;
    tracing::warn!(source = %source.id, file = %name, %reason, "inbox file rejected");
    Ok(Outcome::Rejected { file: rejected, reason })
}

/// Regular files of a folder with their modification times, by name.
async fn files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, SystemTime)>> {
    let mut out = Vec::new();
    let mut rd = tokio::fs::read_dir(dir).await?;
    while let Some(e) = rd.next_entry().await? {
        let meta = e.metadata().await?;
        if meta.is_file() {
            out.push((e.path(), meta.modified()?));
        }
    }
    out.sort();
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `dir/name`, or `dir/name.1`, `.2`, ... when a file of that name is already there (a
/// corrected file delivered under the same name).
async fn free_name(dir: &Path, name: &str) -> PathBuf {
    let mut candidate = dir.join(name);
    let mut n = 1;
    while tokio::fs::try_exists(&candidate).await.unwrap_or(false) {
        candidate = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    candidate
}

/// The first `YYYY-MM-DD` or `YYYYMMDD` in a file name that is a real date.
pub fn date_in_name(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    for i in 0..b.len() {
        let (y, m, d, len) = if i + 10 <= b.len() && b[i + 4] == b'-' && b[i + 7] == b'-' {
            (&b[i..i + 4], &b[i + 5..i + 7], &b[i + 8..i + 10], 10)
        } else if i + 8 <= b.len() {
            (&b[i..i + 4], &b[i + 4..i + 6], &b[i + 6..i + 8], 8)
        } else {
            break;
        };
        let glued = (i > 0 && b[i - 1].is_ascii_digit()) || b.get(i + len).is_some_and(u8::is_ascii_digit);
        if !(digits(y) && digits(m) && digits(d)) || glued {
            continue;
        }
        let text = format!(
            "{}-{}-{}",
            std::str::from_utf8(y).ok()?,
            std::str::from_utf8(m).ok()?,
            std::str::from_utf8(d).ok()?
        );
        if crate::service::recon::parse_date(&text).is_ok() {
            return Some(text);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::date_in_name;

    #[test]
    fn finds_the_business_day_in_a_file_name() {
        assert_eq!(date_in_name("vnpay_2026-11-27.csv").as_deref(), Some("2026-11-27"));
        assert_eq!(date_in_name("SETTLE_FEEGATE1_20261127.csv").as_deref(), Some("2026-11-27"));
        assert_eq!(date_in_name("batch-7-20261127-v2.csv").as_deref(), Some("2026-11-27"));
        // Not a date: month 13; digits that are part of a longer number.
        assert_eq!(date_in_name("file_20261327.csv"), None);
        assert_eq!(date_in_name("id_1202611270.csv"), None);
        assert_eq!(date_in_name("202611270.csv"), None);
        assert_eq!(date_in_name("settlement.csv"), None);
    }
}
