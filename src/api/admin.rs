//! Admin resources: agencies, their accounts, portals (and their allowed return origins)
//! and API keys; and the connector list portals may offer.

use super::auth::{Principal, Role};
use super::body::{typed, JsonBody};
use super::error::{ApiError, ErrorBody};
use crate::app::AppState;
use crate::domain::agency::{Account, Agency, LineKind, NewAccount};
use crate::service::admin as svc;
use crate::service::error::Code;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agencies, create_agency))
        .routes(routes!(patch_agency))
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(patch_account))
        .routes(routes!(list_portals, create_portal))
        .routes(routes!(set_return_origins))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_connectors))
}

/// List agencies.
#[utoipa::path(get, path = "/v1/agencies", tag = "admin", responses((status = 200, body = Vec<Agency>)))]
pub async fn list_agencies(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<Agency>>, ApiError> {
    who.require(&[Role::Admin, Role::Finance])?;
    let mut all = svc::agencies(&state.store).await?;
    all.retain(|a| who.sees_agency(&a.code));
    Ok(Json(all))
}

/// New agency.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgency {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub parent_code: Option<String>,
}

/// Create an agency.
#[utoipa::path(post, path = "/v1/agencies", tag = "admin", request_body = NewAgency,
    responses((status = 201, body = Agency), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agency(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Agency>), ApiError> {
    who.require(&[Role::Admin])?;
    let n: NewAgency = typed(b)?;
    let a = svc::create_agency(&state.store, &n.code, &n.name, n.parent_code, &who.actor()).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// Agency changes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgencyPatch {
    pub name: Option<String>,
    pub parent_code: Option<String>,
}

/// Change an agency's name or parent.
#[utoipa::path(patch, path = "/v1/agencies/{code}", tag = "admin", params(("code" = String, Path)), request_body = AgencyPatch,
    responses((status = 200, body = Agency), (status = 404, body = ErrorBody)))]
pub async fn patch_agency(
    State(state): State<AppState>,
    who: Principal,
    Path(code): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Agency>, ApiError> {
    who.require(&[Role::Admin])?;
    let p: AgencyPatch = typed(b)?;
    Ok(Json(svc::patch_agency(&state.store, &code, p.name, p.parent_code, &who.actor()).await?))
}

/// An agency's accounts.
#[utoipa::path(get, path = "/v1/agencies/{code}/accounts", tag = "admin", params(("code" = String, Path)),
    responses((status = 200, body = Vec<Account>), (status = 404, body = ErrorBody)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    who: Principal,
    Path(code): Path<String>,
) -> Result<Json<Vec<Account>>, ApiError> {
    who.require(&[Role::Admin, Role::Finance])?;
    if !who.sees_agency(&code) {
        return Err(ApiError::not_found("agency"));
    }
    Ok(Json(svc::accounts(&state.store, &code).await?))
}

/// Add a beneficiary account to an agency (or update the one with the same BIN and number).
#[utoipa::path(post, path = "/v1/agencies/{code}/accounts", tag = "admin", params(("code" = String, Path)), request_body = NewAccount,
    responses((status = 201, body = Account), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_account(
    State(state): State<AppState>,
    who: Principal,
    Path(code): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    who.require(&[Role::Admin])?;
    // An unknown agency is a 404 before the body is read.
    svc::agency(&state.store, &code).await?;
    let n: NewAccount = typed(b)?;
    Ok((StatusCode::CREATED, Json(svc::create_account(&state.store, &code, n, &who.actor()).await?)))
}

/// Account changes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    pub active: Option<bool>,
    pub receives: Option<Vec<LineKind>>,
}

/// Activate, deactivate or re-route an account.
#[utoipa::path(patch, path = "/v1/agencies/{code}/accounts/{id}", tag = "admin", params(("code" = String, Path), ("id" = String, Path)),
    request_body = AccountPatch, responses((status = 200, body = Account), (status = 404, body = ErrorBody)))]
pub async fn patch_account(
    State(state): State<AppState>,
    who: Principal,
    Path((code, id)): Path<(String, String)>,
    JsonBody(b): JsonBody,
) -> Result<Json<Account>, ApiError> {
    who.require(&[Role::Admin])?;
    let p: AccountPatch = typed(b)?;
    Ok(Json(svc::patch_account(&state.store, &code, &id, p.active, p.receives, &who.actor()).await?))
}

/// A portal as shown (the webhook secret only once, at creation).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PortalView {
    pub id: String,
    pub name: String,
    pub webhook_url: Option<String>,
    pub agencies: Vec<String>,
    /// Origins a payment's `return_url` may be on (https only); none: no return_url allowed.
    pub return_origins: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl PortalView {
    fn of(p: svc::Portal, show_secret: bool) -> PortalView {
        PortalView {
            id: p.id,
            name: p.name,
            webhook_url: p.webhook_url,
            agencies: p.agencies,
            return_origins: p.return_origins,
            webhook_secret: show_secret.then_some(p.webhook_secret),
        }
    }
}

