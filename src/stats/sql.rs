//! The one place SQL is composed. [`aggregate`] builds SELECT / WHERE / GROUP BY for any
//! combination of dimensions, time bucket, metric, range and filters; each backend difference
//! lives in one small function below ([`dimension_expr`], [`bucket_expr`], [`sum_expr`]).
//! Every SQL fragment written here is a constant; user values only travel as bound parameters.

use chrono::NaiveDateTime;
use sea_orm::DbBackend;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, SimpleExpr};

use entity::hourly_download_data::Column as H;

use super::params::{Filter, TimeRange};
use super::vocab::{Dimension, Metric, TimeGroup};

/// An aggregate over the hourly table: up to two dimensions and a time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Aggregate {
    pub dimensions: Vec<Dimension>,
    pub time_group: Option<TimeGroup>,
    pub metric: Metric,
    pub range: TimeRange,
    pub filters: Vec<Filter>,
    /// At most this many rows come back (`None`: all).
    pub limit: Option<u64>,
    /// When set, `time_group` (day, month or year) is a local bucket: the database shifts each
    /// UTC hour by the zone's offset before it formats it.
    pub shift: Option<LocalShift>,
}

/// A zone's offsets over the hours of a query: the start of each span in which one offset
/// holds (naive UTC) and that offset in seconds east of UTC, oldest first. Every hour the
/// query reads lies at or after the first start.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalShift {
    pub spans: Vec<(NaiveDateTime, i32)>,
}

impl LocalShift {
    /// The offset in force at the UTC hour `h` (the oldest span's before the first start).
    fn offset_at(&self, h: NaiveDateTime) -> i32 {
        self.spans
            .iter()
            .rev()
            .find(|(from, _)| h >= *from)
            .or(self.spans.first())
            .map_or(0, |(_, seconds)| *seconds)
    }

    /// The local day of the UTC hour that starts at `h`: each hour is in the local day where
    /// it starts.
    pub fn local_day(&self, h: NaiveDateTime) -> chrono::NaiveDate {
        (h + chrono::Duration::seconds(i64::from(self.offset_at(h)))).date()
    }

    /// Whether the UTC hour `h` is the first of its local day.
    pub fn starts_day(&self, h: NaiveDateTime) -> bool {
        self.local_day(h - chrono::Duration::hours(1)) != self.local_day(h)
    }

    /// The first UTC hours of the local days that start in `[from, to)` (whole hours).
    pub fn day_starts(&self, from: NaiveDateTime, to: NaiveDateTime) -> Vec<NaiveDateTime> {
        let mut starts = Vec::new();
        let mut h = from;
        while h < to {
            if self.starts_day(h) {
                starts.push(h);
                // The next local day starts 23 hours later at the earliest.
                h += chrono::Duration::hours(23);
            } else {
                h += chrono::Duration::hours(1);
            }
        }
        starts
    }

    /// The spans that hold the hours of `range`: the one its start is in and those that start
    /// inside it. A part of a query inside one span then shifts by one offset, without a CASE.
    pub fn within(&self, range: TimeRange) -> LocalShift {
        let first = range.from.map_or(0, |from| {
            self.spans
                .iter()
                .rposition(|(start, _)| *start <= from)
                .unwrap_or(0)
        });
        let Some((held, later)) = self.spans.get(first..).and_then(<[_]>::split_first) else {
            return self.clone();
        };
        let mut spans = vec![*held];
        spans.extend(
            later
                .iter()
                .filter(|(start, _)| range.to.is_none_or(|to| *start < to)),
        );
        LocalShift { spans }
    }
}

impl Aggregate {
    /// Whether hour buckets come back as the raw timestamps, to be merged by hour in Rust
    /// ([`hour_is_raw`]). Not when the rows are limited: the limit would count timestamps
    /// (10:00 and 10:30 as two) before they are merged, so the database groups by the hour.
    pub fn raw_hours(&self, backend: DbBackend) -> bool {
        self.time_group == Some(TimeGroup::Hour) && self.limit.is_none() && hour_is_raw(backend)
    }
}

/// Output column names; the row decoder reads them back.
pub const DIM_ALIASES: [&str; 2] = ["d1", "d2"];
pub const BUCKET_ALIAS: &str = "bucket";
pub const VALUE_ALIAS: &str = "total";
/// The newest hour of the hourly table, on every row of an aggregate (for `X-Data-As-Of`).
pub const NEWEST_ALIAS: &str = "newest";

/// Adds the newest hour of `table` as a column: an uncorrelated subquery that the database
/// runs once (a key lookup), which saves the request a second statement and pool acquire.
fn with_newest(select: &mut SelectStatement, table: &str) {
    select.expr_as(Expr::from(newest_hour(table)), Alias::new(NEWEST_ALIAS));
}

/// A dimension compared byte for byte. MySQL's collations fold case and accents, and even
/// `utf8mb4_bin` pads with spaces (`germany` = `germany `), so there the value is compared,
/// grouped and returned as its UTF-8 bytes (a binary string, no padding; `rows` decodes it);
/// the others compare exactly already.
pub fn dimension_expr(backend: DbBackend, dimension: Dimension) -> SimpleExpr {
    match backend {
        DbBackend::MySql => Expr::cust(format!(
            "CAST(CONVERT(`{}` USING utf8mb4) AS BINARY)",
            dimension.column_name()
        )),
        _ => Expr::col(dimension.column()),
    }
}

/// The UTC time bucket of `start_dttm` as a text label that sorts in time order:
/// `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DD HH` (hours: see [`hour_is_raw`], and read
/// them back with `rows::bucket_hour`). There is no portable date truncation,
/// and the format stays inline: bound, PostgreSQL would see SELECT and GROUP BY as different.
pub fn bucket_expr(backend: DbBackend, time_group: TimeGroup) -> SimpleExpr {
    bucket_on(backend, time_group, "start_dttm", hour_is_raw(backend))
}

