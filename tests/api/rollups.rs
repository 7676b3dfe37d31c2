//! Rollups never change an answer: with them, without them, and with them out of date, for
//! fixed requests and for random local ones (zones, dates, groupings, filters).

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
    for zone in ["Asia/Kathmandu", "America/New_York"] {
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        for group_by in model::DIMENSIONS {
            for time_group in ["day", "month"] {
                let url = model::data_url(group_by, None, Some(time_group))
                    + &format!("&timezone={zone}");
                let want = model::get_data_in(
                    rows,
                    group_by,
                    None,
                    Some(time_group),
                    "primary",
                    tz,
                    |_| true,
                );
                cases.push((url, want));
            }
        }
    }
    cases.extend(random_local_cases(rows, 80));
    cases
}

/// Zones for the random cases: west and east of UTC, DST either way, :30 and :45 offsets.
const RANDOM_ZONES: [&str; 10] = [
    "UTC",
    "America/New_York",
    "America/St_Johns",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
];

/// Values the random filters pick from, per dimension.
fn filter_values(dimension: &str) -> Vec<&'static str> {
    match dimension {
        "country" => vec![
            "germany",
            "united states",
            "côte d'ivoire",
            "(unknown country)",
        ],
        "category" => vec!["cs.AI", "hep-th", "math.AG"],
        "archive" => vec!["cs", "astro-ph"],
        _ => vec!["pdf", "src"],
    }
}

/// Random local requests (zones, time groups, groupings, local date ranges, filters,
/// metrics) with the model's answers: with, without and with stale rollups, each must be
/// the same as the model's, so the planner's choice never changes an answer.
fn random_local_cases(rows: &[Row], n: usize) -> Vec<(String, Value)> {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let strategy = (
        prop::sample::select(RANDOM_ZONES.to_vec()),
        any::<bool>(),
        prop::option::of(prop::sample::select(TIME_GROUPS.to_vec())),
        (0..4usize, prop::option::of(0..3usize)),
        (prop::option::of(0..75i64), prop::option::of(0..75i64)),
        prop::option::of((0..4usize, prop::sample::subsequence(vec![0, 1, 2, 3], 1..3))),
        prop::sample::select(METRICS.to_vec()),
    );
    let mut runner = TestRunner::deterministic();
    let first_day = date("2025-12-29");
    let mut cases = Vec::new();
    while cases.len() < n {
        let (zone, global, time_group, (g, s), (a, b), filter, metric) =
            strategy.new_tree(&mut runner).unwrap().current();
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (Some(Ord::min(a, b)), Some(Ord::max(a, b))),
            other => other,
        };
        let range = (
            a.map(|d| first_day + chrono::Duration::days(d)),
            b.map(|d| first_day + chrono::Duration::days(d)),
        );
        let mut url;
        let want;
        if global {
            let time_group = time_group.unwrap_or("day");
            url = format!(
                "/api/get_global_sum?model=hourly&time_group={time_group}&metric={metric}&timezone={zone}"
            );
            want = model::global_sum_in(rows, &legacy(), time_group, metric, range, tz);
        } else {
            let group_by = model::DIMENSIONS[g];
            let others: Vec<&str> = model::DIMENSIONS
                .iter()
                .copied()
                .filter(|d| *d != group_by)
                .collect();
            let second = s.map(|s| others[s]);
            url = model::data_url(group_by, second, time_group) + &format!("&metric={metric}");
            if time_group.is_some() || range != (None, None) {
                url += &format!("&timezone={zone}");
            }
            let filter = filter.map(|(d, picks)| {
                let dimension = model::DIMENSIONS[d];
                let all = filter_values(dimension);
                let mut values: Vec<&str> = picks.iter().map(|i| all[*i % all.len()]).collect();
                values.dedup();
                (dimension, values)
            });
            if let Some((dimension, values)) = &filter {
                let encoded: Vec<String> = values
                    .iter()
                    .map(|v| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string())
                    .collect();
                url += &format!("&{dimension}={}", encoded.join(","));
            }
            let tz_of_range = if time_group.is_some() || range != (None, None) {
                tz
            } else {
                chrono_tz::Tz::UTC
            };
            let keep = |r: &Row| {
                let day = model::local_day(r.start, tz_of_range);
                range.0.is_none_or(|f| day >= f)
                    && range.1.is_none_or(|t| day <= t)
                    && filter.as_ref().is_none_or(|(d, values)| {
                        model::raw_value(r, d).is_some_and(|v| values.contains(&v.as_str()))
                    })
            };
            want = model::get_data_in(rows, group_by, second, time_group, metric, tz, keep);
        }
        if let Some(s) = range.0 {
            url += &format!("&start_date={s}");
        }
        if let Some(e) = range.1 {
            url += &format!("&end_date={e}");
        }
        cases.push((url, want));
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
    // Rows stamped inside their hour, where that decides the local day: 18:30 UTC is already
    // the next day in Kathmandu (00:15), but its hour, 18:00 UTC, is 23:45 the day before;
    // 04:30 UTC on 2026-03-01 is still February in New York.
    for (start, country) in [
        ("2026-01-15 18:30:00", "germany"),
        ("2026-01-15 18:59:59", "nepal"),
        ("2026-03-01 04:30:00", "germany"),
    ] {
        rows.push(Row::at(dt(start)).country(country).primary(1000).cross(7));
    }
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
            && with_rollups.contains("rollup_month_country"),
        "{backend:?}: {with_rollups}"
    );
    assert!(
        with_rollups.contains("-- rows=6 runs=2 median_ms="),
        "{backend:?}: {with_rollups}"
    );
    // Local days of 24 hours are rows of the window rollup; the data's first, partial local
    // day (it starts at midnight UTC) is hours of the per-hour rollup.
    let local = sql(
        "/api/get_data?model=hourly&group_by=category&time_group=day&timezone=America/New_York",
    );
    assert!(
        local.starts_with("-- aggregate_rollup\nSELECT")
            && local.contains("rollup_window_category")
            && local.contains("rollup_hour_category"),
        "{backend:?}: {local}"
    );
    db.drop_database().await;
}

