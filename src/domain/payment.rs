//! Payments, lines and attempts: the create request parsed into a checked value, and the
//! state machines of DESIGN §5. Stores enforce the same transitions with guarded updates
//! built from [`PaymentStatus::sources`].

use super::agency::{agency_code, LineKind};
use super::money::{Amount, AmountError};
use super::{text, Invalid};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// Why a payment needs a person.
pub mod review {
    pub const LATE_SUCCESS: &str = "late_success";
    pub const SECOND_SUCCESS: &str = "second_success";
    pub const AMOUNT_MISMATCH: &str = "amount_mismatch";
    pub const CONFLICTING_OUTCOME: &str = "conflicting_outcome";
}

/// A checked line of a new payment (account chosen later, by routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub kind: LineKind,
    pub code: String,
    pub description: String,
    pub amount: Amount,
}

/// The payer, as the portal gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payer {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// A checked create-payment request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPayment {
    pub agency_code: String,
    pub dossier_code: String,
    pub procedure_code: String,
    pub description: String,
    pub lines: Vec<NewLine>,
    pub amount: Amount,
    pub payer: Payer,
    pub return_url: String,
    pub expires_in_seconds: i64,
    pub metadata: Value,
}

const FIELDS: [&str; 9] = [
    "agency_code",
    "dossier_code",
    "procedure_code",
    "description",
    "lines",
    "payer",
    "return_url",
    "expires_in_seconds",
    "metadata",
];

fn type_error(field: &str, expected: &str) -> Invalid {
    Invalid::new("invalid_type", field, format!("{field} must be {expected}"))
}

fn get_str(obj: &Map<String, Value>, field: &str, path: &str, max: usize, required: bool) -> Result<String, Invalid> {
    match obj.get(field) {
        None | Some(Value::Null) if required => Err(Invalid::new("missing_field", path, format!("{path} is required"))),
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => text(path, s, max, required),
        Some(_) => Err(type_error(path, "a string")),
    }
}

fn amount_error(path: &str, e: AmountError) -> Invalid {
    Invalid::new("invalid_amount", path, e.message())
}