/// Whether hour buckets are the time column itself rather than a formatted label. PostgreSQL
/// and MySQL then group by the stored timestamp, a plain compare that the covering time index
/// serves (a day of 240,000 rows: 15 ms rather than 58 ms with `to_char` on PostgreSQL), and the
/// label is written in Rust (`rows::bucket_hour`). SQLite stores datetimes as text, so there the
/// formatted label is what makes equal hours one group.
pub fn hour_is_raw(backend: DbBackend) -> bool {
    matches!(backend, DbBackend::Postgres | DbBackend::MySql)
}

/// [`bucket_expr`] over another datetime or date column (of a rollup table); hours as the raw
/// column when `raw_hours` (see [`Aggregate::raw_hours`]).
fn bucket_on(
    backend: DbBackend,
    time_group: TimeGroup,
    column: &'static str,
    raw_hours: bool,
) -> SimpleExpr {
    if time_group == TimeGroup::Hour && raw_hours {
        return Expr::col(Alias::new(column));
    }
    if backend == DbBackend::Postgres && matches!(time_group, TimeGroup::Day | TimeGroup::Week) {
        // A date groups faster than text (a year of days by country: 91 ms rather than 175 ms),
        // a date column (of the day rollups) is its own bucket, and `rows` labels it.
        return match column {
            "day" => Expr::col(Alias::new(column)),
            _ => Expr::cust(format!("CAST(\"{column}\" AS DATE)")),
        };
    }
    let (pg, my, lite) = match time_group {
        TimeGroup::Year => ("YYYY", "%Y", "%Y"),
        TimeGroup::Month => ("YYYY-MM", "%Y-%m", "%Y-%m"),
        // Weeks are made of days in Rust (`TimeGroup::grain`); a week bucket is its days.
        TimeGroup::Day | TimeGroup::Week => ("YYYY-MM-DD", "%Y-%m-%d", "%Y-%m-%d"),
        TimeGroup::Hour => ("YYYY-MM-DD HH24", "%Y-%m-%d %H", "%Y-%m-%d %H"),
    };
    Expr::cust(match backend {
        DbBackend::Postgres => format!("to_char(\"{column}\", '{pg}')"),
        DbBackend::MySql => format!("DATE_FORMAT(`{column}`, '{my}')"),
        _ => format!("strftime('{lite}', \"{column}\")"),
    })
}

/// The start of the hour of the datetime SQL `quoted` (a quoted column), as a datetime of the
/// backend (text on SQLite, in its stored form).
pub fn truncated_hour(backend: DbBackend, quoted: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("date_trunc('hour', {quoted})"),
        DbBackend::MySql => {
            format!("CAST(DATE_FORMAT({quoted}, '%Y-%m-%d %H:00:00') AS DATETIME)")
        }
        _ => format!("strftime('%Y-%m-%d %H:00:00', {quoted})"),
    }
}

/// The local bucket of the UTC hour in `column`: the hour (truncated, unless the source
/// stores whole hours) plus the offset of its span, formatted as a day, month or year label.
/// Grouping in the database by local day reads far fewer rows back than grouping by hour
/// (a month by category: 4,800 rows rather than 110,000). Every fragment is a constant or a
/// number and a datetime written here, never user input, and inline (see [`bucket_expr`]).
fn local_bucket_on(
    backend: DbBackend,
    time_group: TimeGroup,
    column: &str,
    whole_hours: bool,
    shift: &LocalShift,
) -> SimpleExpr {
    let quoted = match backend {
        DbBackend::MySql => format!("`{column}`"),
        _ => format!("\"{column}\""),
    };
    let hour = if whole_hours {
        quoted
    } else {
        truncated_hour(backend, &quoted)
    };
    let shifted = |seconds: i32| match backend {
        DbBackend::Postgres => format!("({hour} + INTERVAL '{seconds} seconds')"),
        DbBackend::MySql => format!("DATE_ADD({hour}, INTERVAL {seconds} SECOND)"),
        _ => format!("datetime({hour}, '{seconds:+} seconds')"),
    };
    let local = match shift.spans.split_first() {
        None => shifted(0),
        Some(((_, oldest), [])) => shifted(*oldest),
        Some(((_, oldest), later)) => {
            // Newest span first: most rows are recent.
            let mut case = String::from("CASE");
            for (from, seconds) in later.iter().rev() {
                case += &format!(
                    " WHEN {hour} >= '{}' THEN {}",
                    from.format("%Y-%m-%d %H:%M:%S"),
                    shifted(*seconds)
                );
            }
            case + &format!(" ELSE {} END", shifted(*oldest))
        }
    };
    let (pg, my, lite) = match time_group {
        TimeGroup::Year => ("YYYY", "%Y", "%Y"),
        TimeGroup::Month => ("YYYY-MM", "%Y-%m", "%Y-%m"),
        _ => ("YYYY-MM-DD", "%Y-%m-%d", "%Y-%m-%d"),
    };
    Expr::cust(match backend {
        // A date groups faster than text (30 ms rather than 51 ms for a month of hours by
        // category); `rows` reads it back as a label.
        DbBackend::Postgres if pg == "YYYY-MM-DD" => format!("CAST({local} AS DATE)"),
        DbBackend::Postgres => format!("to_char({local}, '{pg}')"),
        DbBackend::MySql => format!("DATE_FORMAT({local}, '{my}')"),
        _ => format!("strftime('{lite}', {local})"),
    })
}

/// SUM of the metric as a 64-bit integer on every backend (MySQL's SUM is DECIMAL,
/// PostgreSQL's SUM of a bigint is NUMERIC). NULL counts add nothing.
pub fn sum_expr(backend: DbBackend, metric: Metric) -> SimpleExpr {
    sum_on(backend, metric, Source::Hourly)
}

