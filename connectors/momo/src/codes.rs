//! MoMo `resultCode` table (GATEWAYS.md §2.4) and what each code means for us.
//!
//! Codes are sorted into kinds by what they describe: the transaction (paid, still
//! pending, declined) or our API call (bad signature, maintenance, duplicated request).
//! Every code MoMo lists is named in [`kind`]; anything else falls into the explicit
//! `unknown` arm, which is never a success.

use feegate_connector::{Outcome, RefundOutcome};

/// What a `resultCode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `0`: successful, final.
    Success,
    /// The transaction is still with the payer or MoMo (`1000`, `7000`, `7002`, `8000`, `9000`).
    Pending,
    /// The transaction failed for good (payer, issuer, limits, expiry, account).
    Declined,
    /// Our call itself was refused (credentials, format, duplicates, maintenance); says
    /// nothing about the transaction.
    CallError,
    /// A code MoMo's table does not list (for us).
    Unknown,
}

/// Sorts a `resultCode`. Codes marked [UNVERIFIED] in GATEWAYS.md are sorted by their
/// published wording.
pub fn kind(code: i64) -> Kind {
    match code {
        0 => Kind::Success,
        // 9000 = authorized. With autoCapture left at its default (true) MoMo captures by
        // itself and then reports 0; until it does, the money is not ours, so we wait.
        1000 | 7000 | 7002 | 8000 | 9000 => Kind::Pending,
        // Payer, issuer and order-level failures. 4002 (account not verified by C06) is
        // from a third-party copy of MoMo's table, not GATEWAYS.md.
        21 | 22 | 47 | 98 | 1001 | 1002 | 1003 | 1004 | 1005 | 1006 | 1007 | 1017 | 1026 | 2019 | 4001 | 4002
        | 4100 => Kind::Declined,
        // Request-level errors; 42 (unknown orderId) and 43 (similar transaction in
        // progress) are here too: they describe the call, not a settled outcome.
        // 1080/1081/1088 are refund refusals.
        10 | 11 | 12 | 13 | 20 | 40 | 41 | 42 | 43 | 45 | 99 | 1080 | 1081 | 1088 => Kind::CallError,
        unknown => {
            tracing::warn!(result_code = unknown, "momo: resultCode not in the table; treating as not final");
            Kind::Unknown
        }
    }
}

/// The payment outcome a signed IPN or browser return reports.
///
/// Every known non-success, non-pending code is a failure (MoMo sends IPNs only for
/// final results); an unknown code is [`Outcome::Pending`] so the core asks the query
/// API instead of trusting a code we cannot read.
pub fn notified_outcome(code: i64, message: &str) -> Outcome {
    match kind(code) {
        Kind::Success => Outcome::Succeeded,
        Kind::Pending | Kind::Unknown => Outcome::Pending,
        Kind::Declined | Kind::CallError => Outcome::Failed { code: code.to_string(), message: message.to_owned() },
    }
}

/// What a query answer says: the order's outcome, or that MoMo refused the query itself.
pub enum QueryVerdict {
    Outcome(Outcome),
    /// MoMo refused the query itself; `retry` when it says to try later (10, 99).
    CallRefused {
        retry: bool,
    },
}

/// Reads a query answer's `resultCode`.
///
/// 42 (orderId not found) and 43 (in progress) are `Pending`: the order may not be
/// visible yet, and only a final code may fail an attempt; the core expires it.
pub fn query_verdict(code: i64, message: &str) -> QueryVerdict {
    match kind(code) {
        Kind::Success => QueryVerdict::Outcome(Outcome::Succeeded),
        Kind::Pending | Kind::Unknown => QueryVerdict::Outcome(Outcome::Pending),
        Kind::Declined => {
            QueryVerdict::Outcome(Outcome::Failed { code: code.to_string(), message: message.to_owned() })
        }
        Kind::CallError => match code {
            42 | 43 => QueryVerdict::Outcome(Outcome::Pending),
            10 | 99 => QueryVerdict::CallRefused { retry: true },
            _other_call_error => QueryVerdict::CallRefused { retry: false },
        },
    }
}

