//! ZaloPay's `return_code` / `sub_return_code` (GATEWAYS.md §3.6) mapped to feegate outcomes.
//!
//! `return_code` is the verdict: 1 SUCCESS, 2 FAIL, 3 PROCESSING; anything else is an answer we
//! cannot read. With FAIL, `sub_return_code` says whether the *transaction* failed or the
//! *request* could not be served (system error, maintenance, rate limit, bad mac): the latter
//! never marks a payment failed, because the transaction's fate is still unknown.

use feegate_connector::{ConnectorError, Outcome, RefundOutcome};

/// The verdict of a ZaloPay answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnCode {
    Success,
    Fail,
    Processing,
}

impl ReturnCode {
    /// Reads a `return_code`; an unknown one is an unusable answer, never a success.
    pub fn parse(code: i64) -> Result<Self, ConnectorError> {
        match code {
            1 => Ok(Self::Success),
            2 => Ok(Self::Fail),
            3 => Ok(Self::Processing),
            other => Err(ConnectorError::BadResponse(format!("unknown ZaloPay return_code {other}"))),
        }
    }
}

/// What a FAIL's `sub_return_code` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubClass {
    /// ZaloPay could not serve the request now (system error, maintenance, rate limit): ask again later.
    Unavailable,
    /// Our request was refused (bad parameters, app or mac): a configuration or code fault.
    BadRequest,
    /// The transaction itself failed (expired, cancelled, balance, limits, bank error, not found...).
    Transaction,
}

/// Classifies a FAIL's `sub_return_code`. Codes in the documentation (and the [3P] query code
/// table) are listed; an unlisted code is taken at ZaloPay's word that the transaction failed.
pub fn classify(sub_return_code: i64) -> SubClass {
    match sub_return_code {
        // -32/-301 system error, -33 app maintenance, -88 function maintenance, -135 maintenance,
        // -429 LIMIT_REQUEST_REACH, -500 SYSTEM_ERROR, -999 SYSTEM_MAINTENANCE.
        -32 | -301 | -33 | -88 | -135 | -429 | -500 | -999 => SubClass::Unavailable,
        // -92 APPTRANSID_INVALID, -401 ILLEGAL_DATA_REQUEST, -402 ILLEGAL_APP/SIGNATURE_REQUEST,
        // -403 ILLEGAL_SIGNATURE_REQUEST, -405 ILLEGAL_CLIENT_REQUEST, 406 ILLEGAL_STATUS.
        -92 | -401 | -402 | -403 | -405 | 406 => SubClass::BadRequest,
        // -54 expired, -63 balance, -101 order does not exist (query), -217 bank error,
        // -322 code expired, -329 user cancelled, -332/-333 promotion, -13xx limits,
        // -34/-35 channel unavailable, -43 bank maintenance.
        -54 | -63 | -101 | -217 | -322 | -329 | -332 | -333 | -1343..=-1330 | -34 | -35 | -43 => SubClass::Transaction,
        // A code no source lists: FAIL is ZaloPay's verdict on the transaction, so it failed.
        _unlisted => SubClass::Transaction,
    }
}

/// The fields every ZaloPay answer carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub return_code: i64,
    pub return_message: String,
    pub sub_return_code: Option<i64>,
    pub sub_return_message: String,
}

impl Verdict {
    fn code(&self) -> String {
        self.sub_return_code.unwrap_or(self.return_code).to_string()
    }
    fn message(&self) -> String {
        if self.sub_return_message.is_empty() {
            self.return_message.clone()
        } else {
            self.sub_return_message.clone()
        }
    }
    fn unavailable(&self) -> ConnectorError {
        ConnectorError::Transport(format!("ZaloPay cannot answer now: {} {}", self.code(), self.message()))
    }
    fn rejected(&self) -> ConnectorError {
        ConnectorError::Rejected { code: self.code(), message: self.message() }
    }
    fn sub_class(&self) -> SubClass {
        self.sub_return_code.map(classify).unwrap_or(SubClass::Transaction)
    }
}

/// `/v2/query`: 1 paid, 3 not paid yet, 2 failed (unless the request itself failed).
pub fn query_outcome(v: &Verdict) -> Result<Outcome, ConnectorError> {
    match ReturnCode::parse(v.return_code)? {
        ReturnCode::Success => Ok(Outcome::Succeeded),
        ReturnCode::Processing => Ok(Outcome::Pending),
        ReturnCode::Fail => match v.sub_class() {
            SubClass::Unavailable => Err(v.unavailable()),
            SubClass::BadRequest => Err(v.rejected()),
            SubClass::Transaction => Ok(Outcome::Failed { code: v.code(), message: v.message() }),
        },
    }
}

/// `/v2/refund`: 1 done, 3 processing, 2 refused (a system error leaves the refund unknown).
pub fn refund_outcome(v: &Verdict) -> Result<RefundOutcome, ConnectorError> {
    match ReturnCode::parse(v.return_code)? {
        ReturnCode::Success => Ok(RefundOutcome::Succeeded),
        ReturnCode::Processing => Ok(RefundOutcome::Pending),
        ReturnCode::Fail => match v.sub_class() {
            SubClass::Unavailable => Err(v.unavailable()),
            SubClass::BadRequest | SubClass::Transaction => Err(v.rejected()),
        },
    }
}