/// [`sum_expr`] over the count columns of `source`.
fn sum_on(backend: DbBackend, metric: Metric, source: Source) -> SimpleExpr {
    let (primary, cross) = source.count_columns();
    let summed = match metric {
        Metric::Primary => format!("\"{primary}\""),
        Metric::Cross => format!("\"{cross}\""),
        Metric::Total => format!("COALESCE(\"{primary}\", 0) + COALESCE(\"{cross}\", 0)"),
    };
    let summed = match backend {
        DbBackend::MySql => summed.replace('"', "`"),
        _ => summed,
    };
    Expr::cust(format!("CAST(SUM({summed}) AS {})", int64(backend)))
}

/// The metric of one row of `source` (whose rows are already one per group), as a 64-bit
/// integer; NULL counts as 0, as in a sum.
fn value_on(backend: DbBackend, metric: Metric, source: Source) -> SimpleExpr {
    let (primary, cross) = source.count_columns();
    let value = match metric {
        Metric::Primary => format!("COALESCE(\"{primary}\", 0)"),
        Metric::Cross => format!("COALESCE(\"{cross}\", 0)"),
        Metric::Total => format!("COALESCE(\"{primary}\", 0) + COALESCE(\"{cross}\", 0)"),
    };
    let value = match backend {
        DbBackend::MySql => value.replace('"', "`"),
        _ => value,
    };
    Expr::cust(format!("CAST({value} AS {})", int64(backend)))
}

/// The 64-bit integer type of CAST: MySQL rejects `AS BIGINT`.
fn int64(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::MySql => "SIGNED",
        _ => "BIGINT",
    }
}

/// Where an aggregate is read from: the hourly table or one of the rollups that
/// `refresh-rollups` maintains (see [`super::plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Hourly,
    /// Per-hour totals.
    RollupHour,
    /// Per-hour totals by category (and its archive).
    RollupHourCategory,
    /// Per-hour totals by archive.
    RollupHourArchive,
    /// Per-hour totals by country.
    RollupHourCountry,
    /// Per-hour totals by download type.
    RollupHourDownloadType,
    /// Per-day totals by every dimension.
    RollupDay,
    /// Per-day totals by category (and its archive).
    RollupDayCategory,
    /// Per-day totals by country.
    RollupDayCountry,
    /// Per-month totals by category (and its archive).
    RollupMonthCategory,
    /// Per-month totals by country.
    RollupMonthCountry,
    /// Per-month totals by download type.
    RollupMonthDownloadType,
    /// Per-month totals by category (and its archive) and country.
    RollupMonthCategoryCountry,
    /// Per-year totals by category (and its archive) and country.
    RollupYearCategoryCountry,
    /// Totals of the 24 hours from each hour on, by category (and its archive): a local day
    /// of 24 hours in any zone is one row per key.
    RollupWindowCategory,
    /// Totals of the 24 hours from each hour on, by country.
    RollupWindowCountry,
}

/// The period one row of a source covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grain {
    Hour,
    Day,
    Month,
    Year,
}

impl Source {
    pub fn table(self, hourly: &str) -> &str {
        match self {
            Source::Hourly => hourly,
            Source::RollupHour => "rollup_hour",
            Source::RollupHourCategory => "rollup_hour_category",
            Source::RollupHourArchive => "rollup_hour_archive",
            Source::RollupHourCountry => "rollup_hour_country",
            Source::RollupHourDownloadType => "rollup_hour_download_type",
            Source::RollupDay => "rollup_day",
            Source::RollupDayCategory => "rollup_day_category",
            Source::RollupDayCountry => "rollup_day_country",
            Source::RollupMonthCategory => "rollup_month_category",
            Source::RollupMonthCountry => "rollup_month_country",
            Source::RollupMonthDownloadType => "rollup_month_download_type",
            Source::RollupMonthCategoryCountry => "rollup_month_category_country",
            Source::RollupYearCategoryCountry => "rollup_year_category_country",
            Source::RollupWindowCategory => "rollup_window_category",
            Source::RollupWindowCountry => "rollup_window_country",
        }
    }

    /// The period of one row (the hourly table's rows are hours, or parts of one).
    pub fn grain(self) -> Grain {
        match self {
            Source::Hourly
            | Source::RollupHour
            | Source::RollupHourCategory
            | Source::RollupHourArchive
            | Source::RollupHourCountry
            | Source::RollupHourDownloadType
            | Source::RollupWindowCategory
            | Source::RollupWindowCountry => Grain::Hour,
            Source::RollupDay | Source::RollupDayCategory | Source::RollupDayCountry => Grain::Day,
            Source::RollupMonthCategory
            | Source::RollupMonthCountry
            | Source::RollupMonthDownloadType
            | Source::RollupMonthCategoryCountry => Grain::Month,
            Source::RollupYearCategoryCountry => Grain::Year,
        }
    }

