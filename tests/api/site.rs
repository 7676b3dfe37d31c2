//! The `/stats` site: its CSV endpoints byte for byte against sums computed here over the rows
//! the test inserted, its bad input, its headers, and its pages on a table created the way
//! arXiv creates it. Local time is America/New_York (the default `site.timezone`).

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::America::New_York;
use reqwest::Method;
use sea_orm::ConnectionTrait;

use crate::helpers::{Backend, Row, TestApp, date, dt, run_cli, thousands};
use crate::{backend_tests, spawn_or_skip};

/// Edge requests of a test: (UTC hour, source, count).
type Requests = Vec<(NaiveDateTime, u8, Option<i32>)>;

async fn insert_requests(app: &TestApp, rows: &Requests) {
    stats_backend::write::upsert_hourly_requests(&app.db.writer, rows)
        .await
        .expect("insert requests");
}

/// The CSV of the local New York day `day` (YYYY-MM-DD), computed from `rows` directly: the
/// source-0 rows whose New York date is that day, ascending, with arXiv's labels.
fn expected_requests_csv(rows: &Requests, day: &str) -> String {
    let mut picked: Vec<_> = rows
        .iter()
        .filter(|(_, source, _)| *source == 0)
        .map(|(utc, _, n)| (New_York.from_utc_datetime(utc), n.unwrap_or(0)))
        .filter(|(local, _)| local.format("%Y-%m-%d").to_string() == day)
        .collect();
    picked.sort_by_key(|(local, _)| *local);
    let mut csv = String::from("hour,requests\r\n");
    for (local, n) in picked {
        csv.push_str(&format!("{},{n}\r\n", local.format("%Y-%m-%d %H:%M:%S%:z")));
    }
    csv
}

async fn hourly_requests_are_the_rows_of_the_local_day(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let mut rows: Requests = Vec::new();
    // 2026-11-01 has 25 hours in New York (01:00 twice); 2026-03-08 has 23 (no 02:00). Every
    // UTC hour from the evening before to the morning after, but for one missing hour; a
    // second source the CSV must not show.
    for (first, hours) in [("2026-10-31 20:00:00", 40), ("2026-03-07 20:00:00", 38)] {
        for i in 0..hours {
            let hour = dt(first) + chrono::Duration::hours(i);
            // A missing hour, the day after the 25-hour one (which is complete).
            if hour == dt("2026-11-02 08:00:00") {
                continue;
            }
            // A NULL count counts 0.
            let count = (hour != dt("2026-11-01 10:00:00")).then_some(1000 + i as i32 * 7);
            rows.push((hour, 0, count));
            rows.push((hour, 1, Some(5)));
        }
    }
    insert_requests(&app, &rows).await;
    for (date, day, lines) in [
        ("20261101", "2026-11-01", 25),
        ("20260308", "2026-03-08", 23),
        ("20261102", "2026-11-02", 6),
        ("20260101", "2026-01-01", 0),
    ] {
        let r = app
            .get(&format!("/stats/get_hourly_requests?date={date}"))
            .await;
        assert_eq!(r.status, 200, "{date}: {}", r.body);
        assert!(
            r.header("content-type").unwrap().starts_with("text/csv"),
            "{date}"
        );
        let expected = expected_requests_csv(&rows, day);
        assert_eq!(r.body, expected, "{backend:?} {date}");
        assert_eq!(r.body.matches("\r\n").count(), lines + 1, "{date}");
    }
    // Both 01:00 of the fall-back day are there, told apart by their offsets.
    let fall = app
        .get("/stats/get_hourly_requests?date=20261101")
        .await
        .body;
    assert!(
        fall.contains("2026-11-01 01:00:00-04:00,") && fall.contains("2026-11-01 01:00:00-05:00,")
    );
    let spring = app
        .get("/stats/get_hourly_requests?date=20260308")
        .await
        .body;
    assert!(!spring.contains("2026-03-08 02:"), "{spring}");
    app.finish().await;
}

