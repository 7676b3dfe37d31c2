//! The planner: which rollups (per hour, day, month and year, by various dimensions;
//! maintained by `refresh-rollups` in `crate::write::rollups`) answer which part of a query,
//! and up to which hour they can be trusted.
//!
//! The rollups hold exactly the hours before their watermark. A query reads them for those
//! hours and the hourly table for the rest, so an answer is exact however far behind they are.
//! The freshness probe also compares the rollups' per-hour totals (and, without a change log,
//! content checksums) with the hourly table's for the newest `cache.probe_hours` hours; where
//! an ingest rewrote an hour the rollups still hold, the cutoff moves back to the start of that
//! day until the next refresh.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use super::params::TimeRange;
use super::probe::Fingerprint;
use super::sql::{Aggregate, Grain, LocalShift, Segment, Source};
use super::vocab::{Dimension, TimeGroup};

/// Where the planner switches from the rollups to the hourly table: for each grain, the
/// first period the rollups of that grain are not trusted for. When the cutoff is the
/// watermark itself, the period holding it is trusted: the rollups hold its hours before the
/// watermark exactly, and the hourly table gives the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff {
    /// Hours before this come from the rollups.
    pub hour: NaiveDateTime,
    /// Days before this come from the day rollups.
    pub day: NaiveDate,
    /// Months (their first days) before this come from the month rollups.
    pub month: NaiveDate,
    /// Years (their first days) before this come from the year rollups.
    pub year: NaiveDate,
}

impl Cutoff {
    /// The rollups are exact up to `watermark`, each grain's partial period included.
    pub fn at_watermark(watermark: NaiveDateTime) -> Self {
        let day = watermark.date();
        Cutoff {
            hour: watermark,
            day: day + Duration::days(1),
            month: next_period(first_of(day, Grain::Month), Grain::Month),
            year: next_period(first_of(day, Grain::Year), Grain::Year),
        }
    }

    /// The rollups are exact before `changed`'s day only: every period that holds it is not.
    pub fn before_change(changed: NaiveDateTime) -> Self {
        let day = changed.date();
        Cutoff {
            hour: day.and_time(NaiveTime::MIN),
            day,
            month: first_of(day, Grain::Month),
            year: first_of(day, Grain::Year),
        }
    }

    /// Whether the cutoff is the watermark itself (not moved back by a change): the rollups
    /// then also hold the periods and windows that hold it, with their hours before it.
    pub fn is_watermark(&self) -> bool {
        self.day > self.hour.date()
    }

    /// The first instant the rollups of `grain` are not trusted for.
    fn end(&self, grain: Grain) -> NaiveDateTime {
        match grain {
            Grain::Hour => self.hour,
            Grain::Day => self.day.and_time(NaiveTime::MIN),
            Grain::Month => self.month.and_time(NaiveTime::MIN),
            Grain::Year => self.year.and_time(NaiveTime::MIN),
        }
    }
}

/// The first day of the day, month or year that holds `day` (the day itself for hours).
fn first_of(day: NaiveDate, grain: Grain) -> NaiveDate {
    match grain {
        Grain::Hour | Grain::Day => day,
        Grain::Month => day.with_day(1).unwrap_or(day),
        Grain::Year => day.with_ordinal(1).unwrap_or(day),
    }
}

fn next_period(first: NaiveDate, grain: Grain) -> NaiveDate {
    match grain {
        Grain::Hour | Grain::Day => first + Duration::days(1),
        Grain::Month => first.checked_add_months(Months::new(1)).unwrap_or(first),
        Grain::Year => first.checked_add_months(Months::new(12)).unwrap_or(first),
    }
}

/// The start of the period of `grain` that holds `t`.
fn floor(t: NaiveDateTime, grain: Grain) -> NaiveDateTime {
    match grain {
        Grain::Hour => t.date().and_hms_opt(t.hour(), 0, 0).unwrap_or(t),
        _ => first_of(t.date(), grain).and_time(NaiveTime::MIN),
    }
}

/// The start of the period after the one of `grain` that holds `t`.
fn ceil_after(t: NaiveDateTime, grain: Grain) -> NaiveDateTime {
    match grain {
        Grain::Hour => floor(t, grain) + Duration::hours(1),
        _ => next_period(first_of(t.date(), grain), grain).and_time(NaiveTime::MIN),
    }
}

/// Before any data: the start of an unbounded range, aligned to every grain.
fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1900, 1, 1)
        .unwrap_or_default()
        .and_time(NaiveTime::MIN)
}

