//! Deterministic synthetic data: hourly downloads with the real arXiv taxonomy, skewed
//! popularity and a daily cycle, legacy monthly totals before them, and monthly submissions.
//!
//! Each hour's rows depend only on the seed and the hour, so topping up a demo database later
//! produces the same rows a fresh one would have.

pub mod taxonomy;

use std::collections::HashSet;
use std::f64::consts::PI;
use std::time::Instant;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc, Weekday};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use crate::settings::Settings;
use crate::write::progress::Progress;
use crate::write::{self, HourlyLoader, OwnedRecord};
use taxonomy::{CATEGORIES, COUNTRIES, DOWNLOAD_TYPES};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct DemoSpec {
    /// First hour (inclusive) of hourly rows.
    pub from: NaiveDateTime,
    /// Hour after the last one.
    pub to: NaiveDateTime,
    pub rows_per_hour: u32,
    pub seed: u64,
}

impl DemoSpec {
    /// `days` of hours ending with the hour that contains `now`.
    pub fn ending_at(now: NaiveDateTime, days: u32, rows_per_hour: u32, seed: u64) -> Self {
        let current = truncate_to_hour(now);
        Self {
            from: current - Duration::hours(i64::from(days) * 24 - 1),
            to: current + Duration::hours(1),
            rows_per_hour,
            seed,
        }
    }
}

pub fn truncate_to_hour(t: NaiveDateTime) -> NaiveDateTime {
    t.date().and_hms_opt(t.hour(), 0, 0).unwrap_or(t)
}

/// Popularity of the categories, countries and download types; drawn once.
struct Popularity {
    categories: WeightedIndex<f64>,
    countries: WeightedIndex<f64>,
    types: WeightedIndex<u32>,
    category_weight: Vec<f64>,
    country_weight: Vec<f64>,
}

impl Popularity {
    fn new() -> Result<Self, DbErr> {
        // Zipf-like: the n-th most popular gets 1/n^s of the first.
        let zipf = |n: usize, s: f64| {
            (0..n)
                .map(|i| 1.0 / ((i + 1) as f64).powf(s))
                .collect::<Vec<_>>()
        };
        let category_weight = zipf(CATEGORIES.len(), 0.9);
        let country_weight = zipf(COUNTRIES.len(), 1.1);
        let err = |e: rand::distr::weighted::Error| DbErr::Custom(format!("demo weights: {e}"));
        Ok(Self {
            categories: WeightedIndex::new(&category_weight).map_err(err)?,
            countries: WeightedIndex::new(&country_weight).map_err(err)?,
            types: WeightedIndex::new(DOWNLOAD_TYPES.iter().map(|(_, w)| *w)).map_err(err)?,
            category_weight,
            country_weight,
        })
    }
}

/// Relative activity by UTC hour and weekday: busiest mid-afternoon UTC, quieter at weekends.
fn activity(hour: NaiveDateTime) -> f64 {
    let daily = 1.0 + 0.45 * (2.0 * PI * (f64::from(hour.hour()) - 15.0) / 24.0).cos();
    let weekly = match hour.weekday() {
        Weekday::Sat | Weekday::Sun => 0.7,
        _ => 1.0,
    };
    daily * weekly
}

