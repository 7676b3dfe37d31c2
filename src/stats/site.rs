//! arXiv's statistics site under `/stats`: its three CSV endpoints and four pages, from the same
//! tables as the API. "Local" is `site.timezone` (America/New_York by default).
//!
//! A [`SiteQuery`] is a cache key like any other [`super::Query`]; it says itself whether it is a
//! page or a CSV answer, so the format of the key plays no part. Pages are written by
//! [`super::pages`], CSV here, byte for byte as arXiv's service writes it (Python's `csv`
//! module: a header line, CRLF after every line).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::params::{ParamError, TimeRange, from_query};
use super::repo::Freshness;
use super::sql::Aggregate;
use super::vocab::{Metric, TimeGroup};
use super::{Answer, Payload, Stats, StatsError};

/// What the site needs from the settings; part of every key, so that an answer names the zone
/// and source it was computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SiteConfig {
    pub tz: Tz,
    pub requests_source: u8,
    pub deleted_submissions: i64,
    pub migrated_submissions: i64,
    pub start_date: NaiveDate,
}

/// The routes of the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SitePath {
    Main,
    Today,
    MonthlyDownloads,
    MonthlySubmissions,
    HourlyRequestsCsv,
    MonthlyDownloadsCsv,
    MonthlySubmissionsCsv,
}

impl SitePath {
    pub const ALL: [SitePath; 7] = [
        SitePath::Main,
        SitePath::Today,
        SitePath::MonthlyDownloads,
        SitePath::MonthlySubmissions,
        SitePath::HourlyRequestsCsv,
        SitePath::MonthlyDownloadsCsv,
        SitePath::MonthlySubmissionsCsv,
    ];

    pub fn path(self) -> &'static str {
        match self {
            SitePath::Main => "/stats/main",
            SitePath::Today => "/stats/today",
            SitePath::MonthlyDownloads => "/stats/monthly_downloads",
            SitePath::MonthlySubmissions => "/stats/monthly_submissions",
            SitePath::HourlyRequestsCsv => "/stats/get_hourly_requests",
            SitePath::MonthlyDownloadsCsv => "/stats/get_monthly_downloads",
            SitePath::MonthlySubmissionsCsv => "/stats/get_monthly_submissions",
        }
    }

    pub fn is_csv(self) -> bool {
        matches!(
            self,
            SitePath::HourlyRequestsCsv
                | SitePath::MonthlyDownloadsCsv
                | SitePath::MonthlySubmissionsCsv
        )
    }

    /// arXiv's `Surrogate-Key` of the route, for purging a CDN in front.
    pub fn surrogate_key(self) -> &'static str {
        match self {
            SitePath::Main => "stats main",
            SitePath::Today => "stats today",
            SitePath::HourlyRequestsCsv => "stats requests hourly",
            SitePath::MonthlyDownloads | SitePath::MonthlyDownloadsCsv => "stats downloads monthly",
            SitePath::MonthlySubmissions | SitePath::MonthlySubmissionsCsv => {
                "stats submissions monthly"
            }
        }
    }
}

/// A request to the site, normalized: "today" resolved to a date, `latest_hour` to a UTC hour.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteQuery {
    pub config: SiteConfig,
    pub kind: SiteKind,
    /// A page (HTML) rather than the CSV answer.
    pub page: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteKind {
    Main,
    /// The requests of one local day.
    Requests {
        date: NaiveDate,
    },
    /// Monthly downloads through the UTC hour `latest_hour` (`None`: the newest hour of data).
    Downloads {
        latest_hour: Option<NaiveDateTime>,
    },
    /// Monthly submissions; the page counts them up to `today`.
    Submissions {
        today: Option<NaiveDate>,
    },
}

/// The query parameters of `/stats/today` and `/stats/get_hourly_requests`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayParams {
    /// A local day as `YYYYMMDD` (default, and for an empty value: today in site.timezone).
    #[param(pattern = "^[0-9]{8}$", max_length = 8)]
    pub date: Option<String>,
}

