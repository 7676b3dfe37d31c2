//! `refresh-rollups`: brings the rollups the planner reads (`crate::stats::plan`) up to date
//! with the hourly table, rebuilding only the days whose hours changed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, NaiveDateTime};
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
    let mut live = BTreeMap::new();
    let rows = db.query_all(&sql::probe(backend, table, None)).await?;
    add_probe_rows(&rows, backend, &mut live)?;
    let new_watermark = live.keys().next_back().map(|h| *h + Duration::hours(1));
    let tx = db.begin().await?;
    let stored = rollup_hours(&tx, None).await?;
    let old_watermark = watermark(&tx).await?;
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
