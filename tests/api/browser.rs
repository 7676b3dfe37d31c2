//! The `/stats` pages in a real headless Chromium: each one draws, its bars are the rows of its
//! own CSV link in number, order and value, its total is their sum, it loads nothing from
//! outside the service and logs no console error. Screenshots go to the test's temp directory.

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::helpers::browser::Browser;
use crate::helpers::{Backend, Row, TestApp, date, dt, thousands};
use crate::{browser_tests, spawn_or_skip};

async fn arrange(app: &TestApp) {
    let mut requests: Vec<(NaiveDateTime, u8, Option<i32>)> = Vec::new();
    // The 25-hour and the 23-hour New York days, complete, and one with an hour missing.
    for (first, hours) in [
        ("2026-11-01 04:00:00", 25),
        ("2026-03-08 05:00:00", 23),
        ("2026-11-05 05:00:00", 24),
    ] {
        for i in 0..hours {
            let hour = dt(first) + chrono::Duration::hours(i);
            if hour != dt("2026-11-05 12:00:00") {
                requests.push((hour, 0, Some(1_500_000 + (i as i32 % 12) * 90_000)));
                requests.push((hour, 1, Some(3)));
            }
        }
    }
    stats_backend::write::upsert_hourly_requests(&app.db.writer, &requests)
        .await
        .unwrap();
    app.db
        .insert_legacy(&[
            (date("2026-08-01"), 3_900_000),
            (date("2026-09-01"), 4_100_000),
            (date("2026-10-01"), 4_300_000),
        ])
        .await;
    app.db
        .insert(&[
            Row::at(dt("2026-11-02 10:00:00")).primary(70_000),
            Row::at(dt("2026-11-02 11:00:00"))
                .country("germany")
                .primary(5_000),
        ])
        .await;
    crate::helpers::insert_submissions(
        &app.db,
        &[
            (date("1991-08-01"), 120),
            (date("2010-05-01"), 6_000),
            (date("2026-10-01"), 24_000),
        ],
    )
    .await;
}

/// What a page shows, read in the browser.
const READ_PAGE: &str = r#"
const chart = document.querySelector('svg.chart');
return {
  drawn: chart ? chart.getBoundingClientRect().width : 0,
  bars: [...document.querySelectorAll('svg.chart rect.bar')].map(r => ({
    value: r.getAttribute('data-value'),
    title: r.querySelector('title').textContent,
    height: r.getBoundingClientRect().height,
  })),
  total: document.querySelector('#total')?.textContent ?? null,
  csv: document.querySelector('#csv')?.getAttribute('href') ?? null,
  text: document.body.innerText,
  resources: performance.getEntriesByType('resource').map(e => e.name),
  urls: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href')),
};
"#;

async fn every_page_draws_the_numbers_of_its_csv(backend: Backend) {
    let app = spawn_or_skip!(backend);
    arrange(&app).await;
    let browser = Browser::start(1280, 1000).await;
    let shots = tempfile::Builder::new()
        .prefix("stats-pages-")
        .tempdir()
        .unwrap()
        .keep();
    for (page, bars_expected) in [
        ("/stats/today?date=20261101", Some(25)),
        ("/stats/today?date=20261105", Some(23)),
        ("/stats/today?date=20260308", Some(23)),
        ("/stats/today?date=20260101", Some(0)),
        ("/stats/monthly_downloads", None),
        ("/stats/monthly_submissions", Some(3)),
        ("/stats/main", Some(0)),
    ] {
        browser
            .client
            .goto(&format!("{}{page}", app.address))
            .await
            .unwrap();
        let seen = browser.eval(READ_PAGE).await;
        let bars = seen["bars"].as_array().unwrap();
        if let Some(n) = bars_expected {
            assert_eq!(bars.len(), n, "{backend:?} {page}: {}", seen["text"]);
        }
        if !bars.is_empty() {
            assert!(seen["drawn"].as_f64().unwrap() > 300.0, "{page}: no chart");
            let csv_link = seen["csv"].as_str().unwrap();
            let csv = app.get(csv_link).await;
            assert_eq!(csv.status, 200, "{page} -> {csv_link}");
            let rows: Vec<(String, i64)> = csv
                .body
                .split("\r\n")
                .skip(1)
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (label, n) = l.rsplit_once(',').unwrap();
                    (label.to_string(), n.parse().unwrap())
                })
                .collect();
            assert_eq!(bars.len(), rows.len(), "{page}: bars and CSV rows");
            for (bar, (label, n)) in bars.iter().zip(&rows) {
                assert_eq!(
                    bar["value"].as_str().unwrap(),
                    n.to_string(),
                    "{page} {label}"
                );
                let title = bar["title"].as_str().unwrap();
                assert!(title.contains(&thousands(*n)), "{page}: {title} vs {n}");
                if page.starts_with("/stats/today") {
                    assert!(
                        title.starts_with(label.as_str()),
                        "{page}: {title} vs {label}"
                    );
                }
                if *n > 0 {
                    assert!(
                        bar["height"].as_f64().unwrap() > 0.0,
                        "{page}: {title} not drawn"
                    );
                }
            }
            let sum: i64 = rows.iter().map(|(_, n)| n).sum();
            if !page.contains("submissions") {
                assert_eq!(
                    seen["total"].as_str(),
                    Some(thousands(sum).as_str()),
                    "{page}"
                );
            }
        }
        if page.ends_with("20260101") {
            assert!(
                seen["text"]
                    .as_str()
                    .unwrap()
                    .contains("No data currently available."),
                "{page}"
            );
        }
        let address = app.address.as_str();
        for resource in seen["resources"].as_array().unwrap() {
            assert!(
                resource.as_str().unwrap().starts_with(address),
                "{page} loaded {resource}"
            );
        }
        for url in seen["urls"].as_array().unwrap() {
            let url = url.as_str().unwrap_or_default();
            assert!(
                url.starts_with('/'),
                "{page} links outside the service: {url}"
            );
        }
        let console = browser.console().await;
        let errors: Vec<&Value> = console.iter().filter(|e| e["level"] == "SEVERE").collect();
        assert!(errors.is_empty(), "{page}: console errors {errors:?}");
        let png = browser.client.screenshot().await.unwrap();
        let name = page
            .trim_start_matches("/stats/")
            .replace(['?', '=', '&'], "_");
        std::fs::write(shots.join(format!("{}-{name}.png", backend.label())), png).unwrap();
    }
    eprintln!("screenshots of the /stats pages: {}", shots.display());
    browser.close().await;
    app.finish().await;
}

browser_tests!(every_page_draws_the_numbers_of_its_csv);
