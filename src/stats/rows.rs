//! Decoding the rows of the aggregate statements into plain values, whatever form each
//! backend returns them in.

use chrono::{NaiveDateTime, Timelike};
use sea_orm::{DbBackend, DbErr, QueryResult};

use super::labels;
use super::sql::{Aggregate, BUCKET_ALIAS, DIM_ALIASES, VALUE_ALIAS};
use super::vocab::TimeGroup;

/// One group of an aggregate: dimension values (NULL stays `None`), bucket label, sum.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AggRow {
    pub dims: [Option<String>; 2],
    pub bucket: Option<String>,
    pub value: i64,
}

/// Start of the UTC hour of a row's hour bucket, whichever form the backend returns it in
/// (`raw`: the timestamp itself, else the `YYYY-MM-DD HH` label). `None` for a NULL or unreadable time.
pub fn bucket_hour(row: &QueryResult, raw: bool) -> Result<Option<NaiveDateTime>, DbErr> {
    if raw {
        let time: Option<NaiveDateTime> = row.try_get("", BUCKET_ALIAS)?;
        Ok(time.and_then(|t| t.date().and_hms_opt(t.hour(), 0, 0)))
    } else {
        let label: Option<String> = row.try_get("", BUCKET_ALIAS)?;
        Ok(label.as_deref().and_then(labels::parse_raw_hour))
    }
}

/// A dimension value: text, or on MySQL the binary string of `sql::dimension_expr`, which
/// holds UTF-8 (the column's value converted to utf8mb4).
pub fn dimension_value(
    row: &QueryResult,
    alias: &str,
    backend: DbBackend,
) -> Result<Option<String>, DbErr> {
    match backend {
        DbBackend::MySql => row
            .try_get::<Option<Vec<u8>>>("", alias)?
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|e| DbErr::Custom(format!("a dimension value is not UTF-8: {e}")))
            })
            .transpose(),
        _ => row.try_get::<Option<String>>("", alias),
    }
}

/// One row of an aggregate statement.
pub fn decode_group(row: &QueryResult, q: &Aggregate, backend: DbBackend) -> Result<AggRow, DbErr> {
    let mut dims: [Option<String>; 2] = [None, None];
    for (slot, alias) in dims.iter_mut().zip(DIM_ALIASES).take(q.dimensions.len()) {
        *slot = dimension_value(row, alias, backend)?;
    }
    let bucket = match q.time_group {
        Some(TimeGroup::Hour) => bucket_hour(row, q.raw_hours(backend))?.map(labels::raw_hour),
        Some(tg) => bucket_label(row, backend, tg)?,
        None => None,
    };
    Ok(AggRow {
        dims,
        bucket,
        value: sum_value(row)?,
    })
}

/// A text bucket, or on PostgreSQL a date for days and weeks (`sql::bucket_on` and
/// `sql::local_bucket_on` group them as dates) as `YYYY-MM-DD`. Decoded as what it is: a
/// failed attempt as text would format an error for every row (a year of days by country is
/// 79,000 rows).
fn bucket_label(
    row: &QueryResult,
    backend: DbBackend,
    time_group: TimeGroup,
) -> Result<Option<String>, DbErr> {
    match (backend, time_group) {
        (DbBackend::Postgres, TimeGroup::Day | TimeGroup::Week) => Ok(row
            .try_get::<Option<chrono::NaiveDate>>("", BUCKET_ALIAS)?
            .map(super::labels::day)),
        _ => row.try_get::<Option<String>>("", BUCKET_ALIAS),
    }
}

/// Rows with equal dimensions and bucket summed into one, in place (answers are sorted
/// anyway, see `shape::nest`).
pub fn merge_equal_groups(mut rows: Vec<AggRow>) -> Vec<AggRow> {
    rows.sort_unstable();
    rows.dedup_by(|later, kept| {
        let same = later.dims == kept.dims && later.bucket == kept.bucket;
        if same {
            kept.value += later.value;
        }
        same
    });
    rows
}

/// The summed value; a group whose counts are all NULL sums to NULL, which counts as 0.
fn sum_value(row: &QueryResult) -> Result<i64, DbErr> {
    Ok(row.try_get::<Option<i64>>("", VALUE_ALIAS)?.unwrap_or(0))
}
