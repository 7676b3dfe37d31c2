//! An independent reference: the answers computed naively from the rows a test inserted,
//! without any code of the service.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::helpers::{Row, dt};

pub const DIMENSIONS: [&str; 4] = ["country", "download_type", "archive", "category"];
pub const TIME_GROUPS: [&str; 5] = ["year", "month", "week", "day", "hour"];
pub const METRICS: [&str; 3] = ["primary", "cross", "total"];

/// Python's str.title() for the values the tests use: upper after a non-letter, else lower.
pub fn title(s: &str) -> String {
    let mut out = String::new();
    let mut after_letter = false;
    for c in s.chars() {
        if after_letter {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        after_letter = c.is_alphabetic();
    }
    out
}

pub fn raw_value(row: &Row, dimension: &str) -> Option<String> {
    match dimension {
        "country" => Some(row.country.clone()),
        "download_type" => Some(row.download_type.clone()),
        "archive" => row.archive.clone(),
        "category" => Some(row.category.clone()),
        other => panic!("no dimension {other}"),
    }
}

pub fn shown(dimension: &str, raw: &Option<String>) -> Value {
    match raw {
        None => Value::Null,
        Some(v) if dimension == "country" => json!(title(v)),
        Some(v) => json!(v),
    }
}

pub fn metric(row: &Row, metric: &str) -> i64 {
    let p = i64::from(row.primary.unwrap_or(0));
    let c = i64::from(row.cross.unwrap_or(0));
    match metric {
        "primary" => p,
        "cross" => c,
        "total" => p + c,
        other => panic!("no metric {other}"),
    }
}

pub fn label(start: NaiveDateTime, time_group: &str) -> String {
    label_in(start, time_group, Tz::UTC).1
}

/// The local period of `tz` that the row stamped `start` counts in, as (a key that sorts in
/// time order, the label the answer shows).
pub fn label_in(start: NaiveDateTime, time_group: &str, tz: Tz) -> (String, String) {
    let hour = start.date().and_hms_opt(start.hour(), 0, 0).unwrap();
    let local = hour.and_utc().with_timezone(&tz);
    let label = match time_group {
        "year" => local.format("%Y").to_string(),
        "month" => local.format("%Y-%m-01").to_string(),
        "day" => local.format("%Y-%m-%d").to_string(),
        "week" => {
            let day = local.date_naive();
            let back = day.weekday().num_days_from_monday();
            (day - Duration::days(i64::from(back))).to_string()
        }
        "hour" if tz == Tz::UTC => local.format("%Y-%m-%dT%H:00:00Z").to_string(),
        "hour" => local.format("%Y-%m-%dT%H:%M:00%:z").to_string(),
        other => panic!("no time group {other}"),
    };
    let key = match time_group {
        // Local hour labels do not sort in time order (a fall-back day east of UTC).
        "hour" => hour.to_string(),
        _ => label.clone(),
    };
    (key, label)
}

/// The local day of `tz` on which the row stamped `start` counts: the day its UTC hour starts
/// on (18:30 UTC counts at 23:45 in Kathmandu, with its hour, not at 00:15 the next day).
pub fn local_day(start: NaiveDateTime, tz: Tz) -> NaiveDate {
    let hour = start.date().and_hms_opt(start.hour(), 0, 0).unwrap();
    hour.and_utc().with_timezone(&tz).date_naive()
}

/// Sums of one group by (second value, (time key, time label)).
type Points = BTreeMap<(Option<String>, (String, String)), i64>;

/// The expected `get_data` answer.
pub fn get_data(
    rows: &[Row],
    group_by: &str,
    second: Option<&str>,
    time_group: Option<&str>,
    metric_name: &str,
    keep: impl Fn(&Row) -> bool,
) -> Value {
    get_data_in(
        rows,
        group_by,
        second,
        time_group,
        metric_name,
        Tz::UTC,
        keep,
    )
}

/// The expected `get_data` answer with periods of `tz` (`keep` decides the range).
pub fn get_data_in(
    rows: &[Row],
    group_by: &str,
    second: Option<&str>,
    time_group: Option<&str>,
    metric_name: &str,
    tz: Tz,
    keep: impl Fn(&Row) -> bool,
) -> Value {
    let mut groups: BTreeMap<Option<String>, Points> = BTreeMap::new();
    for row in rows.iter().filter(|r| keep(r)) {
        let inner = groups.entry(raw_value(row, group_by)).or_default();
        let key = (
            second.and_then(|s| raw_value(row, s)),
            time_group
                .map(|t| label_in(row.start, t, tz))
                .unwrap_or_default(),
        );
        *inner.entry(key).or_default() += metric(row, metric_name);
    }
    let nested = second.is_some() || time_group.is_some();
    let objects = groups
        .into_iter()
        .map(|(value, inner)| {
            let mut object = serde_json::Map::new();
            object.insert(group_by.into(), shown(group_by, &value));
            if nested {
                if let Some(s) = second {
                    object.insert(s.into(), inner.keys().map(|(v, _)| shown(s, v)).collect());
                }
                if time_group.is_some() {
                    object.insert(
                        "time_group".into(),
                        inner.keys().map(|(_, (_, t))| json!(t)).collect(),
                    );
                }
                object.insert("data".into(), inner.values().map(|v| json!(v)).collect());
            } else {
                object.insert("data".into(), json!(inner.values().sum::<i64>()));
            }
            Value::Object(object)
        })
        .collect();
    Value::Array(objects)
}

/// The expected `get_global_sum` answer, with the legacy merge for primary months and years.
pub fn global_sum(
    rows: &[Row],
    legacy: &[(NaiveDate, i64)],
    time_group: &str,
    metric_name: &str,
    range: (Option<NaiveDate>, Option<NaiveDate>),
) -> Value {
    global_sum_in(rows, legacy, time_group, metric_name, range, Tz::UTC)
}

/// The expected `get_global_sum` answer with periods and range days of `tz`. Legacy months are
/// UTC months: their hourly rows never count, their total goes to the entry with their label;
/// the UTC month of the newest row is still filling and comes from the hourly rows.
pub fn global_sum_in(
    rows: &[Row],
    legacy: &[(NaiveDate, i64)],
    time_group: &str,
    metric_name: &str,
    range: (Option<NaiveDate>, Option<NaiveDate>),
    tz: Tz,
) -> Value {
    let in_range = |d: NaiveDate| range.0.is_none_or(|s| d >= s) && range.1.is_none_or(|e| d <= e);
    let merge = matches!(time_group, "month" | "year") && metric_name == "primary";
    let filling = rows
        .iter()
        .map(|r| r.start)
        .max()
        .map(|n| n.date().with_day(1).unwrap());
    let legacy: Vec<(NaiveDate, i64)> = legacy
        .iter()
        .copied()
        .filter(|(m, _)| Some(*m) != filling)
        .collect();
    let legacy_months: BTreeSet<NaiveDate> = legacy.iter().map(|(m, _)| *m).collect();
    let mut periods: BTreeMap<(String, String), i64> = BTreeMap::new();
    for row in rows.iter().filter(|r| in_range(local_day(r.start, tz))) {
        let month = row.start.date().with_day(1).unwrap();
        if merge && legacy_months.contains(&month) {
            continue;
        }
        *periods
            .entry(label_in(row.start, time_group, tz))
            .or_default() += metric(row, metric_name);
    }
    if merge {
        for (month, total) in legacy.iter().filter(|(m, _)| in_range(*m)) {
            let start = month.and_hms_opt(0, 0, 0).unwrap();
            let l = label(start, time_group);
            *periods.entry((l.clone(), l)).or_default() += total;
        }
    }
    periods
        .into_iter()
        .map(|((_, t), v)| json!({"total_sum": v, "time_group": t}))
        .collect()
}

/// A small deterministic data set: year and month boundaries, NULL counts, a NULL archive,
/// countries that differ only by case or by an accent.
pub fn dataset() -> Vec<Row> {
    let hours = [
        "2025-12-31 22:00:00",
        "2025-12-31 23:00:00",
        "2026-01-01 00:00:00",
        "2026-01-15 12:00:00",
        "2026-02-28 23:00:00",
        "2026-03-01 00:00:00",
        "2026-03-08 07:00:00",
        "2026-03-08 08:00:00",
    ];
    let categories = [
        ("cs.AI", Some("cs")),
        ("cs.LG", Some("cs")),
        ("hep-th", Some("hep-th")),
        ("astro-ph.CO", Some("astro-ph")),
        ("math.AG", None),
    ];
    let countries = [
        "united states",
        "United States",
        "germany",
        "côte d'ivoire",
        "cote d'ivoire",
        "(unknown country)",
    ];
    let types = ["pdf", "html", "src"];
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    let mut x: u64 = 12345;
    for (h, hour) in hours.iter().enumerate() {
        for i in 0..20 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (c, k, t) = (
                (x >> 33) as usize % 5,
                (x >> 40) as usize % 6,
                (x >> 50) as usize % 3,
            );
            if !seen.insert((h, c, k, t)) {
                continue;
            }
            let n = (x >> 20) as i32 % 500;
            rows.push(
                Row::at(dt(hour))
                    .category(categories[c].0)
                    .archive(categories[c].1)
                    .country(countries[k])
                    .download_type(types[t])
                    .primary((i % 11 != 3).then_some(n))
                    .cross((i % 7 != 2).then_some(n / 3)),
            );
        }
    }
    rows
}

