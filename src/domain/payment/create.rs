//! The create-payment request: the body as a typed struct (unknown fields refused at every
//! level), and its checks, which turn it into a [`NewPayment`] or one [`Invalid`] naming
//! the field at fault.

use super::{NewLine, Payer, MAX_LINES};
use crate::domain::agency::{agency_code, LineKind};
use crate::domain::code::Code;
use crate::domain::money::{Amount, AmountError};
use crate::domain::{text, Invalid};
use serde::Deserialize;
use serde_json::{Map, Value};

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

/// The characters of a code (dossier, procedure, line): ASCII letters, digits, `.`, `-`,
/// `_` and `/`, nothing else (no spaces): codes travel in file names, CSV cells, gateway
/// order descriptions and URLs unescaped.
pub const CODE_CHARS: &str = "letters, digits, '.', '-', '_' or '/'";

/// Whether `c` may be part of a code ([`CODE_CHARS`]).
pub fn is_code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/')
}

/// Checks a code: 1 to `max` of [`CODE_CHARS`], as given (nothing trimmed).
pub fn code(field: &str, v: &str, max: usize) -> Result<String, Invalid> {
    if v.is_empty() || v.len() > max || !v.chars().all(is_code_char) {
        return Err(Invalid::new(Code::InvalidCode, field, format!("{field}: 1-{max} {CODE_CHARS}")));
    }
    Ok(v.to_owned())
}

/// The longest dossier code (mã hồ sơ).
pub const MAX_DOSSIER_CODE: usize = 64;
/// The longest procedure code (mã TTHC) and line code.
pub const MAX_CODE: usize = 32;

/// The create-payment request body (DESIGN §6) as the client sends it; [`CreatePayment::check`]
/// turns it into a [`NewPayment`]. Unknown fields are refused at every level.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "agency_code": "H12.20", "dossier_code": "H12.20-261127-0001", "procedure_code": "1.004227",
    "description": "Cap doi giay phep lai xe",
    "lines": [{"kind": "charge", "code": "LP-GPLX", "description": "Le phi cap doi GPLX", "amount": "135000"}],
    "payer": {"name": "Nguyen Ngoc Lam", "id_number": "001090000001", "phone": "0912345678"},
    "return_url": "https://portal.example.vn/return", "expires_in_seconds": 900, "metadata": {}
}))]
pub struct CreatePayment {
    /// The collecting agency: 1-40 letters, digits, `.`, `-` or `_`.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,40}$", max_length = 40, example = "H12.20")]
    pub agency_code: String,
    /// Dossier code (mã hồ sơ): 1-64 letters, digits, `.`, `-`, `_` or `/`.
    #[schema(pattern = r"^[A-Za-z0-9._/-]{1,64}$", max_length = 64, example = "H12.20-261127-0001")]
    pub dossier_code: String,
    /// Procedure code (mã TTHC): 1-32 letters, digits, `.`, `-`, `_` or `/`.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9._/-]{1,32}$", max_length = 32, example = "1.004227")]
    pub procedure_code: Option<String>,
    /// 1-255 characters, no control characters, not blank.
    #[schema(min_length = 1, max_length = 255)]
    pub description: String,
    /// 1-100 lines; the payment's amount is their sum.
    #[schema(value_type = Vec<CreateLine>, min_items = 1, max_items = 100)]
    pub lines: Vec<Obj<CreateLine>>,
    #[serde(default)]
    #[schema(value_type = Option<Payer>)]
    pub payer: Option<Obj<Payer>>,
    /// Where the payer's browser goes back to: an absolute `http` or `https` URL (at most
    /// 2000 characters); `payment_id` and `status` are added to its query.
    #[schema(max_length = 2000, example = "https://portal.example.vn/return")]
    pub return_url: String,
    /// 60 to the configured maximum (30 days by default); the configured default (900) if absent.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 60, maximum = 2592000)]
    pub expires_in_seconds: Option<serde_json::Number>,
    /// Free JSON object for the portal, at most 4 KiB serialised; returned as given.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// One line of the create request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLine {
    /// `fee` (phí) or `charge` (lệ phí).
    #[schema(value_type = LineKind)]
    pub kind: String,
    /// Fee code: 1-32 letters, digits, `.`, `-`, `_` or `/`.
    #[schema(pattern = r"^[A-Za-z0-9._/-]{1,32}$", max_length = 32, example = "LP-GPLX")]
    pub code: String,
    /// 1-255 characters, no control characters, not blank.
    #[schema(min_length = 1, max_length = 255)]
    pub description: String,
    /// Whole đồng, 1 to 10^12: a string of digits (`"135000"`, or with a zero fraction
    /// `"135000.00"`) or a whole JSON number.
    #[schema(schema_with = amount_schema)]
    pub amount: AmountInput,
}

