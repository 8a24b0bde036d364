//! Staff users and their console sessions: creating a user (argon2id password), signing
//! in (wrong passwords slow down, then lock the typed username for a while, known or not,
//! so the answers never tell whether a user exists), the session a cookie proves (an
//! unguessable 32-byte id whose SHA-256 alone is stored; idle and absolute timeouts),
//! signing out, and the CSRF token of a session. Every sign-in, sign-out and refusal of a
//! known user is in the audit journal (scope `staff`) under `staff:<username>`.

use crate::app::AppState;
use crate::config::Config;
use crate::service::caller::{Principal, Role};
use crate::service::error::{Code, Error};
use crate::store::now_ms;
use crate::store::staff::{SessionRow, StaffRow};
use crate::store::Store;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The audit scope of staff accounts and sign-ins.
pub const AUDIT_SCOPE: &str = "staff";

/// The most characters a password may have (argon2 takes any length; a megabyte of
/// password is a denial of service, not a password).
pub const MAX_PASSWORD: usize = 256;
/// The fewest characters a password set by a person may have.
pub const MIN_PASSWORD: usize = 12;

/// A new staff user, as given to [`create`].
#[derive(Debug, Clone)]
pub struct NewStaff {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub agencies: Vec<String>,
}

/// A staff user as the console shows one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Staff {
    pub username: String,
    pub display_name: String,
    pub role: &'static str,
    pub agencies: Vec<String>,
    pub disabled: bool,
}

/// The role of a staff user (`portal` is a program's, never a person's).
pub fn parse_role(s: &str) -> Option<Role> {
    match s {
        "admin" => Some(Role::Admin),
        "finance" => Some(Role::Finance),
        "viewer" => Some(Role::Viewer),
        _ => None,
    }
}

/// A username: 1-64 of a-z, 0-9, '.', '-', '_', starting with a letter or digit.
pub fn check_username(u: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&u.len())
        && u.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && u.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            Code::InvalidField,
            "username: 1-64 of a-z, 0-9, '.', '-', '_', starting with a letter or digit",
        )
        .with_field("username"))
    }
}

/// A one-time password: four groups of five lower-case Crockford characters (100 bits).
pub fn new_password() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    let chars: Vec<char> = bytes.iter().map(|b| ALPHABET[(b % 32) as usize] as char).collect();
    chars.chunks(5).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

async fn hash_password(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(Error::internal)?
    .map_err(Error::internal)
}

/// Whether `password` matches the PHC string `hash` (off the async threads: argon2 is slow
/// on purpose).
async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash no password matches in practice, verified against for unknown usernames so that
/// they take as long as known ones.
async fn decoy_hash() -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DECOY.get() {
        return h.clone();
    }
    let h = hash_password(new_password()).await.unwrap_or_default();
    DECOY.get_or_init(|| h).clone()
}

/// Creates a staff user with `password`; the journal says who did it.
pub async fn create(store: &Store, n: &NewStaff, password: &str, actor: &str) -> Result<Staff, Error> {
    check_username(&n.username)?;
    let name = n.display_name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(Error::new(Code::InvalidField, "name: 1-120 characters").with_field("name"));
    }
    if n.role == Role::Portal {
        return Err(Error::new(Code::InvalidRole, "a staff role is admin, finance or viewer").with_field("role"));
    }
    if password.chars().count() < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(Error::new(Code::InvalidField, format!("password: {MIN_PASSWORD}-{MAX_PASSWORD} characters"))
            .with_field("password"));
    }
    let mut agencies = n.agencies.clone();
    agencies.sort();
    agencies.dedup();
    for a in &agencies {
        if store.agency(a).await?.is_none() {
            return Err(Error::new(Code::UnknownAgency, format!("no agency has code {a}")).with_field("agency"));
        }
    }
    let row = StaffRow {
        username: n.username.clone(),
        display_name: name.to_owned(),
        role: n.role.as_str().to_owned(),
        password_hash: hash_password(password.to_owned()).await?,
        disabled: false,
        created_at: now_ms(),
    };
    let mut tx = store.begin().await?;
    match store.insert_staff(&mut tx, &row, &agencies, false).await {
        Ok(_) => {}
        Err(crate::store::StoreError::Conflict) => {
            tx.rollback().await?;
            return Err(
                Error::new(Code::Conflict, format!("a staff user named {} exists", n.username)).with_field("username")
            );
        }
        Err(e) => return Err(e.into()),
    }
    let payload = serde_json::json!({"username": row.username, "role": row.role, "agencies": agencies});
    store.audit(&mut tx, AUDIT_SCOPE, "staff.created", actor, &payload).await?;
    tx.commit().await?;
    Ok(Staff {
        username: row.username,
        display_name: row.display_name,
        role: n.role.as_str(),
        agencies,
        disabled: false,
    })
}

