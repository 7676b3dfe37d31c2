//! The freshness probe's reading of the database: per hour of the newest window the row count
//! and both sums (and, without a change log, a content checksum), and the size of the monthly
//! tables. The cache compares two readings to find
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
    /// Where there is no change log: the content checksum of each hour of the window
    /// ([`super::sql::checksum_expr`]), which a count-preserving rewrite changes too. `None`
    /// where the change log is read instead (it sees every rewrite; the checksum is not computed).
    pub checksums: Option<BTreeMap<NaiveDateTime, i64>>,
    /// When `refresh-rollups --verify` last repaired rollups it found wrong (`None`: never, or
    /// no rollups): days of any age changed under the answers.
    pub repaired: Option<NaiveDateTime>,
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

/// Adds the checksums of the rows of [`super::sql::probe_with_checksum`] to per-hour
/// checksums (rows stamped inside an hour come back as groups of their own on PostgreSQL and
/// MySQL, see `sql::hour_is_raw`).
pub fn add_probe_checksums(
    rows: &[QueryResult],
    backend: DbBackend,
    by_hour: &mut BTreeMap<NaiveDateTime, i64>,
) -> Result<(), DbErr> {
    for row in rows {
        if let Some(hour) = bucket_hour(row, super::sql::hour_is_raw(backend))? {
            let checksum = row
                .try_get::<Option<i64>>("", super::sql::CHECKSUM_ALIAS)?
                .unwrap_or(0);
            let sum = by_hour.entry(hour).or_default();
            *sum = add_checksum(*sum, checksum);
        }
    }
    Ok(())
}

/// Two checksums of disjoint rows combined: their sum mod P, in [0, P) whatever the signs the
/// database's remainders had.
pub fn add_checksum(a: i64, b: i64) -> i64 {
    let p = super::sql::CHECKSUM_MODULUS;
    (a.rem_euclid(p) + b.rem_euclid(p)) % p
}
