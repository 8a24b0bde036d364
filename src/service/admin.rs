//! Admin actions: agencies and accounts (API and import files), portals and their allowed
//! return origins, API keys, and the demo seed. Each is audited under the `admin` scope.

use crate::config::Config;
use crate::domain::agency::{agency_code, Account, Agency, AgencyImport, LineKind, NewAccount};
use crate::domain::ids::{new_id, new_secret};
use crate::domain::text;
use crate::service::caller::{new_key, Role};
use crate::service::error::Code;
use crate::service::error::Error;
use crate::store::admin::{KeyRow, PortalRow};
use crate::store::{now_ms, Store, StoreError, Tx};
use anyhow::Context;

/// Writes one agency and its accounts (insert or update).
pub async fn upsert_agency(store: &Store, tx: &mut Tx, a: AgencyImport, actor: &str) -> Result<usize, Error> {
    let code = agency_code("code", &a.code)?;
    let agency = Agency { code: code.clone(), name: text("name", &a.name, 200, true)?, parent_code: a.parent_code };
    store.upsert_agency(tx, &agency).await?;
    let n = a.accounts.len();
    for acc in a.accounts {
        let account = acc.validate(new_id("acc"), &code)?;
        store.upsert_account(tx, &account).await?;
    }
    store.audit(tx, "admin", "agency.upserted", actor, &serde_json::json!({"code": code, "accounts": n})).await?;
    Ok(n)
}

/// Parses an import file: TOML (`[[agencies]]` with nested `[[agencies.accounts]]`) or CSV
/// (one row per account; see `docs/agencies-import.md`).
pub fn parse_import(path: &str, text: &str) -> anyhow::Result<Vec<AgencyImport>> {
    if path.ends_with(".csv") {
        return parse_csv(text);
    }
    #[derive(serde::Deserialize)]
    struct File {
        agencies: Vec<AgencyImport>,
    }
    let f: File = toml::from_str(text).context("parsing the TOML import file")?;
    Ok(f.agencies)
}