    pub fn time_column(self) -> &'static str {
        match (self, self.grain()) {
            (Source::Hourly, _) => "start_dttm",
            (_, Grain::Hour) => "hour",
            (_, Grain::Day) => "day",
            (_, Grain::Month) => "month",
            (_, Grain::Year) => "year",
        }
    }

    fn count_columns(self) -> (&'static str, &'static str) {
        match self {
            Source::Hourly => ("primary_count", "cross_count"),
            _ => ("primary_sum", "cross_sum"),
        }
    }

    /// Whether the time column holds whole hours (`refresh-rollups` truncates them in the
    /// per-hour rollups; the hourly table keeps the stored times).
    fn whole_hours(self) -> bool {
        self != Source::Hourly && self.grain() == Grain::Hour
    }

    /// Whether a row holds the 24 hours from its hour on (see [`Source::RollupWindowCategory`]):
    /// a part of such a source lists the starts of the local days it reads.
    pub fn window(self) -> bool {
        matches!(
            self,
            Source::RollupWindowCategory | Source::RollupWindowCountry
        )
    }

    /// Whether the time column is a date (the first day of the row's day, month or year)
    /// rather than a datetime.
    pub fn by_date(self) -> bool {
        self.grain() != Grain::Hour
    }

    /// How many values one period has in this source, roughly: totals, one dimension, two,
    /// every one.
    pub fn width(self) -> u8 {
        match self {
            Source::RollupHour => 0,
            Source::RollupMonthCategoryCountry | Source::RollupYearCategoryCountry => 2,
            Source::Hourly | Source::RollupDay => 3,
            _ => 1,
        }
    }

    /// The dimensions whose values, with the period, make a row of this source unique
    /// (`refresh-rollups` writes one row per key and period); `None` for the hourly table.
    fn key(self) -> Option<&'static [Dimension]> {
        use Dimension::*;
        Some(match self {
            Source::Hourly => return None,
            Source::RollupHour => &[],
            Source::RollupHourCategory
            | Source::RollupDayCategory
            | Source::RollupMonthCategory
            | Source::RollupWindowCategory => &[Category, Archive],
            Source::RollupHourCountry
            | Source::RollupDayCountry
            | Source::RollupMonthCountry
            | Source::RollupWindowCountry => &[Country],
            Source::RollupHourDownloadType | Source::RollupMonthDownloadType => &[DownloadType],
            Source::RollupHourArchive => &[Archive],
            Source::RollupMonthCategoryCountry | Source::RollupYearCategoryCountry => {
                &[Category, Archive, Country]
            }
            Source::RollupDay => &[Category, Archive, Country, DownloadType],
        })
    }

    /// Whether `q` groups this source's rows by exactly their key and period, so that each
    /// row is a group of its own.
    fn unique_per(self, q: &Aggregate) -> bool {
        let Some(key) = self.key() else {
            return false;
        };
        if self.window() {
            // A window is read at the start of a local day only: one row per key and day.
            return q.time_group == Some(TimeGroup::Day)
                && q.dimensions.len() == key.len()
                && key.iter().all(|d| q.dimensions.contains(d));
        }
        let period = match q.time_group {
            Some(TimeGroup::Hour) => Grain::Hour,
            Some(TimeGroup::Day) => Grain::Day,
            Some(TimeGroup::Month) => Grain::Month,
            Some(TimeGroup::Year) => Grain::Year,
            Some(TimeGroup::Week) | None => return false,
        };
        period == self.grain()
            && q.dimensions.len() == key.len()
            && key.iter().all(|d| q.dimensions.contains(d))
    }

    /// The dimensions this source keeps.
    pub fn keeps(self, dimension: Dimension) -> bool {
        use Dimension::*;
        match self {
            Source::Hourly | Source::RollupDay => true,
            Source::RollupHour => false,
            Source::RollupDayCategory
            | Source::RollupHourCategory
            | Source::RollupMonthCategory
            | Source::RollupWindowCategory => matches!(dimension, Category | Archive),
            Source::RollupDayCountry
            | Source::RollupHourCountry
            | Source::RollupMonthCountry
            | Source::RollupWindowCountry => dimension == Country,
            Source::RollupHourDownloadType | Source::RollupMonthDownloadType => {
                dimension == DownloadType
            }
            Source::RollupHourArchive => dimension == Archive,
            Source::RollupMonthCategoryCountry | Source::RollupYearCategoryCountry => {
                matches!(dimension, Category | Archive | Country)
            }
        }
    }
}

/// One part of a planned aggregate: `source` read over `range`, in datetimes; for a source of
/// dates the bounds are the first days of its periods (the planner aligns them). A window
/// source is read at the first hour of each local day (of the query's zone) that starts in
/// the range, one row per key (see `plan::local_segments`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub source: Source,
    pub range: TimeRange,
}

/// Composes the statement. The rows come back unordered: ordering is by code point, which
/// only Rust does the same way on every backend.
pub fn aggregate(backend: DbBackend, table: &str, q: &Aggregate) -> SelectStatement {
    let mut select = aggregate_from(backend, table, Source::Hourly, q, q.range);
    with_newest(&mut select, table);
    if let Some(limit) = q.limit {
        select.limit(limit);
    }
    select
}

/// The aggregate over one source, with `range` in that source's time column: datetimes for
/// the hourly table and the per-hour rollups, the days of the bounds for the rollups by day,
/// month and year (the planner gives them bounds that start their periods).
fn aggregate_from(
    backend: DbBackend,
    hourly_table: &str,
    source: Source,
    q: &Aggregate,
    range: TimeRange,
) -> SelectStatement {
    let mut select = Query::select();
    select.from(Alias::new(source.table(hourly_table)));
    for (dimension, alias) in q.dimensions.iter().zip(DIM_ALIASES) {
        let expr = dimension_expr(backend, *dimension);
        select.expr_as(expr.clone(), Alias::new(alias));
        select.add_group_by([expr]);
    }
    if let Some(time_group) = q.time_group {
        let expr = match &q.shift {
            Some(shift) => local_bucket_on(
                backend,
                time_group,
                source.time_column(),
                source.whole_hours(),
                &shift.within(range),
            ),
            None => bucket_on(
                backend,
                time_group,
                source.time_column(),
                q.raw_hours(backend),
            ),
        };
        select.expr_as(expr.clone(), Alias::new(BUCKET_ALIAS));
        select.add_group_by([expr]);
    }
    if (q.shift.is_none() || source.window()) && source.unique_per(q) {
        // One row per group already (a rollup read by its own key and period): grouping it
        // again would only cost a hash of every row.
        select.expr_as(value_on(backend, q.metric, source), Alias::new(VALUE_ALIAS));
        select.clear_group_by();
    } else {
        select.expr_as(sum_on(backend, q.metric, source), Alias::new(VALUE_ALIAS));
    }
    let time = Expr::col(Alias::new(source.time_column()));
    if source.window() {
        // The window of each local day that starts in the part (see `plan::local_segments`).
        let starts = match (&q.shift, range.from, range.to) {
            (Some(shift), Some(from), Some(to)) => shift.day_starts(from, to),
            _ => Vec::new(),
        };
        select.and_where(time.is_in(starts));
    } else if source.by_date() {
        if let Some(from) = range.from {
            select.and_where(time.clone().gte(from.date()));
        }
        if let Some(to) = range.to {
            select.and_where(time.lt(to.date()));
        }
    } else {
        if let Some(from) = range.from {
            select.and_where(time.clone().gte(from));
        }
        if let Some(to) = range.to {
            select.and_where(time.lt(to));
        }
    }
    for filter in &q.filters {
        select.and_where(
            dimension_expr(backend, filter.dimension).is_in(filter.values.iter().cloned()),
        );
    }
    select
}

