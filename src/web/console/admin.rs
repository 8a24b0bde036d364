//! The administration pages under `/console/admin` (an admin bound to no agency only):
//! agencies and their receiving accounts (banks by BIN), portals with their allowed return
//! origins, API keys (a new key is shown once; revoke), the connector accounts, staff users
//! (create with a one-time password, disable, reset a password) and the audit journal with
//! its verification. Every action goes through the same service as the admin API and the
//! CLI, and is journalled under `staff:<username>`. A secret (a key, a webhook secret, a
//! password) is shown on the answer to its POST only, never put in a URL.

use super::pages::{enc, OptionCtx};
use super::{frame, gmt7, i18n, render, Staff};
use crate::app::AppState;
use crate::domain::agency::{LineKind, NewAccount};
use crate::service::admin as svc;
use crate::service::caller::Role;
use crate::service::error::{Code, Error};
use crate::service::staff as staff_svc;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

/// Audit entries on one page.
const AUDIT_PAGE: i64 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/admin", get(|| async { Redirect::to("/console/admin/agencies") }))
        .route("/console/admin/agencies", get(agencies).post(create_agency))
        .route("/console/admin/agencies/{code}", get(agency))
        .route("/console/admin/agencies/{code}/accounts", post(create_account))
        .route("/console/admin/agencies/{code}/accounts/{id}/active", post(account_active))
        .route("/console/admin/portals", get(portals).post(create_portal))
        .route("/console/admin/portals/{id}/origins", post(portal_origins))
        .route("/console/admin/keys", get(keys).post(create_key))
        .route("/console/admin/keys/{id}/revoke", post(revoke_key))
        .route("/console/admin/gateways", get(gateways))
        .route("/console/admin/staff", get(staff).post(create_staff))
        .route("/console/admin/staff/{username}/{action}", post(staff_action))
        .route("/console/admin/audit", get(audit))
        .route("/console/admin/audit/verify", post(verify_audit))
}

/// The administration pages are an admin's bound to no agency: an admin bound to some
/// could otherwise make a key or a user for any agency.
fn refused(state: &AppState, s: &Staff) -> Option<Response> {
    let ok = s.who.role == Role::Admin && s.who.agencies.is_none();
    (!ok).then(|| {
        let t = |k| i18n::text(s.lang.lang, k);
        super::message(state, StatusCode::FORBIDDEN, s.lang.lang, Some(s), t("error"), t("admin_only"))
    })
}

/// A posted form's fields (a name may repeat: checkboxes).
fn fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn one(form: &[(String, String)], name: &str) -> String {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).unwrap_or_default()
}

fn many(form: &[(String, String)], name: &str) -> Vec<String> {
    form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
}

/// A form posted to an admin page by an admin, with its CSRF token checked.
fn posted(state: &AppState, s: &Staff, body: &[u8]) -> Result<Vec<(String, String)>, Response> {
    if let Some(r) = refused(state, s) {
        return Err(r);
    }
    let form = fields(body);
    super::check_csrf(state, s, &one(&form, "csrf"))?;
    Ok(form)
}

/// What an action's answer adds to its page: a notice, a refusal in words, a secret shown
/// once (label, value), the fields to fill the form again with.
#[derive(Default, Serialize)]
struct Outcome {
    notice: Option<String>,
    error: Option<String>,
    error_field: Option<String>,
    secret: Option<(String, String)>,
    form: std::collections::BTreeMap<String, String>,
}

impl Outcome {
    fn refused(e: &Error, form: &[(String, String)]) -> Outcome {
        Outcome {
            error: Some(e.message.clone()),
            error_field: e.field.clone(),
            form: form.iter().filter(|(k, _)| k != "csrf").cloned().collect(),
            ..Outcome::default()
        }
    }
}

/// The status a page refused by `e` answers with.
fn error_status(e: &Error) -> StatusCode {
    crate::api::error::status(e.code)
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
}

fn notice(lang: crate::web::i18n::Lang, done: &str) -> Option<String> {
    let key = match done {
        "created" => "created_ok",
        "saved" => "saved_ok",
        "revoked" => "revoked_ok",
        "disabled" => "disabled_ok",
        "enabled" => "enabled_ok",
        _ => return None,
    };
    Some(i18n::text(lang, key).to_owned())
}

