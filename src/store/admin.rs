//! Agencies, accounts, portals (with their allowed return origins), API keys, and the
//! keys the server makes for itself.

use super::types::{JsonString, JsonText, Millis, OptMillis};
use super::{now_ms, Result, Store, StoreError, Tx};
use crate::domain::agency::{Account, Agency, LineKind};
use sqlx::FromRow;

#[derive(Debug, Clone, FromRow)]
struct AccountRow {
    id: String,
    agency_code: String,
    bank_bin: String,
    bank_name: String,
    account_number: String,
    account_name: String,
    kind: String,
    receives: String,
    budget_chapter: Option<String>,
    budget_item: Option<String>,
    active: bool,
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Account {
        Account {
            id: r.id,
            agency_code: r.agency_code,
            bank_bin: r.bank_bin,
            bank_name: r.bank_name,
            account_number: r.account_number,
            account_name: r.account_name,
            kind: r.kind,
            receives: r.receives.split(',').filter_map(LineKind::parse).collect(),
            budget_chapter: r.budget_chapter,
            budget_item: r.budget_item,
            active: r.active,
        }
    }
}

/// A portal row (its webhook secret included: keep it out of responses after creation;
/// its Debug output hides it).
#[derive(Clone, FromRow)]
pub struct PortalRow {
    pub id: String,
    pub name: String,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    /// JSON array of agency codes, or `["*"]`.
    #[sqlx(try_from = "JsonString")]
    pub agencies: String,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
}

impl std::fmt::Debug for PortalRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("webhook_url", &self.webhook_url.as_deref().map(crate::config::redact_url))
            .field("webhook_secret", &"[REDACTED]")
            .field("agencies", &self.agencies)
            .finish_non_exhaustive()
    }
}

impl PortalRow {
    /// Whether this portal may bill `agency_code`.
    pub fn may_bill(&self, agency_code: &str) -> bool {
        let list: Vec<String> = serde_json::from_str(&self.agencies).unwrap_or_default();
        list.iter().any(|a| a == "*" || a == agency_code)
    }
}

/// An API key row.
#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    pub id: String,
    pub hash: String,
    pub role: String,
    pub portal_id: Option<String>,
    pub name: String,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
    #[sqlx(try_from = "OptMillis")]
    pub revoked_at: Option<i64>,
}

const ACCOUNT_COLS: &str = "id, agency_code, bank_bin, bank_name, account_number, account_name, kind, receives, \
    budget_chapter, budget_item, active";

fn receives_text(r: &[LineKind]) -> String {
    r.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")
}

