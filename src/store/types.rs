//! The column types each database stores natively: times (`TIMESTAMPTZ` on PostgreSQL,
//! INTEGER unix milliseconds on SQLite) and statuses (TEXT, decoded strictly: a value the
//! code does not know is an error, never a default).

use crate::domain::payment::{AttemptStatus, PaymentStatus};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type, ValueRef};

/// A point in time as unix milliseconds (UTC): `TIMESTAMPTZ` on PostgreSQL, INTEGER on
/// SQLite. Bind times as `Millis(ms)`; read them into `i64` fields with
/// `#[sqlx(try_from = "Millis")]` (or `"OptMillis"` for a nullable column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub i64);

/// A nullable time column, read into an `Option<i64>` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptMillis(pub Option<i64>);

impl From<Millis> for i64 {
    fn from(m: Millis) -> i64 {
        m.0
    }
}

impl From<OptMillis> for Option<i64> {
    fn from(m: OptMillis) -> Option<i64> {
        m.0
    }
}

/// PostgreSQL's fixed oid of `timestamptz`.
const TIMESTAMPTZ_OID: Oid = Oid(1184);
/// Microseconds between the unix epoch and PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// PostgreSQL's own limits of `timestamptz`, in microseconds since its epoch: 4714-11-24 BC
/// and 294277-01-01 AD (exclusive).
const PG_MIN_US: i64 = -211_813_488_000_000_000;
const PG_END_US: i64 = 9_223_371_331_200_000_000;

/// The times feegate reads and writes: those `time::OffsetDateTime` can hold (years -9999
/// to 9999), so a stored time always converts to a date and never falls back to the epoch.
pub const MIN_MS: i64 = -377_705_116_800_000;
pub const MAX_MS: i64 = 253_402_300_799_999;

impl Millis {
    /// This time, if feegate can represent it (see [`MIN_MS`]).
    pub fn checked(self) -> Result<Millis, BoxDynError> {
        if (MIN_MS..=MAX_MS).contains(&self.0) {
            Ok(self)
        } else {
            Err(format!("the time {} ms is outside the years -9999 to 9999", self.0).into())
        }
    }

    /// Microseconds since PostgreSQL's epoch, when PostgreSQL can hold this time.
    fn to_pg_micros(self) -> Result<i64, BoxDynError> {
        self.checked()?
            .0
            .checked_mul(1000)
            .and_then(|us| us.checked_sub(PG_EPOCH_US))
            .filter(|us| (PG_MIN_US..PG_END_US).contains(us))
            .ok_or_else(|| format!("the time {} ms is outside what PostgreSQL can store", self.0).into())
    }

    /// The millisecond a PostgreSQL time falls in (floored; feegate writes whole ms).
    fn from_pg_micros(us: i64) -> Result<Millis, BoxDynError> {
        let unix_us = us.checked_add(PG_EPOCH_US).ok_or("a time outside the range of unix milliseconds")?;
        Millis(unix_us.div_euclid(1000)).checked()
    }
}

impl Type<Sqlite> for Millis {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Millis {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Sqlite>>::encode_by_ref(&self.checked()?.0, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Millis {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Millis(<i64 as Decode<Sqlite>>::decode(value)?).checked()
    }
}

impl Type<Postgres> for Millis {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(TIMESTAMPTZ_OID)
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        ty.oid() == Some(TIMESTAMPTZ_OID)
    }
}

impl Encode<'_, Postgres> for Millis {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Postgres>>::encode(self.to_pg_micros()?, buf)
    }
    fn size_hint(&self) -> usize {
        std::mem::size_of::<i64>()
    }
}

impl<'r> Decode<'r, Postgres> for Millis {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => Millis::from_pg_micros(<i64 as Decode<Postgres>>::decode(value)?),
            PgValueFormat::Text => parse_pg_text(value.as_str()?),
        }
    }
}

/// A `timestamptz` in PostgreSQL's text form (`2026-01-02 03:04:05.678+00`; the session
/// time zone of sqlx connections is UTC).
fn parse_pg_text(s: &str) -> Result<Millis, BoxDynError> {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]][offset_hour][optional [:[offset_minute]]]"
    );
    let t = time::OffsetDateTime::parse(s, &fmt)?;
    Millis(i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000))?).checked()
}

impl<DB: sqlx::Database> Type<DB> for OptMillis
where
    Millis: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <Millis as Type<DB>>::type_info()
    }
    fn compatible(ty: &DB::TypeInfo) -> bool {
        <Millis as Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> Decode<'r, DB> for OptMillis
where
    Millis: Decode<'r, DB>,
{
    fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(OptMillis(None));
        }
        Ok(OptMillis(Some(<Millis as Decode<DB>>::decode(value)?.0)))
    }
}