/// The query parameters of `/stats/get_monthly_downloads`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LatestHourParams {
    /// A local hour as `YYYYMMDDHH` in site.timezone (`2026120118` is 18:00); a repeated
    /// fall-back hour means the first, a skipped spring-forward hour is refused.
    #[param(required = true, pattern = "^[0-9]{10}$", max_length = 10)]
    pub latest_hour: Option<String>,
}

/// Routes that take no parameters (unknown ones are ignored, as on the API).
#[derive(Debug, Deserialize)]
pub struct NoParams {}

impl SiteQuery {
    /// Parses the query string of a request to `path`; `now` resolves "today".
    pub fn parse(
        path: SitePath,
        query_string: &str,
        now: DateTime<Utc>,
        config: SiteConfig,
    ) -> Result<Self, ParamError> {
        let today = now.with_timezone(&config.tz).date_naive();
        let kind = match path {
            SitePath::Main => {
                from_query::<NoParams>(query_string)?;
                SiteKind::Main
            }
            SitePath::Today | SitePath::HourlyRequestsCsv => {
                let p: DayParams = from_query(query_string)?;
                let date = match p.date.as_deref() {
                    None => today,
                    Some(s) => parse_day(s).ok_or_else(|| {
                        ParamError::Invalid(format!(
                            "parameter date: {s:?} is not a day; expected YYYYMMDD, a day in {} \
                             (for example {})",
                            config.tz,
                            today.format("%Y%m%d")
                        ))
                    })?,
                };
                SiteKind::Requests { date }
            }
            SitePath::MonthlyDownloads => {
                from_query::<NoParams>(query_string)?;
                SiteKind::Downloads { latest_hour: None }
            }
            SitePath::MonthlyDownloadsCsv => {
                let p: LatestHourParams = from_query(query_string)?;
                let expected = format!(
                    "expected YYYYMMDDHH, an hour in {} (for example {}18 is 18:00 that day)",
                    config.tz,
                    today.format("%Y%m%d")
                );
                let Some(s) = p.latest_hour.as_deref() else {
                    return Err(ParamError::Invalid(format!(
                        "parameter latest_hour is required; {expected}"
                    )));
                };
                let latest = parse_local_hour(s, config.tz).map_err(|reason| {
                    ParamError::Invalid(format!(
                        "parameter latest_hour: {s:?} {reason}; {expected}"
                    ))
                })?;
                SiteKind::Downloads {
                    latest_hour: Some(latest),
                }
            }
            SitePath::MonthlySubmissions => {
                from_query::<NoParams>(query_string)?;
                SiteKind::Submissions { today: Some(today) }
            }
            SitePath::MonthlySubmissionsCsv => {
                from_query::<NoParams>(query_string)?;
                SiteKind::Submissions { today: None }
            }
        };
        Ok(Self {
            config,
            kind,
            page: !path.is_csv(),
        })
    }

    /// The hours of the hourly download table the answer depends on (`None`: none).
    pub fn time_range(&self) -> Option<TimeRange> {
        match self.kind {
            SiteKind::Main | SiteKind::Submissions { .. } => None,
            // The requests table is not the downloads table, but "today" must still live only
            // as long as recent answers do: its range ends after the newest hour of data.
            SiteKind::Requests { date } => {
                let (from, to) = local_day(self.config.tz, date);
                Some(TimeRange {
                    from: Some(from),
                    to: Some(to),
                })
            }
            SiteKind::Downloads { latest_hour } => Some(TimeRange {
                from: None,
                to: latest_hour.map(|h| h + Duration::hours(1)),
            }),
        }
    }

    pub fn reads_legacy(&self) -> bool {
        matches!(self.kind, SiteKind::Downloads { .. })
    }

    pub fn reads_submissions(&self) -> bool {
        matches!(self.kind, SiteKind::Submissions { .. })
    }

    pub fn reads_requests(&self) -> bool {
        matches!(self.kind, SiteKind::Requests { .. })
    }
}