async fn monthly_downloads_run_through_the_local_latest_hour(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let legacy = [
        (date("2026-09-01"), 900_i64),
        (date("2026-10-01"), 1_000),
        (date("2026-11-01"), 1_100),
    ];
    app.db.insert_legacy(&legacy).await;
    let hourly = [
        ("2026-11-01 05:00:00", 2),
        ("2026-11-01 06:00:00", 3),
        ("2026-11-30 23:00:00", 5),
        ("2026-12-01 00:00:00", 7),
        ("2026-12-01 03:00:00", 11),
        ("2026-12-01 05:00:00", 13),
    ];
    let rows: Vec<Row> = hourly
        .iter()
        .map(|(h, n)| Row::at(dt(h)).primary(*n).cross(100))
        .collect();
    app.db.insert(&rows).await;
    // latest_hour (New York) -> the UTC hour it starts, worked out by hand.
    for (latest, utc) in [
        // 18:00 EST on Nov 30 is 23:00 UTC: November is the month still filling.
        ("2026113018", "2026-11-30 23:00:00"),
        // 19:00 EST is midnight UTC: December has begun in UTC, not yet in New York.
        ("2026113019", "2026-12-01 00:00:00"),
        ("2026113022", "2026-12-01 03:00:00"),
        // Midnight in New York: December has begun in both.
        ("2026120100", "2026-12-01 05:00:00"),
        // The fall-back day's first 01:00 (EDT) is 05:00 UTC.
        ("2026110101", "2026-11-01 05:00:00"),
        // October holds no hourly rows: it is left out.
        ("2026101512", "2026-10-15 16:00:00"),
    ] {
        let latest_utc = dt(utc);
        let month = latest_utc.date().format("%Y-%m-01").to_string();
        let mut expected = String::from("month,downloads\r\n");
        for (m, n) in &legacy {
            if m.format("%Y-%m-%d").to_string() < month {
                expected.push_str(&format!("{},{n}\r\n", m.format("%Y-%m-%d")));
            }
        }
        let current: Vec<i32> = hourly
            .iter()
            .filter(|(h, _)| {
                let h = dt(h);
                h.date().format("%Y-%m-01").to_string() == month && h <= latest_utc
            })
            .map(|(_, n)| *n)
            .collect();
        if !current.is_empty() {
            expected.push_str(&format!("{month},{}\r\n", current.iter().sum::<i32>()));
        }
        let r = app
            .get(&format!(
                "/stats/get_monthly_downloads?latest_hour={latest}"
            ))
            .await;
        assert_eq!(r.status, 200, "{latest}: {}", r.body);
        assert_eq!(r.body, expected, "{backend:?} latest_hour={latest}");
    }
    // The page's figure is the sum of its CSV, and its CSV link is the newest hour, local.
    let page = app.get("/stats/monthly_downloads").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("latest_hour=2026120100"),
        "05:00 UTC is midnight in New York: {}",
        page.body
    );
    let csv = app
        .get("/stats/get_monthly_downloads?latest_hour=2026120100")
        .await
        .body;
    let total: i64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 900 + 1000 + 1100 + 7 + 11 + 13);
    assert!(
        page.body.contains(&format!(">{}<", thousands(total))),
        "{}",
        page.body
    );
    app.finish().await;
}

async fn monthly_submissions_and_their_page(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let months = [
        (date("1991-08-01"), 200),
        (date("1991-09-01"), 300),
        (date("2026-10-01"), 25_000),
        // After today: listed in the CSV, not counted "as of today".
        (date("2099-01-01"), 1),
    ];
    crate::helpers::insert_submissions(&app.db, &months).await;
    let r = app.get("/stats/get_monthly_submissions").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        "month,submissions\r\n1991-08-01,200\r\n1991-09-01,300\r\n2026-10-01,25000\r\n2099-01-01,1\r\n"
    );
    let page = app.get("/stats/monthly_submissions").await;
    assert_eq!(page.status, 200);
    // The defaults: 156 deleted, 2,431 migrated.
    let total = 200 + 300 + 25_000 - 156;
    assert!(
        page.body.contains(&format!(">{}<", thousands(total))),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!(">{}<", thousands(total + 2431)))
    );
    app.finish().await;
}

