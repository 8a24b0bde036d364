//! Agencies (đơn vị) and their beneficiary accounts (tài khoản thụ hưởng), and how a
//! payment line is routed to one of them.

use super::{text, Invalid};
use crate::domain::code::Code;
use serde::{Deserialize, Serialize};

/// What a line is: a fee (phí) or a charge (lệ phí).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    Fee,
    Charge,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Fee => "fee",
            LineKind::Charge => "charge",
        }
    }
    pub fn parse(s: &str) -> Option<LineKind> {
        match s {
            "fee" => Some(LineKind::Fee),
            "charge" => Some(LineKind::Charge),
            _ => None,
        }
    }
}

/// Checks an agency code: letters, digits and dots, 1–40 characters (`H12.20`, `000.00.12.H12`).
pub fn agency_code(field: &str, v: &str) -> Result<String, Invalid> {
    let v = v.trim();
    if v.is_empty() || v.len() > 40 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        return Err(Invalid::new(Code::InvalidAgencyCode, field, "agency code: 1-40 letters, digits, '.', '-' or '_'"));
    }
    Ok(v.to_owned())
}

/// An agency as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agency {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
}

/// A beneficiary account as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    pub id: String,
    pub agency_code: String,
    pub bank_bin: String,
    pub bank_name: String,
    pub account_number: String,
    pub account_name: String,
    /// `treasury` or `bank`.
    pub kind: String,
    pub receives: Vec<LineKind>,
    pub budget_chapter: Option<String>,
    pub budget_item: Option<String>,
    pub active: bool,
}

/// An account as given to the API or an import file (no id yet).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub bank_bin: String,
    pub bank_name: String,
    pub account_number: String,
    pub account_name: String,
    pub kind: String,
    pub receives: Vec<LineKind>,
    #[serde(default)]
    pub budget_chapter: Option<String>,
    #[serde(default)]
    pub budget_item: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl NewAccount {
    /// Checks the fields and gives a storable account.
    pub fn validate(self, id: String, agency_code: &str) -> Result<Account, Invalid> {
        if self.bank_bin.len() != 6 || !self.bank_bin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                Code::InvalidBankBin,
                "bank_bin",
                "bank_bin is the 6-digit bank BIN, e.g. 970415",
            ));
        }
        let number = self.account_number.trim();
        if number.is_empty() || number.len() > 19 || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Invalid::new(
                Code::InvalidAccountNumber,
                "account_number",
                "account_number: 1-19 letters or digits",
            ));
        }
        if self.kind != "treasury" && self.kind != "bank" {
            return Err(Invalid::new(Code::InvalidAccountKind, "kind", "kind is treasury or bank"));
        }
        if self.receives.is_empty() {
            return Err(Invalid::new(Code::MissingField, "receives", "receives lists fee and/or charge"));
        }
        Ok(Account {
            id,
            agency_code: agency_code.to_owned(),
            bank_bin: self.bank_bin,
            bank_name: text("bank_name", &self.bank_name, 100, true)?,
            account_number: number.to_owned(),
            account_name: text("account_name", &self.account_name, 200, true)?,
            kind: self.kind,
            receives: self.receives,
            budget_chapter: self.budget_chapter,
            budget_item: self.budget_item,
            active: self.active,
        })
    }
}

/// One agency with its accounts, as in an import file or the demo config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyImport {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub parent_code: Option<String>,
    #[serde(default)]
    pub accounts: Vec<NewAccount>,
}

/// Picks the account a line of `kind` goes to: the first active account receiving it.
pub fn route(accounts: &[Account], kind: LineKind) -> Option<&Account> {
    accounts.iter().find(|a| a.active && a.receives.contains(&kind))
}

/// Masks an account number for logs and pages that need not show it whole: `****3456`.
pub fn mask_account(number: &str) -> String {
    let n = number.chars().count();
    let tail: String = number.chars().skip(n.saturating_sub(4)).collect();
    format!("****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(id: &str, receives: Vec<LineKind>, active: bool) -> Account {
        Account {
            id: id.into(),
            agency_code: "H12.20".into(),
            bank_bin: "970415".into(),
            bank_name: "VietinBank".into(),
            account_number: "113000012345".into(),
            account_name: "KBNN".into(),
            kind: "treasury".into(),
            receives,
            budget_chapter: None,
            budget_item: None,
            active,
        }
    }

    #[test]
    fn lines_go_to_the_first_active_account_for_their_kind() {
        let accounts = vec![
            acc("a1", vec![LineKind::Charge], false),
            acc("a2", vec![LineKind::Charge], true),
            acc("a3", vec![LineKind::Fee, LineKind::Charge], true),
        ];
        assert_eq!(route(&accounts, LineKind::Charge).map(|a| a.id.as_str()), Some("a2"));
        assert_eq!(route(&accounts, LineKind::Fee).map(|a| a.id.as_str()), Some("a3"));
        assert_eq!(route(&accounts[..2], LineKind::Fee), None);
    }

    #[test]
    fn account_numbers_are_masked() {
        assert_eq!(mask_account("113000012345"), "****2345");
        assert!(agency_code("f", "000.00.12.H12").is_ok());
        assert!(agency_code("f", "H12 20").is_err());
    }
}