fn parse_csv(text: &str) -> anyhow::Result<Vec<AgencyImport>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut out: Vec<AgencyImport> = Vec::new();
    for (i, rec) in rdr.deserialize::<std::collections::HashMap<String, String>>().enumerate() {
        let line = i + 2;
        let r = rec.with_context(|| format!("line {line}"))?;
        let get = |k: &str| r.get(k).cloned().unwrap_or_default();
        let code = get("agency_code");
        anyhow::ensure!(!code.is_empty(), "line {line}: agency_code is empty");
        let pos = match out.iter().position(|a| a.code == code) {
            Some(p) => p,
            None => {
                let parent = get("parent_code");
                out.push(AgencyImport {
                    code: code.clone(),
                    name: get("agency_name"),
                    parent_code: (!parent.is_empty()).then_some(parent),
                    accounts: Vec::new(),
                });
                out.len() - 1
            }
        };
        if get("account_number").is_empty() {
            continue;
        }
        let receives = get("receives")
            .split([';', ' ', '|'])
            .filter(|s| !s.is_empty())
            .map(|s| LineKind::parse(s).with_context(|| format!("line {line}: receives `{s}` is not fee or charge")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let opt = |k: &str| Some(get(k)).filter(|v| !v.is_empty());
        out[pos].accounts.push(NewAccount {
            bank_bin: get("bank_bin"),
            bank_name: get("bank_name"),
            account_number: get("account_number"),
            account_name: get("account_name"),
            kind: get("kind"),
            receives,
            budget_chapter: opt("budget_chapter"),
            budget_item: opt("budget_item"),
            active: get("active") != "false",
        });
    }
    Ok(out)
}

/// Imports agencies in one transaction: all or nothing.
pub async fn import(store: &Store, agencies: Vec<AgencyImport>, actor: &str) -> Result<(usize, usize), Error> {
    let mut tx = store.begin().await?;
    let (mut a, mut n) = (0, 0);
    for ag in agencies {
        n += upsert_agency(store, &mut tx, ag, actor).await?;
        a += 1;
    }
    tx.commit().await?;
    super::cache::changed();
    Ok((a, n))
}

/// Seeds the demo portal, agencies and accounts (idempotent).
pub async fn seed_demo(store: &Store, cfg: &Config) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    for p in &cfg.demo.portals {
        let row = PortalRow {
            id: p.id.clone(),
            name: p.name.clone(),
            webhook_url: p.webhook_url.clone(),
            webhook_secret: secrecy::ExposeSecret::expose_secret(&p.webhook_secret).to_owned(),
            agencies: "[\"*\"]".into(),
            created_at: now_ms(),
        };
        store.insert_portal(&mut tx, &row, true).await?;
        let origins = p
            .return_origins
            .iter()
            .map(|o| return_origin(o).map_err(|e| anyhow::anyhow!("demo portal {}: {}", p.id, e.message)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if !origins.is_empty() {
            // Only where nobody has set them: an admin's choice survives a restart.
            store.set_portal_return_origins(&mut tx, &p.id, &origins, true).await?;
        }
    }
    // Parents first, so foreign keys hold.
    let mut agencies = cfg.demo.agencies.clone();
    agencies.sort_by_key(|a| a.parent_code.is_some());
    for a in agencies {
        upsert_agency(store, &mut tx, a, "system:seed")
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    }
    tx.commit().await?;
    super::cache::changed();
    // After the agencies, which scoped users refer to.
    super::staff::seed_demo(store, cfg).await?;
    Ok(())
}

/// A new portal, with its allowed return origins (none: it may not give a return_url); the
/// webhook secret is returned once.
pub async fn create_portal(
    store: &Store,
    id: Option<String>,
    name: &str,
    webhook_url: Option<String>,
    agencies: Vec<String>,
    return_origins: &[String],
    actor: &str,
) -> Result<PortalRow, Error> {
    let id = match id {
        Some(i)
            if !i.is_empty()
                && i.len() <= 64
                && i.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            i
        }
        Some(_) => {
            return Err(Error::new(Code::InvalidField, "portal id: 1-64 letters, digits, '-' or '_'").with_field("id"))
        }
        None => new_id("ptl"),
    };
    if let Some(u) = &webhook_url {
        match url::Url::parse(u) {
            Ok(p) if p.scheme() == "https" || p.scheme() == "http" => {}
            _ => {
                return Err(
                    Error::new(Code::InvalidWebhookUrl, "webhook_url must be an http(s) URL").with_field("webhook_url")
                )
            }
        }
    }
    let origins = clean_origins(return_origins)?;
    let row = PortalRow {
        id,
        name: text("name", name, 200, true)?,
        webhook_url,
        webhook_secret: format!("whsec_{}", new_secret()),
        agencies: serde_json::to_string(&if agencies.is_empty() { vec!["*".to_string()] } else { agencies })
            .map_err(Error::internal)?,
        created_at: now_ms(),
    };
    let mut tx = store.begin().await?;
    if !store.insert_portal(&mut tx, &row, false).await? {
        return Err(Error::new(Code::PortalExists, "a portal with this id exists"));
    }
    if !origins.is_empty() {
        store.set_portal_return_origins(&mut tx, &row.id, &origins, false).await?;
    }
    store
        .audit(
            &mut tx,
            "admin",
            "portal.created",
            actor,
            &serde_json::json!({"id": row.id, "name": row.name, "return_origins": origins}),
        )
        .await?;
    tx.commit().await?;
    super::cache::changed();
    Ok(row)
}

/// A new API key: (id, key). The key is shown once.
pub async fn create_key(
    store: &Store,
    role: Role,
    portal_id: Option<String>,
    agencies: &[String],
    name: &str,
    actor: &str,
) -> Result<(String, String), Error> {
    if !agencies.is_empty() && role != Role::Finance {
        return Err(Error::new(Code::InvalidField, "only finance keys are bound to agencies").with_field("agencies"));
    }
    let mut agencies = agencies.to_vec();
    agencies.sort();
    agencies.dedup();
    for a in &agencies {
        if store.agency(a).await?.is_none() {
            return Err(Error::new(Code::UnknownAgency, format!("no agency has code {a}")).with_field("agencies"));
        }
    }
    match (role, &portal_id) {
        (Role::Portal, None) => {
            return Err(Error::new(Code::MissingField, "a portal key needs portal_id").with_field("portal_id"))
        }
        (Role::Finance | Role::Admin | Role::Viewer, Some(_)) => {
            return Err(Error::new(Code::InvalidField, "only portal keys belong to a portal").with_field("portal_id"))
        }
        _ => {}
    }
    if let Some(p) = &portal_id {
        if store.portal(p).await?.is_none() {
            return Err(Error::new(Code::UnknownPortal, format!("no portal has id {p}")).with_field("portal_id"));
        }
    }
    let (id, key, hash) = new_key();
    let row = KeyRow {
        id: id.clone(),
        hash,
        role: role.as_str().into(),
        portal_id,
        name: text("name", name, 100, false)?,
        created_at: now_ms(),
        revoked_at: None,
    };
    let mut tx = store.begin().await?;
    store.insert_key(&mut tx, &row).await?;
    store.insert_key_agencies(&mut tx, &id, &agencies).await?;
    store
        .audit(
            &mut tx,
            "admin",
            "key.created",
            actor,
            &serde_json::json!({"id": id, "role": row.role, "portal_id": row.portal_id, "agencies": agencies}),
        )
        .await?;
    tx.commit().await?;
    Ok((id, key))
}

/// Every API key with the agencies it is bound to (newest first).
pub async fn keys(store: &Store) -> Result<Vec<(crate::store::admin::KeyRow, Vec<String>)>, Error> {
    Ok(store.keys().await?)
}

/// The latest audit entries (newest first), of `actor` when given, before the keyset
/// `before` (`<created_at ms>_<id>` of the last entry seen).
pub async fn recent_audit(
    store: &Store,
    actor: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<crate::store::audit::AuditRow>, Error> {
    let before = match before {
        None => None,
        Some(b) => {
            let parsed = b.split_once('_').and_then(|(at, id)| at.parse::<i64>().ok().map(|at| (at, id)));
            Some(parsed.ok_or_else(|| Error::new(Code::InvalidQuery, "before: <ms>_<id>").with_field("before"))?)
        }
    };
    Ok(store.recent_audit(actor, before, limit).await?)
}

/// Re-computes every chain of the audit journal: the count of entries checked, or the
/// first broken entry.
pub async fn verify_audit(store: &Store) -> Result<Result<u64, crate::store::audit::Broken>, Error> {
    Ok(store.verify_audit().await?)
}

/// Revokes a key; 404 if there is no live key with that id.
pub async fn revoke_key(store: &Store, id: &str, actor: &str) -> Result<(), Error> {
    let mut tx = store.begin().await?;
    if !store.revoke_key(&mut tx, id).await? {
        return Err(Error::not_found("key"));
    }
    store.audit(&mut tx, "admin", "key.revoked", actor, &serde_json::json!({"id": id})).await?;
    tx.commit().await?;
    Ok(())
}

/// The most return origins one portal may have.
pub const MAX_RETURN_ORIGINS: usize = 20;

/// Checks one allowed return origin and gives its canonical form (`https://host[:port]`):
/// https only, a host, nothing after it but an optional `/`.
pub fn return_origin(raw: &str) -> Result<String, Error> {
    let bad = || {
        Error::new(
            Code::InvalidReturnOrigin,
            format!(
                "`{}` is not an https origin like https://portal.example.vn",
                raw.chars().take(100).collect::<String>()
            ),
        )
        .with_field("origins")
    };
    let u = url::Url::parse(raw).map_err(|_| bad())?;
    let bare = u.path() == "/" && u.query().is_none() && u.fragment().is_none();
    if u.scheme() != "https" || u.host_str().is_none() || !u.username().is_empty() || u.password().is_some() || !bare {
        return Err(bad());
    }
    Ok(u.origin().ascii_serialization())
}

/// Checks a list of return origins: their canonical forms, without repeats.
fn clean_origins(origins: &[String]) -> Result<Vec<String>, Error> {
    if origins.len() > MAX_RETURN_ORIGINS {
        return Err(Error::new(
            Code::TooManyReturnOrigins,
            format!("a portal has at most {MAX_RETURN_ORIGINS} return origins"),
        )
        .with_field("origins"));
    }
    let mut clean: Vec<String> = Vec::with_capacity(origins.len());
    for o in origins {
        let o = return_origin(o)?;
        if !clean.contains(&o) {
            clean.push(o);
        }
    }
    Ok(clean)
}

/// Refuses a create whose `return_url` is not on one of the portal's allowed origins
/// (https only; a portal with none allows no return_url at all). The payer's browser is
/// sent there after paying, so anything else would be an open redirect.
pub async fn check_return_url(store: &Store, portal_id: &str, return_url: &str) -> Result<(), Error> {
    if return_url.is_empty() {
        return Ok(());
    }
    let origins = store.portal_return_origins(portal_id).await?.unwrap_or_default();
    check_return_url_in(&origins, return_url)
}

/// The same against a portal's `origins` already read (a create reads them from
/// [`super::cache`]).
pub fn check_return_url_in(origins: &[String], return_url: &str) -> Result<(), Error> {
    if return_url.is_empty() {
        return Ok(());
    }
    let allowed = match url::Url::parse(return_url) {
        Ok(u) if u.scheme() == "https" => origins.contains(&u.origin().ascii_serialization()),
        _ => false,
    };
    if !allowed {
        return Err(Error::new(
            Code::ReturnUrlNotAllowed,
            "return_url must be an https URL on one of this portal's return origins (set by an admin)",
        )
        .with_field("return_url"));
    }
    Ok(())
}

/// Replaces a portal's allowed return origins (an empty list refuses every return_url).
pub async fn set_return_origins(
    store: &Store,
    portal_id: &str,
    origins: &[String],
    actor: &str,
) -> Result<Vec<String>, Error> {
    let clean = clean_origins(origins)?;
    let mut tx = store.begin().await?;
    if !store.set_portal_return_origins(&mut tx, portal_id, &clean, false).await? {
        return Err(Error::not_found("portal"));
    }
    store
        .audit(
            &mut tx,
            "admin",
            "portal.return_origins_set",
            actor,
            &serde_json::json!({"id": portal_id, "origins": clean}),
        )
        .await?;
    tx.commit().await?;
    super::cache::changed();
    Ok(clean)
}

/// The key of this server's checkout form tokens (made once, kept in the database so
/// that every node accepts the tokens of the others).
pub async fn checkout_form_key(store: &Store) -> Result<Vec<u8>, Error> {
    let candidate = format!("{}{}", new_secret(), new_secret());
    Ok(store.server_key("checkout_form", &candidate).await?.into_bytes())
}

/// A portal as the service reads it: its settings, allowed return origins and webhook secret
/// (the API shows the secret only in the answer that creates the portal).
#[derive(Debug, Clone)]
pub struct Portal {
    pub id: String,
    pub name: String,
    pub webhook_url: Option<String>,
    pub agencies: Vec<String>,
    pub return_origins: Vec<String>,
    pub webhook_secret: String,
}

impl Portal {
    fn of(p: PortalRow, return_origins: Vec<String>) -> Portal {
        Portal {
            agencies: serde_json::from_str(&p.agencies).unwrap_or_default(),
            id: p.id,
            name: p.name,
            webhook_url: p.webhook_url,
            return_origins,
            webhook_secret: p.webhook_secret,
        }
    }
}

/// Every portal with its return origins.
pub async fn portals(store: &Store) -> Result<Vec<Portal>, Error> {
    let mut out = Vec::new();
    for p in store.portals().await? {
        let origins = store.portal_return_origins(&p.id).await?.unwrap_or_default();
        out.push(Portal::of(p, origins));
    }
    Ok(out)
}

/// One portal with its return origins.
pub async fn portal(store: &Store, id: &str) -> Result<Portal, Error> {
    let p = store.portal(id).await?.ok_or_else(|| Error::not_found("portal"))?;
    let origins = store.portal_return_origins(&p.id).await?.unwrap_or_default();
    Ok(Portal::of(p, origins))
}

/// Every agency.
pub async fn agencies(store: &Store) -> Result<Vec<Agency>, Error> {
    Ok(store.agencies().await?)
}

/// Creates an agency (audited); its parent must exist.
pub async fn create_agency(
    store: &Store,
    code: &str,
    name: &str,
    parent_code: Option<String>,
    actor: &str,
) -> Result<Agency, Error> {
    let a = Agency { code: agency_code("code", code)?, name: text("name", name, 200, true)?, parent_code };
    if let Some(p) = &a.parent_code {
        if store.agency(p).await?.is_none() {
            return Err(Error::new(Code::UnknownAgency, format!("no agency has code {p}")).with_field("parent_code"));
        }
    }
    let mut tx = store.begin().await?;
    store.insert_agency(&mut tx, &a).await.map_err(|e| match e {
        StoreError::Conflict => Error::new(Code::AgencyExists, "an agency with this code exists"),
        other => other.into(),
    })?;
    store.audit(&mut tx, "admin", "agency.created", actor, &serde_json::json!({"code": a.code})).await?;
    tx.commit().await?;
    super::cache::changed();
    Ok(a)
}

/// Changes an agency's name or parent (audited).
pub async fn patch_agency(
    store: &Store,
    code: &str,
    name: Option<String>,
    parent_code: Option<String>,
    actor: &str,
) -> Result<Agency, Error> {
    let mut a = store.agency(code).await?.ok_or_else(|| Error::not_found("agency"))?;
    if let Some(n) = name {
        a.name = text("name", &n, 200, true)?;
    }
    if parent_code.is_some() {
        a.parent_code = parent_code;
    }
    let mut tx = store.begin().await?;
    store.update_agency(&mut tx, &a).await?;
    store.audit(&mut tx, "admin", "agency.updated", actor, &serde_json::json!({"code": a.code})).await?;
    tx.commit().await?;
    super::cache::changed();
    Ok(a)
}

/// One agency.
pub async fn agency(store: &Store, code: &str) -> Result<Agency, Error> {
    store.agency(code).await?.ok_or_else(|| Error::not_found("agency"))
}

/// An agency's accounts.
pub async fn accounts(store: &Store, code: &str) -> Result<Vec<Account>, Error> {
    agency(store, code).await?;
    Ok(store.accounts(code).await?)
}

/// Adds a beneficiary account to an agency, or updates the one with the same BIN and
/// number (audited).
pub async fn create_account(store: &Store, code: &str, n: NewAccount, actor: &str) -> Result<Account, Error> {
    agency(store, code).await?;
    let mut tx = store.begin().await?;
    let account = n.validate(new_id("acc"), code)?;
    let id = store.upsert_account(&mut tx, &account).await?;
    store
        .audit(&mut tx, "admin", "account.upserted", actor, &serde_json::json!({"id": id, "agency_code": code}))
        .await?;
    tx.commit().await?;
    super::cache::changed();
    store.account(&id).await?.ok_or_else(|| Error::internal("account vanished"))
}

/// Activates, deactivates or re-routes an account (audited).
pub async fn patch_account(
    store: &Store,
    code: &str,
    id: &str,
    active: Option<bool>,
    receives: Option<Vec<LineKind>>,
    actor: &str,
) -> Result<Account, Error> {
    let a = store.account(id).await?.filter(|a| a.agency_code == code).ok_or_else(|| Error::not_found("account"))?;
    let receives = receives.unwrap_or(a.receives);
    if receives.is_empty() {
        return Err(Error::new(Code::MissingField, "receives lists fee and/or charge").with_field("receives"));
    }
    let mut tx = store.begin().await?;
    store.patch_account(&mut tx, id, active.unwrap_or(a.active), &receives).await?;
    store.audit(&mut tx, "admin", "account.updated", actor, &serde_json::json!({"id": id})).await?;
    tx.commit().await?;
    super::cache::changed();
    store.account(id).await?.ok_or_else(|| Error::not_found("account"))
}
