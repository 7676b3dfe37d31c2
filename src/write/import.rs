//! The explicit import commands: legacy monthly download totals in the original's JSON format,
//! and monthly submissions as CSV. Every entry is checked before anything is written, and the
//! write is one transaction, so a bad file changes nothing.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use serde_json::Value;

use super as write;
use super::progress::Progress;
use crate::stats::params::parse_date;

/// Why a file was refused; the message names the entry and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

fn invalid(message: String) -> ImportError {
    ImportError::Invalid(message)
}

/// Parses `[{"time_group": "YYYY-MM-01", "total_sum": N}, ...]`.
pub fn parse_legacy(text: &str) -> Result<Vec<(NaiveDate, i64)>, ImportError> {
    let value: Value = serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let entries = value.as_array().ok_or_else(|| {
        invalid("expected a JSON array of {\"time_group\", \"total_sum\"} objects".into())
    })?;
    let mut months = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let n = i + 1;
        let object = entry
            .as_object()
            .ok_or_else(|| invalid(format!("entry {n}: expected an object, found {entry}")))?;
        if let Some(key) = object
            .keys()
            .find(|k| *k != "time_group" && *k != "total_sum")
        {
            return Err(invalid(format!(
                "entry {n}: unknown key {key:?}; allowed: time_group, total_sum"
            )));
        }
        let label = object
            .get("time_group")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(format!(
                    "entry {n}: time_group must be a string \"YYYY-MM-01\""
                ))
            })?;
        let month = parse_month(label)
            .map_err(|reason| invalid(format!("entry {n} ({label:?}): {reason}")))?;
        let total = object
            .get("total_sum")
            .and_then(Value::as_i64)
            .filter(|v| *v >= 0)
            .ok_or_else(|| {
                invalid(format!(
                    "entry {n} ({label}): total_sum must be a non-negative integer, found {}",
                    object
                        .get("total_sum")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "nothing".into())
                ))
            })?;
        months.push((month, total));
    }
    check_unique(&months, |(m, _)| *m)?;
    if looks_yearly(&months) {
        return Err(invalid(
            "this looks like yearly totals (one YYYY-01-01 entry per year); years are derived from \
             months, so import the monthly file (monthly_data.json) instead"
                .into(),
        ));
    }
    Ok(months)
}

/// A CSV reader past the header line, which must be `header` exactly (fields trimmed).
fn csv_reader<'t>(text: &'t str, header: &[&str]) -> Result<csv::Reader<&'t [u8]>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let found = reader
        .headers()
        .map_err(|e| invalid(format!("header: {e}")))?
        .clone();
    if found.iter().collect::<Vec<_>>() != header {
        return Err(invalid(format!(
            "the header must be \"{}\", found {:?}",
            header.join(","),
            found.iter().collect::<Vec<_>>().join(",")
        )));
    }
    Ok(reader)
}

/// Parses a `month,count` CSV with a header line.
pub fn parse_submissions(text: &str) -> Result<Vec<(NaiveDate, i32)>, ImportError> {
    let mut reader = csv_reader(text, &["month", "count"])?;
    let mut months = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Line numbers as an editor shows them: the header is line 1.
        let line = i + 2;
        let record = record.map_err(|e| invalid(format!("line {line}: {e}")))?;
        let label = record.get(0).unwrap_or_default();
        let month = parse_month(label)
            .map_err(|reason| invalid(format!("line {line} ({label:?}): {reason}")))?;
        let count_text = record.get(1).unwrap_or_default();
        let count = count_text
            .parse::<i32>()
            .ok()
            .filter(|c| *c >= 0)
            .ok_or_else(|| invalid(format!("line {line} ({label}): count must be a non-negative integer, found {count_text:?}")))?;
        months.push((month, count));
    }
    check_unique(&months, |(m, _)| *m)?;
    Ok(months)
}

/// One hour of edge requests: UTC hour start, source, count.
pub type RequestRow = (chrono::NaiveDateTime, u8, Option<i32>);

