//! `GET /api/get_daily_downloads` (and its alias): local days in any time zone, DST days,
//! half-hour and 45-minute zones, zero-filled hours, hours not yet started, days without data.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::helpers::{Backend, Row, TestApp, date};
use crate::{backend_tests, model, spawn_or_skip};

/// Rows in every UTC hour from two days before to two days after `day`, several per hour,
/// except a few hours left empty to check zero-filling.
fn rows_around(day: NaiveDate) -> Vec<Row> {
    let start = (day - Duration::days(2)).and_hms_opt(0, 0, 0).unwrap();
    let mut rows = Vec::new();
    for h in 0..(5 * 24) {
        if h % 13 == 5 {
            continue;
        }
        let hour = start + Duration::hours(h);
        for (i, country) in ["germany", "india", "united states"].iter().enumerate() {
            let n = ((h * 7 + i as i64 * 3) % 50) as i32;
            rows.push(
                Row::at(hour)
                    .country(country)
                    .primary((i != 1 || h % 5 != 0).then_some(n))
                    .cross(1),
            );
        }
    }
    rows
}

/// The expected answer, computed from the rows: every UTC hour whose local start falls on the
/// day, has started by `now` and does not start after the newest row, with the rows of that
/// hour summed.
fn expected(rows: &[Row], tz: Tz, day: NaiveDate, now: DateTime<Utc>) -> Value {
    let mut entries = Vec::new();
    let from = (day - Duration::days(2))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let any_rows = rows
        .iter()
        .any(|r| r.start.and_utc().with_timezone(&tz).date_naive() == day);
    if !any_rows {
        return json!([]);
    }
    // Hours after the newest hour of data are not ingested yet: absent (SPEC, since issue 15).
    let newest = rows
        .iter()
        .map(|r| hour_of(r.start))
        .max()
        .unwrap()
        .and_utc();
    for h in 0..(5 * 24) {
        let utc = from + Duration::hours(h);
        let local = utc.with_timezone(&tz);
        if local.date_naive() != day || utc > now || utc > newest {
            continue;
        }
        let total: i64 = rows
            .iter()
            .filter(|r| hour_of(r.start).and_utc() == utc)
            .map(|r| i64::from(r.primary.unwrap_or(0)))
            .sum();
        entries.push(json!({
            "hour": local.hour() + 1,
            "total_primary": total,
            "start": local.to_rfc3339_opts(SecondsFormat::Secs, false),
        }));
    }
    Value::Array(entries)
}

/// Start of the hour a time falls in.
fn hour_of(t: NaiveDateTime) -> NaiveDateTime {
    t.date().and_hms_opt(t.hour(), 0, 0).unwrap()
}

async fn check_day(app: &TestApp, rows: &[Row], zone: &str, day: &str, entries: usize) {
    let tz: Tz = zone.parse().unwrap();
    let url = format!("/api/get_daily_downloads?model=hourly&timezone={zone}&date={day}");
    let got = app.get_json(&url).await;
    assert_eq!(got, expected(rows, tz, date(day), Utc::now()), "{url}");
    assert_eq!(got.as_array().unwrap().len(), entries, "{url}");
}

async fn local_days_match_the_rows_in_every_kind_of_zone(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let days = [
        "2026-03-08",
        "2026-03-29",
        "2026-10-25",
        "2026-11-01",
        "2026-06-15",
    ];
    let mut rows = Vec::new();
    for d in days {
        rows.extend(rows_around(date(d)));
    }
    rows.sort_by(|a, b| (a.start, &a.country).cmp(&(b.start, &b.country)));
    rows.dedup_by(|a, b| (a.start, &a.country) == (b.start, &b.country));
    app.db.insert(&rows).await;
    // Spring forward: 23 entries, the skipped local hour absent; fall back: 25, twice hour 2.
    check_day(&app, &rows, "America/New_York", "2026-03-08", 23).await;
    check_day(&app, &rows, "America/New_York", "2026-11-01", 25).await;
    check_day(&app, &rows, "Europe/Berlin", "2026-03-29", 23).await;
    check_day(&app, &rows, "Europe/Berlin", "2026-10-25", 25).await;
    check_day(&app, &rows, "UTC", "2026-06-15", 24).await;
    check_day(&app, &rows, "Asia/Kolkata", "2026-06-15", 24).await;
    check_day(&app, &rows, "Asia/Kathmandu", "2026-06-15", 24).await;
    check_day(&app, &rows, "Australia/Sydney", "2026-06-15", 24).await;
    let kolkata = app
        .get_json("/api/get_daily_downloads?timezone=Asia/Kolkata&date=2026-06-15")
        .await;
    assert_eq!(kolkata[0]["start"], "2026-06-15T00:30:00+05:30");
    let kathmandu = app
        .get_json("/api/get_daily_downloads?timezone=Asia/Kathmandu&date=2026-06-15")
        .await;
    assert_eq!(kathmandu[0]["start"], "2026-06-15T00:45:00+05:45");
    let fall_back = app
        .get_json("/api/get_todays_downloads?timezone=America/New_York&date=2026-11-01")
        .await;
    let twos: Vec<&str> = fall_back
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["hour"] == 2)
        .map(|e| e["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        twos,
        ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]
    );
    let utc = app
        .get_json("/api/get_daily_downloads?date=2026-06-15")
        .await;
    assert_eq!(utc[0]["start"], "2026-06-15T00:00:00+00:00");
    assert_eq!(
        utc,
        app.get_json("/api/get_todays_downloads?model=hourly&timezone=UTC&date=2026-06-15")
            .await
    );
    app.finish().await;
}

