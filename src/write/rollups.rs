//! `refresh-rollups`: brings the rollups the planner reads (`crate::stats::plan`) up to date
//! with the hourly table, rebuilding only the days whose hours changed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime, Timelike};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};

use super::progress::Progress;
use crate::stats::plan::{rollup_checksums, rollup_hours, watermark};
use crate::stats::probe::{add_probe_checksums, add_probe_rows};
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
/// apart from the one grouped scan that compares the hours. Without a change log the hours'
/// content checksums (`sql::checksum_expr`) are compared and stored too.
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
    // Without a change log, a content checksum per hour shows what rows and sums cannot.
    let probe = match logged {
        Some(_) => sql::probe(backend, table, compare_from),
        None => sql::probe_with_checksum(backend, table, None),
    };
    let rows = db.query_all(&probe).await?;
    add_probe_rows(&rows, backend, &mut live)?;
    let live_checksums = checksums_of(&rows, backend, logged.is_none())?;
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
    if let Some(live_checksums) = &live_checksums {
        let stored_checksums = rollup_checksums(&tx, None).await?;
        days.extend(checksum_days(&stored_checksums, live_checksums));
        // The probe watches only its window: answers may have read any hour rewritten here.
        if held_hours_rewritten(&stored, &live, &stored_checksums, live_checksums) {
            mark_repaired(&tx).await?;
        }
    }
    let mut progress = Progress::new("rebuilding rollup days", days.len() as u64, "days");
    for day in &days {
        rebuild_day(&tx, table, *day).await?;
        if live_checksums.is_some() {
            store_checksums(&tx, table, *day).await?;
        }
        progress.inc(1);
    }
    drop(progress);
    let starts = window_days(&days, old_watermark, new_watermark);
    let mut progress = Progress::new("rebuilding 24-hour windows", starts.len() as u64, "days");
    for day in starts {
        rebuild_windows(&tx, day, new_watermark).await?;
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
        set_state(&tx, "rollups", new_watermark).await?;
    }
    tx.commit().await?;
    if !days.is_empty() {
        let months = PERIOD_MONTH.2.iter().chain(PERIOD_YEAR.2).map(|t| t.0);
        let windows = WINDOW_ROLLUPS.iter().map(|t| t.0);
        let tables: Vec<&str> = HOUR_ROLLUPS
            .iter()
            .chain(DAY_ROLLUPS)
            .copied()
            .chain(months)
            .chain(windows)
            .collect();
        super::analyze(db, &tables).await?;
    }
    Ok(RefreshReport {
        days_rebuilt: days.len(),
        watermark: new_watermark,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The per-hour checksums in the rows of [`sql::probe_with_checksum`], when `read` (there is
/// no change log).
fn checksums_of(
    rows: &[sea_orm::QueryResult],
    backend: sea_orm::DbBackend,
    read: bool,
) -> Result<Option<BTreeMap<NaiveDateTime, i64>>, DbErr> {
    if !read {
        return Ok(None);
    }
    let mut checksums = BTreeMap::new();
    add_probe_checksums(rows, backend, &mut checksums)?;
    Ok(Some(checksums))
}

/// The days with an hour whose checksum in the hourly table (`live`) is not the one
/// `rollup_hour` holds (NULL: rolled up while there was a change log).
fn checksum_days(
    stored: &BTreeMap<NaiveDateTime, Option<i64>>,
    live: &BTreeMap<NaiveDateTime, i64>,
) -> BTreeSet<NaiveDate> {
    stored
        .keys()
        .chain(live.keys())
        .filter(|h| stored.get(*h).copied().flatten() != live.get(*h).copied())
        .map(NaiveDateTime::date)
        .collect()
}

/// Whether an hour the rollups hold was rewritten in the hourly table (deleted, or with other
/// rows, sums or checksum), as opposed to new hours only.
fn held_hours_rewritten(
    stored: &BTreeMap<NaiveDateTime, (i64, i64, i64)>,
    live: &BTreeMap<NaiveDateTime, (i64, i64, i64)>,
    stored_checksums: &BTreeMap<NaiveDateTime, Option<i64>>,
    live_checksums: &BTreeMap<NaiveDateTime, i64>,
) -> bool {
    stored.iter().any(|(h, held)| live.get(h) != Some(held))
        || stored_checksums
            .iter()
            .any(|(h, held)| held.is_some_and(|c| live_checksums.get(h) != Some(&c)))
}

/// Stores in `rollup_hour` the content checksum of each hour of `day` (the rows
/// [`rebuild_day`] has just written), computed as the freshness probe computes it.
async fn store_checksums<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    day: NaiveDate,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let from = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let mut select = sql::probe_with_checksum(backend, table, Some(from));
    select.and_where(Expr::col(Alias::new("start_dttm")).lt(from + Duration::days(1)));
    let mut checksums = BTreeMap::new();
    add_probe_checksums(&conn.query_all(&select).await?, backend, &mut checksums)?;
    for (hour, checksum) in checksums {
        let update = Query::update()
            .table(Alias::new("rollup_hour"))
            .value(Alias::new("checksum"), checksum)
            .and_where(Expr::col(Alias::new("hour")).eq(hour))
            .to_owned();
        conn.execute(&update).await?;
    }
    Ok(())
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
    let hours = (sea_orm::Value::from(from), sea_orm::Value::from(to));
    let days = (
        sea_orm::Value::from(day),
        sea_orm::Value::from(day + Duration::days(1)),
    );
    let tables = HOUR_ROLLUPS
        .iter()
        .map(|t| (*t, "hour", &hours))
        .chain(DAY_ROLLUPS.iter().map(|t| (*t, "day", &days)));
    for (rollup, column, (lower, upper)) in tables {
        let delete = Query::delete()
            .from_table(Alias::new(rollup))
            .and_where(Expr::col(Alias::new(column)).gte(lower.clone()))
            .and_where(Expr::col(Alias::new(column)).lt(upper.clone()))
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
    // Per hour, by category, by archive, by country and by download type; per day, by the
    // given dimensions (the time column is then the day itself, not grouped).
    let by_hour = (&hour, true, "hour");
    let day_value = Expr::val(day);
    let by_day = (&day_value, false, "day");
    let all = &[
        Dimension::Category,
        Dimension::Archive,
        Dimension::Country,
        Dimension::DownloadType,
    ][..];
    for (rollup, (time, grouped, column), dimensions) in [
        ("rollup_hour_category", by_hour, CATEGORY),
        ("rollup_hour_archive", by_hour, &[Dimension::Archive][..]),
        ("rollup_hour_country", by_hour, &[Dimension::Country][..]),
        (
            "rollup_hour_download_type",
            by_hour,
            &[Dimension::DownloadType][..],
        ),
        ("rollup_day", by_day, all),
        ("rollup_day_category", by_day, CATEGORY),
        ("rollup_day_country", by_day, &[Dimension::Country][..]),
    ] {
        let mut select = Query::select();
        in_day(&mut select);
        select.expr(time.clone());
        if grouped {
            select.add_group_by([time.clone()]);
        }
        for dimension in dimensions {
            let expr = dimension_expr(backend, *dimension);
            select.expr(expr.clone());
            select.add_group_by([expr]);
        }
        sums(&mut select);
        let mut columns = vec![column];
        columns.extend(dimensions.iter().map(|d| d.as_str()));
        columns.extend(["primary_sum", "cross_sum"]);
        insert_select(conn, rollup, &columns, select).await?;
    }
    Ok(())
}

/// The rollups `rebuild_day` writes per hour and per day.
const HOUR_ROLLUPS: &[&str] = &[
    "rollup_hour",
    "rollup_hour_category",
    "rollup_hour_archive",
    "rollup_hour_country",
    "rollup_hour_download_type",
];
const DAY_ROLLUPS: &[&str] = &["rollup_day", "rollup_day_category", "rollup_day_country"];

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

/// The window rollups: each row sums the 24 hours from its hour on of a per-hour rollup, by
/// the dimensions kept.
const WINDOW_ROLLUPS: &[(&str, &str, &[Dimension])] = &[
    ("rollup_window_category", "rollup_hour_category", CATEGORY),
    (
        "rollup_window_country",
        "rollup_hour_country",
        &[Dimension::Country],
    ),
];

/// The days whose windows a refresh rebuilds: a window starts in a changed day or the day
/// before it; and when the watermark moves, the windows that held only the hours before the
/// old one (they start in the 24 hours before it) hold more now, and new partial windows start
/// before the new one, even where no hour of their days changed (hours without rows at the
/// end of a day).
fn window_days(
    changed: &BTreeSet<NaiveDate>,
    old_watermark: Option<NaiveDateTime>,
    new_watermark: Option<NaiveDateTime>,
) -> BTreeSet<NaiveDate> {
    let mut days: BTreeSet<NaiveDate> = changed
        .iter()
        .flat_map(|d| [*d - Duration::days(1), *d])
        .collect();
    if let (Some(old), Some(new)) = (old_watermark, new_watermark)
        && new > old
    {
        let first = (old - Duration::days(1)).date();
        let last = (new - Duration::hours(1)).date();
        days.extend(first.iter_days().take_while(|d| *d <= last));
    }
    days
}

/// Replaces the windows that start in `day` with sums over the per-hour rollups (rebuilt
/// already) of the 24 hours from each start. Windows start before `until` (the watermark;
/// `None`: there is nothing to roll up), and those that end after it hold its hours before
/// it, as the day rollups hold the watermark's day; a later refresh writes the rest (see
/// [`window_days`]). Rows are written in the order of their start, so that the rows a local
/// day reads (one start) are on few pages.
async fn rebuild_windows<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
    until: Option<NaiveDateTime>,
) -> Result<(), DbErr> {
    let from = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    for (rollup, finer, dimensions) in WINDOW_ROLLUPS {
        let delete = Query::delete()
            .from_table(Alias::new(*rollup))
            .and_where(Expr::col(Alias::new("hour")).gte(from))
            .and_where(Expr::col(Alias::new("hour")).lt(from + Duration::days(1)))
            .to_owned();
        conn.execute(&delete).await?;
        let Some(select) = window_sums(conn.get_database_backend(), finer, dimensions, day, until)
        else {
            continue;
        };
        let mut columns = vec!["hour"];
        columns.extend(dimensions.iter().map(|d| d.as_str()));
        columns.extend(["primary_sum", "cross_sum"]);
        insert_select(conn, rollup, &columns, select).await?;
    }
    Ok(())
}

/// The rows of the windows that start in `day` (before `until`), summed from the per-hour
/// rollup `finer` by `dimensions`, in the order of their start: columns `hour`, `d0`.., `p`
/// and `c` (as [`rollup_groups`] reads a table). `None` when no window starts there.
fn window_sums(
    backend: sea_orm::DbBackend,
    finer: &str,
    dimensions: &[Dimension],
    day: NaiveDate,
    until: Option<NaiveDateTime>,
) -> Option<sea_orm::sea_query::SelectStatement> {
    use sea_orm::sea_query::{Condition, JoinType, UnionType};
    let from = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let window = Duration::days(1);
    let starts: Vec<NaiveDateTime> = (0..24)
        .map(|h| from + Duration::hours(h))
        .filter(|s| until.is_some_and(|until| *s < until))
        .collect();
    // The starts and ends of the windows, as a derived table of bound values.
    let bounds = |start: NaiveDateTime| {
        Query::select()
            .expr_as(Expr::val(start), Alias::new("ws"))
            .expr_as(Expr::val(start + window), Alias::new("we"))
            .to_owned()
    };
    let (first, rest) = starts.split_first()?;
    let mut windows = bounds(*first);
    for start in rest {
        windows.union(UnionType::All, bounds(*start));
    }
    let hour = Expr::col((Alias::new("h"), Alias::new("hour")));
    let start = Expr::col((Alias::new("w"), Alias::new("ws")));
    let mut select = Query::select();
    select
        .from_subquery(windows, Alias::new("w"))
        .join_as(
            JoinType::InnerJoin,
            Alias::new(finer),
            Alias::new("h"),
            Condition::all().add(hour.clone().gte(start.clone())).add(
                hour.clone()
                    .lt(Expr::col((Alias::new("w"), Alias::new("we")))),
            ),
        )
        .and_where(hour.clone().gte(from))
        .and_where(hour.lt(from + window + window))
        .expr_as(start.clone(), Alias::new("hour"))
        .add_group_by([start.clone()])
        .order_by_expr(start, sea_orm::sea_query::Order::Asc);
    for (i, dimension) in dimensions.iter().enumerate() {
        let expr = dimension_expr(backend, *dimension);
        select.expr_as(expr.clone(), Alias::new(format!("d{i}")));
        select.add_group_by([expr]);
    }
    select
        .expr_as(sql::sum_column(backend, "primary_sum"), Alias::new("p"))
        .expr_as(sql::sum_column(backend, "cross_sum"), Alias::new("c"));
    Some(select)
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

/// A rollup table as `refresh-rollups --verify` checks it: per hour (`hour`) or per day
/// (`day`), the dimensions it keeps, whether it counts rows.
#[derive(Debug, Clone, Copy)]
pub struct RollupTable {
    pub table: &'static str,
    pub per_hour: bool,
    pub dimensions: &'static [Dimension],
    /// It has a `rows` column (the hourly rows of the group).
    pub rows: bool,
}

/// Every rollup table that [`rebuild_day`] writes, for `--verify`; a new rollup table is
/// verified once it is listed here.
pub const VERIFIED_ROLLUPS: &[RollupTable] = &[
    RollupTable {
        table: "rollup_hour",
        per_hour: true,
        dimensions: &[],
        rows: true,
    },
    RollupTable {
        table: "rollup_hour_category",
        per_hour: true,
        dimensions: &[Dimension::Category, Dimension::Archive],
        rows: false,
    },
    RollupTable {
        table: "rollup_hour_archive",
        per_hour: true,
        dimensions: &[Dimension::Archive],
        rows: false,
    },
    RollupTable {
        table: "rollup_hour_country",
        per_hour: true,
        dimensions: &[Dimension::Country],
        rows: false,
    },
    RollupTable {
        table: "rollup_hour_download_type",
        per_hour: true,
        dimensions: &[Dimension::DownloadType],
        rows: false,
    },
    RollupTable {
        table: "rollup_day",
        per_hour: false,
        dimensions: &[
            Dimension::Category,
            Dimension::Archive,
            Dimension::Country,
            Dimension::DownloadType,
        ],
        rows: false,
    },
    RollupTable {
        table: "rollup_day_category",
        per_hour: false,
        dimensions: &[Dimension::Category, Dimension::Archive],
        rows: false,
    },
    RollupTable {
        table: "rollup_day_country",
        per_hour: false,
        dimensions: &[Dimension::Country],
        rows: false,
    },
];

/// What `refresh-rollups --verify` found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub days_checked: usize,
    /// The days whose rollups differed from the hourly table; they were rebuilt.
    pub differed: Vec<NaiveDate>,
    pub seconds: f64,
}

/// One group of a rollup, or of the same aggregate over the hourly table: hour (per-hour
/// tables) and dimension values, then the primary and cross sums and the row count (if kept).
type Groups = BTreeMap<(Option<NaiveDateTime>, Vec<Option<String>>), (i64, i64, Option<i64>)>;

/// Checks every day the rollups hold, exactly: for each day before the watermark, every table
/// of [`VERIFIED_ROLLUPS`] is compared row for row with the same aggregate computed from the
/// hourly table, and the days that differ are rebuilt (with their checksums where there is no
/// change log). It catches what the freshness probe cannot see without a change log: a rewrite
/// older than the probe window that kept its hour's rows and sums. It reads every hourly row
/// once per rollup table, so it costs about as much as rebuilding everything, but writes only
/// the days that differ; `refresh-rollups --verify` runs it before the refresh.
pub async fn verify(db: &DatabaseConnection, table: &str) -> Result<VerifyReport, DbErr> {
    let started = std::time::Instant::now();
    let Some(watermark) = watermark(db).await? else {
        return Ok(VerifyReport {
            days_checked: 0,
            differed: Vec::new(),
            seconds: started.elapsed().as_secs_f64(),
        });
    };
    let days = held_days(db, table, watermark).await?;
    let mut progress = Progress::new("verifying rollup days", days.len() as u64, "days");
    let mut differed = Vec::new();
    for day in &days {
        let from = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        // The watermark's own day is held up to the watermark.
        let to = Ord::min(from + Duration::days(1), watermark);
        for rollup in VERIFIED_ROLLUPS {
            let held = rollup_groups(db, rollup, *day, from, to).await?;
            let computed = hourly_groups(db, table, rollup, from, to).await?;
            if held != computed {
                log::info!(
                    "rollups of {day} differ from the hourly table in {}",
                    rollup.table
                );
                differed.push(*day);
                break;
            }
        }
        progress.inc(1);
    }
    drop(progress);
    // The windows, compared with sums of the per-hour rollups they are made of (from the day
    // before the first: its windows hold the first day's first hours). Those of the days that
    // differ, and of the days before them, are rebuilt anyway.
    let rebuilt = window_days(&differed.iter().copied().collect(), None, None);
    let window_starts: Vec<NaiveDate> = days
        .first()
        .map(|d| *d - Duration::days(1))
        .into_iter()
        .chain(days.iter().copied())
        .collect();
    let mut windows_differed = BTreeSet::new();
    let mut progress = Progress::new(
        "verifying 24-hour windows",
        window_starts.len() as u64,
        "days",
    );
    for day in &window_starts {
        if !rebuilt.contains(day) && windows_differ(db, *day, watermark).await? {
            log::info!("24-hour windows that start on {day} differ from the hourly rollups");
            windows_differed.insert(*day);
        }
        progress.inc(1);
    }
    drop(progress);
    // One transaction: no answer reads the repaired days with months, years or windows that
    // are not summed from them yet.
    let tx = db.begin().await?;
    if !differed.is_empty() {
        let with_checksums = crate::stats::repo::Repository::new(db.clone(), table.to_string())
            .pending_changes()
            .await
            .is_err();
        for day in &differed {
            rebuild_day(&tx, table, *day).await?;
            if with_checksums {
                store_checksums(&tx, table, *day).await?;
            }
            if *day == watermark.date() {
                // The rebuild took the whole day, hours after the watermark (ingested since the
                // refresh) included: the watermark moves past them, or they would count twice.
                cover_day(&tx, table, *day, watermark).await?;
            }
        }
    }
    if !differed.is_empty() || !windows_differed.is_empty() {
        mark_repaired(&tx).await?;
    }
    let until = crate::stats::plan::watermark(&tx).await?;
    let moved = (until != Some(watermark)).then_some(watermark);
    let differed_days: BTreeSet<NaiveDate> = differed.iter().copied().collect();
    for day in window_days(&differed_days, moved, until).union(&windows_differed) {
        rebuild_windows(&tx, *day, until).await?;
    }
    // The month and year rollups are sums of the day (and hour) rollups, which are exact now:
    // every month and year the held days span is summed again from them.
    let months: BTreeSet<NaiveDate> = days.iter().filter_map(|d| d.with_day(1)).collect();
    for month in &months {
        rebuild_period(&tx, *month, PERIOD_MONTH).await?;
    }
    let years: BTreeSet<NaiveDate> = days.iter().filter_map(|d| d.with_ordinal(1)).collect();
    for year in &years {
        rebuild_period(&tx, *year, PERIOD_YEAR).await?;
    }
    tx.commit().await?;
    if !differed.is_empty() || !windows_differed.is_empty() {
        let windows = WINDOW_ROLLUPS.iter().map(|t| t.0);
        let tables: Vec<&str> = VERIFIED_ROLLUPS
            .iter()
            .map(|r| r.table)
            .chain(windows)
            .collect();
        super::analyze(db, &tables).await?;
    }
    let mut differed: BTreeSet<NaiveDate> = differed.into_iter().collect();
    differed.extend(windows_differed);
    Ok(VerifyReport {
        days_checked: days.len(),
        differed: differed.into_iter().collect(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Whether the windows that start on `day` differ from the sums of the per-hour rollups they
/// are made of (in any window table).
async fn windows_differ(
    db: &DatabaseConnection,
    day: NaiveDate,
    watermark: NaiveDateTime,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let from = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    for (rollup, finer, dimensions) in WINDOW_ROLLUPS {
        let table = RollupTable {
            table: rollup,
            per_hour: true,
            dimensions,
            rows: false,
        };
        let held = rollup_groups(db, &table, day, from, from + Duration::days(1)).await?;
        let computed = match window_sums(backend, finer, dimensions, day, Some(watermark)) {
            Some(select) => groups(db, &table, &select).await?,
            None => Groups::new(),
        };
        if held != computed {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every day from the first one the hourly table or the rollups have through the watermark's
/// (the days that start before it).
async fn held_days(
    db: &DatabaseConnection,
    table: &str,
    watermark: NaiveDateTime,
) -> Result<Vec<NaiveDate>, DbErr> {
    let first_hourly = crate::stats::repo::Repository::new(db.clone(), table.to_string())
        .hour_bounds()
        .await?
        .map(|(first, _)| first);
    let select = Query::select()
        .from(Alias::new("rollup_hour"))
        .expr_as(Expr::col(Alias::new("hour")).min(), Alias::new("first"))
        .to_owned();
    let first_rollup = match db.query_one(&select).await? {
        Some(row) => row.try_get::<Option<NaiveDateTime>>("", "first")?,
        None => None,
    };
    let Some(first) = first_hourly.into_iter().chain(first_rollup).min() else {
        return Ok(Vec::new());
    };
    let last = (watermark - Duration::seconds(1)).date();
    Ok(first
        .date()
        .iter_days()
        .take_while(|d| *d <= last)
        .collect())
}

/// The groups `rollup` holds for `day`, hours in `[from, to)` for a per-hour table.
async fn rollup_groups(
    db: &DatabaseConnection,
    rollup: &RollupTable,
    day: NaiveDate,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Groups, DbErr> {
    let backend = db.get_database_backend();
    let mut select = Query::select();
    select.from(Alias::new(rollup.table));
    if rollup.per_hour {
        select
            .expr_as(Expr::col(Alias::new("hour")), Alias::new("hour"))
            .and_where(Expr::col(Alias::new("hour")).gte(from))
            .and_where(Expr::col(Alias::new("hour")).lt(to));
    } else {
        select.and_where(Expr::col(Alias::new("day")).eq(day));
    }
    for (i, dimension) in rollup.dimensions.iter().enumerate() {
        select.expr_as(
            dimension_expr(backend, *dimension),
            Alias::new(format!("d{i}")),
        );
    }
    select
        .expr_as(Expr::col(Alias::new("primary_sum")), Alias::new("p"))
        .expr_as(Expr::col(Alias::new("cross_sum")), Alias::new("c"));
    if rollup.rows {
        select.expr_as(Expr::col(Alias::new("rows")), Alias::new("n"));
    }
    groups(db, rollup, &select).await
}

/// The groups of `rollup`'s aggregate over the hourly rows in `[from, to)`, as [`rebuild_day`]
/// computes them.
async fn hourly_groups(
    db: &DatabaseConnection,
    table: &str,
    rollup: &RollupTable,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Groups, DbErr> {
    let backend = db.get_database_backend();
    let mut select = Query::select();
    select
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("start_dttm")).gte(from))
        .and_where(Expr::col(Alias::new("start_dttm")).lt(to));
    if rollup.per_hour {
        let quoted = match backend {
            sea_orm::DbBackend::MySql => "`start_dttm`",
            _ => "\"start_dttm\"",
        };
        let hour = Expr::cust(sql::truncated_hour(backend, quoted));
        select
            .expr_as(hour.clone(), Alias::new("hour"))
            .add_group_by([hour]);
    }
    for (i, dimension) in rollup.dimensions.iter().enumerate() {
        let expr = dimension_expr(backend, *dimension);
        select.expr_as(expr.clone(), Alias::new(format!("d{i}")));
        select.add_group_by([expr]);
    }
    select
        .expr_as(
            sql::sum_expr(backend, Metric::Primary).if_null(0),
            Alias::new("p"),
        )
        .expr_as(
            sql::sum_expr(backend, Metric::Cross).if_null(0),
            Alias::new("c"),
        );
    if rollup.rows {
        select.expr_as(
            Expr::cust("COUNT(*)").cast_as(Alias::new(match backend {
                sea_orm::DbBackend::MySql => "SIGNED",
                _ => "BIGINT",
            })),
            Alias::new("n"),
        );
    }
    groups(db, rollup, &select).await
}

/// Runs `select` (columns as [`rollup_groups`] names them) into [`Groups`].
async fn groups(
    db: &DatabaseConnection,
    rollup: &RollupTable,
    select: &sea_orm::sea_query::SelectStatement,
) -> Result<Groups, DbErr> {
    let backend = db.get_database_backend();
    let mut out = Groups::new();
    for row in db.query_all(select).await? {
        let hour = match rollup.per_hour {
            true => Some(row.try_get::<NaiveDateTime>("", "hour")?),
            false => None,
        };
        let mut dims = Vec::with_capacity(rollup.dimensions.len());
        for i in 0..rollup.dimensions.len() {
            dims.push(crate::stats::rows::dimension_value(
                &row,
                &format!("d{i}"),
                backend,
            )?);
        }
        let rows = match rollup.rows {
            true => Some(row.try_get::<i64>("", "n")?),
            false => None,
        };
        let sums = (
            row.try_get::<i64>("", "p")?,
            row.try_get::<i64>("", "c")?,
            rows,
        );
        out.insert((hour, dims), sums);
    }
    Ok(out)
}

/// Moves the watermark past the hours of `day` that a rebuild has just rolled up (the hour
/// after the newest), when that is later than `watermark`.
async fn cover_day<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    day: NaiveDate,
    watermark: NaiveDateTime,
) -> Result<(), DbErr> {
    let from = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let select = Query::select()
        .from(Alias::new(table))
        .expr_as(
            Expr::col(Alias::new("start_dttm")).max(),
            Alias::new("newest"),
        )
        .and_where(Expr::col(Alias::new("start_dttm")).gte(from))
        .and_where(Expr::col(Alias::new("start_dttm")).lt(from + Duration::days(1)))
        .to_owned();
    let newest = match conn.query_one(&select).await? {
        Some(row) => row.try_get::<Option<NaiveDateTime>>("", "newest")?,
        None => None,
    };
    let Some(covered) = newest
        .and_then(|n| n.date().and_hms_opt(n.hour(), 0, 0))
        .map(|h| h + Duration::hours(1))
        .filter(|c| *c > watermark)
    else {
        return Ok(());
    };
    let update = Query::update()
        .table(Alias::new("rollup_state"))
        .value(Alias::new("watermark"), covered)
        .and_where(Expr::col(Alias::new("name")).eq("rollups"))
        .to_owned();
    conn.execute(&update).await?;
    Ok(())
}

/// Records in `rollup_state` (row `repaired`) that rollups were repaired, at a time later than
/// the one recorded before: the freshness probe of every instance then drops its answers,
/// which may have read the days (of any age) that were wrong.
async fn mark_repaired<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    let before = crate::stats::plan::repaired(conn).await?;
    // Whole seconds, as every backend stores them.
    let now = chrono::Utc::now()
        .naive_utc()
        .with_nanosecond(0)
        .unwrap_or_default();
    let at = before.map_or(now, |b| Ord::max(now, b + Duration::seconds(1)));
    set_state(conn, "repaired", Some(at)).await
}

/// Writes the time of the `rollup_state` row `name` (the watermark, or the last repair).
async fn set_state<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    at: Option<NaiveDateTime>,
) -> Result<(), DbErr> {
    let mut upsert = Query::insert();
    upsert
        .into_table(Alias::new("rollup_state"))
        .columns([Alias::new("name"), Alias::new("watermark")])
        .values_panic([name.into(), at.into()])
        .on_conflict(
            OnConflict::column(Alias::new("name"))
                .update_column(Alias::new("watermark"))
                .to_owned(),
        );
    conn.execute(&upsert).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 1)
            .and_then(|d| d.and_hms_opt(hour, 0, 0))
            .unwrap()
    }

    #[test]
    fn windows_are_rebuilt_from_the_day_before_a_change_and_where_the_watermark_moved() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let changed = BTreeSet::from([day(5)]);
        assert_eq!(
            window_days(&changed, None, None),
            BTreeSet::from([day(4), day(5)])
        );
        // The watermark moves from 2026-11-01 22:00 to 2026-11-05 11:00: the partial windows
        // from 2026-10-31 22:00 on hold more hours now.
        let old = at(22);
        let new = day(5).and_hms_opt(11, 0, 0).unwrap();
        let days = window_days(&changed, Some(old), Some(new));
        assert_eq!(
            days,
            BTreeSet::from([
                NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
                day(1),
                day(2),
                day(3),
                day(4),
                day(5)
            ])
        );
        // A watermark that stays or moves back adds nothing.
        assert_eq!(window_days(&changed, Some(new), Some(old)).len(), 2);
    }

    #[test]
    fn new_hours_are_no_repair_and_a_held_hour_with_other_rows_sums_or_checksum_is() {
        let stored = BTreeMap::from([(at(1), (2, 25, 3))]);
        let checksums = BTreeMap::from([(at(1), Some(7))]);
        let mut live = stored.clone();
        let mut live_checksums = BTreeMap::from([(at(1), 7)]);
        live.insert(at(2), (1, 1, 0));
        live_checksums.insert(at(2), 9);
        assert!(!held_hours_rewritten(
            &stored,
            &live,
            &checksums,
            &live_checksums
        ));
        assert_eq!(
            checksum_days(&checksums, &live_checksums),
            BTreeSet::from([at(2).date()])
        );
        // Counts moved between countries: rows and sums stay, the checksum does not.
        live_checksums.insert(at(1), 8);
        assert!(held_hours_rewritten(
            &stored,
            &live,
            &checksums,
            &live_checksums
        ));
        live_checksums.insert(at(1), 7);
        // A held hour deleted.
        live.remove(&at(1));
        assert!(held_hours_rewritten(
            &stored,
            &live,
            &checksums,
            &live_checksums
        ));
        // Rolled up while there was a change log: no checksum to compare, the day is rebuilt
        // to store one, and that is no repair.
        let unknown = BTreeMap::from([(at(1), None)]);
        assert!(!held_hours_rewritten(
            &stored,
            &stored,
            &unknown,
            &live_checksums
        ));
        assert!(checksum_days(&unknown, &live_checksums).contains(&at(1).date()));
    }
}
