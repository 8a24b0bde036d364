//! API keys: `fgk_<key id>_<secret>`, stored as SHA-256 of the whole key and compared in
//! constant time. The `Principal` extractor authenticates a request.

use super::error::ApiError;
use crate::app::AppState;
use crate::service::error::Code;
use crate::store::admin::KeyRow;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A key's role (DESIGN §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Portal,
    Finance,
    Admin,
}

impl Role {
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
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub role: Role,
    pub portal_id: Option<String>,
    pub name: String,
}

impl Principal {
    /// The actor name written in the audit journal.
    pub fn actor(&self) -> String {
        format!("key:{}", self.key_id)
    }
    /// Requires one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
    /// Whether this caller may see a payment of `portal_id`.
    pub fn sees_portal(&self, portal_id: &str) -> bool {
        match self.role {
            Role::Portal => self.portal_id.as_deref() == Some(portal_id),
            Role::Finance | Role::Admin => true,
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

fn unauthorized(code: Code, message: &str) -> ApiError {
    ApiError::new(code, message)
}

/// Checks a presented key against its stored row.
pub fn check(row: &KeyRow, presented: &str) -> Result<(), ApiError> {
    let ok: bool = hash_key(presented).as_bytes().ct_eq(row.hash.as_bytes()).into();
    if !ok {
        return Err(unauthorized(Code::InvalidApiKey, "the API key is not valid"));
    }
    if row.revoked_at.is_some() {
        return Err(unauthorized(Code::RevokedApiKey, "the API key has been revoked"));
    }
    Ok(())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Already authenticated for this request by the rate limiter (`api::ratelimit`).
        if let Some(who) = parts.extensions.get::<Principal>() {
            return Ok(who.clone());
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized(Code::MissingApiKey, "send Authorization: Bearer <key>"))?;
        let value = header.to_str().map_err(|_| unauthorized(Code::InvalidApiKey, "the API key is not valid"))?;
        let key = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthorized(Code::InvalidApiKey, "use the Bearer scheme: Authorization: Bearer <key>"))?
            .trim();
        let id = key
            .strip_prefix("fgk_")
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| format!("key_{id}"))
            .filter(|id| id.len() <= 40)
            .ok_or_else(|| unauthorized(Code::InvalidApiKey, "the API key is not valid"))?;
        let row =
            state.store.key(&id).await?.ok_or_else(|| unauthorized(Code::InvalidApiKey, "the API key is not valid"))?;
        check(&row, key)?;
        let role = Role::parse(&row.role).ok_or_else(|| ApiError::internal("stored key has an unknown role"))?;
        Ok(Principal { key_id: row.id, role, portal_id: row.portal_id, name: row.name })
    }
}
