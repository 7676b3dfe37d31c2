//! The answer cache in front of every data endpoint, and the freshness probe that keeps it honest
//! with many instances and no coordination.
//!
//! The key is the normalized [`Query`]; the value is the serialized body with its ETag. An answer
//! that covers the newest hour of data (or later) lives `cache.recent_ttl`, others `cache.ttl`,
//! and a daily answer no longer than until its next hour starts. Every `cache.probe_interval` each
//! instance reads a fingerprint of the newest `cache.probe_hours` hours (rows and sums per hour,
//! and a content checksum where there is no change log) and of the monthly tables, and drops the answers whose hours changed. See
//! docs/ARCHITECTURE.md for the guarantee.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{NaiveDateTime, Utc};
use moka::Expiry;
use moka::future::Cache;

use crate::metrics::Metrics;
use crate::settings::CacheSettings;
use crate::stats::probe::Fingerprint;
use crate::stats::render::render;
use crate::stats::vocab::Format;
use crate::stats::{Endpoint, ParamError, Query, Stats, StatsError};

/// What the cache is keyed by: the normalized query and the format it is written in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    pub query: Query,
    pub format: Format,
}

/// Where an answer came from, as `X-Cache` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    /// Past its lifetime, served because the database is unavailable.
    Stale,
}

impl CacheStatus {
    pub fn header(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
        }
    }

    fn label(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Stale => "stale",
        }
    }
}

/// A serialized answer as the cache keeps it, or a refusal (422) that is as costly to repeat.
#[derive(Debug)]
pub struct Cached {
    pub body: Bytes,
    pub content_type: &'static str,
    pub data_as_of: Option<NaiveDateTime>,
    /// Strong validator: a hash of the body.
    pub etag: String,
    pub created: Instant,
    pub ttl: Duration,
    /// The answer would hold more than this many groups (`server.max_groups`): refused.
    refused: Option<usize>,
    /// Set when a change in the data may have made the answer wrong: it is then no longer
    /// served fresh, only as a stale answer while the database is unavailable.
    invalidated: AtomicBool,
}

impl Cached {
    /// Seconds of freshness left, for `Cache-Control: max-age`.
    pub fn remaining(&self) -> Duration {
        self.ttl.saturating_sub(self.created.elapsed())
    }

    fn is_fresh(&self) -> bool {
        !self.invalidated.load(Ordering::Acquire) && self.created.elapsed() < self.ttl
    }
}

/// What an entry weighs beyond its body and key: the `Cached` itself, the ETag, moka's
/// bookkeeping (measured: `bench/fill-cache.sh` floods the cache with distinct keys).
const ENTRY_OVERHEAD: usize = 512;

/// The bytes an entry holds, as the cache's bound counts them.
fn weight(key: &AnswerKey, value: &Cached) -> u32 {
    let bytes = value.body.len() + key.query.heap_bytes() + ENTRY_OVERHEAD;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// One request of a warm-up, and how it went.
#[derive(Debug)]
pub struct Warmed {
    pub request: String,
    pub outcome: Result<(CacheStatus, usize), WarmError>,
    pub elapsed: Duration,
}

/// Why a warm-up request has no answer.
#[derive(Debug)]
pub enum WarmError {
    /// The path names no data endpoint.
    NoEndpoint(String),
    Param(ParamError),
    Stats(Arc<StatsError>),
}

/// The requests the shipped dashboard makes, with the daily one in each of `timezones`: the
/// default warm list.
pub fn dashboard_requests(timezones: &[String]) -> Vec<String> {
    let mut list = vec![
        "/api/get_data?model=hourly&group_by=archive".to_string(),
        "/api/get_data?model=hourly&group_by=category".to_string(),
        "/api/get_data?model=hourly&group_by=country".to_string(),
        "/api/get_global_sum?model=hourly&time_group=month".to_string(),
    ];
    for zone in timezones {
        // `+` means a space in a query string (`Etc/GMT+5`), and `%`, `&`, `#` would cut it.
        const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
            .add(b' ')
            .add(b'+')
            .add(b'%')
            .add(b'&')
            .add(b'#');
        let zone = percent_encoding::utf8_percent_encode(zone, RESERVED);
        list.push(format!(
            "/api/get_todays_downloads?model=hourly&timezone={zone}"
        ));
    }
    list
}

/// Each entry lives its own `ttl`, plus `extra` (`cache.stale_if_error`) in which it is kept
/// only to be served while the database is unavailable.
struct PerEntryTtl {
    extra: Duration,
}

impl Expiry<AnswerKey, Arc<Cached>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &AnswerKey,
        value: &Arc<Cached>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl + self.extra)
    }
}

