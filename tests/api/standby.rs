//! The service on a PostgreSQL hot standby (streaming replication on loopback, a pair of the
//! test's own from `scripts/pg-standby.sh`): every endpoint and page answers what it answers on
//! the primary, nothing fails for the standby being read-only, the freshness probe works there,
//! and a new hour committed on the primary reaches an already cached answer within the
//! replication lag plus one probe interval.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::Value;
use stats_backend::stats::site::SitePath;

use crate::helpers::standby::Pair;
use crate::helpers::{Backend, Response, Row, Server, TABLE, run_cli, start, test_settings};
use crate::standby_tests;

/// The probe interval of both servers: short, so that the bound is tight.
const PROBE: Duration = Duration::from_millis(250);
/// What the bound allows beyond lag + probe interval: the probe's own query, the request that
/// sees the change, and a busy 2-core machine running the rest of the suite beside it.
const SLACK: Duration = Duration::from_millis(1500);
/// The longest any wait here may take.
const TIMEOUT: Duration = Duration::from_secs(30);
const TOKEN: &str = "standby-ops-token";
/// New hours committed on the primary, one after another.
const ROUNDS: usize = 3;

async fn scalar(db: &DatabaseConnection, sql: &str) -> String {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("one row");
    row.try_get_by_index::<String>(0).unwrap()
}

/// The primary's WAL position now, as text.
async fn wal_position(primary: &DatabaseConnection) -> String {
    scalar(primary, "SELECT pg_current_wal_lsn()::text").await
}