/// List portals.
#[utoipa::path(get, path = "/v1/portals", tag = "admin", responses((status = 200, body = Vec<PortalView>)))]
pub async fn list_portals(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<PortalView>>, ApiError> {
    who.require(&[Role::Admin])?;
    Ok(Json(svc::portals(&state.store).await?.into_iter().map(|p| PortalView::of(p, false)).collect()))
}

/// New portal.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortal {
    pub id: Option<String>,
    pub name: String,
    pub webhook_url: Option<String>,
    /// Agency codes it may bill; empty or `["*"]` for all.
    #[serde(default)]
    pub agencies: Vec<String>,
    /// Origins its payments' `return_url` may be on (`https://host[:port]`); none: no
    /// return_url. Changed later with `PUT /v1/portals/{id}/return-origins`.
    #[serde(default)]
    pub return_origins: Vec<String>,
}

/// Create a portal; its webhook secret is in this answer only.
#[utoipa::path(post, path = "/v1/portals", tag = "admin", request_body = NewPortal,
    responses((status = 201, body = PortalView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_portal(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<PortalView>), ApiError> {
    who.require(&[Role::Admin])?;
    let n: NewPortal = typed(b)?;
    let p = svc::create_portal(&state.store, n.id, &n.name, n.webhook_url, n.agencies, &n.return_origins, &who.actor())
        .await?;
    let p = svc::portal(&state.store, &p.id).await?;
    Ok((StatusCode::CREATED, Json(PortalView::of(p, true))))
}

/// A portal's allowed return origins.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnOrigins {
    /// `https://host[:port]` each; an empty list allows no return_url.
    pub origins: Vec<String>,
}

/// Replace the origins a portal's payments may send the payer back to (audited).
#[utoipa::path(put, path = "/v1/portals/{id}/return-origins", tag = "admin", params(("id" = String, Path)),
    request_body = ReturnOrigins,
    responses((status = 200, body = PortalView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_return_origins(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<PortalView>, ApiError> {
    who.require(&[Role::Admin])?;
    let n: ReturnOrigins = typed(b)?;
    svc::set_return_origins(&state.store, &id, &n.origins, &who.actor()).await?;
    Ok(Json(PortalView::of(svc::portal(&state.store, &id).await?, false)))
}

/// New key.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// `portal`, `finance` or `admin`.
    pub role: String,
    pub portal_id: Option<String>,
    /// A finance key's agencies: it sees and acts on their payments, refunds, events and
    /// reports only (and not on reconciliation, which is per source). Empty: every agency.
    #[serde(default)]
    pub agencies: Vec<String>,
    #[serde(default)]
    pub name: String,
}

/// A new key: shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyCreated {
    pub id: String,
    pub key: String,
}

/// Create an API key.
#[utoipa::path(post, path = "/v1/keys", tag = "admin", request_body = NewKey,
    responses((status = 201, body = KeyCreated), (status = 422, body = ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<KeyCreated>), ApiError> {
    who.require(&[Role::Admin])?;
    let n: NewKey = typed(b)?;
    let role = Role::parse(&n.role)
        .ok_or_else(|| ApiError::new(Code::InvalidRole, "role is portal, finance or admin").with_field("role"))?;
    let (id, key) = svc::create_key(&state.store, role, n.portal_id, &n.agencies, &n.name, &who.actor()).await?;
    Ok((StatusCode::CREATED, Json(KeyCreated { id, key })))
}

/// An API key as listed (never its secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    pub role: String,
    pub portal_id: Option<String>,
    pub name: String,
    /// A finance key's agencies; empty: every agency.
    pub agencies: Vec<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// List API keys, revoked ones too (newest first).
#[utoipa::path(get, path = "/v1/keys", tag = "admin", responses((status = 200, body = Vec<KeyView>)))]
pub async fn list_keys(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<KeyView>>, ApiError> {
    who.require(&[Role::Admin])?;
    let rfc = crate::service::rfc3339;
    Ok(Json(
        svc::keys(&state.store)
            .await?
            .into_iter()
            .map(|(k, agencies)| KeyView {
                id: k.id,
                role: k.role,
                portal_id: k.portal_id,
                name: k.name,
                agencies,
                created_at: rfc(k.created_at),
                revoked_at: k.revoked_at.map(rfc),
            })
            .collect(),
    ))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require(&[Role::Admin])?;
    svc::revoke_key(&state.store, &id, &who.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A connector account a portal may offer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectorView {
    pub id: String,
    pub kind: String,
    pub display_name: String,
    pub agencies: Vec<String>,
    pub supports_refund: bool,
}

/// Connector accounts.
#[utoipa::path(get, path = "/v1/connectors", tag = "payments", responses((status = 200, body = Vec<ConnectorView>)))]
pub async fn list_connectors(State(state): State<AppState>, _who: Principal) -> Json<Vec<ConnectorView>> {
    Json(
        state
            .connectors
            .all()
            .map(|a| ConnectorView {
                id: a.connector.id().to_owned(),
                kind: a.connector.kind().to_owned(),
                display_name: a.connector.display_name().to_owned(),
                agencies: a.agencies.clone(),
                supports_refund: a.connector.supports_refund(),
            })
            .collect(),
    )
}
