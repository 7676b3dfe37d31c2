//! The statistics domain, top-down: the API's words ([`vocab`]), parameters parsed into
//! validated queries ([`params`]), the planner that picks a rollup ([`plan`]), the one SQL
//! builder ([`sql`]), the repository that runs it ([`repo`]) and decodes its rows ([`rows`]),
//! the freshness probe's reading ([`probe`]), result shaping ([`shape`]), time labels
//! ([`labels`]) and writing an answer as JSON or CSV ([`render`]). [`Stats`] ties them into one
//! call per endpoint. Nothing here knows HTTP: errors are [`ParamError`] and [`StatsError`].

pub mod labels;
pub mod pages;
pub mod params;
pub mod plan;
pub mod probe;
pub mod render;
pub mod repo;
pub mod rows;
pub mod shape;
pub mod site;
pub mod sql;
pub mod vocab;

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use sea_orm::DbErr;

pub use params::ParamError;
use params::{
    DailyParams, DailyQuery, DataParams, DataQuery, GlobalSumParams, GlobalSumQuery,
    SubmissionsParams, SubmissionsQuery, TimeRange, from_query,
};
use repo::{Freshness, Repository};
use sql::Aggregate;
use vocab::{Format, Metric, TimeGroup};

/// The data endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    GetData,
    GlobalSum,
    Daily,
    Submissions,
}

impl Endpoint {
    pub const ALL: [Endpoint; 4] = [
        Endpoint::GetData,
        Endpoint::GlobalSum,
        Endpoint::Daily,
        Endpoint::Submissions,
    ];

    /// The request paths of the endpoint: its name first, then aliases (the shipped
    /// dashboard calls the daily endpoint `get_todays_downloads`).
    pub fn paths(self) -> &'static [&'static str] {
        match self {
            Endpoint::GetData => &["/api/get_data"],
            Endpoint::GlobalSum => &["/api/get_global_sum"],
            Endpoint::Daily => &["/api/get_daily_downloads", "/api/get_todays_downloads"],
            Endpoint::Submissions => &["/api/get_submissions"],
        }
    }

    /// The endpoint a request path names.
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.paths().contains(&path))
    }
}

/// A parsed request to a data endpoint: the normalized query and the format it asked for with
/// the `format` parameter (`None`: not said; the HTTP layer may negotiate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub query: Query,
    pub format: Option<Format>,
}

/// A validated, normalized request to a data endpoint: defaults resolved and "today" turned
/// into a date, so that equal keys mean equal answers (the cache key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Query {
    Data(DataQuery),
    GlobalSum(GlobalSumQuery),
    Daily {
        timezone: Tz,
        date: NaiveDate,
    },
    Submissions(SubmissionsQuery),
    /// A page or CSV answer of the `/stats` site.
    Site(site::SiteQuery),
}

/// What one heap allocation of `bytes` costs: glibc's malloc adds an 8-byte header and rounds up
/// to 16 bytes (its smallest chunk is 32). A key of a thousand short filter values holds more in
/// this overhead than in the values themselves.
fn allocation(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        (bytes + 8).div_ceil(16).max(2) * 16
    }
}

impl Query {
    /// Parses a query string for `endpoint`, once: the endpoint's raw params, then the
    /// validated query. `now` resolves the daily endpoint's default date.
    pub fn parse(
        endpoint: Endpoint,
        query_string: &str,
        now: DateTime<Utc>,
    ) -> Result<Request, ParamError> {
        match endpoint {
            Endpoint::GetData => request(query_string, |p: &DataParams| {
                Ok((Query::Data(p.try_into()?), &p.format))
            }),
            Endpoint::GlobalSum => request(query_string, |p: &GlobalSumParams| {
                Ok((Query::GlobalSum(p.try_into()?), &p.format))
            }),
            Endpoint::Daily => request(query_string, |p: &DailyParams| {
                let q = DailyQuery::try_from(p)?;
                let date = q
                    .date
                    .unwrap_or_else(|| now.with_timezone(&q.timezone).date_naive());
                Ok((
                    Query::Daily {
                        timezone: q.timezone,
                        date,
                    },
                    &p.format,
                ))
            }),
            Endpoint::Submissions => request(query_string, |p: &SubmissionsParams| {
                Ok((Query::Submissions(p.try_into()?), &p.format))
            }),
        }
    }

