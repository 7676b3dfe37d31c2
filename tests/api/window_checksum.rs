//! Without a change log (someone else's table: no `hourly_changes`, no triggers), counts moved
//! between two countries of an hour, which keep the hour's row count and sums, are noticed
//! within one probe interval inside the probe window (a content checksum per hour), and older
//! ones are found and repaired by `refresh-rollups --verify`. Expected answers come from the
//! rows read back from the table with plain SQL, through the independent model.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

use crate::cache::metric;
use crate::helpers::{Backend, Row, Server, TABLE, TestApp, TestDb, dt, run_cli, start_on};
use crate::{backend_tests, model};

/// Drops the change log that `migrate` installed, as on a table the service does not own.
async fn drop_change_log(db: &TestDb) {
    let triggers = ["ins", "upd", "del"].map(|op| format!("{TABLE}_changes_{op}"));
    let mut statements: Vec<String> = match db.backend {
        Backend::Postgres => triggers
            .iter()
            .map(|t| format!("DROP TRIGGER IF EXISTS \"{t}\" ON \"{TABLE}\""))
            .chain(["DROP FUNCTION IF EXISTS stats_hourly_change()".to_string()])
            .collect(),
        Backend::MySql => triggers
            .iter()
            .map(|t| format!("DROP TRIGGER IF EXISTS `{t}`"))
            .collect(),
        Backend::Sqlite => triggers
            .iter()
            .map(|t| format!("DROP TRIGGER IF EXISTS \"{t}\""))
            .collect(),
    };
    statements.push("DROP TABLE hourly_changes".into());
    for statement in statements {
        db.writer.execute_unprepared(&statement).await.unwrap();
    }
}

