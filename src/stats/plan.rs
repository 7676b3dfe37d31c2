//! The planner: which rollup (per-hour totals, per-day totals by every dimension, by category,
//! by country; maintained by `refresh-rollups` in `crate::write::rollups`) answers a query,
//! and up to which hour it can be trusted.
//!
//! The rollups hold exactly the hours before their watermark. A query reads them for those
//! hours and the hourly table for the rest, so an answer is exact however far behind they are.
//! The freshness probe also compares the rollups' per-hour totals (and, without a change log,
//! content checksums) with the hourly table's for the newest `cache.probe_hours` hours; where
//! an ingest rewrote an hour the rollups still hold, the cutoff moves back to the start of that
//! day until the next refresh.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use super::probe::Fingerprint;
use super::sql::{Aggregate, Source};
use super::vocab::{Dimension, TimeGroup};

/// Where the planner switches from the rollups to the hourly table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff {
    /// Hours before this come from the rollups.
    pub hour: NaiveDateTime,
    /// Days before this come from the day rollups (the cutoff hour's own day is included when
    /// the cutoff is the watermark, whose partial day the rollups hold exactly).
    pub day: NaiveDate,
}

/// The coarsest rollup that answers `q` exactly, if any.
pub fn plan(q: &Aggregate) -> Option<Source> {
    let dimensions: BTreeSet<Dimension> = q
        .dimensions
        .iter()
        .copied()
        .chain(q.filters.iter().map(|f| f.dimension))
        .collect();
    // A range of local days in another zone starts and ends inside UTC days, which the day
    // rollups cannot split.
    let whole_days = [q.range.from, q.range.to]
        .into_iter()
        .flatten()
        .all(|t| t.time() == NaiveTime::MIN);
    if dimensions.is_empty() {
        // Per-hour totals answer every time group; without dimensions they are the smallest.
        return Some(Source::RollupHour);
    }
    if q.time_group == Some(TimeGroup::Hour) || !whole_days || q.shift.is_some() {
        // Only the per-hour rollups keep hours.
        return [
            Source::RollupHourDownloadType,
            Source::RollupHourCountry,
            Source::RollupHourCategory,
        ]
        .into_iter()
        .find(|source| dimensions.iter().all(|d| source.keeps(*d)));
    }
    [
        Source::RollupDayCountry,
        Source::RollupDayCategory,
        Source::RollupDay,
    ]
    .into_iter()
    .find(|source| dimensions.iter().all(|d| source.keeps(*d)))
}

/// The per-hour totals the rollups hold for hours from `from` on.
pub async fn rollup_hours<C: ConnectionTrait>(
    conn: &C,
    from: Option<NaiveDateTime>,
) -> Result<BTreeMap<NaiveDateTime, (i64, i64, i64)>, DbErr> {
    let mut select = Query::select();
    select.from(Alias::new("rollup_hour")).columns([
        Alias::new("hour"),
        Alias::new("rows"),
        Alias::new("primary_sum"),
        Alias::new("cross_sum"),
    ]);
    if let Some(from) = from {
        select.and_where(Expr::col(Alias::new("hour")).gte(from));
    }
    let rows = conn.query_all(&select).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<NaiveDateTime>("", "hour")?,
                (
                    r.try_get::<i64>("", "rows")?,
                    r.try_get::<i64>("", "primary_sum")?,
                    r.try_get::<i64>("", "cross_sum")?,
                ),
            ))
        })
        .collect()
}

/// The content checksums `rollup_hour` holds for hours from `from` on (`None`: the hour was
/// rolled up while a change log was kept, without one), in [0, P).
pub async fn rollup_checksums<C: ConnectionTrait>(
    conn: &C,
    from: Option<NaiveDateTime>,
) -> Result<BTreeMap<NaiveDateTime, Option<i64>>, DbErr> {
    let mut select = Query::select();
    select
        .from(Alias::new("rollup_hour"))
        .columns([Alias::new("hour"), Alias::new("checksum")]);
    if let Some(from) = from {
        select.and_where(Expr::col(Alias::new("hour")).gte(from));
    }
    let rows = conn.query_all(&select).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<NaiveDateTime>("", "hour")?,
                r.try_get::<Option<i64>>("", "checksum")?
                    .map(|c| c.rem_euclid(super::sql::CHECKSUM_MODULUS)),
            ))
        })
        .collect()
}

/// The first hour of the window, before `watermark`, whose checksum in the hourly table
/// (`live`, read where there is no change log) differs from the one `rollup_hour` holds: a
/// rewrite that kept the hour's rows and sums.
fn first_checksum_change(
    stored: &BTreeMap<NaiveDateTime, Option<i64>>,
    live: &Fingerprint,
    watermark: NaiveDateTime,
) -> Option<NaiveDateTime> {
    let checksums = live.checksums.as_ref()?;
    stored
        .keys()
        .chain(checksums.keys())
        .filter(|h| **h < watermark && live.window_start.is_none_or(|s| **h >= s))
        .filter(|h| stored.get(*h).copied().flatten() != checksums.get(*h).copied())
        .min()
        .copied()
}