/// Whether the rows of [`aggregate_segments`] are each part's groups, one `UNION ALL`, which
/// Rust sums where parts share a group (`rows::merge_equal_groups`): the database would hash
/// every row again to do it (a year of days by country, 79,000 rows: 120 ms rather than 36 ms).
/// A limit then counts rows of parts: see [`aggregate_segments`].
pub fn parts_summed_in_rust(_q: &Aggregate, segments: &[Segment]) -> bool {
    segments.len() > 1
}

/// The aggregate over the planned segments (see [`super::plan::segments`]), each read from
/// its source over its range, summed again over all of them: exact whatever the rollups hold
/// outside the ranges they are read for.
pub fn aggregate_segments(
    backend: DbBackend,
    hourly_table: &str,
    q: &Aggregate,
    segments: &[Segment],
) -> SelectStatement {
    let (first, rest) = match segments {
        [only] if only.source == Source::Hourly && only.range == q.range => {
            return aggregate(backend, hourly_table, q);
        }
        [first, rest @ ..] => (first, rest),
        [] => return aggregate(backend, hourly_table, q),
    };
    let in_rust = parts_summed_in_rust(q, segments);
    let part = |segment: &Segment| {
        let mut select = aggregate_from(backend, hourly_table, segment.source, q, segment.range);
        if in_rust {
            with_newest(&mut select, hourly_table);
        }
        select
    };
    let mut inner = part(first);
    for segment in rest {
        inner.union(sea_orm::sea_query::UnionType::All, part(segment));
    }
    if in_rust {
        // A group has at most one row per part: fewer rows than the limit times the parts are
        // every row, and that many prove at least `limit` groups.
        if let Some(limit) = q.limit {
            inner.limit(limit.saturating_mul(segments.len() as u64));
        }
        return inner;
    }
    let mut outer = Query::select();
    outer.from_subquery(inner, Alias::new("parts"));
    for alias in DIM_ALIASES.iter().take(q.dimensions.len()) {
        outer.column(Alias::new(*alias));
        outer.add_group_by([Expr::col(Alias::new(*alias))]);
    }
    if q.time_group.is_some() {
        outer.column(Alias::new(BUCKET_ALIAS));
        outer.add_group_by([Expr::col(Alias::new(BUCKET_ALIAS))]);
    }
    let total = match backend {
        DbBackend::MySql => format!("CAST(SUM(`{VALUE_ALIAS}`) AS {})", int64(backend)),
        _ => format!("CAST(SUM(\"{VALUE_ALIAS}\") AS {})", int64(backend)),
    };
    outer.expr_as(Expr::cust(total), Alias::new(VALUE_ALIAS));
    with_newest(&mut outer, hourly_table);
    if let Some(limit) = q.limit {
        outer.limit(limit);
    }
    outer
}

/// `CAST(SUM(column) AS BIGINT)` over a rollup's sum column, for `refresh-rollups`.
pub fn sum_column(backend: DbBackend, column: &str) -> SimpleExpr {
    let quoted = match backend {
        DbBackend::MySql => format!("`{column}`"),
        _ => format!("\"{column}\""),
    };
    Expr::cust(format!("CAST(SUM({quoted}) AS {})", int64(backend)))
}

/// Rows and sums per hour from `from` on: the cache's fingerprint of the newest hours.
pub fn probe(backend: DbBackend, table: &str, from: Option<NaiveDateTime>) -> SelectStatement {
    let mut select = Query::select();
    let bucket = bucket_expr(backend, TimeGroup::Hour);
    select
        .from(Alias::new(table))
        .expr_as(bucket.clone(), Alias::new(BUCKET_ALIAS))
        .expr_as(
            Expr::cust("COUNT(*)").cast_as(Alias::new(int64(backend))),
            Alias::new("rows"),
        )
        .expr_as(
            sum_expr(backend, Metric::Primary),
            Alias::new("primary_sum"),
        )
        .expr_as(sum_expr(backend, Metric::Cross), Alias::new("cross_sum"))
        .add_group_by([bucket]);
    if let Some(from) = from {
        select.and_where(Expr::col(H::StartDttm).gte(from));
    }
    select
}

/// [`probe`] with the content checksum of each hour ([`checksum_expr`]) as `checksum`: what the
/// probe reads, and `refresh-rollups` stores in `rollup_hour`, where there is no change log.
pub fn probe_with_checksum(
    backend: DbBackend,
    table: &str,
    from: Option<NaiveDateTime>,
) -> SelectStatement {
    let mut select = probe(backend, table, from);
    select.expr_as(checksum_expr(backend), Alias::new(CHECKSUM_ALIAS));
    select
}

/// The column of [`probe_with_checksum`] that holds the checksum.
pub const CHECKSUM_ALIAS: &str = "checksum";

/// P of the content checksum, the prime 2^31 − 1. Every factor stays below it, so a product of
/// two fits 64 bits on every backend, and so does the sum of a term per row.
pub const CHECKSUM_MODULUS: i64 = 2_147_483_647;