/// Every (group_by, second_group_by, time_group) combination `get_data` accepts.
pub fn groupings() -> Vec<(&'static str, Option<&'static str>, Option<&'static str>)> {
    let mut all = Vec::new();
    for group_by in DIMENSIONS {
        let seconds = std::iter::once(None).chain(
            DIMENSIONS
                .iter()
                .filter(|d| **d != group_by)
                .map(|d| Some(*d)),
        );
        for second in seconds {
            for time_group in std::iter::once(None).chain(TIME_GROUPS.iter().map(|t| Some(*t))) {
                all.push((group_by, second, time_group));
            }
        }
    }
    all
}

/// The `get_data` URL of a grouping.
pub fn data_url(group_by: &str, second: Option<&str>, time_group: Option<&str>) -> String {
    let mut url = format!("/api/get_data?model=hourly&group_by={group_by}");
    if let Some(s) = second {
        url += &format!("&second_group_by={s}");
    }
    if let Some(t) = time_group {
        url += &format!("&time_group={t}");
    }
    url
}

/// `[{"time_group": ..., "total_sum": ...}]` as (label, total) pairs.
pub fn sums(value: &Value) -> Vec<(String, i64)> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| {
            (
                e["time_group"].as_str().expect("label").to_string(),
                e["total_sum"].as_i64().expect("total"),
            )
        })
        .collect()
}
