//! Defects found by fuzzing, review and a first-time user, each reproduced before its fix:
//! bound text, cache memory and freshness, hour groups under a limit, rollups of nullable
//! archives, trailing spaces on MySQL, command arguments, CORS, auth, warming, ETags.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cache::metric;
use crate::helpers::{Backend, Row, dt, run_cli};
use crate::model;
use crate::{backend_tests, spawn_or_skip};

/// A row of the hourly table: pdf downloads of cs.AI in `country` unless said otherwise.
fn row(start: &str, country: &str, archive: Option<&str>, primary: i32) -> Row {
    Row {
        start: dt(start),
        category: "cs.AI".into(),
        archive: archive.map(Into::into),
        country: country.into(),
        download_type: "pdf".into(),
        primary: Some(primary),
        cross: Some(0),
    }
}

async fn control_characters_in_any_value_are_a_400_naming_the_parameter(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.db
        .insert(&[row("2026-03-01 10:00:00", "germany", Some("cs"), 1)])
        .await;
    for name in ["country", "category", "archive", "download_type"] {
        for value in ["a%00b", "%00", "x%0Ay", "%1F"] {
            let url = format!("/api/get_data?model=hourly&group_by=country&{name}={value}");
            let r = app.get(&url).await;
            assert_eq!(r.status, 400, "{backend:?} {url}: {}", r.body);
            let error = r.json()["error"].as_str().unwrap().to_string();
            assert!(
                error.contains(name) && error.contains("control characters"),
                "{backend:?} {url}: {error}"
            );
        }
    }
    let r = app.get("/api/get_daily_downloads?timezone=UTC%00").await;
    assert_eq!(r.status, 400, "{backend:?}: {}", r.body);
    app.finish().await;
}

async fn keys_count_in_the_cache_bound(backend: Backend) {
    let app = spawn_or_skip!(backend);
    // Twenty answers that match nothing, each keyed by 60 values of 60 characters: the keys
    // alone hold about 72 kB, the bodies ("[]") nothing.
    let mut key_bytes = 0;
    for n in 0..20 {
        let values: Vec<String> = (0..60)
            .map(|i| format!("{n:02}-{i:03}-{}", "x".repeat(52)))
            .collect();
        key_bytes += values.iter().map(String::len).sum::<usize>();
        let url = format!(
            "/api/get_data?model=hourly&group_by=archive&country={}",
            values.join(",")
        );
        let r = app.get(&url).await;
        assert_eq!(r.status, 200, "{backend:?}: {}", r.body);
    }
    let weighed = metric(&app, "stats_cache_bytes", &[]).await;
    assert!(
        weighed >= key_bytes as f64,
        "{backend:?}: {weighed} bytes weighed for {key_bytes} bytes of keys"
    );
    app.finish().await;
}

async fn a_limited_hourly_series_counts_hours_not_timestamps(backend: Backend) {
    // Three hours, one of them stamped at :00 and :30: three groups, within max_groups = 3.
    let app = spawn_or_skip!(backend, |s| s.server.max_groups = 3);
    let rows = vec![
        row("2026-03-01 10:00:00", "germany", Some("cs"), 1),
        row("2026-03-01 10:30:00", "germany", Some("cs"), 2),
        row("2026-03-01 11:00:00", "germany", Some("cs"), 4),
        row("2026-03-01 12:00:00", "germany", Some("cs"), 8),
    ];
    app.db.insert(&rows).await;
    let r = app
        .get("/api/get_data?model=hourly&group_by=download_type&time_group=hour")
        .await;
    assert_eq!(r.status, 200, "{backend:?}: {}", r.body);
    assert_eq!(
        r.json(),
        json!([{
            "download_type": "pdf",
            "time_group": ["2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"],
            "data": [3, 4, 8]
        }]),
        "{backend:?}"
    );
    // A fourth hour is one group too many.
    app.db
        .insert(&[row("2026-03-01 13:00:00", "germany", Some("cs"), 16)])
        .await;
    let r = app
        .get(
            "/api/get_data?model=hourly&group_by=download_type&time_group=hour&end_date=2026-03-02",
        )
        .await;
    assert_eq!(r.status, 422, "{backend:?}: {}", r.body);
    app.finish().await;
}

