//! Outages, slow queries, hostile clients and least privilege.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use sea_orm::{ConnectionTrait, Database};

use crate::helpers::{Backend, Proxy, Response, TestDb, upstream, url_through};
use crate::model;
use crate::{backend_tests, spawn_or_skip};

/// What no error body may reveal.
fn assert_discreet(r: &Response, context: &str) {
    let lower = r.body.to_lowercase();
    for secret in [
        "select ",
        "postgres://",
        "mysql://",
        "stats_reader",
        "panicked",
        "sqlx",
        "127.0.0.1",
        "backtrace",
    ] {
        assert!(
            !lower.contains(secret),
            "{context}: {secret:?} in {}",
            r.body
        );
    }
}

async fn during_an_outage_cached_answers_turn_stale_and_others_fail_fast(backend: Backend) {
    let Some(upstream) = upstream(backend) else {
        return;
    };
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    db.insert(&model::dataset()).await;
    let proxy = Proxy::down(&upstream);
    proxy.restore().await;
    let server = {
        let mut settings = crate::helpers::test_settings(url_through(&db, &proxy));
        settings.database.acquire_timeout = Duration::from_secs(1);
        settings.cache.ttl = Duration::from_millis(300);
        settings.cache.recent_ttl = Duration::from_millis(300);
        settings.cache.stale_if_error = Duration::from_millis(1500);
        settings.cache.probe_interval = Duration::from_secs(3600);
        crate::helpers::start(settings).await
    };
    let cached = "/api/get_data?model=hourly&group_by=archive";
    let fresh = server.get(cached).await;
    assert_eq!((fresh.status, fresh.header("x-cache")), (200, Some("MISS")));
    proxy.cut();
    let cut_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stale = server.get(cached).await;
    assert_eq!(
        (stale.status, stale.header("x-cache")),
        (200, Some("STALE")),
        "{backend:?}: {}",
        stale.body
    );
    assert_eq!(stale.body, fresh.body);
    let started = Instant::now();
    let uncached = server
        .get("/api/get_data?model=hourly&group_by=country")
        .await;
    assert_eq!(uncached.status, 503, "{backend:?}: {}", uncached.body);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{backend:?}: took {:?}",
        started.elapsed()
    );
    assert!(uncached.json()["error"].is_string());
    assert_discreet(&uncached, "outage");
    // Past its lifetime plus stale_if_error, the cached answer is gone too.
    tokio::time::sleep(Duration::from_millis(2000).saturating_sub(cut_at.elapsed())).await;
    assert_eq!(
        server.get(cached).await.status,
        503,
        "{backend:?}: served past stale_if_error"
    );
    assert_eq!(server.get("/readyz").await.status, 503);
    proxy.restore().await;
    let mut recovered = false;
    for _ in 0..40 {
        if server
            .get("/api/get_data?model=hourly&group_by=country")
            .await
            .status
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        recovered,
        "{backend:?}: no recovery after the database came back"
    );
    assert_eq!(server.get(cached).await.header("x-cache"), Some("MISS"));
    drop(proxy);
    db.drop_database().await;
}

