//! Result shaping, plain Rust on plain rows: ordering, nesting into parallel arrays,
//! title-cased countries, labels, the legacy merge and the local-day re-bucketing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, SecondsFormat, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::labels::{
    bucket_label, local_bucket, local_day_bucket, month_label, parse_raw_day, parse_raw_hour,
    parse_raw_month,
};
use super::params::DateRange;
use super::rows::{AggRow, merge_equal_groups};
use super::vocab::{Dimension, TimeGroup};

/// Python's `str.title()`: a cased character after an uncased one is upper-cased, every other
/// cased character lower-cased (`côte d'ivoire` -> `Côte D'Ivoire`, `3d` -> `3D`).
pub fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Lower-cased a run at a time, so that a word-final sigma becomes 'ς' as in Python.
    let mut run = String::new();
    let mut previous_cased = false;
    for c in s.chars() {
        let cased = c.is_uppercase() || c.is_lowercase();
        if previous_cased {
            run.push(c);
        } else {
            out.push_str(&run.to_lowercase());
            run.clear();
            push_titlecase(&mut out, c);
        }
        previous_cased = cased;
    }
    out.push_str(&run.to_lowercase());
    out
}

/// Unicode title case of one character: the upper case, except for the four digraphs that have
/// a title form of their own, and for characters whose upper case is several letters
/// (`ß` -> `Ss`, `ﬁ` -> `Fi`), where only the first stays upper.
fn push_titlecase(out: &mut String, c: char) {
    let digraph = match c {
        'Ǆ' | 'ǅ' | 'ǆ' => Some('ǅ'),
        'Ǉ' | 'ǈ' | 'ǉ' => Some('ǈ'),
        'Ǌ' | 'ǋ' | 'ǌ' => Some('ǋ'),
        'Ǳ' | 'ǲ' | 'ǳ' => Some('ǲ'),
        _ => None,
    };
    if let Some(t) = digraph {
        out.push(t);
        return;
    }
    let mut upper = c.to_uppercase();
    if let Some(first) = upper.next() {
        out.push(first);
    }
    for rest in upper {
        out.extend(rest.to_lowercase());
    }
}

/// A dimension value as answers show it. Owned in and out: all but countries are shown as
/// stored, and a large answer should not copy each of its values.
pub fn display_value(dimension: Dimension, raw: Option<String>) -> Option<String> {
    raw.map(|v| match dimension {
        Dimension::Country => title_case(&v),
        _ => v,
    })
}

/// One object of a `get_data` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct DataGroup {
    pub dimension: Dimension,
    pub value: Option<String>,
    /// Parallel arrays: second dimension values, bucket labels and sums.
    pub series: Option<Series>,
    pub data: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub second: Option<(Dimension, Vec<Option<String>>)>,
    pub times: Option<Vec<String>>,
    pub data: Vec<i64>,
}

impl Serialize for DataGroup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(self.dimension.as_str(), &self.value)?;
        match &self.series {
            None => map.serialize_entry("data", &self.data)?,
            Some(series) => {
                if let Some((dimension, values)) = &series.second {
                    map.serialize_entry(dimension.as_str(), values)?;
                }
                if let Some(times) = &series.times {
                    map.serialize_entry("time_group", times)?;
                }
                map.serialize_entry("data", &series.data)?;
            }
        }
        map.end()
    }
}

/// Rows bucketed by `grain` (UTC, see `TimeGroup::grain`, or already local days, months or
/// years of `tz` when `local`) made rows bucketed by `time_group` in `tz`: each UTC hour (or
/// day, for weeks) goes to the period where it starts, and rows that land in one period are
/// summed. Unchanged when the grain is the period itself.
pub fn rebucket(
    rows: Vec<AggRow>,
    grain: TimeGroup,
    time_group: TimeGroup,
    tz: Tz,
    local: bool,
) -> Vec<AggRow> {
    if grain == time_group && (tz == Tz::UTC || local) {
        return rows;
    }
    let rows = rows
        .into_iter()
        .map(|mut row| {
            row.bucket = row.bucket.as_deref().and_then(|raw| match grain {
                TimeGroup::Hour => parse_raw_hour(raw).map(|h| local_bucket(time_group, tz, h)),
                _ => parse_raw_day(raw).map(|d| local_day_bucket(time_group, d)),
            });
            row
        })
        .collect();
    merge_equal_groups(rows)
}