/// K of the content checksum: a row counts as `primary + K·cross (mod P)`. Chosen so that
/// `Δp + K·Δc ≡ 0 (mod P)` has no solution with `|Δp|, |Δc| <= 40,000` other than zero (a test
/// checks it): moving up to 40,000 primary and cross downloads, in any mix, from one key to
/// another of an hour always changes the checksum.
pub const CHECKSUM_CROSS_WEIGHT: i64 = 1_292_871_926;

/// The content checksum of a group of hourly rows, a BIGINT in (−P, P):
/// `SUM(hash(category, archive, country, download_type) · (primary + K·cross)) mod P`, with the
/// counts' NULL as 0 and each term reduced mod P. Rows and sums stay the same when counts move
/// from one key to another (a country to another, a category to another); this does not,
/// unless the two keys hash alike mod P ([`key_hash`]). Exact arithmetic on every backend
/// (PostgreSQL and MySQL sum exactly, SQLite's terms are below P), deterministic per backend;
/// the number differs between backends, and is only ever compared with itself.
/// Sums of groups combine by addition mod P ([`super::probe::add_checksum`]).
pub fn checksum_expr(backend: DbBackend) -> SimpleExpr {
    let p = CHECKSUM_MODULUS;
    let k = CHECKSUM_CROSS_WEIGHT;
    let int = int64(backend);
    let (primary, cross) = match backend {
        DbBackend::MySql => ("`primary_count`", "`cross_count`"),
        _ => ("\"primary_count\"", "\"cross_count\""),
    };
    // PostgreSQL's INTEGER would overflow on K times a count: 64 bits first.
    let counts = format!(
        "((CAST(COALESCE({primary}, 0) AS {int}) + {k} * CAST(COALESCE({cross}, 0) AS {int})) % {p})"
    );
    let hash = key_hash(backend);
    Expr::cust(format!(
        "CAST((SUM(({hash}) * {counts} % {p}) % {p}) AS {int})"
    ))
}

/// The key columns of [`key_hash`] (every dimension; a test checks none is missing), and the
/// characters of each that SQLite's reads: how many from the start, how many from the end. Chosen against the arXiv taxonomy and the country names
/// the logs write (a test checks every pair): `physics.chem-ph` and `physics.atom-ph` share the
/// first four and the last four characters and their length, so categories read six from the end.
pub const SQLITE_HASH_POSITIONS: [(Dimension, i64, i64); 4] = [
    (Dimension::Category, 4, 6),
    (Dimension::Archive, 3, 3),
    (Dimension::Country, 4, 6),
    (Dimension::DownloadType, 2, 2),
];

/// The number of weights of SQLite's [`key_hash`]: one per character read, one per length.
const SQLITE_HASH_TERMS: usize = 34;

/// The weights of SQLite's [`key_hash`]: fixed pseudo-random numbers below 2^30 (splitmix64
/// from seed 16), so that a weighted sum of 34 code points (below 2^21) stays far below 2^63.
pub const SQLITE_HASH_WEIGHTS: [i64; SQLITE_HASH_TERMS] = {
    let mut weights = [0i64; SQLITE_HASH_TERMS];
    let mut state: u64 = 16;
    let mut i = 0;
    while i < SQLITE_HASH_TERMS {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // Below 2^30 and never 0.
        weights[i] = (z >> 34) as i64 | 1;
        i += 1;
    }
    weights
};

/// A row's key (category, archive, country, download type) as a number in [0, P), from the
/// exact values (bytes on MySQL, as [`dimension_expr`] compares them; NULL apart from every
/// text, the empty one included).
///
/// - PostgreSQL (11 or later): the low 31 bits of the XOR of each column's `hashtextextended`
///   (64-bit, the column's own seed 1 to 4; NULL as the seed itself).
/// - MySQL and MariaDB: `CRC32` of the same as binary UTF-8 (`CONCAT_WS` with `CHAR(31)`),
///   reduced mod P; both have it (MySQL 8.4, MariaDB 10.11).
/// - SQLite has no hash function: a weighted sum, mod P, of the code points of the first and
///   last characters of each column ([`SQLITE_HASH_POSITIONS`]; a missing one counts 0) and of
///   each length + 1 (NULL: 0), with [`SQLITE_HASH_WEIGHTS`]. Two keys collide when every
///   column has the same length and the same characters at those positions (values that differ
///   only in the middle: `physics.chem-ph` and `physics.atom-ph` would, with four from the
///   end), or when the weighted differences happen to be a multiple of P (for a change at one
///   position never, P being prime and each weight and code point below it).
pub fn key_hash(backend: DbBackend) -> String {
    let p = CHECKSUM_MODULUS;
    let columns = SQLITE_HASH_POSITIONS.map(|(d, _, _)| d.column_name());
    match backend {
        // One hash per column, each with its own seed, XORed: cheaper than hashing the
        // concatenation (a 25-hour probe of 10,000 rows per hour: 100 ms rather than 125 to
        // 150 ms; rows and sums alone, 30 ms: docs/PERFORMANCE.md).
        DbBackend::Postgres => {
            let hashes: Vec<String> = columns
                .iter()
                .zip(1..)
                .map(|(c, seed)| format!("COALESCE(hashtextextended(\"{c}\", {seed}), {seed})"))
                .collect();
            format!("(({}) & {p})", hashes.join(" # "))
        }
        DbBackend::MySql => {
            let key = columns
                .map(|c| {
                    format!(
                        "IFNULL(CONCAT('v', CAST(CONVERT(`{c}` USING utf8mb4) AS BINARY)), 'n')"
                    )
                })
                .join(", ");
            format!("CAST(CRC32(CONCAT_WS(CHAR(31), {key})) % {p} AS SIGNED)")
        }
        _ => {
            let mut terms = Vec::with_capacity(SQLITE_HASH_TERMS);
            let mut weights = SQLITE_HASH_WEIGHTS.iter();
            for (dimension, first, last) in SQLITE_HASH_POSITIONS {
                let c = dimension.column_name();
                let positions = (1..=first).chain((1..=last).map(|i| -i));
                for at in positions {
                    let w = weights.next().copied().unwrap_or(1);
                    terms.push(format!(
                        "{w} * COALESCE(unicode(substr(\"{c}\", {at}, 1)), 0)"
                    ));
                }
                let w = weights.next().copied().unwrap_or(1);
                terms.push(format!("{w} * COALESCE(length(\"{c}\") + 1, 0)"));
            }
            format!("(({}) % {p})", terms.join(" + "))
        }
    }
}