/// Renders an admin page: the frame, the admin sub-navigation (`tab`), the outcome of an
/// action and the page's own context; the template is `admin_<tab>.html`.
fn page(state: &AppState, s: &Staff, status: StatusCode, tab: &str, out: Outcome, ctx: Value) -> Response {
    page_with(state, s, status, tab, &format!("console/admin_{tab}.html"), out, ctx)
}

fn page_with(
    state: &AppState,
    s: &Staff,
    status: StatusCode,
    tab: &str,
    template: &str,
    out: Outcome,
    ctx: Value,
) -> Response {
    let lang = s.lang.lang;
    let t = |k: &str| i18n::text(lang, k);
    let tabs: Vec<(String, &str, bool)> = ["agencies", "portals", "keys", "gateways", "staff", "audit"]
        .iter()
        .map(|k| (format!("/console/admin/{k}"), t(&format!("adm_{k}")), *k == tab))
        .collect();
    let title = ctx.get_attr("page_title").ok().filter(|v| !v.is_undefined()).map(|v| v.to_string());
    let title = title.unwrap_or_else(|| t(&format!("adm_{tab}")).to_owned());
    let f = frame(state, s.lang.lang, &s.path, Some(s), "admin");
    let ctx = context! { title, tabs, out, ..ctx };
    render(state, status, template, f, s.lang, ctx)
}

fn server_fault(state: &AppState, s: &Staff, e: &Error) -> Option<Response> {
    (e.is_server_fault() || e.code == Code::Forbidden).then(|| super::staff_error(state, s, e))
}

// ---- Agencies and accounts ----

#[derive(Serialize)]
struct AgencyCtx {
    code: String,
    name: String,
    parent: String,
    accounts: usize,
    href: String,
}

async fn agencies_page(state: &AppState, s: &Staff, status: StatusCode, out: Outcome) -> Response {
    if let Some(r) = refused(state, s) {
        return r;
    }
    let all = match svc::agencies(&state.store).await {
        Ok(a) => a,
        Err(e) => return super::staff_error(state, s, &e),
    };
    let mut rows = Vec::with_capacity(all.len());
    for a in &all {
        let n = svc::accounts(&state.store, &a.code).await.map(|v| v.len()).unwrap_or_default();
        rows.push(AgencyCtx {
            code: a.code.clone(),
            name: a.name.clone(),
            parent: a.parent_code.clone().unwrap_or_default(),
            accounts: n,
            href: format!("/console/admin/agencies/{}", enc(&a.code)),
        });
    }
    let parents: Vec<OptionCtx> = all
        .iter()
        .map(|a| OptionCtx {
            selected: out.form.get("parent_code") == Some(&a.code),
            value: a.code.clone(),
            label: format!("{} ({})", a.name, a.code),
        })
        .collect();
    page(state, s, status, "agencies", out, context! { rows, parents })
}

async fn agencies(State(state): State<AppState>, s: Staff, Query(d): Query<Done>) -> Response {
    let out = Outcome { notice: notice(s.lang.lang, &d.done), ..Outcome::default() };
    agencies_page(&state, &s, StatusCode::OK, out).await
}

