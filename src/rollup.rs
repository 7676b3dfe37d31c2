//! Pre-aggregated rollups: per-hour totals and per-day totals (by every dimension, by category,
//! by country), maintained by `stats-backend refresh-rollups` and read by the planner.
//!
//! The rollups hold exactly the hours before their watermark. A query reads them for those
//! hours and the hourly table for the rest, so an answer is exact however far behind they are.
//! The freshness probe also compares the rollups' per-hour totals with the hourly table's for
//! the newest `cache.probe_hours` hours; where an ingest rewrote an hour the rollups still
//! hold, the cutoff moves back to the start of that day until the next refresh.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};

use crate::stats::params::{Dimension, Metric, TimeGroup};
use crate::stats::repo::Fingerprint;
use crate::stats::sql::{self, Aggregate, Source, dimension_expr};

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
    if q.time_group == Some(TimeGroup::Hour) || dimensions.is_empty() {
        // Only per-hour totals keep hours; without dimensions they are the smallest source.
        return dimensions.is_empty().then_some(Source::RollupHour);
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
async fn rollup_hours<C: ConnectionTrait>(
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

async fn watermark<C: ConnectionTrait>(conn: &C) -> Result<Option<NaiveDateTime>, DbErr> {
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
    let stored = rollup_hours(db, live.window_start).await?;
    let keys: BTreeSet<&NaiveDateTime> = stored.keys().chain(live.hours.keys()).collect();
    let first_changed = keys
        .into_iter()
        .filter(|h| **h < watermark && live.window_start.is_none_or(|s| **h >= s))
        .find(|h| stored.get(*h) != live.hours.get(*h));
    Ok(Some(match first_changed {
        None => Cutoff {
            hour: watermark,
            day: watermark.date() + Duration::days(1),
        },
        Some(changed) => {
            let day = changed.date();
            Cutoff {
                hour: day.and_hms_opt(0, 0, 0).unwrap_or(*changed),
                day,
            }
        }
    }))
}

/// What a refresh did.
#[derive(Debug, Clone, Copy)]
pub struct RefreshReport {
    pub days_rebuilt: usize,
    pub watermark: Option<NaiveDateTime>,
    pub seconds: f64,
}

/// Brings the rollups up to date with the hourly table: the days whose per-hour row counts or
/// sums differ from what the rollups hold are rebuilt, and the watermark moves to the hour
/// after the newest. One transaction; incremental, so running it after every ingest is cheap
/// apart from the one grouped scan that compares the hours.
pub async fn refresh(db: &DatabaseConnection, table: &str) -> Result<RefreshReport, DbErr> {
    let started = std::time::Instant::now();
    let backend = db.get_database_backend();
    let mut live = BTreeMap::new();
    let rows = db.query_all(&sql::probe(backend, table, None)).await?;
    crate::stats::repo::add_probe_rows(&rows, backend, &mut live)?;
    let new_watermark = live.keys().next_back().map(|h| *h + Duration::hours(1));
    let tx = db.begin().await?;
    let stored = rollup_hours(&tx, None).await?;
    let old_watermark = watermark(&tx).await?;
    let hours: BTreeSet<&NaiveDateTime> = stored.keys().chain(live.keys()).collect();
    let days: BTreeSet<NaiveDate> = hours
        .into_iter()
        .filter(|h| stored.get(*h) != live.get(*h))
        .map(|h| h.date())
        .collect();
    for day in &days {
        rebuild_day(&tx, table, *day).await?;
    }
    if new_watermark != old_watermark {
        let mut upsert = Query::insert();
        upsert
            .into_table(Alias::new("rollup_state"))
            .columns([Alias::new("name"), Alias::new("watermark")])
            .values_panic(["rollups".into(), new_watermark.into()])
            .on_conflict(
                OnConflict::column(Alias::new("name"))
                    .update_column(Alias::new("watermark"))
                    .to_owned(),
            );
        tx.execute(&upsert).await?;
    }
    tx.commit().await?;
    if !days.is_empty() {
        crate::write::analyze(
            db,
            &[
                "rollup_hour",
                "rollup_day",
                "rollup_day_category",
                "rollup_day_country",
            ],
        )
        .await?;
    }
    Ok(RefreshReport {
        days_rebuilt: days.len(),
        watermark: new_watermark,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Replaces every rollup row of `day` with sums over that day's hourly rows.
async fn rebuild_day<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    day: NaiveDate,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let from = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let to = from + Duration::days(1);
    for (rollup, column, lower, upper) in [
        (
            "rollup_hour",
            "hour",
            sea_orm::Value::from(from),
            sea_orm::Value::from(to),
        ),
        (
            "rollup_day",
            "day",
            day.into(),
            (day + Duration::days(1)).into(),
        ),
        (
            "rollup_day_category",
            "day",
            day.into(),
            (day + Duration::days(1)).into(),
        ),
        (
            "rollup_day_country",
            "day",
            day.into(),
            (day + Duration::days(1)).into(),
        ),
    ] {
        let delete = Query::delete()
            .from_table(Alias::new(rollup))
            .and_where(Expr::col(Alias::new(column)).gte(lower))
            .and_where(Expr::col(Alias::new(column)).lt(upper))
            .to_owned();
        conn.execute(&delete).await?;
    }
    let in_day = |select: &mut sea_orm::sea_query::SelectStatement| {
        select
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new("start_dttm")).gte(from))
            .and_where(Expr::col(Alias::new("start_dttm")).lt(to));
    };
    let sums = |select: &mut sea_orm::sea_query::SelectStatement| {
        select
            .expr(sql::sum_expr(backend, Metric::Primary).if_null(0))
            .expr(sql::sum_expr(backend, Metric::Cross).if_null(0));
    };
    // Per hour.
    let mut per_hour = Query::select();
    in_day(&mut per_hour);
    per_hour
        .column(Alias::new("start_dttm"))
        .expr(Expr::cust("COUNT(*)"))
        .add_group_by([Expr::col(Alias::new("start_dttm"))]);
    sums(&mut per_hour);
    insert_select(
        conn,
        "rollup_hour",
        &["hour", "rows", "primary_sum", "cross_sum"],
        per_hour,
    )
    .await?;
    // Per day, by the given dimensions.
    for (rollup, dimensions) in [
        (
            "rollup_day",
            &[
                Dimension::Category,
                Dimension::Archive,
                Dimension::Country,
                Dimension::DownloadType,
            ][..],
        ),
        (
            "rollup_day_category",
            &[Dimension::Category, Dimension::Archive][..],
        ),
        ("rollup_day_country", &[Dimension::Country][..]),
    ] {
        let mut select = Query::select();
        in_day(&mut select);
        select.expr(Expr::val(day));
        for dimension in dimensions {
            let expr = dimension_expr(backend, *dimension);
            select.expr(expr.clone());
            select.add_group_by([expr]);
        }
        sums(&mut select);
        let mut columns = vec!["day"];
        columns.extend(dimensions.iter().map(|d| d.as_str()));
        columns.extend(["primary_sum", "cross_sum"]);
        insert_select(conn, rollup, &columns, select).await?;
    }
    Ok(())
}

async fn insert_select<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    columns: &[&str],
    select: sea_orm::sea_query::SelectStatement,
) -> Result<(), DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new(table))
        .columns(columns.iter().map(|c| Alias::new(*c)))
        .select_from(select)
        .map_err(|e| DbErr::Custom(format!("composing the rollup insert: {e}")))?;
    conn.execute(&insert).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::params::{Filter, TimeRange};

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
        assert_eq!(plan(&q(vec![Country], Some(TimeGroup::Hour), vec![])), None);
    }
}