async fn rollups_take_a_category_whose_archive_is_null_in_some_hours(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = vec![
        row("2026-03-01 10:00:00", "germany", Some("cs"), 5),
        row("2026-03-01 11:00:00", "germany", None, 7),
        row("2026-03-02 09:00:00", "france", None, 11),
    ];
    app.db.insert(&rows).await;
    let output = run_cli(&app.db.url, &["refresh-rollups"]);
    assert!(
        output.status.success(),
        "{backend:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The watermark moved: the rollups hold the hours and answer from them.
    for (group_by, second) in [
        ("archive", None),
        ("archive", Some("country")),
        ("country", Some("archive")),
    ] {
        let url = model::data_url(group_by, second, Some("day"));
        let want = model::get_data(&rows, group_by, second, Some("day"), "primary", |_| true);
        assert_eq!(app.get_json(&url).await, want, "{backend:?} {url}");
    }
    app.finish().await;
}

async fn values_that_differ_by_trailing_spaces_stay_apart(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = [
        row("2026-03-01 10:00:00", "germany", Some("cs"), 3),
        row("2026-03-01 10:00:00", "germany ", Some("cs"), 5),
        row("2026-03-01 10:00:00", "germany", Some("cs "), 7),
    ];
    // The last row differs from the first only in archive, which is not in the key.
    app.db.insert(&rows[..2]).await;
    let mut other = rows[2].clone();
    other.category = "cs.LG".into();
    app.db.insert(std::slice::from_ref(&other)).await;
    let rows = vec![rows[0].clone(), rows[1].clone(), other];
    for url in [
        "/api/get_data?model=hourly&group_by=country",
        "/api/get_data?model=hourly&group_by=archive&second_group_by=country",
    ] {
        let (group_by, second) = if url.contains("second") {
            ("archive", Some("country"))
        } else {
            ("country", None)
        };
        let want = model::get_data(&rows, group_by, second, None, "primary", |_| true);
        assert_eq!(app.get_json(url).await, want, "{backend:?} {url}");
    }
    let filtered = app
        .get_json("/api/get_data?model=hourly&group_by=country&country=germany")
        .await;
    assert_eq!(
        filtered,
        json!([{"country": "Germany", "data": 10}]),
        "{backend:?}"
    );
    let output = run_cli(&app.db.url, &["refresh-rollups"]);
    assert!(
        output.status.success(),
        "{backend:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let want = model::get_data(&rows, "country", None, None, "primary", |_| true);
    assert_eq!(
        app.get_json("/api/get_data?model=hourly&group_by=country")
            .await,
        want,
        "{backend:?} with rollups"
    );
    app.finish().await;
}

async fn seed_demo_refuses_zero_days_before_touching_the_database(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.db.insert(&model::dataset()).await;
    let before = app.db.fingerprint().await;
    for args in [
        &["seed-demo", "--days", "0"][..],
        &["seed-demo", "--rows-per-hour", "0"],
        &["seed-demo", "--days", "-3"],
        &[
            "sql",
            "--runs",
            "0",
            "/api/get_data?model=hourly&group_by=country",
        ],
    ] {
        let output = run_cli(&app.db.url, args);
        assert!(!output.status.success(), "{backend:?} {args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("invalid value") || stderr.contains("unexpected argument"),
            "{backend:?} {args:?}: {stderr}"
        );
    }
    assert_eq!(app.db.fingerprint().await, before, "{backend:?}");
    let legacy = app
        .get_json("/api/get_global_sum?model=hourly&time_group=month")
        .await;
    assert_eq!(
        legacy,
        model::global_sum(&model::dataset(), &[], "month", "primary", (None, None)),
        "{backend:?}"
    );
    app.finish().await;
}

async fn a_cached_answer_names_the_newest_hour_of_the_table(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| s.cache.probe_interval =
        Duration::from_millis(200));
    app.db
        .insert(&[row("2026-03-01 10:00:00", "germany", Some("cs"), 1)])
        .await;
    // Once the probe has seen that row: its change would otherwise (rightly) drop the answer
    // cached before it was seen.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let url = "/api/get_data?model=hourly&group_by=country&end_date=2026-03-01";
    let first = app.get(url).await;
    assert_eq!(
        first.header("x-data-as-of"),
        Some("2026-03-01T10:00:00Z"),
        "{backend:?}"
    );
    app.db
        .insert(&[row("2026-03-05 07:00:00", "germany", Some("cs"), 1)])
        .await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let second = app.get(url).await;
    assert_eq!(
        (second.header("x-cache"), second.header("x-data-as-of")),
        (Some("HIT"), Some("2026-03-05T07:00:00Z")),
        "{backend:?}"
    );
    assert_eq!(first.body, second.body);
    app.finish().await;
}

async fn a_refusal_for_size_is_cached_like_an_answer(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| s.server.max_groups = 1);
    app.db
        .insert(&[
            row("2026-03-01 10:00:00", "germany", Some("cs"), 1),
            row("2026-03-01 10:00:00", "france", Some("cs"), 1),
        ])
        .await;
    let url = "/api/get_data?model=hourly&group_by=country";
    let queries = |app| async move {
        metric(
            app,
            "stats_db_query_duration_seconds_count",
            &["query=\"aggregate"],
        )
        .await
    };
    assert_eq!(app.get(url).await.status, 422, "{backend:?}");
    let after_first = queries(&app.server).await;
    let second = app.get(url).await;
    assert_eq!(second.status, 422, "{backend:?}");
    assert!(
        second.json()["error"]
            .as_str()
            .unwrap()
            .contains("max_groups")
    );
    assert_eq!(
        queries(&app.server).await,
        after_first,
        "{backend:?}: the refusal ran its query again"
    );
    app.finish().await;
}