async fn create_agency(State(state): State<AppState>, s: Staff, body: Bytes) -> Response {
    let form = match posted(&state, &s, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let parent = Some(one(&form, "parent_code")).filter(|p| !p.is_empty());
    match svc::create_agency(&state.store, &one(&form, "code"), &one(&form, "name"), parent, &s.who.actor()).await {
        Ok(a) => Redirect::to(&format!("/console/admin/agencies/{}?done=created", enc(&a.code))).into_response(),
        Err(e) => match server_fault(&state, &s, &e) {
            Some(r) => r,
            None => {
                let out = Outcome::refused(&e, &form);
                agencies_page(&state, &s, error_status(&e), out).await
            }
        },
    }
}

#[derive(Serialize)]
struct AccountCtx {
    bank: String,
    number: String,
    name: String,
    kind: &'static str,
    receives: String,
    budget: String,
    active: bool,
    toggle_url: String,
}

async fn agency_page(state: &AppState, s: &Staff, code: &str, status: StatusCode, out: Outcome) -> Response {
    if let Some(r) = refused(state, s) {
        return r;
    }
    let lang = s.lang.lang;
    let t = |k| i18n::text(lang, k);
    let (a, accounts) = match (svc::agency(&state.store, code).await, svc::accounts(&state.store, code).await) {
        (Ok(a), Ok(acc)) => (a, acc),
        (Err(e), _) | (_, Err(e)) => return super::staff_error(state, s, &e),
    };
    let kind_label = |k: LineKind| if k == LineKind::Fee { t("fee") } else { t("charge") };
    let accounts: Vec<AccountCtx> = accounts
        .iter()
        .map(|x| AccountCtx {
            bank: format!("{} ({})", x.bank_name, x.bank_bin),
            number: x.account_number.clone(),
            name: x.account_name.clone(),
            kind: if x.kind == "treasury" { t("kind_treasury") } else { t("kind_bank") },
            receives: x.receives.iter().map(|k| kind_label(*k)).collect::<Vec<_>>().join(", "),
            budget: [x.budget_chapter.clone(), x.budget_item.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" / "),
            active: x.active,
            toggle_url: format!("/console/admin/agencies/{}/accounts/{}/active", enc(code), enc(&x.id)),
        })
        .collect();
    let chosen = out.form.get("bank_bin").cloned().unwrap_or_default();
    let banks: Vec<OptionCtx> = feegate_vietqr::bank_list()
        .iter()
        .map(|(bin, name)| OptionCtx {
            value: (*bin).into(),
            label: format!("{name} ({bin})"),
            selected: chosen == *bin,
        })
        .collect();
    let ctx = context! {
        agency => format!("{} ({})", a.name, a.code), code => a.code.clone(), accounts, banks,
        account_url => format!("/console/admin/agencies/{}/accounts", enc(code)),
    };
    let title = format!("{} — {}", a.name, i18n::text(lang, "accounts"));
    page_with(state, s, status, "agencies", "console/admin_agency.html", out, context! { page_title => title, ..ctx })
}

async fn agency(State(state): State<AppState>, s: Staff, Path(code): Path<String>, Query(d): Query<Done>) -> Response {
    let out = Outcome { notice: notice(s.lang.lang, &d.done), ..Outcome::default() };
    agency_page(&state, &s, &code, StatusCode::OK, out).await
}

async fn create_account(State(state): State<AppState>, s: Staff, Path(code): Path<String>, body: Bytes) -> Response {
    let form = match posted(&state, &s, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let bin = one(&form, "bank_bin");
    let receives: Vec<LineKind> = many(&form, "receives")
        .iter()
        .filter_map(|k| match k.as_str() {
            "fee" => Some(LineKind::Fee),
            "charge" => Some(LineKind::Charge),
            _ => None,
        })
        .collect();
    let opt = |k: &str| Some(one(&form, k)).filter(|v| !v.is_empty());
    let n = NewAccount {
        bank_name: feegate_vietqr::bank_name(&bin).unwrap_or_default().to_owned(),
        bank_bin: bin,
        account_number: one(&form, "account_number"),
        account_name: one(&form, "account_name"),
        kind: one(&form, "kind"),
        receives,
        budget_chapter: opt("budget_chapter"),
        budget_item: opt("budget_item"),
        active: true,
    };
    match svc::create_account(&state.store, &code, n, &s.who.actor()).await {
        Ok(_) => Redirect::to(&format!("/console/admin/agencies/{}?done=saved", enc(&code))).into_response(),
        Err(e) => match server_fault(&state, &s, &e) {
            Some(r) => r,
            None => {
                let out = Outcome::refused(&e, &form);
                agency_page(&state, &s, &code, error_status(&e), out).await
            }
        },
    }
}

async fn account_active(
    State(state): State<AppState>,
    s: Staff,
    Path((code, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let form = match posted(&state, &s, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let active = one(&form, "active") == "1";
    match svc::patch_account(&state.store, &code, &id, Some(active), None, &s.who.actor()).await {
        Ok(_) => Redirect::to(&format!("/console/admin/agencies/{}?done=saved", enc(&code))).into_response(),
        Err(e) => match server_fault(&state, &s, &e) {
            Some(r) => r,
            None => {
                let out = Outcome::refused(&e, &[]);
                agency_page(&state, &s, &code, error_status(&e), out).await
            }
        },
    }
}

// ---- Portals ----

#[derive(Serialize)]
struct PortalCtx {
    id: String,
    name: String,
    webhook_url: String,
    agencies: String,
    origins: String,
    origins_url: String,
}

/// The agencies as checkboxes, `ticked` ticked.
fn agency_boxes(all: &[crate::domain::agency::Agency], ticked: &[String]) -> Vec<OptionCtx> {
    all.iter()
        .map(|a| OptionCtx {
            selected: ticked.contains(&a.code),
            value: a.code.clone(),
            label: format!("{} ({})", a.name, a.code),
        })
        .collect()
}

async fn portals_page(state: &AppState, s: &Staff, status: StatusCode, out: Outcome, ticked: &[String]) -> Response {
    if let Some(r) = refused(state, s) {
        return r;
    }
    let (list, all) = match (svc::portals(&state.store).await, svc::agencies(&state.store).await) {
        (Ok(p), Ok(a)) => (p, a),
        (Err(e), _) | (_, Err(e)) => return super::staff_error(state, s, &e),
    };
    let rows: Vec<PortalCtx> = list
        .into_iter()
        .map(|p| PortalCtx {
            origins_url: format!("/console/admin/portals/{}/origins", enc(&p.id)),
            id: p.id,
            name: p.name,
            webhook_url: p.webhook_url.unwrap_or_default(),
            agencies: if p.agencies.is_empty() { String::new() } else { p.agencies.join(", ") },
            origins: p.return_origins.join("\n"),
        })
        .collect();
    let agencies = agency_boxes(&all, ticked);
    page(state, s, status, "portals", out, context! { rows, agencies })
}

async fn portals(State(state): State<AppState>, s: Staff, Query(d): Query<Done>) -> Response {
    let out = Outcome { notice: notice(s.lang.lang, &d.done), ..Outcome::default() };
    portals_page(&state, &s, StatusCode::OK, out, &[]).await
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

async fn create_portal(State(state): State<AppState>, s: Staff, body: Bytes) -> Response {
    let form = match posted(&state, &s, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let agencies = many(&form, "agency");
    let id = Some(one(&form, "id")).filter(|v| !v.is_empty());
    let webhook = Some(one(&form, "webhook_url")).filter(|v| !v.is_empty());
    let origins = lines(&one(&form, "origins"));
    let r =
        svc::create_portal(&state.store, id, &one(&form, "name"), webhook, agencies.clone(), &origins, &s.who.actor())
            .await;
    let t = |k| i18n::text(s.lang.lang, k);
    match r {
        Ok(p) => {
            let out = Outcome {
                notice: Some(format!("{} {}", t("created_ok"), p.id)),
                secret: Some((format!("{} — {}", t("webhook_secret"), p.id), p.webhook_secret)),
                ..Outcome::default()
            };
            portals_page(&state, &s, StatusCode::CREATED, out, &[]).await
        }
        Err(e) => match server_fault(&state, &s, &e) {
            Some(r) => r,
            None => {
                let out = Outcome::refused(&e, &form);
                portals_page(&state, &s, error_status(&e), out, &agencies).await
            }
        },
    }
}

async fn portal_origins(State(state): State<AppState>, s: Staff, Path(id): Path<String>, body: Bytes) -> Response {
    let form = match posted(&state, &s, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match svc::set_return_origins(&state.store, &id, &lines(&one(&form, "origins")), &s.who.actor()).await {
        Ok(_) => Redirect::to("/console/admin/portals?done=saved").into_response(),
        Err(e) => match server_fault(&state, &s, &e) {
            Some(r) => r,
            None => {
                let out = Outcome { error: Some(format!("{id}: {}", e.message)), ..Outcome::default() };
                portals_page(&state, &s, error_status(&e), out, &[]).await
            }
        },
    }
}

// ---- API keys ----

#[derive(Serialize)]
struct KeyCtx {
    id: String,
    role: &'static str,
    portal: String,
    name: String,
    agencies: String,
    created: String,
    revoked: Option<String>,
    revoke_url: String,
}

async fn keys_page(state: &AppState, s: &Staff, status: StatusCode, out: Outcome, ticked: &[String]) -> Response {
    if let Some(r) = refused(state, s) {
        return r;
    }
    let lang = s.lang.lang;
    let t = |k: &str| i18n::text(lang, k);
    let (list, all, portals) =
        match (svc::keys(&state.store).await, svc::agencies(&state.store).await, svc::portals(&state.store).await) {
            (Ok(k), Ok(a), Ok(p)) => (k, a, p),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return super::staff_error(state, s, &e),
        };
    let rows: Vec<KeyCtx> = list
        .into_iter()
        .map(|(k, agencies)| KeyCtx {
            revoke_url: format!("/console/admin/keys/{}/revoke", enc(&k.id)),
            role: t(&format!("role_{}", k.role)),
            portal: k.portal_id.unwrap_or_default(),
            name: k.name,
            // A portal key is bound to its portal (and so to the portal's agencies).
            agencies: match (k.role.as_str(), agencies.is_empty()) {
                ("portal", _) => "—".into(),
                (_, true) => t("all_agencies").into(),
                (_, false) => agencies.join(", "),
            },
            created: gmt7(k.created_at),
            revoked: k.revoked_at.map(gmt7),
            id: k.id,
        })
        .collect();
    let chosen_role = out.form.get("role").cloned().unwrap_or_default();
    let roles: Vec<OptionCtx> = ["portal", "finance", "admin"]
        .iter()
        .map(|r| OptionCtx { value: (*r).into(), label: t(&format!("role_{r}")).into(), selected: chosen_role == *r })
        .collect();
    let chosen_portal = out.form.get("portal_id").cloned().unwrap_or_default();
    let portals: Vec<OptionCtx> = portals
        .into_iter()
        .map(|p| OptionCtx { selected: chosen_portal == p.id, label: format!("{} ({})", p.name, p.id), value: p.id })
        .collect();
    let agencies = agency_boxes(&all, ticked);
    page(state, s, status, "keys", out, context! { rows, roles, portals, agencies })
}

async fn keys(State(state): State<AppState>, s: Staff, Query(d): Query<Done>) -> Response {
    let out = Outcome { notice: notice(s.lang.lang, &d.done), ..Outcome::default() };
    keys_page(&state, &s, StatusCode::OK, out, &[]).await
}

async fn create_key(State(state): State<AppState>, s: Staff, body: Bytes) -> Response {
    let form = match posted(&state, &s, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let agencies = many(&form, "agency");
    let role = Role::parse(&one(&form, "role"));
    let portal = Some(one(&form, "portal_id")).filter(|p| !p.is_empty() && role == Some(Role::Portal));
    let r = match role {
        Some(role) => svc::create_key(&state.store, role, portal, &agencies, &one(&form, "name"), &s.who.actor()).await,
        None => Err(Error::new(Code::InvalidRole, "role is portal, finance or admin").with_field("role")),
    };
    let t = |k| i18n::text(s.lang.lang, k);
    match r {
        Ok((id, key)) => {
            let out = Outcome {
                notice: Some(format!("{} {id}", t("created_ok"))),
                secret: Some((t("the_key").to_owned(), key)),
                ..Outcome::default()
            };
            keys_page(&state, &s, StatusCode::CREATED, out, &[]).await
        }
        Err(e) => match server_fault(&state, &s, &e) {
            Some(r) => r,
            None => {
                let out = Outcome::refused(&e, &form);
                keys_page(&state, &s, error_status(&e), out, &agencies).await
            }
        },
    }
}

async fn revoke_key(State(state): State<AppState>, s: Staff, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(r) = posted(&state, &s, &body) {
        return r;
    }
    match svc::revoke_key(&state.store, &id, &s.who.actor()).await {
        Ok(()) => Redirect::to("/console/admin/keys?done=revoked").into_response(),
        Err(e) => super::staff_error(&state, &s, &e),
    }
}

// ---- Gateways ----

#[derive(Serialize)]
struct GatewayCtx {
    id: String,
    kind: String,
    name: String,
    agencies: String,
    refunds: bool,
    /// Attempts whose status queries fail (`service::console::gateway_health`), with the
    /// link to them; 0: healthy.
    unresolved: i64,
    unknown: i64,
    oldest: Option<String>,
    href: String,
}

async fn gateways(State(state): State<AppState>, s: Staff) -> Response {
    if let Some(r) = refused(&state, &s) {
        return r;
    }
    let t = |k| i18n::text(s.lang.lang, k);
    let health = match crate::service::console::gateway_health(&state, &s.who).await {
        Ok(h) => h,
        Err(e) => return super::staff_error(&state, &s, &e),
    };
    let rows: Vec<GatewayCtx> = state
        .connectors
        .all()
        .map(|a| {
            let id = a.connector.id().to_owned();
            let h = health.iter().find(|h| h.connector_id == id);
            GatewayCtx {
                kind: a.connector.kind().to_owned(),
                name: a.connector.display_name().to_owned(),
                agencies: if a.agencies.is_empty() { t("all_agencies").to_owned() } else { a.agencies.join(", ") },
                refunds: a.connector.supports_refund(),
                unresolved: h.map(|h| h.unresolved).unwrap_or_default(),
                unknown: h.map(|h| h.unknown).unwrap_or_default(),
                oldest: h.and_then(|h| h.oldest).map(gmt7),
                href: format!("/console/payments?gateway={}&unresolved=1", enc(&id)),
                id,
            }
        })
        .collect();
    page(&state, &s, StatusCode::OK, "gateways", Outcome::default(), context! { rows })
}

// ---- Staff users ----

#[derive(Serialize)]
struct StaffCtx {
    username: String,
    name: String,
    role: &'static str,
    agencies: String,
    disabled: bool,
    is_me: bool,
    action_url: String,
}

async fn staff_page(state: &AppState, s: &Staff, status: StatusCode, out: Outcome, ticked: &[String]) -> Response {
    if let Some(r) = refused(state, s) {
        return r;
    }
    let lang = s.lang.lang;
    let t = |k: &str| i18n::text(lang, k);
    let (list, all) = match (staff_svc::list(&state.store).await, svc::agencies(&state.store).await) {
        (Ok(l), Ok(a)) => (l, a),
        (Err(e), _) | (_, Err(e)) => return super::staff_error(state, s, &e),
    };
    let rows: Vec<StaffCtx> = list
        .into_iter()
        .map(|u| StaffCtx {
            action_url: format!("/console/admin/staff/{}", enc(&u.username)),
            is_me: u.username == s.who.key_id,
            role: t(&format!("role_{}", u.role)),
            agencies: if u.agencies.is_empty() { t("all_agencies").into() } else { u.agencies.join(", ") },
            name: u.display_name,
            disabled: u.disabled,
            username: u.username,
        })
        .collect();
    let chosen = out.form.get("role").cloned().unwrap_or_default();
    let roles: Vec<OptionCtx> = ["finance", "viewer", "admin"]
        .iter()
        .map(|r| OptionCtx { value: (*r).into(), label: t(&format!("role_{r}")).into(), selected: chosen == *r })
        .collect();
    let agencies = agency_boxes(&all, ticked);
    page(state, s, status, "staff", out, context! { rows, roles, agencies })
}

async fn staff(State(state): State<AppState>, s: Staff, Query(d): Query<Done>) -> Response {
    let out = Outcome { notice: notice(s.lang.lang, &d.done), ..Outcome::default() };
    staff_page(&state, &s, StatusCode::OK, out, &[]).await
}

async fn create_staff(State(state): State<AppState>, s: Staff, body: Bytes) -> Response {
    let form = match posted(&state, &s, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let agencies = many(&form, "agency");
    let username = one(&form, "username");
    let r = match staff_svc::parse_role(&one(&form, "role")) {
        Some(role) => {
            let n = staff_svc::NewStaff {
                username: username.clone(),
                display_name: one(&form, "name"),
                role,
                agencies: agencies.clone(),
            };
            let password = staff_svc::new_password();
            staff_svc::create(&state.store, &n, &password, &s.who.actor()).await.map(|_| password)
        }
        None => Err(Error::new(Code::InvalidRole, "a staff role is admin, finance or viewer").with_field("role")),
    };
    let t = |k| i18n::text(s.lang.lang, k);
    match r {
        Ok(password) => {
            let out = Outcome {
                notice: Some(format!("{} {username}", t("created_ok"))),
                secret: Some((format!("{} {username}", t("password_for")), password)),
                ..Outcome::default()
            };
            staff_page(&state, &s, StatusCode::CREATED, out, &[]).await
        }
        Err(e) => match server_fault(&state, &s, &e) {
            Some(r) => r,
            None => {
                let out = Outcome::refused(&e, &form);
                staff_page(&state, &s, error_status(&e), out, &agencies).await
            }
        },
    }
}

async fn staff_action(
    State(state): State<AppState>,
    s: Staff,
    Path((username, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(r) = posted(&state, &s, &body) {
        return r;
    }
    let t = |k| i18n::text(s.lang.lang, k);
    let store = &state.store;
    let r = match action.as_str() {
        "disable" => staff_svc::set_disabled(store, &s.who, &username, true).await.map(|_| None),
        "enable" => staff_svc::set_disabled(store, &s.who, &username, false).await.map(|_| None),
        "reset" => staff_svc::reset_password(store, &s.who, &username).await.map(Some),
        _ => Err(Error::not_found("action")),
    };
    match r {
        Ok(None) => Redirect::to(&format!("/console/admin/staff?done={action}d")).into_response(),
        Ok(Some(password)) => {
            let out =
                Outcome { secret: Some((format!("{} {username}", t("password_for")), password)), ..Outcome::default() };
            staff_page(&state, &s, StatusCode::OK, out, &[]).await
        }
        Err(e) => match server_fault(&state, &s, &e) {
            Some(r) => r,
            None if e.code == Code::NotFound => super::staff_error(&state, &s, &e),
            None => {
                let out = Outcome { error: Some(format!("{username}: {}", e.message)), ..Outcome::default() };
                staff_page(&state, &s, error_status(&e), out, &[]).await
            }
        },
    }
}

// ---- Audit journal ----

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    before: String,
}

#[derive(Serialize)]
struct EntryCtx {
    scope: String,
    seq: i64,
    kind: String,
    actor: String,
    at: String,
    payload: String,
    href: Option<String>,
}

async fn audit_page(state: &AppState, s: &Staff, q: &AuditQuery, status: StatusCode, out: Outcome) -> Response {
    if let Some(r) = refused(state, s) {
        return r;
    }
    let actor = Some(q.actor.trim()).filter(|a| !a.is_empty());
    let before = Some(q.before.as_str()).filter(|b| !b.is_empty());
    let (rows, error) = match svc::recent_audit(&state.store, actor, before, AUDIT_PAGE).await {
        Ok(r) => (r, None),
        Err(e) if e.is_server_fault() => return super::staff_error(state, s, &e),
        Err(e) => (Vec::new(), Some(e.message)),
    };
    let next_href = (rows.len() as i64 == AUDIT_PAGE).then(|| {
        let last = &rows[rows.len() - 1];
        format!("/console/admin/audit?actor={}&before={}_{}", enc(&q.actor), last.created_at, enc(&last.id))
    });
    let entries: Vec<EntryCtx> = rows
        .into_iter()
        .map(|r| EntryCtx {
            // A payment's chain is named by the payment's id.
            href: r.scope.starts_with("pay_").then(|| format!("/console/payments/{}", enc(&r.scope))),
            scope: r.scope,
            seq: r.seq,
            kind: r.kind,
            actor: r.actor,
            at: gmt7(r.created_at),
            payload: r.payload,
        })
        .collect();
    let out = Outcome { error: out.error.or(error), ..out };
    page(state, s, status, "audit", out, context! { entries, next_href, actor => q.actor.clone() })
}

async fn audit(State(state): State<AppState>, s: Staff, Query(q): Query<AuditQuery>) -> Response {
    audit_page(&state, &s, &q, StatusCode::OK, Outcome::default()).await
}

async fn verify_audit(State(state): State<AppState>, s: Staff, body: Bytes) -> Response {
    if let Err(r) = posted(&state, &s, &body) {
        return r;
    }
    let t = |k| i18n::text(s.lang.lang, k);
    let out = match svc::verify_audit(&state.store).await {
        Ok(Ok(n)) => Outcome { notice: Some(format!("{} {n}", t("verify_ok"))), ..Outcome::default() },
        Ok(Err(b)) => Outcome {
            error: Some(format!("{} {} #{} ({}): {}", t("verify_broken"), b.scope, b.seq, b.id, b.reason)),
            ..Outcome::default()
        },
        Err(e) => return super::staff_error(&state, &s, &e),
    };
    let status = if out.error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK };
    audit_page(&state, &s, &AuditQuery::default(), status, out).await
}
