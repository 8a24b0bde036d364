//! The API's side of errors: the HTTP status of every code of the table
//! ([`crate::domain::code::Code`]) and the JSON envelope
//! `{"error": {"code", "message", "field"}}`. This is the only place that maps a code to a
//! status; `docs/errors.md` is generated from the table and this mapping.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

pub use crate::service::error::{Code, Error as ApiError};

/// The HTTP status each code is answered with.
pub fn status(code: Code) -> StatusCode {
    match code {
        Code::BadRequest
        | Code::InvalidJson
        | Code::InvalidQuery
        | Code::InvalidPath
        | Code::InvalidCursor
        | Code::InvalidIdempotencyKey
        | Code::InvalidMultipart
        | Code::ClientError => StatusCode::BAD_REQUEST,
        Code::MissingApiKey | Code::InvalidApiKey | Code::RevokedApiKey => StatusCode::UNAUTHORIZED,
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Code::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        Code::Conflict
        | Code::IdempotencyKeyReused
        | Code::AgencyExists
        | Code::PortalExists
        | Code::PaymentNotPayable
        | Code::PaymentNotRefundable
        | Code::RefundExceedsAvailable
        | Code::CaseAlreadyResolved
        | Code::InvalidState
        | Code::DayClosed
        | Code::OpenCases
        | Code::NoRun
        | Code::NotAWebhookEvent
        | Code::ReceiptJobNotFailed => StatusCode::CONFLICT,
        Code::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Code::Unprocessable
        | Code::MissingField
        | Code::UnknownField
        | Code::InvalidType
        | Code::InvalidField
        | Code::FieldTooLong
        | Code::InvalidCode
        | Code::InvalidAmount
        | Code::TooManyLines
        | Code::InvalidLineKind
        | Code::InvalidReturnUrl
        | Code::InvalidExpiry
        | Code::InvalidAgencyCode
        | Code::InvalidBankBin
        | Code::InvalidAccountNumber
        | Code::InvalidAccountKind
        | Code::InvalidDate
        | Code::InvalidMonth
        | Code::InvalidLimit
        | Code::InvalidStatus
        | Code::InvalidKind
        | Code::InvalidRole
        | Code::InvalidFormat
        | Code::InvalidNote
        | Code::InvalidResolutionCode
        | Code::InvalidWebhookUrl
        | Code::InvalidReturnOrigin
        | Code::UnknownAttempt
        | Code::AttemptNotRefundable
        | Code::RefundExceedsAttempt
        | Code::TooManyReturnOrigins
        | Code::InvalidBase64
        | Code::InvalidSettlementFile
        | Code::FileTooLarge
        | Code::FormatMismatch
        | Code::StatementParse
        | Code::StatementUnbalanced
        | Code::StatementRunningBalance
        | Code::StatementColumnMap
        | Code::StatementWrongAccount
        | Code::UnknownAgency
        | Code::UnknownAccount
        | Code::UnknownPortal
        | Code::UnknownConnector
        | Code::UnknownSource
        | Code::AgencyNotAllowed
        | Code::ReturnUrlNotAllowed
        | Code::NoAccountForLine
        | Code::ConnectorNotApplicable
        | Code::AmountNotAccepted
        | Code::SettlementNotSupported
        | Code::ConstraintViolation => StatusCode::UNPROCESSABLE_ENTITY,
        Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Code::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Code::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        Code::GatewayRejected | Code::GatewayUnavailable => StatusCode::BAD_GATEWAY,
        Code::Unavailable | Code::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code to switch on (docs/errors.md lists them).
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The envelope of `err` with an explicit status: for refusals the HTTP framework answered
/// itself, whose status is kept as it chose it.
pub fn envelope(status: StatusCode, err: ApiError) -> Response {
    let body =
        ErrorBody { error: ErrorDetail { code: err.code.as_str().into(), message: err.message, field: err.field } };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        envelope(status(self.code), self)
    }
}

/// `docs/errors.md` as the table and the mapping make it.
pub fn errors_doc() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Every refusal of the API is `{\"error\": {\"code\": \"...\", \"message\": \"...\", \"field\": \"...\"}}`\n\
         with one of these stable codes. Generated from `src/domain/code.rs` (the table) and\n\
         `src/api/error.rs` (the status of each code) by the test\n\
         `api::error::tests::docs_errors_md_lists_every_code`; run it with\n\
         `FEEGATE_WRITE_ERRORS_DOC=1` to rewrite this file.\n\n\
         | code | HTTP status | meaning |\n|---|---|---|\n",
    );
    for &c in Code::ALL {
        out.push_str(&format!("| `{}` | {} | {} |\n", c.as_str(), status(c).as_u16(), c.meaning().replace('|', "\\|")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_errors_md_lists_every_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md");
        let want = errors_doc();
        if std::env::var_os("FEEGATE_WRITE_ERRORS_DOC").is_some() {
            std::fs::write(&path, &want).expect("write docs/errors.md");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(have == want, "docs/errors.md is stale; rerun this test with FEEGATE_WRITE_ERRORS_DOC=1\n{want}");
        for &c in Code::ALL {
            assert_eq!(have.matches(&format!("| `{}` |", c.as_str())).count(), 1, "{c} in docs/errors.md");
        }
    }

    #[test]
    fn a_server_fault_is_a_5xx_and_nothing_else_is() {
        for &c in Code::ALL {
            assert_eq!(status(c).is_server_error(), c.is_server_fault(), "{c}");
        }
    }
}
