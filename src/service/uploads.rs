//! Uploads waiting for their confirmation (the console's preview before import): the file is
//! kept on this node's disk between the preview and the "import" button, in a bounded,
//! expiring store under the system temp dir (`feegate-uploads/`, mode 0700):
//!
//! - each upload gets a random 32-character id (190 bits) and is bound to the staff session
//!   that made it (the SHA-256 of its session id is kept, never the id): another session, or
//!   a guessed id, finds nothing;
//! - one waiting upload per session (a new preview replaces the last);
//! - deleted when imported or cancelled, and by any later upload once older than
//!   [`TTL_MS`] (30 minutes);
//! - at most [`MAX_TOTAL`] bytes wait at once on a node: past it an upload is refused
//!   ("try again in a few minutes") rather than fill the disk.
//!
//! Nothing here is in the database (no migration): several nodes behind a balancer need
//! sticky sessions for the confirmation to find its file, otherwise it answers "the upload
//! is no longer waiting" and the officer uploads again (docs/console.md).

use crate::service::error::{Code, Error};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// How long an upload waits for its confirmation.
pub const TTL_MS: i64 = 30 * 60 * 1000;
/// The most bytes that wait at once on a node (two uploads of the 128 MiB limit, and more).
pub const MAX_TOTAL: u64 = 512 * 1024 * 1024;

/// What was asked with the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Waiting {
    pub source: String,
    pub date: Option<String>,
    pub rerun: bool,
    /// The file's name as the browser sent it (shown, never used as a path).
    pub file_name: String,
    pub size: u64,
    pub created_ms: i64,
    /// SHA-256 of `upload:` and the session id.
    owner: String,
}

fn dir() -> PathBuf {
    std::env::temp_dir().join("feegate-uploads")
}

fn owner_of(session_id: &str) -> String {
    hex::encode(Sha256::digest(format!("upload:{session_id}").as_bytes()))
}

/// An id of ours: 32 letters and digits (anything else never reaches the file system).
fn checked(id: &str) -> Option<&str> {
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

fn paths(id: &str) -> (PathBuf, PathBuf) {
    let d = dir();
    (d.join(format!("{id}.json")), d.join(format!("{id}.bin")))
}

fn gone() -> Error {
    Error::new(
        Code::NotFound,
        "the upload is no longer waiting (imported, cancelled or older than 30 minutes): upload the file again",
    )
}

async fn remove(id: &str) {
    let (meta, data) = paths(id);
    let _ = tokio::fs::remove_file(meta).await;
    let _ = tokio::fs::remove_file(data).await;
}

async fn read_meta(path: &Path) -> Option<Waiting> {
    serde_json::from_slice(&tokio::fs::read(path).await.ok()?).ok()
}

/// Deletes what is expired and this session's earlier upload; answers the bytes still waiting.
async fn sweep(owner: &str, now: i64) -> Result<u64, Error> {
    let mut total = 0;
    let mut entries = match tokio::fs::read_dir(dir()).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::internal(e)),
    };
    while let Some(e) = entries.next_entry().await.map_err(Error::internal)? {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".json").and_then(checked) else { continue };
        match read_meta(&e.path()).await {
            Some(w) if w.created_ms + TTL_MS > now && w.owner != owner => total += w.size,
            _ => remove(id).await,
        }
    }
    Ok(total)
}

/// Keeps `bytes` for `session_id` until confirmed; answers the upload's id.
pub async fn put(session_id: &str, mut w: Waiting, bytes: &[u8]) -> Result<String, Error> {
    let now = crate::store::now_ms();
    let owner = owner_of(session_id);
    let waiting = sweep(&owner, now).await?;
    if waiting + bytes.len() as u64 > MAX_TOTAL {
        return Err(Error::new(
            Code::Unavailable,
            "too many files are waiting for confirmation on this server: try again in a few minutes",
        ));
    }
    let d = dir();
    tokio::fs::create_dir_all(&d).await.map_err(Error::internal)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tokio::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).await;
    }
    let id = crate::domain::ids::new_secret();
    w.owner = owner;
    w.size = bytes.len() as u64;
    w.created_ms = now;
    let (meta, data) = paths(&id);
    // The data first: a meta file always has its data.
    tokio::fs::write(&data, bytes).await.map_err(Error::internal)?;
    tokio::fs::write(&meta, serde_json::to_vec(&w).map_err(Error::internal)?).await.map_err(Error::internal)?;
    Ok(id)
}

impl Waiting {
    /// What a new upload asks (size, time and owner are set by [`put`]).
    pub fn new(source: String, date: Option<String>, rerun: bool, file_name: String) -> Waiting {
        Waiting { source, date, rerun, file_name, size: 0, created_ms: 0, owner: String::new() }
    }
}

/// The waiting upload `id` of `session_id`, with its bytes; "not found" for another
/// session's, an expired one or an unknown id.
pub async fn get(session_id: &str, id: &str) -> Result<(Waiting, Vec<u8>), Error> {
    let id = checked(id).ok_or_else(gone)?;
    let (meta, data) = paths(id);
    let w = read_meta(&meta).await.ok_or_else(gone)?;
    if w.owner != owner_of(session_id) {
        return Err(gone());
    }
    if w.created_ms + TTL_MS <= crate::store::now_ms() {
        remove(id).await;
        return Err(gone());
    }
    let bytes = tokio::fs::read(&data).await.map_err(|_| gone())?;
    Ok((w, bytes))
}

/// Deletes the waiting upload `id` of `session_id` (imported or cancelled).
pub async fn discard(session_id: &str, id: &str) {
    if let Some(id) = checked(id) {
        if read_meta(&paths(id).0).await.is_some_and(|w| w.owner == owner_of(session_id)) {
            remove(id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_upload_is_found_only_by_its_session_and_is_gone_once_discarded() {
        let w = Waiting::new("sandbox".into(), None, false, "a.xlsx".into());
        let id = put("session-a", w, b"bytes").await.unwrap();
        assert_eq!(get("session-a", &id).await.unwrap().1, b"bytes");
        assert_eq!(get("session-b", &id).await.unwrap_err().code, Code::NotFound);
        assert_eq!(get("session-a", "../../etc/passwd").await.unwrap_err().code, Code::NotFound);
        discard("session-b", &id).await;
        assert!(get("session-a", &id).await.is_ok(), "another session cannot delete it");
        discard("session-a", &id).await;
        assert_eq!(get("session-a", &id).await.unwrap_err().code, Code::NotFound);
    }

    #[tokio::test]
    async fn a_new_upload_of_a_session_replaces_its_last() {
        let first = put("session-c", Waiting::new("s".into(), None, false, "1".into()), b"1").await.unwrap();
        let second = put("session-c", Waiting::new("s".into(), None, false, "2".into()), b"2").await.unwrap();
        assert!(get("session-c", &first).await.is_err());
        assert_eq!(get("session-c", &second).await.unwrap().1, b"2");
        discard("session-c", &second).await;
    }
}
