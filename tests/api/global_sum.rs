//! `GET /api/get_global_sum`, including the legacy merge with `monthly_downloads`.

use serde_json::json;

use crate::helpers::{Backend, Row, date, dt};
use crate::model::{self, METRICS, TIME_GROUPS};
use crate::{backend_tests, spawn_or_skip};

async fn every_time_group_and_metric_matches_an_independent_sum(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = model::dataset();
    app.db.insert(&rows).await;
    for time_group in TIME_GROUPS {
        for metric in METRICS {
            let url =
                format!("/api/get_global_sum?model=hourly&time_group={time_group}&metric={metric}");
            let want = model::global_sum(&rows, &[], time_group, metric, (None, None));
            assert_eq!(app.get_json(&url).await, want, "{backend:?} {url}");
        }
    }
    app.finish().await;
}

async fn a_legacy_month_that_also_has_hourly_rows_is_counted_once(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = model::dataset();
    app.db.insert(&rows).await;
    // 2025-12 and 2026-01 have hourly rows too; 2025-11 has none.
    let legacy = vec![
        (date("2025-11-01"), 700),
        (date("2025-12-01"), 800),
        (date("2026-01-01"), 900),
    ];
    app.db.insert_legacy(&legacy).await;
    for time_group in TIME_GROUPS {
        for metric in METRICS {
            let url =
                format!("/api/get_global_sum?model=hourly&time_group={time_group}&metric={metric}");
            let want = model::global_sum(&rows, &legacy, time_group, metric, (None, None));
            assert_eq!(app.get_json(&url).await, want, "{backend:?} {url}");
        }
    }
    let months = app
        .get_json("/api/get_global_sum?model=hourly&time_group=month")
        .await;
    let labels: Vec<&str> = months
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time_group"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "2025-11-01",
            "2025-12-01",
            "2026-01-01",
            "2026-02-01",
            "2026-03-01"
        ]
    );
    assert_eq!(
        months[1],
        json!({"total_sum": 800, "time_group": "2025-12-01"})
    );
    let years = app
        .get_json("/api/get_global_sum?model=hourly&time_group=year")
        .await;
    let hourly_2026_after_january: i64 = rows
        .iter()
        .filter(|r| r.start >= dt("2026-02-01 00:00:00"))
        .map(|r| model::metric(r, "primary"))
        .sum();
    assert_eq!(
        years,
        json!([{"total_sum": 1500, "time_group": "2025"}, {"total_sum": 900 + hourly_2026_after_january, "time_group": "2026"}])
    );
    for (from, to) in [
        (Some("2025-12-01"), None),
        (None, Some("2025-12-31")),
        (Some("2025-12-02"), Some("2026-03-01")),
    ] {
        let mut url = "/api/get_global_sum?model=hourly&time_group=month".to_string();
        if let Some(f) = from {
            url += &format!("&start_date={f}");
        }
        if let Some(t) = to {
            url += &format!("&end_date={t}");
        }
        let want = model::global_sum(
            &rows,
            &legacy,
            "month",
            "primary",
            (from.map(date), to.map(date)),
        );
        assert_eq!(app.get_json(&url).await, want, "{backend:?} {url}");
    }
    app.finish().await;
}

async fn the_answer_is_empty_without_data(backend: Backend) {
    let app = spawn_or_skip!(backend);
    assert_eq!(
        app.get_json("/api/get_global_sum?model=hourly&time_group=day")
            .await,
        json!([])
    );
    app.db
        .insert(&[Row::at(dt("2026-04-01 00:00:00"))
            .country("germany")
            .primary(3)
            .cross(1)])
        .await;
    assert_eq!(
        app.get_json("/api/get_global_sum?model=hourly&time_group=hour")
            .await,
        json!([{"total_sum": 3, "time_group": "2026-04-01T00:00:00Z"}])
    );
    app.finish().await;
}

backend_tests!(
    every_time_group_and_metric_matches_an_independent_sum,
    a_legacy_month_that_also_has_hourly_rows_is_counted_once,
    the_answer_is_empty_without_data,
);