/// An amount as sent: checked by [`CreatePayment::check`], so that every wrong amount
/// (a fraction, a sign, a word, `true`) is one `invalid_amount` naming its line.
#[derive(Debug)]
pub struct AmountInput(Value);

impl<'de> Deserialize<'de> for AmountInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(AmountInput)
    }
}

/// The schema of an amount field: a string of digits or a whole number, 1 to 10^12.
pub fn amount_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^[0-9]+(\.[0-9]+)?$"))
                .max_length(Some(40))
                .examples(["135000"]),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(crate::domain::money::MAX_AMOUNT as f64)),
        )
        .build()
        .into()
}

impl AmountInput {
    fn check(&self, path: &str) -> Result<Amount, Invalid> {
        let amount = match &self.0 {
            Value::Null => return Err(Invalid::new(Code::MissingField, path, format!("{path} is required"))),
            // Digits, and a fraction only with digits on both sides of one dot: no sign,
            // no exponent, no spaces.
            Value::String(s) => {
                let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
                let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
                if !digits(whole) || !digits(fraction) {
                    Err(AmountError::NotANumber)
                } else {
                    Amount::parse(s)
                }
            }
            v => Amount::from_json(v),
        };
        amount.map_err(|e| amount_error(path, e))
    }
}

/// A text field as sent: at most `max` characters as given, no control characters, not
/// blank when required; stored without surrounding spaces.
fn text_field(path: &str, v: &str, max: usize, required: bool) -> Result<String, Invalid> {
    if v.chars().count() > max {
        return Err(Invalid::new(Code::FieldTooLong, path, format!("{path} is longer than {max} characters")));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(Invalid::new(Code::InvalidField, path, format!("{path} contains control characters")));
    }
    text(path, v, max, required)
}

fn amount_error(path: &str, e: AmountError) -> Invalid {
    Invalid::new(Code::InvalidAmount, path, e.message())
}

/// A JSON object deserialised into `T`: serde lets a struct be read from an array of its
/// fields in order (`[null, null]`), which no client means and the schema does not allow.
#[derive(Debug)]
pub struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// Deserialises a JSON object into `T`, turning serde's complaint into an [`Invalid`] that
/// names the field by its path (`lines[0].amount`): `missing_field` (absent or null),
/// `unknown_field`, or `invalid_type`.
pub fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(v).map(|Obj(t)| t).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let msg = e.inner().to_string();
        let join = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else if path == name || path.ends_with(&format!(".{name}")) {
                path.clone()
            } else {
                format!("{path}.{name}")
            }
        };
        let quoted = msg.split('`').nth(1).unwrap_or("");
        let (code, field) = if msg.starts_with("missing field `") {
            (Code::MissingField, join(quoted))
        } else if msg.starts_with("unknown field `") {
            (Code::UnknownField, join(quoted))
        } else if msg.starts_with("invalid type: null") {
            (Code::MissingField, path.clone())
        } else {
            (Code::InvalidType, path.clone())
        };
        Invalid { code, message: msg, field: Some(field).filter(|f| !f.is_empty()) }
    })
}