/// The answer cache; clones share one cache.
#[derive(Clone)]
pub struct AnswerCache {
    /// Fresh answers and, past their lifetime, the last good ones kept `cache.stale_if_error`
    /// for when the database is unavailable: one store, so one byte bound for both.
    store: Option<Cache<AnswerKey, Arc<Cached>>>,
    stats: Stats,
    settings: Arc<CacheSettings>,
    metrics: Arc<Metrics>,
    /// Bumped by every invalidation: an answer computed across one may predate the change.
    generation: Arc<AtomicU64>,
    /// The newest hour of data as the last probe read it, for `X-Data-As-Of` of answers
    /// computed before it arrived.
    newest: Arc<std::sync::RwLock<Option<NaiveDateTime>>>,
    /// Whether the last probe read a change log (rewrites of any age are seen) rather than only
    /// the window's per-hour sums.
    change_log: Arc<AtomicBool>,
}

/// How the service learns that hours changed, as `/readyz` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreshnessMode {
    /// `hourly_changes`, kept by triggers: any hour, any age, any kind of rewrite.
    ChangeLog,
    /// Row counts and sums per hour of the newest `cache.probe_hours` hours.
    Window,
}

impl FreshnessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FreshnessMode::ChangeLog => "change log",
            FreshnessMode::Window => "window fingerprint",
        }
    }
}

impl AnswerCache {
    pub fn new(stats: Stats, settings: CacheSettings, metrics: Arc<Metrics>) -> Self {
        let store = settings.enabled.then(|| {
            Cache::builder()
                .max_capacity(settings.max_bytes)
                .weigher(|key: &AnswerKey, value: &Arc<Cached>| weight(key, value))
                .expire_after(PerEntryTtl {
                    extra: settings.stale_if_error,
                })
                .build()
        });
        Self {
            store,
            stats,
            settings: Arc::new(settings),
            metrics,
            generation: Arc::new(AtomicU64::new(0)),
            newest: Default::default(),
            change_log: Default::default(),
        }
    }