/// The smallest rollup of `grain` that keeps every dimension in `dimensions`, if any. Totals
/// come from the per-hour totals by hour and from the months by download type by month.
fn source_of(grain: Grain, dimensions: &BTreeSet<Dimension>) -> Option<Source> {
    if dimensions.is_empty() {
        // Totals: 24 rows a day from the per-hour totals, a few a month from the months by
        // download type (their sum is the month's total), so that all-time totals by month
        // or year cost the months, not the hours, of the history.
        return match grain {
            Grain::Hour => Some(Source::RollupHour),
            Grain::Month => Some(Source::RollupMonthDownloadType),
            Grain::Day | Grain::Year => None,
        };
    }
    let candidates: &[Source] = match grain {
        Grain::Hour => &[
            Source::RollupHourDownloadType,
            Source::RollupHourArchive,
            Source::RollupHourCountry,
            Source::RollupHourCategory,
        ],
        Grain::Day => &[
            Source::RollupDayCountry,
            Source::RollupDayCategory,
            Source::RollupDay,
        ],
        Grain::Month => &[
            Source::RollupMonthDownloadType,
            Source::RollupMonthCountry,
            Source::RollupMonthCategory,
            Source::RollupMonthCategoryCountry,
        ],
        Grain::Year => &[Source::RollupYearCategoryCountry],
    };
    candidates
        .iter()
        .copied()
        .find(|source| dimensions.iter().all(|d| source.keeps(*d)))
}

/// The grains whose periods keep `q`'s buckets apart: a local series (shifted hours) and an
/// hourly one need hours, UTC days and weeks need days, and so on.
fn grains_for(q: &Aggregate) -> &'static [Grain] {
    if q.shift.is_some() {
        return &[Grain::Hour];
    }
    match q.time_group {
        Some(TimeGroup::Hour) => &[Grain::Hour],
        Some(TimeGroup::Day | TimeGroup::Week) => &[Grain::Day, Grain::Hour],
        Some(TimeGroup::Month) => &[Grain::Month, Grain::Day, Grain::Hour],
        Some(TimeGroup::Year) | None => &[Grain::Year, Grain::Month, Grain::Day, Grain::Hour],
    }
}

/// The parts `q` is read from, given the rollups' `cutoff` (see [`aligned_segments`]); a
/// local series by days or longer periods, by category, archive or country, reads each local
/// day of 24 hours from a window rollup (see [`local_segments`]).
pub fn segments(q: &Aggregate, cutoff: Option<Cutoff>) -> Vec<Segment> {
    if let (Some(cutoff), Some(shift)) = (cutoff, &q.shift)
        && q.time_group.is_some_and(|tg| tg != TimeGroup::Hour)
        && let Some(window) = window_source(q)
    {
        return local_segments(q, cutoff, shift, window);
    }
    aligned_segments(q, cutoff)
}

/// The dimensions `q` groups or filters by: a rollup must keep each of them.
fn used_dimensions(q: &Aggregate) -> BTreeSet<Dimension> {
    q.dimensions
        .iter()
        .copied()
        .chain(q.filters.iter().map(|f| f.dimension))
        .collect()
}

/// The window rollup that keeps every dimension `q` uses, if one does.
fn window_source(q: &Aggregate) -> Option<Source> {
    let used = used_dimensions(q);
    if used.is_empty() {
        // Totals come from the per-hour totals: 24 rows a day.
        return None;
    }
    [Source::RollupWindowCountry, Source::RollupWindowCategory]
        .into_iter()
        .find(|source| used.iter().all(|d| source.keeps(*d)))
}

/// Most local days one window part lists (each start is a bound parameter).
const MOST_WINDOWS: i32 = 1000;

