//! The statistics domain: validated queries ([`params`]), the SQL builder ([`sql`]), the
//! repository that runs it ([`repo`]) and result shaping ([`shape`]). [`Stats`] ties them into
//! one call per endpoint that returns the serialized answer.

pub mod params;
pub mod repo;
pub mod shape;
pub mod sql;

use std::collections::HashMap;

use actix_web::web::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use sea_orm::DbErr;

use params::{DataQuery, GlobalSumQuery, Metric, TimeGroup, TimeRange};
use repo::Repository;
use sql::Aggregate;

/// A serialized answer and the newest hour of data it was computed from.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Bytes,
    pub data_as_of: Option<NaiveDateTime>,
}

/// The data endpoints, one method each.
#[derive(Debug, Clone)]
pub struct Stats {
    repo: Repository,
}

impl Stats {
    pub fn new(repo: Repository) -> Self {
        Self { repo }
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// Runs `work` beside the newest-hour probe and serializes what it returns.
    async fn answer<T: serde::Serialize>(
        &self,
        work: impl Future<Output = Result<T, DbErr>>,
    ) -> Result<Answer, DbErr> {
        let (value, data_as_of) =
            futures_util::future::try_join(work, self.repo.newest_hour()).await?;
        let body = serde_json::to_vec(&value)
            .map_err(|e| DbErr::Custom(format!("serializing the answer: {e}")))?;
        Ok(Answer {
            body: Bytes::from(body),
            data_as_of,
        })
    }

    pub async fn get_data(&self, q: &DataQuery) -> Result<Answer, DbErr> {
        let aggregate = Aggregate {
            dimensions: std::iter::once(q.group_by)
                .chain(q.second_group_by)
                .collect(),
            time_group: q.time_group,
            metric: q.metric,
            range: q.range.to_time_range(),
            filters: q.filters.clone(),
        };
        self.answer(async {
            let rows = self.repo.aggregate(&aggregate).await?;
            Ok(shape::nest(
                rows,
                q.group_by,
                q.second_group_by,
                q.time_group,
            ))
        })
        .await
    }

    pub async fn global_sum(&self, q: &GlobalSumQuery) -> Result<Answer, DbErr> {
        let legacy_merge = matches!(q.time_group, TimeGroup::Month | TimeGroup::Year)
            && q.metric == Metric::Primary;
        // With the legacy merge, hourly totals are needed per month whatever the period, so
        // that the months the legacy table covers can be left out before years are summed.
        let aggregate = Aggregate {
            dimensions: Vec::new(),
            time_group: Some(if legacy_merge {
                TimeGroup::Month
            } else {
                q.time_group
            }),
            metric: q.metric,
            range: q.range.to_time_range(),
            filters: Vec::new(),
        };
        self.answer(async {
            if legacy_merge {
                let (hourly, legacy) = futures_util::future::try_join(
                    self.repo.aggregate(&aggregate),
                    self.repo.legacy_months(),
                )
                .await?;
                Ok(shape::merge_legacy(hourly, &legacy, q.range, q.time_group))
            } else {
                let rows = self.repo.aggregate(&aggregate).await?;
                Ok(shape::sums_from_buckets(rows, q.time_group))
            }
        })
        .await
    }

    /// Hourly totals of the local day `date` in `tz`; `now` decides which hours have started.
    pub async fn daily(
        &self,
        tz: Tz,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Answer, DbErr> {
        let buckets = shape::local_day_buckets(tz, date);
        let range = TimeRange {
            from: buckets.first().map(|b| b.naive_utc()),
            to: buckets
                .last()
                .map(|b| b.naive_utc() + chrono::Duration::hours(1)),
        };
        let aggregate = Aggregate {
            dimensions: Vec::new(),
            time_group: Some(TimeGroup::Hour),
            metric: Metric::Primary,
            range,
            filters: Vec::new(),
        };
        self.answer(async {
            let rows = self.repo.aggregate(&aggregate).await?;
            let mut totals: HashMap<NaiveDateTime, i64> = HashMap::with_capacity(rows.len());
            for row in rows {
                if let Some(hour) = row.bucket.as_deref().and_then(shape::parse_hour_bucket) {
                    *totals.entry(hour).or_default() += row.value;
                }
            }
            Ok(shape::daily_entries(tz, &buckets, &totals, now))
        })
        .await
    }
}