impl NewPayment {
    /// Parses and checks a create request body. `default_expiry`/`max_expiry` in seconds.
    pub fn parse(body: &Value, default_expiry: i64, max_expiry: i64) -> Result<NewPayment, Invalid> {
        let obj = body.as_object().ok_or_else(|| type_error("body", "a JSON object"))?;
        if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Invalid::new("unknown_field", k.clone(), format!("unknown field {k}")));
        }
        let agency = get_str(obj, "agency_code", "agency_code", 40, true)?;
        let agency_code = agency_code("agency_code", &agency)?;
        let dossier_code = get_str(obj, "dossier_code", "dossier_code", 64, true)?;
        let procedure_code = get_str(obj, "procedure_code", "procedure_code", 32, false)?;
        let description = get_str(obj, "description", "description", 255, true)?;
        let lines_v = match obj.get("lines") {
            None | Some(Value::Null) => return Err(Invalid::new("missing_field", "lines", "lines is required")),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(type_error("lines", "an array")),
        };
        if lines_v.is_empty() {
            return Err(Invalid::new("missing_field", "lines", "a payment needs at least one line"));
        }
        if lines_v.len() > MAX_LINES {
            return Err(Invalid::new("too_many_lines", "lines", format!("at most {MAX_LINES} lines")));
        }
        let mut lines = Vec::with_capacity(lines_v.len());
        let mut total = Amount::from_stored(0);
        for (i, l) in lines_v.iter().enumerate() {
            let path = |f: &str| format!("lines[{i}].{f}");
            let lo = l.as_object().ok_or_else(|| type_error(&format!("lines[{i}]"), "an object"))?;
            if let Some(k) = lo.keys().find(|k| !["kind", "code", "description", "amount"].contains(&k.as_str())) {
                return Err(Invalid::new("unknown_field", path(k), format!("unknown field {}", path(k))));
            }
            let kind_s = get_str(lo, "kind", &path("kind"), 10, true)?;
            let kind = LineKind::parse(&kind_s).ok_or_else(|| {
                Invalid::new("invalid_line_kind", path("kind"), "kind is fee (phí) or charge (lệ phí)")
            })?;
            let amount = match lo.get("amount") {
                None | Some(Value::Null) => {
                    return Err(Invalid::new("missing_field", path("amount"), "amount is required"))
                }
                Some(v) => Amount::from_json(v).map_err(|e| amount_error(&path("amount"), e))?,
            };
            total = total.checked_add(amount).ok_or_else(|| amount_error("lines", AmountError::TooLarge))?;
            lines.push(NewLine {
                kind,
                code: get_str(lo, "code", &path("code"), 32, true)?,
                description: get_str(lo, "description", &path("description"), 255, true)?,
                amount,
            });
        }
        let payer = match obj.get("payer") {
            None | Some(Value::Null) => Payer::default(),
            Some(Value::Object(p)) => {
                if let Some(k) = p.keys().find(|k| !["name", "id_number", "phone", "email"].contains(&k.as_str())) {
                    return Err(Invalid::new(
                        "unknown_field",
                        format!("payer.{k}"),
                        format!("unknown field payer.{k}"),
                    ));
                }
                let opt = |f: &str, max| {
                    get_str(p, f, &format!("payer.{f}"), max, false).map(|s| if s.is_empty() { None } else { Some(s) })
                };
                Payer {
                    name: opt("name", 200)?,
                    id_number: opt("id_number", 20)?,
                    phone: opt("phone", 20)?,
                    email: opt("email", 254)?,
                }
            }
            Some(_) => return Err(type_error("payer", "an object")),
        };
        let return_url = get_str(obj, "return_url", "return_url", 2000, true)?;
        match url::Url::parse(&return_url) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {}
            _ => {
                return Err(Invalid::new(
                    "invalid_return_url",
                    "return_url",
                    "return_url must be an absolute http(s) URL",
                ))
            }
        }
        let expires_in_seconds = match obj.get("expires_in_seconds") {
            None | Some(Value::Null) => default_expiry,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (60..=max_expiry).contains(&v) => v,
                _ => {
                    return Err(Invalid::new(
                        "invalid_expiry",
                        "expires_in_seconds",
                        format!("expires_in_seconds is a whole number from 60 to {max_expiry}"),
                    ))
                }
            },
            Some(_) => return Err(type_error("expires_in_seconds", "a whole number")),
        };
        let metadata = match obj.get("metadata") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(m @ Value::Object(_)) if m.to_string().len() <= 4096 => m.clone(),
            Some(Value::Object(_)) => {
                return Err(Invalid::new("field_too_long", "metadata", "metadata is larger than 4 KiB"))
            }
            Some(_) => return Err(type_error("metadata", "an object")),
        };
        Ok(NewPayment {
            agency_code,
            dossier_code,
            procedure_code,
            description,
            amount: total,
            lines,
            payer,
            return_url,
            expires_in_seconds,
            metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({
            "agency_code": "H12.20", "dossier_code": "H12.20-261127-0001", "procedure_code": "1.004227",
            "description": "Cấp đổi giấy phép lái xe",
            "lines": [{"kind": "charge", "code": "LP-GPLX", "description": "Lệ phí cấp đổi GPLX", "amount": "135000"}],
            "payer": {"name": "Nguyễn Ngọc Lâm"}, "return_url": "https://portal.example.vn/return"
        })
    }

    fn err(b: Value) -> (String, Option<String>) {
        let e = NewPayment::parse(&b, 900, 86400).unwrap_err();
        (e.code.to_owned(), e.field)
    }

    #[test]
    fn a_good_request_parses_with_its_total() {
        let p = NewPayment::parse(&body(), 900, 86400).unwrap();
        assert_eq!(p.amount.get(), 135_000);
        assert_eq!(p.expires_in_seconds, 900);
    }

    #[test]
    fn each_bad_field_names_itself() {
        let mut b = body();
        b["lines"][0]["amount"] = json!("-1");
        assert_eq!(err(b), ("invalid_amount".into(), Some("lines[0].amount".into())));
        let mut b = body();
        b["lines"][0]["amount"] = json!(1.5);
        assert_eq!(err(b).0, "invalid_amount");
        let mut b = body();
        b["dossier_code"] = json!(12);
        assert_eq!(err(b), ("invalid_type".into(), Some("dossier_code".into())));
        let mut b = body();
        b.as_object_mut().unwrap().remove("agency_code");
        assert_eq!(err(b), ("missing_field".into(), Some("agency_code".into())));
        let mut b = body();
        b["return_url"] = json!("javascript:alert(1)");
        assert_eq!(err(b).0, "invalid_return_url");
        let mut b = body();
        b["lines"] = Value::Array(vec![body()["lines"][0].clone(); 101]);
        assert_eq!(err(b).0, "too_many_lines");
        let mut b = body();
        b["description"] = json!("x".repeat(256));
        assert_eq!(err(b), ("field_too_long".into(), Some("description".into())));
        let mut b = body();
        b["lines"] = json!([{"kind": "charge", "code": "A", "description": "d", "amount": "600000000000"},
                            {"kind": "fee", "code": "B", "description": "d", "amount": "600000000000"}]);
        assert_eq!(err(b).0, "invalid_amount");
        let mut b = body();
        b["surprise"] = json!(1);
        assert_eq!(err(b).0, "unknown_field");
        assert_eq!(err(json!([1])).0, "invalid_type");
    }

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
