//! The answer cache: hits, single-flight misses, TTLs, the freshness probe, ETags, the byte
//! bound, the warm endpoint and the metrics that show it all.

use std::time::Duration;

use crate::helpers::{Backend, Row, Server, dt};
use crate::model;
use crate::{backend_tests, spawn_or_skip};

/// The value of the first sample of `name` whose labels contain every one of `labels`.
pub async fn metric(server: &Server, name: &str, labels: &[&str]) -> f64 {
    let text = server.get("/metrics").await.body;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            (series == name || series.starts_with(&format!("{name}{{")))
                && labels.iter().all(|x| series.contains(x))
        })
        .and_then(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0.0)
}

async fn a_repeated_request_is_a_hit_with_the_same_bytes(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.db.insert(&model::dataset()).await;
    let url = "/api/get_data?model=hourly&group_by=category&second_group_by=country";
    let first = app.get(url).await;
    let second = app.get(url).await;
    assert_eq!((first.status, first.header("x-cache")), (200, Some("MISS")));
    assert_eq!(
        (second.status, second.header("x-cache")),
        (200, Some("HIT"))
    );
    assert_eq!(first.body, second.body);
    assert_eq!(first.header("etag"), second.header("etag"));
    // Equal after normalization: the default model and metric, parameter order, empty values.
    let same = app.get("/api/get_data?second_group_by=country&metric=primary&group_by=category&model=hourly_download_data&time_group=").await;
    assert_eq!(same.header("x-cache"), Some("HIT"));
    assert!(
        second
            .header("cache-control")
            .unwrap()
            .starts_with("public, max-age=")
    );
    app.finish().await;
}

async fn concurrent_identical_cold_requests_run_one_query(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.db.insert(&model::dataset()).await;
    let before = metric(
        &app,
        "stats_db_query_duration_seconds_count",
        &["query=\"aggregate\""],
    )
    .await;
    let url = "/api/get_global_sum?model=hourly&time_group=day&metric=total";
    let requests = (0..50).map(|_| app.get(url));
    let responses = futures_util::future::join_all(requests).await;
    assert!(
        responses
            .iter()
            .all(|r| r.status == 200 && r.body == responses[0].body)
    );
    let after = metric(
        &app,
        "stats_db_query_duration_seconds_count",
        &["query=\"aggregate\""],
    )
    .await;
    assert_eq!(
        after - before,
        1.0,
        "{backend:?}: aggregate queries for 50 concurrent requests"
    );
    app.finish().await;
}

async fn recent_answers_expire_after_recent_ttl_and_older_ones_do_not(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| {
        s.cache.recent_ttl = Duration::from_millis(400);
        s.cache.ttl = Duration::from_secs(3600);
    });
    app.db.insert(&model::dataset()).await;
    let recent = "/api/get_data?model=hourly&group_by=archive";
    let older = "/api/get_data?model=hourly&group_by=archive&end_date=2026-01-31";
    for url in [recent, older] {
        assert_eq!(app.get(url).await.header("x-cache"), Some("MISS"));
        assert_eq!(app.get(url).await.header("x-cache"), Some("HIT"));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        app.get(recent).await.header("x-cache"),
        Some("MISS"),
        "{backend:?}"
    );
    let old = app.get(older).await;
    assert_eq!(old.header("x-cache"), Some("HIT"), "{backend:?}");
    let max_age: u64 = old
        .header("cache-control")
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age > 3500, "{max_age}");
    app.finish().await;
}

async fn rows_of_a_new_hour_are_served_within_one_probe_interval(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| {
        s.cache.probe_interval = Duration::from_millis(200);
        s.cache.recent_ttl = Duration::from_secs(3600);
    });
    let mut rows = model::dataset();
    app.db.insert(&rows).await;
    let url = "/api/get_global_sum?model=hourly&time_group=day";
    assert_eq!(
        app.get_json(url).await,
        model::global_sum(&rows, &[], "day", "primary", (None, None))
    );
    // Let the probe take its first fingerprint.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let new_hour = vec![
        Row::at(dt("2026-03-08 09:00:00"))
            .country("germany")
            .primary(4242)
            .cross(1),
    ];
    app.db.insert(&new_hour).await;
    rows.extend(new_hour);
    let want = model::global_sum(&rows, &[], "day", "primary", (None, None));
    let started = std::time::Instant::now();
    loop {
        let r = app.get(url).await;
        if r.json() == want {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{backend:?}: still stale after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        started.elapsed() < Duration::from_millis(200 * 2 + 500),
        "{backend:?}: {:?}",
        started.elapsed()
    );
    app.finish().await;
}

async fn a_matching_etag_gets_304(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.db.insert(&model::dataset()).await;
    let url = format!(
        "{}/api/get_global_sum?model=hourly&time_group=month",
        app.address
    );
    let first = app.client.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = app
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.text().await.unwrap().is_empty());
    let other = app
        .client
        .get(&url)
        .header("If-None-Match", "\"nope\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    app.finish().await;
}