/// Seeds the demo's console users (each once: a changed password survives a restart).
pub async fn seed_demo(store: &Store, cfg: &Config) -> anyhow::Result<()> {
    for s in &cfg.demo.staff {
        if store.staff(&s.username).await?.is_some() {
            continue;
        }
        let role = parse_role(&s.role).ok_or_else(|| anyhow::anyhow!("demo staff {}: unknown role", s.username))?;
        let n =
            NewStaff { username: s.username.clone(), display_name: s.name.clone(), role, agencies: s.agencies.clone() };
        let password = secrecy::ExposeSecret::expose_secret(&s.password);
        match create(store, &n, password, "system:seed").await {
            Ok(_) => {}
            // Another node seeded it at the same time.
            Err(e) if e.code == Code::Conflict => {}
            Err(e) => anyhow::bail!("demo staff {}: {}", s.username, e.message),
        }
    }
    Ok(())
}

/// Why a sign-in was refused. Unknown user, wrong password and disabled user are one
/// answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Username or password wrong.
    Wrong,
    /// Too many wrong passwords: locked until this time (unix ms).
    Locked { until: i64 },
}

/// A new session: the id for the cookie (shown once, never stored) and who it is.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_id: String,
    pub who: Principal,
}

fn session_hash(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

/// Signs `username` in with `password`: a session, or why not. Wrong passwords after
/// `slow_after_failures` wait longer each time before the answer; `lock_after_failures`
/// lock the username for `lock_ms`.
pub async fn sign_in(state: &AppState, username: &str, password: &str) -> Result<Result<SignedIn, Refused>, Error> {
    let cfg = &state.config.console;
    let store = &state.store;
    // Usernames are lower-case; a name that cannot be one is throttled all the same.
    let username: String = username.trim().to_lowercase().chars().take(64).collect();
    let now = now_ms();
    if let Some(t) = store.sign_in_throttle(&username).await? {
        if let Some(until) = t.locked_until.filter(|u| *u > now) {
            return Ok(Err(Refused::Locked { until }));
        }
    }
    let user = store.staff(&username).await?;
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => decoy_hash().await,
    };
    let password: String = password.chars().take(MAX_PASSWORD).collect();
    let right = verify_password(password, hash).await && user.as_ref().is_some_and(|u| !u.disabled);
    let lock_ms = cfg.lock_ms as i64;
    let mut tx = store.begin().await?;
    // Rows nobody will come back for (abandoned sessions, old counts of made-up names) go
    // with each sign-in, so neither table grows without bound.
    store.purge_staff_sign_ins(&mut tx, now - cfg.absolute_timeout_ms as i64, now - lock_ms, now).await?;
    if let (true, Some(u)) = (right, &user) {
        store.clear_sign_in_throttle(&mut tx, &u.username).await?;
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let session_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        store.insert_session(&mut tx, &session_hash(&session_id), &u.username, now).await?;
        let who = principal(u.username.clone(), &u.role, u.display_name.clone(), store).await?;
        store.audit(&mut tx, AUDIT_SCOPE, "staff.signed_in", &who.actor(), &serde_json::json!({})).await?;
        tx.commit().await?;
        return Ok(Ok(SignedIn { session_id, who }));
    }
    let t = store
        .record_sign_in_failure(&mut tx, &username, now, now - lock_ms, cfg.lock_after_failures.into(), now + lock_ms)
        .await?;
    if let Some(u) = &user {
        let kind = if t.locked_until.is_some() { "staff.locked" } else { "staff.sign_in_refused" };
        let payload = serde_json::json!({"failures": t.failures});
        store.audit(&mut tx, AUDIT_SCOPE, kind, &format!("staff:{}", u.username), &payload).await?;
    }
    tx.commit().await?;
    if let Some(until) = t.locked_until {
        return Ok(Err(Refused::Locked { until }));
    }
    let over = t.failures - i64::from(cfg.slow_after_failures);
    if over > 0 {
        // 0.5 s, 1 s, 2 s, ... at most 8 s.
        let ms = 500u64 << (over - 1).clamp(0, 4);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Ok(Err(Refused::Wrong))
}

async fn principal(username: String, role: &str, name: String, store: &Store) -> Result<Principal, Error> {
    let role = parse_role(role).ok_or_else(|| Error::internal("a staff user has an unknown role"))?;
    let agencies = store.staff_agencies(&username).await?;
    Ok(Principal {
        key_id: username,
        role,
        portal_id: None,
        name,
        agencies: (!agencies.is_empty()).then_some(agencies),
        staff: true,
    })
}

/// Who a session id (from the cookie) signs in, if the session is live: unknown, timed out
/// (idle or absolute) or of a disabled user is `None` (a timed-out session is deleted).
pub async fn session(state: &AppState, session_id: &str) -> Result<Option<Principal>, Error> {
    if session_id.is_empty() || session_id.len() > 64 {
        return Ok(None);
    }
    let cfg = &state.config.console;
    let store = &state.store;
    let hash = session_hash(session_id);
    let Some(s) = store.session(&hash).await? else { return Ok(None) };
    let now = now_ms();
    if is_expired(&s, now, cfg.idle_timeout_ms as i64, cfg.absolute_timeout_ms as i64) || s.disabled {
        store.expire_session(&hash).await?;
        return Ok(None);
    }
    // One write a minute at most (or a quarter of the idle timeout, when shorter).
    if now - s.last_seen_at >= (cfg.idle_timeout_ms as i64 / 4).min(60_000) {
        store.touch_session(&hash, now).await?;
    }
    Ok(Some(principal(s.username, &s.role, s.display_name, store).await?))
}

fn is_expired(s: &SessionRow, now: i64, idle_ms: i64, absolute_ms: i64) -> bool {
    now - s.last_seen_at > idle_ms || now - s.created_at > absolute_ms
}

/// Ends the session on the server; the journal records who signed out.
pub async fn sign_out(state: &AppState, who: &Principal, session_id: &str) -> Result<(), Error> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    if store.delete_session(&mut tx, &session_hash(session_id)).await? {
        store.audit(&mut tx, AUDIT_SCOPE, "staff.signed_out", &who.actor(), &serde_json::json!({})).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The CSRF token of a session: SHA-256 of a label and the session id, which only the
/// session's own browser holds (the cookie is HttpOnly and never leaves our origin).
pub fn csrf_token(session_id: &str) -> String {
    hex::encode(Sha256::digest(format!("feegate-console-csrf\n{session_id}").as_bytes()))
}

/// Whether `presented` is the CSRF token of `session_id` (compared in constant time).
pub fn csrf_ok(session_id: &str, presented: &str) -> bool {
    csrf_token(session_id).as_bytes().ct_eq(presented.as_bytes()).into()
}

/// Disables (or enables again) a staff user; disabling ends their sessions at once. An
/// admin may not disable themself (the console would lose its last admin that way).
pub async fn set_disabled(store: &Store, who: &Principal, username: &str, disabled: bool) -> Result<(), Error> {
    who.require(&[Role::Admin])?;
    if disabled && who.staff && who.key_id == username {
        return Err(Error::new(Code::InvalidState, "you cannot disable yourself").with_field("username"));
    }
    let mut tx = store.begin().await?;
    if !store.set_staff_disabled(&mut tx, username, disabled).await? {
        return Err(Error::not_found("staff user"));
    }
    let kind = if disabled { "staff.disabled" } else { "staff.enabled" };
    store.audit(&mut tx, AUDIT_SCOPE, kind, &who.actor(), &serde_json::json!({"username": username})).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives a staff user a new one-time password (returned, shown once) and ends their
/// sessions; the wrong-password count of the name is cleared so the user can sign in.
pub async fn reset_password(store: &Store, who: &Principal, username: &str) -> Result<String, Error> {
    who.require(&[Role::Admin])?;
    let password = new_password();
    let hash = hash_password(password.clone()).await?;
    let mut tx = store.begin().await?;
    if !store.set_staff_password(&mut tx, username, &hash).await? {
        return Err(Error::not_found("staff user"));
    }
    store.clear_sign_in_throttle(&mut tx, username).await?;
    let payload = serde_json::json!({"username": username});
    store.audit(&mut tx, AUDIT_SCOPE, "staff.password_reset", &who.actor(), &payload).await?;
    tx.commit().await?;
    Ok(password)
}

/// Every staff user (the admin's list).
pub async fn list(store: &Store) -> Result<Vec<Staff>, Error> {
    let mut out = Vec::new();
    for u in store.staff_users().await? {
        let role = parse_role(&u.role).map(Role::as_str).unwrap_or("viewer");
        let agencies = store.staff_agencies(&u.username).await?;
        out.push(Staff { username: u.username, display_name: u.display_name, role, agencies, disabled: u.disabled });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_case_words() {
        for ok in ["admin", "ketoan.sogtvt", "nv_01", "a"] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Admin", ".x", "a b", "ngườidùng", &"a".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_csrf_token_belongs_to_its_session() {
        let t = csrf_token("s1");
        assert!(csrf_ok("s1", &t));
        assert!(!csrf_ok("s2", &t));
        assert!(!csrf_ok("s1", ""));
        assert!(!csrf_ok("s1", &t[..10]));
    }

    #[test]
    fn one_time_passwords_are_long_and_differ() {
        let (a, b) = (new_password(), new_password());
        assert_eq!(a.len(), 23, "{a}");
        assert_ne!(a, b);
    }
}