/// `YYYYMMDD`: eight digits that make a real date.
fn parse_day(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Years every backend stores (MySQL's DATETIME starts at 1000).
    NaiveDate::parse_from_str(s, "%Y%m%d")
        .ok()
        .filter(|d| (1000..=9998).contains(&d.year()))
}

/// `YYYYMMDDHH` in `tz` to the UTC start of that hour. An hour repeated by a fall-back means the
/// first of the two; an hour skipped by a spring-forward is refused.
fn parse_local_hour(s: &str, tz: Tz) -> Result<NaiveDateTime, &'static str> {
    if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not 10 digits");
    }
    let day = parse_day(&s[..8]).ok_or("is not a real date")?;
    let hour: u32 = s[8..].parse().map_err(|_| "has no hour")?;
    let local = day.and_hms_opt(hour, 0, 0).ok_or("has an hour past 23")?;
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Ok(t.naive_utc()),
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.naive_utc()),
        chrono::LocalResult::None => Err("does not exist: the clocks skip that hour"),
    }
}

/// The UTC hours `[from, to)` whose starts fall on the local day `date`.
fn local_day(tz: Tz, date: NaiveDate) -> (NaiveDateTime, NaiveDateTime) {
    let buckets = super::shape::local_day_buckets(tz, date);
    match (buckets.first(), buckets.last()) {
        (Some(first), Some(last)) => (first.naive_utc(), last.naive_utc() + Duration::hours(1)),
        _ => {
            let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
            (midnight, midnight)
        }
    }
}

/// Whether a database error says that a table does not exist (each backend words it its way).
fn missing_table(e: &sea_orm::DbErr) -> bool {
    let text = e.to_string().to_lowercase();
    text.contains("hourly_requests")
        && (text.contains("does not exist")
            || text.contains("doesn't exist")
            || text.contains("no such table"))
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// A site answer before it is written as a page or CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct SitePayload {
    pub config: SiteConfig,
    pub page: bool,
    /// When the answer was computed (the pages show the local time).
    pub generated: DateTime<Utc>,
    pub content: SiteContent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SiteContent {
    Main,
    Requests {
        date: NaiveDate,
        /// Local hour starts and their requests, ascending.
        hours: Vec<(DateTime<Tz>, i64)>,
    },
    Downloads {
        months: Vec<(NaiveDate, i64)>,
        /// The hour the series runs through, local (`None`: no hourly data).
        latest_hour: Option<DateTime<Tz>>,
    },
    Submissions {
        months: Vec<(NaiveDate, i64)>,
        today: Option<NaiveDate>,
    },
}

impl Stats {
    /// Computes a site answer.
    pub async fn site(&self, q: &SiteQuery, now: DateTime<Utc>) -> Result<Answer, StatsError> {
        let tz = q.config.tz;
        let repo = self.repository();
        let (content, freshness) = match q.kind {
            SiteKind::Main => (SiteContent::Main, Freshness::Unknown),
            SiteKind::Requests { date } => {
                let (from, to) = local_day(tz, date);
                let rows = match repo
                    .hourly_requests(q.config.requests_source, from, to)
                    .await
                {
                    Ok(rows) => rows,
                    // Someone else's schema may have no edge-request table: no data, not an
                    // error page.
                    Err(e) if missing_table(&e) => {
                        log::warn!("the edge requests cannot be read: {e}");
                        Vec::new()
                    }
                    Err(e) => return Err(e.into()),
                };
                let hours = rows
                    .into_iter()
                    .map(|(utc, n)| (utc.and_utc().with_timezone(&tz), n))
                    .filter(|(local, _)| local.date_naive() == date)
                    .collect();
                (SiteContent::Requests { date, hours }, Freshness::Unknown)
            }
            SiteKind::Downloads { latest_hour } => {
                let latest = match latest_hour {
                    Some(h) => Some(h),
                    // The page links its CSV with the newest hour written as a local hour; read
                    // it back the same way, so that in the repeated hour of a fall-back (which a
                    // local hour names as the first of the two) page and CSV still agree.
                    None => repo.newest_hour().await?.map(|h| {
                        let local = h
                            .and_utc()
                            .with_timezone(&tz)
                            .format("%Y%m%d%H")
                            .to_string();
                        parse_local_hour(&local, tz).unwrap_or(h)
                    }),
                };
                let legacy = repo.legacy_months().await?;
                let months = match latest {
                    None => legacy,
                    Some(latest) => {
                        let month = first_of_month(latest.date());
                        let mut months: Vec<_> =
                            legacy.into_iter().filter(|(m, _)| *m < month).collect();
                        let from = month.and_hms_opt(0, 0, 0).unwrap_or_default();
                        let aggregate = Aggregate {
                            dimensions: Vec::new(),
                            time_group: Some(TimeGroup::Month),
                            metric: Metric::Primary,
                            range: TimeRange {
                                from: Some(from),
                                to: Some(latest + Duration::hours(1)),
                            },
                            filters: Vec::new(),
                            limit: None,
                            // UTC months: no local shift.
                            shift: None,
                        };
                        let (rows, _) = repo.aggregate(&aggregate).await?;
                        if !rows.is_empty() {
                            months.push((month, rows.iter().map(|r| r.value).sum()));
                        }
                        months
                    }
                };
                (
                    SiteContent::Downloads {
                        months,
                        latest_hour: latest.map(|h| h.and_utc().with_timezone(&tz)),
                    },
                    Freshness::Unknown,
                )
            }
            SiteKind::Submissions { today } => {
                let months = repo.submission_months(None, None).await?;
                (
                    SiteContent::Submissions { months, today },
                    Freshness::Unknown,
                )
            }
        };
        let payload = Payload::Site(SitePayload {
            config: q.config,
            page: q.page,
            generated: now,
            content,
        });
        Ok(self.dated(payload, freshness).await?)
    }
}

impl SitePayload {
    pub fn content_type(&self) -> &'static str {
        if self.page {
            "text/html; charset=utf-8"
        } else {
            "text/csv; charset=utf-8"
        }
    }

    /// The CSV answer, as arXiv's service writes it.
    pub fn csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        match &self.content {
            SiteContent::Main => {}
            SiteContent::Requests { hours, .. } => {
                out.write_record(["hour", "requests"])?;
                for (hour, n) in hours {
                    out.write_record([local_hour_label(hour), n.to_string()])?;
                }
            }
            SiteContent::Downloads { months, .. } => {
                out.write_record(["month", "downloads"])?;
                for (month, n) in months {
                    out.write_record([month.format("%Y-%m-%d").to_string(), n.to_string()])?;
                }
            }
            SiteContent::Submissions { months, .. } => {
                out.write_record(["month", "submissions"])?;
                for (month, n) in months {
                    out.write_record([month.format("%Y-%m-%d").to_string(), n.to_string()])?;
                }
            }
        }
        out.into_inner().map_err(|e| e.into_error().into())
    }
}