/// A JSON document written as its text: TEXT on SQLite, JSONB on PostgreSQL (which keeps
/// it parsed, with its keys in its own order: only for JSON whose exact text is not hashed
/// or signed). Bind `JsonText(&text)`; read into a `String` field with
/// `#[sqlx(try_from = "JsonString")]`.
#[derive(Debug, Clone, Copy)]
pub struct JsonText<'a>(pub &'a str);

/// A JSON column read back as its text (see [`JsonText`]).
#[derive(Debug, Clone)]
pub struct JsonString(pub String);

impl From<JsonString> for String {
    fn from(j: JsonString) -> String {
        j.0
    }
}

/// PostgreSQL's fixed oid of `jsonb`, and the version byte of its binary form.
const JSONB_OID: Oid = Oid(3802);
const JSONB_VERSION: u8 = 1;

impl Type<Sqlite> for JsonText<'_> {
    fn type_info() -> SqliteTypeInfo {
        <str as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for JsonText<'q> {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Sqlite>>::encode(self.0, buf)
    }
}

impl Type<Postgres> for JsonText<'_> {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(JSONB_OID)
    }
}

impl Encode<'_, Postgres> for JsonText<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(JSONB_VERSION);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

impl Type<Sqlite> for JsonString {
    fn type_info() -> SqliteTypeInfo {
        <str as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <str as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for JsonString {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(JsonString(<String as Decode<Sqlite>>::decode(value)?))
    }
}

impl Type<Postgres> for JsonString {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(JSONB_OID)
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        ty.oid() == Some(JSONB_OID)
    }
}

impl<'r> Decode<'r, Postgres> for JsonString {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let format = value.format();
        let bytes = value.as_bytes()?;
        let text = match (format, bytes.split_first()) {
            (PgValueFormat::Binary, Some((&JSONB_VERSION, rest))) => rest,
            (PgValueFormat::Binary, _) => return Err("jsonb in an unknown binary version".into()),
            (PgValueFormat::Text, _) => bytes,
        };
        Ok(JsonString(std::str::from_utf8(text)?.to_owned()))
    }
}

/// TEXT on both databases, decoded through the enum's own list of values: an unknown value
/// is an error, so a row that says something the code does not know is never read as
/// something else.
macro_rules! text_enum {
    ($t:ty, $what:literal) => {
        impl<DB: sqlx::Database> Type<DB> for $t
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> Encode<'q, DB> for $t
        where
            &'q str: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <&'q str as Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> Decode<'r, DB> for $t
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let s = <&'r str as Decode<'r, DB>>::decode(value)?;
                <$t>::parse(s).ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), s).into())
            }
        }
    };
}

text_enum!(PaymentStatus, "payment status");
text_enum!(AttemptStatus, "attempt status");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_micros_round_trip_exactly_and_refuse_what_postgres_cannot_hold() {
        for ms in [0, 1, -1, 1_764_000_000_123, 253_402_300_799_999] {
            let us = Millis(ms).to_pg_micros().unwrap();
            assert_eq!(Millis::from_pg_micros(us).unwrap(), Millis(ms));
        }
        assert!(Millis(i64::MAX).to_pg_micros().is_err());
        assert!(Millis(i64::MIN).to_pg_micros().is_err());
        // 300000 AD: inside i64 microseconds, beyond PostgreSQL; 10000 AD: beyond `time`.
        assert!(Millis(9_405_000_000_000_000).to_pg_micros().is_err());
        assert!(Millis(MAX_MS + 1).to_pg_micros().is_err());
        assert!(Millis(MIN_MS - 1).checked().is_err());
    }

    #[test]
    fn the_bounds_are_the_first_and_last_millisecond_time_can_hold() {
        let at = |ms: i64| time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000);
        assert!(at(MIN_MS).is_ok() && at(MAX_MS).is_ok());
        assert!(at(MIN_MS - 1).is_err() && at(MAX_MS + 1).is_err());
    }

    #[test]
    fn pg_text_times_read_to_the_millisecond() {
        assert_eq!(parse_pg_text("1970-01-01 00:00:00+00").unwrap(), Millis(0));
        assert_eq!(parse_pg_text("2026-11-29 08:14:05.123+00").unwrap(), Millis(1_795_940_045_123));
        assert_eq!(parse_pg_text("1969-12-31 23:59:59.999+00").unwrap(), Millis(-1));
    }
}
