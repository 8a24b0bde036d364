//! What the hosted checkout pages read: a payment with its lines, its agency's name and
//! its attempts (which one paid, whether the last one failed), the latest open attempt's
//! action (the QR transfer page), and the form-token key. The pages (`web/`) read through
//! here, never the store.

use crate::app::AppState;
use crate::domain::payment::AttemptStatus;
use crate::service::error::Error;
use crate::store::payments::{AttemptRow, LineRow, PaymentRow};
use feegate_connector::Action;

/// A payment as its checkout page shows it.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub payment: PaymentRow,
    pub lines: Vec<LineRow>,
    /// Empty when the agency is unknown or cannot be read (the page shows no name).
    pub agency_name: String,
    /// Oldest first.
    pub attempts: Vec<AttemptRow>,
}

impl Checkout {
    /// The attempt that paid the payment (the first that succeeded).
    pub fn paid_by(&self) -> Option<&AttemptRow> {
        self.attempts.iter().find(|a| a.status() == AttemptStatus::Succeeded)
    }

    /// The latest attempt, if it failed (`superseded` ones, closed because another attempt
    /// paid, do not count): the payer is told and may choose again.
    pub fn last_failed(&self) -> Option<&AttemptRow> {
        self.attempts
            .last()
            .filter(|a| a.status() == AttemptStatus::Failed && a.failure_code.as_deref() != Some("superseded"))
    }

    /// The latest attempt still open (pending or unknown), if any.
    pub fn open_attempt(&self) -> Option<&AttemptRow> {
        self.attempts.iter().rev().find(|a| a.status().is_open())
    }
}

/// Where "back to the portal" goes: the payment's return_url with what the gateways'
/// browser return adds (its id, status, receipt, and the signature: README, "The browser's
/// return"), else `portal_url` (the site's portal), else nowhere.
pub async fn back_url(state: &AppState, c: &Checkout, portal_url: &str) -> Result<Option<String>, Error> {
    let p = &c.payment;
    if url::Url::parse(&p.return_url).is_ok() {
        let back = super::callbacks::returned_for(state, p.clone(), p.status.as_str().to_owned()).await?;
        return Ok(back.redirect_url(time::OffsetDateTime::now_utc().unix_timestamp()));
    }
    Ok((!portal_url.is_empty()).then(|| portal_url.to_owned()))
}

/// The payment `id` with its lines and agency name; `None` if there is no such payment.
pub async fn load(state: &AppState, id: &str) -> Result<Option<Checkout>, Error> {
    let Some(payment) = state.store.payment(id).await? else { return Ok(None) };
    let lines = state.store.lines(&payment.id).await?;
    let agency_name = state.store.agency(&payment.agency_code).await.ok().flatten().map(|a| a.name).unwrap_or_default();
    let attempts = state.store.attempts(&payment.id).await?;
    Ok(Some(Checkout { payment, lines, agency_name, attempts }))
}

/// The latest open attempt of payment `id` that left a readable action: (connector, action).
pub async fn open_action(state: &AppState, id: &str) -> Result<Option<(String, Action)>, Error> {
    let attempts = state.store.attempts(id).await?;
    Ok(attempts
        .iter()
        .rev()
        .find(|a| a.status().is_open())
        .and_then(|a| serde_json::from_str::<Action>(&a.action).ok().map(|act| (a.connector_id.clone(), act))))
}

/// The key of the checkout form tokens (loaded from, or made in, the database).
pub async fn form_key(state: &AppState) -> Result<Vec<u8>, Error> {
    crate::service::admin::checkout_form_key(&state.store).await
}

/// Now, in unix milliseconds (the clock the store stamps rows with).
pub fn now_ms() -> i64 {
    crate::store::now_ms()
}