    /// The hours `[from, to)` of the hourly table that the answer depends on (open ends: None);
    /// `None` for an answer that reads no hours.
    pub fn time_range(&self) -> Option<TimeRange> {
        Some(match self {
            Query::Data(q) => q.range.to_time_range_in(q.timezone),
            Query::GlobalSum(q) => q.range.to_time_range_in(q.timezone),
            Query::Submissions(_) => return None,
            Query::Site(q) => return q.time_range(),
            Query::Daily { timezone, date } => {
                let buckets = shape::local_day_buckets(*timezone, *date);
                TimeRange {
                    from: buckets.first().map(|b| b.naive_utc()),
                    to: buckets.last().map(|b| b.naive_utc() + Duration::hours(1)),
                }
            }
        })
    }

    /// The aggregate over the hourly table that the answer is computed from (`None` for
    /// submissions, which read only their own table).
    pub fn aggregate(&self) -> Option<Aggregate> {
        match self {
            Query::Data(q) => {
                let range = q.range.to_time_range_in(q.timezone);
                Some(data_aggregate(q, None, range.from.zip(range.to)))
            }
            Query::GlobalSum(q) => Some(global_sum_aggregate(q)),
            Query::Daily { timezone, date } => Some(daily_aggregate(*timezone, *date)),
            // The `sql` command explains API requests; the site's statements are small.
            Query::Submissions(_) | Query::Site(_) => None,
        }
    }

    /// The bytes the query holds beside its own size (filter values), for the cache's bound.
    pub fn heap_bytes(&self) -> usize {
        let filters = match self {
            Query::Data(q) => q.filters.as_slice(),
            _ => &[],
        };
        std::mem::size_of::<Self>()
            + allocation(std::mem::size_of_val(filters))
            + filters
                .iter()
                .map(|f| {
                    allocation(f.values.capacity() * std::mem::size_of::<String>())
                        + f.values
                            .iter()
                            .map(|v| allocation(v.capacity()))
                            .sum::<usize>()
                })
                .sum::<usize>()
    }

    /// Whether the answer reads `monthly_submissions`.
    pub fn reads_submissions(&self) -> bool {
        match self {
            Query::Submissions(_) => true,
            Query::Site(q) => q.reads_submissions(),
            _ => false,
        }
    }

    /// Whether the answer reads `hourly_requests`.
    pub fn reads_requests(&self) -> bool {
        matches!(self, Query::Site(q) if q.reads_requests())
    }

    /// Whether the answer reads `monthly_downloads`.
    pub fn reads_legacy(&self) -> bool {
        match self {
            Query::GlobalSum(q) => q.legacy_merge(),
            Query::Site(q) => q.reads_legacy(),
            _ => false,
        }
    }

    /// Whether a change in the hour starting at `hour` can change the answer.
    pub fn covers(&self, hour: NaiveDateTime) -> bool {
        self.time_range().is_some_and(|range| {
            range.from.is_none_or(|f| hour >= f) && range.to.is_none_or(|t| hour < t)
        })
    }

    /// When the answer changes by the clock alone: a daily answer gains an entry as each hour
    /// of its day starts.
    pub fn next_clock_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Query::Daily { timezone, date } => shape::local_day_buckets(*timezone, *date)
                .into_iter()
                .find(|b| *b > now),
            _ => None,
        }
    }
}

/// An answer, before it is written as JSON or CSV.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Data {
        group_by: vocab::Dimension,
        second: Option<vocab::Dimension>,
        time_group: Option<TimeGroup>,
        groups: Vec<shape::DataGroup>,
    },
    Sums(Vec<shape::SumEntry>),
    Daily(Vec<shape::DailyEntry>),
    Site(site::SitePayload),
}

impl Payload {
    /// The media type of the answer written in `format`; a site answer has its own.
    pub fn content_type(&self, format: Format) -> &'static str {
        match self {
            Payload::Site(p) => p.content_type(),
            _ => format.content_type(),
        }
    }
}

/// An answer and the newest hour of data it was computed from.
#[derive(Debug, Clone)]
pub struct Answer {
    pub payload: Payload,
    pub data_as_of: Option<NaiveDateTime>,
}

/// Why an answer could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Db(#[from] DbErr),
    /// The answer could not be written as JSON or CSV (a bug, never the user's input).
    #[error("writing the answer: {0}")]
    Render(String),
    /// The answer would hold more groups than `server.max_groups`.
    #[error(
        "the answer would hold more than {limit} groups (server.max_groups); narrow start_date \
         and end_date, use a coarser time_group, drop second_group_by, or filter"
    )]
    TooLarge { limit: usize },
}

impl StatsError {
    /// Whether the database was unreachable or too slow, as opposed to a wrong query or
    /// answer: the cache then serves a stale answer if it has one.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StatsError::Db(e) if crate::db::is_unavailable(e))
    }
}

