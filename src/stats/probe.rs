//! The freshness probe's reading of the database: per hour of the newest window the row count
//! and both sums, and the size of the monthly tables. The cache compares two readings to find
//! what changed; the planner compares one with the rollups.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use sea_orm::{DbBackend, DbErr, QueryResult};

use super::rows::bucket_hour;

/// What the freshness probe compares: per hour of the newest window (rows, primary sum, cross
/// sum), the row count and sum of `monthly_downloads` and `monthly_submissions`, and those of
/// `hourly_requests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub newest: Option<NaiveDateTime>,
    pub window_start: Option<NaiveDateTime>,
    pub hours: BTreeMap<NaiveDateTime, (i64, i64, i64)>,
    pub legacy: (i64, i64),
    pub submissions: (i64, i64),
    /// Row count and request sum of `hourly_requests` (the /stats site's edge requests).
    pub requests: (i64, i64),
    /// The change log of the hourly table (`hourly_changes`: per hour, how many row changes it
    /// has seen since `refresh-rollups` last consumed it); `None` where there is no change log.
    pub changes: Option<BTreeMap<NaiveDateTime, i64>>,
}

/// Adds the rows of [`sql::probe`] to per-hour (rows, primary sum, cross sum).
pub fn add_probe_rows(
    rows: &[QueryResult],
    backend: DbBackend,
    by_hour: &mut BTreeMap<NaiveDateTime, (i64, i64, i64)>,
) -> Result<(), DbErr> {
    for row in rows {
        if let Some(hour) = bucket_hour(row, super::sql::hour_is_raw(backend))? {
            let counts = by_hour.entry(hour).or_default();
            counts.0 += row.try_get::<Option<i64>>("", "rows")?.unwrap_or(0);
            counts.1 += row.try_get::<Option<i64>>("", "primary_sum")?.unwrap_or(0);
            counts.2 += row.try_get::<Option<i64>>("", "cross_sum")?.unwrap_or(0);
        }
    }
    Ok(())
}
