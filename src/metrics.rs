//! Prometheus metrics of one service instance: requests by route and status, latency, cache
//! hits and misses, database query durations, pool connections. Each instance has its own
//! registry, so several in one process (the tests) do not mix.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub cache_requests: IntCounterVec,
    pub cache_entries: IntGauge,
    pub cache_bytes: IntGauge,
    pub cache_invalidations: IntCounterVec,
    pub db_queries: HistogramVec,
    pub db_errors: IntCounterVec,
    pub pool_connections: IntGauge,
    pub pool_idle: IntGauge,
    /// 1 when the probe reads the hourly table's change log, 0 when only the window's sums.
    pub freshness_change_log: IntGauge,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("stats".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        )?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let cache_requests = IntCounterVec::new(
            Opts::new(
                "cache_requests_total",
                "Answer cache lookups by result (hit, miss)",
            ),
            &["result"],
        )?;
        let cache_entries = IntGauge::new("cache_entries", "Answers in the cache")?;
        let cache_bytes = IntGauge::new(
            "cache_bytes",
            "Weighted size of the cached answers, in bytes",
        )?;
        let cache_invalidations = IntCounterVec::new(
            Opts::new("cache_invalidations_total", "Cache invalidations by cause"),
            &["cause"],
        )?;
        let db_queries = HistogramVec::new(
            HistogramOpts::new(
                "db_query_duration_seconds",
                "Database query durations by kind",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["query"],
        )?;
        let db_errors = IntCounterVec::new(
            Opts::new("db_errors_total", "Failed database queries by kind"),
            &["query"],
        )?;
        let pool_connections =
            IntGauge::new("db_pool_connections", "Open pooled database connections")?;
        let pool_idle = IntGauge::new(
            "db_pool_idle_connections",
            "Idle pooled database connections",
        )?;
        let freshness_change_log = IntGauge::new(
            "freshness_change_log",
            "1: rewrites of any hour are seen through the change log; 0: only the probe window's sums",
        )?;
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_latency.clone()),
            Box::new(cache_requests.clone()),
            Box::new(cache_entries.clone()),
            Box::new(cache_bytes.clone()),
            Box::new(cache_invalidations.clone()),
            Box::new(db_queries.clone()),
            Box::new(db_errors.clone()),
            Box::new(pool_connections.clone()),
            Box::new(pool_idle.clone()),
            Box::new(freshness_change_log.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(Self {
            registry,
            http_requests,
            http_latency,
            cache_requests,
            cache_entries,
            cache_bytes,
            cache_invalidations,
            db_queries,
            db_errors,
            pool_connections,
            pool_idle,
            freshness_change_log,
        })
    }

    pub fn observe_query(&self, kind: &str, elapsed: Duration, ok: bool) {
        self.db_queries
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
        if !ok {
            self.db_errors.with_label_values(&[kind]).inc();
        }
    }

    /// How many `kind` queries have run.
    pub fn query_count(&self, kind: &str) -> u64 {
        self.db_queries
            .with_label_values(&[kind])
            .get_sample_count()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::with_capacity(8192);
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}
