//! The repository: runs the statements of [`super::sql`] (as the planner chose them) with a
//! deadline and timings, and hands back plain rows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, NaiveDateTime};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};

use entity::{monthly_downloads, monthly_submissions};

use crate::metrics::Metrics;

use super::plan::{self, Cutoff};
use super::probe::{Fingerprint, add_probe_checksums, add_probe_rows};
use super::rows::{AggRow, decode_group, merge_equal_groups};
use super::sql::{self, Aggregate};

/// The newest hour of data as a statement saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Start of the newest hour in the table (`None`: the table is empty).
    Known(Option<NaiveDateTime>),
    /// The statement returned no row to carry it.
    Unknown,
}

/// Read access to the statistics tables.
#[derive(Clone)]
pub struct Repository {
    db: DatabaseConnection,
    table: String,
    metrics: Option<Arc<Metrics>>,
    deadline: Option<std::time::Duration>,
    /// Where the rollups stop being trusted; `None`: no rollups, read the hourly table.
    rollups: Arc<std::sync::RwLock<Option<Cutoff>>>,
    /// The newest hour the last freshness probe saw.
    newest: Arc<std::sync::RwLock<Option<NaiveDateTime>>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("table", &self.table)
            .finish()
    }
}

impl Repository {
    pub fn new(db: DatabaseConnection, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
            metrics: None,
            deadline: None,
            rollups: Default::default(),
            newest: Default::default(),
        }
    }

    /// Gives up on any query after `deadline` (answered as unavailable).
    pub fn with_deadline(mut self, deadline: std::time::Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Records each query's duration in `metrics` under its kind.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    async fn timed<T>(
        &self,
        kind: &str,
        work: impl Future<Output = Result<T, DbErr>>,
    ) -> Result<T, DbErr> {
        let started = Instant::now();
        // The database cancels a statement after `database.statement_timeout`; this is the
        // backstop for a server that does not (or a connection that hangs), so that a request
        // never waits on the database for longer.
        let result =
            match self.deadline {
                Some(deadline) => tokio::time::timeout(deadline, work).await.unwrap_or(Err(
                    DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout),
                )),
                None => work.await,
            };
        if let Some(metrics) = &self.metrics {
            metrics.observe_query(kind, started.elapsed(), result.is_ok());
        }
        result
    }

    /// Re-reads the rollup watermark and checks the rollups against `live`, the hourly
    /// table's newest hours. Without rollup tables the planner reads the hourly table.
    pub async fn update_rollup_cutoff(&self, live: &Fingerprint) {
        let cutoff = match plan::cutoff(&self.db, live).await {
            Ok(cutoff) => cutoff,
            Err(e) => {
                log::debug!("no rollups: {e}");
                None
            }
        };
        *self.newest.write().unwrap_or_else(|e| e.into_inner()) = live.newest;
        let mut current = self.rollups.write().unwrap_or_else(|e| e.into_inner());
        if *current != cutoff {
            match cutoff {
                Some(c) => log::info!("rollups answer the hours before {}", c.hour),
                None => log::info!("no rollups: queries read the hourly table"),
            }
            *current = cutoff;
        }
    }

    /// The fingerprint of the newest `hours` hours and of the legacy table.
    pub async fn fingerprint(&self, hours: u32) -> Result<Fingerprint, DbErr> {
        let newest = self.newest_hour().await?;
        let window_start = newest.map(|n| n - chrono::Duration::hours(i64::from(hours)));
        // No change log (someone else's table, no triggers): the per-hour sums of the window,
        // and a content checksum that a count-preserving rewrite changes too.
        let changes = self.pending_changes().await.ok();
        let mut by_hour = BTreeMap::new();
        let mut checksums = changes.is_none().then(BTreeMap::new);
        if let Some(from) = window_start {
            let stmt = match checksums {
                Some(_) => sql::probe_with_checksum(self.backend(), &self.table, Some(from)),
                None => sql::probe(self.backend(), &self.table, Some(from)),
            };
            let rows = self.timed("probe", self.db.query_all(&stmt)).await?;
            add_probe_rows(&rows, self.backend(), &mut by_hour)?;
            if let Some(checksums) = &mut checksums {
                add_probe_checksums(&rows, self.backend(), checksums)?;
            }
        }
        let legacy = self.legacy_months().await.map(|months| {
            (
                months.len() as i64,
                months.iter().map(|(_, v)| v).sum::<i64>(),
            )
        });
        let submissions = self.submission_months(None, None).await.map(|months| {
            (
                months.len() as i64,
                months.iter().map(|(_, v)| v).sum::<i64>(),
            )
        });
        let requests = self.requests_summary().await;
        let repaired = plan::repaired(&self.db).await.ok().flatten();
        Ok(Fingerprint {
            newest,
            window_start,
            hours: by_hour,
            // A database without the monthly or edge-request tables simply has nothing there to
            // watch.
            legacy: legacy.unwrap_or((0, 0)),
            submissions: submissions.unwrap_or((0, 0)),
            requests: requests.unwrap_or((0, 0)),
            changes,
            checksums,
            repaired,
        })
    }

    /// The newest hour of the hourly table as the last freshness probe saw it (`None`: no
    /// probe yet, or an empty table).
    pub fn newest_seen(&self) -> Option<NaiveDateTime> {
        *self.newest.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The statement that answers `q` now, its kind for the metrics, and whether its rows
    /// are the parts' groups, for Rust to sum where parts share a group (see
    /// [`sql::aggregate_segments`]): over the rollups and the hours after their cutoff when a
    /// rollup can answer it, else over the hourly table.
    pub fn statement(
        &self,
        q: &Aggregate,
    ) -> (sea_orm::sea_query::SelectStatement, &'static str, bool) {
        let cutoff = *self.rollups.read().unwrap_or_else(|e| e.into_inner());
        let segments = plan::segments(q, cutoff);
        let kind = if segments.iter().any(|s| s.source != sql::Source::Hourly) {
            "aggregate_rollup"
        } else {
            "aggregate"
        };
        (
            sql::aggregate_segments(self.backend(), &self.table, q, &segments),
            kind,
            sql::parts_summed_in_rust(q, &segments),
        )
    }

    /// The groups of `q`, and the newest hour of the table as the same statement saw it.
    pub async fn aggregate(&self, q: &Aggregate) -> Result<(Vec<AggRow>, Freshness), DbErr> {
        use futures_util::TryStreamExt;
        use sea_orm::StreamTrait;
        let backend = self.backend();
        let (stmt, kind, parts) = self.statement(q);
        // Rows are decoded as they arrive rather than collected first: a large answer then
        // never holds the driver's rows and the decoded ones at once.
        let (groups, freshness) = self
            .timed(kind, async {
                let mut stream = self.db.stream(&stmt).await?;
                let mut groups = Vec::new();
                let mut freshness = Freshness::Unknown;
                while let Some(row) = stream.try_next().await? {
                    if groups.is_empty() {
                        freshness = Freshness::Known(row.try_get("", sql::NEWEST_ALIAS)?);
                    }
                    groups.push(decode_group(&row, q, backend)?);
                }
                Ok((groups, freshness))
            })
            .await?;
        // Timestamps within one hour are one bucket; a group may come from several parts.
        let groups = if q.raw_hours(backend) || parts {
            merge_equal_groups(groups)
        } else {
            groups
        };
        Ok((groups, freshness))
    }

    /// Start of the newest hour with rows, if any.
    pub async fn newest_hour(&self) -> Result<Option<NaiveDateTime>, DbErr> {
        let row = self
            .timed(
                "newest_hour",
                self.db.query_one(&sql::newest_hour(&self.table)),
            )
            .await?;
        match row {
            Some(row) => row.try_get::<Option<NaiveDateTime>>("", "newest"),
            None => Ok(None),
        }
    }

    /// The first and the newest start time in the hourly table, if it has rows (two key
    /// lookups of the time index).
    pub async fn hour_bounds(&self) -> Result<Option<(NaiveDateTime, NaiveDateTime)>, DbErr> {
        use entity::hourly_download_data::Column as H;
        let stmt = Query::select()
            .from(sea_orm::sea_query::Alias::new(self.table.as_str()))
            .expr_as(
                Expr::col(H::StartDttm).min(),
                sea_orm::sea_query::Alias::new("first"),
            )
            .expr_as(
                Expr::col(H::StartDttm).max(),
                sea_orm::sea_query::Alias::new("newest"),
            )
            .to_owned();
        let row = self.timed("hour_bounds", self.db.query_one(&stmt)).await?;
        match row {
            Some(row) => Ok(row
                .try_get::<Option<NaiveDateTime>>("", "first")?
                .zip(row.try_get::<Option<NaiveDateTime>>("", "newest")?)),
            None => Ok(None),
        }
    }

    /// The primary downloads of the hours `[from, to)`, from the hourly table itself.
    pub async fn primary_total(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<i64, DbErr> {
        use entity::hourly_download_data::Column as H;
        let backend = self.backend();
        let stmt = Query::select()
            .from(sea_orm::sea_query::Alias::new(&self.table))
            .expr_as(
                sql::sum_expr(backend, super::vocab::Metric::Primary),
                sea_orm::sea_query::Alias::new("total"),
            )
            .and_where(Expr::col(H::StartDttm).gte(from))
            .and_where(Expr::col(H::StartDttm).lt(to))
            .to_owned();
        match self
            .timed("primary_total", self.db.query_one(&stmt))
            .await?
        {
            Some(row) => Ok(row.try_get::<Option<i64>>("", "total")?.unwrap_or(0)),
            None => Ok(0),
        }
    }

    /// Every legacy month with its total (NULL counts as 0), oldest first.
    pub async fn legacy_months(&self) -> Result<Vec<(NaiveDate, i64)>, DbErr> {
        use monthly_downloads::Column as M;
        let stmt = Query::select()
            .from(monthly_downloads::Entity)
            .column(M::Month)
            .expr_as(
                Expr::col(M::Downloads),
                sea_orm::sea_query::Alias::new("downloads"),
            )
            .order_by(M::Month, Order::Asc)
            .to_owned();
        let rows = self
            .timed("legacy_months", self.db.query_all(&stmt))
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<NaiveDate>("", "month")?,
                    r.try_get::<Option<i64>>("", "downloads")?.unwrap_or(0),
                ))
            })
            .collect()
    }

    /// Submissions per month inside `[from, to]` (first days of months), oldest first.
    pub async fn submission_months(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<(NaiveDate, i64)>, DbErr> {
        use monthly_submissions::Column as S;
        let mut stmt = Query::select();
        stmt.from(monthly_submissions::Entity)
            .column(S::Month)
            .column(S::Count)
            .order_by(S::Month, Order::Asc);
        if let Some(from) = from {
            stmt.and_where(Expr::col(S::Month).gte(from));
        }
        if let Some(to) = to {
            stmt.and_where(Expr::col(S::Month).lte(to));
        }
        let rows = self.timed("submissions", self.db.query_all(&stmt)).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<NaiveDate>("", "month")?,
                    i64::from(r.try_get::<i32>("", "count")?),
                ))
            })
            .collect()
    }

    /// The change log: per hour, the row changes not yet consumed by `refresh-rollups`. An
    /// error where the table does not exist.
    pub async fn pending_changes(&self) -> Result<BTreeMap<NaiveDateTime, i64>, DbErr> {
        use sea_orm::sea_query::Alias;
        let stmt = Query::select()
            .from(Alias::new("hourly_changes"))
            .column(Alias::new("hour"))
            .column(Alias::new("changes"))
            .to_owned();
        let rows = self.timed("change_log", self.db.query_all(&stmt)).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<NaiveDateTime>("", "hour")?,
                    r.try_get::<i64>("", "changes")?,
                ))
            })
            .collect()
    }

    /// Row count and request sum of the whole `hourly_requests` table: a few rows per hour, so
    /// cheap to read on every probe, and any rewrite that changes a count changes the sum.
    pub async fn requests_summary(&self) -> Result<(i64, i64), DbErr> {
        let int64 = if self.backend() == DbBackend::MySql {
            "SIGNED"
        } else {
            "BIGINT"
        };
        // Constant SQL: no value in it comes from a request.
        let stmt = Query::select()
            .from(sea_orm::sea_query::Alias::new("hourly_requests"))
            .expr_as(
                Expr::cust(format!("CAST(COUNT(*) AS {int64})")),
                sea_orm::sea_query::Alias::new("n"),
            )
            .expr_as(
                Expr::cust(format!("CAST(COALESCE(SUM(request_count), 0) AS {int64})")),
                sea_orm::sea_query::Alias::new("total"),
            )
            .to_owned();
        match self
            .timed("requests_summary", self.db.query_one(&stmt))
            .await?
        {
            Some(row) => Ok((row.try_get("", "n")?, row.try_get("", "total")?)),
            None => Ok((0, 0)),
        }
    }

    /// Requests per UTC hour of `source` in `[from, to)`, oldest first (NULL counts as 0), from
    /// arXiv's `hourly_requests`.
    pub async fn hourly_requests(
        &self,
        source: u8,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<(NaiveDateTime, i64)>, DbErr> {
        use sea_orm::sea_query::Alias;
        let stmt = Query::select()
            .from(Alias::new("hourly_requests"))
            .column(Alias::new("start_dttm"))
            .expr_as(
                Expr::col(Alias::new("request_count")),
                Alias::new("requests"),
            )
            .and_where(Expr::col(Alias::new("source_id")).eq(i32::from(source)))
            .and_where(Expr::col(Alias::new("start_dttm")).gte(from))
            .and_where(Expr::col(Alias::new("start_dttm")).lt(to))
            .order_by(Alias::new("start_dttm"), Order::Asc)
            .to_owned();
        let rows = self
            .timed("hourly_requests", self.db.query_all(&stmt))
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<NaiveDateTime>("", "start_dttm")?,
                    r.try_get::<Option<i32>>("", "requests")?
                        .map_or(0, i64::from),
                ))
            })
            .collect()
    }
}