async fn a_day_without_rows_is_empty(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = rows_around(date("2026-06-15"));
    app.db.insert(&rows).await;
    for zone in ["UTC", "Asia/Kolkata", "America/New_York"] {
        let url = format!("/api/get_daily_downloads?timezone={zone}&date=2026-01-10");
        assert_eq!(app.get_json(&url).await, json!([]), "{url}");
    }
    app.finish().await;
}

async fn today_lists_only_the_hours_that_have_started(backend: Backend) {
    let app = spawn_or_skip!(backend);
    // Keep clear of an hour boundary, where the server's clock and the test's could disagree.
    let into_hour = Utc::now().minute() * 60 + Utc::now().second();
    if !(2..=3590).contains(&into_hour) {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
    let rows: Vec<Row> = rows_around(Utc::now().date_naive())
        .into_iter()
        .filter(|r| r.start.and_utc() <= Utc::now() + Duration::hours(3))
        .collect();
    app.db.insert(&rows).await;
    for zone in [
        "UTC",
        "America/New_York",
        "Asia/Kathmandu",
        "Pacific/Kiritimati",
    ] {
        let tz: Tz = zone.parse().unwrap();
        let url = format!("/api/get_todays_downloads?model=hourly&timezone={zone}");
        let got = app.get_json(&url).await;
        let now = Utc::now();
        let today = now.with_timezone(&tz).date_naive();
        assert_eq!(got, expected(&rows, tz, today, now), "{url}");
        let Some(last) = got.as_array().unwrap().last() else {
            // Right after local midnight in a zone with a :30 or :45 offset, no UTC hour that
            // starts on the new local day has started yet (Kathmandu from 18:15 to 19:00 UTC):
            // today has no hours. The answer may be empty only then.
            let this_hour = now
                .date_naive()
                .and_hms_opt(now.hour(), 0, 0)
                .unwrap()
                .and_utc();
            assert_ne!(
                this_hour.with_timezone(&tz).date_naive(),
                today,
                "{url}: no hours, but the hour that started at {this_hour} is on the local day"
            );
            continue;
        };
        let started = DateTime::parse_from_rfc3339(last["start"].as_str().unwrap()).unwrap();
        assert!(
            started <= now && now - started.with_timezone(&Utc) < Duration::hours(1),
            "{url}: {last}"
        );
    }
    app.finish().await;
}

/// Hours are grouped by the stored timestamp on some backends: rows stamped inside an hour
/// (not at its start) must still count in that one hour, in every answer that buckets hours.
async fn times_inside_an_hour_count_in_that_hour(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let day = date("2026-06-15");
    let mut rows = Vec::new();
    for h in 0..24 {
        for (i, (minute, second)) in [(0, 0), (30, 0), (59, 59)].into_iter().enumerate() {
            if h % 5 == 2 && i == 0 {
                continue; // some hours have no row at their start
            }
            let start = day.and_hms_opt(h, minute, second).unwrap();
            let n = (h as i32 * 7 + i as i32 * 11) % 40;
            rows.push(Row::at(start).country("germany").primary(n).cross(i as i32));
        }
    }
    app.db.insert(&rows).await;
    check_day(&app, &rows, "UTC", "2026-06-15", 24).await;
    check_day(&app, &rows, "Asia/Kathmandu", "2026-06-15", 24).await;
    let url = format!(
        "{}&start_date=2026-06-15&end_date=2026-06-15",
        model::data_url("country", Some("download_type"), Some("hour"))
    );
    let expected = model::get_data(
        &rows,
        "country",
        Some("download_type"),
        Some("hour"),
        "primary",
        |_| true,
    );
    assert_eq!(app.get_json(&url).await, expected, "{url}");
    let url = "/api/get_global_sum?model=hourly&time_group=hour&metric=cross";
    let expected = model::global_sum(&rows, &[], "hour", "cross", (None, None));
    assert_eq!(app.get_json(url).await, expected, "{url}");
    app.finish().await;
}

backend_tests!(
    times_inside_an_hour_count_in_that_hour,
    local_days_match_the_rows_in_every_kind_of_zone,
    a_day_without_rows_is_empty,
    today_lists_only_the_hours_that_have_started,
);