/// Waits until the standby has replayed the primary's WAL up to `lsn`; returns how long it took.
async fn replayed(standby: &DatabaseConnection, lsn: &str, since: Instant) -> Duration {
    let sql = format!("SELECT (pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn)::text");
    loop {
        if scalar(standby, &sql).await == "true" {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < TIMEOUT,
            "the standby has not replayed {lsn} after {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `url` with the user `user` (trust authentication: no password).
fn as_user(url: &str, user: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_username(user).unwrap();
    url.to_string()
}

/// A test server on `url`: the usual test settings, a short probe, the ops endpoints on.
async fn serve(url: String) -> Server {
    let mut settings = test_settings(url);
    settings.cache.probe_interval = PROBE;
    settings.ops.token = Some(TOKEN.into());
    start(settings).await
}

/// The page's "Current time in ..." line, which two servers write a minute apart at a minute's
/// turn, cut out.
fn without_clock(body: &str) -> String {
    const CLOCK: &str = "Current time in ";
    match body.find(CLOCK) {
        Some(at) => {
            let end = body[at..].find('<').map_or(body.len(), |e| at + e);
            format!("{}{}", &body[..at], &body[end..])
        }
        None => body.to_string(),
    }
}

/// Every data endpoint (each path of each, from the route table), every /stats page and CSV and
/// every dashboard view, with the parameters that take each through a different plan: time
/// groups, local zones, second dimensions, filters, metrics, CSV.
fn requests(newest: DateTime<Utc>) -> Vec<String> {
    let day = newest.date_naive();
    let from = day - chrono::Days::new(2);
    let new_york = newest.with_timezone(&chrono_tz::America::New_York);
    let mut list = stats_backend::cache::dashboard_requests(&[
        "UTC".into(),
        "America/New_York".into(),
        "Asia/Kolkata".into(),
    ]);
    list.extend(
        [
            "/api/get_data?model=hourly&group_by=country&second_group_by=download_type",
            "/api/get_data?model=hourly&group_by=archive&time_group=day",
            "/api/get_data?model=hourly&group_by=download_type&time_group=month&metric=total",
            "/api/get_data?model=hourly&group_by=country&country=germany,france&metric=cross",
            "/api/get_data?model=hourly&group_by=category&archive=cs&format=csv",
            "/api/get_global_sum?model=hourly&time_group=year",
            "/api/get_global_sum?model=hourly&time_group=week",
            "/api/get_global_sum?model=hourly&time_group=day",
            "/api/get_global_sum?model=hourly&time_group=hour",
            "/api/get_global_sum?model=hourly&time_group=day&timezone=America/New_York&metric=total",
            "/api/get_todays_downloads?model=hourly&timezone=UTC",
            "/api/get_submissions",
            "/api/get_submissions?time_group=year&format=csv",
            "/",
            "/?view=daily&timezone=Europe/Berlin",
            "/?view=monthly",
            "/?view=submissions",
            "/?view=country&metric=total",
            "/?view=category",
            "/?view=archive&second_group_by=download_type",
        ]
        .map(String::from),
    );
    list.extend([
        format!(
            "/api/get_data?model=hourly&group_by=category&time_group=hour&start_date={from}&end_date={day}"
        ),
        format!(
            "/api/get_data?model=hourly&group_by=archive&time_group=week&timezone=Asia/Kolkata&start_date={from}"
        ),
        format!("/api/get_daily_downloads?timezone=Asia/Kolkata&date={day}"),
        format!("/api/get_daily_downloads?timezone=America/New_York&date={from}&format=csv"),
    ]);
    for site in SitePath::ALL {
        let path = site.path();
        match site {
            SitePath::MonthlyDownloadsCsv => list.push(format!(
                "{path}?latest_hour={}",
                new_york.format("%Y%m%d%H")
            )),
            SitePath::Today | SitePath::HourlyRequestsCsv => {
                list.push(path.to_string());
                list.push(format!("{path}?date={}", new_york.format("%Y%m%d")));
            }
            _ => list.push(path.to_string()),
        }
    }
    list
}

/// The value of the counter line `name` in a Prometheus text, 0 when absent.
fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The hour series' labels in a `get_global_sum?time_group=hour` answer.
fn hours_of(response: &Response) -> Vec<String> {
    response
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time_group"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `path` on `server` until its hour series holds `label`; returns the answer and when.
async fn until_it_shows(
    server: &Server,
    path: &str,
    label: &str,
    since: Instant,
) -> (Response, Duration) {
    loop {
        let r = server.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        if hours_of(&r).iter().any(|h| h == label) {
            return (r, since.elapsed());
        }
        assert!(
            since.elapsed() < TIMEOUT,
            "{path}: no {label} after {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn a_hot_standby_answers_as_the_primary_and_serves_a_new_hour_within_lag_plus_a_probe(
    _backend: Backend,
) {
    let pair = tokio::task::spawn_blocking(Pair::start).await.unwrap();
    // Arrange, on the primary only, as an ingest would: schema, data, rollups.
    for args in [
        &["migrate"][..],
        &["seed-demo", "--days", "3", "--rows-per-hour", "40"],
        &["refresh-rollups"],
    ] {
        let out = run_cli(&pair.primary_url, args);
        assert!(
            out.status.success(),
            "{args:?} on the primary: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let primary = Database::connect(pair.primary_url.as_str()).await.unwrap();
    // The service's read-only user is created on the primary; the standby has it by replication.
    for sql in [
        "CREATE ROLE stats_reader LOGIN",
        "GRANT USAGE ON SCHEMA public TO stats_reader",
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO stats_reader",
    ] {
        primary.execute_unprepared(sql).await.unwrap();
    }
    let standby = Database::connect(pair.standby_url.as_str()).await.unwrap();
    let caught_up = replayed(&standby, &wal_position(&primary).await, Instant::now()).await;
    eprintln!("standby: caught up with the seeded primary {caught_up:?} after the last write");
    assert_eq!(
        scalar(&standby, "SELECT pg_is_in_recovery()::text").await,
        "true"
    );

    let on_primary = serve(as_user(&pair.primary_url, "stats_reader")).await;
    let on_standby = serve(as_user(&pair.standby_url, "stats_reader")).await;

    // The standby is ready, in the change-log mode: the log replicates with the table, and the
    // probe reads it there.
    let ready = on_standby.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["database"], "PostgreSQL", "{ready}");
    assert_eq!(ready["freshness"], "change log", "{ready}");
    assert_eq!(
        ready["data_as_of"],
        on_primary.get_json("/readyz").await["data_as_of"]
    );
    let newest: DateTime<Utc> = ready["data_as_of"].as_str().unwrap().parse().unwrap();

    // Every endpoint answers on the standby exactly what it answers on the primary.
    let list = requests(newest);
    for route in stats_backend::routes::table() {
        if let stats_backend::routes::Kind::Data(_) = route.kind {
            assert!(
                list.iter().any(|r| r.split('?').next() == Some(route.path)),
                "{} is not requested",
                route.path
            );
        }
    }
    for request in &list {
        let (a, b) = (on_primary.get(request).await, on_standby.get(request).await);
        assert_eq!(a.status, 200, "{request} on the primary: {}", a.body);
        assert_eq!(b.status, 200, "{request} on the standby: {}", b.body);
        assert_eq!(
            without_clock(&b.body),
            without_clock(&a.body),
            "{request}: the standby answers otherwise"
        );
        assert_eq!(
            b.header("x-data-as-of"),
            a.header("x-data-as-of"),
            "{request}"
        );
        if !b.body.contains("Current time in ") {
            assert_eq!(b.header("etag"), a.header("etag"), "{request}");
        }
        if request.starts_with("/api/") {
            let again = on_standby.get(request).await;
            assert_eq!(again.header("x-cache"), Some("HIT"), "{request}");
        }
    }
    eprintln!(
        "standby: {} requests answered the same on the standby as on the primary",
        list.len()
    );
    // Those answers hold data, not just agreement on nothing.
    for (request, at_least) in [
        ("/api/get_data?model=hourly&group_by=country", 10),
        ("/api/get_submissions", 1),
        ("/api/get_global_sum?model=hourly&time_group=month", 2),
    ] {
        let answer = on_standby.get_json(request).await;
        assert!(
            answer.as_array().unwrap().len() >= at_least,
            "{request}: {answer}"
        );
    }
    // Yesterday in New York (the site's zone) lies wholly inside the three seeded days.
    let yesterday = newest
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive()
        - chrono::Days::new(1);
    let requests_csv = on_standby
        .get(&format!(
            "{}?date={}",
            SitePath::HourlyRequestsCsv.path(),
            yesterday.format("%Y%m%d")
        ))
        .await;
    assert!(
        requests_csv.body.lines().count() > 20,
        "{}",
        requests_csv.body
    );
    // The standby answers from the rollups that refresh-rollups built on the primary.
    let plan = run_cli(
        &as_user(&pair.standby_url, "stats_reader"),
        &[
            "sql",
            "--plan",
            "--runs",
            "1",
            "/api/get_data?model=hourly&group_by=country",
        ],
    );
    let plan_text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(plan_text.contains("rollup_month_country"), "{plan_text}");
    // HEAD and the ops endpoints too; warming reads only.
    assert_eq!(
        on_standby
            .request(reqwest::Method::HEAD, "/stats/today")
            .await
            .status,
        200
    );
    let warmed: Value = on_standby
        .client
        .post(format!(
            "{}/api/cache/warm?invalidate=true",
            on_standby.address
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let warmed = warmed["warmed"].as_array().unwrap();
    assert!(!warmed.is_empty());
    for entry in warmed {
        assert_eq!(entry["status"], 200, "{entry}");
    }
    for path in ["/healthz", "/metrics", "/api/openapi.json"] {
        assert_eq!(on_standby.get(path).await.status, 200, "{path}");
    }

    // A new hour on the primary, ROUNDS times: each reaches the standby's cached answer within
    // the replication lag plus one probe interval (plus the slack), long before its 60 s TTL.
    let poll = "/api/get_global_sum?model=hourly&time_group=hour";
    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        // Cached (again: warming emptied the cache, and each round's hour drops it).
        on_standby.get(poll).await;
        let cached = on_standby.get(poll).await;
        assert_eq!(cached.header("x-cache"), Some("HIT"), "round {round}");
        let hour: NaiveDateTime = newest.naive_utc() + chrono::Duration::hours(round as i64);
        let label = format!("{}", hour.format("%Y-%m-%dT%H:00:00Z"));
        assert!(!hours_of(&cached).contains(&label));
        let invalidated = counter(
            &on_standby.get("/metrics").await.body,
            "stats_cache_invalidations_total{cause=\"hours\"}",
        );
        let row = Row::at(hour).country("germany").primary(7);
        stats_backend::write::insert_hourly(&primary, TABLE, &[row.record()])
            .await
            .unwrap();
        let committed = Instant::now();
        let lsn = wal_position(&primary).await;
        let (lag, (answer, arrived)) = tokio::join!(
            replayed(&standby, &lsn, committed),
            until_it_shows(&on_standby, poll, &label, committed),
        );
        eprintln!(
            "standby round {round}: replication lag {lag:?}, the new hour {label} in the \
             cached answer after {arrived:?} (probe interval {PROBE:?})"
        );
        assert!(
            arrived <= lag + PROBE + SLACK,
            "round {round}: {label} reached the cached answer after {arrived:?}, more than lag \
             {lag:?} + probe {PROBE:?} + slack {SLACK:?}"
        );
        assert_eq!(answer.header("x-cache"), Some("MISS"), "computed again");
        // The probe on the standby dropped it, and the primary's server agrees.
        assert!(
            counter(
                &on_standby.get("/metrics").await.body,
                "stats_cache_invalidations_total{cause=\"hours\"}"
            ) > invalidated
        );
        let (on_primary_answer, _) = until_it_shows(&on_primary, poll, &label, committed).await;
        assert_eq!(answer.body, on_primary_answer.body, "round {round}");
        rounds.push((lag, arrived));
    }
    let worst_lag = rounds.iter().map(|r| r.0).max().unwrap();
    let worst_arrival = rounds.iter().map(|r| r.1).max().unwrap();
    println!(
        "standby: over {ROUNDS} new hours, replication lag at most {worst_lag:?}, a new hour in \
         the cached answers at most {worst_arrival:?} after its commit (probe interval {PROBE:?})"
    );

    // Nothing the service did failed on the standby: no 5xx, no failed query, and no ERROR in
    // the standby's own log (a write would have said "read-only transaction" there).
    let metrics = on_standby.get("/metrics").await.body;
    for line in metrics.lines() {
        if line.starts_with("stats_http_requests_total") && line.contains("status=\"5") {
            panic!("a 5xx on the standby: {line}");
        }
        if line.starts_with("stats_db_errors_total") {
            assert!(
                line.ends_with(" 0"),
                "a failed query on the standby: {line}"
            );
        }
    }
    let log = pair.standby_log();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR:")).collect();
    assert!(errors.is_empty(), "the standby logged errors: {errors:#?}");
    // The write commands belong on the primary: on the standby they stop at the first write,
    // saying why, and change nothing.
    let refused = run_cli(&pair.standby_url, &["refresh-rollups"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("read-only transaction"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    primary.close().await.unwrap();
    standby.close().await.unwrap();
}

standby_tests!(a_hot_standby_answers_as_the_primary_and_serves_a_new_hour_within_lag_plus_a_probe);