/// A refresh writes only the 24-hour windows that end by its watermark. Those it skipped are
/// written by the next refresh that moves the watermark past them, even when no hour of their
/// days changed: here the last hours of a day have no rows and the next rows come two days
/// later, so the Berlin day of 2026-03-03 (22:00 and 23:00 UTC without rows) is a window that
/// only the watermark's move brings in.
async fn windows_skipped_at_the_watermark_are_written_when_it_moves_on(backend: Backend) {
    use chrono::Timelike;
    let app = spawn_or_skip!(backend, |s| {
        s.cache.enabled = false;
        s.cache.probe_interval = Duration::from_millis(100);
    });
    let mut rows = Vec::new();
    let mut hour = dt("2026-03-01 00:00:00");
    while hour <= dt("2026-03-03 21:00:00") {
        let germany = i32::try_from(10 + hour.hour()).unwrap();
        rows.push(Row::at(hour).country("germany").primary(germany).cross(1));
        rows.push(
            Row::at(hour)
                .category("hep-th")
                .country("france")
                .primary(3),
        );
        hour += chrono::Duration::hours(1);
    }
    app.db.insert(&rows).await;
    let refresh = || stats_backend::write::rollups::refresh(&app.db.writer, TABLE);
    assert_eq!(
        refresh().await.unwrap().watermark,
        Some(dt("2026-03-03 22:00:00"))
    );
    let later = vec![
        Row::at(dt("2026-03-05 10:00:00"))
            .country("germany")
            .primary(5),
    ];
    app.db.insert(&later).await;
    rows.extend(later);
    let report = refresh().await.unwrap();
    assert_eq!(report.days_rebuilt, 1, "{backend:?}");
    until_rollups_are_used(&app, backend).await;
    for zone in ["Europe/Berlin", "America/New_York", "Asia/Kathmandu"] {
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        let keep = |r: &Row| {
            let day = model::local_day(r.start, tz);
            day >= date("2026-03-01") && day <= date("2026-03-06")
        };
        for group_by in ["country", "category"] {
            for time_group in ["day", "week"] {
                let url = format!(
                    "/api/get_data?model=hourly&group_by={group_by}&time_group={time_group}&timezone={zone}&start_date=2026-03-01&end_date=2026-03-06"
                );
                let want = model::get_data_in(
                    &rows,
                    group_by,
                    None,
                    Some(time_group),
                    "primary",
                    tz,
                    keep,
                );
                assert_eq!(app.get_json(&url).await, want, "{backend:?}: {url}");
            }
        }
    }
    app.finish().await;
}

backend_tests!(
    answers_are_identical_with_without_and_with_stale_rollups,
    windows_skipped_at_the_watermark_are_written_when_it_moves_on,
    the_sql_command_prints_the_chosen_statement_and_its_plan,
);
