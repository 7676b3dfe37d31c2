//! Time labels, in both directions: the raw bucket text the SQL writes (`YYYY`, `YYYY-MM`,
//! `YYYY-MM-DD`, `YYYY-MM-DD HH`) and the labels answers show (`YYYY`, `YYYY-MM-01`,
//! `YYYY-MM-DD`, `YYYY-MM-DDTHH:00:00Z`). Every other module reads and writes them through here.

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::vocab::TimeGroup;

/// The raw hour bucket, as `sql::bucket_expr` writes it on SQLite and Rust writes it for the
/// backends that group by the stored timestamp.
const RAW_HOUR: &str = "%Y-%m-%d %H";

/// The raw label of the hour starting at `hour`.
pub fn raw_hour(hour: NaiveDateTime) -> String {
    hour.format(RAW_HOUR).to_string()
}

/// Start of the UTC hour a raw `YYYY-MM-DD HH` bucket names.
pub fn parse_raw_hour(raw: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(&format!("{raw}:00:00"), "%Y-%m-%d %H:%M:%S").ok()
}

/// First day of the month a raw `YYYY-MM` bucket names.
pub fn parse_raw_month(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d").ok()
}

/// The answer's label of a raw bucket.
pub fn bucket_label(time_group: TimeGroup, raw: String) -> String {
    match time_group {
        TimeGroup::Year | TimeGroup::Day => raw,
        TimeGroup::Month => format!("{raw}-01"),
        TimeGroup::Hour => match raw.split_once(' ') {
            Some((day, hour)) => format!("{day}T{hour}:00:00Z"),
            None => raw,
        },
    }
}

/// The answer's label of a month of a monthly table (`YYYY-MM-01`, or `YYYY` by year).
pub fn month_label(time_group: TimeGroup, month: NaiveDate) -> String {
    match time_group {
        TimeGroup::Year => format!("{:04}", month.year()),
        _ => month.format("%Y-%m-%d").to_string(),
    }
}

/// A UTC hour in ISO 8601, as `X-Data-As-Of` and `/readyz` write the newest hour.
pub fn utc_hour(hour: NaiveDateTime) -> String {
    hour.format("%Y-%m-%dT%H:00:00Z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_have_one_format_per_time_group() {
        assert_eq!(bucket_label(TimeGroup::Year, "2026".into()), "2026");
        assert_eq!(
            bucket_label(TimeGroup::Month, "2026-03".into()),
            "2026-03-01"
        );
        assert_eq!(
            bucket_label(TimeGroup::Day, "2026-03-08".into()),
            "2026-03-08"
        );
        assert_eq!(
            bucket_label(TimeGroup::Hour, "2026-03-08 07".into()),
            "2026-03-08T07:00:00Z"
        );
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
