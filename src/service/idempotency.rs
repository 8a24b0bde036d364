//! Idempotency keys on the service side, once for every idempotent request: the key is
//! claimed in the transaction of the work, the stored answer is replayed for the same
//! request, and a key reused with another request is refused (`idempotency_key_reused`).

use crate::service::error::Code;
use crate::service::error::Error;
use crate::service::payments::Stored;
use crate::store::create::KeyClaim;
use crate::store::idempotency::Claim;
use crate::store::{Store, Tx};
use sha2::{Digest, Sha256};

/// The hash that tells "same body" from "other body" for idempotency.
pub fn request_hash(route: &str, body: &serde_json::Value) -> String {
    // serde_json's map is ordered by key, so this is a canonical form of the body.
    hex::encode(Sha256::digest(format!("{route}\n{body}").as_bytes()))
}

/// Answers a used key: the saved response, or 409 for a different request.
pub fn replay(request_hash: &str, used_hash: &str, status: u16, response: String) -> Result<Stored, Error> {
    if used_hash != request_hash {
        return Err(Error::new(Code::IdempotencyKeyReused, "this Idempotency-Key was used with another request"));
    }
    Ok(Stored { status, body: response })
}

/// One request's idempotency: the caller's scope, its `Idempotency-Key` (none: the request
/// is not idempotent and every call does the work) and the hash of the request.
pub struct Idempotent<'a> {
    scope: String,
    key: Option<&'a str>,
    hash: String,
}

/// What a claim came to.
pub enum Claimed {
    /// Do the work in this transaction, then [`Idempotent::save`] its answer in it.
    Fresh(Tx),
    /// The key answered this very request before: that answer again (nothing was done).
    Replay(Stored),
}

impl<'a> Idempotent<'a> {
    /// The idempotency of a request to `route` with `body`, sent by `scope` with `key`.
    pub fn new(scope: String, key: Option<&'a str>, route: &str, body: &serde_json::Value) -> Self {
        Self { scope, key, hash: request_hash(route, body) }
    }

    /// Claims the key inside `tx`. A key already used rolls `tx` back and gives the stored
    /// answer ([`Claimed::Replay`]), or `idempotency_key_reused` when the request differs.
    pub async fn claim(&self, store: &Store, mut tx: Tx) -> Result<Claimed, Error> {
        if let Some(k) = self.key {
            if let Claim::Used { request_hash: used, status, response } =
                store.claim_idempotency(&mut tx, &self.scope, k, &self.hash).await?
            {
                tx.rollback().await?;
                return replay(&self.hash, &used, status, response).map(Claimed::Replay);
            }
        }
        Ok(Claimed::Fresh(tx))
    }

    /// The key of this request claimed with its final `answer`, for a store write that
    /// claims it together with the work ([`crate::store::create`]); `None` without a key.
    pub fn claim_with<'b>(&'b self, answer: &'b Stored) -> Option<KeyClaim<'b>> {
        self.key.map(|key| KeyClaim {
            scope: &self.scope,
            key,
            request_hash: &self.hash,
            status: answer.status,
            response: &answer.body,
        })
    }

    /// The answer of a write that claimed the key with `answer`: that answer if the claim
    /// was this request's, else the stored one (or `idempotency_key_reused`).
    pub fn answer(&self, claim: Claim, answer: Stored) -> Result<Stored, Error> {
        match claim {
            Claim::Owned => Ok(answer),
            Claim::Used { request_hash: used, status, response } => replay(&self.hash, &used, status, response),
        }
    }

    /// Saves the answer of a claimed key in the transaction of the work.
    pub async fn save(&self, store: &Store, tx: &mut Tx, answer: &Stored) -> Result<(), Error> {
        if let Some(k) = self.key {
            store.save_idempotent(tx, &self.scope, k, answer.status, &answer.body).await?;
        }
        Ok(())
    }
}
