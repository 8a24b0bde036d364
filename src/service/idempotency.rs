//! Idempotency keys on the service side, once for every idempotent request: the key is
//! claimed in the transaction of the work, the stored answer is replayed for the same
//! request, and a key reused with another request is refused (`idempotency_key_reused`).

use crate::service::error::Code;
use crate::service::error::Error;
use crate::service::payments::Stored;
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
    pub async fn claim(&self, store: &Store, tx: Tx) -> Result<Claimed, Error> {
        self.claim_inner(store, tx, None).await
    }

    /// Claims the key inside `tx` with the request's final `answer`, known before the work
    /// (a create): the key and its answer in one write, and no [`Idempotent::save`] after.
    /// Replays and refusals as [`Idempotent::claim`].
    pub async fn claim_answered(&self, store: &Store, tx: Tx, answer: &Stored) -> Result<Claimed, Error> {
        self.claim_inner(store, tx, Some(answer)).await
    }

    async fn claim_inner(&self, store: &Store, mut tx: Tx, answer: Option<&Stored>) -> Result<Claimed, Error> {
        if let Some(k) = self.key {
            let claim = match answer {
                Some(a) => store.claim_idempotency_with(&mut tx, &self.scope, k, &self.hash, a.status, &a.body).await?,
                None => store.claim_idempotency(&mut tx, &self.scope, k, &self.hash).await?,
            };
            if let Claim::Used { request_hash: used, status, response } = claim {
                tx.rollback().await?;
                return replay(&self.hash, &used, status, response).map(Claimed::Replay);
            }
        }
        Ok(Claimed::Fresh(tx))
    }

    /// Saves the answer of a claimed key in the transaction of the work.
    pub async fn save(&self, store: &Store, tx: &mut Tx, answer: &Stored) -> Result<(), Error> {
        if let Some(k) = self.key {
            store.save_idempotent(tx, &self.scope, k, answer.status, &answer.body).await?;
        }
        Ok(())
    }
}