fn hour_rng(seed: u64, hour: NaiveDateTime) -> ChaCha8Rng {
    let ts = hour.and_utc().timestamp() as u64;
    ChaCha8Rng::seed_from_u64(seed ^ ts.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The rows of one hour, at most `rows` distinct (category, country, type) combinations.
fn rows_for_hour(
    pop: &Popularity,
    seed: u64,
    hour: NaiveDateTime,
    rows: u32,
    out: &mut Vec<OwnedRecord>,
) {
    let universe = CATEGORIES.len() * COUNTRIES.len() * DOWNLOAD_TYPES.len();
    let wanted = (rows as usize).min(universe);
    let mut rng = hour_rng(seed, hour);
    let mut seen: HashSet<(usize, usize, usize)> = HashSet::with_capacity(wanted * 2);
    let mut picks = Vec::with_capacity(wanted);
    let mut attempts = 0usize;
    while picks.len() < wanted && attempts < wanted * 4 {
        attempts += 1;
        let key = (
            pop.categories.sample(&mut rng),
            pop.countries.sample(&mut rng),
            pop.types.sample(&mut rng),
        );
        if seen.insert(key) {
            picks.push(key);
        }
    }
    // Asked for nearly every combination: take the rest in order.
    'fill: for c in 0..CATEGORIES.len() {
        for k in 0..COUNTRIES.len() {
            for t in 0..DOWNLOAD_TYPES.len() {
                if picks.len() >= wanted {
                    break 'fill;
                }
                if seen.insert((c, k, t)) {
                    picks.push((c, k, t));
                }
            }
        }
    }
    let level = activity(hour);
    for (c, k, t) in picks {
        let (category, archive) = CATEGORIES[c];
        let type_share = f64::from(DOWNLOAD_TYPES[t].1) / 80.0;
        let expected =
            60.0 * (pop.category_weight[c] * pop.country_weight[k]).sqrt() * type_share * level;
        let primary = (expected * rng.random_range(0.5..1.5)).round() as i32 + 1;
        let cross = (f64::from(primary) * rng.random_range(0.0..0.45)).round() as i32;
        out.push(OwnedRecord {
            start_dttm: hour,
            category,
            archive,
            country: COUNTRIES[k],
            download_type: DOWNLOAD_TYPES[t].0,
            primary_count: primary,
            cross_count: cross,
        });
    }
}

/// What a run produced, for the log.
#[derive(Debug, Clone, Copy)]
pub struct DemoReport {
    pub hourly_rows: u64,
    pub hours: i64,
    pub legacy_months: usize,
    pub submission_months: usize,
    pub seconds: f64,
}

impl std::fmt::Display for DemoReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} hourly rows over {} hours, {} legacy months, {} submission months in {:.1} s ({:.0} rows/s)",
            self.hourly_rows,
            self.hours,
            self.legacy_months,
            self.submission_months,
            self.seconds,
            self.hourly_rows as f64 / self.seconds.max(1e-9)
        )
    }
}