/// `/v2/query_refund`: 1 done, 3 processing, 2 failed (unless the request itself failed, or
/// ZaloPay does not know the refund: that says nothing about it).
pub fn query_refund_outcome(v: &Verdict) -> Result<RefundOutcome, ConnectorError> {
    match ReturnCode::parse(v.return_code)? {
        ReturnCode::Success => Ok(RefundOutcome::Succeeded),
        ReturnCode::Processing => Ok(RefundOutcome::Pending),
        // -101: "does not exist" in the query code table, "refund success (card refunds take
        // 3-5 working days)" in GATEWAYS.md §3.6. Unsure which; neither is a failed refund.
        ReturnCode::Fail if v.sub_return_code == Some(REFUND_NOT_KNOWN) => Ok(RefundOutcome::Pending),
        ReturnCode::Fail => match v.sub_class() {
            SubClass::Unavailable => Err(v.unavailable()),
            SubClass::BadRequest => Err(v.rejected()),
            SubClass::Transaction => Ok(RefundOutcome::Failed { code: v.code(), message: v.message() }),
        },
    }
}

/// The `sub_return_code` a refund query gets for a refund ZaloPay does not (yet) show.
pub const REFUND_NOT_KNOWN: i64 = -101;

/// `/v2/create`: only 1 gives an order; 2 is a refusal; 5xx never reaches here.
pub fn create_accepted(v: &Verdict) -> Result<(), ConnectorError> {
    match ReturnCode::parse(v.return_code)? {
        ReturnCode::Success => Ok(()),
        ReturnCode::Fail => Err(v.rejected()),
        ReturnCode::Processing => Err(ConnectorError::BadResponse("ZaloPay create answered PROCESSING".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(return_code: i64, sub: Option<i64>) -> Verdict {
        Verdict { return_code, sub_return_code: sub, sub_return_message: "m".into(), ..Default::default() }
    }

    #[test]
    fn query_codes_map_to_outcomes() {
        assert_eq!(query_outcome(&v(1, Some(1))).unwrap(), Outcome::Succeeded);
        assert_eq!(query_outcome(&v(3, None)).unwrap(), Outcome::Pending);
        assert_eq!(
            query_outcome(&v(2, Some(-329))).unwrap(),
            Outcome::Failed { code: "-329".into(), message: "m".into() }
        );
        assert!(matches!(query_outcome(&v(2, None)), Ok(Outcome::Failed { .. })));
    }

    #[test]
    fn a_query_that_zalopay_could_not_serve_never_fails_the_payment() {
        for sub in [-500, -999, -429, -32, -301, -33, -88, -135] {
            assert!(matches!(query_outcome(&v(2, Some(sub))), Err(ConnectorError::Transport(_))), "{sub}");
        }
        for sub in [-401, -402, -403, -405, 406, -92] {
            assert!(matches!(query_outcome(&v(2, Some(sub))), Err(ConnectorError::Rejected { .. })), "{sub}");
        }
    }

    #[test]
    fn unknown_return_codes_are_never_success() {
        for code in [0, -1, 4, 100] {
            assert!(matches!(query_outcome(&v(code, Some(1))), Err(ConnectorError::BadResponse(_))));
            assert!(matches!(refund_outcome(&v(code, Some(1))), Err(ConnectorError::BadResponse(_))));
            assert!(matches!(query_refund_outcome(&v(code, Some(1))), Err(ConnectorError::BadResponse(_))));
            assert!(create_accepted(&v(code, Some(1))).is_err());
        }
    }

    #[test]
    fn refund_codes_map_to_outcomes() {
        assert_eq!(refund_outcome(&v(1, None)).unwrap(), RefundOutcome::Succeeded);
        assert_eq!(refund_outcome(&v(3, None)).unwrap(), RefundOutcome::Pending);
        assert!(matches!(refund_outcome(&v(2, Some(-1))), Err(ConnectorError::Rejected { .. })));
        assert!(matches!(refund_outcome(&v(2, Some(-500))), Err(ConnectorError::Transport(_))));
        assert_eq!(query_refund_outcome(&v(1, None)).unwrap(), RefundOutcome::Succeeded);
        assert_eq!(query_refund_outcome(&v(3, None)).unwrap(), RefundOutcome::Pending);
        assert!(matches!(query_refund_outcome(&v(2, Some(-1))), Ok(RefundOutcome::Failed { .. })));
        assert!(matches!(query_refund_outcome(&v(2, Some(-402))), Err(ConnectorError::Rejected { .. })));
    }

    #[test]
    fn unsure_sub_code_101_on_a_refund_query_leaves_the_refund_pending_as_not_found_or_success_never_failed() {
        assert_eq!(query_refund_outcome(&v(2, Some(-101))).unwrap(), RefundOutcome::Pending);
        assert_eq!(query_refund_outcome(&v(3, Some(-101))).unwrap(), RefundOutcome::Pending);
        // A refund ZaloPay says failed still fails; a payment query's -101 is still "no such order".
        assert!(matches!(query_refund_outcome(&v(2, Some(-1))), Ok(RefundOutcome::Failed { .. })));
        assert!(matches!(query_outcome(&v(2, Some(-101))), Ok(Outcome::Failed { .. })));
    }

    #[test]
    fn create_refusals_keep_the_sub_code() {
        match create_accepted(&v(2, Some(-68))) {
            Err(ConnectorError::Rejected { code, message }) => {
                assert_eq!((code.as_str(), message.as_str()), ("-68", "m"))
            }
            other => panic!("{other:?}"),
        }
        assert!(create_accepted(&v(1, Some(1))).is_ok());
    }
}
