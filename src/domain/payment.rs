//! Payments, lines and attempts: the state machines of DESIGN §5 (the create request and
//! its checks are in `payment/create.rs`). Stores enforce the same transitions with
//! guarded updates built from [`PaymentStatus::sources`].

mod create;

pub use create::{
    amount_schema, code, from_json, is_code_char, AmountInput, CreateLine, CreatePayment, NewPayment, Obj, CODE_CHARS,
    MAX_CODE, MAX_DOSSIER_CODE,
};

use super::agency::LineKind;
use super::money::Amount;
use serde::{Deserialize, Serialize};

/// The most lines one payment may have.
pub const MAX_LINES: usize = 100;

/// A payment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Created,
    Pending,
    Succeeded,
    Expired,
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 7] = [
        PaymentStatus::Created,
        PaymentStatus::Pending,
        PaymentStatus::Succeeded,
        PaymentStatus::Expired,
        PaymentStatus::Cancelled,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Created => "created",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The statuses a payment may move to `to` from (DESIGN §5).
    pub fn sources(to: PaymentStatus) -> &'static [PaymentStatus] {
        use PaymentStatus::*;
        match to {
            Created => &[Pending],
            Pending => &[Created, Pending],
            Succeeded => &[Created, Pending],
            Expired | Cancelled => &[Created, Pending],
            PartiallyRefunded => &[Succeeded, PartiallyRefunded],
            Refunded => &[Succeeded, PartiallyRefunded],
        }
    }

    /// Whether `self -> to` is allowed.
    pub fn can_become(self, to: PaymentStatus) -> bool {
        Self::sources(to).contains(&self)
    }

    /// Whether the payer can still pay.
    pub fn is_payable(self) -> bool {
        matches!(self, PaymentStatus::Created | PaymentStatus::Pending)
    }

    /// `'a', 'b'` for an SQL `IN (...)` list (values are fixed identifiers, not input).
    pub fn sql_list(list: &[PaymentStatus]) -> String {
        list.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")
    }
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An attempt's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    Pending,
    Succeeded,
    Failed,
    Expired,
    Unknown,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Pending => "pending",
            AttemptStatus::Succeeded => "succeeded",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Expired => "expired",
            AttemptStatus::Unknown => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<AttemptStatus> {
        [Self::Pending, Self::Succeeded, Self::Failed, Self::Expired, Self::Unknown]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
    /// Open attempts can still change.
    pub fn is_open(self) -> bool {
        matches!(self, AttemptStatus::Pending | AttemptStatus::Unknown)
    }
}

impl std::fmt::Display for AttemptStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a payment needs a person.
pub mod review {
    pub const LATE_SUCCESS: &str = "late_success";
    pub const SECOND_SUCCESS: &str = "second_success";
    pub const AMOUNT_MISMATCH: &str = "amount_mismatch";
    pub const CONFLICTING_OUTCOME: &str = "conflicting_outcome";
    /// The deadline passed with only some legs of a transfer to several accounts arrived:
    /// the payment is expired and what arrived is to be refunded.
    pub const TRANSFER_INCOMPLETE: &str = "transfer_incomplete";
}

/// A checked line of a new payment (account chosen later, by routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub kind: LineKind,
    pub code: String,
    pub description: String,
    pub amount: Amount,
}

/// The payer, as the portal gives it (each field optional, no control characters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payer {
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// Citizen identity number (CCCD).
    #[serde(default)]
    #[schema(max_length = 20)]
    pub id_number: Option<String>,
    #[serde(default)]
    #[schema(max_length = 20)]
    pub phone: Option<String>,
    #[serde(default)]
    #[schema(max_length = 254)]
    pub email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_is_that_of_the_design() {
        use PaymentStatus::*;
        assert!(Created.can_become(Pending) && Pending.can_become(Succeeded) && Pending.can_become(Created));
        assert!(Succeeded.can_become(PartiallyRefunded) && PartiallyRefunded.can_become(Refunded));
        for terminal in [Expired, Cancelled, Refunded] {
            for to in PaymentStatus::ALL {
                assert!(!terminal.can_become(to), "{terminal:?} -> {to:?}");
            }
        }
        assert!(!Succeeded.can_become(Expired) && !Succeeded.can_become(Created));
    }
}