/// Writes the hourly rows of `spec` (replacing rows already in that range). With `monthly`,
/// also writes legacy monthly totals up to the month of `spec.from` and monthly submissions.
pub async fn seed(
    db: &DatabaseConnection,
    table: &str,
    spec: DemoSpec,
    monthly: bool,
) -> Result<DemoReport, DbErr> {
    if spec.to <= spec.from || spec.rows_per_hour == 0 {
        // Nothing to write; the monthly tables are derived from the hours written.
        return Err(DbErr::Custom(
            "a demo needs at least one hour and one row per hour".into(),
        ));
    }
    let started = Instant::now();
    let pop = Popularity::new()?;
    let mut loader = HourlyLoader::begin(db, table, spec.from, spec.to).await?;
    let mut hour = spec.from;
    let mut buf = Vec::with_capacity(spec.rows_per_hour as usize);
    let mut first_day_total = 0i64;
    let mut hours = 0i64;
    let total_hours = (spec.to - spec.from).num_hours().max(0) as u64;
    let mut progress = Progress::new("writing demo hours", total_hours, "hours");
    while hour < spec.to {
        buf.clear();
        rows_for_hour(&pop, spec.seed, hour, spec.rows_per_hour, &mut buf);
        if hours < 24 {
            first_day_total += buf.iter().map(|r| i64::from(r.primary_count)).sum::<i64>();
        }
        for row in buf.drain(..) {
            loader.push(row).await?;
        }
        hours += 1;
        hour += Duration::hours(1);
        progress.inc(1);
    }
    drop(progress);
    let hourly_rows = loader.commit().await?;
    write::analyze(db, &[table]).await?;
    write::upsert_requests_sources(db, &REQUEST_SOURCES).await?;
    write::upsert_hourly_requests(db, &requests_between(spec.from, spec.to, spec.seed)).await?;
    let (mut legacy_months, mut submission_months) = (0, 0);
    if monthly {
        let per_day = first_day_total as f64 * 24.0 / hours.clamp(1, 24) as f64;
        let legacy = legacy_months_before(spec.from.date(), per_day * 30.4, spec.seed);
        write::upsert_monthly_downloads(db, &legacy).await?;
        let submissions = submissions_until(spec.to.date(), spec.seed);
        write::upsert_monthly_submissions(db, &submissions).await?;
        record_complete_months(db, table).await?;
        legacy_months = legacy.len();
        submission_months = submissions.len();
    }
    Ok(DemoReport {
        hourly_rows,
        hours,
        legacy_months,
        submission_months,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The request sources of the demo: 0 is the CDN edge, as at arXiv.
pub const REQUEST_SOURCES: [(u8, &str); 2] = [(0, "fastly"), (1, "arxiv.org origin")];

/// Requests per hour at each source: about 2.6 million an hour at the edge in the busy hours of
/// the day (the daily cycle of the downloads), an eighth of that at the origin.
fn requests_between(
    from: NaiveDateTime,
    to: NaiveDateTime,
    seed: u64,
) -> Vec<(NaiveDateTime, u8, Option<i32>)> {
    let mut out = Vec::new();
    let mut hour = from;
    while hour < to {
        let mut rng = hour_rng(seed ^ 0x0ed6_e000, hour);
        let edge = 1_800_000.0 * activity(hour) * rng.random_range(0.93..1.07);
        out.push((hour, 0, Some(edge.round() as i32)));
        let origin = edge / 8.0 * rng.random_range(0.9..1.1);
        out.push((hour, 1, Some(origin.round() as i32)));
        hour += Duration::hours(1);
    }
    out
}

/// Writes the total of every complete UTC month of the hourly table that `monthly_downloads`
/// lacks, as arXiv does once a month is over, so that the /stats series has no hole between the
/// legacy months and the current one. The first month of the hourly table is not complete
/// there and keeps its legacy total.
async fn record_complete_months(db: &DatabaseConnection, table: &str) -> Result<usize, DbErr> {
    let repo = crate::stats::repo::Repository::new(db.clone(), table.to_string());
    let Some((oldest, newest)) = repo.hour_bounds().await? else {
        return Ok(0);
    };
    let known: HashSet<NaiveDate> = repo
        .legacy_months()
        .await?
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    let mut written = 0;
    for month in months_between(first_of_month(oldest.date()), first_of_month(newest.date())) {
        let first_hourly = first_of_month(oldest.date());
        if month == first_hourly || month >= first_of_month(newest.date()) || known.contains(&month)
        {
            continue;
        }
        let from = month.and_hms_opt(0, 0, 0).unwrap_or_default();
        let to = month
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX)
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default();
        let total = repo.primary_total(from, to).await?;
        write::upsert_monthly_downloads(db, &[(month, total)]).await?;
        written += 1;
    }
    Ok(written)
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn months_between(first: NaiveDate, last: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut m = first_of_month(first);
    while m <= last {
        out.push(m);
        m = m
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX);
    }
    out
}

/// Legacy totals from 1994-01 through the month in which the hourly data begins (that month is
/// then counted from the legacy table alone), growing towards `latest_month_volume`.
fn legacy_months_before(
    hourly_start: NaiveDate,
    latest_month_volume: f64,
    seed: u64,
) -> Vec<(NaiveDate, i64)> {
    let first = NaiveDate::from_ymd_opt(1994, 1, 1).unwrap_or(NaiveDate::MIN);
    let months = months_between(first, hourly_start);
    let n = months.len().max(1) as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x001e_9ac7);
    months
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            // About 600-fold growth over three decades, with a summer dip.
            let growth = (-(n - 1.0 - i as f64) / n * 600f64.ln()).exp();
            let season = if matches!(m.month(), 7 | 8) {
                0.85
            } else {
                1.0
            };
            let v = latest_month_volume * growth * season * rng.random_range(0.92..1.08);
            (m, v.round() as i64)
        })
        .collect()
}

/// Submissions per month from arXiv's start (1991-08) through the last complete month.
fn submissions_until(today: NaiveDate, seed: u64) -> Vec<(NaiveDate, i32)> {
    let first = NaiveDate::from_ymd_opt(1991, 8, 1).unwrap_or(NaiveDate::MIN);
    let last_complete = first_of_month(today) - Duration::days(1);
    let months = months_between(first, last_complete);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5b_0b);
    months
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let years = i as f64 / 12.0;
            let trend = 300.0 + 24_000.0 * (years / 35.0).powf(1.6);
            (m, (trend * rng.random_range(0.9..1.1)).round() as i32)
        })
        .collect()
}

