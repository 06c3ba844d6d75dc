//! PostgreSQL values <-> the interface's `parameter-value`, `db-value` and `db-data-type`.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rust_decimal::Decimal;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use super::super::bindings::spin::postgres4_2_0::postgres::{
    DbDataType, DbValue, Error, Interval, ParameterValue, RangeBoundKind,
};

type BoxError = Box<dyn StdError + Sync + Send>;
pub type Param = Box<dyn ToSql + Sync + Send>;

pub fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn bad(what: &str, value: impl std::fmt::Display) -> Error {
    Error::BadParameter(format!("{what} '{value}'"))
}

fn decimal(s: &str) -> Result<Decimal, Error> {
    s.parse().map_err(|_| bad("invalid decimal", s))
}

fn date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, Error> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| bad("invalid date", format!("{y}-{m}-{d}")))
}

fn time((h, mi, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, Error> {
    NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns)
        .ok_or_else(|| bad("invalid time", format!("{h}:{mi}:{s}.{ns}")))
}

fn bound<T, U>(
    b: Option<(T, RangeBoundKind)>,
    f: impl Fn(T) -> Result<U, Error>,
) -> Result<Option<(U, bool)>, Error> {
    b.map(|(v, kind)| Ok((f(v)?, matches!(kind, RangeBoundKind::Inclusive))))
        .transpose()
}

/// Turns the guest's parameters into values tokio-postgres can send.
pub fn parameters(params: Vec<ParameterValue>) -> Result<Vec<Param>, Error> {
    use ParameterValue as P;
    params
        .into_iter()
        .map(|p| -> Result<Param, Error> {
            Ok(match p {
                P::Boolean(v) => Box::new(v),
                P::Int8(v) => Box::new(v),
                P::Int16(v) => Box::new(v),
                P::Int32(v) => Box::new(v),
                P::Int64(v) => Box::new(v),
                P::Floating32(v) => Box::new(v),
                P::Floating64(v) => Box::new(v),
                P::Str(v) => Box::new(v),
                P::Binary(v) => Box::new(v),
                P::Date(v) => Box::new(date(v)?),
                P::Time(v) => Box::new(time(v)?),
                P::Datetime((y, mo, d, h, mi, s, ns)) => {
                    Box::new(NaiveDateTime::new(date((y, mo, d))?, time((h, mi, s, ns))?))
                }
                P::Timestamp(secs) => Box::new(
                    chrono::DateTime::from_timestamp(secs, 0)
                        .ok_or_else(|| bad("invalid timestamp", secs))?,
                ),
                P::Uuid(v) => {
                    Box::new(uuid::Uuid::parse_str(&v).map_err(|_| bad("invalid uuid", &v))?)
                }
                P::Jsonb(v) => Box::new(
                    serde_json::from_slice::<serde_json::Value>(&v)
                        .map_err(|e| bad("invalid JSON", e))?,
                ),
                P::Decimal(v) => Box::new(decimal(&v)?),
                P::RangeInt32((lo, hi)) => Box::new(Range {
                    lower: bound(lo, Ok)?,
                    upper: bound(hi, Ok)?,
                }),
                P::RangeInt64((lo, hi)) => Box::new(Range {
                    lower: bound(lo, Ok)?,
                    upper: bound(hi, Ok)?,
                }),
                P::RangeDecimal((lo, hi)) => Box::new(Range {
                    lower: bound(lo, |s: String| decimal(&s))?,
                    upper: bound(hi, |s: String| decimal(&s))?,
                }),
                P::ArrayInt32(v) => Box::new(v),
                P::ArrayInt64(v) => Box::new(v),
                P::ArrayDecimal(v) => Box::new(
                    v.iter()
                        .map(|d| d.as_deref().map(decimal).transpose())
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                P::ArrayStr(v) => Box::new(v),
                P::Interval(v) => Box::new(PgInterval(v)),
                P::DbNull => Box::new(Null),
            })
        })
        .collect()
}

/// One result row as the guest sees it.
pub fn row(row: &Row) -> Result<Vec<DbValue>, Error> {
    (0..row.len())
        .map(|i| {
            value(row, i).map_err(|e| Error::ValueConversionFailed(format!("column {i}: {e}")))
        })
        .collect()
}

fn value(row: &Row, i: usize) -> Result<DbValue, tokio_postgres::Error> {
    use DbValue as V;
    fn get<'a, T: FromSql<'a>>(
        row: &'a Row,
        i: usize,
        f: impl FnOnce(T) -> DbValue,
    ) -> Result<DbValue, tokio_postgres::Error> {
        Ok(row.try_get::<_, Option<T>>(i)?.map_or(DbValue::DbNull, f))
    }
    let ty = row.columns()[i].type_().clone();
    match ty {
        Type::BOOL => get(row, i, V::Boolean),
        Type::CHAR => get(row, i, V::Int8),
        Type::INT2 => get(row, i, V::Int16),
        Type::INT4 => get(row, i, V::Int32),
        Type::INT8 => get(row, i, V::Int64),
        Type::FLOAT4 => get(row, i, V::Floating32),
        Type::FLOAT8 => get(row, i, V::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get(row, i, V::Str),
        Type::BYTEA => get(row, i, V::Binary),
        Type::DATE => get(row, i, |d: NaiveDate| {
            V::Date((d.year(), d.month() as u8, d.day() as u8))
        }),
        Type::TIME => get(row, i, |t: NaiveTime| V::Time(time_tuple(t))),
        Type::TIMESTAMP => get(row, i, |dt: NaiveDateTime| {
            let (h, mi, s, ns) = time_tuple(dt.time());
            V::Datetime((dt.year(), dt.month() as u8, dt.day() as u8, h, mi, s, ns))
        }),
        Type::TIMESTAMPTZ => get(row, i, |dt: chrono::DateTime<chrono::Utc>| {
            V::Timestamp(dt.timestamp())
        }),
        Type::UUID => get(row, i, |u: uuid::Uuid| V::Uuid(u.to_string())),
        Type::JSON | Type::JSONB => get(row, i, |j: serde_json::Value| {
            V::Jsonb(serde_json::to_vec(&j).unwrap_or_default())
        }),
        Type::NUMERIC => get(row, i, |d: Decimal| V::Decimal(d.to_string())),
        Type::INT4_RANGE => get(row, i, |r: Range<i32>| V::RangeInt32(r.bounds(|v| v))),
        Type::INT8_RANGE => get(row, i, |r: Range<i64>| V::RangeInt64(r.bounds(|v| v))),
        Type::NUM_RANGE => get(row, i, |r: Range<Decimal>| {
            V::RangeDecimal(r.bounds(|d| d.to_string()))
        }),
        Type::INT4_ARRAY => get(row, i, V::ArrayInt32),
        Type::INT8_ARRAY => get(row, i, V::ArrayInt64),
        Type::NUMERIC_ARRAY => get(row, i, |v: Vec<Option<Decimal>>| {
            V::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => get(row, i, V::ArrayStr),
        Type::INTERVAL => get(row, i, |v: PgInterval| V::Interval(v.0)),
        _ => get(row, i, |raw: Raw| V::Unsupported(raw.0)),
    }
}

fn time_tuple(t: NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

/// The interface's name for a column type.
pub fn data_type(ty: &Type) -> DbDataType {
    use DbDataType as D;
    match *ty {
        Type::BOOL => D::Boolean,
        Type::CHAR => D::Int8,
        Type::INT2 => D::Int16,
        Type::INT4 => D::Int32,
        Type::INT8 => D::Int64,
        Type::FLOAT4 => D::Floating32,
        Type::FLOAT8 => D::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => D::Str,
        Type::BYTEA => D::Binary,
        Type::DATE => D::Date,
        Type::TIME => D::Time,
        Type::TIMESTAMP => D::Datetime,
        Type::TIMESTAMPTZ => D::Timestamp,
        Type::UUID => D::Uuid,
        Type::JSON | Type::JSONB => D::Jsonb,
        Type::NUMERIC => D::Decimal,
        Type::INT4_RANGE => D::RangeInt32,
        Type::INT8_RANGE => D::RangeInt64,
        Type::NUM_RANGE => D::RangeDecimal,
        Type::INT4_ARRAY => D::ArrayInt32,
        Type::INT8_ARRAY => D::ArrayInt64,
        Type::NUMERIC_ARRAY => D::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => D::ArrayStr,
        Type::INTERVAL => D::Interval,
        ref other => D::Other(other.name().to_string()),
    }
}

/// A range in PostgreSQL's binary form: a flags byte, then each finite bound length-prefixed.
#[derive(Debug)]
struct Range<T> {
    /// `(value, inclusive)`; `None` is unbounded.
    lower: Option<(T, bool)>,
    upper: Option<(T, bool)>,
}

const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;

fn kind(inclusive: bool) -> RangeBoundKind {
    if inclusive {
        RangeBoundKind::Inclusive
    } else {
        RangeBoundKind::Exclusive
    }
}

type Bound<U> = Option<(U, RangeBoundKind)>;

impl<T> Range<T> {
    fn bounds<U>(self, f: impl Fn(T) -> U) -> (Bound<U>, Bound<U>) {
        (
            self.lower.map(|(v, inc)| (f(v), kind(inc))),
            self.upper.map(|(v, inc)| (f(v), kind(inc))),
        )
    }
}

fn element(ty: &Type) -> Option<&Type> {
    match ty.kind() {
        Kind::Range(element) => Some(element),
        _ => None,
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Range<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let element = element(ty).ok_or("not a range type")?;
        let (&flags, mut rest) = raw.split_first().ok_or("empty range value")?;
        if flags & RANGE_EMPTY != 0 {
            return Ok(Self {
                lower: None,
                upper: None,
            });
        }
        let mut read = |infinite: u8, inclusive: u8| -> Result<Option<(T, bool)>, BoxError> {
            if flags & infinite != 0 {
                return Ok(None);
            }
            let (len, tail) = rest.split_at_checked(4).ok_or("truncated range")?;
            let len = i32::from_be_bytes(len.try_into()?) as usize;
            let (value, tail) = tail.split_at_checked(len).ok_or("truncated range")?;
            rest = tail;
            Ok(Some((T::from_sql(element, value)?, flags & inclusive != 0)))
        };
        let lower = read(RANGE_LB_INF, RANGE_LB_INC)?;
        let upper = read(RANGE_UB_INF, RANGE_UB_INC)?;
        Ok(Self { lower, upper })
    }

    fn accepts(ty: &Type) -> bool {
        element(ty).is_some_and(T::accepts)
    }
}

impl<T: ToSql> ToSql for Range<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let element = element(ty).ok_or("not a range type")?;
        let mut flags = 0;
        for (bound, infinite, inclusive) in [
            (&self.lower, RANGE_LB_INF, RANGE_LB_INC),
            (&self.upper, RANGE_UB_INF, RANGE_UB_INC),
        ] {
            match bound {
                None => flags |= infinite,
                Some((_, true)) => flags |= inclusive,
                Some((_, false)) => {}
            }
        }
        out.put_u8(flags);
        for (value, _) in self.lower.iter().chain(self.upper.iter()) {
            let at = out.len();
            out.put_i32(0);
            value.to_sql(element, out)?;
            let len = i32::try_from(out.len() - at - 4)?;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        element(ty).is_some_and(T::accepts)
    }

    to_sql_checked!();
}

/// An interval in PostgreSQL's binary form: microseconds, days, months.
#[derive(Debug)]
struct PgInterval(Interval);

impl FromSql<'_> for PgInterval {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("an interval is 16 bytes".into());
        }
        Ok(Self(Interval {
            micros: i64::from_be_bytes(raw[0..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..16].try_into()?),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

/// SQL NULL for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A value of a type the interface has no variant for: its raw bytes.
struct Raw(Vec<u8>);

impl FromSql<'_> for Raw {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