/// Statements still running on the server that read the slow view.
async fn running_slow_statements(db: &TestDb) -> i64 {
    let sql = match db.backend {
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE '%slow_hourly%' AND state = 'active' AND pid <> pg_backend_pid()"
        }
        _ => {
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%slow_hourly%' AND ID <> CONNECTION_ID()"
        }
    };
    let row = db
        .writer
        .query_one_raw(sea_orm::Statement::from_string(
            db.writer.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn a_query_past_the_statement_timeout_is_cancelled_and_answers_503(backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    db.insert(&model::dataset()).await;
    crate::helpers::create_slow_view(&db, 5).await;
    let server = {
        let mut settings = crate::helpers::test_settings(db.reader_url.clone());
        settings.database.table = "slow_hourly".into();
        settings.database.statement_timeout = Duration::from_millis(500);
        settings.cache.probe_interval = Duration::from_secs(3600);
        crate::helpers::start(settings).await
    };
    let started = Instant::now();
    let urls: Vec<String> = model::DIMENSIONS
        .iter()
        .flat_map(|d| {
            ["", "&metric=total"].map(|m| format!("/api/get_data?model=hourly&group_by={d}{m}"))
        })
        .collect();
    let responses = futures_util::future::join_all(urls.iter().map(|u| server.get(u))).await;
    for (url, r) in urls.iter().zip(&responses) {
        assert!(
            matches!(r.status, 503 | 504),
            "{backend:?} {url}: {} {}",
            r.status,
            r.body
        );
        assert!(r.json()["error"].is_string());
        assert_discreet(r, url);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{backend:?}: {:?} for 8 slow requests",
        started.elapsed()
    );
    // Cancelled on the server, not merely abandoned by the client.
    let mut still_running = running_slow_statements(&db).await;
    for _ in 0..20 {
        if still_running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        still_running = running_slow_statements(&db).await;
    }
    assert_eq!(
        still_running, 0,
        "{backend:?}: slow statements still running"
    );
    // The pool is not exhausted: its connections came back, idle and within the bound.
    let (mut open, mut idle) = (0.0, 0.0);
    for _ in 0..100 {
        open = crate::cache::metric(&server, "stats_db_pool_connections", &[]).await;
        idle = crate::cache::metric(&server, "stats_db_pool_idle_connections", &[]).await;
        if idle >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        open <= 4.0 && idle >= 1.0,
        "{backend:?}: {open} open, {idle} idle"
    );
    db.drop_database().await;
}

/// Query strings and headers from every corner: names the service knows and does not, values
/// that are valid, malformed, hostile, percent-escaped or not UTF-8.
/// (path, query parameters, headers)
type HostileRequest = (String, Vec<(String, String)>, Vec<(&'static str, String)>);

fn hostile_request() -> impl Strategy<Value = HostileRequest> {
    let names = prop_oneof![
        prop::sample::select(vec![
            "model",
            "group_by",
            "second_group_by",
            "time_group",
            "metric",
            "start_date",
            "end_date",
            "country",
            "category",
            "archive",
            "download_type",
            "timezone",
            "date",
            "format",
            "invalidate",
        ])
        .prop_map(String::from),
        "[a-z_]{1,12}",
        "[%&=+;A-Za-z0-9]{0,12}",
    ];
    let values = prop_oneof![
        prop::sample::select(vec![
            "hourly",
            "country",
            "download_type",
            "archive",
            "category",
            "year",
            "month",
            "day",
            "hour",
            "primary",
            "cross",
            "total",
            "2026-03-08",
            "2026-02-30",
            "9999-12-31",
            "0000-01-01",
            "UTC",
            "Asia/Kolkata",
            "csv",
            "json",
            "true",
            "united states",
            "C%C3%B4te",
            "%FF",
            "%C3%28",
            "%",
            "%%",
            "a\\,b",
            "\\",
            "'; DROP TABLE x;--",
            "1 OR 1=1",
            "%00",
            "",
        ])
        .prop_map(String::from),
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
        "[%0-9A-Fa-f&=+,]{0,40}",
    ];
    let path = prop::sample::select(vec![
        "/api/get_data",
        "/api/get_global_sum",
        "/api/get_daily_downloads",
        "/api/get_todays_downloads",
        "/api/get_submissions",
        "/api/cache/warm",
        "/readyz",
    ])
    .prop_map(String::from);
    let header_value = "[ -~]{0,60}";
    let headers = prop::collection::vec(
        (
            prop::sample::select(vec![
                "accept",
                "if-none-match",
                "x-request-id",
                "authorization",
                "origin",
            ]),
            header_value,
        ),
        0..4,
    );
    (path, prop::collection::vec((names, values), 0..8), headers)
}

async fn random_queries_and_headers_never_get_a_5xx(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| s.ops.token = Some("t0ken".into()));
    app.db.insert(&model::dataset()).await;
    let before = app.db.fingerprint().await;
    let strategy = hostile_request();
    let mut runner = TestRunner::deterministic();
    for case in 0..300 {
        let (path, params, headers) = strategy.new_tree(&mut runner).unwrap().current();
        let query: Vec<String> = params.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let url = format!("{}{path}?{}", app.address, query.join("&"));
        let mut request = app.client.get(&url);
        for (name, value) in &headers {
            request = request.header(*name, value.as_str());
        }
        let Ok(response) = request.send().await else {
            // reqwest refused to send it (an unparseable URL): nothing reached the service.
            continue;
        };
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let r = Response {
            status,
            headers: Default::default(),
            body,
        };
        assert!(
            status < 500,
            "{backend:?} case {case}: {status} for {url} {headers:?}: {}",
            r.body
        );
        if status >= 400 {
            assert!(r.json()["error"].is_string(), "{url}: {}", r.body);
        }
        assert_discreet(&r, &url);
    }
    assert_eq!(app.db.fingerprint().await, before);
    app.finish().await;
}

async fn overlong_requests_are_refused_with_4xx(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let long_query = format!(
        "/api/get_data?model=hourly&group_by=country&x={}",
        "a".repeat(9000)
    );
    let r = app.get(&long_query).await;
    assert_eq!(r.status, 414, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("longer than"));
    let r = app
        .client
        .get(format!(
            "{}/api/get_data?model=hourly&group_by=country",
            app.address
        ))
        .header("x-filler", "b".repeat(64 * 1024))
        .send()
        .await;
    let r = r.expect("an answer");
    assert_eq!(r.status().as_u16(), 431);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("bytes"), "{body}");
    app.finish().await;
}

async fn a_client_that_sends_its_request_too_slowly_is_cut_off(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| s.server.client_request_timeout =
        Duration::from_millis(500));
    let address = app.address.trim_start_matches("http://").to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // Half a request head, then silence.
        stream
            .write_all(b"GET /api/get_data?model=hourly&group_by=country HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        let result = stream.read_to_end(&mut buf);
        (
            result.is_ok(),
            String::from_utf8_lossy(&buf).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap();
    let (closed, answer, waited) = outcome;
    assert!(closed, "the connection stayed open");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    app.finish().await;
}

async fn the_service_user_can_only_select(backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let reader = Database::connect(db.reader_url.as_str()).await.unwrap();
    let attempts = [
        "INSERT INTO hourly_download_data (start_dttm, category, country, download_type) VALUES ('2026-01-01 00:00:00', 'x', 'y', 'pdf')",
        "DELETE FROM monthly_downloads",
        "CREATE TABLE intruder (id INT)",
    ];
    for sql in attempts {
        assert!(
            reader.execute_unprepared(sql).await.is_err(),
            "{backend:?}: the reader could run {sql}"
        );
    }
    assert!(
        reader
            .execute_unprepared("SELECT COUNT(*) FROM hourly_download_data")
            .await
            .is_ok()
    );
    db.drop_database().await;
}

backend_tests!(
    during_an_outage_cached_answers_turn_stale_and_others_fail_fast,
    a_query_past_the_statement_timeout_is_cancelled_and_answers_503,
    random_queries_and_headers_never_get_a_5xx,
    overlong_requests_are_refused_with_4xx,
    a_client_that_sends_its_request_too_slowly_is_cut_off,
    the_service_user_can_only_select,
);