/// When `refresh-rollups --verify` last repaired rollups (`rollup_state` row `repaired`).
pub async fn repaired<C: ConnectionTrait>(conn: &C) -> Result<Option<NaiveDateTime>, DbErr> {
    let select = Query::select()
        .from(Alias::new("rollup_state"))
        .column(Alias::new("watermark"))
        .and_where(Expr::col(Alias::new("name")).eq("repaired"))
        .to_owned();
    match conn.query_one(&select).await? {
        Some(row) => row.try_get::<Option<NaiveDateTime>>("", "watermark"),
        None => Ok(None),
    }
}

pub async fn watermark<C: ConnectionTrait>(conn: &C) -> Result<Option<NaiveDateTime>, DbErr> {
    let select = Query::select()
        .from(Alias::new("rollup_state"))
        .column(Alias::new("watermark"))
        .and_where(Expr::col(Alias::new("name")).eq("rollups"))
        .to_owned();
    match conn.query_one(&select).await? {
        Some(row) => row.try_get::<Option<NaiveDateTime>>("", "watermark"),
        None => Ok(None),
    }
}

/// The cutoff to use now: the watermark, moved back to the start of the first day in which
/// the hourly table no longer matches the rollups (among the hours `live` covers). `None`
/// when there are no rollups (or no rollup tables): every query then reads the hourly table.
pub async fn cutoff(db: &DatabaseConnection, live: &Fingerprint) -> Result<Option<Cutoff>, DbErr> {
    let Some(watermark) = watermark(db).await? else {
        return Ok(None);
    };
    // A database migrated before the per-hour rollups by dimension existed has none to read.
    for table in [
        "rollup_hour_category",
        "rollup_hour_country",
        "rollup_hour_download_type",
    ] {
        let probe = Query::select()
            .from(Alias::new(table))
            .column(Alias::new("hour"))
            .limit(1)
            .to_owned();
        db.query_one(&probe).await?;
    }
    let stored = rollup_hours(db, live.window_start).await?;
    let keys: BTreeSet<&NaiveDateTime> = stored.keys().chain(live.hours.keys()).collect();
    let in_window = keys
        .into_iter()
        .filter(|h| **h < watermark && live.window_start.is_none_or(|s| **h >= s))
        .find(|h| stored.get(*h) != live.hours.get(*h))
        .copied();
    // Hours the change log holds changed after the rollups were built, at any age.
    let logged = live
        .changes
        .iter()
        .flat_map(|changes| changes.keys())
        .filter(|h| **h < watermark)
        .min()
        .copied();
    // Without a change log, rewrites that kept rows and sums show in the checksums.
    let rewritten = match live.checksums {
        Some(_) => first_checksum_change(
            &rollup_checksums(db, live.window_start).await?,
            live,
            watermark,
        ),
        None => None,
    };
    let first_changed = in_window.into_iter().chain(logged).chain(rewritten).min();
    Ok(Some(match first_changed {
        None => Cutoff {
            hour: watermark,
            day: watermark.date() + Duration::days(1),
        },
        Some(changed) => {
            let day = changed.date();
            Cutoff {
                hour: day.and_hms_opt(0, 0, 0).unwrap_or(changed),
                day,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::params::{Filter, TimeRange};
    use crate::stats::vocab::Metric;

    fn q(
        dimensions: Vec<Dimension>,
        time_group: Option<TimeGroup>,
        filters: Vec<Dimension>,
    ) -> Aggregate {
        Aggregate {
            limit: None,
            dimensions,
            time_group,
            metric: Metric::Primary,
            range: TimeRange::default(),
            shift: None,
            filters: filters
                .into_iter()
                .map(|dimension| Filter {
                    dimension,
                    values: vec!["x".into()],
                })
                .collect(),
        }
    }

    #[test]
    fn the_planner_picks_the_coarsest_rollup_that_keeps_every_dimension_used() {
        use Dimension::*;
        assert_eq!(
            plan(&q(vec![], Some(TimeGroup::Month), vec![])),
            Some(Source::RollupHour)
        );
        assert_eq!(
            plan(&q(vec![], Some(TimeGroup::Hour), vec![])),
            Some(Source::RollupHour)
        );
        assert_eq!(
            plan(&q(vec![Country], None, vec![])),
            Some(Source::RollupDayCountry)
        );
        assert_eq!(
            plan(&q(vec![Archive], Some(TimeGroup::Day), vec![Category])),
            Some(Source::RollupDayCategory)
        );
        assert_eq!(
            plan(&q(vec![Country], None, vec![DownloadType])),
            Some(Source::RollupDay)
        );
        assert_eq!(
            plan(&q(vec![Country], Some(TimeGroup::Hour), vec![])),
            Some(Source::RollupHourCountry)
        );
        assert_eq!(
            plan(&q(vec![Archive], Some(TimeGroup::Hour), vec![Category])),
            Some(Source::RollupHourCategory)
        );
        assert_eq!(
            plan(&q(vec![Country], Some(TimeGroup::Hour), vec![Category])),
            None
        );
        // Local days in another zone: a range that starts inside a UTC day.
        let mut local_days = q(vec![Country], None, vec![]);
        local_days.range.from =
            NaiveDate::from_ymd_opt(2026, 3, 1).and_then(|d| d.and_hms_opt(5, 0, 0));
        assert_eq!(plan(&local_days), Some(Source::RollupHourCountry));
        local_days.filters = q(vec![], None, vec![DownloadType]).filters;
        assert_eq!(plan(&local_days), None);
        assert_eq!(
            plan(&q(vec![DownloadType], Some(TimeGroup::Hour), vec![])),
            Some(Source::RollupHourDownloadType)
        );
    }
}
