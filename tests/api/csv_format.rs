//! CSV on every data endpoint: the same numbers as the JSON answer, one row per data point.

use serde_json::Value;

use crate::helpers::{Backend, Server, date};
use crate::model;
use crate::{backend_tests, spawn_or_skip};

/// The JSON answer flattened the way the CSV is: one row of strings per data point.
fn flatten(json: &Value, columns: &[String]) -> Vec<Vec<String>> {
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut rows = Vec::new();
    for object in json.as_array().unwrap() {
        let points = object
            .as_object()
            .unwrap()
            .values()
            .find_map(|v| v.as_array().map(Vec::len))
            .unwrap_or(1);
        for i in 0..points {
            rows.push(
                columns
                    .iter()
                    .map(|c| match &object[c.as_str()] {
                        Value::Array(items) => text(&items[i]),
                        scalar => text(scalar),
                    })
                    .collect(),
            );
        }
    }
    rows
}

fn parse_csv(body: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

async fn same_numbers(server: &Server, url: &str) {
    let json = server.get_json(url).await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let by_param = server.get(&format!("{url}{separator}format=csv")).await;
    assert_eq!(by_param.status, 200, "{url}: {}", by_param.body);
    assert_eq!(
        by_param.header("content-type"),
        Some("text/csv; charset=utf-8"),
        "{url}"
    );
    let by_accept = server
        .client
        .get(format!("{}{url}", server.address))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(by_param.body, by_accept, "{url}");
    let (header, rows) = parse_csv(&by_param.body);
    assert_eq!(rows, flatten(&json, &header), "{url}");
    assert!(
        !rows.is_empty() || json.as_array().unwrap().is_empty(),
        "{url}"
    );
}

async fn csv_and_json_answers_carry_the_same_numbers(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let rows = model::dataset();
    app.db.insert(&rows).await;
    app.db
        .insert_legacy(&[(date("2025-11-01"), 70), (date("2025-12-01"), 80)])
        .await;
    crate::helpers::insert_submissions(
        &app.db,
        &[(date("2025-11-01"), 9), (date("2025-12-01"), 10)],
    )
    .await;
    for url in [
        "/api/get_data?model=hourly&group_by=country",
        "/api/get_data?model=hourly&group_by=archive&second_group_by=country",
        "/api/get_data?model=hourly&group_by=category&time_group=month&metric=total",
        "/api/get_data?model=hourly&group_by=download_type&second_group_by=archive&time_group=hour",
        "/api/get_global_sum?model=hourly&time_group=month",
        "/api/get_global_sum?model=hourly&time_group=year",
        "/api/get_global_sum?model=hourly&time_group=hour&metric=cross",
        "/api/get_daily_downloads?timezone=Asia/Kolkata&date=2026-03-08",
        "/api/get_todays_downloads?model=hourly&timezone=America/New_York&date=2026-03-08",
        "/api/get_submissions",
        "/api/get_submissions?time_group=year",
    ] {
        same_numbers(&app, url).await;
    }
    app.finish().await;
}

async fn an_empty_answer_is_a_header_only_csv_cached_apart_from_json(backend: Backend) {
    let app = spawn_or_skip!(backend);
    for (url, header) in [
        (
            "/api/get_data?model=hourly&group_by=country&second_group_by=archive&time_group=day",
            "country,archive,time_group,data\n",
        ),
        (
            "/api/get_global_sum?model=hourly&time_group=day",
            "time_group,total_sum\n",
        ),
        (
            "/api/get_daily_downloads?date=2026-01-01",
            "hour,start,total_primary\n",
        ),
        ("/api/get_submissions", "time_group,total_sum\n"),
    ] {
        let json = app.get(url).await;
        assert_eq!((json.status, json.body.as_str()), (200, "[]"));
        let csv = app
            .get(&format!("{url}&format=csv").replacen("submissions&", "submissions?", 1))
            .await;
        assert_eq!(
            (csv.status, csv.body.as_str(), csv.header("x-cache")),
            (200, header, Some("MISS")),
            "{url}"
        );
        assert!(
            csv.header("vary").unwrap_or_default().contains("Accept"),
            "{url}"
        );
    }
    app.finish().await;
}

backend_tests!(
    csv_and_json_answers_carry_the_same_numbers,
    an_empty_answer_is_a_header_only_csv_cached_apart_from_json,
);
