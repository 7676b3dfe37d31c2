//! `GET /api/get_data` against an independent computation over the inserted rows.

use serde_json::json;

use crate::helpers::{Backend, Row, dt};
use crate::model::{self, METRICS};
use crate::{backend_tests, spawn_or_skip};

async fn every_grouping_combination_matches_an_independent_sum(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = model::dataset();
    app.db.insert(&rows).await;
    for (group_by, second, time_group) in model::groupings() {
        let url = model::data_url(group_by, second, time_group);
        let got = app.get_json(&url).await;
        let want = model::get_data(&rows, group_by, second, time_group, "primary", |_| true);
        assert_eq!(got, want, "{backend:?} {url}");
    }
    app.finish().await;
}

async fn every_metric_matches_an_independent_sum(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = model::dataset();
    app.db.insert(&rows).await;
    for metric in METRICS {
        for (second, time_group) in [
            (None, None),
            (Some("category"), None),
            (None, Some("month")),
            (Some("archive"), Some("day")),
        ] {
            let mut url = format!(
                "/api/get_data?model=hourly_download_data&group_by=country&metric={metric}"
            );
            if let Some(s) = second {
                url += &format!("&second_group_by={s}");
            }
            if let Some(t) = time_group {
                url += &format!("&time_group={t}");
            }
            let want = model::get_data(&rows, "country", second, time_group, metric, |_| true);
            assert_eq!(app.get_json(&url).await, want, "{backend:?} {url}");
        }
    }
    app.finish().await;
}