/// Nests aggregate rows into the `get_data` answer: one object per first-dimension value,
/// ordered by raw value (code point order, NULL first), parallel arrays ordered by the second
/// value then by time.
pub fn nest(
    mut rows: Vec<AggRow>,
    group_by: Dimension,
    second: Option<Dimension>,
    time_group: Option<TimeGroup>,
    tz: Tz,
) -> Vec<DataGroup> {
    // Option<String> orders None first and strings by bytes, which for UTF-8 is code point order.
    rows.sort_unstable();
    let nested = second.is_some() || time_group.is_some();
    let mut groups: Vec<DataGroup> = Vec::new();
    let mut current: Option<Option<String>> = None;
    for row in rows {
        let [first, second_value] = row.dims;
        if current.as_ref() != Some(&first) {
            groups.push(DataGroup {
                dimension: group_by,
                value: display_value(group_by, first.clone()),
                series: nested.then(|| Series {
                    second: second.map(|d| (d, Vec::new())),
                    times: time_group.map(|_| Vec::new()),
                    data: Vec::new(),
                }),
                data: 0,
            });
            current = Some(first);
        }
        let Some(group) = groups.last_mut() else {
            continue;
        };
        match &mut group.series {
            None => group.data += row.value,
            Some(series) => {
                if let Some((dimension, values)) = &mut series.second {
                    values.push(display_value(*dimension, second_value));
                }
                if let (Some(times), Some(tg)) = (&mut series.times, time_group) {
                    times.push(bucket_label(tg, tz, row.bucket.unwrap_or_default()));
                }
                series.data.push(row.value);
            }
        }
    }
    groups
}

/// One entry of `get_global_sum` and `get_submissions`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SumEntry {
    pub total_sum: i64,
    pub time_group: String,
}

/// Time-bucketed totals straight from the hourly table (raw buckets of `time_group` in `tz`),
/// ascending.
pub fn sums_from_buckets(rows: Vec<AggRow>, time_group: TimeGroup, tz: Tz) -> Vec<SumEntry> {
    let mut entries: Vec<(String, i64)> = rows
        .into_iter()
        .map(|r| (r.bucket.unwrap_or_default(), r.value))
        .collect();
    entries.sort_unstable();
    entries
        .into_iter()
        .map(|(raw, total_sum)| SumEntry {
            total_sum,
            time_group: bucket_label(time_group, tz, raw),
        })
        .collect()
}

/// Monthly totals rolled up to `time_group` (`Month` or `Year`), ascending.
pub fn sums_from_months(
    months: impl IntoIterator<Item = (NaiveDate, i64)>,
    time_group: TimeGroup,
) -> Vec<SumEntry> {
    let mut periods: BTreeMap<String, i64> = BTreeMap::new();
    for (month, total) in months {
        *periods.entry(month_label(time_group, month)).or_default() += total;
    }
    periods
        .into_iter()
        .map(|(time_group, total_sum)| SumEntry {
            total_sum,
            time_group,
        })
        .collect()
}

/// The legacy merge: a month in `monthly_downloads` takes its total from there and its hourly
/// rows are not counted; other hourly rows count in the month of `tz` where they start (the
/// edge hours of a legacy month's neighbours may so land in its entry). The UTC month of
/// `newest` (the newest hour of data) is still filling and always comes from the hourly rows,
/// even when the legacy table has it. `hourly` are the hourly table's totals inside the
/// range by `grain`: UTC months (only in UTC) or UTC hours. A legacy month counts when its
/// first day is inside the range.
pub fn merge_legacy(
    hourly: Vec<AggRow>,
    grain: TimeGroup,
    legacy: &[(NaiveDate, i64)],
    range: DateRange,
    (time_group, tz): (TimeGroup, Tz),
    newest: Option<NaiveDateTime>,
) -> Vec<SumEntry> {
    let filling = newest.and_then(|n| n.date().with_day(1));
    let legacy: Vec<(NaiveDate, i64)> = legacy
        .iter()
        .copied()
        .filter(|(m, _)| Some(*m) != filling)
        .collect();
    let legacy_months: BTreeSet<NaiveDate> = legacy.iter().map(|(m, _)| *m).collect();
    let hourly = hourly.into_iter().filter_map(|r| {
        let raw = r.bucket.as_deref()?;
        let (utc_month, local_month) = match grain {
            TimeGroup::Hour => {
                let hour = parse_raw_hour(raw)?;
                let local = hour.and_utc().with_timezone(&tz).date_naive();
                (hour.date().with_day(1)?, local.with_day(1)?)
            }
            _ => {
                let month = parse_raw_month(raw)?;
                (month, month)
            }
        };
        (!legacy_months.contains(&utc_month)).then_some((local_month, r.value))
    });
    let old = legacy.iter().copied().filter(|(m, _)| range.contains(*m));
    sums_from_months(hourly.chain(old), time_group)
}

