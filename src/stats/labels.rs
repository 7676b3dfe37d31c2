//! Time labels, in both directions: the raw bucket text the SQL writes (`YYYY`, `YYYY-MM`,
//! `YYYY-MM-DD`, `YYYY-MM-DD HH`) and the labels answers show (`YYYY`, `YYYY-MM-01`,
//! `YYYY-MM-DD`, `YYYY-MM-DDTHH:00:00Z`). Every other module reads and writes them through here.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
use chrono_tz::Tz;

use super::vocab::TimeGroup;

/// The raw label of the hour starting at `hour` (`YYYY-MM-DD HH`), as `sql::bucket_expr`
/// writes it on SQLite and Rust writes it for the backends that group by the stored timestamp.
pub fn raw_hour(hour: NaiveDateTime) -> String {
    format!("{} {:02}", day(hour.date()), hour.hour())
}

/// `YYYY-MM-DD`, as `%Y-%m-%d` writes it for the years 0 to 9999, written directly: a year
/// of days by country labels 79,000 days, and parsing the format each time was a tenth of
/// such an answer's time.
pub fn day(day: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), day.month(), day.day())
}

/// Start of the UTC hour a raw `YYYY-MM-DD HH` bucket names.
pub fn parse_raw_hour(raw: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(&format!("{raw}:00:00"), "%Y-%m-%d %H:%M:%S").ok()
}

/// First day of the month a raw `YYYY-MM` bucket names.
pub fn parse_raw_month(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d").ok()
}

/// The answer's label of a raw bucket of `time_group` in `tz` (raw buckets: `YYYY`, `YYYY-MM`,
/// `YYYY-MM-DD` for days and for the Mondays of weeks, and for hours the UTC hour
/// `YYYY-MM-DD HH`, which sorts in time order where local labels would not). An hour is
/// labelled `...Z` in UTC and with the local start and offset in any other zone.
pub fn bucket_label(time_group: TimeGroup, tz: Tz, raw: String) -> String {
    match time_group {
        TimeGroup::Year | TimeGroup::Week | TimeGroup::Day => raw,
        TimeGroup::Month => format!("{raw}-01"),
        TimeGroup::Hour if tz == Tz::UTC => match raw.split_once(' ') {
            Some((day, hour)) => format!("{day}T{hour}:00:00Z"),
            None => raw,
        },
        TimeGroup::Hour => match parse_raw_hour(&raw) {
            Some(hour) => local_hour(tz, hour),
            None => raw,
        },
    }
}

/// The local start of the UTC hour `hour` in `tz`, `YYYY-MM-DDTHH:MM:00±HH:MM`.
pub fn local_hour(tz: Tz, hour: NaiveDateTime) -> String {
    hour.and_utc()
        .with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M:00%:z")
        .to_string()
}

/// The raw bucket of `time_group` in `tz` that the UTC hour `hour` starts in.
pub fn local_bucket(time_group: TimeGroup, tz: Tz, hour: NaiveDateTime) -> String {
    if time_group == TimeGroup::Hour {
        return raw_hour(hour);
    }
    local_day_bucket(time_group, hour.and_utc().with_timezone(&tz).date_naive())
}

/// The raw bucket of `time_group` (not `Hour`) that the day `day` belongs to.
pub fn local_day_bucket(time_group: TimeGroup, day: NaiveDate) -> String {
    match time_group {
        TimeGroup::Year => day.format("%Y").to_string(),
        TimeGroup::Month => day.format("%Y-%m").to_string(),
        TimeGroup::Week => {
            let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
            self::day(monday)
        }
        TimeGroup::Day | TimeGroup::Hour => self::day(day),
    }
}

/// First day of the day a raw `YYYY-MM-DD` bucket names.
pub fn parse_raw_day(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// The answer's label of a month of a monthly table (`YYYY-MM-01`, or `YYYY` by year).
pub fn month_label(time_group: TimeGroup, month: NaiveDate) -> String {
    match time_group {
        TimeGroup::Year => format!("{:04}", month.year()),
        _ => day(month),
    }
}

/// A UTC hour in ISO 8601, as `X-Data-As-Of` and `/readyz` write the newest hour.
pub fn utc_hour(hour: NaiveDateTime) -> String {
    format!("{}T{:02}:00:00Z", day(hour.date()), hour.hour())
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_written_directly_are_what_the_formats_write() {
        let mut t = NaiveDate::from_ymd_opt(1994, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        while t.year() < 2031 {
            assert_eq!(super::day(t.date()), t.format("%Y-%m-%d").to_string());
            assert_eq!(raw_hour(t), t.format("%Y-%m-%d %H").to_string());
            assert_eq!(utc_hour(t), t.format("%Y-%m-%dT%H:00:00Z").to_string());
            t += Duration::hours(7);
        }
    }

    use super::*;

    #[test]
    fn labels_have_one_format_per_time_group() {
        let label = |tg, raw: &str| bucket_label(tg, Tz::UTC, raw.into());
        assert_eq!(label(TimeGroup::Year, "2026"), "2026");
        assert_eq!(label(TimeGroup::Month, "2026-03"), "2026-03-01");
        assert_eq!(label(TimeGroup::Day, "2026-03-08"), "2026-03-08");
        assert_eq!(label(TimeGroup::Week, "2026-03-02"), "2026-03-02");
        assert_eq!(
            label(TimeGroup::Hour, "2026-03-08 07"),
            "2026-03-08T07:00:00Z"
        );
    }

    #[test]
    fn local_hours_carry_their_offset_and_weeks_start_on_monday() {
        let hour = parse_raw_hour("2026-11-01 05").unwrap();
        let ny = Tz::America__New_York;
        assert_eq!(local_hour(ny, hour), "2026-11-01T01:00:00-04:00");
        assert_eq!(
            local_hour(ny, hour + Duration::hours(1)),
            "2026-11-01T01:00:00-05:00"
        );
        assert_eq!(
            bucket_label(TimeGroup::Hour, Tz::Asia__Kathmandu, "2026-03-08 07".into()),
            "2026-03-08T12:45:00+05:45"
        );
        // 2026-03-08 is a Sunday: its ISO week started on Monday 2026-03-02.
        assert_eq!(local_bucket(TimeGroup::Week, ny, hour), "2026-10-26");
        assert_eq!(
            local_day_bucket(
                TimeGroup::Week,
                NaiveDate::from_ymd_opt(2026, 3, 8).unwrap()
            ),
            "2026-03-02"
        );
        // 03:00 UTC on New Year's Day is still the old year in New York.
        let new_year = parse_raw_hour("2026-01-01 03").unwrap();
        assert_eq!(local_bucket(TimeGroup::Year, ny, new_year), "2025");
        assert_eq!(local_bucket(TimeGroup::Month, Tz::UTC, new_year), "2026-01");
    }

    #[test]
    fn raw_hours_read_back_as_they_were_written() {
        let hour = parse_raw_hour("2026-03-08 07").unwrap();
        assert_eq!(raw_hour(hour), "2026-03-08 07");
        assert_eq!(utc_hour(hour), "2026-03-08T07:00:00Z");
        assert_eq!(
            parse_raw_month("2026-03"),
            NaiveDate::from_ymd_opt(2026, 3, 1)
        );
    }
}