impl NewPayment {
    /// Parses and checks a create request body. `default_expiry`/`max_expiry` in seconds.
    pub fn parse(body: &Value, default_expiry: i64, max_expiry: i64) -> Result<NewPayment, Invalid> {
        from_json::<CreatePayment>(body.clone())?.check(default_expiry, max_expiry)
    }
}

impl CreatePayment {
    /// Checks every field's rules; the first broken one is the error.
    pub fn check(self, default_expiry: i64, max_expiry: i64) -> Result<NewPayment, Invalid> {
        // As sent: `agency_code()` alone would trim what the schema refuses.
        let agency_code = agency_code("agency_code", &self.agency_code).and_then(|c| {
            if c == self.agency_code {
                Ok(c)
            } else {
                agency_code("agency_code", "")
            }
        })?;
        let dossier_code = code("dossier_code", &self.dossier_code, MAX_DOSSIER_CODE)?;
        let procedure_code = match &self.procedure_code {
            None => String::new(),
            Some(p) => code("procedure_code", p, MAX_CODE)?,
        };
        let description = text_field("description", &self.description, 255, true)?;
        if self.lines.is_empty() {
            return Err(Invalid::new(Code::MissingField, "lines", "a payment needs at least one line"));
        }
        if self.lines.len() > MAX_LINES {
            return Err(Invalid::new(Code::TooManyLines, "lines", format!("at most {MAX_LINES} lines")));
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        let mut total = Amount::from_stored(0);
        for (i, Obj(l)) in self.lines.iter().enumerate() {
            let path = |f: &str| format!("lines[{i}].{f}");
            let kind = LineKind::parse(&l.kind).ok_or_else(|| {
                Invalid::new(Code::InvalidLineKind, path("kind"), "kind is fee (phí) or charge (lệ phí)")
            })?;
            let amount = l.amount.check(&path("amount"))?;
            total = total.checked_add(amount).ok_or_else(|| amount_error("lines", AmountError::TooLarge))?;
            lines.push(NewLine {
                kind,
                code: code(&path("code"), &l.code, MAX_CODE)?,
                description: text_field(&path("description"), &l.description, 255, true)?,
                amount,
            });
        }
        let payer = match self.payer {
            None => Payer::default(),
            Some(Obj(p)) => {
                let opt = |f: &str, v: &Option<String>, max| match v {
                    None => Ok(None),
                    Some(s) => {
                        text_field(&format!("payer.{f}"), s, max, false)
                            .map(|s| if s.is_empty() { None } else { Some(s) })
                    }
                };
                Payer {
                    name: opt("name", &p.name, 200)?,
                    id_number: opt("id_number", &p.id_number, 20)?,
                    phone: opt("phone", &p.phone, 20)?,
                    email: opt("email", &p.email, 254)?,
                }
            }
        };
        let return_url = text_field("return_url", &self.return_url, 2000, true)?;
        match url::Url::parse(&return_url) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {}
            _ => {
                return Err(Invalid::new(
                    Code::InvalidReturnUrl,
                    "return_url",
                    "return_url must be an absolute http(s) URL",
                ))
            }
        }
        let expires_in_seconds = match &self.expires_in_seconds {
            None => default_expiry,
            // A whole number written as `900.0` is still a whole number.
            Some(n) => {
                match n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64))
                {
                    Some(v) if (60..=max_expiry).contains(&v) => v,
                    _ => {
                        return Err(Invalid::new(
                            Code::InvalidExpiry,
                            "expires_in_seconds",
                            format!("expires_in_seconds is a whole number from 60 to {max_expiry}"),
                        ))
                    }
                }
            }
        };
        let metadata = Value::Object(self.metadata.unwrap_or_default());
        if metadata.to_string().len() > 4096 {
            return Err(Invalid::new(Code::FieldTooLong, "metadata", "metadata is larger than 4 KiB"));
        }
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
        (e.code.as_str().to_owned(), e.field)
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
}
