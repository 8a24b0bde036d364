//! What the hosted checkout pages read: a payment with its lines, its agency's name and
//! its attempts (which one paid, whether the last one failed), the transfers awaited (the
//! QR transfer page), and the form-token key. The pages (`web/`) read through
//! here, never the store.

use crate::app::AppState;
use crate::domain::payment::AttemptStatus;
use crate::service::error::Error;
use crate::store::payments::{AttemptRow, LineRow, PaymentRow};
use feegate_connector::{Action, TransferInstructions};

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
    /// The attempt that paid the payment (the first that succeeded; of a transfer to several
    /// accounts, the first leg of the group whose legs all arrived).
    pub fn paid_by(&self) -> Option<&AttemptRow> {
        let done = |a: &&AttemptRow| match &a.leg_group {
            None => true,
            Some(g) => {
                super::attempts::legs_of(&self.attempts, g).iter().all(|l| l.status() == AttemptStatus::Succeeded)
            }
        };
        let first = self.attempts.iter().filter(|a| a.status() == AttemptStatus::Succeeded).find(done)?;
        match &first.leg_group {
            Some(g) => self.attempts.iter().find(|a| &a.id == g),
            None => Some(first),
        }
    }

    /// The transaction number(s) of what paid `a`: each leg's, when it is a transfer to
    /// several accounts.
    pub fn transaction_of(&self, a: &AttemptRow) -> String {
        let one = |a: &AttemptRow| a.gateway_txn.clone().unwrap_or_else(|| a.reference.clone());
        match &a.leg_group {
            Some(g) => super::attempts::legs_of(&self.attempts, g).into_iter().map(one).collect::<Vec<_>>().join(", "),
            None => one(a),
        }
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

/// One transfer the QR page shows.
#[derive(Debug, Clone)]
pub struct ShownTransfer {
    /// Whether its money has arrived (a leg of a transfer to several accounts).
    pub arrived: bool,
    pub payload: String,
    pub transfer: TransferInstructions,
}

/// What the QR page shows: the transfers of the latest open attempt (all the legs of its
/// group, when its payment's lines go to several accounts), with the connector's id.
#[derive(Debug, Clone)]
pub struct Transfers {
    pub connector_id: String,
    pub transfers: Vec<ShownTransfer>,
}

/// The transfers awaited for payment `id`; `None` when no transfer is awaited (paid,
/// failed, expired, or the open attempt is not a bank transfer).
pub async fn transfers(state: &AppState, id: &str) -> Result<Option<Transfers>, Error> {
    let attempts = state.store.attempts(id).await?;
    let Some(open) = attempts.iter().rev().find(|a| a.status().is_open()) else { return Ok(None) };
    let legs: Vec<&AttemptRow> = match &open.leg_group {
        Some(g) => super::attempts::legs_of(&attempts, g),
        None => vec![open],
    };
    let mut transfers = Vec::new();
    for leg in legs {
        match serde_json::from_str::<Action>(&leg.action) {
            Ok(Action::Qr { payload, transfer }) => {
                transfers.push(ShownTransfer { arrived: leg.status() == AttemptStatus::Succeeded, payload, transfer })
            }
            // Not a transfer (a redirect), or its code was never recorded: nothing to show.
            _ => return Ok(None),
        }
    }
    Ok(Some(Transfers { connector_id: open.connector_id.clone(), transfers }))
}

/// The key of the checkout form tokens (loaded from, or made in, the database).
pub async fn form_key(state: &AppState) -> Result<Vec<u8>, Error> {
    crate::service::admin::checkout_form_key(&state.store).await
}

/// Now, in unix milliseconds (the clock the store stamps rows with).
pub fn now_ms() -> i64 {
    crate::store::now_ms()
}