/// Reads the raw params `P` of a query string and makes them a [`Request`] with `validate`,
/// which gives the query and the raw `format` value.
fn request<P: serde::de::DeserializeOwned>(
    query_string: &str,
    validate: impl for<'p> FnOnce(&'p P) -> Result<(Query, &'p Option<String>), ParamError>,
) -> Result<Request, ParamError> {
    let raw: P = from_query(query_string)?;
    let (query, format) = validate(&raw)?;
    Ok(Request {
        query,
        format: params::format(format)?,
    })
}

/// The data endpoints, one method each.
#[derive(Debug, Clone)]
pub struct Stats {
    repo: Repository,
    max_groups: usize,
}

impl Stats {
    pub fn new(repo: Repository) -> Self {
        Self {
            repo,
            max_groups: usize::MAX,
        }
    }

    /// Refuses `get_data` answers of more than `max_groups` groups.
    pub fn with_max_groups(mut self, max_groups: usize) -> Self {
        self.max_groups = max_groups;
        self
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// Dates an answer: with the newest hour its statement read, or, when it read none (no
    /// hourly rows in range, or only other tables), with a key lookup after it. One statement
    /// after the other, never two at once: a request that held one pooled connection while
    /// waiting for a second would, under load, wait on requests doing the same (hold and wait)
    /// until the acquire timeout.
    async fn dated(&self, payload: Payload, freshness: Freshness) -> Result<Answer, DbErr> {
        let data_as_of = match freshness {
            Freshness::Known(newest) => newest,
            Freshness::Unknown => self.repo.newest_hour().await?,
        };
        Ok(Answer {
            payload,
            data_as_of,
        })
    }

    /// Computes the answer to `query`.
    pub async fn run(&self, query: &Query, now: DateTime<Utc>) -> Result<Answer, StatsError> {
        Ok(match query {
            Query::Data(q) => return self.get_data(q).await,
            Query::GlobalSum(q) => self.global_sum(q).await?,
            Query::Daily { timezone, date } => self.daily(*timezone, *date, now).await?,
            Query::Submissions(q) => self.submissions(q).await?,
            Query::Site(q) => return self.site(q, now).await,
        })
    }

    /// New submissions per month or year, from `monthly_submissions`.
    pub async fn submissions(&self, q: &SubmissionsQuery) -> Result<Answer, DbErr> {
        let months = self
            .repo
            .submission_months(q.range.start, q.range.end)
            .await?;
        let sums = shape::sums_from_months(months, q.time_group);
        self.dated(Payload::Sums(sums), Freshness::Unknown).await
    }

    pub async fn get_data(&self, q: &DataQuery) -> Result<Answer, StatsError> {
        let mut aggregate = data_aggregate_now(&self.repo, q).await?;
        // One answer group is made of at most `per_group` rows of the grain, so more rows than
        // `max_groups * per_group` prove too many groups, without reading them all.
        let per_group = match (q.time_group, aggregate.time_group) {
            (Some(tg), Some(grain)) => tg.max_grains(grain),
            _ => 1,
        };
        let most_rows = u64::try_from(self.max_groups)
            .ok()
            .and_then(|m| m.checked_mul(per_group));
        aggregate.limit = most_rows.and_then(|m| m.checked_add(1));
        let (rows, freshness) = self.repo.aggregate(&aggregate).await?;
        let too_large = StatsError::TooLarge {
            limit: self.max_groups,
        };
        if most_rows.is_some_and(|m| rows.len() as u64 > m) {
            return Err(too_large);
        }
        let rows = match (q.time_group, aggregate.time_group) {
            (Some(tg), Some(grain)) => {
                shape::rebucket(rows, grain, tg, q.timezone, aggregate.shift.is_some())
            }
            _ => rows,
        };
        if rows.len() > self.max_groups {
            return Err(too_large);
        }
        let payload = Payload::Data {
            group_by: q.group_by,
            second: q.second_group_by,
            time_group: q.time_group,
            groups: shape::nest(
                rows,
                q.group_by,
                q.second_group_by,
                q.time_group,
                q.timezone,
            ),
        };
        Ok(self.dated(payload, freshness).await?)
    }

    pub async fn global_sum(&self, q: &GlobalSumQuery) -> Result<Answer, DbErr> {
        // The legacy months on a second pooled connection while the hours are summed: a
        // fresh process's first answer then waits for one statement, not two in a row.
        let aggregate = global_sum_aggregate(q);
        let legacy = async {
            match q.legacy_merge() {
                true => self.repo.legacy_months().await.map(Some),
                false => Ok(None),
            }
        };
        let ((rows, freshness), legacy) =
            futures_util::future::try_join(self.repo.aggregate(&aggregate), legacy).await?;
        // The newest hour decides which legacy month is still filling.
        let answer = self.dated(Payload::Sums(Vec::new()), freshness).await?;
        let sums = match legacy {
            Some(legacy) => shape::merge_legacy(
                rows,
                q.grain(),
                &legacy,
                q.range,
                (q.time_group, q.timezone),
                answer.data_as_of,
            ),
            None => shape::sums_from_buckets(
                shape::rebucket(rows, q.grain(), q.time_group, q.timezone, false),
                q.time_group,
                q.timezone,
            ),
        };
        Ok(Answer {
            payload: Payload::Sums(sums),
            ..answer
        })
    }

    /// Hourly totals of the local day `date` in `tz`; `now` decides which hours have started,
    /// and the newest hour of data which are known.
    pub async fn daily(
        &self,
        tz: Tz,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Answer, DbErr> {
        let buckets = shape::local_day_buckets(tz, date);
        let (rows, freshness) = self.repo.aggregate(&daily_aggregate(tz, date)).await?;
        let mut totals: HashMap<NaiveDateTime, i64> = HashMap::with_capacity(rows.len());
        for row in rows {
            if let Some(hour) = row.bucket.as_deref().and_then(labels::parse_raw_hour) {
                *totals.entry(hour).or_default() += row.value;
            }
        }
        let answer = self.dated(Payload::Daily(Vec::new()), freshness).await?;
        let entries = shape::daily_entries(tz, &buckets, &totals, now, answer.data_as_of);
        Ok(Answer {
            payload: Payload::Daily(entries),
            ..answer
        })
    }
}

/// The aggregate behind `get_data` as it is run now: a local series is bucketed by the
/// database over the UTC hours the answer can read, which an open range takes from the table.
pub async fn data_aggregate_now(repo: &Repository, q: &DataQuery) -> Result<Aggregate, DbErr> {
    let bounds = match (local_grain(q), q.range.to_time_range_in(q.timezone)) {
        (
            Some(_),
            TimeRange {
                from: Some(f),
                to: Some(t),
            },
        ) => Some((f, t)),
        // An open end: the shift must hold for every hour there is. The newest hour the
        // probe saw spares a statement; hours written since then (and after two days from
        // now) are in the answers from the next probe on, which drops the old ones.
        (
            Some(_),
            TimeRange {
                from: Some(f),
                to: None,
            },
        ) if let Some(last) = repo.newest_seen() => Some((
            f,
            Ord::max(last, Utc::now().naive_utc()) + Duration::days(2),
        )),
        (Some(_), range) => repo.hour_bounds().await?.map(|(first, last)| {
            let end = Ord::max(last, Utc::now().naive_utc()) + Duration::days(2);
            (range.from.unwrap_or(first), range.to.unwrap_or(end))
        }),
        (None, _) => None,
    };
    Ok(data_aggregate(q, None, bounds))
}

/// The aggregate behind `get_data`. Local days, weeks, months and years are bucketed by the
/// database when `bounds` (the UTC hours the answer can read) are known and the zone changes
/// its offset only a few times in them; otherwise it groups by UTC hour and Rust buckets.
fn data_aggregate(
    q: &DataQuery,
    limit: Option<u64>,
    bounds: Option<(NaiveDateTime, NaiveDateTime)>,
) -> Aggregate {
    let shift = local_grain(q)
        .zip(bounds)
        .and_then(|(grain, (from, to))| Some((grain, offset_spans(q.timezone, from, to)?)));
    Aggregate {
        limit,
        dimensions: std::iter::once(q.group_by)
            .chain(q.second_group_by)
            .collect(),
        time_group: match &shift {
            Some((grain, _)) => Some(*grain),
            None => q.time_group.map(|tg| tg.grain(q.timezone)),
        },
        metric: q.metric,
        range: q.range.to_time_range_in(q.timezone),
        filters: q.filters.clone(),
        shift: shift.map(|(_, spans)| sql::LocalShift { spans }),
    }
}

/// The local bucket the database can group a `get_data` series by (days for weeks), when
/// the zone is not UTC and the periods are days or longer.
fn local_grain(q: &DataQuery) -> Option<TimeGroup> {
    if q.timezone == Tz::UTC {
        return None;
    }
    match q.time_group? {
        TimeGroup::Week | TimeGroup::Day => Some(TimeGroup::Day),
        TimeGroup::Hour => None,
        tg => Some(tg),
    }
}

/// Most spans of one offset a shifted statement carries (two a year with DST).
const MAX_SPANS: usize = 64;

/// The spans of one offset of `tz` over the UTC hours `[from, to)` (see `sql::LocalShift`),
/// found a day at a time and to the hour where it changes; `None` past [`MAX_SPANS`].
fn offset_spans(
    tz: Tz,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Option<Vec<(NaiveDateTime, i32)>> {
    use chrono::{Offset, TimeZone};
    let offset = |h: NaiveDateTime| tz.offset_from_utc_datetime(&h).fix().local_minus_utc();
    let from = from.date().and_hms_opt(from.hour(), 0, 0)?;
    let mut spans = vec![(from, offset(from))];
    let mut day = from;
    while day < to {
        let next = day + Duration::days(1);
        if offset(next) != offset(day) || offset(next - Duration::hours(12)) != offset(day) {
            let mut hour = day;
            while hour < next {
                hour += Duration::hours(1);
                let current = offset(hour);
                if spans.last().is_some_and(|(_, o)| *o != current) {
                    spans.push((hour, current));
                }
            }
        }
        if spans.len() > MAX_SPANS {
            return None;
        }
        day = next;
    }
    Some(spans)
}

/// The aggregate behind `get_global_sum`, by [`GlobalSumQuery::grain`].
fn global_sum_aggregate(q: &GlobalSumQuery) -> Aggregate {
    Aggregate {
        limit: None,
        dimensions: Vec::new(),
        time_group: Some(q.grain()),
        metric: q.metric,
        range: q.range.to_time_range_in(q.timezone),
        filters: Vec::new(),
        shift: None,
    }
}

/// The aggregate behind the daily endpoint: per-UTC-hour totals of the hours of the local day.
fn daily_aggregate(timezone: Tz, date: NaiveDate) -> Aggregate {
    Aggregate {
        limit: None,
        dimensions: Vec::new(),
        time_group: Some(TimeGroup::Hour),
        metric: Metric::Primary,
        range: Query::Daily { timezone, date }
            .time_range()
            .unwrap_or_default(),
        filters: Vec::new(),
        shift: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn the_zone_is_part_of_the_cache_key_and_its_spelling_is_not() {
        let key = |q: &str| {
            Query::parse(Endpoint::GlobalSum, q, Utc::now())
                .unwrap()
                .query
        };
        let base = "model=hourly&time_group=day";
        let utc = key(base);
        let ny = key(&format!("{base}&timezone=America/New_York"));
        assert_ne!(utc, ny);
        assert_eq!(ny, key(&format!("{base}&timezone=america/new_york")));
        assert_eq!(utc, key(&format!("{base}&timezone=UTC")));
        let data = |q: &str| {
            Query::parse(Endpoint::GetData, q, Utc::now())
                .unwrap()
                .query
        };
        assert_ne!(
            data("model=hourly&group_by=country&time_group=week&timezone=Asia/Kathmandu"),
            data("model=hourly&group_by=country&time_group=week&timezone=Asia/Kolkata")
        );
    }

    #[test]
    fn offset_spans_start_at_the_hour_each_offset_takes_effect() {
        let spans = offset_spans(
            Tz::America__New_York,
            at("2026-10-30 00:00:00"),
            at("2026-11-03 00:00:00"),
        )
        .unwrap();
        assert_eq!(
            spans,
            vec![
                (at("2026-10-30 00:00:00"), -4 * 3600),
                (at("2026-11-01 06:00:00"), -5 * 3600)
            ]
        );
        // Lord Howe moves by half an hour, at 15:00 UTC (02:00 local) in October.
        let spans = offset_spans(
            Tz::Australia__Lord_Howe,
            at("2026-10-03 00:00:00"),
            at("2026-10-05 00:00:00"),
        )
        .unwrap();
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert_eq!(spans[1].1 - spans[0].1, 1800);
        assert!(
            offset_spans(
                Tz::Europe__Berlin,
                at("1990-01-01 00:00:00"),
                at("2030-01-01 00:00:00")
            )
            .is_none()
        );
        assert_eq!(
            offset_spans(
                Tz::Asia__Kathmandu,
                at("2026-01-01 00:00:00"),
                at("2027-01-01 00:00:00")
            ),
            Some(vec![(at("2026-01-01 00:00:00"), 5 * 3600 + 45 * 60)])
        );
    }
}
