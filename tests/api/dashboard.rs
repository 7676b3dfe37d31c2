//! The dashboard at `/` in a real headless Chromium: every view draws, its marks are the API's
//! answer in number and value, the hourly view starts at the browser's zone (New York, Kolkata,
//! UTC) with labels in that zone, nothing is loaded from outside the service, no console error,
//! nothing overflows at a phone's width. Screenshots go to the test's temp directory.

use serde_json::Value;

use crate::helpers::browser::Browser;
use crate::helpers::{Backend, Row, TestApp, date, dt};
use crate::{browser_tests, spawn_or_skip};

async fn arrange(app: &TestApp) {
    let mut rows = Vec::new();
    // 2026-11-01 in New York has 25 hours; rows every UTC hour from the day before to after.
    for i in 0..60 {
        let hour = dt("2026-10-31 12:00:00") + chrono::Duration::hours(i);
        rows.push(Row::at(hour).primary(100 + i as i32));
        rows.push(
            Row::at(hour)
                .category("hep-th")
                .country("germany")
                .primary(7)
                .cross(2),
        );
        if i % 3 == 0 {
            rows.push(
                Row::at(hour)
                    .category("math.AG")
                    .country("india")
                    .primary(3)
                    .cross(None),
            );
        }
    }
    app.db.insert(&rows).await;
    app.db
        .insert_legacy(&[(date("2026-08-01"), 1_000), (date("2026-09-01"), 2_000)])
        .await;
    crate::helpers::insert_submissions(
        &app.db,
        &[(date("2026-08-01"), 20), (date("2026-09-01"), 30)],
    )
    .await;
}

const READ_VIEW: &str = r#"
const chart = document.querySelector('svg.chart');
return {
  url: window.location.href,
  zone: document.getElementById('timezone')?.value ?? null,
  drawn: chart ? chart.getBoundingClientRect().width : 0,
  bars: [...document.querySelectorAll('svg.chart rect.bar')].map(r => ({
    value: Number(r.getAttribute('data-value')),
    title: r.querySelector('title').textContent,
  })),
  api: document.querySelector('#api')?.getAttribute('href') ?? null,
  csv: document.querySelector('#csv')?.getAttribute('href') ?? null,
  total: document.querySelector('#total')?.textContent ?? null,
  resources: performance.getEntriesByType('resource').map(e => e.name),
  urls: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href')),
  overflow: document.documentElement.scrollWidth - window.innerWidth,
};
"#;

/// The values the API answer holds, in the order the view draws them (a group split by a second
/// dimension counts as the sum of its parts).
fn api_values(answer: &Value, field: &str, largest_first: bool) -> Vec<i64> {
    let mut values: Vec<i64> = answer
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e[field].as_array() {
            Some(parts) => parts.iter().map(|n| n.as_i64().unwrap()).sum(),
            None => e[field].as_i64().unwrap(),
        })
        .collect();
    if largest_first {
        values.sort_by(|a, b| b.cmp(a));
    }
    values
}

async fn check_clean(browser: &Browser, app: &TestApp, seen: &Value, what: &str) {
    for resource in seen["resources"].as_array().unwrap() {
        assert!(
            resource.as_str().unwrap().starts_with(&app.address),
            "{what} loaded {resource}"
        );
    }
    for url in seen["urls"].as_array().unwrap() {
        assert!(
            url.as_str().unwrap_or_default().starts_with('/'),
            "{what}: {url}"
        );
    }
    let console = browser.console().await;
    let errors: Vec<&Value> = console.iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "{what}: console errors {errors:?}");
}

