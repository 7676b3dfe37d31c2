//! Rollups never change an answer: with them, without them, and with them out of date.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::Value;

use crate::cache::metric;
use crate::helpers::{Backend, Row, Server, TABLE, date, dt};
use crate::model::{self, METRICS, TIME_GROUPS};
use crate::{backend_tests, spawn_or_skip};

const LEGACY: &[(&str, i64)] = &[("2025-11-01", 700), ("2025-12-01", 800)];

fn legacy() -> Vec<(chrono::NaiveDate, i64)> {
    LEGACY.iter().map(|(m, v)| (date(m), *v)).collect()
}

/// Every request whose answer the model can compute, with that answer.
fn cases(rows: &[Row]) -> Vec<(String, Value)> {
    let mut cases = Vec::new();
    for (group_by, second, time_group) in model::groupings() {
        let want = model::get_data(rows, group_by, second, time_group, "primary", |_| true);
        cases.push((model::data_url(group_by, second, time_group), want));
    }
    for metric in METRICS {
        let url = format!(
            "/api/get_data?model=hourly&group_by=category&time_group=month&metric={metric}&start_date=2026-01-01"
        );
        let keep = |r: &Row| r.start >= dt("2026-01-01 00:00:00");
        cases.push((
            url,
            model::get_data(rows, "category", None, Some("month"), metric, keep),
        ));
        let url = format!(
            "/api/get_data?model=hourly&group_by=archive&country=germany,United%20States&metric={metric}&end_date=2026-03-07"
        );
        let keep = |r: &Row| {
            (r.country == "germany" || r.country == "united states")
                && r.start < dt("2026-03-08 00:00:00")
        };
        cases.push((
            url,
            model::get_data(rows, "archive", None, None, metric, keep),
        ));
        for time_group in TIME_GROUPS {
            let url =
                format!("/api/get_global_sum?model=hourly&time_group={time_group}&metric={metric}");
            cases.push((
                url,
                model::global_sum(rows, &legacy(), time_group, metric, (None, None)),
            ));
        }
    }
    cases
}

async fn check(server: &Server, rows: &[Row], backend: Backend, stage: &str) {
    let newest = rows.iter().map(|r| r.start).max().unwrap();
    let as_of = newest.format("%Y-%m-%dT%H:00:00Z").to_string();
    for (url, want) in cases(rows) {
        let response = server.get(&url).await;
        assert_eq!(response.json(), want, "{backend:?} {stage}: {url}");
        assert_eq!(
            response.header("x-data-as-of"),
            Some(as_of.as_str()),
            "{backend:?} {stage}: {url}"
        );
    }
}

