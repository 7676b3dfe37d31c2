//! Local time on every series (`timezone` on `get_data` and `get_global_sum`), ISO weeks, legacy
//! months at local month boundaries, the month still filling, and a daily answer that ends at
//! the newest hour of data. Every answer is compared with `model`, which computes it from the
//! inserted rows with chrono-tz alone.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::helpers::{Backend, Row, TestApp, date, dt};
use crate::model::{self, METRICS, TIME_GROUPS};
use crate::{backend_tests, spawn_or_skip};

/// Zones west and east of UTC, with DST either way, and :30 and :45 offsets (Lord Howe also
/// moves by half an hour for DST).
pub const ZONES: [&str; 8] = [
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
];

/// Every UTC hour of a few windows: a month boundary (January is a legacy month), New York's
/// 23-hour day, Berlin's and New York's 25-hour days, a year boundary. A few hours are empty,
/// a few rows are stamped inside their hour.
pub fn rows() -> Vec<Row> {
    let windows = [
        ("2026-01-30 00:00:00", 4 * 24),
        ("2026-03-07 00:00:00", 3 * 24),
        ("2026-10-24 00:00:00", 10 * 24),
        ("2026-12-31 00:00:00", 2 * 24),
    ];
    let cells = [
        ("cs.AI", "germany"),
        ("cs.AI", "india"),
        ("hep-th", "united states"),
        ("math.AG", "nepal"),
    ];
    let mut rows = Vec::new();
    for (start, hours) in windows {
        for h in 0..hours {
            if h % 17 == 9 {
                continue;
            }
            let mut hour = dt(start) + Duration::hours(h);
            if h % 11 == 4 {
                hour += Duration::minutes(30);
            }
            for (i, (category, country)) in cells.iter().enumerate() {
                let n = ((h * 13 + i as i64 * 7) % 97) as i32;
                rows.push(
                    Row::at(hour)
                        .category(category)
                        .country(country)
                        .download_type(["pdf", "html"][(h as usize + i) % 2])
                        .primary((h % 23 != 1 || i != 0).then_some(n))
                        .cross(n / 4),
                );
            }
        }
    }
    rows
}

/// Legacy months: one with no hourly rows, and January 2026, whose last local day in New York
/// ends in February's first UTC hours.
pub fn legacy() -> Vec<(NaiveDate, i64)> {
    vec![(date("2025-12-01"), 100), (date("2026-01-01"), 500_000)]
}

fn url(base: &str, zone: &str, range: (Option<&str>, Option<&str>)) -> String {
    let mut url = format!("{base}&timezone={zone}");
    if let Some(s) = range.0 {
        url += &format!("&start_date={s}");
    }
    if let Some(e) = range.1 {
        url += &format!("&end_date={e}");
    }
    url
}

/// The ranges the tests ask for, as local days.
pub const RANGES: [(Option<&str>, Option<&str>); 4] = [
    (None, None),
    (Some("2026-01-31"), Some("2026-02-01")),
    (Some("2026-11-01"), Some("2026-11-01")),
    (Some("2026-03-08"), None),
];

fn dates(range: (Option<&str>, Option<&str>)) -> (Option<NaiveDate>, Option<NaiveDate>) {
    (range.0.map(date), range.1.map(date))
}

/// Every local `get_global_sum` request of the tests, with the model's answer.
pub fn global_sum_cases(rows: &[Row], legacy: &[(NaiveDate, i64)]) -> Vec<(String, Value)> {
    let mut cases = Vec::new();
    for zone in ZONES {
        let tz: Tz = zone.parse().unwrap();
        for time_group in TIME_GROUPS {
            for metric in METRICS {
                for range in RANGES {
                    if metric != "primary" && range != RANGES[0] {
                        continue;
                    }
                    let base = format!(
                        "/api/get_global_sum?model=hourly&time_group={time_group}&metric={metric}"
                    );
                    let want =
                        model::global_sum_in(rows, legacy, time_group, metric, dates(range), tz);
                    cases.push((url(&base, zone, range), want));
                }
            }
        }
    }
    cases
}