async fn every_view_draws_the_api_answer(backend: Backend) {
    let app = spawn_or_skip!(backend);
    arrange(&app).await;
    let shots = tempfile::Builder::new()
        .prefix("stats-dashboard-")
        .tempdir()
        .unwrap()
        .keep();
    let browser = Browser::start(1280, 1000).await;
    for (view, field, largest_first) in [
        (
            "view=daily&timezone=America/New_York&date=2026-11-01",
            "total_primary",
            false,
        ),
        (
            "view=daily&timezone=Asia/Kathmandu&date=2026-11-01",
            "total_primary",
            false,
        ),
        ("view=monthly", "total_sum", false),
        (
            "view=monthly&timezone=America/Los_Angeles",
            "total_sum",
            false,
        ),
        (
            "view=country&start_date=2026-11-01&end_date=2026-11-01&timezone=Asia/Kolkata",
            "data",
            true,
        ),
        ("view=submissions", "total_sum", false),
        ("view=country&metric=total", "data", true),
        (
            "view=category&start_date=2026-11-01&end_date=2026-11-01",
            "data",
            true,
        ),
        ("view=archive&metric=cross", "data", true),
        ("view=category&second_group_by=download_type", "data", true),
    ] {
        browser
            .client
            .goto(&format!("{}/?{view}", app.address))
            .await
            .unwrap();
        let seen = browser.eval(READ_VIEW).await;
        let api = seen["api"].as_str().unwrap();
        let answer = app.get_json(api).await;
        let expected = api_values(&answer, field, largest_first);
        let drawn: Vec<i64> = seen["bars"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["value"].as_i64().unwrap())
            .collect();
        assert!(!drawn.is_empty(), "{backend:?} {view}: nothing drawn");
        assert_eq!(drawn, expected, "{backend:?} {view}: marks vs {api}");
        assert!(seen["drawn"].as_f64().unwrap() > 300.0, "{view}");
        let csv = app.get(seen["csv"].as_str().unwrap()).await;
        assert_eq!(csv.status, 200, "{view}");
        assert_eq!(
            csv.body.lines().count(),
            expected.len() + 1,
            "{view}: CSV rows"
        );
        if view.contains("America/New_York") {
            // 25 hours, the repeated 01:00 told apart by its offset.
            assert_eq!(drawn.len(), 25, "{view}");
            let titles: Vec<&str> = seen["bars"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["title"].as_str().unwrap())
                .collect();
            assert!(
                titles[1].starts_with("2026-11-01T01:00:00-04:00"),
                "{titles:?}"
            );
            assert!(
                titles[2].starts_with("2026-11-01T01:00:00-05:00"),
                "{titles:?}"
            );
        }
        if view.contains("Kathmandu") {
            assert!(
                seen["bars"][0]["title"]
                    .as_str()
                    .unwrap()
                    .starts_with("2026-11-01T00:45:00+05:45"),
                "{}",
                seen["bars"][0]
            );
        }
        check_clean(&browser, &app, &seen, view).await;
        let png = browser.client.screenshot().await.unwrap();
        let name = view.replace(['&', '=', '/'], "_");
        std::fs::write(shots.join(format!("{}-{name}.png", backend.label())), png).unwrap();
    }
    browser.close().await;
    // The browser's own zone is where the hourly view starts, with labels in it; and at a
    // phone's width nothing overflows.
    for (zone, offset) in [
        ("America/New_York", "-05:00"),
        ("Asia/Kolkata", "+05:30"),
        ("UTC", "+00:00"),
    ] {
        let browser = Browser::start_in(390, 844, zone).await;
        browser
            .client
            .goto(&format!("{}/", app.address))
            .await
            .unwrap();
        let mut seen = browser.eval(READ_VIEW).await;
        for _ in 0..50 {
            if seen["url"].as_str().unwrap().contains("timezone=") || zone == "UTC" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            seen = browser.eval(READ_VIEW).await;
        }
        // Chromium names Kolkata by its older IANA alias; both are in the list.
        let names: &[&str] = if zone == "Asia/Kolkata" {
            &["Asia/Kolkata", "Asia/Calcutta"]
        } else {
            &[zone]
        };
        let chosen = seen["zone"].as_str().unwrap_or_default();
        assert!(names.contains(&chosen), "{zone}: {}", seen["url"]);
        let date = chrono::Utc::now()
            .with_timezone(&zone.parse::<chrono_tz::Tz>().unwrap())
            .format("%Y-%m-%d")
            .to_string();
        // Today has no rows here; the labels are checked on a day that has them.
        browser
            .client
            .goto(&format!(
                "{}/?view=daily&timezone={zone}&date=2026-11-02",
                app.address
            ))
            .await
            .unwrap();
        let seen_day = browser.eval(READ_VIEW).await;
        let first = seen_day["bars"][0]["title"].as_str().unwrap_or_default();
        assert!(
            first.starts_with("2026-11-02T00:") && first.contains(offset),
            "{zone}: {first}"
        );
        assert!(
            seen_day["overflow"].as_f64().unwrap() <= 0.0,
            "{zone}: the page is wider than a phone"
        );
        assert!(
            seen["api"].as_str().unwrap().contains(&date),
            "{zone}: {}",
            seen["api"]
        );
        // Every other view fits a phone too, its table open.
        for view in ["monthly", "submissions", "country", "category", "archive"] {
            browser
                .client
                .goto(&format!(
                    "{}/?view={view}&second_group_by=download_type",
                    app.address
                ))
                .await
                .unwrap();
            browser
                .eval("document.querySelectorAll('details').forEach(d => d.open = true); return 0;")
                .await;
            let fit = browser.eval(READ_VIEW).await;
            assert!(
                fit["overflow"].as_f64().unwrap() <= 0.0,
                "{zone} {view}: wider than a phone by {}",
                fit["overflow"]
            );
        }
        check_clean(&browser, &app, &seen_day, zone).await;
        let png = browser.client.screenshot().await.unwrap();
        std::fs::write(
            shots.join(format!(
                "{}-phone-{}.png",
                backend.label(),
                zone.replace('/', "_")
            )),
            png,
        )
        .unwrap();
        browser.close().await;
    }
    eprintln!("screenshots of the dashboard: {}", shots.display());
    app.finish().await;
}

browser_tests!(every_view_draws_the_api_answer);
