//! The change log of the hourly table (`migrate` installs it with triggers): a rewrite of an hour
//! of any age, even one that keeps the hour's rows and sums (counts moved between countries), is
//! served within one probe interval, with or without rollups, and `refresh-rollups` consumes it.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{Backend, Row, TABLE, TestApp, dt, run_cli};
use crate::{backend_tests, spawn_or_skip};

async fn logged_changes(app: &TestApp) -> i64 {
    let row = app
        .db
        .writer
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.writer.get_database_backend(),
            "SELECT COUNT(*) AS n FROM hourly_changes",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Polls `url` until it answers `expected`, for at most 5 s.
async fn eventually(app: &TestApp, url: &str, expected: &Value) {
    let started = Instant::now();
    loop {
        let got = app.get_json(url).await;
        if &got == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{url}: still {got} after 5 s, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_count_preserving_rewrite_of_an_old_hour_is_served_within_a_probe_interval(
    backend: Backend,
) {
    let app = spawn_or_skip!(backend, |s| s.cache.probe_interval =
        Duration::from_millis(200));
    let old = dt("2026-11-01 10:00:00");
    app.db
        .insert(&[
            Row::at(old).country("germany").primary(20),
            Row::at(old).country("france").primary(5),
            // The newest hour, weeks later: the old one is far outside the probe window.
            Row::at(dt("2026-11-20 10:00:00"))
                .country("india")
                .primary(1),
        ])
        .await;
    assert!(logged_changes(&app).await > 0, "the triggers log inserts");
    // The service says how it learns of changes.
    assert_eq!(app.get_json("/readyz").await["freshness"], "change log");
    assert!(
        app.get("/metrics")
            .await
            .body
            .contains("stats_freshness_change_log 1"),
        "the gauge"
    );
    let out = run_cli(&app.db.url, &["refresh-rollups"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        logged_changes(&app).await,
        0,
        "refresh-rollups consumes the log"
    );
    let day =
        "/api/get_data?model=hourly&group_by=country&start_date=2026-11-01&end_date=2026-11-01";
    let all = "/api/get_data?model=hourly&group_by=country";
    eventually(
        &app,
        day,
        &json!([{"country": "France", "data": 5}, {"country": "Germany", "data": 20}]),
    )
    .await;
    assert_eq!(app.get(day).await.header("x-cache"), Some("HIT"));
    // 20 and 5 change places: the hour's row count and sums stay what they were.
    app.db
        .writer
        .execute_unprepared(&format!(
            "UPDATE {TABLE} SET primary_count = CASE country WHEN 'germany' THEN 5 ELSE 20 END \
             WHERE start_dttm = '2026-11-01 10:00:00' AND country IN ('germany', 'france')"
        ))
        .await
        .unwrap();
    let expected = json!([{"country": "France", "data": 20}, {"country": "Germany", "data": 5}]);
    // The cached answer is dropped and the stale rollups are not read.
    eventually(&app, day, &expected).await;
    eventually(
        &app,
        all,
        &json!([
            {"country": "France", "data": 20},
            {"country": "Germany", "data": 5},
            {"country": "India", "data": 1}
        ]),
    )
    .await;
    // The refresh rebuilds the day the log names and consumes it; answers stay right.
    let out = run_cli(&app.db.url, &["refresh-rollups"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(logged_changes(&app).await, 0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    eventually(&app, day, &expected).await;
    app.finish().await;
}

backend_tests!(a_count_preserving_rewrite_of_an_old_hour_is_served_within_a_probe_interval);
