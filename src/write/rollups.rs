//! `refresh-rollups`: brings the rollups the planner reads (`crate::stats::plan`) up to date
//! with the hourly table, rebuilding only the days whose hours changed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime, Timelike};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};

use super::progress::Progress;
use crate::stats::plan::{rollup_hours, watermark};
use crate::stats::probe::add_probe_rows;
use crate::stats::sql::{self, dimension_expr};
use crate::stats::vocab::{Dimension, Metric};

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
    // The change log first: a change that lands while the refresh runs then either is in it
    // (and its day is rebuilt) or counts again after it (and stays logged for the next run).
    // `None` where the database has no change log.
    let logged = crate::stats::repo::Repository::new(db.clone(), table.to_string())
        .pending_changes()
        .await
        .ok();
    // With a change log, only the hours from the watermark's day on can differ without being
    // logged (they are new): the comparison reads those, so the cost of a refresh does not
    // grow with the table. Without one, every hour is compared.
    let old_watermark = watermark(db).await?;
    let compare_from = match (&logged, old_watermark) {
        (Some(_), Some(w)) => Some(w.date().and_hms_opt(0, 0, 0).unwrap_or(w)),
        _ => None,
    };
    let mut live = BTreeMap::new();
    let rows = db
        .query_all(&sql::probe(backend, table, compare_from))
        .await?;
    add_probe_rows(&rows, backend, &mut live)?;
    let newest = match live.keys().next_back() {
        Some(h) => Some(*h),
        // Nothing from the watermark's day on: the newest hours were deleted.
        None if compare_from.is_some() => newest_hour(db, table).await?,
        None => None,
    };
    let new_watermark = newest.map(|h| h + Duration::hours(1));
    let tx = db.begin().await?;
    let stored = rollup_hours(&tx, compare_from).await?;
    let hours: BTreeSet<&NaiveDateTime> = stored.keys().chain(live.keys()).collect();
    let mut days: BTreeSet<NaiveDate> = hours
        .into_iter()
        .filter(|h| stored.get(*h) != live.get(*h))
        .map(|h| h.date())
        .collect();
    // Rewrites that leave an hour's rows and sums as they were (counts moved between
    // countries) show only in the change log.
    days.extend(
        logged
            .iter()
            .flat_map(|log| log.keys().map(NaiveDateTime::date)),
    );
    let mut progress = Progress::new("rebuilding rollup days", days.len() as u64, "days");
    for day in &days {
        rebuild_day(&tx, table, *day).await?;
        progress.inc(1);
    }
    drop(progress);
    // Months and years are sums of the rebuilt days (months) and months (years): the cost of
    // a new hour is that of its month and year, whatever the table's size.
    let months: BTreeSet<NaiveDate> = days.iter().filter_map(|d| d.with_day(1)).collect();
    for month in &months {
        rebuild_period(&tx, *month, PERIOD_MONTH).await?;
    }
    let years: BTreeSet<NaiveDate> = days.iter().filter_map(|d| d.with_ordinal(1)).collect();
    for year in &years {
        rebuild_period(&tx, *year, PERIOD_YEAR).await?;
    }
    // What was rebuilt is consumed; a count that has grown since it was read stays.
    for (hour, changes) in logged.iter().flatten() {
        let delete = Query::delete()
            .from_table(Alias::new("hourly_changes"))
            .and_where(Expr::col(Alias::new("hour")).eq(*hour))
            .and_where(Expr::col(Alias::new("changes")).eq(*changes))
            .to_owned();
        tx.execute(&delete).await?;
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
        super::analyze(
            db,
            &[
                "rollup_hour",
                "rollup_hour_category",
                "rollup_hour_country",
                "rollup_hour_download_type",
                "rollup_day",
                "rollup_day_category",
                "rollup_day_country",
                "rollup_month_category",
                "rollup_month_country",
                "rollup_month_download_type",
                "rollup_month_category_country",
                "rollup_year_category_country",
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
            "rollup_hour_category",
            "hour",
            sea_orm::Value::from(from),
            sea_orm::Value::from(to),
        ),
        (
            "rollup_hour_country",
            "hour",
            sea_orm::Value::from(from),
            sea_orm::Value::from(to),
        ),
        (
            "rollup_hour_download_type",
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
    // Whole hours, as the freshness probe and the refresh compare them (rows stamped inside an
    // hour, 10:30, count in their hour; grouped by the stored time they would look like hours
    // the hourly table does not have, and their day would be rebuilt at every refresh), and so
    // that a local series shifts each hour by its zone's offset with a plain addition (see
    // `sql::local_bucket_on`).
    let quoted = match backend {
        sea_orm::DbBackend::MySql => "`start_dttm`",
        _ => "\"start_dttm\"",
    };
    let hour = Expr::cust(sql::truncated_hour(backend, quoted));
    // Per hour.
    let mut per_hour = Query::select();
    in_day(&mut per_hour);
    per_hour
        .expr(hour.clone())
        .expr(Expr::cust("COUNT(*)"))
        .add_group_by([hour.clone()]);
    sums(&mut per_hour);
    insert_select(
        conn,
        "rollup_hour",
        &["hour", "rows", "primary_sum", "cross_sum"],
        per_hour,
    )
    .await?;
    // Per hour, by category, by country and by download type.
    for (rollup, dimensions) in [
        (
            "rollup_hour_category",
            &[Dimension::Category, Dimension::Archive][..],
        ),
        ("rollup_hour_country", &[Dimension::Country][..]),
        ("rollup_hour_download_type", &[Dimension::DownloadType][..]),
    ] {
        let mut select = Query::select();
        in_day(&mut select);
        select.expr(hour.clone()).add_group_by([hour.clone()]);
        for dimension in dimensions {
            let expr = dimension_expr(backend, *dimension);
            select.expr(expr.clone());
            select.add_group_by([expr]);
        }
        sums(&mut select);
        let mut columns = vec!["hour"];
        columns.extend(dimensions.iter().map(|d| d.as_str()));
        columns.extend(["primary_sum", "cross_sum"]);
        insert_select(conn, rollup, &columns, select).await?;
    }
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

/// One table of a period grain: the rollup, the finer rollup it sums, that one's time column,
/// and the dimensions kept.
type PeriodTable = (
    &'static str,
    &'static str,
    &'static str,
    &'static [Dimension],
);

const CATEGORY: &[Dimension] = &[Dimension::Category, Dimension::Archive];
const CATEGORY_COUNTRY: &[Dimension] =
    &[Dimension::Category, Dimension::Archive, Dimension::Country];

/// The month rollups, each summed from a rollup of days (or hours).
const PERIOD_MONTH: (&str, u32, &[PeriodTable]) = (
    "month",
    1,
    &[
        (
            "rollup_month_category",
            "rollup_day_category",
            "day",
            CATEGORY,
        ),
        (
            "rollup_month_country",
            "rollup_day_country",
            "day",
            &[Dimension::Country],
        ),
        (
            "rollup_month_download_type",
            "rollup_hour_download_type",
            "hour",
            &[Dimension::DownloadType],
        ),
        (
            "rollup_month_category_country",
            "rollup_day",
            "day",
            CATEGORY_COUNTRY,
        ),
    ],
);

/// The year rollups, each summed from a month rollup.
const PERIOD_YEAR: (&str, u32, &[PeriodTable]) = (
    "year",
    12,
    &[(
        "rollup_year_category_country",
        "rollup_month_category_country",
        "month",
        CATEGORY_COUNTRY,
    )],
);

/// Replaces the rows of the period that starts on `first` (a month or a year) in each of the
/// `period`'s rollups with sums over the finer rollup's rows inside it.
async fn rebuild_period<C: ConnectionTrait>(
    conn: &C,
    first: NaiveDate,
    (column, months, tables): (&str, u32, &[PeriodTable]),
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let Some(next) = first.checked_add_months(Months::new(months)) else {
        return Ok(());
    };
    for (rollup, finer, finer_column, dimensions) in tables {
        let delete = Query::delete()
            .from_table(Alias::new(*rollup))
            .and_where(Expr::col(Alias::new(column)).eq(first))
            .to_owned();
        conn.execute(&delete).await?;
        let (lower, upper): (sea_orm::Value, sea_orm::Value) = if *finer_column == "hour" {
            (
                first.and_hms_opt(0, 0, 0).into(),
                next.and_hms_opt(0, 0, 0).into(),
            )
        } else {
            (first.into(), next.into())
        };
        let mut select = Query::select();
        select
            .from(Alias::new(*finer))
            .expr(Expr::val(first))
            .and_where(Expr::col(Alias::new(*finer_column)).gte(lower))
            .and_where(Expr::col(Alias::new(*finer_column)).lt(upper));
        for dimension in *dimensions {
            let expr = dimension_expr(backend, *dimension);
            select.expr(expr.clone());
            select.add_group_by([expr]);
        }
        select
            .expr(sql::sum_column(backend, "primary_sum"))
            .expr(sql::sum_column(backend, "cross_sum"));
        let mut columns = vec![column];
        columns.extend(dimensions.iter().map(|d| d.as_str()));
        columns.extend(["primary_sum", "cross_sum"]);
        insert_select(conn, rollup, &columns, select).await?;
    }
    Ok(())
}

/// The start of the newest hour in the hourly table.
async fn newest_hour(db: &DatabaseConnection, table: &str) -> Result<Option<NaiveDateTime>, DbErr> {
    let row = db.query_one(&sql::newest_hour(table)).await?;
    let newest = match row {
        Some(row) => row.try_get::<Option<NaiveDateTime>>("", "newest")?,
        None => None,
    };
    Ok(newest.and_then(|t| t.with_minute(0)?.with_second(0)?.with_nanosecond(0)))
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