/// Local `get_data` requests: every grouping with a time group, in a few zones, some with a
/// range and a filter.
pub fn get_data_cases(rows: &[Row]) -> Vec<(String, Value)> {
    let mut cases = Vec::new();
    for zone in ["America/New_York", "Asia/Kathmandu", "Europe/Berlin"] {
        let tz: Tz = zone.parse().unwrap();
        for (group_by, second, time_group) in model::groupings() {
            let Some(tg) = time_group else { continue };
            let base = model::data_url(group_by, second, time_group);
            let want =
                model::get_data_in(rows, group_by, second, Some(tg), "primary", tz, |_| true);
            cases.push((url(&base, zone, (None, None)), want));
        }
        for range in &RANGES[1..] {
            let (from, to) = dates(*range);
            let keep = |r: &Row| {
                let day = model::local_day(r.start, tz);
                from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t) && r.country != "india"
            };
            for tg in ["hour", "day", "week"] {
                let base = format!(
                    "/api/get_data?model=hourly&group_by=category&second_group_by=download_type&time_group={tg}&metric=total&country=germany,nepal,united%20states"
                );
                let want = model::get_data_in(
                    rows,
                    "category",
                    Some("download_type"),
                    Some(tg),
                    "total",
                    tz,
                    keep,
                );
                cases.push((url(&base, zone, *range), want));
            }
            // Local days without a time group.
            let base =
                "/api/get_data?model=hourly&group_by=country&country=germany,nepal,united%20states";
            let want = model::get_data_in(rows, "country", None, None, "primary", tz, keep);
            cases.push((url(base, zone, *range), want));
        }
    }
    cases
}

async fn check_all(app: &TestApp, cases: &[(String, Value)], backend: Backend) {
    for (url, want) in cases {
        assert_eq!(&app.get_json(url).await, want, "{backend:?} {url}");
    }
}

async fn local_global_sums_match_an_independent_computation_in_every_zone(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = rows();
    app.db.insert(&rows).await;
    app.db.insert_legacy(&legacy()).await;
    check_all(&app, &global_sum_cases(&rows, &legacy()), backend).await;
    app.finish().await;
}

async fn local_series_of_get_data_match_an_independent_computation(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = rows();
    app.db.insert(&rows).await;
    check_all(&app, &get_data_cases(&rows), backend).await;
    app.finish().await;
}

fn labels(answer: &Value) -> Vec<String> {
    model::sums(answer).into_iter().map(|(l, _)| l).collect()
}

async fn new_york_has_25_distinct_hours_on_the_fall_back_day_and_kathmandu_shows_45(
    backend: Backend,
) {
    let app = spawn_or_skip!(backend);
    let rows = rows();
    app.db.insert(&rows).await;
    let fall_back = app
        .get_json("/api/get_global_sum?model=hourly&time_group=hour&timezone=America/New_York&start_date=2026-11-01&end_date=2026-11-01")
        .await;
    let ny: Tz = "America/New_York".parse().unwrap();
    let one_day = (Some(date("2026-11-01")), Some(date("2026-11-01")));
    assert_eq!(
        fall_back,
        model::global_sum_in(&rows, &[], "hour", "primary", one_day, ny)
    );
    // 25 local hours, the repeated one told apart by its offset (two hours have no rows).
    let hours = labels(&fall_back);
    assert_eq!(hours.len(), 25 - 2, "{fall_back}");
    assert_eq!(
        hours[..3],
        [
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ]
    );
    let day = app
        .get_json("/api/get_global_sum?model=hourly&time_group=day&timezone=america/new_york&start_date=2026-11-01&end_date=2026-11-01")
        .await;
    let day_total: i64 = model::sums(&fall_back).iter().map(|(_, v)| v).sum();
    assert_eq!(
        day,
        json!([{"total_sum": day_total, "time_group": "2026-11-01"}])
    );
    let from = dt("2026-11-01 04:00:00");
    let independent: i64 = rows
        .iter()
        .filter(|r| r.start >= from && r.start < from + Duration::hours(25))
        .map(|r| model::metric(r, "primary"))
        .sum();
    assert_eq!(day_total, independent);
    // Berlin falls back too, east of UTC: its repeated hour sorts by time, not by label.
    let berlin = app
        .get_json("/api/get_global_sum?model=hourly&time_group=hour&timezone=Europe/Berlin&start_date=2026-10-25&end_date=2026-10-25")
        .await;
    let hours = labels(&berlin);
    let i = hours
        .iter()
        .position(|h| h == "2026-10-25T02:00:00+02:00")
        .unwrap();
    assert_eq!(hours[i + 1], "2026-10-25T02:00:00+01:00");
    // Kathmandu: every hour starts at :45; the old alias Asia/Katmandu is the same zone.
    let kathmandu = "/api/get_data?model=hourly&group_by=category&time_group=hour&start_date=2026-03-08&end_date=2026-03-08&timezone=Asia/Kathmandu";
    let answer = app.get_json(kathmandu).await;
    let times = answer[0]["time_group"].as_array().unwrap();
    assert_eq!(times[0], "2026-03-08T00:45:00+05:45");
    assert!(
        times
            .iter()
            .all(|t| t.as_str().unwrap().contains(":45:00+05:45"))
    );
    assert_eq!(
        app.get_json(&kathmandu.replace("Kathmandu", "Katmandu"))
            .await,
        answer
    );
    // A week starts on the local Monday: Sunday 2026-03-08 is in the week of 2026-03-02.
    let weeks = app
        .get_json("/api/get_global_sum?model=hourly&time_group=week&timezone=Asia/Kolkata&start_date=2026-03-01&end_date=2026-03-31")
        .await;
    assert_eq!(labels(&weeks), ["2026-03-02", "2026-03-09"]);
    app.finish().await;
}