    /// How changes to the hourly table are noticed, as of the last probe.
    pub fn freshness_mode(&self) -> FreshnessMode {
        if self.change_log.load(Ordering::Acquire) {
            FreshnessMode::ChangeLog
        } else {
            FreshnessMode::Window
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// The newest hour of data an answer may name in `X-Data-As-Of`: the newer of the one it
    /// was computed with and the one the probe read since.
    pub fn data_as_of(&self, cached: &Cached) -> Option<NaiveDateTime> {
        let probed = *self.newest.read().unwrap_or_else(|e| e.into_inner());
        cached.data_as_of.max(probed)
    }

    /// The answer to `key` and where it came from. Concurrent misses for one key run one query
    /// (moka serializes computations per key); errors are never cached, refusals for size are.
    /// When the database is unavailable, the last good answer is served for up to
    /// `cache.stale_if_error` past its lifetime.
    pub async fn get(&self, key: AnswerKey) -> Result<(Arc<Cached>, CacheStatus), Arc<StatsError>> {
        let result = match &self.store {
            None => self
                .compute(&key)
                .await
                .map(|answer| (answer, CacheStatus::Miss))
                .map_err(Arc::new),
            Some(store) => match store.get(&key).await.filter(|e| e.is_fresh()) {
                Some(hit) => Ok((hit, CacheStatus::Hit)),
                None => self.get_or_compute(store, &key).await,
            },
        };
        if let Ok((answer, status)) = &result {
            self.metrics
                .cache_requests
                .with_label_values(&[status.label()])
                .inc();
            if let Some(limit) = answer.refused {
                return Err(Arc::new(StatsError::TooLarge { limit }));
            }
        }
        result
    }

    /// The fresh answer another caller has just computed, or a new one; a stale one while the
    /// database is unavailable.
    async fn get_or_compute(
        &self,
        store: &Cache<AnswerKey, Arc<Cached>>,
        key: &AnswerKey,
    ) -> Result<(Arc<Cached>, CacheStatus), Arc<StatsError>> {
        use moka::ops::compute::{CompResult, Op};
        let computed = store
            .entry(key.clone())
            .and_try_compute_with(|existing| async move {
                match existing {
                    Some(entry) if entry.value().is_fresh() => Ok(Op::Nop),
                    _ => self.compute(key).await.map(Op::Put),
                }
            })
            .await;
        match computed {
            Ok(CompResult::Inserted(entry) | CompResult::ReplacedWith(entry)) => {
                Ok((entry.into_value(), CacheStatus::Miss))
            }
            Ok(CompResult::Unchanged(entry)) => Ok((entry.into_value(), CacheStatus::Hit)),
            Ok(CompResult::StillNone(_) | CompResult::Removed(_)) => self
                .compute(key)
                .await
                .map(|answer| (answer, CacheStatus::Miss))
                .map_err(Arc::new),
            Err(e) if e.is_unavailable() => match store.get(key).await {
                Some(stale)
                    if stale.created.elapsed() < stale.ttl + self.settings.stale_if_error =>
                {
                    Ok((stale, CacheStatus::Stale))
                }
                _ => Err(Arc::new(e)),
            },
            Err(e) => Err(Arc::new(e)),
        }
    }

    /// Runs `requests` (paths with query strings) through the cache, as clients would.
    pub async fn warm(&self, requests: &[String]) -> Vec<Warmed> {
        let mut out = Vec::with_capacity(requests.len());
        for request in requests {
            let started = Instant::now();
            let (path, query) = request.split_once('?').unwrap_or((request, ""));
            let outcome = match Endpoint::from_path(path) {
                None => Err(WarmError::NoEndpoint(path.to_string())),
                Some(endpoint) => match Query::parse(endpoint, query, Utc::now()) {
                    Err(e) => Err(WarmError::Param(e)),
                    Ok(parsed) => {
                        let key = AnswerKey {
                            query: parsed.query,
                            format: parsed.format.unwrap_or(Format::Json),
                        };
                        self.get(key)
                            .await
                            .map(|(cached, status)| (status, cached.body.len()))
                            .map_err(WarmError::Stats)
                    }
                },
            };
            out.push(Warmed {
                request: request.clone(),
                outcome,
                elapsed: started.elapsed(),
            });
        }
        out
    }

    async fn compute(&self, key: &AnswerKey) -> Result<Arc<Cached>, StatsError> {
        let query = &key.query;
        let now = Utc::now();
        let generation = self.generation.load(Ordering::Acquire);
        let (answer, refused) = match self.stats.run(query, now).await {
            Ok(answer) => (answer, None),
            // A refusal costs the whole aggregation: keep it like an answer.
            Err(StatsError::TooLarge { limit }) => {
                let newest = *self.newest.read().unwrap_or_else(|e| e.into_inner());
                let answer = crate::stats::Answer {
                    payload: crate::stats::Payload::Sums(Vec::new()),
                    data_as_of: newest,
                };
                (answer, Some(limit))
            }
            Err(e) => return Err(e),
        };
        let body = if refused.is_some() {
            Bytes::new()
        } else {
            render(&answer.payload, key.format)?
        };
        // An answer that reaches the newest hour (or the hours after it) can still change.
        let recent = match (query.time_range(), answer.data_as_of) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(range), Some(newest)) => range.to.is_none_or(|to| to > newest),
        };
        let mut ttl = if recent {
            self.settings.recent_ttl
        } else {
            self.settings.ttl
        };
        if let Some(change) = query.next_clock_change(now) {
            ttl = ttl.min((change - now).to_std().unwrap_or_default());
        }
        // Invalidated while this query ran: it may have read the old rows, so hand it to the
        // callers waiting for it but do not keep it.
        if self.generation.load(Ordering::Acquire) != generation {
            ttl = Duration::ZERO;
        }
        Ok(Arc::new(Cached {
            etag: etag(&body),
            body,
            content_type: answer.payload.content_type(key.format),
            data_as_of: answer.data_as_of,
            created: Instant::now(),
            ttl,
            refused,
            invalidated: AtomicBool::new(false),
        }))
    }

    /// Marks every answer out of date (kept only for outages).
    pub fn invalidate_all(&self) {
        self.drop_where("all", |_| true);
    }

    /// Entry count and weighted size, after applying pending evictions.
    pub async fn size(&self) -> (u64, u64) {
        match &self.store {
            Some(store) => {
                store.run_pending_tasks().await;
                (store.entry_count(), store.weighted_size())
            }
            None => (0, 0),
        }
    }