/// One entry of `get_daily_downloads`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DailyEntry {
    /// Local start hour + 1 (1..=24).
    pub hour: u32,
    pub total_primary: i64,
    /// The bucket's start in local time, ISO 8601 with a `±HH:MM` offset.
    pub start: String,
}

/// The UTC hours whose start falls on `date` in `tz`, in order. Whole UTC hours are the buckets,
/// so half-hour zones get starts at :30, a 23-hour DST day 23 buckets and a 25-hour day 25.
pub fn local_day_buckets(tz: Tz, date: NaiveDate) -> Vec<DateTime<Utc>> {
    // Every offset in use lies within ±15 h of UTC, so these hours cover the local day.
    let Some(midnight) = date.and_hms_opt(0, 0, 0) else {
        return Vec::new();
    };
    let first = midnight.and_utc() - Duration::hours(16);
    (0..24 + 32)
        .map(|i| first + Duration::hours(i))
        .filter(|utc| utc.with_timezone(&tz).date_naive() == date)
        .collect()
}

/// Daily entries for the buckets that have started by `now` and do not start after `newest`,
/// the newest hour of data (later hours are not ingested yet: unknown, not 0); `[]` when the
/// day has no rows.
pub fn daily_entries(
    tz: Tz,
    buckets: &[DateTime<Utc>],
    totals: &HashMap<NaiveDateTime, i64>,
    now: DateTime<Utc>,
    newest: Option<NaiveDateTime>,
) -> Vec<DailyEntry> {
    let has_rows = buckets.iter().any(|b| totals.contains_key(&b.naive_utc()));
    let Some(newest) = newest.filter(|_| has_rows) else {
        return Vec::new();
    };
    buckets
        .iter()
        .filter(|b| **b <= now && b.naive_utc() <= newest)
        .map(|b| {
            let local = b.with_timezone(&tz);
            DailyEntry {
                hour: local.hour() + 1,
                total_primary: totals.get(&b.naive_utc()).copied().unwrap_or(0),
                start: local.to_rfc3339_opts(SecondsFormat::Secs, false),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(d1: Option<&str>, d2: Option<&str>, bucket: Option<&str>, value: i64) -> AggRow {
        AggRow {
            dims: [d1.map(Into::into), d2.map(Into::into)],
            bucket: bucket.map(Into::into),
            value,
        }
    }

    #[test]
    fn title_case_follows_python() {
        assert_eq!(title_case("united states"), "United States");
        assert_eq!(title_case("côte d'ivoire"), "Côte D'Ivoire");
        assert_eq!(title_case("(unknown country)"), "(Unknown Country)");
        assert_eq!(title_case("guinea-bissau"), "Guinea-Bissau");
        assert_eq!(title_case("åland islands"), "Åland Islands");
        assert_eq!(title_case("3d PRINT"), "3D Print");
        // Python: 'ßa land'.title(), 'ﬁji'.title(), 'ǆungla'.title(), 'ΣΑΣ σας'.title()
        assert_eq!(title_case("ßa land"), "Ssa Land");
        assert_eq!(title_case("ﬁji"), "Fiji");
        assert_eq!(title_case("ǆungla"), "ǅungla");
        assert_eq!(title_case("ΣΑΣ σας"), "Σας Σας");
    }

    #[test]
    fn flat_answer_is_sorted_by_code_point_with_null_first() {
        let rows = vec![
            row(Some("cs.AI"), None, None, 3),
            row(None, None, None, 1),
            row(Some("astro-ph.CO"), None, None, 2),
        ];
        let json =
            serde_json::to_string(&nest(rows, Dimension::Category, None, None, Tz::UTC)).unwrap();
        assert_eq!(
            json,
            r#"[{"category":null,"data":1},{"category":"astro-ph.CO","data":2},{"category":"cs.AI","data":3}]"#
        );
    }

    #[test]
    fn nested_answer_has_parallel_arrays_ordered_by_second_value_then_time() {
        let rows = vec![
            row(Some("germany"), Some("pdf"), Some("2026-04"), 5),
            row(Some("germany"), Some("html"), Some("2026-04"), 4),
            row(Some("germany"), Some("pdf"), Some("2026-03"), 6),
            row(Some("germany"), None, Some("2026-03"), 1),
        ];
        let groups = nest(
            rows,
            Dimension::Country,
            Some(Dimension::DownloadType),
            Some(TimeGroup::Month),
            Tz::UTC,
        );
        let json = serde_json::to_value(&groups).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "country": "Germany",
                "download_type": [null, "html", "pdf", "pdf"],
                "time_group": ["2026-03-01", "2026-04-01", "2026-03-01", "2026-04-01"],
                "data": [1, 4, 6, 5]
            }])
        );
    }

    #[test]
    fn countries_differing_by_case_or_accent_stay_apart() {
        let rows = vec![
            row(Some("cote d'ivoire"), None, None, 1),
            row(Some("côte d'ivoire"), None, None, 2),
            row(Some("Germany"), None, None, 3),
            row(Some("germany"), None, None, 4),
        ];
        let groups = nest(rows, Dimension::Country, None, None, Tz::UTC);
        let values: Vec<_> = groups
            .iter()
            .map(|g| (g.value.clone().unwrap(), g.data))
            .collect();
        assert_eq!(
            values,
            vec![
                ("Germany".into(), 3),
                ("Cote D'Ivoire".into(), 1),
                ("Côte D'Ivoire".into(), 2),
                ("Germany".into(), 4)
            ]
        );
    }

    #[test]
    fn legacy_months_replace_hourly_months_and_years_add_both() {
        let d = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        let legacy = vec![(d(2023, 11), 100), (d(2023, 12), 200)];
        let hourly = vec![
            row(None, None, Some("2023-12"), 999),
            row(None, None, Some("2024-01"), 7),
        ];
        let utc = |tg| (tg, Tz::UTC);
        let months = merge_legacy(
            hourly.clone(),
            TimeGroup::Month,
            &legacy,
            DateRange::default(),
            utc(TimeGroup::Month),
            None,
        );
        let labels: Vec<_> = months
            .iter()
            .map(|e| (e.time_group.as_str(), e.total_sum))
            .collect();
        assert_eq!(
            labels,
            vec![("2023-11-01", 100), ("2023-12-01", 200), ("2024-01-01", 7)]
        );
        let years = merge_legacy(
            hourly,
            TimeGroup::Month,
            &legacy,
            DateRange::default(),
            utc(TimeGroup::Year),
            None,
        );
        let labels: Vec<_> = years
            .iter()
            .map(|e| (e.time_group.as_str(), e.total_sum))
            .collect();
        assert_eq!(labels, vec![("2023", 300), ("2024", 7)]);
    }

    #[test]
    fn dst_days_have_23_and_25_buckets_and_half_hour_zones_start_at_30() {
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            local_day_buckets(Tz::America__New_York, date("2026-03-08")).len(),
            23
        );
        assert_eq!(
            local_day_buckets(Tz::America__New_York, date("2026-11-01")).len(),
            25
        );
        assert_eq!(
            local_day_buckets(Tz::Europe__Berlin, date("2026-03-29")).len(),
            23
        );
        assert_eq!(
            local_day_buckets(Tz::Europe__Berlin, date("2026-10-25")).len(),
            25
        );
        let kolkata = local_day_buckets(Tz::Asia__Kolkata, date("2026-03-10"));
        assert_eq!(kolkata.len(), 24);
        let totals: HashMap<_, _> = kolkata.iter().map(|b| (b.naive_utc(), 1)).collect();
        let entries = daily_entries(
            Tz::Asia__Kolkata,
            &kolkata,
            &totals,
            Utc::now(),
            Some(NaiveDateTime::MAX),
        );
        assert_eq!(entries[0].start, "2026-03-10T00:30:00+05:30");
        assert_eq!((entries[0].hour, entries[23].hour), (1, 24));
        let utc = local_day_buckets(Tz::UTC, date("2026-03-12"));
        let entries = daily_entries(Tz::UTC, &utc, &totals, Utc::now(), Some(NaiveDateTime::MAX));
        assert!(entries.is_empty(), "no rows in the UTC day");
    }

    #[test]
    fn the_repeated_hour_of_a_fall_back_day_is_told_apart_by_its_offset() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let buckets = local_day_buckets(Tz::America__New_York, day);
        let totals: HashMap<_, _> = buckets.iter().map(|b| (b.naive_utc(), 2)).collect();
        let entries = daily_entries(
            Tz::America__New_York,
            &buckets,
            &totals,
            Utc::now(),
            Some(NaiveDateTime::MAX),
        );
        let twos: Vec<_> = entries
            .iter()
            .filter(|e| e.hour == 2)
            .map(|e| e.start.as_str())
            .collect();
        assert_eq!(
            twos,
            vec!["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]
        );
    }

    #[test]
    fn hours_that_have_not_started_are_absent() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let buckets = local_day_buckets(Tz::UTC, day);
        let totals: HashMap<_, _> = buckets.iter().take(3).map(|b| (b.naive_utc(), 5)).collect();
        let now = buckets[5] + Duration::minutes(10);
        let entries = daily_entries(Tz::UTC, &buckets, &totals, now, Some(NaiveDateTime::MAX));
        assert_eq!(entries.len(), 6);
        assert_eq!(
            entries.iter().map(|e| e.total_primary).collect::<Vec<_>>(),
            vec![5, 5, 5, 0, 0, 0]
        );
    }

    #[test]
    fn hours_after_the_newest_hour_of_data_are_absent_not_zero() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let buckets = local_day_buckets(Tz::UTC, day);
        let totals: HashMap<_, _> = [(buckets[0].naive_utc(), 5), (buckets[2].naive_utc(), 1)]
            .into_iter()
            .collect();
        let now = buckets[5] + Duration::minutes(10);
        let newest = Some(buckets[2].naive_utc());
        let entries = daily_entries(Tz::UTC, &buckets, &totals, now, newest);
        assert_eq!(
            entries.iter().map(|e| e.total_primary).collect::<Vec<_>>(),
            vec![5, 0, 1]
        );
    }

    #[test]
    fn utc_hours_are_rebucketed_into_the_local_period_where_they_start() {
        let hour = |s: &str| row(None, None, Some(s), 1);
        // New York's fall-back day: 03:00 UTC is still October 31st (23:00 EDT), 04:00 is
        // local midnight, 05:00 and 06:00 UTC are both local 01:00 (EDT, then EST).
        let rows = vec![
            hour("2026-11-01 03"),
            hour("2026-11-01 04"),
            hour("2026-11-01 05"),
            hour("2026-11-01 06"),
        ];
        let ny = Tz::America__New_York;
        let days = rebucket(rows.clone(), TimeGroup::Hour, TimeGroup::Day, ny, false);
        let got: Vec<_> = days
            .iter()
            .map(|r| (r.bucket.clone().unwrap(), r.value))
            .collect();
        assert_eq!(
            got,
            vec![("2026-10-31".into(), 1), ("2026-11-01".into(), 3)]
        );
        let hours = rebucket(rows, TimeGroup::Hour, TimeGroup::Hour, ny, false);
        let labels: Vec<_> = sums_from_buckets(hours, TimeGroup::Hour, ny)
            .into_iter()
            .map(|e| e.time_group)
            .collect();
        assert_eq!(
            labels,
            vec![
                "2026-10-31T23:00:00-04:00",
                "2026-11-01T00:00:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:00:00-05:00"
            ]
        );
        let days = vec![
            row(None, None, Some("2026-03-01"), 1),
            row(None, None, Some("2026-03-02"), 2),
            row(None, None, Some("2026-03-08"), 4),
        ];
        let weeks = rebucket(days, TimeGroup::Day, TimeGroup::Week, Tz::UTC, false);
        let got: Vec<_> = weeks
            .iter()
            .map(|r| (r.bucket.clone().unwrap(), r.value))
            .collect();
        assert_eq!(
            got,
            vec![("2026-02-23".into(), 1), ("2026-03-02".into(), 6)]
        );
    }

    #[test]
    fn a_legacy_month_keeps_its_utc_total_and_neighbours_edge_hours_join_it_locally() {
        let d = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        let hour = |s: &str, v| row(None, None, Some(s), v);
        // Legacy 2026-01. In New York, 2026-02-01 03:00 UTC is still January 31st.
        let legacy = vec![(d(2026, 1), 100)];
        let hourly = vec![
            hour("2026-01-01 02", 1000), // inside the legacy UTC month: never counted
            hour("2026-01-31 12", 1000),
            hour("2026-02-01 03", 7),
            hour("2026-02-01 06", 9),
        ];
        let ny = Tz::America__New_York;
        let months = merge_legacy(
            hourly.clone(),
            TimeGroup::Hour,
            &legacy,
            DateRange::default(),
            (TimeGroup::Month, ny),
            None,
        );
        let got: Vec<_> = months
            .iter()
            .map(|e| (e.time_group.as_str(), e.total_sum))
            .collect();
        assert_eq!(got, vec![("2026-01-01", 107), ("2026-02-01", 9)]);
        // The month of the newest hour is still filling: its hourly rows count, not legacy.
        let filling = merge_legacy(
            hourly,
            TimeGroup::Hour,
            &legacy,
            DateRange::default(),
            (TimeGroup::Month, Tz::UTC),
            Some(NaiveDateTime::parse_from_str("2026-01-31 12:00:00", "%F %T").unwrap()),
        );
        let got: Vec<_> = filling
            .iter()
            .map(|e| (e.time_group.as_str(), e.total_sum))
            .collect();
        assert_eq!(got, vec![("2026-01-01", 2000), ("2026-02-01", 16)]);
    }
}