/// What a refund answer says: `Some(outcome)`, or `None` for a refusal (nothing moved).
///
/// Only 0 is a success. Pending codes, unknown codes, 99 (unknown error, final per MoMo
/// but silent on whether money moved), 40 and 41 (this refund's requestId / orderId
/// already exists: an earlier try of this same refund reached MoMo) are `Pending`, so
/// the core asks the refund query instead of freeing the amount for a second refund
/// that might pay out twice.
pub fn refund_verdict(code: i64) -> Option<RefundOutcome> {
    match kind(code) {
        Kind::Success => Some(RefundOutcome::Succeeded),
        Kind::Pending | Kind::Unknown => Some(RefundOutcome::Pending),
        Kind::CallError if matches!(code, 40 | 41 | 99) => Some(RefundOutcome::Pending),
        Kind::CallError | Kind::Declined => None,
    }
}

/// The state of one `refundTrans[]` entry of a query answer.
pub fn listed_refund_outcome(code: i64, message: &str) -> RefundOutcome {
    match kind(code) {
        Kind::Success => RefundOutcome::Succeeded,
        Kind::Pending | Kind::Unknown => RefundOutcome::Pending,
        Kind::Declined | Kind::CallError => {
            RefundOutcome::Failed { code: code.to_string(), message: message.to_owned() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_code_zero_is_ever_a_success_anywhere() {
        for code in -100..=100_000 {
            let paid = matches!(notified_outcome(code, ""), Outcome::Succeeded);
            let queried = matches!(query_verdict(code, ""), QueryVerdict::Outcome(Outcome::Succeeded));
            let refunded = matches!(refund_verdict(code), Some(RefundOutcome::Succeeded));
            let listed = matches!(listed_refund_outcome(code, ""), RefundOutcome::Succeeded);
            assert_eq!((paid, queried, refunded, listed), (code == 0, code == 0, code == 0, code == 0), "code {code}");
        }
    }

    #[test]
    fn pending_codes_are_pending_in_notifications_and_queries() {
        for code in [1000, 7000, 7002, 8000] {
            assert_eq!(notified_outcome(code, ""), Outcome::Pending);
            assert!(matches!(query_verdict(code, ""), QueryVerdict::Outcome(Outcome::Pending)));
        }
    }

    #[test]
    fn authorized_9000_is_pending_not_paid_because_the_notes_call_it_not_final() {
        assert_eq!(notified_outcome(9000, "authorized"), Outcome::Pending);
        assert!(matches!(query_verdict(9000, ""), QueryVerdict::Outcome(Outcome::Pending)));
    }

    #[test]
    fn payer_declines_are_failures_with_the_code_kept() {
        for code in [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1017, 1026, 4001, 4100] {
            assert_eq!(
                notified_outcome(code, "m"),
                Outcome::Failed { code: code.to_string(), message: "m".into() },
                "code {code}"
            );
            assert!(matches!(query_verdict(code, ""), QueryVerdict::Outcome(Outcome::Failed { .. })));
        }
    }

    #[test]
    fn unknown_codes_are_pending_so_the_core_queries() {
        for code in [5, 1999, 7777, -1, 12345] {
            assert_eq!(kind(code), Kind::Unknown);
            assert_eq!(notified_outcome(code, ""), Outcome::Pending);
            assert_eq!(refund_verdict(code), Some(RefundOutcome::Pending));
        }
    }

    #[test]
    fn query_call_errors_are_not_payment_failures() {
        assert!(matches!(query_verdict(13, ""), QueryVerdict::CallRefused { retry: false }));
        assert!(matches!(query_verdict(20, ""), QueryVerdict::CallRefused { retry: false }));
        assert!(matches!(query_verdict(10, ""), QueryVerdict::CallRefused { retry: true }));
        assert!(matches!(query_verdict(42, ""), QueryVerdict::Outcome(Outcome::Pending)));
    }

    #[test]
    fn refund_refusals_and_duplicates() {
        assert_eq!(refund_verdict(1081), None);
        assert_eq!(refund_verdict(1080), None);
        assert_eq!(refund_verdict(20), None);
        assert_eq!(
            refund_verdict(41),
            Some(RefundOutcome::Pending),
            "duplicated refund orderId: an earlier try landed"
        );
        assert_eq!(refund_verdict(7000), Some(RefundOutcome::Pending));
    }
}