impl Store {
    /// Inserts an agency, or updates its name and parent.
    pub async fn upsert_agency(&self, tx: &mut Tx, a: &Agency) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO agencies (code, name, parent_code, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent_code = excluded.parent_code",
        )
        .bind(&a.code)
        .bind(&a.name)
        .bind(&a.parent_code)
        .bind(Millis(now_ms()))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Inserts an agency; `Conflict` if the code exists.
    pub async fn insert_agency(&self, tx: &mut Tx, a: &Agency) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO agencies (code, name, parent_code, created_at) VALUES ($1, $2, $3, $4)"
        )
        .bind(&a.code)
        .bind(&a.name)
        .bind(&a.parent_code)
        .bind(Millis(now_ms()))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn update_agency(&self, tx: &mut Tx, a: &Agency) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query("UPDATE agencies SET name = $1, parent_code = $2 WHERE code = $3")
            .bind(&a.name)
            .bind(&a.parent_code)
            .bind(&a.code)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    pub async fn agency(&self, code: &str) -> Result<Option<Agency>> {
        let row: Option<(String, String, Option<String>)> =
            on_pool!(self, |db| sqlx::query_as("SELECT code, name, parent_code FROM agencies WHERE code = $1")
                .bind(code)
                .fetch_optional(db)
                .await)?;
        Ok(row.map(|(code, name, parent_code)| Agency { code, name, parent_code }))
    }

    /// An agency read inside `tx` (a transaction must not wait for a second connection:
    /// with every pooled connection held by such a transaction, none would come).
    pub async fn agency_in(&self, tx: &mut Tx, code: &str) -> Result<Option<Agency>> {
        let row: Option<(String, String, Option<String>)> =
            on_tx!(tx, |db| sqlx::query_as("SELECT code, name, parent_code FROM agencies WHERE code = $1")
                .bind(code)
                .fetch_optional(db)
                .await)?;
        Ok(row.map(|(code, name, parent_code)| Agency { code, name, parent_code }))
    }

    pub async fn agencies(&self) -> Result<Vec<Agency>> {
        let rows: Vec<(String, String, Option<String>)> =
            on_pool!(self, |db| sqlx::query_as("SELECT code, name, parent_code FROM agencies ORDER BY code")
                .fetch_all(db)
                .await)?;
        Ok(rows.into_iter().map(|(code, name, parent_code)| Agency { code, name, parent_code }).collect())
    }

    /// Inserts an account, or (same agency, BIN and number) updates it in place.
    pub async fn upsert_account(&self, tx: &mut Tx, a: &Account) -> Result<String> {
        let (id,): (String,) = on_tx!(tx, |db| sqlx::query_as(&format!(
            "INSERT INTO accounts ({ACCOUNT_COLS}, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) \
             ON CONFLICT (agency_code, bank_bin, account_number) DO UPDATE SET bank_name = excluded.bank_name, \
             account_name = excluded.account_name, kind = excluded.kind, receives = excluded.receives, \
             budget_chapter = excluded.budget_chapter, budget_item = excluded.budget_item, active = excluded.active \
             RETURNING id"
        ))
        .bind(&a.id)
        .bind(&a.agency_code)
        .bind(&a.bank_bin)
        .bind(&a.bank_name)
        .bind(&a.account_number)
        .bind(&a.account_name)
        .bind(&a.kind)
        .bind(receives_text(&a.receives))
        .bind(&a.budget_chapter)
        .bind(&a.budget_item)
        .bind(a.active)
        .bind(Millis(now_ms()))
        .fetch_one(db)
        .await)?;
        Ok(id)
    }

    /// Sets an account's active flag and what it receives.
    pub async fn patch_account(&self, tx: &mut Tx, id: &str, active: bool, receives: &[LineKind]) -> Result<bool> {
        let r = on_tx!(tx, |db| sqlx::query("UPDATE accounts SET active = $1, receives = $2 WHERE id = $3")
            .bind(active)
            .bind(receives_text(receives))
            .bind(id)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// An agency's accounts in the order they were added.
    pub async fn accounts(&self, agency_code: &str) -> Result<Vec<Account>> {
        let rows: Vec<AccountRow> = on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE agency_code = $1 ORDER BY created_at, id"
        ))
        .bind(agency_code)
        .fetch_all(db)
        .await)?;
        Ok(rows.into_iter().map(Account::from).collect())
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>> {
        let row: Option<AccountRow> =
            on_pool!(self, |db| sqlx::query_as(&format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1"))
                .bind(id)
                .fetch_optional(db)
                .await)?;
        Ok(row.map(Account::from))
    }

    /// Inserts a portal, or leaves an existing one alone (`false`).
    pub async fn insert_portal(&self, tx: &mut Tx, p: &PortalRow, if_absent: bool) -> Result<bool> {
        let sql = if if_absent {
            "INSERT INTO portals (id, name, webhook_url, webhook_secret, agencies, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (id) DO NOTHING"
        } else {
            "INSERT INTO portals (id, name, webhook_url, webhook_secret, agencies, created_at) VALUES ($1,$2,$3,$4,$5,$6)"
        };
        let r = on_tx!(tx, |db| sqlx::query(sql)
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.webhook_url)
            .bind(&p.webhook_secret)
            .bind(JsonText(&p.agencies))
            .bind(Millis(p.created_at))
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    pub async fn portal(&self, id: &str) -> Result<Option<PortalRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT id, name, webhook_url, webhook_secret, agencies, created_at FROM portals WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(db)
        .await)?)
    }

    pub async fn portals(&self) -> Result<Vec<PortalRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT id, name, webhook_url, webhook_secret, agencies, created_at FROM portals ORDER BY id",
        )
        .fetch_all(db)
        .await)?)
    }

    pub async fn insert_key(&self, tx: &mut Tx, k: &KeyRow) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO api_keys (id, hash, role, portal_id, name, created_at) VALUES ($1,$2,$3,$4,$5,$6)"
        )
        .bind(&k.id)
        .bind(&k.hash)
        .bind(&k.role)
        .bind(&k.portal_id)
        .bind(&k.name)
        .bind(Millis(k.created_at))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| match StoreError::from(e) {
            StoreError::Constraint(_) => StoreError::Constraint("unknown portal".into()),
            other => other,
        })?;
        Ok(())
    }

    /// Binds a key to agencies (a finance key's scope; none: every agency).
    pub async fn insert_key_agencies(&self, tx: &mut Tx, key_id: &str, agencies: &[String]) -> Result<()> {
        for a in agencies {
            on_tx!(tx, |db| sqlx::query("INSERT INTO api_key_agencies (key_id, agency_code) VALUES ($1, $2)")
                .bind(key_id)
                .bind(a)
                .execute(db)
                .await
                .map(|_| ()))
            .map_err(|e| match StoreError::from(e) {
                StoreError::Constraint(_) => StoreError::Constraint(format!("unknown agency {a}")),
                other => other,
            })?;
        }
        Ok(())
    }

    /// The agencies a key is bound to, sorted; empty: every agency.
    pub async fn key_agencies(&self, key_id: &str) -> Result<Vec<String>> {
        Ok(on_pool!(self, |db| sqlx::query_scalar(
            "SELECT agency_code FROM api_key_agencies WHERE key_id = $1 ORDER BY agency_code"
        )
        .bind(key_id)
        .fetch_all(db)
        .await)?)
    }

    /// Every key (newest first), revoked ones too, with the agencies each is bound to.
    pub async fn keys(&self) -> Result<Vec<(KeyRow, Vec<String>)>> {
        let rows: Vec<KeyRow> = on_pool!(self, |db| {
            sqlx::query_as(
            "SELECT id, hash, role, portal_id, name, created_at, revoked_at FROM api_keys ORDER BY created_at DESC, id"
        )
        .fetch_all(db)
        .await
        })?;
        let bound: Vec<(String, String)> = on_pool!(self, |db| sqlx::query_as(
            "SELECT key_id, agency_code FROM api_key_agencies ORDER BY agency_code"
        )
        .fetch_all(db)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|k| {
                let a = bound.iter().filter(|(id, _)| *id == k.id).map(|(_, c)| c.clone()).collect();
                (k, a)
            })
            .collect())
    }

    pub async fn key(&self, id: &str) -> Result<Option<KeyRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT id, hash, role, portal_id, name, created_at, revoked_at FROM api_keys WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(db)
        .await)?)
    }

    /// Revokes a key; `false` if there is no such live key.
    pub async fn revoke_key(&self, tx: &mut Tx, id: &str) -> Result<bool> {
        let r =
            on_tx!(tx, |db| sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(Millis(now_ms()))
                .bind(id)
                .execute(db)
                .await
                .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }
    /// A portal's allowed return_url origins; `None` when the portal does not exist.
    /// A portal whose origins were never set has none.
    pub async fn portal_return_origins(&self, id: &str) -> Result<Option<Vec<String>>> {
        let row: Option<(Option<String>,)> =
            on_pool!(self, |db| sqlx::query_as("SELECT return_origins FROM portals WHERE id = $1")
                .bind(id)
                .fetch_optional(db)
                .await)?;
        Ok(row.map(|(o,)| o.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()))
    }

    /// Sets a portal's allowed return origins; `false` if there is no such portal. With
    /// `only_if_unset`, leaves origins an admin has set (even to none) alone.
    pub async fn set_portal_return_origins(
        &self,
        tx: &mut Tx,
        id: &str,
        origins: &[String],
        only_if_unset: bool,
    ) -> Result<bool> {
        let json = serde_json::to_string(origins).map_err(|e| StoreError::Constraint(e.to_string()))?;
        let sql = if only_if_unset {
            "UPDATE portals SET return_origins = $1 WHERE id = $2 AND return_origins IS NULL"
        } else {
            "UPDATE portals SET return_origins = $1 WHERE id = $2"
        };
        let r = on_tx!(tx, |db| sqlx::query(sql).bind(json).bind(id).execute(db).await.map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// The server key called `name`: the stored one, or `candidate` stored now if there is
    /// none yet (every node of a cluster ends up with the same key).
    pub async fn server_key(&self, name: &str, candidate: &str) -> Result<String> {
        let mut tx = self.begin().await?;
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO server_keys (name, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(Millis(now_ms()))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        let (secret,): (String,) = on_tx!(tx, |db| sqlx::query_as("SELECT secret FROM server_keys WHERE name = $1")
            .bind(name)
            .fetch_one(db)
            .await)?;
        tx.commit().await?;
        Ok(secret)
    }
}