/// Waits until the planner reads the rollups (the probe has seen them).
async fn until_rollups_are_used(server: &Server, backend: Backend) {
    let count = || {
        metric(
            server,
            "stats_db_query_duration_seconds_count",
            &["query=\"aggregate_rollup\""],
        )
    };
    let before = count().await;
    for _ in 0..50 {
        server
            .get("/api/get_global_sum?model=hourly&time_group=day")
            .await;
        if count().await > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{backend:?}: the rollups are never read");
}

async fn answers_are_identical_with_without_and_with_stale_rollups(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| {
        s.cache.enabled = false;
        s.cache.probe_interval = Duration::from_millis(100);
    });
    let mut rows = model::dataset();
    app.db.insert(&rows).await;
    app.db.insert_legacy(&legacy()).await;
    let daily = [
        "/api/get_daily_downloads?timezone=America/New_York&date=2026-03-08",
        "/api/get_daily_downloads?timezone=Asia/Kolkata&date=2025-12-31",
        "/api/get_daily_downloads?date=2026-01-01",
    ];
    let mut plain_daily = Vec::new();
    for url in daily {
        plain_daily.push(app.get_json(url).await);
    }
    check(&app, &rows, backend, "without rollups").await;

    stats_backend::write::rollups::refresh(&app.db.writer, TABLE)
        .await
        .unwrap();
    until_rollups_are_used(&app, backend).await;
    check(&app, &rows, backend, "with rollups").await;
    for (url, plain) in daily.iter().zip(&plain_daily) {
        assert_eq!(
            &app.get_json(url).await,
            plain,
            "{backend:?} with rollups: {url}"
        );
    }

    // An ingest after the refresh: a new hour, and a rewrite of an hour the rollups hold.
    let new_hour = vec![
        Row::at(dt("2026-03-08 09:00:00"))
            .country("germany")
            .primary(4242)
            .cross(1),
    ];
    app.db.insert(&new_hour).await;
    rows.extend(new_hour);
    let target = rows
        .iter()
        .position(|r| r.start == dt("2026-03-08 07:00:00"))
        .unwrap();
    let update = Query::update()
        .table(Alias::new(TABLE))
        .value(Alias::new("primary_count"), 777)
        .and_where(Expr::col(Alias::new("start_dttm")).eq(rows[target].start))
        .and_where(Expr::col(Alias::new("category")).eq(rows[target].category.as_str()))
        .and_where(Expr::col(Alias::new("country")).eq(rows[target].country.as_str()))
        .and_where(Expr::col(Alias::new("download_type")).eq(rows[target].download_type.as_str()))
        .to_owned();
    assert_eq!(
        app.db
            .writer
            .execute(&update)
            .await
            .unwrap()
            .rows_affected(),
        1
    );
    rows[target].primary = Some(777);
    tokio::time::sleep(Duration::from_millis(500)).await;
    check(&app, &rows, backend, "with stale rollups").await;

    // And after the next refresh, which rebuilds only the changed day.
    let report = stats_backend::write::rollups::refresh(&app.db.writer, TABLE)
        .await
        .unwrap();
    assert_eq!(report.days_rebuilt, 1, "{backend:?}");
    assert_eq!(report.watermark, Some(dt("2026-03-08 10:00:00")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    check(&app, &rows, backend, "after the second refresh").await;
    app.finish().await;
}

/// `stats-backend sql --plan`, run as the read-only user: the statement the planner picks
/// (the hourly table, then the coarsest rollup once there are rollups) and the database's plan.
async fn the_sql_command_prints_the_chosen_statement_and_its_plan(backend: Backend) {
    let Some(db) = crate::helpers::TestDb::create(backend).await else {
        return;
    };
    db.insert(&model::dataset()).await;
    let sql = |request: &str| {
        let output =
            crate::helpers::run_cli(&db.reader_url, &["sql", "--plan", "--runs", "2", request]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{backend:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let request = "/api/get_data?model=hourly&group_by=country";
    let plain = sql(request);
    assert!(
        plain.starts_with("-- aggregate\nSELECT"),
        "{backend:?}: {plain}"
    );
    assert!(!plain.contains("rollup_"), "{backend:?}: {plain}");
    assert!(
        plain.contains("-- rows=6 runs=2 median_ms="),
        "{backend:?}: {plain}"
    );
    let plan = plain
        .split_once("-- plan\n")
        .map(|(_, p)| p.trim())
        .unwrap_or_default();
    assert!(plan.contains(TABLE), "{backend:?}: no plan in {plain}");

    stats_backend::write::rollups::refresh(&db.writer, TABLE)
        .await
        .unwrap();
    let with_rollups = sql(request);
    assert!(
        with_rollups.starts_with("-- aggregate_rollup\nSELECT")
            && with_rollups.contains("rollup_day_country"),
        "{backend:?}: {with_rollups}"
    );
    assert!(
        with_rollups.contains("-- rows=6 runs=2 median_ms="),
        "{backend:?}: {with_rollups}"
    );
    db.drop_database().await;
}

backend_tests!(
    answers_are_identical_with_without_and_with_stale_rollups,
    the_sql_command_prints_the_chosen_statement_and_its_plan,
);