/// Parses a `start_dttm,source_id,request_count` CSV (the header line is that one; hours are UTC
/// hour starts, `YYYY-MM-DD HH:00:00`; an empty count is NULL). One (hour, source) at most once.
pub fn parse_requests(text: &str) -> Result<Vec<RequestRow>, ImportError> {
    let mut reader = csv_reader(text, &["start_dttm", "source_id", "request_count"])?;
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    loop {
        // The line as an editor shows it, from the byte where the reader stands: it skips blank
        // lines without counting them in its own line numbers.
        let at = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
        let rest = text.get(at..).unwrap_or_default();
        let blank = rest.len() - rest.trim_start_matches(['\r', '\n']).len();
        let line = text
            .get(..at + blank)
            .map_or(0, |before| before.matches('\n').count() + 1);
        let mut record = csv::StringRecord::new();
        let more = reader
            .read_record(&mut record)
            .map_err(|e| invalid(format!("line {line}: {e}")))?;
        if !more {
            break;
        }
        if record.len() != 3 {
            return Err(invalid(format!(
                "line {line}: expected 3 fields (start_dttm,source_id,request_count), found {}",
                record.len()
            )));
        }
        let hour_text = &record[0];
        let hour = chrono::NaiveDateTime::parse_from_str(hour_text, "%Y-%m-%d %H:%M:%S")
            .ok()
            .filter(|h| h.format("%M:%S").to_string() == "00:00")
            .ok_or_else(|| {
                invalid(format!(
                    "line {line}: start_dttm {hour_text:?} is not a UTC hour start written \
                     YYYY-MM-DD HH:00:00"
                ))
            })?;
        let source_text = &record[1];
        let source = source_text.parse::<u8>().map_err(|_| {
            invalid(format!(
                "line {line}: source_id must be an integer from 0 to 255, found {source_text:?}"
            ))
        })?;
        let count_text = &record[2];
        let count =
            if count_text.is_empty() {
                None
            } else {
                Some(count_text.parse::<i32>().ok().filter(|c| *c >= 0).ok_or_else(|| {
                invalid(format!(
                    "line {line}: request_count must be a non-negative integer (or empty), \
                     found {count_text:?}"
                ))
            })?)
            };
        if !seen.insert((hour, source)) {
            return Err(invalid(format!(
                "line {line}: hour {hour} of source {source} appears more than once"
            )));
        }
        rows.push((hour, source, count));
    }
    Ok(rows)
}