async fn range_and_dimension_filters_select_exactly_the_matching_rows(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = model::dataset();
    app.db.insert(&rows).await;
    let in_days = |r: &Row, from: &str, to: &str| {
        let d = r.start.date().to_string();
        d.as_str() >= from && d.as_str() <= to
    };
    type Case = (&'static str, Box<dyn Fn(&Row) -> bool>);
    let cases: Vec<Case> = vec![
        (
            "&country=United%20States",
            Box::new(|r: &Row| r.country == "united states"),
        ),
        (
            "&country=germany,C%C3%B4te%20D'Ivoire",
            Box::new(|r: &Row| r.country == "germany" || r.country == "côte d'ivoire"),
        ),
        (
            "&category=cs.AI,hep-th",
            Box::new(|r: &Row| r.category == "cs.AI" || r.category == "hep-th"),
        ),
        (
            "&archive=cs&download_type=pdf",
            Box::new(|r: &Row| r.archive.as_deref() == Some("cs") && r.download_type == "pdf"),
        ),
        (
            "&start_date=2026-01-01",
            Box::new(|r: &Row| r.start >= dt("2026-01-01 00:00:00")),
        ),
        (
            "&end_date=2026-02-28",
            Box::new(|r: &Row| r.start < dt("2026-03-01 00:00:00")),
        ),
        (
            "&start_date=2026-03-01&end_date=2026-03-01",
            Box::new(move |r: &Row| in_days(r, "2026-03-01", "2026-03-01")),
        ),
        (
            "&start_date=2026-01-01&end_date=2026-03-07&country=germany&download_type=pdf,html",
            Box::new(move |r: &Row| {
                in_days(r, "2026-01-01", "2026-03-07")
                    && r.country == "germany"
                    && r.download_type != "src"
            }),
        ),
        ("&country=nowhere", Box::new(|_: &Row| false)),
        (
            "&country=x')%3B%20DROP%20TABLE%20hourly_download_data%3B--",
            Box::new(|_: &Row| false),
        ),
    ];
    for (filter, keep) in &cases {
        for (group_by, second, time_group) in [
            ("category", None, None),
            ("country", Some("download_type"), Some("day")),
        ] {
            let mut url = format!("/api/get_data?model=hourly&group_by={group_by}{filter}");
            if let Some(s) = second {
                url += &format!("&second_group_by={s}");
            }
            if let Some(t) = time_group {
                url += &format!("&time_group={t}");
            }
            let want = model::get_data(&rows, group_by, second, time_group, "primary", keep);
            assert_eq!(app.get_json(&url).await, want, "{backend:?} {url}");
        }
    }
    assert_eq!(app.db.fingerprint().await.0, rows.len() as i64);
    app.finish().await;
}

async fn countries_that_differ_only_by_case_or_accent_stay_apart(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let h = dt("2026-05-01 10:00:00");
    let rows = vec![
        Row::at(h).country("cote d'ivoire"),
        Row::at(h).country("côte d'ivoire").primary(10),
        Row::at(h).primary(100),
        Row::at(h).country("United States").primary(1000),
        Row::at(h).country("UNITED STATES").primary(10000),
    ];
    app.db.insert(&rows).await;
    let got = app
        .get_json("/api/get_data?model=hourly&group_by=country")
        .await;
    assert_eq!(
        got,
        json!([
            {"country": "United States", "data": 10000},
            {"country": "United States", "data": 1000},
            {"country": "Cote D'Ivoire", "data": 1},
            {"country": "Côte D'Ivoire", "data": 10},
            {"country": "United States", "data": 100},
        ]),
        "{backend:?}"
    );
    let got = app
        .get_json("/api/get_data?model=hourly&group_by=category&country=C%C3%B4te%20d'Ivoire")
        .await;
    assert_eq!(
        got,
        json!([{"category": "cs.AI", "data": 10}]),
        "{backend:?}"
    );
    app.finish().await;
}

async fn null_counts_count_as_zero_and_null_archives_are_null(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let h = dt("2026-05-01 10:00:00");
    let rows = vec![
        Row::at(h)
            .category("math.AG")
            .archive(None)
            .country("germany")
            .primary(None)
            .cross(None),
        Row::at(h).country("germany").primary(5).cross(None),
        Row::at(h)
            .category("cs.LG")
            .country("germany")
            .primary(None)
            .cross(2),
    ];
    app.db.insert(&rows).await;
    let got = app
        .get_json("/api/get_data?model=hourly&group_by=archive")
        .await;
    assert_eq!(
        got,
        json!([{"archive": null, "data": 0}, {"archive": "cs", "data": 5}]),
        "{backend:?}"
    );
    let got = app
        .get_json(
            "/api/get_data?model=hourly&group_by=archive&metric=total&second_group_by=category",
        )
        .await;
    assert_eq!(
        got,
        json!([{"archive": null, "category": ["math.AG"], "data": [0]}, {"archive": "cs", "category": ["cs.AI", "cs.LG"], "data": [5, 2]}]),
        "{backend:?}"
    );
    app.finish().await;
}

async fn answers_carry_the_newest_hour_as_data_as_of(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let empty = app.get("/api/get_data?model=hourly&group_by=country").await;
    assert_eq!((empty.status, empty.body.as_str()), (200, "[]"));
    assert_eq!(empty.header("x-data-as-of"), None, "{backend:?}");
    app.db.insert(&model::dataset()).await;
    // Another query than the first: the first one's empty answer may be cached.
    let r = app
        .get("/api/get_data?model=hourly&group_by=category")
        .await;
    assert_eq!(
        r.header("x-data-as-of"),
        Some("2026-03-08T08:00:00Z"),
        "{backend:?}"
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    // Every endpoint, whether its statement returned rows (which carry the newest hour) or
    // not (no rows in its range, or another table).
    for url in [
        "/api/get_global_sum?model=hourly&time_group=day",
        "/api/get_global_sum?model=hourly&time_group=month",
        "/api/get_daily_downloads?model=hourly&timezone=UTC&date=2026-03-08",
        "/api/get_daily_downloads?model=hourly&timezone=UTC&date=2020-03-08",
        "/api/get_data?model=hourly&group_by=country&start_date=2020-01-01&end_date=2020-01-31",
        "/api/get_submissions",
    ] {
        let r = app.get(url).await;
        assert_eq!(r.status, 200, "{backend:?} {url}");
        assert_eq!(
            r.header("x-data-as-of"),
            Some("2026-03-08T08:00:00Z"),
            "{backend:?} {url}"
        );
    }
    app.finish().await;
}

/// The points of a `get_data` answer: one per object, or one per entry of its `data` array.
fn points(answer: &serde_json::Value) -> usize {
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["data"].as_array().map_or(1, Vec::len))
        .sum()
}

/// `server.max_groups`: an answer of exactly the limit is served, one point more is a 422 that
/// says what to do, in JSON and in CSV, and the limit counts nested points, not objects.
async fn answers_larger_than_max_groups_are_refused_with_422(backend: Backend) {
    let rows = model::dataset();
    let url = model::data_url("category", Some("country"), Some("day"));
    let want = model::get_data(
        &rows,
        "category",
        Some("country"),
        Some("day"),
        "primary",
        |_| true,
    );
    let size = points(&want);
    assert!(size > want.as_array().unwrap().len(), "the case must nest");
    let at_limit = spawn_or_skip!(backend, |s| s.server.max_groups = size);
    at_limit.db.insert(&rows).await;
    assert_eq!(at_limit.get_json(&url).await, want, "{backend:?}");
    at_limit.finish().await;

    let below = spawn_or_skip!(backend, |s| s.server.max_groups = size - 1);
    below.db.insert(&rows).await;
    for url in [url.clone(), format!("{url}&format=csv")] {
        let r = below.get(&url).await;
        assert_eq!(r.status, 422, "{backend:?} {url}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let message = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            message.contains(&format!("more than {} groups", size - 1))
                && message.contains("narrow start_date"),
            "{backend:?}: {message}"
        );
    }
    // Smaller answers on the same instance are unaffected.
    let flat = model::get_data(&rows, "category", None, None, "primary", |_| true);
    assert_eq!(
        below
            .get_json(&model::data_url("category", None, None))
            .await,
        flat
    );
    below.finish().await;
}

backend_tests!(
    answers_larger_than_max_groups_are_refused_with_422,
    every_grouping_combination_matches_an_independent_sum,
    every_metric_matches_an_independent_sum,
    range_and_dimension_filters_select_exactly_the_matching_rows,
    countries_that_differ_only_by_case_or_accent_stay_apart,
    null_counts_count_as_zero_and_null_archives_are_null,
    answers_carry_the_newest_hour_as_data_as_of,
);