async fn a_legacy_month_keeps_its_total_and_gains_the_local_edge_hours_of_the_next(
    backend: Backend,
) {
    let app = spawn_or_skip!(backend);
    let rows = rows();
    app.db.insert(&rows).await;
    app.db.insert_legacy(&legacy()).await;
    let sum = |from: &str, to: &str| -> i64 {
        rows.iter()
            .filter(|r| r.start >= dt(from) && r.start < dt(to))
            .map(|r| model::metric(r, "primary"))
            .sum()
    };
    // New York: February's first five UTC hours are still January 31st there.
    let ny = app
        .get_json("/api/get_global_sum?model=hourly&time_group=month&timezone=America/New_York&end_date=2026-02-28")
        .await;
    assert_eq!(
        ny,
        json!([
            {"total_sum": 100, "time_group": "2025-12-01"},
            {"total_sum": 500_000 + sum("2026-02-01 00:00:00", "2026-02-01 05:00:00"), "time_group": "2026-01-01"},
            {"total_sum": sum("2026-02-01 05:00:00", "2026-03-01 00:00:00"), "time_group": "2026-02-01"},
        ])
    );
    // Kathmandu: January's last UTC hours are February there, but they are inside the legacy
    // UTC month, so they are never counted.
    let kathmandu = app
        .get_json("/api/get_global_sum?model=hourly&time_group=month&timezone=Asia/Kathmandu&start_date=2026-01-01&end_date=2026-02-28")
        .await;
    assert_eq!(
        kathmandu,
        json!([
            {"total_sum": 500_000, "time_group": "2026-01-01"},
            {"total_sum": sum("2026-02-01 00:00:00", "2026-03-01 00:00:00"), "time_group": "2026-02-01"},
        ])
    );
    let years = app
        .get_json("/api/get_global_sum?model=hourly&time_group=year&timezone=America/Los_Angeles")
        .await;
    assert_eq!(
        years,
        json!([
            {"total_sum": 100, "time_group": "2025"},
            {"total_sum": 500_000 + sum("2026-02-01 00:00:00", "2027-01-01 08:00:00"), "time_group": "2026"},
            {"total_sum": sum("2027-01-01 08:00:00", "2027-01-02 00:00:00"), "time_group": "2027"},
        ])
    );
    app.finish().await;
}