    /// Drops the answers that a change between two fingerprints can affect.
    fn apply(&self, before: &Fingerprint, after: &Fingerprint) {
        if after.newest.is_none() && before.newest.is_some() {
            self.invalidate_all();
            return;
        }
        let changed: Vec<NaiveDateTime> = changed_hours(before, after).into_iter().collect();
        if let Some(first) = changed.first() {
            log::info!(
                "data changed in {} hour(s) from {first}; dropping the answers that cover them",
                changed.len()
            );
            self.drop_where("hours", move |key| {
                changed.iter().any(|h| key.query.covers(*h))
            });
        }
        if before.repaired != after.repaired {
            // Days of any age, which no answer's hours say: every answer may have read them.
            log::info!("refresh-rollups --verify repaired rollups; dropping every answer");
            self.invalidate_all();
            return;
        }
        if before.legacy != after.legacy {
            log::info!("monthly_downloads changed; dropping the answers that read it");
            self.drop_where("legacy", |key| key.query.reads_legacy());
        }
        if before.requests != after.requests {
            log::info!("hourly_requests changed; dropping the answers that read it");
            self.drop_where("requests", |key| key.query.reads_requests());
        }
        if before.submissions != after.submissions {
            log::info!("monthly_submissions changed; dropping the answers that read it");
            self.drop_where("submissions", |key| key.query.reads_submissions());
        }
    }

    /// Marks the answers `predicate` picks out of date: they are computed again on the next
    /// request, and served only while the database is unavailable until then.
    fn drop_where(&self, cause: &str, predicate: impl Fn(&AnswerKey) -> bool) {
        let Some(store) = &self.store else { return };
        self.generation.fetch_add(1, Ordering::AcqRel);
        for (key, value) in store.iter() {
            if predicate(&key) {
                value.invalidated.store(true, Ordering::Release);
            }
        }
        self.metrics
            .cache_invalidations
            .with_label_values(&[cause])
            .inc();
    }

    /// Runs the freshness probe forever; spawn it once per instance.
    /// The same probe also tells the planner how far the rollups can be trusted, so it runs
    /// with the cache off too.
    /// Runs the freshness probe forever, from the reading `first` (if one was taken); spawn it
    /// once per instance.
    pub async fn probe_forever(self, first: Option<Fingerprint>) {
        let mut ticker = tokio::time::interval(self.settings.probe_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut previous = first;
        if previous.is_some() {
            // The first tick completes at once; that reading was just taken.
            ticker.tick().await;
        }
        loop {
            ticker.tick().await;
            if let Some(current) = self.probe_once().await {
                if let Some(before) = &previous {
                    self.apply(before, &current);
                }
                previous = Some(current);
            }
        }
    }

    /// One reading of the probe: it moves the rollup cutoff and the newest hour, and is
    /// returned for comparison with the next (`None`: the database did not answer).
    pub async fn probe_once(&self) -> Option<Fingerprint> {
        match self
            .stats
            .repository()
            .fingerprint(self.settings.probe_hours)
            .await
        {
            Ok(current) => {
                self.stats.repository().update_rollup_cutoff(&current).await;
                *self.newest.write().unwrap_or_else(|e| e.into_inner()) = current.newest;
                self.change_log
                    .store(current.changes.is_some(), Ordering::Release);
                self.metrics
                    .freshness_change_log
                    .set(i64::from(current.changes.is_some()));
                Some(current)
            }
            Err(e) => {
                log::debug!("freshness probe failed: {e}");
                None
            }
        }
    }
}

/// Hours inside the newer window whose rows or sums (or, without a change log, checksums)
/// differ, or that appeared or vanished; and, at any age, the hours the change log counted new
/// changes in.
fn changed_hours(before: &Fingerprint, after: &Fingerprint) -> BTreeSet<NaiveDateTime> {
    let mut changed = window_changes(before, after);
    changed.extend(checksum_changes(before, after));
    if let (Some(old), Some(new)) = (&before.changes, &after.changes) {
        // A count that grew; an hour that left the log was consumed by a refresh, which
        // changes no answer.
        changed.extend(
            new.iter()
                .filter(|(hour, n)| old.get(*hour) != Some(*n))
                .map(|(hour, _)| *hour),
        );
    }
    changed
}

/// [`changed_hours`] inside the probe window.
fn window_changes(before: &Fingerprint, after: &Fingerprint) -> BTreeSet<NaiveDateTime> {
    let start = match (before.window_start, after.window_start) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let keys: BTreeSet<&NaiveDateTime> = before.hours.keys().chain(after.hours.keys()).collect();
    keys.into_iter()
        .filter(|h| start.is_none_or(|s| **h >= s))
        .filter(|h| before.hours.get(*h) != after.hours.get(*h))
        .copied()
        .collect()
}

/// Hours inside the newer window whose content checksum differs, where both readings have
/// checksums (no change log): a count-preserving rewrite (counts moved between countries).
fn checksum_changes(before: &Fingerprint, after: &Fingerprint) -> BTreeSet<NaiveDateTime> {
    let (Some(old), Some(new)) = (&before.checksums, &after.checksums) else {
        return BTreeSet::new();
    };
    let start = match (before.window_start, after.window_start) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    old.keys()
        .chain(new.keys())
        .filter(|h| start.is_none_or(|s| **h >= s))
        .filter(|h| old.get(*h) != new.get(*h))
        .copied()
        .collect()
}

/// A strong ETag: the 128-bit XXH3 of the body, whose output is specified and the same on every
/// build, so instances built by different toolchains agree.
fn etag(body: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(body))
}