/// `YYYY-MM-DD HH:MM:SS±HH:MM`, the hour labels of arXiv's CSV.
pub fn local_hour_label(hour: &DateTime<Tz>) -> String {
    hour.format("%Y-%m-%d %H:%M:%S%:z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NY: Tz = Tz::America__New_York;

    #[test]
    fn latest_hour_is_a_local_hour_and_refuses_what_does_not_exist() {
        // 18:00 EST is 23:00 UTC.
        assert_eq!(
            parse_local_hour("2026120118", NY).unwrap().to_string(),
            "2026-12-01 23:00:00"
        );
        // Fall-back: 01:00 happens twice; the first (EDT) is meant.
        assert_eq!(
            parse_local_hour("2026110101", NY).unwrap().to_string(),
            "2026-11-01 05:00:00"
        );
        assert!(
            parse_local_hour("2026030802", NY).is_err(),
            "spring-forward gap"
        );
        for bad in [
            "20261201",
            "2026120124",
            "2026130118",
            "20261201180",
            "2026-12-01",
        ] {
            assert!(parse_local_hour(bad, NY).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_are_eight_digits_of_a_real_date() {
        assert_eq!(parse_day("20261105"), NaiveDate::from_ymd_opt(2026, 11, 5));
        for bad in [
            "garbage",
            "2026-11-05",
            "20261301",
            "2026110",
            "202611050",
            "00000101",
            "99991231",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