/// First start: the whole demo. Later starts: the hours since the last one, so that "today"
/// always has data. Rows depend only on the seed and the hour, so both give the same rows.
pub async fn fill_embedded(db: &DatabaseConnection, settings: &Settings) -> anyhow::Result<()> {
    let table = &settings.database.table;
    let demo_settings = &settings.demo;
    let full = DemoSpec::ending_at(
        Utc::now().naive_utc(),
        demo_settings.days,
        demo_settings.rows_per_hour,
        demo_settings.seed,
    );
    let newest = crate::stats::repo::Repository::new(db.clone(), table.clone())
        .newest_hour()
        .await?;
    let (spec, monthly) = match newest {
        None => {
            log::info!(
                "generating demo data: {} days x {} rows per hour ...",
                demo_settings.days,
                demo_settings.rows_per_hour
            );
            (full, true)
        }
        Some(newest) if newest + Duration::hours(1) < full.to => {
            let from = (newest + Duration::hours(1)).max(full.from);
            (DemoSpec { from, ..full }, false)
        }
        Some(_) => {
            log::info!("demo data is up to date");
            return Ok(());
        }
    };
    let report = seed(db, table, spec, monthly).await?;
    if !monthly {
        // A month may have ended since the last start.
        record_complete_months(db, table).await?;
    }
    let rollups = write::rollups::refresh(db, table).await?;
    log::info!(
        "rollups: {} day(s) rebuilt in {:.1} s",
        rollups.days_rebuilt,
        rollups.seconds
    );
    // Fold the big write back into the database file so the WAL does not stay its size.
    db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
        .await?;
    log::info!("demo data ready: {report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn an_hour_always_gets_the_same_rows() {
        let pop = Popularity::new().unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        rows_for_hour(&pop, 7, hour("2026-03-08 14:00:00"), 500, &mut a);
        rows_for_hour(&pop, 7, hour("2026-03-08 14:00:00"), 500, &mut b);
        assert_eq!(a.len(), 500);
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| (x.category, x.country, x.primary_count)
                    == (y.category, y.country, y.primary_count))
        );
    }

    #[test]
    fn rows_of_an_hour_are_distinct_keys_and_pdf_dominates() {
        let pop = Popularity::new().unwrap();
        let mut rows = Vec::new();
        rows_for_hour(&pop, 1, hour("2026-03-09 15:00:00"), 3000, &mut rows);
        let keys: HashSet<_> = rows
            .iter()
            .map(|r| (r.category, r.country, r.download_type))
            .collect();
        assert_eq!(keys.len(), rows.len());
        let sum = |t: &str| {
            rows.iter()
                .filter(|r| r.download_type == t)
                .map(|r| r.primary_count as i64)
                .sum::<i64>()
        };
        assert!(sum("pdf") > sum("html") && sum("html") > sum("src"));
        assert!(
            rows.iter()
                .all(|r| r.primary_count > 0 && r.cross_count >= 0)
        );
    }

    #[test]
    fn asking_for_more_rows_than_combinations_gives_every_combination_once() {
        let pop = Popularity::new().unwrap();
        let mut rows = Vec::new();
        rows_for_hour(&pop, 1, hour("2026-03-09 15:00:00"), u32::MAX, &mut rows);
        assert_eq!(
            rows.len(),
            CATEGORIES.len() * COUNTRIES.len() * DOWNLOAD_TYPES.len()
        );
    }

    #[test]
    fn legacy_months_run_from_1994_through_the_first_hourly_month() {
        let months = legacy_months_before(NaiveDate::from_ymd_opt(2026, 7, 30).unwrap(), 1e7, 1);
        assert_eq!(
            months.first().unwrap().0,
            NaiveDate::from_ymd_opt(1994, 1, 1).unwrap()
        );
        assert_eq!(
            months.last().unwrap().0,
            NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
        );
        assert!(months.iter().all(|(m, v)| m.day() == 1 && *v > 0));
    }
}