/// Whether an `If-None-Match` header value matches `etag` (weak comparison, as RFC 9110 says).
pub fn if_none_match(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fp(newest: &str, hours: &[(&str, i64)]) -> Fingerprint {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let newest = t(newest);
        Fingerprint {
            newest: Some(newest),
            window_start: Some(newest - chrono::Duration::hours(2)),
            hours: hours
                .iter()
                .map(|(h, v)| (t(h), (1, *v, 0)))
                .collect::<BTreeMap<_, _>>(),
            legacy: (0, 0),
            submissions: (0, 0),
            requests: (0, 0),
            changes: None,
            checksums: None,
            repaired: None,
        }
    }

    #[test]
    fn a_new_hour_and_a_rewritten_hour_are_changes_and_a_hour_leaving_the_window_is_not() {
        let before = fp(
            "2026-03-08 10:00",
            &[
                ("2026-03-08 08:00", 1),
                ("2026-03-08 09:00", 2),
                ("2026-03-08 10:00", 3),
            ],
        );
        let after = fp(
            "2026-03-08 11:00",
            &[
                ("2026-03-08 09:00", 2),
                ("2026-03-08 10:00", 4),
                ("2026-03-08 11:00", 5),
            ],
        );
        let changed: Vec<String> = changed_hours(&before, &after)
            .iter()
            .map(|h| h.to_string())
            .collect();
        assert_eq!(changed, ["2026-03-08 10:00:00", "2026-03-08 11:00:00"]);
        assert!(changed_hours(&after, &after).is_empty());
    }

    #[test]
    fn without_a_change_log_a_checksum_that_moved_is_a_change_even_with_rows_and_sums_kept() {
        let hours = [("2026-03-08 09:00", 2), ("2026-03-08 10:00", 3)];
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let mut before = fp("2026-03-08 10:00", &hours);
        before.checksums = Some(BTreeMap::from([
            (t("2026-03-08 09:00"), 7),
            (t("2026-03-08 10:00"), 8),
        ]));
        let mut after = before.clone();
        after.checksums = Some(BTreeMap::from([
            (t("2026-03-08 09:00"), 9),
            (t("2026-03-08 10:00"), 8),
        ]));
        let changed: Vec<String> = changed_hours(&before, &after)
            .iter()
            .map(|h| h.to_string())
            .collect();
        assert_eq!(changed, ["2026-03-08 09:00:00"]);
        // A reading without checksums (the change log appeared) compares nothing there.
        after.checksums = None;
        assert!(changed_hours(&before, &after).is_empty());
    }

    #[test]
    fn etags_are_a_specified_hash_of_the_body() {
        // XXH3-128 of the empty input, from the algorithm's reference vectors.
        assert_eq!(etag(b""), "\"99aa06d3014798d86001c324468d497f\"");
    }

    #[test]
    fn the_warm_list_keeps_a_plus_in_a_zone_name() {
        let list = dashboard_requests(&["Etc/GMT+5".into(), "Asia/Kolkata".into()]);
        assert!(
            list.contains(&"/api/get_todays_downloads?model=hourly&timezone=Etc/GMT%2B5".into())
        );
        assert!(
            list.contains(&"/api/get_todays_downloads?model=hourly&timezone=Asia/Kolkata".into())
        );
    }

    #[test]
    fn etags_differ_by_body_and_if_none_match_accepts_lists_and_weak_forms() {
        let a = etag(b"[1]");
        assert_ne!(a, etag(b"[2]"));
        assert!(if_none_match(&a, &a));
        assert!(if_none_match(&format!("\"x\", W/{a}"), &a));
        assert!(if_none_match("*", &a));
        assert!(!if_none_match("\"x\"", &a));
    }
}
