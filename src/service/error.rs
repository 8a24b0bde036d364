//! The service's error: a code from the one table ([`Code`]), a message for a person and
//! the field at fault. It knows no HTTP: `api/error.rs` maps each code to a status and
//! writes the JSON envelope. Internal errors are logged with their cause and answered opaque.

pub use crate::domain::code::Code;
use crate::domain::Invalid;
use crate::store::StoreError;

/// A refusal or failure of a service call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub field: Option<String>,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None }
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("{what} not found"))
    }
    pub fn forbidden() -> Self {
        Self::new(Code::Forbidden, "this key's role may not do that")
    }
    pub fn unavailable() -> Self {
        Self::new(Code::DatabaseUnavailable, "the database is unreachable; retry later")
    }
    /// Logs `err` with its causes and answers an opaque internal error.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(Code::InternalError, "internal error; it has been logged")
    }
    /// Whether the fault is ours (or a gateway's), not the request's.
    pub fn is_server_fault(&self) -> bool {
        self.code.is_server_fault()
    }
}

/// Deserialises a JSON value into `T`, turning serde's complaint into a refusal that names
/// the field by its path (e.g. `receives[1]`, `lines[0].amount`).
pub fn typed<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, Error> {
    crate::domain::payment::from_json(v).map_err(Error::from)
}

impl From<Invalid> for Error {
    fn from(i: Invalid) -> Self {
        Self { code: i.code, message: i.message, field: i.field }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Error::new(Code::Conflict, "a record with this identity exists"),
            StoreError::Constraint(m) => Error::new(Code::ConstraintViolation, m),
            StoreError::Unavailable(why) => {
                tracing::error!(error = %why, "database unavailable");
                Error::unavailable()
            }
            StoreError::Other(err) => Error::internal(format!("{err:#}")),
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::internal(format!("{e:#}"))
    }
}