/// Every hourly row, read back with plain SQL.
async fn rows_in_table(db: &TestDb) -> Vec<Row> {
    let sql = format!(
        "SELECT start_dttm, category, archive, country, download_type, primary_count, \
         cross_count FROM {TABLE}"
    );
    let rows = db
        .writer
        .query_all_raw(Statement::from_string(
            db.writer.get_database_backend(),
            sql,
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| Row {
            start: r.try_get::<NaiveDateTime>("", "start_dttm").unwrap(),
            category: r.try_get("", "category").unwrap(),
            archive: r.try_get("", "archive").unwrap(),
            country: r.try_get("", "country").unwrap(),
            download_type: r.try_get("", "download_type").unwrap(),
            primary: r.try_get("", "primary_count").unwrap(),
            cross: r.try_get("", "cross_count").unwrap(),
        })
        .collect()
}

const DAY: &str =
    "/api/get_data?model=hourly&group_by=country&start_date=2026-11-20&end_date=2026-11-20";
const OLD_DAY: &str =
    "/api/get_data?model=hourly&group_by=country&start_date=2026-11-01&end_date=2026-11-01";
const ALL: &str = "/api/get_data?model=hourly&group_by=country";
const ALL_CROSS: &str = "/api/get_data?model=hourly&group_by=country&metric=cross";
/// Local days read from the 24-hour window rollups (the one of the watermark partial).
const LOCAL: &str = "/api/get_data?model=hourly&group_by=country&time_group=day&timezone=America/New_York&start_date=2026-10-31&end_date=2026-11-20";

/// Each request with the answer the model computes from the table's rows.
async fn expected(db: &TestDb) -> Vec<(&'static str, Value)> {
    let rows = rows_in_table(db).await;
    let on = |day: &'static str| move |r: &Row| r.start.date().to_string() == day;
    vec![
        (
            DAY,
            model::get_data(&rows, "country", None, None, "primary", on("2026-11-20")),
        ),
        (
            OLD_DAY,
            model::get_data(&rows, "country", None, None, "primary", on("2026-11-01")),
        ),
        (
            ALL,
            model::get_data(&rows, "country", None, None, "primary", |_| true),
        ),
        (
            ALL_CROSS,
            model::get_data(&rows, "country", None, None, "cross", |_| true),
        ),
        (LOCAL, {
            let tz = chrono_tz::America::New_York;
            let keep = |r: &Row| {
                let day = model::local_day(r.start, tz).to_string();
                ("2026-10-31".to_string()..="2026-11-20".to_string()).contains(&day)
            };
            model::get_data_in(&rows, "country", None, Some("day"), "primary", tz, keep)
        }),
    ]
}

/// Polls each request until it answers what the table says, for at most `within`.
async fn eventually_as_the_table_says(
    server: &Server,
    db: &TestDb,
    within: Duration,
    what: &str,
) -> Duration {
    let want = expected(db).await;
    let started = Instant::now();
    for (url, expected) in &want {
        loop {
            let got = server.get_json(url).await;
            if &got == expected {
                break;
            }
            assert!(
                started.elapsed() < within,
                "{:?} {what}: {url} still {got} after {within:?}, the table says {expected}",
                db.backend
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    started.elapsed()
}

/// Swaps the counts of germany and france in `hour`: the hour keeps its row count and sums.
async fn swap_germany_and_france(db: &TestDb, hour: &str) {
    let before = db.fingerprint().await;
    let swapped = db
        .writer
        .execute_unprepared(&format!(
            "UPDATE {TABLE} SET \
             primary_count = CASE country WHEN 'germany' THEN 5 ELSE 20 END, \
             cross_count = CASE country WHEN 'germany' THEN 0 ELSE 3 END \
             WHERE start_dttm = '{hour}' AND category = 'cs.AI' AND country IN ('germany', 'france')"
        ))
        .await
        .unwrap();
    assert_eq!(swapped.rows_affected(), 2);
    assert_eq!(
        db.fingerprint().await,
        before,
        "rows and the primary sum stay"
    );
}

/// A table without a change log, rolled up: germany 20 (+3 cross) and france 5 in `hour`, a
/// few more rows, and the newest hour 2026-11-20 10:00.
async fn rolled_up_without_a_change_log(backend: Backend, hour: &str) -> Option<TestApp> {
    let app = TestApp::spawn_with(backend, |s| {
        s.cache.probe_interval = Duration::from_millis(200);
    })
    .await?;
    drop_change_log(&app.db).await;
    let at = dt(hour);
    app.db
        .insert(&[
            Row::at(at).country("germany").primary(20).cross(3),
            Row::at(at).country("france").primary(5).cross(0),
            Row::at(at).country("france").category("math.AG").primary(2),
            Row::at(dt("2026-11-01 03:00:00"))
                .country("india")
                .primary(4),
            Row::at(dt("2026-11-20 02:00:00"))
                .country("germany")
                .primary(9),
            Row::at(dt("2026-11-20 10:00:00"))
                .country("india")
                .primary(1),
        ])
        .await;
    let out = run_cli(&app.db.url, &["refresh-rollups"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The service says how it learns of changes.
    let started = Instant::now();
    while app.get_json("/readyz").await["freshness"] != "window fingerprint" {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{backend:?}: /readyz"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        app.get("/metrics")
            .await
            .body
            .contains("stats_freshness_change_log 0"),
        "{backend:?}: the gauge"
    );
    eventually_as_the_table_says(&app, &app.db, Duration::from_secs(5), "rolled up").await;
    // The answers come from the rollups, and are cached.
    let rollup_reads = metric(
        &app,
        "stats_db_query_duration_seconds_count",
        &["query=\"aggregate_rollup\""],
    )
    .await;
    assert!(
        rollup_reads > 0.0,
        "{backend:?}: the rollups are never read"
    );
    assert_eq!(app.get(DAY).await.header("x-cache"), Some("HIT"));
    Some(app)
}

async fn counts_moved_between_countries_inside_the_probe_window_are_served_within_a_probe_interval(
    backend: Backend,
) {
    // Six hours before the newest: inside the 24-hour probe window.
    let hour = "2026-11-20 04:00:00";
    let Some(app) = rolled_up_without_a_change_log(backend, hour).await else {
        return;
    };
    swap_germany_and_france(&app.db, hour).await;
    // The cached answers are dropped and the rollups of the day are not read.
    let took = eventually_as_the_table_says(
        &app,
        &app.db,
        Duration::from_secs(3),
        "after counts moved inside the window",
    )
    .await;
    println!("{backend:?}: served as the table says {took:?} after the rewrite");
    // A process started after the rewrite does not trust the day's rollups either: the
    // checksum `rollup_hour` holds is not the hour's any more.
    let fresh = start_on(&app.db).await;
    for (url, want) in expected(&app.db).await {
        assert_eq!(fresh.get_json(url).await, want, "{backend:?} fresh: {url}");
    }
    // The next refresh rebuilds the day; the answers stay right, from the rollups again.
    let out = run_cli(&app.db.url, &["refresh-rollups"]);
    assert!(out.status.success());
    tokio::time::sleep(Duration::from_millis(600)).await;
    eventually_as_the_table_says(&app, &app.db, Duration::from_secs(3), "refreshed").await;
    let fresh = start_on(&app.db).await;
    eventually_as_the_table_says(&fresh, &app.db, Duration::ZERO, "fresh, refreshed").await;
    app.finish().await;
}

async fn counts_moved_between_countries_in_an_older_hour_are_repaired_by_refresh_rollups_verify(
    backend: Backend,
) {
    // Nineteen days before the newest hour: far outside the probe window.
    let hour = "2026-11-01 10:00:00";
    let Some(app) = rolled_up_without_a_change_log(backend, hour).await else {
        return;
    };
    swap_germany_and_france(&app.db, hour).await;
    let out = run_cli(&app.db.url, &["refresh-rollups", "--verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{backend:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 2026-11-01 through 2026-11-20, and only the rewritten day differed.
    assert!(
        stdout.contains("20 day(s) checked")
            && stdout.contains("1 differed and were rebuilt: 2026-11-01"),
        "{backend:?}: {stdout}"
    );
    // Every instance drops its answers within a probe interval, and a fresh one is right too.
    eventually_as_the_table_says(&app, &app.db, Duration::from_secs(3), "verified").await;
    let fresh = start_on(&app.db).await;
    eventually_as_the_table_says(&fresh, &app.db, Duration::ZERO, "fresh, verified").await;
    // Nothing left to repair.
    let out = run_cli(&app.db.url, &["refresh-rollups", "--verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("20 day(s) checked") && stdout.contains("none differed"),
        "{backend:?}: {stdout}"
    );
    // Every rollup table is checked, the day tables too, and the watermark's own day: a
    // wrong day rollup of the newest day, and a new hour of it ingested after the refresh.
    app.db
        .writer
        .execute_unprepared(
            "UPDATE rollup_day_country SET primary_sum = primary_sum + 100 \
             WHERE day = '2026-11-20' AND country = 'india'",
        )
        .await
        .unwrap();
    app.db
        .insert(&[Row::at(dt("2026-11-20 12:00:00"))
            .country("france")
            .primary(6)])
        .await;
    let out = run_cli(&app.db.url, &["refresh-rollups", "--verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("20 day(s) checked")
            && stdout.contains("1 differed and were rebuilt: 2026-11-20"),
        "{backend:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually_as_the_table_says(&app, &app.db, Duration::from_secs(3), "day repaired").await;
    let fresh = start_on(&app.db).await;
    eventually_as_the_table_says(&fresh, &app.db, Duration::ZERO, "fresh, day repaired").await;
    // A wrong 24-hour window (New York's 2026-11-19, which holds germany's 2026-11-20 02:00)
    // is found against the per-hour rollups it sums, and rebuilt.
    let corrupted = app
        .db
        .writer
        .execute_unprepared(
            "UPDATE rollup_window_country SET primary_sum = primary_sum + 100 \
             WHERE hour = '2026-11-19 05:00:00' AND country = 'germany'",
        )
        .await
        .unwrap();
    assert_eq!(corrupted.rows_affected(), 1, "{backend:?}");
    let fresh = start_on(&app.db).await;
    assert_ne!(
        fresh.get_json(LOCAL).await,
        expected(&app.db).await.last().unwrap().1,
        "{backend:?}: the corrupted window is read"
    );
    let out = run_cli(&app.db.url, &["refresh-rollups", "--verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("20 day(s) checked")
            && stdout.contains("1 differed and were rebuilt: 2026-11-19"),
        "{backend:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually_as_the_table_says(&app, &app.db, Duration::from_secs(3), "window repaired").await;
    let fresh = start_on(&app.db).await;
    eventually_as_the_table_says(&fresh, &app.db, Duration::ZERO, "fresh, window repaired").await;
    app.finish().await;
}

backend_tests!(
    counts_moved_between_countries_inside_the_probe_window_are_served_within_a_probe_interval,
    counts_moved_between_countries_in_an_older_hour_are_repaired_by_refresh_rollups_verify,
);