/// The parts of a local series (`shift`): every local day whose first 24 hours are before
/// the cutoff is one row per key of `window` at its first UTC hour, as a UTC day is a row of
/// the day rollups (a day of 25 hours, when the clocks go back, adds its last hour). At the
/// watermark the window rollups hold, like the day rollups, the partial windows that start
/// before it with their hours before it, so the local day that holds the watermark is a
/// window row too. A window part reads the local days that start in its range, which runs
/// from a day's start to the start of the day after its last. The rest (a partial first day,
/// days of 23 hours, the hours from the cutoff on) is read as [`aligned_segments`] reads it.
/// Each hour of the range is in exactly one part.
fn local_segments(
    q: &Aggregate,
    cutoff: Cutoff,
    shift: &LocalShift,
    window: Source,
) -> Vec<Segment> {
    let Some(first) = q.range.from.or(shift.spans.first().map(|(from, _)| *from)) else {
        return aligned_segments(q, Some(cutoff));
    };
    let hour = Duration::hours(1);
    let day = Duration::days(1);
    let stop = q
        .range
        .to
        .map_or(cutoff.hour, |to| Ord::min(to, cutoff.hour));
    let gap = |from: Option<NaiveDateTime>, to: Option<NaiveDateTime>| {
        let mut part = q.clone();
        part.range = TimeRange { from, to };
        aligned_segments(&part, Some(cutoff))
    };
    let mut parts: Vec<Segment> = Vec::new();
    // The window part being extended, by index into `parts`.
    let mut run: Option<usize> = None;
    // The start of what no part has read yet.
    let mut unread = q.range.from;
    let mut pos = floor(first, Grain::Hour);
    if pos < first {
        pos += hour;
    }
    while pos < stop {
        let local = shift.local_day(pos);
        // The hours the window from `pos` holds and the query reads: all 24 of them, or the
        // watermark's partial window up to it, if they are all in this local day.
        let end = if pos + day <= stop {
            pos + day
        } else if cutoff.is_watermark() && q.range.to.is_none_or(|to| to >= cutoff.hour) {
            cutoff.hour
        } else {
            break;
        };
        if !(shift.starts_day(pos) && shift.local_day(end - hour) == local) {
            pos += hour;
            continue;
        }
        // Where the next local day starts (past a 25-hour day's last hour).
        let mut next = pos + day;
        while shift.local_day(next) == local {
            next += hour;
        }
        if unread != Some(pos) {
            parts.extend(gap(unread, Some(pos)));
        }
        let extends = run.filter(|i| {
            parts[*i].range.to == Some(pos)
                && parts[*i]
                    .range
                    .from
                    .is_some_and(|from| (pos - from).num_days() < i64::from(MOST_WINDOWS))
        });
        match extends {
            Some(i) => parts[i].range.to = Some(next),
            None => {
                run = Some(parts.len());
                parts.push(Segment {
                    source: window,
                    range: TimeRange {
                        from: Some(pos),
                        to: Some(next),
                    },
                });
            }
        }
        pos = end;
        unread = Some(end);
    }
    if unread != q.range.to || unread.is_none() {
        parts.extend(gap(unread, q.range.to));
    }
    parts
}

/// The parts `q` is read from, given the rollups' `cutoff`: from the start of the range on,
/// the coarsest rollup that keeps every dimension used and whose period starts where the
/// previous part ends, as far as its periods fit in the range and are trusted; the hourly
/// table where no rollup fits, and from the cutoff on. Each hour of the range is in exactly
/// one part, so the sum over the parts is the sum over the hourly table.
pub fn aligned_segments(q: &Aggregate, cutoff: Option<Cutoff>) -> Vec<Segment> {
    let hourly = |range| {
        vec![Segment {
            source: Source::Hourly,
            range,
        }]
    };
    let Some(cutoff) = cutoff else {
        return hourly(q.range);
    };
    let dimensions = used_dimensions(q);
    let mut grains: Vec<(Grain, Source)> = grains_for(q)
        .iter()
        .filter_map(|g| source_of(*g, &dimensions).map(|s| (*g, s)))
        .collect();
    // A coarser grain is worth it only with a table as narrow as the finer one's: all time
    // by country reads months by country, not years by category and country. Totals read a
    // few rows per period from any of their sources, so the coarsest is always worth it.
    let mut narrowest = u8::MAX;
    for i in (0..grains.len()).rev() {
        let width = grains[i].1.width();
        if width > narrowest && !dimensions.is_empty() {
            grains.remove(i);
        } else {
            narrowest = width;
        }
    }
    let Some(finest) = grains.last().map(|(g, _)| *g) else {
        return hourly(q.range);
    };
    let start = epoch();
    let mut pos = q.range.from.unwrap_or(start);
    let bound = |t: NaiveDateTime| (t != start).then_some(t);
    let mut parts: Vec<Segment> = Vec::new();
    let mut push = |source: Source, from: NaiveDateTime, to: Option<NaiveDateTime>| {
        if let Some(last) = parts.last_mut()
            && last.source == source
            && last.range.to == Some(from)
        {
            last.range.to = to;
            return;
        }
        parts.push(Segment {
            source,
            range: TimeRange {
                from: bound(from),
                to,
            },
        });
    };
    while q.range.to.is_none_or(|to| pos < to) {
        if pos >= cutoff.hour {
            push(Source::Hourly, pos, q.range.to);
            break;
        }
        let fitting = grains.iter().enumerate().find_map(|(i, (grain, source))| {
            if floor(pos, *grain) != pos {
                return None;
            }
            // A finer part ends where a coarser period starts, which may take over there.
            let coarser = grains[..i].iter().map(|(g, _)| ceil_after(pos, *g));
            let end = [cutoff.end(*grain)]
                .into_iter()
                .chain(q.range.to.map(|to| floor(to, *grain)))
                .chain(coarser)
                .min()
                .unwrap_or(pos);
            (end > pos).then_some((*source, end))
        });
        match fitting {
            Some((source, end)) => {
                push(source, pos, Some(end));
                // Only the period that holds the watermark ends past the cutoff; its rows
                // hold the hours before it.
                pos = Ord::min(end, cutoff.hour);
            }
            None => {
                let next = [ceil_after(pos, finest), cutoff.hour]
                    .into_iter()
                    .chain(q.range.to)
                    .min()
                    .unwrap_or(cutoff.hour);
                push(Source::Hourly, pos, Some(next));
                pos = next;
            }
        }
    }
    if parts.is_empty() {
        return hourly(q.range);
    }
    parts
}

