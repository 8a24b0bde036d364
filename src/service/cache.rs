//! What a create reads on every request and an admin changes rarely, kept in memory for
//! `cache_ttl_ms` (5 s by default; 0 turns the cache off): a portal with its return
//! origins, whether an agency exists, and an agency's accounts.
//!
//! A change made through this process's admin service (API or a command in the same
//! process) is seen at once: it calls [`changed`], which empties every cache. A change
//! made elsewhere (another node, the CLI, SQL by hand) is seen within the TTL. API keys
//! are never cached: revoking a key refuses the very next request.

use crate::domain::agency::Account;
use crate::service::error::Error;
use crate::store::admin::PortalRow;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bumped by every admin change in this process; an entry stamped with an older value is
/// stale. One counter for the process (not per app): a change empties every cache in it,
/// which at worst costs a few reads.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// An admin change to portals, agencies or accounts: every cache forgets what it holds.
pub fn changed() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// A portal and its allowed return origins.
#[derive(Clone)]
pub struct PortalEntry {
    pub portal: PortalRow,
    pub return_origins: Vec<String>,
}

/// One map of values that expire.
struct Expiring<V> {
    map: Mutex<HashMap<String, (Instant, u64, V)>>,
}

/// The most entries one map holds before it is emptied (portals and agencies number in
/// the hundreds; this only bounds memory against a caller that tries many codes).
const MAX_ENTRIES: usize = 10_000;

impl<V: Clone> Expiring<V> {
    fn new() -> Self {
        Self { map: Mutex::new(HashMap::new()) }
    }

    fn get(&self, key: &str, ttl: Duration) -> Option<V> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (at, generation, v) = map.get(key)?;
        (at.elapsed() < ttl && *generation == GENERATION.load(Ordering::SeqCst)).then(|| v.clone())
    }

    fn put(&self, key: &str, generation: u64, v: V) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key.to_owned(), (Instant::now(), generation, v));
    }
}

/// The cache of one app.
pub struct Cache {
    ttl: Duration,
    portals: Expiring<Option<PortalEntry>>,
    agencies: Expiring<bool>,
    accounts: Expiring<Vec<Account>>,
}

impl Cache {
    /// A cache whose entries live `ttl` (zero: nothing is kept).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, portals: Expiring::new(), agencies: Expiring::new(), accounts: Expiring::new() }
    }

    /// Reads through `map`: the fresh entry, or `load` (stored unless a change came
    /// between the read and now).
    async fn through<V: Clone, F>(&self, map: &Expiring<V>, key: &str, load: F) -> Result<V, Error>
    where
        F: std::future::Future<Output = Result<V, Error>>,
    {
        if let Some(v) = map.get(key, self.ttl) {
            return Ok(v);
        }
        // Taken before the read: a change during the read leaves an already stale entry.
        let generation = GENERATION.load(Ordering::SeqCst);
        let v = load.await?;
        if !self.ttl.is_zero() {
            map.put(key, generation, v.clone());
        }
        Ok(v)
    }

    /// A portal with its return origins (`None`: no such portal).
    pub async fn portal(&self, store: &Store, id: &str) -> Result<Option<PortalEntry>, Error> {
        self.through(&self.portals, id, async {
            let Some(portal) = store.portal(id).await? else { return Ok(None) };
            let return_origins = store.portal_return_origins(id).await?.unwrap_or_default();
            Ok(Some(PortalEntry { portal, return_origins }))
        })
        .await
    }

    /// Whether an agency with this code exists.
    pub async fn agency_exists(&self, store: &Store, code: &str) -> Result<bool, Error> {
        self.through(&self.agencies, code, async { Ok(store.agency(code).await?.is_some()) }).await
    }

    /// An agency's accounts (active or not, as the store lists them).
    pub async fn accounts(&self, store: &Store, code: &str) -> Result<Vec<Account>, Error> {
        self.through(&self.accounts, code, async { Ok(store.accounts(code).await?) }).await
    }
}