async fn the_cache_stays_within_max_bytes(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| s.cache.max_bytes = 8_000);
    app.db.insert(&model::dataset()).await;
    let mut filled = 0;
    for dim in model::DIMENSIONS {
        for second in model::DIMENSIONS.iter().filter(|d| **d != dim) {
            for tg in model::TIME_GROUPS {
                let r = app.get(&format!("/api/get_data?model=hourly&group_by={dim}&second_group_by={second}&time_group={tg}")).await;
                filled += r.body.len();
            }
        }
    }
    assert!(filled > 4 * 8_000, "filled only {filled} bytes");
    let bytes = metric(&app, "stats_cache_bytes", &[]).await;
    let entries = metric(&app, "stats_cache_entries", &[]).await;
    assert!(
        bytes <= 8_000.0 && entries >= 1.0,
        "{backend:?}: {bytes} bytes in {entries} entries"
    );
    app.finish().await;
}

async fn the_warm_endpoint_is_off_without_a_token_and_guarded_with_one(backend: Backend) {
    let off = spawn_or_skip!(backend);
    let r = off.request(reqwest::Method::POST, "/api/cache/warm").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    off.finish().await;

    let app = spawn_or_skip!(backend, |s| {
        s.ops.token = Some("s3cret-token".into());
        s.cache.warm_timezones = vec!["UTC".into(), "Asia/Kolkata".into()];
    });
    app.db.insert(&model::dataset()).await;
    let url = format!("{}/api/cache/warm", app.address);
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer s3cret-toke"),
        Some("s3cret-token"),
    ] {
        let mut request = app.client.post(&url);
        if let Some(a) = auth {
            request = request.header("Authorization", a);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert!(r.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    }
    let warm = |query: &'static str| {
        app.client
            .post(format!("{url}{query}"))
            .bearer_auth("s3cret-token")
            .send()
    };
    let first: serde_json::Value = warm("").await.unwrap().json().await.unwrap();
    let warmed = first["warmed"].as_array().unwrap();
    assert_eq!(warmed.len(), 6, "{first}");
    assert!(
        warmed
            .iter()
            .all(|w| w["status"] == 200 && w["cache"] == "MISS" && w["milliseconds"].is_number()),
        "{first}"
    );
    assert!(warmed.iter().any(|w| w["request"] == "/api/get_todays_downloads?model=hourly&timezone=Asia/Kolkata"));
    let second: serde_json::Value = warm("").await.unwrap().json().await.unwrap();
    assert!(
        second["warmed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["cache"] == "HIT"),
        "{second}"
    );
    assert_eq!(
        app.get("/api/get_data?model=hourly&group_by=country")
            .await
            .header("x-cache"),
        Some("HIT")
    );
    let third: serde_json::Value = warm("?invalidate=true")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(third["invalidated"], true);
    assert!(
        third["warmed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["cache"] == "MISS"),
        "{third}"
    );
    assert_eq!(warm("?invalidate=maybe").await.unwrap().status(), 400);
    assert_eq!(app.get("/api/cache/warm").await.status, 405);
    app.finish().await;
}

async fn metrics_move_as_requests_are_made(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let labels = ["route=\"/api/get_data\"", "status=\"200\""];
    let before = metric(&app, "stats_http_requests_total", &labels).await;
    for _ in 0..3 {
        app.get("/api/get_data?model=hourly&group_by=country").await;
    }
    app.get("/api/get_data?model=hourly").await;
    assert_eq!(
        metric(&app, "stats_http_requests_total", &labels).await - before,
        3.0
    );
    assert_eq!(
        metric(
            &app,
            "stats_http_requests_total",
            &["route=\"/api/get_data\"", "status=\"400\""]
        )
        .await,
        1.0
    );
    assert!(metric(&app, "stats_cache_requests_total", &["result=\"hit\""]).await >= 2.0);
    assert!(
        metric(
            &app,
            "stats_http_request_duration_seconds_count",
            &["route=\"/api/get_data\""]
        )
        .await
            >= 4.0
    );
    assert!(metric(&app, "stats_db_pool_connections", &[]).await >= 1.0);
    let text = app.get("/metrics").await;
    assert!(
        text.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    app.finish().await;
}

backend_tests!(
    a_repeated_request_is_a_hit_with_the_same_bytes,
    concurrent_identical_cold_requests_run_one_query,
    recent_answers_expire_after_recent_ttl_and_older_ones_do_not,
    rows_of_a_new_hour_are_served_within_one_probe_interval,
    a_matching_etag_gets_304,
    the_cache_stays_within_max_bytes,
    the_warm_endpoint_is_off_without_a_token_and_guarded_with_one,
    metrics_move_as_requests_are_made,
);
