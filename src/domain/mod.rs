//! Pure types and rules, no I/O: money, identifiers, agencies and accounts, payments and
//! their state machine, and amounts in Vietnamese words.

use code::Code;

pub mod agency;
pub mod code;
pub mod ids;
pub mod money;
pub mod payment;
pub mod receipt;
pub mod recon;
pub mod sheet;
pub mod statement;
pub mod stmt_match;
pub mod words;

/// A rule broken by input: a stable machine code, a message, and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: Code,
    pub message: String,
    pub field: Option<String>,
}

impl Invalid {
    pub fn new(code: Code, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: Some(field.into()) }
    }
}

/// Checks a text field's length (in characters) and that it is not blank when required.
pub fn text(field: &str, value: &str, max: usize, required: bool) -> Result<String, Invalid> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(Invalid::new(Code::MissingField, field, format!("{field} is required")));
    }
    if v.chars().count() > max {
        return Err(Invalid::new(Code::FieldTooLong, field, format!("{field} is longer than {max} characters")));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(Invalid::new(Code::InvalidField, field, format!("{field} contains control characters")));
    }
    Ok(v.to_owned())
}