async fn the_month_of_the_newest_hour_comes_from_the_hourly_table(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = rows();
    app.db.insert(&rows).await;
    // arXiv writes a month into monthly_downloads once it is complete; a row for the month still
    // filling (the newest hour is 2027-01-01 23:00) must not replace its hourly rows.
    let legacy = vec![(date("2026-01-01"), 500_000), (date("2027-01-01"), 999_999)];
    app.db.insert_legacy(&legacy).await;
    let newest: NaiveDateTime = rows.iter().map(|r| r.start).max().unwrap();
    assert_eq!(newest, dt("2027-01-01 23:00:00"));
    let january: i64 = rows
        .iter()
        .filter(|r| r.start >= dt("2027-01-01 00:00:00"))
        .map(|r| model::metric(r, "primary"))
        .sum();
    let months = app
        .get_json("/api/get_global_sum?model=hourly&time_group=month&start_date=2026-12-01")
        .await;
    assert_eq!(
        months[1],
        json!({"total_sum": january, "time_group": "2027-01-01"})
    );
    for zone in ["UTC", "America/New_York", "Asia/Kathmandu"] {
        for time_group in ["month", "year"] {
            let url =
                format!("/api/get_global_sum?model=hourly&time_group={time_group}&timezone={zone}");
            let tz: Tz = zone.parse().unwrap();
            let want =
                model::global_sum_in(&rows, &legacy, time_group, "primary", (None, None), tz);
            assert_eq!(app.get_json(&url).await, want, "{backend:?} {url}");
        }
    }
    app.finish().await;
}

async fn a_partly_ingested_day_ends_at_the_newest_hour(backend: Backend) {
    let app = spawn_or_skip!(backend);
    // 2026-06-15, ingested through 05:00 UTC; 03:00 has no rows (a real 0).
    let rows: Vec<Row> = [0, 1, 2, 4, 5]
        .into_iter()
        .map(|h| Row::at(dt("2026-06-15 00:00:00") + Duration::hours(h)).primary(h as i32 + 1))
        .collect();
    app.db.insert(&rows).await;
    let utc = app
        .get_json("/api/get_daily_downloads?timezone=UTC&date=2026-06-15")
        .await;
    let totals: Vec<i64> = utc
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["total_primary"].as_i64().unwrap())
        .collect();
    assert_eq!(totals, [1, 2, 3, 0, 5, 6], "{utc}");
    assert_eq!(utc[5]["start"], "2026-06-15T05:00:00+00:00");
    // Kathmandu: 2026-06-15 local started at 18:15 UTC the day before; it ends at 05:00 UTC.
    let kathmandu = app
        .get_json("/api/get_daily_downloads?timezone=Asia/Kathmandu&date=2026-06-15")
        .await;
    let entries = kathmandu.as_array().unwrap();
    assert_eq!(entries.len(), 5 + 6, "{kathmandu}");
    assert_eq!(
        entries.last().unwrap()["start"],
        "2026-06-15T10:45:00+05:45"
    );
    // New York: its 2026-06-15 starts at 04:00 UTC, so two hours are known.
    let ny = app
        .get_json("/api/get_daily_downloads?timezone=America/New_York&date=2026-06-15")
        .await;
    assert_eq!(
        ny,
        json!([
            {"hour": 1, "total_primary": 5, "start": "2026-06-15T00:00:00-04:00"},
            {"hour": 2, "total_primary": 6, "start": "2026-06-15T01:00:00-04:00"},
        ])
    );
    app.finish().await;
}

async fn local_time_in_csv_has_the_same_labels(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.db
        .insert(&[
            Row::at(dt("2026-11-01 05:00:00")).primary(2),
            Row::at(dt("2026-11-01 06:00:00")).primary(3),
        ])
        .await;
    let r = app
        .get(
            "/api/get_global_sum?model=hourly&time_group=hour&timezone=America/New_York&format=csv",
        )
        .await;
    assert_eq!(
        r.body,
        "time_group,total_sum\n2026-11-01T01:00:00-04:00,2\n2026-11-01T01:00:00-05:00,3\n"
    );
    let r = app
        .get("/api/get_data?model=hourly&group_by=country&time_group=week&timezone=Asia/Kolkata&format=csv")
        .await;
    assert_eq!(
        r.body,
        "country,time_group,data\nUnited States,2026-10-26,5\n"
    );
    app.finish().await;
}

backend_tests!(
    local_global_sums_match_an_independent_computation_in_every_zone,
    local_series_of_get_data_match_an_independent_computation,
    new_york_has_25_distinct_hours_on_the_fall_back_day_and_kathmandu_shows_45,
    a_legacy_month_keeps_its_total_and_gains_the_local_edge_hours_of_the_next,
    the_month_of_the_newest_hour_comes_from_the_hourly_table,
    a_partly_ingested_day_ends_at_the_newest_hour,
    local_time_in_csv_has_the_same_labels,
);