async fn bad_input_is_a_400_that_names_the_format(backend: Backend) {
    let app = spawn_or_skip!(backend);
    for (url, says) in [
        ("/stats/get_hourly_requests?date=garbage", "YYYYMMDD"),
        ("/stats/get_hourly_requests?date=2026-11-05", "YYYYMMDD"),
        ("/stats/get_hourly_requests?date=20261301", "YYYYMMDD"),
        (
            "/stats/get_hourly_requests?date=20261105&date=20261106",
            "date",
        ),
        ("/stats/get_monthly_downloads", "latest_hour is required"),
        (
            "/stats/get_monthly_downloads?latest_hour=20261201",
            "YYYYMMDDHH",
        ),
        (
            "/stats/get_monthly_downloads?latest_hour=2026120124",
            "YYYYMMDDHH",
        ),
        (
            "/stats/get_monthly_downloads?latest_hour=2026030802",
            "skip",
        ),
        (
            "/stats/get_monthly_downloads?latest_hour=20261301%0012",
            "control",
        ),
    ] {
        let r = app.get(url).await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        let message = r.json()["error"].as_str().unwrap().to_string();
        assert!(message.contains(says), "{url}: {message}");
        if says.starts_with("YYYY") {
            assert!(message.contains("America/New_York"), "{url}: {message}");
        }
    }
    for url in [
        "/stats/today?date=garbage",
        "/stats/today?date=2026-11-05",
        "/stats/today?date=20261301",
    ] {
        let r = app.get(url).await;
        assert_eq!(r.status, 400, "{url}");
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(
            r.body.contains("YYYYMMDD") && r.body.contains("<html"),
            "{url}: {}",
            r.body
        );
    }
    // Whatever the values, a 4xx or a 200, never a 5xx.
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces = [
        "2026", "11", "01", "25", "99", "00", "-", "%00", "%20", "%FF", "é", "+", "&date=1", "0",
        "1", "3", "12", "31", "29", "02",
    ];
    for _ in 0..200 {
        let value: String = (0..next() % 6)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        for url in [
            format!("/stats/get_hourly_requests?date={value}"),
            format!("/stats/today?date={value}"),
            format!("/stats/get_monthly_downloads?latest_hour={value}"),
        ] {
            let status = app.get(&url).await.status;
            assert!(
                status == 200 || (400..500).contains(&status),
                "{url}: {status}"
            );
        }
    }
    // An empty date is today, as arXiv's service has it.
    assert_eq!(
        app.get("/stats/get_hourly_requests?date=").await.status,
        200
    );
    let unknown = app.get("/stats/nope").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("/stats/today"));
    for path in ["/stats/today", "/stats/get_monthly_submissions"] {
        let r = app.request(Method::POST, path).await;
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{path}");
    }
    app.finish().await;
}

async fn site_answers_carry_cache_and_cdn_headers(backend: Backend) {
    // The API allows one origin; the site is public to all.
    let app = spawn_or_skip!(backend, |s| s.cors.allowed_origins =
        vec!["https://dashboard.example".into()]);
    app.db
        .insert(&[Row::at(dt("2026-12-01 05:00:00")).primary(4)])
        .await;
    for (path, key) in [
        ("/stats/main", "stats main"),
        ("/stats/today?date=20261201", "stats today"),
        (
            "/stats/get_hourly_requests?date=20261201",
            "stats requests hourly",
        ),
        ("/stats/monthly_downloads", "stats downloads monthly"),
        (
            "/stats/get_monthly_downloads?latest_hour=2026120100",
            "stats downloads monthly",
        ),
        ("/stats/monthly_submissions", "stats submissions monthly"),
        (
            "/stats/get_monthly_submissions",
            "stats submissions monthly",
        ),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("surrogate-key"), Some(key), "{path}");
        let max_age = r
            .header("cache-control")
            .and_then(|v| v.strip_prefix("public, max-age="))
            .unwrap_or_else(|| panic!("{path}: {:?}", r.header("cache-control")))
            .to_string();
        assert_eq!(
            r.header("surrogate-control"),
            Some(format!("max-age={max_age}").as_str()),
            "{path}"
        );
        // "Today" and the series through the newest hour can still change: the recent lifetime.
        let limit = if path.contains("today") || path.contains("downloads") {
            60
        } else {
            3600
        };
        assert!(
            max_age.parse::<u64>().unwrap() <= limit,
            "{path}: {max_age}"
        );
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
        let etag = r.header("etag").unwrap().to_string();
        let again = app
            .client
            .get(format!("{}{path}", app.address))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        let head = app.request(Method::HEAD, path).await;
        assert_eq!((head.status, head.body.as_str()), (200, ""), "HEAD {path}");
        let foreign = app
            .client
            .get(format!("{}{path}", app.address))
            .header("Origin", "https://elsewhere.example")
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status(), 200, "{path} from another origin");
        assert_eq!(
            foreign
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("*"),
            "{path}"
        );
    }
    app.finish().await;
}

