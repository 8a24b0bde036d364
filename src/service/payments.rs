//! Creating, reading, listing and cancelling payments.

use super::view::{EventView, PaymentView};
use crate::app::AppState;
use crate::domain::agency::route;
use crate::domain::ids::new_id;
use crate::domain::payment::{NewPayment, PaymentStatus};
use crate::service::caller::{Principal, Role};
use crate::service::error::Code;
use crate::service::error::Error;
use crate::service::idempotency::Idempotent;
use crate::store::create::PaymentWrite;
use crate::store::idempotency::Claim;
use crate::store::now_ms;
use crate::store::payments::{LineRow, PaymentRow};

/// The query of a payment list: plain data that the store reads as it is.
pub use crate::store::payments::PaymentFilter;

/// The most characters an `Idempotency-Key` may have.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// An answer that may be a replay of an earlier one: the status saved with the
/// idempotency key (201 created, 202 accepted; the API answers it as the HTTP status) and
/// the JSON body text.
pub struct Stored {
    pub status: u16,
    pub body: String,
}

impl Stored {
    /// A new record was created.
    pub fn created(body: String) -> Self {
        Self { status: 201, body }
    }
    /// The request was taken and goes on (a refund with its gateway).
    pub fn accepted(body: String) -> Self {
        Self { status: 202, body }
    }
}

/// Checks an `Idempotency-Key` header value.
pub fn idempotency_key(raw: Option<&str>) -> Result<Option<String>, Error> {
    match raw {
        None => Ok(None),
        Some(k) if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY || !k.bytes().all(|b| (0x21..0x7f).contains(&b)) => {
            Err(Error::new(Code::InvalidIdempotencyKey, "Idempotency-Key is 1-255 visible ASCII characters")
                .with_field("Idempotency-Key"))
        }
        Some(k) => Ok(Some(k.to_owned())),
    }
}

/// `POST /v1/payments`.
pub async fn create(
    state: &AppState,
    who: &Principal,
    body: &serde_json::Value,
    key: Option<String>,
) -> Result<Stored, Error> {
    who.require(&[Role::Portal])?;
    let portal_id = who.portal_id.clone().ok_or_else(Error::forbidden)?;
    let cfg = &state.config;
    let new = NewPayment::parse(body, cfg.default_expires_in_seconds, cfg.max_expires_in_seconds)?;
    // Portal, agency and accounts from the cache (seconds old at most; see service::cache).
    let portal = state
        .cache
        .portal(&state.store, &portal_id)
        .await?
        .ok_or_else(|| Error::internal("key of a missing portal"))?;
    // No open redirect: the payer comes back only to an origin the portal's admin allowed.
    super::admin::check_return_url_in(&portal.return_origins, &new.return_url)?;
    if !state.cache.agency_exists(&state.store, &new.agency_code).await? {
        return Err(Error::new(Code::UnknownAgency, format!("no agency has code {}", new.agency_code))
            .with_field("agency_code"));
    }
    if !portal.portal.may_bill(&new.agency_code) {
        return Err(
            Error::new(Code::AgencyNotAllowed, "this portal may not bill that agency").with_field("agency_code")
        );
    }
    let accounts = state.cache.accounts(&state.store, &new.agency_code).await?;
    let now = now_ms();
    let id = new_id("pay");
    let mut lines = Vec::with_capacity(new.lines.len());
    for (i, l) in new.lines.iter().enumerate() {
        let account = route(&accounts, l.kind).ok_or_else(|| {
            Error::new(
                Code::NoAccountForLine,
                format!("agency {} has no active account receiving {}", new.agency_code, l.kind.as_str()),
            )
            .with_field(format!("lines[{i}].kind"))
        })?;
        lines.push(LineRow {
            payment_id: id.clone(),
            idx: i as i64,
            kind: l.kind.as_str().into(),
            code: l.code.clone(),
            description: l.description.clone(),
            amount: l.amount.get(),
            account_id: account.id.clone(),
        });
    }
    let row = PaymentRow {
        id: id.clone(),
        portal_id: portal_id.clone(),
        agency_code: new.agency_code,
        dossier_code: new.dossier_code,
        procedure_code: new.procedure_code,
        description: new.description,
        currency: "VND".into(),
        amount: new.amount.get(),
        refunded_amount: 0,
        status: PaymentStatus::Created,
        payer: serde_json::to_string(&new.payer).map_err(Error::internal)?,
        return_url: new.return_url,
        metadata: new.metadata.to_string(),
        review_reason: None,
        review_opened_at: None,
        created_at: now,
        updated_at: now,
        expires_at: now + new.expires_in_seconds * 1000,
        paid_at: None,
    };
    let view = PaymentView::build(&cfg.public_url, &row, &lines, &[]);
    let response = serde_json::to_string(&view).map_err(Error::internal)?;
    let idem = Idempotent::new(format!("portal:{portal_id}"), key.as_deref(), "POST /v1/payments", body);

    // The answer is known before the writes: the key is claimed with it, in the same write
    // as the payment (one statement on PostgreSQL).
    let answer = Stored::created(response);
    let audit = serde_json::json!({"amount": row.amount, "lines": lines.len()});
    let actor = who.actor();
    let write =
        PaymentWrite { payment: &row, lines: &lines, claim: idem.claim_with(&answer), actor: &actor, audit: &audit };
    let claim = state.store.create_payment(&write).await?;
    if let Claim::Used { .. } = claim {
        return idem.answer(claim, answer);
    }
    metrics::counter!("feegate_payment_transitions_total", "to" => "created").increment(1);
    Ok(answer)
}

