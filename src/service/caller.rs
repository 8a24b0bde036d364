//! Who is calling: the caller's identity and role ([`Principal`], [`Role`]) and the API
//! keys that prove them (`fgk_<key id>_<secret>`, stored as SHA-256 of the whole key and
//! compared in constant time). `api/auth.rs` reads the key from the request.

use crate::service::error::{Code, Error};
use crate::store::admin::KeyRow;
use crate::store::Store;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A caller's role (DESIGN §6, §9). `Viewer` is a staff role only (no API key has it): it
/// reads what is in its scope and changes nothing, so every `require` of an action leaves
/// it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Portal,
    Finance,
    Admin,
    Viewer,
}

impl Role {
    /// The role of an API key (`viewer` is not one).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "portal" => Some(Role::Portal),
            "finance" => Some(Role::Finance),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Portal => "portal",
            Role::Finance => "finance",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// Who is calling: an API key, or a staff user signed in to the console.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's id, or the staff user's username (with `staff`).
    pub key_id: String,
    pub role: Role,
    pub portal_id: Option<String>,
    pub name: String,
    /// The agencies this caller is bound to; `None`: every agency. Services filter by it
    /// (a payment of another agency is "not found", as a missing one).
    pub agencies: Option<Vec<String>>,
    /// A staff user (console session), not an API key.
    pub staff: bool,
}

impl Principal {
    /// The actor name written in the audit journal: `key:<id>` or `staff:<username>`.
    pub fn actor(&self) -> String {
        if self.staff {
            format!("staff:{}", self.key_id)
        } else {
            format!("key:{}", self.key_id)
        }
    }
    /// Whether this caller may see what belongs to `agency_code`.
    pub fn sees_agency(&self, agency_code: &str) -> bool {
        self.agencies.as_ref().is_none_or(|a| a.iter().any(|c| c == agency_code))
    }
    /// Requires one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Error> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    }
    /// Requires a caller bound to no agency: reconciliation runs and cases are per gateway
    /// or bank source, and a source's file holds every agency's payments, so an
    /// agency-bound user may not read or act on them (DESIGN §9; docs/console.md).
    pub fn require_every_agency(&self) -> Result<(), Error> {
        match self.agencies {
            None => Ok(()),
            Some(_) => Err(Error::new(
                Code::Forbidden,
                "reconciliation runs and cases are per source, not per agency: an agency-bound user may not see them",
            )),
        }
    }
    /// Whether this caller may see a payment of `portal_id`.
    pub fn sees_portal(&self, portal_id: &str) -> bool {
        match self.role {
            Role::Portal => self.portal_id.as_deref() == Some(portal_id),
            Role::Finance | Role::Admin | Role::Viewer => true,
        }
    }
}

/// SHA-256 of a key, hex.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Makes a new key: (id, full key, hash).
pub fn new_key() -> (String, String, String) {
    let id = crate::domain::ids::new_id("key");
    let key = format!("fgk_{}_{}", id.trim_start_matches("key_"), crate::domain::ids::new_secret());
    let hash = hash_key(&key);
    (id, key, hash)
}

fn invalid() -> Error {
    Error::new(Code::InvalidApiKey, "the API key is not valid")
}

/// Checks a presented key against its stored row.
pub fn check(row: &KeyRow, presented: &str) -> Result<(), Error> {
    let ok: bool = hash_key(presented).as_bytes().ct_eq(row.hash.as_bytes()).into();
    if !ok {
        return Err(invalid());
    }
    if row.revoked_at.is_some() {
        return Err(Error::new(Code::RevokedApiKey, "the API key has been revoked"));
    }
    Ok(())
}

/// The caller a presented key (`fgk_<id>_<secret>`) proves.
pub async fn authenticate(store: &Store, key: &str) -> Result<Principal, Error> {
    let id = key
        .strip_prefix("fgk_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| format!("key_{id}"))
        .filter(|id| id.len() <= 40)
        .ok_or_else(invalid)?;
    let row = store.key(&id).await?.ok_or_else(invalid)?;
    check(&row, key)?;
    let role = Role::parse(&row.role).ok_or_else(|| Error::internal("stored key has an unknown role"))?;
    // Only a finance key can be bound to agencies: one more read for those keys alone, so a
    // portal's create pays nothing for the scope.
    let agencies = match role {
        Role::Finance => Some(store.key_agencies(&row.id).await?).filter(|a| !a.is_empty()),
        Role::Portal | Role::Admin | Role::Viewer => None,
    };
    Ok(Principal { key_id: row.id, role, portal_id: row.portal_id, name: row.name, agencies, staff: false })
}