/// The newest hour in the table, for `X-Data-As-Of`.
pub fn newest_hour(table: &str) -> SelectStatement {
    Query::select()
        .from(Alias::new(table))
        .expr_as(Expr::col(H::StartDttm).max(), Alias::new("newest"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn sample() -> Aggregate {
        let day = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        Aggregate {
            dimensions: vec![Dimension::Category, Dimension::Country],
            time_group: Some(TimeGroup::Month),
            metric: Metric::Total,
            range: TimeRange {
                from: day.and_hms_opt(0, 0, 0),
                to: day.succ_opt().unwrap().and_hms_opt(0, 0, 0),
            },
            filters: vec![Filter {
                dimension: Dimension::Country,
                values: vec!["x'); DROP TABLE t; --".into()],
            }],
            limit: None,
            shift: None,
        }
    }

    #[test]
    fn each_backend_gets_its_own_bucket_and_cast_and_user_values_stay_parameters() {
        for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
            let stmt = backend.build(&aggregate(backend, "hourly_download_data", &sample()));
            let (sql, values) = (stmt.sql, stmt.values.unwrap().0);
            println!("{backend:?}: {sql}");
            assert!(!sql.contains("DROP"), "{sql}");
            assert_eq!(values.len(), 3, "{sql}");
            match backend {
                DbBackend::Postgres => {
                    assert!(
                        sql.contains("to_char(\"start_dttm\", 'YYYY-MM')")
                            && sql.contains("AS BIGINT")
                    )
                }
                DbBackend::MySql => assert!(
                    sql.contains("DATE_FORMAT(`start_dttm`, '%Y-%m')")
                        && sql.contains("AS SIGNED")
                        && sql.contains("AS BINARY)")
                ),
                _ => assert!(sql.contains("strftime('%Y-%m', \"start_dttm\")")),
            }
            assert!(sql.contains("GROUP BY"), "{sql}");
        }
    }

    #[test]
    fn each_backend_gets_its_own_checksum_with_64_bit_arithmetic() {
        for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
            let sql = backend
                .build(&probe_with_checksum(backend, "hourly_download_data", None))
                .sql;
            println!("{backend:?}: {sql}");
            assert!(sql.contains("% 2147483647"), "{sql}");
            assert!(sql.contains("1292871926 * CAST(COALESCE("), "{sql}");
            match backend {
                DbBackend::Postgres => assert!(
                    sql.contains("((COALESCE(hashtextextended(\"category\", 1), 1) # COALESCE(hashtextextended(\"archive\", 2), 2) #")
                        && sql.contains("AS BIGINT"),
                    "{sql}"
                ),
                DbBackend::MySql => assert!(
                    sql.contains("CRC32(CONCAT_WS(CHAR(31), IFNULL(CONCAT('v', CAST(CONVERT(`category` USING utf8mb4) AS BINARY)), 'n')")
                        && sql.contains("AS SIGNED"),
                    "{sql}"
                ),
                _ => assert!(
                    sql.contains("COALESCE(unicode(substr(\"country\", -6, 1)), 0)")
                        && sql.contains("COALESCE(length(\"archive\") + 1, 0)"),
                    "{sql}"
                ),
            }
        }
    }

    #[test]
    fn moving_up_to_40000_primary_and_cross_downloads_always_changes_a_rows_term() {
        // Δp + K·Δc ≡ 0 (mod P) with |Δp|, |Δc| <= 40,000 only for Δ = 0: for every Δc in
        // 1..=40,000 (and, by symmetry, its negative), K·Δc mod P is farther than 40,000 from 0.
        let (p, k) = (CHECKSUM_MODULUS, CHECKSUM_CROSS_WEIGHT);
        for dc in 1..=40_000i64 {
            let r = (k * dc).rem_euclid(p);
            assert!(Ord::min(r, p - r) > 40_000, "Δc = {dc}: K·Δc mod P = {r}");
        }
        // P is prime, so moving a nonzero term between keys with different hashes shows.
        assert!((2..46_341i64).all(|d| p % d != 0));
        // Every factor is below P < 2^31: a product of two fits 63 bits.
        assert!(SQLITE_HASH_WEIGHTS.iter().all(|w| (1..1 << 30).contains(w)));
    }

    /// SQLite's key hash of one column's value, as `key_hash` writes it in SQL, mod P: its
    /// contribution to the hash of a key.
    fn sqlite_column_hash(column: usize, value: Option<&str>) -> i64 {
        let mut weights = SQLITE_HASH_WEIGHTS.iter();
        let mut sum = 0i64;
        for (i, (_, first, last)) in SQLITE_HASH_POSITIONS.iter().enumerate() {
            let chars: Vec<char> = value.unwrap_or_default().chars().collect();
            let len = chars.len() as i64;
            let at = |pos: i64| {
                let index = if pos > 0 { pos - 1 } else { len + pos };
                usize::try_from(index)
                    .ok()
                    .and_then(|i| chars.get(i))
                    .map_or(0, |c| i64::from(u32::from(*c)))
            };
            let features: Vec<i64> = (1..=*first)
                .map(at)
                .chain((1..=*last).map(|i| at(-i)))
                .chain([value.map_or(0, |_| len + 1)])
                .collect();
            for feature in features {
                let w = *weights.next().unwrap();
                if i == column {
                    sum += w * feature;
                }
            }
        }
        sum % CHECKSUM_MODULUS
    }

    #[test]
    fn sqlite_key_hash_tells_apart_every_category_archive_country_and_type_arxiv_has() {
        use crate::demo::taxonomy::{CATEGORIES, COUNTRIES, DOWNLOAD_TYPES};
        // Every dimension is part of the key, once.
        for dimension in Dimension::ALL {
            let n = SQLITE_HASH_POSITIONS
                .iter()
                .filter(|(d, _, _)| d == dimension)
                .count();
            assert_eq!(n, 1, "{dimension}");
        }
        let terms: i64 = SQLITE_HASH_POSITIONS
            .iter()
            .map(|(_, f, l)| f + l + 1)
            .sum();
        assert_eq!(terms, SQLITE_HASH_TERMS as i64);
        let mut archives: Vec<Option<&str>> = CATEGORIES.iter().map(|(_, a)| Some(*a)).collect();
        archives.sort();
        archives.dedup();
        archives.push(None);
        let values: [Vec<Option<&str>>; 4] = [
            CATEGORIES.iter().map(|(c, _)| Some(*c)).collect(),
            archives,
            COUNTRIES
                .iter()
                .map(|c| Some(*c))
                // Case, accents and trailing spaces are other values.
                .chain([
                    Some("Germany"),
                    Some("germany "),
                    Some("cote d'ivoire"),
                    Some(""),
                ])
                .collect(),
            DOWNLOAD_TYPES.iter().map(|(t, _)| Some(*t)).collect(),
        ];
        for (column, values) in values.iter().enumerate() {
            let mut seen = std::collections::BTreeMap::new();
            for value in values {
                if let Some(other) = seen.insert(sqlite_column_hash(column, *value), value) {
                    panic!("{value:?} and {other:?} hash alike");
                }
            }
        }
        // The collision the positions were chosen against.
        assert_ne!(
            sqlite_column_hash(0, Some("physics.chem-ph")),
            sqlite_column_hash(0, Some("physics.atom-ph"))
        );
    }

    #[test]
    fn a_part_inside_one_span_shifts_by_its_offset_alone() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let shift = LocalShift {
            spans: vec![
                (at("2026-03-01 00:00:00"), -5 * 3600),
                (at("2026-03-08 07:00:00"), -4 * 3600),
                (at("2026-11-01 06:00:00"), -5 * 3600),
            ],
        };
        let within = |from: Option<&str>, to: Option<&str>| {
            shift
                .within(TimeRange {
                    from: from.map(at),
                    to: to.map(at),
                })
                .spans
                .iter()
                .map(|(_, seconds)| seconds / 3600)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            within(Some("2026-03-10 04:00:00"), Some("2026-10-01 04:00:00")),
            [-4]
        );
        assert_eq!(
            within(Some("2026-03-08 07:00:00"), Some("2026-11-01 06:00:00")),
            [-4]
        );
        assert_eq!(
            within(Some("2026-03-08 06:00:00"), Some("2026-11-01 07:00:00")),
            [-5, -4, -5]
        );
        assert_eq!(within(None, Some("2026-03-08 07:00:00")), [-5]);
        assert_eq!(within(Some("2026-12-01 00:00:00"), None), [-5]);
        assert_eq!(within(None, None), [-5, -4, -5]);
    }

    #[test]
    fn local_buckets_shift_each_hour_by_the_offset_of_its_span() {
        let mut q = sample();
        q.time_group = Some(TimeGroup::Day);
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        q.shift = Some(LocalShift {
            spans: vec![
                (at("2026-10-31 04:00:00"), -4 * 3600),
                (at("2026-11-01 06:00:00"), -5 * 3600),
            ],
        });
        q.range = TimeRange {
            from: Some(at("2026-10-31 04:00:00")),
            to: Some(at("2026-11-03 05:00:00")),
        };
        for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
            let sql = backend
                .build(&aggregate(backend, "hourly_download_data", &q))
                .sql;
            println!("{backend:?}: {sql}");
            assert!(
                sql.contains("WHEN") && sql.contains("'2026-11-01 06:00:00'"),
                "{sql}"
            );
            match backend {
                DbBackend::Postgres => assert!(
                    sql.contains("CAST(CASE WHEN date_trunc('hour', \"start_dttm\")")
                        && sql.contains("INTERVAL '-18000 seconds'"),
                    "{sql}"
                ),
                DbBackend::MySql => assert!(sql.contains("INTERVAL -14400 SECOND"), "{sql}"),
                _ => assert!(sql.contains("'-18000 seconds'"), "{sql}"),
            }
        }
    }

    #[test]
    fn parts_come_back_as_one_union_whose_limit_counts_rows_of_every_part() {
        let mut q = sample();
        q.filters.clear();
        q.limit = Some(10);
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let segments = [
            Segment {
                source: Source::RollupMonthCategoryCountry,
                range: TimeRange {
                    from: None,
                    to: Some(at("2026-03-01 00:00:00")),
                },
            },
            Segment {
                source: Source::Hourly,
                range: TimeRange {
                    from: Some(at("2026-03-01 00:00:00")),
                    to: None,
                },
            },
        ];
        for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
            let stmt = backend.build(&aggregate_segments(
                backend,
                "hourly_download_data",
                &q,
                &segments,
            ));
            let (sql, values) = (stmt.sql, stmt.values.unwrap().0);
            assert!(sql.contains("UNION ALL"), "{sql}");
            assert!(!sql.contains("parts"), "{sql}");
            // The newest hour on the rows of every part.
            assert_eq!(sql.matches("MAX(").count(), 2, "{sql}");
            // Ten groups are at most twenty rows of two parts.
            assert!(sql.contains(" LIMIT "), "{sql}");
            assert_eq!(
                values.last(),
                Some(&sea_orm::Value::BigUnsigned(Some(20))),
                "{sql}"
            );
        }
    }
}
