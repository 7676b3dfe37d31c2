//! The statistics domain: validated queries ([`params`]), the SQL builder ([`sql`]), the
//! repository that runs it ([`repo`]) and result shaping ([`shape`]). [`Stats`] ties them into
//! one call per endpoint that returns the serialized answer.

pub mod params;
pub mod render;
pub mod repo;
pub mod shape;
pub mod sql;

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use sea_orm::DbErr;

use params::{
    DailyQuery, DataQuery, GlobalSumQuery, Metric, RawParams, SubmissionsQuery, TimeGroup,
    TimeRange,
};
use repo::{Freshness, Repository};
use sql::Aggregate;

/// The data endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    GetData,
    GlobalSum,
    Daily,
    Submissions,
}

impl Endpoint {
    /// The endpoint a request path names (the daily endpoint has two names).
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
            "/api/get_data" => Some(Self::GetData),
            "/api/get_global_sum" => Some(Self::GlobalSum),
            "/api/get_daily_downloads" | "/api/get_todays_downloads" => Some(Self::Daily),
            "/api/get_submissions" => Some(Self::Submissions),
            _ => None,
        }
    }
}

/// A validated, normalized request to a data endpoint: defaults resolved and "today" turned
/// into a date, so that equal keys mean equal answers (the cache key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Query {
    Data(DataQuery),
    GlobalSum(GlobalSumQuery),
    Daily { timezone: Tz, date: NaiveDate },
    Submissions(SubmissionsQuery),
}

impl Query {
    /// Parses a query string for `endpoint`; `now` resolves the daily endpoint's default date.
    pub fn parse(
        endpoint: Endpoint,
        query_string: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, crate::error::ApiError> {
        let raw = RawParams::parse(query_string)?;
        Ok(match endpoint {
            Endpoint::GetData => Query::Data(DataQuery::try_from(&raw)?),
            Endpoint::GlobalSum => Query::GlobalSum(GlobalSumQuery::try_from(&raw)?),
            Endpoint::Daily => {
                let q = DailyQuery::try_from(&raw)?;
                Query::Daily {
                    timezone: q.timezone,
                    date: q
                        .date
                        .unwrap_or_else(|| now.with_timezone(&q.timezone).date_naive()),
                }
            }
            Endpoint::Submissions => Query::Submissions(SubmissionsQuery::try_from(&raw)?),
        })
    }

    /// The hours `[from, to)` of the hourly table that the answer depends on (open ends: None);
    /// `None` for an answer that reads no hours.
    pub fn time_range(&self) -> Option<TimeRange> {
        Some(match self {
            Query::Data(q) => q.range.to_time_range(),
            Query::GlobalSum(q) => q.range.to_time_range(),
            Query::Submissions(_) => return None,
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
            Query::Data(q) => Some(data_aggregate(q, None)),
            Query::GlobalSum(q) => Some(global_sum_aggregate(q)),
            Query::Daily { timezone, date } => Some(daily_aggregate(*timezone, *date)),
            Query::Submissions(_) => None,
        }
    }

    /// Whether the answer reads `monthly_submissions`.
    pub fn reads_submissions(&self) -> bool {
        matches!(self, Query::Submissions(_))
    }

    /// Whether the answer reads `monthly_downloads`.
    pub fn reads_legacy(&self) -> bool {
        matches!(self, Query::GlobalSum(q) if q.legacy_merge())
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
        group_by: params::Dimension,
        second: Option<params::Dimension>,
        time_group: Option<TimeGroup>,
        groups: Vec<shape::DataGroup>,
    },
    Sums(Vec<shape::SumEntry>),
    Daily(Vec<shape::DailyEntry>),
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
    /// The answer would hold more groups than `server.max_groups`.
    #[error(
        "the answer would hold more than {limit} groups (server.max_groups); narrow start_date \
         and end_date, use a coarser time_group, drop second_group_by, or filter"
    )]
    TooLarge { limit: usize },
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
        // One row past the limit tells that there are more, without reading them all.
        let limit = u64::try_from(self.max_groups)
            .ok()
            .and_then(|m| m.checked_add(1));
        let (rows, freshness) = self.repo.aggregate(&data_aggregate(q, limit)).await?;
        if rows.len() > self.max_groups {
            return Err(StatsError::TooLarge {
                limit: self.max_groups,
            });
        }
        let payload = Payload::Data {
            group_by: q.group_by,
            second: q.second_group_by,
            time_group: q.time_group,
            groups: shape::nest(rows, q.group_by, q.second_group_by, q.time_group),
        };
        Ok(self.dated(payload, freshness).await?)
    }

    pub async fn global_sum(&self, q: &GlobalSumQuery) -> Result<Answer, DbErr> {
        let (rows, freshness) = self.repo.aggregate(&global_sum_aggregate(q)).await?;
        let sums = if q.legacy_merge() {
            let legacy = self.repo.legacy_months().await?;
            shape::merge_legacy(rows, &legacy, q.range, q.time_group)
        } else {
            shape::sums_from_buckets(rows, q.time_group)
        };
        self.dated(Payload::Sums(sums), freshness).await
    }

    /// Hourly totals of the local day `date` in `tz`; `now` decides which hours have started.
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
            if let Some(hour) = row.bucket.as_deref().and_then(shape::parse_hour_bucket) {
                *totals.entry(hour).or_default() += row.value;
            }
        }
        let entries = shape::daily_entries(tz, &buckets, &totals, now);
        self.dated(Payload::Daily(entries), freshness).await
    }
}

/// The aggregate behind `get_data`.
fn data_aggregate(q: &DataQuery, limit: Option<u64>) -> Aggregate {
    Aggregate {
        limit,
        dimensions: std::iter::once(q.group_by)
            .chain(q.second_group_by)
            .collect(),
        time_group: q.time_group,
        metric: q.metric,
        range: q.range.to_time_range(),
        filters: q.filters.clone(),
    }
}

/// The aggregate behind `get_global_sum`. With the legacy merge, hourly totals are needed per
/// month whatever the period, so that the months the legacy table covers can be left out
/// before years are summed.
fn global_sum_aggregate(q: &GlobalSumQuery) -> Aggregate {
    Aggregate {
        limit: None,
        dimensions: Vec::new(),
        time_group: Some(if q.legacy_merge() {
            TimeGroup::Month
        } else {
            q.time_group
        }),
        metric: q.metric,
        range: q.range.to_time_range(),
        filters: Vec::new(),
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
    }
}