/// Loads a payment the caller may see (another portal's, or another agency's for a caller
/// bound to agencies, is a 404 like a missing one).
pub async fn visible(state: &AppState, who: &Principal, id: &str) -> Result<PaymentRow, Error> {
    match state.store.payment(id).await? {
        Some(p) if who.sees_portal(&p.portal_id) && who.sees_agency(&p.agency_code) => Ok(p),
        _ => Err(Error::not_found("payment")),
    }
}

/// The full representation of a payment row.
pub async fn view(state: &AppState, p: &PaymentRow) -> Result<PaymentView, Error> {
    let lines = state.store.lines(&p.id).await?;
    let attempts = state.store.attempts(&p.id).await?;
    Ok(PaymentView::build(&state.config.public_url, p, &lines, &attempts))
}

/// `GET /v1/payments/{id}/events`.
pub async fn events(state: &AppState, who: &Principal, id: &str) -> Result<Vec<EventView>, Error> {
    visible(state, who, id).await?;
    Ok(state.store.events(id).await?.iter().map(EventView::from).collect())
}

/// `GET /v1/payments` (a portal sees only its own).
pub async fn list(
    state: &AppState,
    who: &Principal,
    mut f: PaymentFilter,
) -> Result<(Vec<PaymentView>, Option<String>), Error> {
    if who.role == Role::Portal {
        f.portal_id = who.portal_id.clone();
    }
    if let Some(scope) = &who.agencies {
        f.agencies = Some(scope.clone());
    }
    let limit = f.limit;
    f.limit = limit + 1;
    let mut rows = state.store.list_payments(&f).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("{}_{}", r.created_at, r.id))
    } else {
        None
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(view(state, r).await?);
    }
    Ok((out, next))
}

/// `POST /v1/payments/{id}/cancel`: only while nobody has paid.
pub async fn cancel(state: &AppState, who: &Principal, id: &str) -> Result<PaymentView, Error> {
    who.require(&[Role::Portal, Role::Admin])?;
    let p = visible(state, who, id).await?;
    let store = &state.store;
    let mut tx = store.begin().await?;
    if !store.transition_payment(&mut tx, id, PaymentStatus::Cancelled, None).await? {
        tx.rollback().await?;
        let now = store.payment(id).await?.map(|p| p.status.as_str()).unwrap_or_default();
        return Err(Error::new(Code::InvalidState, format!("a {now} payment cannot be cancelled")));
    }
    store.expire_open_attempts(&mut tx, id).await?;
    let from = p.status();
    let updated = store.payment_in(&mut tx, id).await?.ok_or_else(|| Error::not_found("payment"))?;
    let lines = store.lines_in(&mut tx, id).await?;
    let attempts = store.attempts_in(&mut tx, id).await?;
    let v = PaymentView::build(&state.config.public_url, &updated, &lines, &attempts);
    let data = serde_json::to_value(&v).map_err(Error::internal)?;
    store
        .insert_event(&mut tx, id, "payment.cancelled", Some(from), Some(PaymentStatus::Cancelled), &data, true)
        .await?;
    store.audit(&mut tx, id, "payment.cancelled", &who.actor(), &serde_json::json!({"from": from.as_str()})).await?;
    tx.commit().await?;
    metrics::counter!("feegate_payment_transitions_total", "to" => "cancelled").increment(1);
    let p = store.payment(id).await?.ok_or_else(|| Error::not_found("payment"))?;
    view(state, &p).await
}
