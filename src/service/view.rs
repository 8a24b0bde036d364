//! The payment representation of DESIGN §6, built from stored rows.

use super::rfc3339;
use crate::domain::payment::Payer;
use crate::store::payments::{AttemptRow, EventRow, LineRow, PaymentRow};
use serde::{Deserialize, Serialize};

/// A payment as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentView {
    pub id: String,
    pub status: String,
    pub agency_code: String,
    pub dossier_code: String,
    pub procedure_code: String,
    pub description: String,
    pub currency: String,
    /// Whole đồng as a string of digits.
    pub amount: String,
    pub refunded_amount: String,
    pub lines: Vec<LineView>,
    pub payer: Payer,
    pub checkout_url: String,
    pub return_url: String,
    pub attempts: Vec<AttemptView>,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
    pub paid_at: Option<String>,
    pub review: Option<ReviewView>,
    pub metadata: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineView {
    pub kind: String,
    pub code: String,
    pub description: String,
    pub amount: String,
    pub account_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptView {
    pub id: String,
    pub connector: String,
    pub status: String,
    pub reference: String,
    pub gateway_ref: Option<String>,
    pub amount: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub leg_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub leg: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account_id: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewView {
    pub reason: String,
    pub opened_at: String,
}

/// One entry of a payment's status history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status_from: Option<String>,
    pub status_to: Option<String>,
    pub created_at: String,
    pub data: serde_json::Value,
}

impl PaymentView {
    pub fn build(public_url: &str, p: &PaymentRow, lines: &[LineRow], attempts: &[AttemptRow]) -> PaymentView {
        PaymentView {
            id: p.id.clone(),
            status: p.status.as_str().to_owned(),
            agency_code: p.agency_code.clone(),
            dossier_code: p.dossier_code.clone(),
            procedure_code: p.procedure_code.clone(),
            description: p.description.clone(),
            currency: p.currency.clone(),
            amount: p.amount.to_string(),
            refunded_amount: p.refunded_amount.to_string(),
            lines: lines
                .iter()
                .map(|l| LineView {
                    kind: l.kind.clone(),
                    code: l.code.clone(),
                    description: l.description.clone(),
                    amount: l.amount.to_string(),
                    account_id: l.account_id.clone(),
                })
                .collect(),
            payer: serde_json::from_str(&p.payer).unwrap_or_default(),
            checkout_url: format!("{public_url}/checkout/{}", p.id),
            return_url: p.return_url.clone(),
            attempts: attempts
                .iter()
                .map(|a| AttemptView {
                    id: a.id.clone(),
                    connector: a.connector_id.clone(),
                    status: a.status.as_str().to_owned(),
                    reference: a.reference.clone(),
                    gateway_ref: a.gateway_txn.clone().or_else(|| a.gateway_ref.clone()),
                    amount: a.amount.to_string(),
                    leg_group: a.leg_group.clone(),
                    leg: a.leg,
                    account_id: a.leg_account_id.clone(),
                    created_at: rfc3339(a.created_at),
                })
                .collect(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
            expires_at: rfc3339(p.expires_at),
            paid_at: p.paid_at.map(rfc3339),
            review: p.review_reason.as_ref().map(|r| ReviewView {
                reason: r.clone(),
                opened_at: rfc3339(p.review_opened_at.unwrap_or(p.updated_at)),
            }),
            metadata: serde_json::from_str(&p.metadata).unwrap_or_default(),
        }
    }
}

impl From<&EventRow> for EventView {
    fn from(e: &EventRow) -> Self {
        EventView {
            id: e.id.clone(),
            kind: e.kind.clone(),
            status_from: e.status_from.clone(),
            status_to: e.status_to.clone(),
            created_at: rfc3339(e.created_at),
            data: serde_json::from_str(&e.data).unwrap_or_default(),
        }
    }
}
