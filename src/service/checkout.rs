//! What the hosted checkout pages read: a payment with its lines and its agency's name,
//! the latest open attempt's action (the QR transfer page), and the form-token key. The
//! pages (`web/`) read through here, never the store.

use crate::app::AppState;
use crate::service::error::Error;
use crate::store::payments::{LineRow, PaymentRow};
use feegate_connector::Action;

/// A payment as its checkout page shows it.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub payment: PaymentRow,
    pub lines: Vec<LineRow>,
    /// Empty when the agency is unknown or cannot be read (the page shows no name).
    pub agency_name: String,
}

/// The payment `id` with its lines and agency name; `None` if there is no such payment.
pub async fn load(state: &AppState, id: &str) -> Result<Option<Checkout>, Error> {
    let Some(payment) = state.store.payment(id).await? else { return Ok(None) };
    let lines = state.store.lines(&payment.id).await?;
    let agency_name = state.store.agency(&payment.agency_code).await.ok().flatten().map(|a| a.name).unwrap_or_default();
    Ok(Some(Checkout { payment, lines, agency_name }))
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