/// Upserts edge requests in one transaction.
pub async fn import_requests(
    db: &DatabaseConnection,
    rows: &[RequestRow],
) -> Result<(), ImportError> {
    let tx = db.begin().await?;
    let mut progress = Progress::new("writing request hours", rows.len() as u64, "hours");
    for chunk in rows.chunks(CHUNK * 10) {
        write::upsert_hourly_requests(&tx, chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    tx.commit().await?;
    Ok(())
}

fn parse_month(label: &str) -> Result<NaiveDate, String> {
    let date = parse_date(label).ok_or("not a date written YYYY-MM-DD")?;
    if date.day() != 1 {
        return Err("the label must be the first day of a month (YYYY-MM-01)".into());
    }
    Ok(date)
}

fn check_unique<T>(rows: &[T], month: impl Fn(&T) -> NaiveDate) -> Result<(), ImportError> {
    let mut seen = BTreeSet::new();
    for row in rows {
        let m = month(row);
        if !seen.insert(m) {
            return Err(invalid(format!("month {m} appears more than once")));
        }
    }
    Ok(())
}

/// Several entries, all in January, one year apart: the original's yearly file.
fn looks_yearly(months: &[(NaiveDate, i64)]) -> bool {
    months.len() >= 2
        && months.iter().all(|(m, _)| m.month() == 1)
        && months
            .windows(2)
            .all(|w| w[1].0.year() - w[0].0.year() == 1)
}

/// Months per statement: small enough for every backend's parameter limit.
const CHUNK: usize = 120;

/// Upserts legacy months in one transaction.
pub async fn import_legacy(
    db: &DatabaseConnection,
    months: &[(NaiveDate, i64)],
) -> Result<(), ImportError> {
    let tx = db.begin().await?;
    let mut progress = Progress::new("writing legacy months", months.len() as u64, "months");
    for chunk in months.chunks(CHUNK) {
        write::upsert_monthly_downloads(&tx, chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    tx.commit().await?;
    Ok(())
}

/// Upserts submission months in one transaction.
pub async fn import_submissions(
    db: &DatabaseConnection,
    months: &[(NaiveDate, i32)],
) -> Result<(), ImportError> {
    let tx = db.begin().await?;
    let mut progress = Progress::new("writing submission months", months.len() as u64, "months");
    for chunk in months.chunks(CHUNK) {
        write::upsert_monthly_submissions(&tx, chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requests_file_names_the_line_that_is_wrong() {
        let good = "start_dttm,source_id,request_count\n2026-12-01 05:00:00,0,1200\n2026-12-01 05:00:00,1,\n";
        let rows = parse_requests(good).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].2, None);
        for (bad, says) in [
            (
                "start_dttm,source_id,request_count\n2026-12-01 05:30:00,0,1\n",
                "line 2: start_dttm",
            ),
            (
                "start_dttm,source_id,request_count\n2026-12-01 05:00:00,0,1\n2026-12-01 06:00:00,256,1\n",
                "line 3: source_id",
            ),
            (
                "start_dttm,source_id,request_count\n2026-12-01 05:00:00,0,-4\n",
                "line 2: request_count",
            ),
            (
                "start_dttm,source_id,request_count\n2026-12-01 05:00:00,0,1\n2026-12-01 05:00:00,0,2\n",
                "line 3: hour",
            ),
            ("hour,requests\n", "the header"),
            // A blank line is skipped, and still counted in the line named.
            (
                "start_dttm,source_id,request_count\n2026-12-01 05:00:00,0,1\n\n2026-12-01 06:00:00,x,1\n",
                "line 4: source_id",
            ),
        ] {
            let err = parse_requests(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_good_legacy_file_parses() {
        let months = parse_legacy(r#"[{"time_group": "1994-01-01", "total_sum": 0}, {"time_group": "1994-02-01", "total_sum": 1863}]"#).unwrap();
        assert_eq!(months.len(), 2);
        assert_eq!(
            months[1],
            (NaiveDate::from_ymd_opt(1994, 2, 1).unwrap(), 1863)
        );
    }

    #[test]
    fn each_bad_entry_is_named_with_its_reason() {
        let cases = [
            (
                r#"[{"time_group": "1994-01-02", "total_sum": 1}]"#,
                "entry 1 (\"1994-01-02\"): the label must be the first day",
            ),
            (
                r#"[{"time_group": "1994-01-01", "total_sum": 1}, {"time_group": "1994-02-01", "total_sum": -5}]"#,
                "entry 2 (1994-02-01): total_sum must be a non-negative integer, found -5",
            ),
            (
                r#"[{"time_group": "1994-01-01", "total_sum": 1.5}]"#,
                "found 1.5",
            ),
            (
                r#"[{"time_group": "1994-01-01", "total_sum": "7"}]"#,
                "found \"7\"",
            ),
            (
                r#"[{"time_group": "1994-13-01", "total_sum": 7}]"#,
                "not a date",
            ),
            (r#"[{"time_group": "1994-01-01"}]"#, "found nothing"),
            (
                r#"[{"time_group": "1994-01-01", "total_sum": 1, "x": 2}]"#,
                "unknown key \"x\"",
            ),
            (
                r#"[{"time_group": "1994-03-01", "total_sum": 1}, {"time_group": "1994-03-01", "total_sum": 2}]"#,
                "month 1994-03-01 appears more than once",
            ),
            (r#"{"time_group": "1994-01-01"}"#, "expected a JSON array"),
            (r#"[3]"#, "entry 1: expected an object"),
        ];
        for (text, expected) in cases {
            let err = parse_legacy(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn a_yearly_file_is_refused() {
        let err = parse_legacy(r#"[{"time_group": "1994-01-01", "total_sum": 9}, {"time_group": "1995-01-01", "total_sum": 9}]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("years are derived from months"), "{err}");
    }

    #[test]
    fn submissions_csv_parses_and_bad_lines_are_named() {
        let months =
            parse_submissions("month,count\n2024-01-01,20000\n2024-02-01, 21000\n").unwrap();
        assert_eq!(months.len(), 2);
        let err = parse_submissions("month,count\n2024-01-01,20000\n2024-02-15,1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("first day"), "{err}");
        let err = parse_submissions("month,count\n2024-01-01,-1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("non-negative"),
            "{err}"
        );
        let err = parse_submissions("when,n\n2024-01-01,1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("month,count"), "{err}");
    }
}