async fn cors_preflights_may_ask_for_the_headers_a_dashboard_sends(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| s.cors.allowed_origins =
        vec!["https://dash.example".into()]);
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/get_data", app.address),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header(
                "Access-Control-Request-Headers",
                "x-request-id, if-none-match",
            )
            .send()
    };
    let ok = preflight("https://dash.example").await.unwrap();
    assert_eq!(ok.status(), 200, "{backend:?}");
    let allowed = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("x-request-id") && allowed.contains("if-none-match"),
        "{allowed}"
    );
    let refused = preflight("https://elsewhere.example").await.unwrap();
    assert_eq!(refused.status(), 400, "{backend:?}");
    let body: Value = refused.json().await.expect("a JSON refusal");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    app.finish().await;
}

async fn ops_accept_the_bearer_scheme_in_any_case_and_warm_zones_with_a_plus(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| {
        s.ops.token = Some("t0ken".into());
        s.cache.warm_timezones = vec!["Etc/GMT+5".into(), "UTC".into()];
    });
    app.db
        .insert(&[row("2026-03-01 10:00:00", "germany", Some("cs"), 1)])
        .await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = app
            .client
            .post(format!("{}/api/cache/warm", app.address))
            .header("Authorization", format!("{scheme} t0ken"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{backend:?} {scheme}");
        let body: Value = r.json().await.unwrap();
        let warmed = body["warmed"].as_array().unwrap();
        assert!(
            warmed.iter().all(|w| w["status"] == 200),
            "{backend:?}: {body}"
        );
    }
    app.finish().await;
}

async fn etags_are_a_specified_hash_of_the_body(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.db.insert(&model::dataset()).await;
    let r = app.get("/api/get_data?model=hourly&group_by=country").await;
    let want = format!(
        "\"{:032x}\"",
        xxhash_rust::xxh3::xxh3_128(r.body.as_bytes())
    );
    assert_eq!(r.header("etag"), Some(want.as_str()), "{backend:?}");
    app.finish().await;
}

async fn commands_say_once_what_is_wrong_with_the_database(backend: Backend) {
    let Some(db) = crate::helpers::TestDb::create(backend).await else {
        return;
    };
    if backend == Backend::Sqlite {
        db.drop_database().await;
        return;
    }
    let with = |f: &dyn Fn(&mut url::Url)| {
        let mut url = url::Url::parse(&db.url).unwrap();
        f(&mut url);
        url.to_string()
    };
    let cases = [
        (
            with(&|u| u.set_port(Some(1)).unwrap()),
            "cannot connect to 127.0.0.1:1",
        ),
        (
            with(&|u| u.set_username("nobody_here").unwrap()),
            "refused user \"nobody_here\"",
        ),
        (
            with(&|u| u.set_path("/no_such_database")),
            "has no database \"no_such_database\"",
        ),
    ];
    for (url, said) in cases {
        let output = run_cli(&url, &["migrate"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{backend:?} {url}");
        assert_eq!(
            stderr.matches(said).count(),
            1,
            "{backend:?} {url}: {stderr}"
        );
        assert!(!stderr.contains("timed out"), "{backend:?} {url}: {stderr}");
    }
    let output = run_cli(&db.url, &["--config-dir", "/no/such/dir", "migrate"]);
    assert_eq!(output.status.code(), Some(2), "{backend:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("/no/such/dir"));
    db.drop_database().await;
}

backend_tests!(
    commands_say_once_what_is_wrong_with_the_database,
    control_characters_in_any_value_are_a_400_naming_the_parameter,
    keys_count_in_the_cache_bound,
    a_limited_hourly_series_counts_hours_not_timestamps,
    rollups_take_a_category_whose_archive_is_null_in_some_hours,
    values_that_differ_by_trailing_spaces_stay_apart,
    seed_demo_refuses_zero_days_before_touching_the_database,
    a_cached_answer_names_the_newest_hour_of_the_table,
    a_refusal_for_size_is_cached_like_an_answer,
    cors_preflights_may_ask_for_the_headers_a_dashboard_sends,
    ops_accept_the_bearer_scheme_in_any_case_and_warm_zones_with_a_plus,
    etags_are_a_specified_hash_of_the_body,
);