/// The per-hour totals the rollups hold for hours from `from` on.
pub async fn rollup_hours<C: ConnectionTrait>(
    conn: &C,
    from: Option<NaiveDateTime>,
) -> Result<BTreeMap<NaiveDateTime, (i64, i64, i64)>, DbErr> {
    let mut select = Query::select();
    select.from(Alias::new("rollup_hour")).columns([
        Alias::new("hour"),
        Alias::new("rows"),
        Alias::new("primary_sum"),
        Alias::new("cross_sum"),
    ]);
    if let Some(from) = from {
        select.and_where(Expr::col(Alias::new("hour")).gte(from));
    }
    let rows = conn.query_all(&select).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<NaiveDateTime>("", "hour")?,
                (
                    r.try_get::<i64>("", "rows")?,
                    r.try_get::<i64>("", "primary_sum")?,
                    r.try_get::<i64>("", "cross_sum")?,
                ),
            ))
        })
        .collect()
}

/// The content checksums `rollup_hour` holds for hours from `from` on (`None`: the hour was
/// rolled up while a change log was kept, without one), in [0, P).
pub async fn rollup_checksums<C: ConnectionTrait>(
    conn: &C,
    from: Option<NaiveDateTime>,
) -> Result<BTreeMap<NaiveDateTime, Option<i64>>, DbErr> {
    let mut select = Query::select();
    select
        .from(Alias::new("rollup_hour"))
        .columns([Alias::new("hour"), Alias::new("checksum")]);
    if let Some(from) = from {
        select.and_where(Expr::col(Alias::new("hour")).gte(from));
    }
    let rows = conn.query_all(&select).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<NaiveDateTime>("", "hour")?,
                r.try_get::<Option<i64>>("", "checksum")?
                    .map(|c| c.rem_euclid(super::sql::CHECKSUM_MODULUS)),
            ))
        })
        .collect()
}

/// The first hour of the window, before `watermark`, whose checksum in the hourly table
/// (`live`, read where there is no change log) differs from the one `rollup_hour` holds: a
/// rewrite that kept the hour's rows and sums.
fn first_checksum_change(
    stored: &BTreeMap<NaiveDateTime, Option<i64>>,
    live: &Fingerprint,
    watermark: NaiveDateTime,
) -> Option<NaiveDateTime> {
    let checksums = live.checksums.as_ref()?;
    stored
        .keys()
        .chain(checksums.keys())
        .filter(|h| **h < watermark && live.window_start.is_none_or(|s| **h >= s))
        .filter(|h| stored.get(*h).copied().flatten() != checksums.get(*h).copied())
        .min()
        .copied()
}

/// When `refresh-rollups --verify` last repaired rollups (`rollup_state` row `repaired`).
pub async fn repaired<C: ConnectionTrait>(conn: &C) -> Result<Option<NaiveDateTime>, DbErr> {
    let select = Query::select()
        .from(Alias::new("rollup_state"))
        .column(Alias::new("watermark"))
        .and_where(Expr::col(Alias::new("name")).eq("repaired"))
        .to_owned();
    match conn.query_one(&select).await? {
        Some(row) => row.try_get::<Option<NaiveDateTime>>("", "watermark"),
        None => Ok(None),
    }
}

pub async fn watermark<C: ConnectionTrait>(conn: &C) -> Result<Option<NaiveDateTime>, DbErr> {
    let select = Query::select()
        .from(Alias::new("rollup_state"))
        .column(Alias::new("watermark"))
        .and_where(Expr::col(Alias::new("name")).eq("rollups"))
        .to_owned();
    match conn.query_one(&select).await? {
        Some(row) => row.try_get::<Option<NaiveDateTime>>("", "watermark"),
        None => Ok(None),
    }
}