/// The pages on the tables as arXiv defines them: `hourly_downloads` with nullable archive and
/// counts and the key (start_dttm, category, country, download_type), created by hand.
async fn pages_read_a_table_created_the_way_arxiv_creates_it(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| s.database.table = "hourly_downloads".into());
    let datetime = if backend == Backend::Postgres {
        "TIMESTAMP"
    } else {
        "DATETIME"
    };
    app.db
        .writer
        .execute_unprepared(&format!(
            "CREATE TABLE hourly_downloads (start_dttm {datetime} NOT NULL, \
             category VARCHAR(32) NOT NULL, archive VARCHAR(16), country VARCHAR(255) NOT NULL, \
             download_type VARCHAR(16) NOT NULL, primary_count INT, cross_count INT, \
             PRIMARY KEY (start_dttm, category, country, download_type))"
        ))
        .await
        .unwrap();
    if backend == Backend::Postgres {
        app.db
            .writer
            .execute_unprepared("GRANT SELECT ON hourly_downloads TO stats_reader")
            .await
            .unwrap();
    }
    app.db
        .writer
        .execute_unprepared(
            "INSERT INTO hourly_downloads VALUES \
             ('2026-12-01 04:00:00', 'cs.AI', NULL, 'germany', 'pdf', 40, NULL), \
             ('2026-12-01 05:00:00', 'hep-th', 'hep-th', 'india', 'html', NULL, 3), \
             ('2026-12-01 05:00:00', 'cs.LG', 'cs', 'india', 'pdf', 2, 1)",
        )
        .await
        .unwrap();
    let page = app.get("/stats/monthly_downloads").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("latest_hour=2026120100"),
        "{}",
        page.body
    );
    let csv = app
        .get("/stats/get_monthly_downloads?latest_hour=2026120100")
        .await;
    assert_eq!(csv.body, "month,downloads\r\n2026-12-01,42\r\n");
    for path in ["/stats/main", "/stats/today", "/stats/monthly_submissions"] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
    // A schema without the edge-request tables: the today page has no data, it is no error.
    app.db
        .writer
        .execute_unprepared("DROP TABLE hourly_requests")
        .await
        .unwrap();
    let today = app.get("/stats/today?date=20261130").await;
    assert_eq!(today.status, 200, "{}", today.body);
    assert!(today.body.contains("No data currently available."));
    app.finish().await;
}

/// Runs `import-requests` on a file holding `text`; the command's output.
fn import_requests(app: &TestApp, dir: &std::path::Path, text: &str) -> std::process::Output {
    let file = dir.join(format!("requests-{}.csv", text.len()));
    std::fs::write(&file, text).unwrap();
    run_cli(&app.db.url, &["import-requests", file.to_str().unwrap()])
}

async fn import_requests_upserts_and_a_bad_file_changes_nothing(backend: Backend) {
    // No cache: every request reads what the imports left.
    let app = spawn_or_skip!(backend, |s| s.cache.enabled = false);
    let dir = tempfile::tempdir().unwrap();
    let header = "start_dttm,source_id,request_count\n";
    let out = import_requests(
        &app,
        dir.path(),
        &format!("{header}2026-12-01 05:00:00,0,100\n2026-12-01 06:00:00,0,200\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same hour again would replace it; a bad line later in the file stops all of it.
    let out = import_requests(
        &app,
        dir.path(),
        &format!("{header}2026-12-01 05:00:00,0,999\n2026-12-01 07:30:00,0,5\n"),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("start_dttm"),
        "{stderr}"
    );
    let url = "/stats/get_hourly_requests?date=20261201";
    assert_eq!(
        app.get(url).await.body,
        "hour,requests\r\n2026-12-01 00:00:00-05:00,100\r\n2026-12-01 01:00:00-05:00,200\r\n"
    );
    let out = import_requests(
        &app,
        dir.path(),
        &format!("{header}2026-12-01 05:00:00,0,150\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        app.get(url).await.body,
        "hour,requests\r\n2026-12-01 00:00:00-05:00,150\r\n2026-12-01 01:00:00-05:00,200\r\n"
    );
    app.finish().await;
}

/// A rewrite of an edge-request hour of a past day, which no downloads change covers, is served
/// within one probe interval, not after the cached answer's hour.
async fn a_rewritten_request_hour_is_served_within_a_probe_interval(backend: Backend) {
    let app = spawn_or_skip!(backend, |s| s.cache.probe_interval =
        std::time::Duration::from_millis(200));
    app.db
        .insert(&[Row::at(dt("2026-12-01 05:00:00")).primary(4)])
        .await;
    let hour = dt("2026-11-20 15:00:00");
    insert_requests(&app, &vec![(hour, 0, Some(10))]).await;
    let url = "/stats/get_hourly_requests?date=20261120";
    let first = app.get(url).await;
    assert_eq!(
        first.body,
        "hour,requests\r\n2026-11-20 10:00:00-05:00,10\r\n"
    );
    assert_eq!(app.get(url).await.header("x-cache"), Some("HIT"));
    insert_requests(&app, &vec![(hour, 0, Some(11))]).await;
    let started = std::time::Instant::now();
    loop {
        let r = app.get(url).await;
        if r.body.ends_with(",11\r\n") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{backend:?}: still {:?} after 5 s",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.finish().await;
}

backend_tests!(
    a_rewritten_request_hour_is_served_within_a_probe_interval,
    hourly_requests_are_the_rows_of_the_local_day,
    monthly_downloads_run_through_the_local_latest_hour,
    monthly_submissions_and_their_page,
    bad_input_is_a_400_that_names_the_format,
    site_answers_carry_cache_and_cdn_headers,
    pages_read_a_table_created_the_way_arxiv_creates_it,
    import_requests_upserts_and_a_bad_file_changes_nothing,
);