/// The cutoff to use now: the watermark, moved back to the start of the first day in which
/// the hourly table no longer matches the rollups (among the hours `live` covers). `None`
/// when there are no rollups (or no rollup tables): every query then reads the hourly table.
pub async fn cutoff(db: &DatabaseConnection, live: &Fingerprint) -> Result<Option<Cutoff>, DbErr> {
    let Some(watermark) = watermark(db).await? else {
        return Ok(None);
    };
    // A database migrated before the per-hour, month or year rollups existed has none to
    // read.
    for table in [
        "rollup_hour_category",
        "rollup_hour_archive",
        "rollup_hour_country",
        "rollup_hour_download_type",
        "rollup_month_category",
        "rollup_month_country",
        "rollup_month_download_type",
        "rollup_month_category_country",
        "rollup_year_category_country",
        "rollup_window_category",
        "rollup_window_country",
    ] {
        let probe = Query::select()
            .from(Alias::new(table))
            .expr(Expr::val(1))
            .limit(1)
            .to_owned();
        db.query_one(&probe).await?;
    }
    let stored = rollup_hours(db, live.window_start).await?;
    let keys: BTreeSet<&NaiveDateTime> = stored.keys().chain(live.hours.keys()).collect();
    let in_window = keys
        .into_iter()
        .filter(|h| **h < watermark && live.window_start.is_none_or(|s| **h >= s))
        .find(|h| stored.get(*h) != live.hours.get(*h))
        .copied();
    // Hours the change log holds changed after the rollups were built, at any age.
    let logged = live
        .changes
        .iter()
        .flat_map(|changes| changes.keys())
        .filter(|h| **h < watermark)
        .min()
        .copied();
    // Without a change log, rewrites that kept rows and sums show in the checksums.
    let rewritten = match live.checksums {
        Some(_) => first_checksum_change(
            &rollup_checksums(db, live.window_start).await?,
            live,
            watermark,
        ),
        None => None,
    };
    let first_changed = in_window.into_iter().chain(logged).chain(rewritten).min();
    Ok(Some(match first_changed {
        None => Cutoff::at_watermark(watermark),
        Some(changed) => Cutoff::before_change(changed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::params::Filter;
    use crate::stats::vocab::Metric;

    fn q(
        dimensions: Vec<Dimension>,
        time_group: Option<TimeGroup>,
        filters: Vec<Dimension>,
    ) -> Aggregate {
        Aggregate {
            limit: None,
            dimensions,
            time_group,
            metric: Metric::Primary,
            range: TimeRange::default(),
            shift: None,
            filters: filters
                .into_iter()
                .map(|dimension| Filter {
                    dimension,
                    values: vec!["x".into()],
                })
                .collect(),
        }
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn parts(q: &Aggregate, cutoff: Cutoff) -> Vec<(Source, Option<String>, Option<String>)> {
        let show = |t: Option<NaiveDateTime>| t.map(|t| t.format("%Y-%m-%d %H:%M").to_string());
        segments(q, Some(cutoff))
            .into_iter()
            .map(|s| (s.source, show(s.range.from), show(s.range.to)))
            .collect()
    }

    fn s(t: &str) -> Option<String> {
        Some(t.to_string())
    }

    #[test]
    fn each_part_comes_from_the_coarsest_rollup_that_keeps_every_dimension_used() {
        use Dimension::*;
        let cutoff = Cutoff::at_watermark(at("2026-12-01 13:00"));
        // All time by category and country: whole years (the current one up to the
        // watermark), then the hourly table.
        assert_eq!(
            parts(&q(vec![Category], None, vec![Country]), cutoff),
            vec![
                (
                    Source::RollupYearCategoryCountry,
                    None,
                    s("2027-01-01 00:00")
                ),
                (Source::Hourly, s("2026-12-01 13:00"), None),
            ]
        );
        assert_eq!(
            parts(&q(vec![Country], Some(TimeGroup::Month), vec![]), cutoff),
            vec![
                (Source::RollupMonthCountry, None, s("2027-01-01 00:00")),
                (Source::Hourly, s("2026-12-01 13:00"), None),
            ]
        );
        assert_eq!(
            parts(&q(vec![Archive], Some(TimeGroup::Day), vec![]), cutoff)[0].0,
            Source::RollupDayCategory
        );
        assert_eq!(
            parts(&q(vec![Country], None, vec![DownloadType]), cutoff)[0].0,
            Source::RollupDay
        );
        // Totals by month and all-time totals: months by download type, the watermark's
        // month up to it; by day, the per-hour totals.
        for time_group in [Some(TimeGroup::Month), Some(TimeGroup::Year), None] {
            assert_eq!(
                parts(&q(vec![], time_group, vec![]), cutoff),
                vec![
                    (Source::RollupMonthDownloadType, None, s("2027-01-01 00:00")),
                    (Source::Hourly, s("2026-12-01 13:00"), None),
                ],
                "{time_group:?}"
            );
        }
        assert_eq!(
            parts(&q(vec![], Some(TimeGroup::Day), vec![]), cutoff),
            vec![
                (Source::RollupHour, None, s("2026-12-01 13:00")),
                (Source::Hourly, s("2026-12-01 13:00"), None),
            ]
        );
        assert_eq!(
            parts(
                &q(vec![Archive], Some(TimeGroup::Hour), vec![Category]),
                cutoff
            )[0]
            .0,
            Source::RollupHourCategory
        );
        // No rollup keeps hours by country and category.
        assert_eq!(
            parts(
                &q(vec![Country], Some(TimeGroup::Hour), vec![Category]),
                cutoff
            ),
            vec![(Source::Hourly, None, None)]
        );
        assert_eq!(segments(&q(vec![Country], None, vec![]), None).len(), 1);
        // Years only by category and country: by country alone, months are fewer rows.
        assert_eq!(
            parts(&q(vec![Country], None, vec![]), cutoff)[0].0,
            Source::RollupMonthCountry
        );
    }

    #[test]
    fn a_range_inside_periods_is_read_from_finer_rollups_at_its_edges() {
        use Dimension::*;
        let cutoff = Cutoff::at_watermark(at("2026-12-01 13:00"));
        let mut by_country = q(vec![Category], None, vec![]);
        // Local days in a zone west of UTC: from 05:00 on the first day to 05:00 after the
        // last.
        by_country.range = TimeRange {
            from: Some(at("2026-09-29 05:00")),
            to: Some(at("2026-11-02 05:00")),
        };
        assert_eq!(
            parts(&by_country, cutoff),
            vec![
                (
                    Source::RollupHourCategory,
                    s("2026-09-29 05:00"),
                    s("2026-09-30 00:00")
                ),
                (
                    Source::RollupDayCategory,
                    s("2026-09-30 00:00"),
                    s("2026-10-01 00:00")
                ),
                (
                    Source::RollupMonthCategory,
                    s("2026-10-01 00:00"),
                    s("2026-11-01 00:00")
                ),
                (
                    Source::RollupDayCategory,
                    s("2026-11-01 00:00"),
                    s("2026-11-02 00:00")
                ),
                (
                    Source::RollupHourCategory,
                    s("2026-11-02 00:00"),
                    s("2026-11-02 05:00")
                ),
            ]
        );
        // A range that ends after the watermark: whole months, the watermark's partial day,
        // then the hourly table.
        by_country.range.to = Some(at("2026-12-02 00:00"));
        let read = parts(&by_country, cutoff);
        assert_eq!(
            read[read.len() - 3..],
            [
                (
                    Source::RollupMonthCategory,
                    s("2026-10-01 00:00"),
                    s("2026-12-01 00:00")
                ),
                (
                    Source::RollupDayCategory,
                    s("2026-12-01 00:00"),
                    s("2026-12-02 00:00")
                ),
                (Source::Hourly, s("2026-12-01 13:00"), s("2026-12-02 00:00")),
            ]
        );
    }

    #[test]
    fn a_changed_day_is_read_from_the_hourly_table_and_its_month_and_year_are_not_trusted() {
        use Dimension::*;
        let cutoff = Cutoff::before_change(at("2026-11-12 07:00"));
        assert_eq!(
            parts(&q(vec![Category], None, vec![Country]), cutoff),
            vec![
                (
                    Source::RollupYearCategoryCountry,
                    None,
                    s("2026-01-01 00:00")
                ),
                (
                    Source::RollupMonthCategoryCountry,
                    s("2026-01-01 00:00"),
                    s("2026-11-01 00:00")
                ),
                (
                    Source::RollupDay,
                    s("2026-11-01 00:00"),
                    s("2026-11-12 00:00")
                ),
                (Source::Hourly, s("2026-11-12 00:00"), None),
            ]
        );
        // Without a rollup by hour, a range from inside a day reads that day's hours from
        // the hourly table.
        let mut pairs = q(vec![Category], None, vec![Country]);
        pairs.range.from = Some(at("2026-10-30 05:00"));
        pairs.range.to = Some(at("2026-11-05 05:00"));
        assert_eq!(
            parts(&pairs, cutoff),
            vec![
                (Source::Hourly, s("2026-10-30 05:00"), s("2026-10-31 00:00")),
                (
                    Source::RollupDay,
                    s("2026-10-31 00:00"),
                    s("2026-11-05 00:00")
                ),
                (Source::Hourly, s("2026-11-05 00:00"), s("2026-11-05 05:00")),
            ]
        );
    }

    #[test]
    fn every_hour_of_any_range_is_in_exactly_one_part() {
        use Dimension::*;
        let watermarks = ["2026-12-01 13:00", "2027-01-01 00:00"];
        let bounds = [
            None,
            Some("2025-12-31 23:00"),
            Some("2026-11-30 19:00"),
            Some("2026-12-01 00:00"),
            Some("2026-12-01 14:00"),
            Some("2026-12-31 05:00"),
        ];
        let queries = [
            q(vec![Category], None, vec![Country]),
            q(vec![Country], Some(TimeGroup::Month), vec![]),
            q(vec![DownloadType], Some(TimeGroup::Day), vec![]),
            q(vec![], None, vec![]),
            q(vec![Archive], Some(TimeGroup::Year), vec![DownloadType]),
        ];
        for watermark in watermarks {
            for cutoff in [
                Cutoff::at_watermark(at(watermark)),
                Cutoff::before_change(at("2026-11-30 20:00")),
            ] {
                for from in bounds {
                    for to in bounds {
                        for base in &queries {
                            let mut query = base.clone();
                            query.range.from = from.map(at);
                            query.range.to = to.map(at);
                            check_cover(&query, cutoff, at(watermark));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn local_days_of_24_hours_are_window_rows_and_every_hour_is_read_once() {
        use Dimension::*;
        let h = |hours: i32| hours * 3600;
        // New York falls back on 2026-11-01 at 06:00 UTC and springs forward on 2027-03-14 at
        // 07:00 UTC; Kathmandu is +05:45 all year; Kolkata +05:30.
        let zones = [
            vec![
                (at("2026-10-20 00:00"), h(-4)),
                (at("2026-11-01 06:00"), h(-5)),
                (at("2027-03-14 07:00"), h(-4)),
            ],
            vec![(at("2026-10-20 00:00"), h(5) + 45 * 60)],
            vec![(at("2026-10-20 00:00"), h(5) + 30 * 60)],
        ];
        let ranges = [
            (Some("2026-10-28 04:00"), Some("2026-11-04 05:00")),
            (Some("2026-10-25 18:15"), Some("2026-12-05 18:15")),
            (Some("2027-03-10 05:00"), Some("2027-03-20 04:00")),
            (None, None),
            (Some("2026-11-29 18:30"), None),
        ];
        for watermark in ["2026-12-01 13:00", "2027-04-01 00:00"] {
            for cutoff in [
                Cutoff::at_watermark(at(watermark)),
                Cutoff::before_change(at("2026-11-30 20:00")),
            ] {
                for spans in &zones {
                    for (from, to) in ranges {
                        for (dimension, time_group) in [
                            (Category, TimeGroup::Day),
                            (Country, TimeGroup::Month),
                            (Archive, TimeGroup::Year),
                        ] {
                            let mut query = q(vec![dimension], Some(time_group), vec![]);
                            query.shift = Some(LocalShift {
                                spans: spans.clone(),
                            });
                            query.range.from = from.map(at);
                            query.range.to = to.map(at);
                            check_local_cover(&query, cutoff, at(watermark));
                        }
                    }
                }
            }
        }
        // New York's week around the fall-back day: one part of windows, and the last hour
        // of the 25-hour day.
        let mut query = q(vec![Category], Some(TimeGroup::Day), vec![]);
        query.shift = Some(LocalShift {
            spans: zones[0].clone(),
        });
        query.range = TimeRange {
            from: Some(at("2026-10-29 04:00")),
            to: Some(at("2026-11-04 05:00")),
        };
        assert_eq!(
            parts(&query, Cutoff::at_watermark(at("2026-12-01 13:00"))),
            vec![
                (
                    Source::RollupWindowCategory,
                    s("2026-10-29 04:00"),
                    s("2026-11-04 05:00")
                ),
                (
                    Source::RollupHourCategory,
                    s("2026-11-02 04:00"),
                    s("2026-11-02 05:00")
                ),
            ]
        );
        // The local day that holds the watermark is its partial window; a change moves the
        // cutoff back to its day's start and the windows before it must be whole.
        query.range = TimeRange {
            from: Some(at("2026-11-25 05:00")),
            to: None,
        };
        assert_eq!(
            parts(&query, Cutoff::at_watermark(at("2026-12-01 13:00"))),
            vec![
                (
                    Source::RollupWindowCategory,
                    s("2026-11-25 05:00"),
                    s("2026-12-02 05:00")
                ),
                (Source::Hourly, s("2026-12-01 13:00"), None),
            ]
        );
        assert_eq!(
            parts(&query, Cutoff::before_change(at("2026-11-28 13:00"))),
            vec![
                (
                    Source::RollupWindowCategory,
                    s("2026-11-25 05:00"),
                    s("2026-11-27 05:00")
                ),
                (
                    Source::RollupHourCategory,
                    s("2026-11-27 05:00"),
                    s("2026-11-28 00:00")
                ),
                (Source::Hourly, s("2026-11-28 00:00"), None),
            ]
        );
        // By country and category there is no window rollup.
        query.filters = q(vec![], None, vec![Country]).filters;
        assert!(
            parts(&query, Cutoff::at_watermark(at("2026-12-01 13:00")))
                .iter()
                .all(|p| !p.0.window())
        );
    }

    /// Every hour of a local query's range (from 2026-10-20 to 2027-04-10) is read exactly
    /// once, a window only where it is whole and trusted, at the start of a local day of 24
    /// hours.
    fn check_local_cover(query: &Aggregate, cutoff: Cutoff, watermark: NaiveDateTime) {
        let parts = segments(query, Some(cutoff));
        let spans = &query.shift.as_ref().unwrap().spans;
        let day_of = |h: NaiveDateTime| {
            let seconds = spans.iter().rev().find(|(f, _)| h >= *f).unwrap().1;
            (h + Duration::seconds(i64::from(seconds))).date()
        };
        let mut hour = at("2026-10-20 01:00");
        while hour < at("2027-04-10 00:00") {
            let wanted = query.range.from.is_none_or(|f| hour >= f)
                && query.range.to.is_none_or(|t| hour < t);
            let mut readers = 0;
            for p in &parts {
                if p.source.window() {
                    let (from, to) = (p.range.from.unwrap(), p.range.to.unwrap());
                    let shift = query.shift.as_ref().unwrap();
                    assert!(shift.starts_day(from) && shift.starts_day(to), "{p:?}");
                    for start in shift.day_starts(from, to) {
                        // A window holds the 24 hours from its start, those before the
                        // watermark: whole before the cutoff, or partial at the watermark.
                        let end = Ord::min(start + Duration::days(1), watermark);
                        assert!(
                            start + Duration::days(1) <= cutoff.hour
                                || (cutoff.is_watermark() && start < cutoff.hour),
                            "{p:?} {cutoff:?}"
                        );
                        assert_ne!(day_of(start - Duration::hours(1)), day_of(start));
                        assert_eq!(day_of(end - Duration::hours(1)), day_of(start));
                        if hour >= start && hour < end {
                            readers += 1;
                        }
                    }
                } else {
                    let start = floor(hour, p.source.grain());
                    if p.range.from.is_none_or(|f| start >= f)
                        && p.range.to.is_none_or(|t| start < t)
                        && (p.source == Source::Hourly || hour < watermark)
                    {
                        assert!(p.source == Source::Hourly || hour < cutoff.hour);
                        readers += 1;
                    }
                }
            }
            assert_eq!(
                readers,
                usize::from(wanted),
                "{hour} in {:?} with {cutoff:?}: {parts:?}",
                query.range
            );
            hour += Duration::hours(1);
        }
    }

    /// Every hour from 2025-12-01 to 2027-01-10 in the query's range is read exactly once,
    /// from the hourly table or from a rollup trusted for it; none outside it is read.
    fn check_cover(query: &Aggregate, cutoff: Cutoff, watermark: NaiveDateTime) {
        let parts = segments(query, Some(cutoff));
        let mut hour = at("2025-12-01 00:00");
        while hour < at("2027-01-10 00:00") {
            let wanted = query.range.from.is_none_or(|f| hour >= f)
                && query.range.to.is_none_or(|t| hour < t);
            let readers: Vec<&Segment> = parts
                .iter()
                .filter(|p| {
                    let start = floor(hour, p.source.grain());
                    p.range.from.is_none_or(|f| start >= f) && p.range.to.is_none_or(|t| start < t)
                })
                // A rollup holds only the hours before the watermark.
                .filter(|p| p.source == Source::Hourly || hour < watermark)
                .collect();
            let expected = usize::from(wanted);
            assert_eq!(
                readers.len(),
                expected,
                "{hour} in {:?} with {cutoff:?}: {parts:?}",
                query.range
            );
            if let Some(p) = readers.first()
                && p.source != Source::Hourly
            {
                assert!(hour < cutoff.hour, "{hour} read from {p:?} past {cutoff:?}");
            }
            // Every hour near a bound of a part, the range or the cutoff; every seventh
            // (all hours of the day in turn) elsewhere.
            let near = parts
                .iter()
                .flat_map(|p| [p.range.from, p.range.to])
                .chain([query.range.from, query.range.to, Some(cutoff.hour)])
                .flatten()
                .any(|t| (t - hour).num_hours().abs() <= 30);
            hour += Duration::hours(if near { 1 } else { 7 });
        }
    }
}
